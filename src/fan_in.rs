//! Fan-in: merge several channels into one stream, in arrival order or in sequence order,
//! and an ordered worker-pool stage for pipelines.
//!
//! | Go pattern | gosync |
//! |---|---|
//! | `fanIn(chans...)`: one goroutine per input forwarding into one channel | [`fan_in`]: one select over every input, no thread per input |
//! | `orderedFanIn`: re-sequence items that carry a sequence number | [`fan_in_ordered`]: at most one held item per input; gaps and duplicates are reported, never waited on forever |
//! | a worker-pool pipeline stage whose output keeps the input order | [`ordered_pool`]: `workers` threads, output in input order, memory bounded by the number of workers |
//!
//! Every merged stream is both a blocking `Iterator` (with `std`) and a
//! `futures_core::Stream`, and ends when every input channel is closed and drained.
//!
//! ```
//! use gosync::{chan, fan_in};
//!
//! let (tx_a, rx_a) = chan::unbounded();
//! let (tx_b, rx_b) = chan::unbounded();
//! // Two producers number their items; the merge restores the order.
//! for seq in [1u64, 3, 5] { tx_a.send(seq).unwrap(); }
//! for seq in [0u64, 2, 4] { tx_b.send(seq).unwrap(); }
//! drop((tx_a, tx_b));
//! let merged: Vec<u64> = fan_in::fan_in_ordered([rx_a, rx_b], 0, |seq| *seq)
//!     .map(|item| item.unwrap())
//!     .collect();
//! assert_eq!(merged, [0, 1, 2, 3, 4, 5]);
//! ```

#[cfg(feature = "std")]
use crate::chan::__private::{run, Case, Mode, RecvCase};
use crate::chan::Receiver;
#[cfg(feature = "std")]
use crate::chan::RecvError;
use alloc::vec::Vec;
use core::fmt;
use core::pin::Pin;
use core::task::{Context, Poll};
use futures_core::stream::{FusedStream, Stream};

#[cfg(feature = "std")]
mod pool;
#[cfg(feature = "std")]
pub use pool::{ordered_pool, ordered_pool_with_handle, PoolHandle};

/// Merges `receivers` into one stream of their values, in the order they arrive (Go's
/// `fanIn`). The merge ends when every input is closed and drained.
///
/// No thread is started: each step receives from whichever input is ready, trying them in
/// turn so that a busy input cannot starve the others, and waits on all of them at once
/// (one select) when none is.
///
/// ```
/// use gosync::{chan, fan_in::fan_in};
///
/// let (tx1, rx1) = chan::bounded(4);
/// let (tx2, rx2) = chan::bounded(4);
/// let p1 = std::thread::spawn(move || (0..3).for_each(|i| tx1.send(i).unwrap()));
/// let p2 = std::thread::spawn(move || (10..13).for_each(|i| tx2.send(i).unwrap()));
/// let mut all: Vec<i32> = fan_in([rx1, rx2]).collect();
/// all.sort();
/// assert_eq!(all, [0, 1, 2, 10, 11, 12]);
/// p1.join().unwrap();
/// p2.join().unwrap();
/// ```
pub fn fan_in<T, I>(receivers: I) -> FanIn<T>
where
    I: IntoIterator<Item = Receiver<T>>,
{
    let receivers: Vec<Receiver<T>> = receivers.into_iter().collect();
    let open = alloc::vec![true; receivers.len()];
    FanIn { receivers, open, start: 0 }
}

/// The merged stream of [`fan_in`]: a blocking `Iterator` (with `std`) and a
/// `futures_core::Stream` over the values of every input, in arrival order.
///
/// A value sent on one input is received at most once, by this merge (unless another
/// `Receiver` of that channel takes it first). Receiving a value through the merge
/// synchronizes with its send, as a plain [`Receiver::recv`] does.
///
/// # `FanIn` vs one channel with many senders
/// If you create the producers, give them clones of one [`Sender`](crate::chan::Sender)
/// instead: that is cheaper. `FanIn` is for channels you are handed (Go's `fanIn`), and it
/// tells you when every one of them is closed.
///
/// ```
/// # gosync::__block_on(async {
/// use futures::StreamExt;
/// let (tx1, rx1) = gosync::chan::unbounded();
/// let (tx2, rx2) = gosync::chan::unbounded();
/// tx1.send("a").unwrap();
/// tx2.send("b").unwrap();
/// drop((tx1, tx2));
/// // With both `Iterator` and `StreamExt` in scope, name the stream method's trait.
/// let mut all: Vec<&str> = StreamExt::collect(gosync::fan_in::fan_in([rx1, rx2])).await;
/// all.sort();
/// assert_eq!(all, ["a", "b"]);
/// # });
/// ```
pub struct FanIn<T> {
    receivers: Vec<Receiver<T>>,
    /// `open[i]`: input `i` may still deliver (it has not reported closed-and-drained).
    open: Vec<bool>,
    /// Where the next look for a ready input starts: just after the last one served.
    start: usize,
}

