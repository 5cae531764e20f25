//! One task per publisher: subscribe to all its events, with a catch-up on
//! every (re)connect; keep what is new ([`Tracker`]), mark a new
//! incarnation, report what is missing as gaps, and hand the rest to the
//! writer thread within the publisher's [`Budget`].
//!
//! It uses only `flog-wire`'s client API, beside the incident worker, so
//! that each connection of a publisher does one job.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use flog_core::{
    flogfile::{Gap, GapReason, IncarnationChange, Receipt, ReceivedEvent},
    Clock, Event,
};
use flog_wire::{ClientError, ClientOptions, EncodedEvent, EventUpdate, LogportClient, LogportUrl};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::handover::{Handing, Handover, Handovers};
use super::held::{HeldGap, HeldGaps};
use super::log::Gathered;
use super::positions::Position;
use super::tracker::{Missing, Tracker, Verdict};
use super::writer::{Budget, Command, WriterHandle};
use crate::config::EventsConfig;
use flog_wire::Backoff;

/// What every subscriber task shares.
#[derive(Debug)]
pub(crate) struct SubscriberContext {
    pub(crate) events: EventsConfig,
    pub(crate) writer: WriterHandle,
    pub(crate) options: ClientOptions,
    pub(crate) min_backoff: Duration,
    pub(crate) max_backoff: Duration,
    /// The receive times' clock.
    pub(crate) clock: Arc<dyn Clock>,
    /// With `storage = "s3"`: where the holders of the leases tell each
    /// other how far they stored.
    pub(crate) handovers: Option<Handovers>,
}

/// Bytes counted for a record besides the event's own encoding.
const RECORD_OVERHEAD: usize = 64;

/// How often open holes are checked against their patience
/// ([`HOLE_PATIENCE`](super::tracker::HOLE_PATIENCE)) while the stream is
/// quiet.
const HOLE_CHECK: Duration = Duration::from_millis(500);

/// One publisher's state across its connections.
struct State {
    id: String,
    incarnation: Option<String>,
    tracker: Tracker,
    budget: Arc<Budget>,
    /// Gaps waiting for room in the budget.
    held: HeldGaps,
    /// While holding the lease (`storage = "s3"`): handing over.
    handing: Option<Handing>,
}

impl State {
    /// Sends `item` whatever the budget, counting it there: for the few
    /// records that must go now (a connection's end, a new incarnation,
    /// the held gaps before an event that fits), at most a few per
    /// connection or per event that fitted.
    fn force(&self, cx: &SubscriberContext, item: Gathered, bytes: usize) {
        let _ = cx.writer.send(Command::Write {
            items: vec![item],
            budget: self.budget.clone(),
            bytes: self.budget.force(bytes),
        });
    }

    fn gap_record(&self, cx: &SubscriberContext, held: HeldGap) -> Gathered {
        Gathered::Gap(Gap {
            from: self.id.clone(),
            incarnation: self.incarnation.clone().unwrap_or_default(),
            count: held.count,
            first: Some(held.first),
            last: Some(held.last),
            reason: held.reason,
            rx_time: cx.clock.now(),
        })
    }

    /// Sends the held gaps: those that fit in the budget, or, `forced`,
    /// all of them.
    fn flush_held(&mut self, cx: &SubscriberContext, forced: bool) {
        while let Some(held) = self.held.pop() {
            if forced {
                let record = self.gap_record(cx, held);
                self.force(cx, record, RECORD_OVERHEAD);
            } else if self.budget.reserve(RECORD_OVERHEAD) {
                let record = self.gap_record(cx, held);
                let _ = cx.writer.send(Command::Write {
                    items: vec![record],
                    budget: self.budget.clone(),
                    bytes: RECORD_OVERHEAD,
                });
            } else {
                self.held.unpop(held);
                return;
            }
        }
    }

