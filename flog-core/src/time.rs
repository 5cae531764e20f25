use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// A UTC instant in microseconds since the Unix epoch.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The current wall-clock time.
    #[inline]
    pub fn now() -> Timestamp {
        // Whole seconds and sub-second micros separately: `as_micros` goes
        // through u128 arithmetic, which costs more than the clock read.
        let micros = |d: Duration| d.as_secs() as i64 * 1_000_000 + i64::from(d.subsec_micros());
        match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(d) => Timestamp(micros(d)),
            Err(e) => Timestamp(-micros(e.duration())),
        }
    }

    /// Microseconds since the Unix epoch.
    pub const fn as_micros(self) -> i64 {
        self.0
    }

    /// This instant plus a duration (saturating).
    pub fn saturating_add(self, d: Duration) -> Timestamp {
        Timestamp(
            self.0
                .saturating_add(d.as_micros().min(i64::MAX as u128) as i64),
        )
    }

    /// Splits into civil UTC parts: (year, month, day, hour, minute, second, micros).
    pub fn to_civil(self) -> (i64, u32, u32, u32, u32, u32, u32) {
        let micros = self.0.rem_euclid(1_000_000) as u32;
        let secs = self.0.div_euclid(1_000_000);
        let days = secs.div_euclid(86_400);
        let sod = secs.rem_euclid(86_400) as u32;
        let (y, m, d) = civil_from_days(days);
        (y, m, d, sod / 3600, sod / 60 % 60, sod % 60, micros)
    }

    /// Builds an instant from civil UTC parts; `None` when a part is out of range.
    pub fn from_civil(
        year: i64,
        month: u32,
        day: u32,
        hour: u32,
        minute: u32,
        second: u32,
        micros: u32,
    ) -> Option<Timestamp> {
        if !(1..=12).contains(&month)
            || day == 0
            || day > days_in_month(year, month)
            || hour > 23
            || minute > 59
            || second > 60
            || micros > 999_999
        {
            return None;
        }
        let days = days_from_civil(year, month, day);
        let secs = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second);
        Some(Timestamp(secs * 1_000_000 + i64::from(micros)))
    }

    /// Parses RFC 3339 UTC forms: `2026-11-27T23:08:35Z`, with optional fraction,
    /// a space instead of `T`, a date alone, or a number of seconds since the epoch.
    pub fn parse(text: &str) -> Option<Timestamp> {
        let t = text.trim();
        if let Ok(secs) = t.parse::<f64>() {
            if secs.is_finite() {
                return Some(Timestamp((secs * 1e6) as i64));
            }
        }
        let b = t.as_bytes();
        let num = |r: std::ops::Range<usize>| -> Option<u32> {
            let s = t.get(r)?;
            if s.bytes().all(|c| c.is_ascii_digit()) {
                s.parse().ok()
            } else {
                None
            }
        };
        if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
        if b.len() == 10 {
            return Timestamp::from_civil(year.into(), month, day, 0, 0, 0, 0);
        }
        if !matches!(b[10], b'T' | b't' | b' ') || b.len() < 19 || b[13] != b':' || b[16] != b':' {
            return None;
        }
        let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
        let mut rest = &t[19..];
        let mut micros = 0;
        if let Some(frac) = rest.strip_prefix('.') {
            let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return None;
            }
            let mut value: u32 = 0;
            for (i, c) in frac[..digits].bytes().enumerate().take(6) {
                value += u32::from(c - b'0') * 10u32.pow(5 - i as u32);
            }
            micros = value;
            rest = &frac[digits..];
        }
        if !matches!(rest, "" | "Z" | "z" | "+00:00") {
            return None;
        }
        Timestamp::from_civil(year.into(), month, day, hour, minute, second, micros)
    }

    /// `2026-11-27T23:08:35.123456Z`.
    pub fn to_rfc3339(self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, mo, d, h, mi, s, us) = self.to_civil();
        write!(f, "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{us:06}Z")
    }
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Howard Hinnant's days-from-civil algorithms: exact for the proleptic Gregorian
// calendar, so formatting needs no date crate in the core.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Where a logger reads the time. Injected so tests control it.
///
/// Everything in a logger that depends on time follows its clock: event
/// times, incident names, storm control, [`RateQualifier`](crate::RateQualifier)
/// and the length of an incident's trailing window.
///
/// # Waiting on a clock
///
/// A background thread that waits for time to pass on a clock (a reporter
/// waiting for the end of a trailing window) must learn when the clock has
/// moved. How depends on the clock, and [`watch`](Clock::watch) says which:
///
/// - A clock that moves with real time ([`SystemClock`], and the default
///   for any clock) returns [`Passage::RealTime`]: the waiter sleeps for the
///   real time it still waits for, then reads the clock again.
/// - A clock that moves only when told to ([`ManualClock`]) returns
///   [`Passage::Notified`] and calls the waker it was given each time it is
///   moved: the waiter sleeps until woken and never waits in real time, so a
///   test drives a whole trailing window by moving the clock.
///
/// A waiter measures a delay from a start time by the clock's forward moves
/// between its readings: a clock stepping back does not lengthen the delay,
/// one jumping forward shortens it.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current time.
    fn now(&self) -> Timestamp;

    /// How a thread waiting on this clock sees time pass. A clock that returns
    /// [`Passage::Notified`] must call `wake` (while it can still be upgraded)
    /// every time its time changes; the default ignores it.
    fn watch(&self, wake: Weak<dyn Fn() + Send + Sync>) -> Passage {
        let _ = wake;
        Passage::RealTime
    }
}

