//! `flogtool tail LOGPORT`: a publisher's events as they happen.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, Context as _};
use clap::Args;
use flog_core::{
    flogfile::{FlogWriter, Header, HeaderKind, Receipt},
    Event, Timestamp,
};
use flog_wire::{EncodedEvent, EventOrigin, EventUpdate, Welcome};

use crate::filter::EventFilter;
use crate::json;
use crate::logport::{self, Interrupt};
use crate::print::{self, OutputArgs, TextStyle};
use crate::writing::{self, Target};

/// How long saved events may sit in memory before they reach the file.
const SAVE_FLUSH_INTERVAL: Duration = Duration::from_millis(200);

#[derive(Debug, Args)]
pub(crate) struct TailArgs {
    /// The publisher: a flogs:// URL, a logport file, or the service's log
    /// directory.
    #[arg(value_name = "LOGPORT")]
    target: String,

    /// Start with the events still in the publisher's buffers.
    #[arg(short, long)]
    catch_up: bool,

    /// Also save the events shown to FILE, a new flogfile with a `tail`
    /// header. It is written as events arrive, readable at any time, and
    /// complete once flogtool stops (Ctrl-C, SIGTERM). For FILE.bz2 the events
    /// go to FILE, plain and readable, which is compressed into FILE.bz2
    /// (atomically) when the tail ends. An existing file is never replaced.
    #[arg(short, long, value_name = "FILE")]
    save_to: Option<PathBuf>,

    #[command(flatten)]
    output: OutputArgs,

