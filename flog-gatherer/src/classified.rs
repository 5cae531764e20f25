//! The classification lists: `BASEDIR/classified/<category>`, one stored
//! incident's path (relative to the base directory) per line.
//!
//! The lists are derived data: they can always be rebuilt from the stored
//! files and the rules, and they are whenever `classified/` is missing or was
//! built with other rules (its `.rules` file holds the rules' fingerprint).
//! A rebuild writes a new folder beside the old one and swaps them with two
//! renames; a crash between the renames leaves no `classified/`, which the
//! next start rebuilds.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use flog_core::{flogfile::ReadError, Event};

use crate::classify::{Classifier, CATEGORY_ALL, CATEGORY_UNKNOWN};
use crate::contain::catch;
use crate::store::{publisher_ids, relative_path, stored_names, Commit, INCIDENTS_DIR};

/// The folder of classification lists, in the base directory.
pub const CLASSIFIED_DIR: &str = "classified";
/// In `classified/`: the fingerprint of the rules it was built with.
const FINGERPRINT_FILE: &str = ".rules";
/// Prefixes of the folders a rebuild writes and retires, in the base directory.
const NEW_PREFIX: &str = ".classified.new-";
const OLD_PREFIX: &str = ".classified.old-";

/// Reads the trigger of an incident file (the one bounded reader of it, in
/// the crate that owns the format).
pub use flog_core::flogfile::read_trigger;

/// How the trigger of an incident file is read: [`read_trigger`], unless a
/// test puts a faulty reader in its place.
pub(crate) type TriggerReader = fn(&Path) -> Result<Option<Event>, ReadError>;

/// The lists, with the classifier that fills them. Only one of these exists
/// per base directory (the gatherer holds its lock).
#[derive(Debug)]
pub(crate) struct ClassifiedIndex {
    basedir: PathBuf,
    read_trigger: TriggerReader,
    // A std mutex: every holder does short blocking file I/O on a blocking
    // thread, and a rebuild holds it only to start and to swap.
    state: Mutex<State>,
    rebuilding: Mutex<()>,
}

#[derive(Debug)]
struct State {
    classifier: Classifier,
    /// While a rebuild runs: what was recorded meanwhile, to add to the new
    /// lists if the rebuild's scan missed it.
    recorded_during_rebuild: Option<Vec<(String, Option<Event>)>>,
    /// By publisher id: the greatest incident name in `all`, learnt from the
    /// list at the first store after start-up or a rebuild (`None` until
    /// then). A name after it cannot be listed yet, so its lines are
    /// appended without reading the lists; any other is listed only where it
    /// is missing. That keeps appends idempotent at the cost of one read of
    /// `all` per run and a name per publisher.
    greatest_listed: Option<HashMap<String, String>>,
}

impl ClassifiedIndex {
    pub(crate) fn new(basedir: &Path, classifier: Classifier) -> ClassifiedIndex {
        ClassifiedIndex {
            basedir: basedir.to_owned(),
            read_trigger,
            state: Mutex::new(State {
                classifier,
                recorded_during_rebuild: None,
                greatest_listed: None,
            }),
            rebuilding: Mutex::new(()),
        }
    }

    /// With `reader` in place of [`read_trigger`].
    #[cfg(test)]
    pub(crate) fn with_trigger_reader(mut self, reader: TriggerReader) -> ClassifiedIndex {
        self.read_trigger = reader;
        self
    }

    /// The trigger of an incident file (`shown` names it in messages), for
    /// classification: `None`, so `unknown`, when it has none or cannot be
    /// read, also when reading it panics. A bad file fails alone: it is
    /// stored and listed, and the gatherer goes on.
    pub(crate) fn trigger_of(&self, file: &Path, shown: &str) -> Option<Event> {
        let read = self.read_trigger;
        match catch("read a trigger", || read(file)) {
            Ok(Ok(trigger)) => trigger,
            Ok(Err(error)) => {
                tracing::warn!(incident = shown, %error, "cannot read the trigger of {shown}: {error}; classifying it as unknown");
                None
            }
            Err(panicked) => {
                tracing::error!(incident = shown, error = %panicked, "reading the trigger of {shown} failed: {panicked}; classifying it as unknown");
                None
            }
        }
    }

