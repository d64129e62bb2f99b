#![cfg(loom)]
//! loom models of the channels (`gosync::chan`), through the public API only: close racing
//! send and receive, the waiting protocol of the buffered flavours (no lost wake-up), the
//! rendezvous hand-off racing a timeout, and receive futures dropped while a send completes
//! them. Every value is accounted for exactly once: received, still in the channel, or given
//! back to its sender. A lost wake-up leaves a thread parked (or a `block_on` pending)
//! forever, which loom reports as a deadlock.
//!
//! Under loom a timed wait times out after one scheduling point, so every timeout races the
//! operation it waits for. The timeouts here are long (an hour): they only ever expire that
//! way, never because real time passed.
//!
//! Sender threads hand their `Sender` back through `join` instead of dropping it: dropping
//! the last one closes the channel, and the close would wake a receiver whose wake-up was
//! lost, hiding the very bug a model looks for.
//!
//! Models that hold for all three flavours run on each: `bounded(1)`, `unbounded()` and the
//! rendezvous `bounded(0)`.

mod common;

use common::{counting_waker, poll_once_with_then_drop, Outcomes};
use gosync::chan::{
    self, Receiver, RecvError, RecvTimeoutError, SendError, SendTimeoutError, Sender, TryRecvError,
};
use loom::sync::atomic::{AtomicBool, Ordering::SeqCst};
use loom::sync::Arc;
use loom::thread;
use std::future::Future;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

type Pair = (Sender<String>, Receiver<String>);

fn bounded1() -> Pair {
    chan::bounded(1)
}

fn unbounded() -> Pair {
    chan::unbounded()
}

fn rendezvous() -> Pair {
    chan::bounded(0)
}

/// A timeout that only expires the loom way (see the module docs).
const LONG: Duration = Duration::from_secs(3600);

fn v() -> String {
    String::from("v")
}

/// Nothing left in the channel: no value buffered, given back or offered by a sender.
fn assert_drained(rx: &Receiver<String>) {
    assert_eq!(rx.len(), 0);
    assert!(matches!(rx.try_recv(), Err(TryRecvError::Empty | TryRecvError::Closed)));
}

// ---------------------------------------------------------------------------------------
// 1. Close racing send and receive.
// ---------------------------------------------------------------------------------------

/// `close` racing a `send`, with a receiver draining the channel until it reports the end.
/// A send that returned `Ok` is received; a send refused by the close gives its value back
/// and nothing is received; the receiver ends with `RecvError` either way (a receiver left
/// blocked after the close is a deadlock), and so does every later receive.
fn close_races_send_and_recv(make: fn() -> Pair) {
    let seen = Outcomes::new();
    let s = seen.clone();
    loom::model(move || {
        let (tx, rx) = make();
        let sender = {
            let tx = tx.clone();
            thread::spawn(move || tx.send(v()))
        };
        let closer = thread::spawn(move || assert!(tx.close(), "the only close"));

        let mut received = Vec::new();
        let end = loop {
            match rx.recv() {
                Ok(value) => received.push(value),
                Err(end) => break end,
            }
        };
        assert_eq!(end, RecvError);
        let sent = sender.join().unwrap();
        closer.join().unwrap();

        match sent {
            Ok(()) => assert_eq!(received, [v()], "sent, so received exactly once"),
            Err(SendError(back)) => {
                assert_eq!(back, v(), "refused, so the value comes back");
                assert!(received.is_empty(), "refused, so nothing was received");
            }
        }
        assert_eq!(rx.recv(), Err(RecvError), "closed and drained stays so");
        assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
        s.saw_if(received.is_empty(), "refused by the close", "sent before the close");
    });
    seen.assert_all(&["sent before the close", "refused by the close"]);
}

#[test]
fn close_races_send_and_recv_bounded() {
    close_races_send_and_recv(bounded1);
}

#[test]
fn close_races_send_and_recv_unbounded() {
    close_races_send_and_recv(unbounded);
}

#[test]
fn close_races_send_and_recv_rendezvous() {
    close_races_send_and_recv(rendezvous);
}

