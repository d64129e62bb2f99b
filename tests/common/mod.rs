//! Small test helpers shared by the integration tests. No dependencies beyond std.
//!
//! - [`block_on`]: a minimal executor. It re-polls the future ONLY after its waker was
//!   called, so a lost wake-up shows up as a panic after [`BLOCK_ON_LIMIT`] instead of
//!   being papered over by periodic re-polling.
//! - [`CountingWaker`] / [`poll_once`]: poll a future by hand and check whether (and how
//!   often) it was woken.
//! - [`DropLog`] / [`DropCounter`]: values that record every drop, per id, to prove
//!   "dropped exactly once" (no leak, no double drop).
//! - [`Watchdog`]: turns a hang (deadlock, lost wake-up in a blocking call) into a loud
//!   process abort with a message instead of a CI run that never ends.
//! - [`scaled`]: an iteration count, smaller under Miri.
//!
//! # Under Miri
//! Miri runs the tests 100x or more slower and, with isolation on, its clock is virtual: it
//! advances with every interpreted step, and jumps straight to the next deadline when every
//! thread is blocked. So a limit meant as "never reached" must be far longer under Miri (a
//! correct but slow test would otherwise trip it), and it costs nothing to make it so: a
//! real hang still ends, at once, at the limit. The limits below are an hour of virtual time
//! under Miri.
#![allow(dead_code)]

use std::future::Future;
use std::ops::DerefMut;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

/// How long [`block_on`] waits for a wake-up before declaring it lost.
pub const BLOCK_ON_LIMIT: Duration = if cfg!(miri) { MIRI_LIMIT } else { Duration::from_secs(10) };

/// A timeout that a correct implementation never reaches; used for the timed forms in
/// tests so that a lost wake-up fails the test instead of hanging it.
pub const LONG: Duration = if cfg!(miri) { MIRI_LIMIT } else { Duration::from_secs(10) };

/// The suite's watchdog limit: the whole suite runs in a few seconds.
pub const WATCHDOG_LIMIT: Duration = if cfg!(miri) { MIRI_LIMIT } else { Duration::from_secs(20) };

/// Every "never reached" limit under Miri: an hour of its virtual time.
const MIRI_LIMIT: Duration = Duration::from_secs(3600);

/// `normal` iterations, or `miri` of them under Miri (where each costs 100x or more).
pub const fn scaled(normal: usize, miri: usize) -> usize {
    if cfg!(miri) {
        miri
    } else {
        normal
    }
}

struct ThreadWaker {
    thread: Thread,
    woken: AtomicBool,
}

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.thread.unpark();
    }
}

/// Runs `fut` to completion on the current thread. Polls once, then re-polls only after a
/// wake-up. Panics if no wake-up arrives within [`BLOCK_ON_LIMIT`] (a lost wake-up).
pub fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let tw = Arc::new(ThreadWaker { thread: thread::current(), woken: AtomicBool::new(false) });
    let waker = Waker::from(tw.clone());
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        let deadline = Instant::now() + BLOCK_ON_LIMIT;
        while !tw.woken.swap(false, Ordering::Acquire) {
            let now = Instant::now();
            if now >= deadline {
                panic!("block_on: future pending and not woken for {BLOCK_ON_LIMIT:?} (lost wake-up?)");
            }
            thread::park_timeout(deadline - now);
        }
    }
}

struct CountWake(Arc<AtomicUsize>);

impl Wake for CountWake {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A waker that only counts how many times it was woken.
pub struct CountingWaker {
    count: Arc<AtomicUsize>,
    waker: Waker,
}

impl CountingWaker {
    pub fn new() -> Self {
        let count = Arc::new(AtomicUsize::new(0));
        let waker = Waker::from(Arc::new(CountWake(count.clone())));
        CountingWaker { count, waker }
    }

    pub fn waker(&self) -> &Waker {
        &self.waker
    }

    /// The shared counter of wake calls.
    pub fn counter(&self) -> Arc<AtomicUsize> {
        self.count.clone()
    }

    /// How many times the waker (or a clone of it) was woken so far.
    pub fn count(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    /// Was the waker woken at least once?
    pub fn woken(&self) -> bool {
        self.count() > 0
    }

    /// Polls `fut` once with this waker. Works for `Pin<&mut F>` and `Pin<Box<F>>`.
    pub fn poll<P>(&self, fut: &mut Pin<P>) -> Poll<<P::Target as Future>::Output>
    where
        P: DerefMut,
        P::Target: Future,
    {
        let mut cx = Context::from_waker(&self.waker);
        fut.as_mut().poll(&mut cx)
    }
}

impl Default for CountingWaker {
    fn default() -> Self {
        Self::new()
    }
}

/// Polls `fut` once with a fresh counting waker (whose count is discarded). For the
/// "this must be ready right now" checks; use [`CountingWaker::poll`] to observe wakes.
pub fn poll_once<P>(fut: &mut Pin<P>) -> Poll<<P::Target as Future>::Output>
where
    P: DerefMut,
    P::Target: Future,
{
    CountingWaker::new().poll(fut)
}

/// Unwraps a `Poll::Ready`, panicking with `what` otherwise.
#[track_caller]
pub fn ready<T>(p: Poll<T>, what: &str) -> T {
    match p {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("expected Ready: {what}"),
    }
}

/// Shared record of drops, by id.
pub struct DropLog {
    total: AtomicUsize,
    per_id: std::sync::Mutex<Vec<usize>>,
}

impl DropLog {
    pub fn new() -> Arc<DropLog> {
        Arc::new(DropLog { total: AtomicUsize::new(0), per_id: std::sync::Mutex::new(Vec::new()) })
    }

