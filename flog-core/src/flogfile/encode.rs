//! The event record's CBOR, written by hand: the buffers keep every event in
//! this form, so a dump copies bytes instead of encoding, and the flogfile
//! writer uses it too, so there is one encoding of an event record.
//!
//! The output is what the `Serialize` impls of `Event` and `RecordRef` give
//! through ciborium (the same keys, in the same order, with the shortest
//! integer heads), except that a float is written in 4 bytes when that is
//! exact and in 8 otherwise (ciborium also tries 2): both read back the same.
//! A general serde pass costs ~200-300 ns per event; this is a few dozen.

use std::borrow::Cow;

use crate::event::{Event, Text};
use crate::value::Value;

/// Bounds on what one encoded event may hold. Buffered events use
/// [`Limits::BUFFERED`]; files copy events whole ([`Limits::NONE`]).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// A text or byte string longer than this is cut, with a marker.
    pub(crate) value_bytes: usize,
    /// The encoding stops with [`TooLarge`] once it passes this.
    pub(crate) record_bytes: usize,
}

/// The longest text or byte string a buffered event keeps whole; see
/// `docs/flogfile.md` ("Buffered events").
pub const MAX_VALUE_BYTES: usize = 4096;

/// Values nested deeper than this are replaced by a marker: a reader refuses
/// records nested deeper than `MAX_RECORD_DEPTH` (128), and the record, its
/// body and the fields map take three levels.
const MAX_VALUE_DEPTH: usize = 120;

impl Limits {
    pub(crate) const NONE: Limits = Limits {
        value_bytes: usize::MAX,
        record_bytes: usize::MAX,
    };
    pub(crate) const BUFFERED: Limits = Limits {
        value_bytes: MAX_VALUE_BYTES,
        record_bytes: usize::MAX,
    };
}

/// The record passed [`Limits::record_bytes`]; the output holds a partial record.
#[derive(Debug)]
pub(crate) struct TooLarge;

pub(super) const UINT: u8 = 0;
const NEGATIVE: u8 = 1 << 5;
pub(super) const BYTES: u8 = 2 << 5;
pub(super) const TEXT: u8 = 3 << 5;
const ARRAY: u8 = 4 << 5;
pub(super) const MAP: u8 = 5 << 5;
const FALSE: u8 = 0xf4;
pub(super) const TRUE: u8 = 0xf5;
pub(super) const NULL: u8 = 0xf6;

/// Where in an event record its `num` is: `[` `"event"` `{` `"num"` come first.
pub(crate) const NUM_OFFSET: usize = 12;

/// Reads the `num` of an event record written by [`event_record`].
pub(crate) fn record_num(record: &[u8]) -> u64 {
    let Some(&head) = record.get(NUM_OFFSET) else {
        return 0;
    };
    let rest = &record[NUM_OFFSET + 1..];
    let be = |n: usize| {
        rest.get(..n).map_or(0, |b| {
            b.iter().fold(0u64, |acc, &x| (acc << 8) | u64::from(x))
        })
    };
    match head & 0x1f {
        n @ 0..=23 => u64::from(n),
        24 => be(1),
        25 => be(2),
        26 => be(4),
        _ => be(8),
    }
}

