//! Export of an audit log as JSON Lines.
//!
//! [`AuditLog::export`] writes the log's tail to the store, snapshots the head, writes the
//! header line `{"format":"ossa-audit-export","version":2,"origin":..,"entries":N,"head":..,"root":..}`
//! and then entries `0..N` one compact JSON object per line, read from the store in
//! batches. `head` is the hex leaf hash of the last entry (`null` when empty) and `root` the
//! hex Merkle root of the `N` entries, which a checkpoint of size `N` signs. Entries appended
//! during the export are not included. While writing it re-checks every chain link and the
//! root, so a corrupted store is reported instead of exported. [`crate::verify_export`]
//! reads the same format back, and still reads version 1 (the same without `root`).

use std::io::Write;

use serde::{Deserialize, Serialize};

use crate::entry::ZERO_HASH;
use crate::merkle::Frontier;
use crate::{AuditError, AuditLog, AuditStore};

/// The `format` field of an export header.
pub const EXPORT_FORMAT: &str = "ossa-audit-export";

/// The export format version written: 2 adds the header's Merkle `root`.
/// [`crate::verify_export`] accepts it and [`EXPORT_VERSION_CHAIN_ONLY`].
pub const EXPORT_VERSION: u64 = 2;

/// The first export version (header without `root`), still accepted by the verifier.
pub const EXPORT_VERSION_CHAIN_ONLY: u64 = 1;

/// Limit on the origin: C2SP checkpoints name the log by a short origin line (a host-like
/// name), and 255 bytes is the longest DNS name.
pub const MAX_ORIGIN_LEN: usize = 255;

/// Entries read from the store per batch: bounds export memory while amortizing reads.
const EXPORT_BATCH: usize = 1024;

/// The first line of an export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ExportHeader {
    pub format: String,
    pub version: u64,
    pub origin: String,
    pub entries: u64,
    pub head: Option<String>,
    /// Hex Merkle root of the entries; present from version 2 on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<String>,
}

/// What [`AuditLog::export`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportSummary {
    /// Number of entries written.
    pub entries: u64,
    /// Hex leaf hash of the last entry written, `None` for an empty log.
    pub head: Option<String>,
    /// Hex Merkle root of the entries written.
    pub root: String,
}

/// Checks an origin: non-empty, at most [`MAX_ORIGIN_LEN`] bytes, no control characters.
pub(crate) fn check_origin(origin: &str) -> Result<(), String> {
    if origin.is_empty() || origin.len() > MAX_ORIGIN_LEN {
        return Err(format!("origin must be 1..={MAX_ORIGIN_LEN} bytes"));
    }
    if origin.chars().any(char::is_control) {
        return Err("origin contains a control character".into());
    }
    Ok(())
}

impl<S: AuditStore> AuditLog<S> {
    /// Writes the log to `out` as JSON Lines, naming it `origin`.
    pub fn export<W: Write>(&self, origin: &str, out: W) -> Result<ExportSummary, AuditError> {
        check_origin(origin).map_err(AuditError::InvalidOrigin)?;
        let snap = self.stored_head()?;
        let head = (snap.len > 0).then(|| hex::encode(snap.last));
        let root = snap.frontier.root();
        let mut out = std::io::BufWriter::new(out);
        let header = ExportHeader {
            format: EXPORT_FORMAT.into(),
            version: EXPORT_VERSION,
            origin: origin.into(),
            entries: snap.len,
            head: head.clone(),
            root: Some(hex::encode(root)),
        };
        serde_json::to_writer(&mut out, &header)?;
        out.write_all(b"\n")?;
        let mut prev = ZERO_HASH;
        let mut tree = Frontier::default();
        let mut next = 0u64;
        while next < snap.len {
            let n = usize::try_from(snap.len - next).map_or(EXPORT_BATCH, |n| n.min(EXPORT_BATCH));
            for stored in self.read(next, n)? {
                if stored.prev != prev {
                    let i = stored.entry.index;
                    return Err(AuditError::Corrupt(format!("entry {i}: broken chain")));
                }
                serde_json::to_writer(&mut out, &stored.entry)?;
                out.write_all(b"\n")?;
                prev = stored.leaf;
                tree.add(&stored.leaf);
            }
            next += n as u64;
        }
        if prev != snap.last {
            return Err(AuditError::Corrupt("last entry does not match the head".into()));
        }
        if tree.root() != root {
            return Err(AuditError::Corrupt("entries do not hash to the tree's root".into()));
        }
        out.flush()?;
        Ok(ExportSummary { entries: snap.len, head, root: hex::encode(root) })
    }
}
