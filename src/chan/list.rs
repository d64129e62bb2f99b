//! The unbounded channel's buffer: a lock-free MPMC queue of fixed-size blocks.
//!
//! Values live in *slots*, [`BLOCK_CAP`] to a block, and blocks form a singly linked list
//! from the head (where pops take) to the tail (where pushes put). Each end is an *index*
//! word plus a pointer to the block that index falls in. A push reserves a slot by moving
//! the tail index forward with a compare-and-swap, then writes the value and sets the
//! slot's `WRITE` bit; a pop reserves the slot under the head index the same way, waits for
//! `WRITE`, and moves the value out. No lock is taken and nothing waits here except for a
//! push or pop that has already reserved its slot and is a few instructions from done.
//!
//! # Indices
//! An index is a slot *position* shifted left by [`SHIFT`], leaving bit 0 for a mark: on the
//! tail it means *closed*, on the head *the head's block is not the tail's block* (so a pop
//! need not look at the tail to know the queue is not empty). Positions run in laps of
//! [`LAP`] = `BLOCK_CAP + 1`: offsets `0..BLOCK_CAP` are slots of one block, and offset
//! `BLOCK_CAP` is not a slot but means "this block is used up and the next one is being
//! installed": the push that takes a block's last slot moves the tail there, allocates the
//! next block (so exactly one block is ever allocated per lap, and none is leaked), links
//! it, and moves the tail on to the new block's first slot; other pushes wait for that.
//! The pop that takes a block's last slot does the same for the head.
//!
//! # Wrap-around (32-bit targets)
//! Indices are `usize` and only ever advance with wrapping arithmetic, so on a 32-bit target
//! positions wrap after 2^31 slots (a minute or so of a busy channel). That is harmless:
//! `LAP` is a power of two, so it divides 2^31 and a position's offset in its block (and
//! "same block or not") stays continuous across the wrap; the buffered count is a wrapping
//! difference, and fewer than 2^31 values can ever be buffered (each slot takes at least a
//! 4-byte state word, and 2^31 of them would fill a 32-bit address space). The only
//! failure mode would be ABA: a thread stalled between reading an index and its
//! compare-and-swap while exactly a multiple of 2^31 other operations pass, the same
//! assumption every index-based queue of this kind makes. Only pointer-sized atomics are
//! used, so targets without 64-bit atomics (thumbv7em) are fine.
//!
//! # Freeing blocks
//! A block is freed as soon as each of its slots has been read, so memory follows the
//! number of buffered values. The reader of a block's last slot starts the destruction: it
//! walks the other slots, and at the first one whose reader has not finished (no `READ`
//! bit) it sets `DESTROY` and stops. That reader, on setting `READ`, sees `DESTROY` and
//! continues the walk from the next slot. Whoever finds every slot read frees the block.
//! Pushes never touch a block after setting their slot's `WRITE`, and a block's last slot is read
//! only after its pusher linked the next block, so no push outlives the block it wrote to.
//!
//! # Close
//! Close sets the mark in the tail index, the same word pushes compare-and-swap, so every
//! push is ordered against it: a push that reserved its slot before the mark is in the
//! queue for good (a pop after close still gets it, waiting for its write if need be), and
//! one that comes after fails and gets its value back. No value is ever accepted and then
//! stranded.
//!
//! # Ordering contract with the channel's waiting protocol
//! The channel pushes, issues `fence(SeqCst)`, then reads "a receiver waits"; a receiver
//! registers, issues `fence(SeqCst)`, then checks `!is_empty() || is_closed()`. Each push's
//! reservation (a `SeqCst` compare-and-swap of the tail index) and each close (a `SeqCst`
//! `fetch_or` on it) is sequenced before the pusher's or closer's fence. If that fence
//! precedes the receiver's fence in the single `SeqCst` order, the C++/Rust fence rules make
//! every load of the tail index after the receiver's fence see that write or a later one.
//! `is_empty`, `is_closed`, `len` and `try_pop` all read the tail index directly (never a
//! cached copy), so they see every such push and close. A stale *head* index can only make
//! `is_empty` answer "not empty" for a value another receiver already took, which costs
//! the receiver a retry, never a missed value. The loads are `SeqCst` themselves, so the guarantee also holds for callers
//! that order themselves with `SeqCst` operations rather than fences.

#![cfg_attr(not(any(test, loom)), allow(dead_code))] // the unbounded channel builds on it

use super::{PopError, PushError};
use crate::primitive::atomic::{AtomicPtr, AtomicUsize, Ordering};
use crate::primitive::UnsafeCell;
use alloc::boxed::Box;
use core::marker::PhantomData;
use core::mem::MaybeUninit;
use core::ptr;
use crossbeam_utils::CachePadded;

/// Slots per block. Small under loom, so that models with a handful of values cross block
/// boundaries and exercise installation and destruction.
#[cfg(not(loom))]
const BLOCK_CAP: usize = 31;
#[cfg(loom)]
const BLOCK_CAP: usize = 2;

