//! The event log: the gathered files of one base directory, written by one
//! owner (the writer thread), rotated by time and size,
//! closed with a trailer, handed to the compressor once closed.
//!
//! Crash safety comes from never rewriting: records are appended whole, a
//! file is closed by appending its trailer and renaming it, and a file a dead
//! gatherer left `---to-present` is closed by the next start, which opens a
//! new one: a cut last record cut off, a `recovered` trailer appended
//! ([`close_left`]). Until then readers read such a file to its last
//! complete record.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::Duration;

use flog_core::{
    flogfile::{EndReason, FlogWriter, Header, HeaderKind, Trailer},
    Clock, Timestamp,
};

use super::figures::EventFigures;
pub(crate) use super::gathered::Gathered;
use super::names::{closed_name, parse_name, present_name, EventFileName, EVENTS_DIR};
pub(crate) use super::notice::LogNotice;
use super::positions::Positions;
use super::recovery::close_left;
use super::settle::{Pending, Settlement};

/// When and how files are closed.
#[derive(Debug, Clone, Default)]
pub(crate) struct Rotation {
    /// Close the current file once it has been open this long.
    pub(crate) every: Option<Duration>,
    /// Close the current file once it holds this many bytes.
    pub(crate) size: Option<u64>,
}

/// Where the log sends what it has to say.
#[derive(Debug, Clone)]
pub(crate) struct Outlets {
    /// Notices for the daemon's log.
    pub(crate) notices: Sender<LogNotice>,
    /// Closed files, for the compressor; `None` keeps them uncompressed.
    pub(crate) closed: Option<Sender<PathBuf>>,
    /// Counts of what was written, for the metrics.
    pub(crate) figures: Arc<EventFigures>,
}

struct Current {
    path: PathBuf,
    from: Timestamp,
    out: BufWriter<File>,
    /// Bytes appended, buffered or not: where the next record starts.
    bytes: u64,
    /// Records appended since the last flush that succeeded. Only the file
    /// tells which of them a failed write or flush left there (what was
    /// still buffered is lost with the buffer), so they are settled by its
    /// length: see [`EventLog::settle`].
    pending: Vec<Pending>,
}

/// How long to wait before trying again to open a file after a failure.
const RETRY: Duration = Duration::from_secs(1);

/// The gathered files of one base directory; see the module doc.
pub(crate) struct EventLog {
    dir: PathBuf,
    clock: Arc<dyn Clock>,
    rotation: Rotation,
    current: Option<Current>,
    positions: Positions,
    notices: Sender<LogNotice>,
    closed: Option<Sender<PathBuf>>,
    figures: Arc<EventFigures>,
    /// Set while writing fails: when to try again, on the injected clock
    /// (so tests step it; a wall clock stepped back retries at once).
    retry_at: Option<Timestamp>,
    /// What a failure left unwritten, and what landed for a relay.
    settlement: Settlement,
    scratch: FlogWriter<Vec<u8>>,
    /// The latest start of any file: the next file starts after it, so that
    /// names stay unique and in order when the clock stands still (a size
    /// rotation storm) or steps back.
    latest: Timestamp,
    /// Whether events were let go because the spool was full: once it is
    /// not, their `not_written` gaps are written.
    spool_paused: bool,
}

impl std::fmt::Debug for EventLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventLog")
            .field("dir", &self.dir)
            .field("current", &self.current.as_ref().map(|c| &c.path))
            .finish_non_exhaustive()
    }
}

impl EventLog {
    /// Opens the log of `basedir`: closes what a dead gatherer left open,
    /// reads the positions, opens a new current file.
    pub(crate) fn open(
        basedir: &Path,
        rotation: Rotation,
        clock: Arc<dyn Clock>,
        outlets: Outlets,
    ) -> io::Result<EventLog> {
        let dir = basedir.join(EVENTS_DIR);
        fs::create_dir_all(&dir)?;
        let mut positions = Positions::load(&dir)?;
        let mut log = EventLog {
            dir,
            clock,
            rotation,
            current: None,
            positions: Positions::default(),
            notices: outlets.notices,
            closed: outlets.closed,
            figures: outlets.figures,
            retry_at: None,
            settlement: Settlement::default(),
            scratch: FlogWriter::append_to(Vec::new()),
            latest: Timestamp(i64::MIN),
            spool_paused: false,
        };
        log.recover(&mut positions)?;
        log.positions = positions;
        log.positions.save(&log.dir)?;
        log.open_current()?;
        Ok(log)
    }

