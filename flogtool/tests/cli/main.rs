//! flogtool's integration tests: the real binary on real files, against a real
//! publisher on 127.0.0.1. One test binary, modules by subcommand.

mod bomb;
mod bucket;
mod classify;
mod convert;
mod demo;
mod docs;
mod dump;
mod filter;
mod foolscap;
mod gathered;
mod gatherer_logport;
mod generate;
mod perfetto;
mod progress;
mod remote;
mod ring;
mod times;
mod util;
