//! Clocks and sleeps: Go's `time.Sleep` for threads and async tasks, on real time or on a
//! [`ManualClock`] that tests move by hand.
//!
//! A [`Clock`] tells the time since its own origin and makes [`Sleep`]s that complete when it
//! reaches a deadline. Everything in gosync that waits for time (limiters, channel timers)
//! takes a clock, so the same code runs on real time ([`MonotonicClock`]) in production and on
//! deterministic time ([`ManualClock`]) in tests.
//!
//! | item | Go | what it does |
//! |---|---|---|
//! | [`sleep`], [`sleep_until`] | `time.Sleep` | a [`Sleep`] on real time: `.await` it or [`wait`](Sleep::wait) |
//! | [`MonotonicClock`] | `time.Now`, `time.Since` | real, monotonic time from the clock's creation |
//! | [`ManualClock`] | | time that moves only by [`advance`](ManualClock::advance) / [`set`](ManualClock::set) |
//!
//! # How sleeps are served
//! An async [`Sleep`] on real time is one entry in a single, process-wide timer thread,
//! started lazily by the first sleep that has to wait: it parks until the earliest
//! deadline, wakes the tasks that are due, and parks again. There is no thread per sleep, and
//! a dropped sleep's entry is removed at once, so memory follows the sleeps still waiting.
//! A blocking [`Sleep::wait`] on real time does not involve that thread: it parks the calling
//! thread until the deadline. Sleeps on a [`ManualClock`] are kept by the clock itself and
//! complete inside `advance`/`set`; no thread is involved.
//!
//! # Under loom
//! loom has no time. Sleeps on a [`ManualClock`] are fully modelled (they complete when the
//! model advances the clock). A real-time sleep completes after one scheduling point, as
//! every other timed wait in gosync times out under loom: a blocking `wait` yields once, and
//! a polled `Sleep` wakes itself, returns `Pending` once and is ready on its next poll.
//!
//! # Under Miri
//! The timer thread, once started, lives as long as the process, and Miri reports a thread
//! still running when `main` returns as an error. A Miri run of tests that await real-time
//! sleeps therefore needs `MIRIFLAGS=-Zmiri-ignore-leaks`; blocking waits and sleeps on a
//! [`ManualClock`] start no thread and need nothing.
//!
//! # Example
//! ```
//! use gosync::time::{self, Clock, ManualClock};
//! use std::time::{Duration, Instant};
//!
//! // Real time, blocking.
//! let start = Instant::now();
//! time::sleep(Duration::from_millis(2)).wait();
//! assert!(start.elapsed() >= Duration::from_millis(2));
//!
//! // Deterministic time: nothing completes until the test says so.
//! let clock = ManualClock::new();
//! let nap = clock.sleep(Duration::from_secs(10));
//! clock.advance(Duration::from_secs(10));
//! nap.wait(); // due already: returns at once
//! ```

mod clock;
pub(crate) mod timer;
#[cfg(any(feature = "std", loom))]
mod tsc;

pub use clock::ManualClock;
#[cfg(any(feature = "std", loom))]
pub use clock::MonotonicClock;

use crate::waiter::{TaskWaiter, Token, Waiter, NOTIFIED};
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use core::time::Duration;
use futures_core::FusedFuture;
use timer::TimerKey;

#[cfg(any(feature = "std", loom))]
use crate::primitive::{thread, Instant};

