//! `flogtool demo`: the whole flight recorder at work in one command, for a
//! newcomer. A sample service embedding flog-core and a publisher runs in this
//! process; a gatherer (the flog-gatherer library) polls it; the service works,
//! runs into three incidents, and the demo shows what was gathered, how it was
//! classified, one incident report, and the service's events as the event
//! gatherer keeps them.

mod service;
mod show;

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _};
use clap::Args;
use flog_gatherer::{
    Config, DashboardServer, GatherError, GatherEvent, GatherObserver, Gatherer, HttpConfig,
    CLASSIFIED_DIR, CONFIG_FILE, EVENTS_DIR, PUBLISHERS_DIR,
};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use self::service::SampleService;
use crate::commands::dump::{self, Show};
use crate::filter::EventFilter;
use crate::print::TextStyle;

/// The standalone rules file, in the demo directory.
const RULES_FILE: &str = "rules.toml";

/// Bound on waiting for the gatherer to store every incident.
const GATHER_DEADLINE: Duration = Duration::from_secs(30);

/// Bound on waiting for the event gatherer to write the service's last event.
const EVENTS_DEADLINE: Duration = Duration::from_secs(10);

/// The demo's classification rules: two, so that the classification has
/// something to show (the jobs incident stays `unknown`). Written as a rules file
/// for `flogtool classify-incident` and into the gatherer's config.
const RULES: &str = r#"[[rule]]
category = "database"
facility = "app.db"

[[rule]]
category = "web"
facility = "app.web"
min_level = "WEIRD"
"#;

/// The demo gatherer's settings: poll often, retry soon.
const GATHERER_SETTINGS: &str = r#"# Written by `flogtool demo`; see flog-gatherer's documented template for
# every key. The publisher's URL is in publishers/demo-service.
publishers_dir = "publishers"
poll_interval = "250ms"
min_backoff = "100ms"

# Every event at OPERATIONAL and above, into events/ (foolscap's log-gatherer).
[events]
min_level = "OPERATIONAL"

"#;

#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Where to put the service's log directory and the gatherer's base
    /// directory; it must be new or empty (default: a new temporary directory,
    /// kept afterwards).
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,

    /// Keep the sample service, the gatherer and its dashboard (on
    /// 127.0.0.1, a free port) running until Ctrl-C, and print the
    /// dashboard's URL and a `flogtool web` command for one incident.
    #[arg(long)]
    serve: bool,
}

pub(crate) fn run(args: DemoArgs) -> anyhow::Result<()> {
    let dir = demo_dir(args.dir)?;
    crate::logport::block_on(demo(&dir, args.serve))?
}

/// The directory to use: the one asked for (new or empty, so nothing of an
/// earlier run mixes in) or a fresh temporary one that outlives the demo.
fn demo_dir(asked: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    match asked {
        Some(dir) => {
            fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
            let used = fs::read_dir(&dir)
                .with_context(|| format!("cannot read {}", dir.display()))?
                .next()
                .is_some();
            if used {
                bail!(
                    "{} is not empty: give the demo a new or empty directory",
                    dir.display()
                );
            }
            Ok(dir)
        }
        None => Ok(tempfile::Builder::new()
            .prefix("flog-demo-")
            .tempdir()
            .context("cannot create a temporary directory")?
            .keep()),
    }
}

async fn demo(dir: &Path, serve: bool) -> anyhow::Result<()> {
    let mut out = io::stdout();
    let logdir = dir.join("service");
    let basedir = dir.join("gatherer");
    writeln!(out, "flog demo in {}", dir.display())?;

    writeln!(
        out,
        "\n1. A sample service starts: it embeds flog-core, logs into {} and serves its logport.",
        logdir.display()
    )?;
    let mut service = SampleService::start(&logdir).await?;
    writeln!(
        out,
        "   logport URL in {} (TLS, the service's key pinned in it):\n   {}",
        service.logport_file().display(),
        service.url().redacted()
    )?;

    writeln!(
        out,
        "\n2. A gatherer starts in {}, polling the service every 250 ms.",
        basedir.display()
    )?;
    let started = start_gatherer(dir, &basedir, &service, serve).await;
    let (gatherer, mut stored) = match started {
        Ok(started) => started,
        Err(error) => {
            service.stop().await;
            return Err(error);
        }
    };
    let mut shown = trouble_and_results(&mut out, &basedir, &mut service, &mut stored).await;
    if let (Ok(paths), Some(url)) = (&shown, &gatherer.dashboard_url) {
        if let Err(error) = serve_until_interrupted(&mut out, url, &paths[0]).await {
            shown = Err(error);
        }
    }
    // Stopped whatever happened, so no report is left half recorded.
    let stopped = gatherer.shutdown().await;
    service.stop().await;
    let paths = shown?;
    stopped?;

    writeln!(out, "\nEverything is kept in {}. Next, try:", dir.display())?;
    writeln!(out, "  flogtool dump --verbose {}", paths[1].display())?;
    writeln!(
        out,
        "  flogtool classify-incident --verbose --rules {} {}",
        dir.join(RULES_FILE).display(),
        paths[2].display()
    )?;
    writeln!(
        out,
        "  flogtool dump --facility app.db {}/from-*",
        basedir.join(EVENTS_DIR).display()
    )?;
    writeln!(
        out,
        "and, on a running service, `flogtool list LOGDIR` and `flogtool tail LOGDIR`."
    )?;
    out.flush()?;
    Ok(())
}