impl<T> FanIn<T> {
    /// How many inputs are still open (not yet seen closed and drained).
    ///
    /// ```
    /// let (tx, rx) = gosync::chan::unbounded::<u8>();
    /// let (_tx2, rx2) = gosync::chan::unbounded::<u8>();
    /// let mut merged = gosync::fan_in::fan_in([rx, rx2]);
    /// assert_eq!(merged.open_inputs(), 2);
    /// drop(tx);
    /// assert_eq!(merged.try_next(), Err(gosync::fan_in::TryNextError::Empty));
    /// assert_eq!(merged.open_inputs(), 1);
    /// ```
    pub fn open_inputs(&self) -> usize {
        self.open.iter().filter(|open| **open).count()
    }

    /// A value that is ready now, without waiting: `Empty` if no input has one,
    /// `Closed` once every input is closed and drained.
    ///
    /// ```
    /// use gosync::fan_in::{fan_in, TryNextError};
    /// let (tx, rx) = gosync::chan::unbounded();
    /// let mut merged = fan_in([rx]);
    /// assert_eq!(merged.try_next(), Err(TryNextError::Empty));
    /// tx.send(1).unwrap();
    /// drop(tx);
    /// assert_eq!(merged.try_next(), Ok(1));
    /// assert_eq!(merged.try_next(), Err(TryNextError::Closed));
    /// ```
    pub fn try_next(&mut self) -> Result<T, TryNextError> {
        loop {
            let open = &self.open;
            match try_recv_any(&self.receivers, |i| open[i], &mut self.start) {
                TryAny::Item(_, value) => return Ok(value),
                TryAny::Closed(i) => self.open[i] = false,
                TryAny::Empty => return Err(TryNextError::Empty),
                TryAny::NoInput => return Err(TryNextError::Closed),
            }
        }
    }

    /// Gives the inputs back, for example to drain them elsewhere after the merge is no
    /// longer needed. Nothing is lost: the merge holds no values of its own.
    ///
    /// ```
    /// let (tx, rx) = gosync::chan::unbounded();
    /// tx.send(7).unwrap();
    /// let merged = gosync::fan_in::fan_in([rx]);
    /// let inputs = merged.into_receivers();
    /// assert_eq!(inputs[0].recv(), Ok(7));
    /// ```
    pub fn into_receivers(self) -> Vec<Receiver<T>> {
        self.receivers
    }
}

/// Blocks for the next value of any input; `None` once every input is closed and drained.
#[cfg(feature = "std")]
impl<T> Iterator for FanIn<T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        loop {
            let open = &self.open;
            let (i, got) = recv_any(&self.receivers, |i| open[i], &mut self.start)?;
            match got {
                Ok(value) => return Some(value),
                Err(RecvError) => self.open[i] = false,
            }
        }
    }
}

// No field is structurally pinned: values move out of the receivers.
impl<T> Unpin for FanIn<T> {}

/// The values of every input, in arrival order; ends when every input is closed and drained.
///
/// # Cancel safety
/// A value is taken from an input only by the poll that returns it, so dropping a pending
/// `next()` future (or the whole stream) loses no value that was sent: a value handed to a
/// waiting input on a rendezvous channel goes back to that channel, as with
/// [`Receiver::recv_async`]. Values still buffered in a channel are dropped with it when the
/// merge held its last `Receiver`; [`FanIn::into_receivers`] keeps them.
impl<T> Stream for FanIn<T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let this = self.get_mut();
        loop {
            let open = &this.open;
            match poll_any(&mut this.receivers, |i| open[i], &mut this.start, cx) {
                Poll::Ready(Some((_, Some(value)))) => return Poll::Ready(Some(value)),
                Poll::Ready(Some((i, None))) => this.open[i] = false,
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl<T> FusedStream for FanIn<T> {
    fn is_terminated(&self) -> bool {
        self.open_inputs() == 0
    }
}

impl<T> fmt::Debug for FanIn<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FanIn")
            .field("inputs", &self.receivers.len())
            .field("open_inputs", &self.open_inputs())
            .finish()
    }
}

