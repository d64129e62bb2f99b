//! Go's channels: bounded, rendezvous and unbounded MPMC channels with close, and select.
//!
//! | Go | gosync |
//! |---|---|
//! | `make(chan T, n)` | [`bounded(n)`](bounded) |
//! | `make(chan T)` | [`bounded(0)`](bounded): a send completes only when a receiver takes the value |
//! | (no Go equivalent) | [`unbounded()`](unbounded) |
//! | `ch <- v`, `v, ok := <-ch` | [`Sender::send`], [`Receiver::recv`] (and `try_`, `_timeout`, `_deadline`, `_async` forms) |
//! | `close(ch)` | [`Sender::close`]: idempotent, no panic; dropping every `Sender` closes too |
//! | `for v := range ch` | `for v in &rx` ([`Receiver`] is an iterator and a `Stream`) |
//! | `select { ... }` | [`select!`](crate::select), or [`Select`] for a dynamic set of cases |
//! | `time.After(d)`, `time.Tick(d)` | [`after(d)`](after), [`tick(d)`](tick) (and [`after_on`], [`tick_on`] for any [`Clock`](crate::time::Clock)) |
//! | a nil channel | [`never()`](fn@never) |
//!
//! Both ends are `Clone` (many senders, many receivers). After a close, sends fail and give
//! the value back, and receivers drain what is buffered before they see the close. Dropping
//! every [`Receiver`] closes the channel as well, so that senders are not left blocked
//! forever; the values still buffered then are dropped with the channel.
//!
//! The bounded and unbounded channels are lock-free as long as nobody has to wait: a ring of
//! slots with sequence stamps, and a linked list of blocks. Waiting threads and tasks park
//! through the crate's one wait list, which a send or receive only touches when someone is
//! actually waiting on the other side.
//!
//! ```
//! use gosync::chan;
//! use std::thread;
//!
//! let (tx, rx) = chan::bounded(4);
//! let producer = thread::spawn(move || {
//!     for i in 0..10 {
//!         tx.send(i).unwrap();
//!     }
//!     // Dropping the last Sender closes the channel.
//! });
//! let received: Vec<i32> = rx.iter().collect();
//! assert_eq!(received, (0..10).collect::<Vec<_>>());
//! producer.join().unwrap();
//! ```

pub(crate) mod array;
mod buffered;
mod error;
mod future;
pub(crate) mod list;
mod select;
mod timer;
mod zero;

pub use error::{RecvError, RecvTimeoutError, SendError, SendTimeoutError, TryRecvError, TrySendError};
pub use future::{RecvFuture, SendFuture};
pub use select::{Select, SelectFuture, SelectTimeoutError, SelectedOperation, TrySelectError};
#[cfg(any(feature = "std", loom))]
pub use timer::{after, tick};
pub use timer::{after_on, never, tick_on};

#[doc(hidden)]
pub mod __private {
    //! What the `select!` macro expands to. Not a public API.
    pub use super::select::{run, Case, Mode, RecvCase, SendCase};
}

use crate::primitive::atomic::{AtomicBool, AtomicUsize, Ordering};
use crate::primitive::{Arc, Lock};
use array::Array;
use buffered::Buffered;
use core::fmt;
use core::pin::Pin;
use core::task::{Context, Poll};
use list::List;
use zero::Zero;

#[cfg(feature = "std")]
use crate::primitive::Instant;
#[cfg(feature = "std")]
use core::time::Duration;

/// What a buffer's non-blocking push reports when it cannot take the value: the value comes
/// back either way.
pub enum PushError<T> {
    /// No room (a bounded buffer at capacity).
    Full(T),
    /// The buffer is closed: no push will ever succeed again.
    Closed(T),
}

/// What a buffer's non-blocking pop reports when it has no value to give.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum PopError {
    /// Nothing buffered now; a later push may fill it.
    Empty,
    /// Closed and drained: no value will ever come.
    Closed,
}

