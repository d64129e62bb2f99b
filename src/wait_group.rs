//! [`WaitGroup`]: Go's `sync.WaitGroup`, for threads and async tasks.

use crate::primitive::atomic::{AtomicUsize, Ordering};
use crate::primitive::{Arc, Lock};
use crate::waiter::{TaskWaiter, WaitList, Waiter};
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{ready, Context, Poll};
use futures_core::future::FusedFuture;

#[cfg(any(feature = "std", loom))]
use crate::primitive::{deadline_after, thread, Instant};
#[cfg(any(feature = "std", loom))]
use core::time::Duration;

// The whole state is one pointer-sized word, so that add, done and an idle wait are one atomic
// operation on every target with pointer-sized atomics (32-bit microcontrollers included):
//   bit 0      WAITERS: someone is registered on the wait list for the current round
//   bits 1..   the counter, at most MAX_COUNT
// WAITERS is set and cleared only under the wait list's lock. A counter at zero with WAITERS
// still set is a round that has ended but whose waiters are not yet released ("pending").
// That state is frozen until someone releases it (`release_ended_round`): `done` refuses to go
// below zero, `register` does not touch a zero counter, and `add` releases the ended round
// *before* its own increment lands. So a waiter registered while the counter was above zero is
// completed only by the end of that very round, never by a release of an earlier round that a
// new `add` overtook; and a notified waiter needs no round number to know its round ended.
// The word holds no round number, so nothing in it can wrap around, whatever its width.
const WAITERS: usize = 1;
const ONE: usize = 1 << 1;
const MAX_COUNT: usize = usize::MAX >> 1;

fn count(state: usize) -> usize {
    state >> 1
}

/// The state's value, to start a compare-and-swap loop with (a stale value only costs a retry).
#[inline]
fn snapshot(state: &AtomicUsize) -> usize {
    // Under loom, read it with a read-modify-write that changes nothing. loom's partial-order
    // reduction remembers only the last access to an atomic, so another thread's load that
    // came before our load and CAS is never reordered after the CAS (loom issues 166 and 392):
    // a model would miss, e.g., a `try_wait` that sees the zero our `done` makes. The price:
    // under loom this read is never stale, so the misuse checks below, which confirm a
    // suspicious (possibly stale) snapshot with a read-modify-write before they panic, are
    // only model-checked with this line turned into a plain load (the loom models
    // `done_after_relaxed_handoff_of_add` and `add_after_relaxed_handoff_of_done` then fail
    // without the confirmation).
    #[cfg(loom)]
    return state.fetch_add(0, Ordering::Relaxed);
    #[cfg(not(loom))]
    state.load(Ordering::Relaxed)
}

