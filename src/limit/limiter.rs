//! [`Limiter`]: Go's `rate.Limiter`, as a generic cell rate algorithm (GCRA) on one atomic word.
//!
//! # The algorithm
//! A token bucket that refills continuously at one token per interval `T`, with room for `b`
//! tokens, is fully described by one instant: the *theoretical arrival time* `tat`, the time
//! at which the bucket will be full again (`tat <= now`: it is full). Admitting `n` tokens at
//! `now` moves it to `max(tat, now) + n*T`, and is allowed when the bucket is then still
//! within its capacity: `new_tat - b*T <= now`. The number of tokens available at `now` is
//! `(b*T - (tat - now)) / T`. So the whole state is one integer of nanoseconds, updated by
//! one compare-and-swap, and nothing has to run between calls: refill is implied by the
//! passing of time.
//!
//! # The state word
//! The word holds `tat` in its low 60 bits and a 4-bit *configuration generation* above. The
//! rate and burst live in two configuration slots beside it, and the generation says which
//! slot goes with the word. `set_rate`/`set_burst` (serialized by a small lock among
//! themselves, never taken by `allow`) write the new configuration into the other slot, then
//! swap in `(generation + 1, tat converted to the new configuration)` with one CAS. A caller
//! that read the old generation computes with the old configuration, and its CAS fails
//! because the word changed, so no decision ever mixes a `tat` with another configuration's
//! rate.

use super::word::Word;
use super::{clocked_struct, now_nanos, span, ExceedsBurst, Rate};
use crate::primitive::atomic::{AtomicU32, Ordering};
use crate::primitive::Lock;
use crate::time::{Clock, Sleep};
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use core::time::Duration;
use futures_core::FusedFuture;

const GEN_SHIFT: u32 = 60;
const TAT_MASK: u64 = (1 << GEN_SHIFT) - 1;
const GEN_MASK: u64 = 0xF;

clocked_struct! {
    /// A rate limiter with continuous refill and no lock: Go's `rate.Limiter`
    /// (`golang.org/x/time/rate`).
    ///
    /// It holds up to `burst` tokens and gets one back every [`Rate::interval`]; each admitted
    /// event takes one. It starts full. Refill is continuous and lazy, computed from the clock
    /// on each call: with burst 1 no two admissions are ever closer than one interval, and
    /// there is no thread and no timer behind it.
    ///
    /// ```text
    /// capacity 4, 2 tokens/s (one per 500 ms), requests at (ms):
    ///   100 110 120 130  -> admitted at once (the initial burst)
    ///   140              -> admitted at 600 (500 ms after the first token was spent)
    ///   1600 1700        -> at once;  1800 -> at 2100
    /// ```
    ///
    /// The whole state is one 64-bit word updated by compare-and-swap (see the module source
    /// for the algorithm, the generic cell rate algorithm), so [`allow`](Self::allow) is a
    /// load, a little integer arithmetic and one CAS, and many threads can share one limiter
    /// through a reference or an `Arc`. On targets without 64-bit atomics the word sits behind
    /// a tiny internal lock instead.
    ///
    /// # Limiter vs `rate.Limiter` vs [`TokenBucket`](super::TokenBucket)
    /// The timeline is exactly x/time/rate's (with integer nanoseconds instead of floats).
    /// `wait_async` differs from Go's `Wait` in one way: it does not reserve a token ahead, so
    /// dropping it consumes nothing ([`wait`](Self::wait) does reserve, as Go does). A
    /// `TokenBucket` refills in whole ticks of a fixed grid instead, the seed's ticker design.
    ///
    /// Every call that admits synchronizes with the calls admitted before it (the CAS is
    /// acquire-release).
    ///
    /// # Example
    /// ```
    /// use gosync::limit::{Limiter, Rate};
    /// use std::sync::Arc;
    /// use std::time::Instant;
    ///
    /// let limiter = Arc::new(Limiter::new(Rate::per_second(1000), 10));
    /// let start = Instant::now();
    /// for _ in 0..20 {
    ///     limiter.wait(); // 10 at once, then one per millisecond
    /// }
    /// assert!(start.elapsed().as_millis() >= 9);
    /// ```
    pub struct Limiter<C> {
        gcra: Gcra,
        clock: C,
    }
}