    /// The categories of an incident by its trigger (empty: `unknown`),
    /// with the rules in use.
    pub(crate) fn categories_of(&self, trigger: Option<&Event>) -> Vec<String> {
        classify(&self.lock().classifier, trigger)
    }

    /// Puts `classifier` in place without rebuilding anything: for a
    /// bucket, whose lists this gatherer does not rebuild.
    pub(crate) fn set_classifier(&self, classifier: Classifier) {
        self.lock().classifier = classifier;
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic mid-append leaves at worst a partial line, which start-up
        // repairs; the state itself stays consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn dir(&self) -> PathBuf {
        self.basedir.join(CLASSIFIED_DIR)
    }

    /// Whether the lists exist and were built with the current rules.
    pub(crate) fn is_current(&self) -> io::Result<bool> {
        let fingerprint = self.lock().classifier.fingerprint();
        match fs::read_to_string(self.dir().join(FINGERPRINT_FILE)) {
            Ok(text) => Ok(text.trim() == fingerprint),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The rules in use.
    pub(crate) fn classifier(&self) -> Classifier {
        self.lock().classifier.clone()
    }

    /// Start-up repair of lists that are current: drops a line cut short by a
    /// crash, and lists the incidents (paths relative to the base directory)
    /// stored just before a crash where they are missing. Also removes
    /// folders a crashed rebuild left.
    pub(crate) fn repair(&self, unrecorded: &[String]) -> io::Result<()> {
        remove_rebuild_leftovers(&self.basedir)?;
        let dir = self.dir();
        for entry in fs::read_dir(&dir)? {
            let entry = entry?;
            let name = entry.file_name();
            if name.to_string_lossy().starts_with('.') || !entry.file_type()?.is_file() {
                continue;
            }
            drop_partial_line(&entry.path())?;
        }
        if unrecorded.is_empty() {
            return Ok(());
        }
        // `all` is appended to last, so an incident in it is in all its
        // other lists too.
        let mut listed = HashSet::new();
        if let Ok(all) = File::open(dir.join(CATEGORY_ALL)) {
            for line in BufReader::new(all).lines() {
                listed.insert(line?);
            }
        }
        for path in unrecorded {
            if !listed.contains(path) {
                let trigger = self.trigger_of(&self.basedir.join(path), path);
                self.ensure(path, trigger.as_ref())?;
            }
        }
        Ok(())
    }

    /// Moves a fetched incident into place with `commit` and lists it: both
    /// under the lock, so that a rebuild either finds the stored file in its
    /// scan or learns of it afterwards, never lists it twice, and never
    /// misses it. When `commit` says the incident was already stored, it is
    /// listed only where it is missing. Returns the categories (empty:
    /// `unknown`).
    pub(crate) fn store(
        &self,
        path: &str,
        trigger: Option<&Event>,
        commit: impl FnOnce() -> io::Result<Commit>,
    ) -> io::Result<(Commit, Vec<String>)> {
        let mut state = self.lock();
        let outcome = commit()?;
        let categories = self.list(&mut state, path, trigger, outcome == Commit::AlreadyStored)?;
        Ok((outcome, categories))
    }

    /// Lists an incident that may have been listed before, where it is
    /// missing.
    pub(crate) fn ensure(&self, path: &str, trigger: Option<&Event>) -> io::Result<Vec<String>> {
        let mut state = self.lock();
        self.list(&mut state, path, trigger, true)
    }

    fn list(
        &self,
        state: &mut State,
        path: &str,
        trigger: Option<&Event>,
        only_where_missing: bool,
    ) -> io::Result<Vec<String>> {
        let categories = classify(&state.classifier, trigger);
        let dir = self.dir();
        fs::create_dir_all(&dir)?;
        let incident = split_path(path);
        let only_where_missing = only_where_missing
            || match incident {
                Some((id, name)) => self
                    .greatest_listed(state)?
                    .get(id)
                    .is_some_and(|greatest| name <= greatest.as_str()),
                None => true,
            };
        for list in lists_of(&categories) {
            let list = dir.join(list);
            if !only_where_missing || !contains_line(&list, path)? {
                append_line(&list, path)?;
            }
        }
        if let Some((id, name)) = incident {
            note_greatest(self.greatest_listed(state)?, id, name);
        }
        if let Some(recorded) = &mut state.recorded_during_rebuild {
            recorded.push((path.to_owned(), trigger.cloned()));
        }
        Ok(categories)
    }

    /// The greatest name of each publisher listed in `all`.
    fn greatest_listed<'s>(
        &self,
        state: &'s mut State,
    ) -> io::Result<&'s mut HashMap<String, String>> {
        if state.greatest_listed.is_none() {
            let mut greatest = HashMap::new();
            if let Some(all) = open_if_exists(&self.dir().join(CATEGORY_ALL))? {
                for line in BufReader::new(all).lines() {
                    if let Some((id, name)) = split_path(&line?) {
                        note_greatest(&mut greatest, id, name);
                    }
                }
            }
            state.greatest_listed = Some(greatest);
        }
        Ok(state.greatest_listed.get_or_insert_with(HashMap::new))
    }

