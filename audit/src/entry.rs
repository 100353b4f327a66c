//! Audit entries and their canonical, hashed encoding.
//!
//! A caller's [`EntryDraft`] becomes a stored record once the log gives it an index and the
//! previous entry's leaf hash. The record's canonical bytes are both what the store keeps and
//! the preimage of the leaf hash; reading a record back decodes them into an [`AuditEntry`].
//!
//! Canonical encoding, version 1 (all integers big-endian; `str` is a u64 byte length then
//! that many UTF-8 bytes):
//!
//! ```text
//! u8   version        = 1
//! u64  index
//! u64  time_ms
//! str  kind
//! str  actor
//! str  payload        canonical JSON of the Value (crate::canonical): compact, keys sorted
//!                     (serde_json without `preserve_order` keeps maps in a BTreeMap)
//! u8   has_raft_index = 0 or 1, then u64 raft_index when 1
//! [32] prev_hash      leaf hash of entry index-1; all zeros for index 0
//! ```
//!
//! `leaf_hash = SHA-256(0x00 || canonical_bytes)`, an RFC 6962 / RFC 9162 leaf, so a Merkle
//! tree over the same leaf hashes needs no other encoding.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::AuditError;

/// A SHA-256 digest.
pub type Hash = [u8; 32];

/// The `prev_hash` of entry 0.
pub const ZERO_HASH: Hash = [0; 32];

/// Version byte at the start of every canonical encoding (and stored record).
pub const ENTRY_VERSION: u8 = 1;

/// Limit on `kind`: kinds are short dotted identifiers such as `policy.applied`.
pub const MAX_KIND_LEN: usize = 128;

/// Limit on `actor`: a peer id, agent id or org name, with room for a tenant prefix.
pub const MAX_ACTOR_LEN: usize = 512;

/// Limit on the serialized payload: entries record decisions and observations, not blobs.
/// 64 KiB keeps a worst-case export line (payload plus escaped kind and actor) far below
/// the verifier's 1 MiB line limit, and the log cheap to export and verify.
pub const MAX_PAYLOAD_LEN: usize = 64 * 1024;

/// What a caller appends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntryDraft {
    /// Wall-clock time of the event, milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// What happened, e.g. `agent.accepted`.
    pub kind: String,
    /// Who did it (peer, agent or org id).
    pub actor: String,
    /// Event details.
    pub payload: serde_json::Value,
    /// Raft log index of the entry that caused this one, if it was replicated.
    pub raft_index: Option<u64>,
}

/// A stored entry; its field names are the JSON field names of an export line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Position in the log, from 0.
    pub index: u64,
    /// See [`EntryDraft::time_ms`].
    pub time_ms: u64,
    /// See [`EntryDraft::kind`].
    pub kind: String,
    /// See [`EntryDraft::actor`].
    pub actor: String,
    /// See [`EntryDraft::payload`]; written as canonical JSON (keys sorted at every level).
    #[serde(serialize_with = "crate::canonical::serialize_payload")]
    pub payload: serde_json::Value,
    /// See [`EntryDraft::raft_index`].
    pub raft_index: Option<u64>,
    /// Lowercase hex of the previous entry's leaf hash (64 zeros for index 0).
    pub prev_hash: String,
    /// Lowercase hex of this entry's leaf hash.
    pub leaf_hash: String,
}

impl AuditEntry {
    /// The entry's canonical bytes (see the module docs), re-encoded from its fields; their
    /// [`leaf_hash`] is what `leaf_hash` records and what inclusion proofs prove. Fails if
    /// `prev_hash` is not 64 hex digits.
    pub fn canonical_bytes(&self) -> Result<Vec<u8>, AuditError> {
        let mut prev = ZERO_HASH;
        hex::decode_to_slice(&self.prev_hash, &mut prev)
            .map_err(|e| AuditError::Corrupt(format!("entry {}: prev_hash: {e}", self.index)))?;
        let payload_json = crate::canonical::canonical_json(&self.payload)?;
        Ok(Fields {
            index: self.index,
            time_ms: self.time_ms,
            kind: &self.kind,
            actor: &self.actor,
            payload_json: &payload_json,
            raft_index: self.raft_index,
            prev_hash: &prev,
        }
        .encode())
    }
}

