//! A copy of the buffers' records, for a dump or a reader.

use super::encode_buffered;
use crate::event::Event;

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
