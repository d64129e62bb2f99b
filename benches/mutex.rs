//! Mutex benchmarks: gosync::Mutex against parking_lot::Mutex and std::sync::Mutex.
//!
//! Groups and ids (kept exactly):
//! - `mutex_uncontended`: 1000 x (lock; unlock) on one thread.
//! - `mutex_contended`: 2 threads x 1000 x (lock; tiny work; unlock). Per iteration both
//!   threads wait on a `Barrier` with the main thread; the clock runs from the main thread
//!   leaving the barrier to the last join.
//!
//! Ids: `gosync`, `parking_lot`, `std`.

mod common;

use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const OPS: u64 = 1000;
const THREADS: u64 = 2;

/// The three locks behind one interface: lock, add to the value, unlock.
trait Lock: Send + Sync + 'static {
    fn new() -> Self;
    fn bump(&self, by: u64);
}

impl Lock for gosync::Mutex<u64> {
    fn new() -> Self {
        gosync::Mutex::new(0)
    }
    fn bump(&self, by: u64) {
        *self.lock() += by;
    }
}

impl Lock for parking_lot::Mutex<u64> {
    fn new() -> Self {
        parking_lot::Mutex::new(0)
    }
    fn bump(&self, by: u64) {
        *self.lock() += by;
    }
}

impl Lock for std::sync::Mutex<u64> {
    fn new() -> Self {
        std::sync::Mutex::new(0)
    }
    fn bump(&self, by: u64) {
        *self.lock().unwrap() += by;
    }
}

fn uncontended<L: Lock>() {
    let lock = L::new();
    for i in 0..OPS {
        lock.bump(black_box(i));
    }
    black_box(&lock);
}

/// One measured run of `iters` iterations: fresh lock and threads per iteration, timed from
/// the barrier's release to the last join.
fn contended<L: Lock>(iters: u64) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let lock = Arc::new(L::new());
        let barrier = Arc::new(Barrier::new(THREADS as usize + 1));
        let workers: Vec<_> = (0..THREADS)
            .map(|_| {
                let (lock, barrier) = (lock.clone(), barrier.clone());
                thread::spawn(move || {
                    barrier.wait();
                    for i in 0..OPS {
                        lock.bump(black_box(i)); // the tiny work: one add under the lock
                    }
                })
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        workers.into_iter().for_each(|w| w.join().unwrap());
        total += start.elapsed();
    }
    total
}

fn bench_uncontended(c: &mut Criterion) {
    let mut group = c.benchmark_group("mutex_uncontended");
    group.throughput(Throughput::Elements(OPS));
    group.bench_function("gosync", |b| b.iter(uncontended::<gosync::Mutex<u64>>));
    group.throughput(Throughput::Elements(OPS));
    group.bench_function("parking_lot", |b| b.iter(uncontended::<parking_lot::Mutex<u64>>));
    group.throughput(Throughput::Elements(OPS));
    group.bench_function("std", |b| b.iter(uncontended::<std::sync::Mutex<u64>>));
    group.finish();
}

fn bench_contended(c: &mut Criterion) {
    let mut group = c.benchmark_group("mutex_contended");
    group.throughput(Throughput::Elements(OPS * THREADS));
    group.bench_function("gosync", |b| b.iter_custom(contended::<gosync::Mutex<u64>>));
    group.throughput(Throughput::Elements(OPS * THREADS));
    group.bench_function("parking_lot", |b| b.iter_custom(contended::<parking_lot::Mutex<u64>>));
    group.throughput(Throughput::Elements(OPS * THREADS));
    group.bench_function("std", |b| b.iter_custom(contended::<std::sync::Mutex<u64>>));
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = bench_uncontended, bench_contended
}
criterion_main!(benches);
