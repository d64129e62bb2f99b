//! A 64-bit word that is updated by compare-and-swap: an `AtomicU64` where the target has
//! one, and a tiny lock around a `u64` where it does not (32-bit microcontrollers such as
//! the Cortex-M4). The limiter's algorithm is the same either way; only the fallback takes a
//! lock, held for a load or a compare-and-swap and nothing else.

#[cfg(target_has_atomic = "64")]
mod imp {
    use crate::primitive::atomic::{AtomicU64, Ordering};

    pub(crate) struct Word(AtomicU64);

    impl Word {
        pub(crate) fn new(value: u64) -> Self {
            Word(AtomicU64::new(value))
        }
        #[inline]
        pub(crate) fn load(&self, order: Ordering) -> u64 {
            self.0.load(order)
        }
        #[inline]
        pub(crate) fn store(&self, value: u64, order: Ordering) {
            self.0.store(value, order)
        }
        #[inline]
        pub(crate) fn compare_exchange(
            &self,
            current: u64,
            new: u64,
            success: Ordering,
            failure: Ordering,
        ) -> Result<u64, u64> {
            self.0.compare_exchange(current, new, success, failure)
        }
    }
}

#[cfg(not(target_has_atomic = "64"))]
mod imp {
    use crate::primitive::atomic::Ordering;
    use crate::primitive::Lock;

    /// The lock gives every access the ordering of a `SeqCst` atomic, so the orderings the
    /// callers ask for are all met.
    pub(crate) struct Word(Lock<u64>);

    impl Word {
        pub(crate) fn new(value: u64) -> Self {
            Word(Lock::new(value))
        }
        pub(crate) fn load(&self, _order: Ordering) -> u64 {
            *self.0.lock()
        }
        pub(crate) fn store(&self, value: u64, _order: Ordering) {
            *self.0.lock() = value;
        }
        pub(crate) fn compare_exchange(
            &self,
            current: u64,
            new: u64,
            _success: Ordering,
            _failure: Ordering,
        ) -> Result<u64, u64> {
            let mut word = self.0.lock();
            if *word == current {
                *word = new;
                Ok(current)
            } else {
                Err(*word)
            }
        }
    }
}

pub(crate) use imp::Word;
