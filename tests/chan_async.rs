//! Cancel safety of every channel future, polled by hand with counting wakers (so a wake-up
//! that is not passed on shows as a waker that was never called), and in `futures::select!`
//! loops that drop the losing futures. No runtime: these run under Miri too (reduced
//! counts); the tokio tests are in `chan_tokio.rs`.
mod common;

use common::{block_on, let_others_block, poll_once, ready, scaled, spawn_timed, CountingWaker, Watchdog};
use futures::stream::StreamExt;
use gosync::chan::{self, Receiver, RecvError, Select, Sender, TryRecvError};
use std::pin::Pin;
use std::sync::{Arc, Barrier};

#[derive(Clone, Copy, Debug)]
enum Flavour {
    Zero,
    Bounded(usize),
    Unbounded,
}

const ALL: [Flavour; 4] = [Flavour::Zero, Flavour::Bounded(1), Flavour::Bounded(3), Flavour::Unbounded];

fn make<T>(flavour: Flavour) -> (Sender<T>, Receiver<T>) {
    match flavour {
        Flavour::Zero => chan::bounded(0),
        Flavour::Bounded(cap) => chan::bounded(cap),
        Flavour::Unbounded => chan::unbounded(),
    }
}

/// Sends `value` with nobody blocked in a send: into the buffer, or (rendezvous) straight
/// into the first waiting receiver.
fn offer(tx: &Sender<u32>, value: u32) {
    tx.try_send(value).expect("room, or a receiver waiting");
}

// ---------------------------------------------------------------------------------------
// RecvFuture
// ---------------------------------------------------------------------------------------

/// Two receive futures wait; a value arrives and wakes (or, rendezvous, is handed to) the
/// first; the first is dropped without being polled again. The second must be woken and
/// get the value.
#[test]
fn recv_future_dropped_after_its_wake_up_passes_it_on() {
    let _watchdog = Watchdog::start("recv_future_dropped_after_its_wake_up_passes_it_on");
    for flavour in ALL {
        let (tx, rx) = make::<u32>(flavour);
        let (w1, w2) = (CountingWaker::new(), CountingWaker::new());
        let mut f1 = Box::pin(rx.recv_async());
        let mut f2 = Box::pin(rx.recv_async());
        assert!(w1.poll(&mut f1).is_pending());
        assert!(w2.poll(&mut f2).is_pending());
        offer(&tx, 7);
        assert!(w1.woken(), "{flavour:?}: the first waiter is woken");
        assert!(!w2.woken(), "{flavour:?}: one value, one wake-up");
        drop(f1);
        assert!(w2.woken(), "{flavour:?}: the dropped future passed its wake-up on");
        assert_eq!(ready(w2.poll(&mut f2), "second receiver"), Ok(7), "{flavour:?}");
        assert!(rx.is_empty());
    }
}

/// On a rendezvous channel the value moves into the waiting future at the send: a future
/// dropped then gives it back, to the next receiver (here a blocked thread) or the channel.
#[test]
fn rendezvous_recv_future_dropped_with_a_value_gives_it_back() {
    let _watchdog = Watchdog::start("rendezvous_recv_future_dropped_with_a_value_gives_it_back");
    let (tx, rx) = chan::bounded::<u32>(0);
    let w = CountingWaker::new();
    let mut fut = Box::pin(rx.recv_async());
    assert!(w.poll(&mut fut).is_pending());
    offer(&tx, 1); // handed to the future
    assert!(w.woken());
    drop(fut);
    assert_eq!(rx.len(), 1, "given back to the channel");
    assert_eq!(rx.try_recv(), Ok(1));

    // With a blocked thread behind it: the thread gets the value.
    let mut fut = Box::pin(rx.recv_async());
    assert!(poll_once(&mut fut).is_pending());
    let thread = {
        let rx = rx.clone();
        spawn_timed(move || rx.recv())
    };
    let_others_block();
    offer(&tx, 2);
    drop(fut);
    assert_eq!(thread.join("receiver behind a dropped future"), Ok(2));
    assert!(rx.is_empty());
}

#[test]
fn recv_future_dropped_before_a_value_takes_nothing() {
    let _watchdog = Watchdog::start("recv_future_dropped_before_a_value_takes_nothing");
    for flavour in ALL {
        let (tx, rx) = make::<u32>(flavour);
        drop(rx.recv_async()); // never polled
        let mut fut = Box::pin(rx.recv_async());
        assert!(poll_once(&mut fut).is_pending());
        drop(fut); // registered, nothing arrived
        let w = CountingWaker::new();
        let mut next = Box::pin(rx.recv_async());
        assert!(w.poll(&mut next).is_pending());
        offer(&tx, 3);
        assert!(w.woken(), "{flavour:?}: the wake-up reaches the live future");
        assert_eq!(ready(w.poll(&mut next), "live receiver"), Ok(3));
    }
}

