//! Recording one incident: the dump of the buffers, written before the
//! logging call returns, then a reporter thread for the rest.

use std::fs::{self, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::thread::JoinHandle;

use super::error::IncidentError;
use super::reporter::{self, Job, Recording};
use crate::buffer::Buffers;
use crate::event::Event;
use crate::flogfile::RECORDING_SUFFIX;
use crate::flogfile::{FlogWriter, Header};

/// Writes the dump of `job`'s incident and starts its reporter thread.
///
/// On an error nothing is left behind but, when only the thread could not be
/// started, a `.flog` complete up to the trigger, which the next start
/// recovers. The caller then ends the incident's capture.
pub(crate) fn start(
    job: Job,
    header: &Header,
    buffers: &Buffers,
) -> Result<JoinHandle<()>, IncidentError> {
    let path = job.dir.join(format!("{}{RECORDING_SUFFIX}", job.name));
    let rec = match write_dump(&job.dir, &path, header, buffers, &job.trigger) {
        Ok(rec) => {
            // The dump is in the OS's hands: the crash ring leaves its
            // events out of a crash report.
            if let (Some(ring), Some(&last)) = (&job.ring, rec.dumped.last()) {
                ring.mark_recorded(last);
            }
            rec
        }
        Err(source) => {
            let _ = fs::remove_file(&path);
            return Err(IncidentError::Write { path, source });
        }
    };
    std::thread::Builder::new()
        .name("flog-incident-reporter".into())
        .spawn(move || reporter::run(job, rec))
        .map_err(|source| IncidentError::Finish { path, source })
}

/// How much of a dump is written at a time.
const DUMP_CHUNK: usize = 256 * 1024;

/// Writes header and buffered events, and hands the data to the operating system
/// before returning, so the report survives the process dying right after.
fn write_dump(
    dir: &Path,
    path: &Path,
    header: &Header,
    buffers: &Buffers,
    trigger: &Event,
) -> io::Result<Recording> {
    // The buffers hold encoded records: the dump copies them (and expands
    // the compact ones).
    let mut snapshot = buffers.snapshot_encoded();
    // The trigger can only be missing if other threads flooded its buffer
    // between its push and now; it must be in its own report regardless.
    if !snapshot.contains(trigger.num) {
        snapshot.insert(trigger);
    }
    // Recreate a logdir deleted under us rather than lose the incident.
    fs::create_dir_all(dir)?;
    let mut file = OpenOptions::new().write(true).create_new(true).open(path)?;
    // Written in chunks of one reused buffer: a buffer for the whole dump
    // (megabytes, fresh from the system each time) cost more in page
    // faults than the writes. A process that dies in between leaves a
    // report cut short, which the next start recovers.
    // The snapshot and this buffer are the last dump's, given back below.
    let mut out = buffers.dump_buffer(DUMP_CHUNK + 16 * 1024);
    FlogWriter::new(&mut out, header)?;
    buffers.write_records(&snapshot, &mut out, DUMP_CHUNK, |chunk| {
        file.write_all(chunk)
    })?;
    file.write_all(&out)?;
    let dumped = snapshot.nums();
    buffers.recycle(snapshot, out);
    Ok(Recording {
        writer: FlogWriter::append_to(BufWriter::with_capacity(64 * 1024, file)),
        dumped,
    })
}
