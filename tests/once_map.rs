//! OnceMap: one initializer per key however many callers race (threads and tasks), errors
//! and panics not cached and handed over to a waiter, same-key re-entry panics, other keys
//! never wait on a running initializer, remove racing an initializer, drop counting, cancel
//! safety of the async forms, and a proptest model against HashMap.

mod common;

use common::{block_on, panic_message, ready, wait_until, CountingWaker, DropCounter, DropLog, Watchdog};
use futures_core::FusedFuture;
use gosync::OnceMap;
use proptest::prelude::*;
use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::future::{poll_fn, Future};
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::task::Poll;
use std::thread;
use std::time::Duration;

/// Threads racing for one key (fewer under Miri, which runs threads 100x slower).
const RACERS: usize = if cfg!(miri) { 3 } else { 8 };

/// A deterministic hasher, so that "keys of the same shard" is the same set on every run.
type Fixed = BuildHasherDefault<DefaultHasher>;

fn assert_send_sync<T: Send + Sync>() {}

/// The suite's watchdog, widened under Miri, whose clock advances with the work it executes.
fn watchdog(name: &'static str) -> Watchdog {
    if cfg!(miri) {
        Watchdog::new(name, Duration::from_secs(900))
    } else {
        Watchdog::start(name)
    }
}
fn assert_send<T: Send>(_: &T) {}

/// Lets the waiting callers reach their wait: not needed for correctness (every assertion
/// holds whatever the timing), it only makes the interesting interleaving the usual one.
fn settle() {
    thread::sleep(Duration::from_millis(if cfg!(miri) { 1 } else { 20 }));
}

/// A blocking initializer that reports it started and then waits for `release`.
fn gated<V>(value: V) -> (impl FnOnce(&u32) -> V, Arc<AtomicBool>, mpsc::Sender<()>) {
    let started = Arc::new(AtomicBool::new(false));
    let (release, gate) = mpsc::channel::<()>();
    let flag = started.clone();
    let init = move |_: &u32| {
        flag.store(true, Ordering::SeqCst);
        let _ = gate.recv();
        value
    };
    (init, started, release)
}

// ---------------------------------------------------------------------------------------
// Basics
// ---------------------------------------------------------------------------------------

