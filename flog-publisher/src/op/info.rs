//! `get_versions`, `get_pid` and `ping` (docs/protocol.md §6.2).

use flog_wire::{Op, Reply};

use super::Context;

pub(super) async fn apply(id: u64, op: &Op, cx: &Context) {
    let reply = match op {
        Op::GetVersions => Reply::Versions {
            versions: cx.state.versions(),
        },
        Op::GetPid => Reply::Pid {
            pid: std::process::id(),
        },
        _ => Reply::Pong,
    };
    cx.reply(id, reply).await;
}

#[cfg(test)]
mod tests {
    use flog_wire::{Op, Reply};

    use crate::op::testing::Harness;

    #[tokio::test]
    async fn versions_pid_and_pong() {
        let mut h = Harness::new().await;
        h.apply(1, Op::GetVersions).await;
        match h.reply(1).await {
            Reply::Versions { versions } => {
                assert!(versions.contains_key("flog-publisher"), "{versions:?}")
            }
            other => panic!("{other:?}"),
        }
        h.apply(2, Op::GetPid).await;
        assert_eq!(
            h.reply(2).await,
            Reply::Pid {
                pid: std::process::id()
            }
        );
        h.apply(3, Op::Ping).await;
        assert_eq!(h.reply(3).await, Reply::Pong);
    }
}
