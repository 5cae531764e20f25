use crate::time::Timestamp;

/// Prefix of every incident name.
pub const INCIDENT_PREFIX: &str = "incident-";
/// Suffix of a finished incident file.
pub const FINISHED_SUFFIX: &str = ".flog.bz2";
/// Suffix of an incident still being recorded (or orphaned by a crash).
pub const RECORDING_SUFFIX: &str = ".flog";

/// The name of an incident declared at `time`, with `seq` telling apart names
/// within one microsecond: `incident-2026-11-27T23-08-35.123456Z-0000`. Fixed
/// width throughout, so names sort by time as plain strings.
pub fn incident_name(time: Timestamp, seq: u32) -> String {
    let (y, mo, d, h, mi, s, us) = time.to_civil();
    format!("{INCIDENT_PREFIX}{y:04}-{mo:02}-{d:02}T{h:02}-{mi:02}-{s:02}.{us:06}Z-{seq:04}")
}

/// The time and sequence number of a name made by [`incident_name`].
pub fn parse_incident_name(name: &str) -> Option<(Timestamp, u32)> {
    let rest = name.strip_prefix(INCIDENT_PREFIX)?;
    let b = rest.as_bytes();
    if b.len() != 32 || &rest[26..28] != "Z-" {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let s = rest.get(r)?;
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    let seps = [
        (4, b'-'),
        (7, b'-'),
        (10, b'T'),
        (13, b'-'),
        (16, b'-'),
        (19, b'.'),
    ];
    if seps.iter().any(|&(i, c)| b[i] != c) {
        return None;
    }
    let time = Timestamp::from_civil(
        num(0..4)?.into(),
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
        num(20..26)?,
    )?;
    Some((time, num(28..32)?))
}

/// Hands out incident names, each strictly greater than every name before it in
/// the logdir, even when the clock stands still or steps back.
#[derive(Debug, Default)]
pub(crate) struct NameGen {
    last: Option<(Timestamp, u32)>,
}

impl NameGen {
    /// Takes account of a name already present in the logdir.
    pub(crate) fn observe(&mut self, name: &str) {
        if let Some(parsed) = parse_incident_name(name) {
            if self.last.is_none_or(|last| parsed > last) {
                self.last = Some(parsed);
            }
        }
    }

    pub(crate) fn next(&mut self, now: Timestamp) -> String {
        let next = match self.last {
            Some((t, seq)) if now <= t => {
                if seq >= 9999 {
                    (Timestamp(t.0 + 1), 0)
                } else {
                    (t, seq + 1)
                }
            }
            _ => (now, 0),
        };
        self.last = Some(next);
        incident_name(next.0, next.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back() {
        let t = Timestamp::from_civil(2026, 11, 27, 23, 8, 35, 123_456).unwrap();
        let name = incident_name(t, 7);
        assert_eq!(name, "incident-2026-11-27T23-08-35.123456Z-0007");
        assert_eq!(parse_incident_name(&name), Some((t, 7)));
        for bad in [
            "incident-",
            "incident-../../etc",
            "x-2026-11-27T23-08-35.123456Z-0007",
            "incident-2026-13-27T23-08-35.123456Z-0007",
        ] {
            assert_eq!(parse_incident_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn names_strictly_increase_when_the_clock_stalls_or_steps_back() {
        let mut g = NameGen::default();
        let t = Timestamp::from_civil(2026, 1, 1, 0, 0, 0, 0).unwrap();
        let mut names = vec![g.next(t), g.next(t), g.next(Timestamp(t.0 - 60_000_000))];
        names.push(g.next(Timestamp(t.0 + 1)));
        for w in names.windows(2) {
            assert!(w[0] < w[1], "{names:?}");
        }
        // Names already in the logdir count too.
        let mut g = NameGen::default();
        g.observe(&incident_name(Timestamp(t.0 + 10), 3));
        g.observe("incident-not-ours");
        assert_eq!(g.next(t), incident_name(Timestamp(t.0 + 10), 4));
        // The sequence number never outgrows its width.
        let mut g = NameGen::default();
        g.observe(&incident_name(t, 9999));
        let n = g.next(t);
        assert_eq!(n, incident_name(Timestamp(t.0 + 1), 0));
        assert!(n > incident_name(t, 9999));
    }
}
