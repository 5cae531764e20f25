use std::borrow::Cow;

use super::*;

fn event(level: Level, facility: &str, text: flog_core::Text) -> Event {
    Event {
        level,
        facility: Some(Cow::Owned(facility.to_owned())),
        text,
        ..Event::default()
    }
}

fn message(text: &str) -> flog_core::Text {
    flog_core::Text::Message(Cow::Owned(text.to_owned()))
}

fn with_fields(mut event: Event, fields: Vec<(&'static str, Value)>) -> Event {
    event.fields = fields
        .into_iter()
        .map(|(k, v)| (Cow::Borrowed(k), v))
        .collect();
    event
}

fn rules(text: &str) -> Classifier {
    Classifier::from_toml(text, "rules.toml").unwrap()
}

#[test]
fn facility_is_a_dotted_prefix() {
    let classifier = rules("[[rule]]\ncategory = \"db\"\nfacility = \"app.db\"\n");
    let classify = |facility| classifier.classify(&event(Level::WEIRD, facility, message("x")));
    assert_eq!(classify("app.db"), ["db"]);
    assert_eq!(classify("app.db.pool"), ["db"]);
    assert!(classify("app.dbx").is_empty());
    assert!(classify("app").is_empty());
}

#[test]
fn min_level_by_name_or_number() {
    let classifier = rules(
        "[[rule]]\ncategory = \"bad\"\nmin_level = \"BAD\"\n[[rule]]\ncategory = \"odd\"\nmin_level = 29\n",
    );
    let classify = |level| classifier.classify(&event(level, "app", message("x")));
    assert_eq!(classify(Level::BAD), ["bad", "odd"]);
    assert_eq!(classify(Level::WEIRD), ["odd"]);
    assert!(classify(Level::CURIOUS).is_empty());
}

#[test]
fn message_matches_raw_or_rendered_text() {
    let classifier = rules(
        "[[rule]]\ncategory = \"raw\"\nmessage = \"\\\\{ms\\\\}\"\n[[rule]]\ncategory = \"rendered\"\nmessage = \"after [0-9]+ ms\"\n",
    );
    let format = flog_core::Text::Format(Cow::Borrowed("pool exhausted after {ms} ms"));
    let trigger = with_fields(
        event(Level::WEIRD, "app", format),
        vec![("ms", Value::Int(250))],
    );
    assert_eq!(classifier.classify(&trigger), ["raw", "rendered"]);
    assert!(classifier
        .classify(&event(Level::WEIRD, "app", message("all fine")))
        .is_empty());
}

#[test]
fn fields_must_all_equal() {
    let classifier = rules(
        r#"
[[rule]]
category = "db1"
fields = { host = "db1", port = 5432, primary = true }

[[rule]]
category = "by-text"
fields = { port = "5432" }
"#,
    );
    let base = event(Level::WEIRD, "app", message("x"));
    let full = with_fields(
        base.clone(),
        vec![
            ("host", Value::from("db1")),
            ("port", Value::UInt(5432)),
            ("primary", Value::Bool(true)),
        ],
    );
    assert_eq!(classifier.classify(&full), ["db1", "by-text"]);
    let other_host = with_fields(
        base.clone(),
        vec![
            ("host", Value::from("db2")),
            ("port", Value::Int(5432)),
            ("primary", Value::Bool(true)),
        ],
    );
    assert_eq!(classifier.classify(&other_host), ["by-text"]);
    assert!(classifier.classify(&base).is_empty());
}

#[test]
fn every_condition_of_a_rule_must_hold_and_categories_come_once() {
    let classifier = rules(
        r#"
[[rule]]
category = "db"
facility = "app.db"
min_level = "WEIRD"
message = "exhausted"

[[rule]]
category = "db"
facility = "app.db.replica"

[[rule]]
category = "everything"
"#,
    );
    let classify =
        |level, facility, text| classifier.classify(&event(level, facility, message(text)));
    assert_eq!(
        classify(Level::WEIRD, "app.db", "pool exhausted"),
        ["db", "everything"]
    );
    assert_eq!(
        classify(Level::CURIOUS, "app.db", "pool exhausted"),
        ["everything"]
    );
    assert_eq!(classify(Level::WEIRD, "app.db", "pool ok"), ["everything"]);
    assert_eq!(
        classify(Level::NOISY, "app.db.replica", "x"),
        ["db", "everything"]
    );
    assert_eq!(classifier.categories(), ["db", "everything"]);
}

#[test]
fn programmatic_rules_match_parsed_ones() {
    let built = Classifier::new(vec![Rule::new("db")
        .unwrap()
        .facility("app.db")
        .min_level(Level::WEIRD)
        .message("exhausted")
        .unwrap()
        .field("host", FieldValue::Text("db1".into()))]);
    let parsed = rules(
        "[[rule]]\ncategory = \"db\"\nfacility = \"app.db\"\nmin_level = 30\nmessage = \"exhausted\"\nfields = { host = \"db1\" }\n",
    );
    assert_eq!(built.fingerprint(), parsed.fingerprint());
    let other = rules("[[rule]]\ncategory = \"db\"\nfacility = \"app.db\"\n");
    assert_ne!(built.fingerprint(), other.fingerprint());
    assert_eq!(Classifier::default().fingerprint(), rules("").fingerprint());
}

#[test]
fn categories_are_safe_file_names() {
    for good in ["db", "web-1", "a.b_c", "X9"] {
        assert!(is_valid_category(good), "{good}");
    }
    let long = "x".repeat(MAX_CATEGORY_LEN + 1);
    for bad in [
        "", ".", "..", ".hidden", "a/b", "..\\x", "all", "unknown", "sp ace", "é", &long,
    ] {
        assert!(!is_valid_category(bad), "{bad:?}");
        assert!(matches!(Rule::new(bad), Err(RuleError::BadCategory(_))));
    }
    assert!(matches!(
        Rule::new("x").unwrap().message("("),
        Err(RuleError::BadRegex(_))
    ));
}

#[test]
fn rules_files_load_from_disk_and_report_errors_with_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rules.toml");
    fs::write(
        &path,
        "[[rule]]\ncategory = \"db\"\n\n[[rule]]\ncategory = \"x\"\nmin_level = \"LOUD\"\n",
    )
    .unwrap();
    let message = Classifier::from_file(&path).unwrap_err().to_string();
    assert!(
        message.contains("rules.toml:6:13: invalid level"),
        "{message}"
    );

    fs::write(&path, "poll_interval = 3\n").unwrap();
    let message = Classifier::from_file(&path).unwrap_err().to_string();
    assert!(
        message.contains("rules.toml:1:1: unknown field `poll_interval`"),
        "{message}"
    );

    fs::write(&path, "[[rule]]\ncategory = \"db\"\n").unwrap();
    assert_eq!(Classifier::from_file(&path).unwrap().categories(), ["db"]);
}
