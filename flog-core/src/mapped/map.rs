//! The one place with `unsafe` in flog-core: a file mapped into memory and
//! seen as words that every process sharing it reads and writes atomically.
//!
//! Everything else in [`super`] works on the `&[AtomicU64]` this gives (or
//! on a `Vec` of them, in tests and for a file read into memory), so the
//! protocol itself is safe code that Miri and loom can check.
#![allow(unsafe_code)]

use std::fs::File;
use std::io;
use std::sync::atomic::AtomicU64;

use memmap2::{Mmap, MmapMut, MmapOptions};

/// A mapped file, as words. The words are only ever accessed through
/// atomics: the file is shared with another process (a reader, or the writer
/// when this is the reader) that changes it under our feet.
#[derive(Debug)]
pub(crate) struct MappedWords {
    map: Map,
    words: usize,
}

#[derive(Debug)]
enum Map {
    Write(MmapMut),
    Read(Mmap),
}

impl MappedWords {
    /// Maps all of `file` (open for reading and writing) shared, so what is
    /// written is the file's pages: the kernel keeps them whoever dies.
    pub(crate) fn writable(file: &File) -> io::Result<MappedWords> {
        let words = whole_words(file)?;
        // SAFETY: the mapping is of a file flog itself created, at a size it
        // set and never changes; other processes only read it (peek) and a
        // later owner only after this process is gone. Its bytes are only
        // touched through `AtomicU64`s (see `words`), so concurrent changes
        // by another process are not data races for the compiler's model.
        // A file truncated by someone else would SIGBUS on access: the file
        // lives in the logdir, which only its owner writes.
        let map = unsafe { MmapOptions::new().len(words * 8).map_mut(file)? };
        Ok(MappedWords {
            map: Map::Write(map),
            words,
        })
    }

    /// Maps all of `file` read-only and shared, to read a live writer's
    /// pages as it writes them, without disturbing it.
    pub(crate) fn readable(file: &File) -> io::Result<MappedWords> {
        let words = whole_words(file)?;
        // SAFETY: as for `writable`; this side never writes, and reads only
        // through atomics, so a writer changing the words at the same time
        // is what the slot protocol expects, not undefined behaviour. The
        // length was taken from the file just now; a hostile truncation
        // meanwhile would make a read fault (SIGBUS), which is why only
        // `flogtool peek` maps a live file and a dead one is read instead.
        let map = unsafe { MmapOptions::new().len(words * 8).map(file)? };
        Ok(MappedWords {
            map: Map::Read(map),
            words,
        })
    }

    /// The mapping as words.
    pub(crate) fn words(&self) -> &[AtomicU64] {
        let ptr = match &self.map {
            Map::Write(m) => m.as_ptr(),
            Map::Read(m) => m.as_ptr(),
        };
        if self.words == 0 {
            return &[];
        }
        debug_assert_eq!(ptr.align_offset(std::mem::align_of::<AtomicU64>()), 0);
        // SAFETY: the mapping is page-aligned (so aligned for `AtomicU64`)
        // and `self.words * 8` bytes long, and lives as long as `self`.
        // `AtomicU64` has the size and alignment of `u64` and no invalid bit
        // patterns, and all access is through it, so shared mutation (by us
        // or another process) is sound. A read-only mapping is only read:
        // nothing in this crate stores to the words of a `Read` map (the
        // writer side is reached only through `writable`); a store there
        // would fault, not corrupt memory.
        unsafe { std::slice::from_raw_parts(ptr.cast::<AtomicU64>(), self.words) }
    }

    /// Asks the kernel to write the dirty pages out now (not per event: for
    /// a new file's header, and the periodic flushing an operator may ask
    /// for).
    pub(crate) fn flush(&self) -> io::Result<()> {
        match &self.map {
            Map::Write(m) => m.flush(),
            Map::Read(_) => Ok(()),
        }
    }
}

/// The file's length in whole words; a length that is no whole number of
/// words, or none at all, cannot be a ring file.
fn whole_words(file: &File) -> io::Result<usize> {
    let len = file.metadata()?.len();
    let words = usize::try_from(len / 8).map_err(|_| io::Error::other("ring file too large"))?;
    if words == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "the ring file is empty",
        ));
    }
    Ok(words)
}
