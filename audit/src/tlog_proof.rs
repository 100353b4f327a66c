//! One-file proofs that an entry is in a node's log, in the C2SP `tlog-proof` format.
//!
//! ```text
//! c2sp.org/tlog-proof@v1
//! extra <base64 of the entry's canonical bytes>
//! index <entry index>
//! <base64 inclusion proof hash, leaf's sibling first>
//! ...
//!
//! <the checkpoint note, verbatim, with its cosignature lines>
//! ```
//!
//! The `extra` line carries the entry itself (its canonical bytes, see [`crate::entry`]), so
//! the proof stands alone: [`verify_tlog_proof`] recomputes the leaf hash from those bytes,
//! checks the inclusion proof against the checkpoint's root, the checkpoint's signature by
//! the log's key, and the cosignatures of the trusted witnesses it is given. The extra data
//! is not trusted on its own: only its hash, proven into the signed root, is.
//!
//! [`TlogProof::parse`] bounds the input ([`MAX_PROOF_LEN`], at most 64 proof hashes, the
//! size of a tree of 2^64 leaves) and every malformation is a [`TlogProofError`].

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::checkpoint::{parse_decimal, verify_checkpoint, Checkpoint};
use crate::cosign::verify_cosignature;
use crate::entry::{decode, leaf_hash, AuditEntry, Hash};
use crate::note::{NoteError, MAX_NOTE_LEN};
use crate::proof::{verify_inclusion, ProofError};
use crate::{AuditError, AuditLog, AuditStore};

/// First line of every proof.
pub const TLOG_PROOF_HEADER: &str = "c2sp.org/tlog-proof@v1";

/// Longest proof accepted: an entry of at most 64 KiB payload in base64, 64 hashes and a
/// checkpoint note.
pub const MAX_PROOF_LEN: usize = 128 * 1024 + MAX_NOTE_LEN;

/// Most inclusion proof hashes: one per level of a tree of 2^64 leaves.
const MAX_PROOF_HASHES: usize = 64;

/// A parsed (not yet verified) proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlogProof {
    /// The entry's canonical bytes (the `extra` line).
    pub entry: Vec<u8>,
    /// The entry's index in the log.
    pub index: u64,
    /// The inclusion proof, leaf's sibling first.
    pub hashes: Vec<Hash>,
    /// The checkpoint note the proof is against, with its cosignatures.
    pub checkpoint_note: String,
}

/// Why a proof was refused.
#[derive(Debug, thiserror::Error)]
pub enum TlogProofError {
    /// The file is not a well-formed proof.
    #[error("malformed proof: {0}")]
    Malformed(String),
    /// The checkpoint or a cosignature does not verify.
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] NoteError),
    /// The checkpoint is of another log than the one the verifier trusts.
    #[error("the checkpoint is of log {found:?}, not {expected:?}")]
    WrongLog {
        /// The origin the verifier expected.
        expected: String,
        /// The origin in the checkpoint.
        found: String,
    },
    /// The entry bytes do not decode, or name another index than the proof.
    #[error("entry: {0}")]
    Entry(String),
    /// The inclusion proof does not lead to the checkpoint's root.
    #[error("inclusion proof: {0}")]
    Inclusion(#[from] ProofError),
    /// Fewer trusted witnesses cosigned the checkpoint than required.
    #[error("{found} trusted witness(es) cosigned the checkpoint, {required} required")]
    TooFewCosigners {
        /// Valid cosignatures by trusted witnesses.
        found: usize,
        /// The minimum asked for.
        required: usize,
    },
}

/// A public key the verifier trusts, with the note key name it signs under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedKey {
    /// The key name (an OSSA log's origin, `<federation>/<org>`).
    pub name: String,
    /// The ed25519 public key.
    pub public_key: [u8; 32],
}

/// What a verified proof shows.
#[derive(Debug, Clone, PartialEq)]
pub struct ProvenEntry {
    /// The entry, decoded from the proof.
    pub entry: AuditEntry,
    /// The checkpoint it is proven against.
    pub checkpoint: Checkpoint,
    /// Names of the trusted witnesses whose cosignatures verified.
    pub cosigners: Vec<String>,
}

impl TlogProof {
    /// The proof as text.
    pub fn encode(&self) -> String {
        let mut out = format!("{TLOG_PROOF_HEADER}\nextra {}\nindex {}\n", STANDARD.encode(&self.entry), self.index);
        for hash in &self.hashes {
            out.push_str(&STANDARD.encode(hash));
            out.push('\n');
        }
        out.push('\n');
        out.push_str(&self.checkpoint_note);
        out
    }

