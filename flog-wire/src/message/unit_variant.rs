//! Unit variants in either of their CBOR shapes.
//!
//! Senders write a unit variant as its name, `"ping"`; docs/protocol.md §3
//! lets receivers also take `{"ping": null}`. ciborium's enum decoding
//! accepts that map but leaves its `null` unread, which then breaks the
//! enclosing message. So [`Op`](super::Op) and [`Reply`](super::Reply) are
//! decoded through [`UnitTolerant`], which looks at the shape first and
//! hands the derived decoder (kept under `#[serde(remote = "Self")]`) either
//! the name alone or a map it has checked holds exactly one entry.

use std::fmt;
use std::marker::PhantomData;

use serde::de::value::{MapAccessDeserializer, StrDeserializer};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};

/// An enum whose derived decoder is kept as an inherent function.
pub(super) trait Derived: Sized {
    /// The enum's name in messages.
    const NAME: &'static str;
    /// The derived decoder.
    fn derived<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error>;
}

/// Implements `Serialize` and `Deserialize` for enums declared with
/// `#[serde(remote = "Self")]`: serialising as derived, decoding through
/// [`UnitTolerant`].
macro_rules! tolerant {
    ($($enum:ident),*) => {$(
        impl unit_variant::Derived for $enum {
            const NAME: &'static str = stringify!($enum);
            fn derived<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                $enum::deserialize(d)
            }
        }
        impl Serialize for $enum {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                $enum::serialize(self, s)
            }
        }
        impl<'de> Deserialize<'de> for $enum {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_any(unit_variant::UnitTolerant::default())
            }
        }
    )*};
}
pub(super) use tolerant;

/// Decodes a `T` from a variant name or a one-entry map.
pub(super) struct UnitTolerant<T>(PhantomData<T>);

impl<T> Default for UnitTolerant<T> {
    fn default() -> Self {
        UnitTolerant(PhantomData)
    }
}

impl<'de, T: Derived> Visitor<'de> for UnitTolerant<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: a variant name or a one-entry map", T::NAME)
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<T, E> {
        T::derived(StrDeserializer::new(name))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        // Definite length 1 only: an indefinite-length enum map stays refused.
        if map.size_hint() != Some(1) {
            return Err(de::Error::invalid_length(
                map.size_hint().unwrap_or(usize::MAX),
                &"an enum map of exactly one entry",
            ));
        }
        T::derived(MapAccessDeserializer::new(OneEntry { map, taken: false }))
    }
}

/// The map of an externally tagged variant, as serde's map-as-enum reads it:
/// the key names the variant and the value holds its fields, `null` for a
/// unit variant.
struct OneEntry<A> {
    map: A,
    taken: bool,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for OneEntry<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        if std::mem::replace(&mut self.taken, true) {
            return Ok(None);
        }
        self.map.next_key_seed(seed)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        self.map.next_value_seed(seed)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(usize::from(!self.taken))
    }
}