    /// Holds the confirmed gaps and sends what fits: a publisher skipping
    /// numbers while the writer is slow costs no memory per gap.
    fn gaps(&mut self, cx: &SubscriberContext, confirmed: &[Missing]) {
        for m in confirmed {
            self.held
                .add(m.reason.clone(), (m.first, m.last), m.count());
        }
        self.flush_held(cx, false);
    }

    /// Reports the holes whose patience is over.
    fn expire(&mut self, cx: &SubscriberContext) {
        let mut confirmed = Vec::new();
        self.tracker.expire(cx.clock.now(), &mut confirmed);
        self.gaps(cx, &confirmed);
    }

    /// The connection ended: what is still missing is a gap now, and every
    /// held gap goes.
    fn disconnected(&mut self, cx: &SubscriberContext) {
        let mut confirmed = Vec::new();
        self.tracker.disconnected(&mut confirmed);
        self.gaps(cx, &confirmed);
        self.flush_held(cx, true);
    }

    /// Where this task stands, as the next holder of the lease is to
    /// resume: `None` before anything of the publisher was stored.
    fn handover(&self, cx: &SubscriberContext, closed: bool) -> Option<Handover> {
        let (num, holes) = self.tracker.position();
        Some(Handover {
            holder: cx.handovers.as_ref()?.me.clone(),
            incarnation: self.incarnation.clone()?,
            num: num?,
            holes,
            closed,
            written: cx.clock.now(),
        })
    }

    /// Resumes from the last holder's position, unless this task stored
    /// more of the same incarnation itself (its own last writes failed).
    fn resume_from(&mut self, cx: &SubscriberContext, taken: Option<Handover>) {
        let Some(taken) = taken else {
            return;
        };
        let ours = self.tracker.position().0;
        if self.incarnation.as_deref() == Some(taken.incarnation.as_str())
            && ours.is_some_and(|num| num >= taken.num)
        {
            return;
        }
        self.tracker = Tracker::resume(Some(taken.num), &taken.holes, cx.clock.now());
        self.incarnation = Some(taken.incarnation);
    }

    /// Refreshes the position in the bucket; not while gaps wait for room
    /// (their numbers are neither stored nor marked yet).
    fn refresh(&mut self, cx: &SubscriberContext) {
        if !self.held.is_empty() {
            return;
        }
        let Some(handover) = self.handover(cx, false) else {
            return;
        };
        if let Some(handing) = &mut self.handing {
            handing.refresh(&self.id, handover, &cx.writer);
        }
    }

    /// The lease is lost or the gatherer stops: writes where this task
    /// stopped, once the writer holds it all.
    async fn hand_over(&mut self, cx: &SubscriberContext) {
        let Some(handing) = self.handing.take() else {
            return;
        };
        let handover = self.handover(cx, true);
        handing.close(&self.id, handover, &cx.writer).await;
    }

    /// The publisher's welcome names an incarnation: a new one starts
    /// afresh and is marked.
    fn welcome(&mut self, cx: &SubscriberContext, incarnation: &str, pid: u32) {
        if self.incarnation.as_deref() == Some(incarnation) {
            return;
        }
        self.disconnected(cx);
        let change = IncarnationChange {
            from: self.id.clone(),
            incarnation: incarnation.to_owned(),
            previous: self.incarnation.take(),
            pid: Some(pid),
            rx_time: cx.clock.now(),
        };
        self.force(cx, Gathered::Incarnation(change), RECORD_OVERHEAD);
        self.incarnation = Some(incarnation.to_owned());
        self.tracker = Tracker::new(None);
    }

