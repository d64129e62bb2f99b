//! WaitGroup: Go's sync.WaitGroup semantics (and WaitGroup.Go), as test cases.

mod common;

use common::{block_on, panic_message, wait_until, CountingWaker, Watchdog, LONG};
use gosync::WaitGroup;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::thread;
use std::time::{Duration, Instant};

const SHORT: Duration = Duration::from_millis(20);

#[test]
fn wait_on_zero_returns_at_once() {
    let _w = Watchdog::start("wait_on_zero_returns_at_once");
    let wg = WaitGroup::new();
    assert_eq!(wg.count(), 0);
    wg.wait();
    assert!(wg.wait_timeout(Duration::ZERO));
    assert!(wg.wait_timeout(SHORT));
    assert!(wg.wait_deadline(Instant::now()));
    // An already-passed deadline still reports "reached zero" when the counter is zero.
    assert!(wg.wait_deadline(Instant::now() - Duration::from_millis(5)));
    let mut f = Box::pin(wg.wait_async());
    assert_eq!(common::poll_once(&mut f), Poll::Ready(()));
    block_on(wg.wait_async());

    let d = WaitGroup::default();
    assert_eq!(d.count(), 0);
    d.wait();
}

#[test]
fn add_done_count() {
    let wg = WaitGroup::new();
    wg.add(3);
    assert_eq!(wg.count(), 3);
    wg.add(0);
    assert_eq!(wg.count(), 3);
    wg.done();
    assert_eq!(wg.count(), 2);
    wg.add(5);
    assert_eq!(wg.count(), 7);
    for _ in 0..7 {
        wg.done();
    }
    assert_eq!(wg.count(), 0);
    assert!(wg.wait_timeout(Duration::ZERO));
    let s = format!("{wg:?}");
    assert!(!s.is_empty());
}

/// Done happens-before Wait returns: relaxed writes made before `done()` are visible after
/// `wait()`, and `wait()` does not return before every `done()`.
#[test]
fn done_happens_before_wait_returns() {
    let _w = Watchdog::start("done_happens_before_wait_returns");
    const THREADS: usize = 4;
    const ROUNDS: usize = 50;
    for round in 0..ROUNDS {
        let wg = WaitGroup::new();
        let data: Arc<Vec<AtomicUsize>> = Arc::new((0..THREADS).map(|_| AtomicUsize::new(0)).collect());
        let finished = Arc::new(AtomicUsize::new(0));
        wg.add(THREADS);
        for i in 0..THREADS {
            let (wg, data, finished) = (wg.clone(), data.clone(), finished.clone());
            thread::spawn(move || {
                if round % 10 == 0 {
                    // Make an early-returning wait() observable in some rounds.
                    thread::sleep(Duration::from_millis(2));
                }
                for k in 0..100 {
                    data[i].store(round * 1000 + k, Ordering::Relaxed);
                }
                finished.fetch_add(1, Ordering::Relaxed);
                wg.done();
            });
        }
        wg.wait();
        assert_eq!(wg.count(), 0);
        assert_eq!(
            finished.load(Ordering::Relaxed),
            THREADS,
            "wait returned before every done (round {round})"
        );
        for i in 0..THREADS {
            assert_eq!(
                data[i].load(Ordering::Relaxed),
                round * 1000 + 99,
                "write before done not visible (round {round})"
            );
        }
    }
}

/// Same with guard() tokens and non-atomic data behind a gosync::Mutex: after wait(), every
/// worker's push is there (wait did not return before the last token was dropped).
#[test]
fn done_happens_before_wait_with_mutex_data() {
    let _w = Watchdog::start("done_happens_before_wait_with_mutex_data");
    let wg = WaitGroup::new();
    let out = Arc::new(gosync::Mutex::new(Vec::<usize>::new()));
    for i in 0..8 {
        let out = out.clone();
        let t = wg.guard();
        thread::spawn(move || {
            let _t = t;
            thread::sleep(Duration::from_millis(1));
            out.lock().push(i);
        });
    }
    wg.wait();
    let mut v = out.lock().clone();
    v.sort();
    assert_eq!(v, (0..8).collect::<Vec<_>>());
}

