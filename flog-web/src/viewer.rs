//! The viewer's state: the files it shows, each read when first asked for and
//! again whenever it changed.

use std::sync::{Arc, RwLock};

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

/// The files a viewer shows and how its pages link to each other. Share it as
/// an `Arc` with the crate's `router`.
#[derive(Debug)]
pub struct Viewer {
    base: String,
    allowed_hosts: Option<Vec<String>>,
    files: RwLock<Vec<Arc<Slot>>>,
}

/// Builds a [`Viewer`].
#[must_use]
#[derive(Debug, Default)]
pub struct ViewerBuilder {
    base: String,
    allowed_hosts: Option<Vec<String>>,
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
                Ok(loaded)
            }
            Ok(Err(source)) => {
                state.stamp = None;
                state.loaded = None;
                Err(ViewerError::Read { label, source })
            }
            Err(_) => Err(ViewerError::Crashed { label }),
        }
    }
}