/// A channel's shared state: its flavour and how many handles of each end are alive.
pub(crate) struct Chan<T> {
    flavor: Flavor<T>,
    senders: AtomicUsize,
    receivers: AtomicUsize,
    /// Run once, after the close, when the last `Receiver` is dropped: how a timer channel
    /// withdraws its timer at once instead of keeping it until it fires.
    on_receivers_gone: Option<DropHook>,
}

/// What [`Chan::on_receivers_gone`] runs.
pub(crate) type DropHook = alloc::boxed::Box<dyn Fn() + Send + Sync>;

// The ring's cache-padded counters make its variant large; a channel has one flavour, kept
// once in its `Arc`, and boxing it would add an indirection to every operation.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Flavor<T> {
    Array(Buffered<Array<T>>),
    List(Buffered<List<T>>),
    Zero(Zero<T>),
}

/// Runs `$buffered` on a buffered flavour (bound to `$b`) or `$zero` on a rendezvous one.
macro_rules! flavor {
    ($chan:expr, $b:ident => $buffered:expr, $z:ident => $zero:expr) => {
        match &$chan.flavor {
            $crate::chan::Flavor::Array($b) => $buffered,
            $crate::chan::Flavor::List($b) => $buffered,
            $crate::chan::Flavor::Zero($z) => $zero,
        }
    };
}
pub(crate) use flavor;

impl<T> Chan<T> {
    fn new(flavor: Flavor<T>) -> Arc<Self> {
        Chan::with_hook(flavor, None)
    }

    fn with_hook(flavor: Flavor<T>, on_receivers_gone: Option<DropHook>) -> Arc<Self> {
        Arc::new(Chan {
            flavor,
            senders: AtomicUsize::new(1),
            receivers: AtomicUsize::new(1),
            on_receivers_gone,
        })
    }

    pub(crate) fn flavor(&self) -> &Flavor<T> {
        &self.flavor
    }

    fn close(&self) -> bool {
        flavor!(self, b => b.close(), z => z.close())
    }

    fn is_closed(&self) -> bool {
        flavor!(self, b => buffered_is_closed(b), z => z.is_closed())
    }

    fn len(&self) -> usize {
        match &self.flavor {
            Flavor::Array(b) => b.buffer().len(),
            Flavor::List(b) => b.buffer().len(),
            Flavor::Zero(z) => z.len(),
        }
    }

    fn capacity(&self) -> Option<usize> {
        match &self.flavor {
            Flavor::Array(b) => Some(b.buffer().capacity()),
            Flavor::List(_) => None,
            Flavor::Zero(_) => Some(0),
        }
    }

    fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        flavor!(self, b => b.try_send(value), z => z.try_send(value))
    }

    fn try_recv(&self) -> Result<T, TryRecvError> {
        flavor!(self, b => b.try_recv(), z => z.try_recv())
    }

    /// `try_send` for callers that park when it fails (select): it does not wait out
    /// another thread's half-finished receive.
    fn try_send_nowait(&self, value: T) -> Result<(), TrySendError<T>> {
        flavor!(self, b => b.try_send_nowait(value), z => z.try_send(value))
    }

    /// `try_recv` for callers that park when it fails (select).
    fn try_recv_nowait(&self) -> Result<T, TryRecvError> {
        flavor!(self, b => b.try_recv_nowait(), z => z.try_recv())
    }
}

fn buffered_is_closed<T, B: buffered::Buffer<T>>(b: &Buffered<B>) -> bool {
    b.buffer().is_closed()
}

