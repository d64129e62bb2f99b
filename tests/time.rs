//! time: clocks and sleeps. ManualClock sleeps complete exactly when the clock reaches their
//! deadline (blocking and async, in deadline order); real-time sleeps last at least their
//! duration and always complete; dropped sleeps leave nothing in the timer.
//! (Not built under `cfg(loom)`: the global timer does not exist there; the loom models of
//! the ManualClock live in loom-tests.)
#![cfg(not(loom))]

mod common;

use common::{block_on, panic_message, wait_until, CountingWaker, Watchdog, LONG};
use futures_core::FusedFuture;
use gosync::time::{self, Clock, ManualClock, MonotonicClock, Sleep};
use std::future::Future;
use std::panic::{catch_unwind, RefUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::{Duration, Instant};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Polls a sleep once with `waker`.
fn poll_with(sleep: &mut Sleep, waker: &Waker) -> Poll<()> {
    Pin::new(sleep).poll(&mut Context::from_waker(waker))
}

/// A waker that appends its id to a shared log when woken: shows the order of wake-ups.
struct LogWaker {
    id: u64,
    log: Arc<Mutex<Vec<u64>>>,
}

impl Wake for LogWaker {
    fn wake(self: Arc<Self>) {
        self.log.lock().unwrap().push(self.id);
    }
}

/// A real-time sleep polled to `Pending` with `waker`, and its deadline: the shortest of 1, 2,
/// 4, ... ms that has not passed by the time of its first poll (a slow machine, or Miri's
/// clock, may pass a short one before it is polled).
fn pending_real_time_sleep(waker: &Waker) -> (Sleep, Instant) {
    let mut duration = ms(1);
    loop {
        let deadline = Instant::now() + duration;
        let mut sleep = time::sleep_until(deadline);
        if poll_with(&mut sleep, waker).is_pending() {
            return (sleep, deadline);
        }
        duration *= 2;
    }
}

/// Runs `fut` on a helper thread with `block_on`, returning its join handle.
fn spawn_block_on<F: Future<Output = ()> + Send + 'static>(fut: F) -> thread::JoinHandle<()> {
    thread::spawn(move || block_on(fut))
}

#[test]
fn manual_clock_starts_at_zero_and_clones_share_time() {
    let clock = ManualClock::new();
    let other = clock.clone();
    assert_eq!(clock.now(), Duration::ZERO);
    clock.advance(ms(5));
    assert_eq!(other.now(), ms(5));
    other.set(ms(9));
    assert_eq!(clock.now(), ms(9));
    // A sleep made on one handle completes by an advance on another.
    let mut sleep = other.sleep(ms(1));
    let waker = CountingWaker::new();
    assert!(poll_with(&mut sleep, waker.waker()).is_pending());
    clock.advance(ms(1));
    assert_eq!(waker.count(), 1);
    assert_eq!(poll_with(&mut sleep, waker.waker()), Poll::Ready(()));
    assert!(format!("{clock:?}").contains("ManualClock"));
}

#[test]
fn manual_async_sleep_completes_exactly_at_its_deadline() {
    let clock = ManualClock::new();
    let waker = CountingWaker::new();
    let mut sleep = clock.sleep(ms(10));
    assert!(poll_with(&mut sleep, waker.waker()).is_pending());
    clock.advance(ms(9));
    assert_eq!(waker.count(), 0, "woken before its deadline");
    assert!(poll_with(&mut sleep, waker.waker()).is_pending(), "ready before its deadline");
    assert_eq!(clock.sleepers(), 1);
    clock.advance(ms(1));
    assert_eq!(waker.count(), 1, "not woken at its deadline");
    assert_eq!(poll_with(&mut sleep, waker.waker()), Poll::Ready(()));
    assert!(sleep.is_terminated());
    // Fused: polling again stays ready and registers nothing.
    assert_eq!(poll_with(&mut sleep, waker.waker()), Poll::Ready(()));
    assert_eq!(clock.sleepers(), 0);
}

