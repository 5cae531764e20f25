//! Hostile publishers: bad names, wrong digests, oversized incidents, a
//! stolen identity. Nothing bad is stored, nothing is written outside the
//! base directory, and an honest publisher keeps flowing meanwhile.

use std::collections::BTreeMap;

use flog_core::Level;
use flog_wire::{
    Connection, EncodedEvent, ErrorCode, ErrorMessage, IncidentInfo, Message, Op, Reply, Request,
    Response, Welcome,
};
use serde_bytes::ByteBuf;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;

use super::*;

const MAX: u64 = 64 * 1024;

/// What a fake publisher lists, and what it serves for each name.
struct Listed {
    info: IncidentInfo,
    bytes: Vec<u8>,
    /// The digest it claims.
    sha256: Vec<u8>,
}

fn incident_file(name: &str) -> (Vec<u8>, EncodedEvent) {
    (
        flog_testkit::incident_file(name, 0),
        EncodedEvent::new(flog_testkit::fake_trigger().to_cbor()),
    )
}

/// An incident served honestly, unless the caller spoils it.
fn honest(name: &str) -> Listed {
    let (bytes, trigger) = incident_file(name);
    Listed {
        info: IncidentInfo {
            name: name.into(),
            trigger,
            time: 0,
            size: bytes.len() as u64,
            level: Level::WEIRD.number(),
        },
        sha256: Sha256::digest(&bytes).to_vec(),
        bytes,
    }
}

/// Serves `listed` on a new port as publisher `claimed_id`, forever.
async fn fake_publisher(claimed_id: &str, listed: Vec<Listed>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let listed = Arc::new(listed);
    let claimed_id = claimed_id.to_owned();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (listed, id) = (listed.clone(), claimed_id.clone());
            tokio::spawn(async move {
                let _ = serve(Connection::new(stream), &id, &listed).await;
            });
        }
    });
    port
}

async fn serve(
    mut connection: Connection,
    id: &str,
    listed: &[Listed],
) -> Result<(), flog_wire::WireError> {
    let Some(Message::Hello(_)) = connection.read_message().await? else {
        return Ok(());
    };
    let welcome = Welcome {
        version: flog_wire::PROTOCOL_VERSION,
        publisher_id: id.into(),
        pid: 1,
        versions: BTreeMap::new(),
        incarnation: "0".into(),
        server: "hostile/1".into(),
        idle_timeout_ms: None,
    };
    connection.write_message(&welcome.into()).await?;
    while let Some(message) = connection.read_message().await? {
        let Message::Request(Request { id, op }) = message else {
            continue;
        };
        let reply = |reply| Message::from(Response { id, reply });
        match op {
            Op::ListIncidents(_) => {
                // Whatever was asked: the same list, every time.
                let incidents = listed.iter().map(|l| l.info.clone()).collect();
                connection
                    .write_message(&reply(Reply::Incidents {
                        incidents,
                        more: false,
                    }))
                    .await?;
            }
            Op::GetIncident { name, offset, .. } => {
                let Some(found) = listed.iter().find(|l| l.info.name == name) else {
                    continue;
                };
                let start = usize::try_from(offset).unwrap().min(found.bytes.len());
                for (i, chunk) in found.bytes[start..].chunks(16 * 1024).enumerate() {
                    let chunk = Reply::IncidentChunk {
                        name: name.clone(),
                        offset: (start + i * 16 * 1024) as u64,
                        data: ByteBuf::from(chunk.to_vec()),
                        total_size: found.bytes.len() as u64,
                    };
                    connection.write_message(&reply(chunk)).await?;
                }
                let done = Reply::IncidentDone {
                    name,
                    size: found.bytes.len() as u64,
                    sha256: ByteBuf::from(found.sha256.clone()),
                };
                connection.write_message(&reply(done)).await?;
            }
            Op::Ping => connection.write_message(&reply(Reply::Pong)).await?,
            _ => {
                let refusal = ErrorMessage {
                    id: Some(id),
                    code: ErrorCode::Unsupported,
                    message: "not here".into(),
                };
                connection.write_message(&refusal.into()).await?;
            }
        }
    }
    Ok(())
}

fn url(port: u16, id: &str) -> LogportUrl {
    format!("flog+insecure://127.0.0.1:{port}/{id}/secret")
        .parse()
        .unwrap()
}

/// Every file and folder under `dir`, relative to it.
fn walk(dir: &Path) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(next) = stack.pop() {
        for entry in fs::read_dir(&next).unwrap() {
            let path = entry.unwrap().path();
            found.insert(path.strip_prefix(dir).unwrap().display().to_string());
            if path.is_dir() {
                stack.push(path);
            }
        }
    }
    found
}

