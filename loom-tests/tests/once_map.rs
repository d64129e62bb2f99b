#![cfg(loom)]
//! loom models of `gosync::OnceMap`: two threads racing to initialize one key, an
//! initializer that panics while another thread waits, one that fails with two waiters, an
//! async initializer dropped while a thread waits, an async waiter woken by a thread's
//! initializer, and `remove` racing an initializer. Values are built from a loom `UnsafeCell` written inside the initializer, so
//! a waiter that returned without the initializer's happens-before edge is reported as a data
//! race; a lost wake-up shows up as a deadlock.

mod common;

use common::{poll_once_then_drop, Outcomes};
use gosync::OnceMap;
use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;
use std::collections::hash_map::DefaultHasher;
use std::hash::BuildHasherDefault;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// A fixed hasher: every iteration of a model must take the same path through the map.
type Map = OnceMap<u8, usize, BuildHasherDefault<DefaultHasher>>;

/// The initializers' side effect: written by the initializer that runs, read by whoever
/// receives its value.
struct Cell(UnsafeCell<usize>);

impl Cell {
    fn new() -> Arc<Self> {
        Arc::new(Cell(UnsafeCell::new(0)))
    }
    fn write(&self, value: usize) {
        self.0.with_mut(|p| unsafe { *p = value });
    }
    fn read(&self) -> usize {
        self.0.with(|p| unsafe { *p })
    }
}

/// Silences the expected panic of `init_panics_while_another_waits` (once per iteration).
fn quiet_expected_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if info.payload().downcast_ref::<&str>() != Some(&"init failed") {
            default(info);
        }
    }));
}

/// Two threads race for one key: one initializer runs, both get its value, and its write is
/// visible to both.
#[test]
fn two_threads_race_to_init_one_key() {
    let seen = Outcomes::new();
    let outcomes = seen.clone();
    loom::model(move || {
        let map = Arc::new(Map::default());
        let cell = Cell::new();
        let inits = Arc::new(AtomicUsize::new(0));
        let caller = |id: usize| {
            let (map, cell, inits) = (map.clone(), cell.clone(), inits.clone());
            move || {
                let value = map.get_or_init(1, |_| {
                    inits.fetch_add(1, Ordering::Relaxed);
                    cell.write(id);
                    id
                });
                assert_eq!(cell.read(), value);
                value
            }
        };
        let other = thread::spawn(caller(2));
        let mine = caller(1)();
        let theirs = other.join().unwrap();
        assert_eq!(mine, theirs);
        assert_eq!(inits.load(Ordering::Relaxed), 1);
        outcomes.saw_if(mine == 1, "main initialized", "spawned initialized");
    });
    seen.assert_all(&["main initialized", "spawned initialized"]);
}

/// The initializer panics while another thread may be waiting for it: the panic reaches its
/// caller, and the other thread runs its own initializer (never hangs).
#[test]
fn init_panics_while_another_waits() {
    quiet_expected_panics();
    let seen = Outcomes::new();
    let outcomes = seen.clone();
    loom::model(move || {
        let map = Arc::new(Map::default());
        let cell = Cell::new();
        let other = {
            let (map, cell) = (map.clone(), cell.clone());
            thread::spawn(move || {
                let value = map.get_or_init(1, |_| {
                    cell.write(2);
                    2
                });
                assert_eq!(cell.read(), 2);
                value
            })
        };
        let panicked = catch_unwind(AssertUnwindSafe(|| map.get_or_init(1, |_| panic!("init failed"))));
        assert_eq!(other.join().unwrap(), 2);
        assert_eq!(map.get(&1), Some(2));
        // Either our initializer ran and panicked (the other thread then took over), or the
        // other thread's value was there first and we received it.
        match panicked {
            Err(_) => outcomes.saw("panicked, other took over"),
            Ok(value) => {
                assert_eq!(value, 2);
                outcomes.saw("other first");
            }
        }
    });
    seen.assert_all(&["panicked, other took over", "other first"]);
}

