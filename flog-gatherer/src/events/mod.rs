//! Event gathering (`[events]` in `gatherer.toml`): every event of the
//! publishers, as it arrives, into rotating gathered files in
//! `BASEDIR/events/` (foolscap's log-gatherer; docs/gatherer.md, "Gathering
//! events").
//!
//! Leaves first: [`names`] (file names), [`positions`] (what is stored of
//! each publisher), [`log`] (the files: append, rotate, recover), [`compress`]
//! (the compressor thread), [`relay`] (what is written, on to the
//! gatherer's logport), [`writer`] (the writer thread owning the log),
//! [`tracker`] (new, duplicate and missing event numbers), [`subscriber`]
//! (one task per publisher) and, on top, [`gathering`] (all of it running).

mod compress;
mod gathering;
mod log;
mod names;
mod positions;
mod relay;
mod subscriber;
mod tracker;
mod writer;

pub(crate) use self::gathering::EventGathering;
pub(crate) use self::names::{parse_name, EventFileName};
pub use self::names::{EVENTS_DIR, ROTATE_REQUEST};
pub(crate) use self::relay::{Relay, RelayQueue, Relayed, Seam};
