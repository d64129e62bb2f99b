//! Bounded queue benchmarks: gosync beside std and crossbeam in one criterion group each.
//!
//! Groups and ids (kept exactly; `ratios.py` reads them):
//! - `queue_spsc`: 10 000 items, 1 producer, 1 consumer, capacity 64
//! - `queue_mpmc`: 10 000 items in total, 2 producers, 2 consumers, capacity 64
//!
//! Ids: `gosync` (BoundedQueue, blocking push/pop), `std_sync_channel`
//! (`std::sync::mpsc::sync_channel(64)`; for mpmc the Receiver is shared as
//! `Arc<Mutex<Receiver>>`), `std_condvar` (the classic Mutex<VecDeque> + 2 Condvar queue),
//! `crossbeam` (`crossbeam::channel::bounded(64)`).
//!
//! Design, the same for every id: per iteration a fresh queue is built and the producer and
//! consumer threads are spawned in a `std::thread::scope`; they all wait on a `Barrier` with the
//! main thread, and the clock runs from the main thread leaving the barrier to the last join.
//! Producers split the 10 000 items evenly; each consumer stops after receiving its share
//! (10 000 / consumers). Because every consumer stops at exactly its share and exactly 10 000
//! items are sent, every consumer gets its full share, so no close/disconnect is needed and no id
//! pays for one. Consumers sum what they receive into `black_box`.

mod common;

use std::collections::VecDeque;
use std::hint::black_box;
use std::sync::mpsc;
use std::sync::{Arc, Barrier, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};

const ITEMS: u64 = 10_000;
const CAPACITY: usize = 64;

/// The classic bounded queue: a std Mutex around a VecDeque, one Condvar for "not full" (producers
/// wait on it) and one for "not empty" (consumers wait on it). Each push/pop signals one waiter of
/// the other side after releasing the lock.
struct CondvarQueue<T> {
    items: Mutex<VecDeque<T>>,
    not_full: Condvar,
    not_empty: Condvar,
    capacity: usize,
}

impl<T> CondvarQueue<T> {
    fn new(capacity: usize) -> Self {
        CondvarQueue {
            items: Mutex::new(VecDeque::with_capacity(capacity)),
            not_full: Condvar::new(),
            not_empty: Condvar::new(),
            capacity,
        }
    }

    fn push(&self, value: T) {
        let mut items = self.items.lock().unwrap();
        while items.len() == self.capacity {
            items = self.not_full.wait(items).unwrap();
        }
        items.push_back(value);
        drop(items);
        self.not_empty.notify_one();
    }

    fn pop(&self) -> T {
        let mut items = self.items.lock().unwrap();
        loop {
            if let Some(value) = items.pop_front() {
                drop(items);
                self.not_full.notify_one();
                return value;
            }
            items = self.not_empty.wait(items).unwrap();
        }
    }
}

type Job<'a, R> = Box<dyn FnOnce() -> R + Send + 'a>;

/// Runs producers and consumers on scoped threads released together by a barrier; returns the
/// time from the release to the last join.
fn run(producers: Vec<Job<'_, ()>>, consumers: Vec<Job<'_, u64>>) -> Duration {
    let barrier = Barrier::new(producers.len() + consumers.len() + 1);
    let barrier = &barrier;
    thread::scope(|s| {
        let producers: Vec<_> = producers
            .into_iter()
            .map(|job| {
                s.spawn(move || {
                    barrier.wait();
                    job()
                })
            })
            .collect();
        let consumers: Vec<_> = consumers
            .into_iter()
            .map(|job| {
                s.spawn(move || {
                    barrier.wait();
                    job()
                })
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        for h in producers {
            h.join().unwrap();
        }
        let mut sum = 0;
        for h in consumers {
            sum += h.join().unwrap();
        }
        let elapsed = start.elapsed();
        debug_assert_eq!(sum, ITEMS * (ITEMS - 1) / 2);
        black_box(sum);
        elapsed
    })
}

/// Items `p, p + np, p + 2 np, ...` below ITEMS: producer `p`'s share.
fn share(p: usize, np: usize) -> impl Iterator<Item = u64> {
    (p as u64..ITEMS).step_by(np)
}

/// Times `iters` runs; `one` builds a fresh queue and jobs and returns `run`'s time.
fn time_runs(iters: u64, mut one: impl FnMut() -> Duration) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        total += one();
    }
    total
}

