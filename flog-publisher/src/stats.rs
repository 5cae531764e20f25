//! Counts of what happened to the publisher's connections: a leaf, bumped by
//! the accept loop and the handler, read through [`Publisher::stats`](crate::Publisher::stats).

use std::sync::atomic::{AtomicU64, Ordering};

/// What a publisher's connections have done since it started.
///
/// For operators and tests: a client whose URL names another key appears in
/// `key_refused_by_peer` and never in `hellos`, since it sends nothing
/// before it has checked the key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PublisherStats {
    /// Connections accepted on the logport (TCP), refused ones included.
    pub accepted: u64,
    /// Hellos received, good or bad, on accepted or dialed-out connections.
    pub hellos: u64,
    /// Clients welcomed.
    pub welcomed: u64,
    /// Connections refused before the session: the wrong kind of peer
    /// (plaintext on a TLS port, TLS on a plaintext port), a failed or
    /// stalled TLS handshake.
    pub transport_refused: u64,
    /// Of `transport_refused`: clients that refused this publisher's key,
    /// typically holding a URL from before a key rotation.
    pub key_refused_by_peer: u64,
    /// Connections told `busy` (too many at once).
    pub busy: u64,
    /// Sessions with gatherers over connections this publisher dialed out.
    pub dialed_sessions: u64,
    /// Dial-outs that failed (unreachable, refused, wrong key).
    pub dial_failures: u64,
    /// Of `dial_failures`, those reported as a warning: the first of each
    /// run of the same failure, not every retry.
    pub dial_failures_reported: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) accepted: AtomicU64,
    pub(crate) hellos: AtomicU64,
    pub(crate) welcomed: AtomicU64,
    pub(crate) transport_refused: AtomicU64,
    pub(crate) key_refused_by_peer: AtomicU64,
    pub(crate) busy: AtomicU64,
    pub(crate) dialed_sessions: AtomicU64,
    pub(crate) dial_failures: AtomicU64,
    pub(crate) dial_failures_reported: AtomicU64,
}

impl Stats {
    pub(crate) fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> PublisherStats {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        PublisherStats {
            accepted: get(&self.accepted),
            hellos: get(&self.hellos),
            welcomed: get(&self.welcomed),
            transport_refused: get(&self.transport_refused),
            key_refused_by_peer: get(&self.key_refused_by_peer),
            busy: get(&self.busy),
            dialed_sessions: get(&self.dialed_sessions),
            dial_failures: get(&self.dial_failures),
            dial_failures_reported: get(&self.dial_failures_reported),
        }
    }
}
