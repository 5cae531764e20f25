use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use arc_swap::ArcSwap;

use crate::level::Level;

/// Generation thresholds: a global one and per facility.
///
/// The fast path is one relaxed load and a compare: `min` is the lowest threshold
/// anywhere, so an event below it is rejected before any facility is looked at.
#[derive(Debug)]
pub(crate) struct Thresholds {
    /// Changes, to a value no logger has used, whenever thresholds change; call
    /// sites cache their verdict under it.
    epoch: AtomicU64,
    global: AtomicU16,
    min: AtomicU16,
    any_facility: AtomicBool,
    facilities: ArcSwap<HashMap<Box<str>, Level>>,
    write: Mutex<()>,
}

impl Thresholds {
    pub(crate) fn new(global: Level) -> Thresholds {
        Thresholds {
            epoch: AtomicU64::new(new_epoch()),
            global: AtomicU16::new(global.0),
            min: AtomicU16::new(global.0),
            any_facility: AtomicBool::new(false),
            facilities: ArcSwap::from_pointee(HashMap::new()),
            write: Mutex::new(()),
        }
    }

    #[inline(always)]
    pub(crate) fn enabled(&self, level: Level, facility: Option<&str>) -> bool {
        if level.0 < self.min.load(Ordering::Relaxed) {
            return false;
        }
        if !self.any_facility.load(Ordering::Relaxed) {
            return level.0 >= self.global.load(Ordering::Relaxed);
        }
        self.enabled_by_facility(level, facility)
    }

    /// [`enabled`](Self::enabled) for a call site whose facility never changes,
    /// remembering the verdict in `cache` until the thresholds change, so that
    /// facility thresholds cost no lookup per event.
    #[inline(always)]
    pub(crate) fn enabled_cached(
        &self,
        cache: &CallsiteCache,
        level: Level,
        facility: &str,
    ) -> bool {
        if level.0 < self.min.load(Ordering::Relaxed) {
            return false;
        }
        if !self.any_facility.load(Ordering::Relaxed) {
            return level.0 >= self.global.load(Ordering::Relaxed);
        }
        self.cached_verdict(cache, level, facility)
    }

    /// [`enabled_cached`](Self::enabled_cached) for a call site whose facility
    /// is a `&'static str` expression (a `const`, a `static`) that may differ
    /// between calls: the cache belongs to the first facility it sees, and
    /// any other one is looked up per call.
    #[inline(always)]
    pub(crate) fn enabled_cached_static(
        &self,
        cache: &CallsiteCache,
        level: Level,
        facility: &'static str,
    ) -> bool {
        if level.0 < self.min.load(Ordering::Relaxed) {
            return false;
        }
        if !self.any_facility.load(Ordering::Relaxed) {
            return level.0 >= self.global.load(Ordering::Relaxed);
        }
        let owner = cache.facility.get_or_init(|| facility);
        if std::ptr::eq(*owner, facility) {
            self.cached_verdict(cache, level, facility)
        } else {
            self.enabled_by_facility(level, Some(facility))
        }
    }

    #[inline(always)]
    fn cached_verdict(&self, cache: &CallsiteCache, level: Level, facility: &str) -> bool {
        // Epoch first (acquire): a verdict computed from the new map is never
        // filed under an older epoch that would outlive it.
        let key = (self.epoch.load(Ordering::Acquire) << 18) | (u64::from(level.0) << 2);
        let cached = cache.verdict.load(Ordering::Relaxed);
        if cached & !3 == key && cached & 3 != 0 {
            return cached & 3 == 2;
        }
        let verdict = self.enabled_by_facility(level, Some(facility));
        cache
            .verdict
            .store(key | if verdict { 2 } else { 1 }, Ordering::Relaxed);
        verdict
    }

    #[cold]
    fn enabled_by_facility(&self, level: Level, facility: Option<&str>) -> bool {
        let map = self.facilities.load();
        let mut name = facility.unwrap_or("");
        // `app.db.pool` is covered by `app.db`, then `app`, unless it has its own.
        while !name.is_empty() {
            if let Some(t) = map.get(name) {
                return level >= *t;
            }
            name = name.rfind('.').map_or("", |i| &name[..i]);
        }
        level.0 >= self.global.load(Ordering::Relaxed)
    }

