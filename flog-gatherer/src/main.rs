//! `flog-gatherer`: the incident gatherer daemon.
//!
//! `flog-gatherer create BASEDIR` writes a documented config file;
//! `flog-gatherer run BASEDIR` gathers in the foreground until SIGINT or
//! SIGTERM; SIGHUP re-reads the config and rebuilds the classification.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use flog_gatherer::{Config, DashboardServer, Gatherer};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

/// Gathers incident reports from flog publishers, each exactly once, and
/// classifies them.
#[derive(Debug, Parser)]
#[command(name = "flog-gatherer", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Creates BASEDIR with a documented gatherer.toml and a publishers/ folder.
    Create {
        /// The gatherer's base directory.
        basedir: PathBuf,
    },
    /// Gathers in the foreground until SIGINT or SIGTERM; SIGHUP reloads the
    /// config and reclassifies.
    Run {
        /// The gatherer's base directory.
        basedir: PathBuf,
        /// Only report problems (warnings and errors).
        #[arg(short, long)]
        quiet: bool,
        /// Write JSON lines with structured fields instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Rebuilds the classification lists from the stored incidents with the
    /// config's rules (while no gatherer runs; send a running one SIGHUP).
    Reclassify {
        /// The gatherer's base directory.
        basedir: PathBuf,
    },
    /// Accepts KEY as the key of publisher PUBLISHER-ID dialing in, in place
    /// of the one first seen (after a key rotation). Safe while the gatherer
    /// runs: the publisher's next dial-in with KEY is let in.
    AcceptKey {
        /// The gatherer's base directory.
        basedir: PathBuf,
        /// The publisher id the refusal named.
        publisher_id: String,
        /// The new key's fingerprint, as the refusal showed it.
        key: String,
    },
    /// Asks the gatherer running in BASEDIR (with an [events] section) to
    /// close its current events file and open the next; waits until it has.
    Rotate {
        /// The gatherer's base directory.
        basedir: PathBuf,
    },
}