/// A source of monotonic time that can also wait for it.
///
/// [`now`](Clock::now) is the time since the clock's own origin and never decreases;
/// [`sleep_until`](Clock::sleep_until) returns a [`Sleep`] that completes once `now` reaches
/// the deadline. Code that waits for time takes a `Clock`, so tests can hand it a
/// [`ManualClock`] and run deterministically.
///
/// The trait has no supertraits: a type holding a clock is `Send`, `Sync` or `Clone` exactly
/// when the clock is. Both gosync clocks are all three, and cheap to clone.
///
/// # Implementing a clock
/// A clock of your own makes its sleeps from one of gosync's, converting the deadline:
///
/// ```
/// use gosync::time::{Clock, MonotonicClock, Sleep};
/// use std::time::Duration;
///
/// /// Real time that starts at `offset` instead of zero.
/// struct Offset {
///     base: MonotonicClock,
///     offset: Duration,
/// }
///
/// impl Clock for Offset {
///     fn now(&self) -> Duration {
///         self.base.now() + self.offset
///     }
///     fn sleep_until(&self, deadline: Duration) -> Sleep {
///         self.base.sleep_until(deadline.saturating_sub(self.offset))
///     }
/// }
///
/// let clock = Offset { base: MonotonicClock::new(), offset: Duration::from_secs(100) };
/// let deadline = clock.now() + Duration::from_millis(1);
/// clock.sleep_until(deadline).wait();
/// assert!(clock.now() >= deadline);
/// ```
pub trait Clock {
    /// The time elapsed since this clock's origin. Never less than an earlier reading.
    ///
    /// ```
    /// use gosync::time::{Clock, ManualClock};
    /// use std::time::Duration;
    /// let clock = ManualClock::new();
    /// clock.advance(Duration::from_millis(3));
    /// assert_eq!(clock.now(), Duration::from_millis(3));
    /// ```
    fn now(&self) -> Duration;

    /// [`now`](Clock::now) in whole nanoseconds (saturating at `u64::MAX`, about 584 years).
    /// Limiters read the time through it. The default converts `now()`; a clock that counts
    /// nanoseconds itself overrides it to skip the round trip through `Duration` (a division
    /// and a multiplication on every read), as [`MonotonicClock`] does.
    ///
    /// ```
    /// use gosync::time::{Clock, ManualClock};
    /// use std::time::Duration;
    /// let clock = ManualClock::new();
    /// clock.advance(Duration::from_micros(3));
    /// assert_eq!(clock.now_nanos(), 3_000);
    /// ```
    #[inline]
    fn now_nanos(&self) -> u64 {
        u64::try_from(self.now().as_nanos()).unwrap_or(u64::MAX)
    }

    /// A [`Sleep`] that completes once [`now`](Clock::now) reaches `deadline` (at once if it
    /// already has).
    ///
    /// ```
    /// use gosync::time::{Clock, ManualClock};
    /// use std::time::Duration;
    /// let clock = ManualClock::new();
    /// let sleep = clock.sleep_until(Duration::from_secs(5));
    /// clock.set(Duration::from_secs(5));
    /// sleep.wait(); // returns at once: the deadline is reached
    /// ```
    fn sleep_until(&self, deadline: Duration) -> Sleep;

    /// A [`Sleep`] that completes once `duration` has passed on this clock, counted from now.
    ///
    /// ```
    /// use gosync::time::{Clock, MonotonicClock};
    /// use std::time::Duration;
    /// let clock = MonotonicClock::new();
    /// clock.sleep(Duration::from_millis(1)).wait();
    /// assert!(clock.now() >= Duration::from_millis(1));
    /// ```
    fn sleep(&self, duration: Duration) -> Sleep {
        self.sleep_until(self.now().saturating_add(duration))
    }
}

/// Sleeps for `duration` of real time: Go's `time.Sleep`. `.await` the result from a task, or
/// call [`wait`](Sleep::wait) on it to block a thread.
///
/// ```
/// use std::time::{Duration, Instant};
/// let start = Instant::now();
/// gosync::time::sleep(Duration::from_millis(5)).wait();
/// assert!(start.elapsed() >= Duration::from_millis(5));
/// ```
#[cfg(any(feature = "std", loom))]
pub fn sleep(duration: Duration) -> Sleep {
    Sleep::realtime(instant_after(Instant::now(), duration))
}

/// Sleeps until `deadline` in real time (returns at once if it has passed).
///
/// ```
/// use std::time::{Duration, Instant};
/// let deadline = Instant::now() + Duration::from_millis(5);
/// gosync::time::sleep_until(deadline).wait();
/// assert!(Instant::now() >= deadline);
/// ```
#[cfg(any(feature = "std", loom))]
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep::realtime(deadline)
}

