#![cfg(loom)]
//! loom models of `gosync::Mutex` and `gosync::Cond`: mutual exclusion, signal/broadcast
//! wake-ups, a timed Cond wait racing a signal, and cancelled futures racing the wake-up they
//! were chosen for. A lost wake-up leaves some thread parked (or a block_on pending) forever,
//! which loom reports as a deadlock.
//!
//! Under loom a timed wait is one scheduling point after which the deadline counts as passed,
//! so the timeout models explore both "signalled in time" and "timed out".

mod common;

use common::{poll_once_then_drop, Outcomes};
use gosync::{Cond, Mutex};
use loom::cell::UnsafeCell;
use loom::sync::Arc;
use loom::thread;
use std::future::Future;
use std::task::Poll;
use std::time::Duration;

/// A timeout that never expires on a real clock; under loom the wait times out after one
/// scheduling point anyway.
const TIMEOUT: Duration = Duration::from_secs(3600);

/// Two threads lock and increment: the increments never overlap (the guarded value is a
/// loom-tracked cell, and so is a side cell written under the lock) and none is lost.
#[test]
fn mutex_two_lockers_exclusive() {
    loom::model(|| {
        let shared = Arc::new((Mutex::new(0usize), UnsafeCell::new(0usize)));
        let lockers: Vec<_> = (0..2)
            .map(|_| {
                let shared = shared.clone();
                thread::spawn(move || {
                    let (mutex, side) = &*shared;
                    let mut guard = mutex.lock();
                    *guard += 1;
                    side.with_mut(|p| unsafe { *p += 1 });
                })
            })
            .collect();
        lockers.into_iter().for_each(|h| h.join().unwrap());

        let (mutex, side) = &*shared;
        assert!(!mutex.is_locked());
        let guard = mutex.try_lock().expect("unlocked after both guards dropped");
        assert_eq!(*guard, 2);
        assert_eq!(side.with(|p| unsafe { *p }), 2);
    });
}

/// `try_lock` racing a blocking `lock`: whoever gets it has it alone, the blocking locker
/// always gets it eventually, and a failed try_lock means the other held it.
#[test]
fn mutex_try_lock_races_lock() {
    let seen = Outcomes::new();
    let s = seen.clone();
    loom::model(move || {
        let shared = Arc::new((Mutex::new(0usize), UnsafeCell::new(0usize)));
        let locker = {
            let shared = shared.clone();
            thread::spawn(move || {
                let (mutex, side) = &*shared;
                let mut guard = mutex.lock();
                *guard += 1;
                side.with_mut(|p| unsafe { *p += 1 });
            })
        };

        let (mutex, side) = &*shared;
        let got = match mutex.try_lock() {
            Some(mut guard) => {
                *guard += 10;
                side.with_mut(|p| unsafe { *p += 10 });
                true
            }
            None => false,
        };
        locker.join().unwrap();

        let expected = if got { 11 } else { 1 };
        assert_eq!(*mutex.try_lock().expect("unlocked"), expected);
        assert_eq!(side.with(|p| unsafe { *p }), expected);
        s.saw_if(got, "try_lock got it", "try_lock failed");
    });
    seen.assert_all(&["try_lock got it", "try_lock failed"]);
}

/// A `lock_timeout` waiter racing the holder's unlock, with a blocking locker queued as well:
/// the timed locker either gets the lock or gives up, and in both cases the blocking locker
/// is not stranded (a notification the timed locker received and gave up is not lost).
#[test]
fn mutex_lock_timeout_races_unlock() {
    let seen = Outcomes::new();
    let s = seen.clone();
    loom::model(move || {
        let mutex = Arc::new(Mutex::new(0usize));
        let held = mutex.lock();

        let timed = {
            let mutex = mutex.clone();
            thread::spawn(move || match mutex.lock_timeout(TIMEOUT) {
                Some(mut guard) => {
                    *guard += 10;
                    true
                }
                None => false,
            })
        };
        let blocking = {
            let mutex = mutex.clone();
            thread::spawn(move || *mutex.lock() += 1)
        };

        drop(held);
        let got = timed.join().unwrap();
        blocking.join().unwrap();
        assert_eq!(*mutex.try_lock().expect("unlocked"), if got { 11 } else { 1 });
        s.saw_if(got, "timed locker got it", "timed locker gave up");
    });
    seen.assert_all(&["timed locker got it", "timed locker gave up"]);
}

