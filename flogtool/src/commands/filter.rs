//! `flogtool filter IN OUT`: the events of a flogfile that pass the filters, in a
//! new flogfile.

use std::io::{self, Write};
use std::path::PathBuf;

use anyhow::anyhow;
use clap::Args;
use flog_core::{FlogReader, FlogWriter, ReadError, Record};

use crate::filter::EventFilter;
use crate::flogfiles::{self, Damage};

#[derive(Debug, Args)]
pub(crate) struct FilterArgs {
    /// The flogfile to read (.flog or .flog.bz2).
    #[arg(value_name = "IN")]
    input: PathBuf,

    /// The flogfile to write, bzip2-compressed when the name ends in .bz2. It is
    /// replaced atomically, so OUT may be IN.
    #[arg(value_name = "OUT")]
    output: PathBuf,

    #[command(flatten)]
    filter: EventFilter,
}

/// Copies header, passing events and trailer, streaming: the file is never held
/// in memory. A damaged input is salvaged: what was read before the damage is
/// written, with a warning (truncated) or an error (corrupt) after.
pub(crate) fn run(args: &FilterArgs) -> anyhow::Result<()> {
    let (mut reader, mut damage) = flogfiles::open(&args.input)?;
    let mut header = None;
    let mut first = None;
    if let Some(reader) = reader.as_mut() {
        match reader.next_record() {
            Ok(Some(Record::Header(h))) => header = Some(*h),
            Ok(record) => first = record,
            Err(e) => damage = Some(e),
        }
    }
    let (kept, total) = flogfiles::write_atomically(&args.output, header.as_ref(), |out| {
        let mut copy = Copy {
            filter: &args.filter,
            kept: 0,
            total: 0,
        };
        if let Some(record) = first {
            copy.record(out, record)?;
        }
        if let Some(reader) = reader {
            damage = copy.rest(out, reader)?;
        }
        Ok((copy.kept, copy.total))
    })?;
    println!("{}: kept {kept} of {total} events", args.output.display());
    match damage.map(Damage::classify) {
        None => Ok(()),
        Some(Damage::Truncated(error)) => {
            eprintln!(
                "flogtool: warning: {}: {error}; every complete record was copied",
                args.input.display()
            );
            Ok(())
        }
        Some(Damage::Broken(error)) => Err(anyhow!(
            "{}: {error}; the records before the damage were copied",
            args.input.display()
        )),
    }
}

struct Copy<'a> {
    filter: &'a EventFilter,
    kept: u64,
    total: u64,
}

impl Copy<'_> {
    fn record(&mut self, out: &mut FlogWriter<&mut dyn Write>, record: Record) -> io::Result<()> {
        match record {
            Record::Event(event) => {
                self.total += 1;
                if self.filter.matches(&event) {
                    self.kept += 1;
                    out.write_event(&event)?;
                }
            }
            // Kept: it names every trigger, which `dump` marks.
            Record::Trailer(trailer) => out.write_trailer(&trailer)?,
            // A second header is invalid and unknown records cannot be written
            // back (the reader keeps only their type): both are dropped.
            Record::Header(_) | Record::Unknown(_) => {}
        }
        Ok(())
    }

    /// Copies the remaining records; returns the damage that stopped reading.
    fn rest(
        &mut self,
        out: &mut FlogWriter<&mut dyn Write>,
        mut reader: FlogReader,
    ) -> io::Result<Option<ReadError>> {
        loop {
            match reader.next_record() {
                Ok(Some(record)) => self.record(out, record)?,
                Ok(None) => return Ok(None),
                Err(e) => return Ok(Some(e)),
            }
        }
    }
}
