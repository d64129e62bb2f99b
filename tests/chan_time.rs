//! Timer channels: `chan::after` fires once at or after its deadline and stays open,
//! `chan::tick` fires on its grid and coalesces what a slow reader missed, `chan::never`
//! never fires, and a dropped timer channel leaves nothing in the timer queue.
//!
//! Timing assertions are lower bounds (a timer never fires early) plus generous upper bounds
//! ([`LONG`]); exact timing is checked on a `ManualClock`. Every test runs under one lock:
//! several of them count the entries of the process-wide timer, which a test running beside
//! them would change.
#![cfg(not(loom))]

mod common;

use common::{block_on, panic_message, scaled, wait_until, LONG};
use gosync::chan::{self, RecvTimeoutError, Select, TryRecvError};
use gosync::select;
use gosync::time::{self, Clock, ManualClock, Sleep};
use std::panic::catch_unwind;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// One test at a time (see the module docs); a failed test does not block the others.
fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[test]
fn after_fires_once_at_or_after_its_duration_and_stays_open() {
    let _serial = serial();
    let start = Instant::now();
    let rx = chan::after(ms(20));
    let at = rx.recv_timeout(LONG).expect("after fired");
    assert!(at >= start + ms(20), "fired {:?} after start, before its 20 ms", at - start);
    assert!(start.elapsed() < LONG);
    // One value only, and the channel is not closed afterwards (Go's time.After).
    assert_eq!(rx.recv_timeout(ms(30)), Err(RecvTimeoutError::Timeout));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    assert!(!rx.is_closed());
}

#[test]
fn after_zero_fires_at_once_and_after_forever_registers_nothing() {
    let _serial = serial();
    let now = chan::after(Duration::ZERO);
    assert!(now.try_recv().is_ok(), "a deadline that has passed fires in `after` itself");
    let base = time::__pending_timers();
    let forever = chan::after(Duration::MAX);
    assert_eq!(time::__pending_timers(), base, "an unreachable deadline takes no entry");
    assert_eq!(forever.try_recv(), Err(TryRecvError::Empty));
    assert!(!forever.is_closed());
}

#[test]
fn after_wakes_an_async_receiver() {
    let _serial = serial();
    let start = Instant::now();
    let rx = chan::after(ms(10));
    // common::block_on re-polls only when woken: a lost wake-up panics instead of passing.
    let at = block_on(rx.recv_async()).expect("after fired");
    assert!(at >= start + ms(10));
}

#[test]
fn tick_delivers_repeatedly_on_its_grid() {
    let _serial = serial();
    let period = ms(10);
    let start = Instant::now();
    let rx = chan::tick(period);
    let mut last = start;
    for k in 1..=5u32 {
        let at = rx.recv_timeout(LONG).expect("a tick");
        assert!(at >= start + period * k, "tick {k} at {:?}, before {:?}", at - start, period * k);
        assert!(at > last, "ticks go forward");
        last = at;
    }
    // A tick received from an async task too.
    let at = block_on(rx.recv_async()).expect("a tick");
    assert!(at >= start + period * 6);
}

#[test]
fn a_slow_reader_of_tick_sees_missed_ticks_coalesced() {
    let _serial = serial();
    let period = ms(5);
    let rx = chan::tick(period);
    wait_until("the first tick", || !rx.is_empty());
    thread::sleep(period * 5); // five more ticks are due meanwhile
    let buffered = rx.try_iter().count();
    // One buffered tick, plus at most one more that fires while we drain.
    assert!(buffered <= 2, "{buffered} ticks buffered: missed ticks must coalesce");
    assert_eq!(rx.capacity(), Some(1));
}

