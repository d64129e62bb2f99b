//! BoundedQueue: FIFO, blocking/try/timed/async forms, close semantics, drop counting,
//! cancel safety of PushFuture/PopFuture, a proptest model against VecDeque, MPMC stress.

mod common;

use common::{
    block_on, panic_message, poll_once, ready, scaled, wait_until, CountingWaker, DropCounter, DropLog,
    Watchdog, LONG,
};
use gosync::{BoundedQueue, Closed, PopTimeoutError, PushTimeoutError, TryPopError, TryPushError};
use proptest::prelude::*;
use std::collections::VecDeque;
use std::panic::catch_unwind;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::thread;
use std::time::{Duration, Instant};

const SHORT: Duration = Duration::from_millis(20);

fn assert_send_sync<T: Send + Sync>() {}

// ---------------------------------------------------------------------------------------
// Basics
// ---------------------------------------------------------------------------------------

#[test]
fn fifo_and_accessors() {
    assert_send_sync::<BoundedQueue<String>>();
    let q = BoundedQueue::new(3);
    assert_eq!(q.capacity(), 3);
    assert!(q.is_empty() && !q.is_full() && !q.is_closed());
    assert_eq!(q.len(), 0);
    for round in 0..10 {
        // Push/pop across the ring's wrap-around point.
        q.push(round * 10).unwrap();
        q.push(round * 10 + 1).unwrap();
        assert_eq!(q.len(), 2);
        assert_eq!(q.pop(), Some(round * 10));
        q.push(round * 10 + 2).unwrap();
        q.push(round * 10 + 3).unwrap();
        assert!(q.is_full());
        assert_eq!(q.len(), 3);
        assert_eq!(q.pop(), Some(round * 10 + 1));
        assert_eq!(q.try_pop(), Ok(round * 10 + 2));
        assert_eq!(q.pop_timeout(LONG), Ok(round * 10 + 3));
        assert!(q.is_empty());
    }
}

#[test]
fn capacity_zero_panics() {
    let r = catch_unwind(|| BoundedQueue::<u8>::new(0));
    let p = r.expect_err("BoundedQueue::new(0) must panic");
    let msg = panic_message(&*p);
    assert!(msg.starts_with("gosync:"), "panic message must start with `gosync:`: {msg:?}");
}

#[test]
fn capacity_one_works() {
    let q = BoundedQueue::new(1);
    for i in 0..5 {
        assert_eq!(q.try_push(i), Ok(()));
        assert_eq!(q.try_push(99), Err(TryPushError::Full(99)));
        assert_eq!(q.try_pop(), Ok(i));
        assert_eq!(q.try_pop(), Err(TryPopError::Empty));
    }
}

#[test]
fn try_push_full_and_try_pop_empty() {
    let q = BoundedQueue::new(2);
    assert_eq!(q.try_pop(), Err(TryPopError::Empty));
    assert_eq!(q.try_push("a"), Ok(()));
    assert_eq!(q.try_push("b"), Ok(()));
    match q.try_push("c") {
        Err(TryPushError::Full(v)) => assert_eq!(v, "c"),
        other => panic!("expected Full(c), got {other:?}"),
    }
    assert_eq!(q.try_push("d").unwrap_err().into_inner(), "d");
    assert_eq!(q.len(), 2, "a failed try_push must not change the queue");
    assert_eq!(q.try_pop(), Ok("a"));
    assert_eq!(q.try_pop(), Ok("b"));
    assert_eq!(q.try_pop(), Err(TryPopError::Empty));
}

#[test]
fn timeouts_give_timeout_and_the_value_back() {
    let _w = Watchdog::start("timeouts_give_timeout_and_the_value_back");
    let q = BoundedQueue::new(1);
    let t0 = Instant::now();
    assert_eq!(q.pop_timeout(SHORT), Err(PopTimeoutError::Timeout));
    assert!(t0.elapsed() >= SHORT, "pop_timeout returned before the timeout");
    assert_eq!(q.pop_timeout(Duration::ZERO), Err(PopTimeoutError::Timeout));
    assert_eq!(q.pop_deadline(Instant::now() - Duration::from_millis(1)), Err(PopTimeoutError::Timeout));
    assert_eq!(q.pop_deadline(Instant::now() + Duration::from_millis(5)), Err(PopTimeoutError::Timeout));
    q.push(1).unwrap();
    let t0 = Instant::now();
    assert_eq!(q.push_timeout(2, SHORT), Err(PushTimeoutError::Timeout(2)));
    assert!(t0.elapsed() >= SHORT, "push_timeout returned before the timeout");
    match q.push_timeout(41, Duration::ZERO) {
        Err(PushTimeoutError::Timeout(v)) => assert_eq!(v, 41),
        other => panic!("expected Timeout(41), got {other:?}"),
    }
    assert_eq!(
        q.push_deadline(3, Instant::now() + Duration::from_millis(5)),
        Err(PushTimeoutError::Timeout(3))
    );
    assert_eq!(q.push_deadline(4, Instant::now() - Duration::from_millis(5)).unwrap_err().into_inner(), 4);
    assert_eq!(q.len(), 1);
    assert_eq!(q.pop_deadline(Instant::now() + LONG), Ok(1));
    assert_eq!(q.push_deadline(5, Instant::now() + LONG), Ok(()));
    assert_eq!(q.push_timeout(6, Duration::ZERO), Err(PushTimeoutError::Timeout(6)));
    assert_eq!(q.pop_timeout(Duration::ZERO), Ok(5));
}

