//! The reporter thread of one incident: appends trailing events to the
//! report, ends it with the trailer, compresses it, and sends the outcome to
//! the logdir's keeper.

use std::fs::File;
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::Duration;

use super::capture::{CaptureId, Captures, ReporterMsg};
use super::error::IncidentError;
use super::outcome::Outcome;
use crate::event::Event;
use crate::flogfile::{EndReason, FlogWriter, Trailer};
use crate::flogfile::{FINISHED_SUFFIX, RECORDING_SUFFIX};
use crate::mapped::RingFile;
use crate::time::{Clock, Passage, Stopwatch, Timestamp};

/// How long, in real time, a cut window waits for an event numbered inside
/// it that has not reached its buffer yet. Such an event is in a logging call
/// between taking its number and buffering it: microseconds, unless its
/// thread is descheduled, or the call died in between (observers run only
/// after buffering, so not of theirs), in which case it never comes. Real time, not the logger's clock: it is about
/// threads being scheduled, not about the trailing window.
const STRAGGLER_WAIT: Duration = Duration::from_secs(1);

/// The trailing capture a reporter records from.
pub(crate) struct Trailing {
    pub(crate) id: CaptureId,
    pub(crate) rx: Receiver<ReporterMsg>,
    pub(crate) captures: Arc<Captures>,
    /// When the trigger was recorded: the window starts then, not when this
    /// thread first runs.
    pub(crate) started: Timestamp,
    pub(crate) delay: Duration,
}

/// One incident to finish.
pub(crate) struct Job {
    pub(crate) name: String,
    pub(crate) dir: PathBuf,
    pub(crate) trigger: Event,
    /// `None` when trailing capture is off.
    pub(crate) trailing: Option<Trailing>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) outcomes: Sender<Outcome>,
    /// The logdir's crash ring, told which events are on disk in a report
    /// (so that a crash report leaves them out).
    pub(crate) ring: Option<Arc<RingFile>>,
}

/// The report being written.
pub(crate) struct Recording {
    pub(crate) writer: FlogWriter<BufWriter<File>>,
    /// `num`s already written by the dump, sorted.
    pub(crate) dumped: Vec<u64>,
}

struct Progress {
    rec: Recording,
    /// The trigger's number.
    trigger: u64,
    triggers: Vec<u64>,
    /// Events numbered after the trigger, in the dump or appended.
    trailing: u64,
    /// The window was cut (shutdown): only stragglers are still to come.
    cut: bool,
    ring: Option<Arc<RingFile>>,
    /// The highest `num` written since the last flush.
    written: u64,
}

impl Progress {
    /// Handles one message; returns the end reason when capture is over.
    fn handle(&mut self, msg: ReporterMsg) -> io::Result<Option<EndReason>> {
        match msg {
            ReporterMsg::Event(e) => {
                if self.rec.dumped.binary_search(&e.num).is_err() {
                    self.rec.writer.write_event(&e)?;
                    self.written = self.written.max(e.num);
                    if e.num > self.trigger {
                        self.trailing += 1;
                    }
                }
            }
            ReporterMsg::Trigger(num) => {
                if !self.triggers.contains(&num) {
                    self.triggers.push(num);
                }
            }
            ReporterMsg::End(reason) => return Ok(Some(reason)),
            ReporterMsg::Cut => self.cut = true,
            ReporterMsg::ClockMoved => {}
        }
        Ok(None)
    }

    /// Handles `msg` and whatever else is already waiting, then hands what
    /// was written to the OS: the file on disk must stay current in case the
    /// process dies, and nothing written may wait in the buffer while this
    /// thread sleeps.
    fn handle_burst(
        &mut self,
        msg: ReporterMsg,
        rx: &Receiver<ReporterMsg>,
    ) -> io::Result<Option<EndReason>> {
        let mut next = Some(msg);
        while let Some(msg) = next {
            if let Some(reason) = self.handle(msg)? {
                return Ok(Some(reason));
            }
            next = rx.try_recv().ok();
        }
        self.rec.writer.flush()?;
        // On disk (in the OS's hands) now: a crash report need not repeat
        // them. An event numbered lower that is still on its way to its
        // buffer is then in neither report, should the process die.
        if let Some(ring) = &self.ring {
            ring.mark_recorded(self.written);
        }
        Ok(None)
    }

