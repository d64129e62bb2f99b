//! Select: wait on several channel operations, complete exactly one.
//!
//! A select runs in rounds. First it tries every case once, in a random order (Go's rule:
//! among ready cases the choice is uniform). If none is ready it registers one waiter on
//! every case's channel, each registration with its own token, re-checks readiness, and
//! sleeps. Whichever channel completes the waiter first wins: the waiter's state moves only
//! once, so every other registration is dead from then on. On a buffered channel the
//! completion is a hint and the select retries that case first; on a rendezvous channel the
//! value has already moved through the case's slot. Before the select completes an
//! operation by itself (a case found ready while registering, or the timeout) it claims its
//! own waiter, so that no channel can complete it at the same time: two selects that meet on
//! a rendezvous channel complete exactly once.

use super::{flavor, Flavor, Receiver, RecvError, SendError, Sender, TryRecvError, TrySendError};
use crate::waiter::{Slot, TaskWaiter, Token, Waiter, NOTIFIED};
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;
use core::future::Future;
use core::ops::DerefMut;
use core::pin::Pin;
use core::task::{Context, Poll};

#[cfg(feature = "std")]
use crate::primitive::Instant;
#[cfg(feature = "std")]
use core::time::Duration;

/// The waiter of one select round, as the cases see it.
#[doc(hidden)]
pub struct Ctx<'w>(&'w Waiter);

/// One case of a select, type-erased. Implemented by [`RecvCase`] and [`SendCase`] only.
#[doc(hidden)]
pub trait Case {
    /// Completes the operation now if it is ready (a closed channel is ready).
    fn try_now(&mut self) -> bool;
    /// Registers the round's waiter as case `index`; true if the case turned out ready.
    fn register(&mut self, ctx: &Ctx<'_>, index: usize) -> bool;
    /// Withdraws the registration, if any (the waiter is no longer waiting).
    fn unregister(&mut self, ctx: &Ctx<'_>);
    /// This case's registration completed the waiter: true if the operation is done,
    /// false to retry the round.
    fn finish(&mut self, ctx: &Ctx<'_>) -> bool;
    /// As `finish`, for a select future dropped after this case completed it: a wake-up
    /// passes on, a value handed to a receive goes back.
    fn abandon(&mut self, ctx: &Ctx<'_>, index: usize);
    /// Marks this case as the one chosen.
    fn set_chosen(&mut self);
    /// The address of the channel and whether this is a receive (for typed access).
    fn identity(&self) -> (*const (), bool);
    /// The case's outcome slot, type-erased (see `SelectedOperation`).
    fn outcome_ptr(&mut self) -> *mut ();
    /// True when the case holds an outcome nobody has taken yet (a dropped
    /// `SelectedOperation`, or a send a dropped select future completed).
    fn has_outcome(&self) -> bool;
}

/// A receive case: `recv(rx) -> msg`.
#[doc(hidden)]
pub struct RecvCase<'a, T> {
    rx: &'a Receiver<T>,
    outcome: Option<Result<T, RecvError>>,
    slot: Option<Slot<T>>,
    registered: bool,
    chosen: bool,
}

impl<'a, T> RecvCase<'a, T> {
    /// A receive on `rx`.
    pub fn new(rx: &'a Receiver<T>) -> Self {
        RecvCase { rx, outcome: None, slot: None, registered: false, chosen: false }
    }

    /// True when the select chose this case.
    pub fn is_chosen(&self) -> bool {
        self.chosen
    }

    /// The chosen case's result.
    ///
    /// # Panics
    /// If the case was not chosen (a bug in the `select!` expansion).
    pub fn take_outcome(&mut self) -> Result<T, RecvError> {
        self.chosen = false;
        self.outcome.take().expect("gosync: select case has no outcome")
    }
}

impl<T> Case for RecvCase<'_, T> {
    fn try_now(&mut self) -> bool {
        if self.outcome.is_some() {
            return true;
        }
        self.outcome = match self.rx.try_recv_nowait() {
            Ok(value) => Some(Ok(value)),
            Err(TryRecvError::Closed) => Some(Err(RecvError)),
            Err(TryRecvError::Empty) => None,
        };
        self.outcome.is_some()
    }

    fn register(&mut self, ctx: &Ctx<'_>, index: usize) -> bool {
        let token = Token::case(index);
        match self.rx.chan().flavor() {
            Flavor::Array(b) => {
                self.registered = true;
                b.register_recv::<T>(ctx.0, token)
            }
            Flavor::List(b) => {
                self.registered = true;
                b.register_recv::<T>(ctx.0, token)
            }
            Flavor::Zero(z) => {
                let slot = self.slot.get_or_insert_with(Slot::empty);
                self.registered = z.register_recv(ctx.0, token, slot);
                !self.registered
            }
        }
    }

    fn unregister(&mut self, ctx: &Ctx<'_>) {
        if core::mem::take(&mut self.registered) {
            flavor!(self.rx.chan(), b => {
                b.unregister_recv(ctx.0);
            }, z => z.unregister_recv(ctx.0));
        }
    }

    fn finish(&mut self, _ctx: &Ctx<'_>) -> bool {
        self.registered = false;
        match self.rx.chan().flavor() {
            Flavor::Zero(_) => match self.slot.as_ref().and_then(Slot::take) {
                Some(value) => {
                    self.outcome = Some(Ok(value));
                    true
                }
                None => false, // woken by close: the retry sees it
            },
            _ => self.try_now(),
        }
    }

    fn abandon(&mut self, ctx: &Ctx<'_>, index: usize) {
        self.registered = false;
        flavor!(self.rx.chan(), b => b.abandon_recv(ctx.0, Token::case(index)), z => {
            if let Some(value) = self.slot.as_ref().and_then(Slot::take) {
                z.give_back(value);
            }
        });
    }

    fn set_chosen(&mut self) {
        self.chosen = true;
    }

    fn identity(&self) -> (*const (), bool) {
        (self.rx.chan() as *const super::Chan<T> as *const (), true)
    }

    fn outcome_ptr(&mut self) -> *mut () {
        &mut self.outcome as *mut Option<Result<T, RecvError>> as *mut ()
    }

    fn has_outcome(&self) -> bool {
        self.outcome.is_some()
    }
}

/// A send case: `send(tx, value) -> res`.
#[doc(hidden)]
pub struct SendCase<'a, T> {
    tx: &'a Sender<T>,
    value: Option<T>,
    outcome: Option<Result<(), SendError<T>>>,
    slot: Option<Slot<T>>,
    registered: bool,
    chosen: bool,
}

impl<'a, T> SendCase<'a, T> {
    /// A send of `value` on `tx`.
    pub fn new(tx: &'a Sender<T>, value: T) -> Self {
        SendCase { tx, value: Some(value), outcome: None, slot: None, registered: false, chosen: false }
    }

