//! The queue of a connection's outgoing frames and the task that writes them.

use std::sync::Arc;
use std::time::Duration;

use flog_wire::{ErrorCode, Message, MessageWriter, WireError};
use tokio::io::AsyncWrite;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::reply::error;

/// Outgoing frames queue here and one writer sends them, so responses,
/// chunks and pushes from many tasks interleave only at frame boundaries.
///
/// The queue is bounded twice: in frames, and for the large ones (incident
/// chunks, listing pages, live events) in bytes. A large message takes its
/// size from the connection's byte budget before it is queued and gives it
/// back once the writer has handed it to the socket, so a client that reads
/// slowly, or not at all, pins at most [`OUTBOX_BYTES`] of queued data
/// however many fetches it pipelines.
///
/// Every wait ends when the connection's token is cancelled, so nothing that
/// produces for a connection outlives it; only [`send_last`](Self::send_last),
/// for the connection's last word, waits on regardless (the writer's grace
/// bounds it).
#[derive(Debug, Clone)]
pub(crate) struct Outbox {
    tx: mpsc::Sender<Outgoing>,
    budget: Arc<Semaphore>,
    cancel: CancellationToken,
}

/// The writer is gone (the client left or stopped reading for too long), or
/// the connection is ending.
#[derive(Debug)]
pub(crate) struct Closed;

/// What the writer takes from an [`Outbox`].
#[derive(Debug)]
pub(crate) struct Outgoing {
    message: Message,
    /// Returned to the budget when the writer drops the message.
    _budget: Option<OwnedSemaphorePermit>,
}

/// The receiving end of an [`Outbox`], for [`write_loop`].
#[derive(Debug)]
pub(crate) struct Queue {
    rx: mpsc::Receiver<Outgoing>,
    budget: Arc<Semaphore>,
}

impl Outbox {
    /// An outbox whose waits end when `cancel` is cancelled.
    pub(crate) fn new(cancel: CancellationToken) -> (Outbox, Queue) {
        let (tx, rx) = mpsc::channel(OUTBOX);
        let budget = Arc::new(Semaphore::new(OUTBOX_BYTES));
        let outbox = Outbox {
            tx,
            budget: Arc::clone(&budget),
            cancel,
        };
        (outbox, Queue { rx, budget })
    }

    /// The same outbox, its waits ending with `cancel` instead (a token
    /// cancelled also when the connection's is: a child of it).
    pub(crate) fn with_cancel(&self, cancel: CancellationToken) -> Outbox {
        Outbox {
            cancel,
            ..self.clone()
        }
    }

    /// Completes once the writer is gone.
    pub(crate) async fn closed(&self) {
        self.tx.closed().await;
    }

    async fn queue(&self, outgoing: Outgoing) -> Result<(), Closed> {
        tokio::select! {
            _ = self.cancel.cancelled() => Err(Closed),
            sent = self.tx.send(outgoing) => sent.map_err(|_| Closed),
        }
    }

    /// Queues a small message (a reply, an error, a notice).
    pub(crate) async fn send(&self, message: Message) -> Result<(), Closed> {
        self.queue(Outgoing {
            message,
            _budget: None,
        })
        .await
    }

    /// Queues the connection's last word (a goodbye, a timeout), also after
    /// the connection's token was cancelled.
    pub(crate) async fn send_last(&self, message: Message) -> Result<(), Closed> {
        let outgoing = Outgoing {
            message,
            _budget: None,
        };
        self.tx.send(outgoing).await.map_err(|_| Closed)
    }

    /// Queues a message carrying about `bytes` bytes of data, once that much
    /// of the byte budget is free.
    pub(crate) async fn send_large(&self, message: Message, bytes: usize) -> Result<(), Closed> {
        let room = self.reserve(bytes).await?;
        self.send_reserved(message, room).await
    }

    /// Waits until `bytes` of the byte budget are free and takes them, for a
    /// message about to be made (a chunk not yet read).
    pub(crate) async fn reserve(&self, bytes: usize) -> Result<Room, Closed> {
        // A message larger than the whole budget waits for all of it.
        let weight = bytes.clamp(1, OUTBOX_BYTES) as u32;
        let budget = Arc::clone(&self.budget);
        tokio::select! {
            _ = self.cancel.cancelled() => Err(Closed),
            permit = budget.acquire_many_owned(weight) => permit.map(Room).map_err(|_| Closed),
        }
    }

    /// Queues a message in room reserved for it.
    pub(crate) async fn send_reserved(&self, message: Message, room: Room) -> Result<(), Closed> {
        self.queue(Outgoing {
            message,
            _budget: Some(room.0),
        })
        .await
    }
}

/// Part of a connection's byte budget, taken by [`Outbox::reserve`].
#[derive(Debug)]
pub(crate) struct Room(OwnedSemaphorePermit);

