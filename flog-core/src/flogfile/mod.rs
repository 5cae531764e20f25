//! The flogfile format and the files of a log directory (see `docs/flogfile.md`).
//!
//! Everything a program needs to read or write what flog puts on disk: the
//! records ([`Header`], [`Record`], [`Trailer`], with [`HeaderKind`] and
//! [`EndReason`]), the one encoder
//! ([`FlogWriter`]) and the bounded readers ([`FlogReader`],
//! [`read_flogfile`], [`read_trigger`]), what a file that is not a flogfile
//! is ([`file_kind`], [`identify`]), and the names of the files in a log
//! directory ([`incident_name`], [`FINISHED_SUFFIX`], [`OWNER_FILE`], ...).
//! A service that only logs needs none of it.
//!
//! ```
//! use flog_core::flogfile::{read_flogfile, FlogWriter, Header, HeaderKind};
//! use flog_core::{Event, Level, Text};
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("saved.flog");
//! let header = Header { kind: HeaderKind::Tail.into(), ..Header::default() };
//! let mut out = FlogWriter::new(std::fs::File::create(&path)?, &header)?;
//! let event = Event {
//!     level: Level::WEIRD,
//!     text: Text::Message("disk nearly full".into()),
//!     ..Event::default()
//! };
//! out.write_event(&event)?;
//! out.into_inner()?.sync_all()?;
//!
//! let contents = read_flogfile(&path)?;
//! assert_eq!(contents.header.unwrap().kind, Some(HeaderKind::Tail));
//! assert_eq!(contents.events[0].render(), "disk nearly full");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod bounded;
mod encode;
mod gathered;
mod kinds;
mod names;
mod owner;
mod parts;
mod reader;
mod record;
mod ringfile;
mod writer;

pub use gathered::{Gap, GapReason, IncarnationChange, Receipt, ReceivedEvent};
pub use kinds::{EndReason, HeaderKind};
pub(crate) use names::NameGen;
pub use names::{
    incident_name, parse_incident_name, FINISHED_SUFFIX, INCIDENT_PREFIX, RECORDING_SUFFIX,
};
pub use owner::{LogdirOwner, OWNER_FILE};
pub use reader::{
    file_kind, identify, read_flogfile, read_trigger, FileKind, FlogContents, FlogReader,
    ReadError, MAX_RECORD_BYTES, MAX_RECORD_DEPTH,
};
pub use record::{Header, Record, Trailer};
pub use ringfile::{RingEvents, RingMeta, RING_FILE, UNREADABLE_RING_FILE};
pub use writer::FlogWriter;

pub use crate::mapped::{
    peek_ring_file, read_ring_file, read_ring_words, MappedSegment, RingContents, RingError,
    RingState, RingWarning, SlotRecord, MAX_RING_FILE,
};

pub use encode::MAX_VALUE_BYTES;
pub(crate) use encode::{event_record, record_num, Limits};
pub(crate) use parts::{
    encode_text, encode_uint, encode_value, item_end, item_head, record_from_parts, Middle,
    RecordParts,
};

/// The first line of every flogfile (before compression).
pub const MAGIC: &[u8] = b"# flog flogfile v1\n";
