//! The wait list: the one wake-up mechanism every gosync primitive is built on.
//!
//! A [`Waiter`] is one blocked operation: a parked thread or an async task's `Waker`, plus a
//! state word that moves exactly once per wait from *waiting* to either *completed with a
//! [`Token`]* or *cancelled*. A [`WaitList`] is a FIFO of registrations, kept under its
//! owner's lock.
//!
//! The mental model is a ticket: `register` hands the list a ticket, `notify_one` redeems the
//! oldest ticket still valid, `cancel` tears one up. Redeeming and tearing up both happen
//! under the waiter's own small lock, so whichever comes first wins and the other sees it:
//!
//! * notify racing cancel: `cancel` reports the notification it lost the race to, and the
//!   caller either consumes it (a timed wait that was notified in time returns "notified") or
//!   hands it to the next waiter with [`WaitList::abandon`] (a dropped future). No wake-up is
//!   ever lost, and `abandon` passes on only a completion that came from its own list.
//! * select: one waiter registered on several lists, each with its own token, is completed by
//!   exactly one of them; the others find its ticket already redeemed and skip it. Before a
//!   selector runs an operation itself it withdraws with [`Waiter::try_claim`] (O(1)), so
//!   two selectors can never both complete against each other.
//! * hand-offs: each registration carries a payload (a value slot). The notifier fills or
//!   empties it *before* publishing the completion, so the woken waiter always sees it, and
//!   a waiter that cancels after being completed finds the value there to give back. A
//!   notifier may also offer a completion that the waiter's payload refuses
//!   ([`WaitList::notify_first`]); the refused registration keeps its place.
//!
//! # Costs
//! Cancelling is lazy: the registration stays in the list, dead, until a notify skips it or
//! the list compacts itself once dead entries outnumber live ones, so a cancel costs
//! amortized O(1) and many timed waits never cost O(n^2). A waiter therefore carries a
//! generation number, bumped each time it is re-armed, and a registration made for an
//! earlier generation is dead. That is what lets waiters be reused: a blocked thread waits
//! on a waiter cached in a thread-local (no allocation per wait), and a future allocates one
//! waiter on its first wait and re-arms it for every later one ([`TaskWaiter`]).
//!
//! # Wakers are user code
//! No waker is woken, cloned or dropped while a list's lock is held: notifications return a
//! [`Wakeup`] (or [`Wakeups`]) that wakes when dropped after the caller unlocks, a waiter's
//! waker is cloned before any lock is taken, and the waker a cancelled future leaves behind
//! is dropped by [`TaskWaiter`] outside every lock.

use crate::primitive::atomic::{AtomicUsize, Ordering};
use crate::primitive::{Arc, Lock};
use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::fmt;
use core::num::NonZeroUsize;
use core::task::{Poll, Waker};

#[cfg(any(feature = "std", loom))]
use crate::primitive::{thread, Instant};

/// What a waiter is completed with: which of its registrations fired. A waiter's state word
/// holds `WAITING` (0), `CANCELLED` (1), a token completed by a list (an even word >= 2), or
/// a token the waiter claimed itself (that word + 1). A token can be neither `WAITING` nor
/// `CANCELLED` by construction, and a claim is never mistaken for a list's completion.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Token(NonZeroUsize);

const WAITING: usize = 0;
const CANCELLED: usize = 1;
/// Set in the state word when the waiter claimed its token itself (`try_claim`).
const CLAIMED: usize = 1;

impl Token {
    /// The token of a single-list primitive's registrations; no select case has it.
    pub const NOTIFIED: Token = Token(match NonZeroUsize::new(2) {
        Some(word) => word,
        None => unreachable!(),
    });

    /// The token of case `index` of a select: `2 * (index + 2)`.
    #[cfg_attr(not(any(test, loom)), allow(dead_code))] // select builds on it
    ///
    /// # Panics
    /// `gosync: too many select cases` if that overflows (more cases than memory holds).
    pub const fn case(index: usize) -> Token {
        let word = match index.checked_add(2) {
            Some(n) => n.checked_mul(2),
            None => None,
        };
        match word {
            // Even and at least 4: neither WAITING, CANCELLED, NOTIFIED nor a claim.
            Some(word) => match NonZeroUsize::new(word) {
                Some(word) => Token(word),
                None => unreachable!(),
            },
            None => panic!("gosync: too many select cases"),
        }
    }

    /// The case index this token was made from.
    #[cfg_attr(not(any(test, loom)), allow(dead_code))] // select reads it
    pub const fn index(self) -> usize {
        self.0.get() / 2 - 2
    }

    fn from_state(state: usize) -> Option<Token> {
        match state {
            WAITING | CANCELLED => None,
            word => NonZeroUsize::new(word & !CLAIMED).map(Token),
        }
    }
}

/// The token single-list primitives register and complete with.
pub const NOTIFIED: Token = Token::NOTIFIED;

struct Core {
    /// `WAITING`, `CANCELLED`, or the token that completed this waiter's current
    /// generation. Written only under `waker`'s lock; read lock-free by the waiting side.
    state: AtomicUsize,
    /// Bumped (under `waker`'s lock) each time the waiter is re-armed; registrations made for
    /// an older generation are dead.
    generation: AtomicUsize,
    /// A task waiter's latest waker; it changes between polls, so it lives under a lock that
    /// also serializes every change of `state`.
    waker: Lock<Option<Waker>>,
    /// A thread waiter's parker; fixed for the waiter's life.
    #[cfg(any(feature = "std", loom))]
    parker: Option<thread::Parker>,
}

/// One blocked operation: a thread or a task waiting to be completed by a [`WaitList`].
#[derive(Clone)]
pub struct Waiter(Arc<Core>);

