//! The bounded channel's buffer: a lock-free ring of `cap` slots shared by any number of
//! pushers and poppers (Dmitry Vyukov's bounded MPMC queue, as in crossbeam's array channel).
//!
//! This file only stores values. Waiting for room or for a value is the channel's business.
//!
//! # Positions, stamps and laps
//!
//! Every push and every pop takes a *position*: a `usize` word that packs a slot index
//! (low bits), a closed bit (only ever set in `tail`), and a lap count (the bits above):
//!
//! ```text
//!   [ lap ............ | closed | index ]      one_lap = 2 * closed_bit
//! ```
//!
//! `tail` is the next position to push, `head` the next to pop. Each slot has a `stamp`
//! saying whose turn it is: `stamp == pos` means free for the push of position `pos`,
//! `stamp == pos + 1` means holding that push's value for the pop of position `pos`. The pop
//! then sets the stamp to `pos + one_lap`, the same slot's position one lap later. A push or
//! pop claims its position with a compare-exchange on `tail` or `head`, which makes it the
//! only thread to touch that slot until it updates the stamp.
//!
//! # Close
//!
//! `close` sets the closed bit in `tail`. A push compares-and-swaps `tail` from a word without
//! that bit, so it either claimed its position before the close (and its value stays poppable
//! after it) or it sees the bit and gives its value back. A pop reports `Closed` only when the
//! bit is set *and* `head` has caught up with every claimed position.
//!
//! # Half-finished operations
//!
//! Between claiming a position and updating the stamp, a push writes its value (a pop reads
//! it): a few instructions. A pop that finds its slot claimed by a push that has not written
//! yet spins until it has, rather than reporting `Empty` for an accepted value; a push that
//! finds its slot claimed by an unfinished pop spins likewise. So an operation may wait for
//! another thread to finish those few instructions: on a single core, do not call into the
//! ring from an interrupt handler that may have interrupted an operation on the same ring.
//!
//! A caller that can park instead (the channel's blocking and async paths) uses
//! `try_pop_nowait` / `try_push_nowait`, which spin only briefly and then report `Empty` /
//! `Full` (the other operation has not returned yet, so that is a valid answer), together
//! with `can_pop` / `can_push`, which say "not ready" in that state. The half-finished
//! operation's own channel-level notification, sent after it completes, wakes the parked
//! caller. So no thread ever waits on another one's progress by spinning for long (which
//! would also be a livelock for a model checker that need not schedule that other thread).
//!
//! # Orderings, and what `is_empty` / `is_full` / `is_closed` promise
//!
//! Values travel through the stamps: the Release store of a stamp after writing (or reading)
//! a value pairs with the Acquire load of that stamp by the next owner of the slot, so the
//! value write happens before its read, and the read before the next lap's write.
//!
//! The channel's waiting protocol needs more: a pusher does `try_push` -> `fence(SeqCst)` ->
//! "does a receiver wait?", and a receiver does "register" -> `fence(SeqCst)` ->
//! `!is_empty() || is_closed()` (and the same with pops, senders and `is_full`). Every push,
//! pop and close changes `tail` or `head` with a SeqCst read-modify-write *before* it returns,
//! and `is_empty`, `is_full`, `is_closed` and `len` read those two words. C++'s fence rule
//! (on which Rust's atomics are defined) says: if a write to `M` is sequenced before fence
//! `X`, fence `Y` is sequenced before a read of `M`, and `X` precedes `Y` in the single SeqCst
//! order, then the read sees that write or a later one. So whichever of the two fences comes
//! first, either the pusher sees the registered receiver or the receiver sees the moved
//! `tail`: no wake-up is lost. The channel's re-check is `can_pop` (`can_push`), which reads
//! the head (tail) slot's stamp too; the stamp's store also precedes the pusher's (popper's)
//! fence, so the same rule applies to it: a receiver that finds the head slot claimed but
//! not written parks, and the push, whose fence comes after that write, sees it. The loads are
//! SeqCst as well, so the predicates are also ordered with every push, pop and close when no
//! fence is used.
//!
//! # Wrap-around, on 32-bit targets too
//!
//! The words are `usize` (Cortex-M has no 64-bit atomics) and the lap field simply wraps.
//! Wrapping is harmless by itself: the code only ever compares whole words for equality or
//! one lap apart, never by size. The one hazard is ABA: a thread that loaded a stamp and then
//! stalls before its compare-exchange would be fooled if `tail` (or `head`) came back to the
//! very same word meanwhile. A word repeats only after `cap << lap_bits` positions, which is at
//! least 2^(usize::BITS - 2): over a billion pushes on 32-bit (2^62 on 64-bit), all while the
//! stalled thread sits in a window of a few instructions. That is the same bound crossbeam's
//! array channel accepts.
//!
//! The capacity limit follows from the layout: index, closed bit and at least one lap bit
//! must fit in a word, so `cap + 1` rounded up to a power of two must be at most
//! 2^(usize::BITS - 2): `cap <= 2^30 - 1` on 32-bit, `2^62 - 1` on 64-bit. `new` also refuses
//! a ring whose slots would not fit in memory's address range (`isize::MAX` bytes).

