//! The `flog-gatherer` daemon as a child process, as an operator runs it,
//! against real publishers and fake hostile ones on loopback TCP.

mod bomb;
mod cli;
mod dashboard;
mod docs;
mod event_load;
mod events;
mod hostile;
mod load;
mod s3;
mod s3_dashboard;
mod s3_events;
mod shared_basedir;
mod support;
