//! Reading a self-describing format (YAML) straight into typed objects with
//! the result that going through a `serde_json::Value` first would give.
//!
//! Manifests are defined by their JSON form (kubectl turns YAML into JSON
//! before the API server decodes it), so the reference reading is: build a
//! [`StrictValue`] (refusing duplicate keys), then deserialize the typed kind
//! from it. Building that tree and then copying every string out of it costs
//! more than parsing the YAML. [`Strict`] wraps a format's deserializer so the
//! typed `Deserialize` impls see exactly the calls a `Value` would make, and
//! refuses (with an error, never a different answer) whatever the two could
//! disagree on: non-string keys, duplicate keys, NaN/infinity, YAML tags that
//! read as enums, and values that read as null inside `Some`. Callers fall back
//! to the reference reading on any error, which also produces the messages
//! users see, so only successful reads take the fast way.

use std::collections::HashSet;
use std::fmt;
use std::hash::BuildHasherDefault;

use serde::de::{self, DeserializeSeed, Deserializer, IntoDeserializer, Visitor};
use serde_json::Value;

/// Builds a `serde_json::Value` like its own `Deserialize` does, but refuses
/// duplicate mapping keys (the API server's strict decoding does too; "last
/// one wins" would hide typos in hand-written manifests).
pub(crate) struct StrictValue;

impl<'de> DeserializeSeed<'de> for StrictValue {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictValue {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        // NaN and infinities have no JSON form; the API server refuses them too.
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(StrictValue)
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut v = Vec::new();
        while let Some(item) = seq.next_element_seed(StrictValue)? {
            v.push(item);
        }
        Ok(Value::Array(v))
    }
    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut m = serde_json::Map::new();
        while let Some(key) = map.next_key_seed(StrictValue)? {
            let key = match key {
                Value::String(s) => s,
                // JSON objects only have string keys; YAML `1: x` becomes "1" as kubectl does.
                other => other.to_string(),
            };
            let value = map.next_value_seed(StrictValue)?;
            match m.entry(key) {
                serde_json::map::Entry::Vacant(slot) => {
                    slot.insert(value);
                }
                serde_json::map::Entry::Occupied(slot) => {
                    return Err(de::Error::custom(format!("duplicate key {:?}", slot.key())));
                }
            }
        }
        Ok(Value::Object(m))
    }
}

/// What to do with a field the target type does not have.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Config {
    /// Fail (strict parsing) instead of skipping it.
    pub unknown_is_error: bool,
}

/// Why the direct reading gave up; the caller then takes the reference way.
const NOT_LIKE_VALUE: &str = "not read the way a JSON value would be";

/// A deserializer that behaves like a `serde_json::Value` built with
/// [`StrictValue`] from the wrapped one, or fails.
pub(crate) struct Strict<D> {
    de: D,
    cfg: Config,
    /// Inside `visit_some`: a null here would have been `None`.
    in_some: bool,
}

impl<D> Strict<D> {
    /// Wraps a deserializer for one document.
    pub(crate) fn new(de: D, cfg: Config) -> Self {
        Strict {
            de,
            cfg,
            in_some: false,
        }
    }
}