#[test]
fn reusable_across_rounds() {
    let _w = Watchdog::start("reusable_across_rounds");
    let wg = WaitGroup::new();
    let total = AtomicUsize::new(0);
    for round in 1..=30usize {
        let k = 1 + round % 4;
        wg.add(k);
        thread::scope(|s| {
            for _ in 0..k {
                s.spawn(|| {
                    total.fetch_add(1, Ordering::Relaxed);
                    wg.done();
                });
            }
            wg.wait();
            assert_eq!(wg.count(), 0);
        });
        // Alternate the wait flavour between rounds.
        match round % 3 {
            0 => wg.wait(),
            1 => assert!(wg.wait_timeout(LONG)),
            _ => block_on(wg.wait_async()),
        }
    }
    assert_eq!(total.load(Ordering::Relaxed), (1..=30usize).map(|r| 1 + r % 4).sum::<usize>());
}

#[test]
#[should_panic(expected = "gosync: negative WaitGroup counter")]
fn done_on_zero_panics() {
    WaitGroup::new().done();
}

#[test]
fn done_below_zero_panics_after_a_round() {
    let wg = WaitGroup::new();
    wg.add(1);
    wg.done();
    let r = catch_unwind(AssertUnwindSafe(|| wg.done()));
    let p = r.expect_err("done() on a zero counter must panic");
    let msg = panic_message(&*p);
    assert!(msg.contains("gosync: negative WaitGroup counter"), "panic message: {msg:?}");
    // The group is still usable afterwards and the counter did not wrap.
    assert_eq!(wg.count(), 0);
    assert!(wg.wait_timeout(Duration::ZERO));
    wg.add(2);
    assert_eq!(wg.count(), 2);
    wg.done();
    wg.done();
    wg.wait();
}

/// Misuses per test below: each is a caught panic (a few microseconds); Miri runs far fewer.
const MISUSES: usize = if cfg!(miri) { 10 } else { 2000 };

/// `done` on a zero counter panics before touching the shared state: a thread watching the
/// group meanwhile never sees the counter leave zero, and its waits return at once (a state
/// changed and put back would show it a huge count, and could leave it registered on a round
/// nobody ends).
#[test]
fn done_below_zero_panic_leaves_state_for_other_threads() {
    let _w = Watchdog::start("done_below_zero_panic_leaves_state_for_other_threads");
    let wg = WaitGroup::new();
    let stop = AtomicBool::new(false);
    thread::scope(|s| {
        let watcher = s.spawn(|| {
            let mut checks = 0usize;
            while !stop.load(Ordering::Relaxed) {
                assert_eq!(wg.count(), 0, "a failed done() was visible to another thread");
                assert!(wg.try_wait(), "a failed done() was visible to another thread");
                if checks % 64 == 0 {
                    assert!(wg.wait_timeout(LONG), "a wait on a zero counter did not return");
                }
                checks += 1;
            }
            checks
        });
        for _ in 0..MISUSES {
            let p = catch_unwind(AssertUnwindSafe(|| wg.done())).expect_err("done() on zero must panic");
            assert!(panic_message(&*p).contains("gosync: negative WaitGroup counter"));
            assert_eq!(wg.count(), 0);
        }
        stop.store(true, Ordering::Relaxed);
        assert!(watcher.join().unwrap() > 0);
    });
    // Still a working group.
    wg.add(1);
    let t = wg.clone();
    let h = thread::spawn(move || t.done());
    wg.wait();
    h.join().unwrap();
}

