#![cfg(loom)]
//! loom models of the wait list (`src/waiter.rs`), the one wake-up mechanism every gosync
//! primitive is built on. They drive the loom-only internals `gosync::__loom` directly, with
//! each `WaitList` kept under a `loom::sync::Mutex` the way its owning primitive keeps it.
//!
//! Under loom, `Waiter::wait_deadline(Some(_))` is one scheduling point after which the
//! deadline counts as passed, so every timed-wait model explores both "notified in time" and
//! "timed out, then cancelled while a notification races in".

mod common;

use common::Outcomes;
use gosync::__loom::{Slot, TaskWaiter, Token, WaitList, Waiter, NOTIFIED};
use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::sync::{Arc, Mutex};
use loom::thread;
use std::future::poll_fn;
use std::task::{Poll, Wake, Waker};
use std::time::Instant;

/// A waker that only counts its wake-ups (a task nobody drives).
struct CountingWaker {
    wakes: AtomicUsize,
}

impl Wake for CountingWaker {
    fn wake(self: std::sync::Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        self.wakes.fetch_add(1, SeqCst);
    }
}

fn counting_waker() -> (std::sync::Arc<CountingWaker>, Waker) {
    let counter = std::sync::Arc::new(CountingWaker { wakes: AtomicUsize::new(0) });
    (counter.clone(), Waker::from(counter))
}

/// A waker that counts its wake-ups and unparks one thread (a task whose executor parks).
struct UnparkWaker {
    thread: thread::Thread,
    wakes: AtomicUsize,
}

impl Wake for UnparkWaker {
    fn wake(self: std::sync::Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        self.wakes.fetch_add(1, SeqCst);
        self.thread.unpark();
    }
}

fn new_list<P>() -> Arc<Mutex<WaitList<P>>> {
    Arc::new(Mutex::new(WaitList::default()))
}

/// Nothing left that a notify could complete: dead registrations (cancelled waits stay in
/// the list until skipped or compacted) are dropped by the failed notify, so the list is
/// empty afterwards.
fn assert_no_live_registration<P>(list: &mut WaitList<P>) {
    assert!(list.notify_one_with(|_| {}).is_none(), "a live registration was left behind");
    assert!(list.is_empty());
}

/// Notifies the longest waiter of `list`, waking it after the list's lock is released.
/// Returns whether somebody was notified.
fn notify_one(list: &Mutex<WaitList>) -> bool {
    let wake = list.lock().unwrap().notify_one();
    let found = wake.is_some();
    drop(wake);
    found
}

/// A registered, then timed wait (`wait_deadline` + `cancel` under the lock) racing a
/// `notify_one`. Either the waiter was notified and `cancel` reports it (the timed wait
/// returns "notified"), or the notifier found nobody: the notification is never lost and never
/// counted twice.
#[test]
fn notify_races_cancel() {
    let seen = Outcomes::new();
    let s = seen.clone();
    loom::model(move || {
        let list = new_list();
        let a = Waiter::current_thread();
        list.lock().unwrap().register(&a);

        let notifier = {
            let list = list.clone();
            thread::spawn(move || notify_one(&list))
        };

        // A's owner: a timed wait that expires after one scheduling point, then cancel.
        let early = a.wait_deadline(Some(Instant::now()));
        let cancelled = list.lock().unwrap().cancel(&a);
        let sent = notifier.join().unwrap();

        if let Some(token) = early {
            assert_eq!(token, NOTIFIED);
            assert_eq!(cancelled, Some(NOTIFIED), "seen in time, so cancel must report it");
        }
        assert_eq!(
            cancelled.is_some(),
            sent,
            "the notifier notified A exactly when cancel reports A's notification"
        );
        assert_eq!(a.token(), cancelled);
        s.saw(match (early, cancelled) {
            (Some(_), _) => "notified in time",
            (None, Some(_)) => "notified, then cancel came late",
            (None, None) => "cancelled first",
        });
        assert_no_live_registration(&mut list.lock().unwrap());
    });
    seen.assert_all(&["notified in time", "notified, then cancel came late", "cancelled first"]);
}

