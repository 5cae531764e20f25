use std::borrow::Cow;
use std::fmt;

use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::level::Level;

/// A structured field value.
///
/// Encodes as the matching native CBOR type, so files and the wire stay readable by
/// any CBOR tool. Text may borrow a `'static` string, so a literal costs no allocation.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// No value.
    Null,
    /// A boolean.
    Bool(bool),
    /// A signed integer.
    Int(i64),
    /// An unsigned integer (beyond `i64::MAX` too).
    UInt(u64),
    /// A floating point number.
    Float(f64),
    /// Text.
    Text(Cow<'static, str>),
    /// Raw bytes.
    Bytes(Vec<u8>),
    /// A list of values.
    List(Vec<Value>),
    /// A map from text keys to values, in insertion order.
    Map(Vec<(Cow<'static, str>, Value)>),
}

impl fmt::Display for Value {
    /// Renders as a format placeholder shows it: text without quotes, bytes in hex.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("None"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::UInt(u) => write!(f, "{u}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::Text(s) => f.write_str(s),
            Value::Bytes(b) => {
                f.write_str("0x")?;
                write!(f, "{}", data_encoding::HEXLOWER.encode_display(b))
            }
            Value::List(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    item.fmt_nested(f)?;
                }
                f.write_str("]")
            }
            Value::Map(entries) => {
                f.write_str("{")?;
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k:?}: ")?;
                    v.fmt_nested(f)?;
                }
                f.write_str("}")
            }
        }
    }
}

impl Value {
    fn fmt_nested(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Text(s) => write!(f, "{s:?}"),
            other => fmt::Display::fmt(other, f),
        }
    }

    /// The text of a `Text` value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }
}

macro_rules! from_int {
    ($variant:ident, $target:ty: $($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Value {
                Value::$variant(v as $target)
            }
        }
    )*};
}
from_int!(Int, i64: i8, i16, i32, i64, isize);
from_int!(UInt, u64: u8, u16, u32, u64, usize);
from_int!(Float, f64: f32, f64);

impl From<bool> for Value {
    fn from(v: bool) -> Value {
        Value::Bool(v)
    }
}
/// Any text converts, copied: a value outlives the call that logged it. (In
/// [`msg!`](crate::msg), a string literal is borrowed instead, and the copy
/// is made only when the event is generated.)
impl From<&str> for Value {
    fn from(v: &str) -> Value {
        Value::Text(Cow::Owned(v.to_owned()))
    }
}
/// A level's name (`"WEIRD"`), or `LEVEL<n>` for an unnamed number.
impl From<Level> for Value {
    fn from(v: Level) -> Value {
        match v.name() {
            Some(name) => Value::Text(Cow::Borrowed(name)),
            None => Value::Text(Cow::Owned(v.to_string())),
        }
    }
}
impl From<char> for Value {
    fn from(v: char) -> Value {
        Value::Text(Cow::Owned(v.to_string()))
    }
}
impl From<String> for Value {
    fn from(v: String) -> Value {
        Value::Text(Cow::Owned(v))
    }
}
impl From<&String> for Value {
    fn from(v: &String) -> Value {
        Value::Text(Cow::Owned(v.clone()))
    }
}
impl From<Cow<'static, str>> for Value {
    fn from(v: Cow<'static, str>) -> Value {
        Value::Text(v)
    }
}
impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Value {
        Value::Bytes(v)
    }
}
impl From<&[u8]> for Value {
    fn from(v: &[u8]) -> Value {
        Value::Bytes(v.to_vec())
    }
}
impl From<Vec<Value>> for Value {
    fn from(v: Vec<Value>) -> Value {
        Value::List(v)
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::Null, Into::into)
    }
}
impl From<std::time::Duration> for Value {
    fn from(v: std::time::Duration) -> Value {
        Value::Float(v.as_secs_f64())
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(i) => s.serialize_i64(*i),
            Value::UInt(u) => s.serialize_u64(*u),
            Value::Float(x) => s.serialize_f64(*x),
            Value::Text(t) => s.serialize_str(t),
            Value::Bytes(b) => s.serialize_bytes(b),
            Value::List(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Value::Map(entries) => serialize_entries(entries, s),
        }
    }
}

