//! Timer queues: deadlines ordered in time, each with one registration on the crate's wait
//! list, and (std) the one process-wide timer thread that serves real-time sleeps.
//!
//! A [`TimerQueue`] is a `BTreeMap` keyed by `(deadline, sequence number)`: the first key is
//! the earliest deadline (ties in registration order), and a registration is removed by its
//! key in O(log n) the moment its owner gives up on it. Nothing lingers after a cancel, so
//! the queue holds exactly the live timers: memory follows the sleeps that are still waiting,
//! however many were dropped. Each entry is a one-registration [`WaitList`], so expiring a
//! timer is an ordinary `notify_one` and the wake-up runs after the owner's lock is released.
//!
//! The same queue serves a [`ManualClock`](super::ManualClock) (keyed by its `Duration`, under
//! the clock's own lock) and the global timer (keyed by `Instant`, std only).
//!
//! # The global timer (std)
//! One thread for the whole process, started by the first registration: it completes every
//! due entry, then parks until the earliest remaining deadline (or indefinitely when there
//! is none). A registration earlier than the deadline it parks toward unparks it, so it
//! re-schedules. A waker that panics when the thread wakes it does not stop the thread. Other modules use it through [`register`] and [`cancel`]:
//!
//! ```text
//! let key = timer::register(deadline, waiter, token); // the waiter is completed at `deadline`
//! // ... later, if the owner gives up first:
//! timer::cancel(key); // true: withdrawn before it fired
//! ```
//!
//! The owner keeps its waiter alive (a `TaskWaiter` or the thread's waiter guard) while it is
//! registered, so dropping a registration under the queue's lock never drops a waker there.
//! Not built under loom, where there is no real time (see `Sleep`).

use crate::waiter::{Token, WaitList, Waiter, Wakeup};
use alloc::collections::BTreeMap;
use alloc::vec::Vec;

/// Where a registration sits in its [`TimerQueue`]: enough to remove it in O(log n).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct TimerKey<K> {
    deadline: K,
    seq: u64,
}

/// Deadlines in time order, each completing one waiter. Not locked itself: its owner keeps it
/// under a lock together with the clock it is measured against.
pub(crate) struct TimerQueue<K> {
    entries: BTreeMap<(K, u64), WaitList>,
    /// Makes keys unique (and orders equal deadlines by registration).
    next_seq: u64,
}

impl<K: Ord + Copy> TimerQueue<K> {
    /// An empty queue (allocates nothing until the first insert).
    pub(crate) const fn new() -> Self {
        TimerQueue { entries: BTreeMap::new(), next_seq: 0 }
    }

    /// Registers `waiter`'s current wait to be completed with `token` once the queue's clock
    /// reaches `deadline` (see [`expire`](Self::expire)).
    pub(crate) fn insert(&mut self, deadline: K, waiter: &Waiter, token: Token) -> TimerKey<K> {
        let seq = self.next_seq;
        self.next_seq += 1;
        let mut list = WaitList::new();
        list.register_with(waiter, token, ());
        self.entries.insert((deadline, seq), list);
        TimerKey { deadline, seq }
    }

    /// Withdraws a registration. True if it was still there; false if it had already expired
    /// (its completion stands) or was removed before.
    pub(crate) fn remove(&mut self, key: TimerKey<K>) -> bool {
        self.entries.remove(&(key.deadline, key.seq)).is_some()
    }

    /// The earliest deadline still registered.
    #[cfg_attr(not(all(feature = "std", not(loom))), allow(dead_code))] // the global timer's
    pub(crate) fn earliest(&self) -> Option<K> {
        self.entries.first_key_value().map(|(&(deadline, _), _)| deadline)
    }

    /// Completes and removes every registration whose deadline is at or before `now`, earliest
    /// first, pushing their wake-ups (to be dropped after the caller unlocks) onto `wakeups`.
    pub(crate) fn expire(&mut self, now: K, wakeups: &mut Vec<Wakeup>) {
        while let Some(entry) = self.entries.first_entry() {
            if entry.key().0 > now {
                break;
            }
            // A registration that is already dead (its waiter was claimed by a selector, or
            // re-armed) completes nobody: notify_one skips it.
            if let Some(wakeup) = entry.remove().notify_one() {
                wakeups.push(wakeup);
            }
        }
    }

    /// Registrations held (every one is live or about to be removed by its owner).
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(all(feature = "std", not(loom)))]
pub(crate) use global::{cancel, pending, register, threads_started};

/// The process-wide timer thread (std, not loom).
#[cfg(all(feature = "std", not(loom)))]
mod global {
    use super::{TimerKey, TimerQueue};
    use crate::primitive::atomic::{AtomicUsize, Ordering};
    use crate::primitive::thread::{self, Parker};
    use crate::primitive::{Instant, Lock};
    use crate::waiter::{Token, Waiter};
    use alloc::vec::Vec;
    use std::panic::AssertUnwindSafe;

    /// What the timer thread is doing, as far as a registration needs to know.
    #[derive(Clone, Copy)]
    enum Parked {
        /// Running (or about to re-scan): it will see any new entry without help.
        Awake,
        /// Parked until this deadline: an earlier entry must unpark it.
        Until(Instant),
        /// Parked with nothing to wait for: any entry must unpark it.
        Forever,
    }

