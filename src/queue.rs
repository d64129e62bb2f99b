//! [`BoundedQueue`]: the classic producer/consumer queue, one [`Mutex`] over a ring buffer
//! with a not-full and a not-empty [`Cond`].

use crate::cond::Cond;
use crate::mutex::{Mutex, MutexGuard};
use crate::waiter::TaskWaiter;
use alloc::collections::VecDeque;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{ready, Context, Poll};
use futures_core::FusedFuture;

#[cfg(any(feature = "std", loom))]
use crate::primitive::{deadline_after, Instant};
#[cfg(any(feature = "std", loom))]
use core::time::Duration;

/// A bounded multi-producer multi-consumer FIFO queue with Go-style close, for threads and
/// async tasks.
///
/// Producers block (or wait asynchronously) while it is full, consumers while it is empty.
/// [`close`](BoundedQueue::close) ends it: pushes fail and give the value back, pops drain
/// what is left and then report the end. A push synchronizes with the pop that takes its
/// value.
///
/// It is built the way the textbook builds it: one [`Mutex`] around a ring buffer, a
/// not-full [`Cond`] producers wait on and a not-empty [`Cond`] consumers wait on.
///
/// # BoundedQueue vs `std::sync::mpsc::sync_channel`
/// The queue is one shared value (wrap it in an `Arc`), not a sender/receiver pair, and it is
/// MPMC: any number of consumers pop. Close is explicit and idempotent, as in Go.
///
/// # Example
/// ```
/// use gosync::BoundedQueue;
/// use std::sync::Arc;
///
/// let queue = Arc::new(BoundedQueue::new(2));
/// let producer = {
///     let queue = queue.clone();
///     std::thread::spawn(move || {
///         for i in 0..5 {
///             queue.push(i).unwrap();
///         }
///         queue.close();
///     })
/// };
/// let received: Vec<i32> = std::iter::from_fn(|| queue.pop()).collect();
/// assert_eq!(received, [0, 1, 2, 3, 4]);
/// producer.join().unwrap();
/// ```
pub struct BoundedQueue<T> {
    ring: Mutex<Ring<T>>,
    not_empty: Cond,
    not_full: Cond,
    capacity: usize,
}

struct Ring<T> {
    items: VecDeque<T>,
    closed: bool,
}

impl<T> BoundedQueue<T> {
    /// An empty queue holding at most `capacity` items.
    ///
    /// # Panics
    /// `gosync: BoundedQueue capacity must be at least 1` if `capacity` is 0 (a queue that can
    /// hold nothing would block every producer forever).
    ///
    /// ```
    /// let queue = gosync::BoundedQueue::<u8>::new(8);
    /// assert_eq!(queue.capacity(), 8);
    /// ```
    pub fn new(capacity: usize) -> Self {
        assert!(capacity > 0, "gosync: BoundedQueue capacity must be at least 1");
        BoundedQueue {
            ring: Mutex::new(Ring { items: VecDeque::with_capacity(capacity), closed: false }),
            not_empty: Cond::new(),
            not_full: Cond::new(),
            capacity,
        }
    }

    /// Appends `value`, blocking while the queue is full. Fails with the value back if the
    /// queue is closed (before or while waiting).
    ///
    /// ```
    /// let queue = gosync::BoundedQueue::new(1);
    /// queue.push("a").unwrap();
    /// queue.close();
    /// assert_eq!(queue.push("b").unwrap_err().into_inner(), "b");
    /// ```
    #[cfg(any(feature = "std", loom))]
    pub fn push(&self, value: T) -> Result<(), Closed<T>> {
        self.push_until(value, None).map_err(|err| Closed(err.into_inner()))
    }

    /// Appends `value` if there is room right now.
    ///
    /// ```
    /// use gosync::{BoundedQueue, TryPushError};
    /// let queue = BoundedQueue::new(1);
    /// queue.try_push(1).unwrap();
    /// assert_eq!(queue.try_push(2), Err(TryPushError::Full(2)));
    /// ```
    pub fn try_push(&self, value: T) -> Result<(), TryPushError<T>> {
        let mut ring = self.ring.lock_short();
        self.push_locked(&mut ring, value)?;
        drop(ring);
        self.not_empty.signal();
        Ok(())
    }