#[test]
fn push_blocks_while_full_and_resumes_after_pop() {
    let _w = Watchdog::start("push_blocks_while_full_and_resumes_after_pop");
    let q = BoundedQueue::new(1);
    q.push(1).unwrap();
    let pushed = AtomicBool::new(false);
    thread::scope(|s| {
        s.spawn(|| {
            q.push(2).unwrap();
            pushed.store(true, Ordering::SeqCst);
        });
        thread::sleep(SHORT);
        assert!(!pushed.load(Ordering::SeqCst), "push into a full queue must block");
        assert_eq!(q.len(), 1);
        assert_eq!(q.pop(), Some(1));
        // The pusher resumes: the next pop gets its value.
        assert_eq!(q.pop_timeout(LONG), Ok(2));
    });
    assert!(pushed.load(Ordering::SeqCst));
}

#[test]
fn pop_blocks_while_empty_and_resumes_after_push() {
    let _w = Watchdog::start("pop_blocks_while_empty_and_resumes_after_push");
    let q = BoundedQueue::new(2);
    thread::scope(|s| {
        let h = s.spawn(|| q.pop());
        thread::sleep(Duration::from_millis(5));
        q.push(9).unwrap();
        assert_eq!(h.join().unwrap(), Some(9));
    });
}

#[test]
fn async_push_pending_while_full_woken_by_pop() {
    let q = BoundedQueue::new(1);
    q.push(1).unwrap();
    let w = CountingWaker::new();
    let mut f = Box::pin(q.push_async(2));
    assert!(w.poll(&mut f).is_pending());
    assert!(!w.woken());
    assert_eq!(q.len(), 1);
    assert_eq!(q.try_pop(), Ok(1));
    assert!(w.woken(), "pop must wake the pending PushFuture");
    assert_eq!(ready(w.poll(&mut f), "PushFuture after pop"), Ok(()));
    assert_eq!(q.try_pop(), Ok(2));

    // And the mirror image.
    let w = CountingWaker::new();
    let mut p = Box::pin(q.pop_async());
    assert!(w.poll(&mut p).is_pending());
    q.try_push(3).unwrap();
    assert!(w.woken(), "push must wake the pending PopFuture");
    assert_eq!(ready(w.poll(&mut p), "PopFuture after push"), Some(3));
    assert!(q.is_empty());
}

#[test]
fn async_ready_paths() {
    let q = BoundedQueue::new(2);
    assert_eq!(ready(poll_once(&mut Box::pin(q.push_async(1))), "push_async with room"), Ok(()));
    assert_eq!(block_on(q.push_async(2)), Ok(()));
    assert_eq!(ready(poll_once(&mut Box::pin(q.pop_async())), "pop_async with an item"), Some(1));
    assert_eq!(block_on(q.pop_async()), Some(2));
}

// ---------------------------------------------------------------------------------------
// Close
// ---------------------------------------------------------------------------------------

#[test]
fn drains_after_close() {
    let q = BoundedQueue::new(4);
    for i in 1..=3 {
        q.push(i).unwrap();
    }
    assert!(q.close());
    assert!(q.is_closed());
    assert_eq!(q.len(), 3);
    assert_eq!(q.pop(), Some(1));
    assert_eq!(q.try_pop(), Ok(2));
    assert_eq!(q.pop_timeout(LONG), Ok(3));
    assert!(q.is_empty());
    assert_eq!(q.pop(), None);
    assert_eq!(q.try_pop(), Err(TryPopError::Closed));
    assert_eq!(q.pop_timeout(LONG), Err(PopTimeoutError::Closed));
    assert_eq!(q.pop_deadline(Instant::now() + LONG), Err(PopTimeoutError::Closed));
    assert_eq!(ready(poll_once(&mut Box::pin(q.pop_async())), "pop_async on closed+drained"), None);
    assert_eq!(block_on(q.pop_async()), None);
    // Still None on repeated calls.
    assert_eq!(q.pop(), None);
}

#[test]
fn drains_after_close_async() {
    let q = BoundedQueue::new(3);
    q.push('a').unwrap();
    q.push('b').unwrap();
    q.close();
    assert_eq!(block_on(q.pop_async()), Some('a'));
    assert_eq!(ready(poll_once(&mut Box::pin(q.pop_async())), "closed, 1 left"), Some('b'));
    assert_eq!(block_on(q.pop_async()), None);
}

#[test]
fn push_after_close_gives_the_value_back() {
    let q = BoundedQueue::new(2);
    q.push(String::from("kept")).unwrap();
    assert!(q.close());
    assert_eq!(q.push(String::from("p")), Err(Closed(String::from("p"))));
    assert_eq!(q.push(String::from("p2")).unwrap_err().into_inner(), "p2");
    assert_eq!(q.push(String::from("p3")).unwrap_err().0, "p3");
    assert_eq!(q.try_push(String::from("t")), Err(TryPushError::Closed(String::from("t"))));
    assert_eq!(q.try_push(String::from("t2")).unwrap_err().into_inner(), "t2");
    assert_eq!(q.push_timeout(String::from("pt"), LONG), Err(PushTimeoutError::Closed(String::from("pt"))));
    assert_eq!(q.push_timeout(String::from("pt2"), Duration::ZERO).unwrap_err().into_inner(), "pt2");
    assert_eq!(
        q.push_deadline(String::from("pd"), Instant::now() + LONG),
        Err(PushTimeoutError::Closed(String::from("pd")))
    );
    assert_eq!(block_on(q.push_async(String::from("a"))), Err(Closed(String::from("a"))));
    assert_eq!(
        ready(poll_once(&mut Box::pin(q.push_async(String::from("a2")))), "push_async closed"),
        Err(Closed(String::from("a2")))
    );
    assert_eq!(q.len(), 1, "nothing was added after close");
    assert_eq!(q.pop().as_deref(), Some("kept"));
    assert_eq!(q.pop(), None);
}

