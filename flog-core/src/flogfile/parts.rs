//! An event record put together from parts encoded apart. The buffers keep
//! the constant parts of a call site's events once (its facility, text and
//! field names) and each event's own values in its record; a dump writes
//! the flogfile record from both with [`record_from_parts`], the same bytes
//! [`event_record`](super::event_record) writes for the whole event.
//!
//! Also the one reader of CBOR item boundaries the buffers need
//! ([`item_end`]): parts are kept as encoded items, back to back.

use super::encode::{
    const_key, head, int, key, text, value, Limits, BYTES, K_FACILITY, K_FIELDS, K_FORMAT, K_INC,
    K_INC_SEQ, K_IS_ERROR, K_LEVEL, K_MESSAGE, K_NUM, K_PARENT, K_TIME, MAP, MAX_VALUE_BYTES,
    RECORD_START, TRUE, UINT,
};
use crate::incarnation::Incarnation;
use crate::value::Value;

/// The part of an event record that is the same for every event of one
/// call site: from the incarnation to the head of the fields' map, made once
/// per call site for a dump by [`Middle::new`].
#[derive(Debug)]
pub(crate) struct Middle {
    bytes: Vec<u8>,
    /// The entries of the event map it holds, with `num` and `time`.
    entries: u64,
}

impl Middle {
    /// The middle of the records of `incarnation` at `level` with this
    /// facility and text (encoded items, cut as a buffered event's are,
    /// see [`encode_text`]) and `fields` fields.
    pub(crate) fn new(
        incarnation: &Incarnation,
        level: u16,
        facility: Option<&[u8]>,
        is_format: bool,
        text: &[u8],
        fields: usize,
    ) -> Middle {
        let mut out = Vec::with_capacity(64 + text.len() + facility.map_or(0, <[u8]>::len));
        const_key(&mut out, K_INC);
        out.push(BYTES | 8);
        const_key(&mut out, &incarnation.unique);
        if let Some(seq) = incarnation.sequential {
            const_key(&mut out, K_INC_SEQ);
            head(&mut out, UINT, seq);
        }
        const_key(&mut out, K_LEVEL);
        head(&mut out, UINT, u64::from(level));
        if let Some(facility) = facility {
            const_key(&mut out, K_FACILITY);
            out.extend_from_slice(facility);
        }
        if is_format {
            const_key(&mut out, K_FORMAT);
        } else {
            const_key(&mut out, K_MESSAGE);
        }
        out.extend_from_slice(text);
        if fields > 0 {
            const_key(&mut out, K_FIELDS);
            head(&mut out, MAP, fields as u64);
        }
        Middle {
            bytes: out,
            entries: 5
                + u64::from(incarnation.sequential.is_some())
                + u64::from(facility.is_some())
                + u64::from(fields > 0),
        }
    }
}

/// What one event record holds besides its [`Middle`] and its fields.
/// Failure and stack are encoded text items.
#[derive(Debug)]
pub(crate) struct RecordParts<'a> {
    pub(crate) num: u64,
    pub(crate) time: i64,
    pub(crate) middle: &'a Middle,
    pub(crate) parent: Option<u64>,
    pub(crate) is_error: bool,
    pub(crate) failure: Option<&'a [u8]>,
    pub(crate) stack: Option<&'a [u8]>,
}

/// Appends the record `["event", {...}]` of `parts` with `fields`, each an
/// encoded name and an encoded value (as many as the middle was made for),
/// to `out`. The layout is [`event_body`](super::encode::event_body)'s, key
/// for key.
pub(crate) fn record_from_parts<'f>(
    parts: &RecordParts<'_>,
    fields: impl Iterator<Item = (&'f [u8], &'f [u8])>,
    out: &mut Vec<u8>,
) {
    let len = parts.middle.entries
        + u64::from(parts.parent.is_some())
        + u64::from(parts.is_error)
        + u64::from(parts.failure.is_some())
        + u64::from(parts.stack.is_some());
    const_key(out, RECORD_START);
    head(out, MAP, len);
    const_key(out, K_NUM);
    head(out, UINT, parts.num);
    const_key(out, K_TIME);
    int(out, parts.time);
    out.extend_from_slice(&parts.middle.bytes);
    for (name, value) in fields {
        out.extend_from_slice(name);
        out.extend_from_slice(value);
    }
    if let Some(parent) = parts.parent {
        const_key(out, K_PARENT);
        head(out, UINT, parent);
    }
    if parts.is_error {
        const_key(out, K_IS_ERROR);
        out.push(TRUE);
    }
    for (k, s) in [("failure", parts.failure), ("stack", parts.stack)] {
        if let Some(s) = s {
            key(out, k);
            out.extend_from_slice(s);
        }
    }
}

/// Appends `s` as a text item, cut past [`MAX_VALUE_BYTES`] with a marker.
pub(crate) fn encode_text(s: &str, out: &mut Vec<u8>) {
    text(out, s, MAX_VALUE_BYTES);
}

/// Appends `v` as a buffered event's field value is encoded.
#[inline(always)]
pub(crate) fn encode_value(v: &Value, out: &mut Vec<u8>) {
    value(out, v, &Limits::BUFFERED, 0);
}

/// Appends an unsigned integer item.
pub(crate) fn encode_uint(n: u64, out: &mut Vec<u8>) {
    head(out, UINT, n);
}

/// Reads the head of the item at `at`: its major type, its argument and
/// where what follows the head starts. `None` for a truncated head or one
/// this encoder never writes (indefinite lengths).
pub(crate) fn item_head(bytes: &[u8], at: usize) -> Option<(u8, u64, usize)> {
    let first = *bytes.get(at)?;
    let (major, info) = (first >> 5, first & 0x1f);
    let width = match info {
        0..=23 => return Some((major, u64::from(info), at + 1)),
        24 => 1,
        25 => 2,
        26 => 4,
        27 => 8,
        _ => return None,
    };
    let arg = bytes.get(at + 1..at + 1 + width)?;
    let arg = arg.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
    Some((major, arg, at + 1 + width))
}

/// Where the CBOR item starting at `at` ends, nested items and all; `None`
/// when `bytes` end before it does or it is not one this encoder writes.
/// Iterative, so a deep item costs no stack.
pub(crate) fn item_end(bytes: &[u8], mut at: usize) -> Option<usize> {
    let mut pending: u64 = 1;
    while pending > 0 {
        pending -= 1;
        let (major, arg, next) = item_head(bytes, at)?;
        at = match major {
            // Integers, and simple values and floats (the argument is the value).
            0 | 1 | 7 => next,
            2 | 3 => next.checked_add(usize::try_from(arg).ok()?)?,
            4 => {
                pending = pending.checked_add(arg)?;
                next
            }
            5 => {
                pending = pending.checked_add(arg.checked_mul(2)?)?;
                next
            }
            6 => {
                pending += 1;
                next
            }
            _ => return None,
        };
        if at > bytes.len() {
            return None;
        }
    }
    Some(at)
}
