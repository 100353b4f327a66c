//! The error type of the audit log and its stores.
//!
//! Storage engines wrap their own errors in [`AuditError::Storage`]; anything the log finds
//! wrong with bytes it reads back is [`AuditError::Corrupt`]. Verification of an export has
//! its own error, [`crate::VerifyError`], because it names a line and an entry.

/// What went wrong while appending to, reading or exporting an audit log.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The storage engine failed (I/O, sled error, ...).
    #[error("audit storage: {0}")]
    Storage(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Stored data does not decode or does not match its recorded hashes.
    #[error("audit log corrupt: {0}")]
    Corrupt(String),
    /// The store was written by a newer (or unknown) format version.
    #[error("unsupported audit store format version {0}")]
    UnsupportedFormat(u8),
    /// A draft field exceeds its size limit.
    #[error("audit entry {field} is {len} bytes, the limit is {max}")]
    TooLarge {
        /// Which field: `kind`, `actor` or `payload`.
        field: &'static str,
        /// Its size in bytes.
        len: usize,
        /// The limit in bytes.
        max: usize,
    },
    /// The export origin is empty, too long or contains control characters.
    #[error("invalid export origin: {0}")]
    InvalidOrigin(String),
    /// A tree size, entry index or pair of sizes asked of the Merkle tree is out of range.
    #[error("invalid tree range: {0}")]
    InvalidRange(String),
    /// JSON encoding of a payload or entry failed.
    #[error("audit JSON encoding: {0}")]
    Json(#[from] serde_json::Error),
    /// Writing an export failed.
    #[error("audit export I/O: {0}")]
    Io(#[from] std::io::Error),
}

impl AuditError {
    /// Wraps a storage engine error.
    pub fn storage(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Storage(Box::new(e))
    }
}
