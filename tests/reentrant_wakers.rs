//! Wakers are user code, and user code may call back into gosync: an executor shutting down
//! drops futures from inside a wake, a waker may signal the very Cond it was woken by. gosync
//! never wakes, clones or drops a waker while one of its locks is held, so none of these
//! re-entrant callbacks can deadlock on a (non-reentrant) internal lock. Each test would hang
//! on such a lock; the watchdog turns a hang into a loud failure.

mod common;

use common::Watchdog;
use gosync::{BoundedQueue, Cond, Mutex, WaitGroup};
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Wake, Waker};

/// A waker that runs `on_wake` when woken and `on_drop` when its last handle drops.
struct Reentrant {
    on_wake: Box<dyn Fn() + Send + Sync>,
    on_drop: Box<dyn Fn() + Send + Sync>,
    wakes: AtomicUsize,
}

impl Wake for Reentrant {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::SeqCst);
        (self.on_wake)();
    }
}

impl Drop for Reentrant {
    fn drop(&mut self) {
        (self.on_drop)();
    }
}

fn reentrant(
    on_wake: impl Fn() + Send + Sync + 'static,
    on_drop: impl Fn() + Send + Sync + 'static,
) -> (Arc<Reentrant>, Waker) {
    let inner = Arc::new(Reentrant {
        on_wake: Box::new(on_wake),
        on_drop: Box::new(on_drop),
        wakes: AtomicUsize::new(0),
    });
    (inner.clone(), Waker::from(inner))
}

fn nothing() {}

#[test]
fn cond_waker_that_signals_and_broadcasts_the_same_cond() {
    let _w = Watchdog::start("cond_waker_that_signals_and_broadcasts_the_same_cond");
    let pair = Arc::new((Mutex::new(()), Cond::new()));
    let p = pair.clone();
    let (count, waker) = reentrant(
        move || {
            p.1.signal();
            p.1.broadcast();
        },
        nothing,
    );
    let mut cx = Context::from_waker(&waker);
    let mut a = Box::pin(pair.1.wait_async(pair.0.lock()));
    assert!(a.as_mut().poll(&mut cx).is_pending());
    let mut b = Box::pin(pair.1.wait_async(pair.0.lock()));
    assert!(b.as_mut().poll(&mut cx).is_pending());
    pair.1.signal(); // wakes `a`, whose waker signals (waking `b`) from inside the wake
    assert!(count.wakes.load(Ordering::SeqCst) >= 2);
    assert!(a.as_mut().poll(&mut cx).is_ready());
    assert!(b.as_mut().poll(&mut cx).is_ready());
    pair.1.broadcast();
}

/// A waker whose last handle, when dropped, signals and locks the Cond and Mutex it was
/// used with (an executor dropping its task).
fn dropping_calls_back(pair: &Arc<(Mutex<()>, Cond)>, dropped: &Arc<AtomicUsize>) -> Waker {
    let (p, d) = (pair.clone(), dropped.clone());
    reentrant(nothing, move || {
        p.1.signal();
        drop(p.0.lock());
        d.fetch_add(1, Ordering::SeqCst);
    })
    .1
}

#[test]
fn cond_waker_replaced_by_a_new_poll_calls_back_in_when_dropped() {
    let _w = Watchdog::start("cond_waker_replaced_by_a_new_poll_calls_back_in_when_dropped");
    let pair = Arc::new((Mutex::new(()), Cond::new()));
    let dropped = Arc::new(AtomicUsize::new(0));
    let waker = dropping_calls_back(&pair, &dropped);
    let mut wait = Box::pin(pair.1.wait_async(pair.0.lock()));
    assert!(wait.as_mut().poll(&mut Context::from_waker(&waker)).is_pending());
    drop(waker); // the future's copy is now the last one
                 // Re-polled with another waker: the old one is replaced, and dropped outside locks.
    assert!(wait.as_mut().poll(&mut Context::from_waker(Waker::noop())).is_pending());
    assert_eq!(dropped.load(Ordering::SeqCst), 1);
    pair.1.signal();
    assert!(wait.as_mut().poll(&mut Context::from_waker(Waker::noop())).is_ready());
}

#[test]
fn cond_waker_dropped_by_a_cancelled_wait_calls_back_in() {
    let _w = Watchdog::start("cond_waker_dropped_by_a_cancelled_wait_calls_back_in");
    let pair = Arc::new((Mutex::new(()), Cond::new()));
    let dropped = Arc::new(AtomicUsize::new(0));
    let waker = dropping_calls_back(&pair, &dropped);
    let mut wait = Box::pin(pair.1.wait_async(pair.0.lock()));
    assert!(wait.as_mut().poll(&mut Context::from_waker(&waker)).is_pending());
    drop(waker);
    drop(wait); // cancelled: the last handle of the waker goes with it
    assert_eq!(dropped.load(Ordering::SeqCst), 1);
    drop(pair.0.lock());
}

