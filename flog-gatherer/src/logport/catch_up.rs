//! A subscription's catch-up: the events of the current events file up to
//! the seam the subscription registered at, read on a blocking thread and
//! handed over a small channel, so that memory is a few events whatever the
//! file's size, and the pace is the client's.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use flog_core::flogfile::{FlogReader, ReadError, Record};
use tokio::sync::mpsc;

use crate::events::{parse_name, EventFileName, Relayed, Seam};

/// Events read ahead of the client.
const READ_AHEAD: usize = 256;

/// What the catch-up yields.
#[derive(Debug)]
pub(super) enum CatchUp {
    /// A gathered event.
    Event(Relayed),
    /// The file could not be read (further); the live events follow.
    Unreadable(String),
}

/// The catch-up's events, as they are read.
#[derive(Debug)]
pub(super) struct CatchUpEvents(mpsc::Receiver<CatchUp>);

impl CatchUpEvents {
    /// The next one; `None` at the seam.
    pub(super) async fn next(&mut self) -> Option<CatchUp> {
        self.0.recv().await
    }
}

/// Starts reading the file of `seam` up to its length. Dropping the
/// result stops the reading.
pub(super) fn start(seam: Seam) -> CatchUpEvents {
    let (tx, rx) = mpsc::channel(READ_AHEAD);
    tokio::task::spawn_blocking(move || {
        if let Err(why) = read(&seam, &tx) {
            let _ = tx.blocking_send(CatchUp::Unreadable(why));
        }
    });
    CatchUpEvents(rx)
}

fn read(seam: &Seam, tx: &mpsc::Sender<CatchUp>) -> Result<(), String> {
    let shown = seam.path.display();
    let file = open(&seam.path).map_err(|e| format!("cannot open {shown}: {e}"))?;
    let mut reader = FlogReader::new(file.take(seam.len)).map_err(|e| format!("{shown}: {e}"))?;
    loop {
        match reader.next_record() {
            Ok(Some(Record::Received(received))) => {
                if tx
                    .blocking_send(CatchUp::Event(Relayed::of(&received)))
                    .is_err()
                {
                    return Ok(());
                }
            }
            Ok(Some(_)) => {}
            Ok(None) => return Ok(()),
            // A record cut by a failed write (a full disk) ends the file.
            Err(ReadError::Truncated { .. }) => return Ok(()),
            Err(e) => return Err(format!("{shown}: {e}")),
        }
    }
}

/// The file the seam names, or, if it was rotated since (renamed
/// `---to-<T2>`), the same file under its closed name, not yet compressed.
fn open(path: &Path) -> io::Result<File> {
    match File::open(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let renamed = closed_twin(path).ok_or(e)?;
            File::open(renamed)
        }
        other => other,
    }
}

fn closed_twin(path: &Path) -> Option<PathBuf> {
    let name = path.file_name()?.to_str()?;
    let Some(EventFileName::Present { from }) = parse_name(name) else {
        return None;
    };
    let dir = path.parent()?;
    std::fs::read_dir(dir).ok()?.flatten().find_map(|entry| {
        let name = entry.file_name();
        match parse_name(name.to_str()?)? {
            EventFileName::Closed {
                from: f,
                compressed: false,
                ..
            } if f == from => Some(entry.path()),
            _ => None,
        }
    })
}
