//! Canonical JSON for payloads: compact, object keys sorted at every level.
//!
//! serde_json orders object keys by its `Map` type, which depends on a cargo feature
//! (`preserve_order`) that any crate in a build can switch on. The audit log's hashes must not
//! depend on the build, so payloads are always written through [`Canonical`], which sorts keys
//! itself. Export lines use the same form, so a reordering of keys in an exported line is a
//! detectable change like any other.
//!
//! A verifier holds JSON text, not a [`Value`]: `Transcode` writes the canonical form of a
//! JSON value straight from the parser, value by value, without building the `Value`.
//! That is the same output as parsing the text into a `Value` and writing it with
//! [`Canonical`] (the same parser reads every number and string, and every scalar is written
//! by serde_json's own serializer) as long as each object's keys come in strictly
//! increasing order, which is how canonical text has them; otherwise it says so and the
//! caller takes the `Value` route.

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::Value;

/// Serializes a [`Value`] with object keys in sorted order, whatever serde_json's map type is.
pub struct Canonical<'a>(pub &'a Value);

impl Serialize for Canonical<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Object(map) => {
                let mut entries: Vec<(&String, &Value)> = map.iter().collect();
                entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
                let mut out = serializer.serialize_map(Some(entries.len()))?;
                for (key, value) in entries {
                    out.serialize_entry(key, &Canonical(value))?;
                }
                out.end()
            }
            Value::Array(items) => {
                let mut out = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    out.serialize_element(&Canonical(item))?;
                }
                out.end()
            }
            scalar => scalar.serialize(serializer),
        }
    }
}

/// The canonical JSON bytes of `value`.
pub fn canonical_json(value: &Value) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(&Canonical(value))
}

/// Writes the value the parser hands it, as [`Canonical`] would write it, onto `out`, and
/// clears `ordered` if some object's keys are not in strictly increasing order (then what
/// it wrote is not the canonical form).
pub(crate) struct Transcode<'a> {
    pub out: &'a mut Vec<u8>,
    pub ordered: &'a mut bool,
}

/// Writes `text` as a JSON string, as serde_json writes it. A string the parser `lent` from
/// its input had no escapes, so it has no quote, backslash or control character (those must
/// be escaped in JSON) and serde_json would write it as it is: it is copied between quotes
/// without scanning it again.
pub(crate) fn write_str(out: &mut Vec<u8>, text: &str, lent: bool) -> Result<(), serde_json::Error> {
    if !lent {
        return serde_json::to_writer(out, text);
    }
    out.push(b'"');
    out.extend_from_slice(text.as_bytes());
    out.push(b'"');
    Ok(())
}

impl Transcode<'_> {
    fn scalar<T: Serialize + ?Sized, E: serde::de::Error>(self, value: &T) -> Result<(), E> {
        serde_json::to_writer(&mut *self.out, value).map_err(E::custom)
    }
}

