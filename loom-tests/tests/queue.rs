#![cfg(loom)]
//! loom models of `gosync::BoundedQueue`: producers and consumers racing on a full/empty
//! queue, `close` racing a push and waking blocked producers and consumers, and cancelled
//! `pop_async` / `push_async` futures racing the wake-up they were chosen for. Items are
//! counted exactly: none lost, none duplicated. A lost wake-up leaves a thread parked (or a
//! block_on pending) forever, which loom reports as a deadlock.

mod common;

use common::{poll_once_then_drop, Outcomes};
use gosync::{BoundedQueue, Closed, TryPopError};
use loom::sync::Arc;
use loom::thread;
use std::task::Poll;

/// Everything still in the queue, after it was closed.
fn drain<T>(queue: &BoundedQueue<T>) -> Vec<T> {
    let mut items = Vec::new();
    loop {
        match queue.try_pop() {
            Ok(item) => items.push(item),
            Err(TryPopError::Closed) => return items,
            Err(TryPopError::Empty) => panic!("drain: queue not closed"),
        }
    }
}

/// Capacity 1, two producers, one consumer popping twice: one producer blocks while the queue
/// is full and must be woken by the pop; the consumer blocks while it is empty and must be
/// woken by a push. Both items arrive exactly once.
#[test]
fn two_producers_one_consumer_capacity_one() {
    loom::model(|| {
        let queue = Arc::new(BoundedQueue::new(1));
        let producers: Vec<_> = [1usize, 2]
            .into_iter()
            .map(|item| {
                let queue = queue.clone();
                thread::spawn(move || queue.push(item).expect("open"))
            })
            .collect();

        let mut got = [queue.pop().expect("open"), queue.pop().expect("open")];
        got.sort_unstable();
        assert_eq!(got, [1, 2]);
        producers.into_iter().for_each(|h| h.join().unwrap());
        assert_eq!(queue.try_pop(), Err(TryPopError::Empty));
    });
}

/// One producer pushes two items into a capacity-1 queue and closes it; two consumers pop
/// until the end. Every item is received exactly once, and both consumers see the end (a
/// consumer blocked on the empty queue is woken by a push or by the close).
#[test]
fn one_producer_two_consumers_then_close() {
    loom::model(|| {
        let queue = Arc::new(BoundedQueue::new(1));
        let consumers: Vec<_> = (0..2)
            .map(|_| {
                let queue = queue.clone();
                thread::spawn(move || std::iter::from_fn(|| queue.pop()).collect::<Vec<usize>>())
            })
            .collect();

        queue.push(1).expect("open");
        queue.push(2).expect("open");
        assert!(queue.close());
        let mut got: Vec<usize> = consumers.into_iter().flat_map(|h| h.join().unwrap()).collect();
        got.sort_unstable();
        assert_eq!(got, [1, 2]);
    });
}

/// The async forms end to end: a task pushes two items with `push_async` into a capacity-1
/// queue (so its second push waits for room), another pops them with `pop_async`; both run
/// under `loom::future::block_on`, so a lost wake-up on either side never completes.
#[test]
fn push_async_pop_async_capacity_one() {
    loom::model(|| {
        let queue = Arc::new(BoundedQueue::new(1));
        let producer = {
            let queue = queue.clone();
            thread::spawn(move || {
                loom::future::block_on(async {
                    queue.push_async(1usize).await.expect("open");
                    queue.push_async(2).await.expect("open");
                })
            })
        };

        let got = loom::future::block_on(async { [queue.pop_async().await, queue.pop_async().await] });
        assert_eq!(got, [Some(1), Some(2)], "FIFO, each item once");
        producer.join().unwrap();
        assert_eq!(queue.try_pop(), Err(TryPopError::Empty));
    });
}

/// `close` racing a `push`, with a consumer blocked in `pop`: the pushed value either got in
/// (the consumer receives it, even though the queue closes) or came back in `Closed(v)` (the
/// consumer is woken by the close and gets None). Never lost, never both.
#[test]
fn close_races_push() {
    let seen = Outcomes::new();
    let s = seen.clone();
    loom::model(move || {
        let queue = Arc::new(BoundedQueue::new(1));
        let producer = {
            let queue = queue.clone();
            thread::spawn(move || queue.push(String::from("v")))
        };
        let closer = {
            let queue = queue.clone();
            thread::spawn(move || assert!(queue.close(), "the only close"))
        };

        let popped = queue.pop();
        let pushed = producer.join().unwrap();
        closer.join().unwrap();

        match pushed {
            Ok(()) => assert_eq!(popped.as_deref(), Some("v"), "pushed, so it is received"),
            Err(Closed(back)) => {
                assert_eq!(back, "v", "refused, so it comes back");
                assert_eq!(popped, None, "refused, so nothing was received");
            }
        }
        s.saw_if(popped.is_some(), "pushed before the close", "refused by the close");
        assert!(drain(&queue).is_empty());
    });
    seen.assert_all(&["pushed before the close", "refused by the close"]);
}

