//! Gatherers sharing a bucket split the publishers between them with
//! leases in the bucket, so that each publisher is polled by one live
//! gatherer at a time and a dead gatherer's publishers are taken over.
//!
//! Every third of a lease period each gatherer writes its heartbeat
//! (`gatherers/<id>`: when it expires), counts the live gatherers, works
//! out its fair share (publishers / live gatherers, rounded up), and goes
//! through the publishers' leases (`leases/<publisher-id>`: holder and
//! expiry): it renews its own, takes free or expired ones while under its
//! share, and gives back those over it (expired at once, so a gatherer
//! that came back gets its share at its next turn). Every write is a
//! compare-and-swap on the ETag read, so two gatherers never both take a
//! lease. Expiry times are wall-clock: the gatherers' clocks must agree to
//! well within a lease period. Should two gatherers still poll one
//! publisher for a moment (a lease expiring under a slow fetch), the
//! bucket's conditional writes keep each incident stored once.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use flog_core::{Clock, Timestamp};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::bucket::{Bucket, BucketError};

/// The folder of publisher leases in the bucket.
pub(crate) const LEASES_DIR: &str = "leases";
/// The folder of gatherer heartbeats in the bucket.
pub(crate) const GATHERERS_DIR: &str = "gatherers";

/// When a heartbeat (`gatherers/<id>`: `expires=<microseconds>`) runs
/// out; `None`: not a heartbeat.
pub(crate) fn heartbeat_expiry(text: &str) -> Option<Timestamp> {
    let value = text.trim().strip_prefix("expires=")?.parse::<i64>().ok()?;
    Some(Timestamp(value))
}

/// The publishers this gatherer holds a lease on, shared with their tasks.
#[derive(Debug, Default)]
pub(crate) struct Held(Mutex<HashSet<String>>);

impl Held {
    /// Whether this gatherer may poll publisher `id` now.
    pub(crate) fn holds(&self, id: &str) -> bool {
        self.lock().contains(id)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A lease as stored: who holds it, until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Lease {
    pub(crate) holder: String,
    pub(crate) expires: Timestamp,
}

impl Lease {
    /// The lease `text` holds; `None`: not a lease.
    pub(crate) fn parse(text: &str) -> Option<Lease> {
        let mut holder = None;
        let mut expires = None;
        for line in text.lines() {
            match line.split_once('=') {
                Some(("holder", value)) => holder = Some(value.to_owned()),
                Some(("expires", value)) => expires = value.parse().ok().map(Timestamp),
                _ => {}
            }
        }
        Some(Lease {
            holder: holder?,
            expires: expires?,
        })
    }

    fn to_text(&self) -> String {
        format!("holder={}\nexpires={}\n", self.holder, self.expires.0)
    }
}

/// What to do with one publisher's lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Ours, and within our share: extend it.
    Renew,
    /// Free or expired, and we are under our share: take it.
    Take,
    /// Ours, but we hold more than our share: give it back.
    Release,
    /// Someone else's, or we have our share: leave it.
    Leave,
}

/// The decision for a lease (`None`: none, or unreadable) by gatherer `me`
/// at `now`, holding `held` leases of a fair share of `share`.
pub(crate) fn decide(
    lease: Option<&Lease>,
    me: &str,
    now: Timestamp,
    held: usize,
    share: usize,
) -> Decision {
    match lease {
        Some(lease) if lease.holder == me && lease.expires > now => {
            if held > share {
                Decision::Release
            } else {
                Decision::Renew
            }
        }
        Some(lease) if lease.holder != me && lease.expires > now => Decision::Leave,
        // Free, expired, or ours but expired (we were too slow to renew:
        // take it again like anyone would).
        _ if held < share => Decision::Take,
        _ => Decision::Leave,
    }
}

/// The fair share of `publishers` among `live` gatherers, rounded up.
pub(crate) fn share(publishers: usize, live: usize) -> usize {
    publishers.div_ceil(live.max(1))
}

/// What the lease task needs.
#[derive(Debug)]
pub(crate) struct LeaseTask {
    pub(crate) bucket: Bucket,
    /// This gatherer's id in the bucket: random at each start.
    pub(crate) me: String,
    pub(crate) period: Duration,
    pub(crate) clock: Arc<dyn Clock>,
    /// The ids of the publishers this gatherer knows.
    pub(crate) publishers: watch::Receiver<Vec<String>>,
    pub(crate) held: Arc<Held>,
}

impl LeaseTask {
    /// Keeps the leases until `stop`; then gives back those it holds.
    pub(crate) async fn run(mut self, stop: CancellationToken) {
        let mut failing = false;
        loop {
            match self.turn().await {
                Ok(()) => failing = false,
                Err(error) => {
                    if !failing {
                        tracing::warn!(bucket = %self.bucket.shown(), %error, "cannot keep the publishers' leases: {error}; retrying");
                    }
                    failing = true;
                }
            }
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep(self.period / 3) => {}
                // New publishers are shared out at once, not a turn later.
                changed = self.publishers.changed() => {
                    if changed.is_err() {
                        break;
                    }
                }
            }
        }
        // A clean stop hands the publishers on at once.
        let ids: Vec<String> = self.held.lock().iter().cloned().collect();
        for id in ids {
            let _ = self.give_back(&id).await;
        }
    }