#[test]
fn basics_and_accessors() {
    let _dog = watchdog("basics_and_accessors");
    assert_send_sync::<OnceMap<String, Arc<Vec<u8>>>>();
    let map: OnceMap<String, u32> = OnceMap::new();
    assert!(map.is_empty());
    assert_eq!(map.get_or_init("a".into(), |k| k.len() as u32), 1);
    assert_eq!(map.get_or_init("a".into(), |_| unreachable!("a hit runs no initializer")), 1);
    assert_eq!(map.get_or_init("bb".into(), |k| k.len() as u32), 2);
    assert_eq!(map.get("bb"), Some(2));
    assert_eq!(map.get("c"), None);
    assert_eq!(map.len(), 2);
    assert_eq!(format!("{:?}", OnceMap::<u8, u8>::new()), "{}");
    let mut shown = format!("{map:?}");
    shown.retain(|c| c != ' ');
    assert!(shown == r#"{"a":1,"bb":2}"# || shown == r#"{"bb":2,"a":1}"#, "{shown}");
    assert_eq!(map.remove("a"), Some(1));
    assert_eq!(map.len(), 1);
    map.clear();
    assert!(map.is_empty());
    let fixed: OnceMap<u8, u8, Fixed> = OnceMap::default();
    assert_eq!(fixed.get_or_init(1, |_| 2), 2);
}

// ---------------------------------------------------------------------------------------
// One initializer per key
// ---------------------------------------------------------------------------------------

/// N threads ask for one key while its initializer is held open: the initializer runs once
/// and every thread gets its value.
#[test]
fn racing_threads_run_one_initializer() {
    let _dog = watchdog("racing_threads_run_one_initializer");
    let map: OnceMap<u32, String> = OnceMap::new();
    let inits = AtomicUsize::new(0);
    let entered = AtomicUsize::new(0);
    let (release, gate) = mpsc::channel::<()>();
    let gate = std::sync::Mutex::new(gate);
    thread::scope(|s| {
        let callers: Vec<_> = (0..RACERS)
            .map(|_| {
                s.spawn(|| {
                    entered.fetch_add(1, Ordering::SeqCst);
                    map.get_or_init(7, |key| {
                        inits.fetch_add(1, Ordering::SeqCst);
                        // Held open until every caller has arrived.
                        let _ = gate.lock().unwrap().recv();
                        format!("value {key}")
                    })
                })
            })
            .collect();
        wait_until("all callers arrived", || entered.load(Ordering::SeqCst) == RACERS);
        wait_until("an initializer runs", || inits.load(Ordering::SeqCst) > 0);
        settle();
        drop(release);
        for caller in callers {
            assert_eq!(caller.join().unwrap(), "value 7");
        }
    });
    assert_eq!(inits.load(Ordering::SeqCst), 1, "the initializer ran once");
    assert_eq!(map.len(), 1);
}

/// While one key's initializer is blocked, hits and initializations of every other key
/// (all shards, so some share the blocked key's shard) complete: no lock is held during init.
#[test]
fn other_keys_never_wait_on_a_running_initializer() {
    let _dog = watchdog("other_keys_never_wait_on_a_running_initializer");
    let map: OnceMap<u32, u32, Fixed> = OnceMap::default();
    let others = if cfg!(miri) { 16 } else { 256 };
    for key in 1..=others {
        map.get_or_init(key, |k| k * 10);
    }
    let (init, started, release) = gated(0);
    thread::scope(|s| {
        let owner = s.spawn(|| map.get_or_init(0, init));
        wait_until("initializer started", || started.load(Ordering::SeqCst));
        for key in 1..=others {
            assert_eq!(map.get(&key), Some(key * 10));
            assert_eq!(map.get_or_init(key, |_| unreachable!()), key * 10);
            assert_eq!(map.get_or_init(key + 1000, |k| *k), key + 1000);
        }
        assert_eq!(map.get(&0), None, "not initialized yet");
        drop(release);
        assert_eq!(owner.join().unwrap(), 0);
    });
}

/// An initializer may use the map for other keys, even ones that share its shard.
#[test]
fn initializer_may_use_other_keys() {
    let _dog = watchdog("initializer_may_use_other_keys");
    let map: OnceMap<u32, u32, Fixed> = OnceMap::default();
    let fib = |n: u32| -> u32 {
        fn go(map: &OnceMap<u32, u32, Fixed>, n: u32) -> u32 {
            map.get_or_init(n, |&n| if n < 2 { n } else { go(map, n - 1) + go(map, n - 2) })
        }
        go(&map, n)
    };
    assert_eq!(fib(40), 102_334_155);
    assert_eq!(map.len(), 41);
}

#[test]
fn same_key_reentry_panics_instead_of_deadlocking() {
    let _dog = watchdog("same_key_reentry_panics_instead_of_deadlocking");
    let map: OnceMap<u32, u32> = OnceMap::new();
    let outcome = catch_unwind(AssertUnwindSafe(|| map.get_or_init(1, |_| map.get_or_init(1, |_| 2))));
    let message = panic_message(&*outcome.expect_err("re-entry must panic"));
    assert!(message.starts_with("gosync: OnceMap initializer asked for its own key"), "{message}");
    // Nothing was stored and the key works again.
    assert_eq!(map.get(&1), None);
    assert_eq!(map.get_or_init(1, |_| 3), 3);

    // Async: the initializer's future awaits its own key.
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        block_on(map.get_or_init_async(2, |_| async { map.get_or_init_async(2, |_| async { 5 }).await }))
    }));
    let message = panic_message(&*outcome.expect_err("async re-entry must panic"));
    assert!(message.starts_with("gosync: OnceMap initializer asked for its own key"), "{message}");
    assert_eq!(block_on(map.get_or_init_async(2, |_| async { 6 })), 6);
}

// ---------------------------------------------------------------------------------------
// Failures are not cached
// ---------------------------------------------------------------------------------------

#[test]
fn errors_are_not_cached() {
    let _dog = watchdog("errors_are_not_cached");
    let map: OnceMap<&str, u32> = OnceMap::new();
    assert_eq!(map.try_get_or_init("k", |_| Err("down")), Err("down"));
    assert_eq!(map.get("k"), None);
    assert!(map.is_empty());
    assert_eq!(map.try_get_or_init("k", |_| Ok::<_, &str>(4)), Ok(4));
    // Once stored, the initializer does not run, so it cannot fail.
    assert_eq!(map.try_get_or_init("k", |_| Err("unused")), Ok(4));
}