/// Why [`FanIn::try_next`] or [`OrderedFanIn::try_next`] returned no item.
///
/// ```
/// use gosync::fan_in::{fan_in, TryNextError};
/// let merged = &mut fan_in(Vec::<gosync::chan::Receiver<u8>>::new());
/// assert_eq!(merged.try_next(), Err(TryNextError::Closed));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum TryNextError {
    /// No item is ready now; a later call may find one.
    Empty,
    /// Every input is closed and drained (and, for an ordered merge, nothing is held).
    Closed,
}

impl fmt::Display for TryNextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TryNextError::Empty => "no item is ready",
            TryNextError::Closed => "every input is closed",
        })
    }
}

#[cfg(feature = "std")]
impl std::error::Error for TryNextError {}

/// Merges `receivers` into one stream in sequence order: `seq(&item)` numbers each item, and
/// the merge yields the item numbered `first_seq`, then `first_seq + 1`, and so on (Go's
/// `orderedFanIn`).
///
/// The merge holds at most one item per input: an input is not read again until its held
/// item is yielded, so memory stays bounded however far apart the inputs run. Each input
/// should deliver its own items in increasing order, as a worker taking numbered jobs one at
/// a time does.
///
/// A sequence that cannot be completed is reported, never waited on forever. See
/// [`OrderError`] for the three cases. After a [`Gap`](OrderError::Gap) the merge resumes at
/// the smallest held number, so every item it holds is still yielded, in order.
///
/// ```
/// use gosync::chan;
/// use gosync::fan_in::{fan_in_ordered, OrderError};
///
/// let (tx_a, rx_a) = chan::unbounded();
/// let (tx_b, rx_b) = chan::unbounded();
/// for (seq, name) in [(0, "zero"), (3, "three")] { tx_a.send((seq, name)).unwrap(); }
/// for (seq, name) in [(1, "one"), (4, "four")] { tx_b.send((seq, name)).unwrap(); }
/// drop((tx_a, tx_b));
///
/// let mut merged = fan_in_ordered([rx_a, rx_b], 0, |item: &(u64, &str)| item.0);
/// assert_eq!(merged.next(), Some(Ok((0, "zero"))));
/// assert_eq!(merged.next(), Some(Ok((1, "one"))));
/// // 2 never came, and both inputs hold a later item: the gap is reported...
/// assert_eq!(merged.next(), Some(Err(OrderError::Gap { expected: 2, resume: 3 })));
/// // ...and the merge goes on from the smallest held item.
/// assert_eq!(merged.next(), Some(Ok((3, "three"))));
/// assert_eq!(merged.next(), Some(Ok((4, "four"))));
/// assert_eq!(merged.next(), None);
/// ```
pub fn fan_in_ordered<T, I, F>(receivers: I, first_seq: u64, seq: F) -> OrderedFanIn<T, F>
where
    I: IntoIterator<Item = Receiver<T>>,
    F: Fn(&T) -> u64,
{
    let receivers: Vec<Receiver<T>> = receivers.into_iter().collect();
    let inputs = receivers.iter().map(|_| Input::Open).collect();
    OrderedFanIn { receivers, inputs, seq, next_seq: first_seq, exhausted: false, held: 0, start: 0 }
}

