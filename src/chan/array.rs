// TEMPORARY stand-in (lock-based) until the lock-free ring lands; same interface.
use super::{PopError, PushError};
use crate::primitive::Lock;
use alloc::collections::VecDeque;

pub(crate) struct Array<T> {
    inner: Lock<(VecDeque<T>, bool)>,
    cap: usize,
}

impl<T> Array<T> {
    pub(crate) fn new(cap: usize) -> Self {
        assert!(cap > 0, "gosync: zero capacity");
        Array { inner: Lock::new((VecDeque::new(), false)), cap }
    }
    pub(crate) fn try_push(&self, value: T) -> Result<(), PushError<T>> {
        let mut g = self.inner.lock();
        if g.1 {
            return Err(PushError::Closed(value));
        }
        if g.0.len() == self.cap {
            return Err(PushError::Full(value));
        }
        g.0.push_back(value);
        Ok(())
    }
    pub(crate) fn try_pop(&self) -> Result<T, PopError> {
        let mut g = self.inner.lock();
        match g.0.pop_front() {
            Some(v) => Ok(v),
            None if g.1 => Err(PopError::Closed),
            None => Err(PopError::Empty),
        }
    }
    pub(crate) fn close(&self) -> bool {
        let mut g = self.inner.lock();
        !core::mem::replace(&mut g.1, true)
    }
    pub(crate) fn is_closed(&self) -> bool {
        self.inner.lock().1
    }
    pub(crate) fn len(&self) -> usize {
        self.inner.lock().0.len()
    }
    pub(crate) fn capacity(&self) -> usize {
        self.cap
    }
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub(crate) fn is_full(&self) -> bool {
        self.len() == self.cap
    }
}
