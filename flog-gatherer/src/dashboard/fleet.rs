//! The dashboard's picture of the fleet: the stored incidents, read from the
//! base directory at start and after every reclassification, and each
//! publisher's state, as told by the gatherer's events; with a shared
//! bucket, the whole fleet as the bucket tells of it (`shared`) besides.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use flog_core::{flogfile::parse_incident_name, Event, Timestamp};
use flog_web::{
    Contact, EventCounts, Fleet, FleetFigures, IncidentEntry, PublisherStatus, RefreshFuture,
    SharedBucket, SpoolCounts,
};

use super::shared::{BucketRead, SharedView, BUCKET_WAIT};

use crate::classified::{read_trigger, CLASSIFIED_DIR};
use crate::classify::{CATEGORY_ALL, CATEGORY_UNKNOWN};
use crate::config::Config;
use crate::events::EventFigures;
use crate::observer::{ConnectedBy, GatherEvent};
use crate::store::{publisher_ids, relative_path, stored_names, INCIDENTS_DIR};

/// What the dashboard knows of an incident's trigger.
#[derive(Debug, Clone)]
struct TriggerInfo {
    time: Option<Timestamp>,
    level: Option<flog_core::Level>,
    facility: String,
    text: String,
}

impl TriggerInfo {
    /// The trigger of the file at `path`; what cannot be read is left empty
    /// (the incident is listed all the same, as the classifier lists it).
    fn read(path: &Path) -> TriggerInfo {
        let event: Option<Event> = read_trigger(path).ok().flatten();
        match event {
            Some(e) => TriggerInfo {
                time: Some(e.time),
                level: Some(e.level),
                facility: e.facility().to_owned(),
                text: IncidentEntry::cut_trigger(&e.render()),
            },
            None => TriggerInfo {
                time: None,
                level: None,
                facility: String::new(),
                text: String::new(),
            },
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    publishers: BTreeMap<String, PublisherStatus>,
    incidents: Arc<Vec<IncidentEntry>>,
}

/// The gatherer's fleet as the dashboard shows it (a [`Fleet`]).
#[derive(Debug)]
pub struct GathererFleet {
    basedir: PathBuf,
    inner: Mutex<Inner>,
    /// Triggers already read, by file: a reload after a reclassification
    /// reads only new files.
    triggers: Mutex<HashMap<PathBuf, TriggerInfo>>,
    /// The event gatherer's counts, once the gatherer is known.
    event_figures: OnceLock<Arc<EventFigures>>,
    /// Events dropped on their way here (the queue was full).
    dropped: Arc<AtomicU64>,
    /// With a shared bucket: the whole fleet as last read from it.
    shared: OnceLock<Arc<SharedView>>,
    /// Whether the event spool is shown (event files go to a bucket).
    spool: OnceLock<()>,
    /// The incidents shown with a shared bucket: this gatherer's and the
    /// bucket's, merged once per change of either.
    merged: Mutex<Option<Merged>>,
}

#[derive(Debug)]
struct Merged {
    local: Arc<Vec<IncidentEntry>>,
    read: Arc<BucketRead>,
    all: Arc<Vec<IncidentEntry>>,
}

fn entry(
    basedir: &Path,
    publisher: &str,
    name: &str,
    categories: Vec<String>,
    t: &TriggerInfo,
) -> IncidentEntry {
    let time = t
        .time
        .or_else(|| parse_incident_name(name).map(|(time, _)| time))
        .unwrap_or_default();
    IncidentEntry {
        publisher: publisher.to_owned(),
        name: name.to_owned(),
        path: basedir.join(relative_path(publisher, name)),
        time,
        categories,
        level: t.level,
        facility: t.facility.clone(),
        trigger: t.text.clone(),
    }
}

/// By stored path (relative to the base directory): the categories its
/// lists give it, `all` left out.
fn read_categories(basedir: &Path) -> io::Result<HashMap<String, Vec<String>>> {
    let mut categories: HashMap<String, Vec<String>> = HashMap::new();
    let dir = basedir.join(CLASSIFIED_DIR);
    let entries = match fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(categories),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let Some(category) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if category.starts_with('.') || category == CATEGORY_ALL || !entry.file_type()?.is_file() {
            continue;
        }
        for line in BufReader::new(fs::File::open(entry.path())?).lines() {
            categories.entry(line?).or_default().push(category.clone());
        }
    }
    for list in categories.values_mut() {
        list.sort();
    }
    Ok(categories)
}

impl GathererFleet {
    /// The fleet of the gatherer of `basedir`, knowing only its configured
    /// publishers until [`reload`](Self::reload) and the events come.
    pub fn new(basedir: &Path, config: &Config, dropped: Arc<AtomicU64>) -> GathererFleet {
        let mut inner = Inner::default();
        for url in &config.publishers {
            let id = url.publisher_id().to_owned();
            inner
                .publishers
                .insert(id.clone(), PublisherStatus::new(id, Contact::Polled));
        }
        GathererFleet {
            basedir: basedir.to_owned(),
            inner: Mutex::new(inner),
            triggers: Mutex::new(HashMap::new()),
            event_figures: OnceLock::new(),
            dropped,
            shared: OnceLock::new(),
            spool: OnceLock::new(),
            merged: Mutex::new(None),
        }
    }

