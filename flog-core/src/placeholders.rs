//! The compile-time check of a `msg!` format string against the call's
//! fields: [`msg!`](crate::msg) evaluates [`check_placeholders`] in a `const`,
//! so a typo in a `{placeholder}` is a compile error instead of a
//! `[flog: missing field]` marker found in an incident report too late.
//!
//! The grammar is the one [`Event::render`](crate::Event::render) reads:
//! `{name}` (spaces around the name allowed), `{{` and `}}` for braces.

/// Room for one compile error message; longer names are left out of it.
const MESSAGE_BYTES: usize = 320;
const MAX_NAME_IN_MESSAGE: usize = 64;

/// Panics (a compile error when evaluated in a `const`) unless every
/// placeholder in `format` names one of `fields`.
pub const fn check_placeholders(format: &str, fields: &[&str]) {
    let b = format.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let doubled = i + 1 < b.len() && b[i + 1] == c;
        if c == b'}' {
            if !doubled {
                panic!("flog: unmatched '}}' in the format string (write '}}}}' for a brace)");
            }
            i += 2;
        } else if c == b'{' {
            if doubled {
                i += 2;
                continue;
            }
            let mut end = i + 1;
            while end < b.len() && b[end] != b'}' && b[end] != b'{' {
                end += 1;
            }
            if end >= b.len() || b[end] == b'{' {
                panic!("flog: unclosed '{{' in the format string (write '{{{{' for a brace)");
            }
            check_one(b, i + 1, end, fields);
            i = end + 1;
        } else {
            i += 1;
        }
    }
}

/// Checks the placeholder `b[start..end]` (between its braces).
const fn check_one(b: &[u8], mut start: usize, mut end: usize, fields: &[&str]) {
    while start < end && b[start].is_ascii_whitespace() {
        start += 1;
    }
    while end > start && b[end - 1].is_ascii_whitespace() {
        end -= 1;
    }
    if start == end || all_digits(b, start, end) {
        panic!(
            "flog: positional placeholders ({{}} or {{0}}) are not supported: name a field, \
             as in msg!(..., \"took {{ms}} ms\", ms = elapsed)"
        );
    }
    let mut k = start;
    while k < end {
        if b[k] == b':' {
            panic!(
                "flog: format specs ({{x:?}}, {{x:>8}}) are not supported: a placeholder is a \
                 bare field name; use `x = ?value` for Debug or `x = %value` for Display"
            );
        }
        k += 1;
    }
    let mut f = 0;
    while f < fields.len() {
        if bytes_eq(fields[f].as_bytes(), b, start, end) {
            return;
        }
        f += 1;
    }
    missing(b, start, end, fields)
}

/// Fails with a message that names the placeholder and the fields given.
const fn missing(b: &[u8], start: usize, end: usize, fields: &[&str]) -> ! {
    let mut msg = [0u8; MESSAGE_BYTES];
    let mut n = push(&mut msg, 0, b"flog: the format string's placeholder {");
    if end - start <= MAX_NAME_IN_MESSAGE {
        n = push_range(&mut msg, n, b, start, end);
    } else {
        n = push(&mut msg, n, b"...");
    }
    n = push(&mut msg, n, b"} names no field of this call (fields:");
    let mut f = 0;
    while f < fields.len() {
        let name = fields[f].as_bytes();
        if n + name.len() + 8 > MESSAGE_BYTES {
            n = push(&mut msg, n, b" ...");
            break;
        }
        n = push(&mut msg, n, b" ");
        n = push_range(&mut msg, n, name, 0, name.len());
        f += 1;
    }
    if fields.is_empty() {
        n = push(&mut msg, n, b" none");
    }
    n = push(&mut msg, n, b")");
    let (text, _) = msg.split_at(n);
    match core::str::from_utf8(text) {
        Ok(text) => panic!("{}", text),
        Err(_) => panic!("flog: a format string's placeholder names no field of this call"),
    }
}

const fn push(msg: &mut [u8; MESSAGE_BYTES], n: usize, text: &[u8]) -> usize {
    push_range(msg, n, text, 0, text.len())
}

/// Appends `text[start..end]` to `msg` at `n` as far as it fits.
const fn push_range(
    msg: &mut [u8; MESSAGE_BYTES],
    mut n: usize,
    text: &[u8],
    start: usize,
    end: usize,
) -> usize {
    let mut i = start;
    while i < end && n < MESSAGE_BYTES {
        msg[n] = text[i];
        n += 1;
        i += 1;
    }
    n
}

const fn all_digits(b: &[u8], start: usize, end: usize) -> bool {
    let mut i = start;
    while i < end {
        if !b[i].is_ascii_digit() {
            return false;
        }
        i += 1;
    }
    true
}

const fn bytes_eq(name: &[u8], b: &[u8], start: usize, end: usize) -> bool {
    if name.len() != end - start {
        return false;
    }
    let mut i = 0;
    while i < name.len() {
        if name[i] != b[start + i] {
            return false;
        }
        i += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(format: &'static str, fields: &'static [&'static str]) -> Result<(), String> {
        std::panic::catch_unwind(|| check_placeholders(format, fields)).map_err(|p| {
            p.downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default()
        })
    }

    #[test]
    fn placeholders_must_name_fields() {
        assert_eq!(verdict("took {ms} ms on { host }", &["host", "ms"]), Ok(()));
        assert_eq!(verdict("{{literal}} }} {{", &[]), Ok(()));
        assert_eq!(verdict("ünïcödé {x}", &["x"]), Ok(()));
        let err = verdict("took {mss} ms", &["ms", "host"]).unwrap_err();
        assert_eq!(
            err,
            "flog: the format string's placeholder {mss} names no field of this call \
             (fields: ms host)"
        );
        assert!(verdict("{x}", &[]).unwrap_err().ends_with("(fields: none)"));
    }

    #[test]
    fn positional_specs_and_stray_braces_are_refused() {
        assert!(verdict("took {} ms", &["ms"])
            .unwrap_err()
            .contains("positional"));
        assert!(verdict("took {0} ms", &["ms"])
            .unwrap_err()
            .contains("positional"));
        assert!(verdict("took {ms:?}", &["ms"])
            .unwrap_err()
            .contains("format specs"));
        assert!(verdict("open {ms", &["ms"])
            .unwrap_err()
            .contains("unclosed"));
        assert!(verdict("a{b{c}", &["c"]).unwrap_err().contains("unclosed"));
        assert!(verdict("close }", &[]).unwrap_err().contains("unmatched"));
        let long = verdict(
            "{aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa}",
            &[],
        );
        assert!(long.unwrap_err().contains("{...}"));
    }
}
