//! [`Cond`]: Go's `sync.Cond`, for threads and async tasks, waiting on a [`Mutex`].

use crate::mutex::{LockFuture, Mutex, MutexGuard};
use crate::primitive::atomic::{AtomicBool, Ordering};
use crate::primitive::Lock;
use crate::waiter::{TaskWaiter, WaitList, Waiter, Wakeup};
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{ready, Context, Poll};
use futures_core::FusedFuture;

#[cfg(any(feature = "std", loom))]
use crate::primitive::{deadline_after, Instant};
#[cfg(any(feature = "std", loom))]
use core::time::Duration;

/// A condition variable: Go's `sync.Cond`. Threads or tasks wait on it until another one
/// signals that the state they watch, kept under a [`Mutex`], may have changed.
///
/// A `signal` or `broadcast` synchronizes with the return of the waits it wakes; as with every
/// condition variable, a waiter re-checks its condition under the lock
/// ([`wait_while`](Cond::wait_while) does so for you).
///
/// # Cond vs `std::sync::Condvar`
/// Like Go's `sync.Cond`, it is not bound to one mutex and never wakes spuriously on its
/// own; `signal` wakes the longest waiter (FIFO). It also waits from async tasks
/// ([`wait_async`](Cond::wait_async)) and works with gosync's [`Mutex`] only.
///
/// # Example
/// ```
/// use gosync::{Cond, Mutex};
/// use std::sync::Arc;
///
/// let ready = Arc::new((Mutex::new(false), Cond::new()));
/// let setter = {
///     let ready = ready.clone();
///     std::thread::spawn(move || {
///         *ready.0.lock() = true;
///         ready.1.signal();
///     })
/// };
/// let (lock, cond) = &*ready;
/// let mut guard = lock.lock();
/// cond.wait_while(&mut guard, |ready| !*ready);
/// assert!(*guard);
/// setter.join().unwrap();
/// ```
pub struct Cond {
    waiters: Lock<WaitList>,
    /// Mirrors `!waiters.is_empty()`, so that signalling nobody costs one load, no lock.
    has_waiters: AtomicBool,
}

