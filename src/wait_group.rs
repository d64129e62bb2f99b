//! [`WaitGroup`]: Go's `sync.WaitGroup`, for threads and async tasks.

use crate::primitive::atomic::{AtomicU64, Ordering};
use crate::primitive::{Arc, Lock};
use crate::waiter::{TaskWaiter, WaitList, Waiter};
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{ready, Context, Poll};

#[cfg(any(feature = "std", loom))]
use crate::primitive::{deadline_after, thread, Instant};
#[cfg(any(feature = "std", loom))]
use core::time::Duration;

// The whole state is one word, so that add, done and an idle wait are one atomic operation:
//   bit 0      WAITERS: someone is registered on the wait list for this round
//   bits 1-32  the counter
//   bits 33-63 the round: bumped when the counter reaches zero with waiters registered, so a
//              waiter can tell "my round ended" from a new round that began meanwhile.
// WAITERS is set and cleared only under the wait list's lock. A counter at zero with WAITERS
// still set is a round that has ended but whose waiters are not yet released: whoever sees
// it first in the result of its own atomic operation (the done that got there, or an add
// that came right after) releases them, in `end_round`.
const WAITERS: u64 = 1;
const ONE: u64 = 1 << 1;
const MAX_COUNT: u64 = u32::MAX as u64;
const ROUND_ONE: u64 = 1 << 33;

fn count(state: u64) -> u64 {
    (state >> 1) & MAX_COUNT
}

fn round(state: u64) -> u64 {
    state >> 33
}

/// Waits for a collection of tasks to finish: Go's `sync.WaitGroup` (with `WaitGroup.Go`).
///
/// [`add`](WaitGroup::add) counts tasks in, [`done`](WaitGroup::done) counts one out, and
/// [`wait`](WaitGroup::wait) blocks until the count is zero. Clones are handles to the same
/// counter. A call to `done` synchronizes with the return of every wait it unblocks: what a
/// task wrote before `done` is visible after `wait`.
///
/// # WaitGroup vs `crossbeam::sync::WaitGroup` and `std::thread::scope`
/// crossbeam's group counts clones (cloning adds, dropping is done) and its wait consumes the
/// handle; here the counter is explicit as in Go, so one group is reused round after round
/// and waited on by several threads or tasks at once, with timeouts and from async code.
/// `std::thread::scope` joins threads it spawned; a WaitGroup counts any work, anywhere.
///
/// # Example
/// ```
/// use gosync::WaitGroup;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
///
/// let wg = WaitGroup::new();
/// let sum = Arc::new(AtomicUsize::new(0));
/// for i in 1..=3 {
///     let sum = sum.clone();
///     wg.go(move || sum.fetch_add(i, Ordering::Relaxed));
/// }
/// wg.wait();
/// assert_eq!(sum.load(Ordering::Relaxed), 6);
/// ```
#[derive(Clone)]
pub struct WaitGroup {
    inner: Arc<Inner>,
}

struct Inner {
    state: AtomicU64,
    waiters: Lock<WaitList>,
}

impl WaitGroup {
    /// A group with a zero counter.
    ///
    /// ```
    /// let wg = gosync::WaitGroup::new();
    /// assert_eq!(wg.count(), 0);
    /// wg.wait(); // zero: returns at once
    /// ```
    pub fn new() -> Self {
        WaitGroup {
            inner: Arc::new(Inner { state: AtomicU64::new(0), waiters: Lock::new(WaitList::default()) }),
        }
    }

    /// Adds `n` to the counter. Call it before starting the work it counts, as in Go.
    ///
    /// # Panics
    /// `gosync: WaitGroup counter overflow` if the counter would exceed `u32::MAX`.
    ///
    /// ```
    /// let wg = gosync::WaitGroup::new();
    /// wg.add(2);
    /// assert_eq!(wg.count(), 2);
    /// ```
    #[inline]
    pub fn add(&self, n: usize) {
        let delta = match u64::try_from(n) {
            Ok(n) if n <= MAX_COUNT => n * ONE,
            _ => panic!("gosync: WaitGroup counter overflow"),
        };
        // Relaxed: adding publishes nothing; `done` carries the happens-before to `wait`.
        let prev = self.inner.state.fetch_add(delta, Ordering::Relaxed);
        if count(prev) + n as u64 > MAX_COUNT {
            self.inner.state.fetch_sub(delta, Ordering::Relaxed);
            panic!("gosync: WaitGroup counter overflow");
        }
        if count(prev) == 0 && prev & WAITERS != 0 && n > 0 {
            // We start a new round before the last one released its waiters: release them
            // now, so that no wait begun after this add can mistake our round for theirs.
            self.end_round(round(prev));
        }
    }

