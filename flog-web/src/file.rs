//! One file as the viewer holds it: the contents read, plus what every request
//! needs ready (the tree, rendered texts, orders, triggers, origins).

use std::collections::BTreeSet;

use flog_core::{
    flogfile::{FlogContents, HeaderKind},
    Event,
};

use crate::tree::EventTree;

/// A file read and prepared for viewing. A new one is made each time the file
/// changes; `generation` tells them apart.
#[derive(Debug)]
pub struct LoadedFile {
    /// The file's label.
    pub label: String,
    /// Counts loads of this file, from 1.
    pub generation: u64,
    /// What was read.
    pub contents: FlogContents,
    /// The parent/child tree.
    pub tree: EventTree,
    texts: Vec<Box<str>>,
    /// Lowercased message, fields, failure and stack, for the text filter.
    haystacks: Vec<Box<str>>,
    by_number: Vec<u32>,
    by_time: Vec<u32>,
    trigger_nums: Vec<u64>,
    is_trigger: Vec<bool>,
    origins: Vec<Option<u32>>,
    origin_names: Vec<String>,
    approx_bytes: u64,
}

impl LoadedFile {
    /// Prepares `contents` (CPU work proportional to the events: run it off
    /// the async runtime).
    pub fn new(label: String, generation: u64, contents: FlogContents) -> LoadedFile {
        let events = &contents.events;
        let tree = EventTree::new(events);
        let texts: Vec<Box<str>> = events.iter().map(|e| e.render().into()).collect();
        let haystacks = events
            .iter()
            .zip(&texts)
            .map(|(e, text)| haystack(e, text))
            .collect();
        let mut by_number: Vec<u32> = (0..events.len() as u32).collect();
        by_number.sort_by_key(|&i| (events[i as usize].num, i));
        let mut by_time: Vec<u32> = (0..events.len() as u32).collect();
        by_time.sort_by_key(|&i| (events[i as usize].time, i));
        let (origins, origin_names) = origins_of(events, &tree);
        let mut file = LoadedFile {
            label,
            generation,
            tree,
            texts,
            haystacks,
            by_number,
            by_time,
            trigger_nums: Vec::new(),
            is_trigger: vec![false; events.len()],
            origins,
            origin_names,
            contents,
            approx_bytes: 0,
        };
        file.mark_triggers();
        file.approx_bytes = file.estimate_bytes();
        file
    }

    /// About how much memory the file holds once prepared: its rendered
    /// texts and search haystacks, the haystacks again for the events' own
    /// strings (a haystack holds the message, fields, failure and stack an
    /// event keeps), plus a fixed share per event for the event itself, its
    /// indexes and its tree node. An estimate for the viewer's memory
    /// budget, not an exact count.
    pub fn approx_bytes(&self) -> u64 {
        self.approx_bytes
    }

    fn estimate_bytes(&self) -> u64 {
        const PER_EVENT: u64 = std::mem::size_of::<flog_core::Event>() as u64 + 96;
        let strings: usize = self
            .texts
            .iter()
            .chain(&self.haystacks)
            .chain(&self.haystacks)
            .map(|t| t.len())
            .sum();
        strings as u64 + PER_EVENT * self.contents.events.len() as u64
    }

    fn mark_triggers(&mut self) {
        let header = self.contents.header.as_ref();
        let mut nums: Vec<u64> = Vec::new();
        if let Some(trigger) = header.and_then(|h| h.trigger.as_ref()) {
            nums.push(trigger.num);
        }
        if let Some(trailer) = &self.contents.trailer {
            nums.extend(&trailer.triggers);
        }
        let mut seen = BTreeSet::new();
        nums.retain(|n| seen.insert(*n));
        for &num in &nums {
            if let Some(i) = self.trigger_index(num) {
                self.is_trigger[i] = true;
            }
        }
        self.trigger_nums = nums;
    }