impl Cond {
    /// A condition variable with no waiters. A `const fn`, so a `Cond` can be a `static`
    /// (except under loom, whose types cannot be built in a const context).
    ///
    /// ```
    /// use gosync::{Cond, Mutex};
    /// static READY: Mutex<bool> = Mutex::new(false);
    /// static CHANGED: Cond = Cond::new();
    /// std::thread::spawn(|| {
    ///     *READY.lock() = true;
    ///     CHANGED.broadcast();
    /// });
    /// let mut ready = READY.lock();
    /// CHANGED.wait_while(&mut ready, |ready| !*ready);
    /// ```
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        Cond { waiters: Lock::new(WaitList::new()), has_waiters: AtomicBool::new(false) }
    }

    /// A condition variable with no waiters.
    #[cfg(loom)]
    pub fn new() -> Self {
        Cond { waiters: Lock::new(WaitList::new()), has_waiters: AtomicBool::new(false) }
    }

    /// Releases `guard`'s lock, waits for a [`signal`](Cond::signal) or
    /// [`broadcast`](Cond::broadcast), and locks again before returning. The waiter is
    /// registered before the lock is released, so a signal sent under the lock after that
    /// is never missed.
    ///
    /// ```
    /// use gosync::{Cond, Mutex};
    /// let pair = std::sync::Arc::new((Mutex::new(0), Cond::new()));
    /// let p = pair.clone();
    /// std::thread::spawn(move || { *p.0.lock() = 1; p.1.signal(); });
    /// let mut guard = pair.0.lock();
    /// while *guard == 0 {
    ///     pair.1.wait(&mut guard);
    /// }
    /// ```
    #[cfg(any(feature = "std", loom))]
    pub fn wait<T: ?Sized>(&self, guard: &mut MutexGuard<'_, T>) {
        let waiter = Waiter::current_thread();
        self.register(&waiter);
        // The waiter goes back to the thread's cache before the relock, which may need it.
        guard.unlocked(move || {
            waiter.wait();
        });
    }

    /// Waits while `condition` holds: checks it under the lock, and waits again after each
    /// wake-up until it returns false.
    ///
    /// ```
    /// use gosync::{Cond, Mutex};
    /// let pair = std::sync::Arc::new((Mutex::new(Vec::new()), Cond::new()));
    /// let p = pair.clone();
    /// std::thread::spawn(move || { p.0.lock().push(7); p.1.broadcast(); });
    /// let mut items = pair.0.lock();
    /// pair.1.wait_while(&mut items, |items| items.is_empty());
    /// assert_eq!(*items, [7]);
    /// ```
    #[cfg(any(feature = "std", loom))]
    pub fn wait_while<T: ?Sized>(
        &self,
        guard: &mut MutexGuard<'_, T>,
        mut condition: impl FnMut(&mut T) -> bool,
    ) {
        while condition(&mut **guard) {
            self.wait(guard);
        }
    }

    /// Like [`wait`](Cond::wait), giving up after `timeout`. Returns true if woken by a
    /// signal, false on timeout; the lock is held again either way.
    ///
    /// ```
    /// use std::time::Duration;
    /// let (lock, cond) = (gosync::Mutex::new(()), gosync::Cond::new());
    /// let mut guard = lock.lock();
    /// assert!(!cond.wait_timeout(&mut guard, Duration::from_millis(1)));
    /// ```
    #[cfg(any(feature = "std", loom))]
    pub fn wait_timeout<T: ?Sized>(&self, guard: &mut MutexGuard<'_, T>, timeout: Duration) -> bool {
        self.wait_until(guard, deadline_after(timeout))
    }

    /// Like [`wait`](Cond::wait), giving up at `deadline`. Returns true if woken by a signal.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let (lock, cond) = (gosync::Mutex::new(()), gosync::Cond::new());
    /// let mut guard = lock.lock();
    /// assert!(!cond.wait_deadline(&mut guard, Instant::now() + Duration::from_millis(1)));
    /// ```
    #[cfg(any(feature = "std", loom))]
    pub fn wait_deadline<T: ?Sized>(&self, guard: &mut MutexGuard<'_, T>, deadline: Instant) -> bool {
        self.wait_until(guard, Some(deadline))
    }

    /// Waits from an async task: releases the lock, waits for a signal, and resolves to the
    /// guard locked again.
    ///
    /// # Cancel safety
    /// Dropping the future before it completes loses no signal: one it had already received
    /// passes to the next waiter. The lock is released when the future is first polled and
    /// is not held after a drop.
    ///
    /// ```
    /// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
    /// #     let waker = std::task::Waker::noop();
    /// #     let mut f = std::pin::pin!(f);
    /// #     loop { if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut std::task::Context::from_waker(&waker)) { return v } }
    /// # }
    /// use gosync::{Cond, Mutex};
    /// let pair = std::sync::Arc::new((Mutex::new(false), Cond::new()));
    /// let p = pair.clone();
    /// std::thread::spawn(move || { *p.0.lock() = true; p.1.signal(); });
    /// block_on(async {
    ///     let mut ready = pair.0.lock_async().await;
    ///     while !*ready {
    ///         ready = pair.1.wait_async(ready).await;
    ///     }
    /// });
    /// ```
    pub fn wait_async<'a, T: ?Sized>(&'a self, guard: MutexGuard<'a, T>) -> CondWaitFuture<'a, T> {
        CondWaitFuture { cond: self, state: WaitState::Start(guard), wait: TaskWaiter::new() }
    }

    /// Wakes the longest-waiting waiter, if any. Holding the lock while signalling is
    /// allowed but not required, as in Go.
    ///
    /// ```
    /// gosync::Cond::new().signal();
    /// ```
    pub fn signal(&self) {
        if self.has_waiters.load(Ordering::SeqCst) {
            let _wake = self.with_list(WaitList::notify_one);
        }
    }

    /// Wakes every waiter.
    ///
    /// ```
    /// gosync::Cond::new().broadcast();
    /// ```
    pub fn broadcast(&self) {
        if self.has_waiters.load(Ordering::SeqCst) {
            let _wake = self.with_list(WaitList::notify_all);
        }
    }

    #[cfg(any(feature = "std", loom))]
    pub(crate) fn wait_until<T: ?Sized>(
        &self,
        guard: &mut MutexGuard<'_, T>,
        deadline: Option<Instant>,
    ) -> bool {
        let waiter = Waiter::current_thread();
        self.register(&waiter);
        // A signal that raced our timeout counts: the caller re-checks its condition anyway.
        // `move`: the waiter goes back to the thread's cache before the relock needs one.
        guard.unlocked(move || waiter.wait_deadline(deadline).is_some() || self.cancel(&waiter))
    }

    /// Runs `f` on the wait list under its lock, keeping `has_waiters` in step.
    fn with_list<R>(&self, f: impl FnOnce(&mut WaitList) -> R) -> R {
        let mut list = self.waiters.lock();
        let result = f(&mut list);
        self.has_waiters.store(!list.is_empty(), Ordering::SeqCst);
        result
    }

    pub(crate) fn register(&self, waiter: &Waiter) {
        self.with_list(|list| list.register(waiter));
    }

    /// Withdraws a waiter; true if a signal had reached it first (it keeps that signal).
    #[cfg(any(feature = "std", loom))]
    pub(crate) fn cancel(&self, waiter: &Waiter) -> bool {
        self.with_list(|list| list.cancel(waiter)).is_some()
    }

    /// Withdraws a waiter for good, passing on a signal it had already received.
    pub(crate) fn abandon(&self, waiter: &Waiter) -> Option<Wakeup> {
        self.with_list(|list| list.abandon(waiter))
    }
}