/// The merged stream of [`fan_in_ordered`]: yields `Ok(item)` in sequence order, or an
/// [`OrderError`] where the sequence breaks. A blocking `Iterator` (with `std`) and a
/// `futures_core::Stream`; it ends when every input is closed and every held item yielded.
///
/// ```
/// # gosync::__block_on(async {
/// use futures::StreamExt;
/// let (tx_a, rx_a) = gosync::chan::unbounded();
/// let (tx_b, rx_b) = gosync::chan::unbounded();
/// tx_a.send(11u64).unwrap();
/// tx_b.send(10u64).unwrap();
/// drop((tx_a, tx_b));
/// let merged = gosync::fan_in::fan_in_ordered([rx_a, rx_b], 10, |n| *n);
/// let items: Vec<u64> = StreamExt::collect(StreamExt::map(merged, Result::unwrap)).await;
/// assert_eq!(items, [10, 11]);
/// # });
/// ```
pub struct OrderedFanIn<T, F> {
    receivers: Vec<Receiver<T>>,
    /// One per receiver: open, holding one item (with its number), or closed and drained.
    inputs: Vec<Input<T>>,
    seq: F,
    /// The number of the next item to yield.
    next_seq: u64,
    /// Set once `u64::MAX` was yielded: no number comes after it, so every later item is stale.
    exhausted: bool,
    /// How many inputs hold an item.
    held: usize,
    /// Where the next look for a ready input starts: just after the last one read.
    start: usize,
}

enum Input<T> {
    /// May deliver: read it when an item is needed.
    Open,
    /// Holds an item that is not its turn yet; not read again until that item is yielded.
    Holding(u64, T),
    /// Closed and drained.
    Closed,
}

/// What the merge does next, decided from what it holds, before reading any input.
enum Step<T> {
    Yield(Result<T, OrderError<T>>),
    Read,
    End,
}

/// A broken sequence, reported by [`OrderedFanIn`] instead of waiting forever. An item the
/// merge cannot place is given back inside the error, so nothing is lost.
///
/// ```
/// use gosync::chan;
/// use gosync::fan_in::{fan_in_ordered, OrderError};
///
/// let (tx, rx) = chan::unbounded();
/// for seq in [0u64, 0, 1] { tx.send(seq).unwrap(); }
/// drop(tx);
/// let mut merged = fan_in_ordered([rx], 0, |n| *n);
/// assert_eq!(merged.next(), Some(Ok(0)));
/// // The second 0 comes after its turn.
/// assert_eq!(merged.next(), Some(Err(OrderError::Stale { seq: 0, expected: 1, item: 0 })));
/// assert_eq!(merged.next(), Some(Ok(1)));
/// assert_eq!(merged.next(), None);
/// ```
#[derive(Clone, PartialEq, Eq)]
pub enum OrderError<T> {
    /// `item` has the same number, `seq`, as an item the merge holds from another input:
    /// two copies of one number are waiting at once. The held copy is yielded in its turn;
    /// this one is given back here.
    Duplicate {
        /// The repeated sequence number.
        seq: u64,
        /// The second copy.
        item: T,
    },
    /// `item`'s number, `seq`, is below `expected`, the next number to yield: its turn has
    /// passed (it was yielded already, or skipped after a [`Gap`](OrderError::Gap), or it is
    /// below `first_seq`). It is given back here.
    Stale {
        /// The item's sequence number.
        seq: u64,
        /// The next number the merge was waiting for.
        expected: u64,
        /// The late item.
        item: T,
    },
    /// `expected` can never arrive: every input that could still deliver holds a later item
    /// (each input delivers in increasing order, and is not read again until its held item is
    /// yielded), or every input is closed while items are still held. The merge skips to
    /// `resume`, the smallest held number, and yields that item next.
    Gap {
        /// The number that never came.
        expected: u64,
        /// The number the merge resumes at.
        resume: u64,
    },
}

impl<T> OrderError<T> {
    /// The item this error gives back (`None` for a [`Gap`](OrderError::Gap), which holds
    /// none: the items held across a gap are yielded after it).
    ///
    /// ```
    /// use gosync::fan_in::OrderError;
    /// let err = OrderError::Duplicate { seq: 4, item: "again" };
    /// assert_eq!(err.into_item(), Some("again"));
    /// assert_eq!(OrderError::<()>::Gap { expected: 1, resume: 3 }.into_item(), None);
    /// ```
    pub fn into_item(self) -> Option<T> {
        match self {
            OrderError::Duplicate { item, .. } | OrderError::Stale { item, .. } => Some(item),
            OrderError::Gap { .. } => None,
        }
    }
}

impl<T> fmt::Debug for OrderError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OrderError::Duplicate { seq, .. } => {
                f.debug_struct("Duplicate").field("seq", seq).finish_non_exhaustive()
            }
            OrderError::Stale { seq, expected, .. } => {
                f.debug_struct("Stale").field("seq", seq).field("expected", expected).finish_non_exhaustive()
            }
            OrderError::Gap { expected, resume } => {
                f.debug_struct("Gap").field("expected", expected).field("resume", resume).finish()
            }
        }
    }
}

