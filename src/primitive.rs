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
//! `Lock` guards short internal critical sections only (a wait list, a waker slot): no user
//! code and no parking ever runs while one is held.

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

    pub(crate) use loom::cell::{MutPtr, UnsafeCell};

    /// Called once per turn of a retry loop: loom must see a scheduling point there, or a
    /// model that spins explodes its branch count.
    #[allow(dead_code)] // only the no_std build spins
    pub(crate) fn spin_hint() {
        loom::thread::yield_now();
    }

    pub(crate) mod thread {
        use loom::sync::{Arc, Notify};
        pub(crate) use loom::thread::{spawn, JoinHandle};
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

    pub(crate) use super::cell::{MutPtr, UnsafeCell};

    #[inline]
    #[allow(dead_code)] // the std build parks instead of spinning
    pub(crate) fn spin_hint() {
        core::hint::spin_loop();
    }

    pub(crate) mod thread {
        pub(crate) use std::thread::{spawn, JoinHandle};
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

    pub(crate) use super::cell::{MutPtr, UnsafeCell};

    #[inline]
    pub(crate) fn spin_hint() {
        core::hint::spin_loop();
    }
}

/// loom's `UnsafeCell` API (a tracked pointer per access) over `core::cell::UnsafeCell`, so
/// that the same code checks under loom and compiles to plain pointer accesses otherwise.
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
        /// # Safety
        /// The caller has exclusive access to the cell for the lifetime of the reference.
        #[inline]
        #[allow(clippy::mut_from_ref)]
        pub(crate) unsafe fn deref(&self) -> &mut T {
            // SAFETY: forwarded to the caller.
            unsafe { &mut *self.0 }
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