macro_rules! like_any {
    ($($method:ident)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
                self.deserialize_any(visitor)
            }
        )*
    };
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Strict<D> {
    type Error = D::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.de.deserialize_any(Like {
            visitor,
            cfg: self.cfg,
            in_some: self.in_some,
        })
    }

    // A Value answers every typed request from what it holds (no YAML
    // "a scalar is whatever string you ask for"), so these all read "any".
    like_any! {
        deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
        deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64
        deserialize_u128 deserialize_f32 deserialize_f64 deserialize_char deserialize_str
        deserialize_string deserialize_bytes deserialize_byte_buf deserialize_unit
        deserialize_seq deserialize_map deserialize_identifier
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.deserialize_any(visitor)
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.deserialize_any(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.deserialize_any(visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.deserialize_any(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        // The format decides null-or-not as its "any" does; what it calls
        // non-null but then reads as null is refused via `in_some`.
        let cfg = self.cfg;
        self.de.deserialize_option(OptionLike { visitor, cfg })
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        // Unit variants from strings only (all the API has); anything else
        // goes the reference way.
        self.de.deserialize_any(EnumLike { visitor })
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        if self.cfg.unknown_is_error {
            return Err(de::Error::custom(NOT_LIKE_VALUE));
        }
        // Skipped content must still be free of duplicate keys.
        StrictValue.deserialize(self.de)?;
        visitor.visit_unit()
    }
}

/// Forwards what a Value would have produced; refuses the rest.
struct Like<V> {
    visitor: V,
    cfg: Config,
    in_some: bool,
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Like<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.visitor.expecting(f)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<V::Value, E> {
        self.visitor.visit_bool(v)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<V::Value, E> {
        // serde_json stores non-negative integers as unsigned.
        match u64::try_from(v) {
            Ok(u) => self.visitor.visit_u64(u),
            Err(_) => self.visitor.visit_i64(v),
        }
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<V::Value, E> {
        self.visitor.visit_u64(v)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<V::Value, E> {
        if v.is_finite() {
            self.visitor.visit_f64(v)
        } else {
            Err(E::custom(NOT_LIKE_VALUE))
        }
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<V::Value, E> {
        self.visitor.visit_str(v)
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<V::Value, E> {
        self.visitor.visit_borrowed_str(v)
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<V::Value, E> {
        self.visitor.visit_string(v)
    }
    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        if self.in_some {
            return Err(E::custom(NOT_LIKE_VALUE));
        }
        self.visitor.visit_unit()
    }
    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        self.visit_unit()
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        self.visitor.visit_seq(SeqLike { seq, cfg: self.cfg })
    }
    fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.visitor.visit_map(MapLike::new(map, self.cfg))
    }
}

struct OptionLike<V> {
    visitor: V,
    cfg: Config,
}

impl<'de, V: Visitor<'de>> Visitor<'de> for OptionLike<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.visitor.expecting(f)
    }
    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        self.visitor.visit_none()
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        self.visitor.visit_some(Strict {
            de: d,
            cfg: self.cfg,
            in_some: true,
        })
    }
}

struct EnumLike<V> {
    visitor: V,
}

impl<'de, V: Visitor<'de>> Visitor<'de> for EnumLike<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.visitor.expecting(f)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<V::Value, E> {
        self.visitor.visit_enum(v.into_deserializer())
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<V::Value, E> {
        self.visitor
            .visit_enum(de::value::BorrowedStrDeserializer::new(v))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<V::Value, E> {
        self.visitor.visit_enum(v.into_deserializer())
    }
}

struct SeqLike<A> {
    seq: A,
    cfg: Config,
}

impl<'de, A: de::SeqAccess<'de>> de::SeqAccess<'de> for SeqLike<A> {
    type Error = A::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, A::Error> {
        self.seq.next_element_seed(SeedLike {
            seed,
            cfg: self.cfg,
        })
    }
    fn size_hint(&self) -> Option<usize> {
        self.seq.size_hint()
    }
}

struct SeedLike<T> {
    seed: T,
    cfg: Config,
}

impl<'de, T: DeserializeSeed<'de>> DeserializeSeed<'de> for SeedLike<T> {
    type Value = T::Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<T::Value, D::Error> {
        self.seed.deserialize(Strict::new(d, self.cfg))
    }
}

/// Maps of up to this many keys check duplicates by a linear scan.
const SMALL_MAP: usize = 16;

/// Hashes of the keys seen so far in one mapping. Two different keys with
/// equal hashes only send the document the reference way, which then finds
/// no duplicate: still correct.
#[derive(Default)]
struct SeenKeys {
    small: Vec<u64>,
    large: HashSet<u64, BuildHasherDefault<IdentityHash>>,
}

