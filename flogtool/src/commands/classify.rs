//! `flogtool classify-incident (--rules FILE | --gatherer BASEDIR) INCIDENT...`:
//! the categories the gatherer would give each incident report.

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context as _};
use clap::{ArgGroup, Args};
use flog_core::{
    flogfile::{FileKind, ReadError},
    Event,
};
use flog_gatherer::{read_trigger, Classifier, Config, CATEGORY_UNKNOWN, CONFIG_FILE};
use indicatif::ProgressBar;

use crate::flogfiles::{self, Item, Reader};
use crate::json;
use crate::print::{self, TextStyle, TimesArg};

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("rules_from").required(true).args(["rules", "gatherer"])))]
pub(crate) struct ClassifyArgs {
    /// A rules file: `[[rule]]` tables as in a gatherer.toml, and nothing else.
    #[arg(long, value_name = "FILE")]
    rules: Option<PathBuf>,

    /// Classify by a gatherer's rules: its BASEDIR, or its gatherer.toml.
    #[arg(long, value_name = "BASEDIR")]
    gatherer: Option<PathBuf>,

    /// Incident reports to classify: flog's or foolscap's, plain or .bz2.
    #[arg(required = true, value_name = "INCIDENT")]
    incidents: Vec<PathBuf>,

    /// For incidents no rule matched, show the trigger: as a line (with its
    /// failure) and as JSON, to help write a rule.
    #[arg(short, long)]
    verbose: bool,

    #[command(flatten)]
    times: TimesArg,
}

/// Prints `FILE: cat1,cat2`, or `FILE: unknown`, per incident. The gatherer's own
/// classifier and trigger reader decide, so a rule means the same here as there.
/// An unreadable incident is reported and the others still classified.
pub(crate) fn run(args: &ClassifyArgs) -> anyhow::Result<()> {
    let classifier = load_rules(args)?;
    let style = TextStyle {
        nums: true,
        times: args.times.format(),
        ..TextStyle::default()
    };
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    flogfiles::each_path(
        &mut out,
        &args.incidents,
        "incidents could not be classified",
        |out, _, path| {
            let text = classify(&classifier, path, args.verbose.then_some(&style))?;
            writeln!(out, "{text}")?;
            Ok(())
        },
    )
}

fn load_rules(args: &ClassifyArgs) -> anyhow::Result<Classifier> {
    match (&args.rules, &args.gatherer) {
        (Some(rules), _) => {
            Classifier::from_file(rules).context("cannot load the classification rules")
        }
        (None, Some(gatherer)) => {
            let config = if gatherer.is_dir() {
                gatherer.join(CONFIG_FILE)
            } else {
                gatherer.clone()
            };
            let config = Config::from_file(&config).context("cannot load the gatherer's rules")?;
            Ok(config.classifier)
        }
        // clap asks for one of them; this is only a safety net.
        (None, None) => Err(anyhow!("give --rules FILE or --gatherer BASEDIR")),
    }
}

/// `verbose`: how to show the trigger of an unknown incident.
fn classify(
    classifier: &Classifier,
    path: &Path,
    verbose: Option<&TextStyle>,
) -> anyhow::Result<String> {
    let trigger = trigger_of(path)?;
    let categories = classifier.classify(&trigger);
    if !categories.is_empty() {
        return Ok(format!("{}: {}", path.display(), categories.join(",")));
    }
    let mut text = format!("{}: {CATEGORY_UNKNOWN}", path.display());
    if let Some(style) = verbose {
        text.push_str("\n    trigger: ");
        text.push_str(&print::event_text(&trigger, style, false));
        text.push_str("\n    json: ");
        text.push_str(&json::event_object(&trigger).to_string());
    }
    Ok(text)
}

/// The trigger the gatherer classifies a flogfile by; for a foolscap file,
/// its header's trigger, which is what foolscap's own classifier reads.
fn trigger_of(path: &Path) -> anyhow::Result<Event> {
    let trigger = match read_trigger(path) {
        Ok(trigger) => trigger,
        Err(ReadError::NotFlogfile {
            kind: FileKind::FoolscapJson,
            ..
        }) => {
            return foolscap_trigger(path)?.ok_or_else(|| {
                anyhow!(
                    "{} has no trigger in its header (a foolscap file is classified by it)",
                    path.display()
                )
            })
        }
        Err(e) => return Err(flogfiles::describe_open_error(path, e)),
    };
    trigger.ok_or_else(|| anyhow!("{} holds no event to classify", path.display()))
}

fn foolscap_trigger(path: &Path) -> anyhow::Result<Option<Event>> {
    let (reader, damage) = Reader::open(path, &ProgressBar::hidden())?;
    let first = match reader.map(|mut r| r.next_item()) {
        Some(item) => item,
        None => Err(damage.unwrap_or(ReadError::Truncated { records: 0 })),
    };
    match first {
        Ok(Some(Item::Header(header))) => Ok(header.trigger),
        Ok(_) => Ok(None),
        Err(e) => Err(flogfiles::describe_open_error(path, e)),
    }
}
