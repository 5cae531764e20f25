//! Durations and sizes as people write them in a config file, and the
//! `file:line:column` positions that config errors point at.

use std::time::Duration;

use serde::Deserialize;

/// A duration in a config file: a number of seconds, or text such as `"90s"`,
/// `"500ms"`, `"5m"`, `"1h"`, `"7d"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum RawDuration {
    Seconds(i64),
    Text(String),
}

/// Why a duration or size in a config file is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UnitError {
    /// Not a duration.
    #[error("invalid duration {0:?}: write a number of seconds or e.g. \"500ms\", \"30s\", \"5m\", \"1h\", \"7d\"")]
    BadDuration(String),
    /// Longer than a year.
    #[error("duration {0:?} is out of range")]
    DurationOutOfRange(String),
    /// A negative number of seconds.
    #[error("a duration cannot be negative ({0})")]
    NegativeDuration(i64),
    /// Not a size.
    #[error(
        "invalid size {0:?}: write a number of bytes or e.g. \"64 KiB\", \"256 MiB\", \"1 GiB\""
    )]
    BadSize(String),
    /// More bytes than a `u64` holds.
    #[error("size {0:?} is out of range")]
    SizeOutOfRange(String),
    /// A negative number of bytes.
    #[error("a size cannot be negative ({0})")]
    NegativeSize(i64),
}

impl RawDuration {
    pub(crate) fn parse(&self) -> Result<Duration, UnitError> {
        match self {
            RawDuration::Seconds(n) => u64::try_from(*n)
                .map(Duration::from_secs)
                .map_err(|_| UnitError::NegativeDuration(*n)),
            RawDuration::Text(text) => parse_duration(text),
        }
    }
}

/// Parses `"<number><unit>"` with unit `ms`, `s`, `m`, `h` or `d` (a space between
/// them is allowed); a bare number means seconds.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, UnitError> {
    let bad = || UnitError::BadDuration(text.to_owned());
    let (number, unit) = split_number(text.trim()).ok_or_else(bad)?;
    let millis_per_unit: f64 = match unit {
        "ms" => 1.0,
        "" | "s" | "sec" | "secs" => 1e3,
        "m" | "min" | "mins" => 60e3,
        "h" => 3600e3,
        // For retention (`keep_age = "7d"`).
        "d" => 86_400e3,
        _ => return Err(bad()),
    };
    let millis = number * millis_per_unit;
    // A year is plenty for any timeout or interval, and keeps the arithmetic
    // on Instants far from overflow.
    if !(0.0..=365.0 * 86_400e3).contains(&millis) {
        return Err(UnitError::DurationOutOfRange(text.to_owned()));
    }
    Ok(Duration::from_micros((millis * 1e3).round() as u64))
}

/// A size in bytes: a number, or text such as `"256 MiB"`, `"10MB"`, `"64k"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum RawSize {
    Bytes(i64),
    Text(String),
}

impl RawSize {
    pub(crate) fn parse(&self) -> Result<u64, UnitError> {
        match self {
            RawSize::Bytes(n) => u64::try_from(*n).map_err(|_| UnitError::NegativeSize(*n)),
            RawSize::Text(text) => parse_size(text),
        }
    }
}

/// Parses `"<number> <unit>"` with units B, KiB, MiB, GiB (powers of 1024;
/// `k`, `K`, `M`, `G` too) or kB, MB, GB (powers of 1000).
pub(crate) fn parse_size(text: &str) -> Result<u64, UnitError> {
    let bad = || UnitError::BadSize(text.to_owned());
    let (number, unit) = split_number(text.trim()).ok_or_else(bad)?;
    let multiplier: f64 = match unit {
        "" | "B" | "b" => 1.0,
        "k" | "K" | "KiB" => 1024.0,
        "M" | "MiB" => 1024.0 * 1024.0,
        "G" | "GiB" => 1024.0 * 1024.0 * 1024.0,
        "kB" | "KB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        _ => return Err(bad()),
    };
    let bytes = number * multiplier;
    if !(0.0..=u64::MAX as f64).contains(&bytes) {
        return Err(UnitError::SizeOutOfRange(text.to_owned()));
    }
    Ok(bytes.round() as u64)
}

/// Splits `"12.5 ms"` into `(12.5, "ms")`.
fn split_number(text: &str) -> Option<(f64, &str)> {
    let end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
        .unwrap_or(text.len());
    let digits: String = text[..end].chars().filter(|&c| c != '_').collect();
    if digits.is_empty() || !digits.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let number = digits.parse::<f64>().ok()?;
    Some((number, text[end..].trim_start()))
}

/// Formats a byte count for people: `812 B`, `12.3 KiB`, `4.0 MiB`.
pub(crate) fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// Formats a duration for people: `750ms`, `4s`, `2m30s`.
pub(crate) fn human_duration(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis < 1000 {
        return format!("{millis}ms");
    }
    let secs = duration.as_secs_f64();
    if secs < 60.0 {
        let rounded = (secs * 10.0).round() / 10.0;
        return format!("{rounded}s");
    }
    let secs = duration.as_secs();
    match (secs / 60, secs % 60) {
        (m, 0) => format!("{m}m"),
        (m, s) => format!("{m}m{s}s"),
    }
}

/// The 1-based line and column (in characters) of byte `offset` in `source`.
pub(crate) fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(source.len());
    while !source.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = source[line_start..offset].chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_common_units() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("1.5 s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert_eq!(
            parse_duration("365d"),
            Ok(Duration::from_secs(365 * 86_400))
        );
        assert!(parse_duration("366d").is_err());
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("99999999h").is_err());
        assert_eq!(RawDuration::Seconds(3).parse(), Ok(Duration::from_secs(3)));
        assert!(RawDuration::Seconds(-3).parse().is_err());
    }

    #[test]
    fn sizes_take_binary_and_decimal_units() {
        assert_eq!(parse_size("256 MiB"), Ok(256 << 20));
        assert_eq!(parse_size("64k"), Ok(64 << 10));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("10MB"), Ok(10_000_000));
        assert_eq!(parse_size("1_000"), Ok(1000));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("3 furlongs").is_err());
        assert_eq!(RawSize::Bytes(12).parse(), Ok(12));
        assert!(RawSize::Bytes(-1).parse().is_err());
    }

    #[test]
    fn people_read_sizes_and_durations() {
        assert_eq!(human_size(812), "812 B");
        assert_eq!(human_size(12_600), "12.3 KiB");
        assert_eq!(human_size(4 << 20), "4.0 MiB");
        assert_eq!(human_duration(Duration::from_millis(750)), "750ms");
        assert_eq!(human_duration(Duration::from_millis(4200)), "4.2s");
        assert_eq!(human_duration(Duration::from_secs(150)), "2m30s");
        assert_eq!(human_duration(Duration::from_secs(300)), "5m");
    }

    #[test]
    fn positions_are_one_based_lines_and_characters() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 6), (2, 1));
        // 'é' is two bytes but one column.
        assert_eq!(line_column(text, 9), (2, 3));
        assert_eq!(line_column(text, 1000), (3, 1));
    }
}