#[inline(always)]
pub(super) fn head(out: &mut Vec<u8>, major: u8, n: u64) {
    if n < 24 {
        out.push(major | n as u8);
    } else if n <= 0xff {
        out.extend_from_slice(&[major | 24, n as u8]);
    } else if n <= 0xffff {
        out.push(major | 25);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else if n <= 0xffff_ffff {
        out.push(major | 26);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    } else {
        out.push(major | 27);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

#[inline(always)]
pub(super) fn int(out: &mut Vec<u8>, i: i64) {
    if i >= 0 {
        head(out, UINT, i as u64);
    } else {
        head(out, NEGATIVE, !(i as u64));
    }
}

/// A short text (a key or a marker), never cut.
#[inline(always)]
pub(super) fn key(out: &mut Vec<u8>, k: &str) {
    head(out, TEXT, k.len() as u64);
    put(out, k.as_bytes());
}

#[inline(always)]
fn put(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(bytes);
}

/// A key known at compile time, head and all: `N` is a constant, so the copy
/// is a few moves rather than a call.
#[inline(always)]
pub(super) fn const_key<const N: usize>(out: &mut Vec<u8>, encoded: &[u8; N]) {
    out.extend_from_slice(encoded);
}

/// The encoded keys of an event body (each a text head and the name).
pub(super) const K_NUM: &[u8; 4] = b"\x63num";
pub(super) const K_TIME: &[u8; 5] = b"\x64time";
pub(super) const K_INC: &[u8; 4] = b"\x63inc";
pub(super) const K_INC_SEQ: &[u8; 8] = b"\x67inc_seq";
pub(super) const K_LEVEL: &[u8; 6] = b"\x65level";
pub(super) const K_FACILITY: &[u8; 9] = b"\x68facility";
pub(super) const K_MESSAGE: &[u8; 8] = b"\x67message";
pub(super) const K_FORMAT: &[u8; 7] = b"\x66format";
pub(super) const K_FIELDS: &[u8; 7] = b"\x66fields";
pub(super) const K_PARENT: &[u8; 7] = b"\x66parent";
pub(super) const K_IS_ERROR: &[u8; 9] = b"\x68is_error";
/// `[` and `"event"`: the start of every event record.
pub(super) const RECORD_START: &[u8; 7] = b"\x82\x65event";

/// Text, cut at a character boundary past `limit` bytes with a marker that
/// says how long it was.
pub(super) fn text(out: &mut Vec<u8>, s: &str, limit: usize) {
    if s.len() <= limit {
        return key(out, s);
    }
    let mut cut = limit;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    let marker = format!(" [flog: truncated, {} bytes in all]", s.len());
    head(out, TEXT, (cut + marker.len()) as u64);
    // Cold: past the limit.
    out.extend_from_slice(&s.as_bytes()[..cut]);
    out.extend_from_slice(marker.as_bytes());
}

fn float(out: &mut Vec<u8>, x: f64) {
    let narrow = x as f32;
    if f64::from(narrow).to_bits() == x.to_bits() {
        out.push(0xfa);
        out.extend_from_slice(&narrow.to_be_bytes());
    } else {
        out.push(0xfb);
        out.extend_from_slice(&x.to_be_bytes());
    }
}

pub(super) fn value(out: &mut Vec<u8>, v: &Value, limits: &Limits, depth: usize) {
    match v {
        Value::Null => out.push(NULL),
        Value::Bool(b) => out.push(if *b { TRUE } else { FALSE }),
        Value::Int(i) => int(out, *i),
        Value::UInt(u) => head(out, UINT, *u),
        Value::Float(x) => float(out, *x),
        Value::Text(s) => text(out, s, limits.value_bytes),
        // A byte string cannot carry a marker, so a long one becomes text
        // that says what it was and shows its start.
        Value::Bytes(b) if b.len() > limits.value_bytes => {
            let shown: String = b.iter().take(64).map(|x| format!("{x:02x}")).collect();
            let marker = format!("[flog: {} bytes, truncated] 0x{shown}", b.len());
            key(out, &marker);
        }
        Value::Bytes(b) => {
            head(out, BYTES, b.len() as u64);
            put(out, b);
        }
        _ if depth >= MAX_VALUE_DEPTH => key(out, "[flog: nested too deeply, dropped]"),
        Value::List(items) => {
            head(out, ARRAY, items.len() as u64);
            for item in items {
                value(out, item, limits, depth + 1);
            }
        }
        Value::Map(entries) => entries_map(out, entries, limits, depth + 1),
    }
}

fn entries_map(
    out: &mut Vec<u8>,
    entries: &[(Cow<'static, str>, Value)],
    limits: &Limits,
    depth: usize,
) {
    head(out, MAP, entries.len() as u64);
    for (k, v) in entries {
        text(out, k, limits.value_bytes);
        value(out, v, limits, depth);
    }
}

/// Appends the record `["event", {...}]` of `event` to `out`.
pub(crate) fn event_record(
    event: &Event,
    limits: &Limits,
    out: &mut Vec<u8>,
) -> Result<(), TooLarge> {
    let start = out.len();
    out.reserve(160);
    const_key(out, RECORD_START);
    event_body(event, limits, out);
    if out.len() - start > limits.record_bytes {
        return Err(TooLarge);
    }
    Ok(())
}

/// Appends the event body (the map) of `event` to `out`.
pub(crate) fn event_body(event: &Event, limits: &Limits, out: &mut Vec<u8>) {
    let len = 5
        + u64::from(event.incarnation.sequential.is_some())
        + u64::from(event.facility.is_some())
        + u64::from(!event.fields.is_empty())
        + u64::from(event.parent.is_some())
        + u64::from(event.is_error)
        + u64::from(event.failure.is_some())
        + u64::from(event.stack.is_some());
    head(out, MAP, len);
    const_key(out, K_NUM);
    head(out, UINT, event.num);
    const_key(out, K_TIME);
    int(out, event.time.0);
    const_key(out, K_INC);
    out.push(BYTES | 8);
    const_key(out, &event.incarnation.unique);
    if let Some(seq) = event.incarnation.sequential {
        const_key(out, K_INC_SEQ);
        head(out, UINT, seq);
    }
    const_key(out, K_LEVEL);
    head(out, UINT, u64::from(event.level.0));
    if let Some(fac) = &event.facility {
        const_key(out, K_FACILITY);
        text(out, fac, limits.value_bytes);
    }
    match &event.text {
        Text::Message(m) => {
            const_key(out, K_MESSAGE);
            text(out, m, limits.value_bytes);
        }
        Text::Format(f) => {
            const_key(out, K_FORMAT);
            text(out, f, limits.value_bytes);
        }
    }
    if !event.fields.is_empty() {
        const_key(out, K_FIELDS);
        entries_map(out, &event.fields, limits, 0);
    }
    if let Some(parent) = event.parent {
        const_key(out, K_PARENT);
        head(out, UINT, parent);
    }
    if event.is_error {
        const_key(out, K_IS_ERROR);
        out.push(TRUE);
    }
    for (k, s) in [("failure", &event.failure), ("stack", &event.stack)] {
        if let Some(s) = s {
            key(out, k);
            text(out, s, limits.value_bytes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flogfile::record::{Record, RecordRef};
    use crate::incarnation::Incarnation;
    use crate::level::Level;
    use crate::time::Timestamp;
    use proptest::prelude::*;

    fn via_serde(e: &Event) -> Vec<u8> {
        let mut out = Vec::new();
        ciborium::into_writer(&RecordRef("event", e), &mut out).unwrap();
        out
    }

    fn ours(e: &Event, limits: &Limits) -> Vec<u8> {
        let mut out = Vec::new();
        event_record(e, limits, &mut out).unwrap();
        out
    }

    fn decode(bytes: &[u8]) -> Event {
        match ciborium::from_reader::<Record, _>(bytes).unwrap() {
            Record::Event(e) => *e,
            other => panic!("not an event: {other:?}"),
        }
    }

    fn full_event() -> Event {
        Event {
            num: 1 << 40,
            time: Timestamp(-5),
            incarnation: Incarnation {
                unique: [9, 8, 7, 6, 5, 4, 3, 2],
                sequential: Some(300),
            },
            level: Level::WEIRD,
            facility: Some("app.db".into()),
            text: Text::Format("x={x} ü".into()),
            fields: [
                ("x".into(), Value::Int(-1000)),
                ("u".into(), Value::UInt(u64::MAX)),
                ("n".into(), Value::Null),
                ("b".into(), Value::Bool(false)),
                ("t".into(), "text".into()),
                ("by".into(), Value::Bytes(vec![0, 1, 255])),
                ("f".into(), Value::Float(0.1)),
                (
                    "l".into(),
                    Value::List(vec![1.into(), Value::Map(vec![("k".into(), 2.into())])]),
                ),
            ]
            .into_iter()
            .collect(),
            parent: Some(70_000),
            is_error: true,
            failure: Some("boom".into()),
            stack: Some("at main".into()),
        }
    }

    #[test]
    fn the_same_bytes_as_the_serde_encoding() {
        for e in [full_event(), Event::default()] {
            assert_eq!(ours(&e, &Limits::NONE), via_serde(&e));
            assert_eq!(record_num(&ours(&e, &Limits::NONE)), e.num);
        }
    }

    #[test]
    fn long_values_are_cut_with_a_marker_and_read_back() {
        let long = "€".repeat(2000); // 6000 bytes; 4096 is inside a character
        let e = Event {
            text: Text::Message(long.clone().into()),
            fields: [
                ("t".into(), Value::Text(long.clone().into())),
                ("b".into(), Value::Bytes(vec![7; 10_000])),
            ]
            .into_iter()
            .collect(),
            ..Event::default()
        };
        let back = decode(&ours(&e, &Limits::BUFFERED));
        let want = format!("{} [flog: truncated, 6000 bytes in all]", "€".repeat(1365));
        assert_eq!(back.raw_text(), want);
        assert_eq!(back.field("t"), Some(&Value::Text(want.into())));
        let Some(Value::Text(b)) = back.field("b") else {
            panic!("bytes not replaced by a marker: {:?}", back.field("b"));
        };
        assert!(
            b.starts_with("[flog: 10000 bytes, truncated] 0x0707"),
            "{b}"
        );
    }

    #[test]
    fn deep_nesting_is_cut_so_the_reader_accepts_the_record() {
        let mut v = Value::Null;
        for _ in 0..1000 {
            v = Value::List(vec![v]);
        }
        let e = Event {
            fields: [("deep".into(), v)].into_iter().collect(),
            ..Event::default()
        };
        let bytes = ours(&e, &Limits::NONE);
        let mut file = crate::flogfile::MAGIC.to_vec();
        file.extend_from_slice(&bytes);
        let mut reader = crate::flogfile::FlogReader::new(std::io::Cursor::new(file)).unwrap();
        let read = reader.next().unwrap();
        assert!(matches!(read, Ok(Record::Event(_))), "{read:?}");
    }

    #[test]
    fn a_record_past_its_limit_is_refused() {
        let limits = Limits {
            value_bytes: usize::MAX,
            record_bytes: 100,
        };
        let e = Event {
            text: Text::Message("x".repeat(200).into()),
            ..Event::default()
        };
        assert!(event_record(&e, &limits, &mut Vec::new()).is_err());
        assert!(event_record(&Event::default(), &limits, &mut Vec::new()).is_ok());
    }

    fn scalar() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::Int),
            any::<u64>().prop_map(|u| Value::Int(u as i64)),
            (i64::MAX as u64 + 1..=u64::MAX).prop_map(Value::UInt),
            any::<f64>()
                .prop_filter("NaN != NaN", |x| !x.is_nan())
                .prop_map(Value::Float),
            ".{0,40}".prop_map(|s| Value::Text(s.into())),
            proptest::collection::vec(any::<u8>(), 0..40).prop_map(Value::Bytes),
        ]
    }

    proptest! {
        #[test]
        fn any_event_reads_back_as_it_was(
            num in any::<u64>(),
            time in any::<i64>(),
            level in any::<u16>(),
            facility in proptest::option::of("[a-z.]{0,20}"),
            message in ".{0,60}",
            fields in proptest::collection::vec(("[a-z]{1,8}", scalar()), 0..8),
            parent in proptest::option::of(any::<u64>()),
            is_error in any::<bool>(),
            failure in proptest::option::of(".{0,20}"),
        ) {
            let e = Event {
                num,
                time: Timestamp(time),
                level: Level(level),
                facility: facility.map(Cow::Owned),
                text: Text::Message(message.into()),
                fields: fields.into_iter().map(|(k, v)| (k.into(), v)).collect(),
                parent,
                is_error,
                failure,
                ..Event::default()
            };
            let bytes = ours(&e, &Limits::BUFFERED);
            prop_assert_eq!(decode(&bytes), e.clone());
            prop_assert_eq!(record_num(&bytes), num);
            prop_assert_eq!(decode(&via_serde(&e)), e);
        }
    }
}
