//! Events, headers and trailers as text for people: one line per event, so the
//! output greps and sorts like any log.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use flog_core::{
    flogfile::{EndReason, Header, HeaderKind, Trailer},
    Event, Text, Timestamp, Value,
};

use crate::flogfiles::Mark;
use crate::timefmt::{TimeFormat, TimeMode, TIMESTAMPS_ENV};

/// Marks the line of every event that triggered (or joined) the incident.
pub(crate) const TRIGGER_MARK: &str = "[TRIGGER]";

/// Lines of a failure or a stack shown without `--verbose`: enough for an
/// error chain or a Python traceback, and the first frames of a Rust
/// backtrace; what is left is counted, not hidden silently.
pub(crate) const COMPACT_LINES: usize = 40;

/// How events are shown: the flags `dump` and `tail` share.
#[derive(Debug, Clone, Copy, clap::Args)]
pub(crate) struct OutputArgs {
    /// Prefix each event with its number (#num) and show its parent's.
    #[arg(long)]
    pub(crate) nums: bool,

    /// Show everything about each event: number, parent, format string,
    /// fields, incarnation, and failures and stacks uncut (without it they
    /// are shown cut to 40 lines each).
    #[arg(short, long)]
    pub(crate) verbose: bool,

    /// Print one JSON object per line instead: the header, every event (with
    /// all its fields), the trailer. JSON times are always RFC 3339 UTC.
    #[arg(long, conflicts_with_all = ["nums", "verbose"])]
    pub(crate) json: bool,

    #[command(flatten)]
    pub(crate) times: TimesArg,
}

/// `--timestamps`, for every command that shows times as text.
#[derive(Debug, Clone, Copy, clap::Args)]
pub(crate) struct TimesArg {
    /// How to show times in text (JSON keeps RFC 3339 UTC). The local zone is
    /// TZ's, else /etc/localtime's. The default is the environment variable
    /// FLOGTOOL_TIMESTAMPS, else utc; the flag wins over both.
    #[arg(
        short = 't',
        long,
        value_enum,
        value_name = "MODE",
        env = TIMESTAMPS_ENV,
        default_value_t = TimeMode::Utc
    )]
    pub(crate) timestamps: TimeMode,
}

impl TimesArg {
    /// The format asked for (the local zone looked up once).
    pub(crate) fn format(&self) -> TimeFormat {
        TimeFormat::local(self.timestamps)
    }
}

impl OutputArgs {
    /// The text style these flags ask for.
    pub(crate) fn style(&self) -> TextStyle {
        TextStyle {
            nums: self.nums,
            verbose: self.verbose,
            rx_time: false,
            times: self.times.format(),
        }
    }
}