/// Creates a channel that buffers up to `cap` values; `cap == 0` makes a rendezvous
/// channel (Go's unbuffered `make(chan T)`), where a send completes only when a receiver
/// takes the value.
///
/// # Panics
/// `gosync: channel capacity too large` when `cap` exceeds what the ring can index
/// (`usize::MAX / 4` or so; far beyond memory).
///
/// ```
/// use gosync::chan;
/// let (tx, rx) = chan::bounded(2);
/// tx.send(1).unwrap();
/// tx.send(2).unwrap();
/// assert!(tx.try_send(3).is_err()); // full
/// assert_eq!(rx.recv(), Ok(1));
/// assert_eq!(tx.capacity(), Some(2));
/// ```
pub fn bounded<T>(cap: usize) -> (Sender<T>, Receiver<T>) {
    let flavor =
        if cap == 0 { Flavor::Zero(Zero::new()) } else { Flavor::Array(Buffered::new(Array::new(cap))) };
    pair(Chan::new(flavor))
}

/// Creates a channel with no bound: a send never blocks (it fails only once the channel is
/// closed). Memory follows the values buffered.
///
/// ```
/// use gosync::chan;
/// let (tx, rx) = chan::unbounded();
/// for i in 0..1000 {
///     tx.send(i).unwrap();
/// }
/// assert_eq!(rx.len(), 1000);
/// assert_eq!(tx.capacity(), None);
/// ```
pub fn unbounded<T>() -> (Sender<T>, Receiver<T>) {
    pair(Chan::new(Flavor::List(Buffered::new(List::new()))))
}

fn pair<T>(chan: Arc<Chan<T>>) -> (Sender<T>, Receiver<T>) {
    (Sender { chan: chan.clone() }, Receiver::from_chan(chan))
}

/// A buffered channel of `cap >= 1` that runs `hook` when its last [`Receiver`] is dropped
/// (the timer channels).
pub(crate) fn bounded_with_hook<T>(cap: usize, hook: DropHook) -> (Sender<T>, Receiver<T>) {
    pair(Chan::with_hook(Flavor::Array(Buffered::new(Array::new(cap))), Some(hook)))
}

/// A rendezvous channel with no `Sender` handle, counted as one live sender forever: nothing
/// can send on it or close it, so it never delivers and never closes (Go's nil channel).
pub(crate) fn receiver_only<T>() -> Receiver<T> {
    Receiver::from_chan(Chan::new(Flavor::Zero(Zero::new())))
}

/// The sending end of a channel. Clone it for more senders; the channel closes when
/// [`close`](Sender::close) is called or the last `Sender` is dropped.
///
/// ```
/// let (tx, rx) = gosync::chan::unbounded();
/// let tx2 = tx.clone();
/// tx.send("a").unwrap();
/// tx2.send("b").unwrap();
/// drop((tx, tx2));
/// assert_eq!(rx.iter().collect::<Vec<_>>(), ["a", "b"]);
/// ```
pub struct Sender<T> {
    chan: Arc<Chan<T>>,
}

/// The receiving end of a channel. Clone it for more receivers (each value goes to one of
/// them). It iterates (blocking, until the channel is closed and drained) and is a
/// `futures_core::Stream`.
///
/// ```
/// let (tx, rx) = gosync::chan::bounded(8);
/// tx.send(1).unwrap();
/// tx.send(2).unwrap();
/// tx.close();
/// let all: Vec<i32> = rx.iter().collect();
/// assert_eq!(all, [1, 2]);
/// ```
pub struct Receiver<T> {
    chan: Arc<Chan<T>>,
    /// The wait of the `Stream` implementation, which has nowhere else to keep it. A direct
    /// receive on this `Receiver` withdraws it first (see `settle_stream`), so it sits
    /// behind a lock: direct receives take `&self`.
    stream: Lock<future::RecvState<T>>,
    /// True while `stream` holds a registration.
    stream_waiting: AtomicBool,
    stream_done: bool,
}

