#![cfg(loom)]
//! loom models of `gosync::Mutex`'s starvation mode, where an unlock hands the lock directly
//! to the longest waiter instead of releasing it. Under loom (no clock) a waiter starves as
//! soon as it is woken and loses the race once, so each model reaches starvation mode by
//! letting the holder relock before the woken waiter runs; loom explores the interleavings
//! where that happens and where it does not.
//!
//! A lock handed to a waiter that never takes it (or never passes it on) stays held: the
//! final `try_lock` fails, or a blocked locker never returns (loom reports a deadlock).

mod common;

use common::Outcomes;
use gosync::Mutex;
use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicBool, Ordering};
use loom::sync::{Arc, Notify};
use loom::thread;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// Never expires on a real clock; under loom a timed wait times out after one scheduling point.
const TIMEOUT: Duration = Duration::from_secs(3600);

/// A `lock_timeout` waiter is woken, loses to the holder relocking (so it starves), and then
/// the holder's next unlock hands it the lock at the moment its wait times out. Either the
/// hand-off came first (the timed locker owns the lock: success) or the timeout did (it
/// withdrew, and the unlock releases the lock); never a lock held by nobody.
#[test]
fn handoff_races_timeout() {
    let seen = Outcomes::new();
    let s = seen.clone();
    with_preemptions(3).check(move || {
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
        drop(held);
        *mutex.lock() += 1; // may barge past the woken waiter, which then starves
        let got = timed.join().unwrap();
        let guard = mutex.try_lock().expect("the lock is free once both are done");
        assert_eq!(*guard, if got { 11 } else { 1 });
        s.saw_if(got, "timed locker got it", "timed locker gave up");
    });
    seen.assert_all(&["timed locker got it", "timed locker gave up"]);
}

/// A model checker allowing at least `n` preemptions: reaching a hand-off that races a
/// timeout takes three (the waiter registers, is woken and loses, and is preempted between
/// its last look at its wake-up and its withdrawal).
fn with_preemptions(n: usize) -> loom::model::Builder {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(builder.preemption_bound.map_or(n, |env| env.max(n)));
    builder
}

/// A one-shot event to sequence a model's steps: `wait` returns only after `set` (loom's
/// `Notify` alone may wake spuriously).
#[derive(Default)]
struct Signal {
    set: AtomicBool,
    notify: Notify,
}

impl Signal {
    fn notify(&self) {
        self.set.store(true, Ordering::SeqCst);
        self.notify.notify();
    }
    fn wait(&self) {
        while !self.set.load(Ordering::SeqCst) {
            self.notify.wait();
        }
    }
}

/// A task's `LockFuture` registers, is woken by an unlock, and on its next poll loses to the
/// holder, who relocked meanwhile: it starves and registers again (the steps are sequenced
/// with a `Signal`, so every iteration gets there). Then the holder's unlock hands it the lock
/// while the task drops the future. Whichever comes first, the lock is not leaked: a dropped
/// future that was handed the lock passes it on (here: releases it).
#[test]
fn handoff_to_dropped_lock_future() {
    loom::model(|| {
        let mutex = Arc::new(Mutex::new(0usize));
        let (registered, relocked, starving) =
            (Arc::new(Signal::default()), Arc::new(Signal::default()), Arc::new(Signal::default()));
        let mut held = mutex.lock();
        let task = {
            let (mutex, registered, relocked, starving) =
                (mutex.clone(), registered.clone(), relocked.clone(), starving.clone());
            thread::spawn(move || {
                let mut fut = pin!(mutex.lock_async());
                let mut cx = Context::from_waker(Waker::noop());
                assert!(fut.as_mut().poll(&mut cx).is_pending(), "held by main");
                registered.notify();
                relocked.wait();
                assert!(fut.as_mut().poll(&mut cx).is_pending(), "woken, but main relocked");
                starving.notify();
                // dropped here, racing main's hand-off
            })
        };
        registered.wait();
        drop(held); // normal mode: wakes the task and releases
        held = mutex.lock(); // barges before the woken task polls
        relocked.notify();
        starving.wait();
        *held += 1;
        drop(held); // starvation mode: hands the lock to the task's future
        task.join().unwrap();
        let guard = mutex.try_lock().expect("a lock handed to the dropped future was passed on");
        assert_eq!(*guard, 1);
    });
}

