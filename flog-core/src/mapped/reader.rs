//! Reading a ring file, taken as hostile input: another process wrote it, a
//! previous version, a disk that corrupted it. Whatever it holds, reading
//! ends in the valid part and typed warnings about the rest, or in an error
//! when not even the header can be trusted; never in a panic, and never in
//! more memory than the file's size.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use super::atomic::{AtomicU64, Ordering};
use super::layout::*;
use super::slots::{read_slots, SlotRecord};

/// The largest ring file read (a ring file is the size of its logger's
/// memory budget; this is far above any sensible one).
pub const MAX_RING_FILE: u64 = 1 << 30;

/// A ring file that cannot be read at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RingError {
    /// The file could not be opened, mapped or read.
    #[error("cannot read the ring file {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// Shorter than a ring file's header.
    #[error("not a ring file: {bytes} bytes is shorter than a ring file's header")]
    TooShort {
        /// Its length.
        bytes: u64,
    },
    /// Longer than [`MAX_RING_FILE`].
    #[error("the ring file is {bytes} bytes, more than the {MAX_RING_FILE} read")]
    TooLarge {
        /// Its length.
        bytes: u64,
    },
    /// No ring file's magic number (or one of the other byte order).
    #[error("not a ring file (no ring file magic number)")]
    NotRing,
    /// A version this reader does not know.
    #[error("ring file version {found}, this reader knows version {VERSION}")]
    Version {
        /// The version found.
        found: u64,
    },
    /// The header's checksum is wrong: none of its offsets can be trusted.
    #[error("the ring file's header is corrupt (checksum mismatch)")]
    HeaderChecksum,
    /// The header's checksum is right but it places `field` outside the file.
    #[error("the ring file's header is inconsistent: {field} is out of range")]
    Layout {
        /// The header field.
        field: &'static str,
    },
}

/// Something wrong in a ring file whose header is sound: the rest was read.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RingWarning {
    /// The file is shorter than its header says (truncated).
    Truncated {
        /// Words the header says the file has.
        expected_words: u64,
        /// Words it has.
        found_words: u64,
    },
    /// More segments claimed than the table holds.
    SegmentCount {
        /// The count in the header.
        claimed: u64,
    },
    /// A segment's table entry is corrupt or points outside the file.
    SegmentEntry {
        /// Its index.
        segment: usize,
    },
    /// A segment's descriptor is corrupt.
    SegmentDescriptor {
        /// Its index.
        segment: usize,
    },
    /// Slots whose checksum or lengths are wrong.
    CorruptSlots {
        /// The segment's index.
        segment: usize,
        /// How many.
        slots: usize,
    },
    /// Slots that changed while they were read: a live writer's.
    TornSlots {
        /// The segment's index.
        segment: usize,
        /// How many.
        slots: usize,
    },
    /// A dictionary entry is corrupt; the entries after it are not read.
    DictionaryEntry {
        /// Its index.
        index: usize,
    },
    /// Records that name a dictionary entry the file does not hold (lost
    /// to a corrupt entry, or never there). Found by the reader of the
    /// records, whose format is not this module's business; they are left
    /// out.
    MissingEntries {
        /// How many.
        records: usize,
    },
}

impl std::fmt::Display for RingWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RingWarning::Truncated {
                expected_words,
                found_words,
            } => write!(
                f,
                "the ring file is truncated: {} of {} bytes",
                found_words * 8,
                expected_words * 8
            ),
            RingWarning::SegmentCount { claimed } => {
                write!(
                    f,
                    "the ring file claims {claimed} segments, more than its table holds"
                )
            }
            RingWarning::SegmentEntry { segment } => {
                write!(
                    f,
                    "segment {segment}: its table entry is corrupt or out of range; skipped"
                )
            }
            RingWarning::SegmentDescriptor { segment } => {
                write!(f, "segment {segment}: its descriptor is corrupt; skipped")
            }
            RingWarning::CorruptSlots { segment, slots } => {
                write!(f, "segment {segment}: {slots} corrupt slots skipped")
            }
            RingWarning::TornSlots { segment, slots } => write!(
                f,
                "segment {segment}: {slots} slots changed while read (a live writer's); skipped"
            ),
            RingWarning::DictionaryEntry { index } => write!(
                f,
                "dictionary entry {index} is corrupt; it and the entries after it are skipped"
            ),
            RingWarning::MissingEntries { records } => write!(
                f,
                "{records} records name a dictionary entry the ring file does not hold; skipped"
            ),
        }
    }
}

/// What a ring file's writer left in its state word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RingState {
    /// Still being written, or its writer died.
    Live,
    /// Its writer let go in an orderly way.
    Closed,
    /// A value this reader does not know.
    Unknown(u64),
}

