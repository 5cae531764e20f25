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

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::{Duration, Instant};

use flog_core::{
    flogfile::{
        EndReason, FlogWriter, Gap, GapReason, Header, HeaderKind, IncarnationChange,
        ReceivedEvent, Trailer,
    },
    Clock, Timestamp,
};

use super::names::{closed_name, parse_name, present_name, EventFileName, EVENTS_DIR};
use super::positions::Positions;
use super::recovery::{close_left, Recovered};

/// When and how files are closed.
#[derive(Debug, Clone, Default)]
pub(crate) struct Rotation {
    /// Close the current file once it has been open this long.
    pub(crate) every: Option<Duration>,
    /// Close the current file once it holds this many bytes.
    pub(crate) size: Option<u64>,
}

/// One record for the log.
#[derive(Debug, Clone)]
pub(crate) enum Gathered {
    Event(Box<ReceivedEvent>),
    Gap(Gap),
    Incarnation(IncarnationChange),
}

impl Gathered {
    /// The publisher it is of.
    fn from(&self) -> &str {
        match self {
            Gathered::Event(r) => &r.receipt.from,
            Gathered::Gap(g) => &g.from,
            Gathered::Incarnation(c) => &c.from,
        }
    }
}

/// What the log tells its owner, for the daemon's own log.
#[derive(Debug)]
pub(crate) enum LogNotice {
    /// Writing `path` failed (a full disk): gathering into files pauses
    /// until a new file can be written. Sent once per run of failures.
    Failing { path: PathBuf, error: io::Error },
    /// A new file could be written again; the events not written meanwhile
    /// are in it as gaps.
    Resumed { path: PathBuf, unwritten: u64 },
    /// A file was closed and is ready for compression.
    Closed { path: PathBuf },
    /// A file left open by a gatherer that died was closed with a
    /// `recovered` trailer.
    Recovered(Recovered),
    /// A closed file was compressed to `path`.
    Compressed { path: PathBuf },
    /// Compressing a closed file failed; it stays uncompressed.
    CompressFailed { path: PathBuf, error: io::Error },
    /// Retention removed an old file.
    Removed { path: PathBuf },
}

/// Where the log sends what it has to say.
#[derive(Debug, Clone)]
pub(crate) struct Outlets {
    /// Notices for the daemon's log.
    pub(crate) notices: Sender<LogNotice>,
    /// Closed files, for the compressor; `None` keeps them uncompressed.
    pub(crate) closed: Option<Sender<PathBuf>>,
}

struct Current {
    path: PathBuf,
    from: Timestamp,
    out: BufWriter<File>,
    bytes: u64,
}