/// The initializer fails with callers waiting: its caller gets the error, exactly one waiter
/// runs its own initializer, and every waiter gets that value.
#[test]
fn error_with_waiters_hands_over_to_one_of_them() {
    let _dog = watchdog("error_with_waiters_hands_over_to_one_of_them");
    let map: OnceMap<u32, u32> = OnceMap::new();
    let (release, gate) = mpsc::channel::<()>();
    let gate = std::sync::Mutex::new(gate);
    let started = AtomicBool::new(false);
    let retries = AtomicUsize::new(0);
    thread::scope(|s| {
        let owner = s.spawn(|| {
            map.try_get_or_init(1, |_| {
                started.store(true, Ordering::SeqCst);
                let _ = gate.lock().unwrap().recv();
                Err("failed")
            })
        });
        wait_until("owner started", || started.load(Ordering::SeqCst));
        let waiters: Vec<_> = (1..RACERS)
            .map(|_| {
                s.spawn(|| {
                    map.try_get_or_init(1, |_| {
                        Ok::<_, &str>(100 + retries.fetch_add(1, Ordering::SeqCst) as u32)
                    })
                })
            })
            .collect();
        settle();
        drop(release);
        assert_eq!(owner.join().unwrap(), Err("failed"));
        for waiter in waiters {
            assert_eq!(waiter.join().unwrap(), Ok(100));
        }
    });
    assert_eq!(retries.load(Ordering::SeqCst), 1, "exactly one waiter took over");
    assert_eq!(map.get(&1), Some(100));
}

/// The initializer panics with callers waiting: the panic reaches its own caller, one waiter
/// takes over, and all waiters finish with its value.
#[test]
fn panic_with_waiters_reaches_its_caller_and_one_waiter_takes_over() {
    let _dog = watchdog("panic_with_waiters_reaches_its_caller_and_one_waiter_takes_over");
    let map: OnceMap<u32, u32> = OnceMap::new();
    let (release, gate) = mpsc::channel::<()>();
    let gate = std::sync::Mutex::new(gate);
    let started = AtomicBool::new(false);
    let retries = AtomicUsize::new(0);
    thread::scope(|s| {
        let owner = s.spawn(|| {
            map.get_or_init(1, |_| {
                started.store(true, Ordering::SeqCst);
                let _ = gate.lock().unwrap().recv();
                panic!("init exploded")
            })
        });
        wait_until("owner started", || started.load(Ordering::SeqCst));
        let waiters: Vec<_> = (1..RACERS)
            .map(|_| s.spawn(|| map.get_or_init(1, |_| 7 + retries.fetch_add(1, Ordering::SeqCst) as u32)))
            .collect();
        settle();
        drop(release);
        let panic = owner.join().expect_err("the panic reaches the initializer's caller");
        assert_eq!(panic_message(&*panic), "init exploded");
        for waiter in waiters {
            assert_eq!(waiter.join().unwrap(), 7);
        }
    });
    assert_eq!(retries.load(Ordering::SeqCst), 1, "exactly one waiter took over");
    assert_eq!(map.get(&1), Some(7));
}

// ---------------------------------------------------------------------------------------
// remove racing an initializer
// ---------------------------------------------------------------------------------------

/// remove (and clear) while the key's initializer runs: they return None / leave it alone,
/// and the value is stored when the initializer finishes.
#[test]
fn remove_during_init_leaves_the_initializer_alone() {
    let _dog = watchdog("remove_during_init_leaves_the_initializer_alone");
    let map: OnceMap<u32, u32> = OnceMap::new();
    map.get_or_init(2, |_| 20);
    let (init, started, release) = gated(10);
    thread::scope(|s| {
        let owner = s.spawn(|| map.get_or_init(1, init));
        wait_until("initializer started", || started.load(Ordering::SeqCst));
        let waiter = s.spawn(|| map.get_or_init(1, |_| unreachable!("the running initializer serves us")));
        assert_eq!(map.remove(&1), None);
        map.clear();
        assert_eq!(map.get(&2), None, "clear removed the initialized key");
        assert_eq!(map.len(), 0);
        drop(release);
        assert_eq!(owner.join().unwrap(), 10);
        assert_eq!(waiter.join().unwrap(), 10);
    });
    assert_eq!(map.get(&1), Some(10));
    assert_eq!(map.remove(&1), Some(10));
    assert!(map.is_empty());
}

