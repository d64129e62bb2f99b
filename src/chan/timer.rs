//! Timer channels: Go's `time.After`, `time.Tick` and the nil channel, as ordinary
//! [`Receiver`]s that work in [`select!`](crate::select) beside any other channel.
//!
//! A timer channel is a bounded channel of one slot whose only sender is a timer. The timer
//! is one entry in the time module's timer queue (the shared timer thread for real time, the
//! clock's own list for a [`ManualClock`](crate::time::ManualClock)): no thread per timer.
//! Its waiter wakes a task `Waker` that is the timer itself, so "waking" it runs
//! [`Timer::fire`] on the thread that expired the entry (the timer thread, or the thread that
//! moved a manual clock), outside every lock of the queue. `fire` sends the time with
//! `try_send` (a full slot drops the tick: a slow reader sees missed ticks as one) and, for a
//! tick, registers the next deadline on the grid.
//!
//! # Who keeps what alive
//! The channel runs a hook when its last `Receiver` is dropped, and that hook owns the timer;
//! the timer owns the channel's `Sender` (so the channel never closes while someone can
//! receive) and, while registered, its waiter holds the timer's waker. Both cycles are broken
//! by [`Timer::stop`], which the hook runs: it withdraws the timer entry, drops the waker and
//! drops the `Sender`. So a dropped timer channel leaves nothing in the timer queue, at once.

use super::{bounded_with_hook, receiver_only, Receiver, Sender, TrySendError};
use crate::primitive::Lock;
use crate::time::{Clock, Sleep};
use crate::waiter::{TaskWaiter, NOTIFIED};
use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::task::Wake;
use core::task::Waker;
use core::time::Duration;

#[cfg(any(feature = "std", loom))]
use crate::primitive::Instant;

/// A channel that receives the current time once, about `d` from now: Go's `time.After`.
///
/// The value is the [`Instant`] at which the timer fired, never earlier than `now + d`.
/// Unlike a channel whose senders are gone, the channel is **not closed** afterwards: as in
/// Go, it delivers one value and then stays open and empty for good, so a second receive
/// blocks (use it in a [`select!`](crate::select) or with a timeout). If `now + d` does not fit
/// in an `Instant`, it never fires.
///
/// No thread per timer: the timer is one entry in gosync's shared timer thread (started by
/// the first real-time timer or sleep).
///
/// # What it costs
/// Creating one allocates the channel (one `Arc` and a one-slot buffer), the timer (one
/// `Arc`, plus a small box the channel calls when it is dropped), the timer's waiter (one
/// `Arc`) and one entry in the timer queue. The entry is freed when the timer fires, or at
/// once when the last [`Receiver`] is dropped: a million dropped `after`s leave nothing
/// behind, however far away their deadlines were. The rest is freed with the `Receiver`.
///
/// # Under loom
/// loom has no time: a real-time timer fires at once, as every timed wait in gosync times
/// out after one scheduling point. Use [`after_on`] with a `ManualClock` to model time.
///
/// # Under Miri
/// The shared timer thread outlives `main`, which Miri reports as a leak: as for real-time
/// sleeps (see [`time`](crate::time)), a Miri run that uses `after` or [`tick`] needs
/// `MIRIFLAGS=-Zmiri-ignore-leaks`. [`after_on`] and [`tick_on`] on a `ManualClock` need
/// nothing.
///
/// ```
/// use gosync::chan;
/// use gosync::select;
/// use std::time::{Duration, Instant};
///
/// let (_tx, rx) = chan::bounded::<u32>(1); // nothing will ever arrive here
/// let start = Instant::now();
/// let timeout = chan::after(Duration::from_millis(10));
/// select! {
///     recv(rx) -> msg => panic!("unexpected {msg:?}"),
///     recv(timeout) -> at => assert!(at.unwrap() >= start + Duration::from_millis(10)),
/// }
/// assert!(!timeout.is_closed()); // delivered once, and still open
/// ```
#[cfg(any(feature = "std", loom))]
pub fn after(d: Duration) -> Receiver<Instant> {
    let first = Instant::now().checked_add(d);
    Timer::start(RealTime, first, None)
}

