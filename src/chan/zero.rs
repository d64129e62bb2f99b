//! The rendezvous flavour (capacity 0): a send completes only when a receiver takes the value.
//!
//! Everything happens under one lock, as the hand-off has to pair exactly one sender with
//! exactly one receiver. A waiting sender's registration carries a full [`Slot`] (its value);
//! a waiting receiver's an empty one. Whoever arrives second moves the value between the
//! slots and completes the other's registration, so the first learns the outcome from its
//! slot: a sender whose slot is empty was received, a receiver whose slot is full got a
//! value. A waiter woken with its slot unchanged (by close) retries.
//!
//! A receive future dropped after a value was handed to it gives the value back: to the next
//! waiting receiver, or to a small queue of returned values that receivers take first. So a
//! value is never lost, though a sender may have completed before its value was finally
//! received.

use super::{RecvError, SendError, TryRecvError, TrySendError};
use crate::primitive::Lock;
use crate::waiter::{Slot, TaskWaiter, Token, WaitList, Waiter, NOTIFIED};
use alloc::collections::VecDeque;
use core::task::{Context, Poll};

#[cfg(feature = "std")]
use super::{RecvTimeoutError, SendTimeoutError};
#[cfg(feature = "std")]
use crate::primitive::Instant;

pub(crate) struct Zero<T> {
    inner: Lock<Inner<T>>,
}

struct Inner<T> {
    /// Waiting senders, each with its value in its slot.
    senders: WaitList<Slot<T>>,
    /// Waiting receivers, each with an empty slot.
    receivers: WaitList<Slot<T>>,
    /// Values handed to receive futures that were then dropped: the next receivers get them.
    returned: VecDeque<T>,
    closed: bool,
}

/// A future's wait on a rendezvous channel: its waiter and the slot it registered with.
pub(crate) struct ZeroWait<T> {
    slot: Option<Slot<T>>,
}

impl<T> Default for ZeroWait<T> {
    fn default() -> Self {
        ZeroWait { slot: None }
    }
}

impl<T> ZeroWait<T> {
    /// Empties the slot. Only once the registration is withdrawn or completed (so nobody
    /// else can touch the slot).
    fn take(&mut self) -> Option<T> {
        self.slot.take().and_then(|slot| slot.take())
    }
}

impl<T> Inner<T> {
    /// Gives `value` to a waiting receiver. `Err` gives it back when none is waiting.
    fn hand_to_receiver(&mut self, value: T) -> Result<Option<crate::waiter::Wakeup>, T> {
        let mut value = Some(value);
        let wake = self.receivers.notify_one_with(|slot| {
            let v = value.take().expect("fill runs once");
            // A live receiver's slot is empty: only a sender fills it, and completes it.
            let put = slot.put(v);
            debug_assert!(put.is_ok(), "a waiting receiver's slot was full");
        });
        match value {
            None => Ok(wake),
            Some(value) => Err(value),
        }
    }

    /// Takes a value from a returned one or a waiting sender.
    fn take_from_sender(&mut self) -> Option<(T, Option<crate::waiter::Wakeup>)> {
        if let Some(value) = self.returned.pop_front() {
            return Some((value, None));
        }
        let mut got = None;
        let wake = self.senders.notify_one_with(|slot| got = slot.take());
        got.map(|value| (value, wake))
    }

    /// A value that was handed to a receiver who cannot take it any more goes back.
    fn give_back(&mut self, value: T) -> Option<crate::waiter::Wakeup> {
        match self.hand_to_receiver(value) {
            Ok(wake) => wake,
            Err(value) => {
                self.returned.push_back(value);
                None
            }
        }
    }
}

impl<T> Zero<T> {
    pub(crate) fn new() -> Self {
        Zero {
            inner: Lock::new(Inner {
                senders: WaitList::new(),
                receivers: WaitList::new(),
                returned: VecDeque::new(),
                closed: false,
            }),
        }
    }

