#![cfg(loom)]
//! loom models of the bounded channel's lock-free ring (`src/chan/array.rs`): pushes racing
//! for a slot, a push racing a pop across a wrap, close racing push and pop, and the fence
//! protocol the channel's waiting builds on. They drive the loom-only `gosync::__loom::Array`.
//!
//! Every racing operation runs on a spawned thread and the main thread only sets up and
//! checks after joining: with the main thread racing too, loom 0.7 explored a single
//! interleaving of `push_races_pop_across_a_wrap` (the main thread's accesses before it
//! blocked in `join` got no backtracking point).

mod common;

use common::Outcomes;
use gosync::__loom::{Array, PopError, PushError};
use loom::sync::atomic::{fence, AtomicBool, Ordering::SeqCst};
use loom::sync::Arc;
use loom::thread;

/// A ring of `cap` whose `head` and `tail` sit at slot `cap - 1` of lap 0: the next push
/// takes the last slot of the lap and the one after it wraps to slot 0 of lap 1.
fn ring_before_the_wrap(cap: usize) -> Arc<Array<u32>> {
    let ring = Arc::new(Array::new(cap));
    for i in 0..cap - 1 {
        assert!(ring.try_push(100 + i as u32).is_ok());
        assert_eq!(ring.try_pop(), Ok(100 + i as u32));
    }
    ring
}

/// Pops everything left, expecting the ring closed and drained at the end.
fn drain_closed(ring: &Array<u32>) -> Vec<u32> {
    let mut values = Vec::new();
    loop {
        match ring.try_pop() {
            Ok(v) => values.push(v),
            Err(PopError::Closed) => return values,
            Err(PopError::Empty) => panic!("a closed ring reported Empty"),
        }
    }
}

/// Two pushes race for the one free slot (the first slot after a wrap): exactly one gets
/// it, the other is told Full and gets its own value back, and the winner's value is the
/// one popped after the value already there.
#[test]
fn two_pushes_race_for_the_last_free_slot() {
    let outcomes = Outcomes::new();
    let seen = outcomes.clone();
    loom::model(move || {
        let ring = ring_before_the_wrap(2);
        assert!(ring.try_push(1).is_ok()); // slot 1 of lap 0; only slot 0 of lap 1 is free
        let pushers: Vec<_> = [10u32, 20]
            .into_iter()
            .map(|value| {
                let ring = ring.clone();
                thread::spawn(move || match ring.try_push(value) {
                    Ok(()) => None,
                    Err(PushError::Full(back)) => {
                        assert_eq!(back, value, "Full gave back another value");
                        Some(back)
                    }
                    Err(PushError::Closed(_)) => panic!("Closed on an open ring"),
                })
            })
            .collect();
        let refused: Vec<Option<u32>> = pushers.into_iter().map(|p| p.join().unwrap()).collect();
        let winner = match refused[..] {
            [None, Some(20)] => 10,
            [Some(10), None] => 20,
            _ => panic!("not exactly one push won: {refused:?}"),
        };
        seen.saw(if winner == 10 { "first pusher won" } else { "second pusher won" });
        assert!(ring.is_full());
        assert!(ring.close());
        assert_eq!(drain_closed(&ring), vec![1, winner]);
    });
    outcomes.assert_all(&["first pusher won", "second pusher won"]);
}

/// On a capacity-1 ring, a push races a pop on the slot's second lap: the value is received
/// exactly once, by the racing pop or by the drain after it, and the pop may have to wait
/// for a push that claimed the slot but has not written it yet.
#[test]
fn push_races_pop_across_a_wrap() {
    let outcomes = Outcomes::new();
    let seen = outcomes.clone();
    loom::model(move || {
        let ring = ring_before_the_wrap(1);
        assert!(ring.try_push(1).is_ok());
        assert_eq!(ring.try_pop(), Ok(1)); // the slot is now free for lap 1
        let pusher = {
            let ring = ring.clone();
            thread::spawn(move || assert!(ring.try_push(7).is_ok(), "the only push was refused"))
        };
        let popper = {
            let ring = ring.clone();
            thread::spawn(move || ring.try_pop())
        };
        pusher.join().unwrap();
        let popped = popper.join().unwrap();
        match popped {
            Ok(v) => {
                assert_eq!(v, 7);
                seen.saw("popped during the race");
            }
            Err(PopError::Empty) => seen.saw("empty during the race"),
            Err(PopError::Closed) => panic!("Closed on an open ring"),
        }
        assert!(ring.close());
        let left = drain_closed(&ring);
        let received = popped.into_iter().chain(left).collect::<Vec<_>>();
        assert_eq!(received, vec![7], "the value was not received exactly once");
    });
    outcomes.assert_all(&["popped during the race", "empty during the race"]);
}

