//! Channels through the public API: Go's channel semantics as cases, a proptest model of
//! each flavour against `VecDeque`, MPMC stress (blocking and async mixed), drop counting.
//!
//! Runs under Miri with reduced counts (`scaled`); the proptest models run a few cases there.
mod common;

use common::{block_on, let_others_block, scaled, spawn_timed, DropCounter, DropLog, Watchdog, LONG};
use gosync::chan::{
    self, Receiver, RecvError, RecvTimeoutError, SendError, SendTimeoutError, Sender, TryRecvError,
    TrySendError,
};
use proptest::prelude::*;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The channel flavours: rendezvous, bounded (a small and a larger ring), unbounded.
#[derive(Clone, Copy, Debug)]
enum Flavour {
    Zero,
    Bounded(usize),
    Unbounded,
}

const ALL: [Flavour; 4] = [Flavour::Zero, Flavour::Bounded(1), Flavour::Bounded(3), Flavour::Unbounded];
const BUFFERED: [Flavour; 3] = [Flavour::Bounded(1), Flavour::Bounded(3), Flavour::Unbounded];

fn make<T>(flavour: Flavour) -> (Sender<T>, Receiver<T>) {
    match flavour {
        Flavour::Zero => chan::bounded(0),
        Flavour::Bounded(cap) => chan::bounded(cap),
        Flavour::Unbounded => chan::unbounded(),
    }
}

/// Fills a bounded channel to capacity so that the next send blocks.
fn fill(tx: &Sender<u32>) {
    let cap = tx.capacity().expect("bounded");
    for i in 0..cap {
        tx.try_send(1000 + i as u32).unwrap();
    }
}

// ---------------------------------------------------------------------------------------
// Go's semantics, case by case
// ---------------------------------------------------------------------------------------

#[test]
fn fifo_per_sender() {
    let _watchdog = Watchdog::start("fifo_per_sender");
    let per_sender = scaled(500, 20) as u32;
    for flavour in ALL {
        let (tx, rx) = make::<(u32, u32)>(flavour);
        let senders: Vec<_> = (0..3)
            .map(|id| {
                let tx = tx.clone();
                spawn_timed(move || {
                    for seq in 0..per_sender {
                        tx.send((id, seq)).unwrap();
                    }
                })
            })
            .collect();
        drop(tx);
        let mut next = [0u32; 3];
        for (id, seq) in &rx {
            assert_eq!(seq, next[id as usize], "{flavour:?}: sender {id} out of order");
            next[id as usize] += 1;
        }
        assert_eq!(next, [per_sender; 3], "{flavour:?}");
        for s in senders {
            s.join("sender");
        }
    }
}

#[test]
fn single_thread_fifo_for_buffered_flavours() {
    let _watchdog = Watchdog::start("single_thread_fifo_for_buffered_flavours");
    for flavour in BUFFERED {
        let (tx, rx) = make(flavour);
        let n = tx.capacity().unwrap_or(10);
        for i in 0..n {
            tx.send(i).unwrap();
        }
        assert_eq!(rx.try_iter().collect::<Vec<_>>(), (0..n).collect::<Vec<_>>(), "{flavour:?}");
    }
}

#[test]
fn close_wakes_every_blocked_receiver() {
    let _watchdog = Watchdog::start("close_wakes_every_blocked_receiver");
    for flavour in ALL {
        let (tx, rx) = make::<u32>(flavour);
        let receivers: Vec<_> = (0..3)
            .map(|_| {
                let rx = rx.clone();
                spawn_timed(move || rx.recv())
            })
            .collect();
        let_others_block();
        assert!(tx.close());
        for r in receivers {
            assert_eq!(r.join("receiver blocked across close"), Err(RecvError), "{flavour:?}");
        }
    }
}

#[test]
fn close_wakes_every_blocked_sender() {
    let _watchdog = Watchdog::start("close_wakes_every_blocked_sender");
    for flavour in [Flavour::Zero, Flavour::Bounded(1), Flavour::Bounded(3)] {
        let (tx, rx) = make::<u32>(flavour);
        fill(&tx);
        let senders: Vec<_> = (0..3)
            .map(|i| {
                let tx = tx.clone();
                spawn_timed(move || tx.send(i))
            })
            .collect();
        let_others_block();
        assert!(tx.close());
        let mut back: Vec<u32> = senders
            .into_iter()
            .map(|s| s.join("sender blocked across close").expect_err("closed").into_inner())
            .collect();
        back.sort();
        assert_eq!(back, [0, 1, 2], "{flavour:?}: each blocked sender gets its value back");
        // What was buffered before the close is still received.
        let cap = rx.capacity().unwrap() as u32;
        assert_eq!(rx.iter().collect::<Vec<_>>(), (1000..1000 + cap).collect::<Vec<_>>());
    }
}

