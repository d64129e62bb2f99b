//! limit: Rate, Limiter (GCRA), TokenBucket (tick grid), KeyedLimiter. Timelines are checked
//! exactly on a ManualClock; a proptest compares the Limiter with an independent token-count
//! model and checks the rate bound over every window.

mod common;

use common::{panic_message, wait_until, CountingWaker, Watchdog};
use gosync::limit::{BucketClosed, ExceedsBurst, KeyedLimiter, Limiter, Rate, TokenBucket};
use gosync::time::{Clock, ManualClock};
use proptest::prelude::*;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::thread;
use std::time::Duration;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Polls `fut` (pinned) at the current time, then moves the clock 1 ms at a time until it is
/// ready; returns the time at which it became ready. Panics if it is ready before `not_before`
/// or still pending at `limit`.
fn ready_at<F: std::future::Future>(clock: &ManualClock, fut: F, limit: Duration) -> Duration {
    let waker = CountingWaker::new();
    let mut fut = Box::pin(fut);
    loop {
        if waker.poll(&mut fut).is_ready() {
            return clock.now();
        }
        assert!(clock.now() < limit, "still pending at {limit:?}");
        let woken = waker.count();
        clock.advance(ms(1));
        // Only re-polled when woken: a lost wake-up shows up as a late (or missing) admission.
        while waker.count() == woken {
            assert!(clock.now() < limit, "never woken up to {limit:?}");
            clock.advance(ms(1));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Rate

#[test]
fn rates_reject_zero_and_overflow_with_gosync_panics() {
    for (what, f) in [
        (
            "per_second(0)",
            Box::new(|| {
                let _ = Rate::per_second(0);
            }) as Box<dyn Fn()>,
        ),
        (
            "per_minute(0)",
            Box::new(|| {
                let _ = Rate::per_minute(0);
            }),
        ),
        (
            "every(0)",
            Box::new(|| {
                let _ = Rate::every(Duration::ZERO);
            }),
        ),
        (
            "every(MAX)",
            Box::new(|| {
                let _ = Rate::every(Duration::MAX);
            }),
        ),
        (
            "burst 0",
            Box::new(|| {
                let _ = Limiter::new(Rate::per_second(1), 0);
            }),
        ),
        ("bucket capacity 0", Box::new(|| drop(TokenBucket::new(Rate::per_second(1), 0)))),
        ("keyed burst 0", Box::new(|| drop(KeyedLimiter::<u8>::new(Rate::per_second(1), 0)))),
        (
            "span overflow",
            Box::new(|| {
                let _ = Limiter::new(Rate::every(Duration::from_secs(86_400 * 365)), u32::MAX);
            }),
        ),
    ] {
        let message = panic_message(&*catch_unwind(AssertUnwindSafe(f)).expect_err(what));
        assert!(message.starts_with("gosync:"), "{what}: {message}");
    }
    assert_eq!(Rate::per_second(3).interval(), Duration::from_nanos(333_333_334), "rounded down");
    assert_eq!(Rate::per_second(u32::MAX).interval(), Duration::from_nanos(1));
}

// ---------------------------------------------------------------------------------------------
// Limiter

#[test]
fn limiter_timeline_matches_x_time_rate() {
    let clock = ManualClock::new();
    let limiter = Limiter::with_clock(Rate::per_second(2), 4, clock.clone());
    for t in [100, 110, 120, 130] {
        clock.set(ms(t));
        assert_eq!(ready_at(&clock, limiter.wait_async(), ms(t)), ms(t), "request at {t}");
    }
    clock.set(ms(140));
    assert_eq!(ready_at(&clock, limiter.wait_async(), ms(5000)), ms(600));
    for t in [1600, 1700] {
        clock.set(ms(t));
        assert!(limiter.allow(), "request at {t}");
    }
    clock.set(ms(1800));
    assert_eq!(ready_at(&clock, limiter.wait_async(), ms(5000)), ms(2100));
}

#[test]
fn limiter_timeline_with_blocking_wait_and_reserve() {
    let _watchdog = Watchdog::start("limiter_timeline_with_blocking_wait_and_reserve");
    let clock = ManualClock::new();
    let limiter = Arc::new(Limiter::with_clock(Rate::per_second(2), 4, clock.clone()));
    clock.set(ms(100));
    for _ in 0..4 {
        limiter.wait();
    }
    clock.set(ms(140));
    let waiter = {
        let (limiter, clock) = (limiter.clone(), clock.clone());
        thread::spawn(move || {
            limiter.wait();
            clock.now()
        })
    };
    wait_until("the waiter sleeps", || clock.sleepers() == 1);
    clock.set(ms(599));
    assert_eq!(clock.sleepers(), 1, "woken before 600");
    clock.set(ms(600));
    assert_eq!(waiter.join().unwrap(), ms(600));
    // The same timeline through reservations: delays are exact.
    clock.set(ms(1600));
    assert!(limiter.reserve().delay().is_zero());
    clock.set(ms(1700));
    assert!(limiter.reserve().delay().is_zero());
    clock.set(ms(1800));
    assert_eq!(limiter.reserve().delay(), ms(300));
}

#[test]
fn burst_one_never_admits_two_closer_than_one_interval() {
    let clock = ManualClock::new();
    let limiter = Limiter::with_clock(Rate::every(ms(10)), 1, clock.clone());
    let mut last = None;
    for _ in 0..200 {
        if limiter.allow() {
            if let Some(last) = last {
                assert!(clock.now() - last >= ms(10), "two admissions {:?} apart", clock.now() - last);
            }
            last = Some(clock.now());
        }
        clock.advance(ms(3));
    }
}

#[test]
fn allow_n_and_wait_n_respect_the_burst() {
    let clock = ManualClock::new();
    let limiter = Limiter::with_clock(Rate::per_second(10), 3, clock.clone());
    assert!(!limiter.allow_n(4), "more than the burst is never allowed");
    assert_eq!(limiter.wait_n(4), Err(ExceedsBurst { requested: 4, burst: 3 }));
    assert!(limiter.reserve_n(4).is_err());
    assert_eq!(limiter.available(), 3, "a refused request takes nothing");
    assert!(limiter.allow_n(0));
    assert!(limiter.allow_n(2));
    assert!(!limiter.allow_n(2));
    assert_eq!(limiter.available(), 1);
    assert_eq!(limiter.wait_n(1), Ok(()));
    assert_eq!(limiter.available(), 0);
    clock.advance(ms(250));
    assert_eq!(limiter.available(), 2);
    assert!(ExceedsBurst { requested: 4, burst: 3 }.to_string().starts_with("gosync:"));
}

#[test]
fn wait_timeout_gives_up_at_once_and_takes_nothing() {
    let _watchdog = Watchdog::start("wait_timeout_gives_up_at_once_and_takes_nothing");
    let clock = ManualClock::new();
    let limiter = Arc::new(Limiter::with_clock(Rate::per_second(2), 1, clock.clone()));
    assert!(limiter.wait_timeout(Duration::ZERO));
    // The next token is due in 500 ms: a 499 ms timeout fails at once (the clock never moves,
    // so returning at all proves it did not wait) and reserves nothing.
    assert!(!limiter.wait_timeout(ms(499)));
    assert_eq!(limiter.reserve().delay(), ms(500), "the refused wait reserved nothing");
    // That reservation is due at 500; a 1000 ms timeout waits for the token after it, at 1000.
    let waiter = {
        let limiter = limiter.clone();
        thread::spawn(move || limiter.wait_timeout(ms(1000)))
    };
    wait_until("the waiter sleeps", || clock.sleepers() == 1);
    clock.set(ms(999));
    assert_eq!(clock.sleepers(), 1);
    clock.set(ms(1000));
    assert!(waiter.join().unwrap());
}

#[test]
fn reserve_cancel_gives_tokens_back_only_when_nothing_relies_on_them() {
    let clock = ManualClock::new();
    let limiter = Limiter::with_clock(Rate::per_second(1), 1, clock.clone());
    assert!(limiter.allow());
    let r = limiter.reserve();
    assert_eq!(r.delay(), ms(1000));
    r.cancel();
    assert_eq!(limiter.reserve().delay(), ms(1000), "cancel gave the token back");
    // A later reservation relies on the slot after ours: cancelling ours returns nothing.
    let (a, b) = (limiter.reserve(), limiter.reserve());
    assert_eq!((a.delay(), b.delay()), (ms(2000), ms(3000)));
    a.cancel();
    assert_eq!(limiter.reserve().delay(), ms(4000));
    // A reservation that is due counts as used.
    let due = limiter.reserve();
    clock.advance(due.delay());
    due.cancel();
    assert_eq!(limiter.reserve().delay(), ms(1000));
}

#[test]
fn set_rate_and_set_burst_take_effect_mid_stream_and_keep_tokens() {
    let clock = ManualClock::new();
    let limiter = Limiter::with_clock(Rate::per_second(1), 4, clock.clone());
    assert!(limiter.allow_n(4));
    clock.advance(ms(500)); // half a token at 1/s
    limiter.set_rate(Rate::per_second(10)); // half a token at 10/s: due in 50 ms
    assert_eq!(limiter.rate(), Rate::per_second(10));
    assert!(!limiter.allow());
    assert_eq!(limiter.reserve().delay(), ms(50));
    clock.advance(ms(50 + 300)); // the reservation took one; 3 more came back
    assert_eq!(limiter.available(), 3);
    // Raising the burst adds room, not tokens.
    limiter.set_burst(10);
    assert_eq!((limiter.burst(), limiter.available()), (10, 3));
    clock.advance(ms(700));
    assert_eq!(limiter.available(), 10);
    // Lowering it caps the tokens.
    limiter.set_burst(2);
    assert_eq!(limiter.available(), 2);
    assert!(limiter.allow_n(2) && !limiter.allow());
    // Slowing down rescales the time to refill what is missing.
    limiter.set_rate(Rate::per_second(1));
    clock.advance(ms(999));
    assert_eq!(limiter.available(), 0, "two missing tokens now take 2 s, not 200 ms");
    clock.advance(ms(1));
    assert_eq!(limiter.available(), 1);
    clock.advance(ms(1000));
    assert_eq!(limiter.available(), 2);
    let message = panic_message(&*catch_unwind(AssertUnwindSafe(|| limiter.set_burst(0))).unwrap_err());
    assert!(message.starts_with("gosync:"));
    assert_eq!(limiter.burst(), 2, "a rejected change changes nothing");
}

#[test]
fn concurrent_allow_never_admits_more_than_the_budget() {
    let clock = ManualClock::new();
    let limiter = Arc::new(Limiter::with_clock(Rate::per_second(1000), 50, clock.clone()));
    let admitted = Arc::new(AtomicUsize::new(0));
    for round in 0..if cfg!(miri) { 2 } else { 20 } {
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (limiter, admitted) = (limiter.clone(), admitted.clone());
                thread::spawn(move || {
                    for _ in 0..100 {
                        if limiter.allow() {
                            admitted.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        // 50 at first, then 10 per 10 ms round: exactly the budget, never more.
        assert_eq!(admitted.load(Ordering::Relaxed), 50 + 10 * round);
        clock.advance(ms(10));
    }
}

#[test]
fn wait_async_dropped_consumes_nothing() {
    let clock = ManualClock::new();
    let limiter = Limiter::with_clock(Rate::per_second(1), 2, clock.clone());
    assert!(limiter.allow_n(2));
    let waker = CountingWaker::new();
    // Dropped while pending.
    let mut wait = Box::pin(limiter.wait_async());
    assert!(waker.poll(&mut wait).is_pending());
    assert_eq!(clock.sleepers(), 1);
    drop(wait);
    assert_eq!(clock.sleepers(), 0, "its sleep is withdrawn");
    // Dropped after its sleep fired but before it was polled again.
    let mut wait = Box::pin(limiter.wait_async());
    assert!(waker.poll(&mut wait).is_pending());
    clock.advance(ms(1000));
    assert_eq!(waker.count(), 1);
    drop(wait);
    assert_eq!(limiter.available(), 1, "the dropped waits took nothing");
    // A completed one took exactly one.
    let mut wait = Box::pin(limiter.wait_async());
    assert_eq!(waker.poll(&mut wait), Poll::Ready(()));
    assert_eq!(limiter.available(), 0);
}

#[test]
fn limiter_on_real_time_waits_about_the_interval() {
    let limiter = Limiter::new(Rate::every(ms(5)), 1);
    let start = std::time::Instant::now();
    for _ in 0..3 {
        limiter.wait();
    }
    common::block_on(limiter.wait_async());
    assert!(start.elapsed() >= ms(15), "3 waits after the first token: {:?}", start.elapsed());
}

// ---------------------------------------------------------------------------------------------
// proptest: the Limiter against an independent model

/// The textbook token bucket in integer nanoseconds of credit: `credit` grows with time up to
/// `burst * interval`, and admitting `n` costs `n * interval`.
struct Model {
    credit: u64,
    at: u64,
    interval: u64,
    burst: u64,
}

impl Model {
    fn advance(&mut self, now: u64) {
        self.credit = (self.credit + (now - self.at)).min(self.burst * self.interval);
        self.at = now;
    }
    fn allow_n(&mut self, now: u64, n: u64) -> bool {
        self.advance(now);
        if n <= self.burst && self.credit >= n * self.interval {
            self.credit -= n * self.interval;
            true
        } else {
            false
        }
    }
    fn available(&mut self, now: u64) -> u64 {
        self.advance(now);
        self.credit / self.interval
    }
}

proptest! {
    // No failure persistence: it reads the working directory, which Miri's isolation
    // forbids (a failing case is printed with its seed anyway).
    #![proptest_config(ProptestConfig {
        cases: if cfg!(miri) { 4 } else { 256 },
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn limiter_matches_the_model_and_the_rate_bound(
        interval in 1u64..1_000,
        burst in 1u32..8,
        ops in proptest::collection::vec((0u64..2_000, 0u32..4), 1..200),
    ) {
        let clock = ManualClock::new();
        let limiter = Limiter::with_clock(Rate::every(Duration::from_nanos(interval)), burst, clock.clone());
        let mut model = Model { credit: burst as u64 * interval, at: 0, interval, burst: burst as u64 };
        let mut admitted = Vec::new(); // admission times, one per token
        for (dt, n) in ops {
            clock.advance(Duration::from_nanos(dt));
            let now = clock.now().as_nanos() as u64;
            let got = limiter.allow_n(n);
            prop_assert_eq!(got, model.allow_n(now, n as u64), "allow_n({}) at {}", n, now);
            prop_assert_eq!(limiter.available() as u64, model.available(now));
            if got {
                admitted.extend(std::iter::repeat(now).take(n as usize));
            }
        }
        // Over any window [t1, t2]: admitted <= burst + (t2 - t1) / interval.
        for (i, &t1) in admitted.iter().enumerate() {
            for (j, &t2) in admitted.iter().enumerate().skip(i) {
                let count = (j - i + 1) as u64;
                prop_assert!(count <= burst as u64 + (t2 - t1) / interval,
                    "{} admitted in [{}, {}]", count, t1, t2);
            }
        }
    }

    #[test]
    fn a_steady_caller_gets_the_full_rate(interval in 1u64..1_000, burst in 2u32..8, step in any::<u64>(), steps in 10u64..500) {
        // Calling at least once per (burst - 1) intervals, the bucket never overflows, so
        // nothing is lost: every token the rate produces is admitted.
        let step = 1 + step % ((burst as u64 - 1) * interval);
        let clock = ManualClock::new();
        let limiter = Limiter::with_clock(Rate::every(Duration::from_nanos(interval)), burst, clock.clone());
        let mut admitted = 0u64;
        for _ in 0..steps {
            while limiter.allow() {
                admitted += 1;
            }
            clock.advance(Duration::from_nanos(step));
        }
        let elapsed = (steps - 1) * step; // the last call was at this time
        prop_assert_eq!(admitted, burst as u64 + elapsed / interval);
    }
}

// ---------------------------------------------------------------------------------------------
// TokenBucket

#[test]
fn token_bucket_timeline_matches_the_seed() {
    let clock = ManualClock::new();
    let bucket = TokenBucket::with_clock(Rate::per_second(2), 4, clock.clone());
    for t in [100, 110, 120, 130] {
        clock.set(ms(t));
        assert_eq!(ready_at(&clock, bucket.wait_async(), ms(t)), ms(t), "request at {t}");
    }
    clock.set(ms(140));
    assert_eq!(ready_at(&clock, bucket.wait_async(), ms(5000)), ms(500));
    for t in [1600, 1700] {
        clock.set(ms(t));
        assert!(bucket.allow(), "request at {t}");
    }
    clock.set(ms(1800));
    assert_eq!(ready_at(&clock, bucket.wait_async(), ms(5000)), ms(2000));
}

#[test]
fn token_bucket_blocking_wait_ends_at_the_tick() {
    let _watchdog = Watchdog::start("token_bucket_blocking_wait_ends_at_the_tick");
    let clock = ManualClock::new();
    let bucket = Arc::new(TokenBucket::with_clock(Rate::per_second(2), 1, clock.clone()));
    clock.set(ms(100));
    bucket.wait().unwrap();
    clock.set(ms(140));
    let waiter = {
        let (bucket, clock) = (bucket.clone(), clock.clone());
        thread::spawn(move || bucket.wait().map(|()| clock.now()))
    };
    wait_until("the waiter sleeps", || clock.sleepers() == 1);
    clock.set(ms(499));
    assert_eq!(clock.sleepers(), 1, "served before the tick");
    clock.set(ms(500));
    assert_eq!(waiter.join().unwrap(), Ok(ms(500)));
    // Timeouts: the next tick is at 1000, so 499 ms from 500 gives up at once.
    assert_eq!(bucket.wait_timeout(ms(499)), Ok(false));
    assert_eq!(bucket.wait_timeout(ms(0)), Ok(false));
    clock.set(ms(1000));
    assert_eq!(bucket.wait_timeout(ms(0)), Ok(true), "the timed-out waits took nothing");
}

#[test]
fn token_bucket_serves_waiters_first_come_first_served() {
    let clock = ManualClock::new();
    let bucket = TokenBucket::with_clock(Rate::every(ms(10)), 1, clock.clone());
    assert!(bucket.allow());
    let wakers: Vec<CountingWaker> = (0..3).map(|_| CountingWaker::new()).collect();
    let mut waits: Vec<_> = (0..3).map(|_| Box::pin(bucket.wait_async())).collect();
    for (wait, waker) in waits.iter_mut().zip(&wakers) {
        assert!(waker.poll(wait).is_pending());
    }
    assert!(!bucket.allow(), "allow never takes a token ahead of a waiter");
    for i in 0..3 {
        clock.advance(ms(10));
        assert!(!bucket.allow(), "the tick's token went to a waiter, not to allow");
        // Later waiters polled first still find nothing: the token is the oldest waiter's.
        for j in (i + 1..3).rev() {
            assert!(wakers[j].poll(&mut waits[j]).is_pending(), "waiter {j} served before {i}");
        }
        assert_eq!(wakers[i].poll(&mut waits[i]), Poll::Ready(Ok(())), "waiter {i} served at its tick");
    }
}

#[test]
fn token_bucket_dropped_wait_passes_its_token_on() {
    let clock = ManualClock::new();
    let bucket = TokenBucket::with_clock(Rate::every(ms(10)), 1, clock.clone());
    assert!(bucket.allow());
    let (wa, wb) = (CountingWaker::new(), CountingWaker::new());
    let mut a = Box::pin(bucket.wait_async());
    let mut b = Box::pin(bucket.wait_async());
    assert!(wa.poll(&mut a).is_pending());
    assert!(wb.poll(&mut b).is_pending());
    clock.advance(ms(10));
    // Counting the tick serves the line: the token goes to `a` (first in line), not polled yet.
    assert!(!bucket.allow());
    assert!(wb.poll(&mut b).is_pending());
    let before = wb.count();
    drop(a); // `a` leaves holding the token: it passes to `b`
    assert!(wb.count() > before, "b woken by the hand-over");
    assert_eq!(wb.poll(&mut b), Poll::Ready(Ok(())));
    // A dropped wait with nobody behind it puts the token back.
    let mut c = Box::pin(bucket.wait_async());
    assert!(wa.poll(&mut c).is_pending());
    clock.advance(ms(10));
    drop(c);
    assert!(bucket.allow());
}

#[test]
fn close_wakes_token_bucket_waiters_with_an_error() {
    let _watchdog = Watchdog::start("close_wakes_token_bucket_waiters_with_an_error");
    let clock = ManualClock::new();
    let bucket = Arc::new(TokenBucket::with_clock(Rate::per_minute(1), 1, clock.clone()));
    assert!(bucket.allow());
    let blocked: Vec<_> = (0..2)
        .map(|i| {
            let bucket = bucket.clone();
            thread::spawn(
                move || if i == 0 { bucket.wait() } else { bucket.wait_timeout(ms(3_600_000)).map(drop) },
            )
        })
        .collect();
    let waker = CountingWaker::new();
    let mut task = Box::pin(bucket.wait_async());
    assert!(waker.poll(&mut task).is_pending());
    wait_until("both threads wait", || bucket.__waiting() == 3);
    assert!(bucket.close());
    assert!(!bucket.close());
    assert_eq!(waker.count(), 1, "the task is woken by close");
    for thread in blocked {
        assert_eq!(thread.join().unwrap(), Err(BucketClosed));
    }
    assert_eq!(waker.poll(&mut task), Poll::Ready(Err(BucketClosed)));
    assert_eq!(bucket.wait(), Err(BucketClosed), "later waits fail at once");
    assert!(!bucket.allow());
    clock.advance(ms(3_600_000));
    assert_eq!(clock.sleepers(), 0);
}

// ---------------------------------------------------------------------------------------------
// KeyedLimiter

#[test]
fn keyed_limiter_keeps_keys_independent() {
    let clock = ManualClock::new();
    let limits = KeyedLimiter::with_clock(Rate::per_second(10), 2, clock.clone());
    assert!(limits.allow(&"a") && limits.allow(&"a") && !limits.allow(&"a"));
    assert!(limits.allow(&"b"));
    clock.advance(ms(100));
    assert!(limits.allow(&"a") && !limits.allow(&"a"));
    assert_eq!(limits.len(), 1, "b's bucket is full again: b is forgotten");
}

#[test]
fn keyed_memory_returns_to_zero_after_keys_go_idle() {
    let clock = ManualClock::new();
    let limits = KeyedLimiter::with_clock(Rate::per_second(100), 5, clock.clone());
    let keys = if cfg!(miri) { 100 } else { 10_000 };
    for k in 0..keys {
        assert!(limits.allow(&k));
    }
    assert_eq!(limits.__stored(), keys);
    // A refill time (5 x 10 ms) later every bucket is full: the next touch of each shard
    // drops them, with no cleanup call. Touch the map with other keys only.
    clock.advance(ms(50));
    for k in keys..keys + 200 {
        assert!(limits.allow(&k));
    }
    assert_eq!(limits.__stored(), 200, "idle keys were dropped as their shards were touched");
    clock.advance(ms(50));
    assert_eq!(limits.len(), 0);
    assert_eq!(limits.__stored(), 0);
    assert!(limits.is_empty());
}

#[test]
fn keyed_memory_stays_proportional_to_active_keys_without_time_passing() {
    // Keys become full one interval after their single use; with a steady stream of new keys
    // the map sweeps as it doubles, so it holds about the keys of the last refill time.
    let clock = ManualClock::new();
    let limits = KeyedLimiter::with_clock(Rate::every(ms(1)), 1, clock.clone());
    for k in 0..20_000u32 {
        limits.allow(&k);
        if k % 10 == 9 {
            clock.advance(Duration::from_micros(100)); // 10 keys per refill time are active
        }
    }
    assert!(limits.__stored() < 2_000, "stored {}", limits.__stored());
}

#[test]
fn keyed_wait_reserves_per_key() {
    let _watchdog = Watchdog::start("keyed_wait_reserves_per_key");
    let clock = ManualClock::new();
    let limits = Arc::new(KeyedLimiter::with_clock(Rate::per_second(2), 1, clock.clone()));
    limits.wait(&1);
    limits.wait(&2); // another key: at once
    let waiter = {
        let (limits, clock) = (limits.clone(), clock.clone());
        thread::spawn(move || {
            limits.wait(&1);
            clock.now()
        })
    };
    wait_until("the waiter sleeps", || clock.sleepers() == 1);
    clock.set(ms(499));
    assert_eq!(clock.sleepers(), 1);
    clock.set(ms(500));
    assert_eq!(waiter.join().unwrap(), ms(500));
}

// ---------------------------------------------------------------------------------------
// Found in review: races and wrap-arounds
// ---------------------------------------------------------------------------------------

std::thread_local! {
    /// Set on a thread to make its next clock reading pause right after it is taken.
    static PAUSE_AFTER_READING: std::cell::RefCell<Option<(Arc<std::sync::Barrier>, Arc<std::sync::Barrier>)>> =
        const { std::cell::RefCell::new(None) };
}

/// A ManualClock whose `now()` can pause the calling thread right after reading the time:
/// a preemption between a limiter's clock reading and its lock, made deterministic.
#[derive(Clone)]
struct PausingClock(ManualClock);

impl Clock for PausingClock {
    fn now(&self) -> Duration {
        let now = self.0.now();
        if let Some((read, resume)) = PAUSE_AFTER_READING.with(|p| p.borrow_mut().take()) {
            read.wait();
            resume.wait();
        }
        now
    }
    fn sleep_until(&self, deadline: Duration) -> gosync::time::Sleep {
        self.0.sleep_until(deadline)
    }
}

#[test]
fn keyed_limiter_never_admits_twice_when_a_sweep_overtakes_a_clock_reading() {
    // Burst 1 at 1/s. Thread A reads t=0 (too early: key 7 is empty until t=1 s) and pauses;
    // the clock moves to 1 s and a sweep drops key 7 (full again at 1 s). A must not then
    // take key 7 for absent (full) at its reading of t=0: with the admission at t=1 s that
    // would be two in one interval.
    let clock = ManualClock::new();
    let limits = Arc::new(KeyedLimiter::with_clock(Rate::per_second(1), 1, PausingClock(clock.clone())));
    assert!(limits.allow(&7));
    let (read, resume) = (Arc::new(std::sync::Barrier::new(2)), Arc::new(std::sync::Barrier::new(2)));
    let a = {
        let (limits, read, resume) = (limits.clone(), read.clone(), resume.clone());
        thread::spawn(move || {
            PAUSE_AFTER_READING.with(|p| *p.borrow_mut() = Some((read, resume)));
            limits.allow(&7)
        })
    };
    read.wait();
    clock.set(ms(1000));
    assert_eq!(limits.len(), 0, "the sweep dropped the key, full again at 1 s");
    resume.wait();
    let a_admitted = a.join().unwrap();
    let now_admitted = limits.allow(&7);
    assert!(!(a_admitted && now_admitted), "two admissions in one interval with burst 1");
}

#[test]
fn cancel_gives_nothing_back_after_the_configuration_changed_even_sixteen_times() {
    // The word's configuration generation has 4 bits: after 16 changes it reads the same.
    let clock = ManualClock::new();
    let limiter = Limiter::with_clock(Rate::per_second(1), 1, clock.clone());
    assert!(limiter.allow());
    let early = limiter.reserve();
    assert_eq!(early.delay(), ms(1000));
    for _ in 0..16 {
        limiter.set_rate(Rate::per_second(10));
    }
    while limiter.reserve().delay() < ms(1800) {}
    let last = limiter.reserve().delay();
    early.cancel(); // the rate changed since: gives nothing back
    let next = limiter.reserve().delay();
    assert!(next > last, "two reservations share the slot at {next:?} (burst 1)");
}

#[test]
fn token_bucket_ticks_that_pass_before_waiters_look_are_not_lost() {
    // Two waiters in line, capacity 1, and two ticks pass before either is polled: a ticker
    // feeding a channel would give each of them one.
    let clock = ManualClock::new();
    let bucket = TokenBucket::with_clock(Rate::every(ms(10)), 1, clock.clone());
    assert!(bucket.allow());
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    let mut first = Box::pin(bucket.wait_async());
    let mut second = Box::pin(bucket.wait_async());
    assert!(first.as_mut().poll(&mut cx).is_pending());
    assert!(second.as_mut().poll(&mut cx).is_pending());
    clock.advance(ms(20));
    assert_eq!(first.as_mut().poll(&mut cx), Poll::Ready(Ok(())));
    assert_eq!(second.as_mut().poll(&mut cx), Poll::Ready(Ok(())), "the second tick's token was lost");
}

#[test]
fn token_bucket_tick_wakes_only_the_waiters_it_serves() {
    // A long line, one token per tick: each tick must wake the waiter it serves and at most
    // the next one (which takes over watching the ticks), never the whole line.
    const N: usize = 8;
    let clock = ManualClock::new();
    let bucket = TokenBucket::with_clock(Rate::every(ms(10)), 1, clock.clone());
    assert!(bucket.allow());
    let wakers: Vec<CountingWaker> = (0..N).map(|_| CountingWaker::new()).collect();
    let mut waits: Vec<_> = (0..N).map(|_| Box::pin(bucket.wait_async())).collect();
    for (wait, waker) in waits.iter_mut().zip(&wakers) {
        assert!(waker.poll(wait).is_pending());
    }
    let mut done = [false; N];
    for tick in 0..N {
        let before: Vec<usize> = wakers.iter().map(CountingWaker::count).collect();
        clock.advance(ms(10));
        // Run the woken tasks until nothing more is woken, as an executor would.
        let mut polled = before.clone();
        loop {
            let woken: Vec<usize> = (0..N).filter(|&i| !done[i] && wakers[i].count() > polled[i]).collect();
            if woken.is_empty() {
                break;
            }
            for i in woken {
                polled[i] = wakers[i].count();
                if let Poll::Ready(result) = wakers[i].poll(&mut waits[i]) {
                    assert_eq!(result, Ok(()));
                    assert_eq!(i, tick, "served out of order");
                    done[i] = true;
                }
            }
        }
        assert!(done[tick], "waiter {tick} not served at its tick");
        for i in tick + 2..N {
            assert_eq!(wakers[i].count(), before[i], "tick {tick} woke waiter {i}, far back in line");
        }
    }
    let total: usize = wakers.iter().map(CountingWaker::count).sum();
    assert!(total <= 3 * N, "{total} wake-ups to serve {N} waiters");
}

#[test]
fn token_bucket_dropped_driver_hands_the_ticks_over() {
    // The first waiter in line watches the ticks for everyone. When it leaves before its
    // tick (a dropped or timed-out wait), the next one must take over, or the line stalls.
    let clock = ManualClock::new();
    let bucket = TokenBucket::with_clock(Rate::every(ms(10)), 1, clock.clone());
    assert!(bucket.allow());
    let (wa, wb, wc) = (CountingWaker::new(), CountingWaker::new(), CountingWaker::new());
    let mut a = Box::pin(bucket.wait_async());
    let mut b = Box::pin(bucket.wait_async());
    assert!(wa.poll(&mut a).is_pending());
    assert!(wb.poll(&mut b).is_pending());
    drop(a);
    assert!(wb.woken(), "the next in line is told to take over");
    assert!(wb.poll(&mut b).is_pending());
    clock.advance(ms(10));
    assert_eq!(wb.poll(&mut b), Poll::Ready(Ok(())), "served at the first tick");
    // The same for a wait that times out in line: the waiter behind it takes over.
    let t = bucket.wait_timeout(ms(5)); // the next tick is at 20: gives up at once
    assert_eq!(t, Ok(false));
    let mut c = Box::pin(bucket.wait_async());
    assert!(wc.poll(&mut c).is_pending());
    clock.advance(ms(10));
    assert!(wc.woken(), "the tick wakes the only waiter");
    assert_eq!(wc.poll(&mut c), Poll::Ready(Ok(())));
    assert_eq!(bucket.__waiting(), 0);
}

#[test]
fn token_bucket_timed_wait_gets_the_token_of_its_deadline_tick() {
    // A timed wait behind the waiter that watches the ticks, with its deadline exactly at the
    // tick that serves it. If it runs before the watcher does, it must still count that tick
    // (and take its token) rather than time out.
    let _watchdog = Watchdog::start("token_bucket_timed_wait_gets_the_token_of_its_deadline_tick");
    let clock = ManualClock::new();
    let bucket = Arc::new(TokenBucket::with_clock(Rate::every(ms(10)), 1, clock.clone()));
    assert!(bucket.allow());
    let watcher = CountingWaker::new();
    let mut first = Box::pin(bucket.wait_async());
    assert!(watcher.poll(&mut first).is_pending());
    let timed = {
        let bucket = bucket.clone();
        thread::spawn(move || bucket.wait_timeout(ms(20))) // served at tick 20: in time
    };
    wait_until("the timed wait is in line", || bucket.__waiting() == 2);
    clock.set(ms(20)); // the watcher is not polled: the timed wait wakes at its deadline
    assert_eq!(timed.join().unwrap(), Ok(true), "timed out at the tick that had its token");
    assert_eq!(watcher.poll(&mut first), Poll::Ready(Ok(())));
}

thread_local! {
    /// What a `CallbackWaker` clone runs when it is dropped on this thread.
    static ON_WAKER_DROP: std::cell::RefCell<Option<Arc<dyn Fn()>>> = const { std::cell::RefCell::new(None) };
}

/// A waker each of whose clones, when dropped, runs this thread's `ON_WAKER_DROP`: it
/// calls back into a limiter, which hangs if the drop happens under the limiter's lock.
fn callback_waker() -> std::task::Waker {
    use std::task::{RawWaker, RawWakerVTable};
    fn clone(_: *const ()) -> RawWaker {
        RawWaker::new(std::ptr::null(), &VTABLE)
    }
    fn noop(_: *const ()) {}
    fn drop(_: *const ()) {
        if let Some(hook) = ON_WAKER_DROP.with(|hook| hook.borrow().clone()) {
            hook();
        }
    }
    static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, noop, noop, drop);
    // SAFETY: the vtable's functions ignore the (null) data pointer.
    unsafe { std::task::Waker::from_raw(RawWaker::new(std::ptr::null(), &VTABLE)) }
}

#[test]
fn token_bucket_drops_wakers_outside_its_lock() {
    // Wakers are user code: the tick watcher's sleep (and every other waker clone) must be
    // dropped after the bucket's lock is released, or this callback deadlocks on it.
    let _watchdog = Watchdog::start("token_bucket_drops_wakers_outside_its_lock");
    let clock = ManualClock::new();
    let bucket = Arc::new(TokenBucket::with_clock(Rate::every(ms(10)), 1, clock.clone()));
    assert!(bucket.allow());
    let b = bucket.clone();
    ON_WAKER_DROP.with(|hook| {
        *hook.borrow_mut() = Some(Arc::new(move || {
            let _ = b.__waiting();
        }))
    });
    let waker = callback_waker();
    let mut cx = std::task::Context::from_waker(&waker);
    let mut first = Box::pin(bucket.wait_async()); // the tick watcher
    let mut second = Box::pin(bucket.wait_async());
    assert!(first.as_mut().poll(&mut cx).is_pending());
    assert!(second.as_mut().poll(&mut cx).is_pending());
    drop(first); // leaves the line unserved: hands over, drops its tick sleep
    assert!(second.as_mut().poll(&mut cx).is_pending()); // the new watcher
    clock.advance(ms(10));
    assert_eq!(second.as_mut().poll(&mut cx), std::task::Poll::Ready(Ok(())));
    drop(second);
    ON_WAKER_DROP.with(|hook| *hook.borrow_mut() = None);
}
