// TEMPORARY stand-in (lock-based) until the lock-free block list lands; same interface.
use super::{PopError, PushError};
use crate::primitive::Lock;
use alloc::collections::VecDeque;

pub(crate) struct List<T> {
    inner: Lock<(VecDeque<T>, bool)>,
}

impl<T> List<T> {
    pub(crate) fn new() -> Self {
        List { inner: Lock::new((VecDeque::new(), false)) }
    }
    pub(crate) fn try_push(&self, value: T) -> Result<(), PushError<T>> {
        let mut g = self.inner.lock();
        if g.1 {
            return Err(PushError::Closed(value));
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
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