    /// The events folder.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// What is stored of each publisher.
    pub(crate) fn positions(&self) -> &Positions {
        &self.positions
    }

    /// The file being written, if one is.
    pub(crate) fn current_path(&self) -> Option<&Path> {
        self.current.as_ref().map(|c| c.path.as_path())
    }

    fn recover(&mut self, positions: &mut Positions) -> io::Result<()> {
        let mut left: Vec<(Timestamp, PathBuf)> = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            let name = entry.file_name();
            if let Some(EventFileName::Present { from }) = name.to_str().and_then(parse_name) {
                left.push((from, entry.path()));
            }
        }
        left.sort();
        for entry in fs::read_dir(&self.dir)? {
            let name = entry?.file_name();
            match name.to_str().and_then(parse_name) {
                Some(EventFileName::Closed { from, .. } | EventFileName::Present { from }) => {
                    self.latest = self.latest.max(from)
                }
                None => {}
            }
        }
        for (from, path) in left {
            let recovered = close_left(&self.dir, from, &path, positions)?;
            let closed = recovered.path.clone();
            let _ = self.notices.send(LogNotice::Recovered(recovered));
            // Compressed below, with the other closed files.
            let _ = self.notices.send(LogNotice::Closed { path: closed });
        }
        // Closed files a previous run did not get to compress.
        for entry in fs::read_dir(&self.dir)? {
            let path = entry?.path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(parse_name);
            if let Some(EventFileName::Closed {
                compressed: false, ..
            }) = name
            {
                if let Some(closed) = &self.closed {
                    let _ = closed.send(path);
                }
            }
        }
        Ok(())
    }

    fn closed(&self, path: PathBuf) {
        let _ = self.notices.send(LogNotice::Closed { path: path.clone() });
        if let Some(closed) = &self.closed {
            let _ = closed.send(path);
        }
    }

    fn open_current(&mut self) -> io::Result<()> {
        let mut from = self
            .clock
            .now()
            .max(Timestamp(self.latest.0.saturating_add(1)));
        let (path, file) = loop {
            let path = self.dir.join(present_name(from));
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(file) => break (path, file),
                // Two files opened in one microsecond (a rotation storm):
                // the next name is a microsecond on.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => from.0 += 1,
                Err(e) => return Err(e),
            }
        };
        let header = Header {
            kind: Some(HeaderKind::Gathered),
            pid: Some(std::process::id()),
            host: Some(flog_core::host_name()),
            started: Some(from),
            versions: [(
                "flog-gatherer".to_owned(),
                env!("CARGO_PKG_VERSION").to_owned(),
            )]
            .into_iter()
            .collect(),
            ..Header::default()
        };
        let mut out = BufWriter::new(file);
        let header_bytes = {
            let mut w = FlogWriter::new(Vec::new(), &header)?;
            std::mem::take(w.get_mut())
        };
        let written = out.write_all(&header_bytes).and_then(|()| out.flush());
        if let Err(e) = written {
            drop(out);
            let _ = fs::remove_file(&path);
            return Err(e);
        }
        flog_core::fs::sync_parent(&path)?;
        self.latest = from;
        self.current = Some(Current {
            path,
            from,
            out,
            bytes: header_bytes.len() as u64,
            pending: Vec::new(),
        });
        Ok(())
    }

    /// From now on, keeps each event that is known to be in the file (a
    /// flush succeeded, or the file's length after a failure says so) for
    /// [`take_landed`](Self::take_landed): a relay hands on exactly what
    /// the file holds.
    pub(crate) fn relay_landed(&mut self) {
        self.settlement.relay_landed();
    }

    /// The events that landed since they were last taken from here (see
    /// [`relay_landed`](Self::relay_landed)), with the file being written.
    pub(crate) fn take_landed(&mut self) -> (Option<&Path>, &mut Vec<Gathered>) {
        let current = self.current.as_ref().map(|c| c.path.as_path());
        (current, self.settlement.landed())
    }

    /// Appends `item` (rotating first when due). While writing fails, the
    /// item is counted as not written, to appear as a gap later.
    pub(crate) fn append(&mut self, item: Gathered) {
        self.tick();
        if self.current.is_none() {
            self.settlement.count_unwritten(item);
            return;
        }
        if self.figures.spool_full() {
            // Closed files wait for the bucket past `spool_bytes`: no more
            // is written until uploads make room, and what comes meanwhile
            // is counted, to be written as gaps (docs/gatherer.md).
            self.spool_paused = true;
            self.settlement.count_unwritten(item);
            return;
        }
        self.scratch.get_mut().clear();
        let encoded = match &item {
            Gathered::Event(r) => self.scratch.write_received(&r.event, &r.receipt),
            Gathered::Gap(g) => self.scratch.write_gap(g),
            Gathered::Incarnation(c) => self.scratch.write_incarnation_change(c),
        };
        if encoded.is_err() {
            // Only a value CBOR cannot hold; nothing reached the file.
            self.settlement.count_unwritten(item);
            return;
        }
        let current = self.current.as_mut().expect("checked above");
        let bytes = self.scratch.get_mut();
        // Pending before the write: a write that fails part way may still
        // have put the whole record in the file (the buffer it overflowed
        // failed, not this record), and only the file can tell.
        let end = current.bytes + bytes.len() as u64;
        current.pending.push(Pending { end, item });
        current.bytes = end;
        if let Err(error) = current.out.write_all(bytes) {
            self.fail(error);
        }
    }

    /// Stops writing the current file: what it holds stays readable up to
    /// its last complete record; it is closed without a trailer (the write
    /// that failed may have left part of a record).
    fn fail(&mut self, error: io::Error) {
        if let Some(current) = self.current.take() {
            self.fail_file(current, error);
        }
        self.retry_at = Some(self.clock.now().saturating_add(RETRY));
    }

    /// [`fail`](Self::fail) for a file already taken from `current`.
    fn fail_file(&mut self, current: Current, error: io::Error) {
        let Current {
            path,
            from,
            out,
            pending,
            ..
        } = current;
        let _ = self.notices.send(LogNotice::Failing {
            path: path.clone(),
            error,
        });
        // Dropping the writer tries its buffer once more; then the file's
        // length tells which pending records reached it.
        drop(out);
        let len = fs::metadata(&path).map_or(0, |m| m.len());
        self.settlement
            .settle(pending, len, &mut self.positions, &self.figures);
        let to = self.clock.now().max(from);
        let closed = self.dir.join(closed_name(from, to));
        if fs::rename(&path, &closed).is_ok() {
            let _ = flog_core::fs::sync_parent(&closed);
            self.closed(closed);
        }
    }

    /// Rotates when due and, after a failure, tries again to write.
    pub(crate) fn tick(&mut self) {
        if let Some(at) = self.retry_at {
            let now = self.clock.now();
            if now >= at || now.saturating_add(RETRY) < at {
                self.resume();
            }
            return;
        }
        if self.spool_paused && !self.figures.spool_full() {
            self.resume_after_spool();
        }
        let Some(current) = &self.current else { return };
        let by_time = self
            .rotation
            .every
            .is_some_and(|every| self.clock.now() >= current.from.saturating_add(every));
        let by_size = self.rotation.size.is_some_and(|size| current.bytes >= size);
        if by_time || by_size {
            self.rotate();
        }
    }

    fn resume(&mut self) {
        self.retry_at = None;
        if let Err(error) = self.open_current() {
            self.retry_at = Some(self.clock.now().saturating_add(RETRY));
            // One notice per run of failures: the first was sent by `fail`.
            drop(error);
            return;
        }
        self.write_unwritten();
    }

    /// The spool has room again: the gaps of what was let go meanwhile go
    /// into the current file.
    fn resume_after_spool(&mut self) {
        self.spool_paused = false;
        self.write_unwritten();
    }

    /// The gaps of what could not be written go into the current file, and
    /// the writer says it writes again.
    fn write_unwritten(&mut self) {
        let (records, total) = self.settlement.take_for_resume(self.clock.now());
        for record in records {
            self.append(record);
        }
        if let Some(path) = self.current_path().map(Path::to_owned) {
            let _ = self.notices.send(LogNotice::Resumed {
                path,
                unwritten: total,
            });
        }
    }

    /// Hands buffered records to the operating system.
    pub(crate) fn flush(&mut self) {
        let Some(current) = &mut self.current else {
            return;
        };
        match current.out.flush() {
            Ok(()) => {
                let pending = std::mem::take(&mut current.pending);
                let len = current.bytes;
                self.settlement
                    .settle(pending, len, &mut self.positions, &self.figures);
            }
            Err(error) => self.fail(error),
        }
    }

    /// Closes the current file (`end`: `rotated` or `shutdown`) and, for a
    /// rotation, opens the next.
    fn close(&mut self, end: EndReason) -> Result<(), CloseFailed> {
        let Some(mut current) = self.current.take() else {
            return Ok(());
        };
        let to = self.clock.now().max(current.from);
        let trailer = Trailer {
            end: Some(end),
            finished: Some(to),
            ..Trailer::default()
        };
        self.scratch.get_mut().clear();
        let encoded = self.scratch.write_trailer(&trailer);
        let written = encoded.and_then(|()| {
            current.out.write_all(self.scratch.get_mut())?;
            current.out.flush()?;
            current.out.get_ref().sync_all()
        });
        if let Err(error) = written {
            // Closed as a failure: renamed without its trailer, what it
            // holds settled by its length, writing retried.
            let kept = io::Error::new(error.kind(), error.to_string());
            self.fail_file(current, error);
            self.retry_at = Some(self.clock.now().saturating_add(RETRY));
            return Err(CloseFailed::Write(kept));
        }
        let pending = std::mem::take(&mut current.pending);
        let len = current.bytes;
        self.settlement
            .settle(pending, len, &mut self.positions, &self.figures);
        let closed = self.dir.join(closed_name(current.from, to));
        let finished = fs::rename(&current.path, &closed)
            .and_then(|()| flog_core::fs::sync_parent(&closed))
            .and_then(|()| self.positions.save(&self.dir));
        finished.map_err(CloseFailed::Finish)?;
        self.closed(closed);
        Ok(())
    }

    /// Closes the current file and opens the next.
    pub(crate) fn rotate(&mut self) {
        if self.current.is_none() {
            return;
        }
        let path = self.current_path().map(Path::to_owned).unwrap_or_default();
        match self.close(EndReason::Rotated) {
            Ok(()) => {}
            // Reported, closed as a failure; resuming opens the next file.
            Err(CloseFailed::Write(_)) => return,
            Err(CloseFailed::Finish(error)) => {
                // Complete with its trailer but not renamed: the next
                // start closes it as a file left open.
                let _ = self.notices.send(LogNotice::Failing { path, error });
                self.retry_at = Some(self.clock.now().saturating_add(RETRY));
                return;
            }
        }
        if let Err(error) = self.open_current() {
            let path = self.dir.clone();
            let _ = self.notices.send(LogNotice::Failing { path, error });
            self.retry_at = Some(self.clock.now().saturating_add(RETRY));
        }
    }

    /// Closes the current file for good.
    pub(crate) fn shutdown(mut self) -> io::Result<()> {
        match self.close(EndReason::Shutdown) {
            Ok(()) => {}
            Err(CloseFailed::Write(e) | CloseFailed::Finish(e)) => return Err(e),
        }
        self.positions.save(&self.dir)
    }
}

/// How closing a file failed.
#[derive(Debug)]
enum CloseFailed {
    /// Writing its trailer failed: it was closed as a failure (reported,
    /// renamed without a trailer, writing retried). The error is a copy of
    /// the one reported.
    Write(io::Error),
    /// The trailer is written but renaming or saving the positions failed.
    Finish(io::Error),
}

#[cfg(test)]
mod full_disk_tests;
#[cfg(test)]
mod tests;
