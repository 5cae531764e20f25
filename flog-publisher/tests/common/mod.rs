//! A service with a logdir, shared by the publisher's test binaries.
#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;
use std::sync::{mpsc, Mutex};
use std::time::Duration;

use flog_core::{Level, Logger};
use flog_publisher::{Publisher, PublisherConfig};
use flog_wire::{
    Connection, Connector, ErrorCode, Hello, LogportUrl, Message, Stream, PROTOCOL_VERSION,
};

pub const PATIENCE: Duration = Duration::from_secs(60);

pub struct Service {
    _dir: tempfile::TempDir,
    pub logdir: PathBuf,
    pub logger: Logger,
    pub incidents: mpsc::Receiver<String>,
}

/// A logger with a logdir in a temporary directory; with `trailing`, incidents
/// record until 3 more events arrive (an hour at most), else finish at once.
pub fn service(trailing: bool) -> Service {
    let dir = tempfile::tempdir().unwrap();
    let logdir = dir.path().join("logs");
    let logger = Logger::builder()
        .trailing(trailing)
        .trailing_delay(Duration::from_secs(3600))
        .trailing_event_limit(3)
        .incident_rate_limit(1000, Duration::from_secs(1))
        .build()
        .unwrap();
    logger.set_logdir(&logdir).unwrap();
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    logger.add_incident_observer(move |incident: &flog_core::IncidentReport| {
        let name = incident.name.as_str();
        let _ = tx.lock().unwrap().send(name.to_owned());
    });
    Service {
        _dir: dir,
        logdir,
        logger,
        incidents: rx,
    }
}

impl Service {
    /// Declares an incident and waits until it is recorded.
    pub fn incident(&self, text: &str) -> String {
        self.logger.msg(Level::WEIRD, text.to_owned());
        self.incidents
            .recv_timeout(PATIENCE)
            .expect("incident recorded")
    }

    /// An incident after `blobs` events of `blob` bytes of noise each, which
    /// bzip2 cannot squeeze, so the file is about `blobs * blob` bytes.
    pub fn noise_incident(&self, blobs: usize, blob: usize) -> String {
        let mut state = 0x9E37_79B9_7F4A_7C15_u64 ^ blob as u64;
        for i in 0..blobs {
            let mut noise = Vec::with_capacity(blob);
            while noise.len() < blob {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                noise.extend_from_slice(&state.to_le_bytes());
            }
            // In values of flog_core::flogfile::MAX_VALUE_BYTES (the buffers cut longer
            // ones), spread over facilities so that no buffer passes its 100.
            for part in noise.chunks(flog_core::flogfile::MAX_VALUE_BYTES) {
                self.logger
                    .event(Level::OPERATIONAL)
                    .facility(format!("app.setup.{}", i / 8))
                    .format("noise {i}")
                    .field("i", i as u64)
                    .field("noise", part.to_vec())
                    .emit();
            }
        }
        self.incident("noise")
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.logdir.join(format!("{name}.flog.bz2"))
    }
}

/// A publisher of `s`'s logger with `config`, on 127.0.0.1.
pub async fn start(s: &Service, config: PublisherConfig) -> Publisher {
    Publisher::builder(s.logger.clone())
        .config(config)
        .start()
        .await
        .unwrap()
}

/// A publisher of `s`'s logger with `config` whose logport is plaintext,
/// asked for with `insecure_plaintext`.
pub async fn start_insecure(s: &Service, config: PublisherConfig) -> Publisher {
    Publisher::builder(s.logger.clone())
        .config(config)
        .insecure_plaintext()
        .start()
        .await
        .unwrap()
}

/// A connection as the publisher's URL says (TLS with its key pinned,
/// unless it was started plaintext), on which a test speaks bytes.
pub async fn stream(publisher: &Publisher) -> Stream {
    Connector::new().connect(publisher.url()).await.unwrap()
}

/// A raw connection, before the hello.
pub async fn raw(publisher: &Publisher) -> Connection<Stream> {
    Connection::new(stream(publisher).await)
}

/// A raw connection past the hello: the well-behaved start of every test that
/// then speaks frames by hand.
pub async fn welcomed(publisher: &Publisher) -> Connection<Stream> {
    let mut conn = raw(publisher).await;
    conn.write_message(&hello(publisher.url(), vec![PROTOCOL_VERSION]))
        .await
        .unwrap();
    assert!(matches!(
        conn.read_message().await.unwrap(),
        Some(Message::Welcome(_))
    ));
    conn
}

pub fn hello(url: &LogportUrl, versions: Vec<u32>) -> Message {
    Hello {
        versions,
        secret: url.secret().to_owned(),
        client: "test".into(),
    }
    .into()
}

pub async fn expect_error<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    conn: &mut Connection<S>,
) -> (Option<u64>, ErrorCode) {
    match conn.read_message().await.unwrap() {
        Some(Message::Error(e)) => (e.id, e.code),
        other => panic!("expected an error, got {other:?}"),
    }
}
