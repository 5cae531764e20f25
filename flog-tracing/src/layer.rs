use std::borrow::Cow;
use std::fmt;

use flog_core::{Level, LevelMap, LevelOrderError, Logger, SiteEvent, Text};
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Metadata, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::{LookupSpan, SpanRef};

use crate::callsites::{self, Site};
use crate::facility::{Facilities, Facility};
use crate::fields::{Kind, Recorded};
use crate::levels::severity;

/// A [`Layer`](tracing_subscriber::Layer) that records every tracing event, and
/// every span as an event, in a flog [`Logger`].
///
/// - The target becomes the facility (`my_app::db` → `my_app.db`).
/// - The level is mapped by a [`LevelMap`] (by default `warn!` → WEIRD, which
///   declares an incident).
/// - The `message` field becomes the event's text; other fields become typed
///   structured fields.
/// - A new span generates an event (text: the span's name, fields: its fields);
///   events and spans inside it get that event's number as their `parent`.
/// - Values recorded into a span later (`span.record(..)`) generate a follow-up
///   event with the span's name and only the new values, whose parent is the
///   span's event.
///
/// Events below the logger's generation threshold for their facility and level
/// are dropped before any field is looked at.
///
/// Each event callsite (up to 4096 in a process) gets a flog call site of its
/// own, made at its first event: its facility, its field names and the text
/// of its first event (up to 256 bytes). An event whose text and names are
/// those is stored as a compact record, as a [`msg!`](flog_core::msg) call's
/// is ([`Logger::emit_fields`]); one with another text (a message formatted
/// with values), a field left out, or a callsite past the bound is stored
/// whole. Either way the event read back is the event logged. The layer itself never filters
/// what other layers see: give it its own filter with
/// [`Layer::with_filter`](tracing_subscriber::Layer::with_filter) (see the
/// crate docs).
pub struct FlogLayer {
    logger: Logger,
    levels: LevelMap,
    spans: bool,
    facilities: Facilities,
}

/// A layer configuration that cannot work.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A more severe tracing level would map to a less severe flog level.
    #[error(transparent)]
    LevelOrder(#[from] LevelOrderError),
}

/// Builds a [`FlogLayer`] with a non-default level map or without span events.
#[must_use]
#[derive(Debug)]
pub struct FlogLayerBuilder {
    logger: Logger,
    levels: LevelMap,
    spans: bool,
}

impl FlogLayerBuilder {
    /// Replaces the whole level map.
    pub fn levels(mut self, levels: LevelMap) -> Self {
        self.levels = levels;
        self
    }

    /// Maps one tracing level to a flog level.
    pub fn level(mut self, level: tracing::Level, to: Level) -> Self {
        self.levels.set(severity(&level), to);
        self
    }

    /// Whether spans generate events and give events their parent (default yes).
    /// Without, every tracing event is a root event.
    pub fn spans(mut self, on: bool) -> Self {
        self.spans = on;
        self
    }

    /// Builds the layer; fails if the level map puts a more severe tracing level
    /// below a less severe one.
    pub fn build(self) -> Result<FlogLayer, ConfigError> {
        self.levels.check()?;
        Ok(FlogLayer {
            logger: self.logger,
            levels: self.levels,
            spans: self.spans,
            facilities: Facilities::new(),
        })
    }
}

/// The number of the event a span generated, kept in the span's extensions.
#[derive(Clone, Copy, Debug)]
struct SpanEvent(u64);

impl fmt::Debug for FlogLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FlogLayer")
            .field("logger", &self.logger)
            .field("levels", &self.levels)
            .field("spans", &self.spans)
            .field("facilities", &self.facilities)
            .finish()
    }
}

impl FlogLayer {
    /// A layer with the default [`LevelMap`] and span events, feeding `logger`.
    pub fn new(logger: Logger) -> FlogLayer {
        FlogLayer::builder(logger)
            .build()
            .expect("the default level map is ordered")
    }

    /// A builder for a layer with other settings.
    pub fn builder(logger: Logger) -> FlogLayerBuilder {
        FlogLayerBuilder {
            logger,
            levels: LevelMap::DEFAULT,
            spans: true,
        }
    }

    /// The logger events go to.
    pub fn logger(&self) -> &Logger {
        &self.logger
    }

    /// The level map in use.
    pub fn levels(&self) -> &LevelMap {
        &self.levels
    }

    /// Level and facility of a span's callsite, if the logger generates events
    /// there.
    #[inline]
    fn span_generated(
        &self,
        metadata: &'static Metadata<'static>,
    ) -> Option<(Level, Cow<'static, str>)> {
        let level = self.levels.get(severity(metadata.level()));
        let facility = match self.facilities.get(metadata) {
            Facility::Target(target) => Cow::Borrowed(target),
            Facility::LogRecord => Cow::Borrowed("log"),
        };
        self.logger
            .enabled(level, Some(&facility))
            .then_some((level, facility))
    }
}

/// The number of the innermost span event among `spans` (innermost first): spans
/// below the logger's threshold made no event, so their children attach to the
/// nearest ancestor that did.
fn nearest_span_event<'a, S>(mut spans: impl Iterator<Item = SpanRef<'a, S>>) -> Option<u64>
where
    S: for<'l> LookupSpan<'l> + 'a,
{
    spans.find_map(|span| span.extensions().get::<SpanEvent>().map(|e| e.0))
}