/// Roughly 30 years: the stand-in for a deadline too far away for an `Instant`.
#[cfg(any(feature = "std", loom))]
const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

/// `base + after`, or a deadline that is in practice never reached when that overflows.
#[cfg(any(feature = "std", loom))]
fn instant_after(base: Instant, after: Duration) -> Instant {
    base.checked_add(after).unwrap_or_else(|| base + FAR_FUTURE)
}

/// Sleeps in the global timer right now (registered and not yet fired or dropped). Not a
/// public API: tests use it to show that dropped sleeps leave nothing behind.
#[doc(hidden)]
#[cfg(all(feature = "std", not(loom)))]
pub fn __pending_timers() -> usize {
    timer::pending()
}

/// How many times the global timer thread was started in this process (0 or 1). Not a
/// public API.
#[doc(hidden)]
#[cfg(all(feature = "std", not(loom)))]
pub fn __timer_threads_started() -> usize {
    timer::threads_started()
}

/// A wait until a deadline on some [`Clock`]: a future, and with `std` a blocking
/// [`wait`](Sleep::wait). Made by [`sleep`], [`sleep_until`] and [`Clock::sleep_until`].
///
/// The deadline is fixed when the `Sleep` is created; the sleep is registered with its clock
/// the first time it has to wait. Completion synchronizes with the clock's move that reached
/// the deadline (a [`ManualClock`] `advance` or `set`).
///
/// # What a sleep costs
/// Creating one allocates nothing. The first poll that returns `Pending` allocates the task's
/// waiter (one small `Arc`, reused by later polls) and one timer entry, in the global timer
/// for real time or in the [`ManualClock`]'s list; the entry is freed when the sleep
/// completes or is dropped, so a million dropped sleeps leave nothing behind. A blocking
/// [`wait`](Sleep::wait) on real time parks the thread with no allocation; on a `ManualClock`
/// it reuses the thread's cached waiter and adds one timer entry.
///
/// # Cancel safety
/// Dropping a `Sleep` withdraws its timer entry at once: it never wakes anyone afterwards
/// (apart from a wake-up already on its way to its own task) and does not delay or disturb
/// any other sleep. A sleep has no value to lose, so dropping it at any point is safe.
///
/// ```
/// use gosync::time::{Clock, ManualClock};
/// use std::future::Future;
/// use std::pin::Pin;
/// use std::task::{Context, Poll, Waker};
/// use std::time::Duration;
///
/// let clock = ManualClock::new();
/// let mut cx = Context::from_waker(Waker::noop());
/// let mut sleep = clock.sleep(Duration::from_millis(10));
/// assert!(Pin::new(&mut sleep).poll(&mut cx).is_pending());
/// clock.advance(Duration::from_millis(10));
/// assert_eq!(Pin::new(&mut sleep).poll(&mut cx), Poll::Ready(()));
///
/// // A dropped sleep leaves nothing registered.
/// let mut dropped = clock.sleep(Duration::from_millis(10));
/// assert!(Pin::new(&mut dropped).poll(&mut cx).is_pending());
/// drop(dropped);
/// assert_eq!(clock.sleepers(), 0);
/// ```
#[must_use = "futures do nothing unless polled; call .wait() to block"]
pub struct Sleep {
    kind: Kind,
    wait: TaskWaiter,
    /// Completed (returned `Ready` or finished `wait`).
    done: bool,
}

enum Kind {
    /// Real time: the global timer thread (or, under loom, one scheduling point).
    #[cfg(any(feature = "std", loom))]
    Realtime {
        deadline: Instant,
        /// The global timer entry while registered.
        #[cfg(not(loom))]
        key: Option<TimerKey<Instant>>,
        /// Under loom: the one `Pending` it returns has been returned.
        #[cfg(loom)]
        yielded: bool,
    },
    /// A [`ManualClock`]'s time.
    Manual { clock: ManualClock, deadline: Duration, key: Option<TimerKey<Duration>> },
}

