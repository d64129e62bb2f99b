//! OnceMap benchmarks.
//!
//! Groups and ids (kept exactly; `ratios.py` reads them):
//! - `once_map_hit`: 1000 lookups of present keys on each of 2 threads at once.
//! - `once_map_cold`: 1000 distinct keys initialized by 2 threads racing over the same keys
//!   in the same order (so they often meet on a key being initialized), on a fresh map.
//!
//! Ids: `gosync` (`OnceMap::get_or_init`), `std_mutex` (the std recipe:
//! `Mutex<HashMap<K, Arc<OnceLock<V>>>>`, the cell initialized outside the lock),
//! `std_rwlock` (the same behind an `RwLock`, read-locked for hits), `dashmap`
//! (`get`, then `entry().or_insert_with()` on a miss). Every id goes through the same
//! `get_or_init(key, init)` call, so a hit and a miss are the same code for the caller.

mod common;

use dashmap::DashMap;
use std::collections::HashMap;
use std::hint::black_box;
use std::sync::{Arc, Barrier, Mutex, OnceLock, RwLock};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};

/// Keys per iteration (looked up, or initialized).
const KEYS: u64 = 1000;
/// Threads per iteration (the machines have 2 cores).
const THREADS: usize = 2;
/// Fresh maps built per batch of the cold group (bounds memory for large iteration counts).
const COLD_BATCH: u64 = 64;

/// The call every contender implements: the key's value, computed by `init` if missing.
trait Cache: Sync + Sized {
    const ID: &'static str;
    fn new() -> Self;
    fn get_or_init(&self, key: u64, init: impl FnOnce(&u64) -> u64) -> u64;
}

impl Cache for gosync::OnceMap<u64, u64> {
    const ID: &'static str = "gosync";
    fn new() -> Self {
        gosync::OnceMap::new()
    }
    fn get_or_init(&self, key: u64, init: impl FnOnce(&u64) -> u64) -> u64 {
        gosync::OnceMap::get_or_init(self, key, init)
    }
}

struct StdMutex(Mutex<HashMap<u64, Arc<OnceLock<u64>>>>);

impl Cache for StdMutex {
    const ID: &'static str = "std_mutex";
    fn new() -> Self {
        StdMutex(Mutex::new(HashMap::new()))
    }
    fn get_or_init(&self, key: u64, init: impl FnOnce(&u64) -> u64) -> u64 {
        let cell = self.0.lock().unwrap().entry(key).or_default().clone();
        *cell.get_or_init(|| init(&key))
    }
}

struct StdRwLock(RwLock<HashMap<u64, Arc<OnceLock<u64>>>>);

impl Cache for StdRwLock {
    const ID: &'static str = "std_rwlock";
    fn new() -> Self {
        StdRwLock(RwLock::new(HashMap::new()))
    }
    fn get_or_init(&self, key: u64, init: impl FnOnce(&u64) -> u64) -> u64 {
        let found = self.0.read().unwrap().get(&key).cloned();
        let cell = match found {
            Some(cell) => cell,
            None => self.0.write().unwrap().entry(key).or_default().clone(),
        };
        *cell.get_or_init(|| init(&key))
    }
}

impl Cache for DashMap<u64, u64> {
    const ID: &'static str = "dashmap";
    fn new() -> Self {
        DashMap::new()
    }
    fn get_or_init(&self, key: u64, init: impl FnOnce(&u64) -> u64) -> u64 {
        if let Some(value) = self.get(&key) {
            return *value;
        }
        *self.entry(key).or_insert_with(|| init(&key))
    }
}

fn value_of(key: &u64) -> u64 {
    key.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// Runs `work(thread_index)` on `THREADS` threads released together; returns the time from
/// the release to the last one's end.
fn race(work: impl Fn(usize) + Sync) -> Duration {
    let barrier = Barrier::new(THREADS + 1);
    thread::scope(|s| {
        for t in 0..THREADS {
            let (barrier, work) = (&barrier, &work);
            s.spawn(move || {
                barrier.wait();
                work(t);
            });
        }
        barrier.wait();
        let start = Instant::now();
        // Leaving the scope joins every thread.
        start
    })
    .elapsed()
}

/// One iteration: each thread looks up the 1000 present keys (in its own order). The threads
/// are started once per sample and run every iteration of it, so spawning is not measured.
fn hit<C: Cache>(group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    let cache = C::new();
    for key in 0..KEYS {
        cache.get_or_init(key, value_of);
    }
    group.throughput(Throughput::Elements(KEYS * THREADS as u64));
    group.bench_function(C::ID, |b| {
        b.iter_custom(|iters| {
            race(|t| {
                let mut sum = 0u64;
                for _ in 0..iters {
                    for i in 0..KEYS {
                        // Different strides per thread: both read all keys, not in lockstep.
                        let key = (i * (2 * t as u64 + 1) + t as u64 * 500) % KEYS;
                        sum = sum.wrapping_add(cache.get_or_init(black_box(key), |_| unreachable!()));
                    }
                }
                black_box(sum);
            })
        })
    });
}

/// One iteration: a fresh map, whose 1000 keys both threads ask for in the same order, so
/// they race on each key (one initializes, the other finds it running or done).
fn cold<C: Cache>(group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    group.throughput(Throughput::Elements(KEYS));
    group.bench_function(C::ID, |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let batch = left.min(COLD_BATCH);
                left -= batch;
                let maps: Vec<C> = (0..batch).map(|_| C::new()).collect();
                total += race(|_| {
                    let mut sum = 0u64;
                    for map in &maps {
                        for key in 0..KEYS {
                            sum = sum.wrapping_add(map.get_or_init(black_box(key), value_of));
                        }
                    }
                    black_box(sum);
                });
                // Dropped outside the timing.
                drop(maps);
            }
            total
        })
    });
}

fn once_map_hit(c: &mut Criterion) {
    let mut group = c.benchmark_group("once_map_hit");
    hit::<gosync::OnceMap<u64, u64>>(&mut group);
    hit::<StdMutex>(&mut group);
    hit::<StdRwLock>(&mut group);
    hit::<DashMap<u64, u64>>(&mut group);
    group.finish();
}

fn once_map_cold(c: &mut Criterion) {
    let mut group = c.benchmark_group("once_map_cold");
    cold::<gosync::OnceMap<u64, u64>>(&mut group);
    cold::<StdMutex>(&mut group);
    cold::<StdRwLock>(&mut group);
    cold::<DashMap<u64, u64>>(&mut group);
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = once_map_hit, once_map_cold
}
criterion_main!(benches);
