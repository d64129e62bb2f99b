//! [`TokenBucket`]: the seed's first design, a bucket of tokens topped up by a ticker.
//!
//! The ticker is computed, not run: the bucket counts the ticks of its grid
//! (`origin + k * period`) that have passed whenever it is touched, so there is no thread at
//! all. This was chosen over a shared timer thread topping up every bucket because it costs
//! nothing while nobody waits (a timer thread would wake at every tick of every bucket) and
//! a caller of `allow` reads the same grid the timer would have produced.
//!
//! # Who watches the ticks
//! While waiters are in line, exactly one of them, the *driver*, sleeps until the next tick,
//! counts it and hands its token to the head of the line. The others only wait to be served,
//! so a tick wakes the driver and the waiter it serves, not the whole line (a line of N
//! waiters would otherwise cost O(N) wake-ups per tick, O(N^2) to drain).
//!
//! The driver is the oldest waiter in line. Every other waiter also stands in a second line,
//! `nudges`, in the same order; when the driver leaves (served, timed out, closed or
//! dropped) it first counts the ticks that have passed, then *nudges* the oldest waiter of
//! that line, which becomes the driver. A nudge is a completion on that second line only, so
//! the nudged waiter keeps its place in the first.

#[cfg(any(feature = "std", loom))]
use super::MAX_TIME;
use super::{clocked_struct, now_nanos, BucketClosed, Rate};
use crate::primitive::atomic::{AtomicBool, Ordering};
use crate::primitive::Lock;
use crate::time::{Clock, Sleep};
use crate::waiter::{TaskWaiter, WaitList, Wakeup};
use alloc::vec::Vec;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use core::time::Duration;
use futures_core::FusedFuture;

clocked_struct! {
    /// A bucket of `capacity` tokens, topped up by one token at each tick of a fixed grid:
    /// the classic Go rate limiter, a buffered channel of tokens fed by a `time.Ticker`.
    ///
    /// Ticks fall at `k x period` after the bucket was created, whatever the callers do, so
    /// a request's wait ends at a tick, not one period after the last token was taken:
    ///
    /// ```text
    /// capacity 4, 2 tokens/s (a tick every 500 ms), requests at (ms):
    ///   100 110 120 130  -> at once (the bucket starts full)
    ///   140              -> at 500, the first tick
    ///   1600 1700        -> at once (ticks 1000 and 1500 refilled 2);  1800 -> at 2000
    /// ```
    ///
    /// Waiters are served strictly first come, first served, and [`allow`](Self::allow)
    /// never takes a token ahead of a waiter. [`close`](Self::close) makes every blocked and
    /// later wait return [`BucketClosed`] instead of waiting for ever. No thread serves the
    /// bucket: the ticks are counted from the clock when it is used, and the oldest waiter
    /// sleeps on the clock until the next tick (real time: the crate's one shared timer
    /// thread) and serves the line, so a tick wakes the waiter it serves, not every waiter.
    /// (An async wait must be polled when woken, as any future: the line's ticks are counted
    /// by whichever waiter is oldest.)
    ///
    /// Handing a token to a waiter synchronizes with that waiter's return.
    ///
    /// # TokenBucket vs [`Limiter`](super::Limiter)
    /// A `Limiter` refills continuously (a token exactly one interval after the one before),
    /// has no lock and supports reservations; prefer it unless you need this grid, strict
    /// FIFO among waiters, or `close`.
    ///
    /// # Example
    /// ```
    /// use gosync::limit::{Rate, TokenBucket};
    /// use std::time::Instant;
    ///
    /// let bucket = TokenBucket::new(Rate::per_second(500), 2);
    /// let start = Instant::now();
    /// for _ in 0..4 {
    ///     bucket.wait().unwrap(); // 2 at once, then one per 2 ms tick
    /// }
    /// assert!(start.elapsed().as_millis() >= 2);
    /// ```
    pub struct TokenBucket<C> {
        state: Lock<Bucket>,
        /// Set (under `state`'s lock) by `close`; read lock-free by woken waiters.
        closed: AtomicBool,
        /// Nanoseconds between ticks.
        period: u64,
        capacity: u32,
        /// The clock's reading at creation: tick `k` falls at `origin + k * period`.
        origin: u64,
        clock: C,
    }
}

