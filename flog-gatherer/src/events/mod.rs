//! Event gathering (`[events]` in `gatherer.toml`): every event of the
//! publishers, as it arrives, into rotating gathered files in
//! `BASEDIR/events/` (foolscap's log-gatherer; docs/gatherer.md, "Gathering
//! events").
//!
//! Leaves first: [`names`] (file names), [`positions`] (what is stored of
//! each publisher), [`log`] (the files: append, rotate, recover), [`compress`]
//! (the compressor thread), [`writer`] (the writer thread owning the log).

mod compress;
mod log;
mod names;
mod positions;
mod writer;

pub(crate) use self::compress::{spawn as spawn_compressor, Retention};
pub(crate) use self::log::{EventLog, Gathered, LogNotice, Outlets, Rotation};
pub use self::names::EVENTS_DIR;
pub(crate) use self::positions::{Position, Positions};
pub(crate) use self::writer::{spawn as spawn_writer, Budget, Command, WriterHandle};
