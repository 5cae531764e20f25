//! `log` records forwarded to tracing by tracing-log (which
//! `SubscriberInitExt::init` installs) keep their own target as the facility.
//! A test binary of its own: it installs the process-wide subscriber and logger.

use flog_core::{Level, Logger, Value};
use flog_tracing::FlogLayer;
use tracing_subscriber::prelude::*;

#[test]
fn forwarded_log_records_keep_their_target_and_fields() {
    let logger = Logger::new();
    tracing_subscriber::registry()
        .with(FlogLayer::new(logger.clone()))
        .init();

    let span = tracing::info_span!("request");
    let _span = span.enter();
    log::warn!(target: "legacy::db", "pool low: {} left", 2);
    log::info!("from this module");

    let events = logger.buffered_events();
    assert_eq!(events.len(), 3, "{events:#?}");
    let (request, warning, info) = (&events[0], &events[1], &events[2]);
    assert_eq!(warning.facility(), "legacy.db");
    assert_eq!(warning.level, Level::WEIRD);
    assert_eq!(warning.render(), "pool low: 2 left");
    assert_eq!(warning.parent, Some(request.num));
    assert!(
        warning.fields.is_empty(),
        "tracing-log's location fields are dropped: {:?}",
        warning.fields
    );
    assert_eq!(info.facility(), "log_records");
    assert_eq!(info.field("log.target"), None::<&Value>);
}