    /// Counts one task out; when the counter reaches zero, every waiter is released.
    ///
    /// # Panics
    /// `gosync: negative WaitGroup counter` if the counter is already zero (as in Go).
    ///
    /// ```
    /// let wg = gosync::WaitGroup::new();
    /// wg.add(1);
    /// wg.done();
    /// assert_eq!(wg.count(), 0);
    /// ```
    #[inline]
    pub fn done(&self) {
        // Release: the task's writes happen before any wait that sees a later state (every
        // change to the state is a read-modify-write, so they all continue this release).
        let prev = self.inner.state.fetch_sub(ONE, Ordering::Release);
        if count(prev) == 0 {
            // The subtraction borrowed from the round: put it back before reporting misuse.
            self.inner.state.fetch_add(ONE, Ordering::Relaxed);
            panic!("gosync: negative WaitGroup counter");
        }
        if count(prev) == 1 && prev & WAITERS != 0 {
            self.end_round(round(prev));
        }
    }

    /// The counter's current value (a snapshot).
    ///
    /// ```
    /// let wg = gosync::WaitGroup::new();
    /// let token = wg.guard();
    /// assert_eq!(wg.count(), 1);
    /// drop(token);
    /// assert_eq!(wg.count(), 0);
    /// ```
    #[inline]
    pub fn count(&self) -> usize {
        count(self.inner.state.load(Ordering::Relaxed)) as usize
    }

    /// Blocks until the counter is zero. Returns at once if it already is.
    ///
    /// ```
    /// let wg = gosync::WaitGroup::new();
    /// wg.add(1);
    /// let worker = wg.clone();
    /// std::thread::spawn(move || worker.done());
    /// wg.wait();
    /// assert_eq!(wg.count(), 0);
    /// ```
    #[cfg(any(feature = "std", loom))]
    pub fn wait(&self) {
        self.wait_until(None);
    }

    /// True if the counter is zero right now: the non-blocking form of [`wait`](Self::wait),
    /// with the same guarantee (every `done` that brought it to zero happens before).
    ///
    /// ```
    /// let wg = gosync::WaitGroup::new();
    /// let token = wg.guard();
    /// assert!(!wg.try_wait());
    /// drop(token);
    /// assert!(wg.try_wait());
    /// ```
    pub fn try_wait(&self) -> bool {
        // Acquire: pairs with the Release of every done() (see `done`).
        count(self.inner.state.load(Ordering::Acquire)) == 0
    }

    /// Blocks until the counter is zero or `timeout` passes. True if the counter reached zero.
    ///
    /// ```
    /// use std::time::Duration;
    /// let wg = gosync::WaitGroup::new();
    /// wg.add(1);
    /// assert!(!wg.wait_timeout(Duration::from_millis(1)));
    /// wg.done();
    /// assert!(wg.wait_timeout(Duration::from_millis(1)));
    /// ```
    #[cfg(any(feature = "std", loom))]
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.wait_until(deadline_after(timeout))
    }

    /// Blocks until the counter is zero or `deadline` passes. True if the counter reached zero.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let wg = gosync::WaitGroup::new();
    /// assert!(wg.wait_deadline(Instant::now() + Duration::from_millis(1)));
    /// ```
    #[cfg(any(feature = "std", loom))]
    pub fn wait_deadline(&self, deadline: Instant) -> bool {
        self.wait_until(Some(deadline))
    }

    /// Waits from an async task until the counter is zero.
    ///
    /// # Cancel safety
    /// Dropping the future only withdraws this waiter; other waiters are unaffected (a round's
    /// end wakes them all).
    ///
    /// ```
    /// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
    /// #     let waker = std::task::Waker::noop();
    /// #     let mut f = std::pin::pin!(f);
    /// #     loop { if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut std::task::Context::from_waker(&waker)) { return v } }
    /// # }
    /// let wg = gosync::WaitGroup::new();
    /// wg.go(|| {});
    /// block_on(wg.wait_async());
    /// assert_eq!(wg.count(), 0);
    /// ```
    pub fn wait_async(&self) -> WaitGroupFuture<'_> {
        WaitGroupFuture { group: self, wait: TaskWaiter::new(), round: 0 }
    }

    /// Runs `f` on a new thread, counted in the group (Go's `WaitGroup.Go`): `add(1)` now,
    /// `done()` when `f` returns or panics. A panic in `f` is not swallowed: the default
    /// panic hook reports it, and it comes back as the `Err` of the handle's `join()`.
    ///
    /// ```
    /// let wg = gosync::WaitGroup::new();
    /// let handle = wg.go(|| 6 * 7);
    /// wg.wait();
    /// assert_eq!(handle.join().unwrap(), 42);
    /// ```
    #[cfg(any(feature = "std", loom))]
    pub fn go<F, R>(&self, f: F) -> thread::JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let token = self.guard();
        thread::spawn(move || {
            // Dropped on return and on unwind alike.
            let _token = token;
            f()
        })
    }

    /// Counts one task in now and returns a [`Token`] that counts it out when dropped,
    /// including during a panic.
    ///
    /// ```
    /// let wg = gosync::WaitGroup::new();
    /// let token = wg.guard();
    /// std::thread::spawn(move || {
    ///     let _token = token; // done() when this thread ends
    /// });
    /// wg.wait();
    /// ```
    pub fn guard(&self) -> Token {
        self.add(1);
        Token { group: self.clone() }
    }

    #[cfg(any(feature = "std", loom))]
    fn wait_until(&self, deadline: Option<Instant>) -> bool {
        // Idle fast path: one Acquire load, pairing with the Release of the last done().
        if self.try_wait() {
            return true;
        }
        loop {
            let waiter = Waiter::current_thread();
            let Some(my_round) = self.register(&waiter) else { return true };
            if waiter.wait_deadline(deadline).is_none() && self.inner.waiters.lock().cancel(&waiter).is_none()
            {
                // Timed out before any wake-up; the round may still have ended just now.
                return self.round_ended(my_round);
            }
            if self.round_ended(my_round) {
                return true;
            }
            // Woken by the end of an earlier round that raced our registration: wait again.
        }
    }

    /// Registers `waiter` for the current round, or returns `None` if the counter is zero.
    fn register(&self, waiter: &Waiter) -> Option<u64> {
        let mut list = self.inner.waiters.lock();
        let state = &self.inner.state;
        let mut current = state.load(Ordering::Acquire);
        // Setting WAITERS under the list lock: the done() that ends this round sees the bit
        // and then takes the list lock, so it finds this registration.
        loop {
            // Zero, even with the last round's release still pending: nothing to wait for.
            if count(current) == 0 {
                return None;
            }
            if current & WAITERS != 0 {
                break;
            }
            match state.compare_exchange_weak(
                current,
                current | WAITERS,
                Ordering::Acquire,
                Ordering::Acquire,
            ) {
                Ok(_) => current |= WAITERS,
                Err(actual) => current = actual,
            }
        }
        list.register(waiter);
        Some(round(current))
    }

    fn round_ended(&self, my_round: u64) -> bool {
        // Acquire: pairs with the Release of the done() that ended the round.
        round(self.inner.state.load(Ordering::Acquire)) != my_round
    }

    /// Releases the waiters of `ended`, a round whose counter reached zero, unless someone
    /// else (the racing add, or that round's own done) already did. The round changes only
    /// here, under the list lock, so a stale call cannot release a later round's waiters
    /// (found by the loom model `add_races_round_release`).
    fn end_round(&self, ended: u64) {
        let mut list = self.inner.waiters.lock();
        let current = self.inner.state.load(Ordering::Relaxed);
        if round(current) != ended || current & WAITERS == 0 {
            return;
        }
        // Clear WAITERS (known set, and stable under the list lock) and bump the round, in
        // one step that leaves the counter alone: a new round may already have begun.
        // AcqRel: waiters that see the new round also see every done of the old one.
        self.inner.state.fetch_add(ROUND_ONE - WAITERS, Ordering::AcqRel);
        let wakeups = list.notify_all();
        // Wakers are user code: they run after the list's lock is released.
        drop(list);
        drop(wakeups);
    }
}

