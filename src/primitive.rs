//! The one place that names the platform's synchronization types.
//!
//! Every other module imports atomics, `Arc`, the internal [`Lock`], [`UnsafeCell`] and
//! thread parking from here, so that one switch picks the implementation for the whole crate:
//!
//! | build                  | atomics, `Arc`      | `Lock`               | `thread::Parker`          |
//! |------------------------|---------------------|----------------------|---------------------------|
//! | `std` (default)        | `core`, `std`       | `parking_lot::Mutex` | `std::thread` park/unpark |
//! | no `std`               | `core`, `alloc`     | a spin lock          | none (async only)         |
//! | `cfg(loom)`            | `loom`              | `loom::sync::Mutex`  | a `loom::sync::Notify`    |
//!
//! `RwLock` follows `Lock`: `parking_lot::RwLock`, loom's `RwLock`, and without `std` the
//! spin lock itself (readers then take it exclusively).
//!
//! `Lock` guards short internal critical sections only (a wait list, a waker slot): no user
//! code and no parking ever runs while one is held. `RwLock` guards OnceMap's shards, where a
//! key's `Eq` runs under the lock (shared for a hit, exclusive for a miss) and a value's
//! `Clone` under the shared lock only; OnceMap's docs say what that allows.

#[cfg(loom)]
mod imp {
    pub(crate) use loom::sync::atomic;
    pub(crate) use loom::sync::Arc;

    /// A short internal lock, modelled by loom.
    pub(crate) struct Lock<T>(loom::sync::Mutex<T>);
    pub(crate) type LockGuard<'a, T> = loom::sync::MutexGuard<'a, T>;

    impl<T> Lock<T> {
        pub(crate) fn new(value: T) -> Self {
            Lock(loom::sync::Mutex::new(value))
        }
        pub(crate) fn lock(&self) -> LockGuard<'_, T> {
            // loom's Mutex poisons only when a model thread panics, which fails the model anyway.
            self.0.lock().unwrap()
        }
    }

    /// A short internal reader-writer lock, modelled by loom.
    pub(crate) struct RwLock<T>(loom::sync::RwLock<T>);
    pub(crate) type ReadGuard<'a, T> = loom::sync::RwLockReadGuard<'a, T>;
    pub(crate) type WriteGuard<'a, T> = loom::sync::RwLockWriteGuard<'a, T>;

    impl<T> RwLock<T> {
        pub(crate) fn new(value: T) -> Self {
            RwLock(loom::sync::RwLock::new(value))
        }
        pub(crate) fn read(&self) -> ReadGuard<'_, T> {
            self.0.read().unwrap()
        }
        pub(crate) fn write(&self) -> WriteGuard<'_, T> {
            self.0.write().unwrap()
        }
    }

    /// How many shards a sharded structure uses: few, so that models stay small.
    pub(crate) fn shard_count() -> usize {
        2
    }

    pub(crate) use super::cell::{MutPtr, UnsafeCell};

    /// Called once per turn of a retry loop: loom must see a scheduling point there, or a
    /// model that spins explodes its branch count.
    #[allow(dead_code)] // only the no_std build spins
    pub(crate) fn spin_hint() {
        loom::thread::yield_now();
    }

    pub(crate) mod thread {
        use loom::sync::{Arc, Notify};
        pub(crate) use loom::thread::{spawn, JoinHandle};
        pub(crate) use loom::thread_local;
        use std::time::Instant;

        /// Parks one waiting thread. Under loom it is a `Notify` per waiter rather than
        /// `Thread::park`/`unpark`: loom's `unpark` wakes its target whatever it is blocked on
        /// (loom issue 249), so an unpark arriving after the waiter moved on to a loom Mutex or
        /// a join would abort the model. A `Notify` only wakes a wait on that very `Notify`.
        #[derive(Clone)]
        pub(crate) struct Parker(Arc<Notify>);

        impl Parker {
            /// A parker for the calling thread.
            pub(crate) fn current() -> Self {
                Parker(Arc::new(Notify::new()))
            }
            /// Blocks until unparked (loom may also wake it spuriously; callers loop).
            pub(crate) fn park(&self) {
                self.0.wait();
            }
            /// loom has no time: a timed park is one scheduling point after which the
            /// deadline counts as passed. Models thus explore both outcomes of a timed wait,
            /// notified (the notifier ran before this point) and timed out (it did not).
            pub(crate) fn park_deadline(&self, _deadline: Instant) -> bool {
                loom::thread::yield_now();
                true
            }
            pub(crate) fn unpark(&self) {
                self.0.notify();
            }
        }
    }
}

