//! Writing files atomically, bzip2-compressed or not: the one way every
//! command writes a file (filter, convert, the end of `tail --save-to`).

use std::fs::{File, Permissions};
use std::io::{self, Write};
use std::path::Path;

use anyhow::Context as _;
use bzip2::Compression;
use flog_core::flogfile::{FlogWriter, Header};
use flog_core::fs::{write_atomically, write_bzip2_atomically};

/// Whether `path` asks for a bzip2-compressed file.
pub(crate) fn wants_bzip2(path: &Path) -> bool {
    path.extension().is_some_and(|ext| ext == "bz2")
}

/// How to write a file.
#[derive(Debug, Clone, Default)]
pub(crate) struct Target {
    /// bzip2-compress it.
    pub(crate) compress: bool,
    /// Give it these permissions (those of the file it replaces in place).
    pub(crate) permissions: Option<Permissions>,
}

impl Target {
    /// Compressed when the name ends in `.bz2`.
    pub(crate) fn by_name(path: &Path) -> Target {
        Target {
            compress: wants_bzip2(path),
            permissions: None,
        }
    }
}

/// Writes `path` atomically: `body` fills a temporary file beside it (through
/// a bzip2 encoder when `target.compress`), which is fsynced and renamed over
/// `path`. On any failure, `body`'s included, `path` is untouched and the
/// temporary file removed.
pub(crate) fn write_file<T>(
    path: &Path,
    target: &Target,
    body: impl FnOnce(&mut dyn Write) -> io::Result<T>,
) -> anyhow::Result<T> {
    let set_permissions = |file: &File| match &target.permissions {
        Some(permissions) => file.set_permissions(permissions.clone()),
        None => Ok(()),
    };
    let written = if target.compress {
        write_bzip2_atomically(path, Compression::best(), |encoder| {
            set_permissions(encoder.get_ref().get_ref())?;
            body(encoder)
        })
    } else {
        write_atomically(path, |file| {
            set_permissions(file.get_ref())?;
            body(file)
        })
    };
    written.with_context(|| format!("cannot write {}", path.display()))
}

/// Writes a flogfile at `path` atomically (see [`write_file`]). `header`
/// starts it; `body` writes events and the trailer.
pub(crate) fn write_flogfile<T>(
    path: &Path,
    target: &Target,
    header: Option<&Header>,
    body: impl FnOnce(&mut FlogWriter<&mut dyn Write>) -> io::Result<T>,
) -> anyhow::Result<T> {
    write_file(path, target, |out| {
        let mut writer = match header {
            Some(header) => FlogWriter::new(out, header)?,
            None => FlogWriter::without_header(out)?,
        };
        let value = body(&mut writer)?;
        writer.flush()?;
        Ok(value)
    })
}