/// Closed wins over Full: a push into a closed queue reports Closed even when it is full.
#[test]
fn push_into_closed_full_queue_reports_closed() {
    let q = BoundedQueue::new(1);
    q.push(1).unwrap();
    q.close();
    assert_eq!(q.push(2), Err(Closed(2)));
    assert_eq!(q.try_push(3), Err(TryPushError::Closed(3)));
    assert_eq!(q.push_timeout(4, Duration::ZERO), Err(PushTimeoutError::Closed(4)));
    assert_eq!(block_on(q.push_async(5)), Err(Closed(5)));
}

#[test]
fn close_returns_true_once() {
    let q = BoundedQueue::<u8>::new(1);
    assert!(q.close());
    assert!(!q.close());
    assert!(!q.close());
    assert!(q.is_closed());
    // Racing closers: exactly one wins.
    for _ in 0..50 {
        let q = BoundedQueue::<u8>::new(1);
        let wins = AtomicUsize::new(0);
        thread::scope(|s| {
            for _ in 0..3 {
                s.spawn(|| {
                    if q.close() {
                        wins.fetch_add(1, Ordering::SeqCst);
                    }
                });
            }
        });
        assert_eq!(wins.load(Ordering::SeqCst), 1);
    }
}

#[test]
fn close_wakes_blocked_producer_with_its_value() {
    let _w = Watchdog::start("close_wakes_blocked_producer_with_its_value");
    let q = BoundedQueue::new(1);
    q.push(0).unwrap();
    thread::scope(|s| {
        let blocking = s.spawn(|| q.push(1));
        let timed = s.spawn(|| q.push_timeout(2, LONG));
        let asynch = s.spawn(|| block_on(q.push_async(3)));
        thread::sleep(Duration::from_millis(10));
        assert!(q.close());
        assert_eq!(blocking.join().unwrap(), Err(Closed(1)));
        assert_eq!(timed.join().unwrap(), Err(PushTimeoutError::Closed(2)));
        assert_eq!(asynch.join().unwrap(), Err(Closed(3)));
    });
    assert_eq!(q.pop(), Some(0));
    assert_eq!(q.pop(), None);
}

#[test]
fn close_wakes_blocked_consumers() {
    let _w = Watchdog::start("close_wakes_blocked_consumers");
    let q = BoundedQueue::<u32>::new(2);
    thread::scope(|s| {
        let hs: Vec<_> = (0..2).map(|_| s.spawn(|| q.pop())).collect();
        let timed = s.spawn(|| q.pop_timeout(LONG));
        let asynch = s.spawn(|| block_on(q.pop_async()));
        thread::sleep(Duration::from_millis(10));
        assert!(q.close());
        for h in hs {
            assert_eq!(h.join().unwrap(), None);
        }
        assert_eq!(timed.join().unwrap(), Err(PopTimeoutError::Closed));
        assert_eq!(asynch.join().unwrap(), None);
    });
}

#[test]
fn close_wakes_pending_futures() {
    let q = BoundedQueue::<u32>::new(1);
    let wp = CountingWaker::new();
    let mut pop = Box::pin(q.pop_async());
    assert!(wp.poll(&mut pop).is_pending());
    assert!(q.close());
    assert!(wp.woken(), "close must wake a pending PopFuture");
    assert_eq!(ready(wp.poll(&mut pop), "PopFuture after close"), None);

    let q = BoundedQueue::new(1);
    q.push(7).unwrap();
    let wu = CountingWaker::new();
    let mut push = Box::pin(q.push_async(8));
    assert!(wu.poll(&mut push).is_pending());
    assert!(q.close());
    assert!(wu.woken(), "close must wake a pending PushFuture");
    assert_eq!(ready(wu.poll(&mut push), "PushFuture after close"), Err(Closed(8)));
    assert_eq!(q.try_pop(), Ok(7));
    assert_eq!(q.try_pop(), Err(TryPopError::Closed));
}

// ---------------------------------------------------------------------------------------
// Error types
// ---------------------------------------------------------------------------------------

struct NoDebug(u8);

