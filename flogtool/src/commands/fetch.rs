//! `flogtool fetch LOGPORT NAME`: one incident report, verified, written atomically.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context as _};
use clap::Args;
use flog_wire::{is_valid_incident_name, FetchedIncident, LogportClient};
use indicatif::ProgressBar;
use tokio::io::AsyncWriteExt;

use crate::logport::{self, Interrupt};
use crate::progress;

#[derive(Debug, Args)]
pub(crate) struct FetchArgs {
    /// The publisher: a flogs:// URL, a logport file, or the service's log
    /// directory.
    #[arg(value_name = "LOGPORT")]
    target: String,

    /// The incident's name, as `flogtool list` shows it.
    #[arg(value_name = "NAME", value_parser = parse_incident_name)]
    name: String,

    /// Where to write it (default: NAME.flog.bz2 in the current directory). It
    /// appears only once complete and verified, replacing any file there.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
}

/// Names come from a remote listing and become file names: anything but a valid
/// incident name (no `/`, no `..`) is refused before it is used, as a usage error.
fn parse_incident_name(name: &str) -> Result<String, String> {
    if is_valid_incident_name(name) {
        Ok(name.to_owned())
    } else {
        Err(
            "not an incident name: `incident-` followed by A-Z a-z 0-9 . _ - \
             (no `..`, 200 characters at most)"
                .to_owned(),
        )
    }
}

/// Fetches into a hidden temporary file beside the target, checks the SHA-256 the
/// publisher sent, and renames it into place; on failure or Ctrl-C the temporary
/// file is removed and the target untouched.
pub(crate) async fn run(args: FetchArgs) -> anyhow::Result<()> {
    let url = logport::resolve_url(&args.target)?;
    let output = args.output.clone().unwrap_or_else(|| {
        PathBuf::from(format!(
            "{}{}",
            args.name,
            flog_core::flogfile::FINISHED_SUFFIX
        ))
    });
    let mut interrupt = Interrupt::install()?;
    let client = logport::connect(&url).await?;
    let tmp = flog_core::fs::temp_path_for(&output);
    // The size is known only once the first chunk arrives, inside the
    // client: the bar counts what arrived.
    let bar = progress::bytes_arriving(&format!("fetch {}", args.name));
    let fetched = tokio::select! {
        fetched = fetch_to(&client, &args.name, &tmp, &bar) => fetched,
        () = interrupt.wait() => Err(anyhow!("interrupted")),
    };
    bar.finish_and_clear();
    let fetched = match fetched {
        Ok(fetched) => fetched,
        Err(error) => {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(error.context(format!(
                "cannot fetch {} from {}",
                args.name,
                url.redacted()
            )));
        }
    };
    let renamed = tokio::fs::rename(&tmp, &output).await;
    if let Err(error) = renamed {
        let _ = tokio::fs::remove_file(&tmp).await;
        return Err(error).with_context(|| format!("cannot write {}", output.display()));
    }
    // The rename is durable only once the directory is synced.
    let dir_synced = tokio::task::spawn_blocking({
        let output = output.clone();
        move || flog_core::fs::sync_parent(&output)
    })
    .await?;
    dir_synced.with_context(|| format!("cannot sync the directory of {}", output.display()))?;
    println!(
        "{}: {} bytes, sha256 {} verified",
        output.display(),
        fetched.size,
        data_encoding::HEXLOWER.encode_display(&fetched.sha256)
    );
    Ok(())
}

async fn fetch_to(
    client: &LogportClient,
    name: &str,
    tmp: &Path,
    bar: &ProgressBar,
) -> anyhow::Result<FetchedIncident> {
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(tmp)
        .await
        .with_context(|| format!("cannot create {}", tmp.display()))?;
    let fetched = client
        .get_incident_to(name, &mut bar.wrap_async_write(&mut file))
        .await?;
    file.flush().await?;
    file.sync_all().await?;
    Ok(fetched)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names_are_refused() {
        assert!(parse_incident_name("incident-2026-11-27T23-08-35.123456Z-0001").is_ok());
        for bad in [
            "../etc/passwd",
            "incident-../x",
            "incident-a/b",
            "/tmp/x",
            "incident-",
            "",
        ] {
            assert!(parse_incident_name(bad).is_err(), "{bad}");
        }
    }
}