/// Events not written while the disk failed, per publisher and incarnation.
#[derive(Debug, Default)]
struct Unwritten {
    count: u64,
    first: Option<u64>,
    last: Option<u64>,
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
    /// Set while writing fails: when to try again.
    retry_at: Option<Instant>,
    unwritten: BTreeMap<(String, String), Unwritten>,
    scratch: FlogWriter<Vec<u8>>,
    /// The latest start of any file: the next file starts after it, so that
    /// names stay unique and in order when the clock stands still (a size
    /// rotation storm) or steps back.
    latest: Timestamp,
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
            retry_at: None,
            unwritten: BTreeMap::new(),
            scratch: FlogWriter::append_to(Vec::new()),
            latest: Timestamp(i64::MIN),
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
        });
        Ok(())
    }

    /// Appends `item` (rotating first when due). While writing fails, the
    /// item is counted as not written, to appear as a gap later.
    pub(crate) fn append(&mut self, item: &Gathered) {
        self.tick();
        if self.current.is_none() {
            self.count_unwritten(item);
            return;
        }
        self.scratch.get_mut().clear();
        let encoded = match item {
            Gathered::Event(r) => self.scratch.write_received(&r.event, &r.receipt),
            Gathered::Gap(g) => self.scratch.write_gap(g),
            Gathered::Incarnation(c) => self.scratch.write_incarnation_change(c),
        };
        if encoded.is_err() {
            // Only a value CBOR cannot hold; nothing reached the file.
            self.count_unwritten(item);
            return;
        }
        let current = self.current.as_mut().expect("checked above");
        let bytes = self.scratch.get_mut();
        match current.out.write_all(bytes) {
            Ok(()) => {
                current.bytes += bytes.len() as u64;
                if let Gathered::Event(r) = item {
                    let inc = r.event.incarnation.to_string();
                    self.positions.store(&r.receipt.from, &inc, r.event.num);
                }
            }
            Err(error) => {
                self.count_unwritten(item);
                self.fail(error);
            }
        }
    }

    fn count_unwritten(&mut self, item: &Gathered) {
        let Gathered::Event(r) = item else {
            // Gaps and incarnation changes not written: the gap written on
            // resuming covers the events; a missed incarnation change shows
            // as the events' own new `inc`.
            return;
        };
        let key = (item.from().to_owned(), r.event.incarnation.to_string());
        let u = self.unwritten.entry(key).or_default();
        u.count += 1;
        let num = r.event.num;
        u.first = Some(u.first.map_or(num, |f| f.min(num)));
        u.last = Some(u.last.map_or(num, |l| l.max(num)));
    }

    /// Stops writing the current file: what it holds stays readable up to
    /// its last complete record; it is closed without a trailer (the write
    /// that failed may have left part of a record).
    fn fail(&mut self, error: io::Error) {
        if let Some(current) = self.current.take() {
            let path = current.path.clone();
            let _ = self.notices.send(LogNotice::Failing {
                path: path.clone(),
                error,
            });
            drop(current.out);
            let to = self.clock.now().max(current.from);
            let closed = self.dir.join(closed_name(current.from, to));
            if fs::rename(&path, &closed).is_ok() {
                let _ = flog_core::fs::sync_parent(&closed);
                self.closed(closed);
            }
        }
        self.retry_at = Some(Instant::now() + RETRY);
    }

    /// Rotates when due and, after a failure, tries again to write.
    pub(crate) fn tick(&mut self) {
        if let Some(at) = self.retry_at {
            if Instant::now() >= at {
                self.resume();
            }
            return;
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
            self.retry_at = Some(Instant::now() + RETRY);
            // One notice per run of failures: the first was sent by `fail`.
            drop(error);
            return;
        }
        let now = self.clock.now();
        let unwritten = std::mem::take(&mut self.unwritten);
        let total = unwritten.values().map(|u| u.count).sum();
        for ((from, incarnation), u) in unwritten {
            let gap = Gap {
                from,
                incarnation,
                count: u.count,
                first: u.first,
                last: u.last,
                reason: GapReason::NotWritten,
                rx_time: now,
            };
            self.append(&Gathered::Gap(gap));
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
        if let Some(current) = &mut self.current {
            if let Err(error) = current.out.flush() {
                self.fail(error);
            }
        }
    }

    /// Closes the current file (`end`: `rotated` or `shutdown`) and, for a
    /// rotation, opens the next.
    fn close(&mut self, end: EndReason) -> io::Result<()> {
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
        self.scratch.write_trailer(&trailer)?;
        current.out.write_all(self.scratch.get_mut())?;
        current.out.flush()?;
        current.out.get_ref().sync_all()?;
        let closed = self.dir.join(closed_name(current.from, to));
        fs::rename(&current.path, &closed)?;
        flog_core::fs::sync_parent(&closed)?;
        self.positions.save(&self.dir)?;
        self.closed(closed);
        Ok(())
    }

    /// Closes the current file and opens the next.
    pub(crate) fn rotate(&mut self) {
        if self.current.is_none() {
            return;
        }
        let path = self.current_path().map(Path::to_owned).unwrap_or_default();
        if let Err(error) = self.close(EndReason::Rotated) {
            // The file is as it was up to the failed write; it is renamed
            // closed when writing resumes... or by the next start.
            let _ = self.notices.send(LogNotice::Failing { path, error });
            self.retry_at = Some(Instant::now() + RETRY);
            return;
        }
        if let Err(error) = self.open_current() {
            let path = self.dir.clone();
            let _ = self.notices.send(LogNotice::Failing { path, error });
            self.retry_at = Some(Instant::now() + RETRY);
        }
    }

    /// Closes the current file for good.
    pub(crate) fn shutdown(mut self) -> io::Result<()> {
        self.close(EndReason::Shutdown)?;
        self.positions.save(&self.dir)
    }
}

#[cfg(test)]
mod tests;
