use std::borrow::Cow;

use flog_core::{Event, Fields, Logger, Text, Value};
use log::kv::{self, VisitSource, VisitValue};

use flog_core::LevelMap;

use crate::levels::{severity, ConfigError};
use flog_core::facility_from_target as facility_of;

/// A [`log::Log`] that records every log record as a flog event.
///
/// - The target becomes the facility (`my_app::db` → `my_app.db`).
/// - The level is mapped by a [`LevelMap`] (by default `warn!` → WEIRD, which
///   declares an incident).
/// - The formatted message becomes the text (a message without arguments is
///   not copied); key-values (`info!(rows = 3; "...")`) become typed fields.
///
/// [`enabled`](log::Log::enabled) and [`log`](log::Log::log) both consult the
/// logger's generation thresholds, so a record below them costs a lookup of its
/// facility and nothing else. Install it with [`init`](crate::init) or
/// [`install`](Self::install).
#[derive(Debug)]
pub struct FlogLogger {
    logger: Logger,
    levels: LevelMap,
}

/// Builds a [`FlogLogger`] with a non-default level map.
#[must_use]
#[derive(Debug)]
pub struct FlogLoggerBuilder {
    logger: Logger,
    levels: LevelMap,
}

impl FlogLoggerBuilder {
    /// Replaces the whole level map.
    pub fn levels(mut self, levels: LevelMap) -> Self {
        self.levels = levels;
        self
    }

    /// Maps one log level to a flog level.
    pub fn level(mut self, level: log::Level, to: flog_core::Level) -> Self {
        self.levels.set(severity(level), to);
        self
    }

    /// Builds the logger; fails if the level map puts a more severe log level
    /// below a less severe one.
    pub fn build(self) -> Result<FlogLogger, ConfigError> {
        self.levels.check()?;
        Ok(FlogLogger {
            logger: self.logger,
            levels: self.levels,
        })
    }
}

impl FlogLogger {
    /// A `log` logger with the default [`LevelMap`], feeding `logger`.
    pub fn new(logger: Logger) -> FlogLogger {
        FlogLogger::builder(logger)
            .build()
            .expect("the default level map is ordered")
    }

    /// A builder for a logger with another level map.
    pub fn builder(logger: Logger) -> FlogLoggerBuilder {
        FlogLoggerBuilder {
            logger,
            levels: LevelMap::DEFAULT,
        }
    }

    /// The flog logger records go to.
    pub fn logger(&self) -> &Logger {
        &self.logger
    }

    /// The level map in use.
    pub fn levels(&self) -> &LevelMap {
        &self.levels
    }

    /// Makes this the `log` crate's global logger and sets `log`'s maximum level.
    /// Fails if a global logger is already set (it can be set once per process).
    pub fn install(self, max_level: log::LevelFilter) -> Result<(), log::SetLoggerError> {
        log::set_boxed_logger(Box::new(self))?;
        log::set_max_level(max_level);
        Ok(())
    }
}

impl log::Log for FlogLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        let level = self.levels.get(severity(metadata.level()));
        self.logger
            .enabled(level, Some(&facility_of(metadata.target())))
    }

    fn log(&self, record: &log::Record<'_>) {
        // Events a flog observer forwards (to tracing, to log) are flog's
        // already: recording them again would duplicate them.
        if flog_core::inside_observer() {
            return;
        }
        let level = self.levels.get(severity(record.level()));
        let facility = facility_of(record.target());
        if !self.logger.enabled(level, Some(&facility)) {
            return;
        }
        let args = record.args();
        let text = match args.as_str() {
            Some(literal) => Cow::Borrowed(literal),
            None => Cow::Owned(args.to_string()),
        };
        let mut fields = KeyValues::default();
        // Our visitor never fails; a failing `Source` keeps what it gave so far.
        let _ = record.key_values().visit(&mut fields);
        self.logger.emit_unchecked(Event {
            level,
            facility: Some(facility),
            text: Text::Message(text),
            fields: fields.0,
            ..Event::default()
        });
    }

    fn flush(&self) {}
}