/// A channel that receives the current time every `period`: Go's `time.Tick` (a `Ticker`).
///
/// Ticks are due at `now + k * period` for k = 1, 2, ...; each value is the [`Instant`] at
/// which that tick fired (never earlier than its due time). The channel buffers one tick: a
/// tick that finds the previous one still unread is dropped, so a slow reader sees the ticks
/// it missed as one, and the grid is kept (a late tick does not shift the later ones).
/// Ticking stops when the last [`Receiver`] is dropped; the channel never closes before.
///
/// # Panics
/// `gosync: tick period must be non-zero` if `period` is zero (as Go's `NewTicker`).
///
/// # What it costs
/// As [`after`], plus one timer-queue entry per tick (the waiter is reused). Dropping the
/// last `Receiver` withdraws the pending entry at once and frees everything.
///
/// # Under loom
/// loom has no time: a real-time tick delivers one tick at once and no more. Use
/// [`tick_on`] with a `ManualClock` to model ticking.
///
/// ```
/// use gosync::chan;
/// use std::time::{Duration, Instant};
///
/// let start = Instant::now();
/// let ticks = chan::tick(Duration::from_millis(5));
/// let first = ticks.recv().unwrap();
/// let second = ticks.recv().unwrap();
/// assert!(first >= start + Duration::from_millis(5));
/// assert!(second >= start + Duration::from_millis(10));
/// drop(ticks); // stops the ticker
/// ```
#[cfg(any(feature = "std", loom))]
pub fn tick(period: Duration) -> Receiver<Instant> {
    check_period(period);
    let first = Instant::now().checked_add(period);
    Timer::start(RealTime, first, Some(period))
}

/// [`after`] on any [`Clock`]: receives the clock's reading ([`Clock::now`]) once, when the
/// clock reaches `clock.now() + d`. With a [`ManualClock`](crate::time::ManualClock) it fires
/// inside the `advance` or `set` that reaches the deadline, so tests of timeouts are
/// deterministic. Costs and the drop behaviour are those of `after`; the channel stays open
/// after its one value.
///
/// ```
/// use gosync::chan::{self, TryRecvError};
/// use gosync::time::ManualClock;
/// use std::time::Duration;
///
/// let clock = ManualClock::new();
/// let timeout = chan::after_on(&clock, Duration::from_secs(30));
/// clock.advance(Duration::from_secs(29));
/// assert_eq!(timeout.try_recv(), Err(TryRecvError::Empty));
/// clock.advance(Duration::from_secs(1));
/// assert_eq!(timeout.try_recv(), Ok(Duration::from_secs(30)));
/// assert_eq!(timeout.try_recv(), Err(TryRecvError::Empty)); // once, and still open
/// ```
pub fn after_on<C>(clock: &C, d: Duration) -> Receiver<Duration>
where
    C: Clock + Clone + Send + Sync + 'static,
{
    let first = clock.now().checked_add(d);
    Timer::start(OnClock(clock.clone()), first, None)
}

/// [`tick`] on any [`Clock`]: receives the clock's reading every `period` of its time, with
/// missed ticks coalesced as `tick` does. With a
/// [`ManualClock`](crate::time::ManualClock), an `advance` over several periods fires the
/// ticks it passes one after the other, and the one-slot buffer keeps only the first unread.
///
/// # Panics
/// `gosync: tick period must be non-zero` if `period` is zero.
///
/// ```
/// use gosync::chan;
/// use gosync::time::ManualClock;
/// use std::time::Duration;
///
/// let clock = ManualClock::new();
/// let ticks = chan::tick_on(&clock, Duration::from_secs(1));
/// clock.advance(Duration::from_secs(1));
/// assert_eq!(ticks.try_recv(), Ok(Duration::from_secs(1)));
/// clock.advance(Duration::from_secs(5)); // five ticks are due; one is kept
/// assert_eq!(ticks.try_iter().count(), 1);
/// drop(ticks);
/// assert_eq!(clock.sleepers(), 0); // the ticker is gone with its receiver
/// ```
pub fn tick_on<C>(clock: &C, period: Duration) -> Receiver<Duration>
where
    C: Clock + Clone + Send + Sync + 'static,
{
    check_period(period);
    let first = clock.now().checked_add(period);
    Timer::start(OnClock(clock.clone()), first, Some(period))
}

/// A channel that never delivers and never closes: Go's nil channel. A receive case on it in
/// a [`select!`](crate::select) is never chosen, which is how a case is switched off. It has no
/// sender and no timer; it allocates the channel only.
///
/// ```
/// use gosync::chan::{self, TryRecvError};
/// use gosync::select;
/// use std::time::Duration;
///
/// let rx = chan::never::<u32>();
/// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
/// assert!(!rx.is_closed());
/// select! {
///     recv(rx) -> _ => unreachable!(),
///     default(Duration::from_millis(1)) => {} // the timeout always wins
/// }
/// ```
pub fn never<T>() -> Receiver<T> {
    receiver_only()
}

fn check_period(period: Duration) {
    assert!(!period.is_zero(), "gosync: tick period must be non-zero");
}

