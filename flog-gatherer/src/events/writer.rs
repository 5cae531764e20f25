//! The writer thread: the one owner of the [`EventLog`]. Subscriptions send
//! it batches over a channel, each batch's bytes reserved beforehand from
//! its publisher's [`Budget`], which the thread gives back once written: so
//! memory waiting for the disk is bounded per publisher, and a publisher
//! whose budget is spent loses (and counts as a gap) only its own events,
//! never stalling the others.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::log::{EventLog, Gathered};
use super::names::ROTATE_REQUEST;
use super::relay::Relay;

/// How often the thread wakes with nothing to write, to rotate on time.
const TICK: Duration = Duration::from_millis(200);

/// Bytes of one publisher's records on their way to the disk.
#[derive(Debug)]
pub(crate) struct Budget {
    limit: usize,
    used: AtomicUsize,
    /// Signalled whenever the writer gives bytes back.
    released: Notify,
    /// Events of this publisher counted as not written because the budget
    /// was spent, in all.
    unwritten: AtomicU64,
}

impl Budget {
    pub(crate) fn new(limit: usize) -> Arc<Budget> {
        Arc::new(Budget {
            limit,
            used: AtomicUsize::new(0),
            released: Notify::new(),
            unwritten: AtomicU64::new(0),
        })
    }

    fn fits(&self, used: usize, bytes: usize) -> bool {
        used == 0 || used.saturating_add(bytes) <= self.limit
    }

    /// Takes `bytes` from the budget; `false` (and nothing taken) when they
    /// do not fit. A first record always fits, however large, so that one
    /// large event cannot block a publisher for good.
    pub(crate) fn reserve(&self, bytes: usize) -> bool {
        let mut used = self.used.load(Ordering::Relaxed);
        loop {
            if !self.fits(used, bytes) {
                return false;
            }
            match self.used.compare_exchange_weak(
                used,
                used + bytes,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => used = now,
            }
        }
    }

    /// Takes `bytes` whether they fit or not (for the small records that
    /// must not be lost: gaps, incarnation changes); returns them.
    pub(crate) fn force(&self, bytes: usize) -> usize {
        self.used.fetch_add(bytes, Ordering::AcqRel);
        bytes
    }

    /// Returns once `bytes` would fit (to the one task that reserves from
    /// this budget: nobody else takes the room meanwhile).
    pub(crate) async fn room_for(&self, bytes: usize) {
        // `notify_one` keeps a permit when nobody waits, so a release
        // between the check and the wait is not missed.
        while !self.fits(self.used.load(Ordering::Acquire), bytes) {
            self.released.notified().await;
        }
    }

    /// Counts an event that did not fit.
    pub(crate) fn count_unwritten(&self) {
        self.unwritten.fetch_add(1, Ordering::Relaxed);
    }

    /// Events that did not fit, in all.
    #[cfg(test)]
    pub(crate) fn unwritten(&self) -> u64 {
        self.unwritten.load(Ordering::Relaxed)
    }

    /// Bytes taken now.
    #[cfg(test)]
    pub(crate) fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }

    fn release(&self, bytes: usize) {
        self.used.fetch_sub(bytes, Ordering::AcqRel);
        self.released.notify_one();
    }
}

/// What the writer thread is asked to do.
#[derive(Debug)]
pub(crate) enum Command {
    /// Append these records, then give `bytes` back to `budget`.
    Write {
        items: Vec<Gathered>,
        budget: Arc<Budget>,
        bytes: usize,
    },
}

/// The sending side of the writer thread.
pub(crate) type WriterHandle = Sender<Command>;

/// Starts the writer thread over `log`; it ends (closing the current file
/// with a `shutdown` trailer) once every sender is gone. The join handle's
/// value is that close's outcome. With a `relay` (the gatherer's logport),
/// what each flush wrote is handed on to its subscribers.
pub(crate) fn spawn(
    log: EventLog,
    relay: Option<Arc<Relay>>,
) -> std::io::Result<(WriterHandle, JoinHandle<std::io::Result<()>>)> {
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::Builder::new()
        .name("flog-gather-events".into())
        .spawn(move || run(log, rx, relay))?;
    Ok((tx, handle))
}

fn run(mut log: EventLog, rx: Receiver<Command>, relay: Option<Arc<Relay>>) -> std::io::Result<()> {
    let mut checked = Instant::now();
    if relay.is_some() {
        log.relay_landed();
    }
    loop {
        if checked.elapsed() >= TICK {
            checked = Instant::now();
            rotate_if_requested(&mut log);
        }
        let command = match rx.recv_timeout(TICK) {
            Ok(command) => command,
            Err(RecvTimeoutError::Timeout) => {
                log.tick();
                // A rotation moves the seam to the new file.
                if let Some(relay) = &relay {
                    relay_landed(relay, &mut log);
                }
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => break,
        };
        handle(&mut log, command);
        // Drain what else is queued before flushing: one write(2) per
        // burst, not per event.
        while let Ok(command) = rx.try_recv() {
            handle(&mut log, command);
        }
        log.flush();
        // After the flush, so that what the seam says is in the file is.
        if let Some(relay) = &relay {
            relay_landed(relay, &mut log);
        }
    }
    if let Some(relay) = &relay {
        relay.end_all("the gatherer is shutting down");
    }
    log.shutdown()
}

/// A rotate request (see [`ROTATE_REQUEST`]) is taken by removing it: a
/// request made while the rotation runs is one more rotation, none is lost.
fn rotate_if_requested(log: &mut EventLog) {
    let request = log.dir().join(ROTATE_REQUEST);
    if std::fs::remove_file(&request).is_ok() {
        log.rotate();
    }
}

/// Hands the relay what the file is known to hold now (never an event that
/// a failed write left out of it), with the file's new seam.
fn relay_landed(relay: &Relay, log: &mut EventLog) {
    let (current, landed) = log.take_landed();
    relay.written(current, landed);
}

/// Appends a command's records.
fn handle(log: &mut EventLog, command: Command) {
    match command {
        Command::Write {
            items,
            budget,
            bytes,
        } => {
            for item in items {
                log.append(item);
            }
            budget.release(bytes);
        }
    }
}
