//! `flogtool dump FILE...`: flogfiles as text or JSON lines.

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use clap::Args;
use indicatif::ProgressBar;

use crate::filter::EventFilter;
use crate::flogfiles::{self, Damage, Entry, Mark};
use crate::inputs::{self, Input};
use crate::json;
use crate::print::{self, OutputArgs, TextStyle};

#[derive(Debug, Args)]
pub(crate) struct DumpArgs {
    /// Files to print: flog's flogfiles or foolscap's JSON flogfiles, plain
    /// or bzip2 (recognised by content, not by name). `s3://BUCKET/KEY` reads
    /// one flogfile from a bucket gatherers share, `s3://BUCKET/PREFIX` every
    /// .flog.bz2 and .flog under the prefix (credentials and endpoint from
    /// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL, ...).
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,

    #[command(flatten)]
    output: OutputArgs,

    /// Print only `TIME NUM` for each event that passes the filters, and no
    /// header or trailer lines: for scripts.
    #[arg(
        short = 'n',
        long,
        conflicts_with_all = ["json", "verbose", "nums", "rx_time"]
    )]
    just_numbers: bool,

    /// Show when each event was received beside when it was emitted:
    /// `rx(RX) emit(TIME)`, for gathered files (foolscap's record the receipt
    /// time of every event; `rx(-)` where a file does not say).
    #[arg(short = 'r', long, conflicts_with = "json")]
    rx_time: bool,

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
        style: TextStyle {
            rx_time: args.rx_time,
            ..args.output.style()
        },
        json: args.output.json,
        just_numbers: args.just_numbers,
        filter: &args.filter,
    };
    let inputs = inputs::resolve(&args.files)?;
    let several = inputs.inputs.len() > 1;
    flogfiles::each_path(
        &mut out,
        &inputs.inputs,
        "files could not be read completely",
        |out, i, input| {
            if several && !args.output.json && !args.just_numbers {
                let gap = if i > 0 { "\n" } else { "" };
                writeln!(out, "{gap}==> {} <==", input.label())?;
            }
            dump_input(out, input, &show)
        },
    )
}

/// How to show a file.
#[derive(Debug, Clone)]
pub(crate) struct Show<'a> {
    pub(crate) style: TextStyle,
    pub(crate) json: bool,
    pub(crate) just_numbers: bool,
    pub(crate) filter: &'a EventFilter,
}

/// Prints one file: header, the events that pass the filter (triggers marked),
/// trailer; then reports damage (truncation only as a warning on stderr).
pub(crate) fn dump_file(out: &mut impl Write, path: &Path, show: &Show<'_>) -> anyhow::Result<()> {
    dump_input(out, &Input::File(path.to_owned()), show)
}

/// [`dump_file`] of a file or a bucket's object.
fn dump_input(out: &mut impl Write, input: &Input, show: &Show<'_>) -> anyhow::Result<()> {
    // Whole files are read first: the trailer, at the end, names every trigger,
    // and their lines are marked as they are printed. Incident reports are small
    // by construction (bounded buffers, bounded trailing events).
    let contents = flogfiles::read_input(input, &ProgressBar::hidden())?;
    let label = input.label();
    let triggers = print::trigger_nums(contents.header.as_ref(), contents.trailer.as_ref());
    let style = &show.style;
    let summaries = !show.just_numbers;
    // A gathered file mixes publishers, so its lines name each event's; other
    // files may carry a sender too (foolscap wraps every event) that says
    // nothing there, and JSON has it in `from` either way.
    let origins = contents
        .header
        .as_ref()
        .is_some_and(|h| h.kind == Some(flog_core::flogfile::HeaderKind::Gathered));
    if let Some(header) = contents.header.as_ref().filter(|_| summaries) {
        if show.json {
            let file = label.to_string();
            writeln!(out, "{}", json::header_json(header, Some(&file)))?;
        } else {
            writeln!(out, "{}", print::header_text(header, &style.times))?;
        }
    }
    // Gaps and incarnation changes go where the file has them, among the
    // events, kept or dropped by `--from` alone.
    let mut marks = contents
        .marks
        .iter()
        .filter(|(_, mark)| summaries && show.filter.keeps_publisher(mark.from()))
        .peekable();
    for (i, entry) in contents.entries.iter().enumerate() {
        while let Some((_, mark)) = marks.next_if(|(at, _)| *at <= i) {
            writeln!(out, "{}", mark_line(mark, show))?;
        }
        if show.filter.matches_from(&entry.event, entry.from()) {
            writeln!(out, "{}", entry_line(entry, show, &triggers, origins))?;
        }
    }
    for (_, mark) in marks {
        writeln!(out, "{}", mark_line(mark, show))?;
    }
    if let Some(trailer) = contents.trailer.as_ref().filter(|_| summaries) {
        if show.json {
            writeln!(out, "{}", json::trailer_json(trailer))?;
        } else {
            writeln!(out, "{}", print::trailer_text(trailer, &style.times))?;
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
            eprintln!("flogtool: warning: {label}: {error}; every complete record was shown");
            Ok(())
        }
        Some(Damage::Broken(error)) => Err(anyhow::Error::new(error).context(format!(
            "{label} (the records before the damage were shown)"
        ))),
    }
}

fn entry_line(
    entry: &Entry,
    show: &Show<'_>,
    triggers: &std::collections::BTreeSet<u64>,
    origins: bool,
) -> String {
    let event = &entry.event;
    let is_trigger = triggers.contains(&event.num);
    if show.json {
        json::with_receipt(
            json::event_json(event, is_trigger),
            entry.rx_time(),
            entry.from(),
        )
        .to_string()
    } else if show.just_numbers {
        print::numbers_text(event, &show.style)
    } else {
        print::event_text_origin(
            event,
            entry.rx_time(),
            entry.from().filter(|_| origins),
            &show.style,
            is_trigger,
        )
    }
}

fn mark_line(mark: &Mark, show: &Show<'_>) -> String {
    if show.json {
        json::mark_json(mark).to_string()
    } else {
        print::mark_text(mark, &show.style.times)
    }
}