/// An `add` past the counter's limit panics before touching the shared state: the counter
/// stays as it was for every other thread, a waiter blocked meanwhile is not released, and it
/// is released normally by the round's real end.
#[test]
fn add_overflow_panic_leaves_state_for_other_threads() {
    let _w = Watchdog::start("add_overflow_panic_leaves_state_for_other_threads");
    let limit = isize::MAX as usize;
    let wg = WaitGroup::new();
    let token = wg.guard();
    let released = AtomicBool::new(false);
    let stop = AtomicBool::new(false);
    thread::scope(|s| {
        let waiter = s.spawn(|| {
            wg.wait();
            released.store(true, Ordering::SeqCst);
        });
        let watcher = s.spawn(|| {
            let mut checks = 0usize;
            while !stop.load(Ordering::Relaxed) {
                assert_eq!(wg.count(), 1, "a failed add() was visible to another thread");
                assert!(!wg.try_wait(), "a failed add() was visible to another thread");
                if checks % 64 == 0 {
                    assert!(!wg.wait_timeout(Duration::ZERO), "a failed add() ended the round");
                }
                checks += 1;
            }
            checks
        });
        for i in 0..MISUSES {
            // The first amount that no longer fits, and the largest there is.
            let n = if i % 2 == 0 { limit } else { usize::MAX };
            let p =
                catch_unwind(AssertUnwindSafe(|| wg.add(n))).expect_err("add() past the limit must panic");
            assert!(panic_message(&*p).contains("gosync: WaitGroup counter overflow"));
            assert_eq!(wg.count(), 1);
        }
        stop.store(true, Ordering::Relaxed);
        assert!(watcher.join().unwrap() > 0);
        assert!(!released.load(Ordering::SeqCst), "a failed add() released a waiter");
        assert_eq!(wg.count(), 1);
        drop(token);
        waiter.join().unwrap();
        assert!(released.load(Ordering::SeqCst));
    });
    assert_eq!(wg.count(), 0);
}

/// The limit itself: the counter reaches `isize::MAX` exactly, and one more panics.
#[test]
fn add_up_to_the_limit_then_overflow() {
    let limit = isize::MAX as usize;
    let wg = WaitGroup::new();
    wg.add(limit - 1);
    wg.add(1);
    assert_eq!(wg.count(), limit);
    let p = catch_unwind(AssertUnwindSafe(|| wg.add(1))).expect_err("one past the limit must panic");
    assert!(panic_message(&*p).contains("gosync: WaitGroup counter overflow"));
    assert_eq!(wg.count(), limit);
    wg.add(0); // adding nothing never overflows
    wg.done();
    assert_eq!(wg.count(), limit - 1);
    assert!(!wg.try_wait());
}

/// `wait_async` is a `FusedFuture`: terminated once it returned `Ready`, and polling it again
/// returns `Ready` at once even while a later round runs.
#[test]
fn wait_async_is_fused() {
    use futures_core::future::FusedFuture;
    let wg = WaitGroup::new();
    let token = wg.guard();
    let w = CountingWaker::new();
    let mut f = Box::pin(wg.wait_async());
    assert!(!f.is_terminated());
    assert!(w.poll(&mut f).is_pending());
    assert!(!f.is_terminated());
    let debug = format!("{f:?}");
    assert!(debug.contains("WaitGroupFuture") && debug.contains("count: 1"), "{debug}");
    drop(token);
    assert_eq!(w.poll(&mut f), Poll::Ready(()));
    assert!(f.is_terminated());
    wg.add(1);
    assert_eq!(w.poll(&mut f), Poll::Ready(()));
    assert!(f.is_terminated());
    // A new future waits for the round that runs now.
    let mut g = Box::pin(wg.wait_async());
    assert!(w.poll(&mut g).is_pending());
    wg.done();
    assert_eq!(w.poll(&mut g), Poll::Ready(()));
    assert!(g.is_terminated());
    // Ready at the first poll on a zero counter.
    let mut h = Box::pin(wg.wait_async());
    assert_eq!(w.poll(&mut h), Poll::Ready(()));
    assert!(h.is_terminated());
}

#[test]
fn go_returns_value_and_counts_done() {
    let _w = Watchdog::start("go_returns_value_and_counts_done");
    let wg = WaitGroup::new();
    let gate = Arc::new(AtomicBool::new(false));
    let g2 = gate.clone();
    let h = wg.go(move || {
        while !g2.load(Ordering::Acquire) {
            thread::sleep(Duration::from_millis(1));
        }
        42u32
    });
    assert_eq!(wg.count(), 1, "go() must add(1) before returning");
    assert!(!wg.wait_timeout(SHORT), "task still running: wait_timeout must be false");
    gate.store(true, Ordering::Release);
    wg.wait();
    assert_eq!(wg.count(), 0);
    assert_eq!(h.join().unwrap(), 42);
}

