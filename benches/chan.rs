//! Channel benchmarks: gosync's channels and select beside std, crossbeam, flume, kanal and
//! tokio, one criterion group per workload.
//!
//! Groups and ids (kept exactly; `ratios.py` reads them):
//! - `chan_spsc_bounded`: 10 000 messages, 1 sender, 1 receiver, capacity 64
//! - `chan_mpsc_unbounded`: 10 000 messages from 2 senders (5 000 each), 1 receiver, unbounded
//! - `chan_rendezvous`: 1 000 messages, 1 sender, 1 receiver, capacity 0
//!
//!   ids `gosync`, `std` (`std::sync::mpsc::sync_channel(cap)` / `channel()`), `crossbeam`,
//!   `flume`, `kanal`, all with their blocking send and receive.
//! - `chan_select_2`: 10 000 messages over 2 channels (bounded, capacity 64; one sender thread
//!   each, 5 000 messages each), received by one thread that selects over both:
//!   ids `gosync` (`gosync::select!`), `crossbeam` (`crossbeam::channel::select!`).
//! - `chan_async_spsc`: 10 000 messages, capacity 64, sender and receiver are tasks on a
//!   2-worker tokio runtime built once, outside the timing loop: ids `gosync`
//!   (`send_async` / `recv_async`), `tokio` (`tokio::sync::mpsc`), `flume` (`send_async` /
//!   `recv_async`), `kanal` (`bounded_async`).
//!
//! Design, the same for every id of a group: per iteration a fresh channel is made. Thread
//! groups spawn their sender and receiver threads in a `std::thread::scope`; all of them wait
//! on a `Barrier` with the main thread, and the clock runs from the main thread leaving the
//! barrier to the last join. The async group spawns its two tasks on the runtime from inside
//! `block_on`, and the clock runs from entering `block_on` to the second join. The receiver stops after exactly the number
//! of messages sent, so it never waits for a close; it sums what it receives into `black_box`.

mod common;

use std::hint::black_box;
use std::sync::{mpsc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};

const ITEMS: u64 = 10_000;
const RENDEZVOUS_ITEMS: u64 = 1_000;
const CAPACITY: usize = 64;

/// The sum of `0..n`: what a receiver of every message adds up to.
fn expected_sum(n: u64) -> u64 {
    n * (n - 1) / 2
}

/// Items `p, p + np, p + 2 np, ...` below `n`: sender `p`'s share.
fn share(p: usize, np: usize, n: u64) -> impl Iterator<Item = u64> {
    (p as u64..n).step_by(np)
}

/// Times `iters` runs; `one` makes a fresh channel and threads and returns their time.
fn time_runs(iters: u64, mut one: impl FnMut() -> Duration) -> Duration {
    (0..iters).map(|_| one()).sum()
}

/// Runs `senders` (each with its own job) and one receiver on scoped threads released together
/// by a barrier; returns the time from the release to the last join.
fn run_threads<S: FnOnce() + Send>(
    senders: Vec<S>,
    receiver: impl FnOnce() -> u64 + Send,
    n: u64,
) -> Duration {
    let barrier = Barrier::new(senders.len() + 2);
    let barrier = &barrier;
    thread::scope(|s| {
        let senders: Vec<_> = senders
            .into_iter()
            .map(|job| {
                s.spawn(move || {
                    barrier.wait();
                    job()
                })
            })
            .collect();
        let receiver = s.spawn(move || {
            barrier.wait();
            receiver()
        });
        barrier.wait();
        let start = Instant::now();
        for h in senders {
            h.join().unwrap();
        }
        let sum = receiver.join().unwrap();
        let elapsed = start.elapsed();
        assert_eq!(sum, expected_sum(n));
        black_box(sum);
        elapsed
    })
}

/// One iteration with `np` sender threads and one receiver over a channel from `make`:
/// each sender sends its share of `0..n` with `send`, the receiver takes `n` with `recv`.
fn one_run<Tx, Rx>(
    np: usize,
    n: u64,
    make: &impl Fn() -> (Tx, Rx),
    send: &(impl Fn(&Tx, u64) + Sync),
    recv: &(impl Fn(&Rx) -> u64 + Sync),
) -> Duration
where
    Tx: Clone + Send,
    Rx: Send,
{
    let (tx, rx) = make();
    let senders: Vec<_> = (0..np)
        .map(|p| {
            let tx = tx.clone();
            move || {
                for v in share(p, np, n) {
                    send(&tx, v);
                }
            }
        })
        .collect();
    drop(tx);
    let receiver = move || (0..n).map(|_| recv(&rx)).sum();
    run_threads(senders, receiver, n)
}