impl Default for WaitGroup {
    fn default() -> Self {
        WaitGroup::new()
    }
}

impl fmt::Debug for WaitGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitGroup").field("count", &self.count()).finish()
    }
}

/// One task counted in a [`WaitGroup`]; dropping it calls [`done`](WaitGroup::done).
///
/// ```
/// let wg = gosync::WaitGroup::new();
/// let token = wg.guard();
/// assert_eq!(wg.count(), 1);
/// drop(token);
/// wg.wait();
/// ```
#[must_use = "dropping the token counts the task out at once"]
pub struct Token {
    group: WaitGroup,
}

impl Drop for Token {
    fn drop(&mut self) {
        self.group.done();
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token").field("group", &self.group).finish()
    }
}

/// The future of [`WaitGroup::wait_async`].
///
/// # Cancel safety
/// Dropping it only withdraws this waiter.
///
/// ```
/// use std::future::Future;
/// use std::task::{Context, Poll, Waker};
/// let wg = gosync::WaitGroup::new();
/// let mut cx = Context::from_waker(Waker::noop());
/// let token = wg.guard();
/// let mut waiting = Box::pin(wg.wait_async());
/// assert!(waiting.as_mut().poll(&mut cx).is_pending());
/// drop(token);
/// assert_eq!(waiting.as_mut().poll(&mut cx), Poll::Ready(()));
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct WaitGroupFuture<'a> {
    group: &'a WaitGroup,
    wait: TaskWaiter,
    /// The round `wait` waits for.
    round: u64,
}

impl Future for WaitGroupFuture<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let woken = ready!(this.wait.poll(cx.waker())).is_some();
        // A wake-up may come from an earlier round that raced our registration: check ours.
        let done = if woken { this.group.round_ended(this.round) } else { this.group.try_wait() };
        if done {
            return Poll::Ready(());
        }
        match this.group.register(this.wait.arm(cx.waker())) {
            None => Poll::Ready(()),
            Some(round) => {
                this.round = round;
                this.wait.set_registered();
                Poll::Pending
            }
        }
    }
}

impl Drop for WaitGroupFuture<'_> {
    fn drop(&mut self) {
        if let Some(waiter) = self.wait.registered() {
            // No hand-over needed: the end of a round wakes every waiter.
            self.group.inner.waiters.lock().cancel(waiter);
        }
    }
}
