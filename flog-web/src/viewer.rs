//! The viewer's state: the files it shows, each read when first asked for and
//! again whenever it changed.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, RwLock};

use crate::file::LoadedFile;
use crate::source::{BoxError, FlogSource, Stamp};
use crate::view::ViewCache;

/// A viewer that cannot be set up as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The base path must be empty or start with `/`, and not end with one.
    #[error("base path {0:?} must be empty or like \"/view\" (a leading slash, no trailing one)")]
    BasePath(String),
    /// No randomness for the dashboard's form token.
    #[error("cannot make the dashboard's form token: {0}")]
    Random(getrandom::Error),
}

/// A request the viewer could not serve.
#[derive(Debug, thiserror::Error)]
pub enum ViewerError {
    /// No file has this number.
    #[error("there is no file {0}")]
    UnknownFile(usize),
    /// The file could not be read at all.
    #[error("cannot read {label}: {source}")]
    Read {
        /// The file's label.
        label: String,
        /// The source's error.
        source: BoxError,
    },
    /// Preparing the file failed unexpectedly (a bug: reported, not fatal).
    #[error("reading {label} failed unexpectedly")]
    Crashed {
        /// The file's label.
        label: String,
    },
}

/// A file as last read, with the views made of it so far.
#[derive(Debug)]
pub struct Loaded {
    /// The file.
    pub file: LoadedFile,
    /// Its views.
    pub views: ViewCache,
}

#[derive(Debug, Default)]
struct SlotState {
    stamp: Option<Stamp>,
    loaded: Option<Arc<Loaded>>,
    loads: u64,
}

#[derive(Debug)]
struct Slot {
    source: Box<dyn FlogSource>,
    // An async mutex: held across the read, so a file is read once however
    // many requests for it arrive meanwhile.
    state: tokio::sync::Mutex<SlotState>,
}

/// How much the files a viewer keeps read may hold, by default: 512 MiB.
pub const DEFAULT_MEMORY_BUDGET: u64 = 512 << 20;

/// The files kept read, used longest ago first, and what they hold.
#[derive(Debug, Default)]
struct Resident {
    files: VecDeque<(usize, u64, u64)>,
    bytes: u64,
}

impl Resident {
    /// Takes file `id`'s entry out, no longer counted.
    fn take(&mut self, id: usize) -> Option<(usize, u64, u64)> {
        let at = self.files.iter().position(|&(i, _, _)| i == id)?;
        let entry = self.files.remove(at)?;
        self.bytes -= entry.2;
        Some(entry)
    }
}

/// The files a viewer shows and how its pages link to each other. Share it as
/// an `Arc` with the crate's `router`.
#[derive(Debug)]
pub struct Viewer {
    base: String,
    allowed_hosts: Option<Vec<String>>,
    files: RwLock<Vec<Arc<Slot>>>,
    budget: u64,
    // Which files are kept read (id, load generation, bytes), used longest
    // ago first: when they hold more than `budget`, the first are let go and read
    // again when next asked for. The files shown are chosen by the user
    // (a bucket prefix may name a thousand), so memory is bounded in bytes,
    // not by their count.
    resident: Mutex<Resident>,
}

/// Builds a [`Viewer`].
#[must_use]
#[derive(Debug)]
pub struct ViewerBuilder {
    base: String,
    allowed_hosts: Option<Vec<String>>,
    budget: u64,
}

impl Default for ViewerBuilder {
    fn default() -> Self {
        ViewerBuilder {
            base: String::new(),
            allowed_hosts: None,
            budget: DEFAULT_MEMORY_BUDGET,
        }
    }
}

impl ViewerBuilder {
    /// Where the viewer's routes are mounted (`Router::nest`), e.g. `/view`;
    /// empty (the default) for the root.
    pub fn base_path(mut self, base: impl Into<String>) -> Self {
        self.base = base.into();
        self
    }

    /// Answer only requests whose `Host` header is one of these (`host:port`),
    /// so that a web page elsewhere cannot read the files through a name it
    /// points at this address (DNS rebinding). By default any host is served.
    pub fn allowed_hosts(mut self, hosts: impl IntoIterator<Item = String>) -> Self {
        self.allowed_hosts = Some(hosts.into_iter().collect());
        self
    }

    /// How much the files kept read may hold, about (see
    /// [`LoadedFile::approx_bytes`](crate::LoadedFile::approx_bytes)); by
    /// default [`DEFAULT_MEMORY_BUDGET`]. Past it, the files used longest
    /// ago are let go and read again when next asked for; the file just
    /// read is always kept, however large (the readers bound each file).
    pub fn memory_budget(mut self, bytes: u64) -> Self {
        self.budget = bytes;
        self
    }