/// Adds one id to a thread group: `np` senders, one receiver, `n` messages per iteration.
fn bench_threads<Tx, Rx>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    id: &str,
    np: usize,
    n: u64,
    make: impl Fn() -> (Tx, Rx),
    send: impl Fn(&Tx, u64) + Sync,
    recv: impl Fn(&Rx) -> u64 + Sync,
) where
    Tx: Clone + Send,
    Rx: Send,
{
    group.throughput(Throughput::Elements(n));
    group.bench_function(id, |b| {
        b.iter_custom(|iters| time_runs(iters, || one_run(np, n, &make, &send, &recv)))
    });
}

/// The five thread ids of one point-to-point group. `cap`: `Some(c)` for a bounded channel of
/// capacity `c` (0 = rendezvous), `None` for an unbounded one.
fn bench_point_to_point(group: &mut BenchmarkGroup<'_, WallTime>, np: usize, n: u64, cap: Option<usize>) {
    bench_threads(
        group,
        "gosync",
        np,
        n,
        || match cap {
            Some(c) => gosync::chan::bounded::<u64>(c),
            None => gosync::chan::unbounded::<u64>(),
        },
        |tx, v| tx.send(v).unwrap(),
        |rx| rx.recv().unwrap(),
    );
    match cap {
        Some(c) => bench_threads(
            group,
            "std",
            np,
            n,
            || mpsc::sync_channel::<u64>(c),
            |tx, v| tx.send(v).unwrap(),
            |rx| rx.recv().unwrap(),
        ),
        None => bench_threads(
            group,
            "std",
            np,
            n,
            mpsc::channel::<u64>,
            |tx, v| tx.send(v).unwrap(),
            |rx| rx.recv().unwrap(),
        ),
    }
    bench_threads(
        group,
        "crossbeam",
        np,
        n,
        || match cap {
            Some(c) => crossbeam::channel::bounded::<u64>(c),
            None => crossbeam::channel::unbounded::<u64>(),
        },
        |tx, v| tx.send(v).unwrap(),
        |rx| rx.recv().unwrap(),
    );
    bench_threads(
        group,
        "flume",
        np,
        n,
        || match cap {
            Some(c) => flume::bounded::<u64>(c),
            None => flume::unbounded::<u64>(),
        },
        |tx, v| tx.send(v).unwrap(),
        |rx| rx.recv().unwrap(),
    );
    bench_threads(
        group,
        "kanal",
        np,
        n,
        || match cap {
            Some(c) => kanal::bounded::<u64>(c),
            None => kanal::unbounded::<u64>(),
        },
        |tx, v| tx.send(v).unwrap(),
        |rx| rx.recv().unwrap(),
    );
}

fn spsc_bounded(c: &mut Criterion) {
    let mut group = c.benchmark_group("chan_spsc_bounded");
    bench_point_to_point(&mut group, 1, ITEMS, Some(CAPACITY));
    group.finish();
}

fn mpsc_unbounded(c: &mut Criterion) {
    let mut group = c.benchmark_group("chan_mpsc_unbounded");
    bench_point_to_point(&mut group, 2, ITEMS, None);
    group.finish();
}

fn rendezvous(c: &mut Criterion) {
    let mut group = c.benchmark_group("chan_rendezvous");
    bench_point_to_point(&mut group, 1, RENDEZVOUS_ITEMS, Some(0));
    group.finish();
}

/// One iteration of the select group: two sender threads, each on its own bounded channel
/// with half of `0..ITEMS`, and a receiver that selects over both `ITEMS` times. The senders
/// borrow their ends, which stay alive until the receiver is done: a channel closed by its
/// last sender would be ready for ever (a select receives its close), as in Go.
fn one_select_run<Tx, Rx>(
    make: &impl Fn() -> (Tx, Rx),
    send: &(impl Fn(&Tx, u64) + Sync),
    select2: &(impl Fn(&Rx, &Rx) -> u64 + Sync),
) -> Duration
where
    Tx: Sync,
    Rx: Send,
{
    let (tx0, rx0) = make();
    let (tx1, rx1) = make();
    let txs = [tx0, tx1];
    let senders: Vec<_> = txs
        .iter()
        .enumerate()
        .map(|(p, tx)| {
            move || {
                for v in share(p, 2, ITEMS) {
                    send(tx, v);
                }
            }
        })
        .collect();
    let receiver = move || (0..ITEMS).map(|_| select2(&rx0, &rx1)).sum();
    run_threads(senders, receiver, ITEMS)
}

