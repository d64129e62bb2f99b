//! The two clocks: [`MonotonicClock`] (real time) and [`ManualClock`] (time that moves only
//! when told to).

use super::timer::{TimerKey, TimerQueue};
use super::{Clock, Sleep};
use crate::primitive::{Arc, Lock};
use crate::waiter::{Token, Waiter};
use alloc::vec::Vec;
use core::fmt;
use core::time::Duration;

#[cfg(any(feature = "std", loom))]
use super::tsc::Counter;
#[cfg(any(feature = "std", loom))]
use crate::primitive::Instant;

/// Real, monotonic time, measured from the moment the clock was created.
///
/// It is not affected by changes to the system's wall clock, and clones (it is `Copy`) share
/// the origin. Sleeping on it completes once the clock has reached the deadline.
///
/// # How it reads the time
/// On x86_64 CPUs with an invariant time-stamp counter (most x86_64 CPUs of the last
/// decade; the OS must also still list it as a usable clock source) it reads that counter
/// and scales it to nanoseconds: about 10 ns a reading instead of the 20-25 ns of
/// [`Instant::now`]. The scale is measured against `Instant` once per process, which makes
/// the first `MonotonicClock::new` in a process take about 5 ms (rarely up to 50 ms).
/// Elsewhere (other architectures, no invariant counter, Miri, loom) it reads [`Instant`].
///
/// With the counter, what holds:
/// * a thread's readings never decrease;
/// * across threads, a reading taken just after seeing another thread's write may precede
///   the reading that thread took before writing by a few nanoseconds (the counter read is
///   not ordered with memory accesses). gosync's limiters are correct under that: such a
///   reading acts as a decision taken a little earlier, which never admits more;
/// * `origin() + now()` stays within about 10 ppm of [`Instant::now`] (typically 1-2 ppm;
///   10 ppm is 36 ms after an hour), plus whatever slewing NTP applies to `Instant`.
///   A sleep is not affected by that: [`sleep_until`](Clock::sleep_until) converts the time
///   remaining from now to an `Instant` deadline, so it is off by that fraction of its own
///   length only (10 ns for a millisecond).
///
/// # Example
/// ```
/// use gosync::time::{Clock, MonotonicClock};
/// use std::time::Duration;
///
/// let clock = MonotonicClock::new();
/// let start = clock.now();
/// clock.sleep(Duration::from_millis(1)).wait();
/// assert!(clock.now() >= start + Duration::from_millis(1));
/// ```
#[cfg(any(feature = "std", loom))]
#[derive(Clone, Copy, Debug)]
pub struct MonotonicClock {
    origin: Instant,
    /// The counter started just after `origin` (or nothing: read `origin.elapsed()`).
    counter: Counter,
}

#[cfg(any(feature = "std", loom))]
impl MonotonicClock {
    /// A clock whose origin (time zero) is now.
    ///
    /// ```
    /// use gosync::time::{Clock, MonotonicClock};
    /// let clock = MonotonicClock::new();
    /// assert!(clock.now() < std::time::Duration::from_secs(60));
    /// ```
    pub fn new() -> Self {
        // Calibrate (once per process) before taking the origin, so that the origin and
        // the counter's start are read back to back.
        let counter = Counter::start();
        let origin = Instant::now();
        // Started after `origin`: a reading counts from a little later than the origin, so
        // `origin + now()` does not run ahead of `Instant::now()` by the gap between them.
        MonotonicClock { origin, counter: counter.restart() }
    }

    /// The `Instant` this clock counts from: `origin() + now()` is about `Instant::now()`
    /// (within the drift described above).
    ///
    /// ```
    /// use gosync::time::{Clock, MonotonicClock};
    /// use std::time::{Duration, Instant};
    /// let clock = MonotonicClock::new();
    /// let gap = Instant::now().saturating_duration_since(clock.origin() + clock.now());
    /// assert!(gap < Duration::from_secs(1));
    /// ```
    pub fn origin(&self) -> Instant {
        self.origin
    }
}

