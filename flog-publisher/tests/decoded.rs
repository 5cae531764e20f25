//! The decoded form of a fetched incident, over real TCP: flog-wire's
//! verified fetch, then flog-core's reader (the publisher exports no client
//! helpers; flog-wire knows nothing of flog-core).

use std::sync::{mpsc, Mutex};
use std::time::Duration;

use flog_core::{
    flogfile::{FlogContents, FlogReader},
    Level, Logger,
};
use flog_publisher::Publisher;
use flog_wire::{ClientError, ErrorCode, ListQuery, LogportClient};

#[tokio::test]
async fn a_fetched_incident_decodes_to_header_events_and_trailer() {
    let dir = tempfile::tempdir().unwrap();
    let logger = Logger::builder().trailing(false).build().unwrap();
    logger.set_logdir(dir.path()).unwrap();
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    logger.add_incident_observer(move |incident: &flog_core::IncidentReport| {
        let name = incident.name.as_str();
        let _ = tx.lock().unwrap().send(name.to_owned());
    });
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
    let bytes = client.get_incident_bytes(&name).await.unwrap();
    let incident = FlogContents::read_from(FlogReader::new(std::io::Cursor::new(bytes)).unwrap());
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
    assert_eq!(
        incident.trailer.unwrap().end,
        Some(flog_core::flogfile::EndReason::Immediate)
    );

    let missing = "incident-2000-01-01T00-00-00.000000Z-0000";
    match client.get_incident_bytes(missing).await {
        Err(ClientError::Remote {
            code: ErrorCode::UnknownIncident,
            ..
        }) => {}
        other => panic!("expected unknown_incident, got {other:?}"),
    }
    publisher.shutdown().await;
}