/// Receivers blocked on an empty channel, one thread in `recv` and one task in
/// `block_on(recv_async)`, racing `close`: both end with `RecvError` (a receiver that
/// registers as the close runs must still see it).
fn close_wakes_blocked_receivers(make: fn() -> Pair) {
    loom::model(move || {
        let (tx, rx) = make();
        let thread_receiver = {
            let rx = rx.clone();
            thread::spawn(move || rx.recv())
        };
        let task_receiver = thread::spawn(move || loom::future::block_on(rx.recv_async()));

        assert!(tx.close());
        assert_eq!(thread_receiver.join().unwrap(), Err(RecvError));
        assert_eq!(task_receiver.join().unwrap(), Err(RecvError));
    });
}

#[test]
fn close_wakes_blocked_receivers_bounded() {
    close_wakes_blocked_receivers(bounded1);
}

#[test]
fn close_wakes_blocked_receivers_unbounded() {
    close_wakes_blocked_receivers(unbounded);
}

#[test]
fn close_wakes_blocked_receivers_rendezvous() {
    close_wakes_blocked_receivers(rendezvous);
}

/// A sender blocked on a full channel (bounded(1) holding one value, or a rendezvous channel
/// nobody receives from) racing `close`: it gets its value back; what was buffered before is
/// still received, then the end.
fn close_wakes_blocked_sender(make: fn() -> Pair) {
    loom::model(move || {
        let (tx, rx) = make();
        let buffered = tx.try_send(String::from("first")).is_ok();
        let sender = {
            let tx = tx.clone();
            thread::spawn(move || tx.send(v()))
        };

        assert!(tx.close());
        assert_eq!(sender.join().unwrap(), Err(SendError(v())));
        if buffered {
            assert_eq!(rx.recv().as_deref(), Ok("first"));
        }
        assert_eq!(rx.recv(), Err(RecvError));
    });
}

#[test]
fn close_wakes_blocked_sender_bounded() {
    close_wakes_blocked_sender(bounded1);
}

#[test]
fn close_wakes_blocked_sender_rendezvous() {
    close_wakes_blocked_sender(rendezvous);
}

// ---------------------------------------------------------------------------------------
// 2. The waiting protocol of the buffered flavours: no lost wake-up.
// ---------------------------------------------------------------------------------------

/// A receiver on an empty channel (a thread in `recv`, or a task in `recv_async` when
/// `task`) and a sender. The receiver looks, registers, re-checks and sleeps; the sender
/// pushes and then looks for a registered receiver. Whatever the interleaving one of them
/// sees the other: the receiver gets the value (a lost wake-up is a deadlock).
fn send_wakes_blocked_receiver(make: fn() -> Pair, task: bool) {
    let seen = Outcomes::new();
    let s = seen.clone();
    loom::model(move || {
        let (tx, rx) = make();
        let sent = Arc::new(AtomicBool::new(false));
        let sender = {
            let sent = sent.clone();
            thread::spawn(move || {
                tx.send(v()).unwrap();
                sent.store(true, SeqCst);
                tx
            })
        };

        let sent_first = sent.load(SeqCst);
        let got = if task { loom::future::block_on(rx.recv_async()) } else { rx.recv() };
        assert_eq!(got, Ok(v()));
        drop(sender.join().unwrap());
        assert_eq!(rx.recv(), Err(RecvError), "the sender is gone and nothing is left");
        s.saw_if(sent_first, "sent before the receive began", "receive began first");
    });
    seen.assert_all(&["sent before the receive began", "receive began first"]);
}

#[test]
fn send_wakes_blocked_receiver_bounded() {
    send_wakes_blocked_receiver(bounded1, false);
}

#[test]
fn send_wakes_blocked_receiver_unbounded() {
    send_wakes_blocked_receiver(unbounded, false);
}

#[test]
fn send_wakes_blocked_receiver_task_bounded() {
    send_wakes_blocked_receiver(bounded1, true);
}

#[test]
fn send_wakes_blocked_receiver_task_unbounded() {
    send_wakes_blocked_receiver(unbounded, true);
}

