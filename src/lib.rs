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
//! | [`Mutex`] | `sync.Mutex` (`Lock`, `TryLock`) | mutual exclusion, async-capable, no poisoning |
//! | [`Cond`] | `sync.Cond` | wait for a condition on state kept under a [`Mutex`] |
//! | [`BoundedQueue`] | a buffered `chan` built from `sync.Cond` | MPMC producer/consumer queue with close |
//! | [`limit`] | `golang.org/x/time/rate`, a ticker-fed token channel | rate limiters: lock-free [`limit::Limiter`], [`limit::TokenBucket`], per-key [`limit::KeyedLimiter`] |
//! | [`time`] | `time.Sleep`, `time.Now` | clocks and sleeps; [`time::ManualClock`] makes timing tests deterministic |
//!
//! Every blocking operation `x()` comes with `try_x()` (never waits), `x_timeout(Duration)`
//! and `x_deadline(Instant)` (give up in time), and `x_async()` (a named, cancel-safe future).
//!
//! # Features
//!
//! | feature | default | gives |
//! |---|---|---|
//! | `std` | yes | blocking and timed forms, [`WaitGroup::go`], `std::error::Error` impls, parking_lot locks |
//! | none | | `no_std` + `alloc`: `try_` and async forms |
//!
//! [`WaitGroup`] keeps its state in an `AtomicU64`, so targets without 64-bit atomics are not
//! supported yet.
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

mod cond;
pub mod limit;
mod mutex;
mod primitive;
mod queue;
pub mod time;
mod wait_group;
mod waiter;

pub use cond::{Cond, CondWaitFuture};
pub use mutex::{LockFuture, Mutex, MutexGuard};
pub use queue::{
    BoundedQueue, Closed, PopFuture, PopTimeoutError, PushFuture, PushTimeoutError, TryPopError, TryPushError,
};
pub use wait_group::{Token, WaitGroup, WaitGroupFuture};

/// gosync's wake-up mechanism, exposed only under `cfg(loom)` for the loom models of
/// `loom-tests/`. Not a public API.
#[cfg(loom)]
#[doc(hidden)]
pub mod __loom {
    pub use crate::waiter::{Slot, TaskWaiter, Token, WaitList, Waiter, Wakeup, Wakeups, NOTIFIED};
}
