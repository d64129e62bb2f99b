//! A future dropped while it waits must withdraw its registration: the primitive then holds
//! no clone of the task's `Waker`, so nothing leaks and no stale entry is woken later. Each
//! case polls a future to `Pending` with a waker whose clones we count, drops it, and checks
//! that every clone is gone before the primitive itself is touched again.

use gosync::{BoundedQueue, Cond, Mutex, WaitGroup};
use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Wake, Waker};

struct Tracked;
impl Wake for Tracked {
    fn wake(self: Arc<Self>) {}
}

/// Polls `fut` once with a tracked waker, expects `Pending`, drops it, and asserts that no
/// clone of the waker survives (the registration was withdrawn, not left behind).
fn assert_drop_withdraws<F: Future>(fut: F) {
    let tracked = Arc::new(Tracked);
    let waker = Waker::from(tracked.clone());
    let mut fut = Box::pin(fut);
    assert!(fut.as_mut().poll(&mut Context::from_waker(&waker)).is_pending());
    assert!(Arc::strong_count(&tracked) > 2, "a pending future keeps its waker registered");
    drop(fut);
    drop(waker);
    assert_eq!(Arc::strong_count(&tracked), 1, "the dropped future's registration leaked");
}

#[test]
fn dropped_wait_group_future_withdraws() {
    let wg = WaitGroup::new();
    let _token = wg.guard();
    assert_drop_withdraws(wg.wait_async());
    assert_eq!(wg.count(), 1);
}

#[test]
fn dropped_lock_future_withdraws() {
    let m = Mutex::new(());
    let _held = m.lock();
    assert_drop_withdraws(m.lock_async());
}

#[test]
fn dropped_cond_wait_future_withdraws_and_unlocks() {
    let (m, cond) = (Mutex::new(()), Cond::new());
    assert_drop_withdraws(cond.wait_async(m.lock()));
    assert!(m.try_lock().is_some(), "the lock is not held after the drop");
}

#[test]
fn dropped_queue_futures_withdraw() {
    let queue = BoundedQueue::new(1);
    assert_drop_withdraws(queue.pop_async());
    queue.try_push(1).unwrap();
    assert_drop_withdraws(queue.push_async(2));
    assert_eq!(queue.try_pop(), Ok(1));
}
