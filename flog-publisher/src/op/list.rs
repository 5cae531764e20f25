//! `list_incidents` (docs/protocol.md §6.3).

use flog_wire::{ErrorCode, ListQuery, Reply};

use super::Context;
use crate::reply::response;

pub(super) async fn apply(id: u64, query: &ListQuery, cx: &Context) {
    if query.limit == Some(0) {
        // An empty page that says more follow could never be followed.
        let why =
            "list_incidents: limit must be at least 1 (leave it out to let the publisher choose)";
        return cx.fail(id, ErrorCode::Malformed, why).await;
    }
    let (incidents, more) = cx.state.index.list(query);
    let bytes = incidents
        .iter()
        .map(|i| i.name.len() + i.trigger.as_bytes().len() + 64)
        .sum();
    let page = response(id, Reply::Incidents { incidents, more });
    let _ = cx.outbox.send_large(page, bytes).await;
}

#[cfg(test)]
mod tests {
    use flog_wire::{ErrorCode, ListQuery, Op, Reply};

    use crate::op::testing::Harness;

    fn names(reply: Reply) -> (Vec<String>, bool) {
        match reply {
            Reply::Incidents { incidents, more } => {
                (incidents.into_iter().map(|i| i.name).collect(), more)
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn pages_filters_and_a_zero_limit() {
        let mut h = Harness::new().await;
        let a = h.incident("a");
        let b = h.incident("b");
        h.apply(1, Op::ListIncidents(ListQuery::default())).await;
        assert_eq!(names(h.reply(1).await), (vec![a.clone(), b.clone()], false));
        let one = ListQuery {
            limit: Some(1),
            ..ListQuery::default()
        };
        h.apply(2, Op::ListIncidents(one)).await;
        assert_eq!(names(h.reply(2).await), (vec![a.clone()], true));
        let after_a = ListQuery {
            since_name: Some(a),
            ..ListQuery::default()
        };
        h.apply(3, Op::ListIncidents(after_a)).await;
        assert_eq!(names(h.reply(3).await), (vec![b], false));
        let zero = ListQuery {
            limit: Some(0),
            ..ListQuery::default()
        };
        h.apply(4, Op::ListIncidents(zero)).await;
        assert_eq!(h.error().await, (Some(4), ErrorCode::Malformed));
    }
}
