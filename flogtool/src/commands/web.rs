//! `flogtool web FILE... [--port N] [--open]`: flogfiles in the browser, served
//! by flog-web on 127.0.0.1 until Ctrl-C.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use anyhow::Context as _;
use clap::Args;
use flog_core::flogfile::FlogContents;
use flog_web::{BoxError, FlogSource, PathSource, Stamp, Viewer};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::flogfiles;
use crate::inputs::{self, Input, Object};
use crate::logport::Interrupt;

#[derive(Debug, Args)]
pub(crate) struct WebArgs {
    /// Flogfiles to show: incidents (.flog, .flog.bz2), tail saves, gathered
    /// files, foolscap files. Each is read again when it changes, so a .flog
    /// still being written shows more on reload. `s3://BUCKET/KEY` shows one
    /// flogfile of a bucket gatherers share, `s3://BUCKET/PREFIX` every
    /// .flog.bz2 and .flog under the prefix, as listed at start, at most
    /// 1000 (credentials and endpoint from AWS_ACCESS_KEY_ID,
    /// AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL, ...).
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,

    /// The port to listen on, on 127.0.0.1 (default: a free one).
    #[arg(long, short)]
    port: Option<u16>,

    /// Open the page in a browser: $BROWSER if set, else xdg-open.
    #[arg(long)]
    open: bool,
}

/// The most objects of buckets one `flogtool web` shows.
const MAX_OBJECTS: usize = 1000;

/// flogtool reads foolscap's files too; errors keep their whole chain.
fn load(path: &Path) -> Result<FlogContents, BoxError> {
    load_input(&Input::File(path.to_owned()))
}

fn load_input(input: &Input) -> Result<FlogContents, BoxError> {
    flogfiles::read_input(input, &indicatif::ProgressBar::hidden())
        .map(flogfiles::Contents::into_flog_contents)
        .map_err(|e| crate::error_chain(&e).into())
}

/// A flogfile in a bucket, for the viewer. Objects there are created once
/// and never rewritten, so the listed size stamps it: it is fetched when
/// first shown, not again on every request.
#[derive(Debug)]
struct ObjectSource(Object);

impl FlogSource for ObjectSource {
    fn label(&self) -> String {
        self.0.url().to_owned()
    }

    fn stamp(&self) -> Option<Stamp> {
        Some(Stamp::new(self.0.size(), None))
    }

    fn load(&self) -> Result<FlogContents, BoxError> {
        load_input(&Input::Object(self.0.clone()))
    }
}

/// Serves until SIGINT or SIGTERM, then exits 0.
pub(crate) async fn run(args: WebArgs) -> anyhow::Result<()> {
    for path in &args.files {
        if inputs::bucket_url(path).is_none() {
            std::fs::metadata(path).with_context(|| format!("cannot open {}", path.display()))?;
        }
    }
    let files = inputs::expand(&args.files, tokio::runtime::Handle::current()).await?;
    let objects = files
        .iter()
        .filter(|f| matches!(f, Input::Object(_)))
        .count();
    // The index page reads every file it lists: a bounded count keeps the
    // bucket's bill in bounds. Memory is bounded by the viewer's budget in
    // bytes (`flog_web::DEFAULT_MEMORY_BUDGET`): the files read longest ago
    // are let go and read again when next shown.
    anyhow::ensure!(
        objects <= MAX_OBJECTS,
        "{objects} flogfiles in the bucket locations given, more than the {MAX_OBJECTS} one viewer shows; name a narrower prefix"
    );
    let mut interrupt = Interrupt::install()?;
    let listener = TcpListener::bind(("127.0.0.1", args.port.unwrap_or(0)))
        .await
        .with_context(|| match args.port {
            Some(port) => format!("cannot listen on 127.0.0.1:{port}"),
            None => "cannot listen on 127.0.0.1".to_owned(),
        })?;
    let port = listener.local_addr()?.port();
    // Only our own names: a page elsewhere that points a name of its own at
    // 127.0.0.1 (DNS rebinding) gets no file.
    let viewer = Viewer::builder()
        .allowed_hosts([format!("127.0.0.1:{port}"), format!("localhost:{port}")])
        .build()?;
    let mut local = Vec::new();
    for input in files.iter().cloned() {
        match input {
            Input::File(path) => local.push(viewer.add(PathSource::with_loader(path, load))),
            Input::Object(object) => {
                viewer.add(ObjectSource(object));
            }
        }
    }
    let url = format!("http://127.0.0.1:{port}/");
    let mut stdout = std::io::stdout();
    writeln!(stdout, "{url}")?;
    stdout.flush()?;
    eprintln!(
        "flogtool: serving {} file(s) at {url}; Ctrl-C to stop",
        files.len()
    );
    if args.open {
        open_browser(&url);
    }
    let viewer = Arc::new(viewer);
    // Read the local files now, while the browser starts: a large one is then
    // ready when its page is first asked for (a request meanwhile waits for
    // it). A bucket's are fetched when first asked for: a prefix may name
    // thousands.
    let warm = viewer.clone();
    tokio::spawn(async move {
        for id in local {
            if let Err(e) = warm.file(id).await {
                eprintln!("flogtool: warning: {e}");
            }
        }
    });
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(flog_web::serve(listener, viewer, shutdown.clone()));
    interrupt.wait().await;
    shutdown.cancel();
    server
        .await
        .context("the web server stopped unexpectedly")?
        .context("the web server failed")
}

/// Starts a browser on `url` without waiting for it; failing is only a warning
/// (the URL was printed).
fn open_browser(url: &str) {
    // $BROWSER is a list of commands separated by ':'; `%s` stands for the URL.
    let command = std::env::var("BROWSER").ok().and_then(|list| {
        list.split(':')
            .map(str::trim)
            .find(|c| !c.is_empty())
            .map(str::to_owned)
    });
    let (program, args): (String, Vec<String>) = match command {
        Some(command) => {
            let mut words = command.split_whitespace().map(str::to_owned);
            let program = words.next().unwrap_or_default();
            let mut args: Vec<String> = words.collect();
            if args.iter().any(|a| a.contains("%s")) {
                args = args.into_iter().map(|a| a.replace("%s", url)).collect();
            } else {
                args.push(url.to_owned());
            }
            (program, args)
        }
        None => ("xdg-open".to_owned(), vec![url.to_owned()]),
    };
    let started = Command::new(&program)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    match started {
        // Reaped on a thread of its own, so it leaves no zombie.
        Ok(mut child) => {
            let _ = std::thread::Builder::new()
                .name("browser".into())
                .spawn(move || child.wait());
        }
        Err(e) => eprintln!("flogtool: warning: cannot start {program} to open {url}: {e}"),
    }
}