struct Bucket {
    tokens: u32,
    /// Ticks counted into `tokens` so far.
    tick: u64,
    /// Live registrations in `waiters` (not yet served, cancelled or closed).
    waiting: usize,
    waiters: WaitList,
    /// A waiter is the driver (it sleeps until the next tick, or is about to).
    driver: bool,
    /// The waiters that are not the driver, in line order: the driver's successors.
    nudges: WaitList,
}

impl Bucket {
    /// Counts the ticks up to `tick`, then hands tokens to waiters, oldest first.
    fn refill(&mut self, tick: u64, capacity: u32, wakeups: &mut Vec<Wakeup>) {
        self.serve(wakeups);
        if tick > self.tick {
            // Each tick's token goes to the oldest waiter if there is one (as a ticker feeding
            // a channel with blocked receivers), and only the rest fills the bucket: ticks
            // that pass before anyone looks are not lost to the capacity.
            let mut fresh = tick - self.tick;
            self.tick = tick;
            while fresh > 0 && self.waiting > 0 {
                match self.waiters.notify_one() {
                    Some(wakeup) => {
                        wakeups.push(wakeup);
                        self.waiting -= 1;
                        fresh -= 1;
                    }
                    None => self.waiting = 0,
                }
            }
            self.tokens = (self.tokens as u64).saturating_add(fresh).min(capacity as u64) as u32;
        }
    }

    /// The driver is leaving: the oldest waiter of the nudge line takes over, if anyone still
    /// waits for a token.
    fn hand_over(&mut self, wakeups: &mut Vec<Wakeup>) {
        self.driver = false;
        if self.waiting > 0 {
            if let Some(wakeup) = self.nudges.notify_one() {
                wakeups.push(wakeup);
                self.driver = true;
            }
        }
    }

    fn serve(&mut self, wakeups: &mut Vec<Wakeup>) {
        while self.tokens > 0 && self.waiting > 0 {
            match self.waiters.notify_one() {
                Some(wakeup) => {
                    self.tokens -= 1;
                    self.waiting -= 1;
                    wakeups.push(wakeup);
                }
                None => {
                    debug_assert!(false, "gosync: token bucket lost count of its waiters");
                    self.waiting = 0;
                }
            }
        }
    }
}

#[cfg(any(feature = "std", loom))]
impl TokenBucket {
    /// A full bucket of `capacity` tokens on real time, topped up at `rate` (one token per
    /// `rate.interval()`).
    ///
    /// # Panics
    /// `gosync: zero capacity` if `capacity` is 0.
    ///
    /// ```
    /// use gosync::limit::{Rate, TokenBucket};
    /// let bucket = TokenBucket::new(Rate::per_second(10), 3);
    /// assert_eq!(bucket.capacity(), 3);
    /// ```
    pub fn new(rate: Rate, capacity: u32) -> Self {
        TokenBucket::with_clock(rate, capacity, crate::time::MonotonicClock::new())
    }
}

impl<C: Clock> TokenBucket<C> {
    /// A full bucket on `clock`; its tick grid starts at the clock's current reading.
    ///
    /// # Panics
    /// As [`new`](TokenBucket::new).
    ///
    /// ```
    /// use gosync::limit::{Rate, TokenBucket};
    /// use gosync::time::ManualClock;
    /// let bucket = TokenBucket::with_clock(Rate::per_second(10), 1, ManualClock::new());
    /// assert!(bucket.allow() && !bucket.allow());
    /// ```
    pub fn with_clock(rate: Rate, capacity: u32, clock: C) -> Self {
        if capacity == 0 {
            panic!("gosync: zero capacity");
        }
        let origin = now_nanos(&clock);
        TokenBucket {
            state: Lock::new(Bucket {
                tokens: capacity,
                tick: 0,
                waiting: 0,
                waiters: WaitList::new(),
                driver: false,
                nudges: WaitList::new(),
            }),
            closed: AtomicBool::new(false),
            period: rate.nanos(),
            capacity,
            origin,
            clock,
        }
    }

