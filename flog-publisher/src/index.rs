use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock, RwLock};

use flog_core::{
    flogfile::{read_trigger, ReadError, FINISHED_SUFFIX, INCIDENT_PREFIX},
    Event,
};
use flog_wire::{EncodedEvent, IncidentInfo, ListQuery};

/// One finished incident.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) info: IncidentInfo,
    pub(crate) path: PathBuf,
    /// SHA-256 of the file, once a fetch has computed it (files never change).
    pub(crate) digest: OnceLock<[u8; 32]>,
}

/// The finished incidents of a logdir, by name.
///
/// Built once at start-up by reading each file's header, then kept current by the
/// logger's incident observer, so a listing never touches the disk.
#[derive(Debug, Default)]
pub(crate) struct IncidentIndex {
    entries: RwLock<BTreeMap<String, Arc<Entry>>>,
}

/// Most entries in one listing page; the client asks again for the rest.
pub(crate) const MAX_PAGE: usize = 10_000;
/// Budget for the encoded size of one page, well inside the default frame.
const PAGE_BYTES: usize = 4 * 1024 * 1024;

fn info_for(name: &str, trigger: Option<&Event>, size: u64) -> IncidentInfo {
    IncidentInfo {
        name: name.to_owned(),
        trigger: EncodedEvent::new(trigger.map(Event::to_cbor).unwrap_or_default()),
        time: trigger.map_or(0, |t| t.time.as_micros()),
        size,
        level: trigger.map_or(0, |t| t.level.number()),
    }
}

/// Why a file in the logdir was left out of the index.
#[derive(Debug)]
pub(crate) struct Skipped {
    pub(crate) path: PathBuf,
    pub(crate) reason: SkipReason,
}

/// What was wrong with a skipped file.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SkipReason {
    /// Its size could not be read.
    #[error("cannot read its size: {0}")]
    Size(io::Error),
    /// Its header (the trigger) could not be read.
    #[error("{0}")]
    Read(ReadError),
}

impl IncidentIndex {
    /// Reads the header of every finished incident in `dir`. Files that cannot be
    /// read are skipped and returned, so the caller can warn about them.
    pub(crate) fn build(dir: &Path) -> io::Result<(IncidentIndex, Vec<Skipped>)> {
        let index = IncidentIndex::default();
        let mut skipped = Vec::new();
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            let file_name = entry.file_name();
            let Some(name) = file_name
                .to_str()
                .and_then(|n| n.strip_suffix(FINISHED_SUFFIX))
                .filter(|n| n.starts_with(INCIDENT_PREFIX))
            else {
                continue;
            };
            let path = entry.path();
            match read_header(&path) {
                Ok((trigger, size)) => index.insert(name, &path, trigger.as_ref(), size),
                Err(reason) => skipped.push(Skipped { path, reason }),
            }
        }
        Ok((index, skipped))
    }

    pub(crate) fn insert(&self, name: &str, path: &Path, trigger: Option<&Event>, size: u64) {
        let entry = Arc::new(Entry {
            info: info_for(name, trigger, size),
            path: path.to_owned(),
            digest: OnceLock::new(),
        });
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        entries.insert(name.to_owned(), entry);
        // Retention deletes the oldest files; drop them from the front.
        while let Some((oldest, e)) = entries.first_key_value() {
            if e.path.exists() || oldest == name {
                break;
            }
            let oldest = oldest.clone();
            entries.remove(&oldest);
        }
    }

    /// Records a newly finished incident, reading its size from the file.
    pub(crate) fn add_finished(&self, name: &str, path: &Path, trigger: &Event) {
        let size = fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        self.insert(name, path, Some(trigger), size);
    }

    pub(crate) fn get(&self, name: &str) -> Option<Arc<Entry>> {
        self.entries
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()
    }

    pub(crate) fn remove(&self, name: &str) {
        self.entries
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(name);
    }

    /// Incidents after `since_name` and triggered at or after `since_time`, in
    /// name order; the flag says whether more remain beyond this page. A page
    /// holds at least one incident when any matches, however large: a page
    /// that is empty but says more follow could never be followed.
    pub(crate) fn list(&self, query: &ListQuery) -> (Vec<IncidentInfo>, bool) {
        let limit = query.limit.map_or(MAX_PAGE, |l| (l as usize).min(MAX_PAGE));
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        let start = match &query.since_name {
            Some(name) => Bound::Excluded(name.as_str()),
            None => Bound::Unbounded,
        };
        let mut page = Vec::new();
        let mut bytes = 0;
        let mut more = false;
        for (_, entry) in entries.range::<str, _>((start, Bound::Unbounded)) {
            if query.since_time.is_some_and(|t| entry.info.time < t) {
                continue;
            }
            let cost = entry.info.name.len() + entry.info.trigger.as_bytes().len() + 64;
            if page.len() >= limit || (!page.is_empty() && bytes + cost > PAGE_BYTES) {
                more = true;
                break;
            }
            bytes += cost;
            page.push(entry.info.clone());
        }
        (page, more)
    }

    /// Every name after `since`, in order (for subscription catch-up).
    pub(crate) fn after(&self, since: Option<&str>) -> Vec<IncidentInfo> {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        let start = since.map_or(Bound::Unbounded, Bound::Excluded);
        entries
            .range::<str, _>((start, Bound::Unbounded))
            .map(|(_, e)| e.info.clone())
            .collect()
    }
}

fn read_header(path: &Path) -> Result<(Option<Event>, u64), SkipReason> {
    let size = fs::metadata(path).map_err(SkipReason::Size)?.len();
    let trigger = read_trigger(path).map_err(SkipReason::Read)?;
    Ok((trigger, size))
}

#[cfg(test)]
mod tests {
    use super::*;
    use flog_core::flogfile::RING_FILE;
    use flog_core::{Level, Logger};

    /// A crash report (issue 17) is listed like any incident, its worst
    /// event standing for the trigger it does not have.
    #[test]
    fn a_crash_report_is_listed_like_any_incident() {
        let live = tempfile::tempdir().unwrap();
        let logger = Logger::builder()
            .logdir(live.path())
            .crash_ring(true)
            .build()
            .unwrap();
        logger.msg(Level::OPERATIONAL, "working");
        logger.msg(Level::UNUSUAL, "the worst of it");
        // The live ring's pages, in a logdir nobody holds: what a death leaves.
        let dead = tempfile::tempdir().unwrap();
        fs::copy(live.path().join(RING_FILE), dead.path().join(RING_FILE)).unwrap();
        drop(logger);
        let rescued = flog_core::rescue_crash(dead.path()).unwrap().unwrap();
        let (index, skipped) = IncidentIndex::build(dead.path()).unwrap();
        assert!(skipped.is_empty());
        let listed = index.after(None);
        assert_eq!(listed.len(), 1);
        let name = rescued.report.file_name().unwrap().to_str().unwrap();
        assert_eq!(format!("{}{FINISHED_SUFFIX}", listed[0].name), name);
        assert_eq!(listed[0].level, Level::UNUSUAL.number());
    }
}
