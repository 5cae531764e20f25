//! The flogfile reader and writer over real files, including damaged ones.

use std::fs;
use std::io::Write;

use flog_core::{
    flogfile::{
        read_flogfile, FileKind, FlogReader, FlogWriter, Header, ReadError, Record, Trailer,
    },
    Event, Level, Text,
};
use proptest::prelude::*;

fn sample(n: u64) -> Event {
    Event {
        num: n,
        level: Level::CURIOUS,
        facility: Some("app.x".into()),
        text: Text::Format("value {v}".into()),
        fields: [("v".into(), (n as i64).into())].into_iter().collect(),
        ..Event::default()
    }
}

fn write_sample(events: u64) -> Vec<u8> {
    let header = Header {
        kind: flog_core::flogfile::HeaderKind::Incident.into(),
        name: Some("incident-x".into()),
        trigger: Some(sample(0)),
        ..Header::default()
    };
    let mut w = FlogWriter::new(Vec::new(), &header).unwrap();
    for n in 0..events {
        w.write_event(&sample(n)).unwrap();
    }
    w.write_trailer(&Trailer {
        triggers: vec![0],
        end: Some(flog_core::flogfile::EndReason::Immediate),
        ..Trailer::default()
    })
    .unwrap();
    w.into_inner().unwrap()
}

