//! The records the event log is given: events with their receipts, gaps,
//! incarnation changes.

use flog_core::flogfile::{Gap, IncarnationChange, ReceivedEvent};

/// One record for the log.
#[derive(Debug, Clone)]
pub(crate) enum Gathered {
    Event(Box<ReceivedEvent>),
    Gap(Gap),
    Incarnation(IncarnationChange),
}