fn bench_group(group: &mut BenchmarkGroup<'_, WallTime>, np: usize, nc: usize) {
    assert_eq!(ITEMS % nc as u64, 0);
    let per_consumer = ITEMS / nc as u64;
    group.throughput(Throughput::Elements(ITEMS));

    group.bench_function("gosync", |b| {
        b.iter_custom(|iters| {
            time_runs(iters, || {
                let q = gosync::BoundedQueue::new(CAPACITY);
                let q = &q;
                let producers = (0..np)
                    .map(|p| -> Job<'_, ()> {
                        Box::new(move || {
                            for v in share(p, np) {
                                q.push(v).unwrap();
                            }
                        })
                    })
                    .collect();
                let consumers = (0..nc)
                    .map(|_| -> Job<'_, u64> {
                        Box::new(move || {
                            let mut sum = 0;
                            for _ in 0..per_consumer {
                                sum += q.pop().unwrap();
                            }
                            sum
                        })
                    })
                    .collect();
                run(producers, consumers)
            })
        })
    });

    group.bench_function("std_sync_channel", |b| {
        b.iter_custom(|iters| {
            time_runs(iters, || {
                let (tx, rx) = mpsc::sync_channel::<u64>(CAPACITY);
                let producers = (0..np)
                    .map(|p| -> Job<'_, ()> {
                        let tx = tx.clone();
                        Box::new(move || {
                            for v in share(p, np) {
                                tx.send(v).unwrap();
                            }
                        })
                    })
                    .collect();
                drop(tx);
                let consumers: Vec<Job<'_, u64>> = if nc == 1 {
                    // One consumer owns the Receiver: no lock, as std users would write it.
                    vec![Box::new(move || {
                        let mut sum = 0;
                        for _ in 0..per_consumer {
                            sum += rx.recv().unwrap();
                        }
                        sum
                    })]
                } else {
                    let rx = Arc::new(Mutex::new(rx));
                    (0..nc)
                        .map(|_| -> Job<'_, u64> {
                            let rx = Arc::clone(&rx);
                            Box::new(move || {
                                let mut sum = 0;
                                for _ in 0..per_consumer {
                                    sum += rx.lock().unwrap().recv().unwrap();
                                }
                                sum
                            })
                        })
                        .collect()
                };
                run(producers, consumers)
            })
        })
    });

    group.bench_function("std_condvar", |b| {
        b.iter_custom(|iters| {
            time_runs(iters, || {
                let q = CondvarQueue::new(CAPACITY);
                let q = &q;
                let producers = (0..np)
                    .map(|p| -> Job<'_, ()> {
                        Box::new(move || {
                            for v in share(p, np) {
                                q.push(v);
                            }
                        })
                    })
                    .collect();
                let consumers = (0..nc)
                    .map(|_| -> Job<'_, u64> {
                        Box::new(move || {
                            let mut sum = 0;
                            for _ in 0..per_consumer {
                                sum += q.pop();
                            }
                            sum
                        })
                    })
                    .collect();
                run(producers, consumers)
            })
        })
    });

    group.bench_function("crossbeam", |b| {
        b.iter_custom(|iters| {
            time_runs(iters, || {
                let (tx, rx) = crossbeam::channel::bounded::<u64>(CAPACITY);
                let producers = (0..np)
                    .map(|p| -> Job<'_, ()> {
                        let tx = tx.clone();
                        Box::new(move || {
                            for v in share(p, np) {
                                tx.send(v).unwrap();
                            }
                        })
                    })
                    .collect();
                drop(tx);
                let consumers = (0..nc)
                    .map(|_| -> Job<'_, u64> {
                        let rx = rx.clone();
                        Box::new(move || {
                            let mut sum = 0;
                            for _ in 0..per_consumer {
                                sum += rx.recv().unwrap();
                            }
                            sum
                        })
                    })
                    .collect();
                drop(rx);
                run(producers, consumers)
            })
        })
    });
}

fn spsc(c: &mut Criterion) {
    let mut group = c.benchmark_group("queue_spsc");
    bench_group(&mut group, 1, 1);
    group.finish();
}

fn mpmc(c: &mut Criterion) {
    let mut group = c.benchmark_group("queue_mpmc");
    bench_group(&mut group, 2, 2);
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = spsc, mpmc
}
criterion_main!(benches);
