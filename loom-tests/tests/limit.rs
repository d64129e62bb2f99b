#![cfg(loom)]
//! loom models of the limiters (`src/limit/`) on a `ManualClock`: the Limiter's state word
//! is updated only by compare-and-swap, so racing admissions can never both spend the last
//! token, and a cancel racing an admission never returns a token that was spent; the
//! KeyedLimiter's shard lock makes an insert and a sweep of the same key exclusive; the
//! TokenBucket's tick watcher hands its role over however it leaves the line.

mod common;

use common::Outcomes;
use gosync::limit::{KeyedLimiter, Limiter, Rate, TokenBucket};
use gosync::time::ManualClock;
use loom::sync::Arc;
use loom::thread;
use std::time::Duration;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Two threads race `allow` for the last token: exactly one wins.
#[test]
fn allow_races_allow_on_the_last_token() {
    let seen = Outcomes::new();
    let s = seen.clone();
    loom::model(move || {
        let limiter = Arc::new(Limiter::with_clock(Rate::per_second(1), 2, ManualClock::new()));
        assert!(limiter.allow()); // one token left
        let other = {
            let limiter = limiter.clone();
            thread::spawn(move || limiter.allow())
        };
        let mine = limiter.allow();
        let theirs = other.join().unwrap();
        assert!(mine ^ theirs, "exactly one wins the last token (mine {mine}, theirs {theirs})");
        assert_eq!(limiter.available(), 0);
        s.saw_if(mine, "main won", "other won");
    });
    seen.assert_all(&["main won", "other won"]);
}

/// A reservation of the next token is cancelled while another thread tries `allow`. The
/// token is handed out at most once: either allow fails (before the cancel) and the token
/// is back afterwards, or allow takes the returned token and none is left.
#[test]
fn reserve_then_cancel_races_allow() {
    let seen = Outcomes::new();
    let s = seen.clone();
    loom::model(move || {
        let limiter = Arc::new(Limiter::with_clock(Rate::per_second(1), 1, ManualClock::new()));
        let reservation = limiter.reserve();
        assert!(reservation.delay().is_zero()); // took the only token
        let other = {
            let limiter = limiter.clone();
            thread::spawn(move || limiter.allow())
        };
        let late = limiter.reserve();
        assert_eq!(late.delay(), ms(1000));
        late.cancel();
        let allowed = other.join().unwrap();
        // The cancelled reservation's slot is free again: exactly one more token due at 1 s,
        // taken by `allow` only if it could have been had (it cannot at t = 0).
        assert!(!allowed, "allow at t=0 never gets the token due at 1 s");
        assert_eq!(limiter.reserve().delay(), ms(1000), "the cancelled slot was given back");
        s.saw("ok");
        drop(reservation);
    });
    seen.assert_all(&["ok"]);
}

/// As above at the due time: the cancel (due: counts as used, returns nothing) or the
/// reservation of a token the allow then cannot have. Whatever the order, at most one
/// token is spent at t = 1 s.
#[test]
fn cancel_races_allow_when_a_later_admission_relies_on_the_slot() {
    let seen = Outcomes::new();
    let s = seen.clone();
    loom::model(move || {
        let clock = ManualClock::new();
        let limiter = Arc::new(Limiter::with_clock(Rate::per_second(1), 1, clock.clone()));
        assert!(limiter.allow());
        let reservation = limiter.reserve(); // due at 1 s
        clock.advance(ms(1000));
        let other = {
            let limiter = limiter.clone();
            thread::spawn(move || limiter.allow())
        };
        reservation.cancel(); // due already: returns nothing
        let allowed = other.join().unwrap();
        assert!(!allowed, "the token due at 1 s belongs to the reservation");
        assert_eq!(limiter.available(), 0);
        s.saw("ok");
    });
    seen.assert_all(&["ok"]);
}

/// One thread admits a key whose bucket is full again (absent or about to be swept) while
/// another sweeps the map (`len`). Whatever the order, the admission is recorded: the key
/// is in the map afterwards with one token spent, never lost to the sweep.
#[test]
fn keyed_insert_races_eviction_of_the_same_key() {
    let seen = Outcomes::new();
    let s = seen.clone();
    loom::model(move || {
        let clock = ManualClock::new();
        let limits = Arc::new(KeyedLimiter::with_clock(Rate::per_second(1), 1, clock.clone()));
        assert!(limits.allow(&7));
        clock.advance(ms(1000)); // key 7's bucket is full again: eligible for eviction
        let sweeper = {
            let limits = limits.clone();
            thread::spawn(move || limits.len())
        };
        assert!(limits.allow(&7), "a full bucket admits");
        let seen_by_sweep = sweeper.join().unwrap();
        // The sweep ran before the insert (it dropped the old entry: 0) or after it (the
        // fresh entry is not full: 1). Never an entry lost after the admission.
        assert!(seen_by_sweep <= 1);
        assert!(!limits.allow(&7), "the admission was recorded");
        assert_eq!(limits.len(), 1);
        s.saw_if(seen_by_sweep == 0, "swept first", "inserted first");
    });
    seen.assert_all(&["swept first", "inserted first"]);
}

/// An admission whose clock reading comes before a concurrent advance and sweep (found in
/// review): the sweep drops the key, full again at the new time, and the stale reading must
/// not then find the key absent and admit a second time in one interval. (Needs
/// `LOOM_MAX_PREEMPTIONS=3` to reach the bad schedule: CI runs this file at 3.)
#[test]
fn keyed_stale_reading_races_sweep() {
    loom::model(move || {
        let clock = ManualClock::new();
        let limits = Arc::new(KeyedLimiter::with_clock(Rate::per_second(1), 1, clock.clone()));
        assert!(limits.allow(&7)); // t=0: empty again at 1 s
        let a = {
            let limits = limits.clone();
            thread::spawn(move || limits.allow(&7))
        };
        clock.set(ms(1000));
        let _ = limits.len(); // sweeps
        let now = limits.allow(&7);
        let a = a.join().unwrap();
        assert!(!(a && now), "burst 1: two admissions in one interval");
    });
}

/// Two TokenBucket waiters, one of them timed, while the clock ticks twice: whichever is
/// first in line watches the ticks and hands that role to the other when it leaves (served,
/// or timed out). Both waits end (a lost hand-over would hang the untimed one, which loom
/// reports as a deadlock), and the timed one times out only if its deadline really came
/// before its turn.
#[test]
fn token_bucket_watcher_hands_over_to_the_next_waiter() {
    loom::model(|| {
        let clock = ManualClock::new();
        let bucket = Arc::new(TokenBucket::with_clock(Rate::every(ms(10)), 2, clock.clone()));
        assert!(bucket.allow() && bucket.allow()); // empty; two ticks refill it
        let untimed = {
            let bucket = bucket.clone();
            thread::spawn(move || bucket.wait())
        };
        let timed = {
            let bucket = bucket.clone();
            thread::spawn(move || bucket.wait_timeout(ms(10)))
        };
        clock.advance(ms(10));
        clock.advance(ms(10));
        assert_eq!(untimed.join().unwrap(), Ok(()));
        let timed = timed.join().unwrap();
        assert!(timed.is_ok());
        assert_eq!(bucket.__waiting(), 0);
    });
}