impl Default for Cond {
    fn default() -> Self {
        Cond::new()
    }
}

impl fmt::Debug for Cond {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cond").field("has_waiters", &self.has_waiters.load(Ordering::Relaxed)).finish()
    }
}

enum WaitState<'a, T: ?Sized> {
    Start(MutexGuard<'a, T>),
    /// Registered on the Cond, the lock released.
    Waiting(&'a Mutex<T>),
    /// Signalled: taking the lock back. A drop now must pass the signal on.
    Locking(LockFuture<'a, T>),
    Done,
}

/// The future of [`Cond::wait_async`]: resolves to the guard, locked again.
///
/// # Cancel safety
/// Dropping it loses no signal: one it had already received passes to the next waiter,
/// whether it is dropped while waiting for the signal or while taking the lock back.
///
/// ```
/// use std::future::Future;
/// use std::task::{Context, Poll, Waker};
/// let (m, cond) = (gosync::Mutex::new(()), gosync::Cond::new());
/// let mut cx = Context::from_waker(Waker::noop());
/// let mut first = Box::pin(cond.wait_async(m.lock()));
/// assert!(first.as_mut().poll(&mut cx).is_pending()); // registered, lock released
/// let mut second = Box::pin(cond.wait_async(m.lock()));
/// assert!(second.as_mut().poll(&mut cx).is_pending());
/// cond.signal(); // chooses `first`...
/// drop(first); // ...which gives up: the signal passes to `second`
/// assert!(matches!(second.as_mut().poll(&mut cx), Poll::Ready(_)));
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct CondWaitFuture<'a, T: ?Sized> {
    cond: &'a Cond,
    state: WaitState<'a, T>,
    wait: TaskWaiter,
}

impl<'a, T: ?Sized> Future for CondWaitFuture<'a, T> {
    type Output = MutexGuard<'a, T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        // The state changes only after the calls that may panic (they clone the waker, user
        // code), so a panicking poll leaves a state whose drop cleans up.
        loop {
            match &mut this.state {
                WaitState::Start(_) => {
                    // Register before unlocking: a signal sent under the lock afterwards
                    // finds us. The waker is cloned before the list's lock is taken.
                    let waiter = this.wait.arm(cx.waker());
                    this.cond.register(waiter);
                    this.wait.set_registered();
                    let WaitState::Start(guard) = core::mem::replace(&mut this.state, WaitState::Done) else {
                        unreachable!()
                    };
                    this.state = WaitState::Waiting(guard.mutex);
                    drop(guard);
                    return Poll::Pending;
                }
                WaitState::Waiting(mutex) => {
                    let mutex: &'a Mutex<T> = mutex;
                    if this.wait.poll(cx.waker()).is_pending() {
                        return Poll::Pending;
                    }
                    this.state = WaitState::Locking(mutex.lock_async());
                }
                WaitState::Locking(lock) => {
                    let guard = ready!(Pin::new(lock).poll(cx));
                    this.state = WaitState::Done;
                    return Poll::Ready(guard);
                }
                WaitState::Done => panic!("gosync: CondWaitFuture polled after completion"),
            }
        }
    }
}

impl<T: ?Sized> FusedFuture for CondWaitFuture<'_, T> {
    fn is_terminated(&self) -> bool {
        matches!(self.state, WaitState::Done)
    }
}

impl<T: ?Sized> Drop for CondWaitFuture<'_, T> {
    fn drop(&mut self) {
        match &self.state {
            WaitState::Waiting(_) => {
                if let Some(waiter) = self.wait.registered() {
                    let _wake = self.cond.abandon(waiter);
                }
            }
            // The signal was ours, but we never returned: whoever it was meant for next
            // gets it (the lock future's own drop passes on a hand-off of the lock).
            WaitState::Locking(_) => self.cond.signal(),
            WaitState::Start(_) | WaitState::Done => {}
        }
    }
}

impl<T: ?Sized> fmt::Debug for CondWaitFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            WaitState::Start(_) => "start",
            WaitState::Waiting(_) => "waiting",
            WaitState::Locking(_) => "locking",
            WaitState::Done => "done",
        };
        f.debug_struct("CondWaitFuture").field("state", &state).finish()
    }
}
