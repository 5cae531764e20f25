use std::fs;
use std::io;
use std::path::Path;

use sha2::{Digest, Sha256};

/// File in the logdir holding the publisher id.
pub const PUBLISHER_ID_FILE: &str = "publisher-id";
/// File in the logdir holding the logport secret (mode 0600).
pub const SECRET_FILE: &str = "logport-secret";
/// File in the logdir holding the logport URL, secret included (mode 0600).
pub const LOGPORT_FILE: &str = "logport";
/// File in the logdir holding the logport's TLS key (PEM, mode 0600); its
/// fingerprint is the `KEY` of the `flogs://` URL. The replaced key of a
/// rotation is kept beside it as `logport-key.pem.old`.
pub const KEY_FILE: &str = "logport-key.pem";

/// The logdir's key file, written with the workspace's private atomic writer.
pub fn key_file(logdir: &Path) -> flog_wire::KeyFile {
    flog_wire::KeyFile::new(
        logdir.join(KEY_FILE),
        flog_core::fs::write_private_atomically,
    )
}

/// Who a publisher is: a stable id and the secret clients must present.
#[derive(Clone)]
pub(crate) struct Identity {
    pub(crate) publisher_id: String,
    pub(crate) secret: String,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("publisher_id", &self.publisher_id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

fn random_hex(bytes: usize) -> io::Result<String> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| io::Error::other(format!("no randomness: {e}")))?;
    Ok(data_encoding::HEXLOWER.encode(&buf))
}

fn read_token(path: &Path, valid: impl Fn(&str) -> bool) -> io::Result<Option<String>> {
    match fs::read_to_string(path) {
        Ok(text) => {
            let token = text.trim();
            if valid(token) {
                Ok(Some(token.to_owned()))
            } else {
                Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{} does not hold a valid value", path.display()),
                ))
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

impl Identity {
    /// Loads the identity kept in `logdir`, creating it on first use, so the id
    /// (and the URL gatherers hold) survive restarts.
    pub(crate) fn load_or_create(logdir: &Path) -> io::Result<Identity> {
        let id_path = logdir.join(PUBLISHER_ID_FILE);
        let publisher_id = match read_token(&id_path, flog_wire::is_valid_publisher_id)? {
            Some(id) => id,
            None => {
                let id = format!("p-{}", random_hex(10)?);
                flog_core::fs::write_file_atomically(&id_path, format!("{id}\n").as_bytes())?;
                id
            }
        };
        let secret_path = logdir.join(SECRET_FILE);
        let valid_secret = |s: &str| s.len() >= 32 && s.bytes().all(|b| b.is_ascii_hexdigit());
        let secret = match read_token(&secret_path, valid_secret)? {
            Some(secret) => secret,
            None => {
                // 256 bits; the brief asks for at least 128.
                let secret = random_hex(32)?;
                flog_core::fs::write_private_atomically(
                    &secret_path,
                    format!("{secret}\n").as_bytes(),
                )?;
                secret
            }
        };
        Ok(Identity {
            publisher_id,
            secret,
        })
    }

    /// Whether `presented` is the secret, in time that does not depend on where
    /// the two differ: both are hashed and the digests compared without an early
    /// exit, so neither the content nor the length leaks through timing.
    pub(crate) fn secret_matches(&self, presented: &str) -> bool {
        let a = Sha256::digest(self.secret.as_bytes());
        let b = Sha256::digest(presented.as_bytes());
        a.iter()
            .zip(b.iter())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_persists_and_secret_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let a = Identity::load_or_create(dir.path()).unwrap();
        let b = Identity::load_or_create(dir.path()).unwrap();
        assert_eq!(a.publisher_id, b.publisher_id);
        assert_eq!(a.secret, b.secret);
        assert!(a.secret.len() >= 32);
        assert!(flog_wire::is_valid_publisher_id(&a.publisher_id));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path().join(SECRET_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(a.secret_matches(&a.secret.clone()));
        assert!(!a.secret_matches("wrong"));
        assert!(!a.secret_matches(""));
        assert!(!format!("{a:?}").contains(&a.secret));
    }

    #[test]
    fn a_damaged_identity_file_is_an_error_not_a_new_identity() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(PUBLISHER_ID_FILE), "../../etc\n").unwrap();
        let err = Identity::load_or_create(dir.path()).unwrap_err();
        assert!(err.to_string().contains("publisher-id"), "{err}");
    }
}