/// Two pushes and a pop race on an empty ring. A push may claim the first slot and be slow
/// to write it while the second push finishes: a pop that starts after the second push
/// returned must not report Empty (that value is buffered), so it waits for the first.
#[test]
fn pop_waits_for_a_claimed_slot_before_a_finished_push() {
    let outcomes = Outcomes::new();
    let seen = outcomes.clone();
    loom::model(move || {
        let ring = ring_before_the_wrap(2);
        let second_done = Arc::new(AtomicBool::new(false));
        let first = {
            let ring = ring.clone();
            thread::spawn(move || assert!(ring.try_push(1).is_ok()))
        };
        let second = {
            let (ring, second_done) = (ring.clone(), second_done.clone());
            thread::spawn(move || {
                assert!(ring.try_push(2).is_ok());
                second_done.store(true, SeqCst);
            })
        };
        let popper = {
            let ring = ring.clone();
            thread::spawn(move || {
                let after_second = second_done.load(SeqCst);
                (after_second, ring.try_pop())
            })
        };
        first.join().unwrap();
        second.join().unwrap();
        let (after_second, popped) = popper.join().unwrap();
        if after_second {
            assert!(popped.is_ok(), "Empty although a finished push's value was buffered");
        }
        seen.saw_if(after_second, "pop after the second push", "pop before the second push");
        assert!(ring.close());
        let mut received: Vec<u32> = popped.into_iter().chain(drain_closed(&ring)).collect();
        received.sort_unstable();
        assert_eq!(received, vec![1, 2], "a value was lost or duplicated");
    });
    outcomes.assert_all(&["pop after the second push", "pop before the second push"]);
}

/// A close races a push and a pop. A push that returned Ok is popped exactly once (by the
/// racing pop or the drain after the close); a push told Closed got its value back and it is
/// never popped; once a pop reports Closed, nothing remains.
#[test]
fn close_races_push_and_pop() {
    let outcomes = Outcomes::new();
    let seen = outcomes.clone();
    loom::model(move || {
        let ring = ring_before_the_wrap(2);
        let pusher = {
            let ring = ring.clone();
            thread::spawn(move || match ring.try_push(5) {
                Ok(()) => true,
                Err(PushError::Closed(back)) => {
                    assert_eq!(back, 5);
                    false
                }
                Err(PushError::Full(_)) => panic!("Full with a free slot"),
            })
        };
        let popper = {
            let ring = ring.clone();
            thread::spawn(move || ring.try_pop())
        };
        let closer = {
            let ring = ring.clone();
            thread::spawn(move || assert!(ring.close(), "the only close did not close"))
        };
        closer.join().unwrap();
        let pushed = pusher.join().unwrap();
        let popped = popper.join().unwrap();
        let left = drain_closed(&ring);
        assert_eq!((ring.len(), ring.is_empty()), (0, true), "something remained after Closed");
        match popped {
            Ok(v) => assert_eq!(v, 5),
            Err(PopError::Closed) => {
                assert!(!pushed, "the pop saw Closed though a push landed before the close");
                seen.saw("pop saw Closed");
            }
            Err(PopError::Empty) => seen.saw("pop saw Empty"),
        }
        let received: Vec<u32> = popped.into_iter().chain(left).collect();
        if pushed {
            assert_eq!(received, vec![5], "an accepted value was lost or duplicated");
            seen.saw_if(popped.is_ok(), "accepted, popped by the racer", "accepted, drained after close");
        } else {
            assert!(received.is_empty(), "a refused value was popped");
            seen.saw("push refused as Closed");
        }
    });
    outcomes.assert_all(&[
        "pop saw Closed",
        "pop saw Empty",
        "accepted, popped by the racer",
        "accepted, drained after close",
        "push refused as Closed",
    ]);
}

