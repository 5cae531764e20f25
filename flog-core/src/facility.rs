use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{OnceLock, PoisonError, RwLock};

/// How many distinct targets [`facility_from_target`] keeps a facility string
/// for, for the life of the process. Targets can be made at run time, so the
/// table is bounded; targets beyond it cost a string per call.
pub const MAX_INTERNED_TARGETS: usize = 1024;

/// The facility for a Rust logging target or module path: `my_app::db` becomes
/// `my_app.db`. The front-end bridges (`log`, `tracing`) call this for every
/// record, so the result is borrowed from a string made once per distinct
/// target (up to [`MAX_INTERNED_TARGETS`] of them) and a record allocates none.
pub fn facility_from_target(target: &str) -> Cow<'static, str> {
    static KNOWN: OnceLock<Interner> = OnceLock::new();
    KNOWN
        .get_or_init(|| Interner::new(MAX_INTERNED_TARGETS))
        .get(target)
}

/// Facility strings by target, kept for the life of the process.
#[derive(Debug)]
struct Interner {
    known: RwLock<HashMap<Box<str>, &'static str>>,
    max: usize,
}

impl Interner {
    fn new(max: usize) -> Interner {
        Interner {
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
        // Leaked on purpose: at most `max` strings for the life of the process,
        // so that every later record can borrow them.
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
        let a = facility_from_target("my_app::db");
        assert_eq!(a, "my_app.db");
        assert!(matches!(a, Cow::Borrowed(_)));
        let b = facility_from_target(&String::from("my_app::db"));
        assert!(std::ptr::eq(a.as_ref(), b.as_ref()), "interned once");
        assert_eq!(facility_from_target("plain"), "plain");
    }

    #[test]
    fn targets_beyond_the_bound_are_converted_per_call() {
        let interner = Interner::new(1);
        assert!(matches!(interner.get("a::b"), Cow::Borrowed("a.b")));
        assert!(matches!(interner.get("a::b"), Cow::Borrowed("a.b")));
        let other = interner.get("c::d");
        assert_eq!(other, "c.d");
        assert!(
            matches!(other, Cow::Owned(_)),
            "nothing kept beyond the bound"
        );
    }
}