#[test]
fn error_types_debug_display_error_without_t_debug() {
    fn assert_error<E: std::error::Error>(_: &E) {}
    let c = Closed(NoDebug(1));
    let f: TryPushError<NoDebug> = TryPushError::Full(NoDebug(2));
    let cl: TryPushError<NoDebug> = TryPushError::Closed(NoDebug(3));
    let pt: PushTimeoutError<NoDebug> = PushTimeoutError::Timeout(NoDebug(4));
    let pc: PushTimeoutError<NoDebug> = PushTimeoutError::Closed(NoDebug(5));
    for s in [format!("{c:?}"), format!("{f:?}"), format!("{cl:?}"), format!("{pt:?}"), format!("{pc:?}")] {
        assert!(!s.is_empty());
    }
    for s in [c.to_string(), f.to_string(), cl.to_string(), pt.to_string(), pc.to_string()] {
        assert!(!s.is_empty());
    }
    assert_ne!(f.to_string(), cl.to_string());
    assert_ne!(pt.to_string(), pc.to_string());
    assert_error(&c);
    assert_error(&f);
    assert_error(&pt);
    assert_error(&TryPopError::Empty);
    assert_error(&PopTimeoutError::Timeout);
    assert_ne!(TryPopError::Empty.to_string(), TryPopError::Closed.to_string());
    assert_ne!(PopTimeoutError::Timeout.to_string(), PopTimeoutError::Closed.to_string());
    assert!(!format!("{:?}", TryPopError::Closed).is_empty());
    assert_eq!(c.into_inner().0, 1);
    assert_eq!(f.into_inner().0, 2);
    assert_eq!(cl.into_inner().0, 3);
    assert_eq!(pt.into_inner().0, 4);
    assert_eq!(pc.into_inner().0, 5);
    // Boxable as dyn Error (common in application code).
    let b: Box<dyn std::error::Error> = Box::new(Closed(NoDebug(0)));
    assert!(!b.to_string().is_empty());
    assert_eq!(TryPushError::Full(1), TryPushError::Full(1));
    assert_ne!(TryPushError::Full(1), TryPushError::Closed(1));
    assert_ne!(PopTimeoutError::Timeout, PopTimeoutError::Closed);
}

// ---------------------------------------------------------------------------------------
// Drop counting: no leak, no double drop
// ---------------------------------------------------------------------------------------

#[test]
fn drop_values_left_in_closed_then_dropped_queue() {
    let log = DropLog::new();
    {
        let q = BoundedQueue::new(4);
        // Wrap the ring first so the leftovers straddle the end of the buffer.
        for i in 0..3 {
            q.push(DropCounter::new(i, &log)).unwrap();
        }
        for i in 0..3 {
            assert_eq!(q.pop().unwrap().id, i);
        }
        assert_eq!(log.total(), 3);
        for i in 3..7 {
            q.push(DropCounter::new(i, &log)).unwrap();
        }
        assert_eq!(q.pop().unwrap().id, 3);
        assert!(q.close());
        assert_eq!(log.total(), 4, "close must not drop queued values");
    }
    log.assert_each_once(7);
}

#[test]
fn drop_values_left_in_open_queue() {
    let log = DropLog::new();
    {
        let q = Arc::new(BoundedQueue::new(3));
        for i in 0..3 {
            q.push(DropCounter::new(i, &log)).unwrap();
        }
        let q2 = q.clone();
        drop(q);
        assert_eq!(log.total(), 0);
        drop(q2);
    }
    log.assert_each_once(3);
}

#[test]
fn drop_values_returned_in_errors() {
    let log = DropLog::new();
    let q = BoundedQueue::new(1);
    q.push(DropCounter::new(0, &log)).unwrap();
    let e = q.try_push(DropCounter::new(1, &log)).unwrap_err();
    assert_eq!(log.total(), 0, "the rejected value lives in the error");
    assert!(matches!(&e, TryPushError::Full(v) if v.id == 1));
    drop(e);
    assert_eq!(log.count(1), 1);
    let e = q.push_timeout(DropCounter::new(2, &log), Duration::ZERO).unwrap_err();
    assert_eq!(log.count(2), 0);
    let v = e.into_inner();
    assert_eq!(v.id, 2);
    drop(v);
    q.close();
    let e = q.push(DropCounter::new(3, &log)).unwrap_err();
    assert_eq!(log.count(3), 0);
    assert_eq!(e.0.id, 3);
    drop(e);
    let e = q.try_push(DropCounter::new(4, &log)).unwrap_err();
    drop(e);
    let e = q.push_timeout(DropCounter::new(5, &log), LONG).unwrap_err();
    drop(e);
    let r = block_on(q.push_async(DropCounter::new(6, &log)));
    assert_eq!(log.count(6), 0);
    drop(r);
    assert_eq!(log.total(), 6, "only the rejected values are dropped so far");
    let first = q.pop().unwrap();
    assert_eq!(first.id, 0);
    drop(first);
    drop(q);
    log.assert_each_once(7);
}

#[test]
fn drop_push_future_unsent() {
    let log = DropLog::new();
    let q = BoundedQueue::new(1);
    q.push(DropCounter::new(0, &log)).unwrap();
    // Never polled.
    drop(q.push_async(DropCounter::new(1, &log)));
    assert_eq!(log.count(1), 1);
    // Pending (queue full), then dropped: the value is dropped, never half-sent.
    let w = CountingWaker::new();
    let mut f = Box::pin(q.push_async(DropCounter::new(2, &log)));
    assert!(w.poll(&mut f).is_pending());
    assert_eq!(log.count(2), 0);
    drop(f);
    assert_eq!(log.count(2), 1);
    assert_eq!(q.len(), 1);
    assert_eq!(q.try_pop().unwrap().id, 0);
    assert_eq!(q.try_pop().unwrap_err(), TryPopError::Empty, "the dropped future's value must not arrive");
    // Completed future: its value is in the queue, not dropped.
    let mut f = Box::pin(q.push_async(DropCounter::new(3, &log)));
    assert!(poll_once(&mut f).is_ready());
    drop(f);
    assert_eq!(log.count(3), 0);
    assert_eq!(q.try_pop().unwrap().id, 3);
    drop(q);
    log.assert_each_once(4);
}