#[test]
fn go_counts_a_panicking_task_as_done() {
    let _w = Watchdog::start("go_counts_a_panicking_task_as_done");
    let wg = WaitGroup::new();
    let ok = wg.go(|| 7usize);
    let bad = wg.go(|| -> usize { panic!("boom from task") });
    assert!(wg.wait_timeout(LONG), "a panicking go() task must still count as done");
    assert_eq!(wg.count(), 0);
    assert_eq!(ok.join().unwrap(), 7);
    let err = bad.join().expect_err("join() of a panicking task must be Err");
    assert!(panic_message(&*err).contains("boom from task"));
    // Still usable.
    let h = wg.go(|| ());
    wg.wait();
    h.join().unwrap();
}

#[test]
fn many_go_tasks() {
    let _w = Watchdog::start("many_go_tasks");
    let wg = WaitGroup::new();
    let sum = Arc::new(AtomicUsize::new(0));
    let hs: Vec<_> = (0..16)
        .map(|i| {
            let sum = sum.clone();
            wg.go(move || {
                sum.fetch_add(i, Ordering::Relaxed);
                i
            })
        })
        .collect();
    wg.wait();
    assert_eq!(sum.load(Ordering::Relaxed), (0..16).sum::<usize>());
    let joined: Vec<usize> = hs.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(joined, (0..16).collect::<Vec<_>>());
}

fn assert_send_static<T: Send + 'static>(_: &T) {}
fn assert_send_sync<T: Send + Sync>() {}

#[test]
fn guard_token_drop_is_done() {
    let _w = Watchdog::start("guard_token_drop_is_done");
    assert_send_sync::<WaitGroup>();
    let wg = WaitGroup::new();
    let t1 = wg.guard();
    assert_send_static(&t1);
    assert_eq!(wg.count(), 1);
    let t2 = wg.guard();
    assert_eq!(wg.count(), 2);
    drop(t1);
    assert_eq!(wg.count(), 1);
    assert!(!wg.wait_timeout(SHORT));
    // Drop the token on another thread.
    let h = thread::spawn(move || {
        thread::sleep(Duration::from_millis(5));
        drop(t2);
    });
    wg.wait();
    assert_eq!(wg.count(), 0);
    h.join().unwrap();
}

#[test]
fn guard_token_dropped_by_panic_unwinding_is_done() {
    let _w = Watchdog::start("guard_token_dropped_by_panic_unwinding_is_done");
    let wg = WaitGroup::new();
    let t = wg.guard();
    let h = thread::spawn(move || {
        let _t = t;
        panic!("worker panicked while holding a token");
    });
    assert!(wg.wait_timeout(LONG));
    assert!(h.join().is_err());
}

#[test]
fn clones_share_the_counter() {
    let _w = Watchdog::start("clones_share_the_counter");
    let wg = WaitGroup::new();
    let wg2 = wg.clone();
    wg2.add(2);
    assert_eq!(wg.count(), 2);
    wg.done();
    assert_eq!(wg2.count(), 1);
    let wg3 = wg2.clone();
    let h = thread::spawn(move || {
        wg3.done();
    });
    wg.wait();
    wg2.wait();
    h.join().unwrap();
    assert_eq!(wg.count(), 0);
    // A token from a clone counts on the shared counter.
    let t = wg2.guard();
    assert_eq!(wg.count(), 1);
    drop(t);
    assert_eq!(wg.count(), 0);
    // Dropping clones does not disturb the counter.
    wg.add(1);
    drop(wg2);
    assert_eq!(wg.count(), 1);
    wg.done();
}

