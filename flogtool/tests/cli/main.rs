//! flogtool's integration tests: the real binary on real files, against a real
//! publisher on 127.0.0.1. One test binary, modules by subcommand.

mod classify;
mod convert;
mod demo;
mod dump;
mod filter;
mod perfetto;
mod remote;
mod util;
