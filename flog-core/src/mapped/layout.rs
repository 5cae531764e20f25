//! Where things are in a ring file, in 64-bit words (native byte order, which
//! the magic number tells: a file from a machine of the other order reads as
//! not a ring file).
//!
//! ```text
//! word 0..12   fixed header: magic, version, file length, pid, where the
//!              segment table, dictionary and data are, meta length,
//!              and a CRC-32 of all of it and of the meta bytes (word 11)
//! word 12..16  live header: state, recorded-through, segments, dictionary length
//! word 16..    META_WORDS words of meta (opaque bytes: flog writes CBOR)
//! then         the segment table: 4 words an entry (offset, length, CRC)
//! then         the dictionary: entries of [length | CRC, bytes...]
//! then         the segments: a descriptor, then slots (see `slots`)
//! ```

/// `b"flogring"` read as a native word.
pub(super) const MAGIC: u64 = u64::from_ne_bytes(*b"flogring");
/// The format version this code writes and reads.
pub(super) const VERSION: u64 = 1;

pub(super) const W_MAGIC: usize = 0;
pub(super) const W_VERSION: usize = 1;
pub(super) const W_FILE_WORDS: usize = 2;
pub(super) const W_PID: usize = 3;
pub(super) const W_TABLE_OFF: usize = 4;
pub(super) const W_TABLE_CAP: usize = 5;
pub(super) const W_DICT_OFF: usize = 6;
pub(super) const W_DICT_CAP: usize = 7;
pub(super) const W_DATA_OFF: usize = 8;
pub(super) const W_META_LEN: usize = 9;
pub(super) const W_STARTED: usize = 10;
pub(super) const W_HEADER_CRC: usize = 11;
/// Words the header CRC covers (with the meta bytes).
pub(super) const FIXED_WORDS: usize = 11;

pub(super) const W_STATE: usize = 12;
pub(super) const W_RECORDED: usize = 13;
pub(super) const W_SEGMENTS: usize = 14;
pub(super) const W_DICT_LEN: usize = 15;

pub(super) const META_OFF: usize = 16;
/// Room for the meta bytes: 4 KiB.
pub(super) const META_WORDS: usize = 512;
pub(super) const TABLE_OFF: usize = META_OFF + META_WORDS;
pub(super) const ENTRY_WORDS: usize = 4;

/// The state word while the writer runs.
pub(super) const STATE_LIVE: u64 = 1;
/// The state word once the writer let go in an orderly way.
pub(super) const STATE_CLOSED: u64 = 2;

/// `b"segment\0"`: the first word of a segment's descriptor.
pub(super) const SEG_MAGIC: u64 = u64::from_ne_bytes(*b"segment\0");
/// Words of a segment's descriptor before its facility's bytes.
pub(super) const SEG_HEAD: usize = 4;

/// Slot size: 256 bytes, 224 of them data, which holds an ordinary event
/// record in one slot; longer ones take several.
pub(super) const SLOT_WORDS: usize = 32;

/// The longest facility a descriptor holds (longer ones are cut).
pub(super) const MAX_FACILITY: usize = 4096;

/// CRC-32 of words and then bytes, as the header and descriptors use.
pub(super) fn crc(words: &[u64], bytes: &[u8]) -> u64 {
    let mut h = crc32fast::Hasher::new();
    for w in words {
        h.update(&w.to_le_bytes());
    }
    h.update(bytes);
    u64::from(h.finalize())
}

/// Bytes from words, `len` of them (the caller checked `len` fits).
pub(super) fn bytes_of(words: impl Iterator<Item = u64>, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len.next_multiple_of(8));
    for w in words.take(len.div_ceil(8)) {
        out.extend_from_slice(&w.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Words from bytes, the last one padded with zeros.
pub(super) fn words_of(bytes: &[u8]) -> impl Iterator<Item = u64> + '_ {
    bytes.chunks(8).map(|c| {
        let mut w = [0u8; 8];
        w[..c.len()].copy_from_slice(c);
        u64::from_le_bytes(w)
    })
}