// ---------------------------------------------------------------------------------------
// Async, and async mixed with blocking
// ---------------------------------------------------------------------------------------

/// A future whose output is released by a flag (polled by hand; re-polled after setting it).
fn flagged<V>(flag: &Arc<AtomicBool>, value: V) -> impl Future<Output = V> {
    let flag = flag.clone();
    let mut value = Some(value);
    poll_fn(
        move |_| if flag.load(Ordering::SeqCst) { Poll::Ready(value.take().unwrap()) } else { Poll::Pending },
    )
}

/// An async initializer with a blocked thread and a pending task waiting on it: both get its
/// value, and the task is woken.
#[test]
fn async_initializer_serves_blocking_and_async_waiters() {
    let _dog = watchdog("async_initializer_serves_blocking_and_async_waiters");
    let map: OnceMap<u32, u32> = OnceMap::new();
    let done = Arc::new(AtomicBool::new(false));
    let (owner_waker, waiter_waker) = (CountingWaker::new(), CountingWaker::new());
    let mut owner = Box::pin(map.get_or_init_async(1, |_| flagged(&done, 11)));
    assert!(owner_waker.poll(&mut owner).is_pending());
    assert_eq!(format!("{owner:?}"), r#"GetOrInitFuture { state: "Initializing", .. }"#);
    let mut waiter = Box::pin(map.get_or_init_async(1, |_| async { unreachable!() }));
    assert!(waiter_waker.poll(&mut waiter).is_pending());
    assert_eq!(format!("{waiter:?}"), r#"GetOrInitFuture { state: "Waiting", .. }"#);
    thread::scope(|s| {
        let thread = s.spawn(|| map.get_or_init(1, |_| unreachable!()));
        settle();
        done.store(true, Ordering::SeqCst);
        assert_eq!(owner_waker.poll(&mut owner), Poll::Ready(11));
        assert!(owner.is_terminated());
        assert_eq!(thread.join().unwrap(), 11);
    });
    assert_eq!(waiter_waker.count(), 1, "the waiting task was woken once");
    assert_eq!(waiter_waker.poll(&mut waiter), Poll::Ready(11));
    assert!(waiter.is_terminated());
}

/// A blocking initializer with async waiters on other threads (a real executor loop).
#[test]
fn blocking_initializer_serves_async_waiters() {
    let _dog = watchdog("blocking_initializer_serves_async_waiters");
    let map: OnceMap<u32, u32> = OnceMap::new();
    let (init, started, release) = gated(5);
    thread::scope(|s| {
        let owner = s.spawn(|| map.get_or_init(1, init));
        wait_until("initializer started", || started.load(Ordering::SeqCst));
        let tasks: Vec<_> = (1..RACERS)
            .map(|_| s.spawn(|| block_on(map.get_or_init_async(1, |_| async { unreachable!() }))))
            .collect();
        settle();
        drop(release);
        assert_eq!(owner.join().unwrap(), 5);
        for task in tasks {
            assert_eq!(task.join().unwrap(), 5);
        }
    });
}

#[test]
fn async_errors_are_not_cached_and_hand_over() {
    let _dog = watchdog("async_errors_are_not_cached_and_hand_over");
    let map: OnceMap<u32, u32> = OnceMap::new();
    let fail = Arc::new(AtomicBool::new(false));
    let (owner_waker, waiter_waker) = (CountingWaker::new(), CountingWaker::new());
    let mut owner = Box::pin(map.get_or_try_init_async(1, |_| flagged(&fail, Err("no"))));
    assert!(owner_waker.poll(&mut owner).is_pending());
    let mut waiter = Box::pin(map.get_or_try_init_async(1, |_| async { Ok::<_, &str>(9) }));
    assert!(waiter_waker.poll(&mut waiter).is_pending());
    assert_send(&waiter);
    fail.store(true, Ordering::SeqCst);
    assert_eq!(owner_waker.poll(&mut owner), Poll::Ready(Err("no")));
    assert_eq!(waiter_waker.count(), 1);
    assert_eq!(waiter_waker.poll(&mut waiter), Poll::Ready(Ok(9)));
    assert_eq!(map.get(&1), Some(9));
}

// ---------------------------------------------------------------------------------------
// Cancel safety
// ---------------------------------------------------------------------------------------

/// A future that records its drop.
struct DropFlag(Arc<AtomicBool>);
impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// The owner's future is dropped mid-initialization with a task and a thread waiting: its
/// initializer is dropped, and one waiter runs its own; nobody hangs.
#[test]
fn dropped_async_initializer_hands_over() {
    let _dog = watchdog("dropped_async_initializer_hands_over");
    let map: OnceMap<u32, u32> = OnceMap::new();
    let never = Arc::new(AtomicBool::new(false));
    let init_dropped = Arc::new(AtomicBool::new(false));
    let waiter_waker = CountingWaker::new();
    let mut owner = Box::pin(map.get_or_init_async(1, |_| {
        let guard = DropFlag(init_dropped.clone());
        let pending = flagged(&never, 0);
        async move {
            let _guard = guard;
            pending.await
        }
    }));
    assert!(ready_or_pending(&mut owner).is_pending());
    let mut task = Box::pin(map.get_or_init_async(1, |_| async { 2 }));
    assert!(waiter_waker.poll(&mut task).is_pending());
    thread::scope(|s| {
        let thread = s.spawn(|| map.get_or_init(1, |_| 3));
        settle();
        drop(owner);
        assert!(init_dropped.load(Ordering::SeqCst), "the initializer was dropped with its future");
        let from_thread = thread.join().unwrap();
        assert_eq!(waiter_waker.count(), 1, "the task was woken");
        let from_task = ready(waiter_waker.poll(&mut task), "the task gets a value");
        // Whichever took over, both got the same, stored value.
        assert_eq!(from_thread, from_task);
        assert!(from_task == 2 || from_task == 3);
        assert_eq!(map.get(&1), Some(from_task));
    });
}

fn ready_or_pending<F: Future + Unpin>(fut: &mut std::pin::Pin<Box<F>>) -> Poll<F::Output> {
    CountingWaker::new().poll(fut)
}

/// A waiting future dropped: it is withdrawn, the initializer and the other waiters are
/// unaffected, and its waker is not kept (no wake-up for it).
#[test]
fn dropped_waiter_is_withdrawn() {
    let _dog = watchdog("dropped_waiter_is_withdrawn");
    let map: OnceMap<u32, u32> = OnceMap::new();
    let done = Arc::new(AtomicBool::new(false));
    let mut owner = Box::pin(map.get_or_init_async(1, |_| flagged(&done, 4)));
    assert!(ready_or_pending(&mut owner).is_pending());
    let (dropped_waker, kept_waker) = (CountingWaker::new(), CountingWaker::new());
    let mut dropped = Box::pin(map.get_or_init_async(1, |_| async { unreachable!() }));
    let mut kept = Box::pin(map.get_or_init_async(1, |_| async { unreachable!() }));
    assert!(dropped_waker.poll(&mut dropped).is_pending());
    assert!(kept_waker.poll(&mut kept).is_pending());
    drop(dropped);
    done.store(true, Ordering::SeqCst);
    assert_eq!(ready_or_pending(&mut owner), Poll::Ready(4));
    assert_eq!(dropped_waker.count(), 0, "a withdrawn waiter is not woken");
    assert_eq!(kept_waker.count(), 1);
    assert_eq!(kept_waker.poll(&mut kept), Poll::Ready(4));
    // Futures dropped before their first poll, or after completion, do nothing.
    drop(map.get_or_init_async(2, |_| async { unreachable!() }));
    assert_eq!(map.len(), 1);
}

/// A poll of the initializer's future that panics drops the initializer and hands over; the
/// panicked future is terminated.
#[test]
fn panicking_async_initializer_hands_over() {
    let _dog = watchdog("panicking_async_initializer_hands_over");
    let map: OnceMap<u32, u32> = OnceMap::new();
    let boom = Arc::new(AtomicBool::new(false));
    let mut owner = Box::pin(map.get_or_init_async(1, |_| {
        let boom = boom.clone();
        poll_fn(
            move |_| if boom.load(Ordering::SeqCst) { panic!("async init exploded") } else { Poll::Pending },
        )
    }));
    assert!(ready_or_pending(&mut owner).is_pending());
    let waiter_waker = CountingWaker::new();
    let mut waiter = Box::pin(map.get_or_init_async(1, |_| async { 8 }));
    assert!(waiter_waker.poll(&mut waiter).is_pending());
    boom.store(true, Ordering::SeqCst);
    let panic = catch_unwind(AssertUnwindSafe(|| ready_or_pending(&mut owner))).expect_err("panics");
    assert_eq!(panic_message(&*panic), "async init exploded");
    assert!(owner.is_terminated());
    assert_eq!(waiter_waker.count(), 1);
    assert_eq!(waiter_waker.poll(&mut waiter), Poll::Ready(8));
}

// ---------------------------------------------------------------------------------------
// Drop counting
// ---------------------------------------------------------------------------------------

/// A key that logs its drop under a unique id but compares and hashes by `name`.
struct Key {
    name: u32,
    _drop: DropCounter,
}
impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}
impl Eq for Key {}
impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

/// Every key and value instance ever created is dropped exactly once, through hits, misses,
/// errors, panics, remove, clear, a cancelled initializer and the map's own drop.
#[test]
fn keys_and_values_drop_exactly_once() {
    let _dog = watchdog("keys_and_values_drop_exactly_once");
    let (keys, values) = (DropLog::new(), DropLog::new());
    let next_key = AtomicUsize::new(0);
    let next_value = AtomicUsize::new(0);
    let key =
        |name: u32| Key { name, _drop: DropCounter::new(next_key.fetch_add(1, Ordering::SeqCst), &keys) };
    let value = || Arc::new(DropCounter::new(next_value.fetch_add(1, Ordering::SeqCst), &values));
    {
        let map: OnceMap<Key, Arc<DropCounter>> = OnceMap::new();
        for name in 0..6 {
            map.get_or_init(key(name), |_| value()); // miss
            map.get_or_init(key(name), |_| value()); // hit: the argument key is dropped
        }
        assert!(map.try_get_or_init(key(10), |_| Err(())).is_err());
        let _ = catch_unwind(AssertUnwindSafe(|| map.get_or_init(key(11), |_| panic!("no value"))));
        assert!(map.remove(&key(0)).is_some());
        assert!(map.remove(&key(12)).is_none());
        drop(map.get_or_init_async(key(13), |_| async { unreachable!() }));
        let never = Arc::new(AtomicBool::new(false));
        let mut cancelled = Box::pin(map.get_or_init_async(key(14), |_| flagged(&never, value())));
        assert!(ready_or_pending(&mut cancelled).is_pending());
        drop(cancelled);
        block_on(map.get_or_init_async(key(15), |_| async { value() }));
        map.get_or_init(key(1), |_| unreachable!());
        map.clear();
        assert!(map.is_empty());
        map.get_or_init(key(16), |_| value());
        map.get_or_init(key(17), |_| value());
    }
    keys.assert_each_once(next_key.load(Ordering::SeqCst));
    values.assert_each_once(next_value.load(Ordering::SeqCst));
}

// ---------------------------------------------------------------------------------------
// Model
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Op {
    GetOrInit(u8, u16),
    TryInitErr(u8),
    TryInitOk(u8, u16),
    Async(u8, u16),
    Get(u8),
    Remove(u8),
    Clear,
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let key = 0u8..12;
    prop_oneof![
        4 => (key.clone(), any::<u16>()).prop_map(|(k, v)| Op::GetOrInit(k, v)),
        1 => key.clone().prop_map(Op::TryInitErr),
        1 => (key.clone(), any::<u16>()).prop_map(|(k, v)| Op::TryInitOk(k, v)),
        1 => (key.clone(), any::<u16>()).prop_map(|(k, v)| Op::Async(k, v)),
        3 => key.clone().prop_map(Op::Get),
        2 => key.prop_map(Op::Remove),
        1 => Just(Op::Clear),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: if cfg!(miri) { 4 } else { 256 },
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn model_matches_hashmap(ops in prop::collection::vec(op_strategy(), 0..80)) {
        let map: OnceMap<u8, u16> = OnceMap::new();
        let mut model: HashMap<u8, u16> = HashMap::new();
        for (step, op) in ops.into_iter().enumerate() {
            match op {
                Op::GetOrInit(k, v) => {
                    let expect = *model.entry(k).or_insert(v);
                    prop_assert_eq!(map.get_or_init(k, |_| v), expect, "step {}", step);
                }
                Op::TryInitErr(k) => {
                    let expect = model.get(&k).copied().ok_or(());
                    prop_assert_eq!(map.try_get_or_init(k, |_| Err(())), expect, "step {}", step);
                }
                Op::TryInitOk(k, v) => {
                    let expect = *model.entry(k).or_insert(v);
                    prop_assert_eq!(map.try_get_or_init(k, |_| Ok::<_, ()>(v)), Ok(expect), "step {}", step);
                }
                Op::Async(k, v) => {
                    let expect = *model.entry(k).or_insert(v);
                    prop_assert_eq!(block_on(map.get_or_init_async(k, |_| async move { v })), expect, "step {}", step);
                }
                Op::Get(k) => prop_assert_eq!(map.get(&k), model.get(&k).copied(), "step {}", step),
                Op::Remove(k) => prop_assert_eq!(map.remove(&k), model.remove(&k), "step {}", step),
                Op::Clear => {
                    map.clear();
                    model.clear();
                }
            }
            prop_assert_eq!(map.len(), model.len(), "len after step {}", step);
            prop_assert_eq!(map.is_empty(), model.is_empty());
        }
    }
}

/// A key that counts how often it is hashed.
struct CountedKey(u32, std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl PartialEq for CountedKey {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}
impl Eq for CountedKey {}

impl Hash for CountedKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.1.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.0.hash(state);
    }
}

#[test]
fn a_key_is_hashed_once_and_never_while_a_shard_is_locked() {
    // The table grows (and rehashes) many times while these keys go in. It must use the
    // hashes it stored: a user `Hash` that runs under a shard lock, and panics half-way
    // through a rehash, would make the table drop entries (running ones included).
    let n = if cfg!(miri) { 200 } else { 5_000 };
    let map = OnceMap::new();
    let counts: Vec<_> =
        (0..n).map(|_| std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0))).collect();
    for (i, count) in counts.iter().enumerate() {
        assert_eq!(map.get_or_init(CountedKey(i as u32, count.clone()), |k| k.0 * 2), i as u32 * 2);
    }
    let hashed: Vec<usize> = counts.iter().map(|c| c.load(std::sync::atomic::Ordering::SeqCst)).collect();
    assert!(hashed.iter().all(|&h| h == 1), "keys hashed more than once: {:?}", {
        hashed.iter().enumerate().filter(|(_, &h)| h != 1).take(5).collect::<Vec<_>>()
    });
    assert_eq!(map.len(), n);
}

