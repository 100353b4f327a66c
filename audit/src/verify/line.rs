//! The check of one entry line, as a verifier thread runs it.
//!
//! The line is parsed in one pass, its strings borrowed where they have no escapes, and its
//! payload written in canonical form straight from the parser as it goes
//! ([`crate::canonical::Transcode`], no `Value` built): that is the payload JSON the leaf
//! hash covers (unless the payload's keys are out of order: then the line is not canonical,
//! and the payload is parsed into a `Value` to get it). Last, the entry is written again as
//! the export writes it, around that payload, and must equal the line byte for byte.
//! Problems are found in a fixed order, the first one reported: not an entry, wrong index,
//! wrong `prev_hash`, wrong `leaf_hash`, not canonical.
//!
//! The first line a thread checks comes without the previous entry's hash (another thread
//! has it): its leaf hash is computed with the `prev_hash` the line claims, which the caller
//! compares with the real one, so a wrong claim is still a [`Problem::PrevHashMismatch`].

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, Error as _, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;

use super::Problem;
use crate::canonical::{write_str, Canonical, Text, Transcode};
use crate::entry::{hex_of, leaf_hash, Fields};
use crate::{AuditEntry, Hash};

/// An entry line as parsed: every field of [`crate::AuditEntry`] but the payload (written
/// out while parsing), strings borrowed where the JSON has no escapes.
struct LineIn<'a> {
    index: u64,
    time_ms: u64,
    kind: Cow<'a, str>,
    actor: Cow<'a, str>,
    raft_index: Option<u64>,
    prev_hash: Cow<'a, str>,
    leaf_hash: Cow<'a, str>,
}

/// The field names of an entry line; any other is skipped (and makes the line
/// non-canonical).
#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum Field {
    Index,
    TimeMs,
    Kind,
    Actor,
    Payload,
    RaftIndex,
    PrevHash,
    LeafHash,
    #[serde(other)]
    Other,
}

/// Parses an entry line, writing the payload as [`Transcode`] does.
struct LineSeed<'s> {
    payload: &'s mut Vec<u8>,
    ordered: &'s mut bool,
}

impl<'de> DeserializeSeed<'de> for LineSeed<'_> {
    type Value = LineIn<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<LineIn<'de>, D::Error> {
        deserializer.deserialize_map(self)
    }
}

/// Sets a field seen for the first time.
fn once<T, E: serde::de::Error>(slot: &mut Option<T>, value: T, name: &'static str) -> Result<(), E> {
    match slot.replace(value) {
        None => Ok(()),
        Some(_) => Err(E::duplicate_field(name)),
    }
}

impl<'de> Visitor<'de> for LineSeed<'_> {
    type Value = LineIn<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an audit entry object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<LineIn<'de>, A::Error> {
        let (mut index, mut time_ms, mut kind, mut actor, mut raft_index, mut prev_hash, mut leaf_hash) =
            (None, None, None, None, None, None, None);
        let mut payload = false;
        while let Some(field) = map.next_key::<Field>()? {
            match field {
                Field::Index => once(&mut index, map.next_value()?, "index")?,
                Field::TimeMs => once(&mut time_ms, map.next_value()?, "time_ms")?,
                Field::Kind => once(&mut kind, map.next_value_seed(Text)?, "kind")?,
                Field::Actor => once(&mut actor, map.next_value_seed(Text)?, "actor")?,
                Field::RaftIndex => once(&mut raft_index, map.next_value::<Option<u64>>()?, "raft_index")?,
                Field::PrevHash => once(&mut prev_hash, map.next_value_seed(Text)?, "prev_hash")?,
                Field::LeafHash => once(&mut leaf_hash, map.next_value_seed(Text)?, "leaf_hash")?,
                Field::Payload if payload => return Err(A::Error::duplicate_field("payload")),
                Field::Payload => {
                    map.next_value_seed(Transcode { out: &mut *self.payload, ordered: &mut *self.ordered })?;
                    payload = true;
                }
                Field::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if !payload {
            return Err(A::Error::missing_field("payload"));
        }
        Ok(LineIn {
            index: index.ok_or_else(|| A::Error::missing_field("index"))?,
            time_ms: time_ms.ok_or_else(|| A::Error::missing_field("time_ms"))?,
            kind: kind.ok_or_else(|| A::Error::missing_field("kind"))?,
            actor: actor.ok_or_else(|| A::Error::missing_field("actor"))?,
            raft_index: raft_index.flatten(),
            prev_hash: prev_hash.ok_or_else(|| A::Error::missing_field("prev_hash"))?,
            leaf_hash: leaf_hash.ok_or_else(|| A::Error::missing_field("leaf_hash"))?,
        })
    }
}