fn select_2(c: &mut Criterion) {
    let mut group = c.benchmark_group("chan_select_2");
    group.throughput(Throughput::Elements(ITEMS));
    group.bench_function("gosync", |b| {
        b.iter_custom(|iters| {
            time_runs(iters, || {
                one_select_run(
                    &|| gosync::chan::bounded::<u64>(CAPACITY),
                    &|tx, v| tx.send(v).unwrap(),
                    &|rx0, rx1| {
                        gosync::select! {
                            recv(rx0) -> msg => msg.unwrap(),
                            recv(rx1) -> msg => msg.unwrap(),
                        }
                    },
                )
            })
        })
    });
    group.throughput(Throughput::Elements(ITEMS));
    group.bench_function("crossbeam", |b| {
        b.iter_custom(|iters| {
            time_runs(iters, || {
                one_select_run(
                    &|| crossbeam::channel::bounded::<u64>(CAPACITY),
                    &|tx, v| tx.send(v).unwrap(),
                    &|rx0, rx1| {
                        crossbeam::channel::select! {
                            recv(rx0) -> msg => msg.unwrap(),
                            recv(rx1) -> msg => msg.unwrap(),
                        }
                    },
                )
            })
        })
    });
    group.finish();
}

/// Adds one id to the async group: per iteration `make` builds a channel, and a sender task
/// (`send` of `0..ITEMS`) and a receiver task (`recv` of `ITEMS` values) run on `rt`.
fn bench_async<Tx, Rx, SF, RF>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    rt: &tokio::runtime::Runtime,
    id: &str,
    make: impl Fn() -> (Tx, Rx),
    send: fn(Tx) -> SF,
    recv: fn(Rx) -> RF,
) where
    Tx: Send + 'static,
    Rx: Send + 'static,
    SF: std::future::Future<Output = ()> + Send + 'static,
    RF: std::future::Future<Output = u64> + Send + 'static,
{
    group.throughput(Throughput::Elements(ITEMS));
    group.bench_function(id, |b| {
        b.iter_custom(|iters| {
            time_runs(iters, || {
                let (tx, rx) = make();
                let start = Instant::now();
                let sum = rt.block_on(async {
                    let sender = tokio::spawn(send(tx));
                    let receiver = tokio::spawn(recv(rx));
                    sender.await.unwrap();
                    receiver.await.unwrap()
                });
                let elapsed = start.elapsed();
                assert_eq!(sum, expected_sum(ITEMS));
                black_box(sum);
                elapsed
            })
        })
    });
}

fn async_spsc(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
    let mut group = c.benchmark_group("chan_async_spsc");
    bench_async(
        &mut group,
        &rt,
        "gosync",
        || gosync::chan::bounded::<u64>(CAPACITY),
        |tx| async move {
            for v in 0..ITEMS {
                tx.send_async(v).await.unwrap();
            }
        },
        |rx| async move {
            let mut sum = 0;
            for _ in 0..ITEMS {
                sum += rx.recv_async().await.unwrap();
            }
            sum
        },
    );
    bench_async(
        &mut group,
        &rt,
        "tokio",
        || tokio::sync::mpsc::channel::<u64>(CAPACITY),
        |tx| async move {
            for v in 0..ITEMS {
                tx.send(v).await.unwrap();
            }
        },
        |mut rx| async move {
            let mut sum = 0;
            for _ in 0..ITEMS {
                sum += rx.recv().await.unwrap();
            }
            sum
        },
    );
    bench_async(
        &mut group,
        &rt,
        "flume",
        || flume::bounded::<u64>(CAPACITY),
        |tx| async move {
            for v in 0..ITEMS {
                tx.send_async(v).await.unwrap();
            }
        },
        |rx| async move {
            let mut sum = 0;
            for _ in 0..ITEMS {
                sum += rx.recv_async().await.unwrap();
            }
            sum
        },
    );
    bench_async(
        &mut group,
        &rt,
        "kanal",
        || kanal::bounded_async::<u64>(CAPACITY),
        |tx| async move {
            for v in 0..ITEMS {
                tx.send(v).await.unwrap();
            }
        },
        |rx| async move {
            let mut sum = 0;
            for _ in 0..ITEMS {
                sum += rx.recv().await.unwrap();
            }
            sum
        },
    );
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = spsc_bounded, mpsc_unbounded, rendezvous, select_2, async_spsc
}
criterion_main!(benches);