/// One configuration slot: the interval in nanoseconds and the burst.
struct Config {
    interval: Word,
    burst: AtomicU32,
}

/// The lock-free core: the state word and its two configuration slots.
struct Gcra {
    state: Word,
    configs: [Config; 2],
    /// Serializes `set_rate`/`set_burst` (never taken by admissions).
    writer: Lock<()>,
    /// Counts reconfigurations, full width: the word's 4-bit generation wraps after 16, so a
    /// reservation made 16 changes ago would otherwise look current to `cancel`.
    epoch: AtomicU32,
}

/// One consistent reading of the state: the word and the configuration of its generation.
#[derive(Clone, Copy, Debug)]
struct Snapshot {
    word: u64,
    tat: u64,
    interval: u64,
    burst: u32,
}

impl Snapshot {
    /// `b * T`: the time an empty bucket takes to fill.
    #[inline]
    fn span(&self) -> u64 {
        self.interval * self.burst as u64
    }

    /// Admitting `n <= burst` tokens at `now`: `Ok(new tat)`, or `Err(earliest time)` they
    /// could be admitted.
    #[inline]
    fn admit(&self, now: u64, n: u32) -> Result<u64, u64> {
        let new_tat = self.tat.max(now) + n as u64 * self.interval;
        let allowed_at = new_tat.saturating_sub(self.span());
        if allowed_at <= now {
            Ok(new_tat)
        } else {
            Err(allowed_at)
        }
    }

    /// Tokens available at `now`.
    fn available(&self, now: u64) -> u32 {
        let debt = self.tat.saturating_sub(now);
        (self.span().saturating_sub(debt) / self.interval) as u32
    }

    fn generation(&self) -> u64 {
        self.word >> GEN_SHIFT
    }
}

impl Gcra {
    fn new(rate: Rate, burst: u32) -> Self {
        check_burst(rate, burst);
        let config = || Config { interval: Word::new(rate.nanos()), burst: AtomicU32::new(burst) };
        // tat = 0 <= now: the bucket starts full.
        Gcra {
            state: Word::new(0),
            configs: [config(), config()],
            writer: Lock::new(()),
            epoch: AtomicU32::new(0),
        }
    }

    #[inline]
    fn snapshot(&self) -> Snapshot {
        // Acquire pairs with the release CAS of `reconfigure`, which wrote this generation's
        // configuration slot before publishing the generation.
        self.read(self.state.load(Ordering::Acquire))
    }

    /// The configuration that goes with `word`. If a reconfiguration overwrites this slot
    /// while we read it, the word has moved on by then (the slot of a generation is only
    /// rewritten two generations later), so the caller's CAS with `word` fails and it retries.
    #[inline]
    fn read(&self, word: u64) -> Snapshot {
        let config = &self.configs[((word >> GEN_SHIFT) & 1) as usize];
        Snapshot {
            word,
            tat: word & TAT_MASK,
            interval: config.interval.load(Ordering::Relaxed),
            burst: config.burst.load(Ordering::Relaxed),
        }
    }

    /// Replaces the state read in `snap` by `new_tat` (same generation). On failure, the
    /// state as it is now.
    #[inline]
    fn commit(&self, snap: &Snapshot, new_tat: u64) -> Result<(), Snapshot> {
        debug_assert!(new_tat <= TAT_MASK);
        let new = (snap.word & !TAT_MASK) | new_tat;
        // AcqRel: an admission synchronizes with the admissions before it; Acquire on failure
        // for the configuration read of the retry (as in `snapshot`).
        self.state
            .compare_exchange(snap.word, new, Ordering::AcqRel, Ordering::Acquire)
            .map(drop)
            .map_err(|word| self.read(word))
    }
}

/// Rejects a zero burst and a refill time too long for the state word.
fn check_burst(rate: Rate, burst: u32) {
    if burst == 0 {
        panic!("gosync: zero burst");
    }
    span(rate.nanos(), burst);
}