// ---------------------------------------------------------------------------------------
// SendFuture
// ---------------------------------------------------------------------------------------

/// On a full buffered channel, a send future woken by room and then dropped has not sent,
/// and its wake-up goes to the next waiting send future.
#[test]
fn send_future_dropped_before_ready_never_delivers() {
    let _watchdog = Watchdog::start("send_future_dropped_before_ready_never_delivers");
    for cap in [1, 3] {
        let (tx, rx) = chan::bounded::<u32>(cap);
        for i in 0..cap as u32 {
            tx.send(100 + i).unwrap();
        }
        let (w1, w2) = (CountingWaker::new(), CountingWaker::new());
        let mut s1 = Box::pin(tx.send_async(1));
        let mut s2 = Box::pin(tx.send_async(2));
        assert!(w1.poll(&mut s1).is_pending());
        assert!(w2.poll(&mut s2).is_pending());
        assert_eq!(rx.try_recv(), Ok(100));
        assert!(w1.woken() && !w2.woken(), "cap {cap}: room wakes the first sender");
        drop(s1);
        assert!(w2.woken(), "cap {cap}: the dropped sender passed its wake-up on");
        assert_eq!(ready(w2.poll(&mut s2), "second sender"), Ok(()));
        let rest: Vec<u32> = rx.try_iter().collect();
        assert!(!rest.contains(&1), "cap {cap}: the dropped future's value was delivered");
        assert_eq!(rest.last(), Some(&2));
    }
    // Unbounded (and any buffered channel): a send future never polled has not sent.
    let (tx, rx) = chan::unbounded::<u32>();
    drop(tx.send_async(1));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
}

/// `into_value` on a rendezvous send future raced against a receiver on another thread:
/// the value is either received or returned, never both, never neither.
#[test]
fn rendezvous_into_value_races_a_receiver_exactly_once() {
    let _watchdog = Watchdog::start("rendezvous_into_value_races_a_receiver_exactly_once");
    let rounds = scaled(1_000, 20) as u32;
    let (tx, rx) = chan::bounded::<u32>(0);
    let barrier = Arc::new(Barrier::new(2));
    let receiver = {
        let barrier = barrier.clone();
        spawn_timed(move || {
            let mut got = Vec::new();
            for round in 0..rounds {
                barrier.wait();
                let m = if round % 2 == 0 { rx.try_recv().ok() } else { block_on(next_or_empty(&rx)) };
                got.push(m);
                barrier.wait();
            }
            got
        })
    };
    let mut returned = Vec::new();
    for round in 0..rounds {
        let mut fut = tx.send_async(round);
        assert!(poll_once(&mut Pin::new(&mut fut)).is_pending());
        barrier.wait();
        returned.push(fut.into_value());
        barrier.wait();
    }
    let received = receiver.join("receiver");
    let mut both_ways = [0; 2];
    for round in 0..rounds {
        let (r, b) = (received[round as usize], returned[round as usize]);
        match (r, b) {
            (Some(v), None) => {
                assert_eq!(v, round);
                both_ways[0] += 1;
            }
            (None, Some(v)) => {
                assert_eq!(v, round);
                both_ways[1] += 1;
            }
            _ => panic!("round {round}: received {r:?} and returned {b:?}"),
        }
    }
    println!("received {}, returned {} (not asserted: a race)", both_ways[0], both_ways[1]);
}

/// A receive future polled once, then a try: whatever is there now, without waiting.
async fn next_or_empty(rx: &Receiver<u32>) -> Option<u32> {
    let mut fut = rx.recv_async();
    match poll_once(&mut Pin::new(&mut fut)) {
        std::task::Poll::Ready(r) => r.ok(),
        std::task::Poll::Pending => {
            drop(fut); // gives back a value handed to it meanwhile
            rx.try_recv().ok()
        }
    }
}

#[test]
fn rendezvous_send_future_completes_only_once_received() {
    let _watchdog = Watchdog::start("rendezvous_send_future_completes_only_once_received");
    let (tx, rx) = chan::bounded::<u32>(0);
    let w = CountingWaker::new();
    let mut fut = Box::pin(tx.send_async(5));
    assert!(w.poll(&mut fut).is_pending());
    assert!(!w.woken());
    assert_eq!(rx.try_recv(), Ok(5));
    assert!(w.woken());
    assert_eq!(ready(w.poll(&mut fut), "received"), Ok(()));
    assert_eq!(Pin::into_inner(fut).into_value(), None, "sent: nothing to give back");
}

