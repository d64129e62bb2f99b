//! Rate limiters: Go's `golang.org/x/time/rate` and the classic ticker-fed token bucket.
//!
//! | item | Go | what it does |
//! |---|---|---|
//! | [`Rate`] | `rate.Limit`, `rate.Every` | how often one token comes back |
//! | [`Limiter`] | `rate.Limiter` | lazy, continuous refill (GCRA); lock-free; `allow`, `wait`, `reserve` |
//! | [`TokenBucket`] | a buffered `chan struct{}` fed by a `time.Ticker` | one token per tick of a fixed grid; FIFO waiters; `close` |
//! | [`KeyedLimiter`] | a `map[key]*rate.Limiter` behind a mutex | one [`Limiter`] per key; idle keys cost nothing (std) |
//!
//! # Which one?
//! A [`Limiter`] is the one to reach for: no thread, no lock, one atomic word per limiter, and
//! tokens come back continuously (with burst 1, no two admissions are ever closer than one
//! interval). A [`TokenBucket`] refills in whole ticks on a grid fixed at its creation, exactly
//! like a bucket channel topped up by a ticker: use it when that timeline is what you want, or
//! when waiters must be served strictly in arrival order and be released by `close`.
//!
//! # Time
//! Every limiter reads a [`Clock`]: [`MonotonicClock`](crate::time::MonotonicClock)
//! by default, a [`ManualClock`](crate::time::ManualClock) in tests (waits then complete when
//! the test advances the clock, so timelines are exact and take no real time). All the
//! arithmetic is in integer nanoseconds: a [`Rate`] is an interval in whole nanoseconds, so
//! there is no floating-point drift however long a limiter runs. Clock readings must stay
//! below about 18 years (`gosync: clock beyond the limiter's range` otherwise).
//!
//! # Example
//! ```
//! use gosync::limit::{Limiter, Rate};
//! use gosync::time::{Clock, ManualClock};
//! use std::time::Duration;
//!
//! let clock = ManualClock::new();
//! let limiter = Limiter::with_clock(Rate::per_second(2), 4, clock.clone());
//! assert_eq!((0..6).filter(|_| limiter.allow()).count(), 4); // a full burst, then no more
//! clock.advance(Duration::from_millis(500)); // one token comes back per 500 ms
//! assert!(limiter.allow());
//! assert!(!limiter.allow());
//! ```

mod error;
mod limiter;
mod rate;
mod token_bucket;
mod word;

#[cfg(feature = "std")]
mod keyed;

pub use error::{BucketClosed, ExceedsBurst};
#[cfg(feature = "std")]
pub use keyed::KeyedLimiter;
pub use limiter::{Limiter, LimiterWait, Reservation};
pub use rate::Rate;
pub use token_bucket::{BucketWait, TokenBucket};

use crate::time::Clock;

/// Clock readings and theoretical arrival times stay below this many nanoseconds (about 18
/// years), so that `time + burst x interval` always fits in the 60 bits a limiter's state
/// word has for it.
pub(crate) const MAX_TIME: u64 = 1 << 59;

/// `burst x interval` (the time a limiter takes to refill from empty) stays below this (about
/// 9 years).
pub(crate) const MAX_SPAN: u64 = 1 << 58;

/// The clock's reading in nanoseconds.
///
/// # Panics
/// `gosync: clock beyond the limiter's range` past [`MAX_TIME`].
#[inline]
pub(crate) fn now_nanos<C: Clock>(clock: &C) -> u64 {
    let n = clock.now_nanos();
    if n >= MAX_TIME {
        out_of_range();
    }
    n
}

#[cold]
#[inline(never)]
fn out_of_range() -> ! {
    panic!("gosync: clock beyond the limiter's range (about 18 years)");
}

/// `burst x interval`, checked against [`MAX_SPAN`].
///
/// # Panics
/// `gosync: burst x interval too long` beyond it.
pub(crate) fn span(interval: u64, burst: u32) -> u64 {
    match interval.checked_mul(burst as u64) {
        Some(span) if span < MAX_SPAN => span,
        _ => panic!("gosync: burst x interval too long (the refill time must stay below about 9 years)"),
    }
}

/// Declares a struct whose last type parameter is its clock, defaulting to
/// [`MonotonicClock`](crate::time::MonotonicClock) where that exists (std) and without a
/// default otherwise.
macro_rules! clocked_struct {
    ($(#[$meta:meta])* pub struct $name:ident<$($lt:lifetime,)? C> { $($body:tt)* }) => {
        #[cfg(any(feature = "std", loom))]
        $(#[$meta])*
        pub struct $name<$($lt,)? C = crate::time::MonotonicClock> { $($body)* }
        #[cfg(not(any(feature = "std", loom)))]
        $(#[$meta])*
        pub struct $name<$($lt,)? C> { $($body)* }
    };
}
pub(crate) use clocked_struct;
