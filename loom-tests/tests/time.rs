#![cfg(loom)]
//! loom models of sleeps on a `ManualClock` (`src/time/`): the clock's time and its timer
//! list sit under one lock, so a sleep that checks the time and registers can never miss an
//! `advance` that races it, and a dropped sleep can never be woken by one.
//!
//! Real-time sleeps are not modelled here: loom has no time, and under loom they complete
//! after one scheduling point.

mod common;

use common::{poll_once_then_drop, Outcomes};
use gosync::time::{Clock, ManualClock};
use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::thread;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc as StdArc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

/// A waker that only counts its wake-ups.
struct CountingWaker {
    wakes: AtomicUsize,
}

impl Wake for CountingWaker {
    fn wake(self: StdArc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &StdArc<Self>) {
        self.wakes.fetch_add(1, SeqCst);
    }
}

fn counting_waker() -> (StdArc<CountingWaker>, Waker) {
    let counter = StdArc::new(CountingWaker { wakes: AtomicUsize::new(0) });
    (counter.clone(), Waker::from(counter))
}

fn ticks(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A polled (registered) sleep future is dropped while another thread advances the clock to
/// its deadline. Either the advance completes it first (its waker is woken once: before the
/// drop, or just after it, a wake-up already on its way) or the drop withdraws it first (never
/// woken). Either way nothing is left registered and the waker is woken at most once.
#[test]
fn advance_races_sleep_drop() {
    let seen = Outcomes::new();
    let s = seen.clone();
    loom::model(move || {
        let clock = ManualClock::new();
        let (count, waker) = counting_waker();
        let mut sleep = clock.sleep(ticks(1));
        assert!(Pin::new(&mut sleep).poll(&mut Context::from_waker(&waker)).is_pending());
        assert_eq!(clock.sleepers(), 1);

        let advancer = {
            let clock = clock.clone();
            thread::spawn(move || clock.advance(ticks(1)))
        };
        drop(sleep);
        let woken_at_drop = count.wakes.load(SeqCst);
        advancer.join().unwrap();

        // Every wake-up is delivered once the advance has returned: no wake-up means the
        // drop withdrew the entry before the advance reached it, and then none ever comes.
        let wakes = count.wakes.load(SeqCst);
        assert!(wakes <= 1, "woken {wakes} times");
        assert_eq!(clock.sleepers(), 0, "an entry outlived its sleep");
        assert_eq!(clock.now(), ticks(1));
        s.saw(match (woken_at_drop, wakes) {
            (1, _) => "advance completed and woke it before the drop",
            (_, 1) => "advance completed it first, wake-up delivered after the drop",
            _ => "drop withdrew it first",
        });
    });
    seen.assert_all(&[
        "advance completed and woke it before the drop",
        "advance completed it first, wake-up delivered after the drop",
        "drop withdrew it first",
    ]);
}

/// A thread blocks on a sleep while another advances the clock to its deadline. The sleeper
/// either finds the deadline reached and returns at once, or registers and is completed by
/// the advance: it always returns (a lost wake-up would leave it blocked, which loom reports
/// as a deadlock) and never before the clock reached the deadline.
#[test]
fn advance_races_blocking_sleep_registration() {
    let seen = Outcomes::new();
    let s = seen.clone();
    loom::model(move || {
        let clock = ManualClock::new();
        let sleep = clock.sleep(ticks(1));
        let sleeper = {
            let clock = clock.clone();
            thread::spawn(move || {
                let already_due = clock.now() >= ticks(1);
                sleep.wait();
                assert!(clock.now() >= ticks(1), "returned before its deadline");
                already_due
            })
        };
        let registered_first = clock.sleepers() == 1;
        clock.advance(ticks(1));
        let already_due = sleeper.join().unwrap();
        assert_eq!(clock.sleepers(), 0);
        if already_due {
            s.saw("advanced before the sleeper looked");
        } else if registered_first {
            s.saw("registered, then advanced");
        } else {
            s.saw("advance raced the registration");
        }
    });
    seen.assert_all(&["advanced before the sleeper looked", "registered, then advanced"]);
}

/// Two sleepers, deadlines 1 and 3; one advance to 2 completes the first only, whatever the
/// interleaving of the blocked thread's registration with the advance. The second (a task)
/// completes at the next advance.
#[test]
fn one_advance_between_two_deadlines() {
    let seen = Outcomes::new();
    let s = seen.clone();
    loom::model(move || {
        let clock = ManualClock::new();
        let (count, waker) = counting_waker();
        let mut late = clock.sleep(ticks(3));
        assert!(Pin::new(&mut late).poll(&mut Context::from_waker(&waker)).is_pending());

        let early = clock.sleep(ticks(1));
        let sleeper = {
            let clock = clock.clone();
            thread::spawn(move || {
                early.wait();
                clock.now()
            })
        };
        let both_registered = clock.sleepers() == 2;
        clock.advance(ticks(2));
        assert!(sleeper.join().unwrap() >= ticks(1));
        assert_eq!(count.wakes.load(SeqCst), 0, "the later sleep completed early");
        assert!(Pin::new(&mut late).poll(&mut Context::from_waker(&waker)).is_pending());
        assert_eq!(clock.sleepers(), 1);
        clock.advance(ticks(1));
        assert_eq!(count.wakes.load(SeqCst), 1);
        assert_eq!(Pin::new(&mut late).poll(&mut Context::from_waker(&waker)), Poll::Ready(()));
        s.saw_if(
            both_registered,
            "both registered before the advance",
            "advance before the thread registered",
        );
    });
    seen.assert_all(&["both registered before the advance", "advance before the thread registered"]);
}

/// A sleep's first poll (check the time, register) races an advance to its deadline: the
/// future is either ready at once or registered and then woken. Never pending without a
/// wake-up to come.
#[test]
fn advance_races_async_registration() {
    let seen = Outcomes::new();
    let s = seen.clone();
    loom::model(move || {
        let clock = ManualClock::new();
        let (count, waker) = counting_waker();
        let advancer = {
            let clock = clock.clone();
            thread::spawn(move || clock.advance(ticks(1)))
        };
        let mut sleep = clock.sleep_until(ticks(1));
        let first = Pin::new(&mut sleep).poll(&mut Context::from_waker(&waker));
        advancer.join().unwrap();
        if first.is_pending() {
            assert_eq!(count.wakes.load(SeqCst), 1, "registered but never woken: a lost wake-up");
            assert_eq!(Pin::new(&mut sleep).poll(&mut Context::from_waker(&waker)), Poll::Ready(()));
        }
        assert_eq!(clock.sleepers(), 0);
        s.saw_if(first.is_pending(), "registered, then woken", "already due at the first poll");
    });
    seen.assert_all(&["registered, then woken", "already due at the first poll"]);
}

/// Under loom a real-time sleep completes after one scheduling point, polled or blocking.
#[test]
fn real_time_sleep_completes_after_one_scheduling_point() {
    loom::model(|| {
        assert!(poll_once_then_drop(gosync::time::sleep(Duration::from_secs(3600))).is_pending());
        loom::future::block_on(gosync::time::sleep(Duration::from_secs(3600)));
        gosync::time::sleep(Duration::from_secs(3600)).wait();
    });
}