    /// Takes a token if one is there and nobody is waiting for it; never waits. False once
    /// closed.
    ///
    /// ```
    /// use gosync::limit::{Rate, TokenBucket};
    /// let bucket = TokenBucket::new(Rate::per_minute(1), 1);
    /// assert!(bucket.allow());
    /// assert!(!bucket.allow());
    /// ```
    pub fn allow(&self) -> bool {
        let tick = self.tick_at(self.now());
        let mut wakeups = Vec::new();
        let mut state = self.state.lock();
        if self.closed.load(Ordering::Relaxed) {
            return false;
        }
        state.refill(tick, self.capacity, &mut wakeups);
        // Tokens left after serving the waiters: nobody is waiting.
        let taken = state.tokens > 0;
        if taken {
            state.tokens -= 1;
        }
        drop(state);
        drop(wakeups); // wakers are user code: woken after unlocking
        taken
    }

    /// Waits for a token, behind the waiters already there.
    ///
    /// # Errors
    /// [`BucketClosed`] if the bucket is closed before this wait returns: also when a token
    /// was handed to it an instant before the close (a closed bucket's tokens count for
    /// nothing).
    ///
    /// ```
    /// use gosync::limit::{Rate, TokenBucket};
    /// let bucket = TokenBucket::new(Rate::per_second(1000), 1);
    /// bucket.wait().unwrap();
    /// bucket.wait().unwrap(); // at the next 1 ms tick
    /// ```
    #[cfg(any(feature = "std", loom))]
    pub fn wait(&self) -> Result<(), BucketClosed> {
        match crate::waiter::block_on(self.acquire(None)) {
            Outcome::Granted => Ok(()),
            Outcome::Closed => Err(BucketClosed),
            Outcome::TimedOut => unreachable!("no deadline"),
        }
    }

