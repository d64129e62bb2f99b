//! The wait list: the one wake-up mechanism every gosync primitive is built on.
//!
//! A [`Waiter`] is one blocked operation: a parked thread or an async task's `Waker`, plus a
//! state word that moves exactly once from `WAITING` to either *completed with a token* or
//! *cancelled*. A [`WaitList`] is a FIFO of registrations, kept under its owner's lock.
//!
//! The mental model is a ticket: `register` hands the list a ticket, `notify_one` redeems the
//! oldest ticket still valid, `cancel` tears one up. Both redeeming and tearing up happen under
//! the waiter's own small lock, so whichever comes first wins and the other sees it:
//!
//! * notify racing cancel: `cancel` reports the notification it lost the race to, and the
//!   caller either consumes it (a timed wait that was notified in time returns "notified") or
//!   hands it to the next waiter with [`WaitList::abandon`] (a dropped future). No wake-up is
//!   ever lost.
//! * select: one waiter registered on several lists, each with its own token, is completed by
//!   exactly one of them; the others find its ticket already redeemed and skip it.
//! * rendezvous: each registration carries a payload (a value slot). The notifier fills or
//!   empties it *before* publishing the completion, so the woken waiter always sees it.

use crate::primitive::atomic::{AtomicUsize, Ordering};
use crate::primitive::{Arc, Lock};
use alloc::collections::VecDeque;
use core::task::{Poll, Waker};

#[cfg(any(feature = "std", loom))]
use crate::primitive::{thread, Instant};

/// The token a single-list primitive completes its waiters with.
pub const NOTIFIED: usize = 1;
const WAITING: usize = 0;
const CANCELLED: usize = usize::MAX;

struct Core {
    /// `WAITING`, `CANCELLED`, or the token of the list that completed this waiter.
    /// Written only under `waker`'s lock; read lock-free by the waiting side.
    state: AtomicUsize,
    /// A task waiter's latest waker; it changes between polls, so it lives under a lock.
    waker: Lock<Option<Waker>>,
    /// A thread waiter's parker; fixed for the waiter's life.
    #[cfg(any(feature = "std", loom))]
    parker: Option<thread::Parker>,
}

/// One blocked operation: a thread or a task waiting to be completed by a [`WaitList`].
#[derive(Clone)]
pub struct Waiter(Arc<Core>);

impl Waiter {
    /// A waiter that unparks the calling thread.
    #[cfg(any(feature = "std", loom))]
    pub fn current_thread() -> Self {
        Waiter(Arc::new(Core {
            state: AtomicUsize::new(WAITING),
            waker: Lock::new(None),
            parker: Some(thread::Parker::current()),
        }))
    }

    /// A waiter that wakes an async task.
    pub fn task(waker: &Waker) -> Self {
        Waiter(Arc::new(Core {
            state: AtomicUsize::new(WAITING),
            waker: Lock::new(Some(waker.clone())),
            #[cfg(any(feature = "std", loom))]
            parker: None,
        }))
    }

    /// The token this waiter was completed with, once it has been.
    #[cfg_attr(not(any(feature = "std", loom)), allow(dead_code))]
    pub fn token(&self) -> Option<usize> {
        // Acquire pairs with the Release in `WaitList::notify_one_with`: the payload written
        // before completion is visible once the token is.
        match self.0.state.load(Ordering::Acquire) {
            WAITING | CANCELLED => None,
            token => Some(token),
        }
    }

    /// Re-arms a task waiter with the waker of the latest poll. Returns the token if it was
    /// completed in the meantime (the caller then proceeds instead of returning Pending).
    pub fn set_waker(&self, waker: &Waker) -> Option<usize> {
        let mut slot = self.0.waker.lock();
        // Under the lock the state cannot change, so either the notifier sees the new waker
        // or we see its completion: never neither.
        match self.0.state.load(Ordering::Acquire) {
            WAITING => {
                match &mut *slot {
                    Some(old) if old.will_wake(waker) => {}
                    slot => *slot = Some(waker.clone()),
                }
                None
            }
            CANCELLED => None,
            token => Some(token),
        }
    }

