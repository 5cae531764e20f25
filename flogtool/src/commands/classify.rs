//! `flogtool classify-incident --rules FILE INCIDENT...`: the categories the
//! gatherer would give each incident report.

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context as _};
use clap::Args;
use flog_gatherer::{read_trigger, Classifier, CATEGORY_UNKNOWN};

use crate::flogfiles;
use crate::print::{self, TextStyle};

#[derive(Debug, Args)]
pub(crate) struct ClassifyArgs {
    /// A rules file: `[[rule]]` tables as in the gatherer's gatherer.toml (a
    /// gatherer.toml itself is not accepted: copy its rules out).
    #[arg(long, value_name = "FILE")]
    rules: PathBuf,

    /// Incident reports to classify (.flog or .flog.bz2).
    #[arg(required = true, value_name = "INCIDENT")]
    incidents: Vec<PathBuf>,

    /// Show the trigger of incidents no rule matched, to help write a rule.
    #[arg(short, long)]
    verbose: bool,
}

/// Prints `FILE: cat1,cat2`, or `FILE: unknown`, per incident. The gatherer's own
/// classifier and trigger reader decide, so a rule means the same here as there.
/// An unreadable incident is reported and the others still classified.
pub(crate) fn run(args: &ClassifyArgs) -> anyhow::Result<()> {
    let classifier =
        Classifier::from_file(&args.rules).context("cannot load the classification rules")?;
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    flogfiles::each_path(
        &mut out,
        &args.incidents,
        "incidents could not be classified",
        |out, _, path| {
            let text = classify(&classifier, path, args.verbose)?;
            writeln!(out, "{text}")?;
            Ok(())
        },
    )
}

fn classify(classifier: &Classifier, path: &Path, verbose: bool) -> anyhow::Result<String> {
    let trigger = read_trigger(path)
        .map_err(|e| flogfiles::describe_open_error(path, e))?
        .ok_or_else(|| anyhow!("{} holds no event to classify", path.display()))?;
    let categories = classifier.classify(&trigger);
    if !categories.is_empty() {
        return Ok(format!("{}: {}", path.display(), categories.join(",")));
    }
    let mut text = format!("{}: {CATEGORY_UNKNOWN}", path.display());
    if verbose {
        let style = TextStyle {
            nums: true,
            verbose: false,
        };
        text.push_str("\n    trigger: ");
        text.push_str(&print::event_text(&trigger, style, false));
    }
    Ok(text)
}
