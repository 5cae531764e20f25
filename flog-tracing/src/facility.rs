use std::borrow::Cow;
use std::fmt;
use std::sync::{Mutex, OnceLock, PoisonError, RwLock};

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
        let facility = if metadata.target() == "log"
            && metadata.fields().field(crate::fields::LOG_TARGET).is_some()
        {
            Facility::LogRecord
        } else {
            Facility::Target(facility_of(metadata.target()))
        };
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

/// How many distinct `log` targets get a facility string kept for the life of
/// the process. They are not `'static` and may be made at run time, so the cache
/// is bounded; targets beyond it cost a string per record.
const MAX_LOG_TARGETS: usize = 1024;

/// The facility of a `log` record's target: borrowed from a string made once per
/// distinct target, up to [`MAX_LOG_TARGETS`] of them.
pub(crate) fn log_facility_of(target: &str) -> Cow<'static, str> {
    static KNOWN: OnceLock<RwLock<HashMap<Box<str>, &'static str>>> = OnceLock::new();
    let known = KNOWN.get_or_init(|| RwLock::new(HashMap::new()));
    let found = known
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .get(target)
        .copied();
    if let Some(facility) = found {
        return Cow::Borrowed(facility);
    }
    let converted = target.replace("::", ".");
    let mut known = known.write().unwrap_or_else(PoisonError::into_inner);
    if let Some(facility) = known.get(target) {
        return Cow::Borrowed(facility);
    }
    if known.len() >= MAX_LOG_TARGETS {
        return Cow::Owned(converted);
    }
    let facility: &'static str = Box::leak(converted.into_boxed_str());
    known.insert(target.into(), facility);
    Cow::Borrowed(facility)
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

    #[test]
    fn log_targets_are_converted_once() {
        let a = log_facility_of("legacy::db");
        assert_eq!(a, "legacy.db");
        let b = log_facility_of(&String::from("legacy::db"));
        assert!(std::ptr::eq(a.as_ref(), b.as_ref()));
    }
}
