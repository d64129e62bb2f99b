//! The ordered worker pool: fan-out to worker threads, fan-in in input order.
//!
//! Four kinds of thread, all connected by bounded channels, so memory stays O(workers):
//!
//! ```text
//! input --dispatcher--> jobs (seq, T) --worker 1..n--> one rendezvous channel per worker
//!                                                        --collector (fan_in_ordered)--> output
//! ```
//!
//! The dispatcher numbers the items as it reads them. Jobs are taken first-in first-out,
//! and each worker takes one job at a time, so every worker's output is in increasing order:
//! exactly what [`fan_in_ordered`](super::fan_in_ordered) needs to restore the input order
//! while holding one item per worker. A finished item waits either in the merge or in its
//! worker's hand (the worker channels buffer nothing), so at most about `2 * workers`
//! finished items wait for one slow item, plus `workers` in each of the jobs and output
//! buffers.

use super::fan_in_ordered;
use crate::chan::{self, Receiver, Sender};
use crate::primitive::{thread, Arc, Lock};
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::any::Any;
use core::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// A panic's payload, as `std::thread::JoinHandle::join` returns it.
type Payload = Box<dyn Any + Send + 'static>;

/// What a worker hands the collector: the item's number and `f`'s result, or `Panicked`.
type Done<U> = (u64, Result<U, Panicked>);

/// `f` panicked on this item (the payload waits in the pool's shared slot).
struct Panicked;

/// Runs `f` on every item of `input` on `workers` threads, and delivers the results in input
/// order on the returned channel: a pipeline stage that is parallel inside and ordered
/// outside (Go's worker-pool stage followed by an ordered fan-in).
///
/// The output channel closes after the last result once `input` is closed and drained.
/// Memory is bounded by the number of workers, however slow one item is: while a worker is
/// busy with it, the others run at most a couple of items ahead each and then wait.
///
/// # Threads
/// `workers` worker threads plus two (one numbers the input, one restores the order). They
/// all exit once `input` is closed and every result is delivered. If every output
/// `Receiver` is dropped, the pool stops at its next item: workers drop what they are
/// working on and exit (a pool waiting on an idle, open `input` exits when `input` delivers
/// or closes).
///
/// # Panics in `f`
/// The pool stops: the output delivers, in order, every result of the items before the one
/// whose `f` panicked, then closes; the items after it are dropped. The panic is printed by
/// the panic hook, as any thread's. To receive the panic's payload, as from
/// `JoinHandle::join`, use [`ordered_pool_with_handle`].
///
/// # Panics
/// `gosync: ordered_pool needs at least one worker` if `workers` is 0.
///
/// ```
/// use gosync::{chan, fan_in::ordered_pool};
///
/// let (tx, rx) = chan::bounded(16);
/// let squares = ordered_pool(rx, 4, |n: u64| n * n);
/// std::thread::spawn(move || {
///     for n in 0..100 {
///         tx.send(n).unwrap();
///     }
/// });
/// let got: Vec<u64> = squares.iter().collect();
/// assert_eq!(got, (0..100).map(|n| n * n).collect::<Vec<_>>());
/// ```
pub fn ordered_pool<T, U, F>(input: Receiver<T>, workers: usize, f: F) -> Receiver<U>
where
    T: Send + 'static,
    U: Send + 'static,
    F: Fn(T) -> U + Send + Sync + 'static,
{
    ordered_pool_with_handle(input, workers, f).0
}

/// [`ordered_pool`], also returning a [`PoolHandle`] that waits for the pool's threads and
/// gives back the payload of a panic in `f`.
///
/// # Panics
/// `gosync: ordered_pool needs at least one worker` if `workers` is 0.
///
/// ```
/// use gosync::{chan, fan_in::ordered_pool_with_handle};
///
/// let (tx, rx) = chan::unbounded();
/// for n in 0..10 {
///     tx.send(n).unwrap();
/// }
/// drop(tx);
/// let (out, pool) = ordered_pool_with_handle(rx, 2, |n: i32| {
///     assert!(n != 5, "five is not allowed");
///     n * 10
/// });
/// // Everything before the panicking item, in order, then the output closes.
/// assert_eq!(out.iter().collect::<Vec<_>>(), [0, 10, 20, 30, 40]);
/// let panic = pool.join().unwrap_err();
/// assert_eq!(panic.downcast_ref::<&str>(), Some(&"five is not allowed"));
/// ```
pub fn ordered_pool_with_handle<T, U, F>(
    input: Receiver<T>,
    workers: usize,
    f: F,
) -> (Receiver<U>, PoolHandle)
where
    T: Send + 'static,
    U: Send + 'static,
    F: Fn(T) -> U + Send + Sync + 'static,
{
    assert!(workers > 0, "gosync: ordered_pool needs at least one worker");
    let f = Arc::new(f);
    let panic = Arc::new(Lock::new(None));
    let (jobs_tx, jobs_rx) = chan::bounded::<(u64, T)>(workers);
    // Closed when the pool must stop early (the consumer or the collector is gone, or `f`
    // panicked): the dispatcher waits on it beside `input`.
    let (stop_tx, stop_rx) = chan::bounded::<()>(0);
    // When the consumer drops the last output receiver, stop at once: an idle, open input
    // would otherwise keep every thread waiting for an item that nobody wants.
    let stop_on_drop = stop_tx.clone();
    let hook = alloc::boxed::Box::new(move || {
        stop_on_drop.close();
    });
    let (out_tx, out_rx) = chan::bounded_with_hook::<U>(workers, hook);

    let mut threads = Vec::with_capacity(workers + 2);
    let mut finished = Vec::with_capacity(workers);
    for _ in 0..workers {
        let (done_tx, done_rx) = chan::bounded::<Done<U>>(0);
        finished.push(done_rx);
        let (jobs, f, panic, stop) = (jobs_rx.clone(), f.clone(), panic.clone(), stop_tx.clone());
        threads.push(thread::spawn(move || work(&jobs, &*f, &done_tx, &panic, &stop)));
    }
    drop(jobs_rx);
    threads.push(thread::spawn(move || dispatch(&input, &jobs_tx, &stop_rx)));
    threads.push(thread::spawn(move || collect(finished, &out_tx, &stop_tx)));
    (out_rx, PoolHandle { threads, panic })
}