impl Waiter {
    /// A waiter that wakes an async task, armed with `waker` (allocates; futures keep one in
    /// a [`TaskWaiter`] and re-arm it instead).
    pub fn task(waker: &Waker) -> Self {
        Waiter(Arc::new(Core {
            state: AtomicUsize::new(WAITING),
            generation: AtomicUsize::new(0),
            waker: Lock::new(Some(waker.clone())),
            #[cfg(any(feature = "std", loom))]
            parker: None,
        }))
    }

    /// The calling thread's waiter, re-armed for a new wait: the one cached for this thread
    /// (no allocation), or a new one while the cached one is in use by an outer wait (a waker
    /// run by this thread that blocks). It goes back to the cache when the guard drops.
    #[cfg(any(feature = "std", loom))]
    pub fn current_thread() -> ThreadWaiter {
        let cached = CACHED.try_with(|cell| cell.take()).ok().flatten().filter(Waiter::reusable);
        let waiter = match cached {
            Some(waiter) => {
                waiter.rearm();
                waiter
            }
            None => Waiter(Arc::new(Core {
                state: AtomicUsize::new(WAITING),
                generation: AtomicUsize::new(0),
                waker: Lock::new(None),
                parker: Some(thread::Parker::current()),
            })),
        };
        ThreadWaiter(Some(waiter), core::marker::PhantomData)
    }

    /// False once the generation counter is about to wrap: a fresh waiter replaces it, so a
    /// registration left from 2^N waits ago can never match again.
    fn reusable(&self) -> bool {
        self.0.generation.load(Ordering::Relaxed) != usize::MAX
    }

    /// The token this waiter's current wait was completed with, once it has been.
    pub fn token(&self) -> Option<Token> {
        // Acquire pairs with the Release in `WaitList::complete`: the payload written before
        // completion is visible once the token is.
        Token::from_state(self.0.state.load(Ordering::Acquire))
    }

    /// Starts a new wait: a new generation (every earlier registration is dead from now on),
    /// back to waiting. Only the waiter's owner calls it, between waits.
    fn rearm(&self) {
        let _slot = self.0.waker.lock();
        self.0.generation.fetch_add(1, Ordering::Relaxed);
        self.0.state.store(WAITING, Ordering::Relaxed);
    }

    /// Refreshes a task waiter's waker with the one of the latest poll. Returns the token if
    /// the wait was completed meanwhile (the caller then proceeds instead of returning
    /// Pending). The waker is cloned and the old one dropped outside the lock.
    pub fn set_waker(&self, waker: &Waker) -> Option<Token> {
        {
            let slot = self.0.waker.lock();
            // Under the lock the state cannot change, so either the notifier sees the stored
            // waker or we see its completion: never neither.
            let state = self.0.state.load(Ordering::Relaxed);
            if state != WAITING {
                drop(slot);
                return self.token();
            }
            if matches!(&*slot, Some(old) if old.will_wake(waker)) {
                return None;
            }
        }
        let new = waker.clone();
        let old = {
            let mut slot = self.0.waker.lock();
            if self.0.state.load(Ordering::Relaxed) != WAITING {
                drop(slot);
                drop(new);
                return self.token();
            }
            slot.replace(new)
        };
        drop(old);
        None
    }

    /// Completes this waiter's current wait with `token` on its own behalf, so that no list
    /// can complete it any more: how a selector withdraws before it runs an operation itself.
    /// `Err` with the winning token if a list completed it first. O(1); its registrations
    /// stay in their lists, dead, until the selector cancels them there.
    #[cfg_attr(not(any(test, loom)), allow(dead_code))] // select builds on it
    pub fn try_claim(&self, token: Token) -> Result<(), Token> {
        let _slot = self.0.waker.lock();
        let state = self.0.state.load(Ordering::Relaxed);
        debug_assert!(state != CANCELLED, "gosync: claiming a cancelled wait");
        match Token::from_state(state) {
            Some(winner) => Err(winner),
            None => {
                // Release, as a completion: the claimer's own writes before it are ordered.
                self.0.state.store(token.0.get() | CLAIMED, Ordering::Release);
                Ok(())
            }
        }
    }

    /// True when `other` is this very waiter (a clone of it): how a selector recognizes its
    /// own registrations, so that its send case never meets its own receive case.
    pub fn same(&self, other: &Waiter) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// Blocks the calling thread (which created this waiter) until it is completed.
    #[cfg(any(feature = "std", loom))]
    pub fn wait(&self) -> Token {
        if let Some(token) = self.spin() {
            return token;
        }
        let parker = self.parker();
        loop {
            if let Some(token) = self.token() {
                return token;
            }
            // Spurious wake-ups (a late unpark meant for an earlier wait) just loop.
            parker.park();
        }
    }

    /// Like [`wait`](Self::wait), giving up at `deadline` (`None`: never). A `None` result
    /// leaves the waiter registered: the caller must [`WaitList::cancel`] it under the
    /// list's lock, which settles the race with a concurrent notification.
    #[cfg(any(feature = "std", loom))]
    pub fn wait_deadline(&self, deadline: Option<Instant>) -> Option<Token> {
        let Some(deadline) = deadline else { return Some(self.wait()) };
        if let Some(token) = self.spin() {
            return Some(token);
        }
        let parker = self.parker();
        loop {
            if let Some(token) = self.token() {
                return Some(token);
            }
            if parker.park_deadline(deadline) {
                return self.token();
            }
        }
    }

