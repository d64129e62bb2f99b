//! Mutex and Cond: Go's sync.Mutex / sync.Cond semantics, timed and async forms, cancel safety.

mod common;

use common::{block_on, poll_once, ready, scaled, wait_until, CountingWaker, Watchdog, LONG};
use gosync::{Cond, Mutex, MutexGuard};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::Poll;
use std::thread;
use std::time::{Duration, Instant};

const SHORT: Duration = Duration::from_millis(20);

fn assert_send<T: Send>() {}
fn assert_send_sync<T: Send + Sync>() {}

// ---------------------------------------------------------------------------------------
// Mutex
// ---------------------------------------------------------------------------------------

#[test]
fn mutex_basics() {
    assert_send_sync::<Mutex<u32>>();
    assert_send_sync::<Cond>();
    assert_send::<MutexGuard<'static, u32>>();

    let m = Mutex::new(5);
    assert!(!m.is_locked());
    {
        let mut g = m.lock();
        assert!(m.is_locked());
        *g += 1;
    }
    assert!(!m.is_locked());
    assert_eq!(*m.lock(), 6);
    let mut m = m;
    *m.get_mut() += 1;
    assert_eq!(m.into_inner(), 7);

    let d: Mutex<Vec<u8>> = Mutex::default();
    assert!(d.lock().is_empty());
    let f: Mutex<String> = Mutex::from(String::from("x"));
    assert_eq!(&*f.lock(), "x");
    assert!(!format!("{f:?}").is_empty());
}

#[test]
fn mutex_debug_does_not_deadlock_while_locked() {
    let _w = Watchdog::start("mutex_debug_does_not_deadlock_while_locked");
    let m = Mutex::new(1);
    let g = m.lock();
    let s = format!("{m:?}");
    assert!(!s.is_empty());
    drop(g);
}

#[test]
fn mutex_unsized() {
    let m: Box<Mutex<[u32]>> = Box::new(Mutex::new([1, 2, 3]));
    m.lock()[1] = 20;
    assert_eq!(&*m.lock(), &[1, 20, 3]);
    let g = m.try_lock().unwrap();
    assert_eq!(g.len(), 3);
}

/// N threads x M increments of non-atomic data; plus an "inside" flag proving that no two
/// holders overlap. Mixes every way to acquire.
#[test]
fn mutex_exclusion_under_contention() {
    let _w = Watchdog::start("mutex_exclusion_under_contention");
    const THREADS: usize = 4;
    const ITERS: usize = scaled(5_000, 40);
    struct State {
        counter: u64,
        inside: bool,
    }
    let m = Mutex::new(State { counter: 0, inside: false });
    let overlap = AtomicBool::new(false);
    let check = |g: &mut MutexGuard<'_, State>| {
        if g.inside {
            overlap.store(true, Ordering::SeqCst);
        }
        g.inside = true;
        let c = g.counter;
        std::hint::black_box(&c);
        g.counter = c + 1;
        g.inside = false;
    };
    thread::scope(|s| {
        for t in 0..THREADS {
            let (m, check) = (&m, &check);
            s.spawn(move || {
                for i in 0..ITERS {
                    match (t + i) % 4 {
                        0 | 1 => check(&mut m.lock()),
                        2 => check(&mut m.lock_timeout(LONG).expect("lock_timeout(10s) under contention")),
                        _ => loop {
                            if let Some(mut g) = m.try_lock() {
                                check(&mut g);
                                break;
                            }
                            thread::yield_now();
                        },
                    }
                }
            });
        }
    });
    assert!(!overlap.load(Ordering::SeqCst), "two lock holders overlapped");
    assert_eq!(m.lock().counter, (THREADS * ITERS) as u64);
    assert!(!m.is_locked());
}

#[test]
fn mutex_exclusion_async_and_blocking_mixed() {
    let _w = Watchdog::start("mutex_exclusion_async_and_blocking_mixed");
    const ITERS: usize = scaled(3_000, 30);
    let m = Mutex::new(0u64);
    thread::scope(|s| {
        for t in 0..4 {
            let m = &m;
            s.spawn(move || {
                if t % 2 == 0 {
                    block_on(async {
                        for _ in 0..ITERS {
                            let mut g = m.lock_async().await;
                            *g += 1;
                        }
                    });
                } else {
                    for _ in 0..ITERS {
                        *m.lock() += 1;
                    }
                }
            });
        }
    });
    assert_eq!(*m.lock(), 4 * ITERS as u64);
}

