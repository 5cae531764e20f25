//! Views of a file: its events in an order, through the filters, ready to be
//! served a page at a time.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use flog_core::{facility_has_prefix, Level};
use serde::Deserialize;

use crate::file::LoadedFile;

/// The longest text filter taken (longer is refused, not truncated).
pub const MAX_FILTER_TEXT: usize = 1000;

/// How many filtered views of one file are kept ready (each costs a few bytes
/// per event): enough to scroll one view while flipping between a few others.
const CACHED_VIEWS: usize = 8;

/// The order of the events page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Order {
    /// Nested: every event under the event it follows from.
    Tree,
    /// By event number.
    Number,
    /// By time.
    Time,
}

impl Order {
    /// The name used in URLs.
    pub fn name(self) -> &'static str {
        match self {
            Order::Tree => "tree",
            Order::Number => "number",
            Order::Time => "time",
        }
    }

    fn parse(name: &str) -> Option<Order> {
        [Order::Tree, Order::Number, Order::Time]
            .into_iter()
            .find(|o| o.name() == name)
    }

    /// The order a file opens in: nested for incidents (a tree of causes), by
    /// number for everything else (long streams of mostly unrelated events).
    pub fn default_for(file: &LoadedFile) -> Order {
        if file.is_incident() {
            Order::Tree
        } else {
            Order::Number
        }
    }
}

/// A view's query parameters as they come in a URL; every one is optional.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ViewParams {
    /// `tree`, `number` or `time`.
    pub sort: Option<String>,
    /// Comma-separated levels (names or numbers) to show; all when absent,
    /// none when `none`.
    pub levels: Option<String>,
    /// A dotted facility prefix (`app.db` keeps `app.db.pool`).
    pub facility: Option<String>,
    /// One origin.
    pub origin: Option<String>,
    /// Text to find (case-insensitive) in messages, fields, failures, stacks.
    pub text: Option<String>,
}

/// A query the viewer cannot answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// `sort` names no order.
    #[error("unknown sort order {0:?} (tree, number or time)")]
    Sort(String),
    /// A level that is neither a name nor a number.
    #[error("unknown level {0:?}")]
    Level(String),
    /// The text filter is longer than [`MAX_FILTER_TEXT`].
    #[error("the text filter is longer than {MAX_FILTER_TEXT} bytes")]
    TextTooLong,
}

fn nonempty(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// What to show: an order and filters (an event must pass all given).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ViewQuery {
    /// The order.
    pub order: Order,
    /// Levels to keep, all when `None`.
    pub levels: Option<BTreeSet<Level>>,
    /// Facility prefix.
    pub facility: Option<String>,
    /// Origin.
    pub origin: Option<String>,
    /// Lowercased text to find.
    pub text: Option<String>,
}

impl ViewQuery {
    /// Reads URL parameters; an absent order is the file's default.
    pub fn parse(params: &ViewParams, default_order: Order) -> Result<ViewQuery, QueryError> {
        let order = match nonempty(&params.sort) {
            None => default_order,
            Some(name) => Order::parse(name).ok_or_else(|| QueryError::Sort(name.into()))?,
        };
        let levels = match nonempty(&params.levels) {
            None => None,
            // Every level unticked: nothing passes.
            Some("none") => Some(BTreeSet::new()),
            Some(list) => Some(
                list.split(',')
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(|l| Level::parse(l).ok_or_else(|| QueryError::Level(l.into())))
                    .collect::<Result<BTreeSet<Level>, _>>()?,
            ),
        };
        let text = nonempty(&params.text).map(str::to_lowercase);
        if text.as_ref().is_some_and(|t| t.len() > MAX_FILTER_TEXT) {
            return Err(QueryError::TextTooLong);
        }
        Ok(ViewQuery {
            order,
            levels,
            facility: nonempty(&params.facility).map(str::to_owned),
            origin: nonempty(&params.origin).map(str::to_owned),
            text,
        })
    }

    fn filters(&self) -> bool {
        self.levels.is_some()
            || self.facility.is_some()
            || self.origin.is_some()
            || self.text.is_some()
    }

    fn matches(&self, file: &LoadedFile, i: usize) -> bool {
        let event = &file.contents.events[i];
        if let Some(levels) = &self.levels {
            if !levels.contains(&event.level) {
                return false;
            }
        }
        if let Some(prefix) = &self.facility {
            if !facility_has_prefix(event.facility(), prefix) {
                return false;
            }
        }
        if let Some(origin) = &self.origin {
            if file.origin(i) != Some(origin.as_str()) {
                return false;
            }
        }
        if let Some(text) = &self.text {
            if !file.contains_text(i, text) {
                return false;
            }
        }
        true
    }
}

/// The rows of one view: event indices in order. In the nested order a
/// filtered view keeps the ancestors of every match, marked as context, so
/// each match is still seen where it happened.
#[derive(Debug)]
pub struct View {
    /// The order.
    pub order: Order,
    rows: Vec<u32>,
    /// Nested order only: rows below each row in this view.
    sizes: Vec<u32>,
    /// Nested order only: shown as an ancestor of a match, not a match.
    context: Vec<bool>,
    matched: usize,
}

