//! `flogtool filter OLD [NEW]`: the events of a file that pass the filters, in
//! a new file of the same format, or back in the same file.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail};
use clap::Args;
use flog_core::flogfile::{FlogWriter, ReadError};

use crate::filter::{Dropped, EventFilter};
use crate::flogfiles::{Damage, Format, Item, Mark, Reader};
use crate::inputs::{self, Input};
use crate::progress;
use crate::writing::{self, Target};

#[derive(Debug, Args)]
pub(crate) struct FilterArgs {
    /// The file to read: a flogfile or a foolscap flogfile, plain or .bz2;
    /// or `s3://BUCKET/KEY`, one in a bucket gatherers share (then NEW is
    /// needed).
    #[arg(value_name = "OLD")]
    input: PathBuf,

    /// The file to write, in OLD's format, bzip2-compressed when its name ends
    /// in .bz2, replaced atomically. Without it (or when it is OLD) OLD is
    /// filtered in place, keeping its compression and permissions, and left
    /// as it was if it is damaged.
    #[arg(value_name = "NEW")]
    output: Option<PathBuf>,

    /// Also say how many events each filter dropped.
    #[arg(short, long)]
    verbose: bool,

    #[command(flatten)]
    filter: EventFilter,
}

/// Copies header, passing events and trailer, streaming: the file is never held
/// in memory. A damaged OLD is salvaged into NEW: what was read before the
/// damage is written, with a warning (truncated) or an error (corrupt) after.
/// In place, a damaged OLD is left as it was.
pub(crate) fn run(args: &FilterArgs) -> anyhow::Result<()> {
    let resolved = inputs::resolve(std::slice::from_ref(&args.input))?;
    let input = match resolved.inputs.as_slice() {
        [input] => input,
        more => bail!(
            "{} names {} flogfiles; filter reads one (name its key)",
            args.input.display(),
            more.len()
        ),
    };
    let (size, in_bucket) = match input {
        Input::File(path) => (fs::metadata(path).map_or(0, |m| m.len()), false),
        Input::Object(object) => (object.size(), true),
    };
    if in_bucket && args.output.is_none() {
        bail!(
            "{} is in a bucket, which flogtool does not write: give NEW, a file to write",
            input.label()
        );
    }
    let output = args.output.as_deref().unwrap_or(&args.input);
    let in_place = !in_bucket && (args.output.is_none() || same_file(&args.input, output));
    let bar = progress::bytes(&format!("filter {}", input.label()), size);
    let (reader, damage) = Reader::open_input(input, &bar)?;
    let mut target = Target::by_name(output);
    if in_place {
        target.compress = reader.as_ref().is_some_and(Reader::is_compressed);
        target.permissions = fs::metadata(&args.input).ok().map(|m| m.permissions());
    }
    let mut copy = Copy {
        filter: &args.filter,
        refuse_damage: in_place.then_some(args.input.as_path()),
        counts: Counts::default(),
        damage,
    };
    if let Some(reader) = reader {
        match reader.format() {
            Format::Flog => copy.flog(output, &target, reader)?,
            Format::Foolscap => copy.foolscap(output, &target, reader)?,
        }
    } else {
        copy.check_damage()?;
        writing::write_flogfile(output, &target, None, |_| Ok(()))?;
    }
    bar.finish_and_clear();
    copy.counts.print(output, in_place, args.verbose);
    match copy.damage.map(Damage::classify) {
        None => Ok(()),
        Some(Damage::Truncated(error)) => {
            eprintln!(
                "flogtool: warning: {}: {error}; every complete record was copied",
                input.label()
            );
            Ok(())
        }
        Some(Damage::Broken(error)) => Err(anyhow!(
            "{}: {error}; the records before the damage were copied",
            input.label()
        )),
    }
}