    /// Parses a proof; checks its shape, not its hashes or signatures.
    pub fn parse(text: &str) -> Result<Self, TlogProofError> {
        let bad = |what: &str| TlogProofError::Malformed(what.to_owned());
        if text.len() > MAX_PROOF_LEN {
            return Err(bad(&format!("{} bytes, the limit is {MAX_PROOF_LEN}", text.len())));
        }
        let (head, checkpoint_note) =
            text.split_once("\n\n").ok_or_else(|| bad("no blank line before the checkpoint"))?;
        let mut lines = head.split('\n');
        if lines.next() != Some(TLOG_PROOF_HEADER) {
            return Err(bad(&format!("the first line is not {TLOG_PROOF_HEADER:?}")));
        }
        let extra = lines
            .next()
            .and_then(|l| l.strip_prefix("extra "))
            .ok_or_else(|| bad("no `extra` line: an OSSA proof carries the entry's canonical bytes in it"))?;
        let entry = STANDARD.decode(extra).map_err(|_| bad("the extra line is not base64"))?;
        let index = lines.next().and_then(|l| l.strip_prefix("index ")).ok_or_else(|| bad("no `index` line"))?;
        let index = parse_decimal(index).ok_or_else(|| bad("the index is not a decimal u64"))?;
        let mut hashes = Vec::new();
        for line in lines {
            if hashes.len() == MAX_PROOF_HASHES {
                return Err(bad(&format!("more than {MAX_PROOF_HASHES} proof hashes")));
            }
            let decoded = STANDARD.decode(line).map_err(|_| bad("a proof hash is not base64"))?;
            hashes.push(Hash::try_from(decoded.as_slice()).map_err(|_| bad("a proof hash is not 32 bytes"))?);
        }
        Ok(Self { entry, index, hashes, checkpoint_note: checkpoint_note.to_owned() })
    }
}

/// Builds the proof that entry `index` is in the tree of the signed `checkpoint_note` (which
/// must be a checkpoint of this log, at a size the log has reached).
pub fn prove_entry<S: AuditStore>(
    log: &AuditLog<S>,
    index: u64,
    checkpoint_note: &str,
) -> Result<TlogProof, AuditError> {
    let checkpoint = crate::parse_checkpoint(checkpoint_note)
        .map_err(|e| AuditError::InvalidRange(format!("checkpoint to prove against: {e}")))?;
    let hashes = log.inclusion_proof(index, checkpoint.size)?;
    let entry = log
        .entries(index, 1)?
        .pop()
        .ok_or_else(|| AuditError::InvalidRange(format!("no entry {index}")))?
        .canonical_bytes()?;
    Ok(TlogProof { entry, index, hashes, checkpoint_note: checkpoint_note.to_owned() })
}

/// Verifies `proof` against the log key `log` and the trusted `witnesses`, requiring at least
/// `min_cosigners` of them to have cosigned the checkpoint.
pub fn verify_tlog_proof(
    proof: &TlogProof,
    log: &TrustedKey,
    witnesses: &[TrustedKey],
    min_cosigners: usize,
) -> Result<ProvenEntry, TlogProofError> {
    let checkpoint = verify_checkpoint(&proof.checkpoint_note, &log.name, &log.public_key)?;
    if checkpoint.origin != log.name {
        return Err(TlogProofError::WrongLog { expected: log.name.clone(), found: checkpoint.origin });
    }
    let stored = decode(&proof.entry).map_err(|e| TlogProofError::Entry(e.to_string()))?;
    if stored.entry.index != proof.index {
        return Err(TlogProofError::Entry(format!(
            "the entry's own index is {}, the proof is for index {}",
            stored.entry.index, proof.index
        )));
    }
    verify_inclusion(&leaf_hash(&proof.entry), proof.index, checkpoint.size, &proof.hashes, &checkpoint.root)?;
    let cosigners = verified_cosigners(&proof.checkpoint_note, witnesses);
    if cosigners.len() < min_cosigners {
        return Err(TlogProofError::TooFewCosigners { found: cosigners.len(), required: min_cosigners });
    }
    Ok(ProvenEntry { entry: stored.entry, checkpoint, cosigners })
}