/// Parses `line` into its fields, writing the canonical payload JSON onto `payload`.
fn parse_line<'a>(line: &'a [u8], payload: &mut Vec<u8>) -> Result<LineIn<'a>, serde_json::Error> {
    payload.clear();
    let mut ordered = true;
    let mut de = serde_json::Deserializer::from_slice(line);
    let parsed = LineSeed { payload: &mut *payload, ordered: &mut ordered }.deserialize(&mut de)?;
    de.end()?;
    if !ordered {
        // Keys out of order or repeated: what the leaf hash covers is the canonical form of
        // the payload's value.
        let entry: AuditEntry = serde_json::from_slice(line)?;
        payload.clear();
        serde_json::to_writer(&mut *payload, &Canonical(&entry.payload))?;
    }
    Ok(parsed)
}

/// Buffers reused from line to line.
#[derive(Default)]
pub(super) struct Scratch {
    payload: Vec<u8>,
    record: Vec<u8>,
    line: Vec<u8>,
}

/// The previous entry's leaf hash, as far as the checking thread knows it.
pub(super) enum Prev<'a> {
    /// The line's `prev_hash` must be this hash.
    Known(&'a Hash),
    /// Unknown here: the line's `prev_hash` is taken as written (if it is hex at all) and
    /// stored in the `String` for the caller to compare.
    Claimed(&'a mut Option<String>),
}

/// Checks entry line `line`, which must be entry `index` following `prev`, and returns its
/// leaf hash.
pub(super) fn check_entry(line: &[u8], index: u64, prev: Prev<'_>, scratch: &mut Scratch) -> Result<Hash, Problem> {
    let malformed = |e: serde_json::Error| Problem::MalformedEntry(e.to_string());
    let e = parse_line(line, &mut scratch.payload).map_err(malformed)?;
    if e.index != index {
        return Err(Problem::IndexOutOfOrder { expected: index, found: e.index });
    }
    let prev_hash = match prev {
        Prev::Known(expected) => {
            if e.prev_hash.as_bytes() != hex_of(expected) {
                return Err(Problem::PrevHashMismatch { expected: hex::encode(expected), found: e.prev_hash.into() });
            }
            *expected
        }
        Prev::Claimed(claimed) => {
            *claimed = Some(e.prev_hash.to_string());
            let mut hash = [0; 32];
            // Not hex: the caller reports the mismatch with the hash it expected.
            hex::decode_to_slice(e.prev_hash.as_bytes(), &mut hash)
                .map_err(|_| Problem::PrevHashMismatch { expected: String::new(), found: e.prev_hash.to_string() })?;
            hash
        }
    };
    scratch.record.clear();
    Fields {
        index,
        time_ms: e.time_ms,
        kind: &e.kind,
        actor: &e.actor,
        payload_json: &scratch.payload,
        raft_index: e.raft_index,
        prev_hash: &prev_hash,
    }
    .encode_into(&mut scratch.record);
    let leaf = leaf_hash(&scratch.record);
    if e.leaf_hash.as_bytes() != hex_of(&leaf) {
        return Err(Problem::LeafHashMismatch { recorded: e.leaf_hash.into(), computed: hex::encode(leaf) });
    }
    write_line(&e, &scratch.payload, &prev_hash, &leaf, &mut scratch.line).map_err(malformed)?;
    if scratch.line != line {
        return Err(Problem::NonCanonical);
    }
    Ok(leaf)
}

/// Writes `e` as [`crate::AuditEntry`]'s serialization does (same fields, names and order;
/// every value by serde_json's serializer) with `payload` as the payload, onto `out`; the
/// hashes as the hex of `prev_hash` and `leaf`, which is what the line's hash strings are
/// by the time this runs (else an earlier problem is reported).
fn write_line(
    e: &LineIn<'_>,
    payload: &[u8],
    prev_hash: &Hash,
    leaf: &Hash,
    out: &mut Vec<u8>,
) -> Result<(), serde_json::Error> {
    out.clear();
    out.extend_from_slice(b"{\"index\":");
    serde_json::to_writer(&mut *out, &e.index)?;
    out.extend_from_slice(b",\"time_ms\":");
    serde_json::to_writer(&mut *out, &e.time_ms)?;
    out.extend_from_slice(b",\"kind\":");
    write_str(out, &e.kind, matches!(e.kind, Cow::Borrowed(_)))?;
    out.extend_from_slice(b",\"actor\":");
    write_str(out, &e.actor, matches!(e.actor, Cow::Borrowed(_)))?;
    out.extend_from_slice(b",\"payload\":");
    out.extend_from_slice(payload);
    out.extend_from_slice(b",\"raft_index\":");
    serde_json::to_writer(&mut *out, &e.raft_index)?;
    for (name, hash) in [(&b",\"prev_hash\":\""[..], prev_hash), (&b"\",\"leaf_hash\":\""[..], leaf)] {
        out.extend_from_slice(name);
        out.extend_from_slice(&hex_of(hash));
    }
    out.extend_from_slice(b"\"}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::AuditEntry;

    fn entry() -> AuditEntry {
        let fields = Fields {
            index: 4,
            time_ms: 9,
            kind: "k\"ind",
            actor: "act\u{e9}\n",
            payload_json: br#"{"a":[1,2.5,null],"b":"\u0001"}"#,
            raft_index: Some(3),
            prev_hash: &[7; 32],
        };
        AuditEntry {
            index: 4,
            time_ms: 9,
            kind: "k\"ind".into(),
            actor: "act\u{e9}\n".into(),
            payload: json!({ "b": "\u{1}", "a": [1, 2.5, null] }),
            raft_index: Some(3),
            prev_hash: hex::encode([7; 32]),
            leaf_hash: hex::encode(leaf_hash(&fields.encode())),
        }
    }

    #[test]
    fn the_line_the_export_writes_checks_out_with_a_known_or_a_claimed_prev() {
        let e = entry();
        let line = serde_json::to_vec(&e).expect("json");
        let mut scratch = Scratch::default();
        let leaf = check_entry(&line, 4, Prev::Known(&[7; 32]), &mut scratch).expect("valid");
        assert_eq!(hex::encode(leaf), e.leaf_hash);
        let mut claimed = None;
        assert_eq!(check_entry(&line, 4, Prev::Claimed(&mut claimed), &mut scratch), Ok(leaf));
        assert_eq!(claimed, Some(e.prev_hash));
    }

    #[test]
    fn problems_come_in_their_order() {
        let e = entry();
        let line = serde_json::to_vec(&e).expect("json");
        let mut scratch = Scratch::default();
        let mut check = |line: &[u8], index, prev: &Hash| check_entry(line, index, Prev::Known(prev), &mut scratch);
        assert!(matches!(check(b"{}", 4, &[7; 32]), Err(Problem::MalformedEntry(_))));
        assert_eq!(check(&line, 5, &[8; 32]), Err(Problem::IndexOutOfOrder { expected: 5, found: 4 }));
        assert!(matches!(check(&line, 4, &[8; 32]), Err(Problem::PrevHashMismatch { .. })));
        let spaced = String::from_utf8(line.clone()).expect("utf8").replace("[1,", "[1, ");
        assert_eq!(check(spaced.as_bytes(), 4, &[7; 32]), Err(Problem::NonCanonical), "payload spacing");
        let reordered = String::from_utf8(line.clone())
            .expect("utf8")
            .replace(r#""index":4,"time_ms":9"#, r#""time_ms":9,"index":4"#);
        assert_eq!(check(reordered.as_bytes(), 4, &[7; 32]), Err(Problem::NonCanonical), "field order");
        let mut v: serde_json::Value = serde_json::from_slice(&line).expect("json");
        v["extra"] = json!(1);
        assert_eq!(check(&serde_json::to_vec(&v).expect("json"), 4, &[7; 32]), Err(Problem::NonCanonical));
        v["kind"] = json!("other");
        assert!(matches!(
            check(&serde_json::to_vec(&v).expect("json"), 4, &[7; 32]),
            Err(Problem::LeafHashMismatch { .. })
        ));
        let mut claimed = None;
        let bad_prev = String::from_utf8(line).expect("utf8").replace(&"07".repeat(32), &"zz".repeat(32));
        let r = check_entry(bad_prev.as_bytes(), 4, Prev::Claimed(&mut claimed), &mut Scratch::default());
        assert!(matches!(r, Err(Problem::PrevHashMismatch { .. })));
        assert_eq!(claimed, Some("zz".repeat(32)));
    }
}
