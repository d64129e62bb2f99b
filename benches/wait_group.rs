//! WaitGroup benchmarks: gosync against the std latch and crossbeam.
//!
//! Groups and ids (kept exactly; `ratios.py` reads them):
//! - `wait_group_add_done`: `gosync`, `std_condvar`, `crossbeam`
//! - `wait_group_fork_join`: `gosync`, `std_condvar`, `std_scope`, `crossbeam`
//!
//! `std_condvar` is the textbook counting latch: a std `Mutex<usize>` plus a `Condvar`.

mod common;

use std::hint::black_box;
use std::sync::{Barrier, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

/// Operations (add/done pairs, or tasks per worker) in one iteration.
const OPS: usize = 1000;
/// Worker threads in the fork-join group (the machines have 2 cores).
const WORKERS: usize = 2;

/// The std baseline: a counting latch made of a std Mutex and Condvar.
struct Latch {
    count: Mutex<usize>,
    zero: Condvar,
}

impl Latch {
    fn new() -> Self {
        Latch { count: Mutex::new(0), zero: Condvar::new() }
    }

    fn add(&self, n: usize) {
        *self.count.lock().unwrap() += n;
    }

    fn done(&self) {
        let mut count = self.count.lock().unwrap();
        *count = count.checked_sub(1).expect("negative latch counter");
        if *count == 0 {
            self.zero.notify_all();
        }
    }

    fn wait(&self) {
        let mut count = self.count.lock().unwrap();
        while *count > 0 {
            count = self.zero.wait(count).unwrap();
        }
    }
}

/// One iteration = 1000 x (add(1); done()) on one thread, then wait().
///
/// Every id builds a fresh group per iteration: crossbeam's `wait` consumes the group and only
/// returns once every clone is gone, so it cannot be reused (a clone kept aside would make `wait`
/// block forever). Building one per iteration for every id keeps the work equivalent; the
/// construction (one allocation at most) is amortized over the 1000 pairs.
/// For crossbeam one "add(1); done()" is "clone(); drop()", its only way to count.
fn add_done(c: &mut Criterion) {
    let mut group = c.benchmark_group("wait_group_add_done");
    group.throughput(Throughput::Elements(OPS as u64));

    group.bench_function("gosync", |b| {
        b.iter(|| {
            let wg = gosync::WaitGroup::new();
            let wg = black_box(&wg);
            for _ in 0..OPS {
                wg.add(1);
                wg.done();
            }
            wg.wait();
        })
    });

    group.bench_function("std_condvar", |b| {
        b.iter(|| {
            let latch = Latch::new();
            let latch = black_box(&latch);
            for _ in 0..OPS {
                latch.add(1);
                latch.done();
            }
            latch.wait();
        })
    });

    group.bench_function("crossbeam", |b| {
        b.iter(|| {
            let wg = crossbeam::sync::WaitGroup::new();
            for _ in 0..OPS {
                drop(black_box(wg.clone()));
            }
            wg.wait();
        })
    });

    group.finish();
}

/// One tiny task: a data-dependent add the optimizer cannot remove.
#[inline(always)]
fn task(acc: u64, i: usize) -> u64 {
    black_box(acc.wrapping_add(black_box(i as u64)))
}

/// Fork-join design (the same for every id):
///
/// Per iteration, 2 scoped threads are spawned; they and the main thread meet twice at one
/// `Barrier`. The first meeting ("ready") means every worker is running, so the spawn cost stays
/// outside the measurement. The main thread then starts the clock and only after that meets the
/// workers again ("go"); a worker starts its tasks only when it leaves that second meeting, so
/// no task can run before the clock starts. (With one meeting and the clock started after it,
/// the workers could finish before the main thread read the clock, and the median swung
/// between about 1 µs and 33 µs from run to run.) The clock stops when the main thread's wait
/// returns (for `std_scope`: when both threads are joined). The measured span thus holds the
/// release of the workers (a barrier wake-up, the same for every id), their work, and the
/// wake-up of the main thread.
///
/// Each worker runs 1000 tiny tasks. The main thread registers one count per worker before
/// spawning (Go's `wg.Add` before `go`), and each worker also does add(1) / done() around every
/// task (a task-scoped registration, as `WaitGroup::guard` does), so the group's counter is hit
/// from 2 threads at once: 2 x 1000 contended add/done pairs plus the final wake-up of the main
/// thread. The scope joins the threads outside the measurement.
/// - `gosync`: `add(2)` up front; per task `add(1)` ... `done()`; each worker `done()` at the end.
/// - `std_condvar`: the same calls on the Mutex+Condvar latch.
/// - `crossbeam`: one clone moved into each worker; per task `clone()` ... `drop()`; the worker's
///   clone drops at the end; main calls `wait()` on the original.
/// - `std_scope`: no counter at all; the tasks alone, and the clock stops when both threads have
///   been joined. It is the floor (its stop also includes thread exit, a few µs).
fn fork_join(c: &mut Criterion) {
    let mut group = c.benchmark_group("wait_group_fork_join");
    group.throughput(Throughput::Elements((WORKERS * OPS) as u64));

    group.bench_function("gosync", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let wg = gosync::WaitGroup::new();
                let barrier = Barrier::new(WORKERS + 1);
                total += thread::scope(|s| {
                    wg.add(WORKERS);
                    for _ in 0..WORKERS {
                        s.spawn(|| {
                            barrier.wait(); // ready
                            barrier.wait(); // go: the clock is running
                            let mut acc = 0;
                            for i in 0..OPS {
                                wg.add(1);
                                acc = task(acc, i);
                                wg.done();
                            }
                            black_box(acc);
                            wg.done();
                        });
                    }
                    let start = start_workers(&barrier);
                    wg.wait();
                    start.elapsed()
                });
            }
            total
        })
    });

    group.bench_function("std_condvar", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let latch = Latch::new();
                let barrier = Barrier::new(WORKERS + 1);
                total += thread::scope(|s| {
                    latch.add(WORKERS);
                    for _ in 0..WORKERS {
                        s.spawn(|| {
                            barrier.wait(); // ready
                            barrier.wait(); // go: the clock is running
                            let mut acc = 0;
                            for i in 0..OPS {
                                latch.add(1);
                                acc = task(acc, i);
                                latch.done();
                            }
                            black_box(acc);
                            latch.done();
                        });
                    }
                    let start = start_workers(&barrier);
                    latch.wait();
                    start.elapsed()
                });
            }
            total
        })
    });

    group.bench_function("std_scope", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let barrier = Barrier::new(WORKERS + 1);
                total += thread::scope(|s| {
                    let handles: Vec<_> = (0..WORKERS)
                        .map(|_| {
                            s.spawn(|| {
                                barrier.wait(); // ready
                                barrier.wait(); // go: the clock is running
                                let mut acc = 0;
                                for i in 0..OPS {
                                    acc = task(acc, i);
                                }
                                black_box(acc);
                            })
                        })
                        .collect();
                    let start = start_workers(&barrier);
                    for h in handles {
                        h.join().unwrap();
                    }
                    start.elapsed()
                });
            }
            total
        })
    });

    group.bench_function("crossbeam", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let wg = crossbeam::sync::WaitGroup::new();
                let barrier = Barrier::new(WORKERS + 1);
                total += thread::scope(|s| {
                    for _ in 0..WORKERS {
                        let worker = wg.clone();
                        let barrier = &barrier;
                        s.spawn(move || {
                            barrier.wait(); // ready
                            barrier.wait(); // go: the clock is running
                            let mut acc = 0;
                            for i in 0..OPS {
                                let t = worker.clone();
                                acc = task(acc, i);
                                drop(t);
                            }
                            black_box(acc);
                            drop(worker);
                        });
                    }
                    let start = start_workers(&barrier);
                    wg.wait();
                    start.elapsed()
                });
            }
            total
        })
    });

    group.finish();
}

/// The main thread's side of the two meetings: waits until every worker is ready, starts the
/// clock, then releases them. Returns the clock's start.
fn start_workers(barrier: &Barrier) -> Instant {
    barrier.wait(); // ready: every worker is running
    let start = Instant::now();
    barrier.wait(); // go: no worker starts its tasks before `start`
    start
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = add_done, fork_join
}
criterion_main!(benches);
