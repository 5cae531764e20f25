//! Reading one CBOR data item within bounds, before any of it is decoded.
//!
//! A flogfile comes from outside: a hostile or damaged file must cost no more
//! memory than its records are allowed to take, whatever lengths it declares.
//! serde's decoders allocate what a length says before reading the bytes (a
//! key this reader ignores, holding a byte string of 1 GiB, is read whole),
//! so each record is first walked here, head by head, without recursion:
//! every length is checked against the record's budget before anything is
//! allocated for it, and nesting against a depth limit. The record's bytes,
//! within budget, are then decoded from memory.

use std::io::{self, BufRead};

/// Why a data item could not be read.
#[derive(Debug)]
pub(crate) enum ScanError {
    /// Reading the input failed (an early end is `UnexpectedEof`).
    Io(io::Error),
    /// The item is longer than the budget (possibly only by its declared lengths).
    TooLarge,
    /// The item nests deeper than allowed.
    TooDeep,
    /// Not well-formed CBOR.
    Malformed(&'static str),
}

impl From<io::Error> for ScanError {
    fn from(e: io::Error) -> Self {
        ScanError::Io(e)
    }
}

/// What is still to come in an open container.
enum Open {
    /// This many more items.
    Items(u64),
    /// Items until a break.
    Indefinite,
    /// Chunks of this major type (a byte or text string) until a break.
    Chunks(u8),
}

/// Reads one complete data item from `input` into `out` (cleared first), at
/// most `max_bytes` of it and `max_depth` levels of arrays, maps and tags.
pub(crate) fn read_item(
    input: &mut impl BufRead,
    out: &mut Vec<u8>,
    max_bytes: usize,
    max_depth: usize,
) -> Result<(), ScanError> {
    out.clear();
    let mut open: Vec<Open> = Vec::new();
    loop {
        let initial = take(input, out, 1, max_bytes)?[0];
        let (major, info) = (initial >> 5, initial & 0x1f);
        if initial == 0xff {
            match open.pop() {
                Some(Open::Indefinite | Open::Chunks(_)) => {
                    if done(&mut open) {
                        return Ok(());
                    }
                    continue;
                }
                _ => return Err(ScanError::Malformed("a break outside an indefinite item")),
            }
        }
        if let Some(Open::Chunks(of)) = open.last() {
            if major != *of || info == 31 {
                return Err(ScanError::Malformed("a bad chunk in an indefinite string"));
            }
        }
        let arg = argument(input, out, info, max_bytes)?;
        let nested = open_or_skip(input, out, major, arg, max_bytes)?;
        match nested {
            Some(o) => {
                if open.len() >= max_depth {
                    return Err(ScanError::TooDeep);
                }
                open.push(o);
            }
            None => {
                if done(&mut open) {
                    return Ok(());
                }
            }
        }
    }
}

/// The argument that follows an initial byte with additional information
/// `info`; `None` for an indefinite length.
fn argument(
    input: &mut impl BufRead,
    out: &mut Vec<u8>,
    info: u8,
    max_bytes: usize,
) -> Result<Option<u64>, ScanError> {
    match info {
        0..=23 => Ok(Some(u64::from(info))),
        24..=27 => {
            let width = 1 << (info - 24);
            let bytes = take(input, out, width, max_bytes)?;
            Ok(Some(bytes.iter().fold(0u64, |n, &b| n << 8 | u64::from(b))))
        }
        28..=30 => Err(ScanError::Malformed(
            "a reserved additional information value",
        )),
        _ => Ok(None),
    }
}

/// Reads the rest of an item of type `major` with argument `arg`: the bytes
/// of a string; for a container, what is still to come in it.
fn open_or_skip(
    input: &mut impl BufRead,
    out: &mut Vec<u8>,
    major: u8,
    arg: Option<u64>,
    max_bytes: usize,
) -> Result<Option<Open>, ScanError> {
    Ok(match (major, arg) {
        (0 | 1 | 7, Some(_)) => None,
        (2 | 3, Some(len)) => {
            let len = usize::try_from(len).map_err(|_| ScanError::TooLarge)?;
            take(input, out, len, max_bytes)?;
            None
        }
        (2 | 3, None) => Some(Open::Chunks(major)),
        (4 | 5, Some(n)) => {
            let items = if major == 5 {
                n.checked_mul(2)
            } else {
                Some(n)
            };
            // Every item takes a byte at least: refuse a count that cannot fit.
            match items {
                Some(0) => None,
                Some(items) if items <= (max_bytes - out.len()) as u64 => Some(Open::Items(items)),
                _ => return Err(ScanError::TooLarge),
            }
        }
        (4 | 5, None) => Some(Open::Indefinite),
        (6, Some(_)) => Some(Open::Items(1)),
        _ => {
            return Err(ScanError::Malformed(
                "an indefinite length where none is allowed",
            ))
        }
    })
}

/// Counts one finished item against the open containers, closing those it
/// completes; returns whether the outermost item is complete.
fn done(open: &mut Vec<Open>) -> bool {
    loop {
        match open.last_mut() {
            None => return true,
            Some(Open::Items(n)) => {
                *n -= 1;
                if *n > 0 {
                    return false;
                }
                open.pop();
            }
            Some(Open::Indefinite | Open::Chunks(_)) => return false,
        }
    }
}

/// Appends the next `n` bytes of `input` to `out`, refusing to go past
/// `max_bytes` before reading (or allocating) anything.
fn take<'o>(
    input: &mut impl BufRead,
    out: &'o mut Vec<u8>,
    n: usize,
    max_bytes: usize,
) -> Result<&'o [u8], ScanError> {
    let start = out.len();
    if n > max_bytes - start {
        return Err(ScanError::TooLarge);
    }
    out.resize(start + n, 0);
    input.read_exact(&mut out[start..])?;
    Ok(&out[start..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(bytes: &[u8], max_bytes: usize, max_depth: usize) -> Result<Vec<u8>, ScanError> {
        let mut out = Vec::new();
        read_item(&mut &bytes[..], &mut out, max_bytes, max_depth).map(|()| out)
    }

    fn cbor(value: &ciborium::Value) -> Vec<u8> {
        let mut out = Vec::new();
        ciborium::into_writer(value, &mut out).unwrap();
        out
    }

    #[test]
    fn reads_exactly_one_item_of_any_shape() {
        use ciborium::Value;
        let item = cbor(&Value::Array(vec![
            "event".into(),
            Value::Map(vec![
                ("num".into(), 7.into()),
                ("f".into(), Value::Float(1.5)),
                ("b".into(), Value::Bytes(vec![1; 300])),
                (
                    "t".into(),
                    Value::Tag(1, Box::new(Value::Integer((-5).into()))),
                ),
                ("n".into(), Value::Null),
                ("e".into(), Value::Array(vec![])),
            ]),
        ]));
        let mut stream = item.clone();
        stream.extend_from_slice(&item);
        assert_eq!(
            scan(&stream, 1 << 20, 16).unwrap(),
            item,
            "one item, not two"
        );
        // Indefinite lengths: ["a" "b"_ (chunks "x" "y"), {_ 1: 2}].
        let indefinite = [
            0x9f, 0x61, b'a', 0x7f, 0x61, b'x', 0x61, b'y', 0xff, 0xbf, 0x01, 0x02, 0xff, 0xff,
        ];
        assert_eq!(scan(&indefinite, 100, 4).unwrap(), indefinite);
    }

    #[test]
    fn declared_lengths_beyond_the_budget_are_refused_before_allocation() {
        // A byte string, an array and a map claiming far more than is there.
        for head in [
            &[0x5b, 0, 0, 0, 0, 0x40, 0, 0, 0][..],
            &[0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
            &[0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
            &[0xbb, 0x80, 0, 0, 0, 0, 0, 0, 0],
        ] {
            assert!(
                matches!(scan(head, 1 << 20, 16), Err(ScanError::TooLarge)),
                "{head:x?}"
            );
        }
        assert!(matches!(
            scan(&[0x43, 1, 2, 3], 3, 16),
            Err(ScanError::TooLarge)
        ));
        assert!(scan(&[0x43, 1, 2, 3], 4, 16).is_ok());
    }

    #[test]
    fn depth_is_limited_without_recursion() {
        let deep = vec![0x81; 1_000_000];
        assert!(matches!(
            scan(&deep, 2_000_000, 128),
            Err(ScanError::TooDeep)
        ));
        let mut ok = vec![0x81; 128];
        ok.push(0x00);
        assert!(scan(&ok, 1000, 128).is_ok());
        let tags = vec![0xc1; 1000];
        assert!(matches!(scan(&tags, 2000, 128), Err(ScanError::TooDeep)));
    }

    #[test]
    fn malformed_and_cut_items_are_errors() {
        for bad in [
            &[0xff][..],
            &[0x1c],
            &[0x5f, 0x61, b'a', 0x01],
            &[0x7f, 0x41, 0],
        ] {
            assert!(
                matches!(scan(bad, 100, 8), Err(ScanError::Malformed(_))),
                "{bad:x?}"
            );
        }
        for cut in [&[0x82, 0x01][..], &[0x19, 0x01], &[0x62, b'a']] {
            match scan(cut, 100, 8) {
                Err(ScanError::Io(e)) => assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof),
                other => panic!("{cut:x?}: {other:?}"),
            }
        }
    }
}