#[test]
fn manual_sleeps_wake_in_deadline_order() {
    let clock = ManualClock::new();
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut sleeps: Vec<(u64, Sleep)> = [30, 10, 20, 10].iter().map(|&d| (d, clock.sleep(ms(d)))).collect();
    for (i, (_, sleep)) in sleeps.iter_mut().enumerate() {
        let waker = Waker::from(Arc::new(LogWaker { id: i as u64, log: log.clone() }));
        assert!(poll_with(sleep, &waker).is_pending());
    }
    // One big step: every sleep is due, woken earliest deadline first (ties: first registered).
    clock.advance(ms(100));
    assert_eq!(*log.lock().unwrap(), [1, 3, 2, 0]);
    for (_, sleep) in &mut sleeps {
        assert_eq!(poll_with(sleep, Waker::noop()), Poll::Ready(()));
    }
}

#[test]
fn manual_blocking_sleeps_complete_one_by_one_in_deadline_order() {
    let _w = Watchdog::start("manual_blocking_sleeps_complete_one_by_one_in_deadline_order");
    let clock = ManualClock::new();
    let (tx, rx) = mpsc::channel();
    let sleepers: Vec<_> = [3_u64, 1, 2]
        .into_iter()
        .map(|d| {
            let (clock, tx) = (clock.clone(), tx.clone());
            let sleep = clock.sleep(ms(d));
            thread::spawn(move || {
                sleep.wait();
                tx.send((d, clock.now())).unwrap();
            })
        })
        .collect();
    wait_until("three sleepers registered", || clock.sleepers() == 3);
    for step in 1..=3 {
        clock.advance(ms(1));
        let (d, woke_at) = rx.recv_timeout(LONG).expect("the due sleeper returns");
        assert_eq!(d, step, "sleepers complete in deadline order");
        assert!(woke_at >= ms(d), "returned before its deadline");
        // The others are still registered: none completed early.
        assert_eq!(clock.sleepers(), 3 - step as usize);
    }
    for s in sleepers {
        s.join().unwrap();
    }
    assert!(rx.try_recv().is_err());
}

#[test]
fn manual_blocking_sleep_is_not_released_early() {
    let _w = Watchdog::start("manual_blocking_sleep_is_not_released_early");
    let clock = ManualClock::new();
    let returned = Arc::new(AtomicBool::new(false));
    let sleeper = {
        let (clock, returned) = (clock.clone(), returned.clone());
        thread::spawn(move || {
            clock.sleep(ms(10)).wait();
            returned.store(true, Ordering::SeqCst);
            clock.now()
        })
    };
    wait_until("sleeper registered", || clock.sleepers() == 1);
    clock.advance(ms(9));
    // Give a wrongly released sleeper the chance to show it (not a timing assertion: a
    // correct sleeper stays blocked however long this takes).
    thread::sleep(ms(20));
    assert!(!returned.load(Ordering::SeqCst), "released before its deadline");
    assert_eq!(clock.sleepers(), 1);
    clock.set(ms(10));
    assert!(sleeper.join().unwrap() >= ms(10));
}

#[test]
fn manual_async_sleep_on_another_thread_completes() {
    let _w = Watchdog::start("manual_async_sleep_on_another_thread_completes");
    let clock = ManualClock::new();
    let tasks: Vec<_> = (1..=4).map(|d| spawn_block_on(clock.sleep(ms(d)))).collect();
    wait_until("four tasks registered", || clock.sleepers() == 4);
    clock.advance(ms(4));
    for t in tasks {
        t.join().unwrap();
    }
}

#[test]
fn manual_sleep_already_due_completes_without_registering() {
    let _w = Watchdog::start("manual_sleep_already_due_completes_without_registering");
    let clock = ManualClock::new();
    clock.advance(ms(5));
    let mut past = clock.sleep_until(ms(3));
    assert_eq!(poll_with(&mut past, Waker::noop()), Poll::Ready(()));
    clock.sleep(Duration::ZERO).wait();
    clock.sleep_until(ms(5)).wait();
    assert_eq!(clock.sleepers(), 0);
    // An advance between creating and polling a sleep counts: its deadline was fixed first.
    let mut late = clock.sleep(ms(1));
    clock.advance(ms(1));
    assert_eq!(poll_with(&mut late, Waker::noop()), Poll::Ready(()));
}

