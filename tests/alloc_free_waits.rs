//! A blocking wait allocates nothing: a blocked thread waits on a waiter cached for that
//! thread, re-armed for each wait. A global allocator counts the allocations each thread
//! makes. After a warm-up (a thread's first wait creates its waiter), thousands of blocking
//! waits on a Mutex, a Cond, a WaitGroup and a BoundedQueue allocate at most
//! [`ONE_TIME`] times per thread: a wait list's buffer may still grow the first time a
//! thread queues on it. One allocation per wait would count in the thousands.

use gosync::{BoundedQueue, Cond, Mutex, WaitGroup};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Arc;
use std::thread;

struct Counting;

thread_local! {
    // `const`-initialized: reading it never allocates, so the allocator may use it.
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: the caller's contract is passed on as is.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

const ROUNDS: usize = if cfg!(miri) { 20 } else { 1_000 };
const WARM_UP: usize = 10;
/// One-time growth of the wait lists' buffers a thread may still trigger after warm-up.
const ONE_TIME: u64 = 2;

/// Makes the calling thread block once, so its cached waiter (and the parking machinery
/// below it) exists before counting starts.
fn prime_thread_waiter() {
    let (lock, cond) = (Mutex::new(()), Cond::new());
    let mut guard = lock.lock();
    assert!(!cond.wait_timeout(&mut guard, std::time::Duration::from_millis(1)));
}

#[track_caller]
fn assert_no_allocation_per_wait(counts: [u64; 2]) {
    assert!(counts.iter().all(|&n| n <= ONE_TIME), "allocations per thread after warm-up: {counts:?}");
}

/// Runs `body(round)` on two threads in lock step for `ROUNDS` rounds and returns how many
/// allocations each thread made after the warm-up rounds.
fn allocations_after_warm_up(body: impl Fn(usize, usize) + Send + Sync + 'static) -> [u64; 2] {
    allocations_after_warm_up_in(ROUNDS, body)
}

fn allocations_after_warm_up_in(
    rounds: usize,
    body: impl Fn(usize, usize) + Send + Sync + 'static,
) -> [u64; 2] {
    let body = Arc::new(body);
    let spawn = |me: usize| {
        let body = body.clone();
        thread::spawn(move || {
            prime_thread_waiter();
            let mut before = 0;
            for round in 0..rounds {
                if round == WARM_UP {
                    before = allocations();
                }
                body(me, round);
            }
            allocations() - before
        })
    };
    let (a, b) = (spawn(0), spawn(1));
    [a.join().unwrap(), b.join().unwrap()]
}

#[test]
fn cond_ping_pong_waits_allocate_nothing() {
    // Two threads take turns: each waits (blocking) until the shared turn is its own.
    let pair = Arc::new((Mutex::new(0usize), Cond::new()));
    let counts = allocations_after_warm_up(move |me, _| {
        let (turn, cond) = &*pair;
        let mut turn_now = turn.lock();
        cond.wait_while(&mut turn_now, |t| *t % 2 != me);
        *turn_now += 1;
        cond.signal();
    });
    assert_no_allocation_per_wait(counts);
}

#[test]
fn contended_mutex_waits_allocate_nothing() {
    let mutex = Arc::new(Mutex::new(0u64));
    // Each holds it for 2 ms: far longer than a waiter spins, so every contended lock
    // registers and parks.
    let counts = allocations_after_warm_up_in(WARM_UP + 40, move |_, _| {
        let mut guard = mutex.lock();
        *guard += 1;
        thread::sleep(std::time::Duration::from_millis(2));
    });
    assert_no_allocation_per_wait(counts);
}

#[test]
fn queue_and_wait_group_waits_allocate_nothing() {
    // Thread 0 produces into a queue of one slot, thread 1 consumes: both block often. Each
    // round also ends with both waiting on a WaitGroup of the other's progress.
    let queue = Arc::new(BoundedQueue::new(1));
    let groups = Arc::new([WaitGroup::new(), WaitGroup::new()]);
    groups[0].add(ROUNDS);
    groups[1].add(ROUNDS);
    let counts = allocations_after_warm_up(move |me, round| {
        if me == 0 {
            queue.push(round).unwrap();
        } else {
            assert_eq!(queue.pop(), Some(round));
        }
        groups[me].done();
        if round + 1 == ROUNDS {
            groups[1 - me].wait();
        }
    });
    assert_no_allocation_per_wait(counts);
}

#[test]
fn cond_wait_whose_relock_must_wait_allocates_nothing() {
    // The signaller keeps the lock for 3 ms after signalling, so the woken waiter's relock
    // parks: it needs the thread's waiter again, while the Cond wait is still returning.
    use std::sync::atomic::{AtomicBool, Ordering};
    const WAITS: usize = if cfg!(miri) { 4 } else { 40 };
    let pair = Arc::new((Mutex::new(0u32), Cond::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let signaller = {
        let (pair, stop) = (pair.clone(), stop.clone());
        thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                let mut flag = pair.0.lock();
                if *flag == 1 {
                    *flag = 0;
                    pair.1.signal();
                    thread::sleep(std::time::Duration::from_millis(3));
                }
                drop(flag);
                thread::yield_now();
            }
        })
    };
    prime_thread_waiter();
    let mut before = 0;
    for round in 0..WARM_UP + WAITS {
        if round == WARM_UP {
            before = allocations();
        }
        let mut flag = pair.0.lock();
        *flag = 1;
        pair.1.wait_while(&mut flag, |flag| *flag == 1);
    }
    let made = allocations() - before;
    stop.store(true, Ordering::SeqCst);
    signaller.join().unwrap();
    assert!(made <= ONE_TIME, "allocations in {WAITS} Cond waits with a contended relock: {made}");
}