// ---------------------------------------------------------------------------------------
// SelectFuture
// ---------------------------------------------------------------------------------------

#[test]
fn select_future_dropped_before_its_first_poll_does_nothing() {
    let _watchdog = Watchdog::start("select_future_dropped_before_its_first_poll_does_nothing");
    for flavour in ALL {
        let (tx, rx) = make::<u32>(flavour);
        let (tx2, rx2) = make::<u32>(flavour);
        let mut sel = Select::new();
        sel.recv(&rx);
        sel.send(&tx2, 9);
        drop(sel.select_async());
        drop(sel);
        assert_eq!(rx2.try_recv().ok(), None, "{flavour:?}: the send case sent nothing");
        let w = CountingWaker::new();
        let mut f = Box::pin(rx.recv_async());
        assert!(w.poll(&mut f).is_pending());
        offer(&tx, 1);
        assert_eq!(ready(w.poll(&mut f), "receiver"), Ok(1), "{flavour:?}");
    }
}

#[test]
fn select_future_dropped_while_registered_leaves_nothing_behind() {
    let _watchdog = Watchdog::start("select_future_dropped_while_registered_leaves_nothing_behind");
    for flavour in ALL {
        let (tx, rx) = make::<u32>(flavour);
        let mut sel = Select::new();
        sel.recv(&rx);
        let ws = CountingWaker::new();
        let mut fut = Box::pin(sel.select_async());
        assert!(ws.poll(&mut fut).is_pending());
        let w = CountingWaker::new();
        let mut f = Box::pin(rx.recv_async());
        assert!(w.poll(&mut f).is_pending());
        drop(fut);
        offer(&tx, 2);
        assert!(!ws.woken(), "{flavour:?}: a withdrawn select is not woken");
        assert!(w.woken(), "{flavour:?}: the wake-up goes to the live receiver");
        assert_eq!(ready(w.poll(&mut f), "receiver"), Ok(2));
    }
}

/// The select future is the first waiter; a value wakes it (rendezvous: is handed to it);
/// it is dropped. The next receiver is woken and gets the value.
#[test]
fn select_future_dropped_after_its_wake_up_passes_it_on() {
    let _watchdog = Watchdog::start("select_future_dropped_after_its_wake_up_passes_it_on");
    for flavour in ALL {
        let (tx, rx) = make::<u32>(flavour);
        let (_other_tx, other_rx) = make::<u32>(flavour);
        let mut sel = Select::new();
        sel.recv(&other_rx);
        sel.recv(&rx);
        let ws = CountingWaker::new();
        let mut fut = Box::pin(sel.select_async());
        assert!(ws.poll(&mut fut).is_pending());
        let w = CountingWaker::new();
        let mut f = Box::pin(rx.recv_async());
        assert!(w.poll(&mut f).is_pending());
        offer(&tx, 3);
        assert!(ws.woken() && !w.woken(), "{flavour:?}: the select was first in line");
        drop(fut);
        assert!(w.woken(), "{flavour:?}: the dropped select passed its wake-up on");
        assert_eq!(ready(w.poll(&mut f), "receiver"), Ok(3), "{flavour:?}");
    }
}

/// A rendezvous send case taken by a receiver just before the select future is dropped:
/// the send happened, and the next select on the same `Select` reports it at once.
#[test]
fn select_future_dropped_after_its_rendezvous_send_was_taken_reports_it_next() {
    let _watchdog =
        Watchdog::start("select_future_dropped_after_its_rendezvous_send_was_taken_reports_it_next");
    let (tx, rx) = chan::bounded::<u32>(0);
    let (_tx2, rx2) = chan::bounded::<u32>(0);
    let mut sel = Select::new();
    sel.recv(&rx2);
    let send_case = sel.send(&tx, 4);
    let mut fut = Box::pin(sel.select_async());
    assert!(poll_once(&mut fut).is_pending());
    assert_eq!(rx.try_recv(), Ok(4));
    drop(fut);
    let op = sel.try_select().expect("the completed send is reported");
    assert_eq!(op.index(), send_case);
    assert_eq!(op.send(&tx), Ok(()));
    // Spent: it does not send again.
    assert!(sel.try_select().is_err());
}