    #[command(flatten)]
    filter: EventFilter,
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
    let header = tail_header(client.welcome());
    let mut saver = match &args.save_to {
        Some(path) => Some(Saver::create(path, &header)?),
        None => None,
    };
    let mut tail = Tail {
        args: &args,
        style: args.output.style(),
        saver: saver.as_mut(),
    };
    tail.connected(&header)?;
    eprintln!(
        "flogtool: tailing {} (pid {}); Ctrl-C to stop",
        url.redacted(),
        client.welcome().pid
    );
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
                    if let Err(error) = tail.encoded(&encoded, None) {
                        break End::Failed(error);
                    }
                }
                Some(EventUpdate::Relayed { event, origin }) => {
                    if let Err(error) = tail.encoded(&event, Some(origin)) {
                        break End::Failed(error);
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
        let events = saver.events;
        let path = tokio::task::spawn_blocking(move || saver.finish()).await??;
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
    style: TextStyle,
    saver: Option<&'a mut Saver>,
}

impl Tail<'_> {
    /// Who is being tailed, first: the publisher's pid, incarnation and
    /// versions (foolscap's tail prints them on connecting too), as a `tail`
    /// header like the one the saved file starts with.
    fn connected(&mut self, header: &Header) -> anyhow::Result<()> {
        let line = if self.args.output.json {
            json::header_json(header, None).to_string()
        } else {
            print::header_text(header, &self.style.times)
        };
        writeln!(io::stdout(), "{line}")?;
        Ok(())
    }

    /// An event as it came; one relayed by a gatherer's logport carries
    /// its origin, shown (`[FROM]`, JSON `from` and `rx_time`) and saved as
    /// a gathered file's receipt.
    fn encoded(
        &mut self,
        encoded: &EncodedEvent,
        origin: Option<EventOrigin>,
    ) -> anyhow::Result<()> {
        match logport::decode_event(encoded.as_bytes()) {
            Ok(event) => {
                let receipt = origin.map(|o| Receipt {
                    from: o.from,
                    rx_time: Timestamp(o.rx_time),
                });
                self.event(&event, receipt.as_ref())
            }
            Err(error) => {
                eprintln!("flogtool: warning: skipping an undecodable event: {error:#}");
                Ok(())
            }
        }
    }

    fn event(&mut self, event: &Event, receipt: Option<&Receipt>) -> anyhow::Result<()> {
        let from = receipt.map(|r| r.from.as_str());
        if !self.args.filter.matches_from(event, from) {
            return Ok(());
        }
        let rx_time = receipt.map(|r| r.rx_time);
        let line = if self.args.output.json {
            json::with_receipt(json::event_json(event, false), rx_time, from).to_string()
        } else {
            print::event_text_origin(event, rx_time, from, &self.style, false)
        };
        writeln!(io::stdout(), "{line}")?;
        if let Some(saver) = self.saver.as_deref_mut() {
            saver.event(event, receipt)?;
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

/// The header of a tail: the publisher as its welcome describes it.
fn tail_header(welcome: &Welcome) -> Header {
    Header {
        kind: HeaderKind::Tail.into(),
        pid: Some(welcome.pid),
        versions: welcome.versions.clone(),
        // The welcome carries the text form; one a foreign publisher spelled
        // its own way is left out rather than failing the tail.
        incarnation: welcome.incarnation.parse().ok(),
        started: Some(Timestamp::now()),
        ..Header::default()
    }
}

/// The `--save-to` file. Flushed at record boundaries every
/// [`SAVE_FLUSH_INTERVAL`], so even a tail killed without warning leaves a
/// flogfile that reads up to its last flush (at worst as truncated).
struct Saver {
    /// Where events are written as they arrive: plain, so it reads at once.
    path: PathBuf,
    /// For `--save-to FILE.bz2`: FILE.bz2, written when the tail ends.
    compressed: Option<PathBuf>,
    writer: FlogWriter<BufWriter<File>>,
    events: u64,
}

impl Saver {
    /// Refuses to replace an existing file: it may be an earlier capture.
    fn create(path: &Path, header: &Header) -> anyhow::Result<Saver> {
        let compressed = writing::wants_bzip2(path).then(|| path.to_owned());
        let plain = match &compressed {
            Some(path) => path.with_extension(""),
            None => path.to_owned(),
        };
        if let Some(compressed) = compressed.as_ref().filter(|p| p.exists()) {
            return Err(anyhow!(
                "{} exists: --save-to never replaces a file",
                compressed.display()
            ));
        }
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&plain)
            .with_context(|| format!("cannot create {}", plain.display()))?;
        let writer = FlogWriter::new(BufWriter::with_capacity(64 * 1024, file), header)
            .and_then(|mut w| w.flush().map(|()| w))
            .with_context(|| format!("cannot write {}", plain.display()))?;
        if let Some(compressed) = &compressed {
            eprintln!(
                "flogtool: saving to {}, compressed into {} when the tail ends",
                plain.display(),
                compressed.display()
            );
        }
        Ok(Saver {
            path: plain,
            compressed,
            writer,
            events: 0,
        })
    }

    fn event(&mut self, event: &Event, receipt: Option<&Receipt>) -> anyhow::Result<()> {
        match receipt {
            Some(receipt) => self.writer.write_received(event, receipt),
            None => self.writer.write_event(event),
        }
        .with_context(|| format!("cannot write {}", self.path.display()))?;
        self.events += 1;
        Ok(())
    }

    fn flush(&mut self) -> anyhow::Result<()> {
        self.writer
            .flush()
            .with_context(|| format!("cannot write {}", self.path.display()))
    }

    /// Completes the file (flushed and synced) and, for `.bz2`, compresses it
    /// into place and removes the plain one; returns the path of the saved
    /// file. Should compressing fail, the plain file is kept.
    fn finish(self) -> anyhow::Result<PathBuf> {
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
        done.with_context(|| format!("cannot finish {}", path.display()))?;
        let Some(compressed) = self.compressed else {
            return Ok(path);
        };
        let target = Target {
            compress: true,
            permissions: None,
        };
        writing::write_file(&compressed, &target, |out| {
            io::copy(&mut File::open(&path)?, out).map(drop)
        })
        .with_context(|| format!("the events are in {}", path.display()))?;
        std::fs::remove_file(&path)
            .and_then(|()| flog_core::fs::sync_parent(&path))
            .with_context(|| format!("cannot remove {} after compressing it", path.display()))?;
        Ok(compressed)
    }
}
