//! Go-style concurrency for Rust, for threads and async tasks alike.
//!
//! gosync gives a Go programmer every familiar tool, in Rust's idioms. Each piece works from
//! plain threads (blocking calls, with timeouts) and from async tasks on any executor
//! (futures built on `futures-core`, no runtime dependency), and each is model-checked with
//! [loom](https://docs.rs/loom).
//!
//! | piece | Go | what it does |
//! |---|---|---|
//! | [`WaitGroup`] | `sync.WaitGroup`, `WaitGroup.Go` | wait for a set of tasks to finish |
//! | [`Mutex`] | `sync.Mutex` (`Lock`, `TryLock`) | mutual exclusion, async-capable, no poisoning, Go's starvation mode |
//! | [`Cond`] | `sync.Cond` | wait for a condition on state kept under a [`Mutex`] |
//! | [`BoundedQueue`] | a buffered `chan` built from `sync.Cond` | MPMC producer/consumer queue with close |
//! | [`chan`] | `chan T`, `close`, `len`, `cap`, `for range` | bounded, rendezvous and unbounded MPMC channels; lock-free while nobody waits |
//! | [`select!`], [`chan::Select`] | `select`, `reflect.Select` | wait on several channel operations, complete exactly one; `default` and timeout cases |
//! | [`chan::after`], [`chan::tick`], [`chan::never`] | `time.After`, `time.Tick`, a nil channel | timer channels for [`select!`], on one shared timer thread |
//! | [`OnceMap`] | `sync.Map` + `sync.Once` per key, `x/sync/singleflight` | cache that computes each key once, concurrent callers wait for it |
//! | [`limit`] | `golang.org/x/time/rate`, a ticker-fed token channel | rate limiters: lock-free [`limit::Limiter`], [`limit::TokenBucket`], per-key [`limit::KeyedLimiter`] |
//! | [`time`] | `time.Sleep`, `time.Now` | clocks and sleeps; [`time::ManualClock`] makes timing tests deterministic |
//! | [`fan_in`] | `fanIn`, `orderedFanIn`, a worker-pool pipeline stage | merge channels in arrival or sequence order; an ordered worker pool |
//!
//! Blocking operations `x()` come with `try_x()` (never waits), `x_timeout(Duration)` and
//! `x_deadline(Instant)` (give up in time), and `x_async()` (a named, cancel-safe future),
//! where each makes sense (a [`OnceMap`] initializer has no timeout: its waiters wait for it).
//!
//! # Features
//!
//! | feature | default | gives |
//! |---|---|---|
//! | `std` | yes | blocking and timed forms, [`WaitGroup::go`], `std::error::Error` impls, parking_lot locks |
//! | none | | `no_std` + `alloc`: `try_` and async forms |
//!
//! Without `std`, gosync needs only `alloc` and pointer-sized atomics with compare-and-swap,
//! so it runs on 32-bit microcontrollers such as the Cortex-M4 (`thumbv7em-none-eabihf`). Its
//! internal locks spin there, briefly, so do not call it from an interrupt handler that may
//! have interrupted a gosync call on the same core.
//!
//! # Waiting: what it costs, and what it promises
//!
//! Every piece waits through one mechanism, a wait list of parked threads and task wakers.
//! A blocked thread waits on a waiter cached for that thread, so a blocking wait allocates
//! nothing after a thread's first. An async future allocates one small waiter the first time
//! it has to wait and re-arms it for every later wait (a [`CondWaitFuture`] may also need a
//! second one for relocking). A waker is user code, so gosync never wakes, clones or drops
//! one while it holds an internal lock: a waker may call back into gosync (signal the same
//! [`Cond`], drop a gosync future) without deadlocking. A future that is dropped after it
//! was chosen for a wake-up passes that wake-up on, so none is ever lost.
//!
//! # Model checking your own code
//!
//! Whenever `cfg(loom)` is set, gosync builds on loom's primitives instead of the platform's,
//! so a loom model of *your* code explores gosync's interleavings too. Under loom a timed
//! wait times out after one scheduling point, so models see both outcomes of every timeout.
//! See the README for a complete example.
//!
//! # Example
//! ```
//! use gosync::{BoundedQueue, WaitGroup};
//! use std::sync::Arc;
//!
//! let queue = Arc::new(BoundedQueue::new(4));
//! let producers = WaitGroup::new();
//! for p in 0..3 {
//!     let queue = queue.clone();
//!     producers.go(move || {
//!         for i in 0..10 {
//!             queue.push(p * 100 + i).unwrap();
//!         }
//!     });
//! }
//! let closer = {
//!     let (queue, producers) = (queue.clone(), producers.clone());
//!     std::thread::spawn(move || {
//!         producers.wait();
//!         queue.close();
//!     })
//! };
//! let mut total = 0;
//! while let Some(_item) = queue.pop() {
//!     total += 1;
//! }
//! assert_eq!(total, 30);
//! closer.join().unwrap();
//! ```
#![cfg_attr(not(any(feature = "std", loom)), no_std)]
#![deny(missing_docs)]
#![warn(rust_2018_idioms)]

extern crate alloc;

pub mod chan;
mod cond;
pub mod fan_in;
pub mod limit;
mod mutex;
mod once_map;
mod primitive;
mod queue;
pub mod time;
mod wait_group;
mod waiter;

pub use cond::{Cond, CondWaitFuture};
pub use mutex::{LockFuture, Mutex, MutexGuard};
pub use once_map::{GetOrInitFuture, GetOrTryInitFuture, OnceMap};
pub use queue::{
    BoundedQueue, Closed, PopFuture, PopTimeoutError, PushFuture, PushTimeoutError, TryPopError, TryPushError,
};
pub use wait_group::{Token, WaitGroup, WaitGroupFuture};

/// Runs a future to completion on the calling thread (for the documentation's examples).
/// Not a public API.
#[cfg(all(feature = "std", not(loom)))]
#[doc(hidden)]
pub fn __block_on<F: core::future::Future>(fut: F) -> F::Output {
    waiter::block_on(fut)
}

/// The README's Rust examples, compiled and run as doc tests so that they stay correct.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

/// gosync's wake-up mechanism, exposed only under `cfg(loom)` for the loom models of
/// `loom-tests/`. Not a public API.
#[cfg(loom)]
#[doc(hidden)]
pub mod __loom {
    pub use crate::chan::{array::Array, list::List, PopError, PushError};
    pub use crate::waiter::{Slot, TaskWaiter, Token, WaitList, Waiter, Wakeup, Wakeups, NOTIFIED};
}