    /// Records trailing events until capture ends; returns why it ended.
    fn capture(&mut self, t: &Trailing, clock: &dyn Clock) -> io::Result<EndReason> {
        // A clock that moves when told wakes us through the capture; dropped
        // (and so forgotten by the clock) when this returns.
        let waker: Arc<dyn Fn() + Send + Sync> = {
            let (captures, id) = (Arc::clone(&t.captures), t.id);
            Arc::new(move || captures.nudge(id))
        };
        let passage = clock.watch(Arc::downgrade(&waker));
        let mut window = Stopwatch::started_at(t.started, t.delay);
        while let Some(left) = window.remaining(clock) {
            let received = match passage {
                Passage::RealTime => t.rx.recv_timeout(left),
                Passage::Notified => t.rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            };
            let msg = match received {
                Ok(msg) => msg,
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => return Ok(EndReason::Shutdown),
            };
            if let Some(reason) = self.handle_burst(msg, &t.rx)? {
                return Ok(reason);
            }
            if self.cut {
                return self.finish_cut(t);
            }
        }
        t.captures.close(t.id, EndReason::Delay);
        self.finish_cut(t)
    }

    /// The window is cut: takes the events numbered inside it that are still
    /// on their way, waiting for them a little (see [`STRAGGLER_WAIT`]).
    fn finish_cut(&mut self, t: &Trailing) -> io::Result<EndReason> {
        loop {
            match t.rx.recv_timeout(STRAGGLER_WAIT) {
                Ok(msg) => {
                    if let Some(reason) = self.handle_burst(msg, &t.rx)? {
                        return Ok(reason);
                    }
                }
                // Gives up on them; the capture's `End` follows.
                Err(RecvTimeoutError::Timeout) => t.captures.abandon(t.id, EndReason::Delay),
                Err(RecvTimeoutError::Disconnected) => return Ok(EndReason::Shutdown),
            }
        }
    }
}

/// The reporter thread's body.
pub(crate) fn run(job: Job, rec: Recording) {
    let Job {
        name,
        dir,
        trigger,
        trailing,
        clock,
        outcomes,
        ring,
    } = job;
    let flog = dir.join(format!("{name}{RECORDING_SUFFIX}"));
    let dumped_after = rec.dumped.iter().filter(|&&n| n > trigger.num).count() as u64;
    let mut p = Progress {
        rec,
        trigger: trigger.num,
        triggers: vec![trigger.num],
        trailing: dumped_after,
        cut: false,
        ring,
        written: 0,
    };
    let result = (|| {
        let end = match &trailing {
            Some(t) => p.capture(t, &*clock)?,
            None => EndReason::Immediate,
        };
        p.rec.writer.write_trailer(&Trailer {
            triggers: std::mem::take(&mut p.triggers),
            trailing_events: p.trailing,
            end: Some(end),
            finished: Some(clock.now()),
            ..Trailer::default()
        })?;
        p.rec.writer.flush()
    })();
    drop(p);
    if let Err(source) = result {
        if let Some(t) = &trailing {
            t.captures.abandon(t.id, EndReason::Failed);
        }
        let _ = outcomes.send(Outcome::Failed(IncidentError::Write { path: flog, source }));
        return;
    }
    let finished = dir.join(format!("{name}{FINISHED_SUFFIX}"));
    let outcome = match compress(&flog, &finished) {
        Ok(()) => Outcome::Recorded {
            name,
            path: finished,
            trigger,
        },
        Err(source) => Outcome::Unfinished {
            name,
            trigger,
            error: IncidentError::Finish { path: flog, source },
        },
    };
    let _ = outcomes.send(outcome);
}

/// Compresses `flog` into `finished` atomically, then removes `flog`.
pub(crate) fn compress(flog: &Path, finished: &Path) -> io::Result<()> {
    crate::fs::compress_file(flog, finished)
}