    fn event(&mut self, cx: &SubscriberContext, encoded: &EncodedEvent) {
        let bytes = encoded.as_bytes();
        let event = match Event::from_cbor(bytes) {
            Ok(event) => event,
            Err(error) => {
                // Its number is unknown, so it cannot be a numbered gap: a
                // hole where it was is reported if nothing fills it.
                tracing::warn!(publisher = %self.id, %error, "an event of {} does not decode: {error}", self.id);
                return;
            }
        };
        let mut confirmed = Vec::new();
        let verdict = self
            .tracker
            .arrive(event.num, cx.clock.now(), &mut confirmed);
        self.gaps(cx, &confirmed);
        if verdict == Verdict::Duplicate {
            return;
        }
        if event.level < cx.events.min_level_for(&self.id, event.facility.as_deref()) {
            return;
        }
        let size = bytes.len() + self.id.len() + RECORD_OVERHEAD;
        if !self.budget.reserve(size) {
            let num = event.num;
            self.held.add(GapReason::NotWritten, (num, num), 1);
            self.budget.count_unwritten();
            return;
        }
        // Where they were missed, before what comes after them.
        self.flush_held(cx, true);
        let received = ReceivedEvent {
            event,
            receipt: Receipt {
                from: self.id.clone(),
                rx_time: cx.clock.now(),
            },
        };
        let _ = cx.writer.send(Command::Write {
            items: vec![Gathered::Event(Box::new(received))],
            budget: self.budget.clone(),
            bytes: size,
        });
    }
}

/// One subscriber task's publisher.
#[derive(Debug)]
pub(crate) struct Subscription {
    /// The publisher's id.
    pub(crate) id: String,
    /// Its logport, changed while the task runs when the publisher moves.
    pub(crate) url: watch::Receiver<LogportUrl>,
    /// What the event log already holds of it.
    pub(crate) start: Option<Position>,
    /// With `storage = "s3"`: the publishers this gatherer holds a lease
    /// on; the task subscribes only while it holds this one's.
    pub(crate) held: Option<watch::Receiver<BTreeSet<String>>>,
}

/// Gathers the events of a publisher until `stop` is cancelled (and, with
/// leases, only while its lease is held; see [`super::handover`]).
pub(crate) async fn run_subscriber(
    cx: Arc<SubscriberContext>,
    task: Subscription,
    stop: CancellationToken,
) {
    let Subscription {
        id,
        mut url,
        start,
        held,
    } = task;
    let mut state = State {
        tracker: Tracker::resume(
            start.as_ref().map(|p| p.num),
            start.as_ref().map_or(&[][..], |p| &p.holes),
            cx.clock.now(),
        ),
        incarnation: start.map(|p| p.incarnation),
        budget: Budget::new(usize::try_from(cx.events.queue_memory).unwrap_or(usize::MAX)),
        held: HeldGaps::default(),
        handing: None,
        id,
    };
    match (held, &cx.handovers) {
        (Some(held), Some(handovers)) => {
            follow_lease(&cx, &mut state, &mut url, held, handovers, &stop).await
        }
        _ => subscribe(&cx, &mut state, &mut url, &stop, std::future::pending()).await,
    }
}

/// Subscribes each time the lease is taken, from where its last holder
/// stopped, and hands over each time it is lost.
async fn follow_lease(
    cx: &SubscriberContext,
    state: &mut State,
    url: &mut watch::Receiver<LogportUrl>,
    mut held: watch::Receiver<BTreeSet<String>>,
    handovers: &Handovers,
    stop: &CancellationToken,
) {
    let id = state.id.clone();
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            () = until_held(&mut held, &id, true) => {}
        }
        let taken = tokio::select! {
            _ = stop.cancelled() => return,
            () = until_held(&mut held, &id, false) => continue,
            taken = take(cx, handovers, &id) => taken,
        };
        state.resume_from(cx, taken);
        state.handing = Some(Handing::new(handovers.clone()));
        subscribe(cx, state, url, stop, until_held(&mut held, &id, false)).await;
        state.hand_over(cx).await;
        if stop.is_cancelled() {
            return;
        }
    }
}

/// Returns once holding the lease on `id` is `wanted` (or nobody keeps the
/// leases any more: the gatherer stops).
async fn until_held(held: &mut watch::Receiver<BTreeSet<String>>, id: &str, wanted: bool) {
    loop {
        if held.borrow_and_update().contains(id) == wanted {
            return;
        }
        if held.changed().await.is_err() {
            return;
        }
    }
}