/// Names of the `witnesses` (deduplicated by name) whose cosignature on the checkpoint in
/// `note` verifies.
pub fn verified_cosigners(note: &str, witnesses: &[TrustedKey]) -> Vec<String> {
    let mut names: Vec<String> = witnesses
        .iter()
        .filter(|w| verify_cosignature(note, &w.name, &w.public_key).is_ok())
        .map(|w| w.name.clone())
        .collect();
    names.sort();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use ossa_trust::NodeKey;

    use super::*;
    use crate::{cosign_checkpoint, sign_checkpoint, EntryDraft, MemoryAuditStore};

    const ORIGIN: &str = "fed/acme";

    fn log_of(n: u64) -> AuditLog<MemoryAuditStore> {
        let log = AuditLog::open(MemoryAuditStore::new()).expect("open");
        for i in 0..n {
            let draft = EntryDraft {
                time_ms: 1_000 + i,
                kind: "test.event".into(),
                actor: "acme".into(),
                payload: serde_json::json!({ "i": i }),
                raft_index: None,
            };
            log.append(draft).expect("append");
        }
        log
    }

    fn trusted(name: &str, key: &NodeKey) -> TrustedKey {
        TrustedKey { name: name.into(), public_key: key.public_key() }
    }

    /// A log of 13 entries, its key, a witness key and a note cosigned by the witness.
    fn fixture() -> (AuditLog<MemoryAuditStore>, NodeKey, NodeKey, String) {
        let log = log_of(13);
        let key = NodeKey::generate();
        let witness = NodeKey::generate();
        let note = sign_checkpoint(&Checkpoint::new(ORIGIN, log.tree_head()), ORIGIN, &key).expect("sign");
        let cosigned = cosign_checkpoint(&note, "fed/globex", &witness, 1_700_000_000).expect("cosign");
        (log, key, witness, cosigned)
    }

    #[test]
    fn every_entry_proof_round_trips_and_verifies() {
        let (log, key, witness, note) = fixture();
        for index in 0..13 {
            let proof = prove_entry(&log, index, &note).expect("prove");
            let parsed = TlogProof::parse(&proof.encode()).expect("parse");
            assert_eq!(parsed, proof);
            let proven = verify_tlog_proof(&parsed, &trusted(ORIGIN, &key), &[trusted("fed/globex", &witness)], 1)
                .expect("verify");
            assert_eq!(proven.entry.index, index);
            assert_eq!(proven.entry.payload, serde_json::json!({ "i": index }));
            assert_eq!(proven.cosigners, vec!["fed/globex".to_owned()]);
        }
    }

    #[test]
    fn refuses_a_changed_entry_a_wrong_key_and_missing_cosigners() {
        let (log, key, witness, note) = fixture();
        let proof = prove_entry(&log, 5, &note).expect("prove");
        let log_key = trusted(ORIGIN, &key);
        let witnesses = [trusted("fed/globex", &witness)];

        let mut changed = proof.clone();
        let last = changed.entry.len() - 40;
        changed.entry[last] ^= 1;
        assert!(verify_tlog_proof(&changed, &log_key, &witnesses, 0).is_err());

        let mut moved = proof.clone();
        moved.index = 6;
        assert!(matches!(verify_tlog_proof(&moved, &log_key, &witnesses, 0), Err(TlogProofError::Entry(_))));

        let stranger = trusted(ORIGIN, &NodeKey::generate());
        assert!(matches!(verify_tlog_proof(&proof, &stranger, &witnesses, 0), Err(TlogProofError::Checkpoint(_))));

        let other_witness = [trusted("fed/globex", &NodeKey::generate())];
        assert!(matches!(
            verify_tlog_proof(&proof, &log_key, &other_witness, 1),
            Err(TlogProofError::TooFewCosigners { found: 0, required: 1 })
        ));
        assert!(verify_tlog_proof(&proof, &log_key, &other_witness, 0).is_ok());
    }

    #[test]
    fn refuses_a_proof_from_another_point_of_the_tree() {
        let (log, key, _, note) = fixture();
        let mut proof = prove_entry(&log, 3, &note).expect("prove");
        proof.hashes.swap(0, 1);
        assert!(matches!(verify_tlog_proof(&proof, &trusted(ORIGIN, &key), &[], 0), Err(TlogProofError::Inclusion(_))));
    }

    #[test]
    fn parse_refuses_malformed_files() {
        let (log, _, _, note) = fixture();
        let text = prove_entry(&log, 2, &note).expect("prove").encode();
        let cases = [
            text.replacen(TLOG_PROOF_HEADER, "c2sp.org/tlog-proof@v2", 1),
            text.replacen("extra ", "extras ", 1),
            text.replacen("index 2", "index 02", 1),
            text.replacen("index 2", "index -2", 1),
            // u64's parser takes a leading `+`; the format has one text per number.
            text.replacen("index 2", "index +2", 1),
            text.replacen("\n\n", "\n", 1),
            format!("{}{}", text, "x".repeat(MAX_PROOF_LEN)),
        ];
        for case in cases {
            assert!(matches!(TlogProof::parse(&case), Err(TlogProofError::Malformed(_))), "{case:.80}");
        }
    }
}