/// How much of each event to show, and how its times look.
#[derive(Debug, Clone, Default)]
pub(crate) struct TextStyle {
    /// Prefix each line with `#num` and show the parent's num.
    pub(crate) nums: bool,
    /// Show everything: nums, format string, fields, incarnation, and
    /// failures and stacks uncut.
    pub(crate) verbose: bool,
    /// Show when each event was received beside when it was emitted.
    pub(crate) rx_time: bool,
    /// How times look.
    pub(crate) times: TimeFormat,
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

/// A gathered file's gap or incarnation change, as a `==` line.
pub(crate) fn mark_text(mark: &Mark, times: &TimeFormat) -> String {
    let mut out = String::from("== ");
    match mark {
        Mark::Gap(gap) => {
            let _ = write!(
                out,
                "gap: {} events of [{}] incarnation {} missing",
                gap.count, gap.from, gap.incarnation
            );
            if let (Some(first), Some(last)) = (gap.first, gap.last) {
                let _ = write!(out, " (#{first}..=#{last})");
            }
            let _ = write!(out, ": {}, noticed ", gap.reason);
            times.write(&mut out, gap.rx_time);
        }
        Mark::Incarnation(change) => {
            let _ = write!(
                out,
                "[{}] new incarnation {}",
                change.from, change.incarnation
            );
            if let Some(previous) = &change.previous {
                let _ = write!(out, " (was {previous})");
            }
            if let Some(pid) = change.pid {
                let _ = write!(out, ", pid {pid}");
            }
            out.push_str(", noticed ");
            times.write(&mut out, change.rx_time);
        }
    }
    out
}

/// `[#NUM ]TIME LEVEL facility: message[ [parent #P]][ [TRIGGER]]`, then the
/// event's failure and stack (cut to [`COMPACT_LINES`] unless `verbose`),
/// and with `verbose` indented detail lines first. No trailing newline.
pub(crate) fn event_text(event: &Event, style: &TextStyle, is_trigger: bool) -> String {
    event_text_received(event, None, style, is_trigger)
}

/// [`event_text`] for an event whose receipt time may be known: with
/// `style.rx_time` the time reads `rx(RX) emit(TIME)` (`rx(-)` when the file
/// does not say).
pub(crate) fn event_text_received(
    event: &Event,
    received: Option<Timestamp>,
    style: &TextStyle,
    is_trigger: bool,
) -> String {
    event_text_origin(event, received, None, style, is_trigger)
}

/// [`event_text_received`] for an event whose sender may be known: a
/// gathered event shows it after the time, `[FROM]`.
pub(crate) fn event_text_origin(
    event: &Event,
    received: Option<Timestamp>,
    from: Option<&str>,
    style: &TextStyle,
    is_trigger: bool,
) -> String {
    let mut out = String::with_capacity(128);
    let nums = style.nums || style.verbose;
    if nums {
        let _ = write!(out, "#{} ", event.num);
    }
    if style.rx_time {
        out.push_str("rx(");
        match received {
            Some(time) => style.times.write(&mut out, time),
            None => out.push('-'),
        }
        out.push_str(") emit(");
        style.times.write(&mut out, event.time);
        out.push(')');
    } else {
        style.times.write(&mut out, event.time);
    }
    if let Some(from) = from {
        let _ = write!(out, " [{from}]");
    }
    // The level is padded to the longest name (OPERATIONAL) so messages line up.
    let _ = write!(out, " {:<11} ", event.level);
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
    let limit = (!style.verbose).then_some(COMPACT_LINES);
    for (label, text) in [("failure", &event.failure), ("stack", &event.stack)] {
        if let Some(text) = text {
            push_block(&mut out, label, text, limit);
        }
    }
    out
}

/// `TIME NUM`, as foolscap's `dump --just-numbers` prints an event.
pub(crate) fn numbers_text(event: &Event, style: &TextStyle) -> String {
    let mut out = String::with_capacity(40);
    style.times.write(&mut out, event.time);
    let _ = write!(out, " {}", event.num);
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
}

/// `    LABEL:` and the text's lines below it, at most `limit` of them.
fn push_block(out: &mut String, label: &str, text: &str, limit: Option<usize>) {
    let _ = write!(out, "\n    {label}:");
    let mut lines = text.trim_end().lines();
    for line in lines.by_ref().take(limit.unwrap_or(usize::MAX)) {
        let _ = write!(out, "\n        {line}");
    }
    let rest = lines.count();
    if rest > 0 {
        let _ = write!(
            out,
            "\n        ... {rest} more lines (--verbose shows them)"
        );
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
pub(crate) fn header_text(header: &Header, times: &TimeFormat) -> String {
    let mut out = format!(
        "== {}",
        header.kind.as_ref().map_or("flogfile", HeaderKind::as_str)
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
        let _ = write!(out, " | started {}", times.with_date().format(started));
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
    // An incident's count, even when 0; other files' only when they carry one.
    if header.kind == Some(HeaderKind::Incident) || header.suppressed_triggers > 0 {
        let _ = write!(out, " | suppressed triggers {}", header.suppressed_triggers);
    }
    out
}

/// One line for a trailer: how recording ended.
pub(crate) fn trailer_text(trailer: &Trailer, times: &TimeFormat) -> String {
    let mut out = format!(
        "== end: {}",
        trailer.end.as_ref().map_or("?", EndReason::as_str)
    );
    let triggers: Vec<String> = trailer.triggers.iter().map(|n| format!("#{n}")).collect();
    if !triggers.is_empty() {
        let _ = write!(out, " | triggers {}", triggers.join(", "));
    }
    let _ = write!(out, " | trailing events {}", trailer.trailing_events);
    if let Some(events) = trailer.events {
        let _ = write!(out, " | events {events}");
    }
    if let Some(finished) = trailer.finished {
        let _ = write!(out, " | finished {}", times.with_date().format(finished));
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
    use flog_core::Level;

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
        // The failure is shown without --verbose: it is what a reader needs.
        assert_eq!(
            event_text(&e, &TextStyle::default(), false),
            "2023-11-14T22:13:20.123456Z WEIRD       app.db: pool exhausted after 250 ms\n    \
             failure:\n        line one\n        line two"
        );
        let nums = TextStyle {
            nums: true,
            ..TextStyle::default()
        };
        assert_eq!(
            event_text(&e, &nums, true).lines().next().unwrap(),
            "#12 2023-11-14T22:13:20.123456Z WEIRD       app.db: pool exhausted after 250 ms \
             [parent #3] [TRIGGER]"
        );
        let verbose_style = TextStyle {
            verbose: true,
            ..TextStyle::default()
        };
        let verbose = event_text(&e, &verbose_style, false);
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
        assert!(event_text(&bare, &TextStyle::default(), false).ends_with("OPERATIONAL "));
    }

    #[test]
    fn long_failures_are_cut_unless_verbose() {
        let trace: Vec<String> = (0..COMPACT_LINES + 5)
            .map(|i| format!("frame {i}"))
            .collect();
        let e = Event {
            stack: Some(trace.join("\n")),
            ..Event::default()
        };
        let compact = event_text(&e, &TextStyle::default(), false);
        let last = format!("        frame {}", COMPACT_LINES - 1);
        assert!(compact.contains(&format!("{last}\n")), "{compact}");
        assert!(
            compact.ends_with("\n        ... 5 more lines (--verbose shows them)"),
            "{compact}"
        );
        let verbose = TextStyle {
            verbose: true,
            ..TextStyle::default()
        };
        let full = event_text(&e, &verbose, false);
        assert!(
            full.ends_with(&format!("frame {}", COMPACT_LINES + 4)),
            "{full}"
        );
        assert!(!full.contains("more lines"));
    }

    #[test]
    fn receipt_times_and_numbers() {
        let e = Event {
            num: 7,
            time: Timestamp(1_000_000),
            ..Event::default()
        };
        let style = TextStyle {
            rx_time: true,
            ..TextStyle::default()
        };
        let line = event_text_received(&e, Some(Timestamp(2_500_000)), &style, false);
        assert!(
            line.starts_with("rx(1970-01-01T00:00:02.500000Z) emit(1970-01-01T00:00:01.000000Z) "),
            "{line}"
        );
        let line = event_text_received(&e, None, &style, false);
        assert!(
            line.starts_with("rx(-) emit(1970-01-01T00:00:01.000000Z) "),
            "{line}"
        );
        assert_eq!(
            numbers_text(&e, &TextStyle::default()),
            "1970-01-01T00:00:01.000000Z 7"
        );
    }

    #[test]
    fn header_and_trailer_summaries() {
        let header = Header {
            kind: flog_core::flogfile::HeaderKind::Incident.into(),
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
            header_text(&header, &TimeFormat::default()),
            "== incident incident-x | pid 42 | host web1 | trigger #12 | versions flog-core 0.1.0 \
             | suppressed triggers 2"
        );
        let trailer = Trailer {
            triggers: vec![12, 40],
            trailing_events: 5,
            end: Some(flog_core::flogfile::EndReason::Delay),
            ..Trailer::default()
        };
        assert_eq!(
            trailer_text(&trailer, &TimeFormat::default()),
            "== end: delay | triggers #12, #40 | trailing events 5"
        );
        assert_eq!(
            trigger_nums(Some(&header), Some(&trailer))
                .into_iter()
                .collect::<Vec<_>>(),
            vec![12, 40]
        );
        // A gathered file that a restart closed after a crash.
        let recovered = Trailer {
            end: Some(flog_core::flogfile::EndReason::Recovered),
            recovered: true,
            truncated: true,
            events: Some(312),
            ..Trailer::default()
        };
        assert_eq!(
            trailer_text(&recovered, &TimeFormat::default()),
            "== end: recovered | trailing events 0 | events 312 | recovered after a crash \
             | a partial record was dropped"
        );
    }
}