#[test]
fn close_wakes_blocked_async_receivers_and_senders() {
    let _watchdog = Watchdog::start("close_wakes_blocked_async_receivers_and_senders");
    for flavour in ALL {
        let (tx, rx) = make::<u32>(flavour);
        let wakers = [common::CountingWaker::new(), common::CountingWaker::new()];
        let mut r1 = Box::pin(rx.recv_async());
        let mut r2 = Box::pin(rx.recv_async());
        assert!(wakers[0].poll(&mut r1).is_pending());
        assert!(wakers[1].poll(&mut r2).is_pending());
        assert!(tx.close());
        assert!(wakers.iter().all(|w| w.woken()), "{flavour:?}: close wakes every receive future");
        assert_eq!(common::ready(wakers[0].poll(&mut r1), "r1"), Err(RecvError));
        assert_eq!(common::ready(wakers[1].poll(&mut r2), "r2"), Err(RecvError));
    }
    for flavour in [Flavour::Zero, Flavour::Bounded(1), Flavour::Bounded(3)] {
        let (tx, _rx) = make::<u32>(flavour);
        fill(&tx);
        let wakers = [common::CountingWaker::new(), common::CountingWaker::new()];
        let mut s1 = Box::pin(tx.send_async(1));
        let mut s2 = Box::pin(tx.send_async(2));
        assert!(wakers[0].poll(&mut s1).is_pending());
        assert!(wakers[1].poll(&mut s2).is_pending());
        assert!(tx.close());
        assert!(wakers.iter().all(|w| w.woken()), "{flavour:?}: close wakes every send future");
        assert_eq!(common::ready(wakers[0].poll(&mut s1), "s1"), Err(SendError(1)));
        assert_eq!(common::ready(wakers[1].poll(&mut s2), "s2"), Err(SendError(2)));
    }
}

#[test]
fn send_on_closed_gives_the_value_back_in_every_form() {
    let _watchdog = Watchdog::start("send_on_closed_gives_the_value_back_in_every_form");
    for flavour in ALL {
        let (tx, _rx) = make::<String>(flavour);
        tx.close();
        let v = || String::from("v");
        assert_eq!(tx.send(v()), Err(SendError(v())), "{flavour:?} send");
        assert_eq!(tx.try_send(v()), Err(TrySendError::Closed(v())), "{flavour:?} try_send");
        assert_eq!(
            tx.send_timeout(v(), LONG),
            Err(SendTimeoutError::Closed(v())),
            "{flavour:?} send_timeout"
        );
        assert_eq!(
            tx.send_deadline(v(), Instant::now() + LONG),
            Err(SendTimeoutError::Closed(v())),
            "{flavour:?} send_deadline"
        );
        assert_eq!(block_on(tx.send_async(v())), Err(SendError(v())), "{flavour:?} send_async");
        let mut fut = tx.send_async(v());
        assert!(common::poll_once(&mut std::pin::Pin::new(&mut fut)).is_ready());
        assert_eq!(fut.into_value(), None, "a completed send future has nothing to give back");
    }
}

#[test]
fn receivers_drain_the_buffer_then_see_the_close() {
    let _watchdog = Watchdog::start("receivers_drain_the_buffer_then_see_the_close");
    for flavour in BUFFERED {
        let (tx, rx) = make(flavour);
        tx.send(1).unwrap();
        tx.close();
        assert!(rx.is_closed() && !rx.is_empty());
        assert_eq!(rx.recv(), Ok(1), "{flavour:?}");
        assert_eq!(rx.recv(), Err(RecvError));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
        assert_eq!(rx.recv_timeout(LONG), Err(RecvTimeoutError::Closed));
        assert_eq!(rx.recv_deadline(Instant::now() + LONG), Err(RecvTimeoutError::Closed));
        assert_eq!(block_on(rx.recv_async()), Err(RecvError));
    }
    let (tx, rx) = chan::bounded::<u8>(0);
    tx.close();
    assert_eq!(rx.recv(), Err(RecvError));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
}

