//! Rate limiter benchmarks: gosync beside the seed's algorithm behind a std Mutex and the
//! `governor` crate, in one criterion group each.
//!
//! Groups and ids (kept exactly; `ratios.py` reads them):
//! - `limiter_allow`: 1000 x `allow()` on one limiter that never runs dry, 1 thread
//! - `limiter_allow_contended`: as above, 2 threads on one limiter (1000 calls each)
//! - `keyed_limiter_allow`: 1000 x `allow(&key)` cycling over 10 000 keys
//!
//! Ids: `gosync` (`limit::Limiter` / `limit::KeyedLimiter` on real time), `std_mutex` (the
//! seed's lazy-refill bucket, integer nanoseconds, behind a `std::sync::Mutex`; keyed: one
//! `Mutex<HashMap<key, bucket>>`), `governor` (`governor::RateLimiter::direct`; keyed:
//! `RateLimiter::keyed`, its dashmap store).
//!
//! "Never runs dry": one token per nanosecond with a burst of a million, so every call is
//! admitted and each id measures its admission path, not a refusal.

mod common;

use std::collections::HashMap;
use std::hint::black_box;
use std::num::NonZeroU32;
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use gosync::limit::{KeyedLimiter, Limiter, Rate};

const CALLS: u64 = 1000;
const KEYS: u64 = 10_000;
const BURST: u32 = 1_000_000;

/// The seed's lazy limiter: tokens topped up from the time elapsed since the last call.
struct SeedBucket {
    tokens: u64,
    last: Instant,
}

struct SeedLimiter {
    bucket: Mutex<SeedBucket>,
    interval_ns: u64,
    capacity: u64,
}

impl SeedLimiter {
    fn new(interval_ns: u64, capacity: u64) -> Self {
        SeedLimiter {
            bucket: Mutex::new(SeedBucket { tokens: capacity, last: Instant::now() }),
            interval_ns,
            capacity,
        }
    }

    fn allow(&self) -> bool {
        let mut b = self.bucket.lock().unwrap();
        refill(&mut b, Instant::now(), self.interval_ns, self.capacity)
    }
}

/// Adds the tokens earned since `last` (keeping the remainder) and takes one if there is one.
fn refill(b: &mut SeedBucket, now: Instant, interval_ns: u64, capacity: u64) -> bool {
    let earned = (now - b.last).as_nanos() as u64 / interval_ns;
    if earned > 0 {
        b.tokens = (b.tokens + earned).min(capacity);
        b.last += Duration::from_nanos(earned * interval_ns);
    }
    if b.tokens > 0 {
        b.tokens -= 1;
        true
    } else {
        false
    }
}

fn governor_quota() -> governor::Quota {
    governor::Quota::per_second(NonZeroU32::new(1_000_000_000).unwrap())
        .allow_burst(NonZeroU32::new(BURST).unwrap())
}

/// Runs `f` on 2 threads released together; time from release to the last join.
fn contended<L: Send + Sync + 'static>(limiter: &Arc<L>, iters: u64, f: fn(&L)) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let barrier = Arc::new(Barrier::new(3));
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let (limiter, barrier) = (limiter.clone(), barrier.clone());
                thread::spawn(move || {
                    barrier.wait();
                    f(&limiter);
                })
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        threads.into_iter().for_each(|t| t.join().unwrap());
        total += start.elapsed();
    }
    total
}

fn limiter_allow(c: &mut Criterion) {
    let mut group = c.benchmark_group("limiter_allow");
    group.throughput(Throughput::Elements(CALLS));
    let limiter = Limiter::new(Rate::per_second(1_000_000_000), BURST);
    group.bench_function("gosync", |b| b.iter(|| (0..CALLS).filter(|_| black_box(&limiter).allow()).count()));
    let seed = SeedLimiter::new(1, BURST as u64);
    group.bench_function("std_mutex", |b| b.iter(|| (0..CALLS).filter(|_| black_box(&seed).allow()).count()));
    let gov = governor::RateLimiter::direct(governor_quota());
    group.bench_function("governor", |b| {
        b.iter(|| (0..CALLS).filter(|_| black_box(&gov).check().is_ok()).count())
    });
    group.finish();
}

fn limiter_allow_contended(c: &mut Criterion) {
    let mut group = c.benchmark_group("limiter_allow_contended");
    group.throughput(Throughput::Elements(2 * CALLS));
    let limiter = Arc::new(Limiter::new(Rate::per_second(1_000_000_000), BURST));
    group.bench_function("gosync", |b| {
        b.iter_custom(|iters| {
            contended(&limiter, iters, |l| {
                black_box((0..CALLS).filter(|_| l.allow()).count());
            })
        })
    });
    let seed = Arc::new(SeedLimiter::new(1, BURST as u64));
    group.bench_function("std_mutex", |b| {
        b.iter_custom(|iters| {
            contended(&seed, iters, |l| {
                black_box((0..CALLS).filter(|_| l.allow()).count());
            })
        })
    });
    let gov = Arc::new(governor::RateLimiter::direct(governor_quota()));
    group.bench_function("governor", |b| {
        b.iter_custom(|iters| {
            contended(&gov, iters, |l| {
                black_box((0..CALLS).filter(|_| l.check().is_ok()).count());
            })
        })
    });
    group.finish();
}

fn keyed_limiter_allow(c: &mut Criterion) {
    let mut group = c.benchmark_group("keyed_limiter_allow");
    group.throughput(Throughput::Elements(CALLS));
    // Keys visited in a scattered cycle over all 10 000.
    let keys: Vec<u64> = (0..KEYS).map(|i| i * 7919 % KEYS).collect();
    let mut next = 0usize;

    let limiter = KeyedLimiter::new(Rate::per_second(1_000_000_000), BURST);
    group.bench_function("gosync", |b| {
        b.iter(|| {
            let mut admitted = 0;
            for _ in 0..CALLS {
                admitted += limiter.allow(&keys[next]) as u32;
                next = (next + 1) % keys.len();
            }
            admitted
        })
    });
    let seed: Mutex<HashMap<u64, SeedBucket>> = Mutex::new(HashMap::new());
    group.bench_function("std_mutex", |b| {
        b.iter(|| {
            let mut admitted = 0;
            for _ in 0..CALLS {
                let now = Instant::now();
                let mut map = seed.lock().unwrap();
                let bucket = map.entry(keys[next]).or_insert(SeedBucket { tokens: BURST as u64, last: now });
                admitted += refill(bucket, now, 1, BURST as u64) as u32;
                drop(map);
                next = (next + 1) % keys.len();
            }
            admitted
        })
    });
    let gov = governor::RateLimiter::keyed(governor_quota());
    group.bench_function("governor", |b| {
        b.iter(|| {
            let mut admitted = 0;
            for _ in 0..CALLS {
                admitted += gov.check_key(&keys[next]).is_ok() as u32;
                next = (next + 1) % keys.len();
            }
            admitted
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = limiter_allow, limiter_allow_contended, keyed_limiter_allow
}
criterion_main!(benches);