#[cfg(any(feature = "std", loom))]
impl Limiter {
    /// A limiter on real time ([`MonotonicClock`](crate::time::MonotonicClock)), full:
    /// `burst` tokens at most, one more every `rate.interval()`.
    ///
    /// # Panics
    /// `gosync: zero burst` if `burst` is 0; `gosync: burst x interval too long` if the time
    /// to refill from empty exceeds about 9 years.
    ///
    /// ```
    /// use gosync::limit::{Limiter, Rate};
    /// let limiter = Limiter::new(Rate::per_second(5), 2);
    /// assert_eq!(limiter.available(), 2);
    /// ```
    pub fn new(rate: Rate, burst: u32) -> Self {
        Limiter::with_clock(rate, burst, crate::time::MonotonicClock::new())
    }
}

impl<C: Clock> Limiter<C> {
    /// A full limiter on `clock` (a [`ManualClock`](crate::time::ManualClock) in tests).
    ///
    /// # Panics
    /// As [`new`](Limiter::new).
    ///
    /// ```
    /// use gosync::limit::{Limiter, Rate};
    /// use gosync::time::ManualClock;
    /// let limiter = Limiter::with_clock(Rate::per_second(5), 2, ManualClock::new());
    /// assert!(limiter.allow() && limiter.allow() && !limiter.allow());
    /// ```
    pub fn with_clock(rate: Rate, burst: u32, clock: C) -> Self {
        Limiter { gcra: Gcra::new(rate, burst), clock }
    }

    /// Takes one token if there is one now; never waits (Go's `Allow`).
    ///
    /// ```
    /// use gosync::limit::{Limiter, Rate};
    /// let limiter = Limiter::new(Rate::per_minute(1), 1);
    /// assert!(limiter.allow());
    /// assert!(!limiter.allow()); // the next one comes back in a minute
    /// ```
    #[inline]
    pub fn allow(&self) -> bool {
        self.allow_n(1)
    }

    /// Takes `n` tokens if all of them are there now, else none (Go's `AllowN`). `n` above the
    /// burst is never allowed; `n == 0` always is.
    ///
    /// ```
    /// use gosync::limit::{Limiter, Rate};
    /// let limiter = Limiter::new(Rate::per_minute(1), 5);
    /// assert!(limiter.allow_n(3));
    /// assert!(!limiter.allow_n(3)); // only 2 left: nothing is taken
    /// assert!(limiter.allow_n(2));
    /// ```
    pub fn allow_n(&self, n: u32) -> bool {
        let now = self.now();
        let mut snap = self.gcra.snapshot();
        loop {
            if n > snap.burst {
                return false;
            }
            match snap.admit(now, n) {
                Err(_) => return false,
                Ok(new_tat) => match self.gcra.commit(&snap, new_tat) {
                    Ok(()) => return true,
                    Err(now_state) => snap = now_state,
                },
            }
        }
    }

    /// Reserves one token and returns when it is due (Go's `Wait`): at once if one is
    /// available, else after the wait the reservation needs. Waiters are served in the order
    /// they called, each at the earliest time the rate allows.
    ///
    /// ```
    /// use gosync::limit::{Limiter, Rate};
    /// let limiter = Limiter::new(Rate::per_second(1000), 1);
    /// limiter.wait();
    /// limiter.wait(); // about a millisecond later
    /// ```
    #[cfg(any(feature = "std", loom))]
    pub fn wait(&self) {
        self.wait_n(1).expect("the burst is at least 1")
    }

    /// Reserves `n` tokens and returns when they are due (Go's `WaitN`).
    ///
    /// # Errors
    /// [`ExceedsBurst`], at once and taking nothing, if `n` exceeds the burst: they could
    /// never be available together, so waiting would never end.
    ///
    /// ```
    /// use gosync::limit::{ExceedsBurst, Limiter, Rate};
    /// let limiter = Limiter::new(Rate::per_second(1000), 4);
    /// assert_eq!(limiter.wait_n(4), Ok(()));
    /// assert_eq!(limiter.wait_n(5), Err(ExceedsBurst { requested: 5, burst: 4 }));
    /// ```
    #[cfg(any(feature = "std", loom))]
    pub fn wait_n(&self, n: u32) -> Result<(), ExceedsBurst> {
        let reservation = self.reserve_n(n)?;
        self.sleep_until(reservation.act_at);
        Ok(())
    }

