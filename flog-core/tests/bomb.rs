//! Decompression bombs: a few hundred bytes of bzip2 whose header holds an
//! unknown key with a byte string of hundreds of MiB. Readers refuse the
//! record before allocating what it declares.
//!
//! The bombs in `fuzz/seeds/flogfile` (also used by flogtool's and the
//! gatherer's tests) are written by `write_the_bomb_seeds` below:
//! `cargo test -p flog-core --test bomb -- --ignored write_the_bomb_seeds`.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use flog_core::flogfile::{
    read_flogfile, read_trigger, FlogReader, ReadError, MAGIC, MAX_RECORD_BYTES, MAX_RECORD_DEPTH,
};

const MIB: u64 = 1024 * 1024;

/// A CBOR head: major type and argument, in the 8-byte form for big ones.
fn head(major: u8, n: u64) -> Vec<u8> {
    match n {
        0..=23 => vec![major << 5 | n as u8],
        _ => {
            let mut out = vec![major << 5 | 27];
            out.extend_from_slice(&n.to_be_bytes());
            out
        }
    }
}

fn text(s: &str) -> Vec<u8> {
    let mut out = head(3, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
    out
}

/// The file up to the bomb's payload: the magic line, then a header record
/// `["header", {"type": "incident", "zzz": h'00 00 ...'}]` whose unknown
/// key `zzz` declares a byte string of `payload` bytes.
fn bomb_head(payload: u64) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.extend(head(4, 2));
    out.extend(text("header"));
    out.extend(head(5, 2));
    out.extend(text("type"));
    out.extend(text("incident"));
    out.extend(text("zzz"));
    out.extend(head(2, payload));
    out
}

fn bzip(parts: impl IntoIterator<Item = Vec<u8>>) -> Vec<u8> {
    let mut enc = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::best());
    for part in parts {
        enc.write_all(&part).unwrap();
    }
    enc.finish().unwrap()
}

/// A bomb whose payload is `chunks` of 64 MiB of zeros. Quick to make: the
/// chunk is compressed once and its stream repeated (readers decode
/// concatenated bzip2 streams as one).
fn quick_bomb(chunks: u64) -> Vec<u8> {
    static CHUNK: OnceLock<Vec<u8>> = OnceLock::new();
    let chunk = CHUNK.get_or_init(|| bzip([vec![0; 64 * MIB as usize]]));
    let mut out = bzip([bomb_head(chunks * 64 * MIB)]);
    for _ in 0..chunks {
        out.extend_from_slice(chunk);
    }
    out
}

fn seed(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/seeds/flogfile")
        .join(name)
}

fn refused(result: Result<impl std::fmt::Debug, ReadError>) -> ReadError {
    match result {
        Err(e @ ReadError::RecordTooLarge { records: 0, limit }) if limit == MAX_RECORD_BYTES => e,
        other => panic!("expected the header to be refused as too large, got {other:?}"),
    }
}

#[test]
fn bombs_are_refused_as_too_large_records_by_every_reader() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = vec![seed("bomb-1gib.flog.bz2"), seed("bomb-256mib.flog.bz2")];
    for chunks in [4, 16] {
        let path = dir.path().join(format!("quick-{chunks}.flog.bz2"));
        std::fs::write(&path, quick_bomb(chunks)).unwrap();
        files.push(path);
    }
    for path in &files {
        let size = std::fs::metadata(path).unwrap().len();
        assert!(size < 2048, "{}: {size} bytes", path.display());
        let mut reader = FlogReader::open(path).unwrap();
        let error = refused(reader.next_record());
        assert_eq!(
            error.to_string(),
            format!("flogfile is corrupt at record 1: the record is larger than the limit of {MAX_RECORD_BYTES} bytes")
        );
        assert!(!error.is_truncated());
        assert!(
            reader.next_record().unwrap().is_none(),
            "nothing after the error"
        );
        refused(read_trigger(path));
        let contents = read_flogfile(path).unwrap();
        assert!(contents.header.is_none() && contents.events.is_empty());
        refused(contents.damage.map_or(Ok(()), Err));
    }
}

#[test]
fn the_seeds_are_real_bombs() {
    // The smaller one, decompressed in full: it holds what its header declares.
    let path = seed("bomb-256mib.flog.bz2");
    let file = std::fs::File::open(&path).unwrap();
    let mut plain = bzip2::read::MultiBzDecoder::new(file);
    let expected = bomb_head(256 * MIB);
    let mut start = vec![0; expected.len()];
    plain.read_exact(&mut start).unwrap();
    assert_eq!(start, expected);
    let rest = std::io::copy(&mut plain, &mut std::io::sink()).unwrap();
    assert_eq!(rest, 256 * MIB);
    assert!(std::fs::metadata(&path).unwrap().len() < 400);
}

#[test]
fn records_within_the_limits_still_read_and_deeper_ones_are_refused() {
    use flog_core::{
        flogfile::{FlogWriter, Header},
        Event, Value,
    };
    let dir = tempfile::tempdir().unwrap();
    // A big but honest event, and an unknown key of 4 MiB: read, skipped.
    let big = Event {
        num: 1,
        fields: [("blob".into(), Value::Bytes(vec![7; 4 * MIB as usize]))]
            .into_iter()
            .collect(),
        ..Event::default()
    };
    let mut w = FlogWriter::new(Vec::new(), &Header::default()).unwrap();
    w.write_event(&big).unwrap();
    let mut bytes = w.into_inner().unwrap();
    bytes.extend(head(4, 2));
    bytes.extend(text("event"));
    bytes.extend(head(5, 2));
    bytes.extend(text("num"));
    bytes.extend(head(0, 2));
    bytes.extend(text("zzz"));
    bytes.extend(head(2, 4 * MIB));
    bytes.extend(vec![0; 4 * MIB as usize]);
    let path = dir.path().join("big.flog");
    std::fs::write(&path, &bytes).unwrap();
    let c = read_flogfile(&path).unwrap();
    assert!(c.damage.is_none(), "{:?}", c.damage);
    assert_eq!(c.events.len(), 2);
    assert_eq!(c.events[0], big);
    assert_eq!(c.events[1].num, 2);

    // Nesting past the limit, in a field value: refused without recursing.
    let mut deep = MAGIC.to_vec();
    deep.extend(head(4, 2));
    deep.extend(text("event"));
    deep.extend(vec![0x81; 100_000]);
    deep.push(0);
    let path = dir.path().join("deep.flog");
    std::fs::write(&path, &deep).unwrap();
    let mut reader = FlogReader::open(&path).unwrap();
    match reader.next_record() {
        Err(e @ ReadError::RecordTooDeep { records: 0, limit }) => {
            assert_eq!(limit, MAX_RECORD_DEPTH);
            assert!(e.to_string().contains("nests deeper"), "{e}");
        }
        other => panic!("expected too deep, got {other:?}"),
    }
}

/// Writes the bomb seeds: each one bzip2 stream, as an attacker would make
/// them (about a minute: it compresses 1.25 GiB).
#[test]
#[ignore = "writes fuzz/seeds/flogfile/bomb-*.flog.bz2"]
fn write_the_bomb_seeds() {
    for (name, payload) in [
        ("bomb-1gib.flog.bz2", 1024 * MIB),
        ("bomb-256mib.flog.bz2", 256 * MIB),
    ] {
        let zeros = (0..payload / (64 * MIB)).map(|_| vec![0; 64 * MIB as usize]);
        let bytes = bzip(std::iter::once(bomb_head(payload)).chain(zeros));
        std::fs::write(seed(name), &bytes).unwrap();
        eprintln!("{name}: {} bytes", bytes.len());
    }
}
