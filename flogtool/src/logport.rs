//! Reaching a publisher: naming its logport, connecting, decoding what it sends.

use std::future::Future;
use std::io::{Cursor, Read};
use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use flog_core::{
    flogfile::{FlogReader, Record, MAGIC},
    Event,
};
use flog_publisher::LOGPORT_FILE;
use flog_wire::{ClientOptions, LogportClient, LogportUrl};

/// Resolves the LOGPORT argument: a logport URL (`flogs://`, or
/// `flog+insecure://` for a port made plaintext), the path of a logport file,
/// or a log directory holding one. Error messages never show the secret; an
/// old `flog://` URL gets the message saying where the new one is.
pub(crate) fn resolve_url(target: &str) -> anyhow::Result<LogportUrl> {
    if target.contains("://") {
        return LogportUrl::parse(target).context("invalid logport URL");
    }
    let path = Path::new(target);
    let meta = std::fs::metadata(path).with_context(|| {
        format!("{target} is neither a flogs:// URL nor a logport file or log directory")
    })?;
    let file = if meta.is_dir() {
        path.join(LOGPORT_FILE)
    } else {
        path.to_owned()
    };
    let text = std::fs::read_to_string(&file)
        .with_context(|| format!("cannot read the logport file {}", file.display()))?;
    LogportUrl::parse(text.trim())
        .with_context(|| format!("{} does not hold a logport URL", file.display()))
}

/// Connects and says hello; the error names the logport without its secret and
/// carries the publisher's refusal (e.g. `unauthorized`).
pub(crate) async fn connect(url: &LogportUrl) -> anyhow::Result<LogportClient> {
    let options = ClientOptions::new()
        .client_name(concat!("flogtool/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(10));
    LogportClient::connect_with(url, options)
        .await
        .with_context(|| format!("cannot talk to {}", url.redacted()))
}

/// Runs the async part of a command on a runtime of its own: most commands need
/// none, so `main` stays synchronous.
pub(crate) fn block_on<F: Future>(future: F) -> anyhow::Result<F::Output> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    Ok(runtime.block_on(future))
}

/// Decodes an event from the logport. Publishers send the event body (what
/// `Event::to_cbor` makes); the protocol text also allows a whole `["event",
/// {...}]` record, so that is accepted too.
pub(crate) fn decode_event(bytes: &[u8]) -> anyhow::Result<Event> {
    let body_error = match Event::from_cbor(bytes) {
        Ok(event) => return Ok(event),
        Err(e) => e,
    };
    let file = Cursor::new(MAGIC.to_vec()).chain(Cursor::new(bytes.to_vec()));
    if let Ok(Some(Record::Event(event))) = FlogReader::new(file).and_then(|mut r| r.next_record())
    {
        return Ok(*event);
    }
    Err(body_error.into())
}

/// The user asking us to stop: SIGINT (Ctrl-C) or SIGTERM.
///
/// Installed up front rather than when first awaited, so that a signal arriving
/// while the command connects is caught too instead of killing the process with
/// a file half written.
#[derive(Debug)]
pub(crate) struct Interrupt {
    #[cfg(unix)]
    signals: [tokio::signal::unix::Signal; 2],
}

impl Interrupt {
    /// Takes over SIGINT and SIGTERM; needs the runtime.
    pub(crate) fn install() -> anyhow::Result<Interrupt> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let int = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
            let term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
            Ok(Interrupt {
                signals: [int, term],
            })
        }
        #[cfg(not(unix))]
        Ok(Interrupt {})
    }

    /// Resolves at the next signal.
    pub(crate) async fn wait(&mut self) {
        #[cfg(unix)]
        {
            let [int, term] = &mut self.signals;
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flog_core::{flogfile::FlogWriter, Level, Text};

    #[test]
    fn urls_come_from_text_files_and_logdirs() {
        let dir = tempfile::tempdir().unwrap();
        let url = "flogs://4oymiquy7qobjgx36tejs35zeqt24qpemsnzgtfeswmrw6csxbkq@127.0.0.1:4817/p-1/s3cr3t";
        std::fs::write(dir.path().join(LOGPORT_FILE), format!("{url}\n")).unwrap();
        let from_dir = resolve_url(dir.path().to_str().unwrap()).unwrap();
        let file = dir.path().join(LOGPORT_FILE);
        let from_file = resolve_url(file.to_str().unwrap()).unwrap();
        assert_eq!(from_dir.to_string(), url);
        assert_eq!(from_file, from_dir);
        assert_eq!(resolve_url(url).unwrap(), from_dir);

        let bad = resolve_url("flog+insecure://127.0.0.1:4817/p-1/s3cr3t/extra").unwrap_err();
        assert!(!format!("{bad:#}").contains("s3cr3t"), "{bad:#}");
        let missing = resolve_url("/no/such/dir").unwrap_err();
        assert!(
            format!("{missing:#}").contains("neither a flogs:// URL"),
            "{missing:#}"
        );
    }

    #[test]
    fn old_flog_urls_say_where_the_new_one_is_wherever_they_come_from() {
        let dir = tempfile::tempdir().unwrap();
        let old = "flog://127.0.0.1:4817/p-1/s3cr3t";
        std::fs::write(dir.path().join(LOGPORT_FILE), format!("{old}\n")).unwrap();
        for target in [old, dir.path().to_str().unwrap()] {
            let error = format!("{:#}", resolve_url(target).unwrap_err());
            assert!(error.contains("from before TLS"), "{error}");
            assert!(error.contains("logport file"), "{error}");
            assert!(!error.contains("s3cr3t"), "{error}");
        }
    }

    #[test]
    fn events_decode_from_bodies_and_records() {
        let event = Event {
            num: 5,
            level: Level::WEIRD,
            text: Text::Message("hi".into()),
            ..Event::default()
        };
        assert_eq!(decode_event(&event.to_cbor()).unwrap(), event);
        let mut record = Vec::new();
        FlogWriter::append_to(&mut record)
            .write_event(&event)
            .unwrap();
        assert_eq!(decode_event(&record).unwrap(), event);
        assert!(decode_event(b"\xff").is_err());
    }
}