/// Where a timer's time comes from: the values it sends and the sleeps it registers.
trait TimeSource: Send + Sync + 'static {
    /// A reading of this time, which is also the value sent.
    type Time: Copy + Ord + Send + 'static;
    fn now(&self) -> Self::Time;
    fn sleep_until(&self, deadline: Self::Time) -> Sleep;
    /// `time + d`, or `None` if that does not fit (a deadline never reached).
    fn add(time: Self::Time, d: Duration) -> Option<Self::Time>;
    /// `later - earlier`, or zero.
    fn since(later: Self::Time, earlier: Self::Time) -> Duration;
    /// False where no deadline ever lies ahead (real time under loom): a tick then stops
    /// after the tick that is due at once instead of firing in an endless loop.
    fn has_time(&self) -> bool {
        true
    }
}

/// Real, monotonic time; values are `Instant`s.
#[cfg(any(feature = "std", loom))]
struct RealTime;

#[cfg(any(feature = "std", loom))]
impl TimeSource for RealTime {
    type Time = Instant;
    fn now(&self) -> Instant {
        Instant::now()
    }
    fn sleep_until(&self, deadline: Instant) -> Sleep {
        crate::time::sleep_until(deadline)
    }
    fn add(time: Instant, d: Duration) -> Option<Instant> {
        time.checked_add(d)
    }
    fn since(later: Instant, earlier: Instant) -> Duration {
        later.saturating_duration_since(earlier)
    }
    fn has_time(&self) -> bool {
        !cfg!(loom)
    }
}

/// A [`Clock`]'s time; values are its readings.
struct OnClock<C>(C);

impl<C: Clock + Send + Sync + 'static> TimeSource for OnClock<C> {
    type Time = Duration;
    fn now(&self) -> Duration {
        self.0.now()
    }
    fn sleep_until(&self, deadline: Duration) -> Sleep {
        self.0.sleep_until(deadline)
    }
    fn add(time: Duration, d: Duration) -> Option<Duration> {
        time.checked_add(d)
    }
    fn since(later: Duration, earlier: Duration) -> Duration {
        later.saturating_sub(earlier)
    }
}

/// The sender side of one timer channel. It is its own waker: the time module's timer queue
/// "wakes" it at each deadline, which runs [`fire`](Self::fire).
struct Timer<S: TimeSource> {
    source: S,
    /// A tick's period; `None` for a one-shot `after`.
    period: Option<Duration>,
    state: Lock<State<S::Time>>,
}

struct State<T> {
    /// The channel's only sender; `None` once stopped.
    tx: Option<Sender<T>>,
    /// The registered sleep and its deadline, from registration until it fires or is
    /// withdrawn.
    sleep: Option<(Sleep, T)>,
    /// The waiter registered on `sleep`, re-armed for every deadline.
    wait: TaskWaiter,
}

impl<S: TimeSource> Timer<S> {
    /// Makes the channel and registers the first deadline (`None`: never fires).
    fn start(source: S, first: Option<S::Time>, period: Option<Duration>) -> Receiver<S::Time> {
        let timer = Arc::new(Timer {
            source,
            period,
            state: Lock::new(State { tx: None, sleep: None, wait: TaskWaiter::new() }),
        });
        let hook = {
            let timer = timer.clone();
            Box::new(move || timer.stop())
        };
        let (tx, rx) = bounded_with_hook(1, hook);
        timer.state.lock().tx = Some(tx);
        if let Some(first) = first {
            timer.schedule(first);
        }
        rx
    }

    /// Registers `deadline` with the clock. A deadline that has passed already fires here
    /// and now, and a tick then moves on to a later one, until one is registered.
    ///
    /// A period shorter than one turn of this loop would have every next deadline pass
    /// before it is registered, looping for ever. So each miss skips twice as many more grid
    /// points as the last (ticks the one-slot buffer would drop anyway): a registration
    /// succeeds after O(log(turn / period)) turns, and the grid is kept.
    fn schedule(self: &Arc<Self>, mut deadline: S::Time) {
        let waker = Waker::from(self.clone());
        let mut skip: u128 = 0;
        loop {
            let mut sleep = self.source.sleep_until(deadline);
            {
                let mut state = self.state.lock();
                if state.tx.is_none() {
                    return; // stopped: every receiver is gone
                }
                // Under our lock, so `stop` either runs before (and we register nothing) or
                // after (and finds the entry to withdraw).
                if sleep.register_waiter(state.wait.arm(&waker), NOTIFIED) {
                    state.wait.set_registered();
                    state.sleep = Some((sleep, deadline));
                    return;
                }
            }
            if !self.deliver() {
                self.stop();
                return;
            }
            if !self.source.has_time() {
                return;
            }
            match self.next_after(deadline, skip) {
                Some(next) => deadline = next,
                None => return,
            }
            skip = skip.saturating_mul(2).saturating_add(1);
        }
    }

