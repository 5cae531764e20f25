//! Showing what the demo gathered: the directory tree and the classification
//! lists.

use std::fs;
use std::io::{self, Write};
use std::path::Path;

/// Prints `dir`'s tree, sorted, with file sizes. Hidden files (the gatherer's
/// bookkeeping and temporary files) are left out.
pub(super) fn tree(out: &mut impl Write, dir: &Path) -> io::Result<()> {
    writeln!(out, "{}/", dir.display())?;
    tree_below(out, dir, 1)
}

fn tree_below(out: &mut impl Write, dir: &Path, depth: usize) -> io::Result<()> {
    let mut entries: Vec<_> = fs::read_dir(dir)?
        .filter_map(Result::ok)
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    entries.sort_by_key(|e| e.file_name());
    let indent = "  ".repeat(depth);
    for entry in entries {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let meta = entry.metadata()?;
        if meta.is_dir() {
            writeln!(out, "{indent}{name}/")?;
            tree_below(out, &entry.path(), depth + 1)?;
        } else {
            writeln!(out, "{indent}{name}  ({} bytes)", meta.len())?;
        }
    }
    Ok(())
}

/// Prints each classification list (`classified/CATEGORY`, one incident path per
/// line) with its entries.
pub(super) fn classification(out: &mut impl Write, classified: &Path) -> io::Result<()> {
    let mut lists: Vec<_> = fs::read_dir(classified)?
        .filter_map(Result::ok)
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    lists.sort_by_key(|e| e.file_name());
    for list in lists {
        let text = fs::read_to_string(list.path())?;
        let entries: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        let plural = if entries.len() == 1 { "" } else { "s" };
        writeln!(
            out,
            "{}: {} incident{plural}",
            list.file_name().to_string_lossy(),
            entries.len()
        )?;
        for entry in entries {
            writeln!(out, "    {entry}")?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_and_lists_skip_hidden_files() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("classified")).unwrap();
        fs::write(
            dir.path().join("classified/database"),
            "incidents/p/a.flog.bz2\n",
        )
        .unwrap();
        fs::write(dir.path().join("classified/.rules"), "x").unwrap();
        let mut out = Vec::new();
        tree(&mut out, dir.path()).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.ends_with("  classified/\n    database  (23 bytes)\n"),
            "{text}"
        );
        let mut out = Vec::new();
        classification(&mut out, &dir.path().join("classified")).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "database: 1 incident\n    incidents/p/a.flog.bz2\n"
        );
    }
}