/// Waits for a collection of tasks to finish: Go's `sync.WaitGroup` (with `WaitGroup.Go`).
///
/// [`add`](WaitGroup::add) counts tasks in, [`done`](WaitGroup::done) counts one out, and
/// [`wait`](WaitGroup::wait) blocks until the count is zero. Clones are handles to the same
/// counter. A call to `done` synchronizes with the return of every wait it unblocks: what a
/// task wrote before `done` is visible after `wait`.
///
/// Misuse panics and leaves the counter as it was: `done` on a zero counter panics with
/// `gosync: negative WaitGroup counter` (as in Go), and an `add` past the counter's limit
/// with `gosync: WaitGroup counter overflow`. Neither disturbs other handles or waiters.
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
    state: AtomicUsize,
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
            inner: Arc::new(Inner { state: AtomicUsize::new(0), waiters: Lock::new(WaitList::default()) }),
        }
    }

    /// Adds `n` to the counter. Call it before starting the work it counts, as in Go.
    ///
    /// # Panics
    /// `gosync: WaitGroup counter overflow` if the counter would exceed `isize::MAX`
    /// (`i32::MAX` on 32-bit targets). The counter is left as it was.
    ///
    /// ```
    /// let wg = gosync::WaitGroup::new();
    /// wg.add(2);
    /// assert_eq!(wg.count(), 2);
    /// ```
    #[inline]
    pub fn add(&self, n: usize) {
        let state = &self.inner.state;
        let mut current = snapshot(state);
        loop {
            if current == WAITERS && n > 0 {
                // The last round ended but its waiters are not released yet: release them
                // before our increment lands. Otherwise a wait starting after our increment
                // would join that round's list and be woken by its late release, while the
                // counter holds our count.
                self.release_ended_round();
                current = snapshot(state);
                continue;
            }
            // Check before changing anything: a panic leaves the state as it was.
            if n > MAX_COUNT - count(current) {
                // A plain load may be stale: confirm with a read-modify-write before panicking.
                current = state.fetch_add(0, Ordering::Relaxed);
                if n > MAX_COUNT - count(current) {
                    overflow();
                }
                continue;
            }
            // Relaxed: adding publishes nothing; `done` carries the happens-before to `wait`.
            match state.compare_exchange_weak(
                current,
                current + n * ONE,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(actual) => current = actual,
            }
        }
    }

    /// Counts one task out; when the counter reaches zero, every waiter is released.
    ///
    /// # Panics
    /// `gosync: negative WaitGroup counter` if the counter is already zero (as in Go). The
    /// counter stays zero.
    ///
    /// ```
    /// let wg = gosync::WaitGroup::new();
    /// wg.add(1);
    /// wg.done();
    /// assert_eq!(wg.count(), 0);
    /// ```
    #[inline]
    pub fn done(&self) {
        let state = &self.inner.state;
        let mut current = snapshot(state);
        loop {
            // Check before changing anything: a panic leaves the state as it was.
            if count(current) == 0 {
                // A plain load may be stale (an add that reached us through a Relaxed flag):
                // confirm with a read-modify-write, which reads the latest value.
                current = state.fetch_add(0, Ordering::Relaxed);
                if count(current) == 0 {
                    negative();
                }
                continue;
            }
            // Release: the task's writes happen before any wait that sees a later state (every
            // change to the state is a read-modify-write, so they all continue this release).
            match state.compare_exchange_weak(current, current - ONE, Ordering::Release, Ordering::Relaxed) {
                Ok(_) => break,
                Err(actual) => current = actual,
            }
        }
        if current == ONE | WAITERS {
            self.release_ended_round();
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
    #[must_use]
    pub fn count(&self) -> usize {
        count(self.inner.state.load(Ordering::Relaxed))
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
    #[must_use]
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
        WaitGroupFuture { group: self, wait: TaskWaiter::new(), terminated: false }
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
        let waiter = Waiter::current_thread();
        if !self.register(&waiter) {
            return true;
        }
        // Completed: only the release of the round we registered in completes us.
        if waiter.wait_deadline(deadline).is_some() {
            return true;
        }
        let mut list = self.inner.waiters.lock();
        if list.cancel(&waiter).is_some() {
            return true; // released just as we timed out
        }
        // Timed out and withdrawn before any release. Our round has not been released, so it
        // either still runs (counter above zero) or has ended and awaits its release (zero;
        // an `add` cannot land before that release). Acquire: as in `try_wait`.
        let zero = count(self.inner.state.load(Ordering::Acquire)) == 0;
        drop(list);
        zero
    }

    /// Registers `waiter` for the current round. False (and not registered) if the counter
    /// is zero, which includes an ended round whose release is still pending.
    fn register(&self, waiter: &Waiter) -> bool {
        let mut list = self.inner.waiters.lock();
        let state = &self.inner.state;
        // Acquire (here and on the CAS): a zero we return on pairs with the last done().
        let mut current = state.load(Ordering::Acquire);
        // Setting WAITERS under the list lock: the done() that ends this round sees the bit
        // and then takes the list lock, so it finds this registration.
        loop {
            if count(current) == 0 {
                return false;
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
                Ok(_) => break,
                Err(actual) => current = actual,
            }
        }
        list.register(waiter);
        true
    }

    /// Releases the waiters of the round that ended, unless someone else (its last done, or
    /// an add that came right after) already did.
    #[cold]
    #[inline(never)]
    fn release_ended_round(&self) {
        let mut list = self.inner.waiters.lock();
        // Relaxed suffices to decide: our caller saw the ended round (zero with WAITERS) in
        // its own atomic operation, so this load returns that state or a later one, and the
        // state leaves "ended" only through a release, made under this lock. "Ended" is frozen
        // meanwhile, so a stale call (its round already released, a later one ended since)
        // releases that later round, which is just as right.
        if self.inner.state.load(Ordering::Relaxed) != WAITERS {
            return;
        }
        // A read-modify-write, not a store: it continues the release sequence of every done.
        // Acquire: we see every done of the round and pass that on to the waiters we complete.
        self.inner.state.fetch_and(!WAITERS, Ordering::AcqRel);
        // Wake after unlocking: a task's waker is user code and must not run under our lock.
        let _wake = list.notify_all();
        drop(list);
    }
}

#[cold]
#[inline(never)]
#[track_caller]
fn overflow() -> ! {
    panic!("gosync: WaitGroup counter overflow")
}

#[cold]
#[inline(never)]
#[track_caller]
fn negative() -> ! {
    panic!("gosync: negative WaitGroup counter")
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
/// It is a [`FusedFuture`]: once it has returned `Ready`, `is_terminated` is true and further
/// polls return `Ready` again at once (it does not wait for a later round).
///
/// # Cancel safety
/// Dropping it only withdraws this waiter.
///
/// ```
/// use futures_core::future::FusedFuture;
/// use std::future::Future;
/// use std::task::{Context, Poll, Waker};
/// let wg = gosync::WaitGroup::new();
/// let mut cx = Context::from_waker(Waker::noop());
/// let token = wg.guard();
/// let mut waiting = Box::pin(wg.wait_async());
/// assert!(waiting.as_mut().poll(&mut cx).is_pending());
/// assert!(!waiting.is_terminated());
/// drop(token);
/// assert_eq!(waiting.as_mut().poll(&mut cx), Poll::Ready(()));
/// assert!(waiting.is_terminated());
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct WaitGroupFuture<'a> {
    group: &'a WaitGroup,
    /// Registered on the group's wait list while pending.
    wait: TaskWaiter,
    /// Returned `Ready`: later polls return `Ready` again at once.
    terminated: bool,
}

impl Future for WaitGroupFuture<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if this.terminated {
            return Poll::Ready(());
        }
        let woken = ready!(this.wait.poll(cx.waker())).is_some();
        // Woken: only the release of the round we registered in completes our waiter.
        if woken || this.group.try_wait() {
            this.terminated = true;
            return Poll::Ready(());
        }
        // Armed before taking the list's lock: it may clone the waker (user code).
        if this.group.register(this.wait.arm(cx.waker())) {
            this.wait.set_registered();
            Poll::Pending
        } else {
            this.terminated = true;
            Poll::Ready(())
        }
    }
}

impl FusedFuture for WaitGroupFuture<'_> {
    /// True once the future has returned `Ready`.
    fn is_terminated(&self) -> bool {
        self.terminated
    }
}

impl fmt::Debug for WaitGroupFuture<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitGroupFuture")
            .field("group", self.group)
            .field("registered", &self.wait.registered().is_some())
            .field("terminated", &self.terminated)
            .finish()
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
