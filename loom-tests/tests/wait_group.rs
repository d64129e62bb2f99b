#![cfg(loom)]
//! loom models of `gosync::WaitGroup`: `done` racing `wait` (blocking, timed and async),
//! reuse for a second round, a new round's `add` and `wait` racing the release of the last
//! round, a `Token` dropped on another thread, and a cancelled `wait_async`; and the README's
//! example model, checked to be the one printed there. Each worker writes a loom `UnsafeCell` before `done`; the waiter reads it
//! after `wait`, so a missing happens-before edge is reported by loom as a data race, and a
//! lost wake-up as a deadlock.

mod common;

use common::{poll_once_then_drop, Outcomes};
use gosync::WaitGroup;
use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Waker};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(3600);

/// One cell per worker: written by that worker before `done`, read after `wait`.
struct Cells([UnsafeCell<usize>; 2]);

impl Cells {
    fn new() -> Arc<Self> {
        Arc::new(Cells([UnsafeCell::new(0), UnsafeCell::new(0)]))
    }
    fn write(&self, i: usize, value: usize) {
        self.0[i].with_mut(|p| unsafe { *p = value });
    }
    fn read(&self, i: usize) -> usize {
        self.0[i].with(|p| unsafe { *p })
    }
}

/// Spawns a worker that writes `value` into cell `i`, then calls `done`.
fn worker(wg: &WaitGroup, cells: &Arc<Cells>, i: usize, value: usize) -> thread::JoinHandle<()> {
    let (wg, cells) = (wg.clone(), cells.clone());
    thread::spawn(move || {
        cells.write(i, value);
        wg.done();
    })
}

/// Two workers call `done` while main waits: wait returns only after both, and both writes
/// are visible after it.
#[test]
fn two_dones_race_wait() {
    loom::model(|| {
        let wg = WaitGroup::new();
        let cells = Cells::new();
        wg.add(2);
        let workers = [worker(&wg, &cells, 0, 1), worker(&wg, &cells, 1, 2)];

        wg.wait();
        assert_eq!(wg.count(), 0);
        assert_eq!((cells.read(0), cells.read(1)), (1, 2));
        workers.into_iter().for_each(|h| h.join().unwrap());
    });
}

/// Reuse: a first round (add, done racing wait) and then a second one on the same group. The
/// end of round one must not release round two's wait early (the cell of round two would be
/// read racily), and round two's done must wake it.
#[test]
fn second_round_after_first() {
    loom::model(|| {
        let wg = WaitGroup::new();
        let cells = Cells::new();

        wg.add(1);
        let first = worker(&wg, &cells, 0, 1);
        wg.wait();
        assert_eq!(cells.read(0), 1);

        wg.add(1);
        let second = worker(&wg, &cells, 1, 2);
        wg.wait();
        assert_eq!(wg.count(), 0);
        assert_eq!(cells.read(1), 2);

        first.join().unwrap();
        second.join().unwrap();
    });
}

/// `wait_timeout` racing `done`: true means the counter reached zero (the write is visible);
/// false means it had not yet, and a plain wait afterwards still completes.
#[test]
fn wait_timeout_races_done() {
    let seen = Outcomes::new();
    let s = seen.clone();
    loom::model(move || {
        let wg = WaitGroup::new();
        let cells = Cells::new();
        wg.add(1);
        let w = worker(&wg, &cells, 0, 1);

        let in_time = wg.wait_timeout(TIMEOUT);
        if in_time {
            assert_eq!(wg.count(), 0, "true means the counter reached zero");
        } else {
            wg.wait();
        }
        assert_eq!(wg.count(), 0);
        assert_eq!(cells.read(0), 1);
        w.join().unwrap();
        s.saw_if(in_time, "done in time", "timed out");
    });
    seen.assert_all(&["done in time", "timed out"]);
}

/// `wait_async` driven by `loom::future::block_on` racing two `done`s: the task is woken
/// (else block_on never returns) and sees both writes.
#[test]
fn wait_async_races_done() {
    loom::model(|| {
        let wg = WaitGroup::new();
        let cells = Cells::new();
        wg.add(2);
        let workers = [worker(&wg, &cells, 0, 1), worker(&wg, &cells, 1, 2)];

        loom::future::block_on(wg.wait_async());
        assert_eq!(wg.count(), 0);
        assert_eq!((cells.read(0), cells.read(1)), (1, 2));
        workers.into_iter().for_each(|h| h.join().unwrap());
    });
}

