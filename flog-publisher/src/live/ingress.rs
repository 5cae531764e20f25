//! What the logging thread does for live subscribers, however many there are:
//! copy the event into one bounded queue, or count it as dropped.

use flog_core::{Event, Text, Value};

/// An event on its way to the ring, or a run of events dropped because the
/// ingress was full.
// Nearly every item is an event: boxing it would cost the logging thread an
// allocation per event to save space in the rare gaps.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(crate) enum Item {
    Event(Event),
    Gap(u64),
}

/// The queue between the logging thread and the fan-out task, bounded in
/// (estimated) bytes.
#[derive(Debug)]
pub(crate) struct Ingress {
    items: Vec<Item>,
    bytes: usize,
    max_bytes: usize,
    /// Events observed so far: the position the next one gets.
    observed: u64,
    /// Bumped by [`clear`](Self::clear), as the ring's by its reset.
    epoch: u64,
}

impl Ingress {
    pub(crate) fn new(max_bytes: usize) -> Ingress {
        Ingress {
            items: Vec::new(),
            bytes: 0,
            max_bytes,
            observed: 0,
            epoch: 0,
        }
    }

    /// Which clearing the queued items belong after.
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The position of the next event observed.
    pub(crate) fn observed(&self) -> u64 {
        self.observed
    }

    /// Queues a copy of `event`, or, when full, counts it into the gap at
    /// the end of the queue: dropped events keep their place.
    pub(crate) fn observe(&mut self, event: &Event) {
        self.observed += 1;
        let size = approx_size(event);
        if self.bytes + size > self.max_bytes {
            match self.items.last_mut() {
                Some(Item::Gap(n)) => *n += 1,
                _ => self.items.push(Item::Gap(1)),
            }
            return;
        }
        self.bytes += size;
        self.items.push(Item::Event(event.clone()));
    }

    /// Takes everything queued.
    pub(crate) fn take(&mut self) -> Vec<Item> {
        self.bytes = 0;
        std::mem::take(&mut self.items)
    }

    /// Forgets everything queued and returns its memory.
    pub(crate) fn clear(&mut self) {
        self.bytes = 0;
        self.items = Vec::new();
        self.epoch += 1;
    }
}

/// About how much memory a copy of `event` holds: enough to bound the
/// ingress in bytes without encoding on the logging thread.
fn approx_size(event: &Event) -> usize {
    let text = match &event.text {
        Text::Message(t) | Text::Format(t) => t.len(),
    };
    std::mem::size_of::<Event>()
        + text
        + event.facility().len()
        + event.failure.as_ref().map_or(0, String::len)
        + event.stack.as_ref().map_or(0, String::len)
        + event
            .fields
            .iter()
            .map(|(k, v)| k.len() + value_size(v))
            .sum::<usize>()
}

fn value_size(value: &Value) -> usize {
    std::mem::size_of::<Value>()
        + match value {
            Value::Text(t) => t.len(),
            Value::Bytes(b) => b.len(),
            Value::List(items) => items.iter().map(value_size).sum(),
            Value::Map(entries) => entries.iter().map(|(k, v)| k.len() + value_size(v)).sum(),
            _ => 0,
        }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_ingress_counts_drops_in_place() {
        let event = Event::default();
        let mut ingress = Ingress::new(2 * approx_size(&event));
        for _ in 0..5 {
            ingress.observe(&event);
        }
        assert_eq!(ingress.observed(), 5);
        let items = ingress.take();
        assert!(matches!(
            items[..],
            [Item::Event(_), Item::Event(_), Item::Gap(3)]
        ));
        ingress.observe(&event);
        assert!(matches!(ingress.take()[..], [Item::Event(_)]));
    }

    #[test]
    fn large_fields_count_in_the_estimate() {
        let mut event = Event::default();
        let small = approx_size(&event);
        event
            .fields
            .push(("blob".into(), Value::Bytes(vec![0; 10_000])));
        assert!(approx_size(&event) >= small + 10_000);
    }
}