#[test]
fn close_returns_true_once_then_false() {
    let _watchdog = Watchdog::start("close_returns_true_once_then_false");
    for flavour in ALL {
        let (tx, rx) = make::<u8>(flavour);
        let tx2 = tx.clone();
        assert!(!tx.is_closed() && !rx.is_closed());
        assert!(tx2.close(), "{flavour:?}: the first close closes");
        assert!(!tx.close(), "{flavour:?}: closing again reports false");
        assert!(!tx2.close());
        assert!(tx.is_closed() && tx2.is_closed() && rx.is_closed());
        // The channel closed by dropping its receivers cannot be closed again either.
        let (tx, rx) = make::<u8>(flavour);
        drop(rx);
        assert!(!tx.close(), "{flavour:?}: dropping every receiver closed it already");
    }
}

#[test]
fn dropping_every_sender_closes() {
    let _watchdog = Watchdog::start("dropping_every_sender_closes");
    for flavour in ALL {
        let (tx, rx) = make::<u32>(flavour);
        let tx2 = tx.clone();
        let blocked = {
            let rx = rx.clone();
            spawn_timed(move || rx.recv())
        };
        drop(tx);
        assert!(!rx.is_closed(), "{flavour:?}: a sender is still alive");
        let_others_block();
        drop(tx2);
        assert!(rx.is_closed());
        assert_eq!(blocked.join("receiver blocked across the last sender's drop"), Err(RecvError));
        assert_eq!(rx.recv(), Err(RecvError));
    }
}

#[test]
fn dropping_every_receiver_makes_sends_fail_with_the_value() {
    let _watchdog = Watchdog::start("dropping_every_receiver_makes_sends_fail_with_the_value");
    for flavour in ALL {
        let (tx, rx) = make::<u32>(flavour);
        let rx2 = rx.clone();
        drop(rx);
        assert!(!tx.is_closed(), "{flavour:?}: a receiver is still alive");
        drop(rx2);
        assert!(tx.is_closed());
        assert_eq!(tx.send(7), Err(SendError(7)), "{flavour:?}");
        assert_eq!(tx.try_send(8), Err(TrySendError::Closed(8)));
        assert_eq!(block_on(tx.send_async(9)), Err(SendError(9)));
    }
    // A sender blocked at that moment wakes with its value.
    for flavour in [Flavour::Zero, Flavour::Bounded(1)] {
        let (tx, rx) = make::<u32>(flavour);
        fill(&tx);
        let blocked = {
            let tx = tx.clone();
            spawn_timed(move || tx.send(5))
        };
        let_others_block();
        drop(rx);
        assert_eq!(blocked.join("sender blocked across the last receiver's drop"), Err(SendError(5)));
    }
}

#[test]
fn rendezvous_send_blocks_until_a_receiver_takes_the_value() {
    let _watchdog = Watchdog::start("rendezvous_send_blocks_until_a_receiver_takes_the_value");
    let (tx, rx) = chan::bounded(0);
    let sent = Arc::new(AtomicBool::new(false));
    let sender = {
        let sent = sent.clone();
        spawn_timed(move || {
            tx.send(42).unwrap();
            sent.store(true, Ordering::SeqCst);
        })
    };
    let_others_block();
    // Nobody has received: the sender is still inside send, and nothing is buffered.
    assert!(!sent.load(Ordering::SeqCst), "send returned before any receive");
    assert!(!sender.is_finished());
    assert_eq!(rx.len(), 0);
    assert_eq!(rx.recv(), Ok(42));
    sender.join("sender after its value was received");
    assert!(sent.load(Ordering::SeqCst));

    // The same with a send future, polled by hand: Pending until the receive.
    let (tx, rx) = chan::bounded(0);
    let waker = common::CountingWaker::new();
    let mut fut = Box::pin(tx.send_async(1));
    assert!(waker.poll(&mut fut).is_pending());
    assert!(waker.poll(&mut fut).is_pending(), "still nobody receiving");
    assert!(!waker.woken());
    assert_eq!(rx.try_recv(), Ok(1));
    assert!(waker.woken());
    assert_eq!(common::ready(waker.poll(&mut fut), "send after receive"), Ok(()));
}