impl SeenKeys {
    /// Records `key`; false when it was seen before.
    fn insert(&mut self, key: &str) -> bool {
        let h = fnv1a(key.as_bytes());
        if self.small.len() < SMALL_MAP {
            if self.small.contains(&h) {
                return false;
            }
            self.small.push(h);
            return true;
        }
        if self.large.is_empty() {
            self.large.extend(self.small.iter().copied());
        }
        self.large.insert(h)
    }
}

/// 64-bit FNV-1a: keys are short, and a collision only costs speed.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The set's values are already hashes.
#[derive(Default)]
struct IdentityHash(u64);

impl std::hash::Hasher for IdentityHash {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0 = fnv1a(bytes);
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

/// Map access that refuses duplicate and non-string keys.
pub(crate) struct MapLike<A> {
    map: A,
    cfg: Config,
    seen: SeenKeys,
}

impl<A> MapLike<A> {
    fn new(map: A, cfg: Config) -> Self {
        MapLike {
            map,
            cfg,
            seen: SeenKeys::default(),
        }
    }
}

impl<'de, A: de::MapAccess<'de>> de::MapAccess<'de> for MapLike<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        self.map.next_key_seed(KeySeed {
            seed,
            seen: &mut self.seen,
        })
    }
    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, A::Error> {
        self.map.next_value_seed(SeedLike {
            seed,
            cfg: self.cfg,
        })
    }
    fn size_hint(&self) -> Option<usize> {
        self.map.size_hint()
    }
}

struct KeySeed<'s, K> {
    seed: K,
    seen: &'s mut SeenKeys,
}

impl<'de, K: DeserializeSeed<'de>> DeserializeSeed<'de> for KeySeed<'_, K> {
    type Value = K::Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<K::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, K: DeserializeSeed<'de>> Visitor<'de> for KeySeed<'_, K> {
    type Value = K::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string key")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<K::Value, E> {
        if !self.seen.insert(v) {
            return Err(E::custom(NOT_LIKE_VALUE));
        }
        self.seed.deserialize(de::value::StrDeserializer::new(v))
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<K::Value, E> {
        if !self.seen.insert(v) {
            return Err(E::custom(NOT_LIKE_VALUE));
        }
        self.seed
            .deserialize(de::value::BorrowedStrDeserializer::new(v))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<K::Value, E> {
        if !self.seen.insert(&v) {
            return Err(E::custom(NOT_LIKE_VALUE));
        }
        self.seed.deserialize(de::value::StringDeserializer::new(v))
    }
}

/// A mapping whose first entries were already read: hands them to the
/// target type first, then the rest of the mapping.
pub(crate) struct Prefixed<'a, A> {
    pending: Vec<(&'static str, String)>,
    next: usize,
    map: &'a mut A,
}

impl<'a, A> Prefixed<'a, A> {
    /// `entries` are handed out in order before `map`'s own.
    pub(crate) fn new(entries: Vec<(&'static str, String)>, map: &'a mut A) -> Self {
        Prefixed {
            pending: entries,
            next: 0,
            map,
        }
    }
}

impl<'de, A: de::MapAccess<'de>> Deserializer<'de> for Prefixed<'_, A> {
    type Error = A::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, A::Error> {
        visitor.visit_map(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

impl<'de, A: de::MapAccess<'de>> de::MapAccess<'de> for Prefixed<'_, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        match self.pending.get(self.next) {
            Some((key, _)) => seed
                .deserialize(de::value::BorrowedStrDeserializer::new(key))
                .map(Some),
            None => self.map.next_key_seed(seed),
        }
    }
    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, A::Error> {
        match self.pending.get_mut(self.next) {
            Some((_, value)) => {
                self.next += 1;
                let value = std::mem::take(value);
                seed.deserialize(de::value::StringDeserializer::new(value))
            }
            None => self.map.next_value_seed(seed),
        }
    }
}