/// As `notify_races_cancel`, with a bystander task B registered behind A: the notification
/// goes to exactly one of them. If A cancels first, the notifier notifies B ("someone else")
/// and B's waker fires exactly once; if A was notified first, `cancel` reports it and B is
/// left waiting, never woken.
#[test]
fn notify_races_cancel_with_bystander() {
    let seen = Outcomes::new();
    let s = seen.clone();
    loom::model(move || {
        let list = new_list();
        let a = Waiter::current_thread();
        let (b_count, b_waker) = counting_waker();
        let b = Waiter::task(&b_waker);
        {
            let mut list = list.lock().unwrap();
            list.register(&a);
            list.register(&b);
        }

        let notifier = {
            let list = list.clone();
            thread::spawn(move || notify_one(&list))
        };

        let early = a.wait_deadline(Some(Instant::now()));
        let cancelled = list.lock().unwrap().cancel(&a);
        assert!(notifier.join().unwrap(), "A or B was waiting, so somebody is notified");

        if early.is_some() {
            assert_eq!(cancelled, early);
        }
        let a_kept = cancelled.is_some();
        let b_notified = b.token().is_some();
        assert!(a_kept != b_notified, "exactly one of A and B holds the notification");
        assert_eq!(b_count.wakes.load(SeqCst), usize::from(b_notified), "B woken iff notified");
        s.saw_if(a_kept, "A kept it", "B got it");

        // B still registered exactly when it was not notified.
        let mut list = list.lock().unwrap();
        assert_eq!(list.cancel(&b), b.token());
        assert_no_live_registration(&mut list);
    });
    seen.assert_all(&["A kept it", "B got it"]);
}

/// A notified-or-not waiter A that gives up for good (`abandon`, as a dropped future does)
/// racing the notifier, with a thread B blocked behind it. One notification is sent, so B
/// must be woken exactly once: `abandon` passes A's notification on when A got it, and the
/// notifier reaches B directly when A was gone first. A lost wake-up leaves B parked forever,
/// which loom reports as a deadlock.
#[test]
fn notify_races_abandon_passes_to_next() {
    let seen = Outcomes::new();
    let s = seen.clone();
    loom::model(move || {
        let list = new_list();
        let a = Waiter::current_thread();
        list.lock().unwrap().register(&a);

        // B's owner registers B behind A, and only then starts the notifier, so the one
        // notification is always sent while B is registered.
        let b_owner = {
            let list = list.clone();
            thread::spawn(move || {
                let b = Waiter::current_thread();
                list.lock().unwrap().register(&b);
                let notifier = {
                    let list = list.clone();
                    thread::spawn(move || notify_one(&list))
                };
                let token = b.wait();
                assert!(notifier.join().unwrap(), "A or B was waiting, so somebody is notified");
                (token, b)
            })
        };

        // A's owner: a timed wait that expires, then abandons its registration.
        let early = a.wait_deadline(Some(Instant::now()));
        let passed = list.lock().unwrap().abandon(&a);
        let passed_on = passed.is_some();
        drop(passed);

        let (token, b) = b_owner.join().unwrap();
        assert_eq!(token, NOTIFIED);
        assert_eq!(b.token(), Some(NOTIFIED));
        if early.is_some() {
            assert!(passed_on, "A saw the notification, so abandon must pass it on");
        }
        // A passed a notification on exactly when it had one.
        assert_eq!(passed_on, a.token().is_some());
        s.saw_if(passed_on, "A notified, passed on", "A gone first, B notified directly");
        // No double notification: nothing stale left, nobody else to notify.
        assert_no_live_registration(&mut list.lock().unwrap());
    });
    seen.assert_all(&["A notified, passed on", "A gone first, B notified directly"]);
}

/// select: one waiter registered on two lists (tokens 1 and 2), each list notified by its own
/// thread. Exactly one completes it, with its own token; the other finds the registration
/// already redeemed and, with nobody else waiting, returns None.
#[test]
fn select_two_notifiers_complete_once() {
    let seen = Outcomes::new();
    let s = seen.clone();
    loom::model(move || {
        let lists = Arc::new([Mutex::new(WaitList::default()), Mutex::new(WaitList::default())]);
        let selector = Waiter::current_thread();
        lists[0].lock().unwrap().register_with(&selector, Token::case(1), ());
        lists[1].lock().unwrap().register_with(&selector, Token::case(2), ());

        let notifiers: Vec<_> = (0..2)
            .map(|i| {
                let lists = lists.clone();
                thread::spawn(move || notify_one(&lists[i]))
            })
            .collect();

        let token = selector.wait();
        let (one, two) = (Token::case(1), Token::case(2));
        assert!(token == one || token == two, "completed with one of its tokens: {token:?}");
        let won: Vec<bool> = notifiers.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(won, [token == one, token == two], "exactly the list whose token it got won");
        s.saw_if(token == one, "list 1 won", "list 2 won");

        // The selector withdraws its other registration; cancel reports the winner.
        for list in lists.iter() {
            let mut list = list.lock().unwrap();
            assert_eq!(list.cancel(&selector), Some(token));
            assert_no_live_registration(&mut list);
        }
    });
    seen.assert_all(&["list 1 won", "list 2 won"]);
}