/// The records of one buffer's segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappedSegment {
    /// The buffer's facility (cut to 4 KiB; lossy UTF-8).
    pub facility: String,
    /// The buffer's level number.
    pub level: u16,
    /// The shared overflow buffer (then `facility` means nothing).
    pub overflow: bool,
    /// The slots it has.
    pub slots: usize,
    /// Its complete records, oldest first.
    pub records: Vec<SlotRecord>,
}

/// Everything valid in a ring file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RingContents {
    /// The writer's process id.
    pub pid: u32,
    /// When the writer started, in microseconds since the epoch.
    pub started: i64,
    /// The writer's opaque meta bytes (flog: CBOR, see `flogfile`).
    pub meta: Vec<u8>,
    /// Whether its writer closed it.
    pub state: RingState,
    /// Records numbered up to this were in an incident report already.
    pub recorded_through: Option<u64>,
    /// The segments, in the order they were made.
    pub segments: Vec<MappedSegment>,
    /// The dictionary's entries, in order.
    pub dictionary: Vec<Vec<u8>>,
    /// What was wrong with the rest.
    pub warnings: Vec<RingWarning>,
}

/// Reads the ring file at `path` into memory (a dead writer's: nothing
/// changes it any more) and then its contents.
pub fn read_ring_file(path: &Path) -> Result<RingContents, RingError> {
    let io = |source| RingError::Io {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(io)?;
    let bytes = file.metadata().map_err(io)?.len();
    // In memory, as the words the writer mapped (the file is in its byte order).
    if bytes > MAX_RING_FILE {
        return Err(RingError::TooLarge { bytes });
    }
    let mut data = Vec::with_capacity(bytes as usize);
    file.take(MAX_RING_FILE)
        .read_to_end(&mut data)
        .map_err(io)?;
    let words: Vec<AtomicU64> = data
        .chunks_exact(8)
        .map(|c| AtomicU64::new(u64::from_ne_bytes(c.try_into().unwrap_or([0; 8]))))
        .collect();
    drop(data);
    read_ring_words(&words)
}

/// Reads the contents of a ring file's words (mapped, or read into memory).
pub fn read_ring_words(w: &[AtomicU64]) -> Result<RingContents, RingError> {
    if w.len() < TABLE_OFF {
        return Err(RingError::TooShort {
            bytes: w.len() as u64 * 8,
        });
    }
    let get = |i: usize| w[i].load(Ordering::Acquire);
    if get(W_MAGIC) != MAGIC {
        return Err(RingError::NotRing);
    }
    if get(W_VERSION) != VERSION {
        return Err(RingError::Version {
            found: get(W_VERSION),
        });
    }
    let fixed: Vec<u64> = (0..FIXED_WORDS).map(get).collect();
    let meta_len = fixed[W_META_LEN];
    if meta_len > (META_WORDS * 8) as u64 {
        return Err(RingError::HeaderChecksum);
    }
    let meta = bytes_of((META_OFF..).map(get), meta_len as usize);
    if crc(&fixed, &meta) != get(W_HEADER_CRC) {
        return Err(RingError::HeaderChecksum);
    }
    let mut warnings = Vec::new();
    let file_words = fixed[W_FILE_WORDS];
    if file_words > w.len() as u64 {
        warnings.push(RingWarning::Truncated {
            expected_words: file_words,
            found_words: w.len() as u64,
        });
    }
    // Only what is in the file and the header's own claim counts.
    let end = w
        .len()
        .min(usize::try_from(file_words).unwrap_or(usize::MAX));
    let field = |i: usize, name: &'static str| {
        usize::try_from(fixed[i])
            .ok()
            .filter(|&v| v <= end)
            .ok_or(RingError::Layout { field: name })
    };
    let table_off = field(W_TABLE_OFF, "the segment table")?;
    let table_cap = usize::try_from(fixed[W_TABLE_CAP])
        .ok()
        .filter(|&c| {
            c.checked_mul(ENTRY_WORDS)
                .is_some_and(|n| table_off + n <= end)
        })
        .ok_or(RingError::Layout {
            field: "the segment table's size",
        })?;
    let dict_off = field(W_DICT_OFF, "the dictionary")?;
    let dict_cap = field(W_DICT_CAP, "the dictionary's size")?;
    if dict_off + dict_cap > end {
        return Err(RingError::Layout {
            field: "the dictionary's size",
        });
    }
    let data_off = field(W_DATA_OFF, "the data")?;
    let state = match get(W_STATE) {
        STATE_LIVE => RingState::Live,
        STATE_CLOSED => RingState::Closed,
        other => RingState::Unknown(other),
    };
    let recorded_through = get(W_RECORDED).checked_sub(1);
    let mut count = get(W_SEGMENTS);
    if count > table_cap as u64 {
        warnings.push(RingWarning::SegmentCount { claimed: count });
        count = table_cap as u64;
    }
    let area = Area { w, data_off, end };
    let mut segments = Vec::new();
    for index in 0..count as usize {
        let entry = table_off + index * ENTRY_WORDS;
        match area.segment(index, entry, &mut warnings) {
            Some(segment) => segments.push(segment),
            None => continue,
        }
    }
    let dictionary = read_dictionary(w, dict_off, dict_cap, &mut warnings);
    Ok(RingContents {
        pid: fixed[W_PID] as u32,
        started: fixed[W_STARTED] as i64,
        meta,
        state,
        recorded_through,
        segments,
        dictionary,
        warnings,
    })
}