/// How a thread waiting on a [`Clock`] sees its time pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Passage {
    /// With real time: sleep the real time left, then read the clock again.
    RealTime,
    /// Only when the clock is moved, which wakes the waiter: sleep until woken.
    Notified,
}

/// A delay measured on a clock by its forward moves only (see [`Clock`]).
#[derive(Debug)]
pub(crate) struct Stopwatch {
    last: Timestamp,
    /// Microseconds still to pass.
    left: i64,
}

impl Stopwatch {
    /// A delay that started at `start` (a time read from the clock it is
    /// measured on).
    pub(crate) fn started_at(start: Timestamp, delay: Duration) -> Stopwatch {
        Stopwatch {
            last: start,
            left: delay.as_micros().min(i64::MAX as u128) as i64,
        }
    }

    /// The time still to pass, reading the clock; `None` once it has passed.
    pub(crate) fn remaining(&mut self, clock: &dyn Clock) -> Option<Duration> {
        let now = clock.now();
        self.left = self
            .left
            .saturating_sub(now.0.saturating_sub(self.last.0).max(0));
        self.last = now;
        (self.left > 0).then(|| Duration::from_micros(self.left as u64))
    }
}

/// The system's wall clock, read through the CPU's time-stamp counter.
///
/// A `clock_gettime` costs about a third of an enabled log call on a virtual
/// machine, so this reads the TSC (through `quanta`, which falls back to the OS
/// clock where the TSC is unreliable) and adds it to a wall-clock anchor taken
/// at most half a second earlier. Re-anchoring keeps it within microseconds of
/// the system clock and follows the system clock when it is stepped.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[inline]
    fn now(&self) -> Timestamp {
        fast_wall::now()
    }
}

mod fast_wall {
    use std::sync::atomic::{fence, AtomicI64, AtomicU64, Ordering};
    use std::sync::OnceLock;

    use super::Timestamp;

    const REANCHOR_NANOS: u64 = 500_000_000;

    struct Anchor {
        clock: quanta::Clock,
        // A sequence lock over (raw, wall): odd while being rewritten.
        seq: AtomicU64,
        raw: AtomicU64,
        wall: AtomicI64,
    }

    fn anchor() -> &'static Anchor {
        static ANCHOR: OnceLock<Anchor> = OnceLock::new();
        ANCHOR.get_or_init(|| {
            let clock = quanta::Clock::new();
            let raw = clock.raw();
            Anchor {
                seq: AtomicU64::new(0),
                raw: AtomicU64::new(raw),
                wall: AtomicI64::new(Timestamp::now().0),
                clock,
            }
        })
    }

    #[inline]
    pub(super) fn now() -> Timestamp {
        let a = anchor();
        let seq = a.seq.load(Ordering::Acquire);
        let raw0 = a.raw.load(Ordering::Relaxed);
        let wall0 = a.wall.load(Ordering::Relaxed);
        fence(Ordering::Acquire);
        if seq & 1 == 1 || a.seq.load(Ordering::Relaxed) != seq {
            // Being re-anchored this very moment: ask the OS.
            return Timestamp::now();
        }
        let elapsed = a.clock.delta_as_nanos(raw0, a.clock.raw());
        if elapsed >= REANCHOR_NANOS {
            return reanchor(a, seq);
        }
        Timestamp(wall0 + (elapsed / 1000) as i64)
    }

    #[cold]
    fn reanchor(a: &Anchor, seq: u64) -> Timestamp {
        let wall = Timestamp::now();
        // Only one thread rewrites; the others use the OS clock meanwhile.
        if a.seq
            .compare_exchange(seq, seq + 1, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            a.raw.store(a.clock.raw(), Ordering::Relaxed);
            a.wall.store(wall.0, Ordering::Relaxed);
            a.seq.store(seq + 2, Ordering::Release);
        }
        wall
    }
}

/// A clock that moves only when told to; for tests.
///
/// Threads waiting on it (a reporter in a trailing window) are woken each
/// time it is moved and never wait in real time: see [`Clock`].
#[derive(Default)]
pub struct ManualClock {
    micros: AtomicI64,
    wakers: Mutex<Vec<Weak<dyn Fn() + Send + Sync>>>,
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManualClock")
            .field("now", &self.now())
            .finish_non_exhaustive()
    }
}

impl ManualClock {
    /// A clock standing at `start`.
    pub fn new(start: Timestamp) -> ManualClock {
        ManualClock {
            micros: AtomicI64::new(start.0),
            wakers: Mutex::new(Vec::new()),
        }
    }

