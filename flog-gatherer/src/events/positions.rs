//! What has been stored of each publisher: its incarnation and the highest
//! event number written, so that a restarted gatherer asks for (and keeps)
//! only what it does not have.
//!
//! Kept in `events/positions` (replaced atomically whenever a file closes)
//! and read back from the events themselves for a file a dead gatherer left
//! open: whatever reached the disk counts, whatever did not is fetched again.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::path::Path;

use flog_core::flogfile::{ReadError, Record};

use super::tracker::REORDER_WINDOW;

/// The positions file's name in the events folder.
pub(crate) const POSITIONS_FILE: &str = "positions";

const MAGIC: &str = "# flog-gatherer event positions: PUBLISHER INCARNATION NUM";

/// The last stored event of one publisher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Position {
    /// Its logger incarnation (`hex[:N]`).
    pub(crate) incarnation: String,
    /// The highest `num` stored of that incarnation.
    pub(crate) num: u64,
    /// Numbers below `num`, within the reorder window, that a file a dead
    /// gatherer left open holds neither as events nor inside a gap: holes
    /// still open when it died, which the restart's catch-up may fill and
    /// otherwise reports as gaps (runs `first..=last`, ascending). Only
    /// [`Positions::scan`] finds them; the positions file does not keep
    /// them (a clean close reports every open hole before it).
    pub(crate) holes: Vec<(u64, u64)>,
}

/// Positions by publisher id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Positions(pub(crate) BTreeMap<String, Position>);

impl Positions {
    /// Notes that `num` of `incarnation` was stored for `from`.
    pub(crate) fn store(&mut self, from: &str, incarnation: &str, num: u64) {
        match self.0.get_mut(from) {
            Some(p) if p.incarnation == incarnation => p.num = p.num.max(num),
            _ => {
                let position = Position {
                    incarnation: incarnation.to_owned(),
                    num,
                    holes: Vec::new(),
                };
                self.0.insert(from.to_owned(), position);
            }
        }
    }

    /// Reads the positions file; a missing one is empty, a bad line skipped
    /// (it only costs a re-fetch of what the publisher still holds).
    pub(crate) fn load(dir: &Path) -> io::Result<Positions> {
        let text = match fs::read_to_string(dir.join(POSITIONS_FILE)) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Positions::default()),
            Err(e) => return Err(e),
        };
        let mut positions = Positions::default();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let mut parts = line.split(' ');
            if let (Some(from), Some(inc), Some(num), None) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            {
                if let Ok(num) = num.parse() {
                    positions.store(from, inc, num);
                }
            }
        }
        Ok(positions)
    }

    /// Replaces the positions file atomically.
    pub(crate) fn save(&self, dir: &Path) -> io::Result<()> {
        let mut text = format!("{MAGIC}\n");
        // Ids and incarnations come from URLs and welcomes: one with a space
        // or a line break could not be read back, and is left out (a restart
        // then fetches that publisher's buffered events again).
        let plain = |s: &str| !s.is_empty() && !s.chars().any(char::is_whitespace);
        for (from, p) in &self.0 {
            if plain(from) && plain(&p.incarnation) {
                text.push_str(&format!("{from} {} {}\n", p.incarnation, p.num));
            }
        }
        flog_core::fs::write_file_atomically(&dir.join(POSITIONS_FILE), text.as_bytes())
    }

    /// Adds what a gathered file holds; says what else was found in it (a
    /// file a killed gatherer left ends in a cut record). `Err` only when
    /// it is not a flogfile at all.
    pub(crate) fn scan(&mut self, path: &Path) -> Result<Scanned, ReadError> {
        let mut reader = flog_core::flogfile::FlogReader::open(path)?;
        let mut scanned = Scanned::default();
        let mut windows: BTreeMap<(String, String), Window> = BTreeMap::new();
        loop {
            match reader.next_record() {
                Ok(Some(record)) => {
                    scanned.trailer = matches!(record, Record::Trailer(_));
                    match record {
                        Record::Received(r) => {
                            let inc = r.event.incarnation.to_string();
                            self.store(&r.receipt.from, &inc, r.event.num);
                            let key = (r.receipt.from, inc);
                            windows
                                .entry(key)
                                .or_default()
                                .account(r.event.num, r.event.num);
                            scanned.events += 1;
                        }
                        Record::Gap(g) => {
                            if let (Some(first), Some(last)) = (g.first, g.last) {
                                let key = (g.from, g.incarnation);
                                windows.entry(key).or_default().account(first, last);
                            }
                        }
                        _ => {}
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    scanned.damage = Some(e);
                    break;
                }
            }
        }
        scanned.complete_bytes = reader.complete_bytes();
        for ((from, inc), window) in windows {
            if let Some(p) = self.0.get_mut(&from).filter(|p| p.incarnation == inc) {
                p.holes = window.holes(p.num);
            }
        }
        Ok(scanned)
    }
}