/// RFC 6962 leaf hash of canonical entry bytes: `SHA-256(0x00 || canonical)`.
pub fn leaf_hash(canonical: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(canonical);
    h.finalize().into()
}

/// Lowercase hex of `hash`, as entries and exports write hashes.
pub(crate) fn hex_of(hash: &Hash) -> [u8; 64] {
    let mut out = [0u8; 64];
    hex::encode_to_slice(hash, &mut out).expect("64 bytes hold the hex of 32");
    out
}

/// [`hex_of`] as a `String` (what `hex::encode` gives, without its per-character
/// iterator, which is a visible share of an append's time).
pub(crate) fn hex_string(hash: &Hash) -> String {
    String::from_utf8_lossy(&hex_of(hash)).into_owned()
}

/// Borrowed fields of one entry, ready to be encoded.
pub(crate) struct Fields<'a> {
    pub index: u64,
    pub time_ms: u64,
    pub kind: &'a str,
    pub actor: &'a str,
    pub payload_json: &'a [u8],
    pub raft_index: Option<u64>,
    pub prev_hash: &'a Hash,
}

impl Fields<'_> {
    /// The canonical bytes described in the module docs.
    pub fn encode(&self) -> Vec<u8> {
        let strs = self.kind.len() + self.actor.len() + self.payload_json.len();
        let mut out = Vec::with_capacity(1 + 8 * 5 + 1 + 8 + 32 + strs);
        self.encode_into(&mut out);
        out
    }

    /// Appends the canonical bytes to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.push(ENTRY_VERSION);
        out.extend_from_slice(&self.index.to_be_bytes());
        out.extend_from_slice(&self.time_ms.to_be_bytes());
        for field in [self.kind.as_bytes(), self.actor.as_bytes(), self.payload_json] {
            out.extend_from_slice(&(field.len() as u64).to_be_bytes());
            out.extend_from_slice(field);
        }
        match self.raft_index {
            None => out.push(0),
            Some(i) => {
                out.push(1);
                out.extend_from_slice(&i.to_be_bytes());
            }
        }
        out.extend_from_slice(self.prev_hash);
    }
}

/// A record read back from a store, with its hashes in binary form.
#[derive(Debug)]
pub(crate) struct Stored {
    pub entry: AuditEntry,
    pub prev: Hash,
    pub leaf: Hash,
}

/// Decodes canonical bytes (a stored record) and recomputes its leaf hash.
pub(crate) fn decode(bytes: &[u8]) -> Result<Stored, AuditError> {
    let mut r = Reader(bytes);
    let version = r.take::<1>()?[0];
    if version != ENTRY_VERSION {
        return Err(AuditError::UnsupportedFormat(version));
    }
    let index = r.u64()?;
    let time_ms = r.u64()?;
    let kind = r.string()?;
    let actor = r.string()?;
    let payload = serde_json::from_slice(r.bytes()?).map_err(|e| corrupt(e.to_string()))?;
    let raft_index = match r.take::<1>()?[0] {
        0 => None,
        1 => Some(r.u64()?),
        t => return Err(corrupt(format!("raft index tag {t}"))),
    };
    let prev = r.take::<32>()?;
    if !r.0.is_empty() {
        return Err(corrupt("trailing bytes after record".into()));
    }
    let leaf = leaf_hash(bytes);
    let entry = AuditEntry {
        index,
        time_ms,
        kind,
        actor,
        payload,
        raft_index,
        prev_hash: hex_string(&prev),
        leaf_hash: hex_string(&leaf),
    };
    Ok(Stored { entry, prev, leaf })
}

