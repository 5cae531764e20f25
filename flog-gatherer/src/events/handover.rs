//! Handing a publisher's events from one gatherer to the next
//! (`storage = "s3"`): a gatherer subscribes to a publisher's events only
//! while it holds that publisher's lease, and the gatherers tell each other
//! where they stopped through `event-positions/<publisher-id>` in the
//! bucket (docs/gatherer.md, "Sharing a bucket", "Events follow the
//! leases").
//!
//! The holder writes its [`Handover`] there every [`refresh`] while it
//! subscribes (what the event file is known to hold: the writer thread has
//! flushed it) and, `closed`, once it has stopped and written what it
//! received. The next holder waits for `closed` (the lease changed hands
//! while the last holder was still writing), or for the position to go
//! stale (the holder died: nobody refreshes it), and resumes from it: the
//! publisher's catch-up brings what came since, and what the publisher no
//! longer holds is a `not_buffered` gap. A dead holder's last refresh lags
//! what it wrote by at most a refresh, so its successor may fetch those
//! events again: stored twice once the dead gatherer's spool is uploaded,
//! never lost.

use std::time::Duration;

use flog_core::{Clock, Timestamp};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::writer::{Command, WriterHandle};
use crate::bucket::{Bucket, BucketError};

/// The folder of event positions in the bucket.
pub(crate) const POSITIONS_DIR: &str = "event-positions";

/// How often the holder writes its position: four times a lease period,
/// so that it is never [`stale`] while the holder lives.
pub(crate) fn refresh(period: Duration) -> Duration {
    period / 4
}

/// How old an unclosed position may be before its writer counts as dead:
/// half a lease period, twice the refresh.
fn stale(period: Duration) -> Duration {
    period / 2
}

/// How often a new holder looks again for the last holder's `closed`.
const CLOSE_POLL: Duration = Duration::from_millis(100);

/// Where one gatherer stopped (or stands) with one publisher's events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Handover {
    /// The gatherer that wrote it.
    pub(crate) holder: String,
    /// The publisher's logger incarnation.
    pub(crate) incarnation: String,
    /// The highest event number stored (or accounted for as a gap).
    pub(crate) num: u64,
    /// Runs below `num` neither stored nor in a gap yet (`first..=last`).
    pub(crate) holes: Vec<(u64, u64)>,
    /// The holder has stopped and written everything it received.
    pub(crate) closed: bool,
    /// When it was written, on the writer's clock.
    pub(crate) written: Timestamp,
}

impl Handover {
    pub(crate) fn parse(text: &str) -> Option<Handover> {
        let (mut holder, mut incarnation, mut num, mut closed, mut written) =
            (None, None, None, None, None);
        let mut holes = Vec::new();
        for line in text.lines() {
            match line.split_once('=') {
                Some(("holder", v)) => holder = Some(v.to_owned()),
                Some(("incarnation", v)) => incarnation = Some(v.to_owned()),
                Some(("num", v)) => num = v.parse().ok(),
                Some(("closed", v)) => closed = v.parse().ok(),
                Some(("written", v)) => written = v.parse().ok().map(Timestamp),
                Some(("hole", v)) => {
                    let (first, last) = v.split_once('-')?;
                    let (first, last) = (first.parse().ok()?, last.parse().ok()?);
                    if first > last {
                        return None;
                    }
                    holes.push((first, last));
                }
                _ => {}
            }
        }
        Some(Handover {
            holder: holder?,
            incarnation: incarnation?,
            num: num?,
            holes,
            closed: closed?,
            written: written?,
        })
    }

    pub(crate) fn to_text(&self) -> String {
        let mut text = format!(
            "holder={}\nincarnation={}\nnum={}\nclosed={}\nwritten={}\n",
            self.holder, self.incarnation, self.num, self.closed, self.written.0
        );
        for (first, last) in &self.holes {
            text.push_str(&format!("hole={first}-{last}\n"));
        }
        text
    }

    /// Whether a new holder `me` may resume from it at `now`: the holder
    /// has closed it, is `me`, or has not refreshed it for too long (it
    /// died).
    pub(crate) fn settled(&self, me: &str, now: Timestamp, period: Duration) -> bool {
        self.closed || self.holder == me || now >= self.written.saturating_add(stale(period))
    }
}

/// What handing over needs: the bucket, this gatherer's id there, the lease
/// period.
#[derive(Debug, Clone)]
pub(crate) struct Handovers {
    pub(crate) bucket: Bucket,
    pub(crate) me: String,
    pub(crate) period: Duration,
}

impl Handovers {
    fn relative(id: &str) -> String {
        format!("{POSITIONS_DIR}/{id}")
    }

    /// Writes `handover` for publisher `id`.
    pub(crate) async fn write(&self, id: &str, handover: &Handover) -> Result<(), BucketError> {
        let text = handover.to_text().into_bytes();
        self.bucket.write(&Self::relative(id), text).await
    }

