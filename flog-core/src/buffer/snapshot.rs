//! A copy of the buffers' records, for a dump or a reader.

use super::compact;
use super::record::encode_buffered;
use super::ring::{framed, RingBytes};
use crate::event::Event;

/// The largest allocation a snapshot keeps for the next one (see
/// [`EncodedSnapshot::recycle`]).
pub(super) const MAX_KEPT: usize = 4 << 20;

/// Encoded events as the buffers hold them (compact or whole) and where each
/// one is, by `num`.
#[derive(Debug, Default)]
pub(crate) struct EncodedSnapshot {
    bytes: Vec<u8>,
    /// `(num, start, end)` of each event in `bytes`, sorted by `num`.
    pub(super) index: Vec<(u64, usize, usize)>,
}

impl EncodedSnapshot {
    pub(super) fn push(&mut self, num: u64, record: &[u8]) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(record);
        self.index.push((num, start, self.bytes.len()));
    }

    /// Copies the records of `ring` (locked by the caller, for the copy
    /// only) and returns the index of how many bytes in `self` the ring's
    /// copy starts; [`index_from`](Self::index_from) indexes them once the
    /// lock is let go.
    pub(super) fn copy_ring(&mut self, ring: &RingBytes) -> usize {
        let start = self.bytes.len();
        ring.copy_into(&mut self.bytes);
        start
    }

    /// Indexes the records copied since `from` (by [`copy_ring`](Self::copy_ring)).
    pub(super) fn index_from(&mut self, from: usize) {
        let bytes = &self.bytes;
        self.index.extend(
            framed(bytes, from).map(|(start, end)| (compact::num(&bytes[start..end]), start, end)),
        );
    }

    /// Empties the snapshot for reuse, or drops it when it grew large: a
    /// dump's buffers fresh from the system each time cost more in page
    /// faults than the dump itself, but a rare huge one need not be pinned.
    pub(super) fn recycle(mut self) -> EncodedSnapshot {
        if self.bytes.capacity() > MAX_KEPT
            || self.index.capacity() * std::mem::size_of::<(u64, usize, usize)>() > MAX_KEPT
        {
            return EncodedSnapshot::default();
        }
        self.bytes.clear();
        self.index.clear();
        self
    }

    /// Adds one more event in its `num` place, encoded as a buffer keeps it.
    pub(crate) fn insert(&mut self, event: &Event) {
        let mut record = Vec::new();
        encode_buffered(event, usize::MAX, &mut record);
        self.push(event.num, &record);
        self.index.sort_unstable_by_key(|&(num, _, _)| num);
    }

    /// Whether an event with this `num` is in the snapshot.
    pub(crate) fn contains(&self, num: u64) -> bool {
        self.index
            .binary_search_by_key(&num, |&(n, _, _)| n)
            .is_ok()
    }

    /// The `num`s, in order.
    pub(crate) fn nums(&self) -> Vec<u64> {
        self.index.iter().map(|&(num, _, _)| num).collect()
    }

    /// The records in `num` order, as the buffers hold them.
    pub(super) fn in_order(&self) -> impl Iterator<Item = &[u8]> {
        self.index
            .iter()
            .map(|&(_, start, end)| &self.bytes[start..end])
    }
}