impl View {
    /// Computes the view of `query` over `file`.
    pub fn new(file: &LoadedFile, query: &ViewQuery) -> View {
        match query.order {
            Order::Tree => View::nested(file, query),
            order => {
                let all = if order == Order::Number {
                    file.by_number()
                } else {
                    file.by_time()
                };
                let rows: Vec<u32> = if query.filters() {
                    all.iter()
                        .copied()
                        .filter(|&i| query.matches(file, i as usize))
                        .collect()
                } else {
                    all.to_vec()
                };
                View {
                    order,
                    matched: rows.len(),
                    rows,
                    sizes: Vec::new(),
                    context: Vec::new(),
                }
            }
        }
    }

    fn nested(file: &LoadedFile, query: &ViewQuery) -> View {
        let tree = &file.tree;
        let preorder = tree.preorder();
        let n = preorder.len();
        if !query.filters() {
            return View {
                order: Order::Tree,
                rows: preorder.to_vec(),
                sizes: preorder
                    .iter()
                    .map(|&i| tree.descendants(i as usize) as u32)
                    .collect(),
                context: vec![false; n],
                matched: n,
            };
        }
        // 0: hidden, 1: context (an ancestor of a match), 2: a match. Going up
        // from a match stops at the first ancestor already kept, so this is
        // linear in the events.
        let mut keep = vec![0u8; n];
        let mut matched = 0;
        for i in 0..n {
            if !query.matches(file, i) {
                continue;
            }
            matched += 1;
            keep[i] = 2;
            let mut up = tree.parent(i);
            while let Some(p) = up {
                if keep[p] != 0 {
                    break;
                }
                keep[p] = 1;
                up = tree.parent(p);
            }
        }
        let rows: Vec<u32> = preorder
            .iter()
            .copied()
            .filter(|&i| keep[i as usize] != 0)
            .collect();
        let context = rows.iter().map(|&i| keep[i as usize] == 1).collect();
        let sizes = subtree_sizes(&rows, |i| tree.depth(i as usize));
        View {
            order: Order::Tree,
            rows,
            sizes,
            context,
            matched,
        }
    }

    /// How many rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// How many rows are matches (the others are context).
    pub fn matched(&self) -> usize {
        self.matched
    }

    /// The event shown at row `pos`.
    pub fn event_at(&self, pos: usize) -> usize {
        self.rows[pos] as usize
    }

    /// Nested order: how many rows below row `pos` belong to it (what folding
    /// it hides).
    pub fn size_at(&self, pos: usize) -> usize {
        self.sizes.get(pos).map_or(0, |&s| s as usize)
    }

    /// Whether row `pos` is shown only as the ancestor of a match.
    pub fn is_context(&self, pos: usize) -> bool {
        self.context.get(pos).copied().unwrap_or(false)
    }

    /// The row of event `i`, if it is in the view.
    pub fn position_of(&self, i: usize) -> Option<usize> {
        self.rows.iter().position(|&r| r as usize == i)
    }
}

/// For rows in preorder with their depths: how many rows follow each one
/// before the next row at its depth or above, in one pass with a stack.
fn subtree_sizes(rows: &[u32], depth: impl Fn(u32) -> u32) -> Vec<u32> {
    let mut sizes = vec![0u32; rows.len()];
    let mut open: Vec<(usize, u32)> = Vec::new();
    for (pos, &i) in rows.iter().enumerate() {
        let d = depth(i);
        while let Some(&(start, open_depth)) = open.last() {
            if open_depth < d {
                break;
            }
            sizes[start] = (pos - start - 1) as u32;
            open.pop();
        }
        open.push((pos, d));
    }
    for (start, _) in open {
        sizes[start] = (rows.len() - start - 1) as u32;
    }
    sizes
}

/// The last few views of one loaded file.
#[derive(Debug, Default)]
pub struct ViewCache {
    // A std mutex: held only to look up or insert, never across an await.
    views: Mutex<Vec<(ViewQuery, Arc<View>)>>,
}

