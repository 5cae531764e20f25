//! The names of gathered files: `from-<T1>---to-present.flog` while open,
//! `from-<T1>---to-<T2>.flog` once closed, `.flog.bz2` once compressed
//! (foolscap's log-gatherer names). Times are UTC with microseconds and a
//! fixed width, so names sort by time as strings; `-` stands for `:`, which
//! some file systems refuse.

use flog_core::Timestamp;

/// The folder, in the base directory, of gathered event files.
pub const EVENTS_DIR: &str = "events";

/// The file, in the events folder, whose presence asks the running
/// gatherer to rotate now (`flog-gatherer rotate BASEDIR` creates it; the
/// writer thread removes it, then rotates).
pub const ROTATE_REQUEST: &str = "rotate-request";

const PRESENT: &str = "present";

/// `2026-12-01T11-30-00.000000Z`
fn stamp(t: Timestamp) -> String {
    let (y, mo, d, h, mi, s, us) = t.to_civil();
    format!("{y:04}-{mo:02}-{d:02}T{h:02}-{mi:02}-{s:02}.{us:06}Z")
}

fn parse_stamp(text: &str) -> Option<Timestamp> {
    let b = text.as_bytes();
    if b.len() != 27 || b[10] != b'T' || b[13] != b'-' || b[16] != b'-' || b[26] != b'Z' {
        return None;
    }
    let rfc = format!(
        "{}T{}:{}:{}",
        &text[..10],
        &text[11..13],
        &text[14..16],
        &text[17..]
    );
    Timestamp::parse(&rfc)
}

/// The name of the file being written, opened at `from`.
pub(crate) fn present_name(from: Timestamp) -> String {
    format!("from-{}---to-{PRESENT}.flog", stamp(from))
}

/// The name of a file closed at `to`, before compression.
pub(crate) fn closed_name(from: Timestamp, to: Timestamp) -> String {
    format!("from-{}---to-{}.flog", stamp(from), stamp(to))
}

/// The name in the bucket's `events/` of the closed file `name`: the same
/// name, or, when another gatherer's file took it (`taken` times), the same
/// with `~2`, `~3`... after its close time (`from-T1---to-T2~2.flog.bz2`),
/// which [`parse_name`] reads as the same times.
pub(crate) fn bucket_name(name: &str, taken: u32) -> String {
    if taken == 0 {
        return name.to_owned();
    }
    match name.find(".flog") {
        Some(at) => format!("{}~{}{}", &name[..at], taken + 1, &name[at..]),
        None => format!("{name}~{}", taken + 1),
    }
}

/// What a name in the events folder is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EventFileName {
    /// Being written (or left open by a gatherer that died).
    Present { from: Timestamp },
    /// Closed; compressed or not.
    Closed {
        from: Timestamp,
        to: Timestamp,
        compressed: bool,
    },
}

/// Reads a name [`present_name`] or [`closed_name`] made (or one with
/// `.bz2`); anything else is `None`.
pub(crate) fn parse_name(name: &str) -> Option<EventFileName> {
    let rest = name.strip_prefix("from-")?;
    let (rest, compressed) = match rest.strip_suffix(".flog.bz2") {
        Some(rest) => (rest, true),
        None => (rest.strip_suffix(".flog")?, false),
    };
    let (from, to) = rest.split_once("---to-")?;
    let from = parse_stamp(from)?;
    if to == PRESENT {
        return (!compressed).then_some(EventFileName::Present { from });
    }
    // A name another gatherer's file took in the bucket: `~N` on.
    let to = match to.split_once('~') {
        Some((to, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => to,
        Some(_) => return None,
        None => to,
    };
    Some(EventFileName::Closed {
        from,
        to: parse_stamp(to)?,
        compressed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_sort_by_time() {
        let t1 = Timestamp(1_764_588_600_123_456);
        let t2 = Timestamp(1_764_592_200_000_001);
        assert_eq!(
            present_name(t1),
            "from-2025-12-01T11-30-00.123456Z---to-present.flog"
        );
        assert_eq!(
            parse_name(&present_name(t1)),
            Some(EventFileName::Present { from: t1 })
        );
        let closed = closed_name(t1, t2);
        assert_eq!(
            parse_name(&closed),
            Some(EventFileName::Closed {
                from: t1,
                to: t2,
                compressed: false
            })
        );
        assert_eq!(
            parse_name(&format!("{closed}.bz2")),
            Some(EventFileName::Closed {
                from: t1,
                to: t2,
                compressed: true
            })
        );
        assert!(closed_name(t1, t2) < closed_name(t2, Timestamp(t2.0 + 1)));
        let again = bucket_name(&format!("{closed}.bz2"), 1);
        assert_eq!(
            again,
            "from-2025-12-01T11-30-00.123456Z---to-2025-12-01T12-30-00.000001Z~2.flog.bz2"
        );
        assert_eq!(bucket_name(&closed, 0), closed);
        assert_eq!(parse_name(&again), parse_name(&format!("{closed}.bz2")));
        assert_eq!(parse_name(&again.replace("~2", "~x")), None);
        assert_eq!(parse_name(&again.replace("~2", "~")), None);
        for bad in [
            "from-x---to-present.flog",
            "incident.flog",
            "from-.flog",
            "",
        ] {
            assert_eq!(parse_name(bad), None, "{bad}");
        }
    }
}
