//! One module per subcommand; each has its flags (`...Args`) and a `run`.

pub(crate) mod classify;
pub(crate) mod convert;
pub(crate) mod demo;
pub(crate) mod dump;
pub(crate) mod fetch;
pub(crate) mod filter;
pub(crate) mod generate;
pub(crate) mod list;
pub(crate) mod ring;
pub(crate) mod snapshot;
pub(crate) mod tail;
pub(crate) mod web;

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Print flogfiles (.flog or .flog.bz2, flog's or foolscap's) as text, one
    /// event per line, or as JSON lines.
    ///
    /// Text: a `==` summary line for the header (name, pid, host, incarnation,
    /// trigger, versions, suppressed triggers), one line per event (`TIME LEVEL
    /// facility: message`, triggers marked `[TRIGGER]`, failures and stacks on
    /// indented lines below), a `==` line for the trailer. A truncated file (an
    /// incident still recording, a writer that crashed) prints what it holds
    /// and then a warning on stderr, and still exits 0; a corrupt one exits 1
    /// after printing what came before the damage.
    Dump(dump::DumpArgs),
    /// Copy the events of a flogfile that pass the filters into a new file of
    /// the same format, or back into the same file.
    Filter(filter::FilterArgs),
    /// List a publisher's incidents, one per line; or the flogfiles stored
    /// under a prefix of a bucket gatherers share (`s3://BUCKET/PREFIX`).
    List(list::ListArgs),
    /// Download one incident report from a publisher, verified.
    Fetch(fetch::FetchArgs),
    /// Ask a publisher to record an incident now, with the reason as its
    /// trigger; prints `declared NAME`, or that storm control suppressed it.
    Snapshot(snapshot::SnapshotArgs),
    /// Print a publisher's events live, optionally saving them to a flogfile.
    ///
    /// It starts with a `==` line naming the publisher's pid, incarnation and
    /// versions. Ctrl-C (SIGINT) or SIGTERM ends it with exit code 0 and the
    /// saved file complete; the publisher going away ends it with exit code 1.
    Tail(tail::TailArgs),
    /// Classify incident reports with a gatherer's rules.
    ClassifyIncident(classify::ClassifyArgs),
    /// Convert between flog's flogfiles and foolscap's JSON flogfiles (which
    /// `dump`, `filter` and `classify-incident` also read).
    Convert(convert::ConvertArgs),
    /// Run a sample service, a publisher and a gatherer, trigger incidents and
    /// show what was gathered.
    Demo(demo::DemoArgs),
    /// Write the crash report of a service that died with a crash ring
    /// (`LoggerBuilder::crash_ring`) and will not be started again: what its
    /// next start would write, an incident of kind `crash` in LOGDIR.
    /// Refused while the service holds LOGDIR.
    Rescue(ring::RescueArgs),
    /// Print the last events in a running service's crash ring, read from
    /// its mapped file without its cooperation (a wedged service answers no
    /// logport): it is neither blocked nor disturbed. Events it changes
    /// while they are read are skipped; a warning says so.
    Peek(ring::PeekArgs),
    /// Print a shell's completion script for flogtool.
    Completions(generate::CompletionsArgs),
    /// Print flogtool's man page (or a subcommand's) as roff.
    Man(generate::ManArgs),
    /// Show flogfiles in the browser: a summary per file and its events
    /// (nested by parent, by number or by time; filters; permalinks).
    ///
    /// Serves on 127.0.0.1 and prints the URL; Ctrl-C (or SIGTERM) stops it
    /// with exit code 0. docs/web.md describes the pages.
    Web(web::WebArgs),
}

/// Runs one subcommand. `cli` builds the whole command line's definition, for
/// the commands that describe it (completions, man pages).
pub(crate) fn run(command: Command, cli: fn() -> clap::Command) -> anyhow::Result<()> {
    match command {
        Command::Dump(args) => dump::run(&args),
        Command::Filter(args) => filter::run(&args),
        Command::List(args) => crate::logport::block_on(list::run(args))?,
        Command::Fetch(args) => crate::logport::block_on(fetch::run(args))?,
        Command::Snapshot(args) => crate::logport::block_on(snapshot::run(args))?,
        Command::Tail(args) => crate::logport::block_on(tail::run(args))?,
        Command::ClassifyIncident(args) => classify::run(&args),
        Command::Convert(args) => convert::run(&args),
        Command::Demo(args) => demo::run(args),
        Command::Rescue(args) => ring::rescue(&args),
        Command::Peek(args) => ring::peek(&args),
        Command::Completions(args) => generate::completions(&args, cli()),
        Command::Man(args) => generate::man(&args, cli()),
        Command::Web(args) => crate::logport::block_on(web::run(args))?,
    }
}