/// Two lockers queued on a held mutex, a thread in `lock` and a task in
/// `block_on(lock_async)`. Whichever the unlock wakes first takes the lock, and its own unlock
/// must then wake the other: taking the lock after a wake-up must not forget that another
/// waiter is still queued.
#[test]
fn lock_async_woken_then_unlock_wakes_next() {
    loom::model(|| {
        let mutex = Arc::new(Mutex::new(0usize));
        let held = mutex.lock();
        let thread_locker = {
            let mutex = mutex.clone();
            thread::spawn(move || *mutex.lock() += 1)
        };
        let task_locker = {
            let mutex = mutex.clone();
            thread::spawn(move || *loom::future::block_on(mutex.lock_async()) += 10)
        };

        drop(held);
        thread_locker.join().unwrap();
        task_locker.join().unwrap();
        assert_eq!(*mutex.try_lock().expect("unlocked"), 11);
    });
}

/// Two threads wait_while on a flag; main sets it under the lock, then signals twice. Each
/// waiter either sees the flag before waiting or is woken by one of the signals.
#[test]
fn cond_signal_twice_wakes_two_waiters() {
    loom::model(|| {
        let shared = Arc::new((Mutex::new(false), Cond::new()));
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let shared = shared.clone();
                thread::spawn(move || {
                    let (mutex, cond) = &*shared;
                    let mut ready = mutex.lock();
                    cond.wait_while(&mut ready, |ready| !*ready);
                    assert!(*ready);
                })
            })
            .collect();

        let (mutex, cond) = &*shared;
        *mutex.lock() = true;
        cond.signal();
        cond.signal();
        waiters.into_iter().for_each(|h| h.join().unwrap());
    });
}

/// As `cond_signal_twice_wakes_two_waiters`, with one broadcast sent while holding the lock.
#[test]
fn cond_broadcast_wakes_two_waiters() {
    loom::model(|| {
        let shared = Arc::new((Mutex::new(false), Cond::new()));
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let shared = shared.clone();
                thread::spawn(move || {
                    let (mutex, cond) = &*shared;
                    let mut ready = mutex.lock();
                    cond.wait_while(&mut ready, |ready| !*ready);
                    assert!(*ready);
                })
            })
            .collect();

        let (mutex, cond) = &*shared;
        let mut ready = mutex.lock();
        *ready = true;
        cond.broadcast();
        drop(ready);
        waiters.into_iter().for_each(|h| h.join().unwrap());
    });
}

/// A `wait_timeout` waiter (W1) and a `wait_while` waiter (W2) on one Cond; main sets the flag
/// and signals once. W1's result must match what happened to the signal: if W1 reports
/// "notified" it consumed the signal (main then signals again for W2); if it reports a
/// timeout, the signal must have reached W2 (or found W2 not yet waiting). A signal lost in
/// W1's timeout leaves W2 parked: loom reports a deadlock.
#[test]
fn cond_wait_timeout_races_signal() {
    let seen = Outcomes::new();
    let s = seen.clone();
    loom::model(move || {
        let shared = Arc::new((Mutex::new(false), Cond::new()));
        let timed = {
            let shared = shared.clone();
            thread::spawn(move || {
                let (mutex, cond) = &*shared;
                let mut ready = mutex.lock();
                let notified = cond.wait_timeout(&mut ready, TIMEOUT);
                // Only main signals, after setting the flag: "notified" implies it is set.
                assert!(!notified || *ready, "notified before any signal was sent");
                notified
            })
        };
        let waiter = {
            let shared = shared.clone();
            thread::spawn(move || {
                let (mutex, cond) = &*shared;
                let mut ready = mutex.lock();
                cond.wait_while(&mut ready, |ready| !*ready);
            })
        };

        let (mutex, cond) = &*shared;
        *mutex.lock() = true;
        cond.signal();
        let notified = timed.join().unwrap();
        if notified {
            // W1 consumed the one signal; W2 needs its own.
            cond.signal();
        }
        waiter.join().unwrap();
        s.saw_if(notified, "timed waiter notified", "timed waiter timed out");
    });
    seen.assert_all(&["timed waiter notified", "timed waiter timed out"]);
}

