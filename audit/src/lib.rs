//! `ossa-audit`: each node's append-only audit log — a hash chain, a Merkle tree over it,
//! signed checkpoints, proofs, export and offline verification.
//!
//! Data flow:
//!
//! 1. A component (consensus, node) hands an [`EntryDraft`] to [`AuditLog::append`], or to
//!    [`AuditLog::append_replicated`] when the entry comes from an applied Raft entry (a
//!    restarted node re-applies those, so that path is idempotent on the Raft index), or
//!    several drafts to [`AuditLog::append_batch`], which gives the same entries in one
//!    store write. A single append returns once its entry is in the log; the entries appended
//!    one at a time gather in a tail that goes to the store in one write (at most
//!    [`log::TAIL_MAX_ENTRIES`] entries, or sooner: see [`log`]). [`AuditLog::flush`] makes
//!    everything appended before it durable and returns the tree head it covers.
//! 2. The log assigns the next index, links the entry to the previous one through
//!    `prev_hash`, encodes it canonically ([`entry`] documents the bytes) and hashes it as an
//!    RFC 6962 leaf, `SHA-256(0x00 || canonical_bytes)`. The canonical bytes are what the
//!    [`AuditStore`] keeps, so every read re-derives the leaf hash from the stored bytes.
//! 3. The leaf joins an RFC 6962 / RFC 9162 Merkle tree ([`merkle`]): the append stores the
//!    interior nodes of level 8 and up that it completes in the same atomic write (lower
//!    ones are recomputed from at most 128 records when needed), so
//!    [`AuditLog::tree_head`] is in memory and [`AuditLog::root`],
//!    [`AuditLog::inclusion_proof`] and [`AuditLog::consistency_proof`] read `O(log n)`
//!    stored nodes. [`verify_inclusion`] and [`verify_consistency`] check such proofs
//!    without the log.
//! 4. The node signs tree heads as C2SP checkpoints ([`checkpoint`]: [`sign_checkpoint`],
//!    [`verify_checkpoint`]) in the signed-note envelope ([`note`]); peer orgs witness them
//!    with C2SP cosignatures ([`cosign`]).
//! 5. [`AuditLog::export`] writes the log as JSON Lines (a versioned header with the tree
//!    size and root, then one [`AuditEntry`] per line); [`verify_export`] checks such a file
//!    offline on all cores, recomputing every leaf hash, every chain link and the root, and
//!    names the first bad entry; [`verify_export_against`] also checks it against a signed checkpoint,
//!    which catches a rewritten history or a cut tail.
//! 6. [`prove_entry`] writes a one-entry proof in the C2SP `tlog-proof` format
//!    ([`tlog_proof`]): the entry, its inclusion hashes and the cosigned checkpoint;
//!    [`verify_tlog_proof`] checks it offline against the log's and the witnesses' keys.

mod canonical;
pub mod checkpoint;
pub mod cosign;
pub mod entry;
mod error;
mod export;
pub mod log;
pub mod merkle;
pub mod note;
mod proof;
mod sled_store;
pub mod store;
pub mod tlog_proof;
pub mod verify;

pub use checkpoint::{parse_checkpoint, sign_checkpoint, verify_checkpoint, Checkpoint};
pub use cosign::{cosign_checkpoint, merge_cosignatures, verify_cosignature, Cosigned};
pub use entry::{leaf_hash, AuditEntry, EntryDraft, Hash};
pub use error::AuditError;
pub use export::{ExportSummary, EXPORT_FORMAT, EXPORT_VERSION, EXPORT_VERSION_CHAIN_ONLY, MAX_ORIGIN_LEN};
pub use log::AuditLog;
pub use merkle::{node_hash, NodeId, TreeHead, EMPTY_ROOT};
pub use note::{parse_note, Note, NoteError, MAX_NOTE_LEN};
pub use proof::{verify_consistency, verify_inclusion, ProofError};
pub use sled_store::{open_sled, SledAuditStore, SLED_CACHE_BYTES};
pub use store::{AuditStore, MemoryAuditStore};
pub use tlog_proof::{prove_entry, verify_tlog_proof, ProvenEntry, TlogProof, TlogProofError, TrustedKey};
pub use verify::{verify_export, verify_export_against, Problem, VerifyError, VerifyReport, MAX_LINE_LEN};

#[cfg(test)]
mod proptests;