/// The other side: a sender (thread in `send`, or task in `send_async`) on a full bounded(1)
/// channel and a receiver that takes the buffered value. The room it makes must reach the
/// sender: both values arrive, in order.
fn recv_wakes_blocked_sender(task: bool) {
    let seen = Outcomes::new();
    let s = seen.clone();
    loom::model(move || {
        let (tx, rx) = bounded1();
        tx.try_send(String::from("first")).unwrap();
        let sent = Arc::new(AtomicBool::new(false));
        let sender = {
            let sent = sent.clone();
            thread::spawn(move || {
                if task {
                    loom::future::block_on(tx.send_async(v())).unwrap();
                } else {
                    tx.send(v()).unwrap();
                }
                sent.store(true, SeqCst);
                tx
            })
        };

        assert_eq!(rx.recv().as_deref(), Ok("first"));
        let sent_at_once = sent.load(SeqCst);
        assert_eq!(rx.recv(), Ok(v()));
        drop(sender.join().unwrap());
        assert_eq!(rx.recv(), Err(RecvError));
        s.saw_if(sent_at_once, "send done before the second receive", "second receive began first");
    });
    seen.assert_all(&["send done before the second receive", "second receive began first"]);
}

#[test]
fn recv_wakes_blocked_sender_bounded() {
    recv_wakes_blocked_sender(false);
}

#[test]
fn recv_wakes_blocked_sender_task_bounded() {
    recv_wakes_blocked_sender(true);
}

/// A receiver that gives up (`recv_timeout`) beside one blocked in `recv`, and one send. A
/// wake-up (or, rendezvous, the value) that reached the timed receiver as it gave up must
/// not be lost: the timed receiver either returns the value (and sends it on) or times out,
/// and the blocked receiver gets the value either way. With `timeout` zero the deadline has
/// passed whenever the timed receiver looks at the clock (the last-try path); with a long
/// one it has not (the retry path).
fn timed_receiver_gives_up_beside_blocked_receiver(make: fn() -> Pair, timeout: Duration) {
    let seen = Outcomes::new();
    let s = seen.clone();
    loom::model(move || {
        let (tx, rx) = make();
        let timed = {
            let (tx, rx) = (tx.clone(), rx.clone());
            thread::spawn(move || match rx.recv_timeout(timeout) {
                Ok(value) => {
                    // Got it: send it on, so that the count stays exact.
                    tx.send(value).unwrap();
                    true
                }
                Err(err) => {
                    assert_eq!(err, RecvTimeoutError::Timeout);
                    false
                }
            })
        };
        let blocked = {
            let rx = rx.clone();
            thread::spawn(move || rx.recv())
        };

        tx.send(v()).unwrap();
        let timed_got_it = timed.join().unwrap();
        assert_eq!(blocked.join().unwrap(), Ok(v()));
        drop(tx);
        assert_eq!(rx.recv(), Err(RecvError), "nothing left, nothing doubled");
        s.saw_if(timed_got_it, "timed receiver got it, sent it on", "timed receiver gave up");
    });
    seen.assert_all(&["timed receiver got it, sent it on", "timed receiver gave up"]);
}

#[test]
fn timed_receiver_gives_up_beside_blocked_receiver_bounded() {
    timed_receiver_gives_up_beside_blocked_receiver(bounded1, Duration::ZERO);
    timed_receiver_gives_up_beside_blocked_receiver(bounded1, LONG);
}

#[test]
fn timed_receiver_gives_up_beside_blocked_receiver_unbounded() {
    timed_receiver_gives_up_beside_blocked_receiver(unbounded, Duration::ZERO);
    timed_receiver_gives_up_beside_blocked_receiver(unbounded, LONG);
}

#[test]
fn timed_receiver_gives_up_beside_blocked_receiver_rendezvous() {
    timed_receiver_gives_up_beside_blocked_receiver(rendezvous, Duration::ZERO);
    timed_receiver_gives_up_beside_blocked_receiver(rendezvous, LONG);
}

