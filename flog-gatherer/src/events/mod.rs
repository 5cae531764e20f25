//! Event gathering (`[events]` in `gatherer.toml`): every event of the
//! publishers, as it arrives, into rotating gathered files in
//! `BASEDIR/events/` (foolscap's log-gatherer; docs/gatherer.md, "Gathering
//! events").
//!
//! Leaves first: [`gathered`] (the records the log is given), [`figures`]
//! (counts for the metrics), [`names`] (file names), [`notice`] (what the threads report), [`tracker`] (new,
//! duplicate and missing event numbers), [`positions`] (what is stored of
//! each publisher), [`recovery`] (closing what a dead gatherer left open),
//! [`settle`] (what is known to be in the file after a failure), [`log`]
//! (the files: append, rotate, recover), [`compress`] (the compressor
//! thread, retention), [`relay`] (what is written, on to the gatherer's
//! logport), [`writer`] (the writer thread owning the log), [`held`] (gaps
//! waiting for room), [`subscriber`] (one task per publisher), [`upload`]
//! (closed files into the bucket, `storage = "s3"`) and, on top,
//! [`gathering`] (all of it running).

mod compress;
mod figures;
mod gathered;
mod gathering;
mod held;
mod log;
mod names;
mod notice;
mod positions;
mod recovery;
mod relay;
mod settle;
mod subscriber;
mod tracker;
mod upload;
mod writer;

pub use self::figures::{EventFigures, PublisherEventFigures, SpoolFigures};
pub(crate) use self::gathering::EventGathering;
pub(crate) use self::names::{parse_name, EventFileName};
pub use self::names::{EVENTS_DIR, ROTATE_REQUEST};
pub(crate) use self::relay::{Relay, RelayQueue, Relayed, Seam};
