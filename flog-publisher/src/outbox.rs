//! The queue of a connection's outgoing frames and the task that writes them.

use std::sync::Arc;
use std::time::Duration;

use flog_wire::{Message, MessageWriter};
use tokio::io::WriteHalf;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::session::SessionError;

/// Outgoing frames queue here and one writer task sends them, so responses,
/// chunks and pushes from many tasks interleave only at frame boundaries.
///
/// The queue is bounded twice: in frames, and for the large ones (incident
/// chunks, listing pages, live events) in bytes. A large message takes its
/// size from the connection's byte budget before it is queued and gives it
/// back once the writer has handed it to the socket, so a client that reads
/// slowly, or not at all, pins at most [`OUTBOX_BYTES`] of queued data
/// however many fetches it pipelines.
#[derive(Debug, Clone)]
pub(crate) struct Outbox {
    tx: mpsc::Sender<Outgoing>,
    budget: Arc<Semaphore>,
}

/// The writer is gone: the client left or stopped reading for too long.
#[derive(Debug)]
pub(crate) struct Closed;

#[derive(Debug)]
pub(crate) struct Outgoing {
    message: Message,
    /// Returned to the budget when the writer drops the message.
    _budget: Option<OwnedSemaphorePermit>,
}

impl Outbox {
    pub(crate) fn new() -> (Outbox, mpsc::Receiver<Outgoing>, Arc<Semaphore>) {
        let (tx, rx) = mpsc::channel(OUTBOX);
        let budget = Arc::new(Semaphore::new(OUTBOX_BYTES));
        let outbox = Outbox {
            tx,
            budget: Arc::clone(&budget),
        };
        (outbox, rx, budget)
    }

    /// Completes once the writer is gone.
    pub(crate) async fn closed(&self) {
        self.tx.closed().await;
    }

    /// Queues a small message (a reply, an error, a notice).
    pub(crate) async fn send(&self, message: Message) -> Result<(), Closed> {
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
        let permit = Arc::clone(&self.budget)
            .acquire_many_owned(weight)
            .await
            .map_err(|_| Closed)?;
        Ok(Room(permit))
    }

    /// Queues a message in room reserved for it.
    pub(crate) async fn send_reserved(&self, message: Message, room: Room) -> Result<(), Closed> {
        let outgoing = Outgoing {
            message,
            _budget: Some(room.0),
        };
        self.tx.send(outgoing).await.map_err(|_| Closed)
    }
}

/// Part of a connection's byte budget, taken by [`Outbox::reserve`].
#[derive(Debug)]
pub(crate) struct Room(OwnedSemaphorePermit);

pub(crate) const OUTBOX: usize = 64;
/// Bytes of large messages one connection may have queued; see [`Outbox`].
pub(crate) const OUTBOX_BYTES: usize = 1024 * 1024;
/// How long the frames still queued when the publisher shuts down (the
/// goodbye among them) may take to reach a client.
pub(crate) const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Sends queued frames until every sender is gone. Gives up on a client that
/// accepts no frame for `stall` (it reads too slowly or not at all), and,
/// once the publisher shuts down, on whatever is still queued after
/// [`SHUTDOWN_GRACE`]. Giving up drops the queue and closes the byte budget,
/// which ends every task still producing for this connection.
pub(crate) async fn write_loop(
    mut writer: MessageWriter<WriteHalf<TcpStream>>,
    mut rx: mpsc::Receiver<Outgoing>,
    budget: Arc<Semaphore>,
    stall: Duration,
    shutdown: CancellationToken,
) -> Result<(), SessionError> {
    let _close = CloseOnDrop(budget);
    let grace_over = async {
        shutdown.cancelled().await;
        tokio::time::sleep(SHUTDOWN_GRACE).await;
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
        let send = async {
            let mut result = writer.feed(&first.message).await;
            drop(first);
            // Batch what is already queued into one flush.
            while result.is_ok() {
                match rx.try_recv() {
                    Ok(outgoing) => result = writer.feed(&outgoing.message).await,
                    Err(_) => break,
                }
            }
            result.and(writer.flush().await)
        };
        let result = tokio::select! {
            sent = tokio::time::timeout(stall, send) => match sent {
                Ok(result) => result,
                Err(_) => return Err(SessionError::WriteTimeout(stall)),
            },
            _ = &mut grace_over => return Ok(()),
        };
        if let Err(e) = result {
            if !e.is_recoverable() {
                // The client is gone; dropping `rx` tells every producer.
                return Ok(());
            }
            tracing::warn!(error = %e, "dropped an outgoing message");
        }
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
