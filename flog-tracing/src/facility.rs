use std::fmt;
use std::sync::{Mutex, PoisonError};

use arc_swap::ArcSwap;
use hashbrown::{HashMap, HashSet};
use tracing::callsite::Identifier;
use tracing::Metadata;

/// Where a callsite's events get their facility.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Facility {
    /// The callsite's target, converted once.
    Target(&'static str),
    /// A `log` record forwarded by tracing-log: every record shares one callsite
    /// with the target `log`, and the record's own target is in the `log.target`
    /// field.
    LogRecord,
}

impl Facility {
    /// Where the events of the callsite of `metadata` get their facility.
    pub(crate) fn of(metadata: &'static Metadata<'static>) -> Facility {
        if metadata.target() == "log"
            && metadata.fields().field(crate::fields::LOG_TARGET).is_some()
        {
            Facility::LogRecord
        } else {
            Facility::Target(facility_of(metadata.target()))
        }
    }
}

/// The facility of every callsite this layer has seen, so that an event costs one
/// lookup instead of a scan of its target and, for `a::b` targets, a new string.
///
/// Reads go through an `ArcSwap` rather than an `RwLock` because every event on
/// every thread reads the map: a read lock would have all of them write one
/// shared counter. Writes are rare (once per callsite) and copy the map.
pub(crate) struct Facilities {
    by_callsite: ArcSwap<HashMap<Identifier, Facility>>,
}

impl fmt::Debug for Facilities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Facilities")
            .field("callsites", &self.by_callsite.load().len())
            .finish()
    }
}

impl Facilities {
    pub(crate) fn new() -> Facilities {
        Facilities {
            by_callsite: ArcSwap::from_pointee(HashMap::new()),
        }
    }

    /// The facility of a callsite: its target with `::` turned into `.`.
    #[inline]
    pub(crate) fn get(&self, metadata: &'static Metadata<'static>) -> Facility {
        match self.by_callsite.load().get(&metadata.callsite()) {
            Some(facility) => *facility,
            None => self.register(metadata),
        }
    }

    /// Computes and remembers a callsite's facility. Called from
    /// `register_callsite`, and on a miss for callsites registered before the
    /// layer existed.
    #[cold]
    pub(crate) fn register(&self, metadata: &'static Metadata<'static>) -> Facility {
        let facility = Facility::of(metadata);
        let id = metadata.callsite();
        self.by_callsite.rcu(|map| {
            let mut map = HashMap::clone(map);
            map.insert(id.clone(), facility);
            map
        });
        facility
    }
}

/// `target` with `::` replaced by `.`: the target itself when it has no `::`,
/// else a string made once per distinct target for the life of the process.
/// Targets of tracing callsites are `'static` and as many as the callsites, so
/// the strings kept are bounded by the program's text.
pub(crate) fn facility_of(target: &'static str) -> &'static str {
    if !target.contains("::") {
        return target;
    }
    static CONVERTED: Mutex<Option<HashSet<&'static str>>> = Mutex::new(None);
    let converted = target.replace("::", ".");
    let mut set = CONVERTED.lock().unwrap_or_else(PoisonError::into_inner);
    let set = set.get_or_insert_with(HashSet::new);
    if let Some(known) = set.get(converted.as_str()) {
        return known;
    }
    let leaked: &'static str = Box::leak(converted.into_boxed_str());
    set.insert(leaked);
    leaked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_become_dotted_facilities_made_once() {
        let plain = "app";
        assert!(
            std::ptr::eq(facility_of(plain), plain),
            "no copy without ::"
        );
        let a = facility_of("my_app::db::pool");
        assert_eq!(a, "my_app.db.pool");
        let b = facility_of(String::from("my_app::db::pool").leak());
        assert!(std::ptr::eq(a, b), "one string per distinct target");
    }
}