#[test]
fn mutex_waker_that_locks_again_when_woken() {
    let _w = Watchdog::start("mutex_waker_that_locks_again_when_woken");
    let mutex = Arc::new(Mutex::new(0));
    let m = mutex.clone();
    let (count, waker) = reentrant(
        move || {
            // Polls a fresh lock future once and drops it: registers and cancels on the
            // mutex's wait list from inside the wake.
            let mut fut = pin!(m.lock_async());
            let _ = fut.as_mut().poll(&mut Context::from_waker(Waker::noop()));
        },
        nothing,
    );
    let held = mutex.lock();
    let mut fut = Box::pin(mutex.lock_async());
    assert!(fut.as_mut().poll(&mut Context::from_waker(&waker)).is_pending());
    drop(held);
    assert_eq!(count.wakes.load(Ordering::SeqCst), 1);
    let mut cx = Context::from_waker(&waker);
    let mut guard = loop {
        if let std::task::Poll::Ready(guard) = fut.as_mut().poll(&mut cx) {
            break guard;
        }
    };
    *guard += 1;
    drop(guard);
    assert_eq!(*mutex.lock(), 1);
}

#[test]
fn wait_group_waker_that_starts_and_ends_a_round_when_woken() {
    let _w = Watchdog::start("wait_group_waker_that_starts_and_ends_a_round_when_woken");
    let wg = WaitGroup::new();
    let group = wg.clone();
    let (count, waker) = reentrant(
        move || {
            group.add(1);
            let mut wait = pin!(group.wait_async());
            assert!(wait.as_mut().poll(&mut Context::from_waker(Waker::noop())).is_pending());
            group.done(); // ends a round from inside the wake: takes the wait list's lock
        },
        nothing,
    );
    wg.add(1);
    let mut wait = Box::pin(wg.wait_async());
    assert!(wait.as_mut().poll(&mut Context::from_waker(&waker)).is_pending());
    wg.done();
    assert_eq!(count.wakes.load(Ordering::SeqCst), 1);
    assert!(wait.as_mut().poll(&mut Context::from_waker(&waker)).is_ready());
    assert_eq!(wg.count(), 0);
}

#[test]
fn queue_waker_that_pushes_and_pops_when_woken() {
    let _w = Watchdog::start("queue_waker_that_pushes_and_pops_when_woken");
    let queue = Arc::new(BoundedQueue::new(1));
    let q = queue.clone();
    let (count, waker) = reentrant(
        move || {
            // Takes the queue's lock and both Conds' lists from inside the wake.
            let item = q.try_pop();
            if let Ok(item) = item {
                q.try_push(item).unwrap();
            }
        },
        nothing,
    );
    let mut pop = Box::pin(queue.pop_async());
    assert!(pop.as_mut().poll(&mut Context::from_waker(&waker)).is_pending());
    queue.push(7).unwrap();
    assert_eq!(count.wakes.load(Ordering::SeqCst), 1);
    assert_eq!(pop.as_mut().poll(&mut Context::from_waker(&waker)), std::task::Poll::Ready(Some(7)));
    queue.close();
    // Close wakes every waiter (a broadcast) with the same re-entrant waker.
    let mut pop = Box::pin(queue.pop_async());
    assert_eq!(pop.as_mut().poll(&mut Context::from_waker(&waker)), std::task::Poll::Ready(None));
}

#[test]
fn queue_close_broadcast_with_reentrant_wakers() {
    let _w = Watchdog::start("queue_close_broadcast_with_reentrant_wakers");
    let queue = Arc::new(BoundedQueue::<u32>::new(1));
    let q = queue.clone();
    let (count, waker) = reentrant(
        move || {
            let _ = q.try_push(1);
            let _ = q.is_closed();
        },
        nothing,
    );
    let mut cx = Context::from_waker(&waker);
    let mut pops: Vec<_> = (0..3).map(|_| Box::pin(queue.pop_async())).collect();
    for pop in &mut pops {
        assert!(pop.as_mut().poll(&mut cx).is_pending());
    }
    queue.close();
    assert_eq!(count.wakes.load(Ordering::SeqCst), 3);
    for pop in &mut pops {
        assert_eq!(pop.as_mut().poll(&mut cx), std::task::Poll::Ready(None));
    }
}

/// A waker whose `clone` runs a callback (a `Waker` clone is user code too: the vtable's
/// clone function).
struct CloneHook(Box<dyn Fn() + Send + Sync>);