impl ViewCache {
    /// The view of `query` over `file`, made once and kept while it is among
    /// the last few used.
    pub fn get(&self, file: &LoadedFile, query: &ViewQuery) -> Arc<View> {
        {
            let mut views = self.views.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(k) = views.iter().position(|(q, _)| q == query) {
                let hit = views.remove(k);
                let view = hit.1.clone();
                views.insert(0, hit);
                return view;
            }
        }
        let view = Arc::new(View::new(file, query));
        let mut views = self.views.lock().unwrap_or_else(|e| e.into_inner());
        views.insert(0, (query.clone(), view.clone()));
        views.truncate(CACHED_VIEWS);
        view
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flog_core::{
        flogfile::{FlogContents, Header, Trailer},
        Event, Text, Timestamp,
    };

    fn event(num: u64, parent: Option<u64>, level: Level, facility: &str, text: &str) -> Event {
        Event {
            num,
            parent,
            level,
            time: Timestamp(1_000_000 * (10 - num as i64)),
            facility: Some(facility.to_owned().into()),
            text: Text::Message(text.to_owned().into()),
            ..Event::default()
        }
    }

    /// request(1) ─┬─ query(2) ── slow(3, WEIRD)
    ///             └─ cache(4)
    /// other(5)
    fn file() -> LoadedFile {
        let events = vec![
            event(1, None, Level::OPERATIONAL, "app.http", "request"),
            event(2, Some(1), Level::OPERATIONAL, "app.db", "query"),
            event(3, Some(2), Level::WEIRD, "app.db.pool", "pool is SLOW"),
            event(4, Some(1), Level::NOISY, "app.cache", "cache miss"),
            event(5, None, Level::OPERATIONAL, "app.dbx", "other"),
        ];
        let contents = FlogContents {
            header: Some(Header {
                kind: flog_core::flogfile::HeaderKind::Incident.into(),
                trigger: Some(events[2].clone()),
                ..Header::default()
            }),
            events,
            trailer: Some(Trailer {
                triggers: vec![3],
                ..Trailer::default()
            }),
            ..FlogContents::default()
        };
        LoadedFile::new("test".into(), 1, contents)
    }

    fn nums(file: &LoadedFile, view: &View) -> Vec<u64> {
        (0..view.len())
            .map(|p| file.contents.events[view.event_at(p)].num)
            .collect()
    }

    fn query(params: ViewParams, file: &LoadedFile) -> ViewQuery {
        ViewQuery::parse(&params, Order::default_for(file)).unwrap()
    }

    #[test]
    fn orders() {
        let file = file();
        assert_eq!(Order::default_for(&file), Order::Tree);
        let tree = View::new(&file, &query(ViewParams::default(), &file));
        assert_eq!(nums(&file, &tree), [1, 2, 3, 4, 5]);
        assert_eq!(
            (0..5).map(|p| tree.size_at(p)).collect::<Vec<_>>(),
            [3, 1, 0, 0, 0]
        );
        let by = |sort: &str| {
            let params = ViewParams {
                sort: Some(sort.into()),
                ..ViewParams::default()
            };
            nums(&file, &View::new(&file, &query(params, &file)))
        };
        assert_eq!(by("number"), [1, 2, 3, 4, 5]);
        assert_eq!(by("time"), [5, 4, 3, 2, 1], "times run backwards here");
        assert!(file.is_trigger(2) && !file.is_trigger(1));
    }

    #[test]
    fn a_filtered_tree_keeps_the_ancestors_of_matches_as_context() {
        let file = file();
        let params = ViewParams {
            facility: Some("app.db".into()),
            ..ViewParams::default()
        };
        let view = View::new(&file, &query(params, &file));
        // app.db keeps app.db.pool, not app.dbx; request is context.
        assert_eq!(nums(&file, &view), [1, 2, 3]);
        assert_eq!(view.matched(), 2);
        assert!(view.is_context(0) && !view.is_context(1) && !view.is_context(2));
        assert_eq!(
            (0..3).map(|p| view.size_at(p)).collect::<Vec<_>>(),
            [2, 1, 0]
        );
    }

    #[test]
    fn filters_by_level_and_text() {
        let file = file();
        let params = ViewParams {
            sort: Some("number".into()),
            levels: Some("weird, 10".into()),
            ..ViewParams::default()
        };
        assert_eq!(
            nums(&file, &View::new(&file, &query(params, &file))),
            [3, 4]
        );
        let params = ViewParams {
            sort: Some("number".into()),
            text: Some("Slow".into()),
            ..ViewParams::default()
        };
        assert_eq!(nums(&file, &View::new(&file, &query(params, &file))), [3]);
    }

    #[test]
    fn bad_queries_are_errors() {
        let bad = |params: ViewParams| ViewQuery::parse(&params, Order::Tree).unwrap_err();
        assert_eq!(
            bad(ViewParams {
                sort: Some("random".into()),
                ..ViewParams::default()
            }),
            QueryError::Sort("random".into())
        );
        assert_eq!(
            bad(ViewParams {
                levels: Some("LOUD".into()),
                ..ViewParams::default()
            }),
            QueryError::Level("LOUD".into())
        );
        assert_eq!(
            bad(ViewParams {
                text: Some("x".repeat(MAX_FILTER_TEXT + 1)),
                ..ViewParams::default()
            }),
            QueryError::TextTooLong
        );
    }

    #[test]
    fn the_cache_returns_the_same_view_for_the_same_query() {
        let file = file();
        let cache = ViewCache::default();
        let q = query(ViewParams::default(), &file);
        let a = cache.get(&file, &q);
        let b = cache.get(&file, &q);
        assert!(Arc::ptr_eq(&a, &b));
    }
}
