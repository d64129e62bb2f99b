//! The buffered flavours (bounded ring, unbounded block list) and how their callers wait.
//!
//! The buffer itself is lock-free; waiting is layered on top. Each side (senders waiting for
//! room, receivers waiting for a value) is a [`WaitList`] behind a lock plus a flag saying
//! whether anyone is registered, so that a send or receive that finds nobody waiting on the
//! other side never takes a lock.
//!
//! A notification here is a hint, not a hand-off: the woken waiter retries the buffer. The
//! flag is read after the buffer operation and written before the waiter's re-check, with a
//! `SeqCst` fence on each side, so at least one of them sees the other: either the notifier
//! sees the waiter registered and wakes it, or the waiter's re-check sees the new value (or
//! room) and it does not sleep. A waiter that was woken and then gives up (a timeout, a
//! dropped future) either retries once or passes the wake-up on, so none is lost.

use super::array::Array;
use super::list::List;
use super::{PopError, PushError, RecvError, SendError, TryRecvError, TrySendError};
use crate::primitive::atomic::{fence, AtomicBool, Ordering};
use crate::primitive::Lock;
use crate::waiter::{TaskWaiter, Token, WaitList, Waiter, Wakeups, NOTIFIED};
use core::task::{Context, Poll};

#[cfg(feature = "std")]
use super::{RecvTimeoutError, SendTimeoutError};
#[cfg(feature = "std")]
use crate::primitive::Instant;

/// What the waiting layer needs from a buffer.
pub(crate) trait Buffer<T> {
    fn try_push(&self, value: T) -> Result<(), PushError<T>>;
    fn try_pop(&self) -> Result<T, PopError>;
    /// `try_push` for a caller that parks when it fails: it need not wait for another
    /// thread's half-finished operation (see `can_push`).
    fn try_push_nowait(&self, value: T) -> Result<(), PushError<T>> {
        self.try_push(value)
    }
    /// `try_pop` for a caller that parks when it fails (see `can_pop`).
    fn try_pop_nowait(&self) -> Result<T, PopError> {
        self.try_pop()
    }
    /// A pop would not block (a value, or closed and drained); read after the caller's
    /// registration and fence.
    fn can_pop(&self) -> bool {
        !self.is_empty() || self.is_closed()
    }
    /// A push would not block (room, or closed).
    fn can_push(&self) -> bool {
        !self.is_full() || self.is_closed()
    }
    fn close(&self) -> bool;
    fn is_closed(&self) -> bool;
    fn is_empty(&self) -> bool;
    fn is_full(&self) -> bool;
    fn capacity(&self) -> Option<usize>;
}

impl<T> Buffer<T> for Array<T> {
    fn try_push(&self, value: T) -> Result<(), PushError<T>> {
        Array::try_push(self, value)
    }
    fn try_pop(&self) -> Result<T, PopError> {
        Array::try_pop(self)
    }
    fn try_push_nowait(&self, value: T) -> Result<(), PushError<T>> {
        Array::try_push_nowait(self, value)
    }
    fn try_pop_nowait(&self) -> Result<T, PopError> {
        Array::try_pop_nowait(self)
    }
    fn can_pop(&self) -> bool {
        Array::can_pop(self)
    }
    fn can_push(&self) -> bool {
        Array::can_push(self)
    }
    fn close(&self) -> bool {
        Array::close(self)
    }
    fn is_closed(&self) -> bool {
        Array::is_closed(self)
    }
    fn is_empty(&self) -> bool {
        Array::is_empty(self)
    }
    fn is_full(&self) -> bool {
        Array::is_full(self)
    }
    fn capacity(&self) -> Option<usize> {
        Some(Array::capacity(self))
    }
}

impl<T> Buffer<T> for List<T> {
    fn try_push(&self, value: T) -> Result<(), PushError<T>> {
        List::try_push(self, value)
    }
    fn try_pop(&self) -> Result<T, PopError> {
        List::try_pop(self)
    }
    fn close(&self) -> bool {
        List::close(self)
    }
    fn is_closed(&self) -> bool {
        List::is_closed(self)
    }
    fn is_empty(&self) -> bool {
        List::is_empty(self)
    }
    fn is_full(&self) -> bool {
        false
    }
    fn capacity(&self) -> Option<usize> {
        None
    }
}