use super::{PopError, PushError};
use crate::primitive::atomic::{fence, AtomicUsize, Ordering};
use crate::primitive::{spin_hint, UnsafeCell};
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::alloc::Layout;
use core::mem::MaybeUninit;
use crossbeam_utils::CachePadded;

/// A fixed-capacity, lock-free MPMC FIFO ring with close: the bounded channel's buffer.
///
/// Pushes and pops never block on a lock; at worst one waits a few instructions for another
/// thread's half-finished operation on the same slot. A successful push happens before the
/// pop that returns its value.
pub struct Array<T> {
    /// The next position to pop. Only pops move it, so it never carries the closed bit.
    head: CachePadded<AtomicUsize>,
    /// The next position to push, with the closed bit.
    tail: CachePadded<AtomicUsize>,
    /// The ring; its length is the capacity.
    slots: Box<[Slot<T>]>,
    /// The bit of `tail` that marks the ring closed; the index bits are those below it.
    closed_bit: usize,
    /// One lap in a position word: the lowest lap bit.
    one_lap: usize,
}

/// One place in the ring and the stamp that says whose turn it is.
struct Slot<T> {
    /// `pos`: free for the push of `pos`; `pos + 1`: holds that push's value for its pop.
    stamp: AtomicUsize,
    /// Initialized exactly while the stamp says "holds a value" (and while the owning push or
    /// pop is between its claim and its stamp update).
    value: UnsafeCell<MaybeUninit<T>>,
}

// SAFETY: the ring owns its `T`s and hands each to exactly one popper (or drops it), possibly
// on another thread: that needs `T: Send`, nothing more.
unsafe impl<T: Send> Send for Array<T> {}
// SAFETY: shared use only moves `T`s in and out, one owner per slot at a time (the claim on
// `head`/`tail` plus the stamp protocol), and never hands out `&T`: so `T: Send` suffices.
unsafe impl<T: Send> Sync for Array<T> {}

#[cfg_attr(not(any(test, loom)), allow(dead_code))] // the bounded channel builds on it
impl<T> Array<T> {
    /// An empty ring holding up to `cap` values.
    ///
    /// # Panics
    /// If `cap` is 0, or too large for the position words or for memory (see the module
    /// docs): the message starts with `gosync:`.
    pub fn new(cap: usize) -> Self {
        assert!(cap > 0, "gosync: a bounded buffer needs a capacity of at least 1");
        let (closed_bit, one_lap) = match Self::layout_bits(cap) {
            Some(bits) => bits,
            None => panic!("gosync: capacity {cap} is too large for a bounded buffer"),
        };
        if Layout::array::<Slot<T>>(cap).is_err() {
            panic!("gosync: capacity {cap} is too large for a bounded buffer");
        }
        // Slot i starts free for the push of position i (lap 0).
        let slots: Vec<Slot<T>> = (0..cap)
            .map(|i| Slot { stamp: AtomicUsize::new(i), value: UnsafeCell::new(MaybeUninit::uninit()) })
            .collect();
        Array {
            head: CachePadded::new(AtomicUsize::new(0)),
            tail: CachePadded::new(AtomicUsize::new(0)),
            slots: slots.into_boxed_slice(),
            closed_bit,
            one_lap,
        }
    }

    /// `(closed_bit, one_lap)` for `cap`, or `None` when no lap bit would be left.
    fn layout_bits(cap: usize) -> Option<(usize, usize)> {
        let closed_bit = cap.checked_add(1)?.checked_next_power_of_two()?;
        // `one_lap` must itself fit, so at least one lap bit exists above the closed bit.
        let one_lap = closed_bit.checked_mul(2)?;
        Some((closed_bit, one_lap))
    }