    /// The clock reached the registered deadline: send the time, and re-register a tick.
    fn fire(self: &Arc<Self>) {
        let fired = {
            let mut state = self.state.lock();
            // Only the registration completes the waiter; a wake-up that finds it not
            // completed (there should be none) is ignored rather than sending early.
            if !state.wait.registered().is_some_and(|waiter| waiter.token().is_some()) {
                return;
            }
            state.wait.set_unregistered();
            state.sleep.take()
        };
        let Some((sleep, deadline)) = fired else { return };
        drop(sleep); // its entry left the queue as it fired; dropped with no lock of ours held
        if !self.deliver() {
            self.stop();
            return;
        }
        if let Some(next) = self.next_after(deadline, 0) {
            self.schedule(next);
        }
    }

    /// Sends the time now; a full slot drops it (the unread tick stands for this one too).
    /// False once the channel is closed (every receiver is gone).
    fn deliver(&self) -> bool {
        let tx = self.state.lock().tx.clone();
        let Some(tx) = tx else { return false };
        // Sent with no lock of ours held: the send may wake a receiver, which is user code.
        !matches!(tx.try_send(self.source.now()), Err(TrySendError::Closed(_)))
    }

    /// A tick's next deadline after the one at `deadline` fired: the first point of the grid
    /// (`deadline + k * period`) after now, so ticks missed by a late timer are skipped, not
    /// fired in a burst; `skip` more grid points are skipped on top. `None` for a one-shot
    /// timer, or past the end of time.
    fn next_after(&self, deadline: S::Time, skip: u128) -> Option<S::Time> {
        let period = self.period?;
        let late = S::since(self.source.now(), deadline);
        let periods = (late.as_nanos() / period.as_nanos() + 1).checked_add(skip)?;
        let step = period.as_nanos().checked_mul(periods)?;
        const NANOS: u128 = 1_000_000_000;
        let step = Duration::new(u64::try_from(step / NANOS).ok()?, (step % NANOS) as u32);
        S::add(deadline, step)
    }

    /// Ends the timer for good: no registration from now on. Run by the channel when its
    /// last receiver is dropped (and by a timer that finds its channel closed).
    fn stop(&self) {
        let (tx, sleep, wait) = {
            let mut state = self.state.lock();
            (state.tx.take(), state.sleep.take(), core::mem::take(&mut state.wait))
        };
        // With no lock of ours held, in this order: withdraw the timer entry (dropping the
        // sleep does), then drop the waker our waiter kept (it is this timer: a cycle), then
        // the sender (it keeps the channel, whose hook keeps this timer: the other cycle).
        drop(sleep);
        drop(wait);
        drop(tx);
    }
}

impl<S: TimeSource> Wake for Timer<S> {
    fn wake(self: Arc<Self>) {
        self.fire();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.fire();
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::time::ManualClock;
    use alloc::vec::Vec;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    /// Every timer on a manual clock, fired or not, dropped: nothing stays registered, and
    /// (under Miri, which reports leaks) the two reference cycles of a timer are broken.
    #[test]
    fn dropped_timers_leave_nothing_behind() {
        let clock = ManualClock::new();
        let ticks = tick_on(&clock, secs(1));
        let pending = after_on(&clock, secs(10));
        let due = after_on(&clock, Duration::ZERO);
        assert_eq!(due.try_recv(), Ok(Duration::ZERO), "a due timer fires in after_on itself");
        clock.advance(secs(3));
        assert_eq!(ticks.try_iter().collect::<Vec<_>>(), [secs(3)]);
        assert_eq!(clock.sleepers(), 2);
        drop((ticks, pending, due, never::<alloc::boxed::Box<u8>>()));
        assert_eq!(clock.sleepers(), 0);
    }

    /// Ticks fired on another thread reach a blocked receiver; the receiver then drops the
    /// ticker while the other thread may be firing it.
    #[cfg(feature = "std")]
    #[test]
    fn ticks_fired_on_another_thread_reach_a_blocked_receiver() {
        let clock = ManualClock::new();
        let ticks = tick_on(&clock, secs(1));
        let advancer = {
            let clock = clock.clone();
            std::thread::spawn(move || {
                for _ in 0..3 {
                    clock.advance(secs(1));
                }
            })
        };
        let first = ticks.recv().expect("the ticker stays open");
        assert!(first >= secs(1));
        drop(ticks);
        advancer.join().unwrap();
        assert_eq!(clock.sleepers(), 0);
    }
}
