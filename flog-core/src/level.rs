use std::fmt;

use serde::{Deserialize, Serialize};

/// The severity of an event, with foolscap's numbers.
///
/// Any number is a valid level; the named constants are the ones foolscap and the
/// rest of flog give meaning to. Levels order by number.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Level(pub u16);

impl Level {
    /// Chatter useful only when debugging.
    pub const NOISY: Level = Level(10);
    /// Normal operation worth recording (the default level).
    pub const OPERATIONAL: Level = Level(20);
    /// Unusual but expected now and then.
    pub const UNUSUAL: Level = Level(23);
    /// Happens rarely.
    pub const INFREQUENT: Level = Level(25);
    /// Worth a closer look.
    pub const CURIOUS: Level = Level(28);
    /// Something is wrong: by default this declares an incident.
    pub const WEIRD: Level = Level(30);
    /// Something is badly wrong.
    pub const SCARY: Level = Level(35);
    /// A failure.
    pub const BAD: Level = Level(40);

    /// All named levels, lowest first.
    pub const NAMED: [Level; 8] = [
        Level::NOISY,
        Level::OPERATIONAL,
        Level::UNUSUAL,
        Level::INFREQUENT,
        Level::CURIOUS,
        Level::WEIRD,
        Level::SCARY,
        Level::BAD,
    ];

    /// The number of this level.
    pub const fn number(self) -> u16 {
        self.0
    }

    /// The name of a named level (`"WEIRD"`), or `None` for other numbers.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            10 => "NOISY",
            20 => "OPERATIONAL",
            23 => "UNUSUAL",
            25 => "INFREQUENT",
            28 => "CURIOUS",
            30 => "WEIRD",
            35 => "SCARY",
            40 => "BAD",
            _ => return None,
        })
    }

    /// Parses a level name (any case) or a number.
    pub fn parse(text: &str) -> Option<Level> {
        if let Ok(n) = text.trim().parse::<u16>() {
            return Some(Level(n));
        }
        let upper = text.trim().to_ascii_uppercase();
        Level::NAMED
            .into_iter()
            .find(|l| l.name() == Some(upper.as_str()))
    }
}

impl Default for Level {
    fn default() -> Self {
        Level::OPERATIONAL
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.pad(name),
            None => f.pad(&format!("LEVEL{}", self.0)),
        }
    }
}

impl fmt::Debug for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "Level::{name}"),
            None => write!(f, "Level({})", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_levels_order_by_number_and_round_trip() {
        let mut sorted = Level::NAMED;
        sorted.sort();
        assert_eq!(sorted, Level::NAMED);
        for level in Level::NAMED {
            assert_eq!(Level::parse(level.name().unwrap()), Some(level));
        }
        assert!(Level(29) < Level::WEIRD && Level(29) > Level::CURIOUS);
        assert_eq!(Level::parse("weird"), Some(Level::WEIRD));
        assert_eq!(Level::parse("17"), Some(Level(17)));
        assert_eq!(Level::parse("loud"), None);
        assert_eq!(Level(17).to_string(), "LEVEL17");
        assert_eq!(Level::default(), Level::OPERATIONAL);
    }
}