#[test]
fn len_and_capacity_as_go() {
    let _watchdog = Watchdog::start("len_and_capacity_as_go");
    let (tx, rx) = chan::bounded::<u8>(0);
    assert_eq!((tx.capacity(), rx.capacity()), (Some(0), Some(0)));
    assert_eq!((tx.len(), rx.len()), (0, 0));
    assert!(tx.is_empty() && rx.is_empty());
    // A blocked sender's value is not "in" the channel.
    let mut fut = Box::pin(tx.send_async(1));
    assert!(common::poll_once(&mut fut).is_pending());
    assert_eq!(rx.len(), 0);
    drop(fut);

    let (tx, rx) = chan::bounded(3);
    assert_eq!((tx.capacity(), rx.capacity()), (Some(3), Some(3)));
    for i in 0..3 {
        assert_eq!((tx.len(), rx.len()), (i, i));
        tx.send(i).unwrap();
    }
    assert_eq!(tx.try_send(9), Err(TrySendError::Full(9)));
    assert_eq!(rx.len(), 3);
    assert!(!rx.is_empty());
    rx.recv().unwrap();
    assert_eq!(tx.len(), 2);
    tx.close();
    assert_eq!(rx.len(), 2, "closing keeps the buffer");
    assert!(rx.is_closed() && tx.is_closed());

    let (tx, rx) = chan::unbounded();
    assert_eq!((tx.capacity(), rx.capacity()), (None, None));
    for i in 0..100 {
        tx.send(i).unwrap();
    }
    assert_eq!((tx.len(), rx.len()), (100, 100));
    rx.try_iter().for_each(drop);
    assert!(rx.is_empty());
}

#[test]
fn iterators_end_at_close_and_try_iter_at_empty() {
    let _watchdog = Watchdog::start("iterators_end_at_close_and_try_iter_at_empty");
    for flavour in ALL {
        let (tx, rx) = make(flavour);
        let n = scaled(50, 5) as u32;
        let producer = spawn_timed(move || {
            for i in 0..n {
                tx.send(i).unwrap();
            }
            tx.close();
        });
        let mut got = Vec::new();
        for v in &rx {
            got.push(v);
        }
        assert_eq!(got, (0..n).collect::<Vec<_>>(), "{flavour:?}");
        assert_eq!(rx.iter().next(), None);
        producer.join("producer");
    }
    let (tx, rx) = chan::unbounded();
    tx.send(1).unwrap();
    tx.send(2).unwrap();
    // try_iter stops at "empty" even though the channel is open.
    assert_eq!(rx.try_iter().collect::<Vec<_>>(), [1, 2]);
    assert_eq!(rx.try_iter().next(), None);
    tx.send(3).unwrap();
    assert_eq!(rx.try_iter().collect::<Vec<_>>(), [3]);
    let (tx, rx) = chan::bounded::<u8>(0);
    assert_eq!(rx.try_iter().next(), None, "rendezvous with no sender waiting");
    drop(tx);
}

#[test]
fn stream_ends_at_close_and_is_terminated_after() {
    let _watchdog = Watchdog::start("stream_ends_at_close_and_is_terminated_after");
    use futures::stream::{FusedStream, StreamExt};
    for flavour in ALL {
        let (tx, mut rx) = make(flavour);
        let producer = spawn_timed(move || {
            for i in 0..5 {
                tx.send(i).unwrap();
            }
        });
        let got: Vec<i32> = block_on(async {
            let mut got = Vec::new();
            while let Some(v) = rx.next().await {
                assert!(!rx.is_terminated());
                got.push(v);
            }
            got
        });
        assert_eq!(got, [0, 1, 2, 3, 4], "{flavour:?}");
        assert!(rx.is_terminated(), "{flavour:?}");
        assert_eq!(block_on(rx.next()), None, "a terminated stream stays ended");
        producer.join("producer");
    }
}