    /// True when the select chose this case.
    pub fn is_chosen(&self) -> bool {
        self.chosen
    }

    /// The chosen case's result.
    ///
    /// # Panics
    /// If the case was not chosen (a bug in the `select!` expansion).
    pub fn take_outcome(&mut self) -> Result<(), SendError<T>> {
        self.chosen = false;
        self.outcome.take().expect("gosync: select case has no outcome")
    }
}

impl<T> Case for SendCase<'_, T> {
    fn try_now(&mut self) -> bool {
        if self.outcome.is_some() {
            return true;
        }
        // A case whose value was sent by an earlier select is spent.
        let Some(value) = self.value.take() else { return false };
        match self.tx.try_send_nowait(value) {
            Ok(()) => self.outcome = Some(Ok(())),
            Err(TrySendError::Closed(value)) => self.outcome = Some(Err(SendError(value))),
            Err(TrySendError::Full(value)) => self.value = Some(value),
        }
        self.outcome.is_some()
    }

    fn register(&mut self, ctx: &Ctx<'_>, index: usize) -> bool {
        // A case whose value an earlier select sent is spent: never ready, never registered
        // (reporting a buffered channel's room as "ready" would make the select spin).
        if self.value.is_none() {
            return false;
        }
        let token = Token::case(index);
        match self.tx.chan().flavor() {
            Flavor::Array(b) => {
                self.registered = true;
                b.register_send::<T>(ctx.0, token)
            }
            Flavor::List(b) => {
                self.registered = true;
                b.register_send::<T>(ctx.0, token)
            }
            Flavor::Zero(z) => {
                let Some(value) = self.value.take() else { return false };
                let slot = Slot::full(value);
                self.registered = z.register_send(ctx.0, token, &slot);
                if !self.registered {
                    self.value = slot.take();
                }
                self.slot = Some(slot);
                !self.registered
            }
        }
    }

    fn unregister(&mut self, ctx: &Ctx<'_>) {
        if core::mem::take(&mut self.registered) {
            flavor!(self.tx.chan(), b => {
                b.unregister_send(ctx.0);
            }, z => {
                z.unregister_send(ctx.0);
                // Withdrawn: nobody else touches the slot any more.
                if let Some(value) = self.slot.as_ref().and_then(Slot::take) {
                    self.value = Some(value);
                }
            });
        }
    }

    fn finish(&mut self, _ctx: &Ctx<'_>) -> bool {
        self.registered = false;
        match self.tx.chan().flavor() {
            Flavor::Zero(_) => match self.slot.as_ref().and_then(Slot::take) {
                None => {
                    self.outcome = Some(Ok(()));
                    true
                }
                Some(value) => {
                    self.value = Some(value); // woken by close: the retry reports it
                    false
                }
            },
            _ => self.try_now(),
        }
    }

    fn abandon(&mut self, ctx: &Ctx<'_>, index: usize) {
        self.registered = false;
        flavor!(self.tx.chan(), b => b.abandon_send(ctx.0, Token::case(index)), _z => {
            match self.slot.as_ref().and_then(Slot::take) {
                // Received as the future was dropped: that send happened; the next select
                // on this `Select` reports it.
                None => self.outcome = Some(Ok(())),
                Some(value) => self.value = Some(value),
            }
        });
    }

    fn set_chosen(&mut self) {
        self.chosen = true;
    }

    fn identity(&self) -> (*const (), bool) {
        (self.tx.chan() as *const super::Chan<T> as *const (), false)
    }

