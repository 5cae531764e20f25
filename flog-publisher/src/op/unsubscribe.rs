//! `unsubscribe` (docs/protocol.md §7.2).

use flog_wire::{ErrorCode, Reply};

use super::{Context, Subscriptions};

pub(super) async fn apply(id: u64, subscription: u64, cx: &Context, subs: &mut Subscriptions) {
    // Waits for the forwarder, so that no push follows `unsubscribed`.
    if subs.end(subscription).await {
        cx.reply(id, Reply::Unsubscribed { subscription }).await;
    } else {
        let why = format!("no subscription {subscription}");
        cx.fail(id, ErrorCode::Malformed, why).await;
    }
}

#[cfg(test)]
mod tests {
    use flog_wire::{ErrorCode, Op, Reply};

    use crate::op::testing::Harness;

    #[tokio::test]
    async fn unsubscribing_ends_the_pushes_and_a_second_time_is_an_error() {
        let mut h = Harness::new().await;
        h.apply(1, Op::SubscribeToAll { catch_up: false }).await;
        let Reply::Subscribed { subscription } = h.reply(1).await else {
            panic!("not subscribed");
        };
        h.apply(2, Op::Unsubscribe { subscription }).await;
        assert_eq!(h.reply(2).await, Reply::Unsubscribed { subscription });
        h.apply(3, Op::Unsubscribe { subscription }).await;
        assert_eq!(h.error().await, (Some(3), ErrorCode::Malformed));
        assert_eq!(h.state.live.subscribers(), 0);
    }
}