/// Collects a record's key-values as typed flog fields.
#[derive(Default)]
struct KeyValues(Fields);

impl<'kvs> VisitSource<'kvs> for KeyValues {
    fn visit_pair(&mut self, key: kv::Key<'kvs>, value: kv::Value<'kvs>) -> Result<(), kv::Error> {
        let mut typed = Typed(Value::Null);
        value.visit(&mut typed)?;
        self.0.push((Cow::Owned(key.as_str().to_owned()), typed.0));
        Ok(())
    }
}

/// The flog value of one `log` value: numbers, booleans and text keep their type,
/// anything else is shown as text.
struct Typed(Value);

impl<'v> VisitValue<'v> for Typed {
    fn visit_any(&mut self, value: kv::Value<'_>) -> Result<(), kv::Error> {
        self.0 = Value::Text(Cow::Owned(value.to_string()));
        Ok(())
    }

    fn visit_null(&mut self) -> Result<(), kv::Error> {
        self.0 = Value::Null;
        Ok(())
    }

    fn visit_u64(&mut self, value: u64) -> Result<(), kv::Error> {
        self.0 = Value::UInt(value);
        Ok(())
    }

    fn visit_i64(&mut self, value: i64) -> Result<(), kv::Error> {
        self.0 = Value::Int(value);
        Ok(())
    }

    fn visit_u128(&mut self, value: u128) -> Result<(), kv::Error> {
        self.0 = u64::try_from(value)
            .map_or_else(|_| Value::Text(Cow::Owned(value.to_string())), Value::UInt);
        Ok(())
    }

    fn visit_i128(&mut self, value: i128) -> Result<(), kv::Error> {
        self.0 = i64::try_from(value)
            .map_or_else(|_| Value::Text(Cow::Owned(value.to_string())), Value::Int);
        Ok(())
    }

    fn visit_f64(&mut self, value: f64) -> Result<(), kv::Error> {
        self.0 = Value::Float(value);
        Ok(())
    }

    fn visit_bool(&mut self, value: bool) -> Result<(), kv::Error> {
        self.0 = Value::Bool(value);
        Ok(())
    }

