//! A socket that sends and receives [`Message`]s.

use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio_util::codec::{Framed, FramedParts, FramedWrite};

use crate::codec::{Decoded, FlogCodec};
use crate::error::WireError;
use crate::message::Message;

/// A framed connection carrying [`Message`]s, used by both ends.
///
/// Handlers read and write whole messages and never see bytes. After an
/// error that is not [recoverable](WireError::is_recoverable) every further
/// call fails with [`WireError::Failed`].
#[derive(Debug)]
pub struct Connection<S = TcpStream> {
    framed: Framed<S, FlogCodec>,
    read_failed: bool,
    write_failed: bool,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    /// Wraps a stream, with the default maximum frame size.
    pub fn new(stream: S) -> Self {
        Self::with_codec(stream, FlogCodec::new())
    }

    /// Wraps a stream, framing with `codec`.
    pub fn with_codec(stream: S, codec: FlogCodec) -> Self {
        Self {
            framed: Framed::new(stream, codec),
            read_failed: false,
            write_failed: false,
        }
    }

    /// Reads the next message.
    ///
    /// Returns `Ok(None)` when the peer closed the connection between frames.
    /// A frame that holds no valid message is a recoverable
    /// [`WireError::Malformed`]: the next call reads the next frame.
    ///
    /// Cancel safe: a partly received frame stays buffered.
    pub async fn read_message(&mut self) -> Result<Option<Message>, WireError> {
        read_message(&mut self.framed, &mut self.read_failed).await
    }

    /// Writes one message and flushes it to the socket.
    pub async fn write_message(&mut self, message: &Message) -> Result<(), WireError> {
        self.feed(message).await?;
        self.flush().await
    }

    /// Queues one message without flushing, to send many in one write; the
    /// buffer is written out once it grows large, and by [`flush`](Self::flush).
    pub async fn feed(&mut self, message: &Message) -> Result<(), WireError> {
        let result = guard(&mut self.write_failed)?;
        result.check(self.framed.feed(message).await)
    }

    /// Writes every queued message to the socket.
    pub async fn flush(&mut self) -> Result<(), WireError> {
        let result = guard(&mut self.write_failed)?;
        result.check(SinkExt::<&Message>::flush(&mut self.framed).await)
    }

    /// The underlying stream, e.g. for its peer address.
    pub fn get_ref(&self) -> &S {
        self.framed.get_ref()
    }

    /// Splits the connection so that one task can read while another writes,
    /// as a subscription's pushes require. Bytes already buffered in either
    /// direction carry over to the halves.
    pub fn into_split(self) -> (MessageReader<ReadHalf<S>>, MessageWriter<WriteHalf<S>>) {
        let parts = self.framed.into_parts();
        let (read_half, write_half) = tokio::io::split(parts.io);

        let mut read_parts = FramedParts::new::<&Message>(read_half, parts.codec.clone());
        read_parts.read_buf = parts.read_buf;
        // from_parts, unlike FramedRead::new, decodes frames already in the
        // buffer before waiting for the socket.
        let reader = MessageReader {
            framed: Framed::from_parts(read_parts),
            failed: self.read_failed,
        };

        let mut framed_write = FramedWrite::new(write_half, parts.codec);
        framed_write
            .write_buffer_mut()
            .extend_from_slice(&parts.write_buf);
        let writer = MessageWriter {
            framed: framed_write,
            failed: self.write_failed,
        };
        (reader, writer)
    }
}

/// The reading half of a [`Connection`].
#[derive(Debug)]
pub struct MessageReader<R> {
    // Framed rather than FramedRead: only Framed can be built around bytes
    // already buffered by the whole connection. Its write side stays unused.
    framed: Framed<R, FlogCodec>,
    failed: bool,
}

impl<R: AsyncRead + Unpin> MessageReader<R> {
    /// Wraps a reading stream.
    pub fn new(stream: R, codec: FlogCodec) -> Self {
        Self {
            framed: Framed::new(stream, codec),
            failed: false,
        }
    }

    /// Reads the next message, as [`Connection::read_message`] does.
    pub async fn read_message(&mut self) -> Result<Option<Message>, WireError> {
        read_message(&mut self.framed, &mut self.failed).await
    }
}

/// The writing half of a [`Connection`].
#[derive(Debug)]
pub struct MessageWriter<W> {
    framed: FramedWrite<W, FlogCodec>,
    failed: bool,
}

impl<W: AsyncWrite + Unpin> MessageWriter<W> {
    /// Wraps a writing stream.
    pub fn new(stream: W, codec: FlogCodec) -> Self {
        Self {
            framed: FramedWrite::new(stream, codec),
            failed: false,
        }
    }

    /// Writes one message and flushes it, as [`Connection::write_message`] does.
    pub async fn write_message(&mut self, message: &Message) -> Result<(), WireError> {
        self.feed(message).await?;
        self.flush().await
    }

    /// Queues one message without flushing, as [`Connection::feed`] does.
    pub async fn feed(&mut self, message: &Message) -> Result<(), WireError> {
        let result = guard(&mut self.failed)?;
        result.check(self.framed.feed(message).await)
    }

