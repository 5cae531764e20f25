//! Reading flogfiles for the commands, and writing them atomically.

use std::io::{self, Write};
use std::path::Path;

use anyhow::Context as _;
use bzip2::write::BzEncoder;
use bzip2::Compression;
use flog_core::{read_flogfile, FileKind, FlogContents, FlogReader, FlogWriter, Header, ReadError};

/// Reads a whole flogfile. Fails when it cannot be opened or is not a flogfile at
/// all; a damaged one gives what it holds, with `damage` set (see [`Damage`]).
///
/// foolscap's JSON flogfiles read too, converted as `docs/flogfile.md` describes.
pub(crate) fn read(path: &Path) -> anyhow::Result<FlogContents> {
    match read_flogfile(path) {
        Err(ReadError::NotFlogfile {
            kind: FileKind::FoolscapJson,
            ..
        }) => flog_foolscap::read_file(path)
            .with_context(|| format!("{}: reading it as a foolscap flogfile", path.display())),
        other => other.map_err(|e| describe_open_error(path, e)),
    }
}

/// Opens a flogfile to read record by record; `Ok(None)` when it is so short that
/// not even the start survived (a compressed file cut in its first block), which
/// is `damage` to report like any truncation.
pub(crate) fn open(path: &Path) -> anyhow::Result<(Option<FlogReader>, Option<ReadError>)> {
    match FlogReader::open(path) {
        Ok(reader) => Ok((Some(reader), None)),
        Err(e @ ReadError::Truncated { .. }) => Ok((None, Some(e))),
        Err(e) => Err(describe_open_error(path, e)),
    }
}

/// An error opening `path` as a flogfile, naming the file once.
pub(crate) fn describe_open_error(path: &Path, error: ReadError) -> anyhow::Error {
    match error {
        // Already names the file.
        e @ ReadError::Open { .. } => e.into(),
        e => anyhow::Error::new(e).context(path.display().to_string()),
    }
}

/// What to make of a file that stopped reading early.
#[derive(Debug)]
pub(crate) enum Damage {
    /// It ends inside a record: what a writer killed mid-record (or an incident
    /// still recording) leaves. Everything before was read; only a warning.
    Truncated(ReadError),
    /// A record could not be decoded, or reading failed: a failure.
    Broken(ReadError),
}

impl Damage {
    pub(crate) fn classify(error: ReadError) -> Damage {
        if error.is_truncated() {
            Damage::Truncated(error)
        } else {
            Damage::Broken(error)
        }
    }
}

/// Whether `path` asks for a bzip2-compressed file.
pub(crate) fn wants_bzip2(path: &Path) -> bool {
    path.extension().is_some_and(|ext| ext == "bz2")
}

/// Writes a flogfile at `path` atomically (a temporary file renamed into place, so
/// readers never see half of it), compressed when the name ends in `.bz2`.
/// `header` starts it; `body` writes events and the trailer.
pub(crate) fn write_atomically<T>(
    path: &Path,
    header: Option<&Header>,
    body: impl FnOnce(&mut FlogWriter<&mut dyn Write>) -> io::Result<T>,
) -> anyhow::Result<T> {
    let compress = wants_bzip2(path);
    flog_core::fs::write_atomically(path, |file| {
        if compress {
            let mut encoder = BzEncoder::new(file, Compression::best());
            let value = fill(&mut encoder, header, body)?;
            encoder.finish()?;
            Ok(value)
        } else {
            fill(file, header, body)
        }
    })
    .with_context(|| format!("cannot write {}", path.display()))
}

fn fill<T>(
    out: &mut dyn Write,
    header: Option<&Header>,
    body: impl FnOnce(&mut FlogWriter<&mut dyn Write>) -> io::Result<T>,
) -> io::Result<T> {
    let mut writer = match header {
        Some(header) => FlogWriter::new(out, header)?,
        None => FlogWriter::without_header(out)?,
    };
    let value = body(&mut writer)?;
    writer.flush()?;
    Ok(value)
}

/// Runs `each` over `paths`, for commands that take several files. With one
/// path its error is the command's. With several, each failure is reported on
/// stderr as it happens (stdout flushed first, to keep the two in order for a
/// reader watching both), the other files are still done, and the command
/// fails at the end saying how many of them `failed` ("could not be read").
pub(crate) fn each_path<W: Write>(
    out: &mut W,
    paths: &[std::path::PathBuf],
    failed: &str,
    mut each: impl FnMut(&mut W, usize, &Path) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut failures = 0;
    for (i, path) in paths.iter().enumerate() {
        if let Err(error) = each(out, i, path) {
            if paths.len() == 1 {
                return Err(error);
            }
            out.flush()?;
            eprintln!("flogtool: error: {}", crate::error_chain(&error));
            failures += 1;
        }
    }
    out.flush()?;
    match failures {
        0 => Ok(()),
        n => Err(anyhow::anyhow!("{n} of {} {failed}", paths.len())),
    }
}
