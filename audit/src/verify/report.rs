//! What verification of an export reports: a [`VerifyReport`] on success, otherwise the
//! first [`Problem`] found, located by a [`VerifyError`] (line, and entry where one is at
//! fault).

use crate::verify::MAX_LINE_LEN;

/// A verified export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// The header's origin; not covered by the chain, compare it with the expected one.
    pub origin: String,
    /// Number of entries verified.
    pub entries: u64,
    /// Hex leaf hash of the last entry, `None` for an empty log.
    pub head: Option<String>,
    /// Hex Merkle root of the entries, recomputed (also for version-1 exports, which do not
    /// record it).
    pub root: String,
    /// The export's format version.
    pub version: u64,
}

/// The first problem found in an export: where, and what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {problem}", location(*.line, *.entry))]
pub struct VerifyError {
    /// 1-based line number (line 1 is the header).
    pub line: u64,
    /// The entry index expected at that line; `None` for the header, and for a root that
    /// differs from a checkpoint's (no single entry is to blame).
    pub entry: Option<u64>,
    /// What is wrong.
    pub problem: Problem,
}

fn location(line: u64, entry: Option<u64>) -> String {
    match entry {
        Some(i) => format!("entry {i} (line {line})"),
        None => format!("line {line}"),
    }
}

/// What is wrong with an export.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// Reading the input failed.
    #[error("read error: {0}")]
    Io(String),
    /// The input is empty.
    #[error("empty input, no header")]
    Empty,
    /// A line is longer than [`MAX_LINE_LEN`].
    #[error("line longer than {MAX_LINE_LEN} bytes")]
    LineTooLong,
    /// The input ends without a final newline (cut off).
    #[error("line not terminated by a newline (truncated?)")]
    MissingNewline,
    /// The header is not a valid export header.
    #[error("bad header: {0}")]
    BadHeader(String),
    /// The header's version is not one this verifier knows.
    #[error("unsupported export version {0}")]
    UnsupportedVersion(u64),
    /// The line is not a JSON audit entry.
    #[error("malformed entry: {0}")]
    MalformedEntry(String),
    /// The entry's index is not the next one.
    #[error("index out of order: expected {expected}, found {found}")]
    IndexOutOfOrder {
        /// The next index in sequence.
        expected: u64,
        /// The index on the line.
        found: u64,
    },
    /// `prev_hash` is not the previous entry's leaf hash.
    #[error("prev_hash mismatch: expected {expected}, found {found}")]
    PrevHashMismatch {
        /// The previous entry's computed leaf hash.
        expected: String,
        /// The recorded `prev_hash`.
        found: String,
    },
    /// `leaf_hash` is not the hash of the entry's fields.
    #[error("leaf hash mismatch: recorded {recorded}, computed {computed}")]
    LeafHashMismatch {
        /// The recorded `leaf_hash`.
        recorded: String,
        /// The hash computed from the fields.
        computed: String,
    },
    /// The line parses but is not byte for byte the canonical JSON of its entry.
    #[error("entry is not in canonical JSON form")]
    NonCanonical,
    /// There are more entries than the header says.
    #[error("more entries than the header's count {0}")]
    ExtraEntry(u64),
    /// There are fewer entries than the header says (truncated tail).
    #[error("export ends after {found} entries, header says {header}")]
    CountMismatch {
        /// The header's count.
        header: u64,
        /// Entries found.
        found: u64,
    },
    /// The header's root is not the Merkle root of the entries.
    #[error("root mismatch: header says {header}, computed {computed}")]
    RootMismatch {
        /// The header's root.
        header: String,
        /// The root computed from the entries.
        computed: String,
    },
    /// The export names another log than the checkpoint.
    #[error("origin {export:?} is not the checkpoint's origin {checkpoint:?}")]
    OriginMismatch {
        /// The export header's origin.
        export: String,
        /// The checkpoint's origin.
        checkpoint: String,
    },
    /// The export ends before the checkpoint's size: its tail was cut.
    #[error("export ends after {found} entries, the checkpoint covers {checkpoint}")]
    ShorterThanCheckpoint {
        /// The checkpoint's size.
        checkpoint: u64,
        /// Entries in the export.
        found: u64,
    },
    /// The root of the export's first `size` entries is not the checkpoint's root: this
    /// history differs from the one the checkpoint signed.
    #[error("root of the first {size} entries is {computed}, the checkpoint says {checkpoint}")]
    CheckpointRootMismatch {
        /// The checkpoint's size.
        size: u64,
        /// The checkpoint's root (hex).
        checkpoint: String,
        /// The root computed from the export (hex).
        computed: String,
    },
    /// The header's head is not the last entry's leaf hash.
    #[error("head mismatch: header says {header:?}, computed {computed:?}")]
    HeadMismatch {
        /// The header's head.
        header: Option<String>,
        /// The last entry's computed leaf hash.
        computed: Option<String>,
    },
}