#[test]
fn drop_pop_future_after_wake_keeps_the_item() {
    let log = DropLog::new();
    let q = BoundedQueue::new(2);
    let w = CountingWaker::new();
    let mut f = Box::pin(q.pop_async());
    assert!(w.poll(&mut f).is_pending());
    q.push(DropCounter::new(0, &log)).unwrap();
    assert!(w.woken());
    drop(f); // woken, never polled again: the item must stay in the queue
    assert_eq!(log.total(), 0, "a dropped PopFuture must not drop (lose) an item");
    assert_eq!(q.try_pop().map(|v| v.id).ok(), Some(0));
    log.assert_each_once(1);
}

// ---------------------------------------------------------------------------------------
// Cancel safety of the futures
// ---------------------------------------------------------------------------------------

/// Two pending pop futures, one push, the first (notified) future dropped without polling:
/// the second must be woken and get the item.
#[test]
fn pop_future_cancel_passes_item_and_wakeup_on() {
    let q = BoundedQueue::new(2);
    let w1 = CountingWaker::new();
    let w2 = CountingWaker::new();
    let mut f1 = Box::pin(q.pop_async());
    let mut f2 = Box::pin(q.pop_async());
    assert!(w1.poll(&mut f1).is_pending());
    assert!(w2.poll(&mut f2).is_pending());
    q.push(42).unwrap();
    assert!(w1.woken() || w2.woken(), "push woke no consumer");
    drop(f1);
    assert!(w2.woken(), "lost wake-up: second PopFuture not woken after the first was dropped");
    assert_eq!(ready(w2.poll(&mut f2), "second PopFuture"), Some(42));
    assert!(q.is_empty());
}

/// Same with a blocked thread as the next consumer.
#[test]
fn pop_future_cancel_wakes_blocked_thread() {
    let _w = Watchdog::start("pop_future_cancel_wakes_blocked_thread");
    let q = BoundedQueue::new(2);
    let w1 = CountingWaker::new();
    let mut f1 = Box::pin(q.pop_async());
    assert!(w1.poll(&mut f1).is_pending());
    thread::scope(|s| {
        let h = s.spawn(|| q.pop_timeout(LONG));
        thread::sleep(Duration::from_millis(10)); // let it block (same outcome if not yet)
        q.push(5).unwrap();
        drop(f1);
        assert_eq!(h.join().unwrap(), Ok(5), "blocked consumer lost the item/wake-up");
    });
}

#[test]
fn pop_future_cancel_before_push() {
    let q = BoundedQueue::new(2);
    let w1 = CountingWaker::new();
    let w2 = CountingWaker::new();
    let mut f1 = Box::pin(q.pop_async());
    let mut f2 = Box::pin(q.pop_async());
    assert!(w1.poll(&mut f1).is_pending());
    assert!(w2.poll(&mut f2).is_pending());
    drop(f1);
    q.push(1).unwrap();
    assert!(w2.woken(), "push must wake the remaining PopFuture");
    assert_eq!(ready(w2.poll(&mut f2), "remaining PopFuture"), Some(1));
}

/// Queue full, two pending push futures, one pop, the first (notified) future dropped:
/// the second pusher must be woken and get the freed slot. The dropped value never arrives.
#[test]
fn push_future_cancel_passes_wakeup_on() {
    let log = DropLog::new();
    let q = BoundedQueue::new(1);
    q.push(DropCounter::new(0, &log)).unwrap();
    let w1 = CountingWaker::new();
    let w2 = CountingWaker::new();
    let mut f1 = Box::pin(q.push_async(DropCounter::new(1, &log)));
    let mut f2 = Box::pin(q.push_async(DropCounter::new(2, &log)));
    assert!(w1.poll(&mut f1).is_pending());
    assert!(w2.poll(&mut f2).is_pending());
    assert_eq!(q.pop().unwrap().id, 0);
    assert!(w1.woken() || w2.woken(), "pop woke no producer");
    drop(f1);
    assert_eq!(log.count(1), 1, "the dropped PushFuture's value is dropped");
    assert!(w2.woken(), "lost wake-up: second PushFuture not woken after the first was dropped");
    assert!(ready(w2.poll(&mut f2), "second PushFuture").is_ok());
    assert_eq!(q.try_pop().unwrap().id, 2);
    assert_eq!(q.try_pop().unwrap_err(), TryPopError::Empty);
    drop(f2);
    drop(q);
    log.assert_each_once(3);
}

#[test]
fn push_future_cancel_wakes_blocked_thread() {
    let _w = Watchdog::start("push_future_cancel_wakes_blocked_thread");
    let q = BoundedQueue::new(1);
    q.push(0).unwrap();
    let w1 = CountingWaker::new();
    let mut f1 = Box::pin(q.push_async(1));
    assert!(w1.poll(&mut f1).is_pending());
    thread::scope(|s| {
        let h = s.spawn(|| q.push_timeout(2, LONG));
        thread::sleep(Duration::from_millis(10));
        assert_eq!(q.pop(), Some(0));
        drop(f1);
        assert_eq!(h.join().unwrap(), Ok(()), "blocked producer never got the freed slot");
    });
    assert_eq!(q.try_pop(), Ok(2));
}

#[test]
fn push_future_cancel_before_pop() {
    let q = BoundedQueue::new(1);
    q.push(0).unwrap();
    let w1 = CountingWaker::new();
    let w2 = CountingWaker::new();
    let mut f1 = Box::pin(q.push_async(1));
    let mut f2 = Box::pin(q.push_async(2));
    assert!(w1.poll(&mut f1).is_pending());
    assert!(w2.poll(&mut f2).is_pending());
    drop(f1);
    assert_eq!(q.pop(), Some(0));
    assert!(w2.woken(), "pop must wake the remaining PushFuture");
    assert_eq!(ready(w2.poll(&mut f2), "remaining PushFuture"), Ok(()));
    assert_eq!(q.pop(), Some(2));
}