/// Like `handoff_to_dropped_lock_future`, but the starving task polls again instead of
/// dropping: it owns the lock from the hand-off on, so a thread trying to lock at that moment
/// cannot take it first, and the poll returns the guard.
#[test]
fn handed_off_future_owns_the_lock() {
    loom::model(|| {
        let mutex = Arc::new(Mutex::new(0usize));
        let (registered, relocked, starving, tried) = (
            Arc::new(Signal::default()),
            Arc::new(Signal::default()),
            Arc::new(Signal::default()),
            Arc::new(Signal::default()),
        );
        let mut held = mutex.lock();
        let task = {
            let (mutex, registered, relocked, starving, tried) =
                (mutex.clone(), registered.clone(), relocked.clone(), starving.clone(), tried.clone());
            thread::spawn(move || {
                let mut fut = pin!(mutex.lock_async());
                let mut cx = Context::from_waker(Waker::noop());
                assert!(fut.as_mut().poll(&mut cx).is_pending());
                registered.notify();
                relocked.wait();
                assert!(fut.as_mut().poll(&mut cx).is_pending());
                starving.notify();
                let mut guard = loom::future::block_on(fut);
                *guard += 10;
                tried.wait(); // hold the lock until main tried to barge
            })
        };
        registered.wait();
        drop(held);
        held = mutex.lock();
        relocked.notify();
        starving.wait();
        drop(held); // hands the lock to the task
        let barger = mutex.try_lock().map(|mut guard| *guard += 1).is_some();
        tried.notify();
        task.join().unwrap();
        assert!(!barger, "the lock was handed to the task: nobody can barge");
        assert_eq!(*mutex.try_lock().expect("free at the end"), 10);
    });
}

/// The race behind "the first woken waiter to claim a hand-off owns it". Future V is woken
/// by a normal unlock but not polled yet; future W (on another thread) starves and the next
/// unlock hands the lock to W; V is polled first and takes the hand-off. V's unlock then
/// finds W's starvation but nobody registered, so it takes the hand-off back, racing W's poll,
/// which may claim it first. Exactly one of them ends up with the lock (loom checks the
/// value cell for overlapping access) and the mutex is free at the end.
#[test]
fn handoff_taken_by_earlier_woken_waiter() {
    loom::model(|| {
        let mutex = Arc::new(Mutex::new(0usize));
        let steps: Arc<[Signal; 5]> = Arc::new(Default::default());
        let mut held = mutex.lock();
        let mut v = pin!(mutex.lock_async());
        let mut cx = Context::from_waker(Waker::noop());
        assert!(v.as_mut().poll(&mut cx).is_pending());
        let task = {
            let (mutex, steps) = (mutex.clone(), steps.clone());
            thread::spawn(move || {
                let mut w = pin!(mutex.lock_async());
                let mut cx = Context::from_waker(Waker::noop());
                assert!(w.as_mut().poll(&mut cx).is_pending()); // queued behind V
                steps[0].notify();
                steps[1].wait();
                assert!(w.as_mut().poll(&mut cx).is_pending(), "woken, lost: starving");
                steps[2].notify();
                steps[3].wait();
                if let Poll::Ready(mut guard) = w.as_mut().poll(&mut cx) {
                    *guard += 10;
                }
            })
        };
        steps[0].wait();
        drop(held); // normal mode: wakes V, which is not polled yet
        held = mutex.lock();
        drop(held); // wakes W
        held = mutex.lock();
        steps[1].notify();
        steps[2].wait();
        drop(held); // W starves: hand-off to W
        let Poll::Ready(mut guard) = v.as_mut().poll(&mut cx) else {
            panic!("V, woken earlier, takes the hand-off")
        };
        *guard += 1;
        steps[3].notify();
        drop(guard); // takes the hand-off back (nobody registered), racing W's claim
        if let Some(mut guard) = mutex.try_lock() {
            *guard += 100;
        }
        task.join().unwrap();
        assert!(mutex.try_lock().is_some(), "free at the end");
    });
}

/// Three threads contend (main relocks while two lockers queue), so waiters starve and
/// unlocks hand the lock over, including to a waiter whose hand-off an earlier-woken waiter
/// claims first. Mutual exclusion holds (loom checks the side cell written under the lock),
/// no increment is lost, and nobody is left blocked.
#[test]
fn three_threads_exclusive_in_starvation_mode() {
    loom::model(|| {
        let shared = Arc::new((Mutex::new(0usize), UnsafeCell::new(0usize)));
        let held = shared.0.lock();
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
        drop(held);
        {
            let (mutex, side) = &*shared;
            let mut guard = mutex.lock();
            *guard += 1;
            side.with_mut(|p| unsafe { *p += 1 });
        }
        lockers.into_iter().for_each(|h| h.join().unwrap());

        let (mutex, side) = &*shared;
        assert_eq!(*mutex.try_lock().expect("free at the end"), 3);
        assert_eq!(side.with(|p| unsafe { *p }), 3);
    });
}
