#![cfg(loom)]
//! loom models of select (`gosync::select!` and `gosync::chan::Select`), through the public
//! API only: two cases that become ready at once, two selects meeting on rendezvous
//! channels, a select racing its timeout, and `select_async` futures dropped while a channel
//! completes their case. Exactly one case completes, and every value is accounted for
//! exactly once: received, still in its channel, or kept by its sender. A lost wake-up or
//! value leaves a thread parked forever, which loom reports as a deadlock.
//!
//! Under loom a select tries its cases in order (no random shuffle, so that executions are
//! reproducible), and a timed wait times out after one scheduling point, so every timeout
//! races the hand-off it waits for. The timeouts here are long (an hour): they only ever
//! expire that way.

mod common;

use common::{counting_waker, model_with_preemptions, poll_once_with_then_drop, Outcomes};
use gosync::chan::{self, Receiver, RecvError, Select, SendError, SendTimeoutError, Sender, TryRecvError};
use gosync::select;
use loom::sync::atomic::{AtomicBool, Ordering::SeqCst};
use loom::sync::Arc;
use loom::thread;
use std::task::{Poll, Waker};
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

/// Nothing left in the channel: no value buffered, given back or offered by a sender.
fn assert_drained(rx: &Receiver<String>) {
    assert_eq!(rx.len(), 0);
    assert!(matches!(rx.try_recv(), Err(TryRecvError::Empty | TryRecvError::Closed)));
}

// ---------------------------------------------------------------------------------------
// 4. Two cases becoming ready at once.
// ---------------------------------------------------------------------------------------

/// How a model runs a blocking select receiving from `a` or `b`: returns the index of the
/// chosen case and what it received.
type SelectRecv = fn(&Receiver<String>, &Receiver<String>) -> (usize, Result<String, RecvError>);

fn select_macro(a: &Receiver<String>, b: &Receiver<String>) -> (usize, Result<String, RecvError>) {
    select! {
        recv(a) -> msg => (0, msg),
        recv(b) -> msg => (1, msg),
    }
}

fn select_builder(a: &Receiver<String>, b: &Receiver<String>) -> (usize, Result<String, RecvError>) {
    let mut sel = Select::new();
    assert_eq!((sel.recv(a), sel.recv(b)), (0, 1));
    let op = sel.select();
    let index = op.index();
    (index, op.recv([a, b][index]))
}

fn select_async_builder(a: &Receiver<String>, b: &Receiver<String>) -> (usize, Result<String, RecvError>) {
    let mut sel = Select::new();
    assert_eq!((sel.recv(a), sel.recv(b)), (0, 1));
    let op = loom::future::block_on(sel.select_async());
    let index = op.index();
    (index, op.recv([a, b][index]))
}

/// Two sender threads, one on each of two channels, and a select receiving from both. The
/// select completes exactly one case, with that channel's value; the other value stays in
/// its channel (or with its blocked sender, rendezvous), where a plain receive then gets it.
/// A select that consumed both would leave that receive blocked forever (deadlock); one that
/// lost its value fails the first assertion.
fn both_become_ready(make: fn() -> Pair, run: SelectRecv) {
    let seen = Outcomes::new();
    let s = seen.clone();
    loom::model(move || {
        let (tx_a, rx_a) = make();
        let (tx_b, rx_b) = make();
        // The senders keep their handles until joined, so no channel closes meanwhile.
        let senders = [(tx_a, "a"), (tx_b, "b")].map(|(tx, value)| {
            thread::spawn(move || {
                let sent = tx.send(String::from(value));
                (sent, tx)
            })
        });

        let (index, got) = run(&rx_a, &rx_b);
        let values = ["a", "b"];
        assert_eq!(got.as_deref(), Ok(values[index]), "the chosen case got its own value");
        let rxs = [&rx_a, &rx_b];
        let other = 1 - index;
        assert_eq!(rxs[other].recv().as_deref(), Ok(values[other]), "the other value stayed");
        for sender in senders {
            let (sent, _tx) = sender.join().unwrap();
            assert_eq!(sent, Ok(()));
        }
        rxs.into_iter().for_each(assert_drained);
        s.saw_if(index == 0, "case a chosen", "case b chosen");
    });
    seen.assert_all(&["case a chosen", "case b chosen"]);
}

#[test]
fn both_become_ready_macro_bounded() {
    both_become_ready(bounded1, select_macro);
}

#[test]
fn both_become_ready_macro_unbounded() {
    both_become_ready(unbounded, select_macro);
}

#[test]
fn both_become_ready_macro_rendezvous() {
    both_become_ready(rendezvous, select_macro);
}

#[test]
fn both_become_ready_builder_bounded() {
    both_become_ready(bounded1, select_builder);
}