/// Steps 3 to 5 and the results; returns the stored files of the database, web
/// and jobs incidents.
async fn trouble_and_results(
    out: &mut impl Write,
    basedir: &Path,
    service: &mut SampleService,
    stored: &mut mpsc::UnboundedReceiver<GatherEvent>,
) -> anyhow::Result<Vec<PathBuf>> {
    writeln!(
        out,
        "\n3. The service works, logging at every level; nothing is written yet."
    )?;
    service.work();

    writeln!(
        out,
        "\n4. Trouble, three times (each report keeps recording for {} s after its trigger):",
        service::TRAILING_DELAY.as_secs()
    )?;
    let database = service.database_outage().await?;
    writeln!(
        out,
        "   {database}: pool exhausted, then the primary unreachable (two triggers, one report)"
    )?;
    let web = service.web_failure_and_recovery().await?;
    writeln!(out, "   {web}: a failed request, then recovery")?;
    let jobs = service.stalled_job().await?;
    writeln!(out, "   {jobs}: a stalled job, which no rule knows")?;

    writeln!(out, "\n5. Waiting for the gatherer to store them...")?;
    let paths = wait_until_stored(stored, &[database, web, jobs]).await?;

    writeln!(out, "\n== What was gathered\n")?;
    show::tree(out, basedir)?;
    writeln!(
        out,
        "\n== How it was classified (rules in {})\n",
        basedir.join(CONFIG_FILE).display()
    )?;
    show::classification(out, &basedir.join(CLASSIFIED_DIR))?;
    writeln!(
        out,
        "\n== The database incident, as `flogtool dump --nums` shows it\n"
    )?;
    let show = Show {
        style: TextStyle {
            nums: true,
            ..TextStyle::default()
        },
        json: false,
        just_numbers: false,
        filter: &EventFilter::default(),
    };
    dump::dump_file(out, &paths[0], &show)?;

    let last = service.last_word()?;
    let events = wait_for_event(&basedir.join(EVENTS_DIR), last).await?;
    writeln!(
        out,
        "\n== The service's events as the event gatherer keeps them, at WEIRD and above \
         (`flogtool dump --min-level WEIRD`; the file has every event at OPERATIONAL and above)\n"
    )?;
    let weird = EventFilter {
        min_level: Some(flog_core::Level::WEIRD),
        ..EventFilter::default()
    };
    let show = Show {
        filter: &weird,
        ..show
    };
    dump::dump_file(out, &events, &show)?;
    Ok(paths)
}

/// Waits, within [`EVENTS_DEADLINE`], until the file being gathered into
/// holds event `num`; returns the file.
async fn wait_for_event(events: &Path, num: u64) -> anyhow::Result<PathBuf> {
    let deadline = tokio::time::Instant::now() + EVENTS_DEADLINE;
    loop {
        if let Some(path) = current_events_file(events) {
            if holds_event(&path, num) {
                return Ok(path);
            }
        }
        if tokio::time::Instant::now() >= deadline {
            bail!(
                "the event gatherer did not write the service's last event into {} within {} s",
                events.display(),
                EVENTS_DEADLINE.as_secs()
            );
        }
        // Polled: the writer flushes after each burst, a few ms after it.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The `---to-present` file of an events folder.
fn current_events_file(events: &Path) -> Option<PathBuf> {
    fs::read_dir(events)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with("---to-present.flog"))
}

/// Whether a gathered file (read up to its last complete record) holds `num`.
fn holds_event(path: &Path, num: u64) -> bool {
    let Ok(reader) = flog_core::flogfile::FlogReader::open(path) else {
        return false;
    };
    reader
        .map_while(Result::ok)
        .any(|r| matches!(r, flog_core::flogfile::Record::Received(r) if r.event.num == num))
}

/// With `--serve`: says where to look, then waits for Ctrl-C.
async fn serve_until_interrupted(
    out: &mut impl Write,
    dashboard: &str,
    incident: &Path,
) -> anyhow::Result<()> {
    writeln!(out, "\n== Serving until Ctrl-C\n")?;
    writeln!(out, "dashboard at {dashboard}")?;
    writeln!(
        out,
        "one incident in the viewer: flogtool web {}",
        incident.display()
    )?;
    out.flush()?;
    tokio::signal::ctrl_c()
        .await
        .context("cannot wait for Ctrl-C")?;
    writeln!(out, "\nstopping")?;
    Ok(())
}

/// A gatherer running on its own task, with its dashboard when asked for.
struct RunningGatherer {
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), GatherError>>,
    dashboard: Option<JoinHandle<io::Result<()>>>,
    dashboard_url: Option<String>,
}