/// An async initializer is dropped (its future never finishes) while a thread may be waiting
/// for it: the thread runs its own initializer.
#[test]
fn async_initializer_dropped_while_thread_waits() {
    let seen = Outcomes::new();
    let outcomes = seen.clone();
    loom::model(move || {
        let map = Arc::new(Map::default());
        let waiter = {
            let map = map.clone();
            thread::spawn(move || map.get_or_init(1, |_| 5))
        };
        let polled = poll_once_then_drop(map.get_or_init_async(1, |_| std::future::pending::<usize>()));
        outcomes.saw_if(polled.is_pending(), "async owner dropped", "thread first");
        assert_eq!(waiter.join().unwrap(), 5);
        assert_eq!(map.get(&1), Some(5));
    });
    seen.assert_all(&["async owner dropped", "thread first"]);
}

/// A task waits (in `loom::future::block_on`) for a thread's initializer, or initializes
/// itself: either way it is woken and both see one value and its write.
#[test]
fn async_waiter_and_thread_race_one_key() {
    let seen = Outcomes::new();
    let outcomes = seen.clone();
    loom::model(move || {
        let map = Arc::new(Map::default());
        let cell = Cell::new();
        let thread_side = {
            let (map, cell) = (map.clone(), cell.clone());
            thread::spawn(move || {
                let value = map.get_or_init(1, |_| {
                    cell.write(1);
                    1
                });
                assert_eq!(cell.read(), value);
                value
            })
        };
        let value = loom::future::block_on(map.get_or_init_async(1, |_| {
            cell.write(2);
            async { 2 }
        }));
        assert_eq!(cell.read(), value);
        assert_eq!(thread_side.join().unwrap(), value);
        outcomes.saw_if(value == 1, "thread initialized", "task initialized");
    });
    seen.assert_all(&["thread initialized", "task initialized"]);
}

/// `remove` races an initializer: it either removes the stored value (`Some`) or finds the
/// key missing or still initializing (`None`), and then the value is stored afterwards.
#[test]
fn remove_races_init() {
    let seen = Outcomes::new();
    let outcomes = seen.clone();
    loom::model(move || {
        let map = Arc::new(Map::default());
        let init = {
            let map = map.clone();
            thread::spawn(move || map.get_or_init(1, |_| 10))
        };
        let removed = map.remove(&1);
        assert_eq!(init.join().unwrap(), 10);
        match removed {
            Some(value) => {
                assert_eq!(value, 10);
                assert_eq!(map.get(&1), None);
                outcomes.saw("removed the value");
            }
            None => {
                assert_eq!(map.get(&1), Some(10));
                outcomes.saw("nothing to remove yet");
            }
        }
    });
    seen.assert_all(&["removed the value", "nothing to remove yet"]);
}

/// The initializer fails (an error) while two other threads may wait: exactly one
/// initializer succeeds, and both other threads get its value.
#[test]
fn init_fails_with_two_waiters_one_takes_over() {
    let seen = Outcomes::new();
    let outcomes = seen.clone();
    loom::model(move || {
        let map = Arc::new(Map::default());
        let inits = Arc::new(AtomicUsize::new(0));
        let waiter = |id: usize| {
            let (map, inits) = (map.clone(), inits.clone());
            thread::spawn(move || {
                map.get_or_init(1, |_| {
                    inits.fetch_add(1, Ordering::Relaxed);
                    id
                })
            })
        };
        let waiters = [waiter(1), waiter(2)];
        let failed = map.try_get_or_init(1, |_| Err(()));
        let [first, second] = waiters.map(|w| w.join().unwrap());
        assert_eq!(first, second);
        assert_eq!(inits.load(Ordering::Relaxed), 1);
        outcomes.saw_if(failed.is_err(), "failed, one waiter took over", "a waiter was first");
    });
    seen.assert_all(&["failed, one waiter took over", "a waiter was first"]);
}
