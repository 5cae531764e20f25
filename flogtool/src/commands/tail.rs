//! `flogtool tail LOGPORT`: a publisher's events as they happen.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, Context as _};
use clap::Args;
use flog_core::{Event, FlogWriter, Header, Timestamp, HEADER_TAIL};
use flog_wire::{EventUpdate, Welcome};

use crate::filter::EventFilter;
use crate::logport::{self, Interrupt};
use crate::print::{self, OutputArgs};
use crate::{flogfiles, json};

/// How long saved events may sit in memory before they reach the file.
const SAVE_FLUSH_INTERVAL: Duration = Duration::from_millis(200);

#[derive(Debug, Args)]
pub(crate) struct TailArgs {
    /// The publisher: a flog:// URL, a logport file, or the service's log
    /// directory.
    #[arg(value_name = "LOGPORT")]
    target: String,

    /// Start with the events still in the publisher's buffers.
    #[arg(long)]
    catch_up: bool,

    /// Also save the events shown to FILE, a new plain flogfile with a `tail`
    /// header. It is written as events arrive, readable at any time, and
    /// complete once flogtool stops (Ctrl-C).
    #[arg(long, value_name = "FILE", value_parser = parse_save_path)]
    save_to: Option<PathBuf>,

    #[command(flatten)]
    output: OutputArgs,

    #[command(flatten)]
    filter: EventFilter,
}

/// A compressed file cannot be read until it is finished, which defeats saving
/// progressively; `flogtool filter FILE FILE.bz2` compresses afterwards.
fn parse_save_path(text: &str) -> Result<PathBuf, String> {
    let path = PathBuf::from(text);
    if flogfiles::wants_bzip2(&path) {
        Err(
            "--save-to writes a plain .flog as events arrive; compress it afterwards \
             with `flogtool filter FILE FILE.bz2`"
                .to_owned(),
        )
    } else {
        Ok(path)
    }
}

/// Why the tail stopped.
enum End {
    /// Ctrl-C or SIGTERM: the way a tail is meant to end.
    Interrupted,
    /// The publisher ended the subscription or went away.
    Ended(String),
    /// Printing or saving failed.
    Failed(anyhow::Error),
}

/// Prints events until interrupted. The saved file is completed (flushed and
/// synced) however the tail ends. Ends with success only when the user stopped
/// it; the publisher going away is a failure, so scripts notice.
pub(crate) async fn run(args: TailArgs) -> anyhow::Result<()> {
    let url = logport::resolve_url(&args.target)?;
    let mut interrupt = Interrupt::install()?;
    let connected = tokio::select! {
        connected = async {
            let client = logport::connect(&url).await?;
            let subscription = client
                .subscribe_to_all(args.catch_up)
                .await
                .with_context(|| format!("cannot subscribe to the events of {}", url.redacted()))?;
            anyhow::Ok((client, subscription))
        } => Some(connected?),
        () = interrupt.wait() => None,
    };
    let Some((client, mut subscription)) = connected else {
        return Ok(());
    };
    let mut saver = match &args.save_to {
        Some(path) => Some(Saver::create(path, client.welcome())?),
        None => None,
    };
    eprintln!(
        "flogtool: tailing {} (pid {}); Ctrl-C to stop",
        url.redacted(),
        client.welcome().pid
    );
    let mut tail = Tail {
        args: &args,
        saver: saver.as_mut(),
    };
    let mut flush = tokio::time::interval(SAVE_FLUSH_INTERVAL);
    let end = loop {
        tokio::select! {
            () = interrupt.wait() => break End::Interrupted,
            _ = flush.tick() => {
                if let Err(error) = tail.flush() {
                    break End::Failed(error);
                }
            }
            update = subscription.next() => match update {
                Some(EventUpdate::Event(encoded)) => {
                    match logport::decode_event(encoded.as_bytes()) {
                        Ok(event) => if let Err(error) = tail.event(&event) {
                            break End::Failed(error);
                        },
                        Err(error) => {
                            eprintln!("flogtool: warning: skipping an undecodable event: {error:#}");
                        }
                    }
                }
                Some(EventUpdate::Dropped { count }) => {
                    if let Err(error) = tail.dropped(count) {
                        break End::Failed(error);
                    }
                }
                Some(EventUpdate::Ended { reason }) => break End::Ended(reason),
                None => break End::Ended("the subscription ended".to_owned()),
            },
        }
    };
    if let Some(saver) = saver {
        let (path, events) = (saver.path.clone(), saver.events);
        saver.finish()?;
        eprintln!("flogtool: saved {events} events to {}", path.display());
    }
    match end {
        End::Interrupted => Ok(()),
        End::Ended(reason) => Err(anyhow!("the publisher ended the tail: {reason}")),
        End::Failed(error) => Err(error),
    }
}

