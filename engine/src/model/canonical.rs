//! A JSON value read straight into its canonical text: object keys sorted,
//! no whitespace, strings and numbers written as serde_json writes them. The
//! text is byte for byte what parsing into a `serde_json::Value` and writing
//! it back gives (a later duplicate key wins, as there), without building the
//! tree and dropping it again: an event's payload is parsed once, on the way
//! in, and only its text is kept (stored, signed, compared for repeats).
//!
//! The parsing is serde_json's own (its grammar, limits and error messages);
//! only the writing is done here, through serde_json's serializer.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// A JSON value as its canonical text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanonicalJson {
    text: String,
}

impl CanonicalJson {
    /// Whether the value is a JSON object.
    pub fn is_object(&self) -> bool {
        // Canonical text has no leading space: an object's starts with `{`.
        self.text.starts_with('{')
    }

    /// The canonical text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn into_text(self) -> String {
        self.text
    }
}

impl From<&Value> for CanonicalJson {
    fn from(value: &Value) -> Self {
        Self {
            // serde_json keeps a `Value`'s keys sorted: this is the same text.
            text: serde_json::to_string(value).expect("a JSON value always serializes"),
        }
    }
}

impl From<Value> for CanonicalJson {
    fn from(value: Value) -> Self {
        Self::from(&value)
    }
}

impl Serialize for CanonicalJson {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // Not on any hot path: the text is read back as a value.
        let value: Value = serde_json::from_str(&self.text).map_err(serde::ser::Error::custom)?;
        value.serialize(s)
    }
}

impl<'de> Deserialize<'de> for CanonicalJson {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Room for a typical event's payload without growing.
        let mut out = Vec::with_capacity(256);
        Writer {
            out: &mut out,
            members: &mut Vec::new(),
        }
        .deserialize(d)?;
        // Only serde_json's serializer wrote here, and it writes UTF-8.
        let text = String::from_utf8(out).map_err(de::Error::custom)?;
        Ok(Self { text })
    }
}

fn written<E: de::Error>(result: serde_json::Result<()>) -> Result<(), E> {
    result.map_err(E::custom)
}

/// An object's member as written: its key, and where `"key":value` is.
type Member<'de> = (Cow<'de, str>, Range<usize>);

/// Writes the value it reads onto `out`.
/// `members` is a stack the objects being read share: each uses the part
/// above where it found it, and leaves it as it found it.
struct Writer<'a, 'de> {
    out: &'a mut Vec<u8>,
    members: &'a mut Vec<Member<'de>>,
}

impl<'de> Writer<'_, 'de> {
    fn json(&mut self) -> serde_json::Serializer<&mut Vec<u8>> {
        serde_json::Serializer::new(&mut *self.out)
    }

    fn inner(&mut self) -> Writer<'_, 'de> {
        Writer {
            out: self.out,
            members: self.members,
        }
    }
}

impl<'de> DeserializeSeed<'de> for Writer<'_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Writer<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(mut self, v: bool) -> Result<(), E> {
        written(self.json().serialize_bool(v))?;
        Ok(())
    }

    fn visit_i64<E: de::Error>(mut self, v: i64) -> Result<(), E> {
        written(self.json().serialize_i64(v))?;
        Ok(())
    }

    fn visit_u64<E: de::Error>(mut self, v: u64) -> Result<(), E> {
        written(self.json().serialize_u64(v))?;
        Ok(())
    }

    fn visit_f64<E: de::Error>(mut self, v: f64) -> Result<(), E> {
        // As `Value` does: a number JSON cannot hold is null.
        match serde_json::Number::from_f64(v) {
            Some(n) => written(n.serialize(&mut self.json()))?,
            None => self.out.extend_from_slice(b"null"),
        }
        Ok(())
    }

    fn visit_str<E: de::Error>(mut self, v: &str) -> Result<(), E> {
        written(self.json().serialize_str(v))?;
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.out.extend_from_slice(b"null");
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        self.out.push(b'[');
        let start = self.out.len();
        while seq.next_element_seed(self.inner())?.is_some() {
            self.out.push(b',');
        }
        if self.out.len() > start {
            self.out.pop();
        }
        self.out.push(b']');
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        // Each member is written as it is read, `"key":value,`; an object
        // whose keys came sorted and unrepeated is then done. Otherwise it is
        // put together again from those pieces in key order.
        let start = self.out.len();
        let base = self.members.len();
        self.out.push(b'{');
        let mut in_order = true;
        while let Some(Key(key)) = map.next_key()? {
            let from = self.out.len();
            written(self.json().serialize_str(&key))?;
            self.out.push(b':');
            map.next_value_seed(self.inner())?;
            in_order &= self.members.len() == base
                || self.members.last().is_some_and(|(last, _)| *last < key);
            self.members.push((key, from..self.out.len()));
            self.out.push(b',');
        }
        if in_order {
            self.members.truncate(base);
            if self.out.len() > start + 1 {
                self.out.pop();
            }
            self.out.push(b'}');
            return Ok(());
        }
        let members = &mut self.members[base..];
        // Stable: among equal keys the last one read is last, and wins.
        members.sort_by(|a, b| a.0.cmp(&b.0));
        let mut object = Vec::with_capacity(self.out.len() - start);
        object.push(b'{');
        for (i, (key, member)) in members.iter().enumerate() {
            if members.get(i + 1).is_some_and(|next| next.0 == *key) {
                continue;
            }
            if object.len() > 1 {
                object.push(b',');
            }
            object.extend_from_slice(&self.out[member.clone()]);
        }
        object.push(b'}');
        self.members.truncate(base);
        self.out.truncate(start);
        self.out.extend_from_slice(&object);
        Ok(())
    }
}

/// An object key, borrowed from the input when it holds no escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

