//! Reading the few members we act on out of VAPI's large messages in one
//! pass, without building a `serde_json::Value` tree of the rest.
//!
//! A VAPI message carries the whole call, assistant and transcript; we need
//! a dozen strings of it. The readers here keep only the members they name
//! and skip everything else unread. They are as tolerant as looking members
//! up in a `Value`: a member of an unexpected type reads as absent, and a
//! member given twice keeps its last value.

use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

/// An object type read member by member (see [`lenient_object!`]).
pub(crate) trait FromMap: Default {
    fn from_map<'de, A: MapAccess<'de>>(map: A) -> Result<Self, A::Error>;
}

/// Declares a struct of optional members read from a JSON object by name;
/// other members are skipped, a repeated member keeps its last value.
macro_rules! lenient_object {
    ($(#[$doc:meta])* $name:ident { $($key:literal => $field:ident: $ty:ty),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Default)]
        pub(crate) struct $name {
            $(pub(crate) $field: $ty,)*
        }

        impl $crate::lenient::FromMap for $name {
            fn from_map<'de, A: serde::de::MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
                const KEYS: &[&str] = &[$($key),*];
                let mut out = Self::default();
                while let Some(key) = map.next_key_seed($crate::lenient::KeyOf(KEYS))? {
                    match key {
                        $(Some($key) => out.$field = map.next_value()?,)*
                        _ => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                        }
                    }
                }
                Ok(out)
            }
        }
    };
}
pub(crate) use lenient_object;

/// Reads a member's name as the one of `.0` it equals, without copying it.
pub(crate) struct KeyOf(pub(crate) &'static [&'static str]);

impl<'de> DeserializeSeed<'de> for KeyOf {
    type Value = Option<&'static str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for KeyOf {
    type Value = Option<&'static str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(self.0.iter().find(|k| **k == v).copied())
    }
}

/// Skips whatever a visitor was handed that it does not want.
fn skip_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
    Ok(())
}

fn skip_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<(), A::Error> {
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok(())
}

/// Implements the visitor methods of every JSON type but the wanted ones:
/// the value reads as `None`.
macro_rules! absent_otherwise {
    ($($skip:ident),*) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> { Ok(None) }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> { Ok(None) }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> { Ok(None) }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> { Ok(None) }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> { Ok(None) }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> { Ok(None) }
        $(absent_otherwise!(@$skip);)*
    };
    (@str) => {
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> { Ok(None) }
    };
    (@map) => {
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            skip_map(map).map(|()| None)
        }
    };
    (@seq) => {
        fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
            skip_seq(seq).map(|()| None)
        }
    };
}

/// A string member; any other type reads as absent.
#[derive(Debug, Default)]
pub(crate) struct Text(pub(crate) Option<String>);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Option<String>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Some(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Some(v))
            }
            absent_otherwise!(map, seq);
        }
        deserializer.deserialize_any(V).map(Text)
    }
}

/// An object member read as `T`; any other type reads as absent.
#[derive(Debug, Default)]
pub(crate) struct Obj<T>(pub(crate) Option<T>);

impl<'de, T: FromMap> Deserialize<'de> for Obj<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: FromMap> Visitor<'de> for V<T> {
            type Value = Option<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                T::from_map(map).map(Some)
            }
            absent_otherwise!(str, seq);
        }
        deserializer.deserialize_any(V(PhantomData)).map(Obj)
    }
}

/// An array member whose items are read as `T` (an item that is not an
/// object reads as `T::default()`); any other type reads as absent.
#[derive(Debug, Default)]
pub(crate) struct List<T>(pub(crate) Option<Vec<T>>);

impl<'de, T: FromMap> Deserialize<'de> for List<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: FromMap> Visitor<'de> for V<T> {
            type Value = Option<Vec<T>>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(1).min(16));
                while let Some(item) = seq.next_element::<Obj<T>>()? {
                    items.push(item.0.unwrap_or_default());
                }
                Ok(Some(items))
            }
            absent_otherwise!(str, map);
        }
        deserializer.deserialize_any(V(PhantomData)).map(List)
    }
}

/// A member's value when the member is given, whatever its value: tells a
/// member given with an unexpected type from one not given at all.
#[derive(Debug, Default)]
pub(crate) struct Given<T>(pub(crate) Option<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Given<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        T::deserialize(deserializer).map(|t| Given(Some(t)))
    }
}

/// A member kept as its JSON text, whatever its type (`null` included), to
/// be read later.
#[derive(Debug, Default)]
pub(crate) struct Raw(pub(crate) Option<Box<RawValue>>);

impl<'de> Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Box::<RawValue>::deserialize(deserializer).map(|raw| Raw(Some(raw)))
    }
}

impl<T: FromMap> FromMap for Box<T> {
    fn from_map<'de, A: MapAccess<'de>>(map: A) -> Result<Self, A::Error> {
        T::from_map(map).map(Box::new)
    }
}