    fn outcome_ptr(&mut self) -> *mut () {
        &mut self.outcome as *mut Option<Result<(), SendError<T>>> as *mut ()
    }

    fn has_outcome(&self) -> bool {
        self.outcome.is_some()
    }
}

/// How long a select may wait.
#[doc(hidden)]
#[derive(Clone, Copy, Debug)]
pub enum Mode {
    /// Never wait (a `default` case).
    Try,
    /// Wait until a case is ready.
    #[cfg(feature = "std")]
    Block,
    /// Wait until a case is ready or the deadline (`None`: never).
    #[cfg(feature = "std")]
    Deadline(Option<Instant>),
}

impl Mode {
    /// `Deadline` after `timeout` from now (the `default(timeout)` case).
    #[cfg(feature = "std")]
    pub fn after(timeout: Duration) -> Mode {
        Mode::Deadline(crate::primitive::deadline_after(timeout))
    }
}

/// Fills `order` with a uniformly random permutation of the case indices (the identity under
/// loom, whose models must be deterministic).
fn shuffle(order: &mut [usize]) {
    for (i, slot) in order.iter_mut().enumerate() {
        *slot = i;
    }
    #[cfg(not(loom))]
    for i in (1..order.len()).rev() {
        let j = random_below(i + 1);
        order.swap(i, j);
    }
}

/// A random number below `n`: xorshift on a per-thread state (std), or a global counter
/// scrambled by a mixing function (no_std). Quality only has to beat "always case 0".
#[cfg(not(loom))]
fn random_below(n: usize) -> usize {
    #[cfg(feature = "std")]
    let x = {
        std::thread_local! {
            static STATE: core::cell::Cell<u64> = const { core::cell::Cell::new(0) };
        }
        STATE.with(|state| {
            let mut x = state.get();
            if x == 0 {
                // Seeded from the state's own address: distinct per thread, never zero.
                x = (state as *const _ as u64) | 1;
            }
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            state.set(x);
            x
        })
    };
    #[cfg(not(feature = "std"))]
    let x = {
        static COUNTER: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);
        let mut z = (COUNTER.fetch_add(1, core::sync::atomic::Ordering::Relaxed) as u64)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    ((x >> 32).wrapping_mul(n as u64) >> 32) as usize
}

fn try_all<D: Case + ?Sized, C: DerefMut<Target = D>>(cases: &mut [C], order: &mut [usize]) -> Option<usize> {
    // An outcome left from the previous select goes first: completing another case instead
    // would leave it pending and the caller would get a different case than it was promised.
    if let Some(i) = cases.iter().position(|case| case.has_outcome()) {
        return Some(i);
    }
    shuffle(order);
    order.iter().copied().find(|&i| cases[i].try_now())
}

/// Registers `ctx`'s waiter on every case, stopping at one found ready. True if one was.
fn register_all<D: Case + ?Sized, C: DerefMut<Target = D>>(cases: &mut [C], ctx: &Ctx<'_>) -> bool {
    cases.iter_mut().enumerate().any(|(i, case)| case.register(ctx, i))
}

fn unregister_all_but<D: Case + ?Sized, C: DerefMut<Target = D>>(
    cases: &mut [C],
    ctx: &Ctx<'_>,
    winner: Option<usize>,
) {
    for (i, case) in cases.iter_mut().enumerate() {
        if Some(i) != winner {
            case.unregister(ctx);
        }
    }
}

/// Runs one select over `cases` (`order` is scratch space of the same length). `Some(i)`:
/// case `i` completed and is marked chosen; `None`: no case was ready in time.
#[doc(hidden)]
pub fn run<D: Case + ?Sized, C: DerefMut<Target = D>>(
    cases: &mut [C],
    order: &mut [usize],
    mode: Mode,
) -> Option<usize> {
    assert_eq!(cases.len(), order.len(), "gosync: select scratch space of the wrong size");
    let chosen = run_rounds(cases, order, mode)?;
    cases[chosen].set_chosen();
    Some(chosen)
}

#[cfg(not(feature = "std"))]
fn run_rounds<D: Case + ?Sized, C: DerefMut<Target = D>>(
    cases: &mut [C],
    order: &mut [usize],
    mode: Mode,
) -> Option<usize> {
    match mode {
        Mode::Try => try_all(cases, order),
    }
}

#[cfg(feature = "std")]
fn run_rounds<D: Case + ?Sized, C: DerefMut<Target = D>>(
    cases: &mut [C],
    order: &mut [usize],
    mode: Mode,
) -> Option<usize> {
    let deadline = match mode {
        Mode::Try => return try_all(cases, order),
        Mode::Block => None,
        Mode::Deadline(deadline) => deadline,
    };
    loop {
        if let Some(i) = try_all(cases, order) {
            return Some(i);
        }
        let waiter = Waiter::current_thread();
        let ctx = Ctx(&waiter);
        let ready = register_all(cases, &ctx);
        let (completed, timed_out) = if ready {
            (waiter.try_claim(NOTIFIED).err(), false)
        } else {
            match waiter.wait_deadline(deadline) {
                Some(token) => (Some(token), false),
                // Timed out: withdraw, unless a channel completed us at that very moment.
                None => (waiter.try_claim(NOTIFIED).err(), true),
            }
        };
        let winner = completed.map(Token::index);
        unregister_all_but(cases, &ctx, winner);
        if let Some(k) = winner {
            if cases[k].finish(&ctx) {
                return Some(k);
            }
        }
        // The wait's own verdict counts as well as the clock: under loom, where time does
        // not pass, a timed wait times out after one scheduling point, as every other timed
        // wait of the crate does there.
        if timed_out || deadline.is_some_and(|d| Instant::now() >= d) {
            // A last look, so that a case that became ready at the deadline is not missed.
            return try_all(cases, order);
        }
    }
}