    /// The viewer, with no files yet.
    pub fn build(self) -> Result<Viewer, ConfigError> {
        let b = &self.base;
        if !b.is_empty() && (!b.starts_with('/') || b.ends_with('/')) {
            return Err(ConfigError::BasePath(self.base));
        }
        Ok(Viewer {
            base: self.base,
            allowed_hosts: self.allowed_hosts,
            files: RwLock::new(Vec::new()),
            budget: self.budget,
            resident: Mutex::new(Resident::default()),
        })
    }
}

impl Viewer {
    /// A builder.
    pub fn builder() -> ViewerBuilder {
        ViewerBuilder::default()
    }

    /// Adds a file; returns its number in URLs (`/files/N`).
    pub fn add(&self, source: impl FlogSource + 'static) -> usize {
        let mut files = self.files.write().unwrap_or_else(|e| e.into_inner());
        files.push(Arc::new(Slot {
            source: Box::new(source),
            state: tokio::sync::Mutex::new(SlotState::default()),
        }));
        files.len() - 1
    }

    /// How many files.
    pub fn len(&self) -> usize {
        self.files.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The base path of every link.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Whether a request with this `Host` header may be answered.
    pub fn host_allowed(&self, host: Option<&str>) -> bool {
        match (&self.allowed_hosts, host) {
            (None, _) => true,
            (Some(hosts), Some(host)) => hosts.iter().any(|h| h.eq_ignore_ascii_case(host)),
            (Some(_), None) => false,
        }
    }

    /// The label of file `id`.
    pub fn label(&self, id: usize) -> Result<String, ViewerError> {
        Ok(self.slot(id)?.source.label())
    }

    fn slot(&self, id: usize) -> Result<Arc<Slot>, ViewerError> {
        let files = self.files.read().unwrap_or_else(|e| e.into_inner());
        files.get(id).cloned().ok_or(ViewerError::UnknownFile(id))
    }

    /// File `id` as it is now: the copy read before when the file has not
    /// changed since, else read again (off the async runtime).
    pub async fn file(&self, id: usize) -> Result<Arc<Loaded>, ViewerError> {
        let slot = self.slot(id)?;
        let mut state = slot.state.lock().await;
        // Taken before reading: a file that changes during the read is read
        // again on the next request.
        let stamp = slot.source.stamp();
        if let (Some(loaded), Some(now)) = (&state.loaded, stamp) {
            if state.stamp == Some(now) {
                self.touch(id);
                return Ok(loaded.clone());
            }
        }
        state.loads += 1;
        let generation = state.loads;
        let reader = slot.clone();
        let label = slot.source.label();
        let loaded = tokio::task::spawn_blocking(move || {
            let contents = reader.source.load()?;
            Ok::<_, BoxError>(Loaded {
                file: LoadedFile::new(reader.source.label(), generation, contents),
                views: ViewCache::default(),
            })
        })
        .await;
        match loaded {
            Ok(Ok(loaded)) => {
                let loaded = Arc::new(loaded);
                state.stamp = stamp;
                state.loaded = Some(loaded.clone());
                // Counted while the slot is still locked, so that two reads
                // of one file are counted in the order they were kept.
                self.keep(id, generation, loaded.file.approx_bytes());
                Ok(loaded)
            }
            Ok(Err(source)) => {
                state.stamp = None;
                state.loaded = None;
                self.forget(id);
                Err(ViewerError::Read { label, source })
            }
            Err(_) => Err(ViewerError::Crashed { label }),
        }
    }

    /// How much the files kept read hold now, about.
    pub fn resident_bytes(&self) -> u64 {
        self.resident
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .bytes
    }

    /// Marks file `id`'s read as the one used last.
    fn touch(&self, id: usize) {
        let mut resident = self.resident.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = resident.take(id) {
            resident.bytes += entry.2;
            resident.files.push_back(entry);
        }
    }

    /// Stops counting file `id`, whose read is gone.
    fn forget(&self, id: usize) {
        let mut resident = self.resident.lock().unwrap_or_else(|e| e.into_inner());
        resident.take(id);
    }

    /// Counts file `id`'s new read against the budget and lets go of the
    /// reads used longest ago past it.
    fn keep(&self, id: usize, generation: u64, bytes: u64) {
        let mut evict = Vec::new();
        // A file read again replaces its older read.
        self.forget(id);
        {
            let mut resident = self.resident.lock().unwrap_or_else(|e| e.into_inner());
            resident.files.push_back((id, generation, bytes));
            resident.bytes += bytes;
            while resident.bytes > self.budget && resident.files.len() > 1 {
                if let Some((i, g, b)) = resident.files.pop_front() {
                    resident.bytes -= b;
                    evict.push((i, g, b));
                }
            }
        }
        let mut busy = Vec::new();
        for (i, g, b) in evict {
            let Ok(slot) = self.slot(i) else { continue };
            // Only the read that was counted is let go; requests that hold
            // it keep their copy until they finish. A slot locked by another
            // request stays counted and goes at a later read.
            let locked = slot.state.try_lock();
            match locked {
                Ok(mut state) => {
                    let counted = state.loaded.as_ref().map(|l| l.file.generation);
                    if counted == Some(g) {
                        state.loaded = None;
                        state.stamp = None;
                    }
                }
                Err(_) => busy.push((i, g, b)),
            }
        }
        if !busy.is_empty() {
            let mut resident = self.resident.lock().unwrap_or_else(|e| e.into_inner());
            for (i, g, b) in busy {
                if !resident.files.iter().any(|&(r, _, _)| r == i) {
                    resident.files.push_front((i, g, b));
                    resident.bytes += b;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use flog_core::flogfile::FlogContents;
    use flog_core::{Event, Level, Text};

    use super::*;

    /// A file of `events` events whose reads are counted.
    #[derive(Debug)]
    struct Counted {
        events: usize,
        reads: Arc<AtomicU64>,
    }

    impl FlogSource for Counted {
        fn label(&self) -> String {
            format!("{} events", self.events)
        }

        fn stamp(&self) -> Option<Stamp> {
            Some(Stamp::new(self.events as u64, None))
        }

        fn load(&self) -> Result<FlogContents, BoxError> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            let events = (0..self.events as u64)
                .map(|num| Event {
                    num,
                    level: Level::OPERATIONAL,
                    text: Text::Message(format!("event {num} {}", "x".repeat(200)).into()),
                    ..Event::default()
                })
                .collect();
            Ok(FlogContents {
                events,
                ..FlogContents::default()
            })
        }
    }

    #[tokio::test]
    async fn files_past_the_memory_budget_are_let_go_and_read_again() {
        let one = {
            let probe = Viewer::builder().build().unwrap();
            probe.add(Counted {
                events: 1000,
                reads: Arc::default(),
            });
            probe.file(0).await.unwrap().file.approx_bytes()
        };
        assert!(one > 200_000, "{one}");
        // Room for two files of the three.
        let viewer = Viewer::builder()
            .memory_budget(one * 2 + one / 2)
            .build()
            .unwrap();
        let reads: Vec<Arc<AtomicU64>> = (0..3).map(|_| Arc::default()).collect();
        for r in &reads {
            viewer.add(Counted {
                events: 1000,
                reads: r.clone(),
            });
        }
        for id in 0..3 {
            viewer.file(id).await.unwrap();
            assert!(viewer.resident_bytes() <= one * 2 + one / 2);
        }
        assert_eq!(viewer.resident_bytes(), one * 2, "two files kept");
        // The newest two are served from memory; the oldest is read again,
        // and lets go of the one used longest ago (2: 1 was used since).
        viewer.file(2).await.unwrap();
        viewer.file(1).await.unwrap();
        let counts = || {
            reads
                .iter()
                .map(|r| r.load(Ordering::SeqCst))
                .collect::<Vec<_>>()
        };
        assert_eq!(counts(), [1, 1, 1]);
        let again = viewer.file(0).await.unwrap();
        assert_eq!(again.file.contents.events.len(), 1000);
        assert_eq!(counts(), [2, 1, 1]);
        assert_eq!(viewer.resident_bytes(), one * 2);
        viewer.file(1).await.unwrap();
        assert_eq!(counts(), [2, 1, 1], "1 was still kept");
        viewer.file(2).await.unwrap();
        assert_eq!(counts(), [2, 1, 2], "2 was let go");
        assert_eq!(viewer.resident_bytes(), one * 2);
    }

    #[tokio::test]
    async fn a_file_larger_than_the_budget_is_still_shown() {
        let viewer = Viewer::builder().memory_budget(1).build().unwrap();
        let reads = Arc::new(AtomicU64::new(0));
        viewer.add(Counted {
            events: 10,
            reads: reads.clone(),
        });
        assert_eq!(viewer.file(0).await.unwrap().file.contents.events.len(), 10);
        assert!(viewer.resident_bytes() > 1);
    }
}
