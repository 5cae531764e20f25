//! `flogtool rescue LOGDIR` and `flogtool peek LOGDIR`: a logdir's crash
//! ring, written up after its owner died, or read while it lives.

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use flog_core::flogfile::{peek_ring_file, Header, HeaderKind, RingMeta, RingState, RING_FILE};
use flog_core::fs::DirLock;
use flog_core::ring_events;

use crate::filter::EventFilter;
use crate::json;
use crate::print::{self, OutputArgs};

#[derive(Debug, Args)]
pub(crate) struct RescueArgs {
    /// The logdir of a service that died and will not be started again.
    #[arg(value_name = "LOGDIR")]
    logdir: PathBuf,
}

/// Writes the crash report the service's next start would have written.
pub(crate) fn rescue(args: &RescueArgs) -> anyhow::Result<()> {
    let rescued = flog_core::rescue_crash(&args.logdir)
        .with_context(|| format!("cannot rescue {}", args.logdir.display()))?;
    let Some(rescued) = rescued else {
        println!(
            "nothing to rescue in {}: no crash ring, or its owner closed it",
            args.logdir.display()
        );
        return Ok(());
    };
    for warning in &rescued.warnings {
        eprintln!("flogtool: warning: {}: {warning}", RING_FILE);
    }
    let excluded = rescued
        .excluded_through
        .map(|n| format!(" (events up to #{n} were in its own incident reports)"))
        .unwrap_or_default();
    println!(
        "wrote {} with {} events{excluded}",
        rescued.report.display(),
        rescued.events
    );
    Ok(())
}

#[derive(Debug, Args)]
pub(crate) struct PeekArgs {
    /// The logdir of a running (perhaps wedged) service with a crash ring.
    #[arg(value_name = "LOGDIR")]
    logdir: PathBuf,

    #[command(flatten)]
    output: OutputArgs,

    #[command(flatten)]
    filter: EventFilter,
}

/// Reads the ring without its writer's cooperation: mapped read-only, never
/// locked, so the writer is neither blocked nor disturbed.
pub(crate) fn peek(args: &PeekArgs) -> anyhow::Result<()> {
    let path = args.logdir.join(RING_FILE);
    if !path.exists() {
        anyhow::bail!(
            "{} has no crash ring ({RING_FILE}): its logger runs without one",
            args.logdir.display()
        );
    }
    let contents = peek_ring_file(&path)?;
    // Whether someone holds the logdir: trying the lock (and letting go at
    // once) is the only sure way to tell, and costs the owner nothing.
    let alive = DirLock::try_acquire(&args.logdir)
        .with_context(|| format!("cannot open {}", args.logdir.display()))?
        .is_none();
    let meta = RingMeta::of(&contents);
    if alive && contents.state == RingState::Live {
        eprintln!(
            "flogtool: warning: the owner of {} (pid {}) is alive and may be writing its ring: \
             events that changed while read were skipped",
            args.logdir.display(),
            meta.pid.unwrap_or(contents.pid),
        );
    }
    let ring = ring_events(&contents, None);
    for warning in contents.warnings.iter().chain(&ring.warnings) {
        eprintln!("flogtool: warning: {}: {warning}", path.display());
    }
    let header = Header {
        kind: Some(HeaderKind::Unknown("ring".into())),
        pid: meta.pid,
        versions: meta.versions,
        incarnation: meta.incarnation,
        host: meta.host,
        started: meta.started,
        ..Header::default()
    };
    let style = args.output.style();
    let mut out = BufWriter::new(io::stdout().lock());
    if args.output.json {
        let file = path.display().to_string();
        writeln!(out, "{}", json::header_json(&header, Some(&file)))?;
    } else {
        writeln!(out, "{}", print::header_text(&header, &style.times))?;
    }
    for event in ring.events {
        if !args.filter.matches_from(&event, None) {
            continue;
        }
        if args.output.json {
            writeln!(out, "{}", json::event_json(&event, false))?;
        } else {
            writeln!(out, "{}", print::event_text(&event, &style, false))?;
        }
    }
    out.flush()?;
    Ok(())
}