    /// Polls the token for a short, bounded while before parking: a hand-off between two
    /// running threads usually completes within a microsecond, and catching it here saves
    /// both the sleep and the notifier's wake-up system call. Not under loom, where a spin
    /// is only more branches to explore.
    #[cfg(any(feature = "std", loom))]
    fn spin(&self) -> Option<Token> {
        #[cfg(not(loom))]
        {
            let backoff = crossbeam_utils::Backoff::new();
            while !backoff.is_completed() {
                if let Some(token) = self.token() {
                    return Some(token);
                }
                backoff.snooze();
            }
        }
        self.token()
    }

    #[cfg(any(feature = "std", loom))]
    fn parker(&self) -> &thread::Parker {
        self.0.parker.as_ref().expect("gosync: a task waiter cannot block a thread")
    }

    /// Moves the current wait from waiting to cancelled. `Err(state)` with the completed
    /// state word (a list's token, or a claim) if it had already been completed. The waker
    /// stays: it is dropped by its owner, outside every lock.
    fn try_cancel(&self) -> Result<(), usize> {
        let _slot = self.0.waker.lock();
        match self.0.state.load(Ordering::Relaxed) {
            WAITING => {
                self.0.state.store(CANCELLED, Ordering::Relaxed);
                Ok(())
            }
            CANCELLED => Ok(()),
            completed => Err(completed),
        }
    }

    /// Drops the stored waker (outside every lock), once the waiter is done with.
    fn clear_waker(&self) {
        let old = self.0.waker.lock().take();
        drop(old);
    }
}

impl fmt::Debug for Waiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Waiter").field("token", &self.token()).finish_non_exhaustive()
    }
}

#[cfg(loom)]
loom::thread_local! {
    static CACHED: core::cell::Cell<Option<Waiter>> = core::cell::Cell::new(None);
}
#[cfg(all(not(loom), feature = "std"))]
std::thread_local! {
    static CACHED: core::cell::Cell<Option<Waiter>> = const { core::cell::Cell::new(None) };
}

/// The calling thread's cached [`Waiter`], lent for one wait (see
/// [`Waiter::current_thread`]). Dereferences to the waiter.
/// Not `Send`: the waiter parks and unparks the thread that took it.
#[cfg(any(feature = "std", loom))]
pub struct ThreadWaiter(Option<Waiter>, core::marker::PhantomData<*const ()>);

#[cfg(any(feature = "std", loom))]
impl core::ops::Deref for ThreadWaiter {
    type Target = Waiter;
    fn deref(&self) -> &Waiter {
        self.0.as_ref().expect("ThreadWaiter is only emptied by drop")
    }
}

#[cfg(any(feature = "std", loom))]
impl Drop for ThreadWaiter {
    fn drop(&mut self) {
        if let Some(waiter) = self.0.take() {
            // Its registrations may linger in lists, dead; the next wait re-arms it with a
            // new generation before registering anywhere. At thread exit the cache is gone:
            // the waiter is simply dropped.
            let _ = CACHED.try_with(|cell| cell.set(Some(waiter)));
        }
    }
}

/// A future's waiter: allocated on the future's first wait, re-armed for each later one, and
/// its waker dropped outside every lock when the future is done with it.
///
/// The owner keeps the protocol: [`arm`](Self::arm) before taking the list's lock, register
/// [`waiter`](Self::waiter) under it, and in the future's `Drop` cancel or abandon the
/// registration (if [`registered`](Self::registered)) under the list's lock.
#[derive(Default)]
pub struct TaskWaiter {
    waiter: Option<Waiter>,
    registered: bool,
}

impl TaskWaiter {
    /// No waiter yet.
    pub const fn new() -> Self {
        TaskWaiter { waiter: None, registered: false }
    }

    /// `Pending` while registered and not yet completed (the waker refreshed to `waker`);
    /// otherwise no longer registered, with the token it was completed with, or `None` if it
    /// was not registered.
    pub fn poll(&mut self, waker: &Waker) -> Poll<Option<Token>> {
        match (&self.waiter, self.registered) {
            (Some(waiter), true) => match waiter.set_waker(waker) {
                None => Poll::Pending,
                Some(token) => {
                    self.registered = false;
                    Poll::Ready(Some(token))
                }
            },
            _ => Poll::Ready(None),
        }
    }

    /// Readies the waiter for a new registration, with `waker`: call it before taking the
    /// list's lock (it may allocate and clone the waker), then register
    /// [`waiter`](Self::waiter) and mark it with [`set_registered`](Self::set_registered).
    pub fn arm(&mut self, waker: &Waker) -> &Waiter {
        match &self.waiter {
            Some(waiter) if waiter.reusable() => {
                waiter.rearm();
                waiter.set_waker(waker);
            }
            _ => {
                let fresh = Waiter::task(waker);
                if let Some(old) = self.waiter.replace(fresh) {
                    old.clear_waker();
                }
            }
        }
        self.registered = false;
        self.waiter.as_ref().expect("armed above")
    }

    /// The waiter last [`arm`](Self::arm)ed.
    ///
    /// # Panics
    /// If it was never armed (a bug in gosync).
    pub fn waiter(&self) -> &Waiter {
        self.waiter.as_ref().expect("gosync: TaskWaiter used before arm")
    }

    /// Records that the armed waiter is now registered on a list.
    pub fn set_registered(&mut self) {
        self.registered = true;
    }

    /// Records that the armed waiter was withdrawn (cancelled or claimed) by its owner.
    pub fn set_unregistered(&mut self) {
        self.registered = false;
    }

    /// The waiter while it is registered (for the future's `Drop` to cancel).
    pub fn registered(&self) -> Option<&Waiter> {
        self.waiter.as_ref().filter(|_| self.registered)
    }
}