/// A select's send case on a full bounded channel, woken by room and dropped: it did not
/// send, and the room goes to the next waiting sender.
#[test]
fn select_future_send_case_dropped_after_wake_up_did_not_send() {
    let _watchdog = Watchdog::start("select_future_send_case_dropped_after_wake_up_did_not_send");
    let (tx, rx) = chan::bounded::<u32>(1);
    tx.send(0).unwrap();
    let mut sel = Select::new();
    sel.send(&tx, 1);
    let ws = CountingWaker::new();
    let mut fut = Box::pin(sel.select_async());
    assert!(ws.poll(&mut fut).is_pending());
    let w = CountingWaker::new();
    let mut s2 = Box::pin(tx.send_async(2));
    assert!(w.poll(&mut s2).is_pending());
    assert_eq!(rx.try_recv(), Ok(0));
    assert!(ws.woken() && !w.woken());
    drop(fut);
    assert!(w.woken(), "the dropped select passed the room on");
    assert_eq!(ready(w.poll(&mut s2), "second sender"), Ok(()));
    assert_eq!(rx.try_iter().collect::<Vec<_>>(), [2]);
}

#[test]
fn select_async_completes_with_a_value_from_another_thread() {
    let _watchdog = Watchdog::start("select_async_completes_with_a_value_from_another_thread");
    for flavour in ALL {
        let (tx, rx) = make::<u32>(flavour);
        let (_tx2, rx2) = make::<u32>(flavour);
        let sender = spawn_timed(move || tx.send(8).unwrap());
        let mut sel = Select::new();
        sel.recv(&rx2);
        let i = sel.recv(&rx);
        let op = block_on(sel.select_async());
        assert_eq!(op.index(), i);
        assert_eq!(op.recv(&rx), Ok(8), "{flavour:?}");
        sender.join("sender");
    }
}

// ---------------------------------------------------------------------------------------
// Receiver as a Stream
// ---------------------------------------------------------------------------------------

#[test]
fn stream_dropped_while_registered_passes_wake_up_and_value_on() {
    let _watchdog = Watchdog::start("stream_dropped_while_registered_passes_wake_up_and_value_on");
    for flavour in ALL {
        let (tx, rx) = make::<u32>(flavour);
        let mut stream = rx.clone();
        let ws = CountingWaker::new();
        let mut cx = std::task::Context::from_waker(ws.waker());
        assert!(stream.poll_next_unpin(&mut cx).is_pending());
        let w = CountingWaker::new();
        let mut f = Box::pin(rx.recv_async());
        assert!(w.poll(&mut f).is_pending());
        offer(&tx, 6);
        assert!(ws.woken() && !w.woken(), "{flavour:?}: the stream was first in line");
        drop(stream);
        assert!(w.woken(), "{flavour:?}: the dropped stream passed its wake-up on");
        assert_eq!(ready(w.poll(&mut f), "receiver"), Ok(6), "{flavour:?}");
    }
}

#[test]
fn stream_polled_again_after_a_wake_up_gets_the_value() {
    let _watchdog = Watchdog::start("stream_polled_again_after_a_wake_up_gets_the_value");
    for flavour in ALL {
        let (tx, mut rx) = make::<u32>(flavour);
        let ws = CountingWaker::new();
        let mut cx = std::task::Context::from_waker(ws.waker());
        assert!(rx.poll_next_unpin(&mut cx).is_pending());
        offer(&tx, 1);
        assert!(ws.woken());
        assert_eq!(rx.poll_next_unpin(&mut cx), std::task::Poll::Ready(Some(1)), "{flavour:?}");
        drop(tx);
        assert_eq!(rx.poll_next_unpin(&mut cx), std::task::Poll::Ready(None));
    }
}

// ---------------------------------------------------------------------------------------
// futures::select! loops: every iteration drops the losing futures
// ---------------------------------------------------------------------------------------

/// Two channels read in a `futures::select!` loop while producers fill them: every value
/// arrives exactly once and in order, although each iteration drops a pending receive.
#[test]
fn futures_select_loop_over_two_receivers_loses_nothing() {
    let _watchdog = Watchdog::start("futures_select_loop_over_two_receivers_loses_nothing");
    let n = scaled(1_000, 15) as u32;
    for flavour in ALL {
        let (tx_a, rx_a) = make::<u32>(flavour);
        let (tx_b, rx_b) = make::<u32>(flavour);
        let pa = spawn_timed(move || (0..n).for_each(|i| tx_a.send(i).unwrap()));
        let pb = spawn_timed(move || (0..n).for_each(|i| tx_b.send(i).unwrap()));
        let (got_a, got_b) = block_on(async {
            let (mut got_a, mut got_b) = (Vec::new(), Vec::new());
            let (mut a_open, mut b_open) = (true, true);
            while a_open || b_open {
                futures::select! {
                    m = rx_a.recv_async() => match m {
                        Ok(v) => got_a.push(v),
                        Err(RecvError) => a_open = false,
                    },
                    m = rx_b.recv_async() => match m {
                        Ok(v) => got_b.push(v),
                        Err(RecvError) => b_open = false,
                    },
                }
                // A closed side stays ready (Err): read only the other from then on.
                if !a_open {
                    got_b.extend(futures::StreamExt::collect::<Vec<_>>(rx_b.clone()).await);
                    b_open = false;
                } else if !b_open {
                    got_a.extend(futures::StreamExt::collect::<Vec<_>>(rx_a.clone()).await);
                    a_open = false;
                }
            }
            (got_a, got_b)
        });
        pa.join("producer a");
        pb.join("producer b");
        assert_eq!(got_a, (0..n).collect::<Vec<_>>(), "{flavour:?}: channel a");
        assert_eq!(got_b, (0..n).collect::<Vec<_>>(), "{flavour:?}: channel b");
    }
}