    /// The event of the trigger numbered `num`: in the header trigger's
    /// incarnation when there is one (a trailer's triggers are the reporter's
    /// own), else the first event with that number.
    pub fn trigger_index(&self, num: u64) -> Option<usize> {
        let header_trigger = self
            .contents
            .header
            .as_ref()
            .and_then(|h| h.trigger.as_ref());
        match header_trigger {
            Some(trigger) => self.tree.find(trigger, num),
            None => self.contents.events.iter().position(|e| e.num == num),
        }
    }

    /// The numbers of the incident's triggers, the first one first.
    pub fn trigger_nums(&self) -> &[u64] {
        &self.trigger_nums
    }

    /// Whether event `i` is a trigger.
    pub fn is_trigger(&self, i: usize) -> bool {
        self.is_trigger[i]
    }

    /// Event `i`'s text, rendered.
    pub fn text(&self, i: usize) -> &str {
        &self.texts[i]
    }

    /// Whether event `i`'s text, fields, failure or stack contain `needle`,
    /// which must be lowercase.
    pub fn contains_text(&self, i: usize, needle: &str) -> bool {
        self.haystacks[i].contains(needle)
    }

    /// Event `i`'s origin, when the file has several.
    pub fn origin(&self, i: usize) -> Option<&str> {
        self.origins[i].map(|o| self.origin_names[o as usize].as_str())
    }

    /// The distinct origins, in order of first appearance (empty when the file
    /// has one).
    pub fn origin_names(&self) -> &[String] {
        &self.origin_names
    }

    /// Event `i`'s key in URLs: its number, prefixed with its incarnation when
    /// the file holds several (where numbers repeat).
    pub fn key(&self, i: usize) -> String {
        let e = &self.contents.events[i];
        if self.tree.several_incarnations() {
            format!("{}-{}", e.incarnation.hex(), e.num)
        } else {
            e.num.to_string()
        }
    }

    /// The event a key names.
    pub fn find_key(&self, key: &str) -> Option<usize> {
        let events = &self.contents.events;
        match key.split_once('-') {
            Some((inc, num)) => {
                let num = num.parse().ok()?;
                let mut unique = [0u8; 8];
                if inc.len() != 16 {
                    return None;
                }
                for (k, byte) in unique.iter_mut().enumerate() {
                    *byte = u8::from_str_radix(inc.get(2 * k..2 * k + 2)?, 16).ok()?;
                }
                self.tree.find_in(unique, num)
            }
            None => self.tree.find(events.first()?, key.parse().ok()?),
        }
    }

    /// Whether the file is an incident report.
    pub fn is_incident(&self) -> bool {
        self.contents
            .header
            .as_ref()
            .is_some_and(|h| h.kind == Some(HeaderKind::Incident))
    }

    /// Event indices by number.
    pub fn by_number(&self) -> &[u32] {
        &self.by_number
    }

    /// Event indices by time.
    pub fn by_time(&self) -> &[u32] {
        &self.by_time
    }
}

fn haystack(event: &Event, text: &str) -> Box<str> {
    let mut out = String::with_capacity(text.len() + 32);
    out.push_str(text);
    for (name, value) in &event.fields {
        out.push('\n');
        out.push_str(name);
        out.push('=');
        out.push_str(&value.to_string());
    }
    for extra in [&event.failure, &event.stack].into_iter().flatten() {
        out.push('\n');
        out.push_str(extra);
    }
    out.to_lowercase().into()
}

/// Where each event came from, when a file mixes sources. The flogfile format
/// has no per-event origin yet; until it has (the event gatherer), the logger
/// incarnation is the origin, which tells apart the runs and processes a
/// gathered or filtered file mixes. A file of one incarnation has no origins.
fn origins_of(events: &[Event], tree: &EventTree) -> (Vec<Option<u32>>, Vec<String>) {
    if !tree.several_incarnations() {
        return (vec![None; events.len()], Vec::new());
    }
    let mut names: Vec<String> = Vec::new();
    let mut ids = std::collections::HashMap::new();
    let origins = events
        .iter()
        .map(|e| {
            let id = *ids.entry(e.incarnation).or_insert_with(|| {
                names.push(e.incarnation.to_string());
                names.len() as u32 - 1
            });
            Some(id)
        })
        .collect();
    (origins, names)
}