#[test]
fn tick_on_a_manual_clock_keeps_its_grid_and_coalesces() {
    let _serial = serial();
    let clock = ManualClock::new();
    let rx = chan::tick_on(&clock, secs(1));
    assert_eq!(clock.sleepers(), 1);
    clock.advance(ms(999));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty), "not before its period");
    // A late tick carries the time it fired at...
    clock.advance(ms(501));
    assert_eq!(rx.try_recv(), Ok(ms(1500)));
    // ...and does not shift the grid: the next one is due at 2 s, not 2.5 s.
    clock.advance(ms(500));
    assert_eq!(rx.try_recv(), Ok(secs(2)));
    // Five periods at once: five ticks due, one kept.
    clock.advance(secs(5));
    assert_eq!(rx.try_iter().collect::<Vec<_>>(), [secs(7)]);
    clock.advance(ms(999));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty), "the next tick is at 8 s");
    clock.advance(ms(1));
    assert_eq!(rx.try_recv(), Ok(secs(8)));
    assert_eq!(clock.sleepers(), 1, "one entry at a time");
}

#[test]
fn after_on_a_manual_clock_fires_exactly_at_its_deadline_once() {
    let _serial = serial();
    let clock = ManualClock::new();
    clock.advance(secs(10));
    let rx = chan::after_on(&clock, secs(5));
    clock.advance(ms(4999));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    clock.advance(ms(1));
    assert_eq!(rx.try_recv(), Ok(secs(15)));
    assert_eq!(clock.sleepers(), 0);
    clock.advance(secs(60));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty), "once only");
    assert!(!rx.is_closed());
}

#[test]
fn never_never_fires_and_never_closes() {
    let _serial = serial();
    let rx = chan::never::<u32>();
    select! {
        recv(rx) -> msg => panic!("never() delivered {msg:?}"),
        default(ms(20)) => {}
    }
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    assert_eq!(rx.recv_timeout(ms(10)), Err(RecvTimeoutError::Timeout));
    assert!(!rx.is_closed());
    let mut sel = Select::new();
    sel.recv(&rx);
    assert!(sel.select_timeout(ms(10)).is_err(), "a never() case is never chosen");
    // A clone dropped does not close it either.
    drop(rx.clone());
    assert!(!rx.is_closed());
}

#[test]
fn after_and_tick_in_one_select_with_another_channel() {
    let _serial = serial();
    let (tx, data) = chan::bounded(1);
    let producer = thread::spawn(move || {
        // Until the consumer drops its receiver (the send then fails).
        while tx.send(()).is_ok() {
            thread::sleep(ms(1));
        }
    });
    let period = ms(10);
    let start = Instant::now();
    let ticker = chan::tick(period);
    let timeout = chan::after(ms(100));
    let (mut received, mut ticks) = (0u32, 0u32);
    loop {
        // The producer keeps `data` ready, so a timeout that never fires would loop forever.
        assert!(start.elapsed() < LONG, "the 100 ms timeout never fired");
        select! {
            recv(data) -> msg => {
                msg.expect("the producer is running");
                received += 1;
            }
            recv(ticker) -> at => {
                assert!(at.expect("a tick") >= start + period);
                ticks += 1;
            }
            recv(timeout) -> at => {
                assert!(at.expect("the timeout") >= start + ms(100));
                break;
            }
            // Turns a timer that never fires into a failure instead of a hang.
            default(LONG) => panic!("nothing ready for {LONG:?}"),
        }
    }
    // The timer fires in deadline order, so the first tick (due at 10 ms) was sent before the
    // timeout (at 100 ms), even by a timer thread that was late for both.
    ticks += u32::try_from(ticker.try_iter().count()).unwrap();
    let elapsed = start.elapsed(); // after the drain: every tick counted was due by now
    assert!(elapsed >= ms(100));
    assert!(received > 0);
    assert!(ticks >= 1, "no tick in {elapsed:?}");
    // Never more ticks than grid points passed.
    assert!(u128::from(ticks) <= elapsed.as_nanos() / period.as_nanos(), "{ticks} ticks in {elapsed:?}");
    drop(data);
    producer.join().unwrap();
}

#[test]
fn dropping_a_tick_receiver_withdraws_its_timer_at_once() {
    let _serial = serial();
    let base = time::__pending_timers();
    let rx = chan::tick(secs(3600));
    assert_eq!(time::__pending_timers(), base + 1);
    let clone = rx.clone();
    drop(rx);
    assert_eq!(time::__pending_timers(), base + 1, "a receiver is left: it keeps ticking");
    drop(clone);
    assert_eq!(time::__pending_timers(), base, "the last receiver withdraws the entry");
}