/// The waiters of one side, and whether there are any (read without the lock).
struct Side {
    list: Lock<WaitList>,
    waiting: AtomicBool,
}

impl Side {
    fn new() -> Self {
        Side { list: Lock::new(WaitList::new()), waiting: AtomicBool::new(false) }
    }

    /// Registers `waiter`; the caller then fences and re-checks its condition.
    fn register(&self, waiter: &Waiter, token: Token) {
        let mut list = self.list.lock();
        list.register_with(waiter, token, ());
        self.waiting.store(true, Ordering::Relaxed);
    }

    /// Withdraws `waiter`; `Some` if it had been completed (by this side or another case).
    fn cancel(&self, waiter: &Waiter) -> Option<Token> {
        let mut list = self.list.lock();
        let token = list.cancel(waiter);
        self.waiting.store(!list.is_empty(), Ordering::Relaxed);
        token
    }

    /// Withdraws `waiter` for good, passing on a wake-up this side gave it.
    fn abandon(&self, waiter: &Waiter, token: Token) {
        let _wake = {
            let mut list = self.list.lock();
            let wake = list.abandon_with(waiter, token);
            self.waiting.store(!list.is_empty(), Ordering::Relaxed);
            wake
        };
    }

    /// Wakes one waiter, if any. The caller has just changed the buffer; the fence orders
    /// that change before the flag is read (see the module docs).
    fn notify_one(&self) {
        fence(Ordering::SeqCst);
        if !self.waiting.load(Ordering::Relaxed) {
            return;
        }
        let _wake = {
            let mut list = self.list.lock();
            let wake = list.notify_one_with(|_| {});
            self.waiting.store(!list.is_empty(), Ordering::Relaxed);
            wake
        };
    }

    fn notify_all(&self) -> Wakeups {
        let mut list = self.list.lock();
        let wakeups = list.notify_all();
        self.waiting.store(!list.is_empty(), Ordering::Relaxed);
        wakeups
    }
}

/// A buffer with its two sides of waiters.
pub(crate) struct Buffered<B> {
    buf: B,
    receivers: Side,
    senders: Side,
}

impl<B> Buffered<B> {
    pub(crate) fn new(buf: B) -> Self {
        Buffered { buf, receivers: Side::new(), senders: Side::new() }
    }
}

impl<B> Buffered<B> {
    pub(crate) fn buffer(&self) -> &B {
        &self.buf
    }
}

impl<B> Buffered<B> {
    /// Closes the buffer and wakes everyone waiting on either side. True for the call that
    /// closed it.
    pub(crate) fn close<T>(&self) -> bool
    where
        B: Buffer<T>,
    {
        if !self.buf.close() {
            return false;
        }
        let _receivers = self.receivers.notify_all();
        let _senders = self.senders.notify_all();
        true
    }

    /// The public `try_send`: waits out another thread's half-finished receive of the slot
    /// it needs, so that `Full` means full.
    pub(crate) fn try_send<T>(&self, value: T) -> Result<(), TrySendError<T>>
    where
        B: Buffer<T>,
    {
        self.send_now(value, true)
    }

    /// `try_send` for the waiting paths, which park when it fails (see `Buffer::can_push`).
    pub(crate) fn try_send_nowait<T>(&self, value: T) -> Result<(), TrySendError<T>>
    where
        B: Buffer<T>,
    {
        self.send_now(value, false)
    }

    fn send_now<T>(&self, value: T, wait: bool) -> Result<(), TrySendError<T>>
    where
        B: Buffer<T>,
    {
        let pushed = if wait { self.buf.try_push(value) } else { self.buf.try_push_nowait(value) };
        match pushed {
            Ok(()) => {
                self.receivers.notify_one();
                Ok(())
            }
            Err(PushError::Full(value)) => Err(TrySendError::Full(value)),
            Err(PushError::Closed(value)) => Err(TrySendError::Closed(value)),
        }
    }

