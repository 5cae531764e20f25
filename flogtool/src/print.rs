//! Events, headers and trailers as text for people: one line per event, so the
//! output greps and sorts like any log.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use flog_core::{Event, Header, Text, Trailer, Value};

/// Marks the line of every event that triggered (or joined) the incident.
pub(crate) const TRIGGER_MARK: &str = "[TRIGGER]";

/// How events are shown: the flags `dump` and `tail` share.
#[derive(Debug, Clone, Copy, clap::Args)]
pub(crate) struct OutputArgs {
    /// Prefix each event with its number (#num) and show its parent's.
    #[arg(long)]
    pub(crate) nums: bool,

    /// Show everything about each event: number, parent, format string, fields,
    /// incarnation, failure and stack.
    #[arg(short, long)]
    pub(crate) verbose: bool,

    /// Print one JSON object per line instead: the header, every event (with all
    /// its fields), the trailer.
    #[arg(long, conflicts_with_all = ["nums", "verbose"])]
    pub(crate) json: bool,
}

impl OutputArgs {
    /// The text style these flags ask for.
    pub(crate) fn style(&self) -> TextStyle {
        TextStyle {
            nums: self.nums,
            verbose: self.verbose,
        }
    }
}

/// How much of each event to show.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TextStyle {
    /// Prefix each line with `#num` and show the parent's num.
    pub(crate) nums: bool,
    /// Show everything: nums, format string, fields, incarnation, failure, stack.
    pub(crate) verbose: bool,
}

/// The `num`s of the events that declared an incident: the header's trigger and
/// every trigger the trailer lists (triggers arriving while an incident records
/// join it).
pub(crate) fn trigger_nums(header: Option<&Header>, trailer: Option<&Trailer>) -> BTreeSet<u64> {
    let mut nums: BTreeSet<u64> = trailer
        .map(|t| t.triggers.iter().copied().collect())
        .unwrap_or_default();
    if let Some(trigger) = header.and_then(|h| h.trigger.as_ref()) {
        nums.insert(trigger.num);
    }
    nums
}

/// `[#NUM ]TIME LEVEL facility: message[ [parent #P]][ [TRIGGER]]`, followed with
/// `verbose` by indented detail lines. No trailing newline.
pub(crate) fn event_text(event: &Event, style: TextStyle, is_trigger: bool) -> String {
    let mut out = String::with_capacity(128);
    let nums = style.nums || style.verbose;
    if nums {
        let _ = write!(out, "#{} ", event.num);
    }
    // The level is padded to the longest name (OPERATIONAL) so messages line up.
    let _ = write!(out, "{} {:<11} ", event.time, event.level);
    if let Some(facility) = &event.facility {
        let _ = write!(out, "{facility}: ");
    }
    out.push_str(&event.render());
    if nums {
        if let Some(parent) = event.parent {
            let _ = write!(out, " [parent #{parent}]");
        }
    }
    if is_trigger {
        out.push(' ');
        out.push_str(TRIGGER_MARK);
    }
    if style.verbose {
        push_details(&mut out, event);
    }
    out
}

fn push_details(out: &mut String, event: &Event) {
    if let Text::Format(format) = &event.text {
        let _ = write!(out, "\n    format: {format}");
    }
    if !event.fields.is_empty() {
        out.push_str("\n    fields:");
        for (name, value) in &event.fields {
            let _ = write!(out, " {name}={}", quoted(value));
        }
    }
    let _ = write!(out, "\n    incarnation: {}", event.incarnation);
    if event.is_error {
        out.push_str("\n    error: yes");
    }
    for (label, text) in [("failure", &event.failure), ("stack", &event.stack)] {
        if let Some(text) = text {
            let _ = write!(out, "\n    {label}:");
            for line in text.lines() {
                let _ = write!(out, "\n        {line}");
            }
        }
    }
}

/// A field value as `name=value` shows it: text quoted, so spaces stay visible.
fn quoted(value: &Value) -> String {
    match value {
        Value::Text(text) => format!("{text:?}"),
        other => other.to_string(),
    }
}