    struct Global {
        queue: TimerQueue<Instant>,
        /// The timer thread's parker, once it runs.
        thread: Option<Parker>,
        /// Set by the registration that starts the thread (exactly one does).
        started: bool,
        parked: Parked,
    }

    static GLOBAL: Lock<Global> =
        Lock::new(Global { queue: TimerQueue::new(), thread: None, started: false, parked: Parked::Awake });

    /// Timer threads started so far (1 after the first sleep; never more).
    static THREADS_STARTED: AtomicUsize = AtomicUsize::new(0);

    /// Registers `waiter`'s current wait to be completed with `token` at `deadline` by the
    /// timer thread (started by the first call). The caller keeps `waiter` alive until the
    /// registration fires or is [`cancel`]led.
    ///
    /// # Panics
    /// `gosync: cannot start the timer thread` if the OS refuses to spawn it (the
    /// registration is withdrawn first, so nothing waits forever).
    pub(crate) fn register(deadline: Instant, waiter: &Waiter, token: Token) -> TimerKey<Instant> {
        let mut global = GLOBAL.lock();
        let key = global.queue.insert(deadline, waiter, token);
        let start = !global.started;
        global.started = true;
        // Unpark the thread only when it would otherwise sleep past this deadline, and mark
        // it awake so that a burst of registrations unparks it once.
        let unpark = match (global.parked, &global.thread) {
            (Parked::Forever, Some(parker)) => Some(parker.clone()),
            (Parked::Until(until), Some(parker)) if deadline < until => Some(parker.clone()),
            _ => None,
        };
        if unpark.is_some() {
            global.parked = Parked::Awake;
        }
        drop(global);
        if let Some(parker) = unpark {
            // If the thread has not parked yet, the unpark is kept and its park returns at once.
            parker.unpark();
        }
        if start {
            start_thread(key);
        }
        key
    }

    fn start_thread(key: TimerKey<Instant>) {
        match thread::spawn_named("gosync-timer", run) {
            Ok(_detached) => {
                THREADS_STARTED.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {
                let mut global = GLOBAL.lock();
                global.started = false;
                global.queue.remove(key);
                drop(global);
                panic!("gosync: cannot start the timer thread");
            }
        }
    }

    /// Withdraws a registration. True if it had not fired yet (it never will now); false if
    /// it already fired (the waiter was completed) or was withdrawn before.
    pub(crate) fn cancel(key: TimerKey<Instant>) -> bool {
        GLOBAL.lock().queue.remove(key)
    }

    /// Registrations waiting in the global timer.
    pub(crate) fn pending() -> usize {
        GLOBAL.lock().queue.len()
    }

    /// Timer threads started in this process (0 or 1).
    pub(crate) fn threads_started() -> usize {
        THREADS_STARTED.load(Ordering::Relaxed)
    }

    /// The timer thread: expire what is due, park until the next deadline, forever.
    fn run() {
        let parker = Parker::current();
        GLOBAL.lock().thread = Some(parker.clone());
        let mut wakeups = Vec::new();
        loop {
            let mut global = GLOBAL.lock();
            global.queue.expire(Instant::now(), &mut wakeups);
            let next = global.queue.earliest();
            // Published under the lock: a registration made after we unlock sees where we
            // park and unparks us if it is earlier (an unpark before the park is kept).
            global.parked = next.map_or(Parked::Forever, Parked::Until);
            drop(global);
            // Wakers are user code: woken with no lock held, and one that panics must not
            // stop the timer for every other sleep in the process. Its panic is reported by
            // the panic hook as usual; the timer carries on.
            for wakeup in wakeups.drain(..) {
                let _ = std::panic::catch_unwind(AssertUnwindSafe(move || drop(wakeup)));
            }
            match next {
                Some(deadline) => {
                    parker.park_deadline(deadline);
                }
                None => parker.park(),
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::waiter::NOTIFIED;
    use core::task::Waker;

    #[test]
    fn expires_in_deadline_order_and_only_what_is_due() {
        let mut queue = TimerQueue::new();
        let waiters: Vec<Waiter> = (0..3).map(|_| Waiter::task(Waker::noop())).collect();
        queue.insert(30, &waiters[0], NOTIFIED);
        queue.insert(10, &waiters[1], NOTIFIED);
        let removed = queue.insert(20, &waiters[2], NOTIFIED);
        assert_eq!(queue.earliest(), Some(10));
        let mut wakeups = Vec::new();
        queue.expire(9, &mut wakeups);
        assert!(wakeups.is_empty());
        assert!(queue.remove(removed));
        assert!(!queue.remove(removed), "removing twice finds nothing");
        queue.expire(30, &mut wakeups);
        assert_eq!(wakeups.len(), 2);
        assert_eq!(
            waiters.iter().map(Waiter::token).collect::<Vec<_>>(),
            [Some(NOTIFIED), Some(NOTIFIED), None]
        );
        assert_eq!(queue.len(), 0);
    }

    #[test]
    fn an_expired_key_is_not_removed_again() {
        let mut queue = TimerQueue::new();
        let waiter = Waiter::task(Waker::noop());
        let key = queue.insert(5, &waiter, NOTIFIED);
        let mut wakeups = Vec::new();
        queue.expire(5, &mut wakeups);
        // A later registration with the same deadline has another key.
        let other = queue.insert(5, &waiter, NOTIFIED);
        assert!(!queue.remove(key));
        assert_eq!(queue.len(), 1);
        assert!(queue.remove(other));
    }
}