    /// Waits for a token for at most `timeout` (on the bucket's clock). `Ok(false)` when it
    /// times out, at once if the waiters ahead and the tick grid show that the token cannot
    /// arrive in time; nothing is taken then.
    ///
    /// # Errors
    /// [`BucketClosed`] if the bucket is closed before this wait returns: also when a token
    /// was handed to it an instant before the close (a closed bucket's tokens count for
    /// nothing).
    ///
    /// ```
    /// use gosync::limit::{Rate, TokenBucket};
    /// use std::time::Duration;
    /// let bucket = TokenBucket::new(Rate::per_minute(1), 1);
    /// assert_eq!(bucket.wait_timeout(Duration::ZERO), Ok(true));
    /// assert_eq!(bucket.wait_timeout(Duration::from_millis(1)), Ok(false)); // next tick: 1 min
    /// ```
    #[cfg(any(feature = "std", loom))]
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool, BucketClosed> {
        let now = self.now();
        let within = u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX);
        let deadline = now.saturating_add(within).min(MAX_TIME - 1);
        match crate::waiter::block_on(self.acquire(Some(deadline))) {
            Outcome::Granted => Ok(true),
            Outcome::TimedOut => Ok(false),
            Outcome::Closed => Err(BucketClosed),
        }
    }

    /// Waits for a token from an async task, on any executor.
    ///
    /// # Cancel safety
    /// Cancel-safe: dropping the future before it returns `Ready` takes nothing. It leaves
    /// the line at once, and a token already handed to it passes on to the next waiter (or
    /// back into the bucket).
    ///
    /// ```
    /// use gosync::limit::{Rate, TokenBucket};
    /// use gosync::time::ManualClock;
    /// use std::future::Future;
    /// use std::task::{Context, Poll, Waker};
    /// use std::time::Duration;
    ///
    /// let clock = ManualClock::new();
    /// let bucket = TokenBucket::with_clock(Rate::per_second(2), 1, clock.clone());
    /// assert!(bucket.allow());
    /// let mut cx = Context::from_waker(Waker::noop());
    /// let mut wait = Box::pin(bucket.wait_async());
    /// assert!(wait.as_mut().poll(&mut cx).is_pending());
    /// clock.advance(Duration::from_millis(500)); // the next tick
    /// assert_eq!(wait.as_mut().poll(&mut cx), Poll::Ready(Ok(())));
    /// ```
    pub fn wait_async(&self) -> BucketWait<'_, C> {
        BucketWait(self.acquire(None))
    }

    /// Closes the bucket: every waiting and later `wait` returns [`BucketClosed`], and
    /// `allow` returns false. True for the call that closed it.
    ///
    /// ```
    /// use gosync::limit::{Rate, TokenBucket};
    /// let bucket = TokenBucket::new(Rate::per_second(1), 1);
    /// assert!(bucket.close());
    /// assert!(!bucket.close());
    /// assert!(!bucket.allow());
    /// ```
    pub fn close(&self) -> bool {
        let mut state = self.state.lock();
        if self.closed.load(Ordering::Relaxed) {
            return false;
        }
        // Release, under the lock, before completing the waiters: each woken waiter reads
        // it (Acquire) and knows it was woken by the close.
        self.closed.store(true, Ordering::Release);
        state.waiting = 0;
        let wakeups = state.waiters.notify_all();
        drop(state);
        drop(wakeups);
        true
    }

    /// True once [`close`](Self::close) was called.
    ///
    /// ```
    /// use gosync::limit::{Rate, TokenBucket};
    /// let bucket = TokenBucket::new(Rate::per_second(1), 1);
    /// bucket.close();
    /// assert!(bucket.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// The most tokens the bucket holds.
    ///
    /// ```
    /// use gosync::limit::{Rate, TokenBucket};
    /// assert_eq!(TokenBucket::new(Rate::per_second(1), 5).capacity(), 5);
    /// ```
    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    /// Waits in line right now (registered and neither served, timed out nor dropped). Not
    /// a public API: tests use it to know that a thread is in line.
    #[doc(hidden)]
    pub fn __waiting(&self) -> usize {
        self.state.lock().waiting
    }

    fn acquire(&self, deadline: Option<u64>) -> Acquire<'_, C> {
        Acquire {
            bucket: self,
            task: TaskWaiter::new(),
            nudge: TaskWaiter::new(),
            driving: false,
            tick: None,
            deadline,
            timeout: None,
            outcome: None,
        }
    }

    fn now(&self) -> u64 {
        now_nanos(&self.clock)
    }

    /// The number of ticks of the grid at or before `now`.
    fn tick_at(&self, now: u64) -> u64 {
        now.saturating_sub(self.origin) / self.period
    }

    /// The clock time of tick `tick`.
    fn tick_time(&self, tick: u64) -> Duration {
        let at = (tick as u128 * self.period as u128 + self.origin as u128).min(u64::MAX as u128);
        Duration::from_nanos(at as u64)
    }
}

impl<C> fmt::Debug for TokenBucket<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenBucket")
            .field("period", &Duration::from_nanos(self.period))
            .field("capacity", &self.capacity)
            .field("closed", &self.closed.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Outcome {
    Granted,
    Closed,
    TimedOut,
}

/// One wait for a token: a registration in the bucket's FIFO, and either a sleep until the
/// next tick (the driver: it counts the ticks and hands out their tokens) or a registration
/// in the nudge line (to become the driver); and an optional deadline.
struct Acquire<'a, C> {
    bucket: &'a TokenBucket<C>,
    task: TaskWaiter,
    /// In the nudge line while in line and not driving.
    nudge: TaskWaiter,
    /// This wait is the driver.
    driving: bool,
    /// The driver's sleep until the next tick.
    tick: Option<Sleep>,
    /// Clock time (ns) to give up at.
    deadline: Option<u64>,
    timeout: Option<Sleep>,
    outcome: Option<Outcome>,
}