#[cfg(all(not(loom), feature = "std"))]
mod imp {
    pub(crate) use core::sync::atomic;
    pub(crate) use std::sync::Arc;
    /// One value per process, computed by the first caller (the clock's calibration).
    pub(crate) use std::sync::OnceLock;

    /// A short internal lock.
    pub(crate) struct Lock<T>(parking_lot::Mutex<T>);
    pub(crate) type LockGuard<'a, T> = parking_lot::MutexGuard<'a, T>;

    impl<T> Lock<T> {
        pub(crate) const fn new(value: T) -> Self {
            Lock(parking_lot::Mutex::new(value))
        }
        #[inline]
        pub(crate) fn lock(&self) -> LockGuard<'_, T> {
            self.0.lock()
        }
    }

    /// A short internal reader-writer lock: readers share it, so read-mostly data (a
    /// cache's hits) does not serialize on it.
    pub(crate) struct RwLock<T>(parking_lot::RwLock<T>);
    pub(crate) type ReadGuard<'a, T> = parking_lot::RwLockReadGuard<'a, T>;
    pub(crate) type WriteGuard<'a, T> = parking_lot::RwLockWriteGuard<'a, T>;

    impl<T> RwLock<T> {
        pub(crate) const fn new(value: T) -> Self {
            RwLock(parking_lot::RwLock::new(value))
        }
        #[inline]
        pub(crate) fn read(&self) -> ReadGuard<'_, T> {
            self.0.read()
        }
        #[inline]
        pub(crate) fn write(&self) -> WriteGuard<'_, T> {
            self.0.write()
        }
    }

    /// How many shards a sharded structure uses: four per hardware thread (as dashmap),
    /// a power of two. The system is asked once per process.
    pub(crate) fn shard_count() -> usize {
        static SHARDS: atomic::AtomicUsize = atomic::AtomicUsize::new(0);
        // Relaxed: a cached number, recomputed identically by whoever sees zero.
        match SHARDS.load(atomic::Ordering::Relaxed) {
            0 => {
                let threads = std::thread::available_parallelism().map_or(4, |n| n.get());
                let shards = (threads * 4).next_power_of_two().min(256);
                SHARDS.store(shards, atomic::Ordering::Relaxed);
                shards
            }
            shards => shards,
        }
    }

    pub(crate) use super::cell::{MutPtr, UnsafeCell};

    #[inline]
    #[allow(dead_code)] // the std build parks instead of spinning
    pub(crate) fn spin_hint() {
        core::hint::spin_loop();
    }

    pub(crate) mod thread {
        pub(crate) use std::thread::{spawn, JoinHandle};
        pub(crate) use std::thread_local;
        use std::time::Instant;

        /// Spawns a named thread, reporting failure instead of panicking (the timer thread).
        pub(crate) fn spawn_named<F>(name: &str, f: F) -> std::io::Result<JoinHandle<()>>
        where
            F: FnOnce() + Send + 'static,
        {
            std::thread::Builder::new().name(name.into()).spawn(f)
        }

        /// Parks one waiting thread: the thread's own park token.
        #[derive(Clone)]
        pub(crate) struct Parker(std::thread::Thread);

        impl Parker {
            /// A parker for the calling thread; only that thread may `park` on it.
            pub(crate) fn current() -> Self {
                Parker(std::thread::current())
            }
            /// Blocks until unparked, or spuriously (callers loop).
            pub(crate) fn park(&self) {
                std::thread::park();
            }
            /// Parks until unparked, spuriously woken, or `deadline` passes. Returns true
            /// when the deadline has passed.
            pub(crate) fn park_deadline(&self, deadline: Instant) -> bool {
                let now = Instant::now();
                if now >= deadline {
                    return true;
                }
                std::thread::park_timeout(deadline - now);
                Instant::now() >= deadline
            }
            pub(crate) fn unpark(&self) {
                self.0.unpark();
            }
        }
    }
}

