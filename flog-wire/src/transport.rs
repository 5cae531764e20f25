//! Logport connections over TLS with pinned keys, or explicitly insecure
//! plaintext: the byte streams under a [`Connection`](crate::Connection).
//!
//! The protocol above is unchanged: a [`Stream`] is what a `TcpStream` was,
//! and the hello, the secret and every message travel inside it.
//! `docs/protocol.md` §12 specifies the design; this is how to use it.
//!
//! # Integration guide
//!
//! **Keys.** A publisher keeps its key beside its id and secret; a gatherer
//! that listens for dialing-out publishers keeps one in `BASEDIR/`:
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
//! Rotation is [`KeyFile::rotate`](crate::KeyFile::rotate), for a command
//! such as `flogtool rotate-key LOGDIR` run while the publisher is stopped.
//!
//! **Publisher (server).** Build the URL with
//! [`LogportUrl::tls`](crate::LogportUrl::tls)`(key.fingerprint(), host,
//! port, id, secret)` (or [`LogportUrl::insecure`](crate::LogportUrl::insecure)
//! when the operator opted out) and write it to the `logport` file as today.
//! In each connection's task, before the hello deadline starts:
//! `let stream = acceptor.accept(tcp).await?;` with
//! [`Acceptor::tls`]`(server_tls)` or [`Acceptor::insecure`]`()`, then
//! `Connection::new(stream)` exactly as with a `TcpStream`. Log an accept
//! error with the peer and carry on serving others; count
//! [`TransportError::KeyRefusedByPeer`] separately (clients holding a URL
//! from before a rotation). The connection cap's `busy` refusal should come
//! after `accept`, inside TLS, so that a TLS client can read it.
//!
//! **Clients (`LogportClient`, `flogtool`, the gatherer).** Replace the
//! `TcpStream::connect` in the client's handshake with
//! [`Connector::connect`]`(&url)` (within the existing connect timeout) and
//! keep everything after it. Add a `ClientError` variant wrapping
//! [`TransportError`], so that callers can match
//! `ClientError::Transport(TransportError::KeyMismatch { .. })`, whose
//! message is "publisher key does not match the URL: expected X, got Y".
//!
//! **Dial-out.** The publisher dials the gatherer URL with
//! `Connector::new().client_key(key).peer_role(PeerRole::Gatherer)` and then
//! *serves* its logport session on the stream. The gatherer listens with
//! [`Acceptor::tls`]`(ServerTls::requiring_client_keys(&gatherer_key)?)` and
//! acts as the client on the stream; [`Stream::peer_key`] is the
//! publisher's key fingerprint, to compare with the one first seen for the
//! publisher id from the welcome (impostor check).
//!
//! **URLs.** Switch the parsing of configs and command lines to
//! [`LogportUrl::parse_current`](crate::LogportUrl::parse_current), then
//! make it the body of `parse` and delete
//! [`Security::PreTls`](crate::Security::PreTls) and `LogportUrl::new`: the
//! compiler lists what is left to change.

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