/// No case was ready: the error of [`Select::try_select`].
///
/// ```
/// let (_tx, rx) = gosync::chan::unbounded::<u8>();
/// let mut sel = gosync::chan::Select::new();
/// sel.recv(&rx);
/// assert_eq!(sel.try_select().unwrap_err(), gosync::chan::TrySelectError);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct TrySelectError;

/// No case was ready in time: the error of [`Select::select_timeout`].
///
/// ```
/// use std::time::Duration;
/// let (_tx, rx) = gosync::chan::unbounded::<u8>();
/// let mut sel = gosync::chan::Select::new();
/// sel.recv(&rx);
/// assert!(sel.select_timeout(Duration::from_millis(1)).is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct SelectTimeoutError;

impl fmt::Display for TrySelectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no select case was ready")
    }
}

impl fmt::Display for SelectTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no select case was ready before the timeout")
    }
}

#[cfg(feature = "std")]
impl std::error::Error for TrySelectError {}
#[cfg(feature = "std")]
impl std::error::Error for SelectTimeoutError {}

/// A select over a set of cases built at run time, as Go's `reflect.Select`.
///
/// Add cases with [`recv`](Select::recv) and [`send`](Select::send) (a send case takes its
/// value up front, as Go's does); each returns the case's index. A select completes exactly
/// one ready case, chosen uniformly at random among the ready ones, and returns a
/// [`SelectedOperation`] holding its result. A send case that was not chosen keeps its value
/// for the next select on the same `Select`; dropping the `Select` drops it. A `Select` is
/// `Send` (its cases need `T: Send`), so [`select_async`](Select::select_async) can run in a
/// spawned task.
///
/// ```
/// use gosync::chan::{self, Select};
///
/// let (tx1, rx1) = chan::unbounded();
/// let (tx2, rx2) = chan::bounded(1);
/// tx1.send(10).unwrap();
///
/// let mut sel = Select::new();
/// let from_rx1 = sel.recv(&rx1);
/// let to_tx2 = sel.send(&tx2, "hello");
/// // Both cases are ready: one of them is chosen at random.
/// let op = sel.select();
/// if op.index() == from_rx1 {
///     assert_eq!(op.recv(&rx1), Ok(10));
/// } else {
///     assert_eq!(op.index(), to_tx2);
///     assert_eq!(op.send(&tx2), Ok(()));
///     assert_eq!(rx2.recv(), Ok("hello"));
/// }
/// ```
pub struct Select<'a> {
    cases: Vec<Box<dyn Case + Send + 'a>>,
    order: Vec<usize>,
}

impl<'a> Select<'a> {
    /// A select with no cases yet.
    ///
    /// ```
    /// let sel = gosync::chan::Select::new();
    /// # drop(sel);
    /// ```
    pub fn new() -> Self {
        Select { cases: Vec::new(), order: Vec::new() }
    }

    /// Adds a receive on `rx`; returns the case's index.
    ///
    /// ```
    /// let (tx, rx) = gosync::chan::unbounded();
    /// tx.send(1).unwrap();
    /// let mut sel = gosync::chan::Select::new();
    /// let i = sel.recv(&rx);
    /// let op = sel.select();
    /// assert_eq!(op.index(), i);
    /// assert_eq!(op.recv(&rx), Ok(1));
    /// ```
    pub fn recv<T: Send>(&mut self, rx: &'a Receiver<T>) -> usize {
        self.push(Box::new(RecvCase::new(rx)))
    }

    /// Adds a send of `value` on `tx`; returns the case's index.
    ///
    /// ```
    /// let (tx, rx) = gosync::chan::bounded(1);
    /// let mut sel = gosync::chan::Select::new();
    /// let i = sel.send(&tx, 'v');
    /// let op = sel.select();
    /// assert_eq!(op.index(), i);
    /// op.send(&tx).unwrap();
    /// assert_eq!(rx.recv(), Ok('v'));
    /// ```
    pub fn send<T: Send>(&mut self, tx: &'a Sender<T>, value: T) -> usize {
        self.push(Box::new(SendCase::new(tx, value)))
    }

    fn push(&mut self, case: Box<dyn Case + Send + 'a>) -> usize {
        self.cases.push(case);
        self.order.push(0);
        self.cases.len() - 1
    }

    /// Blocks until a case is ready, completes it, and returns it. With no cases it blocks
    /// forever, as Go's empty `select {}`.
    ///
    /// ```
    /// let (tx, rx) = gosync::chan::bounded::<u8>(1);
    /// drop(tx); // a closed channel is ready
    /// let mut sel = gosync::chan::Select::new();
    /// sel.recv(&rx);
    /// assert!(sel.select().recv(&rx).is_err());
    /// ```
    #[cfg(feature = "std")]
    pub fn select(&mut self) -> SelectedOperation<'_, 'a> {
        let index =
            run(&mut self.cases, &mut self.order, Mode::Block).expect("a blocking select completes a case");
        SelectedOperation { sel: self, index }
    }

