//! Classification rules: which categories an incident belongs to, decided
//! from its trigger event.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::path::Path;

use flog_core::{facility_has_prefix, Event, Level, Value};
use regex::Regex;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use toml::Spanned;

use crate::error::{ConfigError, ConfigProblem, RuleError, Source};

/// The category every stored incident is listed in.
pub const CATEGORY_ALL: &str = "all";
/// The category of incidents no rule matched.
pub const CATEGORY_UNKNOWN: &str = "unknown";

/// The longest category name accepted.
pub const MAX_CATEGORY_LEN: usize = 64;

/// Whether `name` can be a category: 1 to 64 of `A-Z a-z 0-9 . _ -`, not
/// starting with `.` (files starting with a dot are the gatherer's own), and
/// neither `all` nor `unknown`, which the gatherer fills itself.
///
/// Categories are file names in `BASEDIR/classified/`, so this keeps them
/// there.
pub fn is_valid_category(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_CATEGORY_LEN
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        && name != CATEGORY_ALL
        && name != CATEGORY_UNKNOWN
}

/// A value a rule compares a field with.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue {
    /// Matches a text field with this text, or any other field whose
    /// displayed form is this text (`"5432"` matches the integer 5432).
    Text(String),
    /// Matches an integer field with this value.
    Int(i64),
    /// Matches a float field with this value.
    Float(f64),
    /// Matches a boolean field with this value.
    Bool(bool),
}

impl FieldValue {
    /// Whether the event's field value equals this one.
    pub fn matches(&self, value: &Value) -> bool {
        match (self, value) {
            (FieldValue::Text(want), Value::Text(have)) => want == have,
            (FieldValue::Text(want), other) => *want == other.to_string(),
            (FieldValue::Int(want), Value::Int(have)) => want == have,
            (FieldValue::Int(want), Value::UInt(have)) => u64::try_from(*want) == Ok(*have),
            (FieldValue::Int(want), Value::Float(have)) => *want as f64 == *have,
            (FieldValue::Float(want), Value::Float(have)) => want == have,
            (FieldValue::Float(want), Value::Int(have)) => *want == *have as f64,
            (FieldValue::Float(want), Value::UInt(have)) => *want == *have as f64,
            (FieldValue::Bool(want), Value::Bool(have)) => want == have,
            _ => false,
        }
    }
}

/// One classification rule: a category and conditions on the trigger event,
/// all of which must hold. A rule without conditions matches every incident.
///
/// ```
/// use flog_core::Level;
/// use flog_gatherer::Rule;
///
/// let rule = Rule::new("database")?
///     .facility("app.db")
///     .min_level(Level::WEIRD)
///     .message(r"pool (exhausted|closed)")?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Rule {
    category: String,
    facility: Option<String>,
    min_level: Option<Level>,
    message: Option<Regex>,
    fields: Vec<(String, FieldValue)>,
}

impl Rule {
    /// A rule putting incidents in `category`, matching every trigger until
    /// conditions are added.
    pub fn new(category: impl Into<String>) -> Result<Rule, RuleError> {
        let category = category.into();
        if !is_valid_category(&category) {
            return Err(RuleError::BadCategory(category));
        }
        Ok(Rule {
            category,
            facility: None,
            min_level: None,
            message: None,
            fields: Vec::new(),
        })
    }

    /// Only triggers in this facility or below it (`app.db` matches
    /// `app.db.pool`, not `app.dbx`).
    #[must_use]
    pub fn facility(mut self, prefix: impl Into<String>) -> Rule {
        self.facility = Some(prefix.into());
        self
    }

    /// Only triggers at this level or above.
    #[must_use]
    pub fn min_level(mut self, level: Level) -> Rule {
        self.min_level = Some(level);
        self
    }

    /// Only triggers whose raw text (message or unrendered format string) or
    /// rendered text contains a match of this regular expression.
    pub fn message(mut self, pattern: &str) -> Result<Rule, RuleError> {
        self.message = Some(Regex::new(pattern)?);
        Ok(self)
    }

    /// Only triggers whose field `name` equals `value`.
    #[must_use]
    pub fn field(mut self, name: impl Into<String>, value: FieldValue) -> Rule {
        self.fields.push((name.into(), value));
        self
    }

    /// The category this rule puts incidents in.
    pub fn category(&self) -> &str {
        &self.category
    }

    /// Whether the trigger meets every condition.
    pub fn matches(&self, trigger: &Event) -> bool {
        if let Some(prefix) = &self.facility {
            if !facility_has_prefix(trigger.facility(), prefix) {
                return false;
            }
        }
        if self.min_level.is_some_and(|min| trigger.level < min) {
            return false;
        }
        if let Some(regex) = &self.message {
            if !regex.is_match(trigger.raw_text()) && !regex.is_match(&trigger.render()) {
                return false;
            }
        }
        self.fields
            .iter()
            .all(|(name, want)| trigger.field(name).is_some_and(|value| want.matches(value)))
    }

    /// A stable text form of the rule, for fingerprints.
    fn canonical(&self, out: &mut String) {
        use fmt::Write as _;
        let _ = write!(
            out,
            "category={:?} facility={:?} min_level={:?} message={:?} fields=[",
            self.category,
            self.facility,
            self.min_level.map(|l| l.number()),
            self.message.as_ref().map(Regex::as_str),
        );
        for (name, value) in &self.fields {
            let _ = write!(out, "{name:?}={value:?},");
        }
        out.push_str("]\n");
    }
}

