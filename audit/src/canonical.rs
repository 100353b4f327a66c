//! Canonical JSON for payloads: compact, object keys sorted at every level.
//!
//! serde_json orders object keys by its `Map` type, which depends on a cargo feature
//! (`preserve_order`) that any crate in a build can switch on. The audit log's hashes must not
//! depend on the build, so payloads are always written through [`Canonical`], which sorts keys
//! itself. Export lines use the same form, so a reordering of keys in an exported line is a
//! detectable change like any other.

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
}