    /// One turn: heartbeat, count, then each publisher's lease.
    async fn turn(&mut self) -> Result<(), BucketError> {
        let now = self.clock.now();
        let expires = now.saturating_add(self.period);
        let heartbeat = format!("{GATHERERS_DIR}/{}", self.me);
        self.bucket
            .write(&heartbeat, format!("expires={}\n", expires.0).into_bytes())
            .await?;
        let mut live = 0;
        for name in self.bucket.names_in(GATHERERS_DIR).await? {
            let bytes = self.bucket.read(&format!("{GATHERERS_DIR}/{name}")).await?;
            let alive = bytes
                .as_deref()
                .and_then(|b| heartbeat_expiry(&String::from_utf8_lossy(b)))
                .map(|expires| expires > now);
            if name == self.me || alive == Some(true) {
                live += 1;
            }
        }
        let mut publishers = self.publishers.borrow_and_update().clone();
        publishers.sort();
        // Each gatherer starts at a place of its own, so that several
        // taking free leases at once mostly take different ones.
        let offset = self.me.bytes().fold(0usize, |sum, b| {
            sum.wrapping_mul(31).wrapping_add(usize::from(b))
        });
        let count = publishers.len();
        let share = share(count, live);
        self.held.lock().retain(|id| publishers.contains(id));
        for i in 0..count {
            let id = &publishers[(i + offset) % count];
            self.consider(id, now, expires, share).await?;
        }
        Ok(())
    }

    async fn consider(
        &self,
        id: &str,
        now: Timestamp,
        expires: Timestamp,
        share: usize,
    ) -> Result<(), BucketError> {
        let relative = format!("{LEASES_DIR}/{id}");
        let read = self.bucket.read_versioned(&relative).await?;
        let lease = read
            .as_ref()
            .and_then(|(bytes, _)| Lease::parse(&String::from_utf8_lossy(bytes)));
        let held = self.held.lock().len();
        let decision = decide(lease.as_ref(), &self.me, now, held, share);
        let next = match decision {
            Decision::Leave => {
                self.held.lock().remove(id);
                return Ok(());
            }
            Decision::Renew | Decision::Take => Lease {
                holder: self.me.clone(),
                expires,
            },
            Decision::Release => Lease {
                holder: self.me.clone(),
                expires: Timestamp(0),
            },
        };
        let version = read.map(|(_, version)| version);
        let won = self
            .bucket
            .write_if(&relative, next.to_text().into_bytes(), version)
            .await?;
        let mut held = self.held.lock();
        match (decision, won) {
            (Decision::Renew | Decision::Take, true) => {
                if held.insert(id.to_owned()) {
                    tracing::info!(publisher = %id, "took the lease on {id}");
                }
            }
            (Decision::Release, true) => {
                held.remove(id);
                tracing::info!(publisher = %id, "gave the lease on {id} back (more than a fair share of {share})");
            }
            // Another gatherer wrote first: it is theirs.
            _ => {
                held.remove(id);
            }
        }
        Ok(())
    }

    async fn give_back(&self, id: &str) -> Result<(), BucketError> {
        let relative = format!("{LEASES_DIR}/{id}");
        if let Some((bytes, version)) = self.bucket.read_versioned(&relative).await? {
            let ours = Lease::parse(&String::from_utf8_lossy(&bytes))
                .is_some_and(|lease| lease.holder == self.me);
            if ours {
                let expired = Lease {
                    holder: self.me.clone(),
                    expires: Timestamp(0),
                };
                self.bucket
                    .write_if(&relative, expired.to_text().into_bytes(), Some(version))
                    .await?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flog_core::ManualClock;

    fn lease(holder: &str, expires: &ManualClock, after: Duration) -> Lease {
        Lease {
            holder: holder.to_owned(),
            expires: expires.now().saturating_add(after),
        }
    }

    #[test]
    fn a_lease_is_renewed_taken_released_or_left_by_its_expiry_and_the_share() {
        let clock = ManualClock::new(Timestamp(1_000_000_000));
        let period = Duration::from_secs(30);
        let ours = lease("me", &clock, period);
        let theirs = lease("other", &clock, period);
        let now = clock.now();
        assert_eq!(decide(Some(&ours), "me", now, 3, 5), Decision::Renew);
        assert_eq!(decide(Some(&ours), "me", now, 6, 5), Decision::Release);
        assert_eq!(decide(Some(&theirs), "me", now, 0, 5), Decision::Leave);
        assert_eq!(decide(None, "me", now, 0, 5), Decision::Take);
        assert_eq!(decide(None, "me", now, 5, 5), Decision::Leave);
        // A lease period later theirs has expired: a dead holder's
        // publisher is taken over, but only within our share.
        clock.advance(period + Duration::from_micros(1));
        let now = clock.now();
        assert_eq!(decide(Some(&theirs), "me", now, 2, 5), Decision::Take);
        assert_eq!(decide(Some(&theirs), "me", now, 5, 5), Decision::Leave);
        // Exactly at expiry it is expired.
        let at = Lease {
            holder: "other".into(),
            expires: now,
        };
        assert_eq!(decide(Some(&at), "me", now, 0, 1), Decision::Take);
    }

    #[test]
    fn the_share_is_rounded_up_and_never_divides_by_zero() {
        assert_eq!(share(20, 3), 7);
        assert_eq!(share(20, 2), 10);
        assert_eq!(share(20, 0), 20);
        assert_eq!(share(0, 2), 0);
    }

    #[test]
    fn leases_read_back_what_is_written_and_refuse_garbage() {
        let lease = Lease {
            holder: "g-1f2e".into(),
            expires: Timestamp(42),
        };
        assert_eq!(Lease::parse(&lease.to_text()), Some(lease));
        assert_eq!(Lease::parse("holder=x\n"), None);
        assert_eq!(Lease::parse("expires=soon\nholder=x\n"), None);
        assert_eq!(heartbeat_expiry("expires=42\n"), Some(Timestamp(42)));
        assert_eq!(heartbeat_expiry("expires=soon\n"), None);
    }
}
