//! `flogtool convert --to foolscap|flog IN OUT`: between flog's and foolscap's
//! file formats.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::flogfiles::{Entry, Mark};
use crate::writing::{self, Target};
use crate::{flogfiles, progress};

/// The format to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// A foolscap v1 JSON flogfile, which foolscap's own `flogtool dump` reads.
    Foolscap,
    /// A flog flogfile.
    Flog,
    /// Chrome trace event JSON, which the Perfetto UI (ui.perfetto.dev) and
    /// chrome://tracing open: a track per facility, spans as slices, parent ->
    /// child as flow arrows (docs/web.md).
    Perfetto,
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
    let mut contents = flogfiles::read(&args.input, &reading)?;
    reading.finish_and_clear();
    let writing = progress::count(
        &format!("write {}", args.output.display()),
        contents.entries.len() as u64,
    );
    let target = Target::by_name(&args.output);
    match args.to {
        // A gathered event's receipt becomes foolscap's wrapper (`from`,
        // `rx_time`); foolscap has no gap or incarnation records, so those
        // are not exported.
        Format::Foolscap => writing::write_file(&args.output, &target, |out| {
            let receipts: Vec<_> = contents.entries.iter().map(Entry::receipt).collect();
            let events = contents.entries.iter().zip(&receipts);
            let events = events.map(|(entry, receipt)| (&entry.event, receipt.as_ref()));
            flog_foolscap::write_received(out, contents.header.as_ref(), writing.wrap_iter(events))
        })?,
        Format::Flog => {
            writing::write_flogfile(&args.output, &target, contents.header.as_ref(), |w| {
                write_entries(w, &contents, &writing)?;
                if let Some(trailer) = &contents.trailer {
                    w.write_trailer(trailer)?;
                }
                Ok(())
            })?;
        }
        Format::Perfetto => {
            // flog-web prepares the trace (tree, triggers) from the contents;
            // the damage stays here, reported below. JSON text: never
            // compressed, whatever the name.
            let damage = contents.damage.take();
            let label = args.input.display().to_string();
            let file = flog_web::LoadedFile::new(label, 1, contents.into_flog_contents());
            flog_core::fs::write_atomically(&args.output, |out| {
                flog_web::write_chrome_trace(&file, out).map(|_| ())
            })
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", args.output.display()))?;
            writing.finish_and_clear();
            return report_damage(args, damage);
        }
    }
    writing.finish_and_clear();
    report_damage(args, contents.damage)
}

/// The events with their receipts (a foolscap file's wrappers, a gathered
/// file's), and a gathered file's gaps and incarnation changes in place.
fn write_entries(
    w: &mut flog_core::flogfile::FlogWriter<&mut dyn std::io::Write>,
    contents: &flogfiles::Contents,
    writing: &indicatif::ProgressBar,
) -> std::io::Result<()> {
    let mut marks = contents.marks.iter().peekable();
    for (i, entry) in writing.wrap_iter(contents.entries.iter().enumerate()) {
        while let Some((_, mark)) = marks.next_if(|(at, _)| *at <= i) {
            write_mark(w, mark)?;
        }
        match entry.receipt() {
            Some(receipt) => w.write_received(&entry.event, &receipt)?,
            None => w.write_event(&entry.event)?,
        }
    }
    for (_, mark) in marks {
        write_mark(w, mark)?;
    }
    Ok(())
}

fn write_mark(
    w: &mut flog_core::flogfile::FlogWriter<&mut dyn std::io::Write>,
    mark: &Mark,
) -> std::io::Result<()> {
    match mark {
        Mark::Gap(gap) => w.write_gap(gap),
        Mark::Incarnation(change) => w.write_incarnation_change(change),
    }
}

/// A damaged IN: converted what it holds; a truncated one only warns.
fn report_damage(
    args: &ConvertArgs,
    damage: Option<flog_core::flogfile::ReadError>,
) -> anyhow::Result<()> {
    match damage {
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