/// Positions per lap: a block's slots plus the "next block being installed" position.
const LAP: usize = BLOCK_CAP + 1;

// Outside loom, wrap-around relies on LAP dividing 2^(usize::BITS - SHIFT); see the module
// docs. (Under loom the lap is 3, and no model comes near a wrap.)
#[cfg(not(loom))]
const _: () = assert!(LAP.is_power_of_two());

/// Low bits of an index reserved for its mark.
const SHIFT: usize = 1;
/// On the tail index: the queue is closed.
const CLOSED: usize = 1;
/// On the head index: the head's block is not the tail's block, so there is a value to pop.
const NEXT_BLOCK: usize = 1;
/// One position, as an index increment.
const ONE: usize = 1 << SHIFT;

/// Slot state bits.
const WRITE: usize = 1; // the value is written
const READ: usize = 2; // the value was moved out
const DESTROY: usize = 4; // the block's destroyer passed here and left the rest to this reader

/// A lock-free, unbounded MPMC FIFO of `T`, closable; the unbounded channel's buffer.
///
/// Every push that succeeds is popped exactly once, in FIFO order with respect to the
/// moments the pushes reserved their slots; values still buffered when the list is dropped
/// are dropped with it.
#[doc(hidden)]
pub struct List<T> {
    head: CachePadded<End<T>>,
    tail: CachePadded<End<T>>,
    /// The list owns values of `T` (for the drop checker and auto traits).
    _values: PhantomData<T>,
}

// SAFETY: values move between threads through the list (a push on one thread, a pop on
// another), so it may be sent or shared when `T: Send`. It never hands out `&T`, so sharing
// it needs no `T: Sync`; the raw block pointers are managed by the protocol described in the
// module docs.
unsafe impl<T: Send> Send for List<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for List<T> {}

/// One end of the list: its index and the block that index falls in.
struct End<T> {
    index: AtomicUsize,
    block: AtomicPtr<Block<T>>,
}

struct Block<T> {
    /// The next block, null until the push that takes this block's last slot links it.
    next: AtomicPtr<Block<T>>,
    slots: [Slot<T>; BLOCK_CAP],
    /// loom reports a leaked loom `Arc` at the end of a model, so a block leaks one too:
    /// a block the destruction hand-off never frees fails the model.
    #[cfg(loom)]
    _leak_check: crate::primitive::Arc<()>,
}

struct Slot<T> {
    value: UnsafeCell<MaybeUninit<T>>,
    /// `WRITE`, `READ` and `DESTROY` bits.
    state: AtomicUsize,
}

impl<T> List<T> {
    /// An empty, open list. Allocates its first block.
    pub fn new() -> Self {
        Self::starting_at(0)
    }

    /// An empty list whose first slot has position `position` (a lap start). Tests start
    /// near the wrap-around point with it.
    fn starting_at(position: usize) -> Self {
        debug_assert_eq!(position % LAP, 0, "a list starts at a block's first slot");
        let block = Block::alloc();
        let index = position.wrapping_shl(SHIFT as u32);
        List {
            head: CachePadded::new(End { index: AtomicUsize::new(index), block: AtomicPtr::new(block) }),
            tail: CachePadded::new(End { index: AtomicUsize::new(index), block: AtomicPtr::new(block) }),
            _values: PhantomData,
        }
    }

