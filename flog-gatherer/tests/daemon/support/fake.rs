//! A fake publisher on loopback TCP, speaking the logport protocol from a
//! script: what it lists, what it serves, when it holds a fetch, what it
//! pushes to subscribers. Hostile scripts lie in ways a real publisher
//! never would.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use flog_core::Level;
use flog_wire::{
    Connection, EncodedEvent, ErrorCode, ErrorMessage, IncidentInfo, ListQuery, Message,
    MessageWriter, NewIncident, Op, Reply, Request, Response, Welcome,
};
use serde_bytes::ByteBuf;
use sha2::{Digest, Sha256};
use tokio::io::WriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Mutex};

/// One incident a fake publisher lists and serves.
#[derive(Clone)]
pub(crate) struct Served {
    pub(crate) info: IncidentInfo,
    pub(crate) bytes: Vec<u8>,
}

pub(crate) use flog_testkit::incident_file;

impl Served {
    /// An honest incident: a real flogfile, listed with its size.
    pub(crate) fn honest(name: &str) -> Served {
        Served::with_bytes(name, incident_file(name, 0))
    }

    /// `bytes` served as incident `name`, listed with their true size.
    pub(crate) fn with_bytes(name: &str, bytes: Vec<u8>) -> Served {
        Served {
            info: listing(name, bytes.len() as u64),
            bytes,
        }
    }
}

/// A listing entry for `name` of `size` bytes, with a small trigger.
pub(crate) fn listing(name: &str, size: u64) -> IncidentInfo {
    IncidentInfo {
        name: name.into(),
        trigger: EncodedEvent::new(vec![0xa0]),
        time: 0,
        size,
        level: Level::WEIRD.number(),
    }
}

/// Incident notices pushed to each subscriber.
#[derive(Clone, Debug)]
pub(crate) struct Pushes {
    /// How many (`usize::MAX`: until the connection ends).
    pub(crate) count: usize,
    /// The size of each notice's trigger, in bytes.
    pub(crate) trigger_size: usize,
    /// The pause between two notices.
    pub(crate) every: Duration,
}

/// What a fake publisher does.
#[derive(Clone, Default)]
pub(crate) struct Script {
    /// What it serves, and lists (ascending by name).
    pub(crate) incidents: Vec<Served>,
    /// Listed before `incidents`, never served.
    pub(crate) also_listed: Vec<IncidentInfo>,
    /// Lists everything at every request, whatever was asked (its
    /// `since_name` and `limit`).
    pub(crate) ignore_query: bool,
    /// While this is closed, listings are empty.
    pub(crate) listing_gate: Option<Gate>,
    /// Fetches send their first chunk, then wait for this to open.
    pub(crate) fetch_gate: Option<Gate>,
    /// Pushed to every subscriber.
    pub(crate) pushes: Option<Pushes>,
}

/// A gate the test opens to let a fake publisher go on.
#[derive(Clone)]
pub(crate) struct Gate(Arc<watch::Sender<bool>>);

impl Gate {
    pub(crate) fn new() -> Gate {
        Gate(Arc::new(watch::channel(false).0))
    }

    pub(crate) fn open(&self) {
        self.0.send_replace(true);
    }

    async fn passed(&self) {
        let _ = self.0.subscribe().wait_for(|open| *open).await;
    }
}

/// What a fake publisher has done, for the test to wait on.
#[derive(Default)]
pub(crate) struct Stats {
    pub(crate) listings: AtomicUsize,
    /// Fetches that sent their first chunk and wait at the fetch gate.
    pub(crate) held_fetches: AtomicUsize,
    /// Notices written to subscribers.
    pub(crate) pushed: AtomicUsize,
}

/// A fake publisher serving a script, until the test process ends.
pub(crate) struct FakePublisher {
    pub(crate) port: u16,
    pub(crate) id: String,
    pub(crate) stats: Arc<Stats>,
}

impl FakePublisher {
    /// Serves `script` as publisher `id` on a new port.
    pub(crate) async fn start(id: &str, script: Script) -> FakePublisher {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let stats = Arc::new(Stats::default());
        let shared = Arc::new((id.to_owned(), script, stats.clone()));
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let shared = shared.clone();
                tokio::spawn(async move {
                    let (id, script, stats) = &*shared;
                    let _ = serve(Connection::new(stream), id, script, stats).await;
                });
            }
        });
        FakePublisher {
            port,
            id: id.to_owned(),
            stats,
        }
    }

    /// Its logport URL.
    pub(crate) fn url(&self) -> String {
        format!("flog+insecure://127.0.0.1:{}/{}/secret", self.port, self.id)
    }
}

type Writer = Arc<Mutex<MessageWriter<WriteHalf<TcpStream>>>>;