/// One `done` ends the round for every waiter at once: a thread in `wait` and a task in
/// `block_on(wait_async)` are both released, and both see the write made before `done`.
#[test]
fn done_releases_thread_and_task_waiters() {
    loom::model(|| {
        let wg = WaitGroup::new();
        let cells = Cells::new();
        wg.add(1);
        let thread_waiter = {
            let (wg, cells) = (wg.clone(), cells.clone());
            thread::spawn(move || {
                wg.wait();
                assert_eq!(cells.read(0), 1);
            })
        };
        let task_waiter = {
            let (wg, cells) = (wg.clone(), cells.clone());
            thread::spawn(move || {
                loom::future::block_on(wg.wait_async());
                assert_eq!(cells.read(0), 1);
            })
        };

        cells.write(0, 1);
        wg.done();
        thread_waiter.join().unwrap();
        task_waiter.join().unwrap();
        assert_eq!(wg.count(), 0);
    });
}

/// A `Token` (from `guard`) moved to another thread and dropped there counts the task out:
/// main's wait returns, after the write made before the drop.
#[test]
fn token_dropped_on_other_thread() {
    loom::model(|| {
        let wg = WaitGroup::new();
        let cells = Cells::new();
        let token = wg.guard();
        assert_eq!(wg.count(), 1);
        let owner = {
            let cells = cells.clone();
            thread::spawn(move || {
                cells.write(0, 1);
                drop(token);
            })
        };

        wg.wait();
        assert_eq!(wg.count(), 0);
        assert_eq!(cells.read(0), 1);
        owner.join().unwrap();
    });
}

/// A `wait_async` future polled once (registered) then dropped on one thread, racing the
/// `done` that ends the round, while main waits: withdrawing one waiter never costs another
/// its wake-up.
#[test]
fn wait_future_dropped_racing_done() {
    loom::model(|| {
        let wg = WaitGroup::new();
        let cells = Cells::new();
        wg.add(1);
        let dropper = {
            let wg = wg.clone();
            thread::spawn(move || {
                let mut fut = pin!(wg.wait_async());
                let _ = fut.as_mut().poll(&mut Context::from_waker(Waker::noop()));
            })
        };
        let w = worker(&wg, &cells, 0, 1);

        wg.wait();
        assert_eq!(cells.read(0), 1);
        dropper.join().unwrap();
        w.join().unwrap();
        assert_eq!(wg.count(), 0);
    });
}

/// An `add` that starts round 2 while round 1's waiter may not be released yet (its counter
/// reached zero, but the `done` that got there has not taken the wait list's lock). Round 1's
/// waiter must be released; a waiter that starts after the `add` must wait for round 2's work.
#[test]
fn add_races_round_release() {
    loom::model(|| {
        let wg = WaitGroup::new();
        let cells = Cells::new();
        wg.add(1);
        let first_waiter = {
            let wg = wg.clone();
            thread::spawn(move || wg.wait())
        };
        let first = worker(&wg, &cells, 0, 1);

        // Start round 2 as soon as round 1's counter is zero, racing its release.
        while wg.count() != 0 {
            thread::yield_now();
        }
        wg.add(1);
        let second_waiter = {
            let (wg, cells) = (wg.clone(), cells.clone());
            thread::spawn(move || {
                wg.wait();
                // Round 2's work is visible: this wait did not end with round 1.
                assert_eq!(cells.read(1), 2);
            })
        };
        cells.write(1, 2);
        wg.done();

        first_waiter.join().unwrap();
        second_waiter.join().unwrap();
        first.join().unwrap();
        assert_eq!(cells.read(0), 1);
        assert_eq!(wg.count(), 0);
    });
}

/// `try_wait` racing `done`: when it reports zero, the worker's write is visible.
#[test]
fn try_wait_races_done() {
    let seen = Outcomes::new();
    let s = seen.clone();
    loom::model(move || {
        let wg = WaitGroup::new();
        let cells = Cells::new();
        wg.add(1);
        let w = worker(&wg, &cells, 0, 1);
        let zero = wg.try_wait();
        if zero {
            assert_eq!(cells.read(0), 1);
        }
        s.saw_if(zero, "zero", "not yet");
        w.join().unwrap();
    });
    seen.assert_all(&["zero", "not yet"]);
}