    /// Shows the whole fleet of this shared bucket (the first call wins).
    pub(super) fn show_shared(&self, view: Arc<SharedView>) {
        let _ = self.shared.set(view);
    }

    /// Shows the event spool's figures (event files go to a bucket).
    pub(super) fn show_spool(&self) {
        let _ = self.spool.set(());
    }

    /// This gatherer's incidents, and with a shared bucket those it lists
    /// that this gatherer did not see stored.
    fn all_incidents(&self) -> Arc<Vec<IncidentEntry>> {
        let local = self.lock().incidents.clone();
        let Some(shared) = self.shared.get() else {
            return local;
        };
        let read = shared.read();
        let mut merged = self.merged.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(m) = merged.as_ref() {
            if Arc::ptr_eq(&m.local, &local) && Arc::ptr_eq(&m.read, &read) {
                return m.all.clone();
            }
        }
        let mine: std::collections::HashSet<(&str, &str)> = local
            .iter()
            .map(|e| (e.publisher.as_str(), e.name.as_str()))
            .collect();
        let mut all: Vec<IncidentEntry> = local.iter().cloned().collect();
        all.extend(
            read.incidents
                .iter()
                .filter(|e| !mine.contains(&(e.publisher.as_str(), e.name.as_str())))
                .cloned(),
        );
        let all = Arc::new(all);
        *merged = Some(Merged {
            local,
            read,
            all: all.clone(),
        });
        all
    }