/// The sending side: a sender that gives up (`send_timeout`) beside one blocked in `send`
/// on a full channel (bounded(1) holding a value, or rendezvous), and a receiver. Room (or
/// a receiver) that reached the timed sender as it gave up must not be lost: the receiver
/// gets the blocked sender's value, and the timed sender's exactly when it reported `Ok`.
fn timed_sender_gives_up_beside_blocked_sender(make: fn() -> Pair, timeout: Duration) {
    let seen = Outcomes::new();
    let s = seen.clone();
    loom::model(move || {
        let (tx, rx) = make();
        let prefilled = tx.try_send(String::from("x")).is_ok();
        let timed = {
            let tx = tx.clone();
            thread::spawn(move || tx.send_timeout(String::from("a"), timeout))
        };
        let blocked = {
            let tx = tx.clone();
            thread::spawn(move || tx.send(String::from("b")))
        };

        // What is surely sent: the prefilled value and the blocked sender's. Then the timed
        // sender's, if it reports it sent.
        let mut got: Vec<String> = (0..usize::from(prefilled) + 1).map(|_| rx.recv().unwrap()).collect();
        let timed_sent = timed.join().unwrap();
        if timed_sent.is_ok() {
            got.push(rx.recv().unwrap());
        }
        assert_eq!(blocked.join().unwrap(), Ok(()));
        match &timed_sent {
            Ok(()) => {}
            Err(err) => assert_eq!(err, &SendTimeoutError::Timeout(String::from("a"))),
        }
        drop(tx);
        assert_eq!(rx.recv(), Err(RecvError), "nothing more was sent");
        got.sort();
        let mut expected = vec!["b"];
        if prefilled {
            expected.push("x");
        }
        if timed_sent.is_ok() {
            expected.insert(0, "a");
        }
        assert_eq!(got, expected, "received exactly what was sent");
        s.saw_if(timed_sent.is_ok(), "timed sender sent", "timed sender gave up");
    });
    seen.assert_all(&["timed sender sent", "timed sender gave up"]);
}

#[test]
fn timed_sender_gives_up_beside_blocked_sender_bounded() {
    timed_sender_gives_up_beside_blocked_sender(bounded1, Duration::ZERO);
    timed_sender_gives_up_beside_blocked_sender(bounded1, LONG);
}

#[test]
fn timed_sender_gives_up_beside_blocked_sender_rendezvous() {
    timed_sender_gives_up_beside_blocked_sender(rendezvous, Duration::ZERO);
    timed_sender_gives_up_beside_blocked_sender(rendezvous, LONG);
}

/// Two senders and two receivers on one channel, every one of them possibly blocked (a
/// bounded(1) channel is full after one send, empty after one receive). A notification is
/// only a hint, consumed by whoever it woke, so this checks that no value is left with a
/// receiver asleep: each receiver gets one value, each value arrives once.
fn two_senders_two_receivers(make: fn() -> Pair) {
    loom::model(move || {
        let (tx, rx) = make();
        let senders: Vec<_> = ["a", "b"]
            .into_iter()
            .map(|value| {
                let tx = tx.clone();
                thread::spawn(move || tx.send(String::from(value)).unwrap())
            })
            .collect();
        let receiver = {
            let rx = rx.clone();
            thread::spawn(move || rx.recv().unwrap())
        };

        let mut got = vec![rx.recv().unwrap(), receiver.join().unwrap()];
        got.sort();
        assert_eq!(got, ["a", "b"]);
        senders.into_iter().for_each(|h| h.join().unwrap());
        // Only now may the channel close (see the module docs).
        drop(tx);
        assert_eq!(rx.recv(), Err(RecvError));
    });
}

#[test]
fn two_senders_two_receivers_bounded() {
    two_senders_two_receivers(bounded1);
}

#[test]
fn two_senders_two_receivers_unbounded() {
    two_senders_two_receivers(unbounded);
}

#[test]
fn two_senders_two_receivers_rendezvous() {
    two_senders_two_receivers(rendezvous);
}

// ---------------------------------------------------------------------------------------
// 3. The rendezvous hand-off racing a timeout.
// ---------------------------------------------------------------------------------------