    /// Rebuilds every list from the stored incidents with `classifier`, which
    /// also classifies every incident recorded from now on. Returns how many
    /// incidents were classified. Recording goes on meanwhile.
    pub(crate) fn rebuild(&self, classifier: Classifier) -> io::Result<usize> {
        // One rebuild at a time: each clears the folders others left.
        let _rebuilding = self
            .rebuilding
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        {
            let mut state = self.lock();
            state.classifier = classifier.clone();
            state.recorded_during_rebuild = Some(Vec::new());
        }
        let result = self.rebuild_with(&classifier);
        if result.is_err() {
            self.lock().recorded_during_rebuild = None;
        }
        result
    }

    fn rebuild_with(&self, classifier: &Classifier) -> io::Result<usize> {
        remove_rebuild_leftovers(&self.basedir)?;
        static REBUILDS: AtomicU64 = AtomicU64::new(0);
        let unique = format!(
            "{}-{}",
            std::process::id(),
            REBUILDS.fetch_add(1, Ordering::Relaxed)
        );
        let new_dir = self.basedir.join(format!("{NEW_PREFIX}{unique}"));
        let result = (|| {
            fs::create_dir(&new_dir)?;
            let mut lists = NewLists::create(&new_dir, classifier)?;
            let mut seen = HashSet::new();
            for id in publisher_ids(&self.basedir)? {
                let dir = self.basedir.join(INCIDENTS_DIR).join(&id);
                for name in stored_names(&dir)? {
                    let path = relative_path(&id, &name);
                    let trigger = self.trigger_of(&self.basedir.join(&path), &path);
                    lists.add(&path, &classify(classifier, trigger.as_ref()))?;
                    seen.insert(path);
                }
            }
            // Under the lock from here on: nothing is recorded between adding
            // what the scan missed and the swap.
            let mut state = self.lock();
            let recorded = state.recorded_during_rebuild.take().unwrap_or_default();
            for (path, trigger) in recorded {
                if seen.insert(path.clone()) {
                    lists.add(&path, &classify(classifier, trigger.as_ref()))?;
                }
            }
            lists.finish(&classifier.fingerprint())?;
            self.swap_in(&new_dir, &unique)?;
            state.greatest_listed = None;
            drop(state);
            Ok(seen.len())
        })();
        if result.is_err() {
            let _ = fs::remove_dir_all(&new_dir);
        }
        result
    }

    fn swap_in(&self, new_dir: &Path, unique: &str) -> io::Result<()> {
        let current = self.dir();
        let old = self.basedir.join(format!("{OLD_PREFIX}{unique}"));
        let had_old = match fs::rename(&current, &old) {
            Ok(()) => true,
            Err(e) if e.kind() == io::ErrorKind::NotFound => false,
            Err(e) => return Err(e),
        };
        fs::rename(new_dir, &current)?;
        flog_core::fs::sync_parent(&current)?;
        if had_old {
            fs::remove_dir_all(&old)?;
        }
        Ok(())
    }
}

/// The categories of an incident: by its trigger, none without one.
fn classify(classifier: &Classifier, trigger: Option<&Event>) -> Vec<String> {
    trigger.map_or_else(Vec::new, |t| classifier.classify(t))
}

/// The lists an incident goes in: its categories (or `unknown`), then `all`.
pub(crate) fn lists_of(categories: &[String]) -> Vec<&str> {
    let mut lists: Vec<&str> = categories.iter().map(String::as_str).collect();
    if lists.is_empty() {
        lists.push(CATEGORY_UNKNOWN);
    }
    lists.push(CATEGORY_ALL);
    lists
}

/// The files of a rebuild in progress.
struct NewLists {
    dir: PathBuf,
    files: BTreeMap<String, BufWriter<File>>,
}