    /// Like [`wait`](Self::wait), but only if the token can be had within `timeout`: if it
    /// cannot arrive in time, returns `false` at once and takes nothing; otherwise reserves
    /// it, waits for it, and returns `true`.
    ///
    /// ```
    /// use gosync::limit::{Limiter, Rate};
    /// use std::time::Duration;
    /// let limiter = Limiter::new(Rate::per_minute(1), 1);
    /// assert!(limiter.wait_timeout(Duration::ZERO)); // the first token is there
    /// assert!(!limiter.wait_timeout(Duration::from_secs(1))); // next one in a minute: no
    /// assert_eq!(limiter.available(), 0);
    /// ```
    #[cfg(any(feature = "std", loom))]
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        let within = u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX);
        match self.reserve_within(1, within) {
            Some(reservation) => {
                self.sleep_until(reservation.act_at);
                true
            }
            None => false,
        }
    }

    /// Waits for one token from an async task, on any executor; the wait itself is a
    /// [`Sleep`] on the limiter's clock (real time: the one shared timer thread).
    ///
    /// # Cancel safety
    /// Cancel-safe: the future takes its token in the poll that returns `Ready`, and holds no
    /// reservation before that, so dropping it at any point consumes nothing. (The price: it
    /// does not keep a place in line; a token that comes back may go to another caller first,
    /// and the future then sleeps again.)
    ///
    /// ```
    /// use gosync::limit::{Limiter, Rate};
    /// use gosync::time::ManualClock;
    /// use std::future::Future;
    /// use std::task::{Context, Poll, Waker};
    /// use std::time::Duration;
    ///
    /// let clock = ManualClock::new();
    /// let limiter = Limiter::with_clock(Rate::per_second(1), 1, clock.clone());
    /// assert!(limiter.allow());
    /// let mut cx = Context::from_waker(Waker::noop());
    /// let mut wait = Box::pin(limiter.wait_async());
    /// assert!(wait.as_mut().poll(&mut cx).is_pending());
    /// clock.advance(Duration::from_secs(1));
    /// assert_eq!(wait.as_mut().poll(&mut cx), Poll::Ready(()));
    /// ```
    pub fn wait_async(&self) -> LimiterWait<'_, C> {
        LimiterWait { limiter: self, sleep: None, done: false }
    }

    /// Reserves one token now, however far ahead it is due (Go's `Reserve`): the returned
    /// [`Reservation`] says how long to wait before acting, and
    /// [`cancel`](Reservation::cancel) gives the token back if you decide not to act.
    ///
    /// ```
    /// use gosync::limit::{Limiter, Rate};
    /// use gosync::time::ManualClock;
    /// use std::time::Duration;
    ///
    /// let limiter = Limiter::with_clock(Rate::per_second(2), 1, ManualClock::new());
    /// assert_eq!(limiter.reserve().delay(), Duration::ZERO);
    /// let late = limiter.reserve();
    /// assert_eq!(late.delay(), Duration::from_millis(500));
    /// late.cancel(); // not acting after all: the token goes back
    /// assert_eq!(limiter.reserve().delay(), Duration::from_millis(500));
    /// ```
    pub fn reserve(&self) -> Reservation<'_, C> {
        self.reserve_n(1).expect("the burst is at least 1")
    }

    /// Reserves `n` tokens (Go's `ReserveN`).
    ///
    /// # Errors
    /// [`ExceedsBurst`] (reserving nothing) if `n` exceeds the burst.
    ///
    /// # Panics
    /// `gosync: reservations too far ahead` if the reservations already made reach years
    /// into the future.
    ///
    /// ```
    /// use gosync::limit::{Limiter, Rate};
    /// let limiter = Limiter::new(Rate::per_second(10), 5);
    /// assert!(limiter.reserve_n(5).unwrap().delay().is_zero());
    /// assert!(limiter.reserve_n(6).is_err());
    /// ```
    pub fn reserve_n(&self, n: u32) -> Result<Reservation<'_, C>, ExceedsBurst> {
        match self.reserve_within(n, u64::MAX) {
            Some(reservation) => Ok(reservation),
            None => Err(ExceedsBurst { requested: n, burst: self.burst() }),
        }
    }

    /// Reserves `n` tokens if they are due within `within` nanoseconds. `None`: `n` exceeds
    /// the burst, or they are due too late; nothing was taken.
    fn reserve_within(&self, n: u32, within: u64) -> Option<Reservation<'_, C>> {
        let now = self.now();
        // Read before the word: a reconfiguration after it makes `cancel` give nothing back.
        let epoch = self.gcra.epoch.load(Ordering::Relaxed);
        let mut snap = self.gcra.snapshot();
        loop {
            if n > snap.burst {
                return None;
            }
            let (new_tat, act_at) = match snap.admit(now, n) {
                Ok(new_tat) => (new_tat, now),
                Err(act_at) => (act_at + snap.span(), act_at),
            };
            if act_at - now > within {
                return None;
            }
            if new_tat > TAT_MASK {
                panic!("gosync: reservations too far ahead");
            }
            match self.gcra.commit(&snap, new_tat) {
                Ok(()) => {
                    return Some(Reservation {
                        limiter: self,
                        tokens: n,
                        generation: snap.generation(),
                        epoch,
                        end: new_tat,
                        act_at,
                        delay: Duration::from_nanos(act_at - now),
                    })
                }
                Err(now_state) => snap = now_state,
            }
        }
    }

    /// Changes the rate from the next call on (Go's `SetLimit`). The tokens available now
    /// are kept (the time to refill them is rescaled); waits already reserved keep their
    /// times.
    ///
    /// ```
    /// use gosync::limit::{Limiter, Rate};
    /// use gosync::time::ManualClock;
    /// use std::time::Duration;
    ///
    /// let clock = ManualClock::new();
    /// let limiter = Limiter::with_clock(Rate::per_second(1), 1, clock.clone());
    /// assert!(limiter.allow());
    /// limiter.set_rate(Rate::per_second(10));
    /// clock.advance(Duration::from_millis(100));
    /// assert!(limiter.allow());
    /// ```
    ///
    /// # Panics
    /// `gosync: burst x interval too long` as in [`new`](Limiter::new) (nothing changes).
    pub fn set_rate(&self, rate: Rate) {
        self.reconfigure(|_, burst| (rate.nanos(), burst));
    }

    /// Changes the burst from the next call on (Go's `SetBurst`). The tokens available now
    /// are kept, up to the new burst.
    ///
    /// ```
    /// use gosync::limit::{Limiter, Rate};
    /// let limiter = Limiter::new(Rate::per_minute(1), 1);
    /// limiter.set_burst(3);
    /// assert_eq!(limiter.available(), 1); // raising the burst adds no tokens
    /// limiter.set_burst(1);
    /// assert_eq!(limiter.burst(), 1);
    /// ```
    ///
    /// # Panics
    /// `gosync: zero burst`, or `gosync: burst x interval too long` (nothing changes).
    pub fn set_burst(&self, burst: u32) {
        self.reconfigure(|interval, _| (interval, burst));
    }

    fn reconfigure(&self, change: impl Fn(u64, u32) -> (u64, u32)) {
        let _writer = self.gcra.writer.lock();
        let now = self.now();
        let mut snap = self.gcra.snapshot();
        loop {
            let (interval, burst) = change(snap.interval, snap.burst);
            if burst == 0 {
                panic!("gosync: zero burst");
            }
            let new_span = span(interval, burst);
            // Keep the tokens: the debt (time until full) counts missing tokens at the old
            // interval; the same count at the new interval, moved by the change of burst,
            // and never below zero (a lower burst caps the tokens).
            let debt = snap.tat.saturating_sub(now) as u128;
            let missing = debt * interval as u128 / snap.interval as u128;
            let new_debt = (missing + new_span as u128).saturating_sub(snap.burst as u128 * interval as u128);
            let new_tat = (now as u128 + new_debt).min(TAT_MASK as u128) as u64;
            let generation = (snap.generation() + 1) & GEN_MASK;
            // The slot of the next generation is no generation's in use: write it, then
            // publish it with the word (Release, paired with `snapshot`'s Acquire).
            let slot = &self.gcra.configs[(generation & 1) as usize];
            slot.interval.store(interval, Ordering::Relaxed);
            slot.burst.store(burst, Ordering::Relaxed);
            let word = (generation << GEN_SHIFT) | new_tat;
            // Bumped before the word is published (Release below): a `cancel` that sees the
            // new word sees the new epoch too.
            self.gcra.epoch.fetch_add(1, Ordering::Relaxed);
            match self.gcra.state.compare_exchange(snap.word, word, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return,
                // An admission moved tat meanwhile (writers are serialized): redo it.
                Err(word) => snap = self.gcra.read(word),
            }
        }
    }

    /// Tokens available now (Go's `Tokens`, rounded down; 0 while reservations are pending).
    ///
    /// ```
    /// use gosync::limit::{Limiter, Rate};
    /// let limiter = Limiter::new(Rate::per_minute(1), 3);
    /// limiter.allow();
    /// assert_eq!(limiter.available(), 2);
    /// ```
    pub fn available(&self) -> u32 {
        self.gcra.snapshot().available(self.now())
    }

    /// The current rate.
    ///
    /// ```
    /// use gosync::limit::{Limiter, Rate};
    /// assert_eq!(Limiter::new(Rate::per_second(3), 1).rate(), Rate::per_second(3));
    /// ```
    pub fn rate(&self) -> Rate {
        Rate::every(Duration::from_nanos(self.gcra.snapshot().interval))
    }

    /// The current burst.
    ///
    /// ```
    /// use gosync::limit::{Limiter, Rate};
    /// assert_eq!(Limiter::new(Rate::per_second(3), 7).burst(), 7);
    /// ```
    pub fn burst(&self) -> u32 {
        self.gcra.snapshot().burst
    }

    /// The limiter's clock.
    ///
    /// ```
    /// use gosync::limit::{Limiter, Rate};
    /// use gosync::time::{Clock, ManualClock};
    /// let limiter = Limiter::with_clock(Rate::per_second(3), 1, ManualClock::new());
    /// assert!(limiter.clock().now().is_zero());
    /// ```
    pub fn clock(&self) -> &C {
        &self.clock
    }

    #[inline]
    fn now(&self) -> u64 {
        now_nanos(&self.clock)
    }

    #[cfg(any(feature = "std", loom))]
    fn sleep_until(&self, at: u64) {
        if at > self.now() {
            self.clock.sleep_until(Duration::from_nanos(at)).wait();
        }
    }
}

