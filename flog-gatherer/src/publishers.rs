//! Which publishers to gather from: the config's list plus one URL per file
//! in the publishers folder, read again at every poll round.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use flog_wire::{LogportUrl, UrlError};

/// A URL file larger than this is not a URL file.
const MAX_URL_FILE: u64 = 64 * 1024;

/// Where a publisher's URL came from, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Origin {
    Config,
    File(PathBuf),
}

/// The publishers wanted now, by publisher id.
pub(crate) type Wanted = BTreeMap<String, (LogportUrl, Origin)>;

/// Reads the publishers folder, remembering which problems it reported, so
/// that a bad file is reported when it appears or changes, not every round.
#[derive(Debug, Default)]
pub(crate) struct PublisherScan {
    reported: HashSet<String>,
}

impl PublisherScan {
    /// The publishers of `configured` and of the files in `dir` (which need
    /// not exist). When two URLs name one publisher id, the first wins: the
    /// config's, then files in name order.
    pub(crate) fn scan(&mut self, configured: &[LogportUrl], dir: &Path) -> Wanted {
        let mut problems = Vec::new();
        let mut wanted = Wanted::new();
        let mut add = |url: LogportUrl, origin: Origin, problems: &mut Vec<ScanProblem>| {
            let id = url.publisher_id().to_owned();
            match wanted.get(&id) {
                Some((first, first_origin)) if *first != url => {
                    problems.push(ScanProblem::Duplicate {
                        again: origin,
                        id,
                        url: url.redacted().to_string(),
                        first: first_origin.clone(),
                    })
                }
                Some(_) => {}
                None => {
                    wanted.insert(id, (url, origin));
                }
            }
        };
        for url in configured {
            add(url.clone(), Origin::Config, &mut problems);
        }
        match url_files(dir) {
            Ok(files) => {
                for file in files {
                    match read_url_file(&file) {
                        Ok(urls) => {
                            for url in urls {
                                add(url, Origin::File(file.clone()), &mut problems);
                            }
                        }
                        Err(problem) => problems.push(ScanProblem::File(problem)),
                    }
                }
            }
            Err(source) => problems.push(ScanProblem::Folder {
                dir: dir.to_owned(),
                source,
            }),
        }
        // Compared by their messages: a problem is the same as one reported
        // before when it reads the same.
        let current: HashSet<String> = problems.iter().map(ToString::to_string).collect();
        for problem in current.difference(&self.reported) {
            tracing::warn!(problem = problem.as_str(), "{problem}");
        }
        self.reported = current;
        wanted
    }
}

/// Something wrong with the publishers the gatherer is given.
#[derive(Debug, thiserror::Error)]
enum ScanProblem {
    #[error("{again} names publisher {id} again with another address ({url}); using the one from {first}")]
    Duplicate {
        again: Origin,
        id: String,
        /// Redacted.
        url: String,
        first: Origin,
    },
    #[error(transparent)]
    File(UrlFileError),
    #[error("cannot read the publishers folder {}: {source}", dir.display())]
    Folder { dir: PathBuf, source: io::Error },
}

/// Why a file of the publishers folder is not used.
#[derive(Debug, thiserror::Error)]
enum UrlFileError {
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("{} is larger than {MAX_URL_FILE} bytes: not a URL file", path.display())]
    TooLarge { path: PathBuf },
    #[error("{}:{line}: invalid logport URL: {source}; ignoring the file", path.display())]
    BadUrl {
        path: PathBuf,
        line: usize,
        source: UrlError,
    },
    #[error("{} holds no logport URL", path.display())]
    Empty { path: PathBuf },
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Config => f.write_str("the config file"),
            Origin::File(path) => write!(f, "{}", path.display()),
        }
    }
}

/// The files of the publishers folder, by name; hidden files (`.name`) and
/// editor backups (`name~`) are left out, so that a file being written
/// beside its final name is not read half-done.
fn url_files(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || name.ends_with('~') {
            continue;
        }
        // Follows symbolic links: a link to a publisher's logport file works.
        if fs::metadata(entry.path()).is_ok_and(|m| m.is_file()) {
            files.push(entry.path());
        }
    }
    files.sort();
    Ok(files)
}

/// The URLs in a file: one per non-blank line, `#` starting a comment line.
/// A bad line makes the whole file count as broken (reported with its line).
fn read_url_file(path: &Path) -> Result<Vec<LogportUrl>, UrlFileError> {
    let mut text = String::new();
    fs::File::open(path)
        .and_then(|file| file.take(MAX_URL_FILE + 1).read_to_string(&mut text))
        .map_err(|source| UrlFileError::Read {
            path: path.to_owned(),
            source,
        })?;
    if text.len() as u64 > MAX_URL_FILE {
        return Err(UrlFileError::TooLarge {
            path: path.to_owned(),
        });
    }
    let mut urls = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let url = line
            .parse::<LogportUrl>()
            .map_err(|source| UrlFileError::BadUrl {
                path: path.to_owned(),
                line: index + 1,
                source,
            })?;
        urls.push(url);
    }
    if urls.is_empty() {
        return Err(UrlFileError::Empty {
            path: path.to_owned(),
        });
    }
    Ok(urls)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> LogportUrl {
        text.parse().unwrap()
    }

    #[test]
    fn config_and_files_combine_first_one_wins() {
        let dir = tempfile::tempdir().unwrap();
        let files = dir.path().join("publishers");
        fs::create_dir(&files).unwrap();
        fs::write(
            files.join("b.url"),
            "# web two\nflog+insecure://127.0.0.1:2/web-2/s2\n",
        )
        .unwrap();
        fs::write(
            files.join("a.url"),
            "flog+insecure://127.0.0.1:9/web-1/zzsecret\n",
        )
        .unwrap();
        fs::write(
            files.join(".hidden"),
            "flog+insecure://127.0.0.1:3/web-3/s3\n",
        )
        .unwrap();
        fs::write(
            files.join("c.url~"),
            "flog+insecure://127.0.0.1:4/web-4/s4\n",
        )
        .unwrap();
        fs::write(files.join("broken"), "\nflog://nope\n").unwrap();
        fs::write(files.join("empty"), "# nothing yet\n").unwrap();

        let mut scan = PublisherScan::default();
        let configured = [url("flog+insecure://127.0.0.1:1/web-1/s1")];
        let wanted = scan.scan(&configured, &files);
        let ids: Vec<&str> = wanted.keys().map(String::as_str).collect();
        assert_eq!(ids, ["web-1", "web-2"]);
        assert_eq!(wanted["web-1"], (configured[0].clone(), Origin::Config));
        assert_eq!(wanted["web-2"].1, Origin::File(files.join("b.url")));

        let problems: Vec<&String> = scan.reported.iter().collect();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(scan
            .reported
            .iter()
            .any(|p| p.contains("broken:2: invalid logport URL")));
        assert!(scan.reported.iter().any(|p| p.contains("web-1 again")));
        // Never the secret.
        assert!(!scan.reported.iter().any(|p| p.contains("zzsecret")));

        fs::remove_file(files.join("broken")).unwrap();
        scan.scan(&configured, &files);
        assert_eq!(scan.reported.len(), 2);
    }

    #[test]
    fn a_missing_folder_is_no_publishers() {
        let dir = tempfile::tempdir().unwrap();
        let mut scan = PublisherScan::default();
        assert!(scan.scan(&[], &dir.path().join("none")).is_empty());
        assert!(scan.reported.is_empty());
    }
}