#[cfg(any(feature = "std", loom))]
impl Default for MonotonicClock {
    fn default() -> Self {
        MonotonicClock::new()
    }
}

#[cfg(any(feature = "std", loom))]
impl Clock for MonotonicClock {
    #[inline]
    fn now(&self) -> Duration {
        match self.counter.elapsed() {
            Some(elapsed) => elapsed,
            None => self.origin.elapsed(),
        }
    }

    #[inline]
    fn now_nanos(&self) -> u64 {
        match self.counter.elapsed_nanos() {
            Some(nanos) => nanos,
            None => u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX),
        }
    }

    fn sleep_until(&self, deadline: Duration) -> Sleep {
        let at = if self.counter.elapsed().is_some() {
            // The time remaining, by this clock, from an `Instant` read after it: the sleep
            // ends when this clock reaches the deadline, however far its scale has drifted
            // from `Instant` since the origin (a deadline computed from `origin` would be
            // off by that whole drift).
            let remaining = deadline.saturating_sub(self.now());
            super::instant_after(Instant::now(), remaining)
        } else {
            super::instant_after(self.origin, deadline)
        };
        Sleep::realtime(at)
    }
}

/// A clock that moves only when told to: deterministic time for tests, like tokio's paused
/// time.
///
/// It starts at zero; [`advance`](ManualClock::advance) and [`set`](ManualClock::set) move
/// it forward, and every sleep on it whose deadline has been reached completes at that moment
/// (blocking and async alike), earliest deadline first. Nothing completes on its own, so a test
/// that drives a limiter or a timeout through a `ManualClock` runs the same way every time and
/// takes no real time. Clones are handles to the same time. Works without `std`.
///
/// An `advance` synchronizes with the sleeps it completes: what the advancing thread wrote
/// before it is visible to each woken sleeper.
///
/// # Example
/// ```
/// use gosync::time::{Clock, ManualClock};
/// use std::time::Duration;
///
/// let clock = ManualClock::new();
/// let sleeper = {
///     let clock = clock.clone();
///     std::thread::spawn(move || clock.sleep(Duration::from_secs(3600)).wait())
/// };
/// while clock.sleepers() == 0 {
///     std::thread::yield_now(); // let the sleeper register
/// }
/// clock.advance(Duration::from_secs(3600)); // an hour passes at once
/// sleeper.join().unwrap();
/// assert_eq!(clock.now(), Duration::from_secs(3600));
/// ```
#[derive(Clone)]
pub struct ManualClock {
    pub(super) shared: Arc<Lock<ManualState>>,
}

/// The time and the sleeps waiting on it, under one lock: a sleep checks the time and
/// registers in one step, and a move of the time completes what it passes in one step, so a
/// sleep is never registered just after the time passed its deadline and then forgotten.
/// (`Duration` under the lock rather than an atomic: 64-bit atomics are missing on some
/// targets, and a test clock's reads need not be lock-free.)
pub(super) struct ManualState {
    now: Duration,
    timers: TimerQueue<Duration>,
}

impl ManualClock {
    /// A clock at zero.
    ///
    /// ```
    /// use gosync::time::{Clock, ManualClock};
    /// assert_eq!(ManualClock::new().now(), std::time::Duration::ZERO);
    /// ```
    pub fn new() -> Self {
        ManualClock {
            shared: Arc::new(Lock::new(ManualState { now: Duration::ZERO, timers: TimerQueue::new() })),
        }
    }

    /// Moves the time forward by `by`, completing every sleep whose deadline it reaches.
    ///
    /// # Panics
    /// `gosync: ManualClock overflow` if the time would not fit in a `Duration`.
    ///
    /// ```
    /// use gosync::time::{Clock, ManualClock};
    /// use std::time::Duration;
    /// let clock = ManualClock::new();
    /// clock.advance(Duration::from_millis(5));
    /// clock.advance(Duration::from_millis(5));
    /// assert_eq!(clock.now(), Duration::from_millis(10));
    /// ```
    pub fn advance(&self, by: Duration) {
        self.move_to(|now| now.checked_add(by).ok_or("gosync: ManualClock overflow"));
    }