/// The last holder's position, once settled; a bucket that fails is tried
/// again (subscribing without it would store again what the last holder
/// stored).
async fn take(cx: &SubscriberContext, handovers: &Handovers, id: &str) -> Option<Handover> {
    let mut backoff = Backoff::new(cx.min_backoff, cx.max_backoff);
    let mut failing = false;
    loop {
        match handovers.take(id, cx.clock.as_ref()).await {
            Ok(taken) => return taken,
            Err(error) => {
                if !failing {
                    tracing::warn!(publisher = %id, %error, "cannot read where the last gatherer stopped with the events of {id}: {error}; trying again before subscribing");
                }
                failing = true;
                tokio::time::sleep(backoff.next_wait()).await;
            }
        }
    }
}

/// Subscribes, reconnecting after each failure, until `stop` or `lost`.
async fn subscribe(
    cx: &SubscriberContext,
    state: &mut State,
    url: &mut watch::Receiver<LogportUrl>,
    stop: &CancellationToken,
    lost: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(lost);
    let mut backoff = Backoff::new(cx.min_backoff, cx.max_backoff);
    loop {
        let target = url.borrow_and_update().clone();
        let outcome = tokio::select! {
            _ = stop.cancelled() => break,
            () = &mut lost => break,
            outcome = session(cx, &target, state, &mut backoff) => outcome,
        };
        state.disconnected(cx);
        let id = &state.id;
        match outcome {
            Ok(reason) => {
                tracing::info!(publisher = %id, %reason, "event subscription to {id} ended ({reason}); reconnecting")
            }
            Err(error) => {
                tracing::info!(publisher = %id, %error, "event subscription to {id} failed ({error}); reconnecting")
            }
        }
        let wait = backoff.next_wait();
        tokio::select! {
            _ = stop.cancelled() => break,
            () = &mut lost => break,
            _ = tokio::time::sleep(wait) => {}
            _ = url.changed() => {}
        }
    }
    state.disconnected(cx);
}

/// One connection: returns why the subscription ended.
async fn session(
    cx: &SubscriberContext,
    url: &LogportUrl,
    state: &mut State,
    backoff: &mut Backoff,
) -> Result<String, ClientError> {
    let client = LogportClient::connect_with(url, cx.options.clone()).await?;
    let welcome = client.welcome().clone();
    let mut subscription = client.subscribe_to_all(true).await?;
    backoff.reset();
    state.welcome(cx, &welcome.incarnation, welcome.pid);
    state.tracker.connected();
    let id = &state.id;
    tracing::info!(publisher = %id, pid = welcome.pid, incarnation = %welcome.incarnation, "gathering events of {id}");
    // Holes are looked at now and then, so that a quiet publisher's gap is
    // reported after its patience, not only with the next event.
    let mut holes = tokio::time::interval(HOLE_CHECK);
    holes.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        // Gaps wait for room in the budget: they go as soon as there is,
        // rather than with the next event that fits, which may be long in
        // coming. (`next` is cancel-safe: the queue keeps what it holds.)
        let update = tokio::select! {
            biased;
            // First: under a steady stream `next` is always ready, and a
            // position not refreshed looks like a dead holder's.
            () = Handing::due(&mut state.handing) => {
                state.refresh(cx);
                continue;
            }
            update = subscription.next() => update,
            () = state.budget.room_for(RECORD_OVERHEAD), if !state.held.is_empty() => {
                state.flush_held(cx, false);
                continue;
            }
            _ = holes.tick(), if state.tracker.has_holes() => {
                state.expire(cx);
                continue;
            }
        };
        let Some(update) = update else { break };
        match update {
            // Another gatherer's logport: its events are stored as this
            // publisher's (see docs/gatherer.md, "A logport of its own").
            EventUpdate::Event(encoded) | EventUpdate::Relayed { event: encoded, .. } => {
                state.event(cx, &encoded)
            }
            EventUpdate::Dropped { count } => state.tracker.dropped(count),
            EventUpdate::Ended { reason } => return Ok(reason),
        }
    }
    Ok("connection closed".into())
}

#[cfg(test)]
mod tests;
