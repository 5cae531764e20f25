//! Logport connections over TLS with pinned keys, or explicitly insecure
//! plaintext: the byte streams under a [`Connection`](crate::Connection).
//!
//! The protocol above is unchanged: a [`Stream`] is what a `TcpStream` was,
//! and the hello, the secret and every message travel inside it.
//! `docs/protocol.md` §12 specifies the design; this is how to use it.
//!
//! # How the workspace uses it
//!
//! **Keys.** A publisher keeps its key beside its id and secret
//! (`LOGDIR/logport-key.pem`); a gatherer that listens for dialing-out
//! publishers keeps one in `BASEDIR/`:
//!
//! ```no_run
//! # fn example(logdir: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
//! use flog_wire::{KeyFile, ServerTls};
//!
//! let key_file = KeyFile::new(
//!     logdir.join("logport-key.pem"),
//!     flog_core::fs::write_private_atomically,
//! );
//! let key = key_file.load_or_create()?; // blocking file I/O: spawn_blocking
//! let server_tls = ServerTls::new(&key)?;
//! # Ok(())
//! # }
//! ```
//!
//! Rotation is [`KeyFile::rotate`](crate::KeyFile::rotate), run while the
//! server is stopped (`docs/protocol.md` §12.7).
//!
//! **Servers.** The publisher accepts each connection with
//! [`Acceptor::tls`]`(server_tls)`, or [`Acceptor::insecure`]`()` when its
//! operator opted out, in the connection's own task, then serves a
//! `Connection` on the [`Stream`]; its `busy` refusal comes after `accept`,
//! inside TLS, so that a TLS client can read it.
//!
//! **Clients.** [`LogportClient`](crate::LogportClient) (and so `flogtool`
//! and the gatherer) connects with [`Connector::connect`]`(&url)`; a server
//! holding another key is
//! `ClientError::Transport(TransportError::KeyMismatch { .. })`, "publisher
//! key does not match the URL: expected X, got Y", and was sent nothing.
//!
//! **Dial-out.** The publisher dials the gatherer URL with
//! `Connector::new().client_key(key).peer_role(PeerRole::Gatherer)` and then
//! *serves* its logport session on the stream. The gatherer listens with
//! [`Acceptor::tls`]`(ServerTls::requiring_client_keys(&gatherer_key)?)` and
//! acts as the client on the stream; [`Stream::peer_key`] is the
//! publisher's key fingerprint, compared with the one first seen for the
//! publisher id (impostor check).

mod accept;
mod connect;
mod error;
mod sniff;
mod stream;
#[cfg(test)]
mod tests;

pub use self::accept::{Acceptor, DEFAULT_HANDSHAKE_TIMEOUT};
pub use self::connect::{Connector, DEFAULT_CONNECT_TIMEOUT};
pub use self::error::{PeerRole, TransportError};
pub use self::stream::Stream;