    /// Total drops so far.
    pub fn total(&self) -> usize {
        self.total.load(Ordering::SeqCst)
    }

    /// Drops of the value with this id so far.
    pub fn count(&self, id: usize) -> usize {
        self.per_id.lock().unwrap().get(id).copied().unwrap_or(0)
    }

    /// Asserts that ids `0..n` were each dropped exactly once and nothing else was dropped.
    #[track_caller]
    pub fn assert_each_once(&self, n: usize) {
        let v = self.per_id.lock().unwrap();
        for id in 0..n {
            let c = v.get(id).copied().unwrap_or(0);
            assert_eq!(c, 1, "value {id} dropped {c} times (expected exactly once)");
        }
        assert!(v.len() <= n, "ids >= {n} were dropped");
        assert_eq!(self.total(), n, "total drops");
    }
}

/// A value that records its own drop in a [`DropLog`].
pub struct DropCounter {
    pub id: usize,
    log: Arc<DropLog>,
}

impl DropCounter {
    pub fn new(id: usize, log: &Arc<DropLog>) -> Self {
        DropCounter { id, log: log.clone() }
    }
}

impl Drop for DropCounter {
    fn drop(&mut self) {
        {
            let mut v = self.log.per_id.lock().unwrap_or_else(|e| e.into_inner());
            if v.len() <= self.id {
                v.resize(self.id + 1, 0);
            }
            v[self.id] += 1;
        }
        self.log.total.fetch_add(1, Ordering::SeqCst);
    }
}

impl PartialEq for DropCounter {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl std::fmt::Debug for DropCounter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DropCounter({})", self.id)
    }
}

/// Aborts the whole test process (with a message) if not dropped within `limit`.
/// A hang is a failure; this makes it a fast, loud one.
pub struct Watchdog {
    _tx: mpsc::Sender<()>,
}

impl Watchdog {
    pub fn new(name: &'static str, limit: Duration) -> Self {
        let (tx, rx) = mpsc::channel::<()>();
        thread::spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(limit) {
                // Write to the real stderr: eprintln! would be captured by the test harness
                // (capture propagates to spawned threads) and lost in the abort.
                use std::io::Write;
                let _ = writeln!(
                    std::io::stderr(),
                    "WATCHDOG: test `{name}` still running after {limit:?}: deadlock or lost wake-up; aborting"
                );
                std::process::abort();
            }
        });
        Watchdog { _tx: tx }
    }

    /// The suite's limit, [`WATCHDOG_LIMIT`].
    pub fn start(name: &'static str) -> Self {
        Self::new(name, WATCHDOG_LIMIT)
    }
}

/// The message of a caught panic payload.
pub fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        String::from("<non-string panic payload>")
    }
}

/// Spins (with short sleeps) until `cond` holds; panics after [`LONG`]. For waiting until a
/// helper thread reached a known state, never for asserting on timing.
#[track_caller]
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + LONG;
    while !cond() {
        assert!(Instant::now() < deadline, "wait_until timed out: {what}");
        thread::sleep(Duration::from_millis(1));
    }
}

/// A helper thread that the test expects to finish (typically one blocked in an untimed
/// call that something must wake). [`join`](TimedThread::join) fails the test after [`LONG`]
/// instead of hanging it, and, unlike a timed call, never turns a lost wake-up into a pass.
pub struct TimedThread<T> {
    handle: Option<thread::JoinHandle<T>>,
    done: mpsc::Receiver<()>,
}

/// Spawns `f` as a [`TimedThread`].
pub fn spawn_timed<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> TimedThread<T> {
    let (tx, done) = mpsc::channel();
    let handle = thread::spawn(move || {
        // Sent on return and on panic alike (the sender drops during unwinding).
        let _tx = tx;
        f()
    });
    TimedThread { handle: Some(handle), done }
}

impl<T> TimedThread<T> {
    /// True once the thread has returned (or panicked).
    pub fn is_finished(&self) -> bool {
        self.handle.as_ref().map_or(true, |h| h.is_finished())
    }

    /// Waits for the thread, re-raising its panic; panics with `what` if it is still
    /// running after [`LONG`] (the thread is then left blocked: the test has failed).
    #[track_caller]
    pub fn join(mut self, what: &str) -> T {
        if let Err(mpsc::RecvTimeoutError::Timeout) = self.done.recv_timeout(LONG) {
            panic!("thread still blocked after {LONG:?}: {what} (lost wake-up?)");
        }
        match self.handle.take().expect("joined once").join() {
            Ok(v) => v,
            Err(p) => std::panic::resume_unwind(p),
        }
    }
}

/// Gives other threads time to reach their blocking call before the test checks that they
/// are still blocked. Never used to assert timing: a slow machine only makes such a check
/// weaker (the thread may not have blocked yet), never wrong.
pub fn let_others_block() {
    thread::sleep(Duration::from_millis(if cfg!(miri) { 5 } else { 20 }));
}