/// One summary line for a header: what the file is, where it came from, which
/// event triggered it and how many triggers storm control suppressed before it.
pub(crate) fn header_text(header: &Header) -> String {
    let mut out = format!(
        "== {}",
        if header.kind.is_empty() {
            "flogfile"
        } else {
            &header.kind
        }
    );
    if let Some(name) = &header.name {
        let _ = write!(out, " {name}");
    }
    if let Some(pid) = header.pid {
        let _ = write!(out, " | pid {pid}");
    }
    if let Some(host) = &header.host {
        let _ = write!(out, " | host {host}");
    }
    if let Some(incarnation) = &header.incarnation {
        let _ = write!(out, " | incarnation {incarnation}");
    }
    if let Some(started) = header.started {
        let _ = write!(out, " | started {started}");
    }
    if let Some(trigger) = &header.trigger {
        let _ = write!(out, " | trigger #{}", trigger.num);
    }
    if !header.versions.is_empty() {
        let versions: Vec<String> = header
            .versions
            .iter()
            .map(|(name, version)| format!("{name} {version}"))
            .collect();
        let _ = write!(out, " | versions {}", versions.join(", "));
    }
    let _ = write!(out, " | suppressed triggers {}", header.suppressed_triggers);
    out
}

/// One line for a trailer: how recording ended.
pub(crate) fn trailer_text(trailer: &Trailer) -> String {
    let mut out = format!(
        "== end: {}",
        if trailer.end.is_empty() {
            "?"
        } else {
            &trailer.end
        }
    );
    let triggers: Vec<String> = trailer.triggers.iter().map(|n| format!("#{n}")).collect();
    if !triggers.is_empty() {
        let _ = write!(out, " | triggers {}", triggers.join(", "));
    }
    let _ = write!(out, " | trailing events {}", trailer.trailing_events);
    if let Some(finished) = trailer.finished {
        let _ = write!(out, " | finished {finished}");
    }
    if trailer.recovered {
        out.push_str(" | recovered after a crash");
    }
    if trailer.truncated {
        out.push_str(" | a partial record was dropped");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use flog_core::{Level, Timestamp};

    fn sample() -> Event {
        Event {
            num: 12,
            time: Timestamp(1_700_000_000_123_456),
            level: Level::WEIRD,
            facility: Some("app.db".into()),
            text: Text::Format("pool exhausted after {ms} ms".into()),
            fields: [
                ("ms".into(), Value::from(250)),
                ("pool".into(), Value::from("main pool")),
            ]
            .into_iter()
            .collect(),
            parent: Some(3),
            failure: Some("line one\nline two".into()),
            ..Event::default()
        }
    }

    #[test]
    fn event_lines_at_each_style() {
        let e = sample();
        assert_eq!(
            event_text(&e, TextStyle::default(), false),
            "2023-11-14T22:13:20.123456Z WEIRD       app.db: pool exhausted after 250 ms"
        );
        assert_eq!(
            event_text(
                &e,
                TextStyle {
                    nums: true,
                    verbose: false
                },
                true
            ),
            "#12 2023-11-14T22:13:20.123456Z WEIRD       app.db: pool exhausted after 250 ms \
             [parent #3] [TRIGGER]"
        );
        let verbose = event_text(
            &e,
            TextStyle {
                nums: false,
                verbose: true,
            },
            false,
        );
        assert!(
            verbose.contains("\n    format: pool exhausted after {ms} ms"),
            "{verbose}"
        );
        assert!(
            verbose.contains("\n    fields: ms=250 pool=\"main pool\""),
            "{verbose}"
        );
        assert!(
            verbose.contains("\n    failure:\n        line one\n        line two"),
            "{verbose}"
        );
        let bare = Event {
            num: 1,
            ..Event::default()
        };
        assert!(event_text(&bare, TextStyle::default(), false).ends_with("OPERATIONAL "));
    }

    #[test]
    fn header_and_trailer_summaries() {
        let header = Header {
            kind: "incident".into(),
            name: Some("incident-x".into()),
            trigger: Some(sample()),
            pid: Some(42),
            host: Some("web1".into()),
            versions: [("flog-core".to_string(), "0.1.0".to_string())]
                .into_iter()
                .collect(),
            suppressed_triggers: 2,
            ..Header::default()
        };
        assert_eq!(
            header_text(&header),
            "== incident incident-x | pid 42 | host web1 | trigger #12 | versions flog-core 0.1.0 \
             | suppressed triggers 2"
        );
        let trailer = Trailer {
            triggers: vec![12, 40],
            trailing_events: 5,
            end: "delay".into(),
            ..Trailer::default()
        };
        assert_eq!(
            trailer_text(&trailer),
            "== end: delay | triggers #12, #40 | trailing events 5"
        );
        assert_eq!(
            trigger_nums(Some(&header), Some(&trailer))
                .into_iter()
                .collect::<Vec<_>>(),
            vec![12, 40]
        );
    }
}
