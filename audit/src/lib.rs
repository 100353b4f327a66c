//! `ossa-audit`: each node's append-only, hash-chained audit log.
//!
//! Data flow:
//!
//! 1. A component (consensus, node) hands an [`EntryDraft`] to [`AuditLog::append`], or to
//!    [`AuditLog::append_replicated`] when the entry comes from an applied Raft entry (a
//!    restarted node re-applies those, so that path is idempotent on the Raft index).
//! 2. The log assigns the next index, links the entry to the previous one through
//!    `prev_hash`, encodes it canonically ([`entry`] documents the bytes) and hashes it as an
//!    RFC 6962 leaf, `SHA-256(0x00 || canonical_bytes)`. The canonical bytes are what the
//!    [`AuditStore`] keeps, so every read re-derives the leaf hash from the stored bytes.
//! 3. [`AuditLog::export`] writes the log as JSON Lines (a versioned header, then one
//!    [`AuditEntry`] per line); [`verify_export`] checks such a file offline, recomputing
//!    every leaf hash and every chain link, and names the first bad entry.
//!
//! The leaf hashes are already RFC 6962 leaves so a Merkle tree (checkpoints, inclusion and
//! consistency proofs) can be built over them without changing the stored format.

pub mod entry;
mod error;
mod export;
pub mod log;
mod sled_store;
pub mod store;
pub mod verify;

pub use entry::{leaf_hash, AuditEntry, EntryDraft, Hash};
pub use error::AuditError;
pub use export::{ExportSummary, EXPORT_FORMAT, EXPORT_VERSION, MAX_ORIGIN_LEN};
pub use log::AuditLog;
pub use sled_store::SledAuditStore;
pub use store::{AuditStore, MemoryAuditStore};
pub use verify::{verify_export, Problem, VerifyError, VerifyReport, MAX_LINE_LEN};