    /// Appends `value`, or gives it back in `PushError::Closed` once the list is closed.
    /// Never `Full`.
    pub fn try_push(&self, value: T) -> Result<(), PushError<T>> {
        let mut spin = Spin::new();
        // Acquire pairs with the Release that moved the tail into a new block: reading that
        // index makes the new block pointer visible below.
        let mut tail = self.tail.index.load(Ordering::Acquire);
        loop {
            if tail & CLOSED != 0 {
                return Err(PushError::Closed(value));
            }
            let offset = offset(tail);
            if offset == BLOCK_CAP {
                // The block is full and the push that took its last slot is installing the
                // next one: a few instructions plus one allocation.
                spin.wait();
                tail = self.tail.index.load(Ordering::Acquire);
                continue;
            }
            // Loaded after `tail`: it is the block of `tail`'s lap or a later one, and if it
            // is a later one the tail has moved on and the compare-and-swap below fails.
            let block = self.tail.block.load(Ordering::Acquire);
            // SeqCst: the reservation is what the channel's fence publishes to receivers
            // (module docs). Failing on a set CLOSED bit is what orders pushes against close.
            match self.tail.index.compare_exchange(
                tail,
                tail.wrapping_add(ONE),
                Ordering::SeqCst,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    if offset + 1 == BLOCK_CAP {
                        // SAFETY: we reserved the block's last slot, so the block lives (that
                        // slot is unread) and we are the one push that links its successor.
                        unsafe { self.install_next_block(block) };
                    }
                    // SAFETY: the slot at `offset` of `block` is ours alone to write; the
                    // block lives until that slot is read, which waits for WRITE.
                    unsafe { (*block).slots[offset].write(value) };
                    return Ok(());
                }
                Err(current) => {
                    tail = current;
                    spin.retry();
                }
            }
        }
    }

    /// Called by the push that reserved `block`'s last slot (the tail index is now at the
    /// "installing" position): allocates, publishes and links the next block.
    ///
    /// # Safety
    /// The caller reserved `block`'s last slot and has not written it yet.
    unsafe fn install_next_block(&self, block: *mut Block<T>) {
        let next = Block::alloc();
        // Block before index (both Release): a push that reads the new index (Acquire)
        // finds the new block.
        self.tail.block.store(next, Ordering::Release);
        // fetch_add, not store: a concurrent close may have set CLOSED meanwhile, and it
        // must stay set. This moves the tail past the "installing" position, which holds no
        // value, so it needs no SeqCst.
        self.tail.index.fetch_add(ONE, Ordering::Release);
        // SAFETY: the caller's unwritten last slot keeps `block` alive. Release: the pop of
        // that last slot reads `next` (Acquire) and then the new block's fields.
        unsafe { (*block).next.store(next, Ordering::Release) };
    }

    /// Removes the oldest value. `Empty` while nothing is buffered and the list is open,
    /// `Closed` once it is closed and drained.
    pub fn try_pop(&self) -> Result<T, PopError> {
        let mut spin = Spin::new();
        // Acquire pairs with the Release that moved the head into a new block.
        let mut head = self.head.index.load(Ordering::Acquire);
        loop {
            let offset = offset(head);
            if offset == BLOCK_CAP {
                // The pop of the block's last slot is moving the head to the next block.
                spin.wait();
                head = self.head.index.load(Ordering::Acquire);
                continue;
            }
            let mut new_head = head.wrapping_add(ONE);
            if head & NEXT_BLOCK == 0 {
                // SeqCst: this load must see every push and close made visible by the
                // caller's fence (module docs).
                let tail = self.tail.index.load(Ordering::SeqCst);
                if position(head) == position(tail) {
                    // The head is on a slot here (the "installing" position was handled
                    // above), and every slot before the tail is reserved by a push, so equal
                    // positions mean nothing is left to take.
                    return Err(if tail & CLOSED != 0 { PopError::Closed } else { PopError::Empty });
                }
                if lap(head) != lap(tail) {
                    // Every slot up to the tail is reserved, so the rest of this block is
                    // too: later pops in this lap may skip the tail check.
                    new_head |= NEXT_BLOCK;
                }
            }
            // Loaded after `head`: the block of `head`'s lap, or a later one and then the
            // compare-and-swap fails.
            let block = self.head.block.load(Ordering::Acquire);
            match self.head.index.compare_exchange(head, new_head, Ordering::SeqCst, Ordering::Acquire) {
                Ok(_) => {
                    if offset + 1 == BLOCK_CAP {
                        // SAFETY: we reserved the block's last slot: the block lives until we
                        // read it, and we are the one pop that moves the head on.
                        unsafe { self.advance_head(block, new_head) };
                    }
                    // SAFETY: the slot at `offset` of `block` is reserved by a push (it is
                    // below the tail) and by us (the head moved past it): we alone read it.
                    return Ok(unsafe { Block::read(block, offset) });
                }
                Err(current) => {
                    head = current;
                    spin.retry();
                }
            }
        }
    }

    /// Called by the pop that reserved `block`'s last slot (the head index is now at the
    /// "installing" position `new_head`): moves the head to the next block.
    ///
    /// # Safety
    /// The caller reserved `block`'s last slot and has not read it yet.
    unsafe fn advance_head(&self, block: *mut Block<T>, new_head: usize) {
        // SAFETY: the caller's unread slot keeps `block` alive.
        let next = unsafe { (*block).wait_next() };
        let mut index = (new_head & !NEXT_BLOCK).wrapping_add(ONE);
        // SAFETY: `next` is not freed before its slots are read, and the head is not in it
        // yet. Relaxed: a non-null link is only a hint that the tail is beyond `next` (it was
        // stored after the tail moved there); no data is read through it.
        if !unsafe { (*next).next.load(Ordering::Relaxed) }.is_null() {
            index |= NEXT_BLOCK;
        }
        // Block before index (Release), as for the tail.
        self.head.block.store(next, Ordering::Release);
        self.head.index.store(index, Ordering::Release);
    }

    /// Closes the list: later pushes fail and give their value back, pops drain what is
    /// buffered and then report `Closed`. True for the one call that closed it.
    pub fn close(&self) -> bool {
        // SeqCst: a close is published to receivers like a push (module docs).
        self.tail.index.fetch_or(CLOSED, Ordering::SeqCst) & CLOSED == 0
    }

    /// Whether the list is closed (values may still be buffered).
    pub fn is_closed(&self) -> bool {
        self.tail.index.load(Ordering::SeqCst) & CLOSED != 0
    }

    /// How many values are buffered. Exact when no push or pop is in progress; meanwhile it
    /// may count slots that are reserved but not yet written or read.
    pub fn len(&self) -> usize {
        // Head first, then tail: the head never passes the tail and only moves forward, so
        // the tail read later is at or beyond the head read earlier, and the wrapping
        // difference below never underflows.
        let head = position(self.head.index.load(Ordering::SeqCst));
        let tail = position(self.tail.index.load(Ordering::SeqCst));
        buffered(head, tail)
    }

    /// Whether nothing is buffered. A push whose reservation is visible (module docs) makes
    /// this false until that value is popped.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T> Default for List<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Drop for List<T> {
    fn drop(&mut self) {
        // `&mut self`: every push and pop has finished, so every slot from head to tail is
        // written and unread, and the blocks from the head block on are ours to free.
        let mut rest = Remaining {
            head: self.head.index.load(Ordering::Relaxed) & !NEXT_BLOCK,
            tail: self.tail.index.load(Ordering::Relaxed) & !CLOSED,
            block: self.head.block.load(Ordering::Relaxed),
        };
        while let Some(value) = rest.take() {
            // If this panics, `rest`'s own drop finishes the job.
            drop(value);
        }
    }
}

