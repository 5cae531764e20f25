//! `FoolscapReader`: a foolscap file line by line, with each line's raw text
//! and what the wrapper says about the event's receipt.

use std::io::Write;

use flog_core::Timestamp;
use flog_foolscap::{FoolscapError, FoolscapReader, FoolscapRecord, MAX_LINE_BYTES};

/// Laid out as foolscap's gatherer writes a file: wrappers with `from` and
/// `rx_time`, one without them, and a line of a kind this reader does not know.
const GATHERED: &str = concat!(
    "# foolscap flogfile v1\n",
    "{\"header\": {\"type\": \"gatherer\", \"start\": 1700000000.0}}\n",
    "{\"from\": \"abcdefghijklmnop\", \"rx_time\": 1700000000.75, \"d\": {\"num\": 1, \"time\": 1700000000.5, \"level\": 20, \"message\": \"one\"}}\n",
    "\n",
    "{\"d\": {\"num\": 2, \"time\": 1700000001.0, \"level\": 30, \"message\": \"two\"}}\n",
    "{\"something\": \"else\"}\n",
);

fn bzip(data: &[u8]) -> Vec<u8> {
    let mut enc = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

#[test]
fn records_come_with_their_lines_and_receipts() {
    for (bytes, compressed) in [
        (GATHERED.as_bytes().to_vec(), false),
        (bzip(GATHERED.as_bytes()), true),
    ] {
        let mut reader = FoolscapReader::new(std::io::Cursor::new(bytes)).unwrap();
        assert_eq!(reader.is_compressed(), compressed);
        let lines: Vec<&str> = GATHERED.split_inclusive('\n').collect();

        let Some(FoolscapRecord::Header(header)) = reader.next_record().unwrap() else {
            panic!("the header first");
        };
        assert_eq!(header.kind, Some(flog_core::flogfile::HeaderKind::Gathered));
        assert_eq!(reader.line(), lines[1]);

        let Some(FoolscapRecord::Event(first)) = reader.next_record().unwrap() else {
            panic!("an event");
        };
        assert_eq!(first.event.render(), "one");
        assert_eq!(first.event.time, Timestamp(1_700_000_000_500_000));
        assert_eq!(first.rx_time, Some(Timestamp(1_700_000_000_750_000)));
        assert_eq!(first.from.as_deref(), Some("abcdefghijklmnop"));
        assert_eq!(reader.line(), lines[2]);

        let Some(FoolscapRecord::Event(second)) = reader.next_record().unwrap() else {
            panic!("an event after the blank line");
        };
        assert_eq!((second.rx_time, second.from), (None, None));
        assert_eq!(reader.line(), lines[4]);

        assert!(matches!(
            reader.next_record().unwrap(),
            Some(FoolscapRecord::Unknown)
        ));
        assert_eq!(reader.line(), lines[5]);
        assert!(reader.next_record().unwrap().is_none());
        assert_eq!(reader.records_read(), 4);
    }
}

#[test]
fn a_cut_compressed_file_gives_what_came_before() {
    // Enough incompressible-ish events to span several bzip2 blocks, so a cut
    // in the last one leaves the first ones readable.
    let mut text = String::from("# foolscap flogfile v1\n");
    for i in 0..40_000u64 {
        let noise = i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        text.push_str(&format!(
            "{{\"d\": {{\"num\": {i}, \"time\": 1.0, \"message\": \"{noise:x}\"}}}}\n"
        ));
    }
    let compressed = bzip(text.as_bytes());
    let cut = compressed[..compressed.len() - 100].to_vec();
    let contents = flog_foolscap::read(std::io::Cursor::new(cut)).unwrap();
    assert!(!contents.events.is_empty(), "the first blocks are read");
    assert!(contents.events.len() < 40_000);
    let damage = contents.damage.expect("the cut is reported");
    assert!(damage.is_truncated(), "{damage}");
}

#[test]
fn an_endless_line_is_refused_not_held() {
    let mut bytes = b"# foolscap flogfile v1\n{\"d\": {\"num\": 1}}\n".to_vec();
    bytes.extend(std::iter::repeat_n(b'x', MAX_LINE_BYTES + 10));
    bytes.push(b'\n');
    let contents = flog_foolscap::read(std::io::Cursor::new(bytes)).unwrap();
    assert_eq!(contents.events.len(), 1);
    let damage = contents.damage.expect("the long line is damage");
    assert!(!damage.is_truncated());
    assert!(damage.to_string().contains("longer than"), "{damage}");
}

#[test]
fn what_is_not_a_foolscap_file_is_refused_at_once() {
    let err = FoolscapReader::new(&b"(dp0\nS'header'\n"[..]).unwrap_err();
    assert!(matches!(err, FoolscapError::Pickle), "{err}");
    let err = FoolscapReader::new(&b"pb://abc@127.0.0.1:1/x"[..]).unwrap_err();
    assert!(matches!(err, FoolscapError::Furl), "{err}");
    let err = FoolscapReader::new(&b"# flog flogfile v1\n"[..]).unwrap_err();
    assert!(matches!(err, FoolscapError::NotFoolscap(_)), "{err}");
}
