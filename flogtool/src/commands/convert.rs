//! `flogtool convert --to foolscap|flog IN OUT`: between flog's and foolscap's
//! file formats.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::flogfiles;

/// The format to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Target {
    /// A foolscap v1 JSON flogfile, which foolscap's own `flogtool dump` reads.
    Foolscap,
    /// A flog flogfile.
    Flog,
    /// Chrome trace event JSON, which the Perfetto UI (ui.perfetto.dev) and
    /// chrome://tracing open: a track per facility, spans as slices, parent ->
    /// child as flow arrows (docs/web.md).
    Perfetto,
}

#[derive(Debug, Args)]
pub(crate) struct ConvertArgs {
    /// The format to write.
    #[arg(long, value_enum)]
    to: Target,

    /// The file to read: a flogfile or a foolscap flogfile, plain or .bz2.
    #[arg(value_name = "IN")]
    input: PathBuf,

    /// The file to write, bzip2-compressed when its name ends in .bz2; replaced
    /// atomically.
    #[arg(value_name = "OUT")]
    output: PathBuf,
}

/// Converts IN to OUT. A damaged IN converts what it holds, then fails.
pub(crate) fn run(args: &ConvertArgs) -> anyhow::Result<()> {
    let mut contents = flogfiles::read(&args.input)?;
    match args.to {
        Target::Foolscap => {
            let compress = flogfiles::wants_bzip2(&args.output);
            flog_core::fs::write_atomically(&args.output, |file| {
                if compress {
                    let mut enc = bzip2::write::BzEncoder::new(file, bzip2::Compression::best());
                    flog_foolscap::write(&mut enc, contents.header.as_ref(), &contents.events)?;
                    enc.finish()?;
                    Ok(())
                } else {
                    flog_foolscap::write(file, contents.header.as_ref(), &contents.events)
                }
            })
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", args.output.display()))?;
        }
        Target::Perfetto => {
            // flog-web prepares the file (tree, triggers) from the contents it
            // takes; the damage stays here, reported below. JSON text: never
            // compressed, whatever the name.
            let damage = contents.damage.take();
            let label = args.input.display().to_string();
            let file = flog_web::LoadedFile::new(label, 1, std::mem::take(&mut contents));
            contents.damage = damage;
            flog_core::fs::write_atomically(&args.output, |out| {
                flog_web::write_chrome_trace(&file, out).map(|_| ())
            })
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", args.output.display()))?;
        }
        Target::Flog => {
            flogfiles::write_atomically(&args.output, contents.header.as_ref(), |w| {
                for event in &contents.events {
                    w.write_event(event)?;
                }
                if let Some(trailer) = &contents.trailer {
                    w.write_trailer(trailer)?;
                }
                Ok(())
            })?;
        }
    }
    match contents.damage {
        Some(damage) if damage.is_truncated() => {
            eprintln!(
                "flogtool: warning: {}: {damage}; converted what it holds",
                args.input.display()
            );
            Ok(())
        }
        Some(damage) => Err(anyhow::Error::new(damage).context(format!(
            "{}: converted what came before the damage",
            args.input.display()
        ))),
        None => Ok(()),
    }
}
