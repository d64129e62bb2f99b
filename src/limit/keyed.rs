//! [`KeyedLimiter`]: one lazy limiter per key, in a sharded map that forgets idle keys.

use super::{now_nanos, span, Rate};
use crate::primitive::Lock;
use crate::time::{Clock, MonotonicClock};
use core::fmt;
use core::hash::{BuildHasher, Hash};
use core::time::Duration;
use crossbeam_utils::CachePadded;
use hashbrown::HashTable;
use std::collections::hash_map::RandomState;

/// A shard sweeps out full buckets once it holds this many entries, whatever its history.
const MIN_SWEEP: usize = 16;

/// One [`Limiter`](super::Limiter) per key (per customer, per IP address): each key gets
/// `burst` tokens and `rate`, independently of the others. The Go idiom it replaces is a
/// `map[string]*rate.Limiter` behind a mutex, plus a janitor goroutine that deletes idle
/// entries.
///
/// No janitor is needed here. A key's state is one theoretical arrival time (see
/// [`Limiter`](super::Limiter)), and a key whose bucket is full again is indistinguishable
/// from a key never seen, so such entries are dropped: each shard of the map sweeps out its
/// full buckets when it has doubled in size since its last sweep, or when a whole refill
/// time (`burst x interval`) has passed since then, and [`len`](Self::len) counts only the
/// keys whose bucket is not full. Memory thus follows the keys active within about one
/// refill time, with no cleanup call: a shard that is touched again (any call that lands in
/// it, or `len`) drops what went idle. A shard nobody touches keeps its entries until then.
/// Sweeps are amortized: a shard is swept at most once per refill time and once per
/// doubling.
///
/// The map is split into shards, each under its own short lock (held for one hash lookup
/// and a little arithmetic; never while waiting), so callers with different keys rarely
/// contend. Needs `std` (a `HashMap`).
///
/// # Example
/// ```
/// use gosync::limit::{KeyedLimiter, Rate};
///
/// let limits = KeyedLimiter::new(Rate::per_second(1), 2);
/// assert!(limits.allow(&"alice"));
/// assert!(limits.allow(&"alice"));
/// assert!(!limits.allow(&"alice")); // alice spent her burst...
/// assert!(limits.allow(&"bob")); // ...bob has his own
/// assert_eq!(limits.len(), 2);
/// ```
pub struct KeyedLimiter<K, C = MonotonicClock> {
    shards: Box<[CachePadded<Lock<Shard<K>>>]>,
    hasher: RandomState,
    /// Nanoseconds per token.
    interval: u64,
    /// `burst x interval`.
    span: u64,
    clock: C,
}

struct Shard<K> {
    /// (key, theoretical arrival time in ns); only keys whose bucket is not known full.
    /// Indexed by the limiter's own hash of the key, computed once per call: it picks the
    /// shard (high bits) and the slot in it (hashbrown's low bits and top 7 bits).
    map: HashTable<(K, u64)>,
    /// Sweep when `map` reaches this size.
    sweep_len: usize,
    /// Clock time of the last sweep.
    swept_at: u64,
}

impl<K: Hash + Eq> Shard<K> {
    /// Drops the full buckets if the shard doubled or a refill time passed since the last
    /// sweep.
    #[inline]
    fn maybe_sweep(&mut self, now: u64, span: u64, hasher: &RandomState) {
        if self.map.len() >= self.sweep_len || now >= self.swept_at.saturating_add(span) {
            self.sweep(now, hasher);
        }
    }

    fn sweep(&mut self, now: u64, hasher: &RandomState) {
        self.map.retain(|(_, tat)| *tat > now);
        let len = self.map.len();
        self.sweep_len = (2 * len).max(MIN_SWEEP);
        // Never backwards: every entry removed so far was full at `swept_at`.
        self.swept_at = self.swept_at.max(now);
        if self.map.capacity() > 4 * len.max(MIN_SWEEP) {
            self.map.shrink_to(2 * len, |(key, _)| hasher.hash_one(key));
        }
    }
}

impl<K: Hash + Eq + Clone> KeyedLimiter<K> {
    /// A keyed limiter on real time: every key starts with `burst` tokens and gets one back
    /// every `rate.interval()`.
    ///
    /// # Panics
    /// `gosync: zero burst` if `burst` is 0; `gosync: burst x interval too long` beyond about
    /// 9 years of refill time.
    ///
    /// ```
    /// use gosync::limit::{KeyedLimiter, Rate};
    /// let limits: KeyedLimiter<u64> = KeyedLimiter::new(Rate::per_minute(100), 10);
    /// assert!(limits.is_empty());
    /// ```
    pub fn new(rate: Rate, burst: u32) -> Self {
        KeyedLimiter::with_clock(rate, burst, MonotonicClock::new())
    }
}

impl<K: Hash + Eq + Clone, C: Clock> KeyedLimiter<K, C> {
    /// A keyed limiter on `clock`.
    ///
    /// # Panics
    /// As [`new`](KeyedLimiter::new).
    ///
    /// ```
    /// use gosync::limit::{KeyedLimiter, Rate};
    /// use gosync::time::ManualClock;
    /// let limits = KeyedLimiter::with_clock(Rate::per_second(1), 1, ManualClock::new());
    /// assert!(limits.allow(&7) && !limits.allow(&7));
    /// ```
    pub fn with_clock(rate: Rate, burst: u32, clock: C) -> Self {
        if burst == 0 {
            panic!("gosync: zero burst");
        }
        let span = span(rate.nanos(), burst);
        let shards = shard_count();
        let swept_at = now_nanos(&clock);
        KeyedLimiter {
            shards: (0..shards)
                .map(|_| {
                    CachePadded::new(Lock::new(Shard {
                        map: HashTable::new(),
                        sweep_len: MIN_SWEEP,
                        swept_at,
                    }))
                })
                .collect(),
            hasher: RandomState::new(),
            interval: rate.nanos(),
            span,
            clock,
        }
    }

