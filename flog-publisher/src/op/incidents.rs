//! `subscribe_to_incidents` (docs/protocol.md §7.1): `new_incident` for each
//! incident after `since_name`, the existing ones first with catch-up.

use flog_wire::{IncidentCatchupDone, IncidentInfo, Message, NewIncident, Reply};
use tokio::sync::broadcast;

use super::Subscription;
use crate::outbox::Closed;
use crate::reply::response;

/// Pushes until the subscription is cancelled or the client is gone.
pub(super) async fn forward(sub: Subscription, catch_up: bool, since: Option<String>) {
    let _ = pushes(&sub, catch_up, since).await;
}

fn push(subscription: u64, incident: IncidentInfo) -> Message {
    NewIncident {
        subscription,
        incident,
    }
    .into()
}

async fn pushes(sub: &Subscription, catch_up: bool, since: Option<String>) -> Result<(), Closed> {
    let Subscription { cx, request, id } = sub;
    // Subscribe before reading the index, so nothing recorded in between is missed.
    let mut live = cx.state.incidents.subscribe();
    let subscribed = Reply::Subscribed { subscription: *id };
    cx.outbox.send(response(*request, subscribed)).await?;
    let mut last = since;
    if catch_up {
        for info in cx.state.index.after(last.as_deref()) {
            last = Some(info.name.clone());
            cx.outbox.send(push(*id, info)).await?;
        }
        let done = IncidentCatchupDone { subscription: *id };
        cx.outbox.send(done.into()).await?;
    }
    loop {
        let next = tokio::select! {
            _ = cx.cancel.cancelled() => return Ok(()),
            next = live.recv() => next,
        };
        let fresh = match next {
            Ok(info) => vec![info],
            // Fell behind the broadcast: the index has everything.
            Err(broadcast::error::RecvError::Lagged(_)) => cx.state.index.after(last.as_deref()),
            Err(broadcast::error::RecvError::Closed) => return Ok(()),
        };
        for info in fresh {
            if last.as_deref().is_some_and(|l| info.name.as_str() <= l) {
                continue;
            }
            last = Some(info.name.clone());
            cx.outbox.send(push(*id, info)).await?;
        }
    }
}

#[cfg(test)]
mod tests {
    use flog_wire::{Message, Op, Reply};

    use crate::op::testing::Harness;

    #[tokio::test]
    async fn catch_up_then_new_incidents() {
        let mut h = Harness::new().await;
        let a = h.incident("a");
        let op = Op::SubscribeToIncidents {
            catch_up: true,
            since_name: None,
        };
        h.apply(1, op).await;
        let Reply::Subscribed { subscription } = h.reply(1).await else {
            panic!("not subscribed");
        };
        match h.next().await {
            Message::NewIncident(n) => {
                assert_eq!((n.subscription, n.incident.name), (subscription, a))
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(h.next().await, Message::IncidentCatchupDone(_)));
        let b = h.incident("b");
        match h.next().await {
            Message::NewIncident(n) => assert_eq!(n.incident.name, b),
            other => panic!("{other:?}"),
        }
    }
}
