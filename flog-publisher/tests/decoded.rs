//! The decoded form of a fetched incident, over real TCP.

use std::path::Path;
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use flog_core::{Event, Level, Logger};
use flog_publisher::{fetch_incident_decoded, FetchDecodedError, Publisher};
use flog_wire::{ClientError, ErrorCode, ListQuery, LogportClient};

#[tokio::test]
async fn a_fetched_incident_decodes_to_header_events_and_trailer() {
    let dir = tempfile::tempdir().unwrap();
    let logger = Logger::builder().trailing(false).build().unwrap();
    logger.set_logdir(dir.path()).unwrap();
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    logger.add_incident_observer(Arc::new(move |name: &str, _: &Path, _: &Event| {
        let _ = tx.lock().unwrap().send(name.to_owned());
    }));
    logger.msg(Level::OPERATIONAL, "before");
    logger.msg(Level::WEIRD, "the trigger");
    let name = rx.recv_timeout(Duration::from_secs(30)).unwrap();

    let publisher = Publisher::builder(logger).start().await.unwrap();
    let client = LogportClient::connect(publisher.url()).await.unwrap();
    assert_eq!(
        client
            .list_incidents(&ListQuery::default())
            .await
            .unwrap()
            .incidents
            .len(),
        1
    );
    let incident = fetch_incident_decoded(&client, &name).await.unwrap();
    assert!(incident.damage.is_none());
    let header = incident.header.unwrap();
    assert_eq!(header.name.as_deref(), Some(name.as_str()));
    assert_eq!(header.trigger.unwrap().render(), "the trigger");
    let texts: Vec<_> = incident
        .events
        .iter()
        .map(|e| e.render().into_owned())
        .collect();
    assert_eq!(texts, ["before", "the trigger"]);
    assert_eq!(incident.trailer.unwrap().end, "immediate");

    let missing = "incident-2000-01-01T00-00-00.000000Z-0000";
    match fetch_incident_decoded(&client, missing).await {
        Err(FetchDecodedError::Fetch(ClientError::Remote {
            code: ErrorCode::UnknownIncident,
            ..
        })) => {}
        other => panic!("expected unknown_incident, got {other:?}"),
    }
    publisher.shutdown().await;
}