/// Serializes ordered `(key, value)` pairs as a CBOR map.
pub(crate) fn serialize_entries<S: Serializer>(
    entries: &[(Cow<'static, str>, Value)],
    s: S,
) -> Result<S::Ok, S::Error> {
    let mut map = s.serialize_map(Some(entries.len()))?;
    for (k, v) in entries {
        map.serialize_entry(k.as_ref(), v)?;
    }
    map.end()
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field value")
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Value, E> {
        i64::try_from(v)
            .map(Value::Int)
            .or_else(|_| u64::try_from(v).map(Value::UInt))
            .map_err(|_| E::custom("integer out of range"))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        // Keep small unsigned numbers signed so a value reads back as it was
        // logged whichever integer type the writer used.
        Ok(i64::try_from(v).map_or(Value::UInt(v), Value::Int))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Value, E> {
        u64::try_from(v)
            .map(|v| self.visit_u64::<E>(v).unwrap_or(Value::UInt(v)))
            .map_err(|_| E::custom("integer out of range"))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Text(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::Text(Cow::Owned(v)))
    }
    fn visit_bytes<E>(self, v: &[u8]) -> Result<Value, E> {
        Ok(Value::Bytes(v.to_vec()))
    }
    fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Value, E> {
        Ok(Value::Bytes(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::List(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Value, A::Error> {
        visit_entries(map).map(Value::Map)
    }
}

/// Reads a CBOR map into ordered `(key, value)` pairs. Scalar keys (numbers,
/// bytes, ...) are rendered as text rather than rejected, so a foreign writer's
/// file still reads; list and map keys are refused: rendering nested keys that
/// quote each other grows exponentially with depth (the fuzzer found a 2 kB
/// file that took seconds and gigabytes that way).
pub(crate) fn visit_entries<'de, A: MapAccess<'de>>(
    mut map: A,
) -> Result<Vec<(Cow<'static, str>, Value)>, A::Error> {
    let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0).min(1024));
    while let Some(key) = map.next_key::<Value>()? {
        let key = match key {
            Value::Text(t) => t,
            Value::List(_) | Value::Map(_) => {
                return Err(serde::de::Error::custom(
                    "a map key that is a list or a map",
                ))
            }
            scalar => Cow::Owned(scalar.to_string()),
        };
        entries.push((key, map.next_value()?));
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(v: &Value) -> Value {
        let mut buf = Vec::new();
        ciborium::into_writer(v, &mut buf).unwrap();
        ciborium::from_reader(buf.as_slice()).unwrap()
    }

    #[test]
    fn every_kind_round_trips_through_cbor() {
        let v = Value::Map(vec![
            ("null".into(), Value::Null),
            ("b".into(), true.into()),
            ("neg".into(), (-5i32).into()),
            ("big".into(), u64::MAX.into()),
            ("f".into(), 1.5.into()),
            ("t".into(), "text".into()),
            ("bytes".into(), vec![0u8, 255].into()),
            ("list".into(), Value::List(vec![1.into(), "x".into()])),
        ]);
        assert_eq!(round_trip(&v), v);
        assert_eq!(round_trip(&Value::from(7u8)), Value::Int(7));
    }

    #[test]
    fn display_is_readable() {
        assert_eq!(Value::from("a").to_string(), "a");
        assert_eq!(Value::Bytes(vec![1, 171]).to_string(), "0x01ab");
        assert_eq!(
            Value::List(vec!["a".into(), 2.into()]).to_string(),
            "[\"a\", 2]"
        );
        assert_eq!(Value::Null.to_string(), "None");
        assert_eq!(Value::from(Level::WEIRD).to_string(), "WEIRD");
        assert_eq!(Value::from(Level(17)).to_string(), "LEVEL17");
        let owned = String::from("made at run time");
        assert_eq!(Value::from(owned.as_str()).to_string(), "made at run time");
    }
}