fn clone_hook_waker(on_clone: impl Fn() + Send + Sync + 'static) -> Waker {
    use std::task::{RawWaker, RawWakerVTable};
    unsafe fn clone(data: *const ()) -> RawWaker {
        // SAFETY: `data` came from `Arc::into_raw` of a live `Arc<CloneHook>`.
        let hook = unsafe { &*(data as *const CloneHook) };
        (hook.0)();
        // SAFETY: as above; the clone owns one more strong count.
        unsafe { Arc::increment_strong_count(data as *const CloneHook) };
        RawWaker::new(data, &VTABLE)
    }
    unsafe fn wake(data: *const ()) {
        // SAFETY: consumes the strong count this waker owned.
        drop(unsafe { Arc::from_raw(data as *const CloneHook) });
    }
    unsafe fn wake_by_ref(_: *const ()) {}
    unsafe fn drop_waker(data: *const ()) {
        // SAFETY: as in `wake`.
        drop(unsafe { Arc::from_raw(data as *const CloneHook) });
    }
    static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake_by_ref, drop_waker);
    let data = Arc::into_raw(Arc::new(CloneHook(Box::new(on_clone)))) as *const ();
    // SAFETY: the vtable functions above keep the `Arc` count balanced.
    unsafe { Waker::from_raw(RawWaker::new(data, &VTABLE)) }
}

#[test]
fn wakers_cloned_by_gosync_may_call_back_in() {
    let _w = Watchdog::start("wakers_cloned_by_gosync_may_call_back_in");
    let clones = Arc::new(AtomicUsize::new(0));
    // A queue: the pop future stores its waker while deciding to wait under the queue's lock.
    let queue = Arc::new(BoundedQueue::<u8>::new(1));
    let (q, c) = (queue.clone(), clones.clone());
    let waker = clone_hook_waker(move || {
        let _ = q.try_pop(); // takes the queue's lock
        c.fetch_add(1, Ordering::SeqCst);
    });
    let mut pop = Box::pin(queue.pop_async());
    assert!(pop.as_mut().poll(&mut Context::from_waker(&waker)).is_pending());
    assert!(clones.load(Ordering::SeqCst) >= 1, "the future keeps a clone of its waker");
    drop(pop);

    // A mutex: the lock future stores its waker while registering on the mutex's list.
    let mutex = Arc::new(Mutex::new(()));
    let (m, c) = (mutex.clone(), clones.clone());
    let waker = clone_hook_waker(move || {
        let mut probe = pin!(m.lock_async()); // registers on the mutex's list, then cancels
        let _ = probe.as_mut().poll(&mut Context::from_waker(Waker::noop()));
        c.fetch_add(1, Ordering::SeqCst);
    });
    let held = mutex.lock();
    let before = clones.load(Ordering::SeqCst);
    let mut lock = Box::pin(mutex.lock_async());
    assert!(lock.as_mut().poll(&mut Context::from_waker(&waker)).is_pending());
    assert!(clones.load(Ordering::SeqCst) > before);
    drop(held);
    drop(lock);
}

/// A waker whose `clone` panics.
fn panicking_clone_waker() -> Waker {
    use std::task::{RawWaker, RawWakerVTable};
    unsafe fn clone(_: *const ()) -> RawWaker {
        panic!("this waker cannot be cloned")
    }
    unsafe fn noop(_: *const ()) {}
    static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, noop, noop, noop);
    // SAFETY: the vtable's functions ignore the (null) data pointer.
    unsafe { Waker::from_raw(RawWaker::new(std::ptr::null(), &VTABLE)) }
}

#[test]
fn a_poll_that_panics_in_waker_clone_loses_no_signal() {
    // An executor catches the panic of a poll and drops the task (as tokio does). The Cond
    // must neither keep a registration nobody can wake nor spend the next signal on it.
    let pair = Arc::new((Mutex::new(()), Cond::new()));
    let (mutex, cond) = (&pair.0, &pair.1);
    let mut doomed = Box::pin(cond.wait_async(mutex.lock()));
    assert!(doomed.as_mut().poll(&mut Context::from_waker(Waker::noop())).is_pending());
    let bad = panicking_clone_waker();
    let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = doomed.as_mut().poll(&mut Context::from_waker(&bad));
    }));
    assert!(polled.is_err(), "the waker's clone panicked through poll");
    drop(doomed);

    let mut healthy = Box::pin(cond.wait_async(mutex.lock()));
    assert!(healthy.as_mut().poll(&mut Context::from_waker(Waker::noop())).is_pending());
    cond.signal();
    assert!(healthy.as_mut().poll(&mut Context::from_waker(Waker::noop())).is_ready(), "the signal was lost");
}