impl<C> fmt::Debug for Limiter<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let snap = self.gcra.snapshot();
        f.debug_struct("Limiter")
            .field("interval", &Duration::from_nanos(snap.interval))
            .field("burst", &snap.burst)
            .finish_non_exhaustive()
    }
}

/// Tokens reserved by [`Limiter::reserve`]: act after [`delay`](Self::delay), or
/// [`cancel`](Self::cancel) to give them back. Dropping it keeps the tokens spent.
///
/// ```
/// use gosync::limit::{Limiter, Rate};
/// let limiter = Limiter::new(Rate::per_second(100), 1);
/// let reservation = limiter.reserve();
/// std::thread::sleep(reservation.delay());
/// // ... act ...
/// ```
#[must_use = "a reservation spends its tokens even if unused; cancel() gives them back"]
pub struct Reservation<'a, C> {
    limiter: &'a Limiter<C>,
    tokens: u32,
    generation: u64,
    /// The limiter's reconfiguration count when the reservation was made.
    epoch: u32,
    /// `tat` right after this reservation.
    end: u64,
    /// When the tokens are due (clock time, ns).
    act_at: u64,
    delay: Duration,
}

impl<C: Clock> Reservation<'_, C> {
    /// How long after the reservation was made the tokens are due (zero: at once).
    ///
    /// ```
    /// use gosync::limit::{Limiter, Rate};
    /// let limiter = Limiter::new(Rate::per_second(1), 1);
    /// assert!(limiter.reserve().delay().is_zero());
    /// ```
    pub fn delay(&self) -> Duration {
        self.delay
    }

    /// Gives the tokens back, as far as that cannot break the rate (Go's
    /// `Reservation.Cancel`): nothing once they are due (they count as used), and only the
    /// part not already relied on by reservations and admissions made after this one (those
    /// keep their times, so returning their share would let two tokens share one slot).
    /// Nothing either if the rate or burst changed since.
    ///
    /// ```
    /// use gosync::limit::{Limiter, Rate};
    /// let limiter = Limiter::new(Rate::per_minute(1), 1);
    /// let first = limiter.reserve(); // due at once
    /// let second = limiter.reserve(); // due in a minute
    /// second.cancel();
    /// first.cancel(); // already due: counts as used
    /// assert_eq!(limiter.available(), 0);
    /// assert!(limiter.reserve().delay() <= std::time::Duration::from_secs(60));
    /// ```
    pub fn cancel(self) {
        let gcra = &self.limiter.gcra;
        if self.limiter.now() >= self.act_at {
            return;
        }
        let mut snap = gcra.snapshot();
        loop {
            if snap.generation() != self.generation || gcra.epoch.load(Ordering::Relaxed) != self.epoch {
                return;
            }
            let after = snap.tat.saturating_sub(self.end);
            let restore = (self.tokens as u64 * snap.interval).saturating_sub(after);
            if restore == 0 {
                return;
            }
            match gcra.commit(&snap, snap.tat - restore) {
                Ok(()) => return,
                Err(now_state) => snap = now_state,
            }
        }
    }
}