    /// Like [`push`](BoundedQueue::push), giving up after `timeout` with the value back.
    ///
    /// ```
    /// use gosync::{BoundedQueue, PushTimeoutError};
    /// use std::time::Duration;
    /// let queue = BoundedQueue::new(1);
    /// queue.push(1).unwrap();
    /// let err = queue.push_timeout(2, Duration::from_millis(1)).unwrap_err();
    /// assert_eq!(err, PushTimeoutError::Timeout(2));
    /// ```
    #[cfg(any(feature = "std", loom))]
    pub fn push_timeout(&self, value: T, timeout: Duration) -> Result<(), PushTimeoutError<T>> {
        self.push_until(value, deadline_after(timeout))
    }

    /// Like [`push`](BoundedQueue::push), giving up at `deadline` with the value back.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let queue = gosync::BoundedQueue::new(1);
    /// assert!(queue.push_deadline(1, Instant::now() + Duration::from_millis(1)).is_ok());
    /// ```
    #[cfg(any(feature = "std", loom))]
    pub fn push_deadline(&self, value: T, deadline: Instant) -> Result<(), PushTimeoutError<T>> {
        self.push_until(value, Some(deadline))
    }

    /// Appends `value` from an async task, waiting while the queue is full.
    ///
    /// # Cancel safety
    /// The value enters the queue only when the future completes with `Ok`; dropping the
    /// future before then drops the value unsent ([`PushFuture::into_value`] takes it back
    /// instead). A wake-up it had received passes to the next waiting producer.
    ///
    /// ```
    /// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
    /// #     let waker = std::task::Waker::noop();
    /// #     let mut f = std::pin::pin!(f);
    /// #     loop { if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut std::task::Context::from_waker(&waker)) { return v } }
    /// # }
    /// let queue = gosync::BoundedQueue::new(1);
    /// block_on(queue.push_async(5)).unwrap();
    /// assert_eq!(block_on(queue.pop_async()), Some(5));
    /// ```
    pub fn push_async(&self, value: T) -> PushFuture<'_, T> {
        PushFuture { queue: self, value: Some(value), wait: TaskWaiter::new() }
    }

    /// Removes the oldest item, blocking while the queue is empty. `None` once the queue is
    /// closed and drained.
    ///
    /// ```
    /// let queue = gosync::BoundedQueue::new(2);
    /// queue.push(1).unwrap();
    /// queue.close();
    /// assert_eq!(queue.pop(), Some(1));
    /// assert_eq!(queue.pop(), None);
    /// ```
    #[cfg(any(feature = "std", loom))]
    pub fn pop(&self) -> Option<T> {
        self.pop_until(None).ok()
    }

    /// Removes the oldest item if there is one right now.
    ///
    /// ```
    /// use gosync::{BoundedQueue, TryPopError};
    /// let queue = BoundedQueue::<i32>::new(1);
    /// assert_eq!(queue.try_pop(), Err(TryPopError::Empty));
    /// queue.close();
    /// assert_eq!(queue.try_pop(), Err(TryPopError::Closed));
    /// ```
    pub fn try_pop(&self) -> Result<T, TryPopError> {
        let mut ring = self.ring.lock_short();
        let value = Self::pop_locked(&mut ring)?;
        drop(ring);
        self.not_full.signal();
        Ok(value)
    }

    /// Like [`pop`](BoundedQueue::pop), giving up after `timeout`.
    ///
    /// ```
    /// use gosync::{BoundedQueue, PopTimeoutError};
    /// use std::time::Duration;
    /// let queue = BoundedQueue::<i32>::new(1);
    /// assert_eq!(queue.pop_timeout(Duration::from_millis(1)), Err(PopTimeoutError::Timeout));
    /// ```
    #[cfg(any(feature = "std", loom))]
    pub fn pop_timeout(&self, timeout: Duration) -> Result<T, PopTimeoutError> {
        self.pop_until(deadline_after(timeout))
    }

    /// Like [`pop`](BoundedQueue::pop), giving up at `deadline`.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let queue = gosync::BoundedQueue::new(1);
    /// queue.push('x').unwrap();
    /// assert_eq!(queue.pop_deadline(Instant::now() + Duration::from_millis(1)), Ok('x'));
    /// ```
    #[cfg(any(feature = "std", loom))]
    pub fn pop_deadline(&self, deadline: Instant) -> Result<T, PopTimeoutError> {
        self.pop_until(Some(deadline))
    }

    /// Removes the oldest item from an async task, waiting while the queue is empty.
    /// Resolves to `None` once the queue is closed and drained.
    ///
    /// # Cancel safety
    /// An item is removed only in the poll that returns it, so dropping the future never
    /// loses one; a wake-up it had received passes to the next waiting consumer.
    ///
    /// ```
    /// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
    /// #     let waker = std::task::Waker::noop();
    /// #     let mut f = std::pin::pin!(f);
    /// #     loop { if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut std::task::Context::from_waker(&waker)) { return v } }
    /// # }
    /// let queue = gosync::BoundedQueue::<u8>::new(1);
    /// queue.close();
    /// assert_eq!(block_on(queue.pop_async()), None);
    /// ```
    pub fn pop_async(&self) -> PopFuture<'_, T> {
        PopFuture { queue: self, wait: TaskWaiter::new(), done: false }
    }

    /// Closes the queue: pushes fail from now on, blocked producers get their values back,
    /// and consumers drain what is left. Returns true for the call that closed it, false if
    /// it was already closed (closing twice is not an error, unlike Go's channels).
    ///
    /// ```
    /// let queue = gosync::BoundedQueue::<()>::new(1);
    /// assert!(queue.close());
    /// assert!(!queue.close());
    /// ```
    pub fn close(&self) -> bool {
        let mut ring = self.ring.lock_short();
        if ring.closed {
            return false;
        }
        ring.closed = true;
        drop(ring);
        // Everyone registered before the close is woken; anyone after sees `closed`.
        self.not_empty.broadcast();
        self.not_full.broadcast();
        true
    }

    /// True once [`close`](BoundedQueue::close) has been called.
    ///
    /// ```
    /// let queue = gosync::BoundedQueue::<()>::new(1);
    /// queue.close();
    /// assert!(queue.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.ring.lock_short().closed
    }

    /// Items in the queue now.
    ///
    /// ```
    /// let queue = gosync::BoundedQueue::new(3);
    /// queue.try_push(1).unwrap();
    /// assert_eq!(queue.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.ring.lock_short().items.len()
    }

    /// True if no item is in the queue now.
    ///
    /// ```
    /// assert!(gosync::BoundedQueue::<u8>::new(1).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True if the queue holds `capacity` items now.
    ///
    /// ```
    /// let queue = gosync::BoundedQueue::new(1);
    /// queue.try_push(()).unwrap();
    /// assert!(queue.is_full());
    /// ```
    pub fn is_full(&self) -> bool {
        self.len() == self.capacity
    }

    /// The most items the queue holds.
    ///
    /// ```
    /// assert_eq!(gosync::BoundedQueue::<u8>::new(4).capacity(), 4);
    /// ```
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    fn push_locked(&self, ring: &mut Ring<T>, value: T) -> Result<(), TryPushError<T>> {
        if ring.closed {
            Err(TryPushError::Closed(value))
        } else if ring.items.len() == self.capacity {
            Err(TryPushError::Full(value))
        } else {
            ring.items.push_back(value);
            Ok(())
        }
    }

    fn pop_locked(ring: &mut Ring<T>) -> Result<T, TryPopError> {
        match ring.items.pop_front() {
            Some(value) => Ok(value),
            None if ring.closed => Err(TryPopError::Closed),
            None => Err(TryPopError::Empty),
        }
    }

    #[cfg(any(feature = "std", loom))]
    fn push_until(&self, mut value: T, deadline: Option<Instant>) -> Result<(), PushTimeoutError<T>> {
        let mut ring = self.ring.lock();
        let mut timed_out = false;
        loop {
            match self.push_locked(&mut ring, value) {
                Ok(()) => break,
                Err(TryPushError::Closed(back)) => return Err(PushTimeoutError::Closed(back)),
                Err(TryPushError::Full(back)) => value = back,
            }
            if timed_out {
                return Err(PushTimeoutError::Timeout(value));
            }
            // After a timeout we still look once more: room may have appeared meanwhile.
            timed_out = !self.not_full.wait_until(&mut ring, deadline);
        }
        drop(ring);
        self.not_empty.signal();
        Ok(())
    }

    #[cfg(any(feature = "std", loom))]
    fn pop_until(&self, deadline: Option<Instant>) -> Result<T, PopTimeoutError> {
        let mut ring = self.ring.lock();
        let mut timed_out = false;
        let value = loop {
            match Self::pop_locked(&mut ring) {
                Ok(value) => break value,
                Err(TryPopError::Closed) => return Err(PopTimeoutError::Closed),
                Err(TryPopError::Empty) if timed_out => return Err(PopTimeoutError::Timeout),
                Err(TryPopError::Empty) => {}
            }
            timed_out = !self.not_empty.wait_until(&mut ring, deadline);
        };
        drop(ring);
        self.not_full.signal();
        Ok(value)
    }

    /// Registers a future's waiter (armed before `ring` was locked: arming clones the
    /// waker, which is user code) on `cond` while `ring` is still locked, so the state change
    /// that will satisfy it cannot slip in between the check and the registration.
    fn register(cond: &Cond, _ring: &MutexGuard<'_, Ring<T>>, wait: &mut TaskWaiter) {
        cond.register(wait.waiter());
        wait.set_registered();
    }
}