    /// Writes every queued message, as [`Connection::flush`] does.
    pub async fn flush(&mut self) -> Result<(), WireError> {
        let result = guard(&mut self.failed)?;
        result.check(SinkExt::<&Message>::flush(&mut self.framed).await)
    }
}

async fn read_message<R: AsyncRead + Unpin>(
    framed: &mut Framed<R, FlogCodec>,
    failed: &mut bool,
) -> Result<Option<Message>, WireError> {
    let result = guard(failed)?;
    let item = match framed.next().await {
        None => return Ok(None),
        Some(item) => result.check(item)?,
    };
    match item {
        Decoded::Message(message) => Ok(Some(message)),
        Decoded::Malformed { error, request_id } => Err(WireError::Malformed { error, request_id }),
    }
}

/// Marks a half of a connection failed when an unrecoverable error passes
/// through it, because `Framed` itself reports end-of-stream after a decode
/// error and would carry on writing after a half-written frame.
struct FailGuard<'a>(&'a mut bool);

fn guard(failed: &mut bool) -> Result<FailGuard<'_>, WireError> {
    if *failed {
        return Err(WireError::Failed);
    }
    Ok(FailGuard(failed))
}

impl FailGuard<'_> {
    fn check<T>(self, result: Result<T, WireError>) -> Result<T, WireError> {
        if let Err(e) = &result {
            if !e.is_recoverable() {
                *self.0 = true;
            }
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncWriteExt;

    use super::*;
    use crate::message::{Goodbye, Op, Request};
    use crate::testing::one_of_each_message;

    fn ping(id: u64) -> Message {
        Message::Request(Request { id, op: Op::Ping })
    }

    #[tokio::test]
    async fn messages_cross_a_stream_and_eof_is_clean() {
        let (a, b) = tokio::io::duplex(1024);
        let mut writer = Connection::new(a);
        let mut reader = Connection::new(b);
        let messages = one_of_each_message();
        let sent = messages.clone();
        let writing = tokio::spawn(async move {
            for message in &sent {
                writer.feed(message).await?;
            }
            writer.flush().await
        });
        for message in messages {
            assert_eq!(reader.read_message().await.expect("read"), Some(message));
        }
        writing.await.expect("writer task").expect("writes");
        assert_eq!(reader.read_message().await.expect("clean eof"), None);
    }

    #[tokio::test]
    async fn eof_mid_frame_is_an_error_and_fails_the_connection() {
        let (mut a, b) = tokio::io::duplex(1024);
        let mut reader = Connection::new(b);
        a.write_all(&[0, 0, 0, 10, 1, 2]).await.expect("write");
        drop(a);
        let error = reader.read_message().await.expect_err("truncated");
        assert!(
            matches!(error, WireError::TruncatedFrame { buffered: 6 }),
            "{error:?}"
        );
        assert!(matches!(
            reader.read_message().await,
            Err(WireError::Failed)
        ));
    }

    #[tokio::test]
    async fn malformed_frame_does_not_end_the_connection() {
        let (mut a, b) = tokio::io::duplex(1024);
        let mut reader = Connection::new(b);
        a.write_all(&[0, 0, 0, 1, 0xff]).await.expect("write");
        let mut writer = Connection::new(a);
        writer.write_message(&ping(3)).await.expect("write");
        let error = reader.read_message().await.expect_err("malformed");
        assert!(error.is_recoverable(), "{error:?}");
        assert_eq!(reader.read_message().await.expect("read"), Some(ping(3)));
    }

    #[tokio::test]
    async fn oversized_frame_fails_the_connection() {
        let (mut a, b) = tokio::io::duplex(1024);
        let mut reader = Connection::with_codec(b, FlogCodec::with_max_frame(16));
        a.write_all(&[0, 0, 1, 0]).await.expect("write");
        let error = reader.read_message().await.expect_err("too large");
        assert!(matches!(
            error,
            WireError::FrameTooLarge { len: 256, max: 16 }
        ));
        assert!(matches!(
            reader.read_message().await,
            Err(WireError::Failed)
        ));
    }

    #[tokio::test]
    async fn split_halves_keep_buffered_frames() {
        let (a, b) = tokio::io::duplex(1024);
        let mut writer = Connection::new(a);
        for id in 0..3 {
            writer.feed(&ping(id)).await.expect("feed");
        }
        writer.flush().await.expect("flush");
        let mut conn = Connection::new(b);
        // One read pulls all three frames into the buffer.
        assert_eq!(conn.read_message().await.expect("read"), Some(ping(0)));
        let (mut read_half, mut write_half) = conn.into_split();
        assert_eq!(read_half.read_message().await.expect("read"), Some(ping(1)));
        assert_eq!(read_half.read_message().await.expect("read"), Some(ping(2)));

        let goodbye = Message::Goodbye(Goodbye {
            reason: "bye".into(),
        });
        write_half.write_message(&goodbye).await.expect("write");
        assert_eq!(writer.read_message().await.expect("read"), Some(goodbye));
        drop(write_half);
        drop(writer);
        assert_eq!(read_half.read_message().await.expect("eof"), None);
    }
}
