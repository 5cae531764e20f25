//! Encoding an event as its buffer keeps it: a compact record when its call
//! site has an entry in the dictionary, else the whole flogfile record, cut
//! to fit the buffer; and the per-thread scratch buffer both are made in.

use std::cell::Cell;

use super::compact;
use crate::event::{Event, Fields, Text};
use crate::flogfile::{event_record, Limits};

/// Encodes `event` as its buffer keeps it: compact when it has an entry in
/// the call-site dictionary and the record is no longer than `limit`, else
/// as [`encode_buffered`] does.
#[inline(always)]
pub(super) fn encode_record(event: &Event, site: Option<u32>, limit: usize, out: &mut Vec<u8>) {
    if let Some(site) = site {
        out.clear();
        compact::encode(event, site, out);
        if out.len() <= limit {
            return;
        }
    }
    encode_buffered(event, limit, out);
}

/// Encodes `event` whole as its buffer keeps it: long values cut, and a stub in its
/// place if it is still longer than `limit`.
#[inline(always)]
pub(super) fn encode_buffered(event: &Event, limit: usize, out: &mut Vec<u8>) {
    out.clear();
    let limits = Limits {
        record_bytes: limit,
        ..Limits::BUFFERED
    };
    if event_record(event, &limits, out).is_err() {
        let size = out.len();
        out.clear();
        // MIN_FLOOR leaves room for any stub.
        let _ = event_record(&stub(event, size), &Limits::BUFFERED, out);
    }
}

/// What a buffer keeps of an event too large for it: everything but its
/// fields and long texts, and a message that says so.
#[cold]
fn stub(event: &Event, size: usize) -> Event {
    let mut shown = event.raw_text();
    let mut cut = shown.len().min(STUB_TEXT_BYTES);
    while !shown.is_char_boundary(cut) {
        cut -= 1;
    }
    shown = &shown[..cut];
    Event {
        num: event.num,
        time: event.time,
        incarnation: event.incarnation,
        level: event.level,
        facility: event.facility.clone(),
        text: Text::Message(
            format!("[flog: an event of {size} bytes or more, too large for its buffer; its text began] {shown}")
                .into(),
        ),
        fields: Fields::new(),
        parent: event.parent,
        is_error: event.is_error,
        failure: None,
        stack: None,
    }
}

/// How much of a dropped event's text its stub shows.
const STUB_TEXT_BYTES: usize = 256;

/// Runs `f` with this thread's encoding buffer, so that encoding allocates
/// nothing once a thread has logged.
#[inline(always)]
pub(super) fn with_scratch<R>(f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
    thread_local! {
        static SCRATCH: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
    }
    // Taken out of the cell rather than borrowed, so nothing can panic on a
    // nested use; after a thread's TLS is gone a fresh buffer serves.
    let mut scratch = SCRATCH.try_with(Cell::take).unwrap_or_default();
    let out = f(&mut scratch);
    // A huge event must not pin its size for the thread's lifetime.
    if scratch.capacity() > MAX_SCRATCH {
        scratch = Vec::new();
    }
    let _ = SCRATCH.try_with(|s| s.set(scratch));
    out
}

const MAX_SCRATCH: usize = 64 * 1024;
