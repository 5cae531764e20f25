//! Operations applied over an in-memory connection: a publisher's state on a
//! real logdir, the outbox's writer on one end of a duplex pipe and a client's
//! reader on the other.

use std::path::PathBuf;
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use flog_core::{Level, Logger};
use flog_wire::{Connection, ErrorCode, Message, MessageReader, Op, Reply, Request};
use tokio::io::{DuplexStream, ReadHalf};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{apply, Context, Subscriptions};
use crate::config::PublisherConfig;
use crate::outbox::{write_loop, Outbox};
use crate::state::State;

const PATIENCE: Duration = Duration::from_secs(20);

pub(crate) struct Harness {
    pub(crate) state: Arc<State>,
    cx: Context,
    subs: Subscriptions,
    client: MessageReader<ReadHalf<DuplexStream>>,
    incidents: mpsc::Receiver<String>,
    logdir: PathBuf,
    shutdown: CancellationToken,
    _dir: tempfile::TempDir,
}

impl Harness {
    pub(crate) async fn new() -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let logdir = dir.path().join("logs");
        let logger = Logger::builder().trailing(false).build().unwrap();
        logger.set_logdir(&logdir).unwrap();
        let shutdown = CancellationToken::new();
        let tracker = TaskTracker::new();
        let config = PublisherConfig::default();
        let state = State::start(logger.clone(), config, shutdown.clone(), &tracker)
            .await
            .unwrap();
        state.observe_incidents();
        // Observers run in order: by the time this one hears of an incident,
        // the index holds it.
        let (tx, incidents) = mpsc::channel();
        let tx = Mutex::new(tx);
        logger.add_incident_observer(move |incident: &flog_core::IncidentReport| {
            let name = incident.name.as_str();
            let _ = tx.lock().unwrap().send(name.to_owned());
        });
        let (server_end, client_end) = tokio::io::duplex(1 << 20);
        let (_, writer) = Connection::new(server_end).into_split();
        let (client, _) = Connection::new(client_end).into_split();
        let cancel = shutdown.child_token();
        let (outbox, queue) = Outbox::new(cancel.clone());
        tokio::spawn(write_loop(writer, queue, PATIENCE, cancel.clone()));
        Harness {
            cx: Context::new(Arc::clone(&state), outbox, cancel),
            state,
            subs: Subscriptions::default(),
            client,
            incidents,
            logdir,
            shutdown,
            _dir: dir,
        }
    }

    pub(crate) fn logger(&self) -> &Logger {
        &self.state.logger
    }

    /// Declares an incident and waits until it is recorded and indexed.
    pub(crate) fn incident(&self, text: &str) -> String {
        self.logger().msg(Level::WEIRD, text.to_owned());
        self.incidents.recv_timeout(PATIENCE).unwrap()
    }

    pub(crate) fn file(&self, name: &str) -> PathBuf {
        self.logdir.join(format!("{name}.flog.bz2"))
    }

    pub(crate) async fn apply(&mut self, id: u64, op: Op) {
        apply(Request { id, op }, &self.cx, &mut self.subs).await;
    }

    /// The next message the client receives.
    pub(crate) async fn next(&mut self) -> Message {
        tokio::time::timeout(PATIENCE, self.client.read_message())
            .await
            .expect("a message in time")
            .unwrap()
            .expect("the connection is open")
    }

    pub(crate) async fn reply(&mut self, id: u64) -> Reply {
        match self.next().await {
            Message::Response(r) if r.id == id => r.reply,
            other => panic!("expected the response to {id}, got {other:?}"),
        }
    }

    pub(crate) async fn error(&mut self) -> (Option<u64>, ErrorCode) {
        match self.next().await {
            Message::Error(e) => (e.id, e.code),
            other => panic!("expected an error, got {other:?}"),
        }
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