impl RunningGatherer {
    /// Stops it (and its dashboard); in-flight files are finished first.
    async fn shutdown(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        if let Some(dashboard) = self.dashboard {
            dashboard
                .await
                .context("the dashboard task failed")?
                .context("the dashboard failed")?;
        }
        self.task
            .await
            .context("the gatherer task failed")?
            .context("the gatherer failed")
    }
}

/// Sets up the gatherer's base directory as an operator would (a config file
/// with the rules, the publisher's URL in `publishers/`), loads it the way the
/// daemon does, and starts gathering; every stored incident is reported on the
/// returned channel.
async fn start_gatherer(
    dir: &Path,
    basedir: &Path,
    service: &SampleService,
    serve: bool,
) -> anyhow::Result<(RunningGatherer, mpsc::UnboundedReceiver<GatherEvent>)> {
    let publishers = basedir.join(PUBLISHERS_DIR);
    fs::create_dir_all(&publishers)
        .with_context(|| format!("cannot create {}", publishers.display()))?;
    let config_file = basedir.join(CONFIG_FILE);
    fs::write(&config_file, format!("{GATHERER_SETTINGS}{RULES}"))
        .with_context(|| format!("cannot write {}", config_file.display()))?;
    let rules_file = dir.join(RULES_FILE);
    fs::write(&rules_file, RULES)
        .with_context(|| format!("cannot write {}", rules_file.display()))?;
    // The URL holds the secret: private, like the publisher's own logport file.
    let url_file = publishers.join("demo-service");
    flog_core::fs::write_private_atomically(&url_file, format!("{}\n", service.url()).as_bytes())
        .with_context(|| format!("cannot write {}", url_file.display()))?;

    let config = Config::load(basedir).context("cannot load the demo gatherer's config")?;
    let shutdown = CancellationToken::new();
    let gatherer = Gatherer::new(basedir, config.clone()).context("cannot start the gatherer")?;
    let (mut dashboard, mut dashboard_url, mut also) = (None, None, None);
    if serve {
        // Loopback and a free port: no token needed, nothing in the way.
        let http = HttpConfig::loopback(0);
        let listener = tokio::net::TcpListener::bind(http.bind)
            .await
            .context("cannot serve the dashboard")?;
        dashboard_url = Some(format!("http://{}/", listener.local_addr()?));
        // With the gatherer: the record button and the event figures.
        let server = DashboardServer::new(basedir, &config, &http).with_gatherer(&gatherer);
        also = Some(server.observer());
        dashboard = Some(tokio::spawn(server.serve(listener, shutdown.clone())));
    }
    let (tx, events) = mpsc::unbounded_channel();
    let gatherer = gatherer.with_observer(move |event: &GatherEvent| {
        if let Some(dashboard) = &also {
            dashboard.on_event(event);
        }
        // The demo may be done listening; nothing to do then.
        let _ = tx.send(event.clone());
    });
    let task = tokio::spawn({
        let shutdown = shutdown.clone();
        async move { gatherer.run(shutdown).await }
    });
    let running = RunningGatherer {
        shutdown,
        task,
        dashboard,
        dashboard_url,
    };
    Ok((running, events))
}

/// Waits, within [`GATHER_DEADLINE`], until the gatherer reports every incident
/// of `names` stored; returns their stored files in the same order.
async fn wait_until_stored(
    events: &mut mpsc::UnboundedReceiver<GatherEvent>,
    names: &[String],
) -> anyhow::Result<Vec<PathBuf>> {
    let mut stored: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut last_failure = None;
    let wait = async {
        while stored.len() < names.len() {
            match events.recv().await {
                Some(GatherEvent::Stored(incident)) if names.contains(&incident.name) => {
                    stored.insert(incident.name, incident.path);
                }
                Some(GatherEvent::Failed { error, .. }) => last_failure = Some(error),
                Some(_) => {}
                None => return Err(anyhow!("the gatherer stopped")),
            }
        }
        Ok(())
    };
    match tokio::time::timeout(GATHER_DEADLINE, wait).await {
        Ok(result) => result?,
        Err(_) => {
            let why = last_failure.map_or_else(String::new, |e| format!(" (last failure: {e})"));
            bail!(
                "the gatherer stored {} of {} incidents within {} s{why}",
                stored.len(),
                names.len(),
                GATHER_DEADLINE.as_secs()
            );
        }
    }
    Ok(names.iter().map(|name| stored[name].clone()).collect())
}