/// A producer blocked on a full queue (capacity 1) is woken by `close` and gets its value
/// back; the item already queued is still drained, then pops report the end.
#[test]
fn close_wakes_blocked_producer() {
    loom::model(|| {
        let queue = Arc::new(BoundedQueue::new(1));
        queue.try_push(0usize).expect("room");
        let producer = {
            let queue = queue.clone();
            thread::spawn(move || queue.push(1))
        };

        assert!(queue.close());
        assert_eq!(producer.join().unwrap(), Err(Closed(1)));
        assert_eq!(queue.pop(), Some(0));
        assert_eq!(queue.pop(), None);
    });
}

/// Consumers blocked on an empty queue, one thread in `pop` and one task in
/// `block_on(pop_async)`, are all woken by `close` and get None.
#[test]
fn close_wakes_blocked_consumers() {
    loom::model(|| {
        let queue = Arc::new(BoundedQueue::<usize>::new(1));
        let thread_consumer = {
            let queue = queue.clone();
            thread::spawn(move || queue.pop())
        };
        let task_consumer = {
            let queue = queue.clone();
            thread::spawn(move || loom::future::block_on(queue.pop_async()))
        };

        assert!(queue.close());
        assert_eq!(thread_consumer.join().unwrap(), None);
        assert_eq!(task_consumer.join().unwrap(), None);
    });
}

/// A `pop_async` future polled once (registered on the empty queue) and then dropped, racing
/// a push; a second consumer waits in `pop`. The item is never lost: if the one poll got it,
/// that consumer pushes it back, otherwise it stays queued; and if the push's wake-up had
/// chosen the dropped future, it passes to the blocked consumer. Either way the blocked
/// consumer receives the item.
#[test]
fn pop_future_dropped_racing_push() {
    let seen = Outcomes::new();
    let s = seen.clone();
    loom::model(move || {
        let queue = Arc::new(BoundedQueue::new(1));
        let dropper = {
            let queue = queue.clone();
            thread::spawn(move || match poll_once_then_drop(queue.pop_async()) {
                Poll::Ready(Some(item)) => {
                    // Got it in the one poll: hand it on, so the count stays exact.
                    queue.push(item).expect("open");
                    true
                }
                Poll::Ready(None) => panic!("never closed"),
                Poll::Pending => false,
            })
        };
        let consumer = {
            let queue = queue.clone();
            thread::spawn(move || queue.pop())
        };

        queue.push(7usize).expect("open");
        let got = dropper.join().unwrap();
        assert_eq!(consumer.join().unwrap(), Some(7));
        assert_eq!(queue.try_pop(), Err(TryPopError::Empty));
        s.saw_if(got, "dropped future's one poll got the item", "dropped future was pending");
    });
    seen.assert_all(&["dropped future's one poll got the item", "dropped future was pending"]);
}

/// A `push_async` future polled once on a full queue (registered) and then dropped, racing a
/// pop; a second producer waits in `push`. The dropped future's value enters the queue only
/// if its one poll returned `Ok`; a wake-up that had chosen it passes to the blocked producer.
#[test]
fn push_future_dropped_racing_pop() {
    let seen = Outcomes::new();
    let s = seen.clone();
    loom::model(move || {
        let queue = Arc::new(BoundedQueue::new(1));
        queue.try_push(1usize).expect("room");
        let dropper = {
            let queue = queue.clone();
            thread::spawn(move || match poll_once_then_drop(queue.push_async(2)) {
                Poll::Ready(Ok(())) => true,
                Poll::Ready(Err(_)) => panic!("never closed"),
                Poll::Pending => false,
            })
        };
        let producer = {
            let queue = queue.clone();
            thread::spawn(move || queue.push(3).expect("open"))
        };

        assert_eq!(queue.pop(), Some(1));
        let pushed_2 = dropper.join().unwrap();
        let mut rest = vec![queue.pop().expect("open")];
        if pushed_2 {
            rest.push(queue.pop().expect("open"));
        }
        producer.join().unwrap();
        rest.sort_unstable();
        assert_eq!(rest, if pushed_2 { vec![2, 3] } else { vec![3] });
        assert_eq!(queue.try_pop(), Err(TryPopError::Empty));
        s.saw_if(pushed_2, "dropped future's one poll pushed", "dropped future was pending");
    });
    seen.assert_all(&["dropped future's one poll pushed", "dropped future was pending"]);
}