impl NewLists {
    /// Creates `all`, `unknown` and one list per category, empty, so that
    /// every category has its file even before anything is in it.
    fn create(dir: &Path, classifier: &Classifier) -> io::Result<NewLists> {
        let mut lists = NewLists {
            dir: dir.to_owned(),
            files: BTreeMap::new(),
        };
        for list in classifier
            .categories()
            .into_iter()
            .chain([CATEGORY_UNKNOWN, CATEGORY_ALL])
        {
            lists.file(list)?;
        }
        Ok(lists)
    }

    fn file(&mut self, list: &str) -> io::Result<&mut BufWriter<File>> {
        if !self.files.contains_key(list) {
            let file = File::create(self.dir.join(list))?;
            self.files.insert(list.to_owned(), BufWriter::new(file));
        }
        Ok(self.files.get_mut(list).expect("inserted above"))
    }

    fn add(&mut self, path: &str, categories: &[String]) -> io::Result<()> {
        for list in lists_of(categories) {
            writeln!(self.file(list)?, "{path}")?;
        }
        Ok(())
    }

    fn finish(self, fingerprint: &str) -> io::Result<()> {
        for (_, file) in self.files {
            let file = file.into_inner().map_err(io::IntoInnerError::into_error)?;
            file.sync_all()?;
        }
        flog_core::fs::write_file_atomically(
            &self.dir.join(FINGERPRINT_FILE),
            format!("{fingerprint}\n").as_bytes(),
        )
    }
}

/// Appends one line, durably: the `latest` file moves past an incident only
/// after its lines are on disk, so a power cut cannot leave it unlisted.
fn append_line(list: &Path, line: &str) -> io::Result<()> {
    let mut file = OpenOptions::new().create(true).append(true).open(list)?;
    let len = file.metadata()?.len();
    // One write call per line: appends of whole lines never interleave.
    let written = file
        .write_all(format!("{line}\n").as_bytes())
        .and_then(|()| file.sync_data());
    if written.is_err() {
        // A full disk can take the start of the line and refuse the rest:
        // cut it off, or the next append would continue it into a line that
        // names no incident. (Start-up repair only looks at the last line.)
        let _ = file.set_len(len);
    }
    written
}

fn note_greatest(greatest: &mut HashMap<String, String>, id: &str, name: &str) {
    match greatest.get_mut(id) {
        Some(known) if name <= known.as_str() => {}
        Some(known) => *known = name.to_owned(),
        None => {
            greatest.insert(id.to_owned(), name.to_owned());
        }
    }
}

/// `incidents/<id>/<name>.flog.bz2` as `(id, name)`.
fn split_path(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix(INCIDENTS_DIR)?.strip_prefix('/')?;
    let (id, file) = rest.split_once('/')?;
    Some((id, file.strip_suffix(flog_core::flogfile::FINISHED_SUFFIX)?))
}

fn open_if_exists(path: &Path) -> io::Result<Option<File>> {
    match File::open(path) {
        Ok(file) => Ok(Some(file)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn contains_line(list: &Path, line: &str) -> io::Result<bool> {
    let Some(file) = open_if_exists(list)? else {
        return Ok(false);
    };
    for existing in BufReader::new(file).lines() {
        if existing? == line {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Cuts a list back to its last complete line (a crash mid-append can leave
/// part of one).
fn drop_partial_line(list: &Path) -> io::Result<()> {
    let mut file = OpenOptions::new().read(true).write(true).open(list)?;
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(());
    }
    let mut last = [0u8];
    file.seek(SeekFrom::Start(len - 1))?;
    file.read_exact(&mut last)?;
    if last[0] == b'\n' {
        return Ok(());
    }
    // Rare, so reading the whole list to find the last newline is fine.
    file.seek(SeekFrom::Start(0))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    let keep = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    file.set_len(keep as u64)?;
    file.sync_all()?;
    tracing::warn!(list = %list.display(), "dropped a partial line at the end of {}", list.display());
    Ok(())
}

fn remove_rebuild_leftovers(basedir: &Path) -> io::Result<()> {
    for entry in fs::read_dir(basedir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if (name.starts_with(NEW_PREFIX) || name.starts_with(OLD_PREFIX))
            && entry.file_type()?.is_dir()
        {
            fs::remove_dir_all(entry.path())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
