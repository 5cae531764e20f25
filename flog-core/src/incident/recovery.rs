use std::fs;
use std::io;
use std::path::Path;

use super::error::{IncidentError, RecoverError};
use crate::flogfile::{
    EndReason, FlogContents, FlogReader, FlogWriter, Header, HeaderKind, ReadError, Trailer,
};
use crate::flogfile::{FINISHED_SUFFIX, INCIDENT_PREFIX, RECORDING_SUFFIX};
use crate::fs::{is_temp_name, write_bzip2_atomically};

/// Finishes the reports a process left behind when it died while recording:
/// each `NAME.flog` without a `NAME.flog.bz2` becomes an ordinary incident, marked
/// as recovered. Also removes temporary files of interrupted writes. Returns
/// problems with single files, which do not stop the others.
///
/// Only for a directory whose writers are gone: the caller holds its lock.
pub(crate) fn recover_orphans(dir: &Path) -> io::Result<Vec<IncidentError>> {
    let mut problems = Vec::new();
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name();
        let Some(name) = name.to_str() else { continue };
        let path = dir.join(name);
        if is_temp_name(name) {
            let _ = fs::remove_file(&path);
            continue;
        }
        let Some(stem) = name.strip_suffix(RECORDING_SUFFIX) else {
            continue;
        };
        if !stem.starts_with(INCIDENT_PREFIX) {
            continue;
        }
        let finished = dir.join(format!("{stem}{FINISHED_SUFFIX}"));
        if finished.exists() {
            // Died between the rename and the removal: the report is complete.
            let _ = fs::remove_file(&path);
            continue;
        }
        if let Err(source) = recover_one(stem, &path, &finished) {
            problems.push(IncidentError::Recover { path, source });
        }
    }
    Ok(problems)
}

fn recover_one(stem: &str, path: &Path, finished: &Path) -> Result<(), RecoverError> {
    let contents = match FlogReader::open(path) {
        Ok(reader) => FlogContents::read_from(reader),
        // Died before the magic line was out: nothing was recorded.
        Err(ReadError::NotFlogfile { .. }) if fs::metadata(path).is_ok_and(|m| m.len() < 64) => {
            fs::remove_file(path).map_err(|source| RecoverError::Remove { source })?;
            return Ok(());
        }
        Err(e) => {
            // Keep the bytes for a person to look at, out of the way of the next start.
            let _ = fs::rename(path, path.with_extension("flog.unreadable"));
            return Err(RecoverError::Unreadable { source: e });
        }
    };
    let header = contents.header.unwrap_or_else(|| Header {
        kind: Some(HeaderKind::Incident),
        name: Some(stem.to_owned()),
        ..Header::default()
    });
    let mut trailer = contents.trailer.unwrap_or_else(|| {
        let trigger = header.trigger.as_ref().map(|t| t.num);
        Trailer {
            triggers: trigger.into_iter().collect(),
            // What the reporter would have counted: the events numbered
            // after the trigger, in the dump or appended after it.
            trailing_events: trigger.map_or(0, |t| {
                contents.events.iter().filter(|e| e.num > t).count() as u64
            }),
            end: Some(EndReason::Recovered),
            ..Trailer::default()
        }
    });
    trailer.recovered = true;
    trailer.truncated = contents.damage.is_some();
    write_bzip2_atomically(finished, bzip2::Compression::default(), |enc| {
        let mut w = FlogWriter::new(enc, &header)?;
        for event in &contents.events {
            w.write_event(event)?;
        }
        w.write_trailer(&trailer)?;
        w.into_inner()?;
        Ok(())
    })
    .map_err(|source| RecoverError::Write { source })?;
    fs::remove_file(path).map_err(|source| RecoverError::Remove { source })
}