impl<T> Sender<T> {
    /// Sends `value`, blocking while the channel is full (or, for a rendezvous channel,
    /// until a receiver takes it). Fails, giving the value back, once the channel is closed.
    ///
    /// ```
    /// let (tx, rx) = gosync::chan::bounded(1);
    /// tx.send(5).unwrap();
    /// assert_eq!(rx.recv(), Ok(5));
    /// ```
    #[cfg(feature = "std")]
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        self.send_deadline_opt(value, None).map_err(|err| SendError(err.into_inner()))
    }

    /// Sends `value` if that needs no waiting: room in the buffer, or (rendezvous) a receiver
    /// already waiting.
    ///
    /// ```
    /// use gosync::chan::{self, TrySendError};
    /// let (tx, _rx) = chan::bounded(0);
    /// assert_eq!(tx.try_send(1), Err(TrySendError::Full(1))); // nobody is receiving
    /// ```
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        self.chan.try_send(value)
    }

    /// [`send`](Self::send), giving up after `timeout`.
    ///
    /// ```
    /// use gosync::chan::{self, SendTimeoutError};
    /// use std::time::Duration;
    /// let (tx, _rx) = chan::bounded(1);
    /// tx.send(1).unwrap();
    /// let err = tx.send_timeout(2, Duration::from_millis(5)).unwrap_err();
    /// assert_eq!(err, SendTimeoutError::Timeout(2));
    /// ```
    #[cfg(feature = "std")]
    pub fn send_timeout(&self, value: T, timeout: Duration) -> Result<(), SendTimeoutError<T>> {
        self.send_deadline_opt(value, crate::primitive::deadline_after(timeout))
    }

    /// [`send`](Self::send), giving up at `deadline`.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let (tx, rx) = gosync::chan::bounded(1);
    /// tx.send_deadline(1, Instant::now() + Duration::from_secs(1)).unwrap();
    /// assert_eq!(rx.recv(), Ok(1));
    /// ```
    #[cfg(feature = "std")]
    pub fn send_deadline(&self, value: T, deadline: Instant) -> Result<(), SendTimeoutError<T>> {
        self.send_deadline_opt(value, Some(deadline))
    }

    #[cfg(feature = "std")]
    fn send_deadline_opt(&self, value: T, deadline: Option<Instant>) -> Result<(), SendTimeoutError<T>> {
        flavor!(self.chan, b => b.send_deadline(value, deadline), z => z.send_deadline(value, deadline))
    }

    /// Sends `value` from an async task: the future completes once the value is in the
    /// channel (or, for a rendezvous channel, taken by a receiver).
    ///
    /// # Cancel safety
    /// On a buffered channel, a future dropped before it returned `Ready` has not sent: its
    /// value never reaches a receiver. On a rendezvous channel a receiver may take the value
    /// at the very moment the future is dropped; [`SendFuture::into_value`] tells which
    /// happened (the value back if it was not sent, `None` if it was), so nothing is lost
    /// or sent twice.
    ///
    /// ```
    /// # gosync::__block_on(async {
    /// let (tx, rx) = gosync::chan::bounded(1);
    /// tx.send_async(3).await.unwrap();
    /// assert_eq!(rx.recv_async().await, Ok(3));
    /// # });
    /// ```
    pub fn send_async(&self, value: T) -> SendFuture<'_, T> {
        SendFuture::new(self, value)
    }

    /// Closes the channel, as Go's `close(ch)`: sends fail from now on, and receivers get
    /// what is buffered, then [`RecvError`]. True for the call that closed it; closing again
    /// returns false (no panic). Blocked senders and receivers wake up.
    ///
    /// ```
    /// let (tx, rx) = gosync::chan::bounded(2);
    /// tx.send(1).unwrap();
    /// assert!(tx.close());
    /// assert!(!tx.close());
    /// assert!(tx.send(2).is_err());
    /// assert_eq!(rx.recv(), Ok(1));
    /// assert!(rx.recv().is_err());
    /// ```
    pub fn close(&self) -> bool {
        self.chan.close()
    }

    /// True once the channel is closed (by [`close`](Self::close), by dropping every
    /// `Sender`, or by dropping every [`Receiver`]).
    ///
    /// ```
    /// let (tx, rx) = gosync::chan::bounded::<u8>(1);
    /// drop(rx);
    /// assert!(tx.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.chan.is_closed()
    }

    /// Values buffered now, as Go's `len(ch)`. A rendezvous channel buffers nothing, with
    /// one exception: a value handed to a receive future that was then dropped goes back
    /// into the channel (see [`Receiver::recv_async`]) and counts here until received.
    ///
    /// ```
    /// let (tx, _rx) = gosync::chan::bounded(3);
    /// tx.send(()).unwrap();
    /// assert_eq!(tx.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.chan.len()
    }

    /// True when nothing is buffered.
    ///
    /// ```
    /// let (tx, _rx) = gosync::chan::bounded::<u8>(3);
    /// assert!(tx.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The buffer's size, as Go's `cap(ch)`: `Some(0)` for a rendezvous channel, `None` for
    /// an unbounded one.
    ///
    /// ```
    /// assert_eq!(gosync::chan::bounded::<u8>(0).0.capacity(), Some(0));
    /// ```
    pub fn capacity(&self) -> Option<usize> {
        self.chan.capacity()
    }

    /// True when both are ends of the same channel.
    ///
    /// ```
    /// let (tx, _rx) = gosync::chan::unbounded::<u8>();
    /// assert!(tx.same_channel(&tx.clone()));
    /// ```
    pub fn same_channel(&self, other: &Sender<T>) -> bool {
        Arc::ptr_eq(&self.chan, &other.chan)
    }

    pub(crate) fn chan(&self) -> &Chan<T> {
        &self.chan
    }

    /// [`try_send`](Self::try_send) for a select, which parks when no case is ready.
    pub(crate) fn try_send_nowait(&self, value: T) -> Result<(), TrySendError<T>> {
        self.chan.try_send_nowait(value)
    }
}