/// select racing its own timeout: a selector on two lists gives up (wait_deadline, then
/// cancel on both lists) while one list is notified. The notification either completed the
/// selector (both cancels report that token) or found nobody.
#[test]
fn select_notify_races_cancel() {
    let seen = Outcomes::new();
    let s = seen.clone();
    loom::model(move || {
        let lists = Arc::new([Mutex::new(WaitList::default()), Mutex::new(WaitList::default())]);
        let selector = Waiter::current_thread();
        lists[0].lock().unwrap().register_with(&selector, Token::case(1), ());
        lists[1].lock().unwrap().register_with(&selector, Token::case(2), ());

        let notifier = {
            let lists = lists.clone();
            thread::spawn(move || notify_one(&lists[1]))
        };

        let early = selector.wait_deadline(Some(Instant::now()));
        let first = lists[0].lock().unwrap().cancel(&selector);
        let second = lists[1].lock().unwrap().cancel(&selector);
        let sent = notifier.join().unwrap();

        assert_eq!(first, second, "both lists agree on the outcome");
        assert_eq!(first.is_some(), sent);
        if sent {
            assert_eq!(first, Some(Token::case(2)));
        }
        if early.is_some() {
            assert_eq!(early, first);
        }
        s.saw_if(sent, "completed by list 2", "gave up first");
        for list in lists.iter() {
            assert_no_live_registration(&mut list.lock().unwrap());
        }
    });
    seen.assert_all(&["completed by list 2", "gave up first"]);
}

/// Rendezvous: a receiver registered with an empty `Slot`; the sender puts its value in with
/// `notify_one_with`. The receiver's `wait` returns only once the value is in the slot, and
/// what the sender wrote before notifying (the `UnsafeCell`) happens-before the wake-up.
#[test]
fn rendezvous_sender_fills_receiver_slot() {
    loom::model(|| {
        let receivers: Arc<Mutex<WaitList<Slot<String>>>> = new_list();
        let rx = Waiter::current_thread();
        let slot = Slot::empty();
        receivers.lock().unwrap().register_with(&rx, NOTIFIED, slot.clone());
        let side = Arc::new(UnsafeCell::new(0usize));

        let sender = {
            let receivers = receivers.clone();
            let side = side.clone();
            thread::spawn(move || {
                side.with_mut(|p| unsafe { *p = 7 });
                let mut value = Some(String::from("hello"));
                let wake =
                    receivers.lock().unwrap().notify_one_with(|s| s.put(value.take().unwrap()).unwrap());
                assert!(wake.is_some(), "the receiver was registered");
                drop(wake);
                value
            })
        };

        assert_eq!(rx.wait(), NOTIFIED);
        assert_eq!(slot.take().as_deref(), Some("hello"));
        assert_eq!(side.with(|p| unsafe { *p }), 7);
        assert_eq!(sender.join().unwrap(), None, "the value went into the slot");
        assert!(receivers.lock().unwrap().is_empty());
    });
}

/// Rendezvous the other way: a sender waits with a full `Slot`; a receiver thread takes the
/// value out in `notify_one_with`. The sender is woken and its slot is empty.
#[test]
fn rendezvous_receiver_empties_sender_slot() {
    loom::model(|| {
        let senders: Arc<Mutex<WaitList<Slot<String>>>> = new_list();
        let tx = Waiter::current_thread();
        let slot = Slot::full(String::from("world"));
        senders.lock().unwrap().register_with(&tx, NOTIFIED, slot.clone());

        let receiver = {
            let senders = senders.clone();
            thread::spawn(move || {
                let mut got = None;
                let wake = senders.lock().unwrap().notify_one_with(|s| got = s.take());
                assert!(wake.is_some());
                drop(wake);
                got
            })
        };

        assert_eq!(tx.wait(), NOTIFIED);
        assert_eq!(slot.take(), None, "the receiver took the value");
        assert_eq!(receiver.join().unwrap().as_deref(), Some("world"));
    });
}

/// A task waiter driven by `loom::future::block_on`: registered on the first poll (which
/// then starts the notifier), re-armed with `set_waker` on every later poll. The notifier's
/// wake-up must reach the executor, or block_on never returns (loom: deadlock).
#[test]
fn task_waiter_woken_by_block_on_waker() {
    loom::model(|| {
        let list = new_list();
        let mut waiter: Option<Waiter> = None;
        let mut notifier = None;

        let token = loom::future::block_on(poll_fn(|cx| match &waiter {
            None => {
                let w = Waiter::task(cx.waker());
                list.lock().unwrap().register(&w);
                waiter = Some(w);
                let list = list.clone();
                notifier = Some(thread::spawn(move || notify_one(&list)));
                Poll::Pending
            }
            Some(w) => match w.set_waker(cx.waker()) {
                Some(token) => Poll::Ready(token),
                None => Poll::Pending,
            },
        }));

        assert_eq!(token, NOTIFIED);
        assert!(notifier.unwrap().join().unwrap());
        assert!(list.lock().unwrap().is_empty());
    });
}