#[cfg(all(not(loom), not(feature = "std")))]
mod imp {
    pub(crate) use alloc::sync::Arc;
    pub(crate) use core::sync::atomic;

    use core::cell::UnsafeCell as CoreUnsafeCell;
    use core::ops::{Deref, DerefMut};
    use core::sync::atomic::{AtomicBool, Ordering};

    /// A short internal lock. Without `std` there is nothing to park on, so it spins; it only
    /// ever guards a few instructions of list or slot bookkeeping.
    pub(crate) struct Lock<T> {
        locked: AtomicBool,
        value: CoreUnsafeCell<T>,
    }

    // SAFETY: the flag gives one holder at a time exclusive access to `value`.
    unsafe impl<T: Send> Send for Lock<T> {}
    // SAFETY: as above; sharing the lock only ever hands out exclusive access.
    unsafe impl<T: Send> Sync for Lock<T> {}

    pub(crate) struct LockGuard<'a, T>(&'a Lock<T>);

    impl<T> Lock<T> {
        pub(crate) const fn new(value: T) -> Self {
            Lock { locked: AtomicBool::new(false), value: CoreUnsafeCell::new(value) }
        }
        pub(crate) fn lock(&self) -> LockGuard<'_, T> {
            // Acquire pairs with the Release in LockGuard::drop: the previous holder's writes
            // to `value` are visible to us.
            while self
                .locked
                .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_err()
            {
                while self.locked.load(Ordering::Relaxed) {
                    core::hint::spin_loop();
                }
            }
            LockGuard(self)
        }
    }

    impl<T> Deref for LockGuard<'_, T> {
        type Target = T;
        fn deref(&self) -> &T {
            // SAFETY: the guard exists only while `locked` is held by us.
            unsafe { &*self.0.value.get() }
        }
    }
    impl<T> DerefMut for LockGuard<'_, T> {
        fn deref_mut(&mut self) -> &mut T {
            // SAFETY: as in deref; &mut self makes the access unique.
            unsafe { &mut *self.0.value.get() }
        }
    }
    impl<T> Drop for LockGuard<'_, T> {
        fn drop(&mut self) {
            self.0.locked.store(false, Ordering::Release);
        }
    }

    /// Without `std` the reader-writer lock is the spin lock: readers take it exclusively
    /// too (it guards only a few instructions of lookup).
    pub(crate) struct RwLock<T>(Lock<T>);
    pub(crate) type ReadGuard<'a, T> = LockGuard<'a, T>;
    pub(crate) type WriteGuard<'a, T> = LockGuard<'a, T>;

    impl<T> RwLock<T> {
        pub(crate) const fn new(value: T) -> Self {
            RwLock(Lock::new(value))
        }
        pub(crate) fn read(&self) -> ReadGuard<'_, T> {
            self.0.lock()
        }
        pub(crate) fn write(&self) -> WriteGuard<'_, T> {
            self.0.lock()
        }
    }

    /// How many shards a sharded structure uses (no way to ask the system here).
    pub(crate) fn shard_count() -> usize {
        16
    }

    pub(crate) use super::cell::{MutPtr, UnsafeCell};

    #[inline]
    pub(crate) fn spin_hint() {
        core::hint::spin_loop();
    }
}