impl<T> fmt::Display for OrderError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OrderError::Duplicate { seq, .. } => write!(f, "sequence number {seq} delivered twice"),
            OrderError::Stale { seq, expected, .. } => {
                write!(f, "sequence number {seq} arrived after its turn (expecting {expected})")
            }
            OrderError::Gap { expected, resume } => {
                write!(f, "sequence number {expected} can never arrive; resuming at {resume}")
            }
        }
    }
}

#[cfg(feature = "std")]
impl<T> std::error::Error for OrderError<T> {}

impl<T, F: Fn(&T) -> u64> OrderedFanIn<T, F> {
    /// How many items the merge holds now, waiting for their turn: never more than one per
    /// input.
    ///
    /// ```
    /// let (tx_a, rx_a) = gosync::chan::unbounded();
    /// let (_tx_b, rx_b) = gosync::chan::unbounded::<u64>();
    /// tx_a.send(5u64).unwrap();
    /// tx_a.send(6u64).unwrap();
    /// let mut merged = gosync::fan_in::fan_in_ordered([rx_a, rx_b], 0, |n| *n);
    /// // 5 is held, waiting for 0..5 from the other input; 6 stays in its channel.
    /// assert!(merged.try_next().is_err());
    /// assert_eq!(merged.held(), 1);
    /// ```
    pub fn held(&self) -> usize {
        self.held
    }

    /// The number of the next item the merge will yield.
    ///
    /// ```
    /// let (_tx, rx) = gosync::chan::unbounded::<u64>();
    /// assert_eq!(gosync::fan_in::fan_in_ordered([rx], 42, |n| *n).next_seq(), 42);
    /// ```
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The next item if it can be had without waiting: `Empty` when it needs an input that
    /// has nothing ready, `Closed` once every input is closed and nothing is held.
    ///
    /// ```
    /// use gosync::fan_in::{fan_in_ordered, TryNextError};
    /// let (tx, rx) = gosync::chan::unbounded();
    /// let mut merged = fan_in_ordered([rx], 0, |n: &u64| *n);
    /// assert_eq!(merged.try_next(), Err(TryNextError::Empty));
    /// tx.send(0).unwrap();
    /// assert_eq!(merged.try_next(), Ok(Ok(0)));
    /// drop(tx);
    /// assert_eq!(merged.try_next(), Err(TryNextError::Closed));
    /// ```
    pub fn try_next(&mut self) -> Result<Result<T, OrderError<T>>, TryNextError> {
        loop {
            match self.step() {
                Step::Yield(item) => return Ok(item),
                Step::End => return Err(TryNextError::Closed),
                Step::Read => {}
            }
            let inputs = &self.inputs;
            let got = match try_recv_any(&self.receivers, |i| inputs[i].is_open(), &mut self.start) {
                TryAny::Item(i, value) => (i, Some(value)),
                TryAny::Closed(i) => (i, None),
                TryAny::Empty | TryAny::NoInput => return Err(TryNextError::Empty),
            };
            if let Some(err) = self.accept(got.0, got.1) {
                return Ok(Err(err));
            }
        }
    }

    /// Gives back the inputs and the items held, in sequence order, so that nothing is lost
    /// when the merge is abandoned part way.
    ///
    /// ```
    /// let (tx, rx) = gosync::chan::unbounded();
    /// let (_tx2, rx2) = gosync::chan::unbounded();
    /// tx.send(3u64).unwrap();
    /// tx.send(4u64).unwrap();
    /// let mut merged = gosync::fan_in::fan_in_ordered([rx, rx2], 0, |n| *n);
    /// assert!(merged.try_next().is_err()); // 3 is held, waiting for 0
    /// let (inputs, held) = merged.into_parts();
    /// assert_eq!(held, [3]);
    /// assert_eq!(inputs[0].try_recv(), Ok(4));
    /// ```
    pub fn into_parts(self) -> (Vec<Receiver<T>>, Vec<T>) {
        let mut held: Vec<(u64, T)> = self
            .inputs
            .into_iter()
            .filter_map(|input| match input {
                Input::Holding(seq, item) => Some((seq, item)),
                _ => None,
            })
            .collect();
        held.sort_by_key(|(seq, _)| *seq);
        (self.receivers, held.into_iter().map(|(_, item)| item).collect())
    }