/// Many rounds of pending futures, a random-ish subset cancelled after the notification:
/// every pushed item reaches a surviving consumer or stays in the queue.
#[test]
fn pop_futures_mass_cancellation_loses_nothing() {
    let q = BoundedQueue::new(4);
    for round in 0..32u32 {
        let ws: Vec<CountingWaker> = (0..4).map(|_| CountingWaker::new()).collect();
        let mut fs: Vec<_> = (0..4).map(|_| Some(Box::pin(q.pop_async()))).collect();
        for (w, f) in ws.iter().zip(fs.iter_mut()) {
            assert!(w.poll(f.as_mut().unwrap()).is_pending());
        }
        let items = 1 + (round % 4) as usize;
        for i in 0..items {
            q.try_push(round * 10 + i as u32).unwrap();
        }
        for (i, f) in fs.iter_mut().enumerate() {
            if (round >> i) & 1 == 1 {
                *f = None;
            }
        }
        let survivors: Vec<usize> = (0..4).filter(|&i| fs[i].is_some()).collect();
        // Every item must reach a surviving waiter: at least min(items, survivors) are woken.
        let woken: Vec<usize> = survivors.iter().copied().filter(|&i| ws[i].woken()).collect();
        assert!(
            woken.len() >= items.min(survivors.len()),
            "round {round}: {items} items, survivors {survivors:?}, only {woken:?} woken (lost wake-up)"
        );
        let mut got = Vec::new();
        for &i in &woken {
            match ws[i].poll(fs[i].as_mut().unwrap()) {
                Poll::Ready(Some(v)) => got.push(v),
                Poll::Ready(None) => panic!("None from an open queue"),
                Poll::Pending => {}
            }
        }
        fs.clear();
        while let Ok(v) = q.try_pop() {
            got.push(v);
        }
        got.sort_unstable();
        let expect: Vec<u32> = (0..items as u32).map(|i| round * 10 + i).collect();
        assert_eq!(got, expect, "round {round}: items lost or duplicated");
    }
}

// ---------------------------------------------------------------------------------------
// Model test against VecDeque
// ---------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum Op {
    TryPush(u16),
    TryPop,
    PushTimeoutZero(u16),
    PopTimeoutZero,
    PushAsyncOnce(u16),
    PopAsyncOnce,
    Close,
    Len,
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => any::<u16>().prop_map(Op::TryPush),
        3 => Just(Op::TryPop),
        1 => any::<u16>().prop_map(Op::PushTimeoutZero),
        1 => Just(Op::PopTimeoutZero),
        1 => any::<u16>().prop_map(Op::PushAsyncOnce),
        1 => Just(Op::PopAsyncOnce),
        1 => Just(Op::Close),
        1 => Just(Op::Len),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        // Under Miri each case costs 100x or more: a handful still runs every kind of step.
        cases: scaled(256, 6) as u32,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn model_matches_vecdeque(cap in 1usize..5, ops in prop::collection::vec(op_strategy(), 0..60)) {
        let q = BoundedQueue::new(cap);
        let mut model: VecDeque<u16> = VecDeque::new();
        let mut closed = false;
        for (step, op) in ops.into_iter().enumerate() {
            match op {
                Op::TryPush(v) => {
                    let expect = if closed { Err(TryPushError::Closed(v)) }
                        else if model.len() == cap { Err(TryPushError::Full(v)) }
                        else { model.push_back(v); Ok(()) };
                    prop_assert_eq!(q.try_push(v), expect, "step {}", step);
                }
                Op::TryPop => {
                    let expect = match model.pop_front() {
                        Some(v) => Ok(v),
                        None if closed => Err(TryPopError::Closed),
                        None => Err(TryPopError::Empty),
                    };
                    prop_assert_eq!(q.try_pop(), expect, "step {}", step);
                }
                Op::PushTimeoutZero(v) => {
                    let expect = if closed { Err(PushTimeoutError::Closed(v)) }
                        else if model.len() == cap { Err(PushTimeoutError::Timeout(v)) }
                        else { model.push_back(v); Ok(()) };
                    prop_assert_eq!(q.push_timeout(v, Duration::ZERO), expect, "step {}", step);
                }
                Op::PopTimeoutZero => {
                    let expect = match model.pop_front() {
                        Some(v) => Ok(v),
                        None if closed => Err(PopTimeoutError::Closed),
                        None => Err(PopTimeoutError::Timeout),
                    };
                    prop_assert_eq!(q.pop_timeout(Duration::ZERO), expect, "step {}", step);
                }
                Op::PushAsyncOnce(v) => {
                    // Polled once; if pending it is dropped (cancelled): nothing changes.
                    let expect = if closed { Poll::Ready(Err(Closed(v))) }
                        else if model.len() == cap { Poll::Pending }
                        else { model.push_back(v); Poll::Ready(Ok(())) };
                    let mut f = Box::pin(q.push_async(v));
                    prop_assert_eq!(poll_once(&mut f), expect, "step {}", step);
                }
                Op::PopAsyncOnce => {
                    let expect = match model.pop_front() {
                        Some(v) => Poll::Ready(Some(v)),
                        None if closed => Poll::Ready(None),
                        None => Poll::Pending,
                    };
                    let mut f = Box::pin(q.pop_async());
                    prop_assert_eq!(poll_once(&mut f), expect, "step {}", step);
                }
                Op::Close => {
                    prop_assert_eq!(q.close(), !closed, "step {}", step);
                    closed = true;
                }
                Op::Len => {
                    // The observers alone, between two operations: they read and never change.
                    prop_assert_eq!(q.len(), model.len(), "len at step {}", step);
                    prop_assert_eq!(q.is_empty(), model.is_empty(), "is_empty at step {}", step);
                    prop_assert_eq!(q.is_full(), model.len() == cap, "is_full at step {}", step);
                    let debug = format!("{q:?}");
                    let expect = format!("len: {}, capacity: {cap}, closed: {closed}", model.len());
                    prop_assert!(debug.contains(&expect), "Debug {} at step {}", debug, step);
                }
            }
            // After every operation, whatever it was.
            prop_assert_eq!(q.len(), model.len(), "len after step {}", step);
            prop_assert_eq!(q.is_empty(), model.is_empty(), "is_empty after step {}", step);
            prop_assert_eq!(q.is_full(), model.len() == cap, "is_full after step {}", step);
            prop_assert_eq!(q.is_closed(), closed, "is_closed after step {}", step);
            prop_assert_eq!(q.capacity(), cap);
        }
        // Drain at the end: remaining items in order.
        q.close();
        let mut rest = Vec::new();
        while let Some(v) = q.pop() { rest.push(v); }
        prop_assert_eq!(rest, model.into_iter().collect::<Vec<_>>());
    }
}