#[test]
fn wait_timeout_false_while_positive_true_at_zero() {
    let _w = Watchdog::start("wait_timeout_false_while_positive_true_at_zero");
    let wg = WaitGroup::new();
    wg.add(1);
    assert!(!wg.wait_timeout(Duration::ZERO));
    let t0 = Instant::now();
    assert!(!wg.wait_timeout(SHORT));
    assert!(t0.elapsed() >= SHORT, "wait_timeout returned false before the timeout");
    assert!(!wg.wait_deadline(Instant::now() + Duration::from_millis(5)));
    assert_eq!(wg.count(), 1, "a timed-out wait must not change the counter");
    let wg2 = wg.clone();
    let h = thread::spawn(move || {
        thread::sleep(Duration::from_millis(10));
        wg2.done();
    });
    assert!(wg.wait_timeout(LONG));
    h.join().unwrap();
    wg.add(1);
    let wg2 = wg.clone();
    let h = thread::spawn(move || wg2.done());
    assert!(wg.wait_deadline(Instant::now() + LONG));
    h.join().unwrap();
}

/// wait_timeout racing the last done(): true means the counter reached zero; a false result
/// never loses the round (a later wait returns at once).
#[test]
fn wait_timeout_races_done() {
    let _w = Watchdog::start("wait_timeout_races_done");
    let wg = WaitGroup::new();
    for i in 0..300 {
        wg.add(1);
        thread::scope(|s| {
            s.spawn(|| {
                if i % 2 == 0 {
                    thread::yield_now();
                }
                wg.done();
            });
            if wg.wait_timeout(Duration::from_micros(i as u64 % 50)) {
                assert_eq!(wg.count(), 0, "wait_timeout returned true with a positive counter");
            }
        });
        assert!(wg.wait_timeout(LONG));
        assert_eq!(wg.count(), 0);
    }
}

#[test]
fn many_blocking_waiters_all_released() {
    let _w = Watchdog::start("many_blocking_waiters_all_released");
    let wg = WaitGroup::new();
    wg.add(1);
    let waiting = AtomicUsize::new(0);
    let released = AtomicUsize::new(0);
    thread::scope(|s| {
        for i in 0..4 {
            let (wg, waiting, released) = (&wg, &waiting, &released);
            s.spawn(move || {
                waiting.fetch_add(1, Ordering::SeqCst);
                if i % 2 == 0 {
                    wg.wait();
                } else {
                    assert!(wg.wait_timeout(LONG));
                }
                released.fetch_add(1, Ordering::SeqCst);
            });
        }
        for _ in 0..2 {
            let (wg, waiting, released) = (&wg, &waiting, &released);
            s.spawn(move || {
                waiting.fetch_add(1, Ordering::SeqCst);
                block_on(wg.wait_async());
                released.fetch_add(1, Ordering::SeqCst);
            });
        }
        wait_until("all waiters started", || waiting.load(Ordering::SeqCst) == 6);
        thread::sleep(Duration::from_millis(10));
        assert_eq!(released.load(Ordering::SeqCst), 0, "a waiter returned while the counter was 1");
        wg.done();
    });
    assert_eq!(released.load(Ordering::SeqCst), 6);
}

#[test]
fn wait_async_completes() {
    let _w = Watchdog::start("wait_async_completes");
    let wg = WaitGroup::new();
    wg.add(3);
    thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| {
                thread::sleep(Duration::from_millis(2));
                wg.done();
            });
        }
        block_on(wg.wait_async());
        assert_eq!(wg.count(), 0);
    });
}

#[test]
fn wait_async_is_woken_by_the_last_done() {
    let wg = WaitGroup::new();
    wg.add(2);
    let w = CountingWaker::new();
    let mut f = Box::pin(wg.wait_async());
    assert!(w.poll(&mut f).is_pending());
    wg.done();
    // Not at zero yet: re-polling (whether or not it was woken) must stay pending.
    assert!(w.poll(&mut f).is_pending());
    let before = w.count();
    wg.done();
    assert!(w.count() > before, "the done() that reached zero must wake the pending future");
    assert_eq!(w.poll(&mut f), Poll::Ready(()));
}