    pub(crate) fn global(&self) -> Level {
        Level(self.global.load(Ordering::Relaxed))
    }

    pub(crate) fn set_global(&self, level: Level) {
        let _w = self.write.lock().unwrap_or_else(PoisonError::into_inner);
        self.global.store(level.0, Ordering::Relaxed);
        self.recompute_min(&self.facilities.load());
        self.epoch.store(new_epoch(), Ordering::Release);
    }

    pub(crate) fn set_facility(&self, facility: &str, level: Option<Level>) {
        let _w = self.write.lock().unwrap_or_else(PoisonError::into_inner);
        let mut map = HashMap::clone(&self.facilities.load());
        match level {
            Some(level) => map.insert(facility.into(), level),
            None => map.remove(facility),
        };
        self.any_facility.store(!map.is_empty(), Ordering::Relaxed);
        self.recompute_min(&map);
        self.facilities.store(Arc::new(map));
        self.epoch.store(new_epoch(), Ordering::Release);
    }

    fn recompute_min(&self, map: &HashMap<Box<str>, Level>) {
        let global = self.global.load(Ordering::Relaxed);
        let min = map.values().map(|l| l.0).fold(global, u16::min);
        self.min.store(min, Ordering::Relaxed);
    }
}

fn new_epoch() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// A call site's cached threshold verdict (used by [`msg!`](crate::msg) when its
/// facility is a `&'static str`).
#[doc(hidden)]
#[derive(Debug)]
pub struct CallsiteCache {
    verdict: AtomicU64,
    /// The facility the verdict is for, where the call site's facility is an
    /// expression rather than a literal: set once, by the first call.
    facility: OnceLock<&'static str>,
}

impl CallsiteCache {
    /// An empty cache.
    #[allow(clippy::new_without_default)]
    pub const fn new() -> CallsiteCache {
        CallsiteCache {
            verdict: AtomicU64::new(0),
            facility: OnceLock::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facility_thresholds_cover_their_dotted_children() {
        let t = Thresholds::new(Level::OPERATIONAL);
        assert!(!t.enabled(Level::NOISY, Some("app.db")));
        t.set_facility("app", Some(Level::NOISY));
        t.set_facility("app.db.pool", Some(Level::WEIRD));
        assert!(t.enabled(Level::NOISY, Some("app")));
        assert!(t.enabled(Level::NOISY, Some("app.db")));
        assert!(!t.enabled(Level::CURIOUS, Some("app.db.pool")));
        assert!(!t.enabled(Level::CURIOUS, Some("app.db.pool.conn")));
        assert!(t.enabled(Level::WEIRD, Some("app.db.pool.conn")));
        assert!(
            !t.enabled(Level::NOISY, Some("application")),
            "prefix is by dotted parts"
        );
        assert!(!t.enabled(Level::NOISY, None));
        assert!(t.enabled(Level::OPERATIONAL, None));
        t.set_facility("app", None);
        assert!(!t.enabled(Level::NOISY, Some("app.db")));
        let cache = CallsiteCache::new();
        assert!(!t.enabled_cached(&cache, Level::NOISY, "app.db.pool"));
        assert!(
            !t.enabled_cached(&cache, Level::NOISY, "app.db.pool"),
            "cached"
        );
        assert!(
            t.enabled_cached(&cache, Level::WEIRD, "app.db.pool"),
            "per level"
        );
        t.set_facility("app.db.pool", Some(Level::NOISY));
        assert!(
            t.enabled_cached(&cache, Level::NOISY, "app.db.pool"),
            "config changed"
        );
        t.set_facility("app.db.pool", Some(Level::WEIRD));
        t.set_global(Level::BAD);
        let shared = CallsiteCache::new();
        let pool: &'static str = "app.db.pool";
        let other: &'static str = "other";
        assert!(t.enabled_cached_static(&shared, Level::WEIRD, pool));
        assert!(
            !t.enabled_cached_static(&shared, Level::WEIRD, other),
            "another facility at the same call site is not given the cached verdict"
        );
        assert!(t.enabled_cached_static(&shared, Level::WEIRD, pool));
        assert!(!t.enabled(Level::WEIRD, Some("x")));
        assert!(t.enabled(Level::WEIRD, Some("app.db.pool")));
    }
}
