//! The JSON rows of the events page (`events.json`): one object per event,
//! everything the page shows, as plain values the page puts in the DOM as text.

use flog_core::{Level, Value};
use serde::Serialize;

use crate::file::LoadedFile;
use crate::view::View;

/// The most rows one request may ask for.
pub const MAX_PAGE: usize = 2000;

/// The CSS class of a level: its name when named, else the name of the nearest
/// named level below it (so every number gets a colour).
pub fn level_class(level: Level) -> &'static str {
    let named = Level::NAMED
        .iter()
        .rev()
        .find(|l| **l <= level)
        .copied()
        .unwrap_or(Level::NOISY);
    match named.name() {
        Some("NOISY") => "lvl-noisy",
        Some("OPERATIONAL") => "lvl-operational",
        Some("UNUSUAL") => "lvl-unusual",
        Some("INFREQUENT") => "lvl-infrequent",
        Some("CURIOUS") => "lvl-curious",
        Some("WEIRD") => "lvl-weird",
        Some("SCARY") => "lvl-scary",
        _ => "lvl-bad",
    }
}

/// One field: name, value as text, and the value's kind.
#[derive(Debug, Serialize)]
pub struct FieldRow<'a> {
    /// The field's name.
    pub name: &'a str,
    /// The value as a format placeholder shows it.
    pub value: String,
    /// `text`, `int`, `float`, `bool`, `bytes`, `list`, `map` or `null`.
    pub kind: &'static str,
}

/// One event as a row of a view.
#[derive(Debug, Serialize)]
pub struct Row<'a> {
    /// Its position in the view.
    pub pos: usize,
    /// Its key in URLs (`#event-KEY`).
    pub key: String,
    /// Its number.
    pub num: u64,
    /// Microseconds since the epoch; the page renders it in UTC or local time.
    pub time_us: i64,
    /// The level's number.
    pub level: u16,
    /// The level's name.
    pub level_name: String,
    /// The level's CSS class.
    pub level_class: &'static str,
    /// Facility.
    pub facility: Option<&'a str>,
    /// Rendered text.
    pub message: &'a str,
    /// The key of its parent, when that is in the file.
    pub parent: Option<String>,
    /// The number of a parent that is not in the file.
    pub parent_missing: Option<u64>,
    /// Nesting depth (nested order; 0 otherwise).
    pub depth: u32,
    /// Rows below it that fold with it (nested order; 0 otherwise).
    pub size: usize,
    /// Children in the file.
    pub children: usize,
    /// Shown only as the ancestor of a match.
    pub context: bool,
    /// An incident trigger.
    pub trigger: bool,
    /// The event reports an error.
    pub is_error: bool,
    /// Failure text.
    pub failure: Option<&'a str>,
    /// Stack trace.
    pub stack: Option<&'a str>,
    /// Structured fields, in order.
    pub fields: Vec<FieldRow<'a>>,
    /// Where it came from, when the file mixes origins.
    pub origin: Option<&'a str>,
}

/// A page of rows.
#[derive(Debug, Serialize)]
pub struct Page<'a> {
    /// Which load of the file this is from (it changes when the file does).
    pub generation: u64,
    /// The order.
    pub order: &'static str,
    /// Rows in the view.
    pub total: usize,
    /// Rows that match the filters (the rest are context).
    pub matched: usize,
    /// Events in the file.
    pub events: usize,
    /// The first row's position.
    pub offset: usize,
    /// The rows.
    pub rows: Vec<Row<'a>>,
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Int(_) | Value::UInt(_) => "int",
        Value::Float(_) => "float",
        Value::Text(_) => "text",
        Value::Bytes(_) => "bytes",
        Value::List(_) => "list",
        Value::Map(_) => "map",
    }
}

/// Row `pos` of `view`.
pub(crate) fn row<'a>(file: &'a LoadedFile, view: &View, pos: usize) -> Row<'a> {
    let i = view.event_at(pos);
    let e = &file.contents.events[i];
    let parent = file.tree.parent(i);
    let nested = view.order == crate::view::Order::Tree;
    Row {
        pos,
        key: file.key(i),
        num: e.num,
        time_us: e.time.0,
        level: e.level.0,
        level_name: e.level.to_string(),
        level_class: level_class(e.level),
        facility: e.facility.as_deref(),
        message: file.text(i),
        parent: parent.map(|p| file.key(p)),
        parent_missing: e.parent.filter(|_| parent.is_none()),
        depth: if nested { file.tree.depth(i) } else { 0 },
        size: view.size_at(pos),
        children: file.tree.children(i).len(),
        context: view.is_context(pos),
        trigger: file.is_trigger(i),
        is_error: e.is_error,
        failure: e.failure.as_deref(),
        stack: e.stack.as_deref(),
        fields: e
            .fields
            .iter()
            .map(|(name, value)| FieldRow {
                name,
                value: value.to_string(),
                kind: kind(value),
            })
            .collect(),
        origin: file.origin(i),
    }
}

/// Rows `offset..offset + limit` of `view` (fewer at the end).
pub(crate) fn page<'a>(file: &'a LoadedFile, view: &View, offset: usize, limit: usize) -> Page<'a> {
    let end = offset.saturating_add(limit.min(MAX_PAGE)).min(view.len());
    let start = offset.min(end);
    Page {
        generation: file.generation,
        order: view.order.name(),
        total: view.len(),
        matched: view.matched(),
        events: file.contents.events.len(),
        offset: start,
        rows: (start..end).map(|pos| row(file, view, pos)).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_level_has_a_class() {
        assert_eq!(level_class(Level(0)), "lvl-noisy");
        assert_eq!(level_class(Level::WEIRD), "lvl-weird");
        assert_eq!(level_class(Level(33)), "lvl-weird");
        assert_eq!(level_class(Level(u16::MAX)), "lvl-bad");
    }
}