/// A wait that starts in the window after round 1's last `done` and before that round's
/// release, once a new `add` holds the counter above zero: it must wait for the new round's
/// work, not return with round 1's release (the release must not complete a waiter that
/// registered after the counter rose again).
#[test]
fn wait_starts_while_round_release_pending() {
    let seen = Outcomes::new();
    let s = seen.clone();
    loom::model(move || {
        let wg = WaitGroup::new();
        let cells = Cells::new();
        let finished = Arc::new(AtomicBool::new(false));
        wg.add(1);
        // A waiter registers in round 1 and withdraws: round 1 ends with a release to make
        // (its waiters' flag stays set), without a thread per waiter.
        assert!(poll_once_then_drop(wg.wait_async()).is_pending());
        let ender = {
            let wg = wg.clone();
            thread::spawn(move || wg.done())
        };
        let adder = {
            let (wg, cells, finished) = (wg.clone(), cells.clone(), finished.clone());
            thread::spawn(move || {
                // Round 1 never counts above 1, so a count of 2 that main sees is this add.
                wg.add(2);
                cells.write(1, 2);
                wg.done();
                wg.done();
                finished.store(true, Ordering::Release);
            })
        };

        // Start waiting as soon as the add is visible: possibly before round 1's release.
        let mut saw_add = false;
        while !finished.load(Ordering::Acquire) {
            if wg.count() == 2 {
                saw_add = true;
                break;
            }
            thread::yield_now();
        }
        wg.wait();
        // The adder's write is visible: this wait did not end with round 1.
        assert_eq!(cells.read(1), 2);
        s.saw_if(saw_add, "waited on the new round", "adder finished first");
        ender.join().unwrap();
        adder.join().unwrap();
        assert_eq!(wg.count(), 0);
    });
    seen.assert_all(&["waited on the new round", "adder finished first"]);
}

// The README's example of a user's own loom model, character for character from `#[test]` on
// (`readme_model_is_the_one_above` checks that), so the example shown to users is one that
// compiles and passes.
#[test]
fn done_happens_before_wait_returns() {
    loom::model(|| {
        let wg = WaitGroup::new();
        let data = Arc::new(AtomicUsize::new(0));
        wg.add(2);
        for _ in 0..2 {
            let (wg, data) = (wg.clone(), data.clone());
            loom::thread::spawn(move || {
                data.fetch_add(1, Ordering::Relaxed);
                wg.done();
            });
        }
        wg.wait();
        assert_eq!(data.load(Ordering::Relaxed), 2);
    });
}

/// The README's loom example (from its `#[test]` line to the end of its code block) appears
/// verbatim in this file: a change to either side that is not made to the other fails here.
#[test]
fn readme_model_is_the_one_above() {
    let readme = include_str!("../../README.md");
    let start = readme.find("```rust,ignore\n// tests/loom_latch.rs").expect("the README's loom example");
    let block = &readme[start..];
    let body_start = block.find("#[test]").expect("a #[test] in the README's loom example");
    let body_end = block.find("\n```\n").expect("the end of the README's loom example");
    let body = &block[body_start..=body_end];
    assert!(
        include_str!("wait_group.rs").contains(body),
        "the README's loom example differs from `done_happens_before_wait_returns` here:\n{body}"
    );
}

/// Correct use that a stale read must not turn into a misuse panic: `add(1)` reaches another
/// thread only through a Relaxed flag (no happens-before), so that thread's `done` may first
/// read a counter of zero. It must confirm with a read-modify-write (which reads the latest
/// value, 1) instead of panicking. (The library reads its snapshot with a read-modify-write
/// under loom; with a plain load there, this model fails without the confirmation.)
#[test]
fn done_after_relaxed_handoff_of_add() {
    loom::model(|| {
        let wg = WaitGroup::new();
        let flag = Arc::new(AtomicBool::new(false));
        let (wg2, flag2) = (wg.clone(), flag.clone());
        let t = thread::spawn(move || {
            if flag2.load(Ordering::Relaxed) {
                wg2.done();
            }
        });
        wg.add(1);
        flag.store(true, Ordering::Relaxed);
        t.join().unwrap();
    });
}

/// The same for `add` at the counter's limit: one `done` makes room, the news reaches another
/// thread through a Relaxed flag, and its `add(1)` fits, so it must not report an overflow.
#[test]
fn add_after_relaxed_handoff_of_done() {
    loom::model(|| {
        let wg = WaitGroup::new();
        wg.add(usize::MAX >> 1);
        let flag = Arc::new(AtomicBool::new(false));
        let (wg2, flag2) = (wg.clone(), flag.clone());
        let t = thread::spawn(move || {
            if flag2.load(Ordering::Relaxed) {
                wg2.add(1);
            }
        });
        wg.done();
        flag.store(true, Ordering::Relaxed);
        t.join().unwrap();
    });
}
