//! The compact record of an event whose constant parts are in the call-site
//! dictionary ([`sites`](super::sites)): its number, time, entry and its
//! own values only. A ring holds these beside whole flogfile event records
//! (for events with no entry); the first byte tells them apart, as a
//! flogfile record always starts with `0x82` (a two-element array).
//!
//! ```text
//! 0x00                       compact record, version 0
//! num                        LEB128
//! entry                      LEB128, the entry in the dictionary
//! time                       LEB128 of the zigzagged microseconds
//! flags                      1 parent, 2 is_error, 4 failure, 8 stack
//! [parent]                   LEB128, with flag 1
//! count                      LEB128, the number of values
//! value * count              CBOR items, in the entry's name order
//! [failure] [stack]          CBOR text items, with flags 4 and 8
//! ```

use super::sites::Table;
use crate::event::Event;
use crate::flogfile::record_num;
use crate::flogfile::{
    encode_text, encode_value, item_end, record_from_parts, Middle, RecordParts,
};
use crate::time::Timestamp;
use crate::value::Value;

/// The first byte of a compact record.
const COMPACT: u8 = 0x00;
const PARENT: u8 = 1;
const IS_ERROR: u8 = 2;
const FAILURE: u8 = 4;
const STACK: u8 = 8;

#[inline(always)]
fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push(n as u8 | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn varint(bytes: &[u8], at: &mut usize) -> Option<u64> {
    let mut n = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *bytes.get(*at)?;
        *at += 1;
        n |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Some(n);
        }
    }
    None
}

/// What a compact record holds: an event's own parts, without its
/// constant ones (those are entry `site` of the dictionary). Made from an
/// [`Event`], or straight from a `msg!` call's values with no `Event` built.
#[derive(Debug)]
pub(crate) struct Parts<'a> {
    pub(crate) num: u64,
    pub(crate) time: Timestamp,
    pub(crate) site: u32,
    pub(crate) parent: Option<u64>,
    pub(crate) is_error: bool,
    pub(crate) failure: Option<&'a str>,
    pub(crate) stack: Option<&'a str>,
}

/// Appends the compact record of `event`, whose constant parts are entry
/// `site` of the dictionary.
#[inline(always)]
pub(super) fn encode(event: &Event, site: u32, out: &mut Vec<u8>) {
    let parts = Parts {
        num: event.num,
        time: event.time,
        site,
        parent: event.parent,
        is_error: event.is_error,
        failure: event.failure.as_deref(),
        stack: event.stack.as_deref(),
    };
    encode_parts(&parts, event.fields.iter().map(|(_, v)| v), out);
}

/// Appends the compact record of `parts` and `values` (in the entry's name
/// order).
#[inline(always)]
pub(super) fn encode_parts<'v>(
    parts: &Parts<'_>,
    values: impl ExactSizeIterator<Item = &'v Value>,
    out: &mut Vec<u8>,
) {
    out.reserve(32 + 8 * values.len());
    out.push(COMPACT);
    put_varint(out, parts.num);
    put_varint(out, u64::from(parts.site));
    let t = parts.time.0;
    put_varint(out, ((t << 1) ^ (t >> 63)) as u64);
    let flags = if parts.parent.is_some() { PARENT } else { 0 }
        | if parts.is_error { IS_ERROR } else { 0 }
        | if parts.failure.is_some() { FAILURE } else { 0 }
        | if parts.stack.is_some() { STACK } else { 0 };
    out.push(flags);
    if let Some(parent) = parts.parent {
        put_varint(out, parent);
    }
    put_varint(out, values.len() as u64);
    for value in values {
        encode_value(value, out);
    }
    for s in [parts.failure, parts.stack].into_iter().flatten() {
        encode_text(s, out);
    }
}

/// The `num` of a record a ring holds, compact or whole.
pub(super) fn num(record: &[u8]) -> u64 {
    match record.first() {
        Some(&COMPACT) => varint(record, &mut 1).unwrap_or(0),
        _ => record_num(record),
    }
}

