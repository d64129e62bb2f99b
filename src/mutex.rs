//! [`Mutex`]: Go's `sync.Mutex`, for threads and async tasks.

use crate::primitive::atomic::{AtomicUsize, Ordering};
use crate::primitive::{Lock, MutPtr, UnsafeCell};
use crate::waiter::{TaskWaiter, WaitList, Waiter};
use core::fmt;
use core::future::Future;
use core::ops::{Deref, DerefMut};
use core::pin::Pin;
use core::task::{ready, Context, Poll};

#[cfg(any(feature = "std", loom))]
use crate::primitive::{deadline_after, Instant};
#[cfg(any(feature = "std", loom))]
use core::time::Duration;

const UNLOCKED: usize = 0;
const LOCKED: usize = 1;
/// Locked, and a waiter may be registered: the next unlock must look at the wait list.
const CONTENDED: usize = 2;

/// A mutual exclusion lock protecting a `T`: Go's `sync.Mutex` (with `TryLock`), usable from
/// threads ([`lock`](Mutex::lock)) and async tasks ([`lock_async`](Mutex::lock_async)).
///
/// An unlock synchronizes with the lock that next acquires the mutex: everything written
/// under one guard is visible under the next.
///
/// # Mutex vs `std::sync::Mutex`
/// There is no poisoning (as in Go and parking_lot): a panic while locked just unlocks. The
/// lock is not tied to a thread, so a guard can be held across `.await` and sent between
/// threads. Waiters queue in FIFO order, but a thread arriving while the lock is free may take
/// it first (barging), which keeps the uncontended path to one atomic operation.
///
/// # Example
/// ```
/// use gosync::Mutex;
/// use std::sync::Arc;
///
/// let hits = Arc::new(Mutex::new(0));
/// let handles: Vec<_> = (0..4)
///     .map(|_| {
///         let hits = hits.clone();
///         std::thread::spawn(move || *hits.lock() += 1)
///     })
///     .collect();
/// handles.into_iter().for_each(|h| h.join().unwrap());
/// assert_eq!(*hits.lock(), 4);
/// ```
pub struct Mutex<T: ?Sized> {
    state: AtomicUsize,
    waiters: Lock<WaitList>,
    value: UnsafeCell<T>,
}

// SAFETY: the mutex hands out access to `value` to one holder at a time, so sharing it only
// requires that `T` may move between threads.
unsafe impl<T: ?Sized + Send> Send for Mutex<T> {}
// SAFETY: as above.
unsafe impl<T: ?Sized + Send> Sync for Mutex<T> {}

impl<T: ?Sized> Mutex<T> {
    /// A new unlocked mutex holding `value`.
    ///
    /// ```
    /// let m = gosync::Mutex::new(vec![1, 2]);
    /// assert_eq!(m.into_inner(), [1, 2]);
    /// ```
    pub fn new(value: T) -> Self
    where
        T: Sized,
    {
        Mutex {
            state: AtomicUsize::new(UNLOCKED),
            waiters: Lock::new(WaitList::default()),
            value: UnsafeCell::new(value),
        }
    }

