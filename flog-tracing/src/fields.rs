use std::borrow::Cow;
use std::error::Error;
use std::fmt::{self, Write as _};

use flog_core::{Event, Fields, Level, Text, Value};
use smallvec::SmallVec;
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

/// The fields of one tracing event or span, recorded as typed flog values
/// beside their names, on the stack up to eight of them (no heap for a
/// scalar), so that they can be handed to flog as they are
/// ([`Logger::emit_fields`](flog_core::Logger::emit_fields)) or made into
/// an [`Event`].
#[derive(Debug)]
pub(crate) struct Recorded {
    kind: Kind,
    /// The names the fields are likely to have: their callsite's, so that
    /// a field that has its expected name costs a compare, not a push.
    expected_names: &'static [&'static str],
    /// The names of `values`, once they are not the first of
    /// `expected_names` (until then, empty).
    names: SmallVec<[&'static str; 8]>,
    diverged: bool,
    pub(crate) values: SmallVec<[Value; 8]>,
    /// The message, if one was recorded.
    pub(crate) message: Option<Cow<'static, str>>,
    /// The text the message is likely to be: its callsite's, so that the
    /// same text again is compared rather than copied.
    expected: &'static str,
    pub(crate) is_error: bool,
    pub(crate) failure: Option<String>,
    /// The record's target, for a forwarded `log` record.
    pub(crate) log_target: Option<String>,
}

impl Recorded {
    pub(crate) fn new(kind: Kind) -> Recorded {
        Recorded::expecting(kind, &[], None)
    }

    /// A visitor that compares the names with `names` and the message with
    /// `expected` as they are recorded.
    pub(crate) fn expecting(
        kind: Kind,
        names: &'static [&'static str],
        expected: Option<&'static str>,
    ) -> Recorded {
        Recorded {
            kind,
            expected_names: names,
            names: SmallVec::new(),
            diverged: false,
            values: SmallVec::new(),
            message: None,
            expected: expected.unwrap_or(""),
            is_error: false,
            failure: None,
            log_target: None,
        }
    }

    /// Whether the recorded names are the expected ones, all and in order.
    pub(crate) fn names_are_expected(&self) -> bool {
        !self.diverged && self.values.len() == self.expected_names.len()
    }

    /// The names of the values.
    fn names(&self) -> &[&'static str] {
        if self.diverged {
            &self.names
        } else {
            &self.expected_names[..self.values.len()]
        }
    }

    /// The event of these fields, its text the message (or `text`, for a
    /// span or an event without one).
    pub(crate) fn into_event(
        self,
        level: Level,
        facility: Cow<'static, str>,
        text: Cow<'static, str>,
    ) -> Event {
        let names: SmallVec<[&'static str; 8]> = self.names().into();
        let fields: Fields = names
            .into_iter()
            .map(Cow::Borrowed)
            .zip(self.values)
            .collect();
        Event {
            level,
            facility: Some(facility),
            // tracing has already formatted the message, so it is plain text
            // even when it names fields in braces.
            text: Text::Message(self.message.unwrap_or(text)),
            fields,
            is_error: self.is_error,
            failure: self.failure,
            ..Event::default()
        }
    }

    fn push(&mut self, field: &Field, value: Value) {
        if self.kind == Kind::LogRecord && LOG_LOCATION.contains(&field.name()) {
            return;
        }
        let name = field.name();
        let at = self.values.len();
        if !self.diverged {
            match self.expected_names.get(at) {
                // The names are the callsite's own `'static` strings, so
                // the address says it first.
                Some(expected) if std::ptr::eq(*expected, name) || *expected == name => {}
                _ => {
                    self.names = self.expected_names[..at].into();
                    self.diverged = true;
                }
            }
        }
        if self.diverged {
            self.names.push(name);
        }
        self.values.push(value);
    }

    fn is_message(&self, field: &Field) -> bool {
        self.kind != Kind::Span && field.name() == MESSAGE
    }

    /// Sets the message to what `write` writes, borrowing `expected` if
    /// that is what it wrote (the expected text costs no copy).
    fn set_message(&mut self, write: impl FnOnce(&mut Message) -> fmt::Result) {
        let mut message = Message {
            expected: self.expected,
            matched: 0,
            own: None,
        };
        let _ = write(&mut message);
        self.message = Some(match message.own {
            Some(own) => Cow::Owned(own),
            None if message.matched == self.expected.len() => Cow::Borrowed(self.expected),
            None => Cow::Owned(self.expected[..message.matched].to_owned()),
        });
    }
}

/// A message being written, compared with the text expected as it comes:
/// copied only from where it differs.
struct Message {
    expected: &'static str,
    /// The length of the prefix of `expected` written so far.
    matched: usize,
    /// The text, once it differs from `expected`.
    own: Option<String>,
}

impl fmt::Write for Message {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if let Some(own) = &mut self.own {
            own.push_str(s);
        } else if self.expected[self.matched..].starts_with(s) {
            // `s` is whole characters, so `matched` stays on a boundary.
            self.matched += s.len();
        } else {
            // One allocation of a likely size rather than two or three
            // growths for a typical message.
            let mut own = String::with_capacity((self.matched + s.len()).max(64));
            own.push_str(&self.expected[..self.matched]);
            own.push_str(s);
            self.own = Some(own);
        }
        Ok(())
    }
}

impl Visit for Recorded {
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
            self.set_message(|m| m.write_str(value));
        } else {
            self.push(field, Value::Text(Cow::Owned(value.to_owned())));
        }
    }

    fn record_bytes(&mut self, field: &Field, value: &[u8]) {
        self.push(field, Value::Bytes(value.to_vec()));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn Error + 'static)) {
        self.is_error = true;
        let mut chain = value.source();
        if chain.is_some() {
            let mut failure = value.to_string();
            while let Some(cause) = chain {
                let _ = write!(failure, "\ncaused by: {cause}");
                chain = cause.source();
            }
            self.failure = Some(failure);
        }
        self.push(field, Value::Text(Cow::Owned(value.to_string())));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.is_message(field) {
            self.set_message(|m| write!(m, "{value:?}"));
        } else {
            // `format!` would start from an empty string and grow it two or
            // three times for a typical value; one allocation of a likely
            // size is cheaper.
            let mut text = String::with_capacity(64);
            let _ = write!(text, "{value:?}");
            self.push(field, Value::Text(Cow::Owned(text)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(expected: &'static str, parts: &[&str]) -> (String, bool) {
        let mut r = Recorded::expecting(Kind::Event, &[], Some(expected));
        r.set_message(|m| parts.iter().try_for_each(|p| m.write_str(p)));
        let text = r.message.unwrap();
        let borrowed = matches!(text, Cow::Borrowed(_));
        (text.into_owned(), borrowed)
    }

    #[test]
    fn a_message_is_borrowed_only_when_it_is_the_expected_text() {
        assert_eq!(written("abc", &["a", "bc"]), ("abc".into(), true));
        assert_eq!(written("abc", &["ab"]), ("ab".into(), false), "a prefix");
        assert_eq!(written("abc", &["abc", "d"]), ("abcd".into(), false));
        assert_eq!(written("abc", &["ab", "x", "y"]), ("abxy".into(), false));
        assert_eq!(written("", &[]), ("".into(), true));
        assert_eq!(written("", &["é"]), ("é".into(), false));
        assert_eq!(written("été", &["é", "t", "é"]), ("été".into(), true));
    }
}
