#![cfg(loom)]
//! loom models of the unbounded channel's block list (`src/chan/list.rs`), driven through
//! the loom-only internals `gosync::__loom`.
//!
//! Under loom a block holds 2 slots, so a model with two or three values crosses a block
//! boundary: the push of a block's last slot installs the next block while other pushes
//! wait for it, and the pop of a block's last slot frees the block, handing the
//! destruction over to a slower reader of the other slot if need be.
//!
//! Values are loom `Arc`s: loom fails a model that leaks one (a value accepted and then
//! stranded, or never dropped), and a value dropped twice trips its reference count. Under
//! loom each block holds a loom `Arc` too, so a block never freed fails the model, and a
//! block's free counts as a write to each of its value cells, so a free racing a reader
//! is reported as a concurrent access.

mod common;

use common::Outcomes;
use gosync::__loom::{List, PopError, PushError};
use loom::sync::atomic::{fence, AtomicBool, Ordering::Relaxed, Ordering::SeqCst};
use loom::sync::Arc;
use loom::thread;

type Value = Arc<usize>;

fn value(id: usize) -> Value {
    Arc::new(id)
}

/// Pushes `id`; true if the list took it. A refused value comes back (and is dropped here).
fn push(list: &List<Value>, id: usize) -> bool {
    match list.try_push(value(id)) {
        Ok(()) => true,
        Err(PushError::Closed(v)) => {
            assert_eq!(*v, id, "a refused push gives its own value back");
            false
        }
        Err(PushError::Full(_)) => panic!("an unbounded list is never full"),
    }
}

fn pop(list: &List<Value>) -> Result<usize, PopError> {
    list.try_pop().map(|v| *v)
}

/// Pops until the list reports `Empty` or `Closed`, returning the ids and that report.
fn drain(list: &List<Value>) -> (Vec<usize>, PopError) {
    let mut ids = Vec::new();
    loop {
        match pop(list) {
            Ok(id) => ids.push(id),
            Err(end) => return (ids, end),
        }
    }
}

/// Two pushes race for the last slot of the first block and the first slot of the next:
/// one installs the next block while the other waits for it. Both values arrive, once each,
/// in the order their pushes reserved slots, and the list frees both blocks.
#[test]
fn two_pushes_race_across_block_boundary() {
    let seen = Outcomes::new();
    let s = seen.clone();
    loom::model(move || {
        let list = Arc::new(List::new());
        assert!(push(&list, 0)); // the first block's first slot
        let pushers: Vec<_> = [1, 2]
            .into_iter()
            .map(|id| {
                let list = list.clone();
                thread::spawn(move || assert!(push(&list, id)))
            })
            .collect();
        for pusher in pushers {
            pusher.join().unwrap();
        }
        assert_eq!(list.len(), 3);
        let (ids, end) = drain(&list);
        assert_eq!(end, PopError::Empty);
        assert_eq!(ids[0], 0);
        let mut racers = ids[1..].to_vec();
        s.saw_if(racers == [1, 2], "1 took the last slot", "2 took the last slot");
        racers.sort_unstable();
        assert_eq!(racers, [1, 2], "each pushed value exactly once");
        assert!(list.is_empty());
    });
    seen.assert_all(&["1 took the last slot", "2 took the last slot"]);
}

/// Three pops race over a full block and the first slot of the next. The reader of a
/// block's last slot moves the head to the next block, while another pop may already be
/// reserving there, and starts freeing the old block; if the reader of its first slot has
/// not finished, that reader frees it instead. Every value is popped exactly once.
#[test]
fn pops_race_head_advance_and_block_destruction() {
    let seen = Outcomes::new();
    let s = seen.clone();
    loom::model(move || {
        let list = Arc::new(List::new());
        for id in 0..3 {
            assert!(push(&list, id)); // a full first block, and one value in the second
        }
        let poppers: Vec<_> = (0..2)
            .map(|_| {
                let list = list.clone();
                thread::spawn(move || pop(&list).expect("three values for three pops"))
            })
            .collect();
        let mine = pop(&list).expect("three values for three pops");
        let mut got: Vec<usize> = poppers.into_iter().map(|p| p.join().unwrap()).collect();
        s.saw_if(got[0] < got[1], "first popper took the earlier slot", "second popper took it");
        s.saw_if(mine == 2, "the next block's slot was last", "the next block's slot went earlier");
        got.push(mine);
        got.sort_unstable();
        assert_eq!(got, [0, 1, 2], "every value exactly once");
        assert_eq!(list.try_pop().err(), Some(PopError::Empty));
    });
    seen.assert_all(&[
        "first popper took the earlier slot",
        "second popper took it",
        "the next block's slot was last",
        "the next block's slot went earlier",
    ]);
}

