#![cfg(loom)]
//! Shared helpers of the loom models.
#![allow(dead_code)] // each test file uses some of them

use std::collections::BTreeSet;
use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

/// Which outcomes of a race the model's iterations produced, collected outside loom (a std
/// mutex, not a scheduling point). Asserting them after `loom::model` returns proves the
/// model really explores both sides of each race it claims to check, instead of passing
/// because one interleaving never happens.
#[derive(Clone, Default)]
pub struct Outcomes(Arc<Mutex<BTreeSet<&'static str>>>);

impl Outcomes {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that this iteration produced `outcome`.
    pub fn saw(&self, outcome: &'static str) {
        self.0.lock().unwrap().insert(outcome);
    }

    /// Records `if_true` or `if_false`.
    pub fn saw_if(&self, cond: bool, if_true: &'static str, if_false: &'static str) {
        self.saw(if cond { if_true } else { if_false });
    }

    /// Panics unless every one of `expected` was seen in some iteration.
    pub fn assert_all(&self, expected: &[&'static str]) {
        let seen = self.0.lock().unwrap();
        let missing: Vec<_> = expected.iter().filter(|o| !seen.contains(*o)).collect();
        assert!(missing.is_empty(), "outcomes never explored: {missing:?} (seen: {seen:?})");
    }
}

/// Polls `fut` once with a waker that does nothing, then drops it (a cancelled task).
/// Returns what that one poll produced.
pub fn poll_once_then_drop<F: Future>(fut: F) -> Poll<F::Output> {
    let mut fut = pin!(fut);
    fut.as_mut().poll(&mut Context::from_waker(Waker::noop()))
}

/// A waker that only counts its wake-ups (a task nobody drives): how a model sees whether a
/// future it dropped had been chosen for a wake-up.
pub struct CountingWaker {
    wakes: loom::sync::atomic::AtomicUsize,
}

impl CountingWaker {
    /// The wake-ups delivered so far.
    pub fn wakes(&self) -> usize {
        self.wakes.load(loom::sync::atomic::Ordering::SeqCst)
    }
}

impl std::task::Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.fetch_add(1, loom::sync::atomic::Ordering::SeqCst);
    }
}

/// A fresh counting waker (inside a model: its counter is a loom atomic) and its counter.
pub fn counting_waker() -> (Arc<CountingWaker>, Waker) {
    let counter = Arc::new(CountingWaker { wakes: loom::sync::atomic::AtomicUsize::new(0) });
    (counter.clone(), Waker::from(counter))
}

/// As [`poll_once_then_drop`], polling with `waker`.
pub fn poll_once_with_then_drop<F: Future>(fut: F, waker: &Waker) -> Poll<F::Output> {
    let mut fut = pin!(fut);
    fut.as_mut().poll(&mut Context::from_waker(waker))
}

/// Runs `f` as `loom::model` does, but explores at least `min` preemptions: for a small
/// model whose race needs more context switches than the bound the run was given
/// (`LOOM_MAX_PREEMPTIONS`). Without a bound (the variable unset) loom explores everything.
pub fn model_with_preemptions<F: Fn() + Sync + Send + 'static>(min: usize, f: F) {
    let mut builder = loom::model::Builder::new();
    if let Some(bound) = builder.preemption_bound {
        builder.preemption_bound = Some(bound.max(min));
    }
    builder.check(f);
}
