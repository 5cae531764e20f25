//! The command line's shape: every subcommand and its flags.

use clap::{Parser, Subcommand};

use crate::commands::{classify, convert, demo, dump, fetch, filter, list, tail, web};

/// flog's command line: read incident reports and other flogfiles, and talk to
/// the logport of a running service.
///
/// A logport may be named by its URL (flog://HOST:PORT/ID/SECRET), by the path of
/// a `logport` file holding it, or by the service's log directory (which holds
/// the `logport` file). Exit codes: 0 success, 1 failure, 2 usage error.
#[derive(Debug, Parser)]
#[command(name = "flogtool", version, about, long_about)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Print flogfiles (.flog or .flog.bz2) as text, one event per line, or as
    /// JSON lines.
    ///
    /// Text: a `==` summary line for the header (name, pid, host, incarnation,
    /// trigger, versions, suppressed triggers), one line per event (`TIME LEVEL
    /// facility: message`, triggers marked `[TRIGGER]`), a `==` line for the
    /// trailer. A truncated file (an incident still recording, a writer that
    /// crashed) prints what it holds and then a warning on stderr, and still
    /// exits 0; a corrupt one exits 1 after printing what came before the damage.
    Dump(dump::DumpArgs),
    /// Copy the events of a flogfile that pass the filters into a new flogfile.
    Filter(filter::FilterArgs),
    /// List a publisher's incidents, one per line.
    List(list::ListArgs),
    /// Download one incident report from a publisher, verified.
    Fetch(fetch::FetchArgs),
    /// Print a publisher's events live, optionally saving them to a flogfile.
    ///
    /// Ctrl-C (SIGINT) or SIGTERM ends it with exit code 0 and the saved file
    /// complete; the publisher going away ends it with exit code 1.
    Tail(tail::TailArgs),
    /// Classify incident reports with a gatherer's rules file.
    ClassifyIncident(classify::ClassifyArgs),
    /// Convert between flog's flogfiles and foolscap's JSON flogfiles (which
    /// `dump` also reads).
    Convert(convert::ConvertArgs),
    /// Run a sample service, a publisher and a gatherer, trigger incidents and
    /// show what was gathered.
    Demo(demo::DemoArgs),
    /// Show flogfiles in the browser: a summary per file and its events
    /// (nested by parent, by number or by time; filters; permalinks).
    ///
    /// Serves on 127.0.0.1 and prints the URL; Ctrl-C (or SIGTERM) stops it
    /// with exit code 0. docs/web.md describes the pages.
    Web(web::WebArgs),
}
