use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use flog_core::{Event, Logger, ObserverId};
use flog_wire::{
    EncodedEvent, EventsDropped, IncidentCatchupDone, IncidentInfo, LogEvent, Message, NewIncident,
    Reply,
};
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use crate::outbox::{Closed, Outbox};
use crate::server::Shared;
use crate::session::response;

/// Pushes `new_incident` for every finished incident after `since` (with
/// catch-up first), until cancelled.
pub(crate) async fn forward_incidents(
    shared: Arc<Shared>,
    outbox: Outbox,
    cancel: CancellationToken,
    id: u64,
    subscription: u64,
    catch_up: bool,
    since: Option<String>,
) {
    // Subscribe before reading the index, so nothing recorded in between is missed.
    let mut live = shared.incidents.subscribe();
    if outbox
        .send(response(id, Reply::Subscribed { subscription }))
        .await
        .is_err()
    {
        return;
    }
    let mut last = since;
    let push = |info: IncidentInfo| {
        NewIncident {
            subscription,
            incident: info,
        }
        .into()
    };
    if catch_up {
        for info in shared.index.after(last.as_deref()) {
            last = Some(info.name.clone());
            if outbox.send(push(info)).await.is_err() {
                return;
            }
        }
        if outbox
            .send(IncidentCatchupDone { subscription }.into())
            .await
            .is_err()
        {
            return;
        }
    }
    loop {
        let next = tokio::select! {
            _ = cancel.cancelled() => return,
            next = live.recv() => next,
        };
        let fresh = match next {
            Ok(info) => vec![info],
            // Fell behind the broadcast: the index has everything.
            Err(broadcast::error::RecvError::Lagged(_)) => shared.index.after(last.as_deref()),
            Err(broadcast::error::RecvError::Closed) => return,
        };
        for info in fresh {
            if last.as_deref().is_some_and(|l| info.name.as_str() <= l) {
                continue;
            }
            last = Some(info.name.clone());
            if outbox.send(push(info)).await.is_err() {
                return;
            }
        }
    }
}

/// Removes the event observer however the forwarder ends.
struct ObserverGuard(Logger, ObserverId);

impl Drop for ObserverGuard {
    fn drop(&mut self) {
        self.0.remove_event_observer(self.1);
    }
}

/// Pushes every generated event (the buffered ones first, with catch-up).
///
/// The logging thread only copies each event into a bounded queue and never
/// waits: when the queue is full the event is dropped and counted, and the
/// count is pushed as `events_dropped` before the next event that gets through.
pub(crate) async fn forward_events(
    shared: Arc<Shared>,
    outbox: Outbox,
    cancel: CancellationToken,
    id: u64,
    subscription: u64,
    catch_up: bool,
) {
    let (tx, mut rx) = mpsc::channel::<Event>(shared.config.event_queue.max(1));
    let dropped = Arc::new(AtomicU64::new(0));
    let observer = {
        let dropped = Arc::clone(&dropped);
        shared.logger.add_event_observer(Arc::new(move |e: &Event| {
            if tx.try_send(e.clone()).is_err() {
                dropped.fetch_add(1, Ordering::Relaxed);
            }
        }))
    };
    let _guard = ObserverGuard(shared.logger.clone(), observer);
    if outbox
        .send(response(id, Reply::Subscribed { subscription }))
        .await
        .is_err()
    {
        return;
    }
    let event = |e: &Event| {
        LogEvent {
            subscription,
            event: EncodedEvent::new(e.to_cbor()),
        }
        .into()
    };
    // Events logged after the observer was added are queued; those before are in
    // the buffers. Send the buffers, then skip queued events already sent.
    let mut sent_up_to = None;
    if catch_up {
        for e in shared.logger.buffered_events() {
            sent_up_to = Some(e.num);
            if send_event(&outbox, event(&e)).await.is_err() {
                return;
            }
        }
    }
    loop {
        let next = tokio::select! {
            _ = cancel.cancelled() => return,
            next = rx.recv() => next,
        };
        let Some(e) = next else { return };
        if sent_up_to.is_some_and(|n| e.num <= n) {
            continue;
        }
        let lost = dropped.swap(0, Ordering::Relaxed);
        if lost > 0
            && outbox
                .send(
                    EventsDropped {
                        subscription,
                        count: lost,
                    }
                    .into(),
                )
                .await
                .is_err()
        {
            return;
        }
        if send_event(&outbox, event(&e)).await.is_err() {
            return;
        }
    }
}

/// Events can carry large fields: they count against the byte budget.
async fn send_event(outbox: &Outbox, message: Message) -> Result<(), Closed> {
    let bytes = match &message {
        Message::LogEvent(e) => e.event.as_bytes().len(),
        _ => 0,
    };
    outbox.send_large(message, bytes).await
}
