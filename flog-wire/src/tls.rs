//! TLS for the logport: keys, key files, pinned-key verifiers and the rustls
//! configurations built from them. The [transport](crate::Connector) is what
//! uses them; see `docs/protocol.md` §12 for the design.

pub(crate) mod config;
mod key;
mod key_file;
mod verify;

pub use self::config::ServerTls;
pub use self::key::{KeyError, TlsKey};
pub use self::key_file::{KeyFile, KeyFileError, Rotation, WritePrivate};
pub(crate) use self::verify::KeyMismatch;