#[test]
fn set_never_goes_backwards() {
    let clock = ManualClock::new();
    clock.set(ms(10));
    clock.set(ms(10)); // the same time: no-op
    let mut sleep = clock.sleep(ms(5));
    let waker = CountingWaker::new();
    assert!(poll_with(&mut sleep, waker.waker()).is_pending());
    let err = catch_unwind(|| clock.set(ms(9))).expect_err("going back must panic");
    let message = panic_message(&*err);
    assert!(message.starts_with("gosync:"), "{message}");
    assert_eq!(clock.now(), ms(10), "a refused set changes nothing");
    assert_eq!(waker.count(), 0);
    // Still usable after the panic.
    clock.set(ms(15));
    assert_eq!(waker.count(), 1);
    assert_eq!(poll_with(&mut sleep, waker.waker()), Poll::Ready(()));
    let overflow = catch_unwind(|| clock.advance(Duration::MAX));
    assert!(panic_message(&*overflow.unwrap_err()).starts_with("gosync:"));
    assert_eq!(clock.now(), ms(15));
}

#[test]
fn dropped_manual_sleep_never_wakes_and_does_not_disturb_others() {
    let clock = ManualClock::new();
    let (dropped_waker, kept_waker) = (CountingWaker::new(), CountingWaker::new());
    let mut dropped = clock.sleep(ms(5));
    let mut kept = clock.sleep(ms(5));
    assert!(poll_with(&mut dropped, dropped_waker.waker()).is_pending());
    assert!(poll_with(&mut kept, kept_waker.waker()).is_pending());
    drop(dropped);
    assert_eq!(clock.sleepers(), 1, "the dropped sleep withdrew its entry");
    clock.advance(ms(5));
    assert_eq!(dropped_waker.count(), 0, "a dropped sleep woke its task");
    assert_eq!(kept_waker.count(), 1);
    assert_eq!(poll_with(&mut kept, kept_waker.waker()), Poll::Ready(()));
    assert_eq!(clock.sleepers(), 0);
}

#[test]
fn a_polled_sleep_can_then_block() {
    let _w = Watchdog::start("a_polled_sleep_can_then_block");
    let clock = ManualClock::new();
    let mut sleep = clock.sleep(ms(2));
    let waker = CountingWaker::new();
    assert!(poll_with(&mut sleep, waker.waker()).is_pending());
    let sleeper = thread::spawn(move || sleep.wait());
    // `wait` swaps the task registration for the thread's: never two entries. (This only
    // watches for a while; a correct sleep passes however the threads are scheduled.)
    let watch_until = Instant::now() + ms(200);
    while Instant::now() < watch_until {
        assert!(clock.sleepers() <= 1, "the task registration was left behind");
        thread::sleep(ms(1));
    }
    clock.advance(ms(2));
    sleeper.join().unwrap();
    assert!(waker.count() <= 1);
    assert_eq!(clock.sleepers(), 0);
}

#[test]
fn monotonic_clock_is_monotonic() {
    let clock = MonotonicClock::new();
    let copy = clock;
    let mut last = Duration::ZERO;
    for i in 0..if cfg!(miri) { 100 } else { 100_000 } {
        // Both readings, interleaved: they are one clock.
        let now = if i % 2 == 0 { clock.now() } else { Duration::from_nanos(clock.now_nanos()) };
        assert!(now >= last, "went backwards: {now:?} < {last:?}");
        last = now;
    }
    assert!(copy.now() >= last, "copies share the origin");
    assert_eq!(copy.origin(), clock.origin());
    let _default = MonotonicClock::default();
}

#[test]
fn monotonic_clock_is_monotonic_across_threads() {
    // Each thread's own readings never decrease. Across threads, a reading taken after
    // seeing another thread's (through an atomic) may trail it only by the few nanoseconds
    // an unordered counter read can run ahead (see `MonotonicClock`): far less than SLACK.
    const SLACK: Duration = Duration::from_micros(1);
    let rounds = if cfg!(miri) { 50 } else { 200_000 };
    let clock = MonotonicClock::new();
    let latest = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let threads: Vec<_> = (0..3)
        .map(|i| {
            let latest = latest.clone();
            // A copy made in each thread, and one clock read from the main thread's copy.
            thread::spawn(move || {
                let clock = clock;
                let mut last = Duration::ZERO;
                let mut worst = Duration::ZERO;
                for _ in 0..rounds {
                    let seen = Duration::from_nanos(latest.load(Ordering::Acquire));
                    let now = clock.now();
                    assert!(now >= last, "thread {i} went backwards: {now:?} < {last:?}");
                    worst = worst.max(seen.saturating_sub(now));
                    last = now;
                    latest.fetch_max(now.as_nanos() as u64, Ordering::AcqRel);
                }
                worst
            })
        })
        .collect();
    for thread in threads {
        let worst = thread.join().unwrap();
        assert!(worst <= SLACK, "a reading trailed one it had seen by {worst:?}");
    }
    let end = Duration::from_nanos(latest.load(Ordering::Acquire));
    assert!(clock.now() >= end, "the main thread's copy is behind the others");
}

