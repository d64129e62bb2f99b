//! A cheaper reading of real time for [`MonotonicClock`](super::MonotonicClock): the CPU's
//! time-stamp counter (TSC), scaled to nanoseconds by a factor measured against `Instant`
//! once per process.
//!
//! # Why
//! `Instant::now()` costs about 20-25 ns on Linux even through the vDSO: it orders the
//! counter read with a fence and converts through the kernel's time data under a sequence
//! lock. A rate limiter's `allow` is otherwise a load and a compare-and-swap, so the clock
//! read dominated it. A plain `rdtsc` and one 64x64-bit multiply cost about 10 ns.
//!
//! # When it is used
//! Only on x86_64, outside Miri and loom, when the CPU reports an *invariant* TSC (CPUID leaf
//! 0x8000_0007, EDX bit 8: it ticks at a constant rate in every power state) and, on Linux,
//! the kernel still lists `tsc` among its usable clock sources (it drops it when its checks
//! find the counters of different CPUs out of step). Otherwise the clock reads `Instant`.
//!
//! # What it relies on, and its bounds
//! * Per thread, readings never decrease: the counter increases monotonically on each CPU,
//!   and the CPUs' counters are synchronized (what the kernel's check above verifies), so a
//!   thread that migrates does not see it step back. A difference below the scale is clamped
//!   (`saturating_sub` against the clock's start).
//! * Across threads: `rdtsc` is not ordered with memory accesses, so a reading taken just
//!   after observing another thread's write may be a few nanoseconds (the CPU's out-of-order
//!   window) earlier than a reading that thread took before writing. Fencing it away costs as
//!   much as `Instant::now()` itself. gosync's limiters take any such reading as a slightly
//!   earlier decision, which never admits more than the rate allows.
//! * Drift: the scale is measured over `CALIBRATION` (5 ms) between two `Instant` readings,
//!   each bracketed by two counter reads (the tightest of 16 tries, typically 20-30 ns
//!   apart). The window is extended (up to `CALIBRATION_MAX`, 50 ms) until the brackets'
//!   uncertainty is at most 10 ppm of it; 1-2 ppm is typical (measured on the development
//!   machine). So a clock reading drifts from `origin + elapsed` of `Instant` by at most
//!   about 10 us per second of age (36 ms per hour), plus any slewing NTP applies to
//!   `Instant` meanwhile; only a machine so busy that 50 ms of tries were all preempted
//!   gets a looser scale. Sleeps do not accumulate the drift:
//!   [`MonotonicClock::sleep_until`](super::MonotonicClock) converts the time *remaining*
//!   to an `Instant` deadline, so a wait is off by that fraction of its own length only.
//! * The first [`Counter::start`] in a process spends 5 ms (rarely up to 50) measuring.
//! * The 32-bit fixed-point scale keeps the rounding error below 1 ppb: integer arithmetic
//!   only, one 64x64->128-bit multiply and a shift per reading.

use core::time::Duration;

/// How long the one calibration per process measures, at least.
#[cfg(all(target_arch = "x86_64", feature = "std", not(miri), not(loom)))]
const CALIBRATION: Duration = Duration::from_millis(5);

/// ... and at most, when preemptions keep blurring its readings.
#[cfg(all(target_arch = "x86_64", feature = "std", not(miri), not(loom)))]
const CALIBRATION_MAX: Duration = Duration::from_millis(50);

/// Fixed-point shift of the scale: nanoseconds = ticks x `mult` >> `SHIFT`. With 32 bits a
/// 1-5 GHz counter's scale keeps 9 significant digits (rounding error below 1 ppb).
#[cfg(all(target_arch = "x86_64", feature = "std", not(miri), not(loom)))]
const SHIFT: u32 = 32;

/// A start point on the time-stamp counter and the process's scale, or nothing (the clock
/// then reads `Instant`).
#[derive(Clone, Copy, Debug)]
pub(super) struct Counter {
    #[cfg(all(target_arch = "x86_64", feature = "std", not(miri), not(loom)))]
    start: u64,
    /// Nanoseconds per tick << `SHIFT`; 0 when the counter is not used.
    #[cfg(all(target_arch = "x86_64", feature = "std", not(miri), not(loom)))]
    mult: u64,
}

#[cfg(all(target_arch = "x86_64", feature = "std", not(miri), not(loom)))]
impl Counter {
    /// A start point now, if the counter is usable (calibrating it on the first call).
    pub(super) fn start() -> Counter {
        let mult = imp::scale();
        Counter { start: if mult == 0 { 0 } else { imp::ticks() }, mult }
    }

    /// The same counter (and scale), started now.
    pub(super) fn restart(&self) -> Counter {
        Counter { start: if self.mult == 0 { 0 } else { imp::ticks() }, mult: self.mult }
    }

    /// Time since [`start`](Self::start), or `None` when the counter is not used.
    #[inline]
    pub(super) fn elapsed(&self) -> Option<Duration> {
        self.elapsed_nanos().map(Duration::from_nanos)
    }