    /// The public `try_recv`: waits out another thread's half-finished send of the head
    /// slot, so that `Empty` means empty.
    pub(crate) fn try_recv<T>(&self) -> Result<T, TryRecvError>
    where
        B: Buffer<T>,
    {
        self.recv_now(true)
    }

    /// `try_recv` for the waiting paths, which park when it fails (see `Buffer::can_pop`).
    pub(crate) fn try_recv_nowait<T>(&self) -> Result<T, TryRecvError>
    where
        B: Buffer<T>,
    {
        self.recv_now(false)
    }

    fn recv_now<T>(&self, wait: bool) -> Result<T, TryRecvError>
    where
        B: Buffer<T>,
    {
        let popped = if wait { self.buf.try_pop() } else { self.buf.try_pop_nowait() };
        match popped {
            Ok(value) => {
                if self.buf.capacity().is_some() {
                    self.senders.notify_one();
                }
                Ok(value)
            }
            Err(PopError::Empty) => Err(TryRecvError::Empty),
            Err(PopError::Closed) => Err(TryRecvError::Closed),
        }
    }

    /// A receive would not block: a value is there or the buffer is closed and drained.
    fn recv_ready<T>(&self) -> bool
    where
        B: Buffer<T>,
    {
        self.buf.can_pop()
    }

    /// A send would not block: there is room or the buffer is closed.
    fn send_ready<T>(&self) -> bool
    where
        B: Buffer<T>,
    {
        self.buf.can_push()
    }

    /// Registers `waiter` as a receiver; true if a receive would not block after all (the
    /// registration stays until [`unregister_recv`](Self::unregister_recv)).
    pub(crate) fn register_recv<T>(&self, waiter: &Waiter, token: Token) -> bool
    where
        B: Buffer<T>,
    {
        self.receivers.register(waiter, token);
        fence(Ordering::SeqCst);
        self.recv_ready()
    }

    /// Registers `waiter` as a sender; true if a send would not block after all.
    pub(crate) fn register_send<T>(&self, waiter: &Waiter, token: Token) -> bool
    where
        B: Buffer<T>,
    {
        self.senders.register(waiter, token);
        fence(Ordering::SeqCst);
        self.send_ready()
    }

    pub(crate) fn unregister_recv(&self, waiter: &Waiter) -> Option<Token> {
        self.receivers.cancel(waiter)
    }

    pub(crate) fn unregister_send(&self, waiter: &Waiter) -> Option<Token> {
        self.senders.cancel(waiter)
    }

    /// A receiver that was woken with `token` gives up: the wake-up goes to the next one.
    pub(crate) fn abandon_recv(&self, waiter: &Waiter, token: Token) {
        self.receivers.abandon(waiter, token);
    }

    /// A sender that was woken with `token` gives up: the wake-up goes to the next one.
    pub(crate) fn abandon_send(&self, waiter: &Waiter, token: Token) {
        self.senders.abandon(waiter, token);
    }

