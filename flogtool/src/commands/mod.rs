//! One module per subcommand; each has its flags (`...Args`) and a `run`.

pub(crate) mod classify;
pub(crate) mod convert;
pub(crate) mod demo;
pub(crate) mod dump;
pub(crate) mod fetch;
pub(crate) mod filter;
pub(crate) mod list;
pub(crate) mod tail;
pub(crate) mod web;

use crate::cli::Command;

/// Runs one subcommand.
pub(crate) fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Dump(args) => dump::run(&args),
        Command::Filter(args) => filter::run(&args),
        Command::List(args) => crate::logport::block_on(list::run(args))?,
        Command::Fetch(args) => crate::logport::block_on(fetch::run(args))?,
        Command::Tail(args) => crate::logport::block_on(tail::run(args))?,
        Command::ClassifyIncident(args) => classify::run(&args),
        Command::Convert(args) => convert::run(&args),
        Command::Demo(args) => demo::run(args),
        Command::Web(args) => crate::logport::block_on(web::run(args))?,
    }
}
