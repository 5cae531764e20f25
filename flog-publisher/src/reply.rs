//! The messages a publisher answers with: a leaf every other module uses.

use flog_wire::{ErrorCode, ErrorMessage, Message, Reply, Response};

/// An `error` for request `id` (or the connection, with `None`).
pub(crate) fn error(id: Option<u64>, code: ErrorCode, message: impl Into<String>) -> Message {
    ErrorMessage {
        id,
        code,
        message: message.into(),
    }
    .into()
}

/// A `response` to request `id`.
pub(crate) fn response(id: u64, reply: Reply) -> Message {
    Response { id, reply }.into()
}
