use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use super::{IncidentError, Incidents, Unfinished, FINISHED_SUFFIX, RECORDING_SUFFIX};
use crate::event::Event;
use crate::flogfile::{FlogWriter, Trailer};
use crate::fs::write_atomically;

pub(crate) const END_EVENT_LIMIT: &str = "event_limit";
pub(crate) const END_DELAY: &str = "delay";
pub(crate) const END_IMMEDIATE: &str = "immediate";
pub(crate) const END_SHUTDOWN: &str = "shutdown";
pub(crate) const END_FAILED: &str = "failed";

/// What logging threads send a reporter while it records trailing events.
pub(crate) enum ReporterMsg {
    Event(Box<Event>),
    /// Another trigger joined this incident.
    Trigger(u64),
    /// Trailing capture is over, for this reason.
    End(&'static str),
}

pub(crate) struct Job {
    pub(crate) name: String,
    pub(crate) dir: PathBuf,
    pub(crate) writer: FlogWriter<BufWriter<File>>,
    /// `num`s already written, sorted.
    pub(crate) dumped: Vec<u64>,
    pub(crate) rx: Receiver<ReporterMsg>,
    pub(crate) trigger: Event,
    pub(crate) trailing: bool,
    pub(crate) delay: Duration,
}

struct Recording {
    writer: FlogWriter<BufWriter<File>>,
    dumped: Vec<u64>,
    triggers: Vec<u64>,
    trailing: u64,
}

impl Recording {
    /// Handles one message; returns the end reason when capture is over.
    fn handle(&mut self, msg: ReporterMsg) -> io::Result<Option<&'static str>> {
        match msg {
            ReporterMsg::Event(e) => {
                if self.dumped.binary_search(&e.num).is_err() {
                    self.writer.write_event(&e)?;
                    self.trailing += 1;
                }
            }
            ReporterMsg::Trigger(num) => {
                if !self.triggers.contains(&num) {
                    self.triggers.push(num);
                }
            }
            ReporterMsg::End(reason) => return Ok(Some(reason)),
        }
        Ok(None)
    }

    fn capture(
        &mut self,
        rx: &Receiver<ReporterMsg>,
        deadline: Instant,
    ) -> io::Result<Option<&'static str>> {
        loop {
            let wait = deadline.saturating_duration_since(Instant::now());
            let msg = match rx.recv_timeout(wait) {
                Ok(msg) => msg,
                Err(RecvTimeoutError::Timeout) => return Ok(None),
                Err(RecvTimeoutError::Disconnected) => return Ok(Some(END_SHUTDOWN)),
            };
            if let Some(reason) = self.handle(msg)? {
                return Ok(Some(reason));
            }
            // Hand each burst to the OS as soon as it is written: the file on disk
            // must stay current in case the process dies.
            if let Ok(msg) = rx.try_recv() {
                if let Some(reason) = self.handle(msg)? {
                    return Ok(Some(reason));
                }
            } else {
                self.writer.flush()?;
            }
        }
    }
}

/// The reporter thread of one incident: records trailing events, then compresses.
pub(crate) fn run(inc: &Incidents, job: Job) {
    let Job {
        name,
        dir,
        writer,
        dumped,
        rx,
        trigger,
        trailing,
        delay,
    } = job;
    let flog = dir.join(format!("{name}{RECORDING_SUFFIX}"));
    let mut rec = Recording {
        writer,
        dumped,
        triggers: vec![trigger.num],
        trailing: 0,
    };
    let result = (|| {
        let end = if trailing {
            match rec.capture(&rx, Instant::now() + delay)? {
                Some(reason) => reason,
                None => {
                    inc.close_if_active(&name, END_DELAY);
                    // Events sent before the close are still ours.
                    let mut end = END_DELAY;
                    while let Ok(msg) = rx.try_recv() {
                        if let Some(reason) = rec.handle(msg)? {
                            end = reason;
                        }
                    }
                    end
                }
            }
        } else {
            END_IMMEDIATE
        };
        rec.writer.write_trailer(&Trailer {
            triggers: std::mem::take(&mut rec.triggers),
            trailing_events: rec.trailing,
            end: end.to_owned(),
            finished: Some(inc.clock.now()),
            ..Trailer::default()
        })?;
        rec.writer.flush()
    })();
    drop(rec);
    if let Err(source) = result {
        inc.close_if_active(&name, END_FAILED);
        inc.counters.failed.fetch_add(1, Ordering::Relaxed);
        inc.report(IncidentError::Write { path: flog, source });
        return;
    }
    let finished = dir.join(format!("{name}{FINISHED_SUFFIX}"));
    match compress(&flog, &finished) {
        Ok(()) => inc.recorded(&name, &finished, &trigger, &dir),
        Err(source) => {
            inc.counters.failed.fetch_add(1, Ordering::Relaxed);
            inc.report(IncidentError::Finish { path: flog, source });
            inc.unfinished(Unfinished { name, dir, trigger });
        }
    }
}

/// Compresses `flog` into `finished` atomically, then removes `flog`.
pub(crate) fn compress(flog: &Path, finished: &Path) -> io::Result<()> {
    let mut input = File::open(flog)?;
    write_atomically(finished, |out| {
        let mut enc = bzip2::write::BzEncoder::new(out, bzip2::Compression::default());
        io::copy(&mut input, &mut enc)?;
        enc.finish()?.flush()
    })?;
    fs::remove_file(flog)?;
    crate::fs::sync_parent(finished)
}