impl<C: Clock> Acquire<'_, C> {
    fn finish(&mut self, outcome: Outcome) -> Poll<Outcome> {
        self.outcome = Some(outcome);
        self.tick = None;
        self.timeout = None;
        Poll::Ready(outcome)
    }

    /// Completed by the list: served a token, or woken by `close`.
    fn completed(&mut self) -> Poll<Outcome> {
        let mut wakeups = Vec::new();
        let mut state = self.bucket.state.lock();
        self.leave_line(&mut state, &mut wakeups);
        drop(state);
        drop(wakeups);
        // Acquire pairs with the Release in `close`.
        let closed = self.bucket.closed.load(Ordering::Acquire);
        self.finish(if closed { Outcome::Closed } else { Outcome::Granted })
    }

    fn poll_acquire(&mut self, cx: &mut Context<'_>) -> Poll<Outcome> {
        if let Some(outcome) = self.outcome {
            return Poll::Ready(outcome);
        }
        let bucket = self.bucket;
        loop {
            match self.task.poll(cx.waker()) {
                Poll::Ready(Some(_)) => return self.completed(),
                Poll::Ready(None) => {
                    // Not in line yet: take a token now, or join the line.
                    let now = bucket.now();
                    let tick = bucket.tick_at(now);
                    // Armed before the lock: arming may allocate and clone the waker.
                    self.task.arm(cx.waker());
                    self.nudge.arm(cx.waker());
                    let mut wakeups = Vec::new();
                    let mut state = bucket.state.lock();
                    if bucket.closed.load(Ordering::Relaxed) {
                        drop(state);
                        return self.finish(Outcome::Closed);
                    }
                    state.refill(tick, bucket.capacity, &mut wakeups);
                    if state.tokens > 0 {
                        state.tokens -= 1;
                        drop(state);
                        drop(wakeups);
                        return self.finish(Outcome::Granted);
                    }
                    // Served at the tick that brings the token of the last waiter ahead and
                    // ours: if that is past the deadline, give up now, taking nothing.
                    let served_at = bucket.tick_time(state.tick + state.waiting as u64 + 1);
                    if matches!(self.deadline, Some(deadline) if served_at > Duration::from_nanos(deadline)) {
                        drop(state);
                        drop(wakeups);
                        return self.finish(Outcome::TimedOut);
                    }
                    state.waiters.register(self.task.waiter());
                    state.waiting += 1;
                    self.task.set_registered();
                    if state.driver {
                        state.nudges.register(self.nudge.waiter());
                        self.nudge.set_registered();
                    } else {
                        // First in line: we watch the ticks.
                        state.driver = true;
                        self.driving = true;
                        self.tick = Some(bucket.clock.sleep_until(bucket.tick_time(state.tick + 1)));
                    }
                    drop(state);
                    drop(wakeups);
                    if let Some(deadline) = self.deadline {
                        self.timeout = Some(bucket.clock.sleep_until(Duration::from_nanos(deadline)));
                    }
                }
                Poll::Pending => {
                    // In line. Nudged: we are the driver now, starting with a count at once.
                    if !self.driving && matches!(self.nudge.poll(cx.waker()), Poll::Ready(Some(_))) {
                        self.driving = true;
                        self.tick = None;
                    }
                    // The driver counts each tick and serves the line (maybe itself).
                    let tick = match &mut self.tick {
                        Some(tick) if self.driving => Some(tick),
                        None if self.driving => {
                            Some(self.tick.insert(bucket.clock.sleep_until(Duration::ZERO)))
                        }
                        _ => None,
                    };
                    if tick.is_some_and(|tick| Pin::new(tick).poll(cx).is_ready()) {
                        let now = bucket.now();
                        let mut wakeups = Vec::new();
                        let mut state = bucket.state.lock();
                        state.refill(bucket.tick_at(now), bucket.capacity, &mut wakeups);
                        let next = bucket.tick_time(state.tick + 1);
                        drop(state);
                        drop(wakeups);
                        self.tick = Some(bucket.clock.sleep_until(next));
                        continue;
                    }
                    if let Some(timeout) = &mut self.timeout {
                        if Pin::new(timeout).poll(cx).is_ready() {
                            let now = bucket.now();
                            let waiter = self.task.registered().expect("in line");
                            let mut wakeups = Vec::new();
                            let mut state = bucket.state.lock();
                            // The tick at the deadline may carry our token, and the driver
                            // may not have run yet: count the ticks before giving up.
                            state.refill(bucket.tick_at(now), bucket.capacity, &mut wakeups);
                            let served = state.waiters.cancel(waiter);
                            if served.is_none() {
                                state.waiting -= 1;
                                self.leave_line(&mut state, &mut wakeups);
                            }
                            drop(state);
                            drop(wakeups);
                            return match served {
                                // Served just in time: the token is ours.
                                Some(_) => self.completed(),
                                None => self.finish(Outcome::TimedOut),
                            };
                        }
                    }
                    return Poll::Pending;
                }
            }
        }
    }
}

