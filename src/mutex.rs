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

// The state word. The uncontended lock is one CAS from 0 to LOCKED, the uncontended unlock one
// CAS back; any other bit sends both to their slow paths.
/// Held (by a guard, or on behalf of a waiter it was handed to).
const LOCKED: usize = 1;
/// Waiters may be registered: an unlock must look at the wait list. Set and cleared only
/// under the list's lock, so an unlock that finds it clear cannot miss a registration.
const PARKED: usize = 2;
/// An unlock handed the lock over: it stays LOCKED for the waiter it woke, and the first woken
/// waiter to claim this bit owns the lock without competing for it.
const HANDOFF: usize = 4;
/// One unit of the count (in the bits above) of starving waiters. While any waiter is
/// starving, every unlock hands the lock over instead of releasing it.
const STARVING: usize = 8;

/// How long a waiter may lose races before it is starving (Go's `starvationThresholdNs`).
#[cfg(all(feature = "std", not(loom)))]
const STARVATION_THRESHOLD: Duration = Duration::from_millis(1);

/// Defines a `const fn`, except under loom, where no constructor is const.
macro_rules! const_fn_unless_loom {
    ($(#[$attr:meta])* $vis:vis fn $($rest:tt)*) => {
        #[cfg(not(loom))]
        $(#[$attr])* $vis const fn $($rest)*
        #[cfg(loom)]
        $(#[$attr])* $vis fn $($rest)*
    };
}

/// A mutual exclusion lock protecting a `T`: Go's `sync.Mutex` (with `TryLock`), usable from
/// threads ([`lock`](Mutex::lock)) and async tasks ([`lock_async`](Mutex::lock_async)).
///
/// An unlock synchronizes with the lock that next acquires the mutex: everything written
/// under one guard is visible under the next.
///
/// # Mutex vs `std::sync::Mutex`
/// There is no poisoning (as in Go and parking_lot): a panic while locked just unlocks. The
/// lock is not tied to a thread, so a guard can be held across `.await` and sent between
/// threads. `new` is a `const fn`, so a mutex can be a `static`.
///
/// # Fairness
/// As in Go, the mutex has two modes.
///
/// * **Normal mode** (no waiter is starving): an unlock releases the lock and wakes the
///   longest-registered waiter, which then competes with any thread or task that arrives
///   meanwhile. Arrivals may take the lock first (barging); that keeps the uncontended
///   lock and unlock to one atomic operation each and the throughput high. A woken waiter
///   that loses registers again, at the back of the queue.
/// * **Starvation mode**: a waiter that was woken and lost the race after waiting for 1 ms
///   or more (without `std`, where there is no clock: after losing once) is *starving*.
///   While any waiter is starving, every unlock hands the lock directly to the
///   longest-registered waiter: the lock stays held on its behalf, nobody can barge, and the
///   woken waiter owns it without competing. The mutex returns to normal mode once no
///   waiter is starving (each starving waiter got the lock or gave up).
///
/// So no waiter waits forever while others keep locking: once it is starving, it gets the
/// lock after at most the waiters registered before its latest registration (a hand-off may
/// be taken by a waiter woken earlier, and the starving one then registers again, at the
/// back). Waiters are not served in strict FIFO order in normal mode.
///
/// A waiter the lock was handed to holds it until it takes it: a woken [`LockFuture`] holds
/// the lock until it is polled (or dropped, which passes the lock on). A starving
/// `LockFuture` that is leaked (`mem::forget`) instead of dropped keeps the mutex in
/// starvation mode for good: it still works, but every lock and unlock then takes the slow
/// path, and a hand-off to that future, if it is still registered, is never taken.
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
    const_fn_unless_loom! {
        /// A new unlocked mutex holding `value`. A `const fn`, so a mutex can be a `static`.
        ///
        /// ```
        /// use gosync::Mutex;
        /// static COUNT: Mutex<u32> = Mutex::new(0);
        /// *COUNT.lock() += 1;
        /// assert_eq!(*COUNT.lock(), 1);
        ///
        /// let m = Mutex::new(vec![1, 2]);
        /// assert_eq!(m.into_inner(), [1, 2]);
        /// ```
        pub fn new(value: T) -> Self
        where
            T: Sized,
        {
            Mutex {
                state: AtomicUsize::new(0),
                waiters: Lock::new(WaitList::new()),
                value: UnsafeCell::new(value),
            }
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
    /// Dropping the future before it completes leaves the mutex as it was: if an unlock had
    /// already woken it, or handed it the lock, that wake-up or the lock passes to the next
    /// waiter.
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
        LockFuture { mutex: self, wait: TaskWaiter::new(), patience: Patience::new(), done: false }
    }

    /// True while the lock is held (a snapshot, for diagnostics). A lock handed to a woken
    /// waiter counts as held.
    ///
    /// ```
    /// let m = gosync::Mutex::new(());
    /// let g = m.try_lock();
    /// assert!(m.is_locked());
    /// drop(g);
    /// assert!(!m.is_locked());
    /// ```
    pub fn is_locked(&self) -> bool {
        self.state.load(Ordering::Relaxed) & LOCKED != 0
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
        // SAFETY: &mut self excludes every guard (a guard borrows the mutex) and every other
        // access for the lifetime of the returned reference, which borrows self mutably.
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

    /// Takes the lock if it is free. Barging is allowed in both modes: in starvation mode
    /// the lock is not free while a waiter is registered (unlocks hand it over), so a free
    /// lock there has nobody queued for it.
    fn try_acquire(&self) -> bool {
        // Acquire (here and below): the previous holder's writes, published by the Release
        // of its unlock.
        let mut state = match self.state.compare_exchange(0, LOCKED, Ordering::Acquire, Ordering::Relaxed) {
            Ok(_) => return true,
            Err(state) => state,
        };
        while state & LOCKED == 0 {
            match self.state.compare_exchange_weak(
                state,
                state | LOCKED,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => state = now,
            }
        }
        false
    }

    /// After a wake-up: owns the lock if it was handed over (claims the hand-off), or takes
    /// it if it is free. Only a woken waiter may call this: a hand-off is meant for one.
    fn take_after_wake(&self) -> bool {
        let mut state = self.state.load(Ordering::Relaxed);
        while state & HANDOFF != 0 {
            // Acquire pairs with the Release that set HANDOFF in `unlock_slow`. LOCKED stays:
            // the lock passes from the unlocker to us without ever being free.
            match self.state.compare_exchange_weak(
                state,
                state & !HANDOFF,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => state = now,
            }
        }
        self.try_acquire()
    }

    /// A waiter starts starving: from now on unlocks hand the lock over.
    fn start_starving(&self) {
        self.state.fetch_add(STARVING, Ordering::Relaxed);
    }

    /// A starving waiter got the lock or gave up.
    fn stop_starving(&self) {
        self.state.fetch_sub(STARVING, Ordering::Relaxed);
    }

    /// Takes the lock, blocking as long as it takes.
    #[cfg(any(feature = "std", loom))]
    pub(crate) fn acquire(&self) {
        if self.state.compare_exchange(0, LOCKED, Ordering::Acquire, Ordering::Relaxed).is_err() {
            self.lock_slow(None);
        }
    }

    #[cfg(any(feature = "std", loom))]
    fn lock_until(&self, deadline: Option<Instant>) -> Option<MutexGuard<'_, T>> {
        (self.try_acquire() || self.lock_slow(deadline)).then(|| MutexGuard::new(self))
    }

    /// Spins briefly (a holder usually releases within a few hundred cycles), then parks.
    /// This spin is not the waiter's own (which waits for a wake-up after registering): it
    /// avoids registering at all, which costs a list lock and a wake-up. Measured:
    /// without it, queue_spsc and queue_mpmc ran about 1.9x and 1.4x slower.
    #[cfg(any(feature = "std", loom))]
    fn lock_slow(&self, deadline: Option<Instant>) -> bool {
        #[cfg(not(loom))]
        {
            let backoff = crossbeam_utils::Backoff::new();
            while !backoff.is_completed() {
                if self.state.load(Ordering::Relaxed) & LOCKED == 0 && self.try_acquire() {
                    return true;
                }
                backoff.snooze();
            }
        }
        let mut patience = Patience::new();
        patience.start();
        let locked = loop {
            let waiter = Waiter::current_thread();
            if self.acquire_or_register(&waiter) {
                break true;
            }
            if waiter.wait_deadline(deadline).is_none() {
                // Timed out. An unlock that woke us meanwhile either handed us the lock (we
                // own it: the wait succeeded after all) or released it for us to compete
                // (take it if still free; if not, its new holder's unlock sees PARKED and
                // wakes the next waiter, so giving up strands nobody).
                let woken = self.waiters.lock().cancel(&waiter).is_some();
                break woken && self.take_after_wake();
            }
            if self.take_after_wake() {
                break true;
            }
            if !patience.starving && patience.lost() {
                patience.starving = true;
                self.start_starving();
            }
        };
        if patience.starving {
            self.stop_starving();
        }
        locked
    }

    /// Takes the lock if it is free (true), or registers `waiter` for an unlock to wake
    /// (false). The waiter is made (and a task's waker cloned) before the list is locked.
    fn acquire_or_register(&self, waiter: &Waiter) -> bool {
        let mut list = self.waiters.lock();
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            let result = if state & LOCKED == 0 {
                self.state.compare_exchange_weak(state, state | LOCKED, Ordering::Acquire, Ordering::Relaxed)
            } else {
                // Setting PARKED under the list lock while LOCKED is set: the holder's unlock
                // then fails its fast-path CAS and takes the list lock, after we registered.
                // If the holder unlocks first, this CAS fails and we look again.
                self.state.compare_exchange_weak(state, state | PARKED, Ordering::Relaxed, Ordering::Relaxed)
            };
            match result {
                Ok(_) if state & LOCKED == 0 => return true,
                Ok(_) => {
                    list.register(waiter);
                    return false;
                }
                Err(now) => state = now,
            }
        }
    }

    fn unlock(&self) {
        // Release: publishes this holder's writes to the next Acquire of the state.
        if self.state.compare_exchange(LOCKED, 0, Ordering::Release, Ordering::Relaxed).is_err() {
            self.unlock_slow();
        }
    }

    /// Unlocks with waiters registered (PARKED) or starving: hands the lock over in
    /// starvation mode, releases it and wakes one waiter otherwise.
    fn unlock_slow(&self) {
        let mut list = self.waiters.lock();
        let state = self.state.load(Ordering::Relaxed);
        let _wake = if state >= STARVING {
            // Hand-off. HANDOFF is set before the waiter is woken, so a woken waiter always
            // finds it. Release: publishes our writes to the claimer's Acquire.
            self.state.fetch_or(HANDOFF, Ordering::Release);
            let wake = list.notify_one();
            if wake.is_none() {
                // Nobody registered. Take the hand-off back and release, unless a waiter
                // woken earlier (and not yet back) claimed it meanwhile: then it is theirs.
                let mut state = self.state.load(Ordering::Relaxed);
                while state & HANDOFF != 0 {
                    let released = state & !(HANDOFF | LOCKED | PARKED);
                    match self.state.compare_exchange_weak(
                        state,
                        released,
                        Ordering::Release,
                        Ordering::Relaxed,
                    ) {
                        Ok(_) => break,
                        Err(now) => state = now,
                    }
                }
            }
            wake
        } else {
            let wake = list.notify_one();
            // Nobody left to wake: clear PARKED (under the list lock, so no registration
            // races it) and let the next unlock take the fast path.
            let clear = if wake.is_none() { LOCKED | PARKED } else { LOCKED };
            self.state.fetch_and(!clear, Ordering::Release);
            wake
        };
        drop(list);
        // `_wake` wakes the chosen waiter here, after the list's lock is released.
    }
}

/// How long one waiter has waited, which decides when it is starving.
struct Patience {
    /// When it first registered.
    #[cfg(all(feature = "std", not(loom)))]
    since: Option<Instant>,
    /// Counted in the mutex's starving count (`STARVING` units).
    starving: bool,
}

impl Patience {
    fn new() -> Self {
        Patience {
            #[cfg(all(feature = "std", not(loom)))]
            since: None,
            starving: false,
        }
    }

    /// The waiter registers (again): the clock starts at the first registration.
    fn start(&mut self) {
        #[cfg(all(feature = "std", not(loom)))]
        if self.since.is_none() {
            self.since = Some(Instant::now());
        }
    }

    /// The waiter was woken and lost the race. True if it is now starving: after 1 ms with
    /// `std`; at once without a clock (no `std`, and under loom, whose models thus explore
    /// the hand-off path deterministically).
    fn lost(&mut self) -> bool {
        #[cfg(all(feature = "std", not(loom)))]
        return self.since.is_some_and(|since| since.elapsed() >= STARVATION_THRESHOLD);
        #[cfg(not(all(feature = "std", not(loom))))]
        true
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
///
/// A guard moves to another thread only if `T: Send` (it gives `&mut T` there) and is shared
/// between threads only if `T: Sync` (it gives `&T`):
///
/// ```compile_fail,E0277
/// fn assert_send<S: Send>(_: &S) {}
/// // A std guard is Sync but not Send.
/// let inner = std::sync::Mutex::new(());
/// let m = gosync::Mutex::new(inner.lock().unwrap());
/// assert_send(&m.lock());
/// ```
///
/// ```compile_fail,E0277
/// fn assert_sync<S: Sync>(_: &S) {}
/// // A Cell is Send but not Sync.
/// let m = gosync::Mutex::new(std::cell::Cell::new(0));
/// assert_sync(&m.lock());
/// ```
#[must_use = "if unused the Mutex unlocks at once"]
pub struct MutexGuard<'a, T: ?Sized> {
    pub(crate) mutex: &'a Mutex<T>,
    /// The access to the value while the guard holds the lock. `None` while `unlocked`
    /// runs, and for good if its closure panicked: the guard then no longer holds the lock.
    value: Option<MutPtr<T>>,
}

// SAFETY: the guard is exclusive access to a `T`; the lock has no thread affinity, so moving
// the guard moves only that access (needs T: Send) and sharing it shares &T (needs T: Sync).
unsafe impl<T: ?Sized + Send> Send for MutexGuard<'_, T> {}
// SAFETY: as above.
unsafe impl<T: ?Sized + Sync> Sync for MutexGuard<'_, T> {}

impl<'a, T: ?Sized> MutexGuard<'a, T> {
    /// The guard of a lock just taken.
    fn new(mutex: &'a Mutex<T>) -> Self {
        MutexGuard { mutex, value: Some(mutex.value.get_mut()) }
    }

    /// Releases the lock while `f` runs, then takes it back (how a Cond waits).
    ///
    /// If `f` panics, the lock is not taken back: the panic leaves the guard not holding
    /// it, so its drop does not unlock (someone else may hold the lock by then), and any
    /// other use of it panics. Relocking while unwinding could block the panicking thread
    /// forever; this cannot.
    #[cfg(any(feature = "std", loom))]
    pub(crate) fn unlocked<R>(&mut self, f: impl FnOnce() -> R) -> R {
        // End our access before anyone else can start one.
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
            None => panic!("gosync: MutexGuard used after a panic in a Cond wait released its lock"),
        }
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock (`ptr` checks it), so no other holder accesses the
        // value; the only `&mut T` this guard makes needs `&mut self`, so none is alive while
        // this `&self` borrow is. Shared borrows from several `deref` calls may overlap.
        unsafe { self.ptr().deref() }
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the lock, and `&mut self` ends every other borrow of the
        // guard, so this is the only reference to the value while it lives.
        unsafe { self.ptr().deref_mut() }
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        // End the access before another holder can start one. No access: the lock was
        // released by a panicking `unlocked` and is not ours.
        if self.value.take().is_some() {
            self.mutex.unlock();
        }
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// The future of [`Mutex::lock_async`].
///
/// It takes part in [fairness](Mutex#fairness) like a blocked thread: when an unlock hands
/// it the lock, it holds the lock from that moment and its next poll returns the guard
/// without competing.
///
/// # Cancel safety
/// Dropping it before it completes loses no wake-up and leaks no lock: a wake-up it had
/// received passes to the next waiter, and a lock handed to it is passed on (or released).
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
    /// Its waiter, registered until it is back from its wake-up.
    wait: TaskWaiter,
    patience: Patience,
    /// Returned the guard (for `FusedFuture`).
    done: bool,
}

impl<'a, T: ?Sized> LockFuture<'a, T> {
    fn ready(&mut self) -> Poll<MutexGuard<'a, T>> {
        self.done = true;
        self.stop_starving();
        Poll::Ready(MutexGuard::new(self.mutex))
    }

    fn stop_starving(&mut self) {
        if core::mem::replace(&mut self.patience.starving, false) {
            self.mutex.stop_starving();
        }
    }
}

impl<'a, T: ?Sized> Future for LockFuture<'a, T> {
    type Output = MutexGuard<'a, T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert!(!this.done, "gosync: LockFuture polled after it returned the guard");
        let woken = ready!(this.wait.poll(cx.waker())).is_some();
        if woken {
            if this.mutex.take_after_wake() {
                return this.ready();
            }
            if !this.patience.starving && this.patience.lost() {
                this.patience.starving = true;
                this.mutex.start_starving();
            }
        } else if this.mutex.try_acquire() {
            return this.ready();
        }
        this.patience.start();
        if this.mutex.acquire_or_register(this.wait.arm(cx.waker())) {
            return this.ready();
        }
        this.wait.set_registered();
        Poll::Pending
    }
}

impl<T: ?Sized> futures_core::FusedFuture for LockFuture<'_, T> {
    /// True once the future returned the guard.
    fn is_terminated(&self) -> bool {
        self.done
    }
}