    /// Pushes `value` at the tail, or gives it back: `Full` when all `cap` slots hold values,
    /// `Closed` once [`close`](Self::close) has run (even when also full).
    pub fn try_push(&self, value: T) -> Result<(), PushError<T>> {
        self.push(value, true)
    }

    /// [`try_push`](Self::try_push) that does not wait for another thread's half-finished
    /// pop of the slot it needs (after a brief spin; none under loom): it reports `Full`
    /// instead, as the ring is still full until that pop returns. For callers that can park
    /// until a pop notifies them; see [`can_push`](Self::can_push).
    pub fn try_push_nowait(&self, value: T) -> Result<(), PushError<T>> {
        self.push(value, false)
    }

    fn push(&self, value: T, wait: bool) -> Result<(), PushError<T>> {
        let mut backoff = Backoff::new();
        // Relaxed: a stale word only fails the compare-exchange below, which reloads it.
        let mut tail = self.tail.load(Ordering::Relaxed);
        loop {
            if tail & self.closed_bit != 0 {
                return Err(PushError::Closed(value));
            }
            let slot = &self.slots[self.index(tail)];
            // Acquire: when the slot is free, the pop that freed it has finished reading it.
            let stamp = slot.stamp.load(Ordering::Acquire);
            if stamp == tail {
                // SeqCst: the claim is the push's linearization point, and it must precede the
                // channel's fence after `try_push` (see the module docs). Failing to claim
                // means another push or a close moved `tail`: retry with its word.
                match self.tail.compare_exchange_weak(
                    tail,
                    self.next(tail),
                    Ordering::SeqCst,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        // SAFETY: the claim makes this thread the slot's only user until the
                        // stamp store below, and the Acquire load of the stamp ordered the last
                        // pop's read of the old value before this write.
                        slot.value.with_mut(|value_ptr| unsafe { value_ptr.write(MaybeUninit::new(value)) });
                        // Release: the pop that sees this stamp sees the value.
                        slot.stamp.store(tail + 1, Ordering::Release);
                        return Ok(());
                    }
                    Err(current) => tail = current,
                }
            } else if stamp.wrapping_add(self.one_lap) == tail + 1 {
                // The slot still holds the value pushed one lap ago: full, unless a pop has
                // claimed it since and is reading it now. The fence orders this `head` load
                // after every pop claim that precedes it in the SeqCst order.
                fence(Ordering::SeqCst);
                let head = self.head.load(Ordering::Relaxed);
                if head.wrapping_add(self.one_lap) == tail {
                    return Err(PushError::Full(value));
                }
                // A pop claimed the slot: wait for it to finish reading (or, not waiting,
                // report the ring full: it is, until that pop returns).
                if !wait && backoff.is_completed() {
                    return Err(PushError::Full(value));
                }
                backoff.spin();
                tail = self.tail.load(Ordering::Relaxed);
            } else if stamp.wrapping_add(self.one_lap) == tail {
                // The push of this slot one lap ago has claimed it but not written yet: the
                // ring is full, and stays full until that value is written and popped.
                if !wait && backoff.is_completed() {
                    return Err(PushError::Full(value));
                }
                backoff.spin();
                tail = self.tail.load(Ordering::Relaxed);
            } else {
                // `tail` is stale: others pushed meanwhile.
                backoff.spin();
                tail = self.tail.load(Ordering::Relaxed);
            }
        }
    }

    /// Pops the value at the head. `Empty` while nothing is buffered and the ring is open;
    /// `Closed` once it is closed and every value pushed before the close has been popped.
    pub fn try_pop(&self) -> Result<T, PopError> {
        self.pop(true)
    }

    /// [`try_pop`](Self::try_pop) that does not wait for another thread's half-finished push
    /// of the head slot (after a brief spin; none under loom): it reports `Empty` instead
    /// (never `Closed` while that push is pending). For callers that can park until the
    /// push notifies them; see [`can_pop`](Self::can_pop).
    pub fn try_pop_nowait(&self) -> Result<T, PopError> {
        self.pop(false)
    }

    fn pop(&self, wait: bool) -> Result<T, PopError> {
        let mut backoff = Backoff::new();
        // Relaxed: a stale word only fails the compare-exchange below, which reloads it.
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            let slot = &self.slots[self.index(head)];
            // Acquire: when the slot holds a value, its push's write is visible to us.
            let stamp = slot.stamp.load(Ordering::Acquire);
            if stamp == head + 1 {
                // SeqCst: the claim is the pop's linearization point and must precede the
                // channel's fence after `try_pop` (see the module docs).
                match self.head.compare_exchange_weak(
                    head,
                    self.next(head),
                    Ordering::SeqCst,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        // SAFETY: the claim makes this thread the slot's only user until the
                        // stamp store below; the stamp said the value is initialized, and the
                        // Acquire load of it ordered the push's write before this read. The
                        // stamp store marks the slot empty, so the value is moved out once.
                        let value =
                            slot.value.with_mut(|value_ptr| unsafe { value_ptr.read().assume_init() });
                        // Release: the next lap's push sees the slot read before it writes.
                        slot.stamp.store(head.wrapping_add(self.one_lap), Ordering::Release);
                        return Ok(value);
                    }
                    Err(current) => head = current,
                }
            } else if stamp == head {
                // The slot waits for the push of this very position. Empty, unless that push
                // has claimed it already. The fence orders this `tail` load after every push
                // claim and close that precedes it in the SeqCst order.
                fence(Ordering::SeqCst);
                let tail = self.tail.load(Ordering::Relaxed);
                if tail & !self.closed_bit == head {
                    let closed = tail & self.closed_bit != 0;
                    return Err(if closed { PopError::Closed } else { PopError::Empty });
                }
                // A push claimed the slot and is writing it: its value is accepted, so wait
                // for it rather than report `Empty` (or, not waiting, report `Empty`: that
                // push has not returned yet).
                if !wait && backoff.is_completed() {
                    return Err(PopError::Empty);
                }
                backoff.spin();
                head = self.head.load(Ordering::Relaxed);
            } else {
                // `head` is stale: other pops took this position meanwhile.
                backoff.spin();
                head = self.head.load(Ordering::Relaxed);
            }
        }
    }

    /// Closes the ring: later pushes give their value back, pops drain what is buffered and
    /// then report `Closed`. Returns true for the one call that closed it.
    pub fn close(&self) -> bool {
        // SeqCst: a close is ordered with every push claim on the same word, and precedes the
        // channel's fence after it (see the module docs).
        let tail = self.tail.fetch_or(self.closed_bit, Ordering::SeqCst);
        tail & self.closed_bit == 0
    }

    /// Whether [`close`](Self::close) has run.
    pub fn is_closed(&self) -> bool {
        self.tail.load(Ordering::SeqCst) & self.closed_bit != 0
    }

    /// How many values are buffered (claimed pushes count, claimed pops do not): exact while
    /// no push or pop runs, otherwise a value the count had recently; never above the capacity.
    pub fn len(&self) -> usize {
        // `head` first: `tail` read later is at least as far on, so the distance is never
        // negative; if both moved a lot in between, it is capped at the capacity.
        let head = self.head.load(Ordering::SeqCst);
        let tail = self.tail.load(Ordering::SeqCst) & !self.closed_bit;
        let cap = self.capacity();
        let laps = self.lap(tail).wrapping_sub(self.lap(head)) / self.one_lap;
        let (head_index, tail_index) = (self.index(head), self.index(tail));
        let len = match laps {
            0 => tail_index.saturating_sub(head_index),
            1 => cap - head_index + tail_index,
            _ => cap,
        };
        len.min(cap)
    }

    /// The most values the ring holds.
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Whether no value is buffered: true only if `head` and `tail` were equal at one instant.
    pub fn is_empty(&self) -> bool {
        // `head` first: if the later `tail` equals it, `head` (which only trails `tail`) had
        // not moved either, so both were equal when `tail` was read.
        let head = self.head.load(Ordering::SeqCst);
        let tail = self.tail.load(Ordering::SeqCst) & !self.closed_bit;
        head == tail
    }

    /// Whether all slots hold values: true only if the ring was full at one instant.
    pub fn is_full(&self) -> bool {
        // `tail` first: if the later `head` is a whole lap behind it, `tail` (which is never
        // more than a lap ahead of `head`) had not moved either.
        let tail = self.tail.load(Ordering::SeqCst) & !self.closed_bit;
        let head = self.head.load(Ordering::SeqCst);
        head.wrapping_add(self.one_lap) == tail
    }

    /// Whether a pop would get a value, or `Closed`, without waiting for another thread: the
    /// head slot holds a written value, or the ring is closed and drained (`head` is stale:
    /// true too, a retry is cheap). False while empty, and while the push of the head slot
    /// is still writing: that push's channel-level notification comes after its write.
    pub fn can_pop(&self) -> bool {
        let head = self.head.load(Ordering::SeqCst);
        let stamp = self.slots[self.index(head)].stamp.load(Ordering::SeqCst);
        if stamp != head {
            return true; // a written value (`head + 1`), or `head` moved on meanwhile
        }
        let tail = self.tail.load(Ordering::SeqCst);
        tail & self.closed_bit != 0 && tail & !self.closed_bit == head
    }

    /// Whether a push would succeed, or get `Closed`, without waiting for another thread:
    /// the tail slot is free, or the ring is closed (`tail` is stale: true too). False while
    /// full, including while the pop that frees the slot is still reading it.
    pub fn can_push(&self) -> bool {
        let tail = self.tail.load(Ordering::SeqCst);
        if tail & self.closed_bit != 0 {
            return true;
        }
        let stamp = self.slots[self.index(tail)].stamp.load(Ordering::SeqCst);
        let previous_lap = stamp.wrapping_add(self.one_lap);
        // Full: last lap's value is still there (`tail + 1`), or last lap's push has not
        // written it yet (`tail`).
        stamp == tail || (previous_lap != tail.wrapping_add(1) && previous_lap != tail)
    }

    /// The slot index of a position.
    fn index(&self, pos: usize) -> usize {
        pos & (self.closed_bit - 1)
    }

    /// The lap bits of a position.
    fn lap(&self, pos: usize) -> usize {
        pos & !(self.one_lap - 1)
    }

    /// The position after `pos` (without the closed bit): the next index, or index 0 of the
    /// next lap. Laps wrap (see the module docs).
    fn next(&self, pos: usize) -> usize {
        if self.index(pos) + 1 < self.capacity() {
            pos + 1
        } else {
            self.lap(pos).wrapping_add(self.one_lap)
        }
    }
}

