//! Chrome trace event JSON, which the Perfetto UI and chrome://tracing open:
//! `flogtool convert --to perfetto` and the viewer's `trace.json`.
//!
//! - A process per logger incarnation; a track (thread) per facility.
//! - An event with children (a `flog-tracing` span, or any event others follow
//!   from) is a slice from its time to just past the latest time below it:
//!   flog records no span ends, so that is the span as far as the file saw
//!   it. Other events are instants.
//! - Slices on one track must nest, and what is drawn inside a slice reads as
//!   its child: an event whose innermost open slice on the facility's track is
//!   not its ancestor goes to the facility's next track (`app.db #2`), as
//!   concurrent work does.
//! - Each parent -> child link is a flow arrow (`s` bound to the parent, `f`
//!   bound to the child).
//! - Triggers are coloured `terrible`, carry `trigger: true`, and get a global
//!   instant: a line across every track.
//! - The fields are the args, beside `num`, `level`, `facility` and the rest.
//!
//! Records are written in time order, each followed by its own flow ends and
//! starts, because a flow binds to the slice that is on top of its track when
//! it is read.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::Write;

use flog_core::{flogfile::FlogContents, Event, Incarnation, Value};
use serde::Serialize;
use serde_json::{json, Map, Value as Json};

use crate::file::LoadedFile;
use crate::tree::EventTree;

/// Longer texts are cut in a record's name (the whole text is in its args).
const MAX_NAME: usize = 120;

/// What a trace holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TraceStats {
    /// Events written as instants.
    pub instants: usize,
    /// Events written as slices.
    pub slices: usize,
    /// Parent -> child arrows.
    pub flows: usize,
}

#[derive(Serialize)]
struct Record<'a> {
    name: Cow<'a, str>,
    cat: &'static str,
    ph: &'static str,
    ts: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    dur: Option<i64>,
    pid: u32,
    tid: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    s: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bp: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cname: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    args: Option<Json>,
}

/// Where one event goes: its process, track and, for a slice, its end.
#[derive(Clone, Copy)]
struct Place {
    pid: u32,
    tid: u32,
    end: Option<i64>,
}

/// Writes `file` as a Chrome trace (a JSON object with `traceEvents`).
pub fn write_chrome_trace(file: &LoadedFile, mut out: impl Write) -> std::io::Result<TraceStats> {
    let contents = &file.contents;
    let tree = &file.tree;
    let events = &contents.events;
    let order: Vec<usize> = file.by_time().iter().map(|&i| i as usize).collect();
    let is_trigger: Vec<bool> = (0..events.len()).map(|i| file.is_trigger(i)).collect();
    let mut tracks = Tracks::new(contents);
    let places: Vec<Place> = {
        let mut places = vec![None; events.len()];
        for &i in &order {
            // Just past the last event below it, so that event is inside.
            let end =
                (!tree.children(i).is_empty()).then(|| tree.latest(i).0.max(events[i].time.0) + 1);
            places[i] = Some(tracks.place(tree, i, &events[i], end));
        }
        places.into_iter().flatten().collect()
    };

    // An arrow for each child written after its parent; one timed before its
    // parent (a clock that stepped back) would end before it starts.
    let mut rank = vec![0; events.len()];
    for (k, &i) in order.iter().enumerate() {
        rank[i] = k;
    }
    let mut flow_ids: Vec<u64> = vec![0; events.len()];
    let mut next_flow = 1;
    for &i in &order {
        for &child in tree.children(i) {
            if rank[child as usize] > rank[i] {
                flow_ids[child as usize] = next_flow;
                next_flow += 1;
            }
        }
    }

    let mut writer = Records::new(&mut out)?;
    for record in tracks.metadata() {
        writer.push(&record)?;
    }
    let mut stats = TraceStats::default();
    for &i in &order {
        let event = &events[i];
        let place = places[i];
        let parent_in_file = tree.parent(i).is_some();
        writer.push(&event_record(event, place, is_trigger[i], parent_in_file))?;
        if place.end.is_some() {
            stats.slices += 1;
        } else {
            stats.instants += 1;
        }
        if is_trigger[i] {
            writer.push(&Record {
                name: format!("trigger: {}", short(&event.render())).into(),
                cat: "flog.trigger",
                ph: "i",
                ts: event.time.0,
                s: Some("g"),
                cname: Some("terrible"),
                ..bare(place)
            })?;
        }
        if flow_ids[i] != 0 {
            writer.push(&flow(place, event.time.0, "f", flow_ids[i]))?;
            stats.flows += 1;
        }
        for &child in tree.children(i) {
            let id = flow_ids[child as usize];
            if id != 0 {
                writer.push(&flow(place, event.time.0, "s", id))?;
            }
        }
    }
    writer.finish(contents)?;
    Ok(stats)
}

fn bare(place: Place) -> Record<'static> {
    Record {
        name: Cow::Borrowed(""),
        cat: "flog",
        ph: "i",
        ts: 0,
        dur: None,
        pid: place.pid,
        tid: place.tid,
        s: None,
        id: None,
        bp: None,
        cname: None,
        args: None,
    }
}