/// A send future raced against a receive in a `futures::select!` loop on buffered
/// channels: a send future dropped before Ready has not sent, so re-sending the value is
/// exactly-once. (On a rendezvous channel a dropped send future may have been received:
/// there `into_value` tells, which `select!` cannot call.)
#[test]
fn futures_select_loop_with_send_futures_is_exactly_once_on_buffered_channels() {
    let _watchdog =
        Watchdog::start("futures_select_loop_with_send_futures_is_exactly_once_on_buffered_channels");
    let n = scaled(1_000, 15) as u32;
    for flavour in [Flavour::Bounded(1), Flavour::Bounded(3)] {
        let (tx, rx) = make::<u32>(flavour);
        let (ack_tx, ack_rx) = make::<u32>(Flavour::Unbounded);
        // The consumer acknowledges every tenth value, so the loop's receive side is
        // sometimes ready while its send side waits for room.
        let consumer = spawn_timed(move || {
            let mut got = Vec::new();
            for v in &rx {
                if v % 10 == 0 {
                    let _ = ack_tx.send(v);
                }
                got.push(v);
            }
            got
        });
        let acks = block_on(async {
            let mut acks = Vec::new();
            let mut next = 0;
            while next < n {
                futures::select! {
                    r = tx.send_async(next) => { r.unwrap(); next += 1; },
                    a = ack_rx.recv_async() => acks.push(a.unwrap()),
                }
            }
            drop(tx);
            acks.extend(ack_rx.iter());
            acks
        });
        assert_eq!(consumer.join("consumer"), (0..n).collect::<Vec<_>>(), "{flavour:?}");
        assert_eq!(acks, (0..n).step_by(10).collect::<Vec<_>>());
    }
}

// ---------------------------------------------------------------------------------------
// A Receiver polled as a Stream, then used directly
// ---------------------------------------------------------------------------------------

/// The stream's wait is left pending (its task never polls again) and the same `Receiver`
/// then blocks in `recv` on another thread. A value sent now must reach that `recv`: not be
/// handed to (rendezvous) or announced to (buffered) the stream's forgotten registration.
#[test]
fn a_direct_recv_after_a_pending_stream_poll_gets_the_value() {
    let _watchdog = Watchdog::start("a_direct_recv_after_a_pending_stream_poll_gets_the_value");
    for flavour in ALL {
        let (tx, rx) = make::<u32>(flavour);
        let mut rx = rx;
        let waker = CountingWaker::new();
        let mut cx = std::task::Context::from_waker(waker.waker());
        let polled = futures::Stream::poll_next(Pin::new(&mut rx), &mut cx);
        assert!(polled.is_pending(), "{flavour:?}: nothing sent yet");
        let rx = Arc::new(rx);
        let receiver = {
            let rx = rx.clone();
            spawn_timed(move || rx.recv())
        };
        let_others_block();
        tx.send(5).unwrap();
        assert_eq!(receiver.join("recv after a pending stream poll"), Ok(5), "{flavour:?}");
    }
}

/// The same with `try_recv` on the same thread: a rendezvous value handed to the stream's
/// wait is received by the next direct receive.
#[test]
fn a_value_handed_to_a_pending_stream_wait_is_not_stranded() {
    let _watchdog = Watchdog::start("a_value_handed_to_a_pending_stream_wait_is_not_stranded");
    let (tx, mut rx) = chan::bounded::<u32>(0);
    let waker = CountingWaker::new();
    let mut cx = std::task::Context::from_waker(waker.waker());
    assert!(futures::Stream::poll_next(Pin::new(&mut rx), &mut cx).is_pending());
    offer(&tx, 9); // a receiver (the stream's wait) is waiting: the hand-off succeeds
    assert!(waker.woken());
    assert_eq!(rx.try_recv(), Ok(9));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
}