/// `set_waker` (a task re-polled with a new waker) racing `notify_one`: either set_waker
/// reports the completion, or the notifier wakes the new waker. Exactly one wake-up is
/// delivered overall, and never to a waker that was replaced before the notification.
#[test]
fn set_waker_races_notify() {
    let seen = Outcomes::new();
    let s = seen.clone();
    loom::model(move || {
        let list = new_list();
        let (old_count, old_waker) = counting_waker();
        let new_count =
            std::sync::Arc::new(UnparkWaker { thread: thread::current(), wakes: AtomicUsize::new(0) });
        let new_waker = Waker::from(new_count.clone());
        let w = Waiter::task(&old_waker);
        list.lock().unwrap().register(&w);

        let notifier = {
            let list = list.clone();
            thread::spawn(move || notify_one(&list))
        };

        let rearmed = w.set_waker(&new_waker);
        if rearmed.is_none() {
            // Pending with the new waker: the completion must come through it.
            while new_count.wakes.load(SeqCst) == 0 {
                thread::park();
            }
            assert_eq!(w.token(), Some(NOTIFIED));
        }
        assert!(notifier.join().unwrap());

        let (old, new) = (old_count.wakes.load(SeqCst), new_count.wakes.load(SeqCst));
        assert_eq!(old + new, 1, "exactly one wake-up (old {old}, new {new})");
        match rearmed {
            None => assert_eq!(new, 1, "the replaced waker is never woken"),
            // Completed before the re-arm: the notifier took (and woke) the old waker.
            Some(token) => assert_eq!((token, old), (NOTIFIED, 1)),
        }
        s.saw_if(rearmed.is_none(), "re-armed first", "notified first");
    });
    seen.assert_all(&["re-armed first", "notified first"]);
}

/// A selector withdraws (`try_claim`, as it does before running an operation itself) while
/// a notifier completes its registration, with a bystander B behind it. Exactly one wins:
/// either the claim stands and the notification goes on to B, or the selector was completed
/// first and its claim reports the list's token. The notification is never lost or doubled.
#[test]
fn claim_races_notify() {
    let seen = Outcomes::new();
    let s = seen.clone();
    loom::model(move || {
        let list = new_list();
        let selector = Waiter::current_thread();
        let (b_count, b_waker) = counting_waker();
        let b = Waiter::task(&b_waker);
        {
            let mut list = list.lock().unwrap();
            list.register_with(&selector, Token::case(0), ());
            list.register(&b);
        }
        let notifier = {
            let list = list.clone();
            thread::spawn(move || notify_one(&list))
        };
        let claimed = selector.try_claim(Token::case(7));
        assert!(notifier.join().unwrap(), "selector or B was waiting");
        match claimed {
            Ok(()) => {
                assert_eq!(selector.token(), Some(Token::case(7)));
                assert_eq!(b.token(), Some(NOTIFIED), "the notification went on to B");
                assert_eq!(b_count.wakes.load(SeqCst), 1);
            }
            Err(winner) => {
                assert_eq!(winner, Token::case(0));
                assert_eq!(b.token(), None);
                assert_eq!(b_count.wakes.load(SeqCst), 0);
            }
        }
        s.saw_if(claimed.is_ok(), "claimed first", "notified first");
    });
    seen.assert_all(&["claimed first", "notified first"]);
}