/// The values and blocks a dropped list still owns, taken one by one.
struct Remaining<T> {
    head: usize,
    tail: usize,
    /// The block `head` falls in (null once freed at the end).
    block: *mut Block<T>,
}

impl<T> Remaining<T> {
    /// Moves out the next value, freeing each block once passed.
    fn take(&mut self) -> Option<T> {
        while position(self.head) != position(self.tail) {
            let offset = offset(self.head);
            self.head = self.head.wrapping_add(ONE);
            if offset < BLOCK_CAP {
                // SAFETY: the slot lies between head and tail of a list no one else can
                // reach: written (its push finished) and never read. Advancing `head` first
                // makes sure it is never taken twice.
                return Some(unsafe { (*self.block).slots[offset].take() });
            }
            // SAFETY: every slot of this block has been read or taken, and no one else can
            // reach it; the next block exists since the tail is beyond this one.
            unsafe {
                let next = (*self.block).next.load(Ordering::Relaxed);
                Block::free(self.block);
                self.block = next;
            }
        }
        None
    }
}

impl<T> Drop for Remaining<T> {
    fn drop(&mut self) {
        // Reached normally with nothing left, or while a value's drop panics: then the rest
        // are dropped here (a second panic aborts, as for a `Vec`).
        while let Some(value) = self.take() {
            drop(value);
        }
        if !self.block.is_null() {
            // SAFETY: the tail's block: its slots are all read or never written, and no
            // one else can reach it.
            unsafe { Block::free(self.block) };
            self.block = ptr::null_mut();
        }
    }
}

impl<T> Block<T> {
    /// A new empty block on the heap, as a raw pointer the list manages.
    fn alloc() -> *mut Block<T> {
        #[cfg(all(test, not(loom)))]
        tests::LIVE_BLOCKS.with(|live| live.set(live.get() + 1));
        Box::into_raw(Box::new(Block {
            next: AtomicPtr::new(ptr::null_mut()),
            #[cfg(loom)]
            _leak_check: crate::primitive::Arc::new(()),
            slots: core::array::from_fn(|_| Slot {
                value: UnsafeCell::new(MaybeUninit::uninit()),
                state: AtomicUsize::new(0),
            }),
        }))
    }

    /// Waits for the push of this block's last slot to link the next block.
    fn wait_next(&self) -> *mut Block<T> {
        let mut spin = Spin::new();
        loop {
            // Acquire pairs with the Release in install_next_block.
            let next = self.next.load(Ordering::Acquire);
            if !next.is_null() {
                return next;
            }
            spin.wait();
        }
    }

    /// Moves the value out of slot `offset`, then does this reader's part of freeing the
    /// block.
    ///
    /// # Safety
    /// The caller reserved slot `offset` of the live block `this` for reading (through the
    /// head index), so no one else reads it.
    unsafe fn read(this: *mut Block<T>, offset: usize) -> T {
        // SAFETY: the block lives until this slot is marked READ (or, for the last slot,
        // until we free it ourselves).
        let slot = unsafe { &(*this).slots[offset] };
        let value = slot.take_when_written();
        if offset + 1 == BLOCK_CAP {
            // SAFETY: we read the last slot, so we start the destruction; our own slot is
            // not part of the walk.
            unsafe { Block::destroy(this, 0) };
        } else if slot.state.fetch_or(READ, Ordering::AcqRel) & DESTROY != 0 {
            // AcqRel: Release publishes our read of the value to whoever frees the block;
            // Acquire makes the destroyer's walk so far visible to us before we continue it.
            // SAFETY: the destroyer stopped at our slot and left the rest to us.
            unsafe { Block::destroy(this, offset + 1) };
        }
        // From here on the block may be freed: `slot` is not used again.
        value
    }