    /// Locks, blocking the thread while another holder has it.
    ///
    /// ```
    /// let m = gosync::Mutex::new(1);
    /// *m.lock() += 1;
    /// assert_eq!(*m.lock(), 2);
    /// ```
    #[cfg(any(feature = "std", loom))]
    pub fn lock(&self) -> MutexGuard<'_, T> {
        self.acquire();
        MutexGuard::new(self)
    }

    /// Locks if the mutex is free right now (Go's `TryLock`).
    ///
    /// ```
    /// let m = gosync::Mutex::new(());
    /// let held = m.try_lock().unwrap();
    /// assert!(m.try_lock().is_none());
    /// drop(held);
    /// assert!(m.try_lock().is_some());
    /// ```
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        self.try_acquire().then(|| MutexGuard::new(self))
    }

    /// Locks, giving up after `timeout`. `None` if the lock could not be had in time.
    ///
    /// ```
    /// use std::time::Duration;
    /// let m = gosync::Mutex::new(());
    /// let held = m.lock();
    /// assert!(m.lock_timeout(Duration::from_millis(1)).is_none());
    /// drop(held);
    /// assert!(m.lock_timeout(Duration::from_millis(1)).is_some());
    /// ```
    #[cfg(any(feature = "std", loom))]
    pub fn lock_timeout(&self, timeout: Duration) -> Option<MutexGuard<'_, T>> {
        self.lock_until(deadline_after(timeout))
    }

    /// Locks, giving up at `deadline`. `None` if the lock could not be had in time.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let m = gosync::Mutex::new(5);
    /// let guard = m.lock_deadline(Instant::now() + Duration::from_secs(1)).unwrap();
    /// assert_eq!(*guard, 5);
    /// ```
    #[cfg(any(feature = "std", loom))]
    pub fn lock_deadline(&self, deadline: Instant) -> Option<MutexGuard<'_, T>> {
        self.lock_until(Some(deadline))
    }

    /// Locks from an async task: the returned future resolves to the guard.
    ///
    /// # Cancel safety
    /// Dropping the future before it completes leaves the mutex as it was; if the future had
    /// already been chosen by an unlock, that wake-up passes to the next waiter.
    ///
    /// ```
    /// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
    /// #     let waker = std::task::Waker::noop();
    /// #     let mut f = std::pin::pin!(f);
    /// #     loop { if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut std::task::Context::from_waker(&waker)) { return v } }
    /// # }
    /// let m = gosync::Mutex::new(1);
    /// block_on(async {
    ///     *m.lock_async().await += 1;
    /// });
    /// assert_eq!(*m.try_lock().unwrap(), 2);
    /// ```
    pub fn lock_async(&self) -> LockFuture<'_, T> {
        LockFuture { mutex: self, wait: TaskWaiter::new() }
    }

    /// True while some guard holds the lock (a snapshot, for diagnostics).
    ///
    /// ```
    /// let m = gosync::Mutex::new(());
    /// let g = m.try_lock();
    /// assert!(m.is_locked());
    /// drop(g);
    /// assert!(!m.is_locked());
    /// ```
    pub fn is_locked(&self) -> bool {
        self.state.load(Ordering::Relaxed) != UNLOCKED
    }

    /// The protected value, for an owner that no longer shares the mutex.
    ///
    /// ```
    /// assert_eq!(gosync::Mutex::new(3).into_inner(), 3);
    /// ```
    pub fn into_inner(self) -> T
    where
        T: Sized,
    {
        self.value.into_inner()
    }

    /// Mutable access without locking: `&mut self` proves nobody else holds it.
    ///
    /// ```
    /// let mut m = gosync::Mutex::new(3);
    /// *m.get_mut() = 4;
    /// assert_eq!(m.into_inner(), 4);
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        // SAFETY: &mut self excludes every guard and every other access for the lifetime
        // of the returned reference.
        self.value.with_mut(|value| unsafe { &mut *value })
    }

    /// Internal lock for gosync's own short critical sections (O(1) bookkeeping, never user
    /// code, never a blocking wait). Without `std` there is no way to park, so it spins.
    pub(crate) fn lock_short(&self) -> MutexGuard<'_, T> {
        #[cfg(any(feature = "std", loom))]
        return self.lock();
        #[cfg(not(any(feature = "std", loom)))]
        loop {
            if let Some(guard) = self.try_lock() {
                return guard;
            }
            crate::primitive::spin_hint();
        }
    }

    fn try_acquire(&self) -> bool {
        // Acquire: the previous holder's writes, published by the Release in `unlock`.
        self.state.compare_exchange(UNLOCKED, LOCKED, Ordering::Acquire, Ordering::Relaxed).is_ok()
    }

    /// Takes the lock, blocking as long as it takes.
    #[cfg(any(feature = "std", loom))]
    pub(crate) fn acquire(&self) {
        if !self.try_acquire() {
            self.lock_slow(None);
        }
    }

    #[cfg(any(feature = "std", loom))]
    fn lock_until(&self, deadline: Option<Instant>) -> Option<MutexGuard<'_, T>> {
        (self.try_acquire() || self.lock_slow(deadline)).then(|| MutexGuard::new(self))
    }

    /// Spins briefly (a holder usually releases within a few hundred cycles), then parks.
    /// This spin is not the waiter's own (which waits for a hand-off after registering): it
    /// avoids registering at all, which costs a list lock and an allocation. Measured:
    /// without it, queue_spsc and queue_mpmc ran about 1.9x and 1.4x slower.
    #[cfg(any(feature = "std", loom))]
    fn lock_slow(&self, deadline: Option<Instant>) -> bool {
        #[cfg(not(loom))]
        {
            let backoff = crossbeam_utils::Backoff::new();
            while !backoff.is_completed() {
                if self.state.load(Ordering::Relaxed) == UNLOCKED && self.try_acquire() {
                    return true;
                }
                backoff.snooze();
            }
        }
        loop {
            let waiter = Waiter::current_thread();
            if self.acquire_or_register(&waiter) {
                return true;
            }
            if waiter.wait_deadline(deadline).is_none() {
                // Timed out. If an unlock chose us meanwhile, take the lock if still free;
                // otherwise its holder saw CONTENDED and will wake another waiter.
                let notified = self.waiters.lock().cancel(&waiter).is_some();
                return notified && self.state.swap(CONTENDED, Ordering::Acquire) == UNLOCKED;
            }
        }
    }

    /// Takes the lock (true), or registers `waiter` for the next unlock to wake (false).
    fn acquire_or_register(&self, waiter: &Waiter) -> bool {
        loop {
            // CONTENDED rather than LOCKED: we cannot tell whether others still wait, so the
            // unlock that follows must check the list.
            if self.state.swap(CONTENDED, Ordering::Acquire) == UNLOCKED {
                return true;
            }
            let mut list = self.waiters.lock();
            // An unlock swaps the state before taking the list lock, so seeing CONTENDED
            // here means that unlock has not happened yet and will find our registration.
            if self.state.load(Ordering::Relaxed) == CONTENDED {
                list.register(waiter);
                return false;
            }
        }
    }

    fn unlock(&self) {
        // Release: publishes this holder's writes to the next Acquire of the state.
        if self.state.swap(UNLOCKED, Ordering::Release) == CONTENDED {
            let _wake = self.waiters.lock().notify_one();
        }
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Self {
        Mutex::new(T::default())
    }
}