/// Whether `a` and `b` name one file (`b` may not exist yet).
fn same_file(a: &Path, b: &Path) -> bool {
    match (fs::canonicalize(a), fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// What was kept and dropped.
#[derive(Debug, Default)]
struct Counts {
    total: u64,
    kept: u64,
    dropped: BTreeMap<Dropped, u64>,
    /// flogfile records of kinds this flogtool cannot write back.
    unknown: u64,
}

impl Counts {
    fn print(&self, output: &Path, in_place: bool, verbose: bool) {
        let place = if in_place { " (filtered in place)" } else { "" };
        println!(
            "{}: kept {} of {} events{place}",
            output.display(),
            self.kept,
            self.total
        );
        if verbose {
            for (why, count) in &self.dropped {
                println!("  dropped by {}: {count}", why.flag());
            }
            if self.unknown > 0 {
                println!("  records of unknown kinds dropped: {}", self.unknown);
            }
        }
    }
}

struct Copy<'a> {
    filter: &'a EventFilter,
    /// In place: the file that must stay as it was if it is damaged.
    refuse_damage: Option<&'a Path>,
    counts: Counts,
    damage: Option<ReadError>,
}

impl Copy<'_> {
    /// Whether an event sent by `from` passes, counted either way.
    fn keeps(&mut self, event: &flog_core::Event, from: Option<&str>) -> bool {
        self.counts.total += 1;
        match self.filter.verdict_from(event, from) {
            Ok(()) => {
                self.counts.kept += 1;
                true
            }
            Err(why) => {
                *self.counts.dropped.entry(why).or_default() += 1;
                false
            }
        }
    }

    /// Filtering in place replaces OLD only with all of it: on damage the
    /// write is abandoned (so the temporary file goes and OLD stays).
    fn check_damage(&self) -> io::Result<()> {
        match (self.refuse_damage, &self.damage) {
            (Some(path), Some(damage)) => Err(io::Error::other(format!(
                "{}: {damage}: left as it was; give NEW to write what it holds elsewhere",
                path.display()
            ))),
            _ => Ok(()),
        }
    }

    fn flog(&mut self, output: &Path, target: &Target, mut reader: Reader) -> anyhow::Result<()> {
        let mut header = None;
        let mut first = None;
        match reader.next_item() {
            Ok(Some(Item::Header(h))) => header = Some(*h),
            Ok(item) => first = item,
            Err(e) => self.damage = Some(e),
        }
        writing::write_flogfile(output, target, header.as_ref(), |out| {
            if let Some(item) = first {
                self.flog_item(out, item)?;
            }
            loop {
                match reader.next_item() {
                    Ok(Some(item)) => self.flog_item(out, item)?,
                    Ok(None) => break,
                    Err(e) => {
                        self.damage = Some(e);
                        break;
                    }
                }
            }
            self.check_damage()
        })
    }

    fn flog_item(&mut self, out: &mut FlogWriter<&mut dyn Write>, item: Item) -> io::Result<()> {
        match item {
            Item::Entry(entry) => {
                if self.keeps(&entry.event, entry.from()) {
                    match entry.receipt() {
                        Some(receipt) => out.write_received(&entry.event, &receipt)?,
                        None => out.write_event(&entry.event)?,
                    }
                }
            }
            Item::Mark(mark) => {
                if self.filter.keeps_publisher(mark.from()) {
                    match *mark {
                        Mark::Gap(gap) => out.write_gap(&gap)?,
                        Mark::Incarnation(change) => out.write_incarnation_change(&change)?,
                    }
                }
            }
            // Kept: it names every trigger, which `dump` marks.
            Item::Trailer(trailer) => out.write_trailer(&trailer)?,
            // A second header is invalid and unknown records cannot be written
            // back (the reader keeps only their type): both are dropped.
            Item::Header(_) | Item::Unknown => self.counts.unknown += 1,
        }
        Ok(())
    }

    /// A foolscap file keeps every line but the dropped events', unchanged,
    /// as foolscap's own filter does: headers, wrappers' `from` and
    /// `rx_time`, keys flog does not map.
    fn foolscap(
        &mut self,
        output: &Path,
        target: &Target,
        mut reader: Reader,
    ) -> anyhow::Result<()> {
        writing::write_file(output, target, |out| {
            out.write_all(flog_foolscap::MAGIC)?;
            loop {
                match reader.next_item() {
                    Ok(Some(Item::Entry(entry))) if !self.keeps(&entry.event, entry.from()) => {}
                    Ok(Some(_)) => out.write_all(reader.line().unwrap_or_default().as_bytes())?,
                    Ok(None) => break,
                    Err(e) => {
                        self.damage = Some(e);
                        break;
                    }
                }
            }
            self.check_damage()
        })
    }
}
