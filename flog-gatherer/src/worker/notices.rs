//! Incident notices reduced to what they are for: a hint to list soon.
//!
//! A notice names an incident and carries its trigger, which a hostile
//! publisher can make megabytes long and push thousands of times while a
//! fetch holds the task's attention. So a task of its own reads the
//! subscription as fast as notices arrive and keeps none of them: only a
//! flag saying one came. The client queues at most
//! [`NOTICE_BUFFER`](super::context::NOTICE_BUFFER) of them for it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use flog_wire::{IncidentSubscription, IncidentUpdate};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Rounds that notices may bring forward at once, before the pacer's rate.
pub(crate) const NOTICE_BURST: u32 = 10;

/// The notices of one subscription, as a flag.
#[derive(Debug)]
pub(crate) struct Notices {
    flag: Arc<Flag>,
    reader: JoinHandle<()>,
}

#[derive(Debug, Default)]
struct Flag {
    /// Holds one permit while a notice is pending: many notices in a row
    /// are one.
    news: Notify,
    ended: AtomicBool,
}

/// What [`Notices::next`] learnt.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Notice {
    /// Something new may be listed (a notice, or notices lost).
    PollSoon,
    /// The subscription is over.
    Ended,
}

impl Notices {
    /// Starts reading `subscription` on a task of its own.
    pub(crate) fn start(mut subscription: IncidentSubscription) -> Notices {
        let flag = Arc::new(Flag::default());
        let reader = tokio::spawn({
            let flag = flag.clone();
            async move {
                while let Some(update) = subscription.next().await {
                    match update {
                        IncidentUpdate::New(_) | IncidentUpdate::Dropped { .. } => {
                            flag.news.notify_one()
                        }
                        IncidentUpdate::CatchupDone => {}
                        IncidentUpdate::Ended { .. } => break,
                    }
                }
                flag.ended.store(true, Ordering::SeqCst);
                flag.news.notify_one();
            }
        });
        Notices { flag, reader }
    }

    /// Waits for news.
    pub(crate) async fn next(&self) -> Notice {
        self.flag.news.notified().await;
        if self.flag.ended.load(Ordering::SeqCst) {
            Notice::Ended
        } else {
            Notice::PollSoon
        }
    }
}

impl Drop for Notices {
    fn drop(&mut self) {
        // Dropping the subscription with the task unsubscribes.
        self.reader.abort();
    }
}

/// How often notices may bring a round forward: a token bucket of
/// [`NOTICE_BURST`] rounds, refilled at one per interval. Polls are not
/// paced; they come at the poll interval anyway.
#[derive(Debug)]
pub(crate) struct Pacer {
    every: Duration,
    /// Rounds available, in units of a round (fractions refill over time).
    tokens: f64,
    refilled: Instant,
}

impl Pacer {
    pub(crate) fn new(every: Duration, now: Instant) -> Pacer {
        Pacer {
            every,
            tokens: f64::from(NOTICE_BURST),
            refilled: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let earned = now.saturating_duration_since(self.refilled).as_secs_f64()
            / self.every.as_secs_f64().max(1e-9);
        self.tokens = (self.tokens + earned).min(f64::from(NOTICE_BURST));
        self.refilled = now;
    }

    /// The soonest a notice may start a round.
    pub(crate) fn soonest(&mut self, now: Instant) -> Instant {
        self.refill(now);
        if self.tokens >= 1.0 {
            now
        } else {
            now + self.every.mul_f64(1.0 - self.tokens)
        }
    }

    /// A notice started a round.
    pub(crate) fn spend(&mut self, now: Instant) {
        self.refill(now);
        self.tokens = (self.tokens - 1.0).max(0.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_start_a_burst_of_rounds_then_one_per_interval() {
        let start = Instant::now();
        let every = Duration::from_secs(1);
        let mut pacer = Pacer::new(every, start);
        for _ in 0..NOTICE_BURST {
            assert_eq!(pacer.soonest(start), start);
            pacer.spend(start);
        }
        assert_eq!(pacer.soonest(start), start + every);
        let later = start + every / 2;
        assert_eq!(pacer.soonest(later), later + every / 2);
        pacer.spend(start + every);
        assert_eq!(pacer.soonest(start + every), start + 2 * every);
        // A quiet spell refills the burst, no more.
        let quiet = start + 100 * every;
        for _ in 0..NOTICE_BURST {
            assert_eq!(pacer.soonest(quiet), quiet);
            pacer.spend(quiet);
        }
        assert!(pacer.soonest(quiet) > quiet);
    }
}