    /// Takes one of `key`'s tokens if it has one now; never waits.
    ///
    /// ```
    /// use gosync::limit::{KeyedLimiter, Rate};
    /// let limits = KeyedLimiter::new(Rate::per_minute(1), 1);
    /// assert!(limits.allow(&"k"));
    /// assert!(!limits.allow(&"k"));
    /// ```
    pub fn allow(&self, key: &K) -> bool {
        let now = self.now();
        let hash = self.hasher.hash_one(key);
        let mut shard = self.shard(hash).lock();
        // A clock reading older than the last sweep must not see a key that sweep removed
        // as absent (full): that key was full at `swept_at`, not necessarily at `now`.
        let now = now.max(shard.swept_at);
        shard.maybe_sweep(now, self.span, &self.hasher);
        if let Some((_, tat)) = shard.map.find_mut(hash, |(k, _)| k == key) {
            let new_tat = (*tat).max(now) + self.interval;
            return if new_tat.saturating_sub(self.span) <= now {
                *tat = new_tat;
                true
            } else {
                false
            };
        }
        // Absent: a full bucket. Taking one token leaves it not full.
        shard.map.insert_unique(hash, (key.clone(), now + self.interval), |(k, _)| self.hasher.hash_one(k));
        true
    }

    /// Reserves one of `key`'s tokens and blocks until it is due, behind the earlier callers
    /// for that key. Other keys are not held up.
    ///
    /// ```
    /// use gosync::limit::{KeyedLimiter, Rate};
    /// let limits = KeyedLimiter::new(Rate::per_second(1000), 1);
    /// limits.wait(&"k");
    /// limits.wait(&"k"); // about a millisecond later
    /// ```
    pub fn wait(&self, key: &K) {
        let now = self.now();
        let hash = self.hasher.hash_one(key);
        let due = {
            let mut shard = self.shard(hash).lock();
            let now = now.max(shard.swept_at); // as in `allow`
            shard.maybe_sweep(now, self.span, &self.hasher);
            let (_, tat) = shard
                .map
                .entry(hash, |(k, _)| k == key, |(k, _)| self.hasher.hash_one(k))
                .or_insert_with(|| (key.clone(), now))
                .into_mut();
            let new_tat = (*tat).max(now) + self.interval;
            *tat = new_tat;
            new_tat.saturating_sub(self.span).max(now)
        };
        if due > now {
            self.clock.sleep_until(Duration::from_nanos(due)).wait();
        }
    }

    /// The number of keys whose bucket is not full: the entries the limiter holds, after
    /// dropping the ones that have refilled. O(keys), taking each shard's lock in turn.
    ///
    /// ```
    /// use gosync::limit::{KeyedLimiter, Rate};
    /// use gosync::time::ManualClock;
    /// use std::time::Duration;
    ///
    /// let clock = ManualClock::new();
    /// let limits = KeyedLimiter::with_clock(Rate::per_second(10), 5, clock.clone());
    /// limits.allow(&1);
    /// limits.allow(&2);
    /// assert_eq!(limits.len(), 2);
    /// clock.advance(Duration::from_millis(100)); // both buckets are full again
    /// assert_eq!(limits.len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        let now = self.now();
        self.shards
            .iter()
            .map(|shard| {
                let mut shard = shard.lock();
                shard.sweep(now, &self.hasher);
                shard.map.len()
            })
            .sum()
    }

    /// True when no key's bucket is short of tokens ([`len`](Self::len) is 0).
    ///
    /// ```
    /// use gosync::limit::{KeyedLimiter, Rate};
    /// let limits: KeyedLimiter<&str> = KeyedLimiter::new(Rate::per_second(10), 5);
    /// assert!(limits.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Entries held right now, full buckets not yet swept included. Not a public API: the
    /// tests use it to show that memory follows active keys without calling `len`.
    #[doc(hidden)]
    pub fn __stored(&self) -> usize {
        self.shards.iter().map(|shard| shard.lock().map.len()).sum()
    }

    #[inline]
    fn shard(&self, hash: u64) -> &Lock<Shard<K>> {
        // Bits 40 and up: the shard's table uses the low bits (slot) and the top 7 (tag).
        &self.shards[(hash >> 40) as usize & (self.shards.len() - 1)]
    }

    fn now(&self) -> u64 {
        now_nanos(&self.clock)
    }
}

/// Four shards per CPU, a power of two between 4 and 64.
fn shard_count() -> usize {
    let cpus = std::thread::available_parallelism().map_or(4, |n| n.get());
    (cpus * 4).next_power_of_two().clamp(4, 64)
}

impl<K, C> fmt::Debug for KeyedLimiter<K, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedLimiter")
            .field("interval", &Duration::from_nanos(self.interval))
            .field("shards", &self.shards.len())
            .finish_non_exhaustive()
    }
}