#[test]
fn wait_async_cancel_safe() {
    let _w = Watchdog::start("wait_async_cancel_safe");
    let wg = WaitGroup::new();
    wg.add(1);
    let w1 = CountingWaker::new();
    let w2 = CountingWaker::new();
    let mut f1 = Box::pin(wg.wait_async());
    let mut f2 = Box::pin(wg.wait_async());
    assert!(w1.poll(&mut f1).is_pending());
    assert!(w2.poll(&mut f2).is_pending());
    // Dropping a registered future must not disturb the others.
    drop(f1);
    // A never-polled future can be dropped too.
    drop(wg.wait_async());
    wg.done();
    assert!(w2.woken(), "remaining waiter must be woken after another one was cancelled");
    assert_eq!(w2.poll(&mut f2), Poll::Ready(()));
    // Dropping a completed-but-not-repolled future after the round is harmless.
    wg.add(1);
    let w3 = CountingWaker::new();
    let mut f3 = Box::pin(wg.wait_async());
    assert!(w3.poll(&mut f3).is_pending());
    wg.done();
    assert!(w3.woken());
    drop(f3);
    assert!(wg.wait_timeout(Duration::ZERO));
}

#[test]
fn wait_async_on_several_threads() {
    let _w = Watchdog::start("wait_async_on_several_threads");
    for _ in 0..50 {
        let wg = WaitGroup::new();
        wg.add(2);
        let done = AtomicUsize::new(0);
        thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    block_on(wg.wait_async());
                    done.fetch_add(1, Ordering::SeqCst);
                });
            }
            s.spawn(|| wg.done());
            s.spawn(|| wg.done());
        });
        assert_eq!(done.load(Ordering::SeqCst), 2);
    }
}

/// Stress: one group reused for many rounds, with several waiters of every kind per round,
/// racing the round's `done()`s from their registration on. Each waiter checks that the round
/// it waited for really completed: every worker's work of that round is visible (published by
/// `done`, read with Relaxed loads, so only the group's happens-before can make it so).
#[test]
fn stress_rounds_with_racing_waiters() {
    use std::sync::Barrier;
    let _w = Watchdog::start("stress_rounds_with_racing_waiters");
    const ROUNDS: usize = if cfg!(miri) { 12 } else { 300 };
    const WORKERS: usize = 3;
    const WAITERS: usize = 3;
    let wg = WaitGroup::new();
    // The round each worker last finished.
    let work: Vec<AtomicUsize> = (0..WORKERS).map(|_| AtomicUsize::new(usize::MAX)).collect();
    // Workers, waiters and the main thread meet here twice per round: at its start (after the
    // main thread's add) and at its end (after every waiter has checked).
    let barrier = Barrier::new(WORKERS + WAITERS + 1);
    let failures = std::sync::Mutex::new(Vec::new());
    thread::scope(|s| {
        for w in 0..WORKERS {
            let (wg, work, barrier) = (&wg, &work, &barrier);
            s.spawn(move || {
                for round in 0..ROUNDS {
                    barrier.wait();
                    if (round + w) % 3 == 0 {
                        thread::yield_now();
                    }
                    work[w].store(round, Ordering::Relaxed);
                    wg.done();
                    barrier.wait();
                }
            });
        }
        for k in 0..WAITERS {
            let (wg, work, barrier, failures) = (&wg, &work, &barrier, &failures);
            s.spawn(move || {
                for round in 0..ROUNDS {
                    barrier.wait();
                    let reached_zero = match (round + k) % 3 {
                        0 => {
                            wg.wait();
                            true
                        }
                        1 => wg.wait_timeout(LONG),
                        _ => {
                            block_on(wg.wait_async());
                            true
                        }
                    };
                    // Record rather than panic: a panicking waiter would leave the others
                    // stuck at the barrier, and the message lost in the watchdog's abort.
                    let mut failed = failures.lock().unwrap();
                    if !reached_zero {
                        failed.push(format!("round {round}: waiter {k}'s wait_timeout gave up"));
                    }
                    for (w, done) in work.iter().enumerate() {
                        let seen = done.load(Ordering::Relaxed);
                        if seen != round {
                            failed.push(format!(
                                "round {round}: waiter {k} returned before worker {w}'s work (saw round {seen})"
                            ));
                        }
                    }
                    drop(failed);
                    barrier.wait();
                }
            });
        }
        for _ in 0..ROUNDS {
            wg.add(WORKERS);
            barrier.wait();
            barrier.wait();
            assert_eq!(wg.count(), 0);
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "{} failures, the first: {:?}",
        failures.len(),
        &failures[..failures.len().min(3)]
    );
}