// ---------------------------------------------------------------------------------------
// Stress (bounded): MPMC, every item exactly once
// ---------------------------------------------------------------------------------------

const PRODUCERS: usize = 3;
const CONSUMERS: usize = 3;
const PER_PRODUCER: usize = scaled(1_500, 30);
const TOTAL: usize = PRODUCERS * PER_PRODUCER;

fn check_exactly_once(mut got: Vec<usize>) {
    assert_eq!(got.len(), TOTAL, "item count");
    got.sort_unstable();
    for (i, v) in got.iter().enumerate() {
        assert_eq!(*v, i, "item {i} missing or duplicated");
    }
}

/// Per-producer FIFO: each consumer sees every producer's items in increasing order.
fn check_per_producer_order(seq: &[usize]) {
    let mut last = [None::<usize>; PRODUCERS];
    for &v in seq {
        let p = v / PER_PRODUCER;
        if let Some(l) = last[p] {
            assert!(v > l, "producer {p}'s items out of order for a consumer: {l} then {v}");
        }
        last[p] = Some(v);
    }
}

/// Runs `PRODUCERS` threads of `produce(q, p)` and `CONSUMERS` threads of `consume(q, c)` on
/// one queue of `capacity`, closes it once every producer is done, checks that each consumer
/// saw every producer's items in order, and returns all the items received.
fn run_mpmc(
    capacity: usize,
    produce: impl Fn(&BoundedQueue<usize>, usize) + Sync,
    consume: impl Fn(&BoundedQueue<usize>, usize) -> Vec<usize> + Sync,
) -> Vec<usize> {
    let q = BoundedQueue::new(capacity);
    let all = std::sync::Mutex::new(Vec::new());
    thread::scope(|s| {
        let producers: Vec<_> = (0..PRODUCERS)
            .map(|p| {
                let (q, produce) = (&q, &produce);
                s.spawn(move || produce(q, p))
            })
            .collect();
        for c in 0..CONSUMERS {
            let (q, all, consume) = (&q, &all, &consume);
            s.spawn(move || {
                let mine = consume(q, c);
                check_per_producer_order(&mine);
                all.lock().unwrap().extend(mine);
            });
        }
        for p in producers {
            p.join().unwrap();
        }
        assert!(q.close());
    });
    all.into_inner().unwrap()
}

#[test]
fn stress_blocking_mpmc() {
    let _w = Watchdog::start("stress_blocking_mpmc");
    let got = run_mpmc(
        2,
        |q, p| (0..PER_PRODUCER).for_each(|i| q.push(p * PER_PRODUCER + i).unwrap()),
        |q, _| std::iter::from_fn(|| q.pop()).collect(),
    );
    check_exactly_once(got);
}

#[test]
fn stress_mixed_try_timed_blocking() {
    let _w = Watchdog::start("stress_mixed_try_timed_blocking");
    let produce = |q: &BoundedQueue<usize>, p: usize| {
        for i in 0..PER_PRODUCER {
            let mut v = p * PER_PRODUCER + i;
            match (p + i) % 3 {
                0 => q.push(v).unwrap(),
                1 => loop {
                    match q.try_push(v) {
                        Ok(()) => break,
                        Err(TryPushError::Full(back)) => {
                            v = back;
                            thread::yield_now();
                        }
                        Err(TryPushError::Closed(_)) => panic!("closed early"),
                    }
                },
                _ => loop {
                    match q.push_timeout(v, Duration::from_micros(100)) {
                        Ok(()) => break,
                        Err(PushTimeoutError::Timeout(back)) => v = back,
                        Err(PushTimeoutError::Closed(_)) => panic!("closed early"),
                    }
                },
            }
        }
    };
    let consume = |q: &BoundedQueue<usize>, c: usize| {
        let mut mine = Vec::new();
        loop {
            let r = match c {
                0 => q.pop().ok_or(()),
                1 => loop {
                    match q.try_pop() {
                        Ok(v) => break Ok(v),
                        Err(TryPopError::Empty) => thread::yield_now(),
                        Err(TryPopError::Closed) => break Err(()),
                    }
                },
                _ => loop {
                    match q.pop_timeout(Duration::from_micros(100)) {
                        Ok(v) => break Ok(v),
                        Err(PopTimeoutError::Timeout) => {}
                        Err(PopTimeoutError::Closed) => break Err(()),
                    }
                },
            };
            match r {
                Ok(v) => mine.push(v),
                Err(()) => break,
            }
        }
        mine
    };
    check_exactly_once(run_mpmc(3, produce, consume));
}