impl Sleep {
    #[cfg(any(feature = "std", loom))]
    fn realtime(deadline: Instant) -> Self {
        Sleep::new(Kind::Realtime {
            deadline,
            #[cfg(not(loom))]
            key: None,
            #[cfg(loom)]
            yielded: false,
        })
    }

    fn manual(clock: ManualClock, deadline: Duration) -> Self {
        Sleep::new(Kind::Manual { clock, deadline, key: None })
    }

    fn new(kind: Kind) -> Self {
        Sleep { kind, wait: TaskWaiter::new(), done: false }
    }

    /// Blocks the calling thread until the deadline. On real time it parks until then; on a
    /// [`ManualClock`] it returns when another thread's `advance` or `set` reaches the
    /// deadline, and blocks for good if nothing ever does. Returns at once if the deadline
    /// has passed. A `Sleep` polled before may be waited on: its task registration is
    /// withdrawn first.
    ///
    /// ```
    /// use gosync::time::{Clock, ManualClock};
    /// use std::time::Duration;
    ///
    /// let clock = ManualClock::new();
    /// let advancer = {
    ///     let clock = clock.clone();
    ///     std::thread::spawn(move || {
    ///         while clock.sleepers() == 0 {
    ///             std::thread::yield_now();
    ///         }
    ///         clock.advance(Duration::from_secs(1));
    ///     })
    /// };
    /// clock.sleep(Duration::from_secs(1)).wait();
    /// assert_eq!(clock.now(), Duration::from_secs(1));
    /// advancer.join().unwrap();
    /// ```
    #[cfg(any(feature = "std", loom))]
    pub fn wait(mut self) {
        if self.done {
            return;
        }
        self.deregister();
        match &mut self.kind {
            Kind::Manual { .. } => {
                let waiter = Waiter::current_thread();
                if self.kind.register(&waiter, NOTIFIED) {
                    // Only the clock completes this registration (there is no timeout), and it
                    // removes the entry as it does: nothing to cancel afterwards.
                    waiter.wait();
                }
            }
            Kind::Realtime { deadline, .. } => {
                // No timer thread needed: park this thread until the deadline. A spurious
                // wake-up (a late unpark meant for an earlier wait) just parks again. Under
                // loom a timed park is one scheduling point, after which the deadline counts
                // as passed.
                let parker = thread::Parker::current();
                while !parker.park_deadline(*deadline) {}
            }
        }
        self.done = true;
    }

    /// For gosync primitives that wait for this deadline and for something else at once (a
    /// limiter that can be closed, a timer case of a select): registers `waiter`'s current
    /// wait to be completed with `token` at the deadline, on whichever clock made this sleep.
    /// False, registering nothing, if the deadline has passed (and, under loom, always for
    /// real time: the deadline counts as passed). The caller keeps `waiter` alive while it is
    /// registered and withdraws it with [`deregister`](Self::deregister).
    #[allow(dead_code)] // limiters and channel timers build on it
    pub(crate) fn register_waiter(&mut self, waiter: &Waiter, token: Token) -> bool {
        self.kind.register(waiter, token)
    }

    /// Withdraws the timer entry, if registered. The registration may have fired already
    /// (completing its waiter); then there is nothing to withdraw and nothing to pass on, as
    /// a sleep's completion is its own. Idempotent.
    pub(crate) fn deregister(&mut self) {
        self.kind.deregister();
    }
}

impl Kind {
    /// The deadline has passed (under loom, a real-time one always has).
    fn is_due(&self) -> bool {
        match self {
            #[cfg(all(feature = "std", not(loom)))]
            Kind::Realtime { deadline, .. } => Instant::now() >= *deadline,
            #[cfg(loom)]
            Kind::Realtime { .. } => true,
            Kind::Manual { clock, deadline, .. } => clock.now() >= *deadline,
        }
    }

