//! The keys publishers dialed in with: the first one seen for an id is
//! kept (`BASEDIR/publisher-keys`), and another one for the same id is an
//! impostor until the operator accepts it with `flog-gatherer accept-key`,
//! which leaves the key in `BASEDIR/accepted-keys/ID` for the running
//! gatherer to take up.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use flog_wire::KeyFingerprint;

use crate::error::GatherError;

/// The first key seen for each publisher id that dialed in: lines of
/// `ID KEY`.
pub const PUBLISHER_KEYS_FILE: &str = "publisher-keys";
/// Keys an operator accepted, one file per publisher id, holding the key.
pub const ACCEPTED_KEYS_DIR: &str = "accepted-keys";

/// What a publisher's key says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The key first seen for this id, or the first key for a new id (now
    /// kept), or one the operator accepted (now kept instead).
    Known,
    /// Another key than the one first seen for this id.
    Impostor { first: KeyFingerprint },
}

/// The keys of `publisher-keys`, kept in memory and written back whole.
#[derive(Debug)]
pub(crate) struct KnownKeys {
    basedir: PathBuf,
    keys: BTreeMap<String, KeyFingerprint>,
}

impl KnownKeys {
    /// Reads `BASEDIR/publisher-keys` (none yet is an empty set); a damaged
    /// file is an error, not a reason to trust every key again.
    pub(crate) fn load(basedir: &Path) -> Result<KnownKeys, GatherError> {
        let path = basedir.join(PUBLISHER_KEYS_FILE);
        let mut keys = BTreeMap::new();
        match fs::read_to_string(&path) {
            Ok(text) => {
                for line in text.lines().filter(|l| !l.trim().is_empty()) {
                    let parsed = line.split_once(' ').and_then(|(id, key)| {
                        let key = KeyFingerprint::parse(key.trim()).ok()?;
                        flog_wire::is_valid_publisher_id(id).then(|| (id.to_owned(), key))
                    });
                    let Some((id, key)) = parsed else {
                        let source = io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!("not an `ID KEY` line: {line:?}"),
                        );
                        return Err(GatherError::io("read", &path)(source));
                    };
                    keys.insert(id, key);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(GatherError::io("read", &path)(e)),
        }
        Ok(KnownKeys {
            basedir: basedir.to_owned(),
            keys,
        })
    }

    /// Judges `key` for `id`, keeping a first key and taking up an
    /// accepted one. Blocking file I/O.
    pub(crate) fn check(&mut self, id: &str, key: KeyFingerprint) -> Result<Verdict, GatherError> {
        match self.keys.get(id) {
            Some(known) if *known == key => return Ok(Verdict::Known),
            Some(known) => {
                let first = *known;
                if accepted(&self.basedir, id)? != Some(key) {
                    return Ok(Verdict::Impostor { first });
                }
                tracing::info!(publisher = %id, %key, "taking up the key accepted for {id}: {key} (was {first})");
            }
            None => {}
        }
        self.keys.insert(id.to_owned(), key);
        self.save()?;
        let accepted = self.basedir.join(ACCEPTED_KEYS_DIR).join(id);
        match fs::remove_file(&accepted) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                return Err(GatherError::io("remove", &accepted)(e))
            }
            _ => {}
        }
        Ok(Verdict::Known)
    }

    fn save(&self) -> Result<(), GatherError> {
        let text: String = self
            .keys
            .iter()
            .map(|(id, key)| format!("{id} {key}\n"))
            .collect();
        let path = self.basedir.join(PUBLISHER_KEYS_FILE);
        flog_core::fs::write_file_atomically(&path, text.as_bytes())
            .map_err(GatherError::io("write", &path))
    }
}

/// The key an operator accepted for `id`, if any.
fn accepted(basedir: &Path, id: &str) -> Result<Option<KeyFingerprint>, GatherError> {
    let path = basedir.join(ACCEPTED_KEYS_DIR).join(id);
    match fs::read_to_string(&path) {
        Ok(text) => KeyFingerprint::parse(text.trim()).map(Some).map_err(|_| {
            let source = io::Error::new(io::ErrorKind::InvalidData, "not a key fingerprint");
            GatherError::io("read", &path)(source)
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(GatherError::io("read", &path)(e)),
    }
}

/// Accepts `key` as publisher `id`'s from now on: `flog-gatherer
/// accept-key`. Safe while a gatherer runs: it takes the key up the next
/// time the publisher dials in with it.
pub fn accept_key(basedir: &Path, id: &str, key: KeyFingerprint) -> Result<PathBuf, GatherError> {
    let dir = basedir.join(ACCEPTED_KEYS_DIR);
    fs::create_dir_all(&dir).map_err(GatherError::io("create directory", &dir))?;
    if !flog_wire::is_valid_publisher_id(id) {
        let source = io::Error::new(io::ErrorKind::InvalidInput, "not a valid publisher id");
        return Err(GatherError::io("accept a key for", &dir.join(id))(source));
    }
    let path = dir.join(id);
    flog_core::fs::write_file_atomically(&path, format!("{key}\n").as_bytes())
        .map_err(GatherError::io("write", &path))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> KeyFingerprint {
        KeyFingerprint::from_bytes([byte; 32])
    }

    #[test]
    fn the_first_key_is_kept_another_refused_until_accepted() {
        let dir = tempfile::tempdir().unwrap();
        let mut keys = KnownKeys::load(dir.path()).unwrap();
        assert_eq!(keys.check("web-1", key(1)).unwrap(), Verdict::Known);
        assert_eq!(keys.check("web-1", key(1)).unwrap(), Verdict::Known);
        let impostor = Verdict::Impostor { first: key(1) };
        assert_eq!(keys.check("web-1", key(2)).unwrap(), impostor);
        // Kept across restarts.
        let mut keys = KnownKeys::load(dir.path()).unwrap();
        assert_eq!(keys.check("web-1", key(2)).unwrap(), impostor);
        // Accepting another key than the one presented changes nothing.
        accept_key(dir.path(), "web-1", key(3)).unwrap();
        assert_eq!(keys.check("web-1", key(2)).unwrap(), impostor);
        accept_key(dir.path(), "web-1", key(2)).unwrap();
        assert_eq!(keys.check("web-1", key(2)).unwrap(), Verdict::Known);
        assert!(!dir.path().join(ACCEPTED_KEYS_DIR).join("web-1").exists());
        let impostor = Verdict::Impostor { first: key(2) };
        assert_eq!(keys.check("web-1", key(1)).unwrap(), impostor);
        assert!(accept_key(dir.path(), "../x", key(1)).is_err());
    }

    #[test]
    fn a_damaged_keys_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(PUBLISHER_KEYS_FILE), "web-1 not-a-key\n").unwrap();
        assert!(KnownKeys::load(dir.path()).is_err());
    }
}
