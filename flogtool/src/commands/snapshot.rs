//! `flogtool snapshot LOGPORT [--reason TEXT]`: asks a publisher to record an
//! incident now, with the reason as its trigger.

use anyhow::Context as _;
use clap::Args;
use flog_wire::SnapshotOutcome;

use crate::logport;

#[derive(Debug, Args)]
pub(crate) struct SnapshotArgs {
    /// The publisher: a flogs:// URL, a logport file, or the service's log
    /// directory.
    #[arg(value_name = "LOGPORT")]
    target: String,

    /// Why: the trigger's text in the incident (at most 4096 bytes).
    #[arg(
        long,
        value_name = "TEXT",
        default_value = "snapshot requested with flogtool"
    )]
    reason: String,
}

/// Prints `declared NAME`, `joined` or `suppressed`; storm control
/// suppressing the snapshot is an answer, not a failure (exit code 0).
pub(crate) async fn run(args: SnapshotArgs) -> anyhow::Result<()> {
    let url = logport::resolve_url(&args.target)?;
    let client = logport::connect(&url).await?;
    let snap = client
        .snapshot(&args.reason)
        .await
        .with_context(|| format!("{} refused the snapshot", url.redacted()))?;
    match (snap.outcome, snap.incident) {
        (SnapshotOutcome::Declared, Some(name)) => println!("declared {name}"),
        (SnapshotOutcome::Suppressed, _) => {
            println!("suppressed: storm control dropped it (too many incidents lately)")
        }
        (SnapshotOutcome::Joined, _) => {
            println!("joined: an incident already recording took it as a trigger")
        }
        (outcome, _) => println!("{outcome}"),
    }
    Ok(())
}