impl<T> Drop for Array<T> {
    /// Drops every value still buffered, once each. If one's `drop` panics, the rest leak.
    fn drop(&mut self) {
        // `&mut self`: no push or pop is running, so every claimed position has its value and
        // the words are final (Relaxed reads suffice; exclusive access already synchronized).
        let head = self.head.load(Ordering::Relaxed);
        let len = self.len();
        let cap = self.capacity();
        for offset in 0..len {
            let index = (self.index(head) + offset) % cap;
            // SAFETY: the `len` slots from `head` on hold initialized values nobody popped,
            // and nothing else can touch them now; each is dropped once, in place.
            self.slots[index].value.with_mut(|value_ptr| unsafe { (*value_ptr).assume_init_drop() });
        }
    }
}

/// Waits out another thread's half-finished push or pop on the same slot: a few
/// instructions, so spinning beats parking. The spin doubles per turn up to a limit.
struct Backoff {
    step: u32,
}

impl Backoff {
    /// `1 << LIMIT` hints per turn at most.
    const LIMIT: u32 = 6;

    fn new() -> Self {
        Backoff { step: 0 }
    }

    /// True once waiting longer is better left to the caller (at once under loom, where a
    /// spin is only more interleavings to explore).
    fn is_completed(&self) -> bool {
        cfg!(loom) || self.step >= Self::LIMIT
    }