impl<C: Clock> Future for Acquire<'_, C> {
    type Output = Outcome;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Outcome> {
        self.get_mut().poll_acquire(cx)
    }
}

impl<C> Acquire<'_, C> {
    /// Under the lock, as this wait leaves the line (its registration in `waiters` already
    /// dealt with): withdraws from the nudge line, and if this wait is the driver (or was
    /// just nudged to become it) hands the role over. The new driver counts the ticks that
    /// have passed as soon as it runs, so leaving costs nobody a tick.
    fn leave_line(&mut self, state: &mut Bucket, wakeups: &mut Vec<Wakeup>) {
        if !self.driving {
            if let Some(waiter) = self.nudge.registered() {
                // Some: nudged before it saw the nudge. The role is this wait's to pass on.
                self.driving = state.nudges.cancel(waiter).is_some();
            }
        }
        if self.driving {
            // The tick sleep is left to the caller to drop after unlocking: its waker is
            // user code.
            self.driving = false;
            state.hand_over(wakeups);
        }
    }
}

impl<C> Drop for Acquire<'_, C> {
    fn drop(&mut self) {
        if self.outcome.is_some() {
            return;
        }
        let Some(waiter) = self.task.registered() else { return };
        let bucket = self.bucket;
        let mut wakeups = Vec::new();
        let mut state = bucket.state.lock();
        match state.waiters.cancel(waiter) {
            None => state.waiting -= 1,
            Some(_) => {
                // A token was handed to us and we leave without it: it goes to the next in
                // line, or back into the bucket (never above capacity).
                if !bucket.closed.load(Ordering::Relaxed) {
                    state.tokens = (state.tokens + 1).min(bucket.capacity);
                    state.serve(&mut wakeups);
                }
            }
        }
        self.leave_line(&mut state, &mut wakeups);
        drop(state);
        drop(wakeups);
    }
}

/// The future of [`TokenBucket::wait_async`]: `Ok(())` once it holds a token,
/// `Err(BucketClosed)` if the bucket is closed first.
///
/// # Cancel safety
/// Dropping it before it returns `Ready` takes nothing: it leaves the line, and a token
/// already handed to it passes on to the next waiter or back into the bucket.
///
/// ```
/// use gosync::limit::{Rate, TokenBucket};
/// let bucket = TokenBucket::new(Rate::per_second(1), 1);
/// drop(bucket.wait_async()); // never polled: nothing taken
/// assert!(bucket.allow());
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct BucketWait<'a, C>(Acquire<'a, C>);

impl<C: Clock> Future for BucketWait<'_, C> {
    type Output = Result<(), BucketClosed>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.get_mut().0.poll_acquire(cx).map(|outcome| match outcome {
            Outcome::Granted => Ok(()),
            _ => Err(BucketClosed),
        })
    }
}

impl<C: Clock> FusedFuture for BucketWait<'_, C> {
    fn is_terminated(&self) -> bool {
        self.0.outcome.is_some()
    }
}

impl<C> fmt::Debug for BucketWait<'_, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BucketWait").field("done", &self.0.outcome.is_some()).finish_non_exhaustive()
    }
}