    /// Sets the time to `to`, completing every sleep whose deadline it reaches. Setting the
    /// current time again does nothing.
    ///
    /// # Panics
    /// `gosync: ManualClock cannot go backwards` if `to` is earlier than the current time:
    /// a clock that went back would break every user's monotonic arithmetic, and silently
    /// ignoring the call would hide the bug in the test. The clock is unchanged and still
    /// usable after the panic.
    ///
    /// ```
    /// use gosync::time::{Clock, ManualClock};
    /// use std::time::Duration;
    /// let clock = ManualClock::new();
    /// clock.set(Duration::from_secs(2));
    /// assert_eq!(clock.now(), Duration::from_secs(2));
    /// let back = std::panic::catch_unwind(|| clock.set(Duration::from_secs(1)));
    /// assert!(back.is_err());
    /// assert_eq!(clock.now(), Duration::from_secs(2));
    /// ```
    pub fn set(&self, to: Duration) {
        self.move_to(|now| if to >= now { Ok(to) } else { Err("gosync: ManualClock cannot go backwards") });
    }

    /// How many sleeps are waiting on this clock right now: those that are registered (a
    /// blocked [`Sleep::wait`], or a [`Sleep`] polled to `Pending`) and not yet completed or
    /// dropped. Tests use it to advance only once a sleeper is in place.
    ///
    /// ```
    /// use gosync::time::{Clock, ManualClock};
    /// use std::future::Future;
    /// use std::task::{Context, Waker};
    /// use std::time::Duration;
    ///
    /// let clock = ManualClock::new();
    /// let mut sleep = clock.sleep(Duration::from_secs(1));
    /// assert_eq!(clock.sleepers(), 0); // not polled yet: not registered
    /// let _ = std::pin::Pin::new(&mut sleep).poll(&mut Context::from_waker(Waker::noop()));
    /// assert_eq!(clock.sleepers(), 1);
    /// drop(sleep);
    /// assert_eq!(clock.sleepers(), 0);
    /// ```
    pub fn sleepers(&self) -> usize {
        self.shared.lock().timers.len()
    }

    fn move_to(&self, to: impl FnOnce(Duration) -> Result<Duration, &'static str>) {
        let mut wakeups = Vec::new();
        let mut state = self.shared.lock();
        let target = match to(state.now) {
            Ok(target) => target,
            Err(message) => {
                // Unlock first: the clock stays usable after the panic.
                drop(state);
                panic!("{message}");
            }
        };
        state.now = target;
        state.timers.expire(target, &mut wakeups);
        drop(state);
        // Woken after unlocking: wakers are user code.
        drop(wakeups);
    }

    /// Registers `waiter` to be completed with `token` when the time reaches `deadline`, or
    /// returns `None` (registering nothing) if it already has.
    pub(super) fn register(
        &self,
        deadline: Duration,
        waiter: &Waiter,
        token: Token,
    ) -> Option<TimerKey<Duration>> {
        let mut state = self.shared.lock();
        if state.now >= deadline {
            return None;
        }
        Some(state.timers.insert(deadline, waiter, token))
    }

    /// Withdraws a registration; false if it had already completed.
    pub(super) fn cancel(&self, key: TimerKey<Duration>) -> bool {
        self.shared.lock().timers.remove(key)
    }
}

// A panic never leaves the clock half-changed: `set` and `advance` panic before they write,
// and expiring timers only moves entries out of the list. So a clock shared with a closure
// that panicked is as good as before (the doc example of `set` relies on it).
impl core::panic::UnwindSafe for ManualClock {}
impl core::panic::RefUnwindSafe for ManualClock {}

impl Default for ManualClock {
    fn default() -> Self {
        ManualClock::new()
    }
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (now, sleepers) = {
            let state = self.shared.lock();
            (state.now, state.timers.len())
        };
        f.debug_struct("ManualClock").field("now", &now).field("sleepers", &sleepers).finish()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Duration {
        self.shared.lock().now
    }

    fn sleep_until(&self, deadline: Duration) -> Sleep {
        Sleep::manual(self.clone(), deadline)
    }
}
