//! `flogtool convert --to foolscap|flog IN OUT`: between flog's and foolscap's
//! file formats.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::writing::{self, Target};
use crate::{flogfiles, progress};

/// The format to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// A foolscap v1 JSON flogfile, which foolscap's own `flogtool dump` reads.
    Foolscap,
    /// A flog flogfile.
    Flog,
}

#[derive(Debug, Args)]
pub(crate) struct ConvertArgs {
    /// The format to write.
    #[arg(long, value_enum)]
    to: Format,

    /// The file to read: a flogfile or a foolscap flogfile, plain or .bz2.
    #[arg(value_name = "IN")]
    input: PathBuf,

    /// The file to write, bzip2-compressed when its name ends in .bz2; replaced
    /// atomically.
    #[arg(value_name = "OUT")]
    output: PathBuf,
}

/// Converts IN to OUT. A damaged IN converts what it holds, then fails. On a
/// terminal, bars show the reading of IN and the writing of OUT.
pub(crate) fn run(args: &ConvertArgs) -> anyhow::Result<()> {
    let size = std::fs::metadata(&args.input).map_or(0, |m| m.len());
    let reading = progress::bytes(&format!("read {}", args.input.display()), size);
    let contents = flogfiles::read(&args.input, &reading)?;
    reading.finish_and_clear();
    let writing = progress::count(
        &format!("write {}", args.output.display()),
        contents.entries.len() as u64,
    );
    let target = Target::by_name(&args.output);
    let events = || writing.wrap_iter(contents.events());
    match args.to {
        Format::Foolscap => writing::write_file(&args.output, &target, |out| {
            flog_foolscap::write(out, contents.header.as_ref(), events())
        })?,
        Format::Flog => {
            writing::write_flogfile(&args.output, &target, contents.header.as_ref(), |w| {
                for event in events() {
                    w.write_event(event)?;
                }
                if let Some(trailer) = &contents.trailer {
                    w.write_trailer(trailer)?;
                }
                Ok(())
            })?;
        }
    }
    writing.finish_and_clear();
    match contents.damage {
        Some(damage) if damage.is_truncated() => {
            eprintln!(
                "flogtool: warning: {}: {damage}; converted what it holds",
                args.input.display()
            );
            Ok(())
        }
        Some(damage) => Err(anyhow::Error::new(damage).context(format!(
            "{}: converted what came before the damage",
            args.input.display()
        ))),
        None => Ok(()),
    }
}