impl<C> fmt::Debug for Reservation<'_, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reservation").field("tokens", &self.tokens).field("delay", &self.delay).finish()
    }
}

/// The future of [`Limiter::wait_async`]: ready once it has taken a token.
///
/// # Cancel safety
/// Dropping it at any point consumes nothing: the token is taken in the poll that returns
/// `Ready`.
///
/// ```
/// use gosync::limit::{Limiter, Rate};
/// use gosync::time::ManualClock;
/// let limiter = Limiter::with_clock(Rate::per_second(1), 1, ManualClock::new());
/// let wait = limiter.wait_async();
/// drop(wait); // never polled: nothing taken
/// assert_eq!(limiter.available(), 1);
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct LimiterWait<'a, C> {
    limiter: &'a Limiter<C>,
    /// The sleep until the token can next be had.
    sleep: Option<Sleep>,
    done: bool,
}

impl<C: Clock> Future for LimiterWait<'_, C> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(());
        }
        loop {
            if let Some(sleep) = &mut this.sleep {
                if Pin::new(sleep).poll(cx).is_pending() {
                    return Poll::Pending;
                }
                this.sleep = None;
            }
            let limiter = this.limiter;
            let now = limiter.now();
            let mut snap = limiter.gcra.snapshot();
            let due = loop {
                match snap.admit(now, 1) {
                    Ok(new_tat) => match limiter.gcra.commit(&snap, new_tat) {
                        Ok(()) => {
                            this.done = true;
                            return Poll::Ready(());
                        }
                        Err(now_state) => snap = now_state,
                    },
                    Err(due) => break due,
                }
            };
            // Not there yet: sleep until it is due, then try again (someone else may have
            // taken it by then). A sleep that is already due returns Ready at once.
            this.sleep = Some(limiter.clock.sleep_until(Duration::from_nanos(due)));
        }
    }
}