/// Decides the categories of incidents from their trigger events.
///
/// Rules are tried in order; an incident gets the category of every rule it
/// matches, each once, in the order of first match. An incident no rule
/// matches gets no category, and the gatherer lists it as `unknown`.
///
/// ```
/// use flog_core::{Event, Level};
/// use flog_gatherer::Classifier;
///
/// let classifier = Classifier::from_toml(
///     r#"
///     [[rule]]
///     category = "database"
///     facility = "app.db"
///     min_level = "WEIRD"
///     "#,
///     "rules.toml",
/// )?;
/// let trigger = Event {
///     level: Level::BAD,
///     facility: Some("app.db.pool".into()),
///     ..Event::default()
/// };
/// assert_eq!(classifier.classify(&trigger), vec!["database".to_string()]);
/// assert!(classifier.classify(&Event::default()).is_empty());
/// # Ok::<(), flog_gatherer::ConfigError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct Classifier {
    rules: Vec<Rule>,
}

impl Classifier {
    /// A classifier with these rules.
    pub fn new(rules: Vec<Rule>) -> Classifier {
        Classifier { rules }
    }

    /// Loads a standalone rules file: `[[rule]]` tables as in the gatherer's
    /// config file, and nothing else.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Classifier, ConfigError> {
        let path = path.as_ref();
        let text = fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Classifier::from_toml(&text, path)
    }

    /// Parses the text of a rules file; `path` names it in errors.
    pub fn from_toml(text: &str, path: impl AsRef<Path>) -> Result<Classifier, ConfigError> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct RulesFile {
            #[serde(default)]
            rule: Vec<RawRule>,
        }
        let source = Source {
            path: path.as_ref(),
            text,
        };
        let file: RulesFile = source.parse()?;
        compile_rules(file.rule, &source)
    }

    /// The rules, in order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Every category a rule can assign, each once, in rule order.
    pub fn categories(&self) -> Vec<&str> {
        let mut categories: Vec<&str> = Vec::new();
        for rule in &self.rules {
            if !categories.contains(&rule.category()) {
                categories.push(rule.category());
            }
        }
        categories
    }

    /// The categories of an incident with this trigger; empty when no rule
    /// matches (the incident is `unknown`).
    pub fn classify(&self, trigger: &Event) -> Vec<String> {
        let mut categories: Vec<String> = Vec::new();
        for rule in &self.rules {
            if rule.matches(trigger) && !categories.iter().any(|c| c == rule.category()) {
                categories.push(rule.category.clone());
            }
        }
        categories
    }

    /// A SHA-256 over the rules, hex: equal rules give equal fingerprints,
    /// so the gatherer can tell at start-up whether they changed.
    pub fn fingerprint(&self) -> String {
        let mut text = String::new();
        for rule in &self.rules {
            rule.canonical(&mut text);
        }
        let digest = Sha256::digest(text.as_bytes());
        data_encoding::HEXLOWER.encode(&digest)
    }
}

/// A `[[rule]]` table as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRule {
    category: Spanned<String>,
    facility: Option<String>,
    min_level: Option<Spanned<RawLevel>>,
    message: Option<Spanned<String>>,
    #[serde(default)]
    fields: BTreeMap<String, Spanned<toml::Value>>,
}

/// A level as config files write it: a name or a number.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum RawLevel {
    Number(i64),
    Name(String),
}

impl RawLevel {
    /// The level, if it is one.
    pub(crate) fn level(&self) -> Option<Level> {
        match self {
            RawLevel::Number(n) => u16::try_from(*n).ok().map(Level),
            RawLevel::Name(name) => Level::parse(name),
        }
    }
}

pub(crate) fn compile_rules(
    raw: Vec<RawRule>,
    source: &Source<'_>,
) -> Result<Classifier, ConfigError> {
    raw.into_iter()
        .map(|rule| compile_rule(rule, source))
        .collect::<Result<Vec<_>, _>>()
        .map(Classifier::new)
}

fn compile_rule(raw: RawRule, source: &Source<'_>) -> Result<Rule, ConfigError> {
    let mut rule = Rule::new(raw.category.get_ref().clone())
        .map_err(|e| source.error_at(raw.category.span(), e))?;
    if let Some(facility) = raw.facility {
        rule = rule.facility(facility);
    }
    if let Some(level) = raw.min_level {
        let parsed = level.get_ref().level();
        let level_error = || source.error_at(level.span(), ConfigProblem::Level);
        rule = rule.min_level(parsed.ok_or_else(level_error)?);
    }
    if let Some(pattern) = raw.message {
        rule = rule
            .message(pattern.get_ref())
            .map_err(|e| source.error_at(pattern.span(), e))?;
    }
    for (name, value) in raw.fields {
        let span = value.span();
        let value = match value.into_inner() {
            toml::Value::String(text) => FieldValue::Text(text),
            toml::Value::Integer(n) => FieldValue::Int(n),
            toml::Value::Float(x) => FieldValue::Float(x),
            toml::Value::Boolean(b) => FieldValue::Bool(b),
            _ => return Err(source.error_at(span, ConfigProblem::FieldValue { name })),
        };
        rule = rule.field(name, value);
    }
    Ok(rule)
}

#[cfg(test)]
mod tests;
