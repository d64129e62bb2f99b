//! Ordered fan-in benchmark: gosync's sequence-order merge beside its own arrival-order
//! merge and the usual std approach.
//!
//! Group and ids (kept exactly; `ratios.py` reads them):
//! - `fan_in_ordered`: 10 000 sequenced items from 4 inputs. Item `k` goes to input
//!   `k % 4`; each input's producer thread sends its items in increasing order.
//!
//! Ids: `gosync` (`fan_in_ordered` over 4 `chan::bounded(64)`), `gosync_unordered`
//! (`fan_in` over the same channels: the cost of merging without ordering, the baseline
//! the ordered merge is held to), `std_btreemap` (the 4 producers share one
//! `std::sync::mpsc::sync_channel(64)`, and the consumer re-orders through a `BTreeMap` of
//! early arrivals).
//!
//! Design, the same for every id: per iteration fresh channels are built and the producers
//! are spawned in a `std::thread::scope`; they wait on a `Barrier` with the main thread, and
//! the clock runs from the main thread leaving the barrier until the consumer (the main
//! thread) has received every item and every producer has been joined. The consumer checks
//! the order (ordered ids) and sums the items into `black_box`.

mod common;

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::{mpsc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use gosync::chan;
use gosync::fan_in::{fan_in, fan_in_ordered};

const ITEMS: u64 = 10_000;
const INPUTS: u64 = 4;
const CAPACITY: usize = 64;

/// The items of input `p`, in increasing order.
fn items_of(p: u64) -> impl Iterator<Item = u64> {
    (0..ITEMS).filter(move |k| k % INPUTS == p)
}

/// Runs `consume` on gosync receivers fed by 4 producer threads; returns the time taken.
fn gosync_run(consume: impl FnOnce(Vec<chan::Receiver<u64>>) -> u64) -> Duration {
    let barrier = Barrier::new(INPUTS as usize + 1);
    let (txs, rxs): (Vec<_>, Vec<_>) = (0..INPUTS).map(|_| chan::bounded(CAPACITY)).unzip();
    thread::scope(|s| {
        for (p, tx) in txs.into_iter().enumerate() {
            let barrier = &barrier;
            s.spawn(move || {
                barrier.wait();
                for k in items_of(p as u64) {
                    tx.send(k).unwrap();
                }
            });
        }
        barrier.wait();
        let start = Instant::now();
        black_box(consume(rxs));
        // The scope joins the producers before the clock stops.
        start
    })
    .elapsed()
}

fn gosync_ordered() -> Duration {
    gosync_run(|rxs| {
        let mut expected = 0;
        for k in fan_in_ordered(rxs, 0, |k| *k) {
            assert_eq!(k, Ok(expected));
            expected += 1;
        }
        expected
    })
}

fn gosync_unordered() -> Duration {
    gosync_run(|rxs| fan_in(rxs).sum())
}

fn std_btreemap() -> Duration {
    let barrier = Barrier::new(INPUTS as usize + 1);
    let (tx, rx) = mpsc::sync_channel::<u64>(CAPACITY);
    thread::scope(|s| {
        for p in 0..INPUTS {
            let (barrier, tx) = (&barrier, tx.clone());
            s.spawn(move || {
                barrier.wait();
                for k in items_of(p) {
                    tx.send(k).unwrap();
                }
            });
        }
        drop(tx);
        barrier.wait();
        let start = Instant::now();
        let mut early = BTreeMap::new();
        let mut expected = 0;
        for k in rx {
            early.insert(k, k);
            while let Some(item) = early.remove(&expected) {
                black_box(item);
                expected += 1;
            }
        }
        assert_eq!(expected, ITEMS);
        start
    })
    .elapsed()
}

/// One benchmarked id: a full run, timed.
type Run = fn() -> Duration;

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("fan_in_ordered");
    let cases: [(&str, Run); 3] =
        [("gosync", gosync_ordered), ("gosync_unordered", gosync_unordered), ("std_btreemap", std_btreemap)];
    for (id, run) in cases {
        group.throughput(Throughput::Elements(ITEMS));
        group.bench_function(id, |b| b.iter_custom(|iters| (0..iters).map(|_| run()).sum()));
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = bench
}
criterion_main!(benches);