impl Drop for TaskWaiter {
    fn drop(&mut self) {
        // The owner's Drop has run by now and released every lock: the waker a dead
        // registration would otherwise keep alive is dropped here, safely.
        if let Some(waiter) = &self.waiter {
            if self.registered {
                // The owner did not withdraw (a panic cut its poll short): make the
                // registration dead, so no notification is ever spent on it.
                let _ = waiter.try_cancel();
            }
            waiter.clear_waker();
        }
    }
}

impl fmt::Debug for TaskWaiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskWaiter").field("registered", &self.registered).finish()
    }
}

/// Runs `fut` to completion on the calling thread: the blocking form of a wait that watches
/// several events at once (a token bucket's next tick and its close), written once as a
/// future. The thread parks on its own cached waiter's parker, and the future's waker
/// unparks it; a spurious return just polls again. Allocates the waker (one `Arc`).
#[cfg(all(feature = "std", not(loom)))]
pub fn block_on<F: core::future::Future>(fut: F) -> F::Output {
    struct Unpark(Waiter);
    impl std::task::Wake for Unpark {
        fn wake(self: std::sync::Arc<Self>) {
            self.wake_by_ref();
        }
        fn wake_by_ref(self: &std::sync::Arc<Self>) {
            self.0.parker().unpark();
        }
    }
    let thread = Waiter::current_thread();
    let waker = Waker::from(std::sync::Arc::new(Unpark(Waiter::clone(&thread))));
    let mut cx = core::task::Context::from_waker(&waker);
    let mut fut = core::pin::pin!(fut);
    loop {
        if let Poll::Ready(output) = fut.as_mut().poll(&mut cx) {
            return output;
        }
        thread.parker().park();
    }
}

/// Under loom: loom's own executor, which models the wake-up.
#[cfg(loom)]
pub fn block_on<F: core::future::Future>(fut: F) -> F::Output {
    loom::future::block_on(fut)
}

/// A completed waiter's wake-up, delivered when this value drops. Bind it
/// (`let _wake = list.lock().notify_one();`) to wake after the list's lock is released.
#[must_use = "the waiter is woken when this drops; bind it to wake after unlocking"]
pub struct Wakeup(Wake);

enum Wake {
    #[cfg(any(feature = "std", loom))]
    Thread(Waiter),
    Task(Waker),
    Nobody,
}

impl Drop for Wakeup {
    fn drop(&mut self) {
        match core::mem::replace(&mut self.0, Wake::Nobody) {
            #[cfg(any(feature = "std", loom))]
            Wake::Thread(waiter) => waiter.parker().unpark(),
            Wake::Task(waker) => waker.wake(),
            Wake::Nobody => {}
        }
    }
}

impl fmt::Debug for Wakeup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Wakeup")
    }
}

/// The wake-ups of [`WaitList::notify_all`], delivered when this value drops (after the
/// list's lock is released).
#[must_use = "the waiters are woken when this drops; bind it to wake after unlocking"]
#[derive(Debug, Default)]
pub struct Wakeups(Vec<Wakeup>);

impl Wakeups {
    /// How many waiters it wakes.
    #[cfg_attr(not(any(test, loom)), allow(dead_code))]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when it wakes nobody.
    #[allow(dead_code)] // pairs with len
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

struct Entry<P> {
    waiter: Waiter,
    generation: usize,
    token: Token,
    payload: P,
}

/// A FIFO of waiters, each with the token it is completed with and a payload. Not locked
/// itself: its owner keeps it under a lock.
///
/// Registrations are dropped under that lock (when completed, skipped or compacted), so a
/// payload must never own a user value at that point: a payload carrying one (a channel's
/// value slot) is emptied by the side that completes or cancels it, under the same lock.
pub struct WaitList<P = ()> {
    entries: VecDeque<Entry<P>>,
    /// An estimate of the dead registrations in `entries` (cancels counted, dead entries
    /// skipped subtracted), which decides when to compact; compaction resets it.
    dead: usize,
}

impl<P> Default for WaitList<P> {
    fn default() -> Self {
        WaitList::new()
    }
}

/// Below this many dead entries a list never compacts: a short list is cheap to skip through.
const COMPACT_MIN: usize = 16;

impl<P> WaitList<P> {
    /// An empty list (a `const fn`, so primitives holding one can be `static`).
    pub const fn new() -> Self {
        WaitList { entries: VecDeque::new(), dead: 0 }
    }

    /// True when no registration is left (dead ones count until they are skipped).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Registrations held, dead ones included.
    #[cfg_attr(not(any(test, loom)), allow(dead_code))] // for tests and loom models
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Appends a registration of `waiter`'s current wait: a notify completes it with `token`,
    /// after letting the notifier use `payload`.
    pub fn register_with(&mut self, waiter: &Waiter, token: Token, payload: P) {
        // Relaxed: only the waiter's owner changes the generation, and it is the one
        // registering, so it reads its own latest value.
        let generation = waiter.0.generation.load(Ordering::Relaxed);
        self.entries.push_back(Entry { waiter: waiter.clone(), generation, token, payload });
    }