    fn spin(&mut self) {
        // Under loom each hint is a yield, a scheduling point: one per turn keeps models small.
        let hints = if cfg!(loom) { 1 } else { 1u32 << self.step };
        for _ in 0..hints {
            spin_hint();
        }
        self.step = (self.step + 1).min(Self::LIMIT);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use alloc::collections::VecDeque;
    use alloc::sync::Arc as StdArc;
    use proptest::prelude::*;
    use std::sync::atomic::AtomicUsize as StdAtomicUsize;

    /// Stress sizes shrink under Miri, which runs code 100x or more slower.
    fn scaled(normal: usize, miri: usize) -> usize {
        if cfg!(miri) {
            miri
        } else {
            normal
        }
    }

    /// `try_push` that expects success.
    fn push<T>(ring: &Array<T>, value: T) {
        assert!(ring.try_push(value).is_ok(), "push refused");
    }

    /// `try_push` that expects `Full` and returns the value given back.
    fn push_full<T>(ring: &Array<T>, value: T) -> T {
        match ring.try_push(value) {
            Err(PushError::Full(v)) => v,
            Ok(()) => panic!("push accepted, expected Full"),
            Err(PushError::Closed(_)) => panic!("push Closed, expected Full"),
        }
    }

    /// `try_push` that expects `Closed` and returns the value given back.
    fn push_closed<T>(ring: &Array<T>, value: T) -> T {
        match ring.try_push(value) {
            Err(PushError::Closed(v)) => v,
            Ok(()) => panic!("push accepted, expected Closed"),
            Err(PushError::Full(_)) => panic!("push Full, expected Closed"),
        }
    }

    #[test]
    fn pops_in_push_order() {
        let ring = Array::new(4);
        for i in 0..4 {
            push(&ring, i);
        }
        for i in 0..4 {
            assert_eq!(ring.try_pop(), Ok(i));
        }
        assert_eq!(ring.try_pop(), Err(PopError::Empty));
    }

    #[test]
    fn full_and_empty_at_the_boundaries() {
        let ring = Array::new(3);
        assert_eq!((ring.capacity(), ring.len(), ring.is_empty(), ring.is_full()), (3, 0, true, false));
        assert_eq!(ring.try_pop(), Err(PopError::Empty));
        for i in 0..3 {
            assert!(!ring.is_full());
            push(&ring, i);
            assert_eq!(ring.len(), i + 1);
            assert!(!ring.is_empty());
        }
        assert!(ring.is_full());
        assert_eq!(push_full(&ring, 99), 99);
        assert_eq!(ring.len(), 3);
        // One pop makes exactly one slot free again.
        assert_eq!(ring.try_pop(), Ok(0));
        assert!(!ring.is_full());
        push(&ring, 3);
        assert_eq!(push_full(&ring, 100), 100);
        for i in 1..4 {
            assert_eq!(ring.try_pop(), Ok(i));
        }
        assert_eq!(ring.try_pop(), Err(PopError::Empty));
        assert_eq!((ring.len(), ring.is_empty(), ring.is_full()), (0, true, false));
    }

    #[test]
    fn capacity_one() {
        let ring = Array::new(1);
        for lap in 0..scaled(100, 20) {
            assert!(ring.is_empty() && !ring.is_full());
            push(&ring, lap);
            assert!(ring.is_full() && !ring.is_empty());
            assert_eq!(ring.len(), 1);
            assert_eq!(push_full(&ring, usize::MAX), usize::MAX);
            assert_eq!(ring.try_pop(), Ok(lap));
            assert_eq!(ring.try_pop(), Err(PopError::Empty));
        }
    }

    #[test]
    fn wraps_around_for_many_laps() {
        // Fill levels from 0 to full at every lap, so the head and tail cross the wrap point
        // in every relative position.
        let cap = 3;
        let ring = Array::new(cap);
        let mut model = VecDeque::new();
        let mut next = 0u32;
        for round in 0..scaled(2_000, 100) {
            let fill = round % (cap + 1);
            while model.len() < fill {
                push(&ring, next);
                model.push_back(next);
                next += 1;
            }
            assert_eq!(ring.len(), model.len());
            assert_eq!(ring.try_pop().ok(), model.pop_front());
        }
        while let Some(v) = model.pop_front() {
            assert_eq!(ring.try_pop(), Ok(v));
        }
        assert_eq!(ring.try_pop(), Err(PopError::Empty));
    }

    #[test]
    fn lap_counter_wraps_around_the_word() {
        // Start both counters a few positions before the word overflows: the lap field must
        // wrap to 0 and everything keep working.
        let cap = 3;
        let ring: Array<u32> = Array::new(cap);
        let last_lap = ring.lap(usize::MAX);
        ring.head.store(last_lap, Ordering::Relaxed);
        ring.tail.store(last_lap, Ordering::Relaxed);
        for (i, slot) in ring.slots.iter().enumerate() {
            slot.stamp.store(last_lap + i, Ordering::Relaxed);
        }
        for round in 0..4u32 {
            for i in 0..cap as u32 {
                push(&ring, round * 10 + i);
            }
            assert!(ring.is_full());
            assert_eq!(ring.len(), cap);
            assert_eq!(push_full(&ring, 99), 99);
            for i in 0..cap as u32 {
                assert_eq!(ring.try_pop(), Ok(round * 10 + i));
            }
            assert!(ring.is_empty());
            assert_eq!(ring.try_pop(), Err(PopError::Empty));
        }
        assert!(ring.tail.load(Ordering::Relaxed) < last_lap, "the lap counter never wrapped");
    }

    #[test]
    fn close_gives_pushes_back_and_drains_then_reports_closed() {
        let ring = Array::new(2);
        push(&ring, 1);
        push(&ring, 2);
        assert!(!ring.is_closed());
        assert!(ring.close(), "the first close closes");
        assert!(!ring.close(), "a second close reports it was already closed");
        assert!(ring.is_closed());
        // Full and closed: the push is told Closed, and gets its value back.
        assert_eq!(push_closed(&ring, 3), 3);
        assert_eq!(ring.try_pop(), Ok(1));
        assert_eq!(push_closed(&ring, 4), 4);
        assert_eq!(ring.try_pop(), Ok(2));
        assert_eq!(ring.try_pop(), Err(PopError::Closed));
        assert_eq!(ring.try_pop(), Err(PopError::Closed));
        assert_eq!((ring.len(), ring.is_empty(), ring.is_full()), (0, true, false));
    }

    #[test]
    fn close_of_an_empty_ring() {
        let ring: Array<u8> = Array::new(1);
        assert!(ring.close());
        assert_eq!(ring.try_pop(), Err(PopError::Closed));
        assert_eq!(push_closed(&ring, 7), 7);
    }

    /// Counts how many times values of one test were dropped.
    struct Counted(u32, StdArc<StdAtomicUsize>);

    impl Drop for Counted {
        fn drop(&mut self) {
            self.1.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[test]
    fn drops_each_value_exactly_once() {
        let drops = StdArc::new(StdAtomicUsize::new(0));
        let counted = |i| Counted(i, drops.clone());
        let ring = Array::new(3);
        // Wrap once so the remaining values straddle the end of the slots.
        for i in 0..3 {
            push(&ring, counted(i));
        }
        for i in 0..2 {
            assert_eq!(ring.try_pop().map(|c| c.0), Ok(i)); // dropped here: 2 drops
        }
        push(&ring, counted(3));
        push(&ring, counted(4));
        // Refused values come back to the caller, who drops them: 2 drops.
        drop(push_full(&ring, counted(5)));
        ring.close();
        drop(push_closed(&ring, counted(6)));
        assert_eq!(drops.load(Ordering::Relaxed), 4);
        drop(ring); // holds 2, 3, 4
        assert_eq!(drops.load(Ordering::Relaxed), 7);
    }

    #[test]
    fn drop_of_a_full_and_an_empty_ring() {
        let drops = StdArc::new(StdAtomicUsize::new(0));
        let full = Array::new(2);
        push(&full, Counted(0, drops.clone()));
        push(&full, Counted(1, drops.clone()));
        drop(full);
        assert_eq!(drops.load(Ordering::Relaxed), 2);
        let emptied = Array::new(2);
        push(&emptied, Counted(2, drops.clone()));
        drop(emptied.try_pop());
        drop(emptied);
        assert_eq!(drops.load(Ordering::Relaxed), 3);
    }

    #[test]
    #[should_panic(expected = "gosync: a bounded buffer needs a capacity of at least 1")]
    fn zero_capacity_panics() {
        let _ = Array::<u8>::new(0);
    }

    #[test]
    #[should_panic(expected = "gosync: capacity")]
    fn capacity_beyond_the_position_word_panics() {
        // Index and closed bit would leave no lap bit.
        let _ = Array::<u8>::new(usize::MAX / 4 + 1);
    }

    #[test]
    fn largest_capacity_the_words_allow() {
        // The limit itself is accepted by the word layout (no ring of that size is built).
        let limit = usize::MAX / 4; // 2^(BITS-2) - 1
        assert!(Array::<u8>::layout_bits(limit).is_some());
        assert!(Array::<u8>::layout_bits(limit + 1).is_none());
    }

    #[test]
    #[should_panic(expected = "gosync: capacity")]
    fn capacity_beyond_memory_panics() {
        // Fits the position words, but not the address range (slots are 2+ words each).
        let _ = Array::<[usize; 2]>::new(usize::MAX / 8);
    }

    #[test]
    fn concurrent_producers_and_consumers_deliver_each_value_once_in_order() {
        const PRODUCERS: usize = 2;
        const CONSUMERS: usize = 2;
        let per_producer = scaled(20_000, 150);
        // A small ring, so pushes often find it full and pops often find it empty.
        let ring = Array::new(2);
        let received: Vec<Vec<(usize, usize)>> = std::thread::scope(|s| {
            let producers: Vec<_> = (0..PRODUCERS)
                .map(|p| {
                    let ring = &ring;
                    s.spawn(move || {
                        for i in 0..per_producer {
                            let mut value = (p, i);
                            while let Err(refused) = ring.try_push(value) {
                                match refused {
                                    PushError::Full(v) => value = v,
                                    PushError::Closed(_) => panic!("closed while pushing"),
                                }
                                std::thread::yield_now();
                            }
                        }
                    })
                })
                .collect();
            let consumers: Vec<_> = (0..CONSUMERS)
                .map(|_| {
                    let ring = &ring;
                    s.spawn(move || {
                        let mut got = Vec::new();
                        loop {
                            match ring.try_pop() {
                                Ok(v) => got.push(v),
                                Err(PopError::Empty) => std::thread::yield_now(),
                                Err(PopError::Closed) => return got,
                            }
                        }
                    })
                })
                .collect();
            // Closing once the producers are done ends the consumers after the drain.
            for producer in producers {
                producer.join().unwrap();
            }
            assert!(ring.close());
            consumers.into_iter().map(|c| c.join().unwrap()).collect()
        });
        // Pops are ordered like the pushes they take: each consumer sees each producer's
        // values in increasing order.
        for got in &received {
            for p in 0..PRODUCERS {
                let from_p: Vec<usize> = got.iter().filter(|v| v.0 == p).map(|v| v.1).collect();
                assert!(from_p.windows(2).all(|w| w[0] < w[1]), "producer {p}'s values out of order");
            }
        }
        // Every value exactly once.
        let mut all: Vec<(usize, usize)> = received.concat();
        all.sort_unstable();
        let expected: Vec<(usize, usize)> =
            (0..PRODUCERS).flat_map(|p| (0..per_producer).map(move |i| (p, i))).collect();
        assert_eq!(all, expected);
        assert_eq!(ring.try_pop(), Err(PopError::Closed));
    }

    #[derive(Clone, Debug)]
    enum Op {
        Push(u16),
        Pop,
        Close,
    }

    fn op_strategy() -> impl Strategy<Value = Op> {
        prop_oneof![5 => any::<u16>().prop_map(Op::Push), 4 => Just(Op::Pop), 1 => Just(Op::Close)]
    }

    proptest! {
        // No failure persistence: it reads the working directory, which Miri's isolation
        // forbids (a failing case is printed with its seed anyway).
        #![proptest_config(ProptestConfig {
            cases: scaled(256, 4) as u32,
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        #[test]
        fn matches_a_vecdeque(cap in 1usize..5, ops in proptest::collection::vec(op_strategy(), 0..80)) {
            let ring = Array::new(cap);
            let mut model: VecDeque<u16> = VecDeque::new();
            let mut closed = false;
            for op in ops {
                match op {
                    Op::Push(v) => {
                        let got = match ring.try_push(v) {
                            Ok(()) => Ok(()),
                            Err(PushError::Full(back)) => Err(("full", back)),
                            Err(PushError::Closed(back)) => Err(("closed", back)),
                        };
                        let want = if closed {
                            Err(("closed", v))
                        } else if model.len() == cap {
                            Err(("full", v))
                        } else {
                            model.push_back(v);
                            Ok(())
                        };
                        prop_assert_eq!(got, want);
                    }
                    Op::Pop => {
                        let want = match model.pop_front() {
                            Some(v) => Ok(v),
                            None if closed => Err(PopError::Closed),
                            None => Err(PopError::Empty),
                        };
                        prop_assert_eq!(ring.try_pop(), want);
                    }
                    Op::Close => {
                        prop_assert_eq!(ring.close(), !closed);
                        closed = true;
                    }
                }
                prop_assert_eq!(ring.len(), model.len());
                prop_assert_eq!(ring.is_empty(), model.is_empty());
                prop_assert_eq!(ring.is_full(), model.len() == cap);
                prop_assert_eq!(ring.is_closed(), closed);
            }
        }
    }
}