impl<T> From<T> for Mutex<T> {
    fn from(value: T) -> Self {
        Mutex::new(value)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Mutex");
        match self.try_lock() {
            Some(guard) => d.field("value", &&*guard),
            None => d.field("value", &format_args!("<locked>")),
        };
        d.finish()
    }
}

/// Access to a [`Mutex`]'s value; the lock is released when the guard drops.
///
/// ```
/// let m = gosync::Mutex::new(String::new());
/// let mut guard = m.lock();
/// guard.push_str("go");
/// drop(guard);
/// assert_eq!(*m.lock(), "go");
/// ```
pub struct MutexGuard<'a, T: ?Sized> {
    pub(crate) mutex: &'a Mutex<T>,
    /// The tracked access to the value; `None` only while `unlocked` runs.
    value: Option<MutPtr<T>>,
}

// SAFETY: the guard is exclusive access to a `T`; the lock has no thread affinity, so moving
// the guard moves only that access (needs T: Send) and sharing it shares &T (needs T: Sync).
unsafe impl<T: ?Sized + Send> Send for MutexGuard<'_, T> {}
// SAFETY: as above.
unsafe impl<T: ?Sized + Sync> Sync for MutexGuard<'_, T> {}

impl<'a, T: ?Sized> MutexGuard<'a, T> {
    fn new(mutex: &'a Mutex<T>) -> Self {
        MutexGuard { mutex, value: Some(mutex.value.get_mut()) }
    }

    /// Releases the lock while `f` runs, then takes it back (how a Cond waits).
    #[cfg(any(feature = "std", loom))]
    pub(crate) fn unlocked<R>(&mut self, f: impl FnOnce() -> R) -> R {
        self.value = None;
        self.mutex.unlock();
        let result = f();
        self.mutex.acquire();
        self.value = Some(self.mutex.value.get_mut());
        result
    }

    fn ptr(&self) -> &MutPtr<T> {
        match &self.value {
            Some(ptr) => ptr,
            None => unreachable!("gosync: MutexGuard used while unlocked"),
        }
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock, so this is the only access to the value.
        unsafe { self.ptr().deref() }
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in deref; &mut self makes the access unique.
        unsafe { self.ptr().deref() }
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        // End the tracked access before another holder can start one.
        self.value = None;
        self.mutex.unlock();
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// The future of [`Mutex::lock_async`].
///
/// # Cancel safety
/// Dropping it before it completes loses no wake-up: an unlock that had chosen it is passed
/// on to the next waiter.
///
/// ```
/// use std::future::Future;
/// use std::task::{Context, Poll, Waker};
/// let m = gosync::Mutex::new(0);
/// let mut cx = Context::from_waker(Waker::noop());
/// let held = m.lock();
/// let mut first = Box::pin(m.lock_async());
/// let mut second = Box::pin(m.lock_async());
/// assert!(first.as_mut().poll(&mut cx).is_pending());
/// assert!(second.as_mut().poll(&mut cx).is_pending());
/// drop(held); // wakes `first`...
/// drop(first); // ...which gives up: the wake-up passes to `second`
/// assert!(matches!(second.as_mut().poll(&mut cx), Poll::Ready(_)));
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct LockFuture<'a, T: ?Sized> {
    mutex: &'a Mutex<T>,
    wait: TaskWaiter,
}

impl<'a, T: ?Sized> Future for LockFuture<'a, T> {
    type Output = MutexGuard<'a, T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let woken = ready!(this.wait.poll(cx.waker())).is_some();
        // Woken by an unlock: others may still be queued, so take the lock as CONTENDED
        // (below), never as LOCKED, or our unlock would not wake them (found by loom).
        if !woken && this.mutex.try_acquire() {
            return Poll::Ready(MutexGuard::new(this.mutex));
        }
        if this.mutex.acquire_or_register(this.wait.arm(cx.waker())) {
            return Poll::Ready(MutexGuard::new(this.mutex));
        }
        this.wait.set_registered();
        Poll::Pending
    }
}

impl<T: ?Sized> Drop for LockFuture<'_, T> {
    fn drop(&mut self) {
        if let Some(waiter) = self.wait.registered() {
            let _wake = self.mutex.waiters.lock().abandon(waiter);
        }
    }
}
