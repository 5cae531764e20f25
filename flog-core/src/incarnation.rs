//! Which run of a logger an event came from, and its text form.

use std::fmt;
use std::str::FromStr;

use data_encoding::HEXLOWER;

use crate::time::Timestamp;

/// Which logger run produced an event: a random id drawn when the logger starts, plus
/// an optional sequential counter the application may supply (a restart count).
///
/// Events carry it as bytes; headers, the owner file and the logport's
/// `welcome` carry its text form, `0123456789abcdef` or `0123456789abcdef:3`
/// ([`Display`](fmt::Display) writes it, [`FromStr`] reads it back).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Incarnation {
    /// Random per logger start.
    pub unique: [u8; 8],
    /// Optional sequential counter.
    pub sequential: Option<u64>,
}

impl Incarnation {
    /// A fresh random incarnation.
    pub fn random() -> Incarnation {
        let mut unique = [0u8; 8];
        if getrandom::fill(&mut unique).is_err() {
            // No OS randomness: fall back to time and pid, which still differ
            // between starts, the only property the id needs.
            let seed = Timestamp::now().0 as u64 ^ (u64::from(std::process::id()) << 32);
            unique = seed.to_le_bytes();
        }
        Incarnation {
            unique,
            sequential: None,
        }
    }

    /// The random part as 16 hex digits.
    pub fn hex(&self) -> String {
        HEXLOWER.encode(&self.unique)
    }
}

impl fmt::Display for Incarnation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", HEXLOWER.encode_display(&self.unique))?;
        if let Some(seq) = self.sequential {
            write!(f, ":{seq}")?;
        }
        Ok(())
    }
}

/// Why a text is not an incarnation's text form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseIncarnationError {
    /// The part before any `:` is not 16 lowercase hex digits.
    #[error("an incarnation starts with 16 lowercase hex digits")]
    Unique,
    /// The part after `:` is not a decimal number.
    #[error("an incarnation's counter (after ':') is a decimal number")]
    Sequential,
}

impl FromStr for Incarnation {
    type Err = ParseIncarnationError;

    /// Reads exactly what [`Display`](fmt::Display) writes: 16 lowercase hex
    /// digits, then optionally `:` and a decimal counter. flog-wire's
    /// `Incarnation` accepts the same texts (a test there checks both
    /// against one list).
    fn from_str(text: &str) -> Result<Incarnation, ParseIncarnationError> {
        let (hex, seq) = match text.split_once(':') {
            Some((hex, seq)) => (hex, Some(seq)),
            None => (text, None),
        };
        let mut unique = [0u8; 8];
        match HEXLOWER.decode_len(hex.len()) {
            Ok(8) => {}
            _ => return Err(ParseIncarnationError::Unique),
        }
        HEXLOWER
            .decode_mut(hex.as_bytes(), &mut unique)
            .map_err(|_| ParseIncarnationError::Unique)?;
        let sequential = match seq {
            None => None,
            Some(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
                Some(s.parse().map_err(|_| ParseIncarnationError::Sequential)?)
            }
            Some(_) => return Err(ParseIncarnationError::Sequential),
        };
        Ok(Incarnation { unique, sequential })
    }
}

/// Serde for an optional incarnation in its text form, as headers carry it.
/// A text that is not one reads as absent: a header is worth reading for its
/// other keys even when a foreign writer spelled this one its own way.
pub(crate) mod optional_text {
    use super::Incarnation;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(
        value: &Option<Incarnation>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(inc) => s.collect_str(inc),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Incarnation>, D::Error> {
        let text = Option::<std::borrow::Cow<'de, str>>::deserialize(d)?;
        Ok(text.and_then(|t| t.parse().ok()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_form_round_trips_and_nothing_else_reads() {
        let inc = Incarnation {
            unique: [0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef],
            sequential: Some(3),
        };
        assert_eq!(inc.to_string(), "0123456789abcdef:3");
        assert_eq!("0123456789abcdef:3".parse(), Ok(inc));
        let plain = Incarnation {
            sequential: None,
            ..inc
        };
        assert_eq!("0123456789abcdef".parse(), Ok(plain));
        for bad in [
            "",
            "0",
            "0123456789abcde",
            "0123456789abcdef0",
            "0123456789ABCDEF",
            "inc-1",
        ] {
            assert_eq!(
                bad.parse::<Incarnation>(),
                Err(ParseIncarnationError::Unique),
                "{bad}"
            );
        }
        for bad in [
            "0123456789abcdef:",
            "0123456789abcdef:x",
            "0123456789abcdef:+1",
            "0123456789abcdef:1:2",
            "0123456789abcdef:99999999999999999999",
        ] {
            assert_eq!(
                bad.parse::<Incarnation>(),
                Err(ParseIncarnationError::Sequential),
                "{bad}"
            );
        }
    }
}
