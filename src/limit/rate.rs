//! [`Rate`]: how often a token comes back, in whole nanoseconds.

use super::MAX_SPAN;
use core::fmt;
use core::num::NonZeroU64;
use core::time::Duration;

/// How fast a limiter hands out tokens: one token every [`interval`](Rate::interval).
///
/// Go's `rate.Limit` is a float of events per second; a `Rate` is the time between two
/// tokens in whole nanoseconds, so that all limiter arithmetic is exact integer arithmetic.
/// A rate that does not divide a second evenly is rounded *down* (the interval up to the next
/// nanosecond): `per_second(3)` is one token every 333 333 334 ns, so a limiter never admits
/// more than asked.
///
/// # Panics
/// Every constructor rejects a rate that would divide by zero or overflow, with a `gosync:`
/// panic: `per_second(0)` / `per_minute(0)` (`gosync: zero rate`), `every(Duration::ZERO)`
/// (`gosync: zero rate interval`), and an interval beyond about 9 years (`gosync: rate
/// interval too long`).
///
/// ```
/// use gosync::limit::Rate;
/// use std::time::Duration;
///
/// assert_eq!(Rate::per_second(4).interval(), Duration::from_millis(250));
/// assert_eq!(Rate::per_minute(2), Rate::every(Duration::from_secs(30)));
/// assert!(std::panic::catch_unwind(|| Rate::per_second(0)).is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rate {
    interval: NonZeroU64,
}

impl Rate {
    /// `n` tokens per second.
    ///
    /// # Panics
    /// `gosync: zero rate` if `n` is 0.
    ///
    /// ```
    /// use gosync::limit::Rate;
    /// assert_eq!(Rate::per_second(1000).interval().as_micros(), 1000);
    /// ```
    pub const fn per_second(n: u32) -> Rate {
        Rate::per(1_000_000_000, n)
    }

    /// `n` tokens per minute.
    ///
    /// # Panics
    /// `gosync: zero rate` if `n` is 0.
    ///
    /// ```
    /// use gosync::limit::Rate;
    /// assert_eq!(Rate::per_minute(60), Rate::per_second(1));
    /// ```
    pub const fn per_minute(n: u32) -> Rate {
        Rate::per(60_000_000_000, n)
    }

    /// One token every `interval` (Go's `rate.Every`).
    ///
    /// # Panics
    /// `gosync: zero rate interval` if `interval` is zero; `gosync: rate interval too long`
    /// beyond about 9 years.
    ///
    /// ```
    /// use gosync::limit::Rate;
    /// use std::time::Duration;
    /// assert_eq!(Rate::every(Duration::from_millis(100)), Rate::per_second(10));
    /// ```
    pub const fn every(interval: Duration) -> Rate {
        let secs = interval.as_secs();
        if secs >= MAX_SPAN / 1_000_000_000 {
            panic!("gosync: rate interval too long");
        }
        match NonZeroU64::new(secs * 1_000_000_000 + interval.subsec_nanos() as u64) {
            Some(interval) => Rate { interval },
            None => panic!("gosync: zero rate interval"),
        }
    }

    /// One token per `nanos / n` nanoseconds, rounded up.
    const fn per(nanos: u64, n: u32) -> Rate {
        if n == 0 {
            panic!("gosync: zero rate");
        }
        let n = n as u64;
        // `u64::div_ceil` needs Rust 1.73; the library supports 1.71.
        #[allow(clippy::manual_div_ceil)]
        let interval = (nanos + n - 1) / n;
        match NonZeroU64::new(interval) {
            Some(interval) => Rate { interval },
            None => unreachable!(), // nanos >= 1 and n >= 1 make the quotient at least 1
        }
    }

    /// The time between two tokens.
    ///
    /// ```
    /// use gosync::limit::Rate;
    /// use std::time::Duration;
    /// assert_eq!(Rate::per_second(2).interval(), Duration::from_millis(500));
    /// ```
    pub const fn interval(&self) -> Duration {
        Duration::from_nanos(self.interval.get())
    }

    /// The interval in nanoseconds.
    pub(crate) const fn nanos(&self) -> u64 {
        self.interval.get()
    }
}

impl fmt::Debug for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rate").field("interval", &self.interval()).finish()
    }
}