    /// Completes a case that is ready now, or fails without waiting (Go's `default`).
    ///
    /// ```
    /// let (tx, rx) = gosync::chan::unbounded();
    /// let mut sel = gosync::chan::Select::new();
    /// sel.recv(&rx);
    /// assert!(sel.try_select().is_err());
    /// tx.send(2).unwrap();
    /// assert_eq!(sel.try_select().unwrap().recv(&rx), Ok(2));
    /// ```
    pub fn try_select(&mut self) -> Result<SelectedOperation<'_, 'a>, TrySelectError> {
        let index = run(&mut self.cases, &mut self.order, Mode::Try).ok_or(TrySelectError)?;
        Ok(SelectedOperation { sel: self, index })
    }

    /// [`select`](Self::select), giving up after `timeout`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let (tx, rx) = gosync::chan::bounded(1);
    /// let mut sel = gosync::chan::Select::new();
    /// sel.recv(&rx);
    /// assert!(sel.select_timeout(Duration::from_millis(2)).is_err());
    /// tx.send(1).unwrap();
    /// assert!(sel.select_timeout(Duration::from_millis(2)).is_ok());
    /// ```
    #[cfg(feature = "std")]
    pub fn select_timeout(
        &mut self,
        timeout: Duration,
    ) -> Result<SelectedOperation<'_, 'a>, SelectTimeoutError> {
        let index = run(&mut self.cases, &mut self.order, Mode::after(timeout)).ok_or(SelectTimeoutError)?;
        Ok(SelectedOperation { sel: self, index })
    }

    /// [`select`](Self::select), giving up at `deadline`.
    ///
    /// ```
    /// use std::time::Instant;
    /// let (_tx, rx) = gosync::chan::bounded::<u8>(1);
    /// let mut sel = gosync::chan::Select::new();
    /// sel.recv(&rx);
    /// assert!(sel.select_deadline(Instant::now()).is_err());
    /// ```
    #[cfg(feature = "std")]
    pub fn select_deadline(
        &mut self,
        deadline: Instant,
    ) -> Result<SelectedOperation<'_, 'a>, SelectTimeoutError> {
        let index = run(&mut self.cases, &mut self.order, Mode::Deadline(Some(deadline)))
            .ok_or(SelectTimeoutError)?;
        Ok(SelectedOperation { sel: self, index })
    }

    /// Selects from an async task: the future completes with the chosen operation.
    ///
    /// # Cancel safety
    /// Dropping the future loses nothing. A receive is completed only by the poll that
    /// returns it, or, on a rendezvous channel, handed a value that the drop gives back to
    /// the channel. A send on a buffered channel happens only in the poll that returns it.
    /// A send on a rendezvous channel may be taken by a receiver at the moment of the drop;
    /// the next select on this `Select` then returns that case at once, so the outcome is
    /// not lost either. Wake-ups meant for the dropped future pass on.
    ///
    /// ```
    /// # gosync::__block_on(async {
    /// let (tx, rx) = gosync::chan::unbounded();
    /// tx.send(4).unwrap();
    /// let mut sel = gosync::chan::Select::new();
    /// sel.recv(&rx);
    /// let op = sel.select_async().await;
    /// assert_eq!(op.recv(&rx), Ok(4));
    /// # });
    /// ```
    pub fn select_async(&mut self) -> SelectFuture<'_, 'a> {
        SelectFuture { sel: Some(self), wait: TaskWaiter::new() }
    }
}

impl Default for Select<'_> {
    fn default() -> Self {
        Select::new()
    }
}

impl fmt::Debug for Select<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Select").field("cases", &self.cases.len()).finish()
    }
}

/// The case a select completed, holding its result: take it with [`recv`](Self::recv) or
/// [`send`](Self::send), passing the same channel end as when the case was added. If it is
/// dropped without that, the result stays in the [`Select`] and its next select returns the
/// same case at once: a received value is never lost.
///
/// ```
/// let (tx, rx) = gosync::chan::unbounded();
/// tx.send(1).unwrap();
/// let mut sel = gosync::chan::Select::new();
/// let i = sel.recv(&rx);
/// let op = sel.select();
/// assert_eq!(op.index(), i);
/// assert_eq!(op.recv(&rx), Ok(1));
/// ```
#[must_use = "the chosen operation's result is taken with recv or send"]
pub struct SelectedOperation<'s, 'a> {
    sel: &'s mut Select<'a>,
    index: usize,
}

impl SelectedOperation<'_, '_> {
    /// The index of the chosen case.
    ///
    /// ```
    /// let (tx, rx) = gosync::chan::unbounded::<u8>();
    /// drop(tx);
    /// let mut sel = gosync::chan::Select::new();
    /// assert_eq!(sel.recv(&rx), 0);
    /// assert_eq!(sel.select().index(), 0);
    /// ```
    pub fn index(&self) -> usize {
        self.index
    }