/// Reads `input`, numbering the items, until it closes, the workers are gone, or the pool
/// stops.
fn dispatch<T>(input: &Receiver<T>, jobs: &Sender<(u64, T)>, stop: &Receiver<()>) {
    let mut seq = 0u64;
    loop {
        let item = crate::select! {
            recv(input) -> item => match item {
                Ok(item) => item,
                Err(_) => break,
            },
            recv(stop) -> _ => break,
        };
        if jobs.send((seq, item)).is_err() {
            break;
        }
        seq += 1;
    }
    // Workers finish the jobs already queued, then see the close.
    jobs.close();
}

/// Runs `f` on jobs until they run out or the collector is gone. A panic in `f` is caught,
/// its payload kept for [`PoolHandle::join`], and its place in the order reported to the
/// collector, which stops there.
fn work<T, U>(
    jobs: &Receiver<(u64, T)>,
    f: &(impl Fn(T) -> U + ?Sized),
    done: &Sender<Done<U>>,
    panic: &Lock<Option<Payload>>,
    stop: &Sender<()>,
) {
    for (seq, item) in jobs {
        // Unwind safety: after a panic the pool never calls `f` again on this thread, and
        // the item is gone with the unwinding; only the payload is kept.
        match catch_unwind(AssertUnwindSafe(|| f(item))) {
            Ok(result) => {
                if done.send((seq, Ok(result))).is_err() {
                    return;
                }
            }
            Err(payload) => {
                // The first panic is the one reported; a later one is dropped outside the lock.
                let _later = {
                    let mut slot = panic.lock();
                    if slot.is_none() {
                        *slot = Some(payload);
                        None
                    } else {
                        Some(payload)
                    }
                };
                stop.close();
                let _ = done.send((seq, Err(Panicked)));
                return;
            }
        }
    }
}

/// Merges the workers' results back into input order and forwards them, until the workers
/// are done, the output is gone, or a panic's turn comes.
fn collect<U>(finished: Vec<Receiver<Done<U>>>, out: &Sender<U>, stop: &Sender<()>) {
    for done in fan_in_ordered(finished, 0, |(seq, _): &Done<U>| *seq) {
        match done {
            Ok((_, Ok(result))) => {
                if out.send(result).is_err() {
                    break;
                }
            }
            Ok((_, Err(Panicked))) => break,
            // Each worker's results are in increasing order and every number is used once,
            // so the merge never reports a broken sequence.
            Err(err) => unreachable!("gosync: ordered_pool lost its order: {err}"),
        }
    }
    stop.close();
    // Dropping the merge now closes the worker channels: a worker still busy exits at its
    // next send.
}

/// The threads of an [`ordered_pool_with_handle`] pool: wait for them, and learn whether `f`
/// panicked. Dropping the handle detaches the threads (they still exit on their own).
///
/// ```
/// let (tx, rx) = gosync::chan::unbounded();
/// tx.send(1).unwrap();
/// drop(tx);
/// let (out, pool) = gosync::fan_in::ordered_pool_with_handle(rx, 1, |n: u8| n + 1);
/// assert_eq!(out.recv(), Ok(2));
/// assert!(pool.join().is_ok());
/// ```
pub struct PoolHandle {
    threads: Vec<thread::JoinHandle<()>>,
    panic: Arc<Lock<Option<Payload>>>,
}

impl PoolHandle {
    /// Waits until every thread of the pool has exited: the input closed and every result
    /// was delivered, or the output was dropped, or `f` panicked. `Err` holds the payload of
    /// the first panic in `f`, as `std::thread::JoinHandle::join` would.
    ///
    /// Do not call it with the output still open and unread on a full pool: the pool waits
    /// for room in the output, and this waits for the pool.
    ///
    /// ```
    /// let (tx, rx) = gosync::chan::unbounded::<u8>();
    /// drop(tx);
    /// let (out, pool) = gosync::fan_in::ordered_pool_with_handle(rx, 3, |n| n);
    /// assert!(pool.join().is_ok());
    /// assert!(out.recv().is_err());
    /// ```
    pub fn join(self) -> std::thread::Result<()> {
        for handle in self.threads {
            // The pool's own code does not panic; `f`'s panics are caught in the worker.
            handle.join()?;
        }
        let payload = self.panic.lock().take();
        match payload {
            Some(payload) => Err(payload),
            None => Ok(()),
        }
    }
}

impl fmt::Debug for PoolHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolHandle").field("threads", &self.threads.len()).finish_non_exhaustive()
    }
}