// Long on purpose: one scenario whose steps build on the state the earlier ones left (real processes, sockets or a browser), so it reads top to bottom.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_publishers_store_nothing_bad_and_stall_no_one() {
    let good_2 = "incident-2-good";
    let good_4 = "incident-4-good";
    let mut huge = honest("incident-3-huge");
    huge.info.size = MAX + 1;
    let mut bad_names = Vec::new();
    for name in ["../../x", "incident-../x", "incident-a/b", "/etc/passwd"] {
        let mut listed = honest("incident-0");
        listed.info.name = name.into();
        bad_names.push(listed);
    }
    let mut hostile = bad_names;
    hostile.extend([
        honest(good_2),
        honest("incident-1-older"),
        huge,
        honest(good_4),
    ]);
    let hostile_port = fake_publisher("hostile", hostile).await;

    let mut corrupt = honest("incident-1-corrupt");
    corrupt.sha256 = Sha256::digest(b"something else").to_vec();
    let corrupt_port = fake_publisher("corrupt", vec![corrupt]).await;

    // Listed small, streamed far past the limit.
    let mut flood = honest("incident-1-flood");
    flood.bytes = vec![b'x'; 4 * MAX as usize];
    flood.sha256 = Sha256::digest(&flood.bytes).to_vec();
    let flood_port = fake_publisher("flood", vec![flood]).await;

    // Answers for another publisher than the URL names.
    let impostor_port = fake_publisher("someone-else", vec![honest("incident-1-stolen")]).await;

    let mut service = Service::start().await;
    let id = service.id();
    let outer = tempfile::tempdir().unwrap();
    let basedir = outer.path().join("base");
    let mut config = quick_config();
    config.max_incident_size = MAX;
    config.publishers = vec![
        url(hostile_port, "hostile"),
        url(corrupt_port, "corrupt"),
        url(flood_port, "flood"),
        url(impostor_port, "impostor"),
        service.url().clone(),
    ];
    let mut gatherer = Running::start(&basedir, config);

    let first = service.incident("app", Level::WEIRD, "honest one").await;
    gatherer.stored(&id, &first).await;
    gatherer.stored("hostile", good_2).await;
    gatherer.stored("hostile", good_4).await;
    for who in ["corrupt", "flood", "impostor"] {
        gatherer
            .wait_for(&format!("a failure of {who}"), |event| {
                matches!(event, GatherEvent::Failed { publisher_id, .. } if publisher_id == who)
            })
            .await;
    }
    // Failing publishers keep being retried, and the honest one still flows.
    let second = service.incident("app", Level::WEIRD, "honest two").await;
    gatherer.stored(&id, &second).await;
    let events = gatherer.stop().await;

    let rejected: BTreeSet<&str> = events
        .iter()
        .filter_map(|event| match event {
            GatherEvent::Rejected {
                publisher_id, name, ..
            } if publisher_id == "hostile" => Some(name.as_str()),
            _ => None,
        })
        .collect();
    let expected: BTreeSet<&str> = [
        "../../x",
        "incident-../x",
        "incident-a/b",
        "/etc/passwd",
        "incident-1-older",
        "incident-3-huge",
    ]
    .into();
    // It lists everything every time: what was stored is refused as old later.
    let relisted: BTreeSet<&str> = rejected.difference(&expected).copied().collect();
    assert!(rejected.is_superset(&expected), "{rejected:?}");
    assert!(relisted.is_subset(&[good_2, good_4].into()), "{relisted:?}");
    let failure = |who: &str| -> String {
        events
            .iter()
            .find_map(|event| match event {
                GatherEvent::Failed {
                    publisher_id,
                    error,
                    ..
                } if publisher_id == who => Some(error.clone()),
                _ => None,
            })
            .unwrap()
    };
    assert!(
        failure("corrupt").contains("SHA-256"),
        "{}",
        failure("corrupt")
    );
    assert!(
        failure("flood").contains("max_incident_size"),
        "{}",
        failure("flood")
    );
    assert!(
        failure("impostor").contains("someone-else"),
        "{}",
        failure("impostor")
    );

    let mut stored: Vec<(String, String)> = stored_names(&events);
    stored.sort();
    let mut want = vec![
        ("hostile".to_string(), good_2.to_string()),
        ("hostile".to_string(), good_4.to_string()),
        (id.clone(), first.clone()),
        (id.clone(), second.clone()),
    ];
    want.sort();
    assert_eq!(stored, want);

    // Nothing outside the base directory; inside it, only what belongs.
    let top: Vec<String> = fs::read_dir(outer.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(top, ["base"]);
    let inside = walk(&basedir);
    // The gatherer is stopped: its pid file (`lock`) is gone.
    let mut allowed: BTreeSet<String> = [
        "classified",
        "classified/.rules",
        "classified/all",
        "classified/unknown",
        "incidents",
        "incidents/hostile",
        "incidents/hostile/latest",
        "incidents/corrupt",
        "incidents/flood",
        "incidents/impostor",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    allowed.insert(format!("incidents/{id}"));
    allowed.insert(format!("incidents/{id}/latest"));
    for (who, name) in &want {
        allowed.insert(relative(who, name));
    }
    assert_eq!(inside, allowed);
    assert_eq!(
        fs::read_to_string(basedir.join("incidents/hostile/latest")).unwrap(),
        format!("{good_4}\n")
    );
    service.stop().await;
}