#[test]
fn both_become_ready_builder_rendezvous() {
    both_become_ready(rendezvous, select_builder);
}

#[test]
fn both_become_ready_async_bounded() {
    both_become_ready(bounded1, select_async_builder);
}

#[test]
fn both_become_ready_async_rendezvous() {
    both_become_ready(rendezvous, select_async_builder);
}

/// A select blocked on two empty channels, one of which is closed: the close alone must
/// wake it, with that case's `RecvError` (a closed channel is ready).
fn close_wakes_a_blocked_select(make: fn() -> Pair) {
    loom::model(move || {
        let (tx_a, rx_a) = make();
        let (_tx_b, rx_b) = make();
        let closer = thread::spawn(move || assert!(tx_a.close()));
        assert_eq!(select_macro(&rx_a, &rx_b), (0, Err(RecvError)));
        closer.join().unwrap();
    });
}

#[test]
fn close_wakes_a_blocked_select_bounded() {
    close_wakes_a_blocked_select(bounded1);
}

#[test]
fn close_wakes_a_blocked_select_unbounded() {
    close_wakes_a_blocked_select(unbounded);
}

#[test]
fn close_wakes_a_blocked_select_rendezvous() {
    close_wakes_a_blocked_select(rendezvous);
}

/// A select receiving from two rendezvous channels while one is closed and the other gets a
/// send. A closed channel is ready, so either case may win: the closed one with
/// `RecvError`, or the other with its value. The value not taken stays with its sender, and
/// a plain receive gets it. A select the close did not wake (or that lost the value) never
/// returns: deadlock.
#[test]
fn close_and_send_race_to_wake_a_select() {
    let seen = Outcomes::new();
    let s = seen.clone();
    loom::model(move || {
        let (tx_a, rx_a) = rendezvous();
        let (tx_b, rx_b) = rendezvous();
        let closer = thread::spawn(move || assert!(tx_a.close()));
        let sender = thread::spawn(move || {
            let sent = tx_b.send(String::from("b"));
            (sent, tx_b)
        });

        let (index, got) = select_macro(&rx_a, &rx_b);
        match index {
            0 => {
                assert_eq!(got, Err(RecvError), "the closed channel");
                assert_eq!(rx_b.recv().as_deref(), Ok("b"), "the value stayed with its sender");
            }
            _ => assert_eq!(got.as_deref(), Ok("b")),
        }
        closer.join().unwrap();
        let (sent, _tx_b) = sender.join().unwrap();
        assert_eq!(sent, Ok(()));
        assert_eq!(rx_a.recv(), Err(RecvError));
        assert_drained(&rx_b);
        s.saw_if(index == 0, "woken by the close", "woken by the send");
    });
    seen.assert_all(&["woken by the close", "woken by the send"]);
}

// ---------------------------------------------------------------------------------------
// 5. Selects meeting on rendezvous channels.
// ---------------------------------------------------------------------------------------

/// A `select!` with a send case and a timeout meets a `select!` with a receive case and a
/// timeout on one rendezvous channel. Either side may be the one waiting while the other
/// arrives, and either may give up at that moment. Exactly one hand-off or none: the value
/// is received exactly when the sending select reports it sent.
#[test]
fn send_select_meets_recv_select_with_timeouts() {
    let seen = Outcomes::new();
    let s = seen.clone();
    loom::model(move || {
        let (tx, rx) = rendezvous();
        let sender = thread::spawn(move || {
            let sent = select! {
                send(tx, String::from("v")) -> res => {
                    res.unwrap();
                    true
                },
                default(LONG) => false,
            };
            (sent, tx)
        });

        let got = select! {
            recv(rx) -> msg => Some(msg.unwrap()),
            default(LONG) => None,
        };
        let (sent, _tx) = sender.join().unwrap();
        assert_eq!(got.is_some(), sent, "received exactly when sent");
        if let Some(value) = got {
            assert_eq!(value, "v");
        }
        assert_drained(&rx);
        s.saw_if(sent, "handed off", "both gave up");
    });
    seen.assert_all(&["handed off", "both gave up"]);
}