/// Whether `record` is a compact one (else a whole flogfile record).
pub(super) fn is_compact(record: &[u8]) -> bool {
    record.first() == Some(&COMPACT)
}

/// Expands compact records into flogfile records, with the middle of each
/// entry's records made once (see [`Middle`]).
#[derive(Debug)]
pub(super) struct Expander<'a> {
    table: &'a Table,
    middles: Vec<Option<Middle>>,
}

impl<'a> Expander<'a> {
    pub(super) fn new(table: &'a Table) -> Expander<'a> {
        Expander {
            table,
            middles: Vec::new(),
        }
    }

    /// Appends the flogfile record of the compact `record` to `out`, the
    /// bytes [`event_record`](crate::flogfile::event_record) gives for the
    /// event. False, with `out` as it was, when `record` does not read as
    /// one with an entry in the table (it always does when the buffers
    /// wrote it).
    pub(super) fn expand(&mut self, record: &[u8], out: &mut Vec<u8>) -> bool {
        let start = out.len();
        let done = self.expand_into(record, out).is_some();
        if !done {
            out.truncate(start);
        }
        done
    }

    fn expand_into(&mut self, record: &[u8], out: &mut Vec<u8>) -> Option<()> {
        let mut at = 1;
        let num = varint(record, &mut at)?;
        let id = usize::try_from(varint(record, &mut at)?).ok()?;
        let site = self.table.get(u32::try_from(id).ok()?)?;
        let zigzag = varint(record, &mut at)?;
        let time = (zigzag >> 1) as i64 ^ -((zigzag & 1) as i64);
        let flags = *record.get(at)?;
        at += 1;
        let parent = match flags & PARENT {
            0 => None,
            _ => Some(varint(record, &mut at)?),
        };
        let count = varint(record, &mut at)?;
        if count != site.names().len() as u64 {
            return None;
        }
        // Values are found in a first pass, so that the record is written
        // in one go below.
        let mut values = smallvec::SmallVec::<[(usize, usize); 8]>::new();
        for _ in 0..count {
            let end = item_end(record, at)?;
            values.push((at, end));
            at = end;
        }
        let mut text_item = |present: bool| -> Option<Option<&[u8]>> {
            if !present {
                return Some(None);
            }
            let end = item_end(record, at)?;
            let item = &record[at..end];
            at = end;
            Some(Some(item))
        };
        let failure = text_item(flags & FAILURE != 0)?;
        let stack = text_item(flags & STACK != 0)?;
        if at != record.len() {
            return None;
        }
        if self.middles.len() <= id {
            self.middles.resize_with(id + 1, || None);
        }
        let incarnation = &self.table.incarnation;
        let middle = self.middles[id].get_or_insert_with(|| {
            Middle::new(
                incarnation,
                site.level,
                site.facility(),
                site.is_format,
                site.text(),
                site.names().len(),
            )
        });
        let parts = RecordParts {
            num,
            time,
            middle,
            parent,
            is_error: flags & IS_ERROR != 0,
            failure,
            stack,
        };
        let fields = site.names().zip(values.iter().map(|&(s, e)| &record[s..e]));
        record_from_parts(&parts, fields, out);
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;
    use crate::buffer::sites::{next_id, Sites};
    use crate::callsite::Callsite;
    use crate::event::Text;
    use crate::flogfile::{event_record, Limits};
    use crate::incarnation::Incarnation;
    use crate::level::Level;
    use crate::time::Timestamp;
    use crate::value::Value;

    fn leaked(s: String) -> &'static str {
        Box::leak(s.into_boxed_str())
    }

    /// Events of every shape a call site makes: with and without a facility,
    /// fields (none, nested, long, bytes), parent, error, failure, stack,
    /// negative and large times and numbers.
    fn events() -> Vec<Event> {
        let long = leaked("é".repeat(3000));
        let mut out = Vec::new();
        for (i, shape) in (0..8u64).enumerate() {
            let mut e = Event {
                num: [0, 1, 127, 128, 300, 1 << 40, u64::MAX, 5][i],
                time: Timestamp(
                    [
                        0,
                        -1,
                        1_764_590_000_123_456,
                        i64::MIN,
                        i64::MAX,
                        7,
                        -86_400,
                        3,
                    ][i],
                ),
                level: Level([10, 20, 23, 30, 40, 255, 1, 28][i]),
                facility: (shape % 3 != 0).then_some(Cow::Borrowed(["app.db", "x", long][i % 3])),
                text: if shape == 7 {
                    Text::Message(Cow::Borrowed("plain {not a field}"))
                } else {
                    Text::Format(Cow::Borrowed("checked out {conn} after {waited_us} us"))
                },
                parent: (shape % 2 == 1).then_some(shape * 1000),
                is_error: shape % 4 == 2,
                failure: (shape == 3).then(|| "io: reset\ncaused by: eof".to_owned()),
                stack: (shape == 5).then(|| long.to_owned()),
                ..Event::default()
            };
            if shape > 0 {
                e.fields
                    .push(("conn".into(), Value::UInt(shape * 1_000_003)));
                e.fields.push(("waited_us".into(), Value::Int(-17)));
            }
            if shape > 3 {
                e.fields
                    .push(("pool".into(), Value::Text(Cow::Borrowed(long))));
                e.fields.push(("ok".into(), Value::Bool(true)));
                e.fields.push(("ratio".into(), Value::Float(0.1)));
                e.fields.push(("raw".into(), Value::Bytes(vec![7; 5000])));
                e.fields.push((
                    "nested".into(),
                    Value::Map(vec![(
                        "a".into(),
                        Value::List(vec![Value::Null, Value::Float(1.5), "x".into()]),
                    )]),
                ));
            }
            out.push(e);
        }
        out
    }

    /// A dump of a compact record is byte for byte the record of the whole
    /// event, for every shape, with and without a sequential incarnation.
    #[test]
    fn an_expanded_record_is_the_whole_events_record() {
        for sequential in [None, Some(0), Some(300)] {
            let incarnation = Incarnation {
                unique: [1, 2, 3, 4, 5, 6, 7, 8],
                sequential,
            };
            let sites = Sites::new(next_id(), incarnation, 1 << 20, None);
            for mut event in events() {
                event.incarnation = incarnation;
                let callsite: &'static Callsite = Box::leak(Box::new(Callsite::new(true)));
                let site = sites.resolve(callsite, &event).expect("interned");
                assert_eq!(sites.resolve(callsite, &event), Some(site), "cached");
                let mut compact = Vec::new();
                encode(&event, site, &mut compact);
                assert!(is_compact(&compact));
                assert_eq!(num(&compact), event.num);
                let mut expanded = Vec::new();
                assert!(Expander::new(&sites.table()).expand(&compact, &mut expanded));
                let mut whole = Vec::new();
                event_record(&event, &Limits::BUFFERED, &mut whole).unwrap();
                assert_eq!(expanded, whole, "{event:?}");
                assert!(compact.len() < whole.len());
            }
        }
    }

    /// A record that does not read as one (cut short, or naming an entry
    /// the dictionary does not have) expands to nothing, and leaves the
    /// output as it was.
    #[test]
    fn a_cut_or_foreign_record_expands_to_nothing() {
        let sites = Sites::new(next_id(), Incarnation::default(), 1 << 20, None);
        let other = Sites::new(next_id(), Incarnation::default(), 1 << 20, None);
        let event = &events()[4];
        let callsite: &'static Callsite = Box::leak(Box::new(Callsite::new(true)));
        let site = sites.resolve(callsite, event).unwrap();
        let mut compact = Vec::new();
        encode(event, site, &mut compact);
        let mut out = b"kept".to_vec();
        for cut in 0..compact.len() {
            assert!(
                !Expander::new(&sites.table()).expand(&compact[..cut], &mut out),
                "{cut}"
            );
        }
        assert!(!Expander::new(&other.table()).expand(&compact, &mut out));
        assert_eq!(out, b"kept");
    }
}