impl<'de> DeserializeSeed<'de> for Transcode<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Transcode<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<(), E> {
        self.scalar(&v)
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<(), E> {
        self.scalar(&Value::from(v))
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<(), E> {
        self.scalar(&Value::from(v))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<(), E> {
        // As `Value` holds it: a non-finite float would be `null`.
        self.scalar(&Value::from(v))
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<(), E> {
        self.scalar(v)
    }

    fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<(), E> {
        write_str(self.out, v, true).map_err(E::custom)
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        self.scalar(&Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.out.push(b'[');
        let mut first = true;
        loop {
            let at = self.out.len();
            if !first {
                self.out.push(b',');
            }
            if seq.next_element_seed(Transcode { out: &mut *self.out, ordered: &mut *self.ordered })?.is_none() {
                self.out.truncate(at);
                break;
            }
            first = false;
        }
        self.out.push(b']');
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.out.push(b'{');
        let mut last: Option<Cow<'de, str>> = None;
        while let Some(key) = map.next_key_seed(Text)? {
            if last.as_ref().is_some_and(|l| *l >= key) {
                *self.ordered = false;
            }
            if last.is_some() {
                self.out.push(b',');
            }
            write_str(self.out, &key, matches!(key, Cow::Borrowed(_))).map_err(serde::de::Error::custom)?;
            self.out.push(b':');
            map.next_value_seed(Transcode { out: &mut *self.out, ordered: &mut *self.ordered })?;
            last = Some(key);
        }
        self.out.push(b'}');
        Ok(())
    }
}

/// A JSON string, borrowed from the text unless it has escapes.
pub(crate) struct Text;

impl<'de> DeserializeSeed<'de> for Text {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Text {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }
}

/// `serialize_with` helper for payload fields.
pub fn serialize_payload<S: Serializer>(value: &Value, serializer: S) -> Result<S::Ok, S::Error> {
    Canonical(value).serialize(serializer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_sorted_at_every_level_whatever_the_input_order() {
        let mut inner = serde_json::Map::new();
        inner.insert("z".into(), Value::from(1));
        inner.insert("a".into(), Value::from(2));
        let mut outer = serde_json::Map::new();
        outer.insert("b".into(), Value::Array(vec![Value::Object(inner)]));
        outer.insert("a".into(), Value::Null);
        let bytes = canonical_json(&Value::Object(outer)).expect("json");
        assert_eq!(bytes, br#"{"a":null,"b":[{"a":2,"z":1}]}"#);
    }

    /// The canonical form of JSON text `text` by [`Transcode`], and whether its keys were in
    /// order.
    fn canonical_text(text: &str, out: &mut Vec<u8>) -> Result<bool, serde_json::Error> {
        let mut de = serde_json::Deserializer::from_str(text);
        let mut ordered = true;
        Transcode { out, ordered: &mut ordered }.deserialize(&mut de)?;
        de.end()?;
        Ok(ordered)
    }

    /// What `canonical_text` must agree with: parse into a `Value`, write canonically.
    fn via_value(text: &str) -> Vec<u8> {
        canonical_json(&serde_json::from_str(text).expect("json")).expect("ser")
    }

    #[test]
    fn text_in_canonical_order_is_rewritten_as_its_value_would_be() {
        let texts = [
            r#"{"a":[1,-2,2.5,1e300,-0,0.1,18446744073709551615,-9223372036854775808],"b":"\u00e9\n\"","c":{}}"#,
            r#" { "a" : [ true , false , null , [ ] , { "x" : "y" } ] } "#,
            r#""\ud83d\ude00 \/ \u0001""#,
            "12",
            "[]",
            r#"{"\u0041":1,"B":2}"#,
        ];
        for text in texts {
            let mut out = Vec::new();
            assert!(canonical_text(text, &mut out).expect("json"), "{text}");
            assert_eq!(String::from_utf8_lossy(&out), String::from_utf8_lossy(&via_value(text)), "{text}");
        }
    }

    #[test]
    fn keys_out_of_order_or_twice_are_reported() {
        for text in [r#"{"b":1,"a":2}"#, r#"{"a":1,"a":2}"#, r#"[{"a":{"d":1,"c":2}}]"#] {
            assert_eq!(canonical_text(text, &mut Vec::new()).ok(), Some(false), "{text}");
        }
        for bad in ["{", r#"{"a":1}x"#, "1e400", ""] {
            assert!(canonical_text(bad, &mut Vec::new()).is_err(), "{bad}");
            assert!(serde_json::from_str::<Value>(bad).is_err(), "{bad}");
        }
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        fn json() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                any::<i64>().prop_map(Value::from),
                any::<u64>().prop_map(Value::from),
                any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f).map(Value::Number)),
                ".{0,6}".prop_map(Value::String),
            ];
            leaf.prop_recursive(3, 24, 5, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                    prop::collection::btree_map(".{0,4}", inner, 0..5)
                        .prop_map(|m| Value::Object(m.into_iter().collect())),
                ]
            })
        }

        proptest! {
            #[test]
            fn canonical_text_agrees_with_the_value(value in json(), pretty in any::<bool>()) {
                let text = if pretty {
                    serde_json::to_string_pretty(&value).expect("json")
                } else {
                    String::from_utf8(canonical_json(&value).expect("json")).expect("utf8")
                };
                let mut out = Vec::new();
                prop_assert!(canonical_text(&text, &mut out).expect("json"));
                prop_assert_eq!(out, via_value(&text));
            }
        }
    }
}