/// Async push/pop futures driven by block_on on several threads (block_on re-polls only on a
/// wake-up, so a lost wake-up fails the test), mixed with one blocking thread on each side.
#[test]
fn stress_async_mpmc() {
    let _w = Watchdog::start("stress_async_mpmc");
    let produce = |q: &BoundedQueue<usize>, p: usize| {
        if p == 0 {
            for i in 0..PER_PRODUCER {
                q.push(p * PER_PRODUCER + i).unwrap();
            }
        } else {
            block_on(async {
                for i in 0..PER_PRODUCER {
                    q.push_async(p * PER_PRODUCER + i).await.unwrap();
                }
            });
        }
    };
    let consume = |q: &BoundedQueue<usize>, c: usize| {
        let mut mine = Vec::new();
        if c == 0 {
            while let Some(v) = q.pop() {
                mine.push(v);
            }
        } else {
            block_on(async {
                while let Some(v) = q.pop_async().await {
                    mine.push(v);
                }
            });
        }
        mine
    };
    check_exactly_once(run_mpmc(2, produce, consume));
}

/// Only async on both sides, one thread per future, each future a fresh block_on
/// (many register/complete cycles).
#[test]
fn stress_async_only_fresh_futures() {
    let _w = Watchdog::start("stress_async_only_fresh_futures");
    let mut got = run_mpmc(
        1,
        |q, p| (0..PER_PRODUCER / 3).for_each(|i| block_on(q.push_async(p * PER_PRODUCER + i)).unwrap()),
        |q, _| std::iter::from_fn(|| block_on(q.pop_async())).collect(),
    );
    got.sort_unstable();
    let mut expect: Vec<usize> =
        (0..PRODUCERS).flat_map(|p| (0..PER_PRODUCER / 3).map(move |i| p * PER_PRODUCER + i)).collect();
    expect.sort_unstable();
    assert_eq!(got, expect);
}

/// Producers race close(): every value is either received once or given back once in
/// Closed(v); drop counting proves no leak and no double drop.
#[test]
fn stress_close_while_busy_with_drop_counting() {
    let _w = Watchdog::start("stress_close_while_busy_with_drop_counting");
    for round in 0..scaled(10, 2) {
        let log = DropLog::new();
        let q = BoundedQueue::new(2);
        let received = AtomicUsize::new(0);
        let returned = AtomicUsize::new(0);
        let started = AtomicUsize::new(0);
        const N: usize = scaled(300, 20);
        thread::scope(|s| {
            for p in 0..2 {
                let (q, log, returned, started) = (&q, &log, &returned, &started);
                s.spawn(move || {
                    started.fetch_add(1, Ordering::SeqCst);
                    for i in 0..N {
                        let v = DropCounter::new(p * N + i, log);
                        let r = if p == 0 { q.push(v) } else { block_on(q.push_async(v)) };
                        if let Err(Closed(v)) = r {
                            drop(v);
                            returned.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                });
            }
            for c in 0..2 {
                let (q, received) = (&q, &received);
                s.spawn(move || loop {
                    let v = if c == 0 { q.pop() } else { block_on(q.pop_async()) };
                    match v {
                        Some(v) => {
                            drop(v);
                            received.fetch_add(1, Ordering::SeqCst);
                        }
                        None => break,
                    }
                });
            }
            wait_until("producers started", || started.load(Ordering::SeqCst) == 2);
            if round % 2 == 0 {
                thread::sleep(Duration::from_millis(1));
            }
            q.close();
        });
        assert_eq!(received.load(Ordering::SeqCst) + returned.load(Ordering::SeqCst), 2 * N, "round {round}");
        assert!(q.is_empty());
        drop(q);
        log.assert_each_once(2 * N);
    }
}

/// Drop counting through a whole MPMC run, including values still queued at the end.
#[test]
fn stress_drop_counting_no_leak_no_double_drop() {
    let _w = Watchdog::start("stress_drop_counting_no_leak_no_double_drop");
    let log = DropLog::new();
    const N: usize = scaled(2_000, 40);
    let left;
    {
        let q = BoundedQueue::new(3);
        let taken = AtomicUsize::new(0);
        thread::scope(|s| {
            for p in 0..2 {
                let (q, log) = (&q, &log);
                s.spawn(move || {
                    for i in 0..N / 2 {
                        q.push(DropCounter::new(p * N / 2 + i, log)).unwrap();
                    }
                });
            }
            for _ in 0..2 {
                let (q, taken) = (&q, &taken);
                s.spawn(move || {
                    // Consume all but a few; stop by count so some stay queued.
                    while taken.fetch_add(1, Ordering::SeqCst) < N - 3 {
                        let v = q.pop_timeout(LONG).expect("item");
                        drop(v);
                    }
                });
            }
        });
        left = q.len();
        assert_eq!(left, 3);
        assert_eq!(log.total(), N - 3);
        q.close();
    }
    log.assert_each_once(N);
}
