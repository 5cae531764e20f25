//! Periodic flushing of a crash ring, for an operator who wants its events
//! to survive a kernel panic or a power loss too, not only the death of the
//! process: one named thread asks the kernel to write the mapping's dirty
//! pages out (`msync`) every period. Never on the hot path: the logging
//! threads only store into the mapping, as without flushing.
//!
//! The period is measured on the logger's [`Clock`], as the trailing window
//! is: with a clock that moves with real time the thread sleeps on a
//! channel for what is left of the period; with one that moves when told
//! ([`ManualClock`](crate::ManualClock)) it is woken each time the clock
//! moves, so tests drive it without real waiting. Either way a stop message
//! on the same channel wakes it at once.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::RingFile;
use crate::time::{Clock, Passage, Stopwatch, Timestamp};

/// The shortest flushing period a logger accepts: shorter, and the thread
/// would write the ring out back to back (one `msync` of a full 32 MiB ring
/// takes longer than this), for no gain a slightly longer period lacks.
pub const MIN_CRASH_RING_FLUSH: Duration = Duration::from_millis(10);
/// The longest flushing period a logger accepts: a day. A longer one is
/// taken for a mistake (a period in the wrong unit) rather than obeyed.
pub const MAX_CRASH_RING_FLUSH: Duration = Duration::from_secs(24 * 60 * 60);

/// What the crash ring's flusher has done, as
/// [`Logger::crash_ring_stats`](crate::Logger::crash_ring_stats) reports it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CrashRingStats {
    /// The flushing period asked for; `None` when the ring is not flushed.
    pub flush_period: Option<Duration>,
    /// Flushes (`msync` of the whole ring) that succeeded.
    pub flushes: u64,
    /// Flushes that failed (the first of each run of failures is reported
    /// through the logger's [`on_error`](crate::LoggerBuilder::on_error)).
    pub failed_flushes: u64,
    /// How long the latest successful flush took.
    pub last_flush: Option<Duration>,
}

/// The counts the flusher thread keeps, read by its owner.
#[derive(Debug, Default)]
struct Counts {
    flushes: AtomicU64,
    failed: AtomicU64,
    /// Nanoseconds of the latest successful flush, plus one (0: none yet).
    last_nanos: AtomicU64,
}

enum Wake {
    /// The clock moved (a clock that moves when told): read it again.
    ClockMoved,
    Stop,
}

/// A running flusher; dropping it stops the thread and waits for it.
#[derive(Debug)]
pub(crate) struct RingFlusher {
    period: Duration,
    counts: Arc<Counts>,
    wake: Sender<Wake>,
    thread: Option<JoinHandle<()>>,
}

impl RingFlusher {
    /// Starts the thread (`flog-ring-flush`) flushing `ring` every `period`
    /// of `clock`. `failed` is called, on that thread, with the error of the
    /// first flush of each run of failures (the caller sends it on to where
    /// failures are reported; it must not block for long).
    pub(crate) fn spawn(
        ring: Arc<RingFile>,
        period: Duration,
        clock: Arc<dyn Clock>,
        failed: impl Fn(io::Error) + Send + 'static,
    ) -> io::Result<RingFlusher> {
        let counts = Arc::new(Counts::default());
        let (wake, rx) = mpsc::channel();
        let flusher = Flusher {
            ring,
            period,
            // Read here, not on the thread: the first period runs from when
            // flushing was asked for, however late the thread starts.
            started: clock.now(),
            clock,
            counts: Arc::clone(&counts),
            wake: wake.clone(),
            failed: Box::new(failed),
        };
        let thread = std::thread::Builder::new()
            .name("flog-ring-flush".into())
            .spawn(move || flusher.run(&rx))?;
        Ok(RingFlusher {
            period,
            counts,
            wake,
            thread: Some(thread),
        })
    }