impl<T> fmt::Debug for BoundedQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ring = self.ring.lock_short();
        f.debug_struct("BoundedQueue")
            .field("len", &ring.items.len())
            .field("capacity", &self.capacity)
            .field("closed", &ring.closed)
            .finish()
    }
}

/// The future of [`BoundedQueue::push_async`].
///
/// # Cancel safety
/// Dropping it before completion drops the value unsent and passes on any wake-up it held.
///
/// ```
/// use std::future::Future;
/// use std::task::{Context, Poll, Waker};
/// let queue = gosync::BoundedQueue::new(1);
/// let mut cx = Context::from_waker(Waker::noop());
/// queue.try_push(0).unwrap();
/// let mut first = Box::pin(queue.push_async(1));
/// let mut second = Box::pin(queue.push_async(2));
/// assert!(first.as_mut().poll(&mut cx).is_pending());
/// assert!(second.as_mut().poll(&mut cx).is_pending());
/// assert_eq!(queue.try_pop(), Ok(0)); // room for one: `first` is woken...
/// drop(first); // ...and gives up (its value 1 is dropped): `second` gets the room
/// assert_eq!(second.as_mut().poll(&mut cx), Poll::Ready(Ok(())));
/// assert_eq!(queue.try_pop(), Ok(2));
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct PushFuture<'a, T> {
    queue: &'a BoundedQueue<T>,
    value: Option<T>,
    wait: TaskWaiter,
}

