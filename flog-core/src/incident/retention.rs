use std::fs;
use std::io;
use std::path::Path;

use crate::flogfile::{FINISHED_SUFFIX, INCIDENT_PREFIX};

/// Deletes the oldest finished incidents until at most `max_files` remain and they
/// take at most `max_bytes`. The newest is always kept, however large.
pub(crate) fn enforce(dir: &Path, max_files: usize, max_bytes: u64) -> io::Result<()> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with(INCIDENT_PREFIX) && name.ends_with(FINISHED_SUFFIX) {
            match entry.metadata() {
                Ok(meta) => files.push((name.to_owned(), meta.len())),
                // Deleted since it was listed (by a person, or another logger
                // sharing the directory): nothing to keep or delete.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
    }
    // Names sort by time, so the front holds the oldest.
    files.sort();
    let mut total: u64 = files.iter().map(|(_, size)| size).sum();
    let mut count = files.len();
    for (name, size) in &files {
        if count <= 1 || (count <= max_files && total <= max_bytes) {
            break;
        }
        match fs::remove_file(dir.join(name)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        count -= 1;
        total -= size;
    }
    Ok(())
}
