use std::io::{self, Write};

use super::encode::{event_record, Limits};
use super::gathered::{Gap, IncarnationChange, Receipt};
use super::record::{Header, ReceivedRef, RecordRef, Trailer};
use super::MAGIC;
use crate::event::Event;

/// Writes a flogfile: the one encoder of the format, shared by the incident
/// reporter, recovery, and every tool that writes files.
#[derive(Debug)]
pub struct FlogWriter<W: Write> {
    out: W,
}

fn cbor_error(e: ciborium::ser::Error<io::Error>) -> io::Error {
    match e {
        ciborium::ser::Error::Io(e) => e,
        ciborium::ser::Error::Value(msg) => io::Error::new(io::ErrorKind::InvalidData, msg),
    }
}

impl<W: Write> FlogWriter<W> {
    /// Starts a file with the magic line and `header`.
    pub fn new(out: W, header: &Header) -> io::Result<FlogWriter<W>> {
        let mut w = FlogWriter::without_header(out)?;
        w.write(&RecordRef("header", header))?;
        Ok(w)
    }

    /// Starts a file with the magic line and no header.
    pub fn without_header(mut out: W) -> io::Result<FlogWriter<W>> {
        out.write_all(MAGIC)?;
        Ok(FlogWriter { out })
    }

    /// Continues a file that already holds the magic line (and maybe records).
    pub fn append_to(out: W) -> FlogWriter<W> {
        FlogWriter { out }
    }

    fn write<T: serde::Serialize>(&mut self, record: &T) -> io::Result<()> {
        ciborium::into_writer(record, &mut self.out).map_err(cbor_error)
    }

    /// Appends an event.
    pub fn write_event(&mut self, event: &Event) -> io::Result<()> {
        let mut record = Vec::with_capacity(256);
        // Without limits the encoding always completes.
        let _ = event_record(event, &Limits::NONE, &mut record);
        self.out.write_all(&record)
    }

    /// Appends an event with the receipt a gatherer gives it.
    pub fn write_received(&mut self, event: &Event, receipt: &Receipt) -> io::Result<()> {
        self.write(&ReceivedRef(event, receipt))
    }

    /// Appends a gap record.
    pub fn write_gap(&mut self, gap: &Gap) -> io::Result<()> {
        self.write(&RecordRef("gap", gap))
    }

    /// Appends an incarnation-change record.
    pub fn write_incarnation_change(&mut self, change: &IncarnationChange) -> io::Result<()> {
        self.write(&RecordRef("incarnation", change))
    }

    /// Appends the trailer.
    pub fn write_trailer(&mut self, trailer: &Trailer) -> io::Result<()> {
        self.write(&RecordRef("trailer", trailer))
    }

    /// Flushes buffered bytes to the underlying writer.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// The underlying writer.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.out
    }

    /// Flushes and returns the underlying writer.
    pub fn into_inner(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}