impl<T: ?Sized> Drop for LockFuture<'_, T> {
    fn drop(&mut self) {
        // No longer starving first, so that passing the lock on below does not hand it over
        // on our account.
        self.stop_starving();
        if let Some(waiter) = self.wait.registered() {
            let woken = self.mutex.waiters.lock().cancel(waiter).is_some();
            // Woken: the lock was handed to us, or released for us to compete. Take it
            // (claim or acquire) and unlock, which hands it over or wakes the next waiter.
            // If another holder took it, that holder's unlock wakes the next one instead.
            if woken && self.mutex.take_after_wake() {
                self.mutex.unlock();
            }
        }
    }
}

impl<T: ?Sized> fmt::Debug for LockFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockFuture")
            .field("registered", &self.wait.registered().is_some())
            .field("starving", &self.patience.starving)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::panic::{catch_unwind, AssertUnwindSafe};

    /// A panic while `unlocked` has released the lock (a Cond wait failing) leaves the guard
    /// not holding it: its drop must not unlock the lock someone else took meanwhile.
    #[test]
    fn panic_while_unlocked_does_not_unlock_another_holders_lock() {
        let m = Mutex::new(0);
        let mut other = None;
        let result = catch_unwind(AssertUnwindSafe(|| {
            let mut guard = m.lock();
            guard.unlocked(|| {
                other = Some(m.try_lock().expect("released while f runs"));
                panic!("boom");
            });
        }));
        assert!(result.is_err());
        assert!(m.is_locked(), "the panicking guard's drop released `other`'s lock");
        assert!(m.try_lock().is_none());
        drop(other);
        assert!(!m.is_locked());
    }

    /// Using a guard whose lock a panicking `unlocked` released panics with a gosync message.
    #[test]
    fn guard_used_after_a_panic_while_unlocked_panics_clearly() {
        let m = Mutex::new(0);
        let mut guard = m.lock();
        let _ = catch_unwind(AssertUnwindSafe(|| guard.unlocked(|| panic!("boom"))));
        let err = catch_unwind(AssertUnwindSafe(|| *guard + 1)).unwrap_err();
        assert!(err.downcast_ref::<&str>().is_some_and(|msg| msg.starts_with("gosync:")));
        drop(guard);
        assert!(!m.is_locked());
    }
}
