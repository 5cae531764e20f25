//! The flogfile format: a magic line, then CBOR records (see `docs/flogfile.md`).

mod reader;
mod record;
mod writer;

pub use reader::{
    file_kind, identify, read_flogfile, FileKind, FlogContents, FlogReader, ReadError,
};
pub use record::{Header, Record, Trailer, HEADER_GATHERED, HEADER_INCIDENT, HEADER_TAIL};
pub use writer::FlogWriter;

/// The first line of every flogfile (before compression).
pub const MAGIC: &[u8] = b"# flog flogfile v1\n";