#[test]
fn timed_forms_time_out_and_give_the_value_back() {
    let _watchdog = Watchdog::start("timed_forms_time_out_and_give_the_value_back");
    for flavour in [Flavour::Zero, Flavour::Bounded(1)] {
        let (tx, rx) = make::<u32>(flavour);
        fill(&tx);
        let d = Duration::from_millis(10);
        let start = Instant::now();
        assert_eq!(tx.send_timeout(1, d), Err(SendTimeoutError::Timeout(1)), "{flavour:?}");
        assert!(start.elapsed() >= d);
        assert_eq!(tx.send_deadline(2, Instant::now()), Err(SendTimeoutError::Timeout(2)));
        rx.try_iter().for_each(drop);
    }
    for flavour in ALL {
        let (_tx, rx) = make::<u32>(flavour);
        let d = Duration::from_millis(10);
        let start = Instant::now();
        assert_eq!(rx.recv_timeout(d), Err(RecvTimeoutError::Timeout), "{flavour:?}");
        assert!(start.elapsed() >= d);
        assert_eq!(rx.recv_deadline(Instant::now()), Err(RecvTimeoutError::Timeout));
    }
}

// ---------------------------------------------------------------------------------------
// Proptest model: single-threaded try operations against a VecDeque
// ---------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum Op {
    TrySend(u8),
    TryRecv,
    Close,
    Len,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => any::<u8>().prop_map(Op::TrySend),
        4 => Just(Op::TryRecv),
        1 => Just(Op::Close),
        1 => Just(Op::Len),
    ]
}

/// Runs `ops` on a channel of `flavour` and on a model: a deque with an optional bound
/// (`Some(0)`: a rendezvous channel, where a try_send fails with Full when, as here, no
/// receiver is waiting) and a closed flag. Every result must match.
fn check_model(flavour: Flavour, ops: &[Op]) -> Result<(), TestCaseError> {
    let (tx, rx) = make::<u8>(flavour);
    let cap = tx.capacity();
    let mut model = VecDeque::new();
    let mut closed = false;
    for op in ops {
        match *op {
            Op::TrySend(v) => {
                let expected = if closed {
                    Err(TrySendError::Closed(v))
                } else if cap.is_some_and(|c| model.len() >= c) {
                    Err(TrySendError::Full(v))
                } else {
                    model.push_back(v);
                    Ok(())
                };
                prop_assert_eq!(tx.try_send(v), expected, "{:?} {:?}", flavour, op);
            }
            Op::TryRecv => {
                let expected = match model.pop_front() {
                    Some(v) => Ok(v),
                    None if closed => Err(TryRecvError::Closed),
                    None => Err(TryRecvError::Empty),
                };
                prop_assert_eq!(rx.try_recv(), expected, "{:?} {:?}", flavour, op);
            }
            Op::Close => {
                prop_assert_eq!(tx.close(), !closed);
                closed = true;
            }
            Op::Len => {}
        }
        prop_assert_eq!(tx.len(), model.len());
        prop_assert_eq!(rx.len(), model.len());
        prop_assert_eq!(rx.is_empty(), model.is_empty());
        prop_assert_eq!(rx.is_closed(), closed);
        prop_assert_eq!(tx.capacity(), cap);
    }
    Ok(())
}

fn model_config() -> ProptestConfig {
    // No failure persistence: it reads the working directory, which Miri's isolation forbids.
    ProptestConfig { cases: scaled(256, 4) as u32, failure_persistence: None, ..ProptestConfig::default() }
}

proptest! {
    #![proptest_config(model_config())]

    #[test]
    fn model_bounded_1(ops in proptest::collection::vec(op(), 0..60)) {
        check_model(Flavour::Bounded(1), &ops)?;
    }

    #[test]
    fn model_bounded_3(ops in proptest::collection::vec(op(), 0..60)) {
        check_model(Flavour::Bounded(3), &ops)?;
    }

    #[test]
    fn model_unbounded(ops in proptest::collection::vec(op(), 0..60)) {
        check_model(Flavour::Unbounded, &ops)?;
    }

    #[test]
    fn model_rendezvous(ops in proptest::collection::vec(op(), 0..60)) {
        check_model(Flavour::Zero, &ops)?;
    }
}

// ---------------------------------------------------------------------------------------
// MPMC stress: every message exactly once, per-sender order kept
// ---------------------------------------------------------------------------------------

const PRODUCERS: u32 = 4;
const CONSUMERS: usize = 4;

