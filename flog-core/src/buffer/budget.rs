//! How the buffers' memory budget divides, and the sizes (event counts)
//! configured per level and per (facility, level).

use std::collections::HashMap;

use crate::flogfile::MAX_VALUE_BYTES;
use crate::level::Level;

/// Default size of each circular buffer (foolscap's).
pub const DEFAULT_BUFFER_SIZE: usize = 100;

/// Buffer sizes: a default per level and overrides per (level, facility).
#[derive(Clone, Debug, Default)]
pub(super) struct Sizes {
    pub(super) per_level: HashMap<Level, usize>,
    pub(super) per_facility: HashMap<(Box<str>, Level), usize>,
}

impl Sizes {
    pub(super) fn size_for(&self, facility: &str, level: Level) -> usize {
        self.per_facility
            .get(&(facility.into(), level))
            .or_else(|| self.per_level.get(&level))
            .copied()
            .unwrap_or(DEFAULT_BUFFER_SIZE)
    }
}

/// The default logger-wide memory budget of the buffers, in bytes.
pub const DEFAULT_MEMORY_BUDGET: usize = 32 << 20;
/// The overflow buffer's floor counts as this many buffers' floors.
pub(crate) const OVERFLOW_SHARES: usize = 10;
/// The least floor a budget may give each buffer: room for the stub of an
/// event with a facility of [`MAX_VALUE_BYTES`] and its fixed costs.
pub(crate) const MIN_FLOOR: usize = 3 * MAX_VALUE_BYTES;

/// How a budget divides: half is floors, one per possible buffer (the
/// overflow buffer counts as [`OVERFLOW_SHARES`]), that every buffer may
/// always use; a sixteenth is the call-site dictionary's; the rest is a pool
/// that buffers draw on first come, first served, once they pass their
/// floor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BudgetSplit {
    pub(crate) floor: usize,
    pub(crate) pool: usize,
    pub(crate) sites: usize,
}

impl BudgetSplit {
    /// `None` when the budget leaves a buffer less than [`MIN_FLOOR`].
    pub(crate) fn new(budget: usize, max_buffers: usize) -> Option<BudgetSplit> {
        let shares = max_buffers.checked_add(OVERFLOW_SHARES)?;
        let floor = budget / 2 / shares;
        let sites = budget / 16;
        (floor >= MIN_FLOOR).then(|| BudgetSplit {
            floor,
            pool: budget - floor * shares - sites,
            sites,
        })
    }
}

/// A facility as it keys a buffer: cut like any long text.
pub(super) fn key_facility(facility: &str) -> &str {
    let mut cut = facility.len().min(MAX_VALUE_BYTES);
    while !facility.is_char_boundary(cut) {
        cut -= 1;
    }
    &facility[..cut]
}