pub(crate) const OUTBOX: usize = 64;
/// Bytes of large messages one connection may have queued; see [`Outbox`].
pub(crate) const OUTBOX_BYTES: usize = 1024 * 1024;
/// How long the frames still queued when a connection ends (a goodbye or a
/// timeout among them) may take to reach the client.
pub(crate) const CLOSING_GRACE: Duration = Duration::from_secs(2);

/// Why the writer stopped.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WriterEnd {
    /// The client accepted no frame for this long.
    #[error("the client accepted no data for {0:?}")]
    Stalled(Duration),
}

/// Sends queued frames until every sender is gone. Gives up on a client that
/// accepts no frame for `stall` (it reads too slowly or not at all), and,
/// once `closing` is cancelled, on whatever is still queued after
/// [`CLOSING_GRACE`]. Giving up drops the queue and closes the byte budget,
/// which ends every task still producing for this connection.
pub(crate) async fn write_loop<W: AsyncWrite + Unpin>(
    mut writer: MessageWriter<W>,
    queue: Queue,
    stall: Duration,
    closing: CancellationToken,
) -> Result<(), WriterEnd> {
    let Queue { mut rx, budget } = queue;
    let _close = CloseOnDrop(budget);
    let grace_over = async {
        closing.cancelled().await;
        tokio::time::sleep(CLOSING_GRACE.min(stall)).await;
    };
    tokio::pin!(grace_over);
    loop {
        let first = tokio::select! {
            next = rx.recv() => match next {
                Some(outgoing) => outgoing,
                None => return Ok(()),
            },
            _ = &mut grace_over => return Ok(()),
        };
        let result = tokio::select! {
            sent = tokio::time::timeout(stall, send_batch(&mut writer, first, &mut rx)) => match sent {
                Ok(result) => result,
                Err(_) => return Err(WriterEnd::Stalled(stall)),
            },
            _ = &mut grace_over => return Ok(()),
        };
        if result.is_err() {
            // The client is gone; dropping `rx` tells every producer.
            return Ok(());
        }
    }
}

/// Writes `first` and whatever else is queued already, in one flush.
async fn send_batch<W: AsyncWrite + Unpin>(
    writer: &mut MessageWriter<W>,
    first: Outgoing,
    rx: &mut mpsc::Receiver<Outgoing>,
) -> Result<(), WireError> {
    let mut next = Some(first);
    while let Some(outgoing) = next.take() {
        feed(writer, &outgoing.message).await?;
        drop(outgoing);
        next = rx.try_recv().ok();
    }
    writer.flush().await
}

/// Writes one message; one that cannot be encoded or does not fit a frame
/// fails only its request, with the `too_large` error docs/protocol.md §8
/// promises, instead of leaving the request unanswered.
async fn feed<W: AsyncWrite + Unpin>(
    writer: &mut MessageWriter<W>,
    message: &Message,
) -> Result<(), WireError> {
    match writer.feed(message).await {
        Err(e) if e.is_recoverable() => {
            tracing::warn!(error = %e, message = message.name(), "cannot send a message");
            let id = match message {
                Message::Response(r) => Some(r.id),
                _ => None,
            };
            let code = match e {
                WireError::MessageTooLarge { .. } => ErrorCode::TooLarge,
                _ => ErrorCode::Internal,
            };
            match id {
                Some(id) => writer.feed(&error(Some(id), code, e.to_string())).await,
                None => Ok(()),
            }
        }
        other => other,
    }
}

/// Closes the byte budget when the writer ends, so that producers waiting
/// for room stop waiting.
struct CloseOnDrop(Arc<Semaphore>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.close();
    }
}

#[cfg(test)]
mod tests {
    use flog_wire::{Connection, FlogCodec, MessageWriter, Reply};
    use serde_bytes::ByteBuf;

    use super::*;
    use crate::reply::response;

    #[tokio::test]
    async fn a_reply_too_large_for_a_frame_fails_its_request_with_too_large() {
        let (ours, theirs) = tokio::io::duplex(1 << 16);
        let writer = MessageWriter::new(ours, FlogCodec::with_max_frame(1024));
        let mut client = Connection::new(theirs);
        let cancel = CancellationToken::new();
        let (outbox, queue) = Outbox::new(cancel.clone());
        let writing = tokio::spawn(write_loop(writer, queue, Duration::from_secs(20), cancel));
        let huge = Reply::IncidentChunk {
            name: "incident-x".into(),
            offset: 0,
            data: ByteBuf::from(vec![0u8; 4096]),
            total_size: 4096,
        };
        outbox.send(response(5, huge)).await.unwrap();
        outbox.send(response(6, Reply::Pong)).await.unwrap();
        match client.read_message().await.unwrap() {
            Some(Message::Error(e)) => assert_eq!((e.id, e.code), (Some(5), ErrorCode::TooLarge)),
            other => panic!("{other:?}"),
        }
        // The connection goes on.
        assert!(matches!(
            client.read_message().await.unwrap(),
            Some(Message::Response(r)) if r.id == 6
        ));
        drop(outbox);
        writing.await.unwrap().unwrap();
    }
}
