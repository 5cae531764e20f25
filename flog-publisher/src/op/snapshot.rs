//! `snapshot` (docs/protocol.md §6.5): declares an incident now, its
//! trigger carrying an operator's reason, through the logger's own qualifier
//! and storm control, so that a snapshot is an incident like any other.

use std::borrow::Cow;

use flog_core::{Declaration, Event, Level, Text, Value};
use flog_wire::{ErrorCode, Reply, SnapshotOutcome, MAX_SNAPSHOT_REASON};

use super::Context;

/// The trigger's facility, so that snapshots can be told from real trouble.
pub(crate) const SNAPSHOT_FACILITY: &str = "flog.snapshot";

/// The trigger's level: WEIRD, the lowest the default qualifier takes.
const SNAPSHOT_LEVEL: Level = Level::WEIRD;

/// The trigger's text when the operator gave no reason.
const NO_REASON: &str = "snapshot requested";

pub(super) async fn apply(id: u64, reason: String, cx: &Context) {
    if reason.len() > MAX_SNAPSHOT_REASON {
        let why = format!(
            "snapshot reason of {} bytes is over the limit of {MAX_SNAPSHOT_REASON}",
            reason.len()
        );
        return cx.fail(id, ErrorCode::TooLarge, why).await;
    }
    let logger = &cx.state.logger;
    if !logger.enabled(SNAPSHOT_LEVEL, Some(SNAPSHOT_FACILITY)) {
        let why = format!("{SNAPSHOT_FACILITY} events at {SNAPSHOT_LEVEL} are below the threshold");
        return cx.fail(id, ErrorCode::Unsupported, why).await;
    }
    let text = if reason.trim().is_empty() {
        NO_REASON.to_owned()
    } else {
        reason
    };
    let mut event = Event {
        level: SNAPSHOT_LEVEL,
        facility: Some(Cow::Borrowed(SNAPSHOT_FACILITY)),
        text: Text::Message(Cow::Owned(text)),
        ..Event::default()
    };
    event
        .fields
        .push((Cow::Borrowed("snapshot"), Value::from(true)));
    // Emitting runs the reporter's dump on this thread (bounded work: the
    // buffers' bytes), as every logging call that triggers an incident does.
    let (_, declaration) = logger.emit_declaring(event);
    let (outcome, incident) = match declaration {
        Declaration::Declared { name } => (SnapshotOutcome::Declared, Some(name)),
        Declaration::Joined => (SnapshotOutcome::Joined, None),
        Declaration::Suppressed => (SnapshotOutcome::Suppressed, None),
        Declaration::NotQualified => {
            let why = "this publisher's incident qualifier does not take snapshot events";
            return cx.fail(id, ErrorCode::Unsupported, why).await;
        }
        Declaration::NoLogdir => {
            let why = "this publisher's logger has no logdir to record incidents in";
            return cx.fail(id, ErrorCode::Internal, why).await;
        }
    };
    cx.reply(id, Reply::Snapshot { outcome, incident }).await;
}
