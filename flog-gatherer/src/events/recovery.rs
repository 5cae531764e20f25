//! Closing a file that a gatherer which died (SIGKILL, power loss) left
//! `---to-present`: it gets a trailer saying so and its closed name.
//!
//! Nothing complete is rewritten. The one change to bytes already written
//! is that a record the death cut in half is cut off (the file is truncated
//! to the end of its last complete record): a trailer appended after half a
//! record could not be read, nor anything after it. Then a `recovered`
//! trailer, counting the events the file holds, is appended and synced,
//! and only then is the file renamed closed. A death during recovery
//! leaves a `---to-present` file that the next start recovers the same way
//! (a file whose last complete record is already a trailer is only
//! renamed), so no file ever gets two trailers.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use flog_core::{
    flogfile::{EndReason, FlogWriter, Trailer},
    Timestamp,
};

use super::names::closed_name;
use super::positions::{Positions, Scanned};

/// A file a dead gatherer left open, closed.
#[derive(Debug)]
pub(crate) struct Recovered {
    /// Its closed name.
    pub(crate) path: PathBuf,
    /// A cut record was cut off its end.
    pub(crate) truncated: bool,
    /// The events it holds, counted into its trailer; `None` when it got
    /// no trailer (see `unfinished`, or it was not a readable flogfile) and
    /// was renamed as it was.
    pub(crate) events: Option<u64>,
    /// Why no trailer could be appended (a full disk): readers still read
    /// it to its last complete record.
    pub(crate) unfinished: Option<io::Error>,
}

/// Closes `path`, opened at `from` in `dir`, adding what it holds to
/// `positions`. Its end time is its last write.
pub(crate) fn close_left(
    dir: &Path,
    from: Timestamp,
    path: &Path,
    positions: &mut Positions,
) -> io::Result<Recovered> {
    let to = modified(path).unwrap_or(from).max(from);
    let (mut truncated, mut events, mut unfinished) = (false, None, None);
    // Not a flogfile (`Err`): the death came before its header was out.
    if let Ok(scanned) = positions.scan(path) {
        match finish(path, &scanned, to) {
            Ok((cut, counted)) => (truncated, events) = (cut, counted),
            Err(error) => unfinished = Some(error),
        }
    }
    let closed = dir.join(closed_name(from, to));
    fs::rename(path, &closed)?;
    flog_core::fs::sync_parent(&closed)?;
    Ok(Recovered {
        path: closed,
        truncated,
        events,
        unfinished,
    })
}

/// Cuts off a cut record and appends the `recovered` trailer; returns
/// whether it cut and the events counted.
fn finish(path: &Path, scanned: &Scanned, to: Timestamp) -> io::Result<(bool, Option<u64>)> {
    let truncated = match &scanned.damage {
        None => false,
        Some(e) if e.is_truncated() => true,
        // Damage inside the file is not what a death leaves: nothing is
        // cut, and a trailer after it would not be read, so none is added.
        Some(_) => return Ok((false, None)),
    };
    let file = OpenOptions::new().append(true).open(path)?;
    if truncated {
        file.set_len(scanned.complete_bytes)?;
    }
    if !scanned.trailer {
        let trailer = Trailer {
            end: Some(EndReason::Recovered),
            recovered: true,
            truncated,
            finished: Some(to),
            events: Some(scanned.events),
            ..Trailer::default()
        };
        let mut bytes = FlogWriter::append_to(Vec::new());
        bytes.write_trailer(&trailer)?;
        (&file).write_all(&bytes.into_inner()?)?;
    }
    file.sync_all()?;
    Ok((truncated, Some(scanned.events)))
}

/// When `path` was last written.
fn modified(path: &Path) -> Option<Timestamp> {
    let t = fs::metadata(path).and_then(|m| m.modified()).ok()?;
    let since = t.duration_since(std::time::UNIX_EPOCH).ok()?;
    Some(Timestamp(i64::try_from(since.as_micros()).ok()?))
}