// The value is never pinned: it moves into the queue by value.
impl<T> Unpin for PushFuture<'_, T> {}

impl<T> PushFuture<'_, T> {
    /// Cancels the push and gives the value back, unless the future already completed.
    ///
    /// ```
    /// let queue = gosync::BoundedQueue::new(1);
    /// queue.try_push(1).unwrap();
    /// let pending = queue.push_async(2);
    /// assert_eq!(pending.into_value(), Some(2));
    /// ```
    pub fn into_value(mut self) -> Option<T> {
        self.value.take()
    }
}

impl<T> Future for PushFuture<'_, T> {
    type Output = Result<(), Closed<T>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        ready!(this.wait.poll(cx.waker()));
        let value = this.value.take().expect("gosync: PushFuture polled after completion");
        let queue = this.queue;
        this.wait.arm(cx.waker());
        let mut ring = queue.ring.lock_short();
        match queue.push_locked(&mut ring, value) {
            Ok(()) => {
                drop(ring);
                queue.not_empty.signal();
                Poll::Ready(Ok(()))
            }
            Err(TryPushError::Closed(value)) => Poll::Ready(Err(Closed(value))),
            Err(TryPushError::Full(value)) => {
                this.value = Some(value);
                BoundedQueue::register(&queue.not_full, &ring, &mut this.wait);
                Poll::Pending
            }
        }
    }
}