/// The channel's wake-up protocol on the empty side: a sender does `try_push` -> fence ->
/// "does a receiver wait?", a receiver does "register" -> fence -> `!is_empty() ||
/// is_closed()`. At least one of them must see the other, or the receiver sleeps on a value.
#[test]
fn push_then_fence_races_receiver_registration() {
    let outcomes = Outcomes::new();
    let seen = outcomes.clone();
    loom::model(move || {
        let ring = ring_before_the_wrap(2);
        let receiver_waits = Arc::new(AtomicBool::new(false));
        let sender = {
            let (ring, receiver_waits) = (ring.clone(), receiver_waits.clone());
            thread::spawn(move || {
                assert!(ring.try_push(3).is_ok());
                fence(SeqCst);
                receiver_waits.load(SeqCst)
            })
        };
        let receiver = thread::spawn(move || {
            receiver_waits.store(true, SeqCst);
            fence(SeqCst);
            !ring.is_empty() || ring.is_closed()
        });
        let sender_sees_receiver = sender.join().unwrap();
        let receiver_sees_value = receiver.join().unwrap();
        assert!(sender_sees_receiver || receiver_sees_value, "lost wake-up: neither saw the other");
        seen.saw_if(receiver_sees_value, "receiver saw the value", "receiver saw empty");
    });
    outcomes.assert_all(&["receiver saw the value", "receiver saw empty"]);
}

/// The full side of the same protocol: a receiver does `try_pop` -> fence -> "does a sender
/// wait?", a sender does "register" -> fence -> `!is_full() || is_closed()`.
#[test]
fn pop_then_fence_races_sender_registration() {
    let outcomes = Outcomes::new();
    let seen = outcomes.clone();
    loom::model(move || {
        let ring = ring_before_the_wrap(1);
        assert!(ring.try_push(1).is_ok());
        let sender_waits = Arc::new(AtomicBool::new(false));
        let receiver = {
            let (ring, sender_waits) = (ring.clone(), sender_waits.clone());
            thread::spawn(move || {
                assert_eq!(ring.try_pop(), Ok(1));
                fence(SeqCst);
                sender_waits.load(SeqCst)
            })
        };
        let sender = thread::spawn(move || {
            sender_waits.store(true, SeqCst);
            fence(SeqCst);
            !ring.is_full() || ring.is_closed()
        });
        let receiver_sees_sender = receiver.join().unwrap();
        let sender_sees_room = sender.join().unwrap();
        assert!(receiver_sees_sender || sender_sees_room, "lost wake-up: neither saw the other");
        seen.saw_if(sender_sees_room, "sender saw room", "sender saw full");
    });
    outcomes.assert_all(&["sender saw room", "sender saw full"]);
}

/// And for close: a closer does `close` -> fence -> "does a receiver wait?", a receiver does
/// "register" -> fence -> `!is_empty() || is_closed()`.
#[test]
fn close_then_fence_races_receiver_registration() {
    loom::model(|| {
        let ring = ring_before_the_wrap(1);
        let receiver_waits = Arc::new(AtomicBool::new(false));
        let closer = {
            let (ring, receiver_waits) = (ring.clone(), receiver_waits.clone());
            thread::spawn(move || {
                assert!(ring.close());
                fence(SeqCst);
                receiver_waits.load(SeqCst)
            })
        };
        let receiver = thread::spawn(move || {
            receiver_waits.store(true, SeqCst);
            fence(SeqCst);
            !ring.is_empty() || ring.is_closed()
        });
        let closer_sees_receiver = closer.join().unwrap();
        let receiver_sees_close = receiver.join().unwrap();
        assert!(closer_sees_receiver || receiver_sees_close, "lost wake-up: neither saw the other");
    });
}