    /// Frees `this` once every slot before the last, from `start` on, has been read; stops
    /// at the first slot whose reader has not finished and leaves it to continue.
    ///
    /// # Safety
    /// The last slot has been read, and every slot before `start` was read or handed its
    /// part of the walk on to us; no one else is destroying the block.
    unsafe fn destroy(this: *mut Block<T>, start: usize) {
        for i in start..BLOCK_CAP - 1 {
            // SAFETY: the block is alive until we free it below.
            let slot = unsafe { &(*this).slots[i] };
            // Acquire on both: a READ bit we see carries the reader's last access to the
            // slot, which must happen before the free. If DESTROY goes in first, that reader
            // sees it and carries on from the next slot.
            if slot.state.load(Ordering::Acquire) & READ == 0
                && slot.state.fetch_or(DESTROY, Ordering::AcqRel) & READ == 0
            {
                return;
            }
        }
        // SAFETY: every slot has been read and no push or pop will touch the block again.
        unsafe { Block::free(this) };
    }

    /// Frees a block made by `alloc`. Its slots hold no value (`MaybeUninit` drops nothing).
    ///
    /// # Safety
    /// `this` came from `alloc`, is freed once, and is not used afterwards.
    unsafe fn free(this: *mut Block<T>) {
        #[cfg(all(test, not(loom)))]
        tests::LIVE_BLOCKS.with(|live| live.set(live.get() - 1));
        // loom cannot see a free, so it is told of one as a write to every value cell: a
        // free that does not happen after some slot's push and pop then shows up as a
        // concurrent access to that cell.
        #[cfg(loom)]
        // SAFETY: the pointer is valid (the caller's contract) and nothing is accessed.
        for slot in unsafe { &(*this).slots } {
            slot.value.with_mut(|_| ());
        }
        // SAFETY: forwarded to the caller; `alloc` made it with `Box::into_raw`.
        drop(unsafe { Box::from_raw(this) });
    }
}

impl<T> Slot<T> {
    /// Writes the pushed value and publishes it.
    ///
    /// # Safety
    /// The caller reserved this slot for writing (through the tail index).
    unsafe fn write(&self, value: T) {
        // SAFETY: nobody reads the slot before WRITE is set, and only its reserver writes it.
        self.value.with_mut(|cell| unsafe { cell.write(MaybeUninit::new(value)) });
        // Release: the reader that sees WRITE (Acquire) sees the value.
        self.state.fetch_or(WRITE, Ordering::Release);
    }

    /// Waits until the slot's push has written it, then moves the value out. A pop can
    /// reserve a slot between its push's reservation and its write (the push is a few
    /// instructions from done); reporting `Empty` then would lose an accepted value.
    fn take_when_written(&self) -> T {
        let mut spin = Spin::new();
        // Acquire pairs with the Release in `write`.
        while self.state.load(Ordering::Acquire) & WRITE == 0 {
            spin.wait();
        }
        // SAFETY: written (WRITE seen with Acquire) and reserved by this reader alone.
        unsafe { self.take() }
    }

    /// Moves the value out.
    ///
    /// # Safety
    /// The slot is written, its write happens before this call, and no one else reads it.
    unsafe fn take(&self) -> T {
        // SAFETY: forwarded to the caller; reading leaves the cell logically uninitialised,
        // and the protocol never reads it again.
        self.value.with_mut(|cell| unsafe { cell.read().assume_init() })
    }
}

/// The offset of an index's position in its block (`BLOCK_CAP` for "installing").
fn offset(index: usize) -> usize {
    position(index) % LAP
}

/// The lap (block number, modulo wrap-around) of an index.
fn lap(index: usize) -> usize {
    position(index) / LAP
}

/// An index without its mark.
fn position(index: usize) -> usize {
    index >> SHIFT
}

/// How many slots lie between positions `head` and `tail`, not counting "installing"
/// positions. With `h` the head's offset in its lap and `d` the distance, the stretch is
/// `h..h + d` of a lap-aligned sequence, where every LAP-th position (offsets `BLOCK_CAP`)
/// is not a slot: `(h + d) / LAP` of those lie in it.
fn buffered(head: usize, tail: usize) -> usize {
    // Wrapping: positions wrap, and a distance is well below the wrap (module docs).
    let distance = tail.wrapping_sub(head) & (usize::MAX >> SHIFT);
    let from_lap_start = head % LAP + distance;
    distance - from_lap_start / LAP
}