/// A value whose `clone` reads the map it lives in (a metric, a parent entry).
struct Consults(u32, &'static OnceMap<u32, Consults>);

impl Clone for Consults {
    fn clone(&self) -> Self {
        let _ = self.1.len(); // takes every shard's lock, shared
        Consults(self.0, self.1)
    }
}

#[test]
fn a_value_whose_clone_reads_the_map_serves_woken_waiters() {
    // Waiters woken by the initializer read the value under a shared lock, not under the
    // shard's exclusive one (which such a clone would deadlock on).
    let _w = Watchdog::start("a_value_whose_clone_reads_the_map_serves_woken_waiters");
    // A static (not a leaked box, which Miri would report): the values point back at it.
    static MAP: std::sync::OnceLock<OnceMap<u32, Consults>> = std::sync::OnceLock::new();
    let map: &'static OnceMap<u32, Consults> = MAP.get_or_init(OnceMap::new);
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    std::thread::scope(|s| {
        s.spawn(move || {
            map.get_or_init(1, |_| {
                started_tx.send(()).unwrap();
                release_rx.recv().unwrap();
                Consults(7, map)
            })
        });
        started_rx.recv().unwrap();
        let waiters: Vec<_> =
            (0..3).map(|_| s.spawn(move || map.get_or_init(1, |_| Consults(0, map)).0)).collect();
        // Give the waiters time to block on the running initializer.
        std::thread::sleep(std::time::Duration::from_millis(if cfg!(miri) { 1 } else { 20 }));
        release_tx.send(()).unwrap();
        for waiter in waiters {
            assert_eq!(waiter.join().unwrap(), 7);
        }
    });
}