/// The value cell of a lock: `UnsafeCell` plus a pointer (`MutPtr`) that stands for one
/// holder's access. Outside loom it is `core::cell::UnsafeCell` and a raw pointer; under loom
/// the same API wraps loom's tracked cell, so that loom checks each access.
///
/// A holder reads through [`MutPtr::deref`] (`&T`, any number at once) and writes through
/// [`MutPtr::deref_mut`] (`&mut T`, only while no other reference lives). Handing out `&mut T`
/// for a read would be undefined behaviour as soon as two reads overlap: each new `&mut`
/// invalidates every reference taken before it.
#[cfg(not(loom))]
mod cell {
    pub(crate) struct UnsafeCell<T: ?Sized>(core::cell::UnsafeCell<T>);

    /// A raw pointer into an [`UnsafeCell`], valid while the access it stands for lasts.
    pub(crate) struct MutPtr<T: ?Sized>(*mut T);

    impl<T> UnsafeCell<T> {
        pub(crate) const fn new(value: T) -> Self {
            UnsafeCell(core::cell::UnsafeCell::new(value))
        }
        pub(crate) fn into_inner(self) -> T {
            self.0.into_inner()
        }
    }

    impl<T: ?Sized> UnsafeCell<T> {
        #[inline]
        pub(crate) fn get_mut(&self) -> MutPtr<T> {
            MutPtr(self.0.get())
        }
        #[inline]
        pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }
    }

    impl<T: ?Sized> MutPtr<T> {
        /// Shared access.
        ///
        /// # Safety
        /// Nobody writes to the cell while the reference lives (the caller holds the access
        /// this pointer stands for, and no `deref_mut` reference of it is alive).
        #[inline]
        pub(crate) unsafe fn deref(&self) -> &T {
            // SAFETY: forwarded to the caller.
            unsafe { &*self.0 }
        }

        /// Exclusive access.
        ///
        /// # Safety
        /// The caller has exclusive access to the cell for the lifetime of the reference: no
        /// other reference to the value (shared or not) is alive or created meanwhile.
        #[inline]
        #[allow(clippy::mut_from_ref)]
        pub(crate) unsafe fn deref_mut(&self) -> &mut T {
            // SAFETY: forwarded to the caller.
            unsafe { &mut *self.0 }
        }
    }
}

#[cfg(loom)]
mod cell {
    pub(crate) struct UnsafeCell<T: ?Sized>(loom::cell::UnsafeCell<T>);

    /// loom's tracked pointer: loom records a write access for as long as it lives.
    pub(crate) struct MutPtr<T: ?Sized>(loom::cell::MutPtr<T>);

    impl<T> UnsafeCell<T> {
        pub(crate) fn new(value: T) -> Self {
            UnsafeCell(loom::cell::UnsafeCell::new(value))
        }
        pub(crate) fn into_inner(self) -> T {
            self.0.into_inner()
        }
    }

    impl<T: ?Sized> UnsafeCell<T> {
        pub(crate) fn get_mut(&self) -> MutPtr<T> {
            MutPtr(self.0.get_mut())
        }
        pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            self.0.with_mut(f)
        }
    }

    impl<T: ?Sized> MutPtr<T> {
        /// Shared access; the same contract as outside loom. loom's own `deref` returns
        /// `&mut T`, so this goes through the raw pointer instead.
        pub(crate) unsafe fn deref(&self) -> &T {
            // SAFETY: forwarded to the caller; the pointer is valid while `self` lives.
            self.0.with(|ptr| unsafe { &*ptr })
        }

        /// Exclusive access; the same contract as outside loom.
        #[allow(clippy::mut_from_ref)]
        pub(crate) unsafe fn deref_mut(&self) -> &mut T {
            // SAFETY: forwarded to the caller.
            unsafe { self.0.deref() }
        }
    }
}

pub(crate) use imp::*;

#[cfg(any(feature = "std", loom))]
pub(crate) use std::time::Instant;

/// `now + timeout`, or `None` when that does not fit in an `Instant` (wait forever).
#[cfg(any(feature = "std", loom))]
pub(crate) fn deadline_after(timeout: core::time::Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}