    /// Offers a completion to the registrations in FIFO order: `accept` runs on each live
    /// one's payload (under its waiter's lock, so the waiter sees what `accept` did) and
    /// says whether that waiter takes it. The first that does is completed and removed;
    /// refused ones keep their place, dead ones are dropped on the way. `None`: nobody took
    /// it.
    pub fn notify_first(&mut self, mut accept: impl FnMut(&mut P) -> bool) -> Option<Wakeup> {
        let mut index = 0;
        while index < self.entries.len() {
            let entry = &mut self.entries[index];
            let core = &entry.waiter.0;
            let mut waker = core.waker.lock();
            if !Self::is_live(entry, core) {
                drop(waker);
                self.remove_dead(index);
                continue;
            }
            if !accept(&mut entry.payload) {
                index += 1;
                continue;
            }
            // Release: publishes what `accept` wrote to the waiter's Acquire in `token`.
            core.state.store(entry.token.0.get(), Ordering::Release);
            let task = waker.take();
            drop(waker);
            let entry = self.entries.remove(index).expect("index is in bounds");
            return Some(Wakeup(match task {
                Some(waker) => Wake::Task(waker),
                // A task waiter whose waker is gone (its future was dropped mid-poll) has no
                // one to wake; a thread waiter has its parker.
                #[cfg(any(feature = "std", loom))]
                None if entry.waiter.0.parker.is_none() => Wake::Nobody,
                #[cfg(any(feature = "std", loom))]
                None => Wake::Thread(entry.waiter),
                #[cfg(not(any(feature = "std", loom)))]
                None => {
                    drop(entry); // no threads to wake without std
                    Wake::Nobody
                }
            }));
        }
        None
    }

    /// True when a live registration of a waiter other than `me` is in the list: whether a
    /// counterpart is there for `me` to meet (a rendezvous channel's readiness for a select).
    pub fn has_live_other(&self, me: &Waiter) -> bool {
        self.entries.iter().any(|entry| {
            let core = &entry.waiter.0;
            let _slot = core.waker.lock();
            !entry.waiter.same(me) && Self::is_live(entry, core)
        })
    }

    /// Completes the longest-waiting live registration, after running `fill` on its payload.
    /// `fill` runs at most once; `None` means nobody was waiting and `fill` did not run.
    pub fn notify_one_with(&mut self, fill: impl FnOnce(&mut P)) -> Option<Wakeup> {
        let mut fill = Some(fill);
        self.notify_first(|payload| {
            if let Some(fill) = fill.take() {
                fill(payload);
            }
            true
        })
    }

    /// Completes every live registration, oldest first. They wake when the result drops.
    pub fn notify_all(&mut self) -> Wakeups {
        let mut wakeups = Vec::new();
        while let Some(wakeup) = self.notify_first(|_| true) {
            wakeups.push(wakeup);
        }
        Wakeups(wakeups)
    }

    /// Withdraws `waiter`'s registration. `None`: it was still waiting and is now
    /// cancelled. `Some(token)`: it had been completed first (by this list or, for a select,
    /// by another), and that completion stands: a value a notifier put in the payload is
    /// there for the caller to take back. Amortized O(1): the registration stays, dead.
    pub fn cancel(&mut self, waiter: &Waiter) -> Option<Token> {
        self.cancel_raw(waiter).and_then(Token::from_state)
    }

    /// [`cancel`](Self::cancel), reporting the completed state word itself.
    fn cancel_raw(&mut self, waiter: &Waiter) -> Option<usize> {
        let outcome = waiter.try_cancel().err();
        // Counted even when a notify already removed it: an over-count only brings the next
        // compaction forward, and compaction recounts.
        self.dead += 1;
        if self.dead > COMPACT_MIN && self.dead * 2 > self.entries.len() {
            self.compact();
        }
        outcome
    }

    /// Drops every dead registration. O(n), run once at least n/2 cancels have happened
    /// since the last run.
    fn compact(&mut self) {
        self.entries.retain(|entry| {
            let _slot = entry.waiter.0.waker.lock();
            Self::is_live(entry, &entry.waiter.0)
        });
        self.dead = 0;
    }

    fn remove_dead(&mut self, index: usize) {
        self.entries.remove(index);
        self.dead = self.dead.saturating_sub(1);
    }

    /// Call under the waiter's lock: the registration is for the waiter's current wait and
    /// that wait is still waiting.
    fn is_live(entry: &Entry<P>, core: &Core) -> bool {
        core.generation.load(Ordering::Relaxed) == entry.generation
            && core.state.load(Ordering::Relaxed) == WAITING
    }

    /// Gives up on `waiter` for good (a dropped future): a completion it had received from
    /// this list (`token` is what it registered here with) passes on to the next waiter, so
    /// no wake-up is lost. A completion from another list is that list's to pass on.
    pub fn abandon_with(&mut self, waiter: &Waiter, token: Token) -> Option<Wakeup> {
        // Exactly this list's completion (a claim carries the CLAIMED bit, another list's
        // completion another token): only that one is ours to pass on.
        match self.cancel_raw(waiter) {
            Some(state) if state == token.0.get() => self.notify_one_with(|_| {}),
            _ => None,
        }
    }
}

impl WaitList<()> {
    /// Registers `waiter` to be completed with [`NOTIFIED`].
    pub fn register(&mut self, waiter: &Waiter) {
        self.register_with(waiter, NOTIFIED, ());
    }

    /// Completes the longest waiter, if any.
    pub fn notify_one(&mut self) -> Option<Wakeup> {
        self.notify_one_with(|_| {})
    }

    /// [`abandon_with`](Self::abandon_with) for a registration made with
    /// [`register`](Self::register).
    pub fn abandon(&mut self, waiter: &Waiter) -> Option<Wakeup> {
        self.abandon_with(waiter, NOTIFIED)
    }
}

impl<P> fmt::Debug for WaitList<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitList").field("len", &self.entries.len()).field("dead", &self.dead).finish()
    }
}

/// A value slot shared by a waiter and its registration: the rendezvous hand-off.
/// (Used by the unit tests and loom models now; the rendezvous channel builds on it.)
#[cfg_attr(not(any(test, loom)), allow(dead_code))]
pub struct Slot<T>(Arc<Lock<Option<T>>>);

impl<T> Clone for Slot<T> {
    fn clone(&self) -> Self {
        Slot(self.0.clone())
    }
}

