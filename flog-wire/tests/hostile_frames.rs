//! Frame bodies that declare far more than they hold, decoded in a child
//! process whose address space is limited: a decoder that believed a
//! declared length and allocated it would abort the child.

use std::process::Command;

use bytes::BytesMut;
use flog_wire::{Decoded, FlogCodec};
use tokio_util::codec::Decoder;

const CHILD: &str = "FLOG_WIRE_LIMITED_CHILD";

/// `{"request": {"id": 3, "op": "ping", "junk": <item>}}` with `item` raw.
fn ping_with_junk(item: &[u8]) -> Vec<u8> {
    let mut body = vec![0xa1, 0x67];
    body.extend_from_slice(b"request");
    body.push(0xa3);
    body.extend_from_slice(&[0x62, b'i', b'd', 0x03]);
    body.extend_from_slice(&[0x62, b'o', b'p', 0x64]);
    body.extend_from_slice(b"ping");
    body.push(0x64);
    body.extend_from_slice(b"junk");
    body.extend_from_slice(item);
    body
}

/// `{"hello": {"versions": <versions>, "secret": <secret>, "client": "x"}}`
fn hello_with(versions: &[u8], secret: &[u8]) -> Vec<u8> {
    let mut body = vec![0xa1, 0x65];
    body.extend_from_slice(b"hello");
    body.push(0xa3);
    body.push(0x68);
    body.extend_from_slice(b"versions");
    body.extend_from_slice(versions);
    body.push(0x66);
    body.extend_from_slice(b"secret");
    body.extend_from_slice(secret);
    body.extend_from_slice(&[0x66, b'c', b'l', b'i', b'e', b'n', b't', 0x61, b'x']);
    body
}

const HUGE_BYTES: &[u8] = &[
    0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xf0, 1, 2, 3,
];
const HUGE_TEXT: &[u8] = &[0x7b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xf0, b'a'];
const HUGE_ARRAY: &[u8] = &[0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xf0, 0x01];
const HUGE_MAP: &[u8] = &[
    0xbb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xf0, 0x01, 0x01,
];

fn hostile_bodies() -> Vec<(&'static str, Vec<u8>)> {
    let mut nested = vec![0x81; 1_000_000];
    nested.push(0x00);
    let mut nested_maps = Vec::new();
    for _ in 0..500_000 {
        nested_maps.extend_from_slice(&[0xa1, 0x61, b'k']);
    }
    nested_maps.push(0x00);
    vec![
        (
            "unknown field: huge byte string",
            ping_with_junk(HUGE_BYTES),
        ),
        ("unknown field: huge text", ping_with_junk(HUGE_TEXT)),
        ("unknown field: huge array", ping_with_junk(HUGE_ARRAY)),
        ("unknown field: huge map", ping_with_junk(HUGE_MAP)),
        ("unknown field: nested arrays", ping_with_junk(&nested)),
        ("unknown field: nested maps", ping_with_junk(&nested_maps)),
        (
            "known field: huge versions list",
            hello_with(HUGE_ARRAY, &[0x61, b's']),
        ),
        (
            "known field: huge secret",
            hello_with(&[0x81, 0x01], HUGE_TEXT),
        ),
        (
            "known field: secret as huge bytes",
            hello_with(&[0x81, 0x01], HUGE_BYTES),
        ),
    ]
}

fn decode(body: &[u8]) -> Decoded {
    let mut buf = BytesMut::from(&(body.len() as u32).to_be_bytes()[..]);
    buf.extend_from_slice(body);
    let mut codec = FlogCodec::new();
    codec
        .decode(&mut buf)
        .expect("a body within the frame limit is framed")
        .expect("the whole frame is buffered")
}

fn vm_size() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmSize:")).unwrap();
    line.split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<u64>()
        .unwrap()
        * 1024
}

/// Runs in the child: limits the address space to what the process uses
/// plus 512 MiB, checks the limit bites, then decodes every hostile body.
fn decode_under_a_memory_limit() {
    use rustix::process::{setrlimit, Resource, Rlimit};
    let limit = vm_size() + 512 * 1024 * 1024;
    setrlimit(
        Resource::As,
        Rlimit {
            current: Some(limit),
            maximum: Some(limit),
        },
    )
    .unwrap();
    let mut probe: Vec<u8> = Vec::new();
    assert!(
        probe.try_reserve(1 << 30).is_err(),
        "the limit must stop a 1 GiB allocation"
    );
    for (what, body) in hostile_bodies() {
        match decode(&body) {
            Decoded::Malformed { error, .. } => println!("{what}: malformed: {error}"),
            Decoded::Message(m) => panic!("{what}: decoded as {m:?}"),
        }
    }
}

#[test]
fn declared_lengths_and_depths_beyond_the_frame_are_malformed_and_never_allocated() {
    if std::env::var_os(CHILD).is_some() {
        decode_under_a_memory_limit();
        return;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "declared_lengths_and_depths_beyond_the_frame_are_malformed_and_never_allocated",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the child failed ({:?}):\n{stdout}\n{stderr}",
        out.status
    );
    assert!(stdout.contains("nested maps: malformed"), "{stdout}");
}