fn bzip(data: &[u8]) -> Vec<u8> {
    let mut enc = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

#[test]
fn plain_and_compressed_files_read_the_same_whatever_their_name() {
    let dir = tempfile::tempdir().unwrap();
    let plain = write_sample(10);
    fs::write(dir.path().join("a.flog"), &plain).unwrap();
    // Compressed but named .flog: detected by signature.
    fs::write(dir.path().join("b.flog"), bzip(&plain)).unwrap();
    for name in ["a.flog", "b.flog"] {
        let c = read_flogfile(&dir.path().join(name)).unwrap();
        assert!(c.damage.is_none());
        assert_eq!(c.header.unwrap().name.as_deref(), Some("incident-x"));
        assert_eq!(c.events.len(), 10);
        assert_eq!(c.events[3].render(), "value 3");
        assert_eq!(
            c.trailer.unwrap().end,
            Some(flog_core::flogfile::EndReason::Immediate)
        );
    }
    assert!(FlogReader::open(&dir.path().join("b.flog"))
        .unwrap()
        .is_compressed());
}

#[test]
fn files_without_header_and_unknown_records_read() {
    let mut w = FlogWriter::without_header(Vec::new()).unwrap();
    w.write_event(&sample(1)).unwrap();
    let mut bytes = w.into_inner().unwrap();
    // A record type from a future version, with an extra element.
    ciborium::into_writer(
        &ciborium::Value::Array(vec!["hologram".into(), 1.into(), 2.into()]),
        &mut bytes,
    )
    .unwrap();
    let mut w = FlogWriter::append_to(bytes);
    w.write_event(&sample(2)).unwrap();
    let bytes = w.into_inner().unwrap();
    let records: Vec<Record> = FlogReader::new(std::io::Cursor::new(bytes))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(
        matches!(&records[..], [Record::Event(_), Record::Unknown(k), Record::Event(_)] if k == "hologram")
    );
}

#[test]
fn truncated_files_give_what_they_hold_and_say_so() {
    let plain = write_sample(20);
    for cut in [plain.len() - 1, plain.len() - 7, plain.len() / 2] {
        let mut reader = FlogReader::new(std::io::Cursor::new(plain[..cut].to_vec())).unwrap();
        let mut events = 0;
        let err = loop {
            match reader.next_record() {
                Ok(Some(Record::Event(_))) => events += 1,
                Ok(Some(_)) => {}
                Ok(None) => panic!("a truncated file must not end cleanly"),
                Err(e) => break e,
            }
        };
        assert!(err.is_truncated(), "{err}");
        assert!(events > 0 || cut < 100);
        assert!(
            reader.next_record().unwrap().is_none(),
            "ends after the error"
        );
    }
    // Compressed and truncated.
    let compressed = bzip(&plain);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.flog.bz2");
    fs::write(&path, &compressed[..compressed.len() - 20]).unwrap();
    let c = read_flogfile(&path).unwrap();
    let damage = c.damage.expect("damage is reported");
    assert!(damage.is_truncated(), "{damage}");
    // bzip2 loses the whole block a cut falls in; a small file is one block.
    assert!(c.events.is_empty());
}

#[test]
fn a_cut_file_says_where_its_last_complete_record_ends() {
    let plain = write_sample(20);
    // The whole file: every byte is in a complete record.
    let mut reader = FlogReader::new(std::io::Cursor::new(plain.clone())).unwrap();
    assert_eq!(
        reader.complete_bytes(),
        flog_core::flogfile::MAGIC.len() as u64
    );
    while reader.next_record().unwrap().is_some() {}
    assert_eq!(reader.complete_bytes(), plain.len() as u64);
    for cut in [plain.len() - 1, plain.len() / 2, 40] {
        let mut reader = FlogReader::new(std::io::Cursor::new(plain[..cut].to_vec())).unwrap();
        while let Ok(Some(_)) = reader.next_record() {}
        let end = reader.complete_bytes() as usize;
        assert!(end <= cut, "{end} past the cut at {cut}");
        // Cut there, the file reads to its end cleanly, with the same records.
        let records = reader.records_read();
        let again = FlogReader::new(std::io::Cursor::new(plain[..end].to_vec())).unwrap();
        let read: Vec<Record> = again.collect::<Result<_, _>>().unwrap();
        assert_eq!(read.len() as u64, records, "cut at {cut}");
    }
}

#[test]
fn non_flogfiles_are_rejected_saying_what_they_look_like() {
    let cases: [(&[u8], &str); 9] = [
        (b"", "empty"),
        (
            b"# foolscap flogfile v1\n{\"header\": {}}\n",
            "foolscap JSON flogfile",
        ),
        (b"\x80\x02}q\x00(U\x04type", "Python pickle"),
        (b"pb://abc@127.0.0.1:1234/xyz", "FURL"),
        (b"flogs://KEY@127.0.0.1:1234/p/s", "logport URL"),
        (b"flog+insecure://127.0.0.1:1234/p/s", "logport URL"),
        (
            b"hello world, this is text\n",
            "text starting \"hello world",
        ),
        (b"\x1f\x8b\x08\x00\x00", "gzip"),
        (
            b"\x00\x01\x02\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8\xf7\xf6\xf5\xf4\xf3\xf2\xf1\xf0",
            "binary data",
        ),
    ];
    for (bytes, want) in cases {
        let err = FlogReader::new(std::io::Cursor::new(bytes.to_vec())).unwrap_err();
        assert!(matches!(err, ReadError::NotFlogfile { .. }), "{err}");
        assert!(
            err.to_string().contains(want),
            "{err} should mention {want}"
        );
    }
    let err = FlogReader::new(std::io::Cursor::new(bzip(b"just text in bzip2 here"))).unwrap_err();
    assert!(err.to_string().contains("text starting"), "{err}");
    let err = read_flogfile(std::path::Path::new("/nonexistent/x.flog")).unwrap_err();
    assert!(
        err.to_string().contains("cannot open /nonexistent/x.flog"),
        "{err}"
    );
}

/// Callers that read other formats too decide by the typed kind, never by the
/// message's text.
#[test]
fn a_foolscap_file_is_told_apart_by_its_kind() {
    let kind = |bytes: Vec<u8>| match FlogReader::new(std::io::Cursor::new(bytes)) {
        Err(ReadError::NotFlogfile { kind, .. }) => kind,
        other => panic!("not refused as a non-flogfile: {other:?}"),
    };
    let foolscap = b"# foolscap flogfile v1\n{\"header\": {}}\n".to_vec();
    assert_eq!(kind(foolscap.clone()), FileKind::FoolscapJson);
    assert_eq!(kind(bzip(&foolscap)), FileKind::FoolscapJson, "compressed");
    assert_eq!(kind(b"pb://abc@127.0.0.1:1/x".to_vec()), FileKind::Unknown);
    assert_eq!(kind(b"hello\n".to_vec()), FileKind::Unknown);
    assert_eq!(kind(bzip(b"")), FileKind::Unknown);
    assert_eq!(
        flog_core::flogfile::file_kind(b"# flog flogfile v1\n"),
        FileKind::Flog
    );
    assert_eq!(flog_core::flogfile::file_kind(b"(dp0\n"), FileKind::Unknown);
}

#[test]
fn corrupt_record_is_an_error_not_a_panic() {
    let mut bytes = write_sample(3);
    // A well-formed CBOR item that is not a record.
    bytes.extend_from_slice(&[0xa1, 0x61, 0x61, 0x01]);
    let c = FlogContents_from(bytes);
    assert!(
        matches!(c.damage, Some(ReadError::Corrupt { .. })),
        "{:?}",
        c.damage
    );
    assert_eq!(c.events.len(), 3);
}

#[allow(non_snake_case)]
fn FlogContents_from(bytes: Vec<u8>) -> flog_core::flogfile::FlogContents {
    flog_core::flogfile::FlogContents::read_from(
        FlogReader::new(std::io::Cursor::new(bytes)).unwrap(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Mutated files never panic the reader: they read, or fail with an error.
    #[test]
    fn mutated_files_never_panic(
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
        compress in any::<bool>(),
    ) {
        let mut bytes = write_sample(5);
        if compress {
            bytes = bzip(&bytes);
        }
        for (at, value) in flips {
            let i = at.index(bytes.len());
            bytes[i] ^= value;
        }
        bytes.truncate(cut.index(bytes.len() + 1));
        if let Ok(reader) = FlogReader::new(std::io::Cursor::new(bytes)) {
            let c = flog_core::flogfile::FlogContents::read_from(reader);
            prop_assert!(c.events.len() <= 5 + 1);
        }
    }
}

/// Found by the AFL++ harness (fuzz/): nested map keys made the reader render
/// keys inside keys, each level quoting the one below, growing exponentially.
#[test]
fn nested_map_keys_are_refused_not_rendered_exponentially() {
    let fuzzed = include_bytes!("data/fuzz-nested-keys.flog");
    let c = FlogContents_from(fuzzed.to_vec());
    assert!(c.damage.is_some(), "the fuzzed file is damaged");

    // The same shape built by hand, 64 levels deep.
    let mut key = ciborium::Value::Text("\"".into());
    for _ in 0..64 {
        key = ciborium::Value::Map(vec![(key, ciborium::Value::Null)]);
    }
    let body = ciborium::Value::Map(vec![
        ("num".into(), 1.into()),
        ("fields".into(), ciborium::Value::Map(vec![(key, 1.into())])),
    ]);
    let mut bytes = FlogWriter::without_header(Vec::new())
        .unwrap()
        .into_inner()
        .unwrap();
    ciborium::into_writer(
        &ciborium::Value::Array(vec!["event".into(), body]),
        &mut bytes,
    )
    .unwrap();
    let c = FlogContents_from(bytes);
    assert!(
        matches!(c.damage, Some(ReadError::Corrupt { .. })),
        "{:?}",
        c.damage
    );
}