struct Tail<'a> {
    args: &'a TailArgs,
    saver: Option<&'a mut Saver>,
}

impl Tail<'_> {
    fn event(&mut self, event: &Event) -> anyhow::Result<()> {
        if !self.args.filter.matches(event) {
            return Ok(());
        }
        let line = if self.args.output.json {
            json::event_json(event, false).to_string()
        } else {
            print::event_text(event, self.args.output.style(), false)
        };
        writeln!(io::stdout(), "{line}")?;
        if let Some(saver) = self.saver.as_deref_mut() {
            saver.event(event)?;
        }
        Ok(())
    }

    /// Shown where the gap is, in the stream itself, so a reader sees which
    /// events it separates.
    fn dropped(&mut self, count: u64) -> anyhow::Result<()> {
        let line = if self.args.output.json {
            json::dropped_json(count).to_string()
        } else {
            format!(
                "== {count} events dropped here: the publisher's or flogtool's queue overflowed"
            )
        };
        writeln!(io::stdout(), "{line}")?;
        Ok(())
    }

    fn flush(&mut self) -> anyhow::Result<()> {
        match self.saver.as_deref_mut() {
            Some(saver) => saver.flush(),
            None => Ok(()),
        }
    }
}

/// The `--save-to` file. Flushed at record boundaries every
/// [`SAVE_FLUSH_INTERVAL`], so even a tail killed without warning leaves a
/// flogfile that reads up to its last flush (at worst as truncated).
struct Saver {
    path: PathBuf,
    writer: FlogWriter<BufWriter<File>>,
    events: u64,
}

impl Saver {
    /// Refuses to replace an existing file: it may be an earlier capture.
    fn create(path: &Path, welcome: &Welcome) -> anyhow::Result<Saver> {
        let header = Header {
            kind: HEADER_TAIL.to_owned(),
            pid: Some(welcome.pid),
            versions: welcome.versions.clone(),
            incarnation: Some(welcome.incarnation.clone()),
            started: Some(Timestamp::now()),
            ..Header::default()
        };
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        let writer = FlogWriter::new(BufWriter::with_capacity(64 * 1024, file), &header)
            .and_then(|mut w| w.flush().map(|()| w))
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(Saver {
            path: path.to_owned(),
            writer,
            events: 0,
        })
    }

    fn event(&mut self, event: &Event) -> anyhow::Result<()> {
        self.writer
            .write_event(event)
            .with_context(|| format!("cannot write {}", self.path.display()))?;
        self.events += 1;
        Ok(())
    }

    fn flush(&mut self) -> anyhow::Result<()> {
        self.writer
            .flush()
            .with_context(|| format!("cannot write {}", self.path.display()))
    }

    fn finish(self) -> anyhow::Result<()> {
        let path = self.path;
        let done = self
            .writer
            .into_inner()
            .and_then(|buffered| {
                buffered
                    .into_inner()
                    .map_err(io::IntoInnerError::into_error)
            })
            .and_then(|file| file.sync_all());
        done.with_context(|| format!("cannot finish {}", path.display()))
    }
}