/// Four producers (two blocking, two async) and four consumers (two blocking, two async).
/// Each consumer sees each producer's messages in order (a FIFO channel, one pop at a
/// time); together they see every message exactly once.
fn mpmc(flavour: Flavour) {
    let per_producer = scaled(2_000, 15) as u32;
    let (tx, rx) = make::<(u32, u32)>(flavour);
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let tx = tx.clone();
            spawn_timed(move || {
                for seq in 0..per_producer {
                    if p % 2 == 0 {
                        tx.send((p, seq)).unwrap();
                    } else {
                        block_on(tx.send_async((p, seq))).unwrap();
                    }
                }
            })
        })
        .collect();
    drop(tx);
    let consumers: Vec<_> = (0..CONSUMERS)
        .map(|c| {
            let rx = rx.clone();
            spawn_timed(move || {
                let mut got = Vec::new();
                if c % 2 == 0 {
                    got.extend(&rx);
                } else {
                    while let Ok(m) = block_on(rx.recv_async()) {
                        got.push(m);
                    }
                }
                got
            })
        })
        .collect();
    drop(rx);
    for p in producers {
        p.join("producer");
    }
    let mut seen = vec![vec![false; per_producer as usize]; PRODUCERS as usize];
    for c in consumers {
        let got = c.join("consumer");
        let mut last = [None::<u32>; PRODUCERS as usize];
        for (p, seq) in got {
            let p = p as usize;
            assert!(last[p].map_or(true, |l| l < seq), "{flavour:?}: producer {p} reordered");
            last[p] = Some(seq);
            assert!(!seen[p][seq as usize], "{flavour:?}: ({p}, {seq}) received twice");
            seen[p][seq as usize] = true;
        }
    }
    assert!(seen.iter().flatten().all(|&s| s), "{flavour:?}: a message was lost");
}

#[test]
fn mpmc_rendezvous() {
    let _watchdog = Watchdog::start("mpmc_rendezvous");
    mpmc(Flavour::Zero);
}

#[test]
fn mpmc_bounded_1() {
    let _watchdog = Watchdog::start("mpmc_bounded_1");
    mpmc(Flavour::Bounded(1));
}

#[test]
fn mpmc_bounded_3() {
    let _watchdog = Watchdog::start("mpmc_bounded_3");
    mpmc(Flavour::Bounded(3));
}

#[test]
fn mpmc_unbounded() {
    let _watchdog = Watchdog::start("mpmc_unbounded");
    mpmc(Flavour::Unbounded);
}

/// Timed sends and receives racing their timeouts: whatever a timed-out send returns was
/// not delivered, and nothing is delivered twice.
#[test]
fn mpmc_with_timeouts_loses_nothing() {
    let _watchdog = Watchdog::start("mpmc_with_timeouts_loses_nothing");
    let per_producer = scaled(500, 10) as u32;
    for flavour in ALL {
        let (tx, rx) = make::<(u32, u32)>(flavour);
        let producers: Vec<_> = (0..2)
            .map(|p| {
                let tx = tx.clone();
                spawn_timed(move || {
                    for seq in 0..per_producer {
                        let mut m = (p, seq);
                        loop {
                            match tx.send_timeout(m, Duration::from_micros(50)) {
                                Ok(()) => break,
                                Err(SendTimeoutError::Timeout(back)) => m = back,
                                Err(SendTimeoutError::Closed(_)) => panic!("closed early"),
                            }
                        }
                    }
                })
            })
            .collect();
        drop(tx);
        let consumers: Vec<_> = (0..2)
            .map(|_| {
                let rx = rx.clone();
                spawn_timed(move || {
                    let mut got = Vec::new();
                    loop {
                        match rx.recv_timeout(Duration::from_micros(50)) {
                            Ok(m) => got.push(m),
                            Err(RecvTimeoutError::Timeout) => {}
                            Err(RecvTimeoutError::Closed) => return got,
                        }
                    }
                })
            })
            .collect();
        drop(rx);
        for p in producers {
            p.join("producer");
        }
        let mut all: Vec<_> = consumers.into_iter().flat_map(|c| c.join("consumer")).collect();
        all.sort_unstable();
        let expected: Vec<_> = (0..2).flat_map(|p| (0..per_producer).map(move |s| (p, s))).collect();
        assert_eq!(all, expected, "{flavour:?}: every message exactly once");
    }
}

// ---------------------------------------------------------------------------------------
// Drop counting: every value dropped exactly once
// ---------------------------------------------------------------------------------------