    fn visit_str(&mut self, value: &str) -> Result<(), kv::Error> {
        self.0 = Value::Text(Cow::Owned(value.to_owned()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;
    use std::sync::{Arc, Mutex};

    use flog_core::{Level, Logger, Value};
    use log::Log;

    use super::*;

    /// Every event as the adapter generated it, in order: an event observer
    /// sees it before the buffers encode it (buffered events read back as a
    /// file would give them: a `u64` as `Int`, texts owned).
    fn generated(logger: &Logger) -> Arc<Mutex<Vec<Event>>> {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let into = Arc::clone(&seen);
        logger.add_event_observer(move |e: &Event| into.lock().unwrap().push(e.clone()));
        seen
    }

    /// `log!` checks `log`'s global maximum level even with `logger:`, and it
    /// starts at `Off` while no global logger is installed.
    fn allow_every_level() {
        log::set_max_level(log::LevelFilter::Trace);
    }

    #[test]
    fn levels_map_to_foolscap_levels() {
        allow_every_level();
        let logger = Logger::builder().threshold(Level(1)).build().unwrap();
        let flog = FlogLogger::new(logger.clone());
        log::trace!(logger: flog, "t");
        log::debug!(logger: flog, "d");
        log::info!(logger: flog, "i");
        log::warn!(logger: flog, "w");
        log::error!(logger: flog, "e");
        let levels: Vec<_> = logger.buffered_events().iter().map(|e| e.level).collect();
        assert_eq!(
            levels,
            [
                Level(5),
                Level::NOISY,
                Level::OPERATIONAL,
                Level::WEIRD,
                Level::BAD
            ]
        );
    }

    #[test]
    fn target_becomes_facility_and_literal_messages_are_not_copied() {
        allow_every_level();
        let logger = Logger::new();
        let generated = generated(&logger);
        let flog = FlogLogger::new(logger.clone());
        let rows = 3;
        log::info!(logger: flog, target: "app::db::pool", "checked out");
        log::info!(logger: flog, target: "app::db::pool", "fetched {rows} rows");
        let events = generated.lock().unwrap().clone();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].facility(), "app.db.pool");
        assert!(matches!(events[0].facility, Some(Cow::Borrowed(_))));
        assert!(matches!(
            events[0].text,
            Text::Message(Cow::Borrowed("checked out"))
        ));
        assert_eq!(events[1].render(), "fetched 3 rows");
        assert!(std::ptr::eq(events[0].facility(), events[1].facility()));
    }

    #[test]
    fn key_values_become_typed_fields() {
        allow_every_level();
        let logger = Logger::new();
        let generated = generated(&logger);
        let flog = FlogLogger::new(logger.clone());
        let host = String::from("db1");
        log::info!(
            logger: flog,
            signed = -3i64,
            unsigned = 4u64,
            flag = true,
            ratio = 0.5f64,
            host = host.as_str(),
            letter = 'x',
            nothing = None::<u64>,
            peer:? = (1, 2),
            shown:% = 1.5f32;
            "connected"
        );
        let e = &generated.lock().unwrap()[0];
        assert_eq!(e.render(), "connected");
        assert_eq!(e.field("signed"), Some(&Value::Int(-3)));
        assert_eq!(e.field("unsigned"), Some(&Value::UInt(4)));
        assert_eq!(e.field("flag"), Some(&Value::Bool(true)));
        assert_eq!(e.field("ratio"), Some(&Value::Float(0.5)));
        assert_eq!(e.field("host"), Some(&Value::Text("db1".into())));
        assert_eq!(e.field("letter"), Some(&Value::Text("x".into())));
        assert_eq!(e.field("nothing"), Some(&Value::Null));
        assert_eq!(e.field("peer"), Some(&Value::Text("(1, 2)".into())));
        assert_eq!(e.field("shown"), Some(&Value::Text("1.5".into())));
    }

    #[test]
    fn records_from_a_record_builder_are_logged_too() {
        let logger = Logger::new();
        let generated = generated(&logger);
        let flog = FlogLogger::new(logger.clone());
        let kvs = [("attempt", log::kv::Value::from(2u64))];
        flog.log(
            &log::Record::builder()
                .level(log::Level::Warn)
                .target("app")
                .args(format_args!("retrying"))
                .key_values(&kvs)
                .build(),
        );
        let e = &generated.lock().unwrap()[0];
        assert_eq!(e.level, Level::WEIRD);
        assert_eq!(e.facility(), "app");
        assert_eq!(e.field("attempt"), Some(&Value::UInt(2)));
    }

    #[test]
    fn generation_thresholds_decide_enabled_and_log() {
        allow_every_level();
        let logger = Logger::builder()
            .threshold(Level::OPERATIONAL)
            .build()
            .unwrap();
        logger.set_facility_threshold("app.db", Some(Level::NOISY));
        let flog = FlogLogger::new(logger.clone());
        let at = |level, target| {
            flog.enabled(&log::Metadata::builder().level(level).target(target).build())
        };
        assert!(!at(log::Level::Debug, "app"));
        assert!(at(log::Level::Debug, "app::db::pool"));
        assert!(at(log::Level::Info, "app"));
        log::debug!(logger: flog, target: "app", "dropped");
        log::debug!(logger: flog, target: "app::db", "kept");
        let events = logger.buffered_events();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].render(), "kept");
    }

    #[test]
    fn the_level_map_is_configurable_and_must_not_go_down() {
        allow_every_level();
        let logger = Logger::new();
        let flog = FlogLogger::builder(logger.clone())
            .level(log::Level::Warn, Level::CURIOUS)
            .build()
            .unwrap();
        assert_eq!(flog.levels().warn, Level::CURIOUS);
        log::warn!(logger: flog, "w");
        assert_eq!(logger.buffered_events()[0].level, Level::CURIOUS);
        let backwards = FlogLogger::builder(logger)
            .level(log::Level::Error, Level::NOISY)
            .build();
        assert!(backwards.is_err());
    }
}
