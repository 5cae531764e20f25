//! A publisher's limits and settings.

use std::time::Duration;

use flog_wire::DEFAULT_MAX_FRAME;

/// Limits and settings of a publisher.
#[derive(Debug, Clone)]
pub struct PublisherConfig {
    /// Most connections served at once; more are told `busy` and closed.
    pub max_connections: usize,
    /// How long a new connection has to finish its TLS handshake, from the
    /// moment it is accepted; a client stalling mid-handshake holds its task
    /// no longer.
    pub handshake_timeout: Duration,
    /// How long a new connection has to send its hello (after the TLS
    /// handshake); for a dial-out, how long the gatherer has to answer the
    /// registration and to send its hello.
    pub hello_timeout: Duration,
    /// How long a connection may send nothing, subscribed or not, before it
    /// is told `timeout` and closed. The welcome announces it, and clients
    /// that want to stay connected ping well within it: a subscriber whose
    /// host vanished without closing its connection frees its slot so.
    pub idle_timeout: Duration,
    /// How long a client may take to accept one frame (read it off the
    /// socket) before the connection is closed: a client that reads too slowly
    /// or not at all holds its connection and its queued replies no longer.
    pub write_timeout: Duration,
    /// TCP keepalive on accepted connections: idle time before the first
    /// probe (the kernel's interval and count of probes apply). `None` leaves
    /// the socket as the system makes it.
    pub tcp_keepalive: Option<Duration>,
    /// Largest frame sent. Frames from clients are refused above 64 KiB (or
    /// this, if smaller): clients only send small requests.
    pub max_frame: usize,
    /// Chunk size of incident fetches when the client names none. Chunks are
    /// at most 512 KiB whatever the client or this asks.
    pub chunk_size: u32,
    /// How many events a live-tail subscriber may fall behind the newest
    /// before the oldest it has not been sent are dropped (and it is told how
    /// many, where they were).
    pub event_queue: usize,
    /// Bytes of live events held for all live-tail subscribers together:
    /// every event is encoded once into one shared ring, whatever the number
    /// of subscribers; a subscriber further behind than the ring reaches is
    /// told how many events it lost.
    pub live_memory: usize,
    /// Bytes of buffered-event snapshots held for catch-ups at once. Catch-ups
    /// starting together share one snapshot; one that would need more is
    /// refused with `busy`.
    pub catch_up_memory: usize,
    /// Most subscriptions per connection.
    pub max_subscriptions: usize,
    /// How long a dial-out to a gatherer may take to connect and finish the
    /// TLS handshake.
    pub dial_timeout: Duration,
    /// The shortest wait before dialing a gatherer again after a failure
    /// (or after a session ended); waits double with each failure in a row,
    /// with jitter, up to [`dial_max_backoff`](Self::dial_max_backoff).
    pub dial_min_backoff: Duration,
    /// The longest wait between dial-outs to a failing gatherer.
    pub dial_max_backoff: Duration,
}

impl Default for PublisherConfig {
    fn default() -> Self {
        PublisherConfig {
            max_connections: 256,
            handshake_timeout: flog_wire::DEFAULT_HANDSHAKE_TIMEOUT,
            hello_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(300),
            write_timeout: Duration::from_secs(60),
            tcp_keepalive: Some(Duration::from_secs(60)),
            max_frame: DEFAULT_MAX_FRAME,
            chunk_size: 256 * 1024,
            event_queue: 1024,
            live_memory: 16 * 1024 * 1024,
            catch_up_memory: 64 * 1024 * 1024,
            max_subscriptions: 16,
            dial_timeout: flog_wire::DEFAULT_CONNECT_TIMEOUT,
            dial_min_backoff: Duration::from_secs(1),
            dial_max_backoff: Duration::from_secs(60),
        }
    }
}