    /// The result of the chosen receive case.
    ///
    /// # Panics
    /// `gosync: ...` if the chosen case is not a receive on `rx`'s channel.
    ///
    /// ```
    /// let (tx, rx) = gosync::chan::bounded(1);
    /// tx.send("x").unwrap();
    /// let mut sel = gosync::chan::Select::new();
    /// sel.recv(&rx);
    /// assert_eq!(sel.select().recv(&rx), Ok("x"));
    /// ```
    pub fn recv<T>(self, rx: &Receiver<T>) -> Result<T, RecvError> {
        let chan = rx.chan() as *const super::Chan<T> as *const ();
        self.take::<Result<T, RecvError>>(chan, true)
    }

    /// The result of the chosen send case.
    ///
    /// # Panics
    /// `gosync: ...` if the chosen case is not a send on `tx`'s channel.
    ///
    /// ```
    /// let (tx, rx) = gosync::chan::bounded(1);
    /// let mut sel = gosync::chan::Select::new();
    /// sel.send(&tx, 1);
    /// assert_eq!(sel.select().send(&tx), Ok(()));
    /// assert_eq!(rx.recv(), Ok(1));
    /// ```
    pub fn send<T>(self, tx: &Sender<T>) -> Result<(), SendError<T>> {
        let chan = tx.chan() as *const super::Chan<T> as *const ();
        self.take::<Result<(), SendError<T>>>(chan, false)
    }

    /// Takes the chosen case's outcome, typed `R`. `chan` and `is_recv` name the channel end
    /// the caller passed; they must be the case's.
    fn take<R>(self, chan: *const (), is_recv: bool) -> R {
        let case = &mut self.sel.cases[self.index];
        let op = if is_recv { "recv" } else { "send" };
        assert!(
            case.identity() == (chan, is_recv),
            "gosync: SelectedOperation::{op} was given a channel end that is not the chosen case's"
        );
        let outcome = case.outcome_ptr() as *mut Option<R>;
        // SAFETY: the case is a receive (or send) case on the channel at address `chan`, as
        // the caller's `Receiver<T>` (or `Sender<T>`) is. Both channels are alive (the case
        // borrows its end for the `Select`'s lifetime, the caller holds its end), and no
        // other object of a channel type lives at that address (a channel keeps its values
        // in separate allocations), so they are one channel and the case's `T` is the
        // caller's: `outcome_ptr` points to an `Option<R>`. The `&mut self.sel` borrow makes
        // this the only access.
        let outcome = unsafe { (*outcome).take() };
        outcome.expect("gosync: select case has no outcome")
    }
}

impl fmt::Debug for SelectedOperation<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SelectedOperation").field("index", &self.index).finish()
    }
}

/// The future of [`Select::select_async`].
///
/// # Cancel safety
/// See [`Select::select_async`]: dropping it loses no value and no wake-up.
///
/// ```
/// # gosync::__block_on(async {
/// let (tx, rx) = gosync::chan::bounded(1);
/// let mut sel = gosync::chan::Select::new();
/// sel.send(&tx, 8);
/// let fut: gosync::chan::SelectFuture<'_, '_> = sel.select_async();
/// fut.await.send(&tx).unwrap();
/// assert_eq!(rx.recv(), Ok(8));
/// # });
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct SelectFuture<'s, 'a> {
    sel: Option<&'s mut Select<'a>>,
    wait: TaskWaiter,
}