impl<C: Clock> FusedFuture for LimiterWait<'_, C> {
    fn is_terminated(&self) -> bool {
        self.done
    }
}

impl<C> fmt::Debug for LimiterWait<'_, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LimiterWait").field("done", &self.done).finish_non_exhaustive()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn snap(tat: u64, interval: u64, burst: u32) -> Snapshot {
        Snapshot { word: tat, tat, interval, burst }
    }

    #[test]
    fn admit_follows_the_gcra_formula() {
        // Full bucket of 4 at 500 ns per token.
        let s = snap(0, 500, 4);
        assert_eq!(s.admit(100, 1), Ok(600));
        assert_eq!(s.admit(100, 4), Ok(2100));
        // Three spent (tat 1600 at 100): one left; two more are due at 600.
        let s = snap(1600, 500, 4);
        assert_eq!(s.available(100), 1);
        assert_eq!(s.admit(100, 1), Ok(2100));
        assert_eq!(s.admit(100, 2), Err(600));
        assert_eq!(snap(2100, 500, 4).available(100), 0);
    }

    #[test]
    fn generations_pick_their_own_configuration() {
        let gcra = Gcra::new(Rate::every(Duration::from_nanos(10)), 2);
        gcra.configs[1].interval.store(99, Ordering::Relaxed);
        assert_eq!(gcra.read(5).interval, 10);
        assert_eq!(gcra.read((1 << GEN_SHIFT) | 5).interval, 99);
        assert_eq!(gcra.read((1 << GEN_SHIFT) | 5).tat, 5);
    }
}