/// A pop races the push that fills a block's last slot: the pop may reserve that slot
/// before its value is written (and must wait for it, not report `Empty`), and, reading the
/// block's last slot, frees the block while the push may still be linking the next one.
/// No value is lost or popped twice, and a value left over is dropped with the list.
#[test]
fn pop_races_push_completing_block() {
    let seen = Outcomes::new();
    let s = seen.clone();
    loom::model(move || {
        let list = Arc::new(List::new());
        assert!(push(&list, 0));
        let pusher = {
            let list = list.clone();
            thread::spawn(move || assert!(push(&list, 1))) // the block's last slot
        };
        // Without this scheduling point loom 0.7 explores a single interleaving here (the
        // outcome check below caught that); with it, every order of push and pops.
        thread::yield_now();
        assert_eq!(pop(&list), Ok(0));
        let raced = pop(&list);
        s.saw_if(raced.is_ok(), "pop took the racing push", "pop came before the racing push");
        if raced.is_err() {
            assert_eq!(raced, Err(PopError::Empty));
        }
        pusher.join().unwrap();
        assert!(push(&list, 2)); // into the next block
        let mut got: Vec<usize> = raced.into_iter().collect();
        got.extend(drain(&list).0);
        assert_eq!(got, [1, 2], "FIFO, every value exactly once");
        // Leave one value buffered across the drop: loom reports a leak if it is not dropped.
        assert!(push(&list, 3));
    });
    seen.assert_all(&["pop took the racing push", "pop came before the racing push"]);
}

/// Close races a push (into a block's last slot, so also the installation of the next
/// block) and pops. A push either lands before the close, and then it is popped (during the
/// race or after), or it fails and gets its value back: never accepted and stranded. A pop
/// reports `Closed` only once the list is closed and drained; after the race the list drains
/// to `Closed`.
#[test]
fn close_races_push_and_pop() {
    let seen = Outcomes::new();
    let s = seen.clone();
    loom::model(move || {
        let list = Arc::new(List::new());
        assert!(push(&list, 0));
        let pusher = {
            let list = list.clone();
            thread::spawn(move || push(&list, 1))
        };
        let closer = {
            let list = list.clone();
            thread::spawn(move || assert!(list.close(), "the only close closes"))
        };
        let mut popped = Vec::new();
        let mut raced_end = None;
        for _ in 0..2 {
            match pop(&list) {
                Ok(id) => popped.push(id),
                Err(end) => {
                    raced_end = Some(end);
                    break;
                }
            }
        }
        let pushed = pusher.join().unwrap();
        closer.join().unwrap();
        assert!(list.is_closed());
        assert!(!list.close(), "closed already");
        let (rest, end) = drain(&list);
        assert_eq!(end, PopError::Closed, "closed and drained");
        popped.extend(rest);
        assert_eq!(popped, if pushed { vec![0, 1] } else { vec![0] }, "accepted means delivered");
        if raced_end == Some(PopError::Closed) {
            assert!(!pushed, "a pop saw closed-and-drained, so the push must have come after");
        }
        s.saw(match (pushed, raced_end) {
            (false, _) => "push refused",
            (true, None) => "pushed before close, popped in the race",
            (true, Some(_)) => "pushed before close, popped after",
        });
        if raced_end == Some(PopError::Closed) {
            s.saw("pop saw closed and drained");
        }
    });
    seen.assert_all(&[
        "push refused",
        "pushed before close, popped in the race",
        "pushed before close, popped after",
        "pop saw closed and drained",
    ]);
}

/// The channel's waiting protocol: a sender pushes, fences, then looks for a waiting
/// receiver; a receiver announces itself, fences, then checks `!is_empty() || is_closed()`.
/// At least one side must see the other, or the receiver sleeps on a value nobody wakes it
/// for. `closing` makes the sender close instead of push. The push goes into a block's last
/// slot, so it also installs the next block.
fn sender_or_receiver_sees_the_other(closing: bool) {
    let seen = Outcomes::new();
    let s = seen.clone();
    loom::model(move || {
        let list = Arc::new(List::new());
        assert!(push(&list, 0));
        assert_eq!(pop(&list), Ok(0)); // the head is now at the first block's last slot
        let receiver_waits = Arc::new(AtomicBool::new(false));
        let sender = {
            let (list, receiver_waits) = (list.clone(), receiver_waits.clone());
            thread::spawn(move || {
                if closing {
                    assert!(list.close());
                } else {
                    assert!(push(&list, 1));
                }
                fence(SeqCst);
                // Relaxed: only the fences order it (the channel reads it under a lock).
                receiver_waits.load(Relaxed)
            })
        };
        receiver_waits.store(true, Relaxed);
        fence(SeqCst);
        let ready = !list.is_empty() || list.is_closed();
        let sender_saw_receiver = sender.join().unwrap();
        assert!(ready || sender_saw_receiver, "a lost wake-up: neither side saw the other");
        s.saw_if(ready, "receiver saw the value", "receiver missed it, sender saw the receiver");
    });
    seen.assert_all(&["receiver saw the value", "receiver missed it, sender saw the receiver"]);
}

#[test]
fn push_fence_races_receiver_fence_is_empty() {
    sender_or_receiver_sees_the_other(false);
}

#[test]
fn close_fence_races_receiver_fence_is_closed() {
    sender_or_receiver_sees_the_other(true);
}