fn flow(place: Place, ts: i64, ph: &'static str, id: u64) -> Record<'static> {
    Record {
        name: Cow::Borrowed("parent"),
        cat: "flog.parent",
        ph,
        ts,
        id: Some(id),
        // The end binds to the slice it is in (the child), not the next one.
        bp: (ph == "f").then_some("e"),
        ..bare(place)
    }
}

fn short(text: &str) -> Cow<'_, str> {
    match text.char_indices().nth(MAX_NAME) {
        Some((cut, _)) => format!("{}…", &text[..cut]).into(),
        None => text.into(),
    }
}

fn event_record(event: &Event, place: Place, trigger: bool, parent_in_file: bool) -> Record<'_> {
    let text = event.render();
    let mut args = Map::new();
    args.insert("num".into(), event.num.into());
    args.insert("level".into(), event.level.to_string().into());
    if let Some(facility) = &event.facility {
        args.insert("facility".into(), facility.as_ref().into());
    }
    args.insert("message".into(), text.as_ref().into());
    if let Some(parent) = event.parent {
        args.insert("parent".into(), parent.into());
        if !parent_in_file {
            args.insert("parent_in_file".into(), false.into());
        }
    }
    if trigger {
        args.insert("trigger".into(), true.into());
    }
    if event.is_error {
        args.insert("is_error".into(), true.into());
    }
    if let Some(failure) = &event.failure {
        args.insert("failure".into(), failure.as_str().into());
    }
    if let Some(stack) = &event.stack {
        args.insert("stack".into(), stack.as_str().into());
    }
    if !event.fields.is_empty() {
        let mut fields = Map::new();
        for (name, value) in &event.fields {
            let mut key = name.to_string();
            let mut n = 2;
            while fields.contains_key(&key) {
                key = format!("{name}#{n}");
                n += 1;
            }
            fields.insert(key, to_json(value));
        }
        args.insert("fields".into(), Json::Object(fields));
    }
    Record {
        name: short(&text).into_owned().into(),
        cat: if trigger { "flog,trigger" } else { "flog" },
        ph: if place.end.is_some() { "X" } else { "i" },
        ts: event.time.0,
        dur: place.end.map(|end| end - event.time.0),
        s: place.end.is_none().then_some("t"),
        cname: trigger.then_some("terrible"),
        args: Some(Json::Object(args)),
        ..bare(place)
    }
}

/// A field as JSON: numbers stay numbers while JavaScript holds them exactly;
/// bytes are hex; NaN and the infinities, which JSON lacks, are text.
pub(crate) fn to_json(value: &Value) -> Json {
    const EXACT: u64 = 1 << 53;
    match value {
        Value::Null => Json::Null,
        Value::Bool(b) => (*b).into(),
        Value::Int(i) if i.unsigned_abs() <= EXACT => (*i).into(),
        Value::UInt(u) if *u <= EXACT => (*u).into(),
        Value::Float(f) if f.is_finite() => (*f).into(),
        Value::List(items) => items.iter().map(to_json).collect(),
        Value::Map(entries) => Json::Object(
            entries
                .iter()
                .map(|(k, v)| (k.to_string(), to_json(v)))
                .collect(),
        ),
        other => other.to_string().into(),
    }
}

/// One track of a facility: its tid and the slices open on it, innermost
/// last, as (end, event).
type Lane = (u32, Vec<(i64, usize)>);

/// Processes and tracks, assigned as events are placed.
struct Tracks {
    processes: Vec<(Incarnation, u32, String)>,
    /// (pid, facility) -> its tracks.
    lanes: HashMap<(u32, String), Vec<Lane>>,
    names: Vec<(u32, u32, String)>,
    header_pid: Option<u32>,
    header_incarnation: Option<Incarnation>,
    label: String,
}

impl Tracks {
    fn new(contents: &FlogContents) -> Tracks {
        let header = contents.header.as_ref();
        let mut label = header.and_then(|h| h.name.clone()).unwrap_or_else(|| {
            header.map_or("flogfile".into(), |h| {
                h.kind
                    .as_ref()
                    .map_or_else(String::new, ToString::to_string)
            })
        });
        if let Some(host) = header.and_then(|h| h.host.as_ref()) {
            label = format!("{label} on {host}");
        }
        Tracks {
            processes: Vec::new(),
            lanes: HashMap::new(),
            names: Vec::new(),
            header_pid: header.and_then(|h| h.pid),
            header_incarnation: header.and_then(|h| h.incarnation),
            label,
        }
    }

    /// The process of an incarnation: the header's pid for the header's own
    /// incarnation (or the only one), numbers of our own for the others.
    fn pid(&mut self, incarnation: Incarnation) -> u32 {
        if let Some((_, pid, _)) = self.processes.iter().find(|p| p.0 == incarnation) {
            return *pid;
        }
        let inc = incarnation.to_string();
        let is_header_own = self.header_incarnation.is_none_or(|h| h == incarnation);
        let pid = match self.header_pid {
            Some(pid) if is_header_own && !self.processes.iter().any(|p| p.1 == pid) => pid,
            _ => 1_000_000 + self.processes.len() as u32,
        };
        let name = format!("{} · incarnation {inc}", self.label);
        self.processes.push((incarnation, pid, name));
        pid
    }