    /// [`elapsed`](Self::elapsed) in nanoseconds.
    #[inline]
    pub(super) fn elapsed_nanos(&self) -> Option<u64> {
        if self.mult == 0 {
            return None;
        }
        // Saturating: a counter a few ticks behind on another CPU reads as no time passed.
        let ticks = imp::ticks().saturating_sub(self.start);
        // 128-bit product: no overflow for any 64-bit tick count; the result fits in 64 bits
        // for centuries at any realistic frequency (and saturates beyond).
        let nanos = (ticks as u128 * self.mult as u128) >> SHIFT;
        Some(u64::try_from(nanos).unwrap_or(u64::MAX))
    }
}

#[cfg(not(all(target_arch = "x86_64", feature = "std", not(miri), not(loom))))]
impl Counter {
    pub(super) fn start() -> Counter {
        Counter {}
    }

    pub(super) fn restart(&self) -> Counter {
        Counter {}
    }

    #[inline]
    pub(super) fn elapsed(&self) -> Option<Duration> {
        None
    }

    #[inline]
    pub(super) fn elapsed_nanos(&self) -> Option<u64> {
        None
    }
}

#[cfg(all(target_arch = "x86_64", feature = "std", not(miri), not(loom)))]
mod imp {
    use super::{CALIBRATION, CALIBRATION_MAX, SHIFT};
    use crate::primitive::OnceLock;
    use std::time::Instant;

    /// The counter now. Not ordered with memory accesses (see the module docs).
    #[inline]
    pub(super) fn ticks() -> u64 {
        // SAFETY: `rdtsc` exists on every x86_64 CPU and has no preconditions; it is an
        // `unsafe fn` only on older toolchains.
        #[allow(unused_unsafe)]
        unsafe {
            core::arch::x86_64::_rdtsc()
        }
    }

    /// The process's scale (nanoseconds per tick << SHIFT), 0 if the counter is unusable.
    /// Measured by the first caller; concurrent first callers wait for that one.
    pub(super) fn scale() -> u64 {
        static SCALE: OnceLock<u64> = OnceLock::new();
        *SCALE.get_or_init(|| if usable() { calibrate() } else { 0 })
    }

    /// The CPU says its counter is invariant, and the OS has not given up on it.
    fn usable() -> bool {
        // SAFETY: `cpuid` exists on every x86_64 CPU; leaf 0x8000_0000 reports the highest
        // extended leaf, checked before leaf 0x8000_0007 is read.
        #[allow(unused_unsafe)]
        let invariant = unsafe {
            use core::arch::x86_64::__cpuid;
            __cpuid(0x8000_0000).eax >= 0x8000_0007 && __cpuid(0x8000_0007).edx & (1 << 8) != 0
        };
        invariant && os_keeps_tsc()
    }

    /// Linux removes `tsc` from its usable clock sources when it finds the CPUs' counters
    /// unsynchronized or unstable; elsewhere (or if the file cannot be read) the CPU's word
    /// is taken.
    fn os_keeps_tsc() -> bool {
        match std::fs::read_to_string("/sys/devices/system/clocksource/clocksource0/available_clocksource") {
            Ok(sources) => sources.split_whitespace().any(|s| s == "tsc"),
            Err(_) => true,
        }
    }

    /// One `Instant` and the counter at (nearly) the same moment: the reading taken between
    /// the two closest counter reads of a few tries, paired with their midpoint, and the
    /// distance between those two reads (the pair's uncertainty, in ticks).
    fn pair() -> (u64, Instant, u64) {
        let mut best = (0, Instant::now(), u64::MAX);
        for _ in 0..16 {
            let before = ticks();
            let instant = Instant::now();
            let after = ticks();
            let gap = after.wrapping_sub(before);
            if gap < best.2 {
                best = (before + gap / 2, instant, gap);
            }
        }
        best
    }

    /// Measures the scale over [`CALIBRATION`], longer (up to [`CALIBRATION_MAX`]) if a
    /// preemption blurred the readings at either end; 0 if the numbers are implausible.
    fn calibrate() -> u64 {
        let (t0, i0, gap0) = pair();
        let (t1, i1) = loop {
            while i0.elapsed() < CALIBRATION {
                core::hint::spin_loop();
            }
            let (t1, i1, gap1) = pair();
            // Each end is known to within half its gap: 10 ppm of the window, or more time.
            let uncertain = (gap0 / 2).saturating_add(gap1 / 2);
            let window = t1.saturating_sub(t0);
            if uncertain.saturating_mul(100_000) <= window || i0.elapsed() >= CALIBRATION_MAX {
                break (t1, i1);
            }
        };
        let ns = (i1 - i0).as_nanos();
        let ticks = t1.saturating_sub(t0) as u128;
        // A plausible counter runs between 100 MHz and 20 GHz; anything else (a counter that
        // stood still, a hypervisor that traps it) means Instant is the safer source.
        if ticks == 0 || ticks * 10 < ns || ticks > ns * 20 {
            return 0;
        }
        let mult = (ns << SHIFT) / ticks;
        u64::try_from(mult).unwrap_or(0)
    }
}