    /// Decides from the held items alone: yield the next one, report a gap, end, or read.
    fn step(&mut self) -> Step<T> {
        if let Some(item) = self.take_held(self.next_seq) {
            match self.next_seq.checked_add(1) {
                Some(next) => self.next_seq = next,
                None => self.exhausted = true,
            }
            return Step::Yield(Ok(item));
        }
        if self.inputs.iter().any(Input::is_open) {
            return Step::Read;
        }
        // Nothing can be read: every input is closed or holds a later item.
        match self.smallest_held() {
            None => Step::End,
            Some(resume) => {
                let gap = OrderError::Gap { expected: self.next_seq, resume };
                self.next_seq = resume;
                Step::Yield(Err(gap))
            }
        }
    }

    /// Takes in what input `i` delivered (`None`: closed). An item that cannot be held is
    /// returned inside its error.
    fn accept(&mut self, i: usize, got: Option<T>) -> Option<OrderError<T>> {
        let Some(item) = got else {
            self.inputs[i] = Input::Closed;
            return None;
        };
        let seq = (self.seq)(&item);
        if seq < self.next_seq || self.exhausted {
            return Some(OrderError::Stale { seq, expected: self.next_seq, item });
        }
        if self.inputs.iter().any(|input| input.holds(seq)) {
            return Some(OrderError::Duplicate { seq, item });
        }
        self.inputs[i] = Input::Holding(seq, item);
        self.held += 1;
        None
    }

    fn take_held(&mut self, seq: u64) -> Option<T> {
        let input = self.inputs.iter_mut().find(|input| input.holds(seq))?;
        let Input::Holding(_, item) = core::mem::replace(input, Input::Open) else {
            unreachable!("found holding above")
        };
        self.held -= 1;
        Some(item)
    }

    fn smallest_held(&self) -> Option<u64> {
        self.inputs
            .iter()
            .filter_map(|input| match input {
                Input::Holding(seq, _) => Some(*seq),
                _ => None,
            })
            .min()
    }
}

impl<T> Input<T> {
    fn is_open(&self) -> bool {
        matches!(self, Input::Open)
    }

    fn holds(&self, seq: u64) -> bool {
        matches!(self, Input::Holding(held, _) if *held == seq)
    }
}

/// Blocks for the next item in sequence order, or the next [`OrderError`]; `None` once every
/// input is closed and every held item yielded.
#[cfg(feature = "std")]
impl<T, F: Fn(&T) -> u64> Iterator for OrderedFanIn<T, F> {
    type Item = Result<T, OrderError<T>>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.step() {
                Step::Yield(item) => return Some(item),
                Step::End => return None,
                Step::Read => {}
            }
            let inputs = &self.inputs;
            let (i, got) = recv_any(&self.receivers, |i| inputs[i].is_open(), &mut self.start)
                .expect("step() reads only when an input is open");
            if let Some(err) = self.accept(i, got.ok()) {
                return Some(Err(err));
            }
        }
    }
}

// No field is structurally pinned: items move out, and `seq` is only called by reference.
impl<T, F> Unpin for OrderedFanIn<T, F> {}

/// The items in sequence order, with an [`OrderError`] where the sequence breaks; ends when
/// every input is closed and every held item yielded.
///
/// # Cancel safety
/// Items read but not yet yielded stay held inside the merge, and an input's item is taken
/// only by a poll that then holds or yields it, so dropping a pending `next()` future loses
/// nothing. Dropping the merge itself drops what it holds: take it first with
/// [`OrderedFanIn::into_parts`].
impl<T, F: Fn(&T) -> u64> Stream for OrderedFanIn<T, F> {
    type Item = Result<T, OrderError<T>>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            match this.step() {
                Step::Yield(item) => return Poll::Ready(Some(item)),
                Step::End => return Poll::Ready(None),
                Step::Read => {}
            }
            let inputs = &this.inputs;
            let (i, got) = match poll_any(&mut this.receivers, |i| inputs[i].is_open(), &mut this.start, cx) {
                Poll::Ready(got) => got.expect("step() reads only when an input is open"),
                Poll::Pending => return Poll::Pending,
            };
            if let Some(err) = this.accept(i, got) {
                return Poll::Ready(Some(Err(err)));
            }
        }
    }
}