#[test]
fn monotonic_clock_tracks_instant_without_drifting() {
    // The clock may read a scaled CPU counter: it must stay within its documented drift of
    // `origin + Instant elapsed` (10 ppm). Checked at 100 ppm plus 50 us of slack (the
    // readings are bracketed by two Instants, so a preemption only widens the bracket).
    let clock = MonotonicClock::new();
    let rounds = if cfg!(miri) { 3 } else { 40 };
    let step = if cfg!(miri) { ms(1) } else { ms(5) };
    for _ in 0..rounds {
        thread::sleep(step);
        let before = clock.origin().elapsed();
        let now = clock.now();
        let after = clock.origin().elapsed();
        let bound = after / 10_000 + Duration::from_micros(50);
        assert!(
            now + bound >= before && now <= after + bound,
            "clock {now:?} outside [{before:?}, {after:?}] +- {bound:?}"
        );
    }
}

#[test]
fn monotonic_clock_sleeps_reach_their_deadline() {
    let _w = Watchdog::start("monotonic_clock_sleeps_reach_their_deadline");
    let clock = MonotonicClock::new();
    let deadline = clock.now() + ms(10);
    clock.sleep_until(deadline).wait();
    assert!(clock.now() >= deadline);
    let deadline = clock.now() + ms(10);
    block_on(clock.sleep_until(deadline));
    assert!(clock.now() >= deadline);
}

#[test]
fn sleep_lasts_at_least_its_duration_and_completes() {
    let _w = Watchdog::start("sleep_lasts_at_least_its_duration_and_completes");
    let start = Instant::now();
    block_on(time::sleep(ms(20)));
    let took = start.elapsed();
    assert!(took >= ms(20), "async sleep returned after {took:?}");
    assert!(took < LONG, "async sleep took {took:?}");

    let start = Instant::now();
    time::sleep(ms(20)).wait();
    let took = start.elapsed();
    assert!(took >= ms(20) && took < LONG, "blocking sleep took {took:?}");

    let deadline = Instant::now() + ms(20);
    block_on(time::sleep_until(deadline));
    assert!(Instant::now() >= deadline);
    // A passed deadline completes at once, async or blocking.
    let mut past = time::sleep_until(Instant::now() - ms(1));
    assert_eq!(poll_with(&mut past, Waker::noop()), Poll::Ready(()));
    time::sleep(Duration::ZERO).wait();
    // A duration too long for an Instant is a sleep that does not complete (and is dropped).
    let mut forever = time::sleep(Duration::MAX);
    assert!(poll_with(&mut forever, Waker::noop()).is_pending());
}

#[test]
fn an_earlier_sleep_is_not_held_up_by_a_later_one() {
    // The timer thread parks toward the earliest deadline it knows; a new, earlier deadline
    // must re-schedule it.
    let _w = Watchdog::start("an_earlier_sleep_is_not_held_up_by_a_later_one");
    let mut long = time::sleep(Duration::from_secs(3600));
    assert!(poll_with(&mut long, Waker::noop()).is_pending());
    let start = Instant::now();
    block_on(time::sleep(ms(5)));
    assert!(start.elapsed() < LONG);
    drop(long);
}