/// `recv_timeout` racing `send_timeout` on a rendezvous channel: whichever waits first may
/// give up while the other arrives. The value is received exactly when the send reports
/// `Ok`; otherwise the send times out with the value back and the receive times out empty.
/// Never both, never neither.
#[test]
fn rendezvous_recv_timeout_races_send_timeout() {
    let seen = Outcomes::new();
    let s = seen.clone();
    loom::model(move || {
        let (tx, rx) = rendezvous();
        let sender = thread::spawn(move || {
            let sent = tx.send_timeout(v(), LONG);
            (sent, tx)
        });

        let got = rx.recv_timeout(LONG);
        let (sent, _tx) = sender.join().unwrap();
        match got {
            Ok(value) => {
                assert_eq!(value, v());
                assert_eq!(sent, Ok(()), "received, so the send succeeded");
                s.saw("handed off");
            }
            Err(err) => {
                assert_eq!(err, RecvTimeoutError::Timeout);
                assert_eq!(sent, Err(SendTimeoutError::Timeout(v())), "not received, so it comes back");
                s.saw("both timed out");
            }
        }
        assert_drained(&rx);
    });
    seen.assert_all(&["handed off", "both timed out"]);
}

/// `recv_timeout` racing a blocking `send`: if the receiver gives up, the channel is then
/// closed, which must give the still-waiting sender its value back. So the value is either
/// received (and the send is `Ok`) or returned by the send, exactly one of the two.
#[test]
fn rendezvous_recv_timeout_races_send() {
    let seen = Outcomes::new();
    let s = seen.clone();
    loom::model(move || {
        let (tx, rx) = rendezvous();
        let sender = {
            let tx = tx.clone();
            thread::spawn(move || tx.send(v()))
        };

        let got = rx.recv_timeout(LONG);
        if got.is_err() {
            // Nobody will receive: the close releases the sender if it is still waiting.
            tx.close();
        }
        let sent = sender.join().unwrap();
        match got {
            Ok(value) => {
                assert_eq!(value, v());
                assert_eq!(sent, Ok(()));
                s.saw("handed off");
            }
            Err(err) => {
                assert_eq!(err, RecvTimeoutError::Timeout);
                assert_eq!(sent, Err(SendError(v())), "never received, so it comes back");
                s.saw("receiver gave up");
            }
        }
        assert_drained(&rx);
    });
    seen.assert_all(&["handed off", "receiver gave up"]);
}

/// A `send_async` future on a rendezvous channel, polled once (waiting with its value in
/// the channel) and then given up with `into_value`, racing a `recv_timeout`. The receiver
/// may take the value at the very moment of the give-up: `into_value` returns it exactly
/// when it was not received.
#[test]
fn rendezvous_send_future_into_value_races_recv() {
    let seen = Outcomes::new();
    let s = seen.clone();
    loom::model(move || {
        let (tx, rx) = rendezvous();
        let receiver = thread::spawn(move || {
            let got = rx.recv_timeout(LONG);
            (got, rx)
        });

        let mut fut = tx.send_async(v());
        let polled = std::pin::Pin::new(&mut fut).poll(&mut Context::from_waker(Waker::noop()));
        let back = fut.into_value();
        let (got, rx) = receiver.join().unwrap();
        match (&got, back) {
            (Ok(value), None) => assert_eq!(value, "v"),
            (Err(RecvTimeoutError::Timeout), Some(value)) => {
                assert!(polled.is_pending(), "a completed send was received");
                assert_eq!(value, "v");
            }
            (got, back) => panic!("received {got:?} and given back {back:?}"),
        }
        assert_drained(&rx);
        s.saw(match (polled.is_ready(), got.is_ok()) {
            (true, _) => "received before the poll returned",
            (false, true) => "received while the future waited",
            (false, false) => "given back",
        });
    });
    seen.assert_all(&["received before the poll returned", "received while the future waited", "given back"]);
}

// ---------------------------------------------------------------------------------------
// 6. A receive future dropped while a send completes it.
// ---------------------------------------------------------------------------------------

