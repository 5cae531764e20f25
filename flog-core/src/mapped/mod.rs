//! The crash ring: a file in the logdir, mapped into memory, holding a copy
//! of every buffered record, so that the newest events of a process outlive
//! it however it dies (SIGKILL, OOM kill, abort, segfault), and can be read
//! from a process that is alive but wedged.
//!
//! Payload-agnostic: it stores opaque records, each with a number, in one
//! segment per buffer, and opaque entries in an append-only dictionary;
//! what the bytes mean is the caller's business. The file's size is fixed
//! when it is created, and nothing on the hot path is a system call: the
//! kernel keeps a shared mapping's pages when the process dies.
//!
//! All the `unsafe` is in [`map`]; the slot protocol ([`slots`]) and the
//! reader ([`reader`]) work on `&[AtomicU64]`, so they run under Miri on a
//! `Vec`, and under loom. The reader takes the file as hostile.

mod flush;
mod layout;
// Under loom no file is mapped (see `mapped_words`).
#[cfg_attr(all(loom, test), allow(dead_code))]
mod map;
mod reader;
mod slots;

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use self::layout::*;
use self::map::MappedWords;
use self::slots::SlotWriter;

pub(crate) use flush::RingFlusher;
pub use flush::{CrashRingStats, MAX_CRASH_RING_FLUSH, MIN_CRASH_RING_FLUSH};
pub use reader::{
    read_ring_file, read_ring_words, MappedSegment, RingContents, RingError, RingState,
    RingWarning, MAX_RING_FILE,
};
pub use slots::SlotRecord;

/// The atomics the protocol uses (one place to swap in a model checker's):
/// loom's under `--cfg loom`, for the model in [`loom_model`].
mod atomic {
    #[cfg(all(loom, test))]
    pub(crate) use ::loom::sync::atomic::{fence, AtomicU64, AtomicUsize, Ordering};
    #[cfg(not(all(loom, test)))]
    pub(crate) use std::sync::atomic::{fence, AtomicU64, AtomicUsize, Ordering};
}
use atomic::{AtomicU64, Ordering};

/// What a new ring file is to hold.
#[derive(Debug, Clone)]
pub(crate) struct RingSpec {
    /// The file's size (rounded up to whole pages).
    pub(crate) file_bytes: usize,
    /// How many shares the data is split into: a segment takes some.
    pub(crate) units: usize,
    /// The most segments.
    pub(crate) max_segments: usize,
    /// Room for the dictionary.
    pub(crate) dict_bytes: usize,
    pub(crate) pid: u32,
    /// When the writer started, in microseconds since the epoch.
    pub(crate) started: i64,
    /// Opaque bytes about the writer (at most 4 KiB kept).
    pub(crate) meta: Vec<u8>,
}

/// Where a ring file's words are: mapped, or (for tests, which Miri runs)
/// in memory.
#[derive(Debug)]
enum Words {
    Mapped(MappedWords),
    #[cfg(test)]
    Memory(Vec<AtomicU64>),
}

impl Words {
    fn words(&self) -> &[AtomicU64] {
        match self {
            Words::Mapped(m) => mapped_words(m),
            #[cfg(test)]
            Words::Memory(v) => v,
        }
    }

    fn flush(&self) -> io::Result<()> {
        match self {
            Words::Mapped(m) => m.flush(),
            #[cfg(test)]
            Words::Memory(_) => Ok(()),
        }
    }
}

#[cfg(not(all(loom, test)))]
fn mapped_words(map: &MappedWords) -> &[AtomicU64] {
    map.words()
}

/// loom's atomics are no mapping's words: under loom (whose model runs on a
/// `Vec`) a mapped file reads as empty, which every caller refuses cleanly.
#[cfg(all(loom, test))]
fn mapped_words(_: &MappedWords) -> &[AtomicU64] {
    &[]
}

/// A ring file open for writing, mapped.
#[derive(Debug)]
pub(crate) struct RingFile {
    map: Words,
    unit_words: usize,
    /// Next free word of the data, and segments made: only ever taken
    /// when a buffer is created.
    alloc: Mutex<(usize, usize)>,
    /// Words of the dictionary in use: appends are serialised.
    dict: Mutex<usize>,
    /// Makes [`flush`](Self::flush) fail, as a disk error would.
    #[cfg(test)]
    fail_flushes: std::sync::atomic::AtomicBool,
}