async fn serve(
    connection: Connection<TcpStream>,
    id: &str,
    script: &Script,
    stats: &Arc<Stats>,
) -> Result<(), flog_wire::WireError> {
    let (mut reader, writer) = connection.into_split();
    let Some(Message::Hello(_)) = reader.read_message().await? else {
        return Ok(());
    };
    let writer: Writer = Arc::new(Mutex::new(writer));
    let welcome = Welcome {
        version: flog_wire::PROTOCOL_VERSION,
        publisher_id: id.into(),
        pid: 1,
        versions: BTreeMap::new(),
        incarnation: "0".into(),
        server: "fake/1".into(),
        idle_timeout_ms: None,
    };
    writer.lock().await.write_message(&welcome.into()).await?;
    let mut pusher = None;
    while let Some(message) = reader.read_message().await? {
        let Message::Request(Request { id, op }) = message else {
            continue;
        };
        let reply = |reply| Message::from(Response { id, reply });
        match op {
            Op::ListIncidents(query) => {
                stats.listings.fetch_add(1, Ordering::SeqCst);
                let (incidents, more) = list(script, &query).await;
                let page = Reply::Incidents { incidents, more };
                writer.lock().await.write_message(&reply(page)).await?;
            }
            Op::GetIncident { name, offset, .. } => {
                let Some(found) = script.incidents.iter().find(|s| s.info.name == name) else {
                    continue;
                };
                // On its own task: pushes go on while a fetch is held.
                let (found, writer, stats) = (found.clone(), writer.clone(), stats.clone());
                let gate = script.fetch_gate.clone();
                tokio::spawn(async move {
                    let _ = fetch(&writer, id, &found, offset, gate, &stats).await;
                });
            }
            Op::SubscribeToIncidents { .. } => {
                let subscribed = reply(Reply::Subscribed { subscription: 1 });
                writer.lock().await.write_message(&subscribed).await?;
                if let Some(pushes) = script.pushes.clone() {
                    let (writer, stats) = (writer.clone(), stats.clone());
                    pusher = Some(tokio::spawn(async move {
                        let _ = push(&writer, &pushes, &stats).await;
                    }));
                }
            }
            Op::Ping => {
                writer
                    .lock()
                    .await
                    .write_message(&reply(Reply::Pong))
                    .await?
            }
            _ => {
                let refusal = ErrorMessage {
                    id: Some(id),
                    code: ErrorCode::Unsupported,
                    message: "not here".into(),
                };
                writer.lock().await.write_message(&refusal.into()).await?;
            }
        }
    }
    if let Some(pusher) = pusher {
        pusher.abort();
    }
    Ok(())
}

async fn list(script: &Script, query: &ListQuery) -> (Vec<IncidentInfo>, bool) {
    if let Some(gate) = &script.listing_gate {
        if !*gate.0.borrow() {
            return (Vec::new(), false);
        }
    }
    let all = script
        .also_listed
        .iter()
        .cloned()
        .chain(script.incidents.iter().map(|s| s.info.clone()));
    if script.ignore_query {
        return (all.collect(), false);
    }
    let after: Vec<IncidentInfo> = all
        .filter(|info| {
            query
                .since_name
                .as_ref()
                .is_none_or(|since| info.name > *since)
        })
        .collect();
    let limit = query.limit.map_or(usize::MAX, |l| l as usize);
    let more = after.len() > limit;
    (after.into_iter().take(limit).collect(), more)
}

async fn fetch(
    writer: &Writer,
    id: u64,
    found: &Served,
    offset: u64,
    gate: Option<Gate>,
    stats: &Stats,
) -> Result<(), flog_wire::WireError> {
    const CHUNK: usize = 16 * 1024;
    let name = found.info.name.clone();
    let start = usize::try_from(offset).unwrap().min(found.bytes.len());
    for (i, chunk) in found.bytes[start..].chunks(CHUNK).enumerate() {
        let chunk = Reply::IncidentChunk {
            name: name.clone(),
            offset: (start + i * CHUNK) as u64,
            data: ByteBuf::from(chunk.to_vec()),
            total_size: found.bytes.len() as u64,
        };
        writer
            .lock()
            .await
            .write_message(&Response { id, reply: chunk }.into())
            .await?;
        if i == 0 {
            if let Some(gate) = &gate {
                stats.held_fetches.fetch_add(1, Ordering::SeqCst);
                gate.passed().await;
            }
        }
    }
    let done = Reply::IncidentDone {
        name,
        size: found.bytes.len() as u64,
        sha256: ByteBuf::from(Sha256::digest(&found.bytes).to_vec()),
    };
    writer
        .lock()
        .await
        .write_message(&Response { id, reply: done }.into())
        .await
}

async fn push(writer: &Writer, pushes: &Pushes, stats: &Stats) -> Result<(), flog_wire::WireError> {
    let mut interval = tokio::time::interval(pushes.every);
    for i in 0..pushes.count {
        interval.tick().await;
        let notice = NewIncident {
            subscription: 1,
            incident: IncidentInfo {
                // After any name a test serves: the notice says "poll now".
                name: format!("incident-9999-notice-{i:08}"),
                trigger: EncodedEvent::new(vec![0x42; pushes.trigger_size]),
                time: 0,
                size: 1,
                level: Level::WEIRD.number(),
            },
        };
        writer.lock().await.write_message(&notice.into()).await?;
        stats.pushed.fetch_add(1, Ordering::SeqCst);
    }
    Ok(())
}