/// A `CondWaitFuture` polled once (registered, lock released) and then dropped, racing the
/// one signal, with a second waiter blocked in `block_on(wait_async)` behind it. If the
/// dropped future had been chosen by the signal, the signal passes to the second waiter.
#[test]
fn cond_wait_future_dropped_racing_signal() {
    loom::model(|| {
        let shared = Arc::new((Mutex::new(false), Cond::new()));
        let dropper = {
            let shared = shared.clone();
            thread::spawn(move || {
                let (mutex, cond) = &*shared;
                let ready = mutex.lock();
                // The first poll registers and releases the lock: always Pending.
                let poll = poll_once_then_drop(cond.wait_async(ready));
                assert!(poll.is_pending(), "first poll registers and returns Pending");
            })
        };
        let waiter = {
            let shared = shared.clone();
            thread::spawn(move || {
                let (mutex, cond) = &*shared;
                loom::future::block_on(async {
                    let mut ready = mutex.lock_async().await;
                    while !*ready {
                        ready = cond.wait_async(ready).await;
                    }
                });
            })
        };

        let (mutex, cond) = &*shared;
        *mutex.lock() = true;
        cond.signal();
        dropper.join().unwrap();
        waiter.join().unwrap();
        assert!(!mutex.is_locked(), "the dropped future does not hold the lock");
    });
}

/// A `LockFuture` polled once while main holds the lock (registered as a waiter), then
/// dropped, racing main's unlock; a second task waits in `block_on(lock_async)`. If the unlock
/// chose the dropped future, the wake-up passes to the second task.
#[test]
fn lock_future_dropped_racing_unlock() {
    let seen = Outcomes::new();
    let s = seen.clone();
    loom::model(move || {
        let mutex = Arc::new(Mutex::new(0usize));
        let held = mutex.lock();

        let dropper = {
            let mutex = mutex.clone();
            thread::spawn(move || match poll_once_then_drop(mutex.lock_async()) {
                // Main had already unlocked: it got the lock, and released it on drop.
                Poll::Ready(mut guard) => {
                    *guard += 10;
                    true
                }
                Poll::Pending => false,
            })
        };
        let waiter = {
            let mutex = mutex.clone();
            thread::spawn(move || {
                let mut guard = loom::future::block_on(mutex.lock_async());
                *guard += 1;
            })
        };

        drop(held);
        let got = dropper.join().unwrap();
        waiter.join().unwrap();
        assert!(!mutex.is_locked());
        assert_eq!(*mutex.try_lock().expect("unlocked"), if got { 11 } else { 1 });
        s.saw_if(got, "dropped future's one poll got the lock", "dropped future was pending");
    });
    seen.assert_all(&["dropped future's one poll got the lock", "dropped future was pending"]);
}

/// A `CondWaitFuture` that was signalled and is dropped while it takes the lock back must
/// pass the signal on. Two futures wait; a thread signals once while holding the lock, so
/// the first future, polled concurrently, can be caught in its relock. The first is then
/// dropped: unless its poll completed (it then consumed the signal, and main signals again),
/// the one signal must still reach the second, or its `block_on` never returns (loom:
/// deadlock).
#[test]
fn cond_wait_future_dropped_while_relocking_passes_the_signal_on() {
    let seen = Outcomes::new();
    let s = seen.clone();
    loom::model(move || {
        let shared = Arc::new((Mutex::new(()), Cond::new()));
        let (mutex, cond) = &*shared;
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        let mut first = Box::pin(cond.wait_async(mutex.lock()));
        assert!(first.as_mut().poll(&mut cx).is_pending(), "registered, lock released");
        let mut second = Box::pin(cond.wait_async(mutex.lock()));
        assert!(second.as_mut().poll(&mut cx).is_pending());

        let signaller = {
            let shared = shared.clone();
            thread::spawn(move || {
                let (mutex, cond) = &*shared;
                let _held = mutex.lock();
                cond.signal();
            })
        };
        let outcome = first.as_mut().poll(&mut cx);
        let completed = outcome.is_ready();
        let relocking = !completed && format!("{first:?}").contains("locking");
        drop(outcome);
        drop(first);
        signaller.join().unwrap();
        if completed {
            cond.signal();
        }
        drop(loom::future::block_on(second));
        assert!(!mutex.is_locked());
        s.saw(match (completed, relocking) {
            (true, _) => "first completed",
            (false, true) => "first dropped while relocking",
            (false, false) => "first dropped while waiting",
        });
    });
    seen.assert_all(&["first completed", "first dropped while relocking", "first dropped while waiting"]);
}