    /// Reads publisher `id`'s position, waiting until it is
    /// [`settled`](Handover::settled); `None`: there is none (no gatherer
    /// wrote one yet) or it does not read (it then costs a re-fetch of
    /// what the publisher still holds, never a loss).
    pub(crate) async fn take(
        &self,
        id: &str,
        clock: &dyn Clock,
    ) -> Result<Option<Handover>, BucketError> {
        loop {
            let Some(bytes) = self.bucket.read(&Self::relative(id)).await? else {
                return Ok(None);
            };
            let Some(handover) = Handover::parse(&String::from_utf8_lossy(&bytes)) else {
                tracing::warn!(publisher = %id, "the event position of {id} in {} does not read; gathering its events from what this gatherer stored of it", self.bucket.shown());
                return Ok(None);
            };
            if handover.settled(&self.me, clock.now(), self.period) {
                return Ok(Some(handover));
            }
            // Bounded: the position goes stale half a lease period after
            // its last refresh.
            tokio::time::sleep(CLOSE_POLL).await;
        }
    }
}

/// The holder's side, while it subscribes: when to refresh its position,
/// and the refresh in flight (a slow bucket never holds up the events).
#[derive(Debug)]
pub(crate) struct Handing {
    handovers: Handovers,
    timer: tokio::time::Interval,
    in_flight: Option<JoinHandle<()>>,
}

impl Handing {
    /// Starts handing; the first refresh is due at once.
    pub(crate) fn new(handovers: Handovers) -> Handing {
        let mut timer = tokio::time::interval(refresh(handovers.period));
        timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Handing {
            handovers,
            timer,
            in_flight: None,
        }
    }

    /// Returns when a refresh is due; never without `handing`.
    pub(crate) async fn due(handing: &mut Option<Handing>) {
        match handing {
            Some(handing) => {
                handing.timer.tick().await;
            }
            None => std::future::pending().await,
        }
    }

    /// Writes `handover` of publisher `id` once the writer has flushed what
    /// was sent to it before now; skipped while the last is in flight.
    pub(crate) fn refresh(&mut self, id: &str, handover: Handover, writer: &WriterHandle) {
        if self.in_flight.as_ref().is_some_and(|t| !t.is_finished()) {
            return;
        }
        let synced = sync(writer);
        let (handovers, id) = (self.handovers.clone(), id.to_owned());
        self.in_flight = Some(tokio::spawn(async move {
            if synced.await.is_err() {
                return;
            }
            // The lease task reports a failing bucket; a refresh missed
            // costs at most events fetched twice after a death.
            if let Err(error) = handovers.write(&id, &handover).await {
                tracing::debug!(publisher = %id, %error, "cannot write the event position of {id}: {error}");
            }
        }));
    }

    /// The subscription has ended: once the refresh in flight is done and
    /// the writer has flushed everything, writes the `closed` position
    /// (`None`: nothing was ever stored of the publisher).
    pub(crate) async fn close(
        mut self,
        id: &str,
        handover: Option<Handover>,
        writer: &WriterHandle,
    ) {
        if let Some(in_flight) = self.in_flight.take() {
            let _ = in_flight.await;
        }
        let Some(handover) = handover else {
            return;
        };
        if sync(writer).await.is_err() {
            return;
        }
        let (num, bucket) = (handover.num, self.handovers.bucket.shown());
        match self.handovers.write(id, &handover).await {
            Ok(()) => {
                tracing::info!(publisher = %id, num, "stopped gathering the events of {id} (stored up to #{num}); the next holder of its lease goes on from there")
            }
            Err(error) => {
                tracing::warn!(publisher = %id, %error, "cannot write where this gatherer stopped with the events of {id} in {bucket}: {error}; the next holder of its lease may store some again")
            }
        }
    }
}

/// Asks the writer to answer once what was sent before is flushed.
fn sync(writer: &WriterHandle) -> oneshot::Receiver<()> {
    let (answer, synced) = oneshot::channel();
    let _ = writer.send(Command::Synced(answer));
    synced
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handover(closed: bool, written: Timestamp) -> Handover {
        Handover {
            holder: "g-1".into(),
            incarnation: "3f2a9c0d11e45b67".into(),
            num: 1240,
            holes: vec![(7, 9), (1200, 1200)],
            closed,
            written,
        }
    }

    #[test]
    fn a_handover_reads_back_what_is_written_and_refuses_garbage() {
        let h = handover(true, Timestamp(42));
        assert_eq!(Handover::parse(&h.to_text()), Some(h.clone()));
        let text = h.to_text();
        assert_eq!(Handover::parse(&text.replace("num=1240\n", "")), None);
        assert_eq!(Handover::parse(&text.replace("hole=7-9", "hole=9-7")), None);
        assert_eq!(Handover::parse(&text.replace("hole=7-9", "hole=x")), None);
        assert_eq!(Handover::parse("closed=maybe\n"), None);
    }

    #[test]
    fn a_handover_is_settled_when_closed_ours_or_stale() {
        let period = Duration::from_secs(4);
        let t = Timestamp(1_000_000_000);
        let open = handover(false, t);
        assert!(!open.settled("g-2", t, period));
        let almost = t.saturating_add(stale(period) - Duration::from_micros(1));
        assert!(!open.settled("g-2", almost, period));
        assert!(open.settled("g-2", t.saturating_add(stale(period)), period));
        assert!(open.settled("g-1", t, period), "our own");
        assert!(handover(true, t).settled("g-2", t, period));
        assert!(refresh(period) < stale(period));
    }
}
