//! The gatherer's own identity for publishers that dial in: its TLS key,
//! its id and the registration secret, kept in the base directory, and the
//! URL written for operators to hand out.

use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::Path;

use flog_wire::{KeyFile, LogportUrl, TlsKey};
use sha2::{Digest, Sha256};

use crate::error::GatherError;

/// The gatherer's TLS key (PEM, mode 0600) in the base directory.
pub const GATHERER_KEY_FILE: &str = "gatherer-key.pem";
/// The gatherer's id in the base directory: the `ID` of its URL.
pub const GATHERER_ID_FILE: &str = "gatherer-id";
/// The registration secret publishers present (mode 0600).
pub const REGISTRATION_SECRET_FILE: &str = "registration-secret";
/// The gatherer's URL for publishers, secret included (mode 0600), written
/// at every start while it listens.
pub const GATHERER_URL_FILE: &str = "gatherer-url";

/// The secret of the gatherer's own logport (mode 0600), `[logport]`:
/// another than the registration secret, since it reads the whole fleet's
/// events, where registering only offers a publisher's.
pub const LOGPORT_SECRET_FILE: &str = "logport-secret";
/// The URL of the gatherer's own logport, secret included (mode 0600),
/// written at every start while it serves one; named as a publisher's
/// `logport` file is, so that `flogtool tail BASEDIR` finds it.
pub const GATHERER_LOGPORT_FILE: &str = "logport";

/// Who the gatherer is to publishers dialing in.
pub(crate) struct Identity {
    pub(crate) key: TlsKey,
    pub(crate) gatherer_id: String,
    secret: String,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("key", &self.key.fingerprint())
            .field("gatherer_id", &self.gatherer_id)
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// Loads what `basedir` holds, creating what is missing (a damaged file
    /// is an error, never replaced).
    pub(crate) fn load_or_create(basedir: &Path) -> Result<Identity, GatherError> {
        let key = KeyFile::new(
            basedir.join(GATHERER_KEY_FILE),
            flog_core::fs::write_private_atomically,
        )
        .load_or_create()
        .map_err(GatherError::Key)?;
        let gatherer_id = token(basedir, GATHERER_ID_FILE, false, |id| {
            flog_wire::is_valid_publisher_id(id)
        })?;
        let secret = token(basedir, REGISTRATION_SECRET_FILE, true, |s| {
            s.len() >= 32 && s.bytes().all(|b| b.is_ascii_hexdigit())
        })?;
        Ok(Identity {
            key,
            gatherer_id,
            secret,
        })
    }

    /// The gatherer's URL for a listener at `host:port`.
    pub(crate) fn url(&self, host: &str, port: u16) -> Result<LogportUrl, flog_wire::UrlError> {
        LogportUrl::tls(
            self.key.fingerprint(),
            host,
            port,
            &self.gatherer_id,
            &self.secret,
        )
    }

    /// Whether `presented` is the registration secret, in time that does
    /// not depend on where they differ.
    pub(crate) fn secret_matches(&self, presented: &str) -> bool {
        secrets_match(&self.secret, presented)
    }
}

/// Whether `presented` is `secret`, in time that does not depend on where
/// they differ.
pub(crate) fn secrets_match(secret: &str, presented: &str) -> bool {
    let a = Sha256::digest(secret.as_bytes());
    let b = Sha256::digest(presented.as_bytes());
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

/// The secret of the gatherer's own logport, created on first use.
pub(crate) fn logport_secret(basedir: &Path) -> Result<String, GatherError> {
    token(basedir, LOGPORT_SECRET_FILE, true, |s| {
        s.len() >= 32 && s.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

/// Writes the URL for operators into `basedir/name` (mode 0600: it holds
/// the secret).
pub(crate) fn write_url_file(
    basedir: &Path,
    name: &str,
    url: &LogportUrl,
) -> Result<(), GatherError> {
    let path = basedir.join(name);
    flog_core::fs::write_private_atomically(&path, format!("{url}\n").as_bytes())
        .map_err(GatherError::io("write", &path))
}

/// The token in `basedir/name`, or a new random one written there.
fn token(
    basedir: &Path,
    name: &str,
    private: bool,
    valid: impl Fn(&str) -> bool,
) -> Result<String, GatherError> {
    let path = basedir.join(name);
    match fs::read_to_string(&path) {
        Ok(text) if valid(text.trim()) => return Ok(text.trim().to_owned()),
        Ok(_) => {
            let source = io::Error::new(io::ErrorKind::InvalidData, "not a valid value");
            return Err(GatherError::io("read", &path)(source));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(GatherError::io("read", &path)(e)),
    }
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)
        .map_err(|e| GatherError::io("create", &path)(io::Error::other(e.to_string())))?;
    let hex = bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    });
    let value = if private {
        hex
    } else {
        format!("g-{}", &hex[..20])
    };
    let text = format!("{value}\n");
    let write = if private {
        flog_core::fs::write_private_atomically
    } else {
        flog_core::fs::write_file_atomically
    };
    write(&path, text.as_bytes()).map_err(GatherError::io("write", &path))?;
    Ok(value)
}
