//! `~` in paths the application gives flog (the logdir, `FLOGFILE`).

use std::borrow::Cow;
use std::io;
use std::path::{Component, Path, PathBuf};

/// `path` with a leading `~` replaced by `$HOME`, as foolscap's `setLogDir`
/// (Python's `expanduser`) does; `~user` is left alone.
pub(crate) fn expand_home(path: &Path) -> io::Result<Cow<'_, Path>> {
    let mut parts = path.components();
    match parts.next() {
        Some(Component::Normal(first)) if first == "~" => {
            let home = std::env::var_os("HOME")
                .filter(|h| !h.is_empty())
                .ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::NotFound,
                        "the path starts with ~ but HOME is not set",
                    )
                })?;
            let mut expanded = PathBuf::from(home);
            expanded.extend(parts);
            Ok(Cow::Owned(expanded))
        }
        _ => Ok(Cow::Borrowed(path)),
    }
}