/// Waiting for another thread's few remaining instructions: exponential backoff that ends
/// in yielding, or under loom a scheduling point every turn (a loop loom cannot see through
/// would explode its branch count).
struct Spin {
    #[cfg(not(loom))]
    backoff: crossbeam_utils::Backoff,
}

impl Spin {
    fn new() -> Self {
        Spin {
            #[cfg(not(loom))]
            backoff: crossbeam_utils::Backoff::new(),
        }
    }

    /// Another thread must finish first (a write, a block link).
    fn wait(&mut self) {
        #[cfg(not(loom))]
        self.backoff.snooze();
        #[cfg(loom)]
        crate::primitive::spin_hint();
    }

    /// A compare-and-swap lost a race; retry soon.
    fn retry(&mut self) {
        #[cfg(not(loom))]
        self.backoff.spin();
        #[cfg(loom)]
        crate::primitive::spin_hint();
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use alloc::vec::Vec;
    use core::cell::Cell;
    use proptest::prelude::*;
    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex};

    std::thread_local! {
        /// Blocks allocated minus blocks freed by this thread (tests that count them run on
        /// one thread, so the count is theirs alone).
        pub(super) static LIVE_BLOCKS: Cell<isize> = const { Cell::new(0) };
    }

    fn live_blocks() -> isize {
        LIVE_BLOCKS.with(Cell::get)
    }

    /// Pops everything buffered now.
    fn drain<T>(list: &List<T>) -> Vec<T> {
        core::iter::from_fn(|| list.try_pop().ok()).collect()
    }

    fn pushed<T>(result: Result<(), PushError<T>>) -> bool {
        match result {
            Ok(()) => true,
            Err(PushError::Closed(_)) => false,
            Err(PushError::Full(_)) => panic!("an unbounded list is never full"),
        }
    }

    /// Pushes and pops across several blocks, in the patterns that move head and tail over
    /// block boundaries at different times, checking order, `len` and `is_empty` throughout.
    fn check_fifo(list: &List<usize>) {
        let n = 3 * BLOCK_CAP + 5;
        let mut next_pop = 0;
        // Fill several blocks, then drain.
        for i in 0..n {
            assert_eq!(list.len(), i);
            assert!(list.try_push(i).is_ok());
            assert!(!list.is_empty());
        }
        assert_eq!(list.len(), n);
        for left in (0..n).rev() {
            assert_eq!(list.try_pop(), Ok(next_pop));
            next_pop += 1;
            assert_eq!(list.len(), left);
        }
        assert!(list.is_empty());
        assert_eq!(list.try_pop(), Err(PopError::Empty));
        // Interleaved, so that the head follows the tail closely across boundaries.
        for i in n..4 * n {
            assert!(list.try_push(i).is_ok());
            if i % 3 != 0 {
                assert_eq!(list.try_pop(), Ok(next_pop));
                next_pop += 1;
            }
            assert_eq!(list.len(), i + 1 - next_pop);
        }
        let rest = drain(list);
        assert_eq!(rest, (next_pop..4 * n).collect::<Vec<_>>());
        assert!(list.is_empty());
        assert_eq!(list.len(), 0);
    }

    #[test]
    fn fifo_across_blocks() {
        check_fifo(&List::new());
    }

    /// Positions wrap around (after 2^31 slots on a 32-bit target, 2^63 here): start just
    /// before the wrap so that the same walk crosses it.
    #[test]
    fn fifo_across_index_wrap_around() {
        let wrap = (usize::MAX >> SHIFT).wrapping_add(1);
        let list = List::starting_at(wrap - 2 * LAP);
        check_fifo(&list);
        assert!(position(list.tail.index.load(Ordering::Relaxed)) < 1000, "did not wrap");
    }

    #[test]
    fn values_of_zero_size() {
        let list = List::new();
        for _ in 0..2 * BLOCK_CAP + 1 {
            assert!(list.try_push(()).is_ok());
        }
        assert_eq!(list.len(), 2 * BLOCK_CAP + 1);
        assert_eq!(drain(&list).len(), 2 * BLOCK_CAP + 1);
    }

    #[test]
    fn close_semantics() {
        let list = List::new();
        for i in 0..BLOCK_CAP + 2 {
            assert!(list.try_push(i).is_ok());
        }
        assert!(!list.is_closed());
        assert!(list.close(), "the first close closes");
        assert!(!list.close(), "a second close reports that it did not");
        assert!(list.is_closed());
        match list.try_push(99) {
            Err(PushError::Closed(v)) => assert_eq!(v, 99, "the value comes back"),
            _ => panic!("push after close must fail with Closed"),
        }
        assert_eq!(list.len(), BLOCK_CAP + 2, "a failed push leaves no trace");
        // Drain: every value pushed before the close, in order; then Closed, for good.
        for i in 0..BLOCK_CAP + 2 {
            assert_eq!(list.try_pop(), Ok(i));
        }
        assert_eq!(list.try_pop(), Err(PopError::Closed));
        assert_eq!(list.try_pop(), Err(PopError::Closed));
        assert!(list.is_empty());
        assert!(list.is_closed());
    }