impl<T> Receiver<T> {
    fn from_chan(chan: Arc<Chan<T>>) -> Self {
        Receiver {
            chan,
            stream: Lock::new(future::RecvState::default()),
            stream_waiting: AtomicBool::new(false),
            stream_done: false,
        }
    }

    /// Withdraws a wait that polling this `Receiver` as a `Stream` left pending, before it
    /// receives directly: otherwise a wake-up (buffered) or a value handed over (rendezvous)
    /// would go to a registration that nobody polls any more. The wait is taken out of its
    /// lock before it is withdrawn, since withdrawing may wake another receiver.
    fn settle_stream(&self) {
        if self.stream_waiting.swap(false, Ordering::Relaxed) {
            let mut pending = core::mem::take(&mut *self.stream.lock());
            pending.withdraw(&self.chan);
        }
    }

    /// Receives a value, blocking while the channel is empty. `Err` once the channel is
    /// closed and everything buffered has been received.
    ///
    /// ```
    /// let (tx, rx) = gosync::chan::unbounded();
    /// std::thread::spawn(move || tx.send("hi").unwrap());
    /// assert_eq!(rx.recv(), Ok("hi"));
    /// assert!(rx.recv().is_err()); // the sender is gone
    /// ```
    #[cfg(feature = "std")]
    pub fn recv(&self) -> Result<T, RecvError> {
        self.recv_deadline_opt(None).map_err(|_| RecvError)
    }

