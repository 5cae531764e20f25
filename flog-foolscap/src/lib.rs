//! Foolscap flogfile interop: read foolscap's JSON flogfiles (`# foolscap
//! flogfile v1`, plain or bzip2) as flog events, and write flog events as files
//! foolscap's own `flogtool dump` reads. The mapping is in `docs/flogfile.md`.
//!
//! ```
//! use flog_core::{Event, Level, Text};
//!
//! let event = Event { num: 3, level: Level::WEIRD, text: Text::Format("{n} apples".into()),
//!                     fields: [("n".into(), 4.into())].into_iter().collect(), ..Event::default() };
//! let mut file = Vec::new();
//! flog_foolscap::write(&mut file, None, [&event])?;
//! assert!(file.starts_with(flog_foolscap::MAGIC));
//! let back = flog_foolscap::read(std::io::Cursor::new(file))?;
//! assert_eq!(back.events[0].render(), "4 apples");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

mod convert;
mod printf;
mod reader;

use std::io::{self, Read, Write};
use std::path::Path;

pub use crate::convert::{
    event_from_foolscap, event_to_foolscap, header_from_foolscap, header_to_foolscap,
};
pub use crate::reader::{FoolscapReader, FoolscapRecord, Wrapped, MAX_LINE_BYTES};
use flog_core::{
    flogfile::{FlogContents, Header, Receipt},
    Event,
};
use serde_json::json;

/// The first line of a foolscap JSON flogfile.
pub const MAGIC: &[u8] = b"# foolscap flogfile v1\n";

/// Why a foolscap file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FoolscapError {
    /// Reading failed.
    #[error("read failed: {0}")]
    Io(#[from] io::Error),
    /// An old pickle-based foolscap flogfile: unpickling runs arbitrary code,
    /// so it is not read. (foolscap itself refuses them too.)
    #[error("an old pickle-based foolscap flogfile, which cannot be read safely; convert it with an old foolscap's `flogtool` first")]
    Pickle,
    /// A FURL file, not a log.
    #[error("a foolscap FURL file (e.g. logport.furl), not a log file")]
    Furl,
    /// Something else.
    #[error("not a foolscap flogfile: {0}")]
    NotFoolscap(String),
}

/// Whether the first bytes (decompressed) are a foolscap JSON flogfile.
pub fn is_foolscap(start: &[u8]) -> bool {
    start.starts_with(b"# foolscap flogfile")
}

/// Reads a foolscap JSON flogfile, plain or bzip2. A bad line stops reading:
/// the events before it are returned with `damage` set (truncated when it is
/// the unterminated last line or a cut compressed stream, corrupt otherwise).
/// [`FoolscapReader`] reads record by record, with each event's receipt.
pub fn read<'a>(input: impl Read + 'a) -> Result<FlogContents, FoolscapError> {
    let mut reader = FoolscapReader::new(input)?;
    let mut contents = FlogContents::default();
    loop {
        match reader.next_record() {
            Ok(Some(FoolscapRecord::Event(wrapped))) => contents.events.push(wrapped.event),
            Ok(Some(FoolscapRecord::Header(header))) => {
                if contents.header.is_none() {
                    contents.header = Some(*header);
                }
            }
            Ok(Some(FoolscapRecord::Unknown)) => contents.unknown_records += 1,
            Ok(None) => break,
            Err(damage) => {
                contents.damage = Some(damage);
                break;
            }
        }
    }
    Ok(contents)
}

/// Reads a foolscap flogfile from a path.
pub fn read_file(path: &Path) -> Result<FlogContents, FoolscapError> {
    read(std::fs::File::open(path)?)
}

/// Writes a foolscap JSON flogfile: the magic line, the header (when given) and
/// one `{"from", "rx_time", "d"}` wrapper per event.
pub fn write<'a>(
    out: impl Write,
    header: Option<&Header>,
    events: impl IntoIterator<Item = &'a Event>,
) -> io::Result<()> {
    write_received(out, header, events.into_iter().map(|e| (e, None)))
}

/// [`write()`] for events of which some came with a gatherer's [`Receipt`]:
/// its `from` and `rx_time` become the wrapper's. Events without one are
/// wrapped as from `flog-INCARNATION`, received when they were emitted.
pub fn write_received<'a>(
    mut out: impl Write,
    header: Option<&Header>,
    events: impl IntoIterator<Item = (&'a Event, Option<&'a Receipt>)>,
) -> io::Result<()> {
    out.write_all(MAGIC)?;
    if let Some(h) = header {
        serde_json::to_writer(&mut out, &json!({"header": header_to_foolscap(h)}))?;
        out.write_all(b"\n")?;
    }
    for (e, receipt) in events {
        let (from, rx_time) = match receipt {
            Some(r) => (r.from.clone(), r.rx_time),
            None => (format!("flog-{}", e.incarnation.hex()), e.time),
        };
        let wrapper = json!({
            "from": from,
            "rx_time": rx_time.as_micros() as f64 / 1e6,
            "d": event_to_foolscap(e),
        });
        serde_json::to_writer(&mut out, &wrapper)?;
        out.write_all(b"\n")?;
    }
    out.flush()
}