/// Two blocking selects, each with a send and a receive case, crossed over two rendezvous
/// channels: one sends on C or receives on D, the other receives on C or sends on D. Each
/// finds the other registered, so each may complete the other's case while being completed
/// itself. Exactly one hand-off happens: on C or on D, reported by both sides alike, and the
/// value not chosen stays with its select. (Both blocked forever is a deadlock.)
///
/// The dangerous interleaving (both register their first case, then both find the other's
/// second case ready) takes three preemptions, so this model always explores at least four;
/// it stays under a thousand iterations.
#[test]
fn crossed_selects_complete_exactly_one_hand_off() {
    #[derive(Debug, PartialEq)]
    enum Done {
        SentC,
        GotC(String),
        SentD,
        GotD(String),
    }
    let seen = Outcomes::new();
    let s = seen.clone();
    model_with_preemptions(4, move || {
        let (c_tx, c_rx) = rendezvous();
        let (d_tx, d_rx) = rendezvous();
        let other = thread::spawn(move || {
            let done = select! {
                send(c_tx, String::from("c")) -> res => {
                    res.unwrap();
                    Done::SentC
                },
                recv(d_rx) -> msg => Done::GotD(msg.unwrap()),
            };
            (done, c_tx, d_rx)
        });

        // Each select's first case is on a different channel, so that both can register it
        // and then find the other's second case ready.
        let done = select! {
            send(d_tx, String::from("d")) -> res => {
                res.unwrap();
                Done::SentD
            },
            recv(c_rx) -> msg => Done::GotC(msg.unwrap()),
        };
        let (other_done, _c_tx, d_rx) = other.join().unwrap();
        match done {
            Done::GotC(value) => {
                assert_eq!(value, "c");
                assert_eq!(other_done, Done::SentC, "C's value came from the other select");
                s.saw("hand-off on C");
            }
            Done::SentD => {
                assert_eq!(other_done, Done::GotD(String::from("d")), "D's value reached it");
                s.saw("hand-off on D");
            }
            _ => unreachable!(),
        }
        assert_drained(&c_rx);
        assert_drained(&d_rx);
    });
    seen.assert_all(&["hand-off on C", "hand-off on D"]);
}

/// `Select::select_timeout` on a rendezvous receive racing `send_timeout`: both may time out
/// as the other arrives. The value is received exactly when the send reports `Ok`, and
/// comes back to the sender otherwise.
#[test]
fn select_timeout_races_send_timeout() {
    let seen = Outcomes::new();
    let s = seen.clone();
    loom::model(move || {
        let (tx, rx) = rendezvous();
        let sender = thread::spawn(move || {
            let sent = tx.send_timeout(String::from("v"), LONG);
            (sent, tx)
        });

        let mut sel = Select::new();
        sel.recv(&rx);
        let got = sel.select_timeout(LONG).ok().map(|op| op.recv(&rx).unwrap());
        let (sent, _tx) = sender.join().unwrap();
        match got {
            Some(ref value) => {
                assert_eq!(value, "v");
                assert_eq!(sent, Ok(()));
            }
            None => assert_eq!(sent, Err(SendTimeoutError::Timeout(String::from("v")))),
        }
        assert_drained(&rx);
        s.saw_if(got.is_some(), "handed off", "both timed out");
    });
    seen.assert_all(&["handed off", "both timed out"]);
}

// ---------------------------------------------------------------------------------------
// 7. select_async dropped while a channel completes its case.
// ---------------------------------------------------------------------------------------

/// A `select_async` on a rendezvous receive, polled once (registered) and dropped, racing a
/// blocking send. The value is never lost: the poll got it, or the drop gives back a value
/// handed to it, or the sender still holds it; a later receive gets it exactly once.
#[test]
fn select_async_recv_dropped_racing_send() {
    let seen = Outcomes::new();
    let s = seen.clone();
    loom::model(move || {
        let (tx, rx) = rendezvous();
        // The sender keeps its handle: a close would wake a receiver that lost its wake-up.
        let sender = thread::spawn(move || (tx.send(String::from("v")), tx));

        let (count, waker) = counting_waker();
        let mut sel = Select::new();
        sel.recv(&rx);
        let got = match poll_once_with_then_drop(sel.select_async(), &waker) {
            Poll::Ready(op) => Some(op.recv(&rx)),
            Poll::Pending => None,
        };
        let taken_by_poll = got.is_some();
        let given_back = rx.len() == 1;
        let got = got.unwrap_or_else(|| rx.recv());
        assert_eq!(got.as_deref(), Ok("v"), "received exactly once");
        let (sent, tx) = sender.join().unwrap();
        assert_eq!(sent, Ok(()));
        drop(tx);
        assert_eq!(rx.recv(), Err(RecvError), "nothing left, nothing doubled");
        s.saw(match (taken_by_poll, count.wakes() > 0, given_back) {
            (true, _, _) => "taken by the poll",
            (false, true, true) => "handed to the dropped select, given back",
            (false, false, false) => "sent after the drop",
            other => panic!("unexpected outcome {other:?}"),
        });
    });
    seen.assert_all(&[
        "taken by the poll",
        "handed to the dropped select, given back",
        "sent after the drop",
    ]);
}

