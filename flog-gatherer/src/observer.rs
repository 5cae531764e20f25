//! What a caller of the library can learn while the gatherer runs.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::units::human_size;

/// An incident the gatherer stored and classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// The publisher it came from.
    pub publisher_id: String,
    /// The incident's name.
    pub name: String,
    /// The stored file.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// Its categories; empty when no rule matched (it is listed as `unknown`).
    pub categories: Vec<String>,
}

/// Something worth knowing that happened while gathering. The daemon logs
/// the same things; this is for programs that embed the gatherer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum GatherEvent {
    /// A connection to a publisher was made.
    Connected {
        /// The publisher.
        publisher_id: String,
        /// Who made it.
        by: ConnectedBy,
    },
    /// A poll round (listing, and fetching what was new) succeeded.
    Polled {
        /// The publisher.
        publisher_id: String,
        /// How long the round took.
        took: Duration,
    },
    /// An incident was stored.
    Stored(Stored),
    /// An incident the publisher listed was refused: a bad or out-of-order
    /// name, or too large. Refused names are not fetched.
    ///
    /// A publisher that keeps listing what is refused is reported for the
    /// first round of such a run only: these events, like the log, do not
    /// repeat at every round.
    Rejected {
        /// The publisher.
        publisher_id: String,
        /// The name as listed (it may be hostile: display it quoted).
        name: String,
        /// Why.
        reason: Refusal,
    },
    /// Talking to a publisher failed; the gatherer tries again after
    /// `retry_in`.
    Failed {
        /// The publisher.
        publisher_id: String,
        /// What failed, with its causes.
        error: String,
        /// The wait before the next attempt.
        retry_in: Duration,
    },
    /// A publisher dialing in was refused: a wrong registration secret, or
    /// another key than the one first seen for its id (an impostor, until
    /// `flog-gatherer accept-key`). Told once per run of the same refusal.
    DialInRefused {
        /// The publisher id it claimed.
        publisher_id: String,
        /// Why.
        error: String,
    },
    /// The gatherer listens for publishers dialing in, at this URL (also
    /// in `BASEDIR/gatherer-url`).
    Listening {
        /// The URL to give publishers (it holds the registration secret).
        url: flog_wire::LogportUrl,
    },
    /// The classification lists were rebuilt.
    Reclassified {
        /// How many stored incidents they list.
        incidents: usize,
    },
}

/// Who made a connection to a publisher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectedBy {
    /// The gatherer, to the publisher's logport (a listed publisher).
    Polling,
    /// The publisher, dialing in to the gatherer's `listen` address.
    DialIn,
}

/// Why a listed incident was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// Not a valid incident name: it could not be a file name here.
    InvalidName,
    /// Not after the name asked for (or the one before it in the listing),
    /// as names must be.
    NotAfter {
        /// The name it should have followed.
        previous: String,
    },
    /// Listed larger than `max_incident_size`: skipped for good.
    TooLarge {
        /// The size listed.
        size: u64,
        /// The limit.
        max: u64,
    },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::InvalidName => f.write_str("not a valid incident name"),
            Refusal::NotAfter { previous } => {
                write!(f, "not after {previous}, as asked and as names must be")
            }
            Refusal::TooLarge { size, max } => write!(
                f,
                "{} exceeds max_incident_size ({}); skipped",
                human_size(*size),
                human_size(*max)
            ),
        }
    }
}

/// Receives [`GatherEvent`]s, on the gatherer's tasks: keep it quick and
/// never block (send to a channel and return). Any `Fn(&GatherEvent)` is one.
///
/// ```
/// use flog_gatherer::{GatherEvent, GatherObserver};
///
/// let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
/// let observer = move |event: &GatherEvent| {
///     let _ = tx.send(event.clone());
/// };
/// observer.on_event(&GatherEvent::Reclassified { incidents: 3 });
/// assert_eq!(rx.try_recv().unwrap(), GatherEvent::Reclassified { incidents: 3 });
/// ```
pub trait GatherObserver: Send + Sync {
    /// One event.
    fn on_event(&self, event: &GatherEvent);
}

impl<F: Fn(&GatherEvent) + Send + Sync> GatherObserver for F {
    fn on_event(&self, event: &GatherEvent) {
        self(event)
    }
}