    pub(crate) fn close(&self) -> bool {
        let (_senders, _receivers) = {
            let mut inner = self.inner.lock();
            if inner.closed {
                return false;
            }
            inner.closed = true;
            (inner.senders.notify_all(), inner.receivers.notify_all())
        };
        true
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.inner.lock().closed
    }

    /// Values given back by dropped receive futures (a rendezvous channel buffers nothing
    /// else).
    pub(crate) fn len(&self) -> usize {
        self.inner.lock().returned.len()
    }

    pub(crate) fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        let mut inner = self.inner.lock();
        if inner.closed {
            return Err(TrySendError::Closed(value));
        }
        match inner.hand_to_receiver(value) {
            Ok(wake) => {
                drop(inner);
                drop(wake);
                Ok(())
            }
            Err(value) => Err(TrySendError::Full(value)),
        }
    }

    pub(crate) fn try_recv(&self) -> Result<T, TryRecvError> {
        let mut inner = self.inner.lock();
        match inner.take_from_sender() {
            Some((value, wake)) => {
                drop(inner);
                drop(wake);
                Ok(value)
            }
            None if inner.closed => Err(TryRecvError::Closed),
            None => Err(TryRecvError::Empty),
        }
    }

    #[cfg(feature = "std")]
    pub(crate) fn send_deadline(
        &self,
        value: T,
        deadline: Option<Instant>,
    ) -> Result<(), SendTimeoutError<T>> {
        let mut value = value;
        loop {
            let waiter = Waiter::current_thread();
            let slot = {
                let mut inner = self.inner.lock();
                if inner.closed {
                    return Err(SendTimeoutError::Closed(value));
                }
                match inner.hand_to_receiver(value) {
                    Ok(wake) => {
                        drop(inner);
                        drop(wake);
                        return Ok(());
                    }
                    Err(v) => {
                        let slot = Slot::full(v);
                        inner.senders.register_with(&waiter, NOTIFIED, slot.clone());
                        slot
                    }
                }
            };
            if waiter.wait_deadline(deadline).is_none() {
                let cancelled = self.inner.lock().senders.cancel(&waiter).is_none();
                if cancelled {
                    let value = slot.take().expect("a cancelled sender keeps its value");
                    return Err(SendTimeoutError::Timeout(value));
                }
            }
            // Completed: received (slot emptied) or woken by close (value still there).
            match slot.take() {
                None => return Ok(()),
                Some(v) => value = v,
            }
        }
    }

    #[cfg(feature = "std")]
    pub(crate) fn recv_deadline(&self, deadline: Option<Instant>) -> Result<T, RecvTimeoutError> {
        loop {
            let waiter = Waiter::current_thread();
            let slot = {
                let mut inner = self.inner.lock();
                if let Some((value, wake)) = inner.take_from_sender() {
                    drop(inner);
                    drop(wake);
                    return Ok(value);
                }
                if inner.closed {
                    return Err(RecvTimeoutError::Closed);
                }
                let slot = Slot::empty();
                inner.receivers.register_with(&waiter, NOTIFIED, slot.clone());
                slot
            };
            if waiter.wait_deadline(deadline).is_none() {
                let cancelled = self.inner.lock().receivers.cancel(&waiter).is_none();
                if cancelled {
                    return Err(RecvTimeoutError::Timeout);
                }
            }
            // Completed: handed a value, or woken by close (retry sees it).
            if let Some(value) = slot.take() {
                return Ok(value);
            }
        }
    }

    /// One poll of an async send. The value moves into the registration's slot while the
    /// future waits; `value` is `None` once it was received.
    pub(crate) fn poll_send(
        &self,
        value: &mut Option<T>,
        wait: &mut TaskWaiter,
        zw: &mut ZeroWait<T>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), SendError<T>>> {
        match wait.poll(cx.waker()) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Some(_)) => match zw.take() {
                None => return Poll::Ready(Ok(())),
                Some(v) => *value = Some(v),
            },
            Poll::Ready(None) => {}
        }
        let Some(v) = value.take() else { panic!("gosync: SendFuture polled after completion") };
        let waiter = wait.arm(cx.waker()).clone();
        let mut inner = self.inner.lock();
        if inner.closed {
            return Poll::Ready(Err(SendError(v)));
        }
        match inner.hand_to_receiver(v) {
            Ok(wake) => {
                drop(inner);
                drop(wake);
                Poll::Ready(Ok(()))
            }
            Err(v) => {
                let slot = Slot::full(v);
                inner.senders.register_with(&waiter, NOTIFIED, slot.clone());
                drop(inner);
                zw.slot = Some(slot);
                wait.set_registered();
                Poll::Pending
            }
        }
    }

    /// One poll of an async receive.
    pub(crate) fn poll_recv(
        &self,
        wait: &mut TaskWaiter,
        zw: &mut ZeroWait<T>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<T, RecvError>> {
        match wait.poll(cx.waker()) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Some(_)) => {
                if let Some(value) = zw.take() {
                    return Poll::Ready(Ok(value));
                }
            }
            Poll::Ready(None) => {}
        }
        let waiter = wait.arm(cx.waker()).clone();
        let mut inner = self.inner.lock();
        if let Some((value, wake)) = inner.take_from_sender() {
            drop(inner);
            drop(wake);
            return Poll::Ready(Ok(value));
        }
        if inner.closed {
            return Poll::Ready(Err(RecvError));
        }
        let slot = Slot::empty();
        inner.receivers.register_with(&waiter, NOTIFIED, slot.clone());
        drop(inner);
        zw.slot = Some(slot);
        wait.set_registered();
        Poll::Pending
    }

    /// A send future goes away (or gives its value back): withdraws its registration and
    /// returns the value if it was not received.
    pub(crate) fn drop_send(&self, wait: &mut TaskWaiter, zw: &mut ZeroWait<T>) -> Option<T> {
        if let Some(waiter) = wait.registered() {
            self.inner.lock().senders.cancel(waiter);
            wait.set_unregistered();
        }
        zw.take()
    }

    /// A receive future goes away: a value handed to it goes back to the channel.
    pub(crate) fn drop_recv(&self, wait: &mut TaskWaiter, zw: &mut ZeroWait<T>) {
        let Some(waiter) = wait.registered() else { return };
        let waiter = waiter.clone();
        wait.set_unregistered();
        let _wake = {
            let mut inner = self.inner.lock();
            inner.receivers.cancel(&waiter);
            // After the cancel nobody else can fill the slot.
            match zw.take() {
                Some(value) => inner.give_back(value),
                None => None,
            }
        };
    }

    /// Registers a select's receive case with `slot`, unless a receive would not block:
    /// then `false` and nothing is registered.
    pub(crate) fn register_recv(&self, waiter: &Waiter, token: Token, slot: &Slot<T>) -> bool {
        let mut inner = self.inner.lock();
        if inner.closed || !inner.returned.is_empty() || inner.senders.has_live_other(waiter) {
            return false;
        }
        inner.receivers.register_with(waiter, token, slot.clone());
        true
    }

    /// Registers a select's send case with its value in `slot`, unless a send would not
    /// block: then `false`, nothing registered, and the value stays in `slot`.
    pub(crate) fn register_send(&self, waiter: &Waiter, token: Token, slot: &Slot<T>) -> bool {
        let mut inner = self.inner.lock();
        if inner.closed || inner.receivers.has_live_other(waiter) {
            return false;
        }
        inner.senders.register_with(waiter, token, slot.clone());
        true
    }

    pub(crate) fn unregister_recv(&self, waiter: &Waiter) {
        self.inner.lock().receivers.cancel(waiter);
    }

    pub(crate) fn unregister_send(&self, waiter: &Waiter) {
        self.inner.lock().senders.cancel(waiter);
    }

    /// A select receive case handed `value` goes away before returning it: it goes back.
    pub(crate) fn give_back(&self, value: T) {
        let _wake = self.inner.lock().give_back(value);
    }
}
