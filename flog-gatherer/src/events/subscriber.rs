//! One task per publisher: subscribe to all its events, with a catch-up on
//! every (re)connect; keep what is new ([`Tracker`]), mark a new
//! incarnation, report what is missing as gaps, and hand the rest to the
//! writer thread within the publisher's [`Budget`].
//!
//! It uses only `flog-wire`'s client API, beside the incident worker, so
//! that each connection of a publisher does one job.

use std::sync::Arc;
use std::time::Duration;

use flog_core::{
    flogfile::{Gap, GapReason, IncarnationChange, Receipt, ReceivedEvent},
    Clock, Event,
};
use flog_wire::{ClientError, ClientOptions, EncodedEvent, EventUpdate, LogportClient, LogportUrl};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

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

    /// The connection ended: what is still missing is a gap now, and every
    /// held gap goes.
    /// Reports the holes whose patience is over.
    fn expire(&mut self, cx: &SubscriberContext) {
        let mut confirmed = Vec::new();
        self.tracker.expire(cx.clock.now(), &mut confirmed);
        self.gaps(cx, &confirmed);
    }

    fn disconnected(&mut self, cx: &SubscriberContext) {
        let mut confirmed = Vec::new();
        self.tracker.disconnected(&mut confirmed);
        self.gaps(cx, &confirmed);
        self.flush_held(cx, true);
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

/// Gathers the events of publisher `id` until `stop` is cancelled; `start`
/// is what the event log already holds of it.
pub(crate) async fn run_subscriber(
    cx: Arc<SubscriberContext>,
    id: String,
    mut url: watch::Receiver<LogportUrl>,
    start: Option<Position>,
    stop: CancellationToken,
) {
    let mut state = State {
        tracker: Tracker::resume(
            start.as_ref().map(|p| p.num),
            start.as_ref().map_or(&[][..], |p| &p.holes),
            cx.clock.now(),
        ),
        incarnation: start.map(|p| p.incarnation),
        budget: Budget::new(usize::try_from(cx.events.queue_memory).unwrap_or(usize::MAX)),
        held: HeldGaps::default(),
        id,
    };
    let mut backoff = Backoff::new(cx.min_backoff, cx.max_backoff);
    loop {
        let target = url.borrow_and_update().clone();
        let outcome = tokio::select! {
            _ = stop.cancelled() => break,
            outcome = session(&cx, &target, &mut state, &mut backoff) => outcome,
        };
        state.disconnected(&cx);
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
            _ = tokio::time::sleep(wait) => {}
            _ = url.changed() => {}
        }
    }
    state.disconnected(&cx);
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
