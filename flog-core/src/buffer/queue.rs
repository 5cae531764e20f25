//! A fixed-size byte ring: the storage of one buffer's records, written at
//! its tail and freed at its head, in at most two copies each way.
//!
//! `VecDeque<u8>` did this before, but freeing a record (`drain`) and
//! appending one (`extend`) went through its general iterator machinery:
//! 13-15 % of an event in the profile, for what is two `memcpy`s and an add.

/// Bytes in a ring of `capacity()` bytes, oldest first.
#[derive(Debug, Default)]
pub(super) struct ByteQueue {
    /// The storage, all of it in use as the ring (`len() == capacity`).
    buf: Box<[u8]>,
    /// Where the oldest byte is.
    head: usize,
    /// How many bytes are held.
    len: usize,
}

impl ByteQueue {
    /// Bytes held.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Bytes allocated.
    pub(super) fn capacity(&self) -> usize {
        self.buf.len()
    }

    /// The bytes held, oldest first, as the ring's two parts.
    pub(super) fn as_slices(&self) -> (&[u8], &[u8]) {
        let end = self.head + self.len;
        if end <= self.buf.len() {
            (&self.buf[self.head..end], &[])
        } else {
            (&self.buf[self.head..], &self.buf[..end - self.buf.len()])
        }
    }

    /// Appends `data`, which must fit (`len() + data.len() <= capacity()`).
    #[inline]
    pub(super) fn push(&mut self, data: &[u8]) {
        let cap = self.buf.len();
        assert!(self.len + data.len() <= cap, "no room in the byte ring");
        let tail = (self.head + self.len) % cap.max(1);
        if let Some(to) = self.buf.get_mut(tail..tail + data.len()) {
            // Most pushes do not wrap: one copy.
            to.copy_from_slice(data);
            self.len += data.len();
            return;
        }
        let first = data.len().min(cap - tail);
        self.buf[tail..tail + first].copy_from_slice(&data[..first]);
        self.buf[..data.len() - first].copy_from_slice(&data[first..]);
        self.len += data.len();
    }

    /// The `N` bytes at the head, or `None` if fewer are held.
    #[inline]
    pub(super) fn peek<const N: usize>(&self) -> Option<[u8; N]> {
        if self.len < N {
            return None;
        }
        let mut out = [0u8; N];
        if let Some(from) = self.buf.get(self.head..self.head + N) {
            // A copy of a constant size: a load, not a `memcpy` call.
            out.copy_from_slice(from);
            return Some(out);
        }
        let first = N.min(self.buf.len() - self.head);
        out[..first].copy_from_slice(&self.buf[self.head..self.head + first]);
        out[first..].copy_from_slice(&self.buf[..N - first]);
        Some(out)
    }

    /// Appends the `N` bytes of `data` (see [`push`](Self::push)), a copy
    /// of a constant size when it does not wrap.
    #[inline]
    pub(super) fn push_array<const N: usize>(&mut self, data: [u8; N]) {
        let cap = self.buf.len();
        let tail = (self.head + self.len) % cap.max(1);
        match self.buf.get_mut(tail..tail + N) {
            Some(to) if self.len + N <= cap => {
                to.copy_from_slice(&data);
                self.len += N;
            }
            _ => self.push(&data),
        }
    }

    /// Frees the `n` oldest bytes (at most all of them).
    #[inline]
    pub(super) fn advance(&mut self, n: usize) {
        let n = n.min(self.len);
        self.len -= n;
        self.head = if self.len == 0 {
            0
        } else {
            (self.head + n) % self.buf.len()
        };
    }

    /// Reallocates to exactly `capacity` bytes (no fewer than held),
    /// keeping the bytes held, oldest first.
    pub(super) fn resize(&mut self, capacity: usize) {
        let mut buf = vec![0u8; capacity.max(self.len)].into_boxed_slice();
        let (a, b) = self.as_slices();
        buf[..a.len()].copy_from_slice(a);
        buf[a.len()..a.len() + b.len()].copy_from_slice(b);
        self.buf = buf;
        self.head = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against a `VecDeque` model: pushes and frees of every size, across
    /// the wrap and through growth, hold the same bytes.
    #[test]
    fn holds_what_a_deque_would() {
        let mut q = ByteQueue::default();
        let mut model = std::collections::VecDeque::new();
        let mut next = 0u8;
        for step in 0..5_000usize {
            let n = (step * 7919) % 61;
            if q.len() + n > q.capacity() {
                if step % 3 == 0 {
                    q.resize(q.capacity() * 2 + n);
                } else {
                    let free = q.len() + n - q.capacity();
                    q.advance(free);
                    model.drain(..free.min(model.len()));
                }
            }
            if q.len() + n <= q.capacity() {
                let data: Vec<u8> = (0..n)
                    .map(|_| {
                        next = next.wrapping_add(1);
                        next
                    })
                    .collect();
                match <[u8; 4]>::try_from(&data[..]) {
                    Ok(array) => q.push_array(array),
                    Err(_) => q.push(&data),
                }
                model.extend(&data);
            }
            let (a, b) = q.as_slices();
            assert_eq!(
                [a, b].concat(),
                model.iter().copied().collect::<Vec<_>>(),
                "{step}"
            );
            assert_eq!(
                q.peek::<4>().map(Vec::from),
                (model.len() >= 4).then(|| model.iter().take(4).copied().collect())
            );
            if step % 5 == 0 {
                let free = (step % 13).min(q.len());
                q.advance(free);
                model.drain(..free);
            }
        }
    }
}