#[cfg(all(test, feature = "server"))]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// What the canonical text must equal: serde_json's own round trip.
    fn through_value(text: &str) -> String {
        serde_json::to_string(&serde_json::from_str::<Value>(text).unwrap()).unwrap()
    }

    fn canonical(text: &str) -> CanonicalJson {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn keys_are_sorted_and_whitespace_goes() {
        let c = canonical(r#" { "b" : [1, 2 , {"z":null,"a":true}], "a": "x" } "#);
        assert_eq!(c.as_str(), r#"{"a":"x","b":[1,2,{"a":true,"z":null}]}"#);
        assert!(c.is_object());
        assert!(!canonical("[1]").is_object());
        assert!(!canonical("\"s\"").is_object());
    }

    #[test]
    fn keys_that_come_sorted_are_kept_as_they_came() {
        let text = r#"{"a":{"x":1,"y":[{"p":1,"q":2}]},"b":"2","c":[]}"#;
        assert_eq!(canonical(text).as_str(), text);
        let nested_unsorted = r#"{"a":{"y":1,"x":2},"b":1}"#;
        assert_eq!(
            canonical(nested_unsorted).as_str(),
            r#"{"a":{"x":2,"y":1},"b":1}"#
        );
    }

    #[test]
    fn the_last_of_duplicate_keys_wins_as_in_a_value() {
        let text = r#"{"k":1,"a":0,"k":2,"k":{"x":3}}"#;
        assert_eq!(canonical(text).as_str(), through_value(text));
        assert_eq!(canonical(text).as_str(), r#"{"a":0,"k":{"x":3}}"#);
    }

    #[test]
    fn strings_and_numbers_are_written_as_serde_json_writes_them() {
        for text in [
            r#"{"s":"tab\there \u00e9 \ud83d\ude00 \/ \" \\ \u0001"}"#,
            r#"{"\u0062":1,"a\n":2,"é":3,"e":4}"#,
            r#"[0, -0, 1.0, 1e3, -2.5E-3, 18446744073709551615, -9223372036854775808, 1.7976931348623157e308, 5e-324, 0.1]"#,
            r#"{}"#,
            r#"[]"#,
            r#"[[],{},[{}]]"#,
            "null",
        ] {
            assert_eq!(canonical(text).as_str(), through_value(text), "{text}");
        }
    }

    #[test]
    fn what_serde_json_refuses_is_refused() {
        for text in [
            r#"{"a":}"#,
            r#"{"a":1"#,
            "[1,]",
            r#"{"a":1,}"#,
            "nan",
            "\"\\x\"",
        ] {
            assert!(
                serde_json::from_str::<CanonicalJson>(text).is_err(),
                "{text}"
            );
            assert!(serde_json::from_str::<Value>(text).is_err(), "{text}");
        }
        let deep = "[".repeat(200) + &"]".repeat(200);
        assert!(
            serde_json::from_str::<CanonicalJson>(&deep).is_err(),
            "the same depth limit"
        );
    }

    /// A random value, written out with random spacing, key order and
    /// repeated keys.
    fn random_text(rng: &mut StdRng, depth: u32, out: &mut String) {
        let space = |rng: &mut StdRng, out: &mut String| {
            for _ in 0..rng.gen_range(0..3) {
                out.push([' ', '\n', '\t', '\r'][rng.gen_range(0..4)]);
            }
        };
        space(rng, out);
        let kinds = if depth >= 4 { 5 } else { 7 };
        match rng.gen_range(0..kinds) {
            0 => out.push_str(["null", "true", "false"][rng.gen_range(0..3)]),
            1 => out.push_str(&rng.gen_range(-1_000_000i64..1_000_000).to_string()),
            2 => {
                let n: f64 = rng.gen_range(-1e6..1e6) * 10f64.powi(rng.gen_range(-20..20));
                out.push_str(&format!("{n:e}"));
            }
            3 | 4 => random_string(rng, out),
            5 => {
                out.push('[');
                for i in 0..rng.gen_range(0..5) {
                    if i > 0 {
                        out.push(',');
                    }
                    random_text(rng, depth + 1, out);
                }
                space(rng, out);
                out.push(']');
            }
            _ => {
                out.push('{');
                for i in 0..rng.gen_range(0..6) {
                    if i > 0 {
                        out.push(',');
                    }
                    space(rng, out);
                    random_string(rng, out);
                    space(rng, out);
                    out.push(':');
                    random_text(rng, depth + 1, out);
                }
                space(rng, out);
                out.push('}');
            }
        }
        space(rng, out);
    }

    /// Short strings from a small alphabet (so keys repeat), with escapes.
    fn random_string(rng: &mut StdRng, out: &mut String) {
        out.push('"');
        for _ in 0..rng.gen_range(0..4) {
            let piece = [
                "a",
                "b",
                "B",
                "é",
                "\\n",
                "\\\"",
                "\\u0041",
                "\\u00e9",
                "\\ud83d\\ude00",
                "😀",
                "\\\\",
                "\\/",
                " ",
            ];
            out.push_str(piece[rng.gen_range(0..piece.len())]);
        }
        out.push('"');
    }

    #[test]
    fn random_values_give_the_text_a_parsed_value_gives() {
        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..5_000 {
            let mut text = String::new();
            random_text(&mut rng, 0, &mut text);
            assert_eq!(canonical(&text).as_str(), through_value(&text), "{text}");
        }
    }

    #[test]
    fn a_value_becomes_the_same_text() {
        let value = serde_json::json!({"b": [1, {"d": 2, "c": 3}], "a": "x"});
        let from_value = CanonicalJson::from(&value);
        assert_eq!(from_value, canonical(&value.to_string()));
        assert_eq!(serde_json::to_value(&from_value).unwrap(), value);
    }
}