/// A `recv_async` future polled once (registered on the empty channel) and dropped, racing a
/// send. The poll may have got the value; otherwise it stays in the channel, or, if the send
/// had handed it to the future (rendezvous), the drop gives it back: a later receive gets it.
/// `woken` records whether the send chose the dropped future for its wake-up.
fn recv_future_dropped_racing_send(make: fn() -> Pair) {
    let seen = Outcomes::new();
    let s = seen.clone();
    loom::model(move || {
        let (tx, rx) = make();
        let sender = thread::spawn(move || (tx.send(v()), tx));

        let (count, waker) = counting_waker();
        let polled = poll_once_with_then_drop(rx.recv_async(), &waker);
        let given_back = rx.len() == 1;
        let taken_by_poll = polled.is_ready();
        let got = match polled {
            Poll::Ready(got) => got,
            // Left in the channel, given back, or (rendezvous) still with its sender.
            Poll::Pending => rx.recv(),
        };
        assert_eq!(got, Ok(v()), "received exactly once");
        let (sent, tx) = sender.join().unwrap();
        assert_eq!(sent, Ok(()));
        drop(tx);
        assert_eq!(rx.recv(), Err(RecvError), "nothing left, nothing doubled");

        let woken = count.wakes() > 0;
        s.saw(match (taken_by_poll, woken, given_back) {
            (true, _, _) => "taken by the poll",
            (false, true, _) => "woken, then dropped",
            (false, false, true) => "in the channel at the drop, future never woken",
            (false, false, false) => "sent after the drop",
        });
    });
    seen.assert_all(&["taken by the poll", "woken, then dropped", "sent after the drop"]);
}

#[test]
fn recv_future_dropped_racing_send_bounded() {
    recv_future_dropped_racing_send(bounded1);
}

#[test]
fn recv_future_dropped_racing_send_unbounded() {
    recv_future_dropped_racing_send(unbounded);
}

#[test]
fn recv_future_dropped_racing_send_rendezvous() {
    recv_future_dropped_racing_send(rendezvous);
}

/// A `recv_async` future polled once and dropped, a second receiver blocked in `recv`, and
/// one send. If the send's wake-up (or, rendezvous, its value) went to the future, the drop
/// passes it on to the blocked receiver; if the poll itself got the value, that task sends it
/// on. Either way the blocked receiver gets the value exactly once (a lost wake-up or value
/// leaves it parked: deadlock).
fn recv_future_dropped_passes_wakeup_on(make: fn() -> Pair) {
    let seen = Outcomes::new();
    let s = seen.clone();
    loom::model(move || {
        let (tx, rx) = make();
        let (count, waker) = counting_waker();
        let dropper = {
            let (tx, rx) = (tx.clone(), rx.clone());
            thread::spawn(move || {
                let polled = poll_once_with_then_drop(rx.recv_async(), &waker);
                let Poll::Ready(got) = polled else { return false };
                // Got it in the one poll: hand it on, so that the count stays exact.
                tx.send(got.unwrap()).unwrap();
                true
            })
        };
        let receiver = {
            let rx = rx.clone();
            thread::spawn(move || rx.recv())
        };

        tx.send(v()).unwrap();
        let taken_by_poll = dropper.join().unwrap();
        assert_eq!(receiver.join().unwrap(), Ok(v()));
        drop(tx);
        assert_eq!(rx.recv(), Err(RecvError), "nothing left, nothing doubled");
        // Only the send wakes the future, before it returns: the count is final.
        let woken = count.wakes() > 0;
        s.saw(match (taken_by_poll, woken) {
            (true, _) => "taken by the poll, sent on",
            (false, true) => "woken, passed on by the drop",
            (false, false) => "not chosen",
        });
    });
    seen.assert_all(&["taken by the poll, sent on", "woken, passed on by the drop", "not chosen"]);
}

#[test]
fn recv_future_dropped_passes_wakeup_on_bounded() {
    recv_future_dropped_passes_wakeup_on(bounded1);
}

#[test]
fn recv_future_dropped_passes_wakeup_on_unbounded() {
    recv_future_dropped_passes_wakeup_on(unbounded);
}

#[test]
fn recv_future_dropped_passes_wakeup_on_rendezvous() {
    recv_future_dropped_passes_wakeup_on(rendezvous);
}
