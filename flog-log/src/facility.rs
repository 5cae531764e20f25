use std::borrow::Cow;
use std::sync::{OnceLock, PoisonError, RwLock};

use hashbrown::HashMap;

/// How many distinct targets get a facility string kept for the life of the
/// process. `log` targets are not `'static` in the API and may be made at run
/// time, so the cache is bounded; targets beyond it cost a string per record.
const MAX_KNOWN_TARGETS: usize = 1024;

/// The facility of a target: `::` becomes `.`. Borrowed from a string made once
/// per distinct target (up to [`MAX_KNOWN_TARGETS`]), so a record allocates none.
pub(crate) fn facility_of(target: &str) -> Cow<'static, str> {
    static KNOWN: OnceLock<Facilities> = OnceLock::new();
    KNOWN
        .get_or_init(|| Facilities::new(MAX_KNOWN_TARGETS))
        .get(target)
}

/// Facility strings by target, kept for the life of the process.
#[derive(Debug)]
struct Facilities {
    known: RwLock<HashMap<Box<str>, &'static str>>,
    max: usize,
}

impl Facilities {
    fn new(max: usize) -> Facilities {
        Facilities {
            known: RwLock::new(HashMap::new()),
            max,
        }
    }

    fn get(&self, target: &str) -> Cow<'static, str> {
        let found = self
            .known
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(target)
            .copied();
        match found {
            Some(facility) => Cow::Borrowed(facility),
            None => self.learn(target),
        }
    }

    #[cold]
    fn learn(&self, target: &str) -> Cow<'static, str> {
        let converted = target.replace("::", ".");
        let mut known = self.known.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(facility) = known.get(target) {
            return Cow::Borrowed(facility);
        }
        if known.len() >= self.max {
            return Cow::Owned(converted);
        }
        let facility: &'static str = Box::leak(converted.into_boxed_str());
        known.insert(target.into(), facility);
        Cow::Borrowed(facility)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_become_dotted_facilities_made_once() {
        let a = facility_of("my_app::db");
        assert_eq!(a, "my_app.db");
        assert!(matches!(a, Cow::Borrowed(_)));
        let b = facility_of(&String::from("my_app::db"));
        assert!(std::ptr::eq(a.as_ref(), b.as_ref()));
        assert_eq!(facility_of("plain"), "plain");
    }

    #[test]
    fn targets_beyond_the_bound_are_converted_per_record() {
        let facilities = Facilities::new(1);
        assert!(matches!(facilities.get("a::b"), Cow::Borrowed("a.b")));
        assert!(matches!(facilities.get("a::b"), Cow::Borrowed("a.b")));
        let other = facilities.get("c::d");
        assert_eq!(other, "c.d");
        assert!(
            matches!(other, Cow::Owned(_)),
            "nothing kept beyond the bound"
        );
    }
}
