//! End-to-end tests of flog: one test binary, modules per area.
mod dashboard;
mod gatherer;
mod reliability;
