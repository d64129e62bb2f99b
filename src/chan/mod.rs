//! Go's channels: bounded, rendezvous and unbounded MPMC channels with close, and select.

pub(crate) mod list;

/// What a buffer's non-blocking push reports when it cannot take the value: the value comes
/// back either way.
#[allow(dead_code)] // the channel types build on it
pub enum PushError<T> {
    /// No room (a bounded buffer at capacity).
    Full(T),
    /// The buffer is closed: no push will ever succeed again.
    Closed(T),
}

/// What a buffer's non-blocking pop reports when it has no value to give.
#[allow(dead_code)] // the channel types build on it
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum PopError {
    /// Nothing buffered now; a later push may fill it.
    Empty,
    /// Closed and drained: no value will ever come.
    Closed,
}