impl<T> FusedFuture for PushFuture<'_, T> {
    fn is_terminated(&self) -> bool {
        self.value.is_none()
    }
}

impl<T> fmt::Debug for PushFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PushFuture")
            .field("pending", &self.value.is_some())
            .field("registered", &self.wait.registered().is_some())
            .finish()
    }
}

impl<T> Drop for PushFuture<'_, T> {
    fn drop(&mut self) {
        if let Some(waiter) = self.wait.registered() {
            let _wake = self.queue.not_full.abandon(waiter);
        }
    }
}

/// The future of [`BoundedQueue::pop_async`].
///
/// # Cancel safety
/// Dropping it never loses an item and passes on any wake-up it held.
///
/// ```
/// use std::future::Future;
/// use std::task::{Context, Poll, Waker};
/// let queue = gosync::BoundedQueue::new(1);
/// let mut cx = Context::from_waker(Waker::noop());
/// let mut first = Box::pin(queue.pop_async());
/// let mut second = Box::pin(queue.pop_async());
/// assert!(first.as_mut().poll(&mut cx).is_pending());
/// assert!(second.as_mut().poll(&mut cx).is_pending());
/// queue.try_push("item").unwrap(); // wakes `first`...
/// drop(first); // ...which gives up: the item stays, `second` is woken for it
/// assert_eq!(second.as_mut().poll(&mut cx), Poll::Ready(Some("item")));
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct PopFuture<'a, T> {
    queue: &'a BoundedQueue<T>,
    wait: TaskWaiter,
    done: bool,
}

impl<T> Future for PopFuture<'_, T> {
    type Output = Option<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let this = self.get_mut();
        ready!(this.wait.poll(cx.waker()));
        let queue = this.queue;
        this.wait.arm(cx.waker());
        let mut ring = queue.ring.lock_short();
        let result = match BoundedQueue::pop_locked(&mut ring) {
            Ok(value) => {
                drop(ring);
                queue.not_full.signal();
                Some(value)
            }
            Err(TryPopError::Closed) => None,
            Err(TryPopError::Empty) => {
                BoundedQueue::register(&queue.not_empty, &ring, &mut this.wait);
                return Poll::Pending;
            }
        };
        this.done = true;
        Poll::Ready(result)
    }
}

impl<T> FusedFuture for PopFuture<'_, T> {
    fn is_terminated(&self) -> bool {
        self.done
    }
}

impl<T> fmt::Debug for PopFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PopFuture")
            .field("done", &self.done)
            .field("registered", &self.wait.registered().is_some())
            .finish()
    }
}

impl<T> Drop for PopFuture<'_, T> {
    fn drop(&mut self) {
        if let Some(waiter) = self.wait.registered() {
            let _wake = self.queue.not_empty.abandon(waiter);
        }
    }
}

/// The queue was closed: the value that could not be pushed comes back.
///
/// ```
/// let queue = gosync::BoundedQueue::new(1);
/// queue.close();
/// let gosync::Closed(value) = queue.push(3).unwrap_err();
/// assert_eq!(value, 3);
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Closed<T>(pub T);

impl<T> Closed<T> {
    /// The value that was not pushed.
    ///
    /// ```
    /// assert_eq!(gosync::Closed(1).into_inner(), 1);
    /// ```
    pub fn into_inner(self) -> T {
        self.0
    }
}

/// Why [`BoundedQueue::try_push`] failed; the value comes back either way.
///
/// ```
/// use gosync::{BoundedQueue, TryPushError};
/// let queue = BoundedQueue::new(1);
/// queue.close();
/// assert_eq!(queue.try_push(1), Err(TryPushError::Closed(1)));
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum TryPushError<T> {
    /// The queue is full.
    Full(T),
    /// The queue is closed.
    Closed(T),
}

/// Why a timed push ([`BoundedQueue::push_timeout`]) failed; the value comes back either way.
///
/// ```
/// use gosync::PushTimeoutError;
/// assert_eq!(PushTimeoutError::Timeout(7).into_inner(), 7);
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum PushTimeoutError<T> {
    /// The queue stayed full until the deadline.
    Timeout(T),
    /// The queue is closed.
    Closed(T),
}