/// The numbers of one publisher's incarnation a file accounts for (stored,
/// or inside a gap) near its highest, as [`Positions::scan`] reads it.
#[derive(Debug, Default)]
struct Window {
    /// The lowest number the file accounts for: below it the numbers are
    /// in earlier files, not holes of this one.
    lowest: Option<u64>,
    highest: u64,
    /// Accounted numbers within [`REORDER_WINDOW`] of `highest`.
    recent: BTreeSet<u64>,
}

impl Window {
    fn account(&mut self, first: u64, last: u64) {
        self.lowest = Some(self.lowest.map_or(first, |l| l.min(first)));
        self.highest = self.highest.max(last);
        let floor = self.highest.saturating_sub(REORDER_WINDOW);
        // At most a window's worth, however large a gap is.
        for num in first.max(floor)..=last {
            self.recent.insert(num);
        }
        while self.recent.first().is_some_and(|&n| n < floor) {
            self.recent.pop_first();
        }
    }

    /// The runs below `high` (within the window, not below `lowest`) that
    /// are not accounted for.
    fn holes(&self, high: u64) -> Vec<(u64, u64)> {
        let Some(lowest) = self.lowest else {
            return Vec::new();
        };
        let mut holes: Vec<(u64, u64)> = Vec::new();
        for num in lowest.max(high.saturating_sub(REORDER_WINDOW))..high {
            if self.recent.contains(&num) {
                continue;
            }
            match holes.last_mut() {
                Some((_, last)) if *last + 1 == num => *last = num,
                _ => holes.push((num, num)),
            }
        }
        holes
    }
}

/// What [`Positions::scan`] found in a gathered file besides positions.
#[derive(Debug, Default)]
pub(crate) struct Scanned {
    /// Events read.
    pub(crate) events: u64,
    /// Whether the last complete record is a trailer.
    pub(crate) trailer: bool,
    /// What ended reading early, if anything did.
    pub(crate) damage: Option<ReadError>,
    /// Where the last complete record ends (see
    /// [`FlogReader::complete_bytes`](flog_core::flogfile::FlogReader::complete_bytes)).
    pub(crate) complete_bytes: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_survive_a_save_and_keep_the_highest_number() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = Positions::default();
        p.store("a", "0001", 5);
        p.store("a", "0001", 3);
        p.store("b", "0002", 9);
        p.store("b", "0003", 1);
        p.store("bad id", "0004", 1);
        p.save(dir.path()).unwrap();
        let back = Positions::load(dir.path()).unwrap();
        assert_eq!(back.0["a"].num, 5);
        assert_eq!(back.0["b"].incarnation, "0003");
        assert_eq!(back.0["b"].num, 1);
        assert!(!back.0.contains_key("bad id"));
        assert_eq!(
            Positions::load(&dir.path().join("nowhere")).unwrap(),
            Positions::default()
        );
    }
}