/// Waiters that time out (often, by racing the unlock that chose them) must not swallow the
/// wake-up meant for a blocked thread or task: every blocking locker finishes.
#[test]
fn mutex_timed_out_waiters_do_not_swallow_wakeups() {
    let _w = Watchdog::start("mutex_timed_out_waiters_do_not_swallow_wakeups");
    const ITERS: usize = scaled(2_000, 20);
    let m = Mutex::new(0u64);
    let timed_hits = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    thread::scope(|s| {
        let blockers: Vec<_> = (0..2)
            .map(|t| {
                let m = &m;
                s.spawn(move || {
                    for _ in 0..ITERS {
                        let mut g = if t == 0 { m.lock() } else { block_on(m.lock_async()) };
                        *g += 1;
                        for _ in 0..20 {
                            std::hint::spin_loop();
                        }
                    }
                })
            })
            .collect();
        for _ in 0..2 {
            s.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    if let Some(mut g) = m.lock_timeout(Duration::from_micros(20)) {
                        *g += 1;
                        timed_hits.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
        for b in blockers {
            b.join().unwrap();
        }
        stop.store(true, Ordering::Relaxed);
    });
    assert_eq!(*m.lock(), (2 * ITERS + timed_hits.load(Ordering::Relaxed)) as u64);
    assert!(!m.is_locked());
}

#[test]
fn try_lock_fails_while_held() {
    let m = Mutex::new(0);
    let g = m.lock();
    assert!(m.try_lock().is_none());
    thread::scope(|s| {
        s.spawn(|| assert!(m.try_lock().is_none(), "try_lock from another thread while held"));
    });
    assert!(m.is_locked());
    drop(g);
    let g = m.try_lock().expect("try_lock after unlock");
    assert!(m.try_lock().is_none());
    drop(g);
    assert!(m.try_lock().is_some());
}

#[test]
fn lock_timeout_none_while_held_some_after_release() {
    let _w = Watchdog::start("lock_timeout_none_while_held_some_after_release");
    let m = Mutex::new(1);
    let g = m.lock();
    assert!(m.lock_timeout(Duration::ZERO).is_none());
    let t0 = Instant::now();
    assert!(m.lock_timeout(SHORT).is_none());
    assert!(t0.elapsed() >= SHORT, "lock_timeout gave up before the timeout");
    assert!(m.lock_deadline(Instant::now() + Duration::from_millis(5)).is_none());
    assert!(m.lock_deadline(Instant::now() - Duration::from_millis(5)).is_none());
    thread::scope(|s| {
        let h = s.spawn(|| m.lock_timeout(SHORT).map(|g| *g));
        assert_eq!(h.join().unwrap(), None);
        let h = s.spawn(|| {
            let g = m.lock_timeout(LONG).expect("lock_timeout must succeed after release");
            *g + 1
        });
        thread::sleep(Duration::from_millis(10));
        drop(g);
        assert_eq!(h.join().unwrap(), 2);
    });
    // Free mutex: immediate success even with a zero timeout / past deadline.
    assert!(m.lock_timeout(Duration::ZERO).is_some());
    assert!(m.lock_deadline(Instant::now() - Duration::from_millis(5)).is_some());
    let g = m.lock_deadline(Instant::now() + LONG).unwrap();
    drop(g);
}

#[test]
fn guard_can_be_sent_and_unlocked_on_another_thread() {
    let _w = Watchdog::start("guard_can_be_sent_and_unlocked_on_another_thread");
    let m = Mutex::new(0);
    let mut g = m.lock();
    *g = 3;
    thread::scope(|s| {
        s.spawn(move || {
            *g += 1;
            drop(g);
        });
    });
    assert_eq!(*m.try_lock().unwrap(), 4);
}

#[test]
fn lock_async_uncontended_and_contended() {
    let m = Mutex::new(10);
    {
        let mut g = block_on(m.lock_async());
        *g += 1;
    }
    let mut f = Box::pin(m.lock_async());
    let g = ready(poll_once(&mut f), "uncontended lock_async");
    assert_eq!(*g, 11);
    // Contended: pending while held, woken by the unlock, then ready.
    let w = CountingWaker::new();
    let mut f2 = Box::pin(m.lock_async());
    assert!(w.poll(&mut f2).is_pending());
    assert!(!w.woken());
    drop(g);
    assert!(w.woken(), "unlock must wake the pending LockFuture");
    let mut g2 = ready(w.poll(&mut f2), "LockFuture after unlock");
    *g2 += 1;
    drop(g2);
    drop(f2);
    drop(f);
    assert!(!m.is_locked());
    assert_eq!(*m.lock(), 12);
}

#[test]
fn lock_async_across_threads() {
    let _w = Watchdog::start("lock_async_across_threads");
    let m = Mutex::new(0);
    let g = m.lock();
    thread::scope(|s| {
        let h = s.spawn(|| {
            let mut g = block_on(m.lock_async());
            *g += 1;
        });
        thread::sleep(Duration::from_millis(5));
        drop(g);
        h.join().unwrap();
    });
    assert_eq!(*m.lock(), 1);
}

/// A chain of async waiters: each unlock must wake the next pending LockFuture, including
/// after a LockFuture that was woken by an unlock has taken the lock.
#[test]
fn lock_async_waiters_chain() {
    let m = Mutex::new(0);
    let g = m.lock();
    let ws: Vec<CountingWaker> = (0..3).map(|_| CountingWaker::new()).collect();
    let mut fs: Vec<_> = (0..3).map(|_| Box::pin(m.lock_async())).collect();
    for (w, f) in ws.iter().zip(fs.iter_mut()) {
        assert!(w.poll(f).is_pending());
    }
    drop(g);
    for i in 0..3 {
        assert!(ws[i].woken(), "lost wake-up: LockFuture {i} not woken by the previous unlock");
        let mut g = ready(ws[i].poll(&mut fs[i]), "woken LockFuture with the mutex free");
        *g += 1;
    }
    assert!(!m.is_locked());
    assert_eq!(*m.lock(), 3);
}

/// A blocked thread waiting behind a LockFuture must get the lock when the future's holder
/// unlocks.
#[test]
fn lock_async_then_blocked_thread() {
    let _w = Watchdog::start("lock_async_then_blocked_thread");
    let m = Mutex::new(0);
    let g = m.lock();
    let w1 = CountingWaker::new();
    let mut f1 = Box::pin(m.lock_async());
    assert!(w1.poll(&mut f1).is_pending());
    thread::scope(|s| {
        let h = s.spawn(|| m.lock_timeout(LONG).map(|mut g| *g += 1).is_some());
        thread::sleep(Duration::from_millis(10)); // let it register behind f1
        drop(g);
        assert!(w1.woken());
        let g1 = ready(w1.poll(&mut f1), "LockFuture after unlock");
        drop(g1);
        assert!(h.join().unwrap(), "blocked thread never woken after the LockFuture's holder unlocked");
    });
    assert_eq!(*m.lock(), 1);
}

/// Drop a LockFuture that was woken by the unlock (without polling it again): the next waiter
/// must still be woken and get the lock.
#[test]
fn lock_future_cancel_after_wake_passes_the_lock_on() {
    let m = Mutex::new(0);
    let g = m.lock();
    let w1 = CountingWaker::new();
    let w2 = CountingWaker::new();
    let mut f1 = Box::pin(m.lock_async());
    let mut f2 = Box::pin(m.lock_async());
    assert!(w1.poll(&mut f1).is_pending());
    assert!(w2.poll(&mut f2).is_pending());
    drop(g);
    assert!(w1.woken() || w2.woken(), "unlock woke nobody");
    drop(f1);
    assert!(w2.woken(), "lost wake-up: second LockFuture not woken after the first was dropped");
    let mut g2 = ready(w2.poll(&mut f2), "second LockFuture");
    *g2 += 1;
    drop(g2);
    assert!(!m.is_locked());
    assert_eq!(*m.try_lock().unwrap(), 1);
}

/// Same with a blocked THREAD as the second waiter.
#[test]
fn lock_future_cancel_after_wake_wakes_blocked_thread() {
    let _w = Watchdog::start("lock_future_cancel_after_wake_wakes_blocked_thread");
    let m = Mutex::new(0);
    let g = m.lock();
    let w1 = CountingWaker::new();
    let mut f1 = Box::pin(m.lock_async());
    assert!(w1.poll(&mut f1).is_pending());
    thread::scope(|s| {
        let h = s.spawn(|| m.lock_timeout(LONG).map(|mut g| *g += 1).is_some());
        thread::sleep(Duration::from_millis(10)); // let the thread block (outcome is the same if not)
        drop(g);
        drop(f1);
        assert!(h.join().unwrap(), "blocked thread never got the lock after the LockFuture was dropped");
    });
    assert_eq!(*m.lock(), 1);
}

#[test]
fn lock_future_cancel_before_wake() {
    let m = Mutex::new(0);
    let g = m.lock();
    let w1 = CountingWaker::new();
    let w2 = CountingWaker::new();
    let mut f1 = Box::pin(m.lock_async());
    let mut f2 = Box::pin(m.lock_async());
    assert!(w1.poll(&mut f1).is_pending());
    assert!(w2.poll(&mut f2).is_pending());
    drop(f1); // cancelled while still waiting
    drop(m.lock_async()); // never polled
    drop(g);
    assert!(w2.woken(), "unlock must wake the remaining LockFuture");
    let g2 = ready(w2.poll(&mut f2), "remaining LockFuture");
    drop(g2);
    assert!(!m.is_locked());
}

/// Rounds of 4 pending LockFutures with a round-dependent subset cancelled after the unlock:
/// the survivors must all get the lock in turn, each only after being woken (no lost wake-up),
/// whatever order the mutex hands it out in.
#[test]
fn lock_future_many_cancellations_leave_mutex_usable() {
    let m = Mutex::new(0u32);
    for round in 0..16u32 {
        let g = m.lock();
        let ws: Vec<CountingWaker> = (0..4).map(|_| CountingWaker::new()).collect();
        let mut fs: Vec<_> = (0..4).map(|_| Some(Box::pin(m.lock_async()))).collect();
        for (w, f) in ws.iter().zip(fs.iter_mut()) {
            assert!(w.poll(f.as_mut().unwrap()).is_pending());
        }
        let mut seen = [0usize; 4];
        drop(g);
        for (i, f) in fs.iter_mut().enumerate() {
            if (round >> i) & 1 == 1 {
                *f = None;
            }
        }
        let mut steps = 0;
        while fs.iter().any(|f| f.is_some()) {
            steps += 1;
            assert!(steps < 50, "LockFutures stuck (round {round})");
            let woken: Vec<usize> = (0..4).filter(|&i| fs[i].is_some() && ws[i].count() > seen[i]).collect();
            assert!(
                !woken.is_empty(),
                "lost wake-up: mutex free, survivors pending, none woken (round {round})"
            );
            for i in woken {
                seen[i] = ws[i].count();
                if let Poll::Ready(mut g) = ws[i].poll(fs[i].as_mut().unwrap()) {
                    *g += 1;
                    drop(g);
                    fs[i] = None;
                }
            }
        }
        assert!(!m.is_locked(), "round {round}");
    }
    assert_eq!(*m.lock(), (0..16u32).map(|r| 4 - r.count_ones()).sum::<u32>());
}

// ---------------------------------------------------------------------------------------
// Cond
// ---------------------------------------------------------------------------------------

#[derive(Default)]
struct Tokens {
    waiting: usize,
    tokens: usize,
    woke: usize,
    wakeups: usize,
}

/// Each signal (with one token available) wakes exactly one waiter, which takes it. A Cond
/// never wakes spuriously, so N signals mean exactly N returns from `wait` in all: a signal
/// that woke more than one waiter shows up as extra returns.
#[test]
fn signal_wakes_one_waiter() {
    let _w = Watchdog::start("signal_wakes_one_waiter");
    const N: usize = 3;
    let m = Mutex::new(Tokens::default());
    let cond = Cond::new();
    thread::scope(|s| {
        for _ in 0..N {
            s.spawn(|| {
                let mut g = m.lock();
                g.waiting += 1;
                while g.tokens == 0 {
                    cond.wait(&mut g);
                    g.wakeups += 1;
                }
                g.tokens -= 1;
                g.woke += 1;
            });
        }
        // waiting == N seen under the lock means all N are inside wait() (it unlocks atomically).
        wait_until("all waiters inside wait()", || m.lock().waiting == N);
        for k in 1..=N {
            {
                let mut g = m.lock();
                g.tokens += 1;
                cond.signal();
            }
            wait_until("a signalled waiter took the token", || m.lock().woke == k);
            let g = m.lock();
            assert_eq!(g.tokens, 0);
            assert_eq!(g.woke, k);
        }
    });
    assert_eq!(m.lock().wakeups, N, "{N} signals must wake exactly {N} times");
}

#[test]
fn signal_and_broadcast_without_waiters_are_not_stored() {
    let m = Mutex::new(());
    let cond = Cond::new();
    cond.signal();
    cond.broadcast();
    let mut g = m.lock();
    assert!(
        !cond.wait_timeout(&mut g, Duration::from_millis(10)),
        "a signal with no waiter must be lost (Go semantics)"
    );
}

#[test]
fn broadcast_wakes_all() {
    let _w = Watchdog::start("broadcast_wakes_all");
    const N: usize = 4;
    #[derive(Default)]
    struct S {
        waiting: usize,
        go: bool,
        woke: usize,
    }
    let m = Mutex::new(S::default());
    let cond = Cond::new();
    thread::scope(|s| {
        for i in 0..N {
            let (m, cond) = (&m, &cond);
            s.spawn(move || {
                let mut g = m.lock();
                g.waiting += 1;
                if i % 2 == 0 {
                    while !g.go {
                        cond.wait(&mut g);
                    }
                } else {
                    cond.wait_while(&mut g, |s| !s.go);
                }
                g.woke += 1;
            });
        }
        wait_until("all waiters inside wait()", || m.lock().waiting == N);
        let mut g = m.lock();
        g.go = true;
        cond.broadcast();
    });
    assert_eq!(m.lock().woke, N);
}

#[test]
fn wait_while_waits_while_condition_true() {
    let _w = Watchdog::start("wait_while_waits_while_condition_true");
    let m = Mutex::new(0u32);
    let cond = Cond::new();
    // Condition already false: returns at once with the lock held, without any signal.
    {
        let mut g = m.lock();
        cond.wait_while(&mut g, |v| *v > 100);
        assert!(m.is_locked());
        *g += 0;
    }
    // (value, the waiter is registered): each step waits until the waiter is inside
    // wait_while, so every signal finds it and the count of condition checks is exact.
    let state = Mutex::new((0u32, false));
    thread::scope(|s| {
        let h = s.spawn(|| {
            let mut g = state.lock();
            let mut calls = 0;
            cond.wait_while(&mut g, |(v, waiting)| {
                calls += 1;
                *waiting = *v < 5;
                *waiting
            });
            (g.0, calls)
        });
        for _ in 0..5 {
            wait_until("the waiter is inside wait_while", || state.lock().1);
            let mut g = state.lock();
            g.1 = false;
            g.0 += 1;
            cond.signal();
        }
        // One check on entry, one per signal: no spurious wake-up, none missed.
        assert_eq!(h.join().unwrap(), (5, 6));
    });
}

#[test]
fn wait_timeout_false_on_timeout_and_guard_relocked() {
    let _w = Watchdog::start("wait_timeout_false_on_timeout_and_guard_relocked");
    let m = Mutex::new(1);
    let cond = Cond::new();
    let mut g = m.lock();
    let t0 = Instant::now();
    let notified = cond.wait_timeout(&mut g, SHORT);
    assert!(!notified, "nobody signalled: wait_timeout must return false");
    assert!(t0.elapsed() >= SHORT, "wait_timeout returned before the timeout");
    // Relocked: the mutex is held and the guard usable.
    assert!(m.is_locked());
    thread::scope(|s| {
        s.spawn(|| assert!(m.try_lock().is_none(), "guard not relocked after timeout"));
    });
    *g += 1;
    assert!(!cond.wait_deadline(&mut g, Instant::now() + Duration::from_millis(5)));
    assert!(!cond.wait_deadline(&mut g, Instant::now() - Duration::from_millis(5)));
    assert!(!cond.wait_timeout(&mut g, Duration::ZERO));
    assert!(m.is_locked());
    *g += 1;
    drop(g);
    assert_eq!(*m.lock(), 3);
}

#[test]
fn wait_timeout_true_when_notified_and_unlocks_while_waiting() {
    let _w = Watchdog::start("wait_timeout_true_when_notified_and_unlocks_while_waiting");
    let m = Mutex::new(0);
    let cond = Cond::new();
    let mut g = m.lock();
    thread::scope(|s| {
        // This thread can only take the lock if wait_timeout released it.
        s.spawn(|| {
            let mut g = m.lock();
            *g = 7;
            cond.signal();
        });
        let mut last = false;
        while *g != 7 {
            last = cond.wait_timeout(&mut g, LONG);
        }
        assert!(last, "woken by signal: wait_timeout must return true");
        assert!(m.is_locked());
        drop(g);
    });
    // Deadline form, notified.
    let mut g = m.lock();
    thread::scope(|s| {
        s.spawn(|| {
            let mut g = m.lock();
            *g = 8;
            cond.broadcast();
        });
        let mut last = false;
        while *g != 8 {
            last = cond.wait_deadline(&mut g, Instant::now() + LONG);
        }
        assert!(last);
        drop(g);
    });
}

#[test]
fn cond_not_bound_to_one_mutex() {
    let _w = Watchdog::start("cond_not_bound_to_one_mutex");
    let a = Mutex::new(false);
    let b = Mutex::new(String::new());
    let cond = Cond::new();
    thread::scope(|s| {
        s.spawn(|| {
            *a.lock() = true;
            cond.broadcast();
        });
        let mut g = a.lock();
        cond.wait_while(&mut g, |v| !*v);
    });
    thread::scope(|s| {
        s.spawn(|| {
            b.lock().push('x');
            cond.broadcast();
        });
        let mut g = b.lock();
        cond.wait_while(&mut g, |v| v.is_empty());
        assert_eq!(&*g, "x");
    });
    // Unsized T works with wait too.
    let u: Box<Mutex<[u8]>> = Box::new(Mutex::new([0u8; 2]));
    let mut g = u.lock();
    assert!(!cond.wait_timeout(&mut g, Duration::ZERO));
    g[0] = 1;
}

#[test]
fn wait_async_releases_then_relocks() {
    let m = Mutex::new(0);
    let cond = Cond::new();
    let w = CountingWaker::new();
    let mut f = Box::pin(cond.wait_async(m.lock()));
    assert!(m.is_locked(), "the guard is only released on the first poll");
    assert!(w.poll(&mut f).is_pending());
    // Registered and the guard released.
    {
        let mut g = m.try_lock().expect("wait_async must release the guard once it is registered");
        *g = 5;
        cond.signal();
    }
    assert!(w.woken(), "signal must wake the CondWaitFuture");
    let g = ready(w.poll(&mut f), "CondWaitFuture after signal with the mutex free");
    assert_eq!(*g, 5);
    assert!(m.is_locked());
    drop(g);
    drop(f);
    assert!(!m.is_locked());
}

#[test]
fn wait_async_relock_waits_for_the_mutex() {
    let m = Mutex::new(0);
    let cond = Cond::new();
    let w = CountingWaker::new();
    let mut f = Box::pin(cond.wait_async(m.lock()));
    assert!(w.poll(&mut f).is_pending());
    let mut g = m.lock();
    *g = 1;
    cond.signal();
    // The mutex is still held here: the future may not complete, only after the unlock.
    let before = w.count();
    assert!(w.poll(&mut f).is_pending(), "CondWaitFuture completed while the mutex was held by someone else");
    drop(g);
    assert!(w.count() > before, "unlock must wake the future waiting to relock");
    let g = ready(w.poll(&mut f), "relock after unlock");
    assert_eq!(*g, 1);
}

#[test]
fn wait_async_dropped_unpolled_releases_guard() {
    let m = Mutex::new(0);
    let cond = Cond::new();
    let f = cond.wait_async(m.lock());
    assert!(m.is_locked());
    drop(f);
    assert!(!m.is_locked(), "dropping an unpolled CondWaitFuture must release its guard");
}

#[test]
fn wait_async_with_block_on_across_threads() {
    let _w = Watchdog::start("wait_async_with_block_on_across_threads");
    let m = Mutex::new(false);
    let cond = Cond::new();
    thread::scope(|s| {
        let h = s.spawn(|| {
            block_on(async {
                let mut g = m.lock_async().await;
                while !*g {
                    g = cond.wait_async(g).await;
                }
                true
            })
        });
        thread::sleep(Duration::from_millis(5));
        *m.lock() = true;
        cond.signal();
        assert!(h.join().unwrap());
    });
}

/// Longest waiter is woken by signal; broadcast wakes every async waiter.
#[test]
fn async_signal_fifo_and_broadcast() {
    let m = Mutex::new(());
    let cond = Cond::new();
    let ws: Vec<CountingWaker> = (0..3).map(|_| CountingWaker::new()).collect();
    let mut fs = Vec::new();
    for w in &ws {
        let mut f = Box::pin(cond.wait_async(m.lock()));
        assert!(w.poll(&mut f).is_pending());
        fs.push(f);
    }
    cond.signal();
    assert!(ws[0].woken(), "signal must wake the longest waiter");
    let g = ready(ws[0].poll(&mut fs[0]), "signalled waiter");
    drop(g);
    cond.broadcast();
    assert!(ws[1].woken() && ws[2].woken(), "broadcast must wake all waiters");
    // Both can complete, one after the other (they contend for the mutex).
    let mut f2 = fs.pop().unwrap();
    let mut f1 = fs.pop().unwrap();
    let g1 = ready(ws[1].poll(&mut f1), "broadcast waiter 1");
    let before = ws[2].count();
    assert!(ws[2].poll(&mut f2).is_pending(), "waiter 2 cannot relock while waiter 1 holds the mutex");
    drop(g1);
    assert!(ws[2].count() > before, "unlock must wake waiter 2");
    let g2 = ready(ws[2].poll(&mut f2), "broadcast waiter 2");
    drop(g2);
    assert!(!m.is_locked());
}

/// Cancel safety: two async waiters, one signal, the signalled (first) future is dropped without
/// being polled again: the second waiter must get the signal.
#[test]
fn wait_async_cancel_after_signal_passes_it_on() {
    let m = Mutex::new(0);
    let cond = Cond::new();
    let w1 = CountingWaker::new();
    let w2 = CountingWaker::new();
    let mut f1 = Box::pin(cond.wait_async(m.lock()));
    assert!(w1.poll(&mut f1).is_pending());
    let mut f2 = Box::pin(cond.wait_async(m.lock()));
    assert!(w2.poll(&mut f2).is_pending());
    cond.signal();
    assert!(w1.woken(), "signal must wake the longest (first) waiter");
    drop(f1);
    assert!(!m.is_locked(), "dropped future must not keep the lock");
    assert!(w2.woken(), "lost wake-up: the signal was not passed to the second waiter");
    let g = ready(w2.poll(&mut f2), "second waiter after the first was cancelled");
    drop(g);
    assert!(!m.is_locked());
}

/// The same, but the second waiter is a blocked thread.
#[test]
fn wait_async_cancel_after_signal_wakes_blocked_thread() {
    let _w = Watchdog::start("wait_async_cancel_after_signal_wakes_blocked_thread");
    let m = Mutex::new(0usize);
    let cond = Cond::new();
    let w1 = CountingWaker::new();
    let mut f1 = Box::pin(cond.wait_async(m.lock()));
    assert!(w1.poll(&mut f1).is_pending());
    thread::scope(|s| {
        let h = s.spawn(|| {
            let mut g = m.lock();
            *g = 1; // "I am registered"
                    // One wait, no loop: it must be woken by the passed-on signal, not time out.
            cond.wait_timeout(&mut g, LONG)
        });
        wait_until("thread inside wait", || *m.lock() == 1);
        cond.signal();
        assert!(w1.woken());
        drop(f1);
        assert!(h.join().unwrap(), "blocked waiter timed out: signal lost when the async waiter was dropped");
    });
}

#[test]
fn wait_async_cancel_before_signal() {
    let m = Mutex::new(());
    let cond = Cond::new();
    let w1 = CountingWaker::new();
    let w2 = CountingWaker::new();
    let mut f1 = Box::pin(cond.wait_async(m.lock()));
    assert!(w1.poll(&mut f1).is_pending());
    let mut f2 = Box::pin(cond.wait_async(m.lock()));
    assert!(w2.poll(&mut f2).is_pending());
    drop(f1); // deregisters
    cond.signal();
    assert!(w2.woken(), "signal went to a cancelled waiter");
    drop(ready(w2.poll(&mut f2), "second waiter"));
}

/// Producer/consumer: a bounded buffer built from a Mutex and two Conds, woken by `signal`
/// only (no broadcast, no timed wait anywhere). Producers end the run with one stop marker
/// per consumer, pushed like any item. Every wake-up the run needs thus comes from a single
/// signal: a lost one leaves a thread waiting for good, and the watchdog aborts the run (the
/// async consumer's `block_on` panics instead).
#[test]
fn producer_consumer_with_cond_and_mutex() {
    let _w = Watchdog::start("producer_consumer_with_cond_and_mutex");
    const PRODUCERS: usize = 2;
    const CONSUMERS: usize = 3;
    const PER: usize = scaled(2_000, 40);
    // One slot: every item is a hand-off that needs its signal.
    const CAP: usize = 1;
    struct Buf {
        /// `None` is a stop marker: the consumer that pops it ends.
        q: VecDeque<Option<usize>>,
        done_producers: usize,
    }
    let m = Mutex::new(Buf { q: VecDeque::new(), done_producers: 0 });
    let not_full = Cond::new();
    let not_empty = Cond::new();
    let received = Mutex::new(Vec::new());
    let push = |item: Option<usize>| {
        let mut g = m.lock();
        not_full.wait_while(&mut g, |b| b.q.len() >= CAP);
        g.q.push_back(item);
        not_empty.signal();
        g
    };
    thread::scope(|s| {
        for p in 0..PRODUCERS {
            let (m, push) = (&m, &push);
            s.spawn(move || {
                for i in 0..PER {
                    drop(push(Some(p * PER + i)));
                }
                let mut g = m.lock();
                g.done_producers += 1;
                if g.done_producers == PRODUCERS {
                    drop(g);
                    for _ in 0..CONSUMERS {
                        drop(push(None));
                    }
                }
            });
        }
        for c in 0..CONSUMERS {
            let (m, not_full, not_empty, received) = (&m, &not_full, &not_empty, &received);
            s.spawn(move || {
                let mut mine = Vec::new();
                if c == 0 {
                    // One async consumer.
                    block_on(async {
                        let mut g = m.lock_async().await;
                        loop {
                            match g.q.pop_front() {
                                Some(item) => {
                                    not_full.signal();
                                    match item {
                                        Some(v) => mine.push(v),
                                        None => break,
                                    }
                                }
                                None => g = not_empty.wait_async(g).await,
                            }
                        }
                    });
                } else {
                    let mut g = m.lock();
                    loop {
                        match g.q.pop_front() {
                            Some(item) => {
                                not_full.signal();
                                match item {
                                    Some(v) => mine.push(v),
                                    None => break,
                                }
                            }
                            // Untimed: only a signal can end this wait.
                            None => not_empty.wait(&mut g),
                        }
                    }
                }
                received.lock().extend(mine);
            });
        }
    });
    let mut got = received.into_inner();
    got.sort_unstable();
    assert_eq!(got, (0..PRODUCERS * PER).collect::<Vec<_>>(), "every item exactly once");
    assert!(m.lock().q.is_empty(), "every stop marker was taken");
}

/// Timed waiters racing a storm of signals. Two kinds of waiters share one Cond:
/// - "sure" waiters wait with a timeout they never reach, so while one is registered a
///   signal always finds a live registration;
/// - "noise" waiters wait with tiny timeouts, so registrations come and go all the time and
///   signals race their timeouts and withdrawals.
///
/// Each round the signaller waits (under the lock) until every sure waiter is registered in
/// the current epoch, then sends `s <= SURE` signals while still holding the lock. Each signal
/// thus completes exactly one registration, whoever's it is, and that waiter must return
/// true: exactly `s` waits of this epoch return true, no more (a signal woke two, or a wait
/// reported true with no signal) and no fewer (a signal was lost: swallowed by a waiter that
/// timed out, or left on a stale registration). The epoch then ends with a broadcast, which
/// releases the remaining sure waiters for the next round. The mutex keeps a count of every
/// return from a wait, each made with the lock held again.
#[test]
fn signal_storm_with_timed_waiters_keeps_mutex_consistent() {
    let _w = Watchdog::start("signal_storm_with_timed_waiters_keeps_mutex_consistent");
    const SURE: usize = 2;
    const NOISE: usize = 2;
    const ROUNDS: usize = scaled(300, 12);
    #[derive(Default)]
    struct State {
        epoch: usize,
        /// Sure waiters registered in this epoch.
        sure_registered: usize,
        /// Waits begun in this epoch that returned true within it.
        signalled: usize,
        /// Noise waits begun in this epoch that timed out within it.
        noise_timeouts: usize,
        /// Every return from a wait (with the lock held again).
        returns: u64,
        stop: bool,
    }
    let m = Mutex::new(State::default());
    let cond = Cond::new();
    let returns_seen = AtomicUsize::new(0);
    // Fails loudly (and releases every waiter first, so the scope can end) if `done` does not
    // hold within LONG.
    let await_state = |what: &str, done: &dyn Fn(&State) -> bool| {
        let deadline = Instant::now() + LONG;
        loop {
            let mut g = m.lock();
            if done(&g) {
                return g;
            }
            if Instant::now() >= deadline {
                g.stop = true;
                drop(g);
                cond.broadcast();
                panic!("signal storm: timed out waiting until {what}");
            }
            drop(g);
            thread::yield_now();
        }
    };
    thread::scope(|s| {
        for _ in 0..SURE {
            s.spawn(|| {
                let mut g = m.lock();
                while !g.stop {
                    // Register only after a noise wait of this epoch timed out: that waiter's
                    // registration, if it were not withdrawn, would sit ahead of ours in the
                    // (FIFO) wait list and swallow the first signal.
                    while g.noise_timeouts == 0 && !g.stop {
                        drop(g);
                        thread::yield_now();
                        g = m.lock();
                    }
                    if g.stop {
                        break;
                    }
                    let epoch = g.epoch;
                    g.sure_registered += 1;
                    let notified = cond.wait_timeout(&mut g, LONG);
                    g.returns += 1;
                    returns_seen.fetch_add(1, Ordering::Relaxed);
                    assert!(notified || g.stop, "a sure waiter timed out: a signal or broadcast was lost");
                    if notified && g.epoch == epoch {
                        g.signalled += 1;
                    }
                }
            });
        }
        for n in 0..NOISE {
            let (m, cond, returns_seen) = (&m, &cond, &returns_seen);
            s.spawn(move || {
                let mut i = 0u64;
                let mut g = m.lock();
                while !g.stop {
                    i += 1;
                    let epoch = g.epoch;
                    // From 0 to 100 us: registrations time out and are withdrawn all the
                    // time, many of them right as a signal comes.
                    const MICROS: [u64; 8] = [0, 1, 2, 5, 10, 20, 50, 100];
                    let timeout = Duration::from_micros(MICROS[(i as usize + n * 3) % MICROS.len()]);
                    let notified = cond.wait_timeout(&mut g, timeout);
                    g.returns += 1;
                    returns_seen.fetch_add(1, Ordering::Relaxed);
                    if g.epoch == epoch {
                        if notified {
                            g.signalled += 1;
                        } else {
                            g.noise_timeouts += 1;
                        }
                    }
                }
            });
        }
        for round in 0..ROUNDS {
            let signals = round % (SURE + 1);
            let g = await_state("every sure waiter is registered", &|st| st.sure_registered == SURE);
            for _ in 0..signals {
                cond.signal();
            }
            drop(g);
            let mut g = await_state("every signal was received", &|st| st.signalled >= signals);
            assert_eq!(
                g.signalled, signals,
                "round {round}: {signals} signals made {} waits return true",
                g.signalled
            );
            g.epoch += 1;
            g.sure_registered = 0;
            g.signalled = 0;
            g.noise_timeouts = 0;
            cond.broadcast();
        }
        m.lock().stop = true;
        cond.broadcast();
    });
    assert_eq!(m.lock().returns, returns_seen.load(Ordering::Relaxed) as u64);
    assert!(!m.is_locked());
}