impl<T, F: Fn(&T) -> u64> FusedStream for OrderedFanIn<T, F> {
    fn is_terminated(&self) -> bool {
        self.held == 0 && self.inputs.iter().all(|input| matches!(input, Input::Closed))
    }
}

impl<T, F> fmt::Debug for OrderedFanIn<T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OrderedFanIn")
            .field("inputs", &self.receivers.len())
            .field("held", &self.held)
            .field("next_seq", &self.next_seq)
            .finish_non_exhaustive()
    }
}

/// What one non-blocking pass over the readable inputs found.
enum TryAny<T> {
    Item(usize, T),
    Closed(usize),
    /// Some input is readable, none has anything now.
    Empty,
    /// No input is readable.
    NoInput,
}

/// Tries each readable input once, starting at `*start` and wrapping around, so that inputs
/// are served in turn; moves `*start` past the input that delivered.
fn try_recv_any<T>(
    receivers: &[Receiver<T>],
    readable: impl Fn(usize) -> bool,
    start: &mut usize,
) -> TryAny<T> {
    let n = receivers.len();
    let mut any = false;
    for k in 0..n {
        let i = (*start + k) % n;
        if !readable(i) {
            continue;
        }
        any = true;
        match receivers[i].try_recv() {
            Ok(value) => {
                *start = (i + 1) % n;
                return TryAny::Item(i, value);
            }
            Err(crate::chan::TryRecvError::Closed) => return TryAny::Closed(i),
            Err(crate::chan::TryRecvError::Empty) => {}
        }
    }
    if any {
        TryAny::Empty
    } else {
        TryAny::NoInput
    }
}

/// Receives from whichever readable input is ready first, blocking in one select over all of
/// them when none is ready now. `None` when no input is readable.
#[cfg(feature = "std")]
fn recv_any<T>(
    receivers: &[Receiver<T>],
    readable: impl Fn(usize) -> bool,
    start: &mut usize,
) -> Option<(usize, Result<T, RecvError>)> {
    // The common case, no waiting, needs no select (and so no allocation).
    match try_recv_any(receivers, &readable, start) {
        TryAny::Item(i, value) => return Some((i, Ok(value))),
        TryAny::Closed(i) => return Some((i, Err(RecvError))),
        TryAny::NoInput => return None,
        TryAny::Empty => {}
    }
    // One receive case per readable input, run by the select engine directly (as `select!`
    // does), so that `T` need not be `Send` as a `Select` builder's cases must be.
    let mut input_of_case = Vec::new();
    let mut cases = Vec::new();
    for (i, rx) in receivers.iter().enumerate().filter(|(i, _)| readable(*i)) {
        cases.push(RecvCase::new(rx));
        input_of_case.push(i);
    }
    let mut order = alloc::vec![0; cases.len()];
    let chosen = {
        let mut erased: Vec<&mut dyn Case> = cases.iter_mut().map(|case| case as &mut dyn Case).collect();
        run(&mut erased, &mut order, Mode::Block).expect("a blocking select completes a case")
    };
    let i = input_of_case[chosen];
    let got = cases[chosen].take_outcome();
    if got.is_ok() {
        *start = (i + 1) % receivers.len();
    }
    Some((i, got))
}

/// Polls each readable input's stream once, starting at `*start`: the first value (or close)
/// is returned; every input that is pending keeps its waker registered, so a value on any of
/// them wakes the task. `Ready(None)` when no input is readable.
fn poll_any<T>(
    receivers: &mut [Receiver<T>],
    readable: impl Fn(usize) -> bool,
    start: &mut usize,
    cx: &mut Context<'_>,
) -> Poll<Option<(usize, Option<T>)>> {
    let n = receivers.len();
    let mut any = false;
    for k in 0..n {
        let i = (*start + k) % n;
        if !readable(i) {
            continue;
        }
        any = true;
        match Pin::new(&mut receivers[i]).poll_next(cx) {
            Poll::Ready(Some(value)) => {
                *start = (i + 1) % n;
                return Poll::Ready(Some((i, Some(value))));
            }
            Poll::Ready(None) => return Poll::Ready(Some((i, None))),
            Poll::Pending => {}
        }
    }
    if any {
        Poll::Pending
    } else {
        Poll::Ready(None)
    }
}