/// A `select_async` on a rendezvous send, polled once and dropped, racing a blocking
/// receive. A receiver may take the value at the moment of the drop: then the next select on
/// the same `Select` reports that send at once; otherwise the value is still in the case,
/// and that select sends it. Either way the receiver gets it exactly once.
#[test]
fn select_async_send_dropped_racing_recv() {
    let seen = Outcomes::new();
    let s = seen.clone();
    loom::model(move || {
        let (tx, rx) = rendezvous();
        let received = Arc::new(AtomicBool::new(false));
        let receiver = {
            let received = received.clone();
            thread::spawn(move || {
                let got = rx.recv();
                received.store(true, SeqCst);
                (got, rx)
            })
        };

        let mut sel = Select::new();
        sel.send(&tx, String::from("v"));
        let polled = poll_once_with_then_drop(sel.select_async(), Waker::noop());
        let outcome = match polled {
            Poll::Ready(op) => {
                assert_eq!(op.send(&tx), Ok(()));
                "sent by the poll"
            }
            Poll::Pending => {
                let received_at_drop = received.load(SeqCst);
                let op = sel.select();
                assert_eq!(op.index(), 0);
                assert_eq!(op.send(&tx), Ok(()), "the send is reported exactly once");
                if received_at_drop {
                    "received as the select was dropped"
                } else {
                    "sent by the next select"
                }
            }
        };
        let (got, rx) = receiver.join().unwrap();
        assert_eq!(got.as_deref(), Ok("v"));
        drop(sel);
        drop(tx);
        assert_eq!(rx.recv(), Err(RecvError), "nothing left, nothing doubled");
        s.saw(outcome);
    });
    seen.assert_all(&["sent by the poll", "received as the select was dropped", "sent by the next select"]);
}

/// A `select_async` receive polled once and dropped, a second receiver blocked in `recv`,
/// and one send. A wake-up (buffered) or a value (rendezvous) that went to the dropped
/// select passes on to the blocked receiver; a value the poll itself got is sent on. The
/// blocked receiver gets the value exactly once.
fn select_async_dropped_passes_on(make: fn() -> Pair) {
    let seen = Outcomes::new();
    let s = seen.clone();
    loom::model(move || {
        let (tx, rx) = make();
        let (count, waker) = counting_waker();
        let dropper = {
            let (tx, rx) = (tx.clone(), rx.clone());
            thread::spawn(move || {
                let mut sel = Select::new();
                sel.recv(&rx);
                let got = match poll_once_with_then_drop(sel.select_async(), &waker) {
                    Poll::Ready(op) => op.recv(&rx).unwrap(),
                    Poll::Pending => return false,
                };
                // Got it in the one poll: send it on, so that the count stays exact.
                tx.send(got).unwrap();
                true
            })
        };
        let receiver = {
            let rx = rx.clone();
            thread::spawn(move || rx.recv())
        };

        tx.send(String::from("v")).unwrap();
        let taken_by_poll = dropper.join().unwrap();
        assert_eq!(receiver.join().unwrap().as_deref(), Ok("v"));
        drop(tx);
        assert_eq!(rx.recv(), Err(RecvError), "nothing left, nothing doubled");
        // Only the send wakes the select, before it returns: the count is final.
        s.saw(match (taken_by_poll, count.wakes() > 0) {
            (true, _) => "taken by the poll, sent on",
            (false, true) => "woken, passed on by the drop",
            (false, false) => "not chosen",
        });
    });
    seen.assert_all(&["taken by the poll, sent on", "woken, passed on by the drop", "not chosen"]);
}

#[test]
fn select_async_dropped_passes_on_bounded() {
    select_async_dropped_passes_on(bounded1);
}

#[test]
fn select_async_dropped_passes_on_unbounded() {
    select_async_dropped_passes_on(unbounded);
}

#[test]
fn select_async_dropped_passes_on_rendezvous() {
    select_async_dropped_passes_on(rendezvous);
}

/// A blocking `select!` send on a rendezvous channel meets a receiver that gives up
/// (`recv_timeout`); if it gave up, the channel is closed, which must end the select with
/// its value back. So the value is received exactly when the select reports it sent.
#[test]
fn send_select_meets_recv_timeout_then_close() {
    let seen = Outcomes::new();
    let s = seen.clone();
    loom::model(move || {
        let (tx, rx) = rendezvous();
        let sender = {
            let tx = tx.clone();
            thread::spawn(move || {
                select! {
                    send(tx, String::from("v")) -> res => res,
                }
            })
        };

        let got = rx.recv_timeout(LONG);
        if got.is_err() {
            tx.close();
        }
        let sent = sender.join().unwrap();
        match got {
            Ok(value) => {
                assert_eq!(value, "v");
                assert_eq!(sent, Ok(()));
            }
            Err(_) => assert_eq!(sent, Err(SendError(String::from("v")))),
        }
        s.saw_if(sent.is_ok(), "handed off", "receiver gave up, close returned the value");
    });
    seen.assert_all(&["handed off", "receiver gave up, close returned the value"]);
}