    /// The first step of a future's poll that may hold a registered waiter in `slot`:
    /// `Pending` while that waiter still waits (re-armed with the latest `waker`); otherwise
    /// the slot is emptied and the result says whether a registration had been completed
    /// (`true`, the future was woken) or there was none (`false`, a first poll).
    pub fn poll_registration(slot: &mut Option<Waiter>, waker: &Waker) -> Poll<bool> {
        match slot {
            Some(waiter) if waiter.set_waker(waker).is_none() => Poll::Pending,
            Some(_) => {
                *slot = None;
                Poll::Ready(true)
            }
            None => Poll::Ready(false),
        }
    }

    /// Blocks the calling thread (which created this waiter) until it is completed.
    #[cfg(any(feature = "std", loom))]
    pub fn wait(&self) -> usize {
        if let Some(token) = self.spin() {
            return token;
        }
        let parker = self.parker();
        loop {
            if let Some(token) = self.token() {
                return token;
            }
            // Spurious wake-ups (a token left over from an earlier waiter) just loop.
            parker.park();
        }
    }

    /// Like [`wait`](Self::wait), giving up at `deadline` (`None`: never). A `None` result
    /// leaves the waiter registered: the caller must [`WaitList::cancel`] it under the
    /// list's lock, which settles the race with a concurrent notification.
    #[cfg(any(feature = "std", loom))]
    pub fn wait_deadline(&self, deadline: Option<Instant>) -> Option<usize> {
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
    fn spin(&self) -> Option<usize> {
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

    /// Moves WAITING to CANCELLED. `Err(token)` if it had already been completed.
    fn try_cancel(&self) -> Result<(), usize> {
        let mut waker = self.0.waker.lock();
        match self.0.state.load(Ordering::Relaxed) {
            WAITING => {
                self.0.state.store(CANCELLED, Ordering::Relaxed);
                *waker = None;
                Ok(())
            }
            CANCELLED => Ok(()),
            token => Err(token),
        }
    }

    fn same(&self, other: &Waiter) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
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

struct Entry<P> {
    waiter: Waiter,
    token: usize,
    payload: P,
}

/// A FIFO of waiters, each with the token it is completed with and a payload. Not locked
/// itself: its owner keeps it under a lock.
pub struct WaitList<P = ()> {
    entries: VecDeque<Entry<P>>,
}

impl<P> Default for WaitList<P> {
    fn default() -> Self {
        WaitList::new()
    }
}

impl<P> WaitList<P> {
    /// An empty list (a `const fn`, so primitives holding one can be `static`).
    pub const fn new() -> Self {
        WaitList { entries: VecDeque::new() }
    }

    /// True when no registration is left (stale ones count until they are skipped).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Registrations held, stale ones included.
    #[cfg_attr(not(any(test, loom)), allow(dead_code))] // for tests and loom models
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Appends a registration: `notify_one` completes `waiter` with `token`, after letting
    /// the notifier use `payload`.
    pub fn register_with(&mut self, waiter: &Waiter, token: usize, payload: P) {
        debug_assert!(token != WAITING && token != CANCELLED);
        self.entries.push_back(Entry { waiter: waiter.clone(), token, payload });
    }

    /// Completes the longest-waiting registration that is still waiting, after running
    /// `fill` on its payload (under the waiter's lock, so the waiter sees what `fill` did).
    /// Registrations already completed by another list or cancelled are dropped on the way.
    /// `fill` runs at most once; `None` means nobody was waiting and `fill` did not run.
    pub fn notify_one_with(&mut self, fill: impl FnOnce(&mut P)) -> Option<Wakeup> {
        while let Some(mut entry) = self.entries.pop_front() {
            let core = &entry.waiter.0;
            let mut waker = core.waker.lock();
            if core.state.load(Ordering::Relaxed) != WAITING {
                continue;
            }
            fill(&mut entry.payload);
            // Release: publishes what `fill` wrote to the waiter's Acquire in `token`.
            core.state.store(entry.token, Ordering::Release);
            let task = waker.take();
            drop(waker);
            return Some(Wakeup(match task {
                Some(waker) => Wake::Task(waker),
                #[cfg(any(feature = "std", loom))]
                None => Wake::Thread(entry.waiter),
                #[cfg(not(any(feature = "std", loom)))]
                None => Wake::Nobody,
            }));
        }
        None
    }

    /// Completes every waiting registration, oldest first, waking each at once.
    pub fn notify_all(&mut self) -> usize {
        let mut woken = 0;
        while let Some(wakeup) = self.notify_one_with(|_| {}) {
            drop(wakeup);
            woken += 1;
        }
        woken
    }

    /// Withdraws `waiter`'s registration. `None`: it was still waiting and is now
    /// cancelled. `Some(token)`: it had been completed first (by this list or, for a select,
    /// by another), and that completion stands.
    pub fn cancel(&mut self, waiter: &Waiter) -> Option<usize> {
        let outcome = waiter.try_cancel().err();
        // Completed by this list means already popped; otherwise drop our stale entry.
        if let Some(pos) = self.entries.iter().position(|e| e.waiter.same(waiter)) {
            self.entries.remove(pos);
        }
        outcome
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

    /// Gives up on `waiter` for good (a dropped future): a notification it had already
    /// received is passed on to the next waiter, so the wake-up is not lost.
    pub fn abandon(&mut self, waiter: &Waiter) -> Option<Wakeup> {
        self.cancel(waiter).and_then(|_| self.notify_one())
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
    use std::sync::atomic::AtomicUsize as StdAtomicUsize;
    use std::sync::Arc as StdArc;
    use std::task::{Context, Wake as StdWake};

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

    #[test]
    fn notify_one_is_fifo_and_notify_all_takes_the_rest() {
        let mut list = WaitList::default();
        let ws: Vec<Waiter> = (0..3).map(|_| Waiter::current_thread()).collect();
        ws.iter().for_each(|w| list.register(w));
        drop(list.notify_one().expect("a waiter"));
        assert_eq!(ws.iter().map(Waiter::token).collect::<Vec<_>>(), [Some(NOTIFIED), None, None]);
        assert_eq!(list.notify_all(), 2);
        assert!(ws.iter().all(|w| w.token() == Some(NOTIFIED)));
        assert!(list.notify_one().is_none());
    }

    #[test]
    fn cancel_before_notify_withdraws_and_notify_skips_nobody() {
        let mut list = WaitList::default();
        let (a, b) = (Waiter::current_thread(), Waiter::current_thread());
        list.register(&a);
        list.register(&b);
        assert_eq!(list.cancel(&a), None);
        assert_eq!(list.len(), 1);
        drop(list.notify_one().unwrap());
        assert_eq!((a.token(), b.token()), (None, Some(NOTIFIED)));
    }

    #[test]
    fn notified_then_abandoned_passes_the_notification_on() {
        let mut list = WaitList::default();
        let (a, b) = (Waiter::current_thread(), Waiter::current_thread());
        list.register(&a);
        list.register(&b);
        drop(list.notify_one().unwrap());
        // `a` was notified but gives up (its future was dropped): `b` must get it.
        drop(list.abandon(&a).expect("passed on"));
        assert_eq!(b.token(), Some(NOTIFIED));
        // A notified timed wait that cancels late keeps its notification instead.
        let c = Waiter::current_thread();
        list.register(&c);
        drop(list.notify_one().unwrap());
        assert_eq!(list.cancel(&c), Some(NOTIFIED));
    }

    #[test]
    fn a_waiter_on_two_lists_is_completed_by_exactly_one() {
        // select: one waiter, two registrations with distinct tokens.
        let (mut left, mut right) = (WaitList::default(), WaitList::default());
        let selector = Waiter::current_thread();
        let bystander = Waiter::current_thread();
        left.register_with(&selector, 10, ());
        right.register_with(&selector, 20, ());
        right.register(&bystander);

        drop(left.notify_one().expect("selector"));
        assert_eq!(selector.token(), Some(10));
        // right skips the stale registration and completes the next waiter instead.
        drop(right.notify_one().expect("bystander"));
        assert_eq!(selector.token(), Some(10));
        assert_eq!(bystander.token(), Some(NOTIFIED));
        // The selector cleans up its other registrations; cancel reports the winner.
        assert_eq!(right.cancel(&selector), Some(10));
    }

    #[test]
    fn select_race_between_two_threads_completes_once() {
        for _ in 0..200 {
            let lists = StdArc::new([Lock::new(WaitList::default()), Lock::new(WaitList::default())]);
            let selector = Waiter::current_thread();
            lists[0].lock().register_with(&selector, 1, ());
            lists[1].lock().register_with(&selector, 2, ());
            let notifiers: Vec<_> = (0..2)
                .map(|i| {
                    let lists = lists.clone();
                    std::thread::spawn(move || lists[i].lock().notify_one().map(drop).is_some())
                })
                .collect();
            let token = selector.wait();
            let wins: usize = notifiers.into_iter().map(|h| h.join().unwrap() as usize).sum();
            assert_eq!(wins, 1, "exactly one list completes the selector");
            assert!(token == 1 || token == 2);
        }
    }

    #[test]
    fn rendezvous_slot_carries_a_value_both_ways() {
        // A receiver waits with an empty slot; the sender fills it on completion.
        let mut receivers: WaitList<Slot<String>> = WaitList::default();
        let (rx, rx_slot) = (Waiter::current_thread(), Slot::empty());
        receivers.register_with(&rx, NOTIFIED, rx_slot.clone());
        let mut value = Some("hello".to_string());
        let wake = receivers.notify_one_with(|slot| slot.put(value.take().unwrap()).unwrap());
        drop(wake.expect("receiver"));
        assert!(value.is_none());
        assert_eq!(rx.token(), Some(NOTIFIED));
        assert_eq!(rx_slot.take().as_deref(), Some("hello"));

        // A sender waits with a full slot; the receiver empties it on completion.
        let mut senders: WaitList<Slot<String>> = WaitList::default();
        let tx = Waiter::current_thread();
        senders.register_with(&tx, NOTIFIED, Slot::full("world".into()));
        let mut got = None;
        drop(senders.notify_one_with(|slot| got = slot.take()).unwrap());
        assert_eq!(got.as_deref(), Some("world"));
        assert_eq!(tx.token(), Some(NOTIFIED));
    }

    #[test]
    fn rendezvous_across_threads() {
        let receivers = StdArc::new(Lock::new(WaitList::<Slot<u64>>::default()));
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
    fn task_waiter_wakes_the_latest_waker_once() {
        let (first_count, first) = counting_waker();
        let (second_count, second) = counting_waker();
        let w = Waiter::task(&first);
        let mut list = WaitList::default();
        list.register(&w);
        assert_eq!(w.set_waker(&second), None);
        drop(list.notify_one().unwrap());
        assert_eq!(first_count.0.load(Ordering::SeqCst), 0);
        assert_eq!(second_count.0.load(Ordering::SeqCst), 1);
        // After completion, re-arming reports the token instead of storing a waker.
        assert_eq!(w.set_waker(&first), Some(NOTIFIED));
        let _ = Context::from_waker(&first);
    }

    #[test]
    fn cancelled_waiter_is_never_completed() {
        let (count, waker) = counting_waker();
        let w = Waiter::task(&waker);
        let mut list = WaitList::default();
        list.register(&w);
        assert_eq!(list.cancel(&w), None);
        assert!(list.notify_one().is_none());
        assert_eq!(count.0.load(Ordering::SeqCst), 0);
        assert_eq!(w.set_waker(&waker), None);
    }

    #[test]
    fn timed_wait_expires_and_cancel_settles_it() {
        let mut list = WaitList::default();
        let w = Waiter::current_thread();
        list.register(&w);
        let deadline = Instant::now() + std::time::Duration::from_millis(5);
        assert_eq!(w.wait_deadline(Some(deadline)), None);
        assert_eq!(list.cancel(&w), None);
        assert!(list.is_empty());
    }
}
