//! The limiters' error types.

use core::fmt;

/// [`Limiter::wait_n`](super::Limiter::wait_n) (or `reserve_n`) asked for more tokens than
/// the limiter's burst: they could never all be available at once, so instead of waiting
/// forever the call fails at once.
///
/// ```
/// use gosync::limit::{ExceedsBurst, Limiter, Rate};
/// let limiter = Limiter::new(Rate::per_second(10), 3);
/// assert_eq!(limiter.wait_n(4), Err(ExceedsBurst { requested: 4, burst: 3 }));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct ExceedsBurst {
    /// Tokens asked for.
    pub requested: u32,
    /// The limiter's burst when asked.
    pub burst: u32,
}

impl fmt::Display for ExceedsBurst {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "gosync: {} tokens requested, more than the burst of {}", self.requested, self.burst)
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ExceedsBurst {}

/// The [`TokenBucket`](super::TokenBucket) was closed: no more tokens will be handed out.
///
/// ```
/// use gosync::limit::{BucketClosed, Rate, TokenBucket};
/// let bucket = TokenBucket::new(Rate::per_second(10), 1);
/// bucket.close();
/// assert_eq!(bucket.wait(), Err(BucketClosed));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct BucketClosed;

impl fmt::Display for BucketClosed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("gosync: token bucket closed")
    }
}

#[cfg(feature = "std")]
impl std::error::Error for BucketClosed {}