/// The data part of a file, where segments may be.
struct Area<'a> {
    w: &'a [AtomicU64],
    data_off: usize,
    end: usize,
}

impl Area<'_> {
    fn get(&self, i: usize) -> u64 {
        self.w[i].load(Ordering::Acquire)
    }

    fn segment(
        &self,
        index: usize,
        entry: usize,
        warnings: &mut Vec<RingWarning>,
    ) -> Option<MappedSegment> {
        let place = [self.get(entry), self.get(entry + 1)];
        let start = usize::try_from(place[0]).ok();
        let len = usize::try_from(place[1]).ok();
        let bounds = start.zip(len).filter(|&(s, l)| {
            crc(&place, &[]) == self.get(entry + 2)
                && s >= self.data_off
                && l >= SEG_HEAD
                && s.checked_add(l).is_some_and(|e| e <= self.end)
        });
        let Some((start, len)) = bounds else {
            warnings.push(RingWarning::SegmentEntry { segment: index });
            return None;
        };
        let desc = [self.get(start), self.get(start + 1), self.get(start + 2)];
        let check = self.get(start + 3);
        let fac_len = (check as u32) as usize;
        let slot_words = (desc[1] as u32) as usize;
        let slots = (desc[1] >> 32) as usize;
        let head = SEG_HEAD + fac_len.div_ceil(8);
        let sound = desc[0] == SEG_MAGIC
            && fac_len <= MAX_FACILITY
            && slot_words > super::slots::SLOT_HEAD
            && slots
                .checked_mul(slot_words)
                .and_then(|n| n.checked_add(head))
                .is_some_and(|n| n <= len);
        let facility = if sound {
            bytes_of((start + SEG_HEAD..).map(|i| self.get(i)), fac_len)
        } else {
            Vec::new()
        };
        if !sound || crc(&desc, &facility) != check >> 32 {
            warnings.push(RingWarning::SegmentDescriptor { segment: index });
            return None;
        }
        let slots_at = start + head;
        let read = read_slots(&self.w[slots_at..slots_at + slots * slot_words], slot_words);
        if read.corrupt > 0 {
            warnings.push(RingWarning::CorruptSlots {
                segment: index,
                slots: read.corrupt,
            });
        }
        if read.torn > 0 {
            warnings.push(RingWarning::TornSlots {
                segment: index,
                slots: read.torn,
            });
        }
        Some(MappedSegment {
            facility: String::from_utf8_lossy(&facility).into_owned(),
            level: desc[2] as u16,
            overflow: desc[2] >> 16 & 1 == 1,
            slots,
            records: read.records,
        })
    }
}

fn read_dictionary(
    w: &[AtomicU64],
    off: usize,
    cap: usize,
    warnings: &mut Vec<RingWarning>,
) -> Vec<Vec<u8>> {
    let used = usize::try_from(w[W_DICT_LEN].load(Ordering::Acquire))
        .unwrap_or(usize::MAX)
        .min(cap);
    let mut entries = Vec::new();
    let mut at = 0;
    while at < used {
        let head = w[off + at].load(Ordering::Relaxed);
        let len = (head as u32) as usize;
        let words = 1 + len.div_ceil(8);
        let bytes = if at + words <= used {
            bytes_of(
                w[off + at + 1..off + at + words]
                    .iter()
                    .map(|x| x.load(Ordering::Relaxed)),
                len,
            )
        } else {
            Vec::new()
        };
        if at + words > used || crc(&[], &bytes) != head >> 32 {
            warnings.push(RingWarning::DictionaryEntry {
                index: entries.len(),
            });
            break;
        }
        entries.push(bytes);
        at += words;
    }
    entries
}