    /// Moves the clock to `t` (backwards too).
    pub fn set(&self, t: Timestamp) {
        self.micros.store(t.0, Ordering::SeqCst);
        self.wake();
    }

    /// Moves the clock forward by `d`.
    pub fn advance(&self, d: Duration) {
        self.micros
            .fetch_add(d.as_micros() as i64, Ordering::SeqCst);
        self.wake();
    }

    fn wake(&self) {
        // Called outside the lock: a waker may take locks of its own.
        let live: Vec<Arc<dyn Fn() + Send + Sync>> = {
            let mut wakers = self.wakers.lock().unwrap_or_else(PoisonError::into_inner);
            wakers.retain(|w| w.strong_count() > 0);
            wakers.iter().filter_map(Weak::upgrade).collect()
        };
        for wake in live {
            wake();
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.micros.load(Ordering::SeqCst))
    }

    fn watch(&self, wake: Weak<dyn Fn() + Send + Sync>) -> Passage {
        let mut wakers = self.wakers.lock().unwrap_or_else(PoisonError::into_inner);
        wakers.retain(|w| w.strong_count() > 0);
        wakers.push(wake);
        Passage::Notified
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip_over_wide_range() {
        for days in (-800_000..800_000).step_by(997) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        let t = Timestamp::from_civil(2026, 11, 27, 23, 8, 35, 123_456).unwrap();
        assert_eq!(t.to_string(), "2026-11-27T23:08:35.123456Z");
        assert_eq!(Timestamp::parse("2026-11-27T23:08:35.123456Z"), Some(t));
        assert_eq!(Timestamp(0).to_string(), "1970-01-01T00:00:00.000000Z");
        assert_eq!(Timestamp(-1).to_string(), "1969-12-31T23:59:59.999999Z");
    }

    #[test]
    fn parse_accepts_common_forms_and_rejects_junk() {
        let base = Timestamp::from_civil(2024, 2, 29, 0, 0, 0, 0).unwrap();
        assert_eq!(Timestamp::parse("2024-02-29"), Some(base));
        assert_eq!(Timestamp::parse("2024-02-29 00:00:00"), Some(base));
        assert_eq!(
            Timestamp::parse("2024-02-29T00:00:00.5Z").unwrap().0,
            base.0 + 500_000
        );
        assert_eq!(
            Timestamp::parse("1700000000").unwrap().0,
            1_700_000_000_000_000
        );
        for junk in [
            "",
            "2023-02-29",
            "2024-13-01",
            "yesterday",
            "2024-01-01T25:00:00Z",
            "2024-01-01T00:00:00.Z",
            "2024-01-01T00:00:00+02:00",
        ] {
            assert_eq!(Timestamp::parse(junk), None, "{junk}");
        }
    }

    #[test]
    fn system_clock_follows_the_os_clock() {
        for _ in 0..1000 {
            let os = Timestamp::now();
            let fast = SystemClock.now();
            assert!((fast.0 - os.0).abs() < 50_000, "{fast} vs {os}");
        }
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let c = ManualClock::new(Timestamp(5));
        assert_eq!(c.now(), Timestamp(5));
        c.advance(Duration::from_micros(10));
        assert_eq!(c.now(), Timestamp(15));
        c.set(Timestamp(1));
        assert_eq!(c.now(), Timestamp(1));
    }

    #[test]
    fn manual_clock_wakes_its_watchers_and_forgets_dropped_ones() {
        let c = ManualClock::new(Timestamp(0));
        let woken = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = Arc::clone(&woken);
        let wake: Arc<dyn Fn() + Send + Sync> = Arc::new(move || {
            seen.fetch_add(1, Ordering::SeqCst);
        });
        assert_eq!(c.watch(Arc::downgrade(&wake)), Passage::Notified);
        c.advance(Duration::from_secs(1));
        c.set(Timestamp(5));
        assert_eq!(woken.load(Ordering::SeqCst), 2);
        drop(wake);
        c.advance(Duration::from_secs(1));
        assert_eq!(woken.load(Ordering::SeqCst), 2);
        assert_eq!(SystemClock.watch(Weak::<fn()>::new()), Passage::RealTime);
    }

    #[test]
    fn a_stopwatch_counts_forward_moves_only() {
        let c = ManualClock::new(Timestamp(1_000_000));
        let mut w = Stopwatch::started_at(c.now(), Duration::from_secs(10));
        assert_eq!(w.remaining(&c), Some(Duration::from_secs(10)));
        c.advance(Duration::from_secs(4));
        assert_eq!(w.remaining(&c), Some(Duration::from_secs(6)));
        // A step back of an hour does not lengthen the delay.
        c.set(Timestamp(c.now().0 - 3_600_000_000));
        assert_eq!(w.remaining(&c), Some(Duration::from_secs(6)));
        c.advance(Duration::from_secs(6));
        assert_eq!(w.remaining(&c), None);
    }
}
