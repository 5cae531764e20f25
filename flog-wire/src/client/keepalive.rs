//! Keeping a connection in use alive, and noticing a publisher that is not.
//!
//! A publisher closes a connection that sends nothing for its idle timeout
//! (announced in the welcome), subscribed or not, so that a client whose
//! host vanished frees its slot. While this client has a request or a
//! subscription outstanding it pings at a third of that timeout; a ping not
//! answered in time means the publisher, or the path to it, is gone, and the
//! connection is closed rather than waited on for ever.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;

use super::router::{Pending, Shared};
use crate::message::Op;

#[derive(Debug)]
pub(super) struct Keepalive {
    /// The publisher's idle timeout.
    pub(super) idle: Duration,
    /// How long a pong may take.
    pub(super) answer_within: Duration,
}

impl Keepalive {
    pub(super) async fn run(self, shared: Arc<Shared>) {
        let every = (self.idle / 3).max(Duration::from_millis(1));
        loop {
            tokio::select! {
                _ = shared.stopped() => return,
                _ = tokio::time::sleep(every) => {}
            }
            if !shared.in_use() {
                continue;
            }
            let (tx, rx) = oneshot::channel();
            let Ok(_pending) = shared.start_request(Pending::Reply(tx), Op::Ping) else {
                return;
            };
            let answer = tokio::select! {
                _ = shared.stopped() => return,
                answer = tokio::time::timeout(self.answer_within, rx) => answer,
            };
            // Any answer, a pong or an error, shows the publisher alive.
            if answer.is_err() {
                let within = self.answer_within;
                shared.close(format!(
                    "the publisher stopped answering (no pong within {within:?})"
                ));
                return;
            }
        }
    }
}
