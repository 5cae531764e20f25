//! The command line's shape: the program and its subcommands.

use clap::Parser;

use crate::commands::Command;

/// flog's command line: read incident reports and other flogfiles, and talk to
/// the logport of a running service.
///
/// A logport may be named by its URL (flogs://KEY@HOST:PORT/ID/SECRET), by the path of
/// a `logport` file holding it, or by the service's log directory (which holds
/// the `logport` file). Exit codes: 0 success, 1 failure, 2 usage error.
#[derive(Debug, Parser)]
#[command(name = "flogtool", version, about, long_about)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}
