//! Telling a TLS peer from a plaintext one by its first byte, and refusing
//! the wrong kind with a message it can show.
//!
//! A TLS connection starts with a handshake record, whose first byte is
//! 0x16 (then the record version, 0x03 0x0N). A logport frame starts with a
//! 4-byte big-endian length, and no valid frame is anywhere near 0x16000000
//! bytes (369 MB; the maximum is 8 MiB), so its first byte is 0x00. One byte
//! decides.

use std::io;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::time::{timeout_at, Instant};

use crate::connection::Connection;
use crate::message::{ErrorCode, ErrorMessage, Message};

const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// What a peer's first byte says it speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FirstByte {
    Tls,
    NotTls,
    /// The peer closed the connection without sending anything.
    Closed,
}

/// Peeks at the first byte without consuming it, waiting until one arrives.
pub(crate) async fn first_byte(tcp: &TcpStream) -> io::Result<FirstByte> {
    let mut byte = [0u8; 1];
    Ok(match tcp.peek(&mut byte).await? {
        0 => FirstByte::Closed,
        _ if byte[0] == TLS_HANDSHAKE_RECORD => FirstByte::Tls,
        _ => FirstByte::NotTls,
    })
}

/// Told to a plaintext client on a TLS port.
pub(crate) const TLS_REQUIRED: &str =
    "this logport speaks TLS only: connect with its flogs:// URL \
     (in the publisher's logport file)";

/// Told to a TLS client on a plaintext port. Its TLS library reports these
/// bytes as not being TLS; other plaintext tools can read the message.
pub(crate) const PLAINTEXT_ONLY: &str =
    "this logport is plaintext (insecure): its URL starts with flog+insecure://";

/// How much of a refused peer's data is read and discarded before closing.
const MAX_DRAIN: usize = 64 * 1024;

/// Sends `message` as a plaintext logport error frame, then closes politely:
/// the write side first, then reading and discarding what the peer sent
/// until it closes too (at most [`MAX_DRAIN`] bytes, until `deadline`).
/// Closing with unread data would make the kernel reset the connection, and
/// the peer could lose the message before reading it. Best effort: the peer
/// is being refused whatever happens here.
pub(crate) async fn refuse(mut tcp: TcpStream, message: &str, deadline: Instant) {
    let refusal = Message::Error(ErrorMessage {
        id: None,
        code: ErrorCode::Unsupported,
        message: message.to_string(),
    });
    let polite_close = async {
        Connection::new(&mut tcp)
            .write_message(&refusal)
            .await
            .ok()?;
        tcp.shutdown().await.ok()?;
        let mut drained = 0;
        let mut buf = [0u8; 4096];
        while drained < MAX_DRAIN {
            match tcp.read(&mut buf).await.ok()? {
                0 => break,
                n => drained += n,
            }
        }
        Some(())
    };
    let _ = timeout_at(deadline, polite_close).await;
}