#[test]
fn many_concurrent_sleeps_on_threads_and_tasks_all_complete() {
    let _w = Watchdog::start("many_concurrent_sleeps_on_threads_and_tasks_all_complete");
    let per_thread = if cfg!(miri) { 2 } else { 50 };
    let threads: Vec<_> = (0..8_u64)
        .map(|t| {
            thread::spawn(move || {
                for i in 0..per_thread {
                    let d = Duration::from_micros((t * 7 + i * 13) % 2000);
                    let start = Instant::now();
                    if (t + i) % 2 == 0 {
                        block_on(time::sleep(d));
                    } else {
                        time::sleep(d).wait();
                    }
                    assert!(start.elapsed() >= d);
                }
            })
        })
        .collect();
    // Many tasks in one thread at once: a hand-rolled join of 200 sleeps.
    let count = if cfg!(miri) { 10 } else { 200 };
    let mut sleeps: Vec<Option<Sleep>> =
        (0..count).map(|i| Some(time::sleep(Duration::from_micros(i * 37 % 3000)))).collect();
    block_on(std::future::poll_fn(|cx| {
        for slot in &mut sleeps {
            if let Some(sleep) = slot {
                if Pin::new(sleep).poll(cx).is_ready() {
                    *slot = None;
                }
            }
        }
        if sleeps.iter().all(Option::is_none) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }));
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(time::__timer_threads_started(), 1, "one timer thread for the whole process");
}

#[test]
fn dropped_real_time_sleep_never_wakes_and_does_not_disturb_others() {
    let _w = Watchdog::start("dropped_real_time_sleep_never_wakes_and_does_not_disturb_others");
    let dropped_waker = CountingWaker::new();
    let (dropped, deadline) = pending_real_time_sleep(dropped_waker.waker());
    drop(dropped);
    // Only a drop that finished before the deadline is sure to beat the timer (on a loaded
    // machine this thread may be descheduled past it; then the check below is skipped).
    let dropped_in_time = Instant::now() < deadline;
    // A later sleep completes, so the timer has passed the dropped one's deadline.
    block_on(time::sleep_until(deadline + ms(10)));
    if dropped_in_time {
        assert_eq!(dropped_waker.count(), 0, "a dropped sleep woke its task");
    }
    assert!(dropped_waker.count() <= 1);
}

#[test]
fn a_waker_that_panics_does_not_stop_the_timer() {
    struct Panicking;
    impl Wake for Panicking {
        fn wake(self: Arc<Self>) {
            panic!("a user waker panicked (expected by this test)");
        }
    }
    let _w = Watchdog::start("a_waker_that_panics_does_not_stop_the_timer");
    let (doomed, deadline) = pending_real_time_sleep(&Waker::from(Arc::new(Panicking)));
    // The timer thread wakes the panicking waker first, then must still serve this sleep.
    block_on(time::sleep_until(deadline + ms(10)));
    drop(doomed);
}

#[test]
fn a_million_dropped_sleeps_leave_nothing_in_the_timer() {
    let _w = Watchdog::new("a_million_dropped_sleeps_leave_nothing_in_the_timer", Duration::from_secs(120));
    let n = if cfg!(miri) { 1_000 } else { 1_000_000 };
    let waker = CountingWaker::new();
    // Other tests of this binary run in parallel and hold a few hundred live sleeps at most;
    // lingering entries from this loop would push the count far past this bound.
    let bound = 5_000;
    for i in 0..n {
        let mut sleep = time::sleep(Duration::from_secs(3600));
        assert!(poll_with(&mut sleep, waker.waker()).is_pending());
        drop(sleep);
        if i % 1000 == 0 {
            let pending = time::__pending_timers();
            assert!(pending < bound, "{pending} timer entries after {i} dropped sleeps");
        }
    }
    assert!(time::__pending_timers() < bound);
    assert_eq!(waker.count(), 0);
    assert!(time::__timer_threads_started() <= 1);
}

#[test]
fn sleep_is_a_send_fused_debug_future() {
    fn assert_traits<T: Future<Output = ()> + FusedFuture + Send + Sync + Unpin + std::fmt::Debug>() {}
    assert_traits::<Sleep>();
    fn assert_clock<C: Clock + Clone + Send + Sync + RefUnwindSafe + std::fmt::Debug + Default + 'static>() {}
    assert_clock::<ManualClock>();
    assert_clock::<MonotonicClock>();
    let clock = ManualClock::new();
    let sleep = clock.sleep(ms(1));
    assert!(!sleep.is_terminated());
    assert!(format!("{sleep:?}").contains("Sleep"));
    assert!(format!("{:?}", time::sleep(ms(1))).contains("deadline"));
    // Clock works as a trait object.
    let dynamic: &dyn Clock = &clock;
    clock.advance(ms(1));
    assert_eq!(dynamic.now(), ms(1));
}