    /// Receives a value if one is there now (or, rendezvous, a sender is waiting).
    ///
    /// ```
    /// use gosync::chan::{self, TryRecvError};
    /// let (tx, rx) = chan::bounded(1);
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    /// tx.send(1).unwrap();
    /// assert_eq!(rx.try_recv(), Ok(1));
    /// ```
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        self.settle_stream();
        self.chan.try_recv()
    }

    /// [`try_recv`](Self::try_recv) for a select, which parks when no case is ready.
    pub(crate) fn try_recv_nowait(&self) -> Result<T, TryRecvError> {
        self.settle_stream();
        self.chan.try_recv_nowait()
    }

    /// [`recv`](Self::recv), giving up after `timeout`.
    ///
    /// ```
    /// use gosync::chan::{self, RecvTimeoutError};
    /// use std::time::Duration;
    /// let (_tx, rx) = chan::unbounded::<u8>();
    /// assert_eq!(rx.recv_timeout(Duration::from_millis(5)), Err(RecvTimeoutError::Timeout));
    /// ```
    #[cfg(feature = "std")]
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        self.recv_deadline_opt(crate::primitive::deadline_after(timeout))
    }

    /// [`recv`](Self::recv), giving up at `deadline`.
    ///
    /// ```
    /// use gosync::chan::{self, RecvTimeoutError};
    /// use std::time::Instant;
    /// let (_tx, rx) = chan::bounded::<u8>(1);
    /// assert_eq!(rx.recv_deadline(Instant::now()), Err(RecvTimeoutError::Timeout));
    /// ```
    #[cfg(feature = "std")]
    pub fn recv_deadline(&self, deadline: Instant) -> Result<T, RecvTimeoutError> {
        self.recv_deadline_opt(Some(deadline))
    }

    #[cfg(feature = "std")]
    fn recv_deadline_opt(&self, deadline: Option<Instant>) -> Result<T, RecvTimeoutError> {
        self.settle_stream();
        flavor!(self.chan, b => b.recv_deadline(deadline), z => z.recv_deadline(deadline))
    }

    /// Receives a value from an async task.
    ///
    /// # Cancel safety
    /// Dropping the future at any point loses no value: it takes a value only in the poll
    /// that returns it. On a rendezvous channel a sender may hand it a value just before the
    /// drop; the drop then gives that value back to the channel, for the next receiver. A
    /// wake-up meant for a dropped future passes on to the next waiting receiver.
    ///
    /// ```
    /// # gosync::__block_on(async {
    /// let (tx, rx) = gosync::chan::unbounded();
    /// tx.send(9).unwrap();
    /// assert_eq!(rx.recv_async().await, Ok(9));
    /// # });
    /// ```
    pub fn recv_async(&self) -> RecvFuture<'_, T> {
        self.settle_stream();
        RecvFuture::new(self)
    }

    /// A blocking iterator over received values; it ends when the channel is closed and
    /// drained.
    ///
    /// ```
    /// let (tx, rx) = gosync::chan::bounded(4);
    /// tx.send(1).unwrap();
    /// drop(tx);
    /// assert_eq!(rx.iter().collect::<Vec<_>>(), [1]);
    /// ```
    #[cfg(feature = "std")]
    pub fn iter(&self) -> Iter<'_, T> {
        Iter { rx: self }
    }

    /// An iterator over the values there now; it never blocks.
    ///
    /// ```
    /// let (tx, rx) = gosync::chan::unbounded();
    /// tx.send(1).unwrap();
    /// tx.send(2).unwrap();
    /// assert_eq!(rx.try_iter().collect::<Vec<_>>(), [1, 2]);
    /// ```
    pub fn try_iter(&self) -> TryIter<'_, T> {
        TryIter { rx: self }
    }

    /// True once the channel is closed (it may still hold values to drain).
    ///
    /// ```
    /// let (tx, rx) = gosync::chan::bounded::<u8>(1);
    /// drop(tx);
    /// assert!(rx.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.chan.is_closed()
    }

    /// Values buffered now, as Go's `len(ch)` (see [`Sender::len`] for the one way a
    /// rendezvous channel holds a value).
    ///
    /// ```
    /// let (tx, rx) = gosync::chan::unbounded();
    /// tx.send(1).unwrap();
    /// assert_eq!(rx.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.chan.len()
    }

    /// True when nothing is buffered.
    ///
    /// ```
    /// let (_tx, rx) = gosync::chan::unbounded::<u8>();
    /// assert!(rx.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The buffer's size, as Go's `cap(ch)`: `Some(0)` for a rendezvous channel, `None` for
    /// an unbounded one.
    ///
    /// ```
    /// assert_eq!(gosync::chan::bounded::<u8>(5).1.capacity(), Some(5));
    /// ```
    pub fn capacity(&self) -> Option<usize> {
        self.chan.capacity()
    }

    /// True when both are ends of the same channel.
    ///
    /// ```
    /// let (_tx, rx) = gosync::chan::unbounded::<u8>();
    /// assert!(rx.same_channel(&rx.clone()));
    /// ```
    pub fn same_channel(&self, other: &Receiver<T>) -> bool {
        Arc::ptr_eq(&self.chan, &other.chan)
    }

    pub(crate) fn chan(&self) -> &Chan<T> {
        &self.chan
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.chan.senders.fetch_add(1, Ordering::Relaxed);
        Sender { chan: self.chan.clone() }
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        self.chan.receivers.fetch_add(1, Ordering::Relaxed);
        Receiver::from_chan(self.chan.clone())
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        // AcqRel: the last sender's close comes after every other sender's sends.
        if self.chan.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.chan.close();
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.settle_stream();
        if self.chan.receivers.fetch_sub(1, Ordering::AcqRel) == 1 {
            // Nobody can receive any more: senders must not block forever.
            self.chan.close();
            if let Some(hook) = &self.chan.on_receivers_gone {
                hook();
            }
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// A blocking iterator over a [`Receiver`]'s values, from [`Receiver::iter`].
///
/// ```
/// let (tx, rx) = gosync::chan::unbounded();
/// tx.send(1).unwrap();
/// drop(tx);
/// let mut it = rx.iter();
/// assert_eq!(it.next(), Some(1));
/// assert_eq!(it.next(), None);
/// ```
#[cfg(feature = "std")]
#[derive(Debug)]
pub struct Iter<'a, T> {
    rx: &'a Receiver<T>,
}

#[cfg(feature = "std")]
impl<T> Iterator for Iter<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.recv().ok()
    }
}