impl RingFile {
    /// Creates the ring file at `path` atomically (a temporary file, sized,
    /// its header written and synced, renamed into place), replacing any,
    /// and maps it.
    pub(crate) fn create(path: &Path, spec: &RingSpec) -> io::Result<RingFile> {
        let temp = crate::fs::temp_path_for(path);
        let made = RingFile::create_at(&temp, spec).and_then(|ring| {
            fs::rename(&temp, path)?;
            crate::fs::sync_parent(path)?;
            Ok(ring)
        });
        if made.is_err() {
            let _ = fs::remove_file(&temp);
        }
        made
    }

    fn create_at(path: &Path, spec: &RingSpec) -> io::Result<RingFile> {
        let file_words = file_words(spec);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)?;
        file.set_len(file_words as u64 * 8)?;
        let map = Words::Mapped(MappedWords::writable(&file)?);
        let unit_words = init(map.words(), spec)?;
        // Once, for the header: a reader after a crash must find it whole.
        map.flush()?;
        file.sync_all()?;
        Ok(RingFile::over(map, unit_words))
    }

    /// A ring file in memory, for tests (of the protocol, under Miri).
    #[cfg(test)]
    pub(crate) fn in_memory(spec: &RingSpec) -> io::Result<RingFile> {
        let words = (0..file_words(spec)).map(|_| AtomicU64::new(0)).collect();
        let map = Words::Memory(words);
        let unit_words = init(map.words(), spec)?;
        Ok(RingFile::over(map, unit_words))
    }

    fn over(map: Words, unit_words: usize) -> RingFile {
        let data_off = map.words()[W_DATA_OFF].load(Ordering::Relaxed) as usize;
        RingFile {
            map,
            unit_words,
            alloc: Mutex::new((data_off, 0)),
            dict: Mutex::new(0),
            #[cfg(test)]
            fail_flushes: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// The words, as a reader sees them (tests read what they wrote).
    #[cfg(test)]
    pub(crate) fn contents(&self) -> Result<RingContents, RingError> {
        read_ring_words(self.words())
    }

    fn words(&self) -> &[AtomicU64] {
        self.map.words()
    }

    /// A new segment of `units` shares for the buffer of (`facility`,
    /// `level`); `None` once the file has no room (the buffer then has no
    /// copy in the ring).
    pub(crate) fn segment(
        self: &Arc<Self>,
        facility: &str,
        level: u16,
        units: usize,
        overflow: bool,
    ) -> Option<Segment> {
        let w = self.words();
        let facility = &facility.as_bytes()[..facility.len().min(MAX_FACILITY)];
        let head = SEG_HEAD + facility.len().div_ceil(8);
        let seg_words = units.checked_mul(self.unit_words)?;
        let slots = seg_words.checked_sub(head)? / SLOT_WORDS;
        let mut alloc = self.alloc.lock().unwrap_or_else(PoisonError::into_inner);
        let (next, count) = *alloc;
        let table_cap = w[W_TABLE_CAP].load(Ordering::Relaxed) as usize;
        if slots == 0 || count >= table_cap || next + seg_words > w.len() {
            return None;
        }
        let desc = [
            SEG_MAGIC,
            SLOT_WORDS as u64 | (slots as u64) << 32,
            u64::from(level) | u64::from(overflow) << 16,
        ];
        let check = facility.len() as u64 | crc(&desc, facility) << 32;
        for (word, value) in w[next..].iter().zip(desc) {
            word.store(value, Ordering::Relaxed);
        }
        w[next + 3].store(check, Ordering::Relaxed);
        for (word, value) in w[next + SEG_HEAD..].iter().zip(words_of(facility)) {
            word.store(value, Ordering::Relaxed);
        }
        let entry = TABLE_OFF + count * ENTRY_WORDS;
        let place = [next as u64, seg_words as u64];
        w[entry].store(place[0], Ordering::Relaxed);
        w[entry + 1].store(place[1], Ordering::Relaxed);
        w[entry + 2].store(crc(&place, &[]), Ordering::Relaxed);
        // Published last: a reader sees the segment whole or not at all.
        w[W_SEGMENTS].store(count as u64 + 1, Ordering::Release);
        *alloc = (next + seg_words, count + 1);
        Some(Segment {
            file: Arc::clone(self),
            start: next + head,
            len: slots * SLOT_WORDS,
            writer: SlotWriter::new(SLOT_WORDS, slots),
        })
    }

    /// Appends an entry to the dictionary; its index, or `None` when full.
    pub(crate) fn append_dict(&self, entry: &[u8]) -> Option<usize> {
        let w = self.words();
        let mut used = self.dict.lock().unwrap_or_else(PoisonError::into_inner);
        let off = w[W_DICT_OFF].load(Ordering::Relaxed) as usize;
        let cap = w[W_DICT_CAP].load(Ordering::Relaxed) as usize;
        let len = u32::try_from(entry.len()).ok()?;
        let need = 1 + entry.len().div_ceil(8);
        if *used + need > cap {
            return None;
        }
        let at = off + *used;
        w[at].store(u64::from(len) | crc(&[], entry) << 32, Ordering::Relaxed);
        for (word, value) in w[at + 1..].iter().zip(words_of(entry)) {
            word.store(value, Ordering::Relaxed);
        }
        *used += need;
        // Entries never change once published, so a length is enough.
        w[W_DICT_LEN].store(*used as u64, Ordering::Release);
        Some(at - off)
    }

    /// Notes that every record numbered up to `num` is in an incident report
    /// on disk, so a crash report leaves them out.
    pub(crate) fn mark_recorded(&self, num: u64) {
        self.words()[W_RECORDED].fetch_max(num.saturating_add(1), Ordering::Release);
    }

    /// Marks the file cleanly closed: the next owner makes no crash report.
    pub(crate) fn mark_closed(&self) {
        self.words()[W_STATE].store(STATE_CLOSED, Ordering::Release);
    }

    /// Writes the dirty pages out now and waits until they are on the disk
    /// (`msync(MS_SYNC)`): what periodic flushing does, off the hot path.
    /// The writers go on storing meanwhile; a slot caught half-written is
    /// on the disk as torn, which a reader refuses, like any torn slot.
    pub(crate) fn flush(&self) -> io::Result<()> {
        #[cfg(test)]
        if self.fail_flushes.load(Ordering::Relaxed) {
            return Err(io::Error::from_raw_os_error(5));
        }
        self.map.flush()
    }

    /// Makes every flush fail (with EIO) until told otherwise.
    #[cfg(test)]
    pub(crate) fn fail_flushes(&self, on: bool) {
        self.fail_flushes.store(on, Ordering::Relaxed);
    }
}

fn file_words(spec: &RingSpec) -> usize {
    spec.file_bytes.next_multiple_of(4096) / 8
}

/// Writes a new ring file's header into `w`; returns the words of one share
/// of the data.
fn init(w: &[AtomicU64], spec: &RingSpec) -> io::Result<usize> {
    let table_words = spec.max_segments.saturating_mul(ENTRY_WORDS);
    let dict_words = spec.dict_bytes / 8;
    let data_off = TABLE_OFF + table_words + dict_words;
    let unit_words = w.len().saturating_sub(data_off) / spec.units.max(1);
    if unit_words < SEG_HEAD + SLOT_WORDS {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the memory budget leaves the crash ring no room for a slot per buffer",
        ));
    }
    // Meta that does not fit is left out rather than cut.
    let meta = if spec.meta.len() <= META_WORDS * 8 {
        &spec.meta[..]
    } else {
        &[]
    };
    let fixed: [u64; FIXED_WORDS] = [
        MAGIC,
        VERSION,
        w.len() as u64,
        u64::from(spec.pid),
        TABLE_OFF as u64,
        spec.max_segments as u64,
        (TABLE_OFF + table_words) as u64,
        dict_words as u64,
        data_off as u64,
        meta.len() as u64,
        spec.started as u64,
    ];
    for (word, value) in w.iter().zip(fixed) {
        word.store(value, Ordering::Relaxed);
    }
    for (word, value) in w[META_OFF..].iter().zip(words_of(meta)) {
        word.store(value, Ordering::Relaxed);
    }
    w[W_HEADER_CRC].store(crc(&fixed, meta), Ordering::Relaxed);
    w[W_STATE].store(STATE_LIVE, Ordering::Release);
    Ok(unit_words)
}

/// One buffer's segment of the ring file.
#[derive(Debug)]
pub(crate) struct Segment {
    file: Arc<RingFile>,
    start: usize,
    len: usize,
    writer: SlotWriter,
}

impl Segment {
    /// Copies `record` into the segment, evicting its oldest. Callers hold
    /// their buffer's lock: one writer at a time per segment.
    #[inline]
    pub(crate) fn push(&self, num: u64, record: &[u8]) {
        let area = &self.file.words()[self.start..self.start + self.len];
        self.writer.push(area, num, record);
    }
}

/// Maps a live ring file read-only and reads it, without any cooperation
/// from (or effect on) its writer: what a wedged process last wrote.
pub fn peek_ring_file(path: &Path) -> Result<RingContents, RingError> {
    let io = |source| RingError::Io {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(io)?;
    let map = MappedWords::readable(&file).map_err(io)?;
    read_ring_words(mapped_words(&map))
}

#[cfg(all(loom, test))]
mod loom_model;
#[cfg(test)]
mod tests;