    #[test]
    fn close_when_empty_and_at_block_boundaries() {
        for before in [0, BLOCK_CAP - 1, BLOCK_CAP, BLOCK_CAP + 1] {
            let list = List::new();
            for i in 0..before {
                assert!(list.try_push(i).is_ok());
            }
            assert_eq!(list.try_pop().ok(), (before > 0).then_some(0));
            assert!(list.close());
            assert!(!pushed(list.try_push(7)));
            assert_eq!(drain(&list), (1..before).collect::<Vec<_>>());
            assert_eq!(list.try_pop(), Err(PopError::Closed));
        }
    }

    /// A value that records its drops, by id.
    struct Tracked {
        id: usize,
        drops: Arc<Mutex<Vec<usize>>>,
    }

    impl Drop for Tracked {
        fn drop(&mut self) {
            self.drops.lock().unwrap()[self.id] += 1;
        }
    }

    #[test]
    fn drop_drops_each_buffered_value_once_and_frees_every_block() {
        let n = 3 * BLOCK_CAP + 4;
        // One more id for the value a closed list refuses.
        let drops = Arc::new(Mutex::new(alloc::vec![0; n + 1]));
        let blocks_before = live_blocks();
        {
            let list = List::new();
            for id in 0..n {
                assert!(list.try_push(Tracked { id, drops: drops.clone() }).is_ok());
            }
            // Pop into the middle of the second block: popped values are the caller's.
            for id in 0..BLOCK_CAP + 3 {
                let value = list.try_pop().ok().unwrap();
                assert_eq!(value.id, id);
            }
            assert!(drops.lock().unwrap().iter().take(BLOCK_CAP + 3).all(|&d| d == 1));
            assert!(drops.lock().unwrap().iter().skip(BLOCK_CAP + 3).all(|&d| d == 0));
            // A refused value is given back, not dropped by the list.
            list.close();
            match list.try_push(Tracked { id: n, drops: drops.clone() }) {
                Err(PushError::Closed(v)) => assert_eq!(drops.lock().unwrap()[v.id], 0),
                _ => panic!("closed"),
            }
        }
        assert!(drops.lock().unwrap().iter().all(|&d| d == 1), "{:?}", drops.lock().unwrap());
        assert_eq!(live_blocks(), blocks_before, "every block freed");
    }