impl<T> Default for Slot<T> {
    fn default() -> Self {
        Slot::empty()
    }
}

#[cfg_attr(not(any(test, loom)), allow(dead_code))]
impl<T> Slot<T> {
    /// An empty slot (a receiver waiting for a value).
    pub fn empty() -> Self {
        Slot(Arc::new(Lock::new(None)))
    }
    /// A full slot (a sender waiting for a receiver).
    pub fn full(value: T) -> Self {
        Slot(Arc::new(Lock::new(Some(value))))
    }
    /// Puts a value in; returns the value back if the slot was already full.
    pub fn put(&self, value: T) -> Result<(), T> {
        let mut slot = self.0.lock();
        if slot.is_some() {
            return Err(value);
        }
        *slot = Some(value);
        Ok(())
    }
    /// Takes the value out, if there is one.
    pub fn take(&self) -> Option<T> {
        self.0.lock().take()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use core::ops::Deref;
    use std::sync::atomic::AtomicUsize as StdAtomicUsize;
    use std::sync::Arc as StdArc;
    use std::task::Wake as StdWake;

    /// A waker that counts its wake-ups.
    struct CountWaker(StdAtomicUsize);
    impl StdWake for CountWaker {
        fn wake(self: StdArc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    fn counting_waker() -> (StdArc<CountWaker>, Waker) {
        let counter = StdArc::new(CountWaker(StdAtomicUsize::new(0)));
        (counter.clone(), Waker::from(counter))
    }
    fn wakes(counter: &CountWaker) -> usize {
        counter.0.load(Ordering::SeqCst)
    }

    #[test]
    fn tokens_are_never_waiting_cancelled_or_notified() {
        for index in [0, 1, 7, usize::MAX / 2 - 2] {
            let token = Token::case(index);
            assert_eq!(token.index(), index);
            assert!(![WAITING, CANCELLED].contains(&token.0.get()));
            assert!(token != NOTIFIED, "a select case collides with NOTIFIED");
            assert_eq!(token.0.get() & CLAIMED, 0, "a token would read as a claim");
        }
        assert!(std::panic::catch_unwind(|| Token::case(usize::MAX / 2 - 1)).is_err());
    }

    #[test]
    fn a_claim_is_never_passed_on_as_a_lists_notification() {
        // The selector finds case 0 ready by itself and claims it; abandoning its case-0
        // registration must not invent a notification for the next waiter.
        let mut list = WaitList::new();
        let (selector, bystander) = (Waiter::task(Waker::noop()), Waiter::task(Waker::noop()));
        list.register_with(&selector, Token::case(0), ());
        list.register(&bystander);
        assert_eq!(selector.try_claim(Token::case(0)), Ok(()));
        assert!(list.abandon_with(&selector, Token::case(0)).is_none());
        assert_eq!(bystander.token(), None);
        assert_eq!(selector.token(), Some(Token::case(0)), "the claimer reads its own token");
    }

    #[test]
    fn a_task_waiter_dropped_while_registered_is_skipped_not_woken() {
        // A future whose poll panicked after registering drops its TaskWaiter without
        // withdrawing: the registration is dead, and the notification goes to the next.
        let mut list = WaitList::new();
        let mut task = TaskWaiter::new();
        list.register(task.arm(Waker::noop()));
        task.set_registered();
        let next = Waiter::task(Waker::noop());
        list.register(&next);
        drop(task);
        drop(list.notify_one().expect("the next waiter"));
        assert_eq!(next.token(), Some(NOTIFIED));
    }

    #[test]
    fn notify_one_is_fifo_and_notify_all_takes_the_rest() {
        let mut list = WaitList::new();
        let ws: Vec<Waiter> = (0..3).map(|_| Waiter::task(Waker::noop())).collect();
        ws.iter().for_each(|w| list.register(w));
        drop(list.notify_one().expect("a waiter"));
        assert_eq!(ws.iter().map(Waiter::token).collect::<Vec<_>>(), [Some(NOTIFIED), None, None]);
        assert_eq!(list.notify_all().len(), 2);
        assert!(ws.iter().all(|w| w.token() == Some(NOTIFIED)));
        assert!(list.notify_one().is_none());
    }

    #[test]
    fn notify_all_wakes_only_when_its_result_drops() {
        let mut list = WaitList::new();
        let (count, waker) = counting_waker();
        let ws: Vec<Waiter> = (0..3).map(|_| Waiter::task(&waker)).collect();
        ws.iter().for_each(|w| list.register(w));
        let wakeups = list.notify_all();
        assert_eq!(wakes(&count), 0, "no waker runs while the list is still in the caller's hands");
        drop(wakeups);
        assert_eq!(wakes(&count), 3);
    }

    #[test]
    fn cancel_before_notify_withdraws_and_notify_skips_it() {
        let mut list = WaitList::new();
        let (a, b) = (Waiter::current_thread(), Waiter::task(Waker::noop()));
        list.register(&a);
        list.register(&b);
        assert_eq!(list.cancel(&a), None);
        drop(list.notify_one().unwrap());
        assert_eq!((a.token(), b.token()), (None, Some(NOTIFIED)));
        assert!(list.is_empty());
    }

    #[test]
    fn notified_then_abandoned_passes_the_notification_on() {
        let mut list = WaitList::new();
        let (a, b) = (Waiter::task(Waker::noop()), Waiter::task(Waker::noop()));
        list.register(&a);
        list.register(&b);
        drop(list.notify_one().unwrap());
        // `a` was notified but gives up (its future was dropped): `b` must get it.
        drop(list.abandon(&a).expect("passed on"));
        assert_eq!(b.token(), Some(NOTIFIED));
        // A notified timed wait that cancels late keeps its notification instead.
        let c = Waiter::task(Waker::noop());
        list.register(&c);
        drop(list.notify_one().unwrap());
        assert_eq!(list.cancel(&c), Some(NOTIFIED));
    }

    #[test]
    fn abandon_passes_on_only_its_own_lists_completion() {
        // A selector on two lists is completed by `left`; abandoning its registration on
        // `right` must not create a notification there.
        let (mut left, mut right) = (WaitList::new(), WaitList::new());
        let selector = Waiter::task(Waker::noop());
        let bystander = Waiter::task(Waker::noop());
        left.register_with(&selector, Token::case(0), ());
        right.register_with(&selector, Token::case(1), ());
        right.register(&bystander);
        drop(left.notify_one().unwrap());
        assert!(right.abandon_with(&selector, Token::case(1)).is_none());
        assert_eq!(bystander.token(), None, "no extra notification");
        // Abandoned on the list that did complete it, the completion passes on there.
        left.register(&bystander);
        drop(left.abandon_with(&selector, Token::case(0)).expect("passed on"));
        assert_eq!(bystander.token(), Some(NOTIFIED));
    }

    #[test]
    fn a_waiter_on_two_lists_is_completed_by_exactly_one() {
        let (mut left, mut right) = (WaitList::new(), WaitList::new());
        let selector = Waiter::task(Waker::noop());
        let bystander = Waiter::task(Waker::noop());
        left.register_with(&selector, Token::case(0), ());
        right.register_with(&selector, Token::case(1), ());
        right.register(&bystander);

        drop(left.notify_one().expect("selector"));
        assert_eq!(selector.token(), Some(Token::case(0)));
        // right skips the dead registration and completes the next waiter instead.
        drop(right.notify_one().expect("bystander"));
        assert_eq!(selector.token(), Some(Token::case(0)));
        assert_eq!(bystander.token(), Some(NOTIFIED));
        assert_eq!(right.cancel(&selector), Some(Token::case(0)));
    }

    #[test]
    fn a_claimed_selector_cannot_be_completed() {
        let mut list = WaitList::new();
        let (selector, other) = (Waiter::task(Waker::noop()), Waiter::task(Waker::noop()));
        list.register_with(&selector, Token::case(3), ());
        list.register(&other);
        // The selector found case 5 ready by itself and withdraws before running it.
        assert_eq!(selector.try_claim(Token::case(5)), Ok(()));
        drop(list.notify_one().expect("the notification goes to the next waiter"));
        assert_eq!(selector.token(), Some(Token::case(5)));
        assert_eq!(other.token(), Some(NOTIFIED));
        // Claiming after a list completed it reports the winner.
        let late = Waiter::task(Waker::noop());
        list.register_with(&late, Token::case(1), ());
        drop(list.notify_one().unwrap());
        assert_eq!(late.try_claim(Token::case(2)), Err(Token::case(1)));
    }

    #[test]
    fn select_race_between_two_threads_completes_once() {
        for _ in 0..if cfg!(miri) { 5 } else { 200 } {
            let lists = StdArc::new([Lock::new(WaitList::new()), Lock::new(WaitList::new())]);
            let selector = Waiter::current_thread();
            lists[0].lock().register_with(&selector, Token::case(0), ());
            lists[1].lock().register_with(&selector, Token::case(1), ());
            let notifiers: Vec<_> = (0..2)
                .map(|i| {
                    let lists = lists.clone();
                    std::thread::spawn(move || {
                        let wake = lists[i].lock().notify_one();
                        wake.is_some()
                    })
                })
                .collect();
            let token = selector.wait();
            let wins: usize = notifiers.into_iter().map(|h| h.join().unwrap() as usize).sum();
            assert_eq!(wins, 1, "exactly one list completes the selector");
            assert!(token.index() < 2);
        }
    }

    #[test]
    fn a_refused_offer_keeps_its_place() {
        let mut list: WaitList<u32> = WaitList::new();
        let (a, b) = (Waiter::task(Waker::noop()), Waiter::task(Waker::noop()));
        list.register_with(&a, NOTIFIED, 1);
        list.register_with(&b, NOTIFIED, 2);
        // Only an even payload takes this offer: `a` refuses, `b` takes it.
        drop(list.notify_first(|p| *p % 2 == 0).expect("b"));
        assert_eq!((a.token(), b.token()), (None, Some(NOTIFIED)));
        assert!(list.notify_first(|p| *p % 2 == 0).is_none());
        // `a` is still first in line for an offer it accepts.
        drop(list.notify_first(|_| true).expect("a"));
        assert_eq!(a.token(), Some(NOTIFIED));
    }

    #[test]
    fn a_value_handed_to_a_waiter_that_then_cancels_is_found_and_given_back() {
        // A receiver's future is dropped right after a sender handed it a value.
        let mut source = VecDeque::from([7_u32]);
        let mut receivers: WaitList<Slot<u32>> = WaitList::new();
        let (rx, slot) = (Waiter::task(Waker::noop()), Slot::empty());
        receivers.register_with(&rx, NOTIFIED, slot.clone());
        let value = source.pop_front().unwrap();
        drop(receivers.notify_one_with(|s| s.put(value).unwrap()).unwrap());
        // The drop path: cancel reports the completion, so the value is in the slot...
        assert_eq!(receivers.cancel(&rx), Some(NOTIFIED));
        // ...and goes back where it came from.
        source.push_front(slot.take().expect("the handed value is there"));
        assert_eq!(source, [7]);
    }

    #[test]
    fn a_reused_waiter_ignores_its_dead_registrations() {
        let mut list = WaitList::new();
        let first = Waiter::current_thread();
        list.register(&first);
        assert_eq!(list.cancel(&first), None);
        let id = StdArc::as_ptr(&first.deref().0);
        drop(first);
        // The thread's next wait reuses the same waiter (no allocation), re-armed.
        let second = Waiter::current_thread();
        assert_eq!(StdArc::as_ptr(&second.deref().0), id, "the cached waiter is reused");
        assert_eq!(second.token(), None);
        // The dead registration of the first wait must not complete the second.
        assert!(list.notify_one().is_none());
        assert_eq!(second.token(), None);
        list.register(&second);
        drop(list.notify_one().unwrap());
        assert_eq!(second.token(), Some(NOTIFIED));
    }

    #[test]
    fn a_nested_wait_on_the_same_thread_gets_its_own_waiter() {
        let outer = Waiter::current_thread();
        let inner = Waiter::current_thread();
        assert!(!StdArc::ptr_eq(&outer.deref().0, &inner.deref().0));
    }

    #[test]
    fn cancels_are_amortized_and_the_list_stays_bounded() {
        let mut list = WaitList::new();
        let live = Waiter::task(Waker::noop());
        list.register(&live);
        let mut task = TaskWaiter::new();
        for _ in 0..if cfg!(miri) { 200 } else { 10_000 } {
            let w = task.arm(Waker::noop()).clone();
            list.register(&w);
            assert_eq!(list.cancel(&w), None);
            assert!(list.len() <= 2 * COMPACT_MIN + 2, "dead entries pile up: {}", list.len());
        }
        drop(list.notify_one().expect("the live waiter"));
        assert_eq!(live.token(), Some(NOTIFIED));
    }

    #[test]
    fn rendezvous_slot_carries_a_value_both_ways() {
        let mut receivers: WaitList<Slot<String>> = WaitList::new();
        let (rx, rx_slot) = (Waiter::task(Waker::noop()), Slot::empty());
        receivers.register_with(&rx, NOTIFIED, rx_slot.clone());
        let mut value = Some("hello".to_string());
        let wake = receivers.notify_one_with(|slot| slot.put(value.take().unwrap()).unwrap());
        drop(wake.expect("receiver"));
        assert!(value.is_none());
        assert_eq!(rx.token(), Some(NOTIFIED));
        assert_eq!(rx_slot.take().as_deref(), Some("hello"));

        let mut senders: WaitList<Slot<String>> = WaitList::new();
        let tx = Waiter::task(Waker::noop());
        senders.register_with(&tx, NOTIFIED, Slot::full("world".into()));
        let mut got = None;
        drop(senders.notify_one_with(|slot| got = slot.take()).unwrap());
        assert_eq!(got.as_deref(), Some("world"));
        assert_eq!(tx.token(), Some(NOTIFIED));
    }

    #[test]
    fn rendezvous_across_threads() {
        let receivers = StdArc::new(Lock::new(WaitList::<Slot<u64>>::new()));
        let (rx, slot) = (Waiter::current_thread(), Slot::empty());
        receivers.lock().register_with(&rx, NOTIFIED, slot.clone());
        let sender = {
            let receivers = receivers.clone();
            std::thread::spawn(move || {
                let mut value = Some(42);
                let _wake = receivers.lock().notify_one_with(|s| s.put(value.take().unwrap()).unwrap());
                value
            })
        };
        assert_eq!(rx.wait(), NOTIFIED);
        assert_eq!(slot.take(), Some(42));
        assert_eq!(sender.join().unwrap(), None);
    }

    #[test]
    fn task_waiter_wakes_the_latest_waker_once_and_is_reused() {
        let (first_count, first) = counting_waker();
        let (second_count, second) = counting_waker();
        let mut task = TaskWaiter::new();
        let mut list = WaitList::new();
        list.register(task.arm(&first));
        task.set_registered();
        assert!(task.poll(&second).is_pending());
        drop(list.notify_one().unwrap());
        assert_eq!((wakes(&first_count), wakes(&second_count)), (0, 1));
        assert_eq!(task.poll(&first), Poll::Ready(Some(NOTIFIED)));
        assert_eq!(task.poll(&first), Poll::Ready(None), "no longer registered");
        // A second wait re-arms the same waiter.
        let id = StdArc::as_ptr(&task.waiter.as_ref().unwrap().0);
        list.register(task.arm(&first));
        task.set_registered();
        assert_eq!(StdArc::as_ptr(&task.registered().unwrap().0), id);
        drop(list.notify_one().unwrap());
        assert_eq!(wakes(&first_count), 1);
    }

    #[test]
    fn a_dropped_task_waiter_releases_its_waker_even_if_a_dead_entry_lingers() {
        let (count, waker) = counting_waker();
        let mut list = WaitList::new();
        let mut task = TaskWaiter::new();
        list.register(task.arm(&waker));
        task.set_registered();
        assert_eq!(list.cancel(task.registered().unwrap()), None);
        assert_eq!(StdArc::strong_count(&count), 3); // ours, `waker`, the waiter's copy
        drop(task);
        assert_eq!(StdArc::strong_count(&count), 2, "the waiter's waker is dropped with it");
        assert!(list.notify_one().is_none());
        assert_eq!(wakes(&count), 0);
    }

    #[test]
    fn timed_wait_expires_and_cancel_settles_it() {
        let mut list = WaitList::new();
        let w = Waiter::current_thread();
        list.register(&w);
        let deadline = Instant::now() + std::time::Duration::from_millis(5);
        assert_eq!(w.wait_deadline(Some(deadline)), None);
        assert_eq!(list.cancel(&w), None);
        assert!(list.notify_one().is_none());
    }
}
