//! `flogtool completions SHELL` and `flogtool man [COMMAND]`: shell completion
//! scripts and man pages, generated from the same clap definitions that parse
//! the command line, so they never drift from it.

use std::io::{self, Write};

use anyhow::{anyhow, Context as _};
use clap::Args;
use clap_complete::Shell;

#[derive(Debug, Args)]
pub(crate) struct CompletionsArgs {
    /// The shell to complete in. Install the script where the shell looks:
    /// for bash, `flogtool completions bash > /etc/bash_completion.d/flogtool`
    /// (or source it from ~/.bashrc); for zsh, as `_flogtool` in a directory
    /// of your `$fpath`; for fish, as
    /// `~/.config/fish/completions/flogtool.fish`.
    #[arg(value_enum, value_name = "SHELL")]
    shell: Shell,
}

#[derive(Debug, Args)]
pub(crate) struct ManArgs {
    /// A subcommand, for its own page (`flogtool man dump` is
    /// flogtool-dump(1)); without it, flogtool(1). Install with e.g.
    /// `flogtool man > /usr/local/share/man/man1/flogtool.1`.
    #[arg(value_name = "COMMAND")]
    command: Option<String>,
}

/// Prints the completion script.
pub(crate) fn completions(args: &CompletionsArgs, mut cli: clap::Command) -> anyhow::Result<()> {
    // Generated into memory first: the generators panic on a write error,
    // and `flogtool completions bash | head` must not.
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cli, "flogtool", &mut script);
    write_stdout(&script)
}

/// Prints the man page as roff.
pub(crate) fn man(args: &ManArgs, mut cli: clap::Command) -> anyhow::Result<()> {
    // Building fills in what the pages name: `flogtool dump` as the synopsis
    // of a subcommand, `flogtool-dump` as its title.
    cli.build();
    let page = match &args.command {
        None => cli,
        Some(name) => {
            let sub = cli
                .find_subcommand(name)
                .filter(|sub| !sub.is_hide_set())
                .ok_or_else(|| {
                    anyhow!("flogtool has no command {name:?}: `flogtool --help` lists them")
                })?;
            sub.clone().version(env!("CARGO_PKG_VERSION"))
        }
    };
    let mut roff = Vec::new();
    clap_mangen::Man::new(page)
        .render(&mut roff)
        .context("cannot render the man page")?;
    write_stdout(&roff)
}

fn write_stdout(bytes: &[u8]) -> anyhow::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(bytes)?;
    out.flush()?;
    Ok(())
}
