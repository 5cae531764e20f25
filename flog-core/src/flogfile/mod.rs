//! The flogfile format: a magic line, then CBOR records (see `docs/flogfile.md`).

mod bounded;
mod gathered;
mod reader;
mod record;
mod writer;

pub use gathered::{Gap, GapReason, IncarnationChange, Receipt, ReceivedEvent};
pub use reader::{
    file_kind, identify, read_flogfile, read_trigger, FileKind, FlogContents, FlogReader,
    ReadError, MAX_RECORD_BYTES, MAX_RECORD_DEPTH,
};
pub use record::{Header, Record, Trailer, HEADER_GATHERED, HEADER_INCIDENT, HEADER_TAIL};
pub use writer::FlogWriter;

/// The first line of every flogfile (before compression).
pub const MAGIC: &[u8] = b"# flog flogfile v1\n";
