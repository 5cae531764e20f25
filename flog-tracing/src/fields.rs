use std::borrow::Cow;
use std::error::Error;
use std::fmt::{self, Write as _};

use flog_core::{Event, Text, Value};
use tracing::field::{Field, Visit};

/// The name tracing gives the formatted message of `info!("...")`.
const MESSAGE: &str = "message";

/// The field in which tracing-log forwards a `log` record's target.
pub(crate) const LOG_TARGET: &str = "log.target";

/// tracing-log's other fields, which say where the `log` call was; the fmt
/// layer hides them too.
const LOG_LOCATION: [&str; 3] = ["log.module_path", "log.file", "log.line"];

/// What the visitor does with a field named `message`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// An event: `message` becomes its text.
    Event,
    /// A `log` record forwarded by tracing-log: like an event, and its `log.*`
    /// fields are not fields of the event.
    LogRecord,
    /// A span, whose text is its name: `message` stays a field.
    Span,
}

/// Records tracing field values straight into a flog event, as typed fields.
/// (Writing into the event rather than collecting and moving the fields saves
/// copying a few hundred bytes per event.)
#[derive(Debug)]
pub(crate) struct FieldVisitor<'a> {
    event: &'a mut Event,
    kind: Kind,
    /// The record's target, for a forwarded `log` record.
    pub(crate) log_target: Option<String>,
}

impl<'a> FieldVisitor<'a> {
    pub(crate) fn new(event: &'a mut Event, kind: Kind) -> FieldVisitor<'a> {
        FieldVisitor {
            event,
            kind,
            log_target: None,
        }
    }

    fn push(&mut self, field: &Field, value: Value) {
        if self.kind == Kind::LogRecord && LOG_LOCATION.contains(&field.name()) {
            return;
        }
        self.event.fields.push((Cow::Borrowed(field.name()), value));
    }

    fn is_message(&self, field: &Field) -> bool {
        self.kind != Kind::Span && field.name() == MESSAGE
    }

    fn set_message(&mut self, text: String) {
        // tracing has already formatted the message, so it is plain text even
        // when it names fields in braces.
        self.event.text = Text::Message(Cow::Owned(text));
    }
}

impl Visit for FieldVisitor<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.push(field, Value::Float(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field, Value::Int(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.push(field, Value::UInt(value));
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        let value = match i64::try_from(value) {
            Ok(v) => Value::Int(v),
            Err(_) => Value::Text(Cow::Owned(value.to_string())),
        };
        self.push(field, value);
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        let value = match u64::try_from(value) {
            Ok(v) => Value::UInt(v),
            Err(_) => Value::Text(Cow::Owned(value.to_string())),
        };
        self.push(field, value);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field, Value::Bool(value));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if self.kind == Kind::LogRecord && field.name() == LOG_TARGET {
            self.log_target = Some(value.to_owned());
        } else if self.is_message(field) {
            self.set_message(value.to_owned());
        } else {
            self.push(field, Value::Text(Cow::Owned(value.to_owned())));
        }
    }

    fn record_bytes(&mut self, field: &Field, value: &[u8]) {
        self.push(field, Value::Bytes(value.to_vec()));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn Error + 'static)) {
        self.event.is_error = true;
        let mut chain = value.source();
        if chain.is_some() {
            let mut failure = value.to_string();
            while let Some(cause) = chain {
                let _ = write!(failure, "\ncaused by: {cause}");
                chain = cause.source();
            }
            self.event.failure = Some(failure);
        }
        self.push(field, Value::Text(Cow::Owned(value.to_string())));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // `format!` would start from an empty string and grow it two or three
        // times for a typical message; one allocation of a likely size is cheaper.
        let mut text = String::with_capacity(64);
        let _ = write!(text, "{value:?}");
        if self.is_message(field) {
            self.set_message(text);
        } else {
            self.push(field, Value::Text(Cow::Owned(text)));
        }
    }
}