    /// A track for event `i` (a slice when `end` is given). Slices on a
    /// track must nest, and what is drawn inside a slice reads as following
    /// from it: so an event goes on the facility's track whose innermost open
    /// slice is its nearest ancestor, else on one with no slice open, else on
    /// a new one (`app.db #2`: concurrent work, like a thread).
    fn place(&mut self, tree: &EventTree, i: usize, event: &Event, end: Option<i64>) -> Place {
        let pid = self.pid(event.incarnation);
        let facility = event.facility().to_owned();
        let start = event.time.0;
        let lanes = self.lanes.entry((pid, facility.clone())).or_default();
        let mut best: Option<(usize, u32)> = None;
        let mut empty = None;
        for (k, (_, open)) in lanes.iter_mut().enumerate() {
            while open.last().is_some_and(|&(top_end, _)| top_end <= start) {
                open.pop();
            }
            match open.last() {
                None => {
                    empty = empty.or(Some(k));
                }
                Some(&(top_end, top)) => {
                    let inside = end.is_none_or(|end| end <= top_end);
                    let depth = tree.depth(top);
                    if inside && tree.is_ancestor(top, i) && best.is_none_or(|(_, d)| depth > d) {
                        best = Some((k, depth));
                    }
                }
            }
        }
        let lane = best.map(|(k, _)| k).or(empty).unwrap_or(lanes.len());
        if lane == lanes.len() {
            let tid = self.names.len() as u32 + 1;
            let name = match (lanes.len(), facility.is_empty()) {
                (0, true) => "(no facility)".to_owned(),
                (0, false) => facility.clone(),
                (k, true) => format!("(no facility) #{}", k + 1),
                (k, false) => format!("{facility} #{}", k + 1),
            };
            self.names.push((pid, tid, name));
            lanes.push((tid, Vec::new()));
        }
        if let Some(end) = end {
            lanes[lane].1.push((end, i));
        }
        Place {
            pid,
            tid: lanes[lane].0,
            end,
        }
    }

    /// Names and sort order of processes and tracks (tracks in order of
    /// first use).
    fn metadata(&self) -> Vec<Record<'static>> {
        let meta = |pid, tid, name: &'static str, args: Json| Record {
            name: Cow::Borrowed(name),
            cat: "__metadata",
            ph: "M",
            ts: 0,
            args: Some(args),
            ..bare(Place {
                pid,
                tid,
                end: None,
            })
        };
        let mut out = Vec::new();
        for (k, (_, pid, name)) in self.processes.iter().enumerate() {
            out.push(meta(*pid, 0, "process_name", json!({ "name": name })));
            out.push(meta(
                *pid,
                0,
                "process_sort_index",
                json!({ "sort_index": k }),
            ));
        }
        for (pid, tid, name) in &self.names {
            out.push(meta(*pid, *tid, "thread_name", json!({ "name": name })));
            out.push(meta(
                *pid,
                *tid,
                "thread_sort_index",
                json!({ "sort_index": tid }),
            ));
        }
        out
    }
}

/// The JSON object, written a record at a time so a large file never becomes
/// one large value in memory.
struct Records<W: Write> {
    out: W,
    first: bool,
}

impl<W: Write> Records<W> {
    fn new(mut out: W) -> std::io::Result<Records<W>> {
        out.write_all(b"{\"traceEvents\":[\n")?;
        Ok(Records { out, first: true })
    }

    fn push(&mut self, record: &Record<'_>) -> std::io::Result<()> {
        if !std::mem::take(&mut self.first) {
            self.out.write_all(b",\n")?;
        }
        serde_json::to_writer(&mut self.out, record)?;
        Ok(())
    }

    fn finish(mut self, contents: &FlogContents) -> std::io::Result<()> {
        let mut other = Map::new();
        if let Some(h) = &contents.header {
            let kind = h.kind.as_ref().map_or("", |k| k.as_str());
            other.insert("flog_kind".into(), kind.into());
            for (key, value) in [("incident", &h.name), ("host", &h.host)] {
                if let Some(value) = value {
                    other.insert(key.into(), value.clone().into());
                }
            }
            if !h.versions.is_empty() {
                other.insert("versions".into(), json!(h.versions));
            }
        }
        if let Some(t) = &contents.trailer {
            let end = t.end.as_ref().map_or("", |e| e.as_str());
            other.insert("recording_ended".into(), end.into());
        }
        self.out
            .write_all(b"\n],\"displayTimeUnit\":\"ms\",\"otherData\":")?;
        serde_json::to_writer(&mut self.out, &Json::Object(other))?;
        self.out.write_all(b"}\n")?;
        self.out.flush()
    }
}