    #[test]
    fn a_panicking_drop_does_not_leak_the_rest() {
        struct PanicOnDrop(bool, Arc<Mutex<Vec<usize>>>, usize);
        impl Drop for PanicOnDrop {
            fn drop(&mut self) {
                self.1.lock().unwrap()[self.2] += 1;
                if self.0 {
                    panic!("boom");
                }
            }
        }
        let n = 2 * BLOCK_CAP + 3;
        let drops = Arc::new(Mutex::new(alloc::vec![0; n]));
        let blocks_before = live_blocks();
        let list = List::new();
        for id in 0..n {
            assert!(list.try_push(PanicOnDrop(id == 1, drops.clone(), id)).is_ok());
        }
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(list)));
        assert!(result.is_err(), "the value's panic propagates");
        assert!(drops.lock().unwrap().iter().all(|&d| d == 1), "{:?}", drops.lock().unwrap());
        assert_eq!(live_blocks(), blocks_before, "every block freed");
    }

    /// A long-running list does not grow: blocks are freed as soon as they are read, so the
    /// live blocks follow the buffered count.
    #[test]
    fn blocks_are_freed_as_they_are_read() {
        let blocks_before = live_blocks();
        let list = List::new();
        for round in 0..10 * BLOCK_CAP {
            assert!(list.try_push(round).is_ok());
            assert!(list.try_push(round).is_ok());
            assert_eq!(list.try_pop().map(|_| ()), Ok(()));
            assert_eq!(list.try_pop().map(|_| ()), Ok(()));
            // One block, or two while the tail has moved into a new one.
            assert!(live_blocks() - blocks_before <= 2, "round {round}: blocks pile up");
        }
        // With many buffered: as many blocks as needed, and they go as they drain.
        for i in 0..5 * BLOCK_CAP {
            assert!(list.try_push(i).is_ok());
        }
        assert!(live_blocks() - blocks_before >= 5);
        drain(&list);
        assert!(live_blocks() - blocks_before <= 1);
        drop(list);
        assert_eq!(live_blocks(), blocks_before);
    }

    /// The destruction hand-off, played out on one thread so that it runs the same way every
    /// time (Miri included): a pop reserves the block's first slot and stalls before reading
    /// it; the other pops, the last slot's included, finish first. The last reader finds the
    /// first slot unread and leaves the block to that slow reader, which frees it.
    #[test]
    fn a_slow_reader_frees_the_block_after_the_last_reader() {
        let blocks_before = live_blocks();
        let list = List::new();
        for i in 0..=BLOCK_CAP {
            assert!(list.try_push(i).is_ok());
        }
        // What `try_pop` does up to its read: reserve the head slot.
        let block = list.head.block.load(Ordering::Relaxed);
        let head = list.head.index.load(Ordering::Relaxed);
        assert_eq!(offset(head), 0);
        list.head.index.store(head + ONE, Ordering::Relaxed);
        for i in 1..BLOCK_CAP {
            assert_eq!(list.try_pop(), Ok(i));
        }
        assert_eq!(live_blocks() - blocks_before, 2, "the first block waits for its slow reader");
        // SAFETY: slot 0 of the live first block was reserved above, as `try_pop` reserves it.
        assert_eq!(unsafe { Block::read(block, 0) }, 0);
        assert_eq!(live_blocks() - blocks_before, 1, "the slow reader freed it");
        assert_eq!(list.try_pop(), Ok(BLOCK_CAP));
        drop(list);
        assert_eq!(live_blocks(), blocks_before);
    }

    /// Two producers, two consumers: every value arrives exactly once, and each consumer
    /// sees each producer's values in the order they were pushed.
    #[test]
    fn mpmc_stress_exactly_once_in_producer_order() {
        const PRODUCERS: usize = 2;
        let per_producer = if cfg!(miri) { 3 * BLOCK_CAP } else { 20_000 };
        let list = Arc::new(List::new());
        let producers: Vec<_> = (0..PRODUCERS)
            .map(|p| {
                let list = list.clone();
                std::thread::spawn(move || {
                    for seq in 0..per_producer {
                        assert!(list.try_push((p, seq)).is_ok());
                    }
                })
            })
            .collect();
        let consumers: Vec<_> = (0..2)
            .map(|_| {
                let list = list.clone();
                std::thread::spawn(move || {
                    let mut got = Vec::new();
                    let mut last: [Option<usize>; PRODUCERS] = [None; PRODUCERS];
                    loop {
                        match list.try_pop() {
                            Ok((p, seq)) => {
                                assert!(last[p].map_or(true, |l| l < seq), "producer {p} out of order");
                                last[p] = Some(seq);
                                got.push((p, seq));
                            }
                            Err(PopError::Empty) => std::thread::yield_now(),
                            Err(PopError::Closed) => return got,
                        }
                    }
                })
            })
            .collect();
        for producer in producers {
            producer.join().unwrap();
        }
        assert!(list.close());
        let mut all: Vec<_> = consumers.into_iter().flat_map(|c| c.join().unwrap()).collect();
        all.sort_unstable();
        let expected: Vec<_> = (0..PRODUCERS).flat_map(|p| (0..per_producer).map(move |s| (p, s))).collect();
        assert_eq!(all, expected, "every value exactly once");
        assert!(list.is_empty());
    }

    #[test]
    fn list_is_send_and_sync_when_values_are_send() {
        fn send_sync<S: Send + Sync>() {}
        // `Cell` is Send but not Sync: the list never shares a value, only moves it.
        send_sync::<List<Cell<u8>>>();
    }

    #[derive(Clone, Debug)]
    enum Op {
        Push(u8),
        Pop,
        Close,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => any::<u8>().prop_map(Op::Push),
            4 => Just(Op::Pop),
            1 => Just(Op::Close),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            // Miri runs each case 100x slower or more: a few still cross blocks.
            cases: if cfg!(miri) { 4 } else { 256 },
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        /// Single-threaded push/pop/close sequences long enough to cross several blocks
        /// behave like a VecDeque with a closed flag.
        #[test]
        fn matches_vecdeque(ops in prop::collection::vec(op(), 0..8 * BLOCK_CAP)) {
            let list = List::new();
            let mut model = VecDeque::new();
            let mut closed = false;
            for (step, op) in ops.into_iter().enumerate() {
                match op {
                    Op::Push(v) => {
                        let accepted = pushed(list.try_push(v));
                        prop_assert_eq!(accepted, !closed, "step {}", step);
                        if accepted {
                            model.push_back(v);
                        }
                    }
                    Op::Pop => {
                        let expected = match model.pop_front() {
                            Some(v) => Ok(v),
                            None if closed => Err(PopError::Closed),
                            None => Err(PopError::Empty),
                        };
                        prop_assert_eq!(list.try_pop(), expected, "step {}", step);
                    }
                    Op::Close => {
                        prop_assert_eq!(list.close(), !closed, "step {}", step);
                        closed = true;
                    }
                }
                prop_assert_eq!(list.len(), model.len(), "step {}", step);
                prop_assert_eq!(list.is_empty(), model.is_empty(), "step {}", step);
                prop_assert_eq!(list.is_closed(), closed, "step {}", step);
            }
        }
    }
}