/// Exit status of a configuration that cannot be used, like a usage error.
const EXIT_CONFIG: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Create { basedir } => create(&basedir),
        Command::Run {
            basedir,
            quiet,
            json,
        } => {
            init_logging(quiet, json);
            runtime().and_then(|rt| rt.block_on(run(&basedir)))
        }
        Command::Reclassify { basedir } => {
            init_logging(false, false);
            runtime().and_then(|rt| rt.block_on(reclassify(&basedir)))
        }
        Command::AcceptKey {
            basedir,
            publisher_id,
            key,
        } => accept_key(&basedir, &publisher_id, &key),
        Command::Rotate { basedir } => rotate(&basedir),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("flog-gatherer: error: {error:#}");
            let config_error = error
                .chain()
                .any(|cause| cause.downcast_ref::<flog_gatherer::ConfigError>().is_some());
            ExitCode::from(if config_error { EXIT_CONFIG } else { 1 })
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Leaves a rotate request for the running gatherer's writer, which takes
/// it (removes it) within a fraction of a second, then rotates.
fn rotate(basedir: &Path) -> anyhow::Result<()> {
    let dir = basedir.join(flog_gatherer::EVENTS_DIR);
    if !dir.is_dir() {
        anyhow::bail!(
            "{} does not exist: no gatherer with an [events] section has run in {}",
            dir.display(),
            basedir.display()
        );
    }
    // At once, rather than after waiting in vain for a taker.
    let no_gatherer = || {
        anyhow::anyhow!(
            "no gatherer is running in {} (its {} file names no live process)",
            basedir.display(),
            flog_gatherer::LOCK_FILE
        )
    };
    if flog_gatherer::running_gatherer(basedir).is_none() {
        return Err(no_gatherer());
    }
    let request = dir.join(flog_gatherer::ROTATE_REQUEST);
    flog_core::fs::write_file_atomically(&request, b"rotate\n")
        .with_context(|| format!("cannot write {}", request.display()))?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while request.exists() {
        if flog_gatherer::running_gatherer(basedir).is_none() {
            // It stopped meanwhile.
            let _ = std::fs::remove_file(&request);
            return Err(no_gatherer());
        }
        if std::time::Instant::now() > deadline {
            // Not left behind to rotate by surprise when a gatherer starts.
            let _ = std::fs::remove_file(&request);
            anyhow::bail!(
                "no gatherer took the request within 10 s: is one running in {} with an [events] section?",
                basedir.display()
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    println!("rotated the events file in {}", dir.display());
    Ok(())
}

fn create(basedir: &Path) -> anyhow::Result<()> {
    let path = flog_gatherer::create(basedir)?;
    println!(
        "created {}\nadd publishers there or as files in {}, then: flog-gatherer run {}",
        path.display(),
        basedir.join(flog_gatherer::PUBLISHERS_DIR).display(),
        basedir.display()
    );
    Ok(())
}

fn accept_key(basedir: &Path, publisher_id: &str, key: &str) -> anyhow::Result<()> {
    let key = flog_wire::KeyFingerprint::parse(key)
        .with_context(|| format!("{key:?} is not a key fingerprint"))?;
    flog_gatherer::accept_key(basedir, publisher_id, key)?;
    println!("accepted {key} for {publisher_id}: its next dial-in with this key is let in");
    Ok(())
}

fn load(basedir: &Path) -> anyhow::Result<Config> {
    Config::load(basedir).context("cannot load the configuration")
}

async fn run(basedir: &Path) -> anyhow::Result<()> {
    let config = load(basedir)?;
    let http = config.http.clone();
    let mut gatherer = Gatherer::new(basedir, config.clone())?;
    tracing::info!(basedir = %basedir.display(), "gathering into {}", basedir.display());
    let shutdown = CancellationToken::new();
    let dashboard = match http {
        Some(http) => {
            let listener = tokio::net::TcpListener::bind(http.bind)
                .await
                .with_context(|| format!("cannot serve the dashboard on {}", http.bind))?;
            let server = DashboardServer::new(basedir, &config, &http).with_gatherer(&gatherer);
            gatherer = gatherer.with_observer(server.observer());
            let url = format!("http://{}/", listener.local_addr()?);
            tracing::info!(url = %url, "dashboard at {url}");
            Some(tokio::spawn(server.serve(listener, shutdown.clone())))
        }
        None => None,
    };
    let gathered = gather(&gatherer, basedir, shutdown.clone()).await;
    shutdown.cancel();
    if let Some(dashboard) = dashboard {
        match dashboard.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::error!(%error, "the dashboard failed: {error}"),
            Err(error) => tracing::error!(%error, "the dashboard failed: {error}"),
        }
    }
    gathered
}

/// Gathers until a signal or an error.
async fn gather(
    gatherer: &Gatherer,
    basedir: &Path,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let signals = handle_signals(gatherer, basedir, shutdown.clone());
    let run = gatherer.run(shutdown.clone());
    tokio::pin!(run);
    tokio::select! {
        result = &mut run => {
            shutdown.cancel();
            result?;
        }
        result = signals => {
            result?;
            run.await?;
        }
    }
    Ok(())
}

/// Until SIGINT or SIGTERM (which cancel `shutdown`): SIGHUP reloads the
/// config. A second SIGINT or SIGTERM exits at once.
#[cfg(unix)]
async fn handle_signals(
    gatherer: &Gatherer,
    basedir: &Path,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    let mut terminate = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut hangup = signal(SignalKind::hangup()).context("cannot handle SIGHUP")?;
    loop {
        tokio::select! {
            _ = interrupt.recv() => break,
            _ = terminate.recv() => break,
            _ = hangup.recv() => {
                tracing::info!("SIGHUP: reloading the configuration");
                match load(basedir) {
                    Ok(config) => {
                        if let Err(error) = gatherer.reload(config).await {
                            tracing::error!(error = format!("{error:#}"), "reload failed: {error:#}");
                        }
                    }
                    Err(error) => {
                        tracing::error!(error = format!("{error:#}"), "{error:#}; keeping the running configuration");
                    }
                }
            }
        }
    }
    tracing::info!("shutting down");
    shutdown.cancel();
    tokio::spawn(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        eprintln!("flog-gatherer: second signal; exiting at once");
        std::process::exit(1);
    });
    Ok(())
}

/// Until Ctrl-C, which cancels `shutdown`.
#[cfg(not(unix))]
async fn handle_signals(
    _gatherer: &Gatherer,
    _basedir: &Path,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    tokio::signal::ctrl_c()
        .await
        .context("cannot handle Ctrl-C")?;
    tracing::info!("shutting down");
    shutdown.cancel();
    Ok(())
}

async fn reclassify(basedir: &Path) -> anyhow::Result<()> {
    let config = load(basedir)?;
    let gatherer = Gatherer::new(basedir, config)?;
    let count = gatherer.reclassify().await?;
    println!("classified {count} incidents");
    Ok(())
}

/// One line per event worth knowing, on standard error: the message alone
/// as text, or every structured field as JSON.
fn init_logging(quiet: bool, json: bool) {
    let default = if quiet {
        "warn"
    } else {
        "warn,flog_gatherer=info"
    };
    let filter = EnvFilter::try_from_env("FLOG_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false);
    if json {
        builder.json().flatten_event(true).init();
    } else {
        // The structured fields repeat what the message says; text shows the
        // message only.
        let message_only = tracing_subscriber::fmt::format::debug_fn(|writer, field, value| {
            if field.name() == "message" {
                write!(writer, "{value:?}")
            } else {
                Ok(())
            }
        });
        builder.fmt_fields(message_only).init();
    }
}