    #[cfg(feature = "std")]
    pub(crate) fn send_deadline<T>(
        &self,
        value: T,
        deadline: Option<Instant>,
    ) -> Result<(), SendTimeoutError<T>>
    where
        B: Buffer<T>,
    {
        let mut value = value;
        loop {
            match self.try_send_nowait(value) {
                Ok(()) => return Ok(()),
                Err(TrySendError::Closed(v)) => return Err(SendTimeoutError::Closed(v)),
                Err(TrySendError::Full(v)) => value = v,
            }
            let waiter = Waiter::current_thread();
            if self.register_send(&waiter, NOTIFIED) {
                self.senders.cancel(&waiter);
                continue;
            }
            if waiter.wait_deadline(deadline).is_none() && self.senders.cancel(&waiter).is_none() {
                // Timed out and nobody woke us: nothing to pass on. One last try, since the
                // room may have come at the deadline.
                return self.try_send_nowait(value).map_err(|err| match err {
                    TrySendError::Full(v) => SendTimeoutError::Timeout(v),
                    TrySendError::Closed(v) => SendTimeoutError::Closed(v),
                });
            }
            // Woken (maybe at the deadline): retry, which uses up the wake-up.
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return self.try_send_nowait(value).map_err(|err| match err {
                    TrySendError::Full(v) => SendTimeoutError::Timeout(v),
                    TrySendError::Closed(v) => SendTimeoutError::Closed(v),
                });
            }
        }
    }

    #[cfg(feature = "std")]
    pub(crate) fn recv_deadline<T>(&self, deadline: Option<Instant>) -> Result<T, RecvTimeoutError>
    where
        B: Buffer<T>,
    {
        let last_try = |this: &Self| {
            this.try_recv_nowait().map_err(|err| match err {
                TryRecvError::Empty => RecvTimeoutError::Timeout,
                TryRecvError::Closed => RecvTimeoutError::Closed,
            })
        };
        loop {
            match self.try_recv_nowait() {
                Ok(value) => return Ok(value),
                Err(TryRecvError::Closed) => return Err(RecvTimeoutError::Closed),
                Err(TryRecvError::Empty) => {}
            }
            let waiter = Waiter::current_thread();
            if self.register_recv(&waiter, NOTIFIED) {
                self.receivers.cancel(&waiter);
                continue;
            }
            if waiter.wait_deadline(deadline).is_none() && self.receivers.cancel(&waiter).is_none() {
                return last_try(self);
            }
            // Woken: the retry uses up the wake-up. A wake-up that came at the deadline is
            // used by one last try, so that the value it announced is not stranded.
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return last_try(self);
            }
        }
    }

    /// One poll of an async send: `value` stays in the caller until it is sent.
    pub(crate) fn poll_send<T>(
        &self,
        value: &mut Option<T>,
        wait: &mut TaskWaiter,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), SendError<T>>>
    where
        B: Buffer<T>,
    {
        if wait.poll(cx.waker()).is_pending() {
            return Poll::Pending;
        }
        loop {
            let Some(v) = value.take() else { panic!("gosync: SendFuture polled after completion") };
            match self.try_send_nowait(v) {
                Ok(()) => return Poll::Ready(Ok(())),
                Err(TrySendError::Closed(v)) => return Poll::Ready(Err(SendError(v))),
                Err(TrySendError::Full(v)) => *value = Some(v),
            }
            let waiter = wait.arm(cx.waker());
            let ready = self.register_send(waiter, NOTIFIED);
            wait.set_registered();
            if !ready {
                return Poll::Pending;
            }
            self.senders.cancel(wait.waiter());
            wait.set_unregistered();
        }
    }

    /// One poll of an async receive: a value is taken only when it is returned.
    pub(crate) fn poll_recv<T>(
        &self,
        wait: &mut TaskWaiter,
        cx: &mut Context<'_>,
    ) -> Poll<Result<T, RecvError>>
    where
        B: Buffer<T>,
    {
        if wait.poll(cx.waker()).is_pending() {
            return Poll::Pending;
        }
        loop {
            match self.try_recv_nowait() {
                Ok(value) => return Poll::Ready(Ok(value)),
                Err(TryRecvError::Closed) => return Poll::Ready(Err(RecvError)),
                Err(TryRecvError::Empty) => {}
            }
            let waiter = wait.arm(cx.waker());
            let ready = self.register_recv(waiter, NOTIFIED);
            wait.set_registered();
            if !ready {
                return Poll::Pending;
            }
            self.receivers.cancel(wait.waiter());
            wait.set_unregistered();
        }
    }

    /// A send future goes away: a wake-up it was given passes on to the next sender.
    pub(crate) fn drop_send(&self, wait: &mut TaskWaiter) {
        if let Some(waiter) = wait.registered() {
            self.senders.abandon(waiter, NOTIFIED);
            wait.set_unregistered();
        }
    }

    /// A receive future goes away: a wake-up it was given passes on to the next receiver.
    pub(crate) fn drop_recv(&self, wait: &mut TaskWaiter) {
        if let Some(waiter) = wait.registered() {
            self.receivers.abandon(waiter, NOTIFIED);
            wait.set_unregistered();
        }
    }
}