    /// What it has done so far.
    pub(crate) fn stats(&self) -> CrashRingStats {
        let c = &self.counts;
        let last = c.last_nanos.load(Ordering::Relaxed);
        CrashRingStats {
            flush_period: Some(self.period),
            flushes: c.flushes.load(Ordering::Relaxed),
            failed_flushes: c.failed.load(Ordering::Relaxed),
            last_flush: last.checked_sub(1).map(Duration::from_nanos),
        }
    }
}

impl Drop for RingFlusher {
    fn drop(&mut self) {
        let _ = self.wake.send(Wake::Stop);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The thread's side.
struct Flusher {
    ring: Arc<RingFile>,
    period: Duration,
    started: Timestamp,
    clock: Arc<dyn Clock>,
    counts: Arc<Counts>,
    /// For the clock's waker.
    wake: Sender<Wake>,
    failed: Box<dyn Fn(io::Error) + Send>,
}

impl Flusher {
    fn run(self, rx: &Receiver<Wake>) {
        // A clock that moves when told wakes us through the channel; the
        // waker lives as long as this thread, and the clock forgets it then.
        let waker: Arc<dyn Fn() + Send + Sync> = {
            let wake = self.wake.clone();
            Arc::new(move || {
                let _ = wake.send(Wake::ClockMoved);
            })
        };
        let passage = self.clock.watch(Arc::downgrade(&waker));
        let mut failing = false;
        let mut start = self.started;
        loop {
            let mut period = Stopwatch::started_at(start, self.period);
            while let Some(left) = period.remaining(&*self.clock) {
                let woken = match passage {
                    Passage::RealTime => rx.recv_timeout(left),
                    Passage::Notified => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
                };
                match woken {
                    Ok(Wake::ClockMoved) | Err(RecvTimeoutError::Timeout) => {}
                    Ok(Wake::Stop) | Err(RecvTimeoutError::Disconnected) => return,
                }
            }
            // The next period runs from the end of this one, not from the
            // end of the flush: a flush is not added to the period, and a
            // clock moved while it runs is not missed.
            start = self.clock.now();
            let started = Instant::now();
            match self.ring.flush() {
                Ok(()) => {
                    let took = started.elapsed().as_nanos().min(u128::from(u64::MAX - 1)) as u64;
                    self.counts.last_nanos.store(took + 1, Ordering::Relaxed);
                    self.counts.flushes.fetch_add(1, Ordering::Relaxed);
                    failing = false;
                }
                Err(error) => {
                    self.counts.failed.fetch_add(1, Ordering::Relaxed);
                    if !std::mem::replace(&mut failing, true) {
                        (self.failed)(error);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::mapped::RingSpec;
    use crate::time::{ManualClock, SystemClock};

    fn spec() -> RingSpec {
        RingSpec {
            file_bytes: 64 * 1024,
            units: 4,
            max_segments: 8,
            dict_bytes: 1024,
            pid: 4242,
            started: 0,
            meta: Vec::new(),
        }
    }

    /// Polls `done` until it holds, for at most ten seconds.
    fn eventually(what: &str, mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !done() {
            assert!(Instant::now() < deadline, "never: {what}");
            std::thread::yield_now();
        }
    }

    type Reported = Arc<Mutex<Vec<io::Error>>>;

    fn flusher(ring: &Arc<RingFile>, clock: Arc<dyn Clock>) -> (RingFlusher, Reported) {
        let reported = Reported::default();
        let sink = Arc::clone(&reported);
        let f = RingFlusher::spawn(Arc::clone(ring), Duration::from_secs(1), clock, move |e| {
            sink.lock().unwrap().push(e)
        })
        .unwrap();
        (f, reported)
    }

    /// On a clock moved by hand, one flush per period of the clock, however
    /// the clock gets there: the thread never waits in real time.
    #[test]
    fn flushes_once_a_period_on_the_loggers_clock() {
        let ring = Arc::new(RingFile::in_memory(&spec()).unwrap());
        let clock = Arc::new(ManualClock::new(Timestamp(1_000_000)));
        let (f, reported) = flusher(&ring, clock.clone());
        assert_eq!(f.stats().flush_period, Some(Duration::from_secs(1)));
        for n in 1..=3 {
            // Two moves short of the period, then the one that ends it.
            clock.advance(Duration::from_millis(600));
            clock.advance(Duration::from_millis(399));
            clock.advance(Duration::from_millis(1));
            eventually("a flush", || f.stats().flushes >= n);
            assert_eq!(f.stats().flushes, n, "one flush for period {n}");
        }
        assert!(f.stats().last_flush.is_some());
        assert!(reported.lock().unwrap().is_empty());
    }

    /// A run of failed flushes is reported once, with its cause, and counted
    /// in full; after a flush that works, the next failure is reported again.
    #[test]
    fn a_run_of_failed_flushes_is_reported_once() {
        let ring = Arc::new(RingFile::in_memory(&spec()).unwrap());
        let clock = Arc::new(ManualClock::new(Timestamp(0)));
        let (f, reported) = flusher(&ring, clock.clone());
        ring.fail_flushes(true);
        for n in 1..=3 {
            clock.advance(Duration::from_secs(1));
            eventually("a failed flush", || f.stats().failed_flushes >= n);
        }
        {
            let reported = reported.lock().unwrap();
            assert_eq!(reported.len(), 1, "{reported:?}");
            assert_eq!(reported[0].raw_os_error(), Some(5));
        }
        ring.fail_flushes(false);
        clock.advance(Duration::from_secs(1));
        eventually("a flush", || f.stats().flushes == 1);
        ring.fail_flushes(true);
        clock.advance(Duration::from_secs(1));
        eventually("a failed flush", || f.stats().failed_flushes == 4);
        // The thread reports before it counts the next period's flush.
        clock.advance(Duration::from_secs(1));
        eventually("a failed flush", || f.stats().failed_flushes == 5);
        assert_eq!(reported.lock().unwrap().len(), 2);
        assert_eq!(f.stats().flushes, 1);
    }

    /// Dropping the flusher wakes its thread at once, in the middle of a
    /// day-long period of the real clock, and waits for it to end.
    #[test]
    #[cfg_attr(miri, ignore = "the system clock reads the TSC, which Miri cannot")]
    fn stops_at_once_in_the_middle_of_a_period() {
        let ring = Arc::new(RingFile::in_memory(&spec()).unwrap());
        let clock = Arc::new(SystemClock);
        let f = RingFlusher::spawn(Arc::clone(&ring), MAX_CRASH_RING_FLUSH, clock, |_| {}).unwrap();
        let thread = f.thread.as_ref().unwrap().thread().clone();
        assert_eq!(thread.name(), Some("flog-ring-flush"));
        let started = Instant::now();
        drop(f);
        assert!(started.elapsed() < Duration::from_secs(5), "it slept");
        assert_eq!(Arc::strong_count(&ring), 1, "the thread is gone");
    }

    /// A ring file on disk, flushed on the real clock every 10 ms: the
    /// flushes happen, and take a measurable time.
    #[test]
    #[cfg_attr(miri, ignore = "Miri cannot map files")]
    fn flushes_a_mapped_file_on_the_real_clock() {
        let dir = tempfile::tempdir().unwrap();
        let ring = Arc::new(RingFile::create(&dir.path().join("ring"), &spec()).unwrap());
        let seg = ring.segment("app", 20, 1, false).unwrap();
        let f = RingFlusher::spawn(
            Arc::clone(&ring),
            MIN_CRASH_RING_FLUSH,
            Arc::new(SystemClock),
            |e| panic!("{e}"),
        )
        .unwrap();
        for n in 0..1000u64 {
            seg.push(n, &n.to_le_bytes());
        }
        eventually("two flushes", || f.stats().flushes >= 2);
        assert!(f.stats().last_flush.is_some());
        drop(f);
        let contents = ring.contents().unwrap();
        let last = contents.segments[0].records.last().map(|r| r.num);
        assert_eq!(last, Some(999), "the writer was not disturbed");
    }
}