#[test]
fn a_dropped_fast_ticker_stops_re_registering() {
    let _serial = serial();
    let base = time::__pending_timers();
    let rx = chan::tick(ms(1));
    for _ in 0..3 {
        rx.recv_timeout(LONG).expect("a tick");
    }
    drop(rx);
    assert_eq!(time::__pending_timers(), base);
    // Well past several periods: no tick in flight brought it back.
    thread::sleep(ms(20));
    assert_eq!(time::__pending_timers(), base);
}

#[test]
fn many_dropped_afters_leave_the_timer_queue_bounded() {
    let _serial = serial();
    let base = time::__pending_timers();
    for i in 0..scaled(10_000, 50) {
        let rx = chan::after(secs(3600));
        drop(rx);
        assert_eq!(time::__pending_timers(), base, "after {i} dropped afters");
    }
}

/// A clock that counts its clones, to see that a dropped timer lets go of everything.
#[derive(Clone)]
struct CountedClock {
    clock: ManualClock,
    _alive: Arc<()>,
}

impl Clock for CountedClock {
    fn now(&self) -> Duration {
        self.clock.now()
    }
    fn sleep_until(&self, deadline: Duration) -> Sleep {
        self.clock.sleep_until(deadline)
    }
}

#[test]
fn a_dropped_timer_channel_frees_its_timer() {
    let _serial = serial();
    let alive = Arc::new(());
    let counted = CountedClock { clock: ManualClock::new(), _alive: alive.clone() };
    let clock = counted.clock.clone();

    // A ticker that has ticked and is registered again.
    let ticks = chan::tick_on(&counted, secs(1));
    clock.advance(secs(1));
    assert_eq!(ticks.try_recv(), Ok(secs(1)));
    assert!(Arc::strong_count(&alive) > 2, "the timer holds a clone of the clock");
    drop(ticks);
    assert_eq!(clock.sleepers(), 0);
    assert_eq!(Arc::strong_count(&alive), 2, "the ticker is freed with its receiver");

    // A one-shot timer, dropped before and after it fired.
    for fire in [false, true] {
        let rx = chan::after_on(&counted, secs(1));
        if fire {
            clock.advance(secs(1));
            assert_eq!(rx.try_recv(), Ok(clock.now()));
        }
        drop(rx);
        assert_eq!(clock.sleepers(), 0);
        assert_eq!(Arc::strong_count(&alive), 2, "after_on (fired: {fire}) is freed");
    }
}

#[test]
fn a_zero_tick_period_panics() {
    let _serial = serial();
    let err = catch_unwind(|| chan::tick(Duration::ZERO)).expect_err("tick(0) panics");
    assert_eq!(panic_message(&*err), "gosync: tick period must be non-zero");
    let clock = ManualClock::new();
    let err = catch_unwind(|| chan::tick_on(&clock, Duration::ZERO)).expect_err("tick_on(0) panics");
    assert!(panic_message(&*err).starts_with("gosync:"));
}

#[test]
fn a_period_shorter_than_a_timer_round_trip_still_ticks_and_stops() {
    let _serial = serial();
    let base = time::__pending_timers();
    // Every deadline of a 1 ns grid has passed by the time it could be registered: tick must
    // still return (skipping ticks, which a one-slot buffer drops anyway), not loop forever.
    // Made on another thread, so that such a loop fails this test instead of hanging it.
    let (made, rx) = std::sync::mpsc::channel();
    thread::spawn(move || made.send(chan::tick(Duration::from_nanos(1))).unwrap());
    let ticks = rx.recv_timeout(LONG).expect("tick(1 ns) returned");
    for _ in 0..3 {
        ticks.recv_timeout(LONG).expect("a tick");
    }
    drop(ticks);
    assert_eq!(time::__pending_timers(), base);
}