    /// Shows these event figures in the metrics (the first call wins).
    pub fn show_event_figures(&self, figures: Arc<EventFigures>) {
        let _ = self.event_figures.set(figures);
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reads every stored incident and its categories from the base
    /// directory (blocking file I/O: call it off the async runtime).
    pub fn reload(&self) -> io::Result<()> {
        let categories = read_categories(&self.basedir)?;
        let mut incidents = Vec::new();
        let mut ids = Vec::new();
        let mut triggers = self.triggers.lock().unwrap_or_else(PoisonError::into_inner);
        for id in publisher_ids(&self.basedir)? {
            let dir = self.basedir.join(INCIDENTS_DIR).join(&id);
            for name in stored_names(&dir)? {
                let relative = relative_path(&id, &name);
                let path = self.basedir.join(&relative);
                let info = triggers
                    .entry(path.clone())
                    .or_insert_with(|| TriggerInfo::read(&path));
                let listed = categories
                    .get(&relative)
                    .cloned()
                    .unwrap_or_else(|| vec![CATEGORY_UNKNOWN.to_owned()]);
                incidents.push(entry(&self.basedir, &id, &name, listed, info));
            }
            ids.push(id);
        }
        drop(triggers);
        let mut inner = self.lock();
        for id in ids {
            inner
                .publishers
                .entry(id.clone())
                .or_insert_with(|| PublisherStatus::new(id, Contact::Polled));
        }
        inner.incidents = Arc::new(incidents);
        Ok(())
    }

    /// Takes in one of the gatherer's events (blocking: a stored incident's
    /// trigger is read, a reclassification reloads).
    pub fn apply(&self, event: &GatherEvent) {
        let now = Timestamp::now();
        match event {
            GatherEvent::Connected { publisher_id, by } => self.publisher(publisher_id, |p| {
                p.connected = true;
                p.contact = match by {
                    ConnectedBy::DialIn => Contact::DialIn,
                    _ => Contact::Polled,
                };
            }),
            GatherEvent::Polled { publisher_id, took } => self.publisher(publisher_id, |p| {
                p.connected = true;
                p.failing = false;
                p.last_poll = Some(now);
                p.last_poll_duration = Some(*took);
                p.polls += 1;
                p.poll_time += *took;
            }),
            GatherEvent::Failed {
                publisher_id,
                error,
                ..
            } => self.publisher(publisher_id, |p| {
                p.connected = false;
                p.failing = true;
                p.failures += 1;
                p.last_error = Some(error.clone());
                p.last_error_at = Some(now);
            }),
            GatherEvent::Stored(stored) => {
                let info = TriggerInfo::read(&stored.path);
                self.triggers
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(stored.path.clone(), info.clone());
                let categories = if stored.categories.is_empty() {
                    vec![CATEGORY_UNKNOWN.to_owned()]
                } else {
                    stored.categories.clone()
                };
                let new = entry(
                    &self.basedir,
                    &stored.publisher_id,
                    &stored.name,
                    categories,
                    &info,
                );
                self.publisher(&stored.publisher_id, |_| {});
                let mut inner = self.lock();
                let incidents = Arc::make_mut(&mut inner.incidents);
                match incidents.iter_mut().find(|e| e.path == new.path) {
                    Some(old) => *old = new,
                    None => incidents.push(new),
                }
            }
            GatherEvent::Reclassified { .. } => {
                if let Err(error) = self.reload() {
                    tracing::warn!(%error, "the dashboard cannot read the stored incidents: {error}");
                }
            }
            _ => {}
        }
    }

    fn publisher(&self, id: &str, change: impl FnOnce(&mut PublisherStatus)) {
        let mut inner = self.lock();
        let status = inner
            .publishers
            .entry(id.to_owned())
            .or_insert_with(|| PublisherStatus::new(id, Contact::Polled));
        change(status);
    }
}

impl Fleet for GathererFleet {
    fn publishers(&self) -> Vec<PublisherStatus> {
        let incidents = self.all_incidents();
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for e in incidents.iter() {
            *counts.entry(&e.publisher).or_default() += 1;
        }
        let mut publishers = self.lock().publishers.clone();
        if let Some(shared) = self.shared.get() {
            for p in &shared.read().publishers {
                let status = publishers
                    .entry(p.id.clone())
                    .or_insert_with(|| PublisherStatus::in_bucket(p.id.clone()));
                status.lease = p.lease.clone();
                status.latest = p.latest.clone();
            }
        }
        publishers
            .into_values()
            .map(|p| PublisherStatus {
                incidents: counts.get(p.id.as_str()).copied().unwrap_or(0),
                ..p
            })
            .collect()
    }

    fn incidents(&self) -> Arc<Vec<IncidentEntry>> {
        self.all_incidents()
    }

    fn shared_bucket(&self) -> Option<SharedBucket> {
        self.shared.get().map(|shared| shared.shared_bucket())
    }

    fn refresh(&self) -> RefreshFuture<'_> {
        match self.shared.get() {
            Some(shared) => Box::pin(shared.clone().refresh(BUCKET_WAIT)),
            None => Box::pin(std::future::ready(())),
        }
    }

    fn figures(&self) -> FleetFigures {
        let events = self.event_figures.get().map_or_else(Vec::new, |figures| {
            figures
                .snapshot()
                .into_iter()
                .map(|(id, f)| {
                    let counts = EventCounts {
                        events: f.events,
                        gaps: f.gaps,
                        missing: f.missing,
                    };
                    (id, counts)
                })
                .collect()
        });
        // The spool is there only when files go to a bucket.
        let spool = self
            .event_figures
            .get()
            .filter(|_| self.spool.get().is_some())
            .map(|figures| {
                let spool = figures.spool();
                SpoolCounts {
                    files: spool.files,
                    bytes: spool.bytes,
                    limit: spool.limit,
                    full: spool.full,
                    uploaded_files: spool.uploaded_files,
                    uploaded_bytes: spool.uploaded_bytes,
                }
            });
        FleetFigures {
            events,
            dropped_updates: self.dropped.load(Ordering::Relaxed),
            spool,
        }
    }
}
