//! End-to-end tests of flog: one test binary, modules per area.
mod dashboard;
mod dialout;
mod gatherer;
mod names;
mod reliability;
mod tls;