    /// Registers `waiter` (first withdrawing an earlier registration of this sleep) to be
    /// completed with `token` at the deadline. False, registering nothing, if it has passed.
    fn register(&mut self, waiter: &Waiter, token: Token) -> bool {
        self.deregister();
        match self {
            #[cfg(all(feature = "std", not(loom)))]
            Kind::Realtime { deadline, key } => {
                if Instant::now() >= *deadline {
                    return false;
                }
                *key = Some(timer::register(*deadline, waiter, token));
                true
            }
            #[cfg(loom)]
            Kind::Realtime { .. } => false,
            Kind::Manual { clock, deadline, key } => {
                // Checked again under the clock's lock: registers nothing if an advance
                // reached the deadline since the caller looked.
                *key = clock.register(*deadline, waiter, token);
                key.is_some()
            }
        }
    }

    fn deregister(&mut self) {
        match self {
            #[cfg(all(feature = "std", not(loom)))]
            Kind::Realtime { key, .. } => {
                if let Some(key) = key.take() {
                    timer::cancel(key);
                }
            }
            #[cfg(loom)]
            Kind::Realtime { .. } => {}
            Kind::Manual { clock, key, .. } => {
                if let Some(key) = key.take() {
                    clock.cancel(key);
                }
            }
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(());
        }
        match this.wait.poll(cx.waker()) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Some(_)) => {
                // Completed by its timer, which removed the entry as it fired.
                this.deregister();
                this.done = true;
                return Poll::Ready(());
            }
            Poll::Ready(None) => {} // not registered: a first poll
        }
        #[cfg(loom)]
        if let Kind::Realtime { yielded, .. } = &mut this.kind {
            if !*yielded {
                // No time under loom: one round trip through the executor stands for the wait.
                *yielded = true;
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
        }
        // Armed before the clock's lock is taken (arming may clone the waker); the check
        // first spares that when the deadline has already passed.
        let registered = !this.kind.is_due() && this.kind.register(this.wait.arm(cx.waker()), NOTIFIED);
        if registered {
            this.wait.set_registered();
            Poll::Pending
        } else {
            this.done = true;
            Poll::Ready(())
        }
    }
}

impl FusedFuture for Sleep {
    fn is_terminated(&self) -> bool {
        self.done
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        // Withdraw the entry before the TaskWaiter (a later field) drops its waker: the
        // registration then never outlives the waker it would wake.
        self.deregister();
    }
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("Sleep");
        match &self.kind {
            #[cfg(any(feature = "std", loom))]
            Kind::Realtime { deadline, .. } => s.field("deadline", deadline),
            Kind::Manual { deadline, .. } => s.field("manual_deadline", deadline),
        };
        s.field("done", &self.done).finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::waiter::WaitList;
    use core::task::Waker;

    /// A primitive waiting for a deadline or a close, whichever comes first, registers one
    /// waiter on a sleep and on its own list with two tokens.
    #[test]
    fn a_waiter_on_a_sleep_and_a_list_is_completed_once() {
        let clock = ManualClock::new();
        let (timeout, closed) = (Token::case(2), Token::case(3)); // neither is NOTIFIED

        // The list completes it first; the sleep's entry is then withdrawn.
        let mut sleep = clock.sleep(Duration::from_secs(1));
        let mut list = WaitList::new();
        let waiter = Waiter::task(Waker::noop());
        assert!(sleep.register_waiter(&waiter, timeout));
        list.register_with(&waiter, closed, ());
        assert_eq!(clock.sleepers(), 1);
        drop(list.notify_one().expect("the waiter"));
        sleep.deregister();
        assert_eq!(clock.sleepers(), 0);
        clock.advance(Duration::from_secs(1));
        assert_eq!(waiter.token(), Some(closed));

        // The clock completes it first; the list then skips the dead registration.
        let mut sleep = clock.sleep(Duration::from_secs(1));
        let waiter = Waiter::task(Waker::noop());
        assert!(sleep.register_waiter(&waiter, timeout));
        list.register_with(&waiter, closed, ());
        clock.advance(Duration::from_secs(1));
        assert_eq!(waiter.token(), Some(timeout));
        assert!(list.notify_one().is_none());
        sleep.deregister(); // after it fired: nothing to withdraw
        assert!(!sleep.register_waiter(&waiter, timeout), "due: registers nothing");
        assert_eq!(clock.sleepers(), 0);
    }
}