/// Two selectors meet: S1 waits on list L1, S2 on L2; each then withdraws (claims itself)
/// and tries to complete the other (as a select that found the other side ready does). They
/// can never both complete against each other: at most one notify succeeds, and a selector
/// completed by the other is exactly one whose own claim failed.
#[test]
fn two_selectors_never_both_complete_each_other() {
    let seen = Outcomes::new();
    let s = seen.clone();
    loom::model(move || {
        let lists = Arc::new([Mutex::new(WaitList::default()), Mutex::new(WaitList::default())]);
        let s2_owner = {
            let lists = lists.clone();
            thread::spawn(move || {
                let s2 = Waiter::current_thread();
                lists[1].lock().unwrap().register_with(&s2, Token::case(0), ());
                let claim = s2.try_claim(Token::case(9));
                let completed_other = claim.is_ok() && notify_one(&lists[0]);
                (claim, completed_other)
            })
        };
        let s1 = Waiter::current_thread();
        lists[0].lock().unwrap().register_with(&s1, Token::case(0), ());
        let claim1 = s1.try_claim(Token::case(9));
        let s1_completed_s2 = claim1.is_ok() && notify_one(&lists[1]);
        let (claim2, s2_completed_s1) = s2_owner.join().unwrap();

        assert!(!(s1_completed_s2 && s2_completed_s1), "both completed against each other");
        assert_eq!(s1_completed_s2, claim2.is_err(), "S2 lost its claim exactly when S1 completed it");
        assert_eq!(s2_completed_s1, claim1.is_err(), "S1 lost its claim exactly when S2 completed it");
        s.saw(match (s1_completed_s2, s2_completed_s1) {
            (true, _) => "S1 completed S2",
            (_, true) => "S2 completed S1",
            _ => "both withdrew",
        });
    });
    seen.assert_all(&["S1 completed S2", "S2 completed S1", "both withdrew"]);
}

/// A thread's cached waiter is reused: its first wait (on A) times out and is cancelled,
/// leaving a dead registration on A; its next wait is on B. A notifier racing on A may
/// complete the first wait (cancel then reports it) but must never complete the second.
#[test]
fn reused_waiter_is_not_completed_by_a_dead_registration() {
    let seen = Outcomes::new();
    let s = seen.clone();
    loom::model(move || {
        let (a, b) = (new_list(), new_list());
        let first = Waiter::current_thread();
        a.lock().unwrap().register(&first);
        let notifier = {
            let a = a.clone();
            thread::spawn(move || notify_one(&a))
        };
        let early = first.wait_deadline(Some(Instant::now()));
        let cancelled = a.lock().unwrap().cancel(&first);
        if early.is_some() {
            assert_eq!(cancelled, early);
        }
        drop(first);

        let second = Waiter::current_thread();
        b.lock().unwrap().register(&second);
        let sent = notifier.join().unwrap();
        assert_eq!(sent, cancelled.is_some(), "A's notify reached the first wait or nobody");
        assert_eq!(second.token(), None, "the second wait was completed through A");
        assert_eq!(b.lock().unwrap().cancel(&second), None);
        assert_no_live_registration(&mut a.lock().unwrap());
        s.saw_if(sent, "first wait notified", "first wait cancelled first");
    });
    seen.assert_all(&["first wait notified", "first wait cancelled first"]);
}

/// A value handed to a receiver whose future is then dropped goes back where it came from.
/// The channel here is a buffer and a list of receivers under one lock; the sender hands its
/// value to a waiting receiver's slot, or buffers it. The receiver gives up concurrently:
/// if cancel finds it completed, it puts the value back at the buffer's front. The value
/// ends in the buffer exactly once, whatever the interleaving.
#[test]
fn handed_value_returns_when_the_receiver_gives_up() {
    struct Chan {
        buffer: std::collections::VecDeque<String>,
        receivers: WaitList<Slot<String>>,
    }
    let seen = Outcomes::new();
    let s = seen.clone();
    loom::model(move || {
        let chan = Arc::new(Mutex::new(Chan { buffer: Default::default(), receivers: WaitList::default() }));
        let mut task = TaskWaiter::new();
        let slot = Slot::empty();
        let waiter = task.arm(Waker::noop()).clone();
        chan.lock().unwrap().receivers.register_with(&waiter, NOTIFIED, slot.clone());
        task.set_registered();

        let sender = {
            let chan = chan.clone();
            thread::spawn(move || {
                let mut chan = chan.lock().unwrap();
                let mut value = Some(String::from("msg"));
                let wake = chan.receivers.notify_one_with(|s| s.put(value.take().unwrap()).unwrap());
                if let Some(value) = value {
                    chan.buffer.push_back(value);
                }
                wake.is_some()
            })
        };

        // The receiver's future is dropped: cancel, and give back a value handed to it.
        let handed = {
            let mut chan = chan.lock().unwrap();
            let outcome = chan.receivers.cancel(task.registered().unwrap());
            if outcome.is_some() {
                chan.buffer.push_front(slot.take().expect("a completed receiver holds the value"));
            }
            outcome.is_some()
        };
        drop(task);
        assert_eq!(sender.join().unwrap(), handed);
        let chan = chan.lock().unwrap();
        assert_eq!(chan.buffer.len(), 1, "the value is in the channel exactly once");
        assert!(slot.take().is_none());
        s.saw_if(handed, "handed, then given back", "buffered");
    });
    seen.assert_all(&["handed, then given back", "buffered"]);
}
