//! `flogtool dump FILE...`: flogfiles as text or JSON lines.

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use clap::Args;

use crate::filter::EventFilter;
use crate::flogfiles::{self, Damage};
use crate::json;
use crate::print::{self, OutputArgs, TextStyle};

#[derive(Debug, Args)]
pub(crate) struct DumpArgs {
    /// Flogfiles to print: .flog or .flog.bz2 (compression is recognised by
    /// content, not by name).
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,

    #[command(flatten)]
    output: OutputArgs,

    #[command(flatten)]
    filter: EventFilter,
}

/// Prints each file; a file that cannot be read is reported and the others are
/// still printed. A truncated file is a warning, not a failure: it is what an
/// incident still recording, or a crashed writer, leaves.
pub(crate) fn run(args: &DumpArgs) -> anyhow::Result<()> {
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let show = Show {
        style: args.output.style(),
        json: args.output.json,
        filter: &args.filter,
    };
    let several = args.files.len() > 1;
    flogfiles::each_path(
        &mut out,
        &args.files,
        "files could not be read completely",
        |out, i, path| {
            if several && !args.output.json {
                let gap = if i > 0 { "\n" } else { "" };
                writeln!(out, "{gap}==> {} <==", path.display())?;
            }
            dump_file(out, path, &show)
        },
    )
}

/// How to show a file.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Show<'a> {
    pub(crate) style: TextStyle,
    pub(crate) json: bool,
    pub(crate) filter: &'a EventFilter,
}

/// Prints one file: header, the events that pass the filter (triggers marked),
/// trailer; then reports damage (truncation only as a warning on stderr).
pub(crate) fn dump_file(out: &mut impl Write, path: &Path, args: &Show<'_>) -> anyhow::Result<()> {
    // Whole files are read first: the trailer, at the end, names every trigger,
    // and their lines are marked as they are printed. Incident reports are small
    // by construction (bounded buffers, bounded trailing events).
    let contents = flogfiles::read(path)?;
    let triggers = print::trigger_nums(contents.header.as_ref(), contents.trailer.as_ref());
    let style = args.style;
    if let Some(header) = &contents.header {
        if args.json {
            let file = path.display().to_string();
            writeln!(out, "{}", json::header_json(header, Some(&file)))?;
        } else {
            writeln!(out, "{}", print::header_text(header))?;
        }
    }
    for event in contents.events.iter().filter(|e| args.filter.matches(e)) {
        let is_trigger = triggers.contains(&event.num);
        if args.json {
            writeln!(out, "{}", json::event_json(event, is_trigger))?;
        } else {
            writeln!(out, "{}", print::event_text(event, style, is_trigger))?;
        }
    }
    if let Some(trailer) = &contents.trailer {
        if args.json {
            writeln!(out, "{}", json::trailer_json(trailer))?;
        } else {
            writeln!(out, "{}", print::trailer_text(trailer))?;
        }
    }
    if style.verbose && contents.unknown_records > 0 {
        writeln!(
            out,
            "== {} records of types this flogtool does not know were skipped",
            contents.unknown_records
        )?;
    }
    match contents.damage.map(Damage::classify) {
        None => Ok(()),
        Some(Damage::Truncated(error)) => {
            out.flush()?;
            eprintln!(
                "flogtool: warning: {}: {error}; every complete record was shown",
                path.display()
            );
            Ok(())
        }
        Some(Damage::Broken(error)) => Err(anyhow::Error::new(error).context(format!(
            "{} (the records before the damage were shown)",
            path.display()
        ))),
    }
}
