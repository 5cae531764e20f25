//! The owner record of a log directory: which logger holds it, for people
//! and for the next owner (who can tell whether the last one ended cleanly).
//!
//! Exclusion is the lock on the directory (`fs::DirLock`), never this file:
//! its content is a hint, written after the lock is taken.

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use crate::fs::write_file_atomically;
use crate::incarnation::Incarnation;
use crate::time::Timestamp;

/// The file in a logdir naming its owner.
pub const OWNER_FILE: &str = "owner";

/// Longest owner record read: anything longer is not one of ours.
const MAX_RECORD: u64 = 4096;

/// What the owner of a log directory wrote about itself in [`OWNER_FILE`].
///
/// ```text
/// # flog logdir owner (the lock is flock(2) on the directory, not this file)
/// pid 4242
/// incarnation 0123456789abcdef:3
/// host web-1
/// started 2026-11-27T12:00:00.000000Z
/// released 2026-11-27T12:30:00.000000Z
/// ```
///
/// `released` is written when the owner lets go of the directory in an
/// orderly way (its logger dropped); an owner record without it, in a
/// directory nobody holds, was left by a process that died, or that exited
/// without dropping its logger (the process-wide one is never dropped).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogdirOwner {
    /// Process id.
    pub pid: Option<u32>,
    /// The logger's incarnation (as in incident headers).
    pub incarnation: Option<Incarnation>,
    /// Host name.
    pub host: Option<String>,
    /// When it took the directory.
    pub started: Option<Timestamp>,
    /// When it let go of it, if it did so in an orderly way.
    pub released: Option<Timestamp>,
}

impl fmt::Display for LogdirOwner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(pid) = self.pid {
            parts.push(format!("pid {pid}"));
        }
        if let Some(host) = &self.host {
            parts.push(format!("on {host}"));
        }
        if let Some(started) = self.started {
            parts.push(format!("since {started}"));
        }
        if let Some(released) = self.released {
            parts.push(format!("released {released}"));
        }
        f.write_str(&parts.join(" "))
    }
}

impl LogdirOwner {
    /// Reads the owner record of `logdir`; `None` when there is none or it is
    /// not readable as one (torn by a crash, written by someone else).
    pub fn read(logdir: &Path) -> io::Result<Option<LogdirOwner>> {
        let file = match File::open(logdir.join(OWNER_FILE)) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut bytes = Vec::new();
        file.take(MAX_RECORD + 1).read_to_end(&mut bytes)?;
        if bytes.len() as u64 > MAX_RECORD {
            return Ok(None);
        }
        Ok(LogdirOwner::parse(&String::from_utf8_lossy(&bytes)))
    }

    fn parse(text: &str) -> Option<LogdirOwner> {
        let mut owner = LogdirOwner::default();
        let mut any = false;
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let Some((key, value)) = line.split_once(' ') else {
                continue;
            };
            any = true;
            match key {
                "pid" => owner.pid = value.parse().ok(),
                "incarnation" => owner.incarnation = value.parse().ok(),
                "host" => owner.host = Some(value.to_owned()),
                "started" => owner.started = Timestamp::parse(value),
                "released" => owner.released = Timestamp::parse(value),
                // Keys of later versions.
                _ => {}
            }
        }
        any.then_some(owner)
    }

    fn render(&self) -> String {
        let mut out = String::from(
            "# flog logdir owner (the lock is flock(2) on the directory, not this file)\n",
        );
        let mut line = |key: &str, value: Option<String>| {
            if let Some(value) = value {
                // One line per key, whatever the value holds.
                out.push_str(&format!("{key} {}\n", value.replace(['\n', '\r'], " ")));
            }
        };
        line("pid", self.pid.map(|p| p.to_string()));
        line("incarnation", self.incarnation.map(|i| i.to_string()));
        line("host", self.host.clone());
        line("started", self.started.map(|t| t.to_string()));
        line("released", self.released.map(|t| t.to_string()));
        out
    }

    /// Writes the record into `logdir`, atomically. Only the lock holder does.
    pub(crate) fn write(&self, logdir: &Path) -> io::Result<()> {
        write_file_atomically(&logdir.join(OWNER_FILE), self.render().as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_record_reads_back_and_junk_is_no_owner() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(LogdirOwner::read(dir.path()).unwrap(), None);
        let owner = LogdirOwner {
            pid: Some(42),
            incarnation: "0123456789abcdef:3".parse().ok(),
            host: Some("web\n1".into()),
            started: Timestamp::parse("2026-11-27T12:00:00Z"),
            released: None,
        };
        owner.write(dir.path()).unwrap();
        let back = LogdirOwner::read(dir.path()).unwrap().unwrap();
        assert_eq!(back.host.as_deref(), Some("web 1"));
        assert_eq!(back.pid, Some(42));
        assert_eq!(
            back.incarnation.map(|i| i.to_string()).as_deref(),
            Some("0123456789abcdef:3")
        );
        assert_eq!(back.started, owner.started);
        assert_eq!(
            back.to_string(),
            "pid 42 on web 1 since 2026-11-27T12:00:00.000000Z"
        );
        std::fs::write(dir.path().join(OWNER_FILE), vec![b'x'; 5000]).unwrap();
        assert_eq!(LogdirOwner::read(dir.path()).unwrap(), None);
        std::fs::write(dir.path().join(OWNER_FILE), b"").unwrap();
        assert_eq!(LogdirOwner::read(dir.path()).unwrap(), None);
    }
}