/// A non-blocking iterator over the values a [`Receiver`] holds now, from
/// [`Receiver::try_iter`].
///
/// ```
/// let (tx, rx) = gosync::chan::unbounded();
/// tx.send(1).unwrap();
/// assert_eq!(rx.try_iter().count(), 1);
/// ```
#[derive(Debug)]
pub struct TryIter<'a, T> {
    rx: &'a Receiver<T>,
}

impl<T> Iterator for TryIter<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.try_recv().ok()
    }
}

/// `for value in &rx`: blocks for each value, ends when the channel is closed and drained.
#[cfg(feature = "std")]
impl<T> Iterator for &Receiver<T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.recv().ok()
    }
}

// Values are never pinned: they move out of the channel.
impl<T> Unpin for Receiver<T> {}

/// A `Receiver` is a stream of its values, ending when the channel is closed and drained.
///
/// # Cancel safety
/// As [`Receiver::recv_async`]: a value is taken only by the poll that returns it.
impl<T> futures_core::Stream for Receiver<T> {
    type Item = T;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let this = self.get_mut();
        if this.stream_done {
            return Poll::Ready(None);
        }
        // Out of the lock while polling, which may wake a sender.
        let mut state = core::mem::take(&mut *this.stream.lock());
        let poll = state.poll_recv(&this.chan, cx);
        this.stream_waiting.store(state.is_registered(), Ordering::Relaxed);
        *this.stream.lock() = state;
        match poll {
            Poll::Ready(Ok(value)) => Poll::Ready(Some(value)),
            Poll::Ready(Err(RecvError)) => {
                this.stream_done = true;
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T> futures_core::stream::FusedStream for Receiver<T> {
    fn is_terminated(&self) -> bool {
        self.stream_done
    }
}