fn corrupt(what: String) -> AuditError {
    AuditError::Corrupt(format!("stored record: {what}"))
}

/// Bounds-checked cursor over a record.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], AuditError> {
        let (head, rest) = self.0.split_first_chunk::<N>().ok_or_else(|| corrupt("truncated".into()))?;
        self.0 = rest;
        Ok(*head)
    }

    fn u64(&mut self) -> Result<u64, AuditError> {
        self.take::<8>().map(u64::from_be_bytes)
    }

    fn bytes(&mut self) -> Result<&'a [u8], AuditError> {
        let len = usize::try_from(self.u64()?).unwrap_or(usize::MAX);
        if len > self.0.len() {
            return Err(corrupt("field length past end".into()));
        }
        let (field, rest) = self.0.split_at(len);
        self.0 = rest;
        Ok(field)
    }

    fn string(&mut self) -> Result<String, AuditError> {
        let b = self.bytes()?;
        String::from_utf8(b.to_vec()).map_err(|e| corrupt(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(prev: &Hash) -> Vec<u8> {
        Fields {
            index: 3,
            time_ms: 1_700_000_000_000,
            kind: "policy.applied",
            actor: "org-a",
            payload_json: br#"{"a":1,"b":[true,null]}"#,
            raft_index: Some(42),
            prev_hash: prev,
        }
        .encode()
    }

    #[test]
    fn encoding_is_documented_layout() {
        let bytes = sample(&[7; 32]);
        assert_eq!(bytes[0], 1);
        assert_eq!(&bytes[1..9], &3u64.to_be_bytes());
        assert_eq!(&bytes[17..25], &14u64.to_be_bytes());
        assert_eq!(&bytes[25..39], b"policy.applied");
        assert_eq!(&bytes[bytes.len() - 32..], &[7; 32]);
        assert_eq!(bytes.len(), 1 + 8 + 8 + (8 + 14) + (8 + 5) + (8 + 23) + 1 + 8 + 32);
    }

    #[test]
    fn hex_is_lowercase_hex() {
        let hash: Hash = std::array::from_fn(|i| (i * 37) as u8);
        assert_eq!(hex_string(&hash), hex::encode(hash));
        assert_eq!(&hex_of(&hash)[..], hex::encode(hash).as_bytes());
    }

    #[test]
    fn leaf_hash_has_rfc6962_leaf_prefix() {
        let expected: Hash = Sha256::digest([&[0u8][..], b"abc"].concat()).into();
        assert_eq!(leaf_hash(b"abc"), expected);
        assert_ne!(leaf_hash(b"abc"), <Hash>::from(Sha256::digest(b"abc")));
    }

    #[test]
    fn decode_round_trips_and_rejects_damage() {
        let bytes = sample(&[7; 32]);
        let s = decode(&bytes).expect("decodes");
        assert_eq!(s.entry.canonical_bytes().expect("re-encodes"), bytes);
        let bad_prev = AuditEntry { prev_hash: "zz".into(), ..s.entry.clone() };
        assert!(bad_prev.canonical_bytes().is_err());
        assert_eq!(s.entry.index, 3);
        assert_eq!(s.entry.raft_index, Some(42));
        assert_eq!(s.prev, [7; 32]);
        assert_eq!(s.leaf, leaf_hash(&bytes));
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "prefix {cut} decoded");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode(&longer).is_err());
        let mut v2 = bytes;
        v2[0] = 2;
        assert!(matches!(decode(&v2), Err(AuditError::UnsupportedFormat(2))));
    }

    #[test]
    fn payload_keys_are_sorted() {
        let v: serde_json::Value = serde_json::from_str(r#"{"b":1,"a":2}"#).expect("json");
        assert_eq!(crate::canonical::canonical_json(&v).expect("ser"), br#"{"a":2,"b":1}"#);
    }
}