/// Why [`BoundedQueue::try_pop`] found nothing.
///
/// ```
/// use gosync::TryPopError;
/// assert_eq!(gosync::BoundedQueue::<u8>::new(1).try_pop(), Err(TryPopError::Empty));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryPopError {
    /// The queue is empty but open.
    Empty,
    /// The queue is closed and drained.
    Closed,
}

/// Why a timed pop ([`BoundedQueue::pop_timeout`]) found nothing.
///
/// ```
/// use gosync::PopTimeoutError;
/// let queue = gosync::BoundedQueue::<u8>::new(1);
/// queue.close();
/// assert_eq!(queue.pop_timeout(std::time::Duration::ZERO), Err(PopTimeoutError::Closed));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PopTimeoutError {
    /// The queue stayed empty until the deadline.
    Timeout,
    /// The queue is closed and drained.
    Closed,
}

impl<T> TryPushError<T> {
    /// The value that was not pushed.
    ///
    /// ```
    /// assert_eq!(gosync::TryPushError::Full(1).into_inner(), 1);
    /// ```
    pub fn into_inner(self) -> T {
        match self {
            TryPushError::Full(value) | TryPushError::Closed(value) => value,
        }
    }

    /// True if the queue was full (rather than closed).
    ///
    /// ```
    /// assert!(gosync::TryPushError::Full(()).is_full());
    /// ```
    pub fn is_full(&self) -> bool {
        matches!(self, TryPushError::Full(_))
    }

    /// True if the queue was closed.
    ///
    /// ```
    /// assert!(gosync::TryPushError::Closed(()).is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        matches!(self, TryPushError::Closed(_))
    }
}

impl<T> PushTimeoutError<T> {
    /// The value that was not pushed.
    ///
    /// ```
    /// assert_eq!(gosync::PushTimeoutError::Closed(1).into_inner(), 1);
    /// ```
    pub fn into_inner(self) -> T {
        match self {
            PushTimeoutError::Timeout(value) | PushTimeoutError::Closed(value) => value,
        }
    }

    /// True if the deadline passed (rather than the queue closing).
    ///
    /// ```
    /// assert!(gosync::PushTimeoutError::Timeout(()).is_timeout());
    /// ```
    pub fn is_timeout(&self) -> bool {
        matches!(self, PushTimeoutError::Timeout(_))
    }

    /// True if the queue was closed.
    ///
    /// ```
    /// assert!(gosync::PushTimeoutError::Closed(()).is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        matches!(self, PushTimeoutError::Closed(_))
    }
}

// Debug without `T: Debug`, as std's SendError: the value is not the interesting part.
impl<T> fmt::Debug for Closed<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Closed(..)")
    }
}

impl<T> fmt::Debug for TryPushError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.is_full() { "Full(..)" } else { "Closed(..)" })
    }
}

impl<T> fmt::Debug for PushTimeoutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.is_timeout() { "Timeout(..)" } else { "Closed(..)" })
    }
}

impl<T> fmt::Display for Closed<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("pushing into a closed queue")
    }
}

impl<T> fmt::Display for TryPushError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.is_full() { "pushing into a full queue" } else { "pushing into a closed queue" })
    }
}

impl<T> fmt::Display for PushTimeoutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.is_timeout() {
            "timed out pushing into a full queue"
        } else {
            "pushing into a closed queue"
        })
    }
}

impl fmt::Display for TryPopError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TryPopError::Empty => "popping from an empty queue",
            TryPopError::Closed => "popping from a closed and drained queue",
        })
    }
}

impl fmt::Display for PopTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PopTimeoutError::Timeout => "timed out popping from an empty queue",
            PopTimeoutError::Closed => "popping from a closed and drained queue",
        })
    }
}

#[cfg(feature = "std")]
impl<T> std::error::Error for Closed<T> {}
#[cfg(feature = "std")]
impl<T> std::error::Error for TryPushError<T> {}
#[cfg(feature = "std")]
impl<T> std::error::Error for PushTimeoutError<T> {}
#[cfg(feature = "std")]
impl std::error::Error for TryPopError {}
#[cfg(feature = "std")]
impl std::error::Error for PopTimeoutError {}
