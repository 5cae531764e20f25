//! `subscribe_to_all` (docs/protocol.md §7.1, §7.3): every event, through the
//! publisher's one shared ring ([`crate::live`]); each gap reported by one
//! `events_dropped` exactly where it is.

use flog_wire::{EncodedEvent, ErrorCode, EventsDropped, LogEvent, Message, Reply};

use super::Subscription;
use crate::live::Delivery;
use crate::outbox::Closed;
use crate::reply::{error, response};

/// Pushes until the subscription is cancelled or the client is gone.
pub(super) async fn forward(sub: Subscription, catch_up: bool) {
    let _ = tokio::select! {
        _ = sub.cx.cancel.cancelled() => Ok(()),
        pushed = pushes(&sub, catch_up) => pushed,
    };
}

fn event(subscription: u64, bytes: bytes::Bytes) -> (Message, usize) {
    let len = bytes.len();
    let push = LogEvent {
        subscription,
        event: EncodedEvent::from(bytes),
        origin: None,
    };
    // Events can carry large fields: they count against the byte budget.
    (push.into(), len)
}

async fn pushes(sub: &Subscription, catch_up: bool) -> Result<(), Closed> {
    let Subscription { cx, request, id } = sub;
    let mut live = cx.state.live.subscribe();
    // Events logged from here on are in the ring; those before are in the
    // buffers: the catch-up sends those, the ring skips what it already sent.
    let snapshot = match catch_up {
        false => None,
        true => match live.catch_up().await {
            Ok(snapshot) => Some(snapshot),
            Err(refused) => {
                let msg = error(Some(*request), ErrorCode::Busy, refused.to_string());
                return cx.outbox.send(msg).await;
            }
        },
    };
    let subscribed = Reply::Subscribed { subscription: *id };
    cx.outbox.send(response(*request, subscribed)).await?;
    if let Some(snapshot) = snapshot {
        for bytes in &snapshot.events {
            let (push, len) = event(*id, bytes.clone());
            cx.outbox.send_large(push, len).await?;
        }
    }
    let mut batch = Vec::new();
    loop {
        live.next(&mut batch).await;
        for delivery in batch.drain(..) {
            match delivery {
                Delivery::Event(bytes) => {
                    let (push, len) = event(*id, bytes);
                    cx.outbox.send_large(push, len).await?;
                }
                Delivery::Gap(count) => {
                    let gap = EventsDropped {
                        subscription: *id,
                        count,
                    };
                    cx.outbox.send(gap.into()).await?;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use flog_core::{Event, Level};
    use flog_wire::{Message, Op, Reply};

    use crate::op::testing::Harness;

    fn text(message: Message) -> String {
        match message {
            Message::LogEvent(e) => Event::from_cbor(e.event.as_bytes())
                .unwrap()
                .render()
                .into_owned(),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn catch_up_then_live_events_in_order() {
        let mut h = Harness::new().await;
        h.logger().msg(Level::OPERATIONAL, "before");
        h.apply(1, Op::SubscribeToAll { catch_up: true }).await;
        assert!(matches!(h.reply(1).await, Reply::Subscribed { .. }));
        h.logger().msg(Level::OPERATIONAL, "after");
        assert_eq!(text(h.next().await), "before");
        assert_eq!(text(h.next().await), "after");
    }
}