impl<'s, 'a> Future for SelectFuture<'s, 'a> {
    type Output = SelectedOperation<'s, 'a>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let sel = this.sel.as_deref_mut().expect("gosync: SelectFuture polled after completion");
        match poll_select(sel, &mut this.wait, cx) {
            Poll::Ready(index) => {
                let sel = this.sel.take().expect("checked above");
                sel.cases[index].set_chosen();
                Poll::Ready(SelectedOperation { sel, index })
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

fn poll_select(sel: &mut Select<'_>, wait: &mut TaskWaiter, cx: &mut Context<'_>) -> Poll<usize> {
    let cases = &mut sel.cases[..];
    let mut completed = match wait.poll(cx.waker()) {
        Poll::Pending => return Poll::Pending,
        Poll::Ready(token) => token,
    };
    loop {
        if let Some(token) = completed.take() {
            let waiter = wait.waiter().clone();
            let ctx = Ctx(&waiter);
            let k = token.index();
            unregister_all_but(cases, &ctx, Some(k));
            if cases[k].finish(&ctx) {
                return Poll::Ready(k);
            }
        }
        if let Some(i) = try_all(cases, &mut sel.order) {
            return Poll::Ready(i);
        }
        let waiter = wait.arm(cx.waker()).clone();
        let ctx = Ctx(&waiter);
        let ready = register_all(cases, &ctx);
        wait.set_registered();
        if !ready {
            return Poll::Pending;
        }
        wait.set_unregistered();
        match waiter.try_claim(NOTIFIED) {
            Ok(()) => unregister_all_but(cases, &ctx, None),
            Err(token) => completed = Some(token),
        }
    }
}

// Terminated once it has returned the chosen operation (so `futures::select!` can hold it).
impl futures_core::FusedFuture for SelectFuture<'_, '_> {
    fn is_terminated(&self) -> bool {
        self.sel.is_none()
    }
}

impl Drop for SelectFuture<'_, '_> {
    fn drop(&mut self) {
        let (Some(sel), Some(waiter)) = (self.sel.as_deref_mut(), self.wait.registered()) else { return };
        let waiter = waiter.clone();
        self.wait.set_unregistered();
        let ctx = Ctx(&waiter);
        match waiter.try_claim(NOTIFIED) {
            Ok(()) => unregister_all_but(&mut sel.cases, &ctx, None),
            Err(token) => {
                let k = token.index();
                unregister_all_but(&mut sel.cases, &ctx, Some(k));
                sel.cases[k].abandon(&ctx, k);
            }
        }
    }
}

impl fmt::Debug for SelectFuture<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SelectFuture").field("done", &self.sel.is_none()).finish()
    }
}

/// Waits on several channel operations and runs the branch of the one that completes, as
/// Go's `select` statement.
///
/// Cases (up to 32, in any order, each body a block or an expression followed by a comma):
/// - `recv(rx) -> msg => body`: `msg` is `Result<T, RecvError>` (`Err` once `rx`'s channel
///   is closed and drained: a closed channel is always ready, as in Go).
/// - `send(tx, value) -> res => body`: `res` is `Result<(), SendError<T>>`, the value back
///   if the channel is closed. A send case that is not chosen drops its value.
/// - `default => body`: run when no case is ready now (the select never blocks).
/// - `default(timeout) => body`: run when no case became ready within `timeout`.
///
/// Without a `default` the select blocks until a case is ready. Among ready cases one is
/// chosen uniformly at random. Exactly one case completes: a send on a rendezvous channel
/// hands its value to exactly one receiver or keeps it, never both.
///
/// ```
/// use gosync::{chan, select};
/// use std::time::Duration;
///
/// let (tx, rx) = chan::bounded(1);
/// let (done_tx, done) = chan::bounded::<()>(0);
/// tx.send(1).unwrap();
///
/// select! {
///     recv(rx) -> msg => {
///         assert_eq!(msg, Ok(1));
///     },
///     recv(done) -> _ => unreachable!("nobody closed done"),
/// }
/// select! {
///     recv(rx) -> _ => unreachable!("rx is empty"),
///     send(tx, 2) -> res => res.unwrap(),
/// }
/// select! {
///     recv(done) -> _ => unreachable!(),
///     default(Duration::from_millis(1)) => {}
/// }
/// drop(done_tx);
/// select! {
///     recv(done) -> msg => assert!(msg.is_err()), // closed: ready
///     default => unreachable!(),
/// }
/// ```
#[macro_export]
macro_rules! select {
    ($($tokens:tt)*) => {
        $crate::__select_parse!(
            @cases ()
            @default ()
            @ids (__gosync_c0 __gosync_c1 __gosync_c2 __gosync_c3 __gosync_c4 __gosync_c5 __gosync_c6
                  __gosync_c7 __gosync_c8 __gosync_c9 __gosync_c10 __gosync_c11 __gosync_c12
                  __gosync_c13 __gosync_c14 __gosync_c15 __gosync_c16 __gosync_c17 __gosync_c18
                  __gosync_c19 __gosync_c20 __gosync_c21 __gosync_c22 __gosync_c23 __gosync_c24
                  __gosync_c25 __gosync_c26 __gosync_c27 __gosync_c28 __gosync_c29 __gosync_c30
                  __gosync_c31)
            $($tokens)*
        )
    };
}

/// The parser behind [`select!`]. Not a public API.
#[doc(hidden)]
#[macro_export]
macro_rules! __select_parse {
    // The comma after a block body is optional, as after a match arm's block. It is dropped
    // here, before the next case is parsed: an optional comma in the block rules themselves
    // would be ambiguous with the `tt`s of the cases that follow it.
    (@cases ($($cases:tt)*) @default ($($def:tt)*) @ids ($($ids:ident)*) , $($rest:tt)*) => {
        $crate::__select_parse!(@cases ($($cases)*) @default ($($def)*) @ids ($($ids)*) $($rest)*)
    };
    // recv(rx) -> pat => { .. }
    (@cases ($($cases:tt)*) @default ($($def:tt)*) @ids ($id:ident $($ids:ident)*)
        recv($rx:expr) -> $pat:pat => { $($body:tt)* } $($rest:tt)*) => {
        $crate::__select_parse!(@cases ($($cases)* [$id recv ($rx) ($pat) { $($body)* }])
            @default ($($def)*) @ids ($($ids)*) $($rest)*)
    };
    // recv(rx) -> pat => expr,
    (@cases ($($cases:tt)*) @default ($($def:tt)*) @ids ($id:ident $($ids:ident)*)
        recv($rx:expr) -> $pat:pat => $body:expr $(, $($rest:tt)*)?) => {
        $crate::__select_parse!(@cases ($($cases)* [$id recv ($rx) ($pat) { $body }])
            @default ($($def)*) @ids ($($ids)*) $($($rest)*)?)
    };
    // send(tx, value) -> pat => { .. }
    (@cases ($($cases:tt)*) @default ($($def:tt)*) @ids ($id:ident $($ids:ident)*)
        send($tx:expr, $value:expr) -> $pat:pat => { $($body:tt)* } $($rest:tt)*) => {
        $crate::__select_parse!(@cases ($($cases)* [$id send ($tx, $value) ($pat) { $($body)* }])
            @default ($($def)*) @ids ($($ids)*) $($rest)*)
    };
    // send(tx, value) -> pat => expr,
    (@cases ($($cases:tt)*) @default ($($def:tt)*) @ids ($id:ident $($ids:ident)*)
        send($tx:expr, $value:expr) -> $pat:pat => $body:expr $(, $($rest:tt)*)?) => {
        $crate::__select_parse!(@cases ($($cases)* [$id send ($tx, $value) ($pat) { $body }])
            @default ($($def)*) @ids ($($ids)*) $($($rest)*)?)
    };
    // default(timeout) => ..
    (@cases ($($cases:tt)*) @default () @ids ($($ids:ident)*)
        default($timeout:expr) => { $($body:tt)* } $($rest:tt)*) => {
        $crate::__select_parse!(@cases ($($cases)*)
            @default ((($crate::chan::__private::Mode::after($timeout))) { $($body)* }) @ids ($($ids)*) $($rest)*)
    };
    (@cases ($($cases:tt)*) @default () @ids ($($ids:ident)*)
        default($timeout:expr) => $body:expr $(, $($rest:tt)*)?) => {
        $crate::__select_parse!(@cases ($($cases)*)
            @default ((($crate::chan::__private::Mode::after($timeout))) { $body }) @ids ($($ids)*) $($($rest)*)?)
    };
    // default => ..
    (@cases ($($cases:tt)*) @default () @ids ($($ids:ident)*)
        default => { $($body:tt)* } $($rest:tt)*) => {
        $crate::__select_parse!(@cases ($($cases)*)
            @default ((($crate::chan::__private::Mode::Try)) { $($body)* }) @ids ($($ids)*) $($rest)*)
    };
    (@cases ($($cases:tt)*) @default () @ids ($($ids:ident)*)
        default => $body:expr $(, $($rest:tt)*)?) => {
        $crate::__select_parse!(@cases ($($cases)*)
            @default ((($crate::chan::__private::Mode::Try)) { $body }) @ids ($($ids)*) $($($rest)*)?)
    };
    (@cases ($($cases:tt)*) @default ($($def:tt)+) @ids ($($ids:ident)*) default $($rest:tt)*) => {
        ::core::compile_error!("gosync: select! takes at most one default case")
    };
    // All parsed: no default, so block.
    (@cases ($($cases:tt)*) @default () @ids ($($ids:ident)*)) => {
        $crate::__select_emit!(($($cases)*) (($crate::chan::__private::Mode::Block)) {
            ::core::unreachable!("gosync: a blocking select completes a case")
        })
    };
    (@cases ($($cases:tt)*) @default (($mode:tt) $body:tt) @ids ($($ids:ident)*)) => {
        $crate::__select_emit!(($($cases)*) $mode $body)
    };
    (@cases ($($cases:tt)*) @default ($($def:tt)*) @ids () $($rest:tt)+) => {
        ::core::compile_error!("gosync: select! supports at most 32 cases")
    };
    (@cases ($($cases:tt)*) @default ($($def:tt)*) @ids ($($ids:ident)*) $($rest:tt)+) => {
        ::core::compile_error!(::core::concat!(
            "gosync: select! expects `recv(rx) -> pat => body`, `send(tx, value) -> pat => body`, ",
            "`default => body` or `default(timeout) => body`, found: ",
            ::core::stringify!($($rest)+)
        ))
    };
}

/// The code behind [`select!`]. Not a public API.
#[doc(hidden)]
#[macro_export]
macro_rules! __select_emit {
    (($([$id:ident $kind:ident ($($args:tt)*) ($pat:pat) $body:block])*) ($mode:expr) $default:block) => {{
        $( $crate::__select_case!($id $kind ($($args)*)); )*
        let __gosync_chosen = {
            let __gosync_cases: &mut [&mut dyn $crate::chan::__private::Case] = &mut [$(&mut $id),*];
            let __gosync_order: &mut [usize] = &mut [$({ let _ = ::core::stringify!($id); 0usize }),*];
            $crate::chan::__private::run(__gosync_cases, __gosync_order, $mode)
        };
        match __gosync_chosen {
            ::core::option::Option::Some(_) => {
                $( if $id.is_chosen() {
                    #[allow(unused_variables)]
                    let $pat = $id.take_outcome();
                    $body
                } else )* {
                    ::core::unreachable!("gosync: the chosen select case is marked")
                }
            }
            ::core::option::Option::None => $default,
        }
    }};
}

/// One case's local variable for [`select!`]. Not a public API.
#[doc(hidden)]
#[macro_export]
macro_rules! __select_case {
    ($id:ident recv ($rx:expr)) => {
        #[allow(unused_mut)]
        let mut $id = $crate::chan::__private::RecvCase::new(&$rx);
    };
    ($id:ident send ($tx:expr, $value:expr)) => {
        #[allow(unused_mut)]
        let mut $id = $crate::chan::__private::SendCase::new(&$tx, $value);
    };
}