#[test]
fn values_left_in_the_buffer_drop_with_the_channel() {
    let _watchdog = Watchdog::start("values_left_in_the_buffer_drop_with_the_channel");
    for flavour in BUFFERED {
        let log = DropLog::new();
        let (tx, rx) = make(flavour);
        let n = tx.capacity().unwrap_or(10);
        for id in 0..n {
            tx.send(DropCounter::new(id, &log)).unwrap();
        }
        // One received and dropped; the rest are dropped with the channel.
        drop(rx.recv().unwrap());
        assert_eq!(log.total(), 1);
        drop(rx);
        assert_eq!(log.total(), 1, "{flavour:?}: the sender keeps the channel alive");
        drop(tx);
        log.assert_each_once(n);
    }
    // Rendezvous: a value given back by a dropped receive future stays in the channel.
    let log = DropLog::new();
    let (tx, rx) = chan::bounded(0);
    let mut fut = Box::pin(rx.recv_async());
    assert!(common::poll_once(&mut fut).is_pending());
    tx.try_send(DropCounter::new(0, &log)).unwrap();
    drop(fut);
    assert_eq!((log.total(), rx.len()), (0, 1));
    drop((tx, rx));
    log.assert_each_once(1);
}

#[test]
fn values_returned_in_errors_drop_once() {
    let _watchdog = Watchdog::start("values_returned_in_errors_drop_once");
    for flavour in ALL {
        let log = DropLog::new();
        let (tx, rx) = make(flavour);
        let mut id = 0;
        let mut next = || {
            id += 1;
            DropCounter::new(id - 1, &log)
        };
        if let Some(cap) = tx.capacity() {
            for _ in 0..cap {
                tx.send(next()).unwrap();
            }
            let v = next();
            let want = v.id;
            match tx.try_send(v) {
                Err(TrySendError::Full(v)) => assert_eq!(v.id, want),
                other => panic!("{flavour:?}: expected Full, got {other:?}"),
            }
            match tx.send_timeout(next(), Duration::from_millis(1)) {
                Err(SendTimeoutError::Timeout(_)) => {}
                other => panic!("{flavour:?}: expected Timeout, got {other:?}"),
            }
        }
        tx.close();
        assert!(tx.send(next()).is_err());
        assert!(tx.try_send(next()).is_err());
        assert!(tx.send_timeout(next(), LONG).is_err());
        assert!(block_on(tx.send_async(next())).is_err());
        let n = id;
        drop((tx, rx));
        log.assert_each_once(n);
    }
}

#[test]
fn values_of_dropped_send_futures_drop_once() {
    let _watchdog = Watchdog::start("values_of_dropped_send_futures_drop_once");
    for flavour in [Flavour::Zero, Flavour::Bounded(1)] {
        let log = DropLog::new();
        let (tx, rx) = make(flavour);
        if flavour_is_bounded(flavour) {
            tx.send(DropCounter::new(0, &log)).unwrap();
        } else {
            let fut = tx.send_async(DropCounter::new(0, &log));
            drop(fut); // never polled
        }
        let mut fut = Box::pin(tx.send_async(DropCounter::new(1, &log)));
        assert!(common::poll_once(&mut fut).is_pending());
        drop(fut);
        assert_eq!(log.count(1), 1, "{flavour:?}: a dropped pending send future drops its value");
        let mut fut = Box::pin(tx.send_async(DropCounter::new(2, &log)));
        assert!(common::poll_once(&mut fut).is_pending());
        let back = std::pin::Pin::into_inner(fut).into_value().expect("not sent");
        assert_eq!((back.id, log.count(2)), (2, 0));
        drop(back);
        drop((tx, rx));
        log.assert_each_once(3);
    }
}

fn flavour_is_bounded(flavour: Flavour) -> bool {
    matches!(flavour, Flavour::Bounded(_))
}

#[test]
fn values_sent_through_mpmc_drop_once() {
    let _watchdog = Watchdog::start("values_sent_through_mpmc_drop_once");
    let n = scaled(400, 20);
    for flavour in ALL {
        let log = DropLog::new();
        let (tx, rx) = make(flavour);
        // The consumer stops half-way; its receiver is the last, so the remaining sends fail
        // and give their values back.
        let consumer = spawn_timed(move || rx.iter().take(n / 2).count());
        let producer = {
            let log = log.clone();
            spawn_timed(move || {
                let failed = (0..n).filter(|&id| tx.send(DropCounter::new(id, &log)).is_err()).count();
                assert!(failed <= n / 2);
            })
        };
        assert_eq!(consumer.join("consumer"), n / 2);
        producer.join("producer");
        log.assert_each_once(n);
    }
}
