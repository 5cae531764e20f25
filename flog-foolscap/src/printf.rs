//! Python's `%` formatting, as much of it as foolscap log messages use.

use serde_json::{Map, Value};

/// The arguments of a `%` operation: a mapping (`%(name)s`) or a tuple (`%s`).
pub(crate) enum Args<'a> {
    Map(&'a Map<String, Value>),
    Tuple(&'a [Value]),
}

/// One conversion: `%(name)-8.2f` is key `name`, spec `-8.2`, kind `f`.
struct Conversion<'a> {
    key: Option<&'a str>,
    spec: &'a str,
    kind: char,
}

/// Splits a format into literal text and conversions; `None` when malformed.
fn parse(format: &str) -> Option<Vec<Result<&str, Conversion<'_>>>> {
    let mut parts = Vec::new();
    let mut rest = format;
    while let Some(i) = rest.find('%') {
        if i > 0 {
            parts.push(Ok(&rest[..i]));
        }
        let after = &rest[i + 1..];
        if let Some(r) = after.strip_prefix('%') {
            parts.push(Ok("%"));
            rest = r;
            continue;
        }
        let (key, after) = match after.strip_prefix('(') {
            Some(named) => {
                let end = named.find(')')?;
                (Some(&named[..end]), &named[end + 1..])
            }
            None => (None, after),
        };
        let spec_len = after
            .find(|c: char| !matches!(c, '-' | '+' | ' ' | '#' | '0'..='9' | '.'))
            .unwrap_or(after.len());
        let kind = after[spec_len..].chars().next()?;
        if !"sdirfFeEgGxXoc".contains(kind) {
            return None;
        }
        parts.push(Err(Conversion {
            key,
            spec: &after[..spec_len],
            kind,
        }));
        rest = &after[spec_len + kind.len_utf8()..];
    }
    if !rest.is_empty() {
        parts.push(Ok(rest));
    }
    Some(parts)
}

/// `str()` of a JSON value as Python would show the decoded object.
pub(crate) fn py_str(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn convert(c: &Conversion<'_>, v: &Value) -> Option<String> {
    let precision = c
        .spec
        .split_once('.')
        .and_then(|(_, p)| p.parse::<usize>().ok());
    Some(match c.kind {
        's' => py_str(v),
        'r' => match v {
            Value::String(s) => format!("'{s}'"),
            other => py_str(other),
        },
        'd' | 'i' => format!("{}", v.as_i64().or_else(|| v.as_f64().map(|f| f as i64))?),
        'x' => format!("{:x}", v.as_i64()?),
        'X' => format!("{:X}", v.as_i64()?),
        'o' => format!("{:o}", v.as_i64()?),
        'c' => v.as_str()?.to_owned(),
        _ => {
            let f = v.as_f64()?;
            match c.kind {
                'e' | 'E' => format!("{:.*e}", precision.unwrap_or(6), f),
                _ => format!("{:.*}", precision.unwrap_or(6), f),
            }
        }
    })
}

/// Renders `format % args`; `None` when the format or the arguments do not fit.
pub(crate) fn render(format: &str, args: Args<'_>) -> Option<String> {
    let mut out = String::new();
    let mut next = 0;
    for part in parse(format)? {
        match part {
            Ok(text) => out.push_str(text),
            Err(c) => {
                let value = match (&args, c.key) {
                    (Args::Map(m), Some(k)) => m.get(k)?,
                    (Args::Tuple(t), None) => {
                        next += 1;
                        t.get(next - 1)?
                    }
                    _ => return None,
                };
                out.push_str(&convert(&c, value)?);
            }
        }
    }
    Some(out)
}

/// A foolscap format (`%(name)s`) as a flog format (`{name}`), when every
/// conversion is a plain named one whose spec can be dropped without changing
/// the text for the values at hand (`%(n)d` of an integer shows as `{n}` does).
pub(crate) fn to_flog_format(format: &str, fields: &Map<String, Value>) -> Option<String> {
    let mut out = String::new();
    for part in parse(format)? {
        match part {
            Ok(text) => out.push_str(&text.replace('{', "{{").replace('}', "}}")),
            Err(c) => {
                let key = c.key?;
                let value = fields.get(key)?;
                let plain = c.spec.is_empty()
                    && match c.kind {
                        's' => matches!(value, Value::String(_) | Value::Number(_)),
                        'd' | 'i' => value.is_i64() || value.is_u64(),
                        _ => false,
                    };
                if !plain || key.contains(['{', '}']) {
                    return None;
                }
                out.push('{');
                out.push_str(key);
                out.push('}');
            }
        }
    }
    Some(out)
}

/// A flog format (`{name}`) as a foolscap one (`%(name)s`).
pub(crate) fn from_flog_format(format: &str, rename: impl Fn(&str) -> String) -> Option<String> {
    let mut out = String::new();
    let mut rest = format;
    while let Some(i) = rest.find(['{', '}', '%']) {
        out.push_str(&rest[..i]);
        let c = rest.as_bytes()[i];
        let after = &rest[i + 1..];
        match c {
            b'%' => {
                out.push_str("%%");
                rest = after;
            }
            b'}' => {
                after.strip_prefix('}')?;
                out.push('}');
                rest = &after[1..];
            }
            _ => {
                if let Some(r) = after.strip_prefix('{') {
                    out.push('{');
                    rest = r;
                    continue;
                }
                let end = after.find('}')?;
                let name = after[..end].trim();
                if name.is_empty() || name.contains(['{', '(', ')']) {
                    return None;
                }
                out.push_str(&format!("%({})s", rename(name)));
                rest = &after[end + 1..];
            }
        }
    }
    out.push_str(rest);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_named_and_positional_conversions() {
        let m = json!({"count": 4, "who": "bob", "ratio": 0.5});
        let m = m.as_object().unwrap();
        assert_eq!(
            render(
                "%(count)d apples for %(who)s (%(ratio).2f) 100%%",
                Args::Map(m)
            )
            .unwrap(),
            "4 apples for bob (0.50) 100%"
        );
        let t = [json!("x"), json!(3)];
        assert_eq!(
            render("%s=%d %r", Args::Tuple(&t)).as_deref(),
            None,
            "too few args"
        );
        assert_eq!(render("%s=%d", Args::Tuple(&t)).unwrap(), "x=3");
        assert_eq!(render("%(missing)s", Args::Map(m)), None);
        assert_eq!(render("bad %(open", Args::Map(m)), None);
        assert_eq!(render("%s", Args::Tuple(&[json!(null)])).unwrap(), "None");
    }

    #[test]
    fn formats_convert_both_ways() {
        let m = json!({"size": 10, "name": "f", "x": 1.5});
        let m = m.as_object().unwrap();
        assert_eq!(
            to_flog_format("Uploading %(size)d byte {file} %(name)s", m).unwrap(),
            "Uploading {size} byte {{file}} {name}"
        );
        assert_eq!(to_flog_format("%(x).1f", m), None, "a spec that matters");
        assert_eq!(to_flog_format("%s", m), None, "positional");
        assert_eq!(
            from_flog_format("{a} is 100% of {{b}}", |n| n.to_owned()).unwrap(),
            "%(a)s is 100%% of {b}"
        );
        assert_eq!(
            from_flog_format("{num}", |n| format!("flog_{n}")).unwrap(),
            "%(flog_num)s"
        );
        assert_eq!(from_flog_format("open {", |n| n.to_owned()), None);
    }
}