impl<S> tracing_subscriber::Layer<S> for FlogLayer
where
    S: Subscriber + for<'l> LookupSpan<'l>,
{
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        self.facilities.register(metadata);
        if metadata.is_event() {
            callsites::site(metadata);
        }
        // Thresholds change at run time, so no callsite is ever ruled out here.
        Interest::always()
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if !self.spans || flog_core::inside_observer() {
            return;
        }
        let metadata = attrs.metadata();
        let Some((level, facility)) = self.span_generated(metadata) else {
            return;
        };
        let Some(span) = ctx.span(id) else {
            return;
        };
        let mut fields = Recorded::new(Kind::Span);
        attrs.record(&mut fields);
        let mut event = fields.into_event(level, facility, Cow::Borrowed(metadata.name()));
        event.parent = nearest_span_event(span.scope().skip(1));
        let num = self.logger.emit_unchecked(event);
        span.extensions_mut().insert(SpanEvent(num));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if !self.spans || values.is_empty() {
            return;
        }
        let Some(span) = ctx.span(id) else {
            return;
        };
        let Some(SpanEvent(num)) = span.extensions().get::<SpanEvent>().copied() else {
            return;
        };
        let metadata = span.metadata();
        let Some((level, facility)) = self.span_generated(metadata) else {
            return;
        };
        let mut fields = Recorded::new(Kind::Span);
        values.record(&mut fields);
        let mut event = fields.into_event(level, facility, Cow::Borrowed(metadata.name()));
        event.parent = Some(num);
        self.logger.emit_unchecked(event);
    }

    fn on_event(&self, tracing_event: &tracing::Event<'_>, ctx: Context<'_, S>) {
        // Events a flog observer forwards (to tracing, to log) are flog's
        // already: recording them again would duplicate them.
        if flog_core::inside_observer() {
            return;
        }
        let metadata = tracing_event.metadata();
        let level = self.levels.get(severity(metadata.level()));
        let parent = || {
            self.spans
                .then(|| ctx.event_scope(tracing_event).and_then(nearest_span_event))
                .flatten()
        };
        match callsites::site(metadata) {
            Some(site) => match site.facility {
                Facility::Target(facility) => {
                    self.site_event(site, facility, level, tracing_event, parent)
                }
                Facility::LogRecord => self.log_record(level, tracing_event, parent),
            },
            // Past the table's bound: the general path.
            None => match self.facilities.get(metadata) {
                Facility::Target(facility) => {
                    if !self.logger.enabled(level, Some(facility)) {
                        return;
                    }
                    let mut fields = Recorded::new(Kind::Event);
                    tracing_event.record(&mut fields);
                    let mut event =
                        fields.into_event(level, Cow::Borrowed(facility), Cow::Borrowed(""));
                    event.parent = parent();
                    self.logger.emit_unchecked(event);
                }
                Facility::LogRecord => self.log_record(level, tracing_event, parent),
            },
        }
    }
}

impl FlogLayer {
    /// An event of a callsite with a flog call site: its fields recorded on
    /// the stack and stored as a `msg!` call's are, compactly when its text
    /// and names are the callsite's own.
    #[inline]
    fn site_event(
        &self,
        site: &'static Site,
        facility: &'static str,
        level: Level,
        tracing_event: &tracing::Event<'_>,
        parent: impl FnOnce() -> Option<u64>,
    ) {
        // The threshold first: an event flog drops costs no field.
        if !self.logger.enabled(level, Some(facility)) {
            return;
        }
        let mut fields = Recorded::expecting(Kind::Event, site.names, site.text());
        tracing_event.record(&mut fields);
        if !fields.names_are_expected() {
            // A field left out (an `Option` that is `None`), or a message
            // that is not text: not the callsite's names.
            let mut event = fields.into_event(level, Cow::Borrowed(facility), Cow::Borrowed(""));
            event.parent = parent();
            self.logger.emit_unchecked(event);
            return;
        }
        // The callsite's text is read once: another thread may keep one
        // meanwhile, and only an event whose text is the callsite's own
        // may be stored with it.
        let text = fields.message.take().unwrap_or(Cow::Borrowed(""));
        let kept = match site.text() {
            Some(kept) => Some(kept),
            None => site.keep_text(&text),
        };
        let (callsite, text) = match kept {
            // Borrowed from the kept text when the visitor found it the same.
            Some(kept)
                if matches!(&text, Cow::Borrowed(t) if std::ptr::eq(*t, kept)) || kept == text =>
            {
                (&site.constant, Cow::Borrowed(kept))
            }
            _ => (&site.varying, text),
        };
        self.logger.emit_fields(
            callsite,
            SiteEvent {
                level,
                facility: Some(Cow::Borrowed(facility)),
                names: site.names,
                values: &mut fields.values,
                text: Text::Message(text),
                parent: parent(),
                is_error: fields.is_error,
                failure: fields.failure,
            },
        );
    }

    /// A `log` record forwarded by tracing-log: its facility is in a field,
    /// so its fields are recorded before its threshold is checked.
    fn log_record(
        &self,
        level: Level,
        tracing_event: &tracing::Event<'_>,
        parent: impl FnOnce() -> Option<u64>,
    ) {
        let mut fields = Recorded::new(Kind::LogRecord);
        tracing_event.record(&mut fields);
        let facility = fields
            .log_target
            .take()
            .map_or(Cow::Borrowed("log"), |target| {
                flog_core::facility_from_target(&target)
            });
        if !self.logger.enabled(level, Some(&facility)) {
            return;
        }
        let mut event = fields.into_event(level, facility, Cow::Borrowed(""));
        event.parent = parent();
        self.logger.emit_unchecked(event);
    }
}
