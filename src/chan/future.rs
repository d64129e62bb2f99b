//! The channel futures: [`SendFuture`] and [`RecvFuture`], and the wait a [`Receiver`] keeps
//! for its `Stream` implementation.

use super::zero::ZeroWait;
use super::{flavor, Chan, Receiver, RecvError, SendError, Sender};
use crate::waiter::TaskWaiter;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

/// One async receive in progress: its waiter and, on a rendezvous channel, its slot.
pub(crate) struct RecvState<T> {
    wait: TaskWaiter,
    zero: ZeroWait<T>,
}

impl<T> Default for RecvState<T> {
    fn default() -> Self {
        RecvState { wait: TaskWaiter::new(), zero: ZeroWait::default() }
    }
}

impl<T> RecvState<T> {
    pub(crate) fn poll_recv(&mut self, chan: &Chan<T>, cx: &mut Context<'_>) -> Poll<Result<T, RecvError>> {
        flavor!(chan, b => b.poll_recv(&mut self.wait, cx), z => z.poll_recv(&mut self.wait, &mut self.zero, cx))
    }

    /// True while the wait is registered (so a withdrawal has something to do).
    pub(crate) fn is_registered(&self) -> bool {
        self.wait.registered().is_some()
    }

    /// Withdraws a pending wait: its wake-up passes on, a value handed to it goes back.
    pub(crate) fn withdraw(&mut self, chan: &Chan<T>) {
        flavor!(chan, b => b.drop_recv(&mut self.wait), z => z.drop_recv(&mut self.wait, &mut self.zero))
    }
}

/// The future of [`Sender::send_async`].
///
/// # Cancel safety
/// On a buffered channel, dropping it before it returned `Ready` means the value was not
/// sent. On a rendezvous channel a receiver may take the value at the moment of the drop;
/// use [`into_value`](SendFuture::into_value) instead of dropping to learn which happened.
///
/// ```
/// # gosync::__block_on(async {
/// let (tx, rx) = gosync::chan::bounded(1);
/// let fut: gosync::chan::SendFuture<'_, i32> = tx.send_async(1);
/// fut.await.unwrap();
/// assert_eq!(rx.recv(), Ok(1));
/// # });
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct SendFuture<'a, T> {
    tx: &'a Sender<T>,
    value: Option<T>,
    wait: TaskWaiter,
    zero: ZeroWait<T>,
    done: bool,
}

impl<'a, T> SendFuture<'a, T> {
    pub(crate) fn new(tx: &'a Sender<T>, value: T) -> Self {
        SendFuture { tx, value: Some(value), wait: TaskWaiter::new(), zero: ZeroWait::default(), done: false }
    }

    /// Gives up on the send and returns the value if it was not sent, `None` if it was (a
    /// receiver took it, possibly at this very moment on a rendezvous channel, or the future
    /// had completed).
    ///
    /// ```
    /// use std::task::{Context, Poll, Waker};
    /// use std::future::Future;
    /// let (tx, _rx) = gosync::chan::bounded(0);
    /// let mut fut = tx.send_async("hello");
    /// let mut cx = Context::from_waker(Waker::noop());
    /// assert!(std::pin::Pin::new(&mut fut).poll(&mut cx).is_pending()); // nobody receives
    /// assert_eq!(fut.into_value(), Some("hello"));
    /// ```
    pub fn into_value(mut self) -> Option<T> {
        self.withdraw()
    }

    fn withdraw(&mut self) -> Option<T> {
        let chan = self.tx.chan();
        let from_slot = flavor!(chan, b => {
            b.drop_send(&mut self.wait);
            None
        }, z => z.drop_send(&mut self.wait, &mut self.zero));
        self.value.take().or(from_slot)
    }
}

impl<T> Future for SendFuture<'_, T> {
    type Output = Result<(), SendError<T>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert!(!this.done, "gosync: SendFuture polled after completion");
        let chan = this.tx.chan();
        let poll = flavor!(chan,
            b => b.poll_send(&mut this.value, &mut this.wait, cx),
            z => z.poll_send(&mut this.value, &mut this.wait, &mut this.zero, cx));
        if poll.is_ready() {
            this.done = true;
        }
        poll
    }
}

// The value is never pinned: it moves into the channel.
impl<T> Unpin for SendFuture<'_, T> {}

impl<T> futures_core::FusedFuture for SendFuture<'_, T> {
    fn is_terminated(&self) -> bool {
        self.done
    }
}

impl<T> Drop for SendFuture<'_, T> {
    fn drop(&mut self) {
        drop(self.withdraw());
    }
}

impl<T> fmt::Debug for SendFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendFuture").field("done", &self.done).finish_non_exhaustive()
    }
}

/// The future of [`Receiver::recv_async`].
///
/// # Cancel safety
/// Dropping it at any point loses no value: see [`Receiver::recv_async`].
///
/// ```
/// # gosync::__block_on(async {
/// let (tx, rx) = gosync::chan::unbounded();
/// tx.send('x').unwrap();
/// let fut: gosync::chan::RecvFuture<'_, char> = rx.recv_async();
/// assert_eq!(fut.await, Ok('x'));
/// # });
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct RecvFuture<'a, T> {
    rx: &'a Receiver<T>,
    state: RecvState<T>,
    done: bool,
}

impl<'a, T> RecvFuture<'a, T> {
    pub(crate) fn new(rx: &'a Receiver<T>) -> Self {
        RecvFuture { rx, state: RecvState::default(), done: false }
    }
}

impl<T> Future for RecvFuture<'_, T> {
    type Output = Result<T, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert!(!this.done, "gosync: RecvFuture polled after completion");
        let poll = this.state.poll_recv(this.rx.chan(), cx);
        if poll.is_ready() {
            this.done = true;
        }
        poll
    }
}

impl<T> Unpin for RecvFuture<'_, T> {}

impl<T> futures_core::FusedFuture for RecvFuture<'_, T> {
    fn is_terminated(&self) -> bool {
        self.done
    }
}

impl<T> Drop for RecvFuture<'_, T> {
    fn drop(&mut self) {
        self.state.withdraw(self.rx.chan());
    }
}

impl<T> fmt::Debug for RecvFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvFuture").field("done", &self.done).finish_non_exhaustive()
    }
}
