//! Offline verification of an export.
//!
//! [`verify_export`] streams the input line by line (each at most [`MAX_LINE_LEN`] bytes and
//! terminated by `\n`). Line 1 must be a version-1 header. Every following line must be the
//! entry whose index is the next in `0, 1, 2, ...`; for each one the verifier checks the
//! `prev_hash` link against the leaf hash it computed for the previous line, recomputes the
//! leaf hash from the fields, and checks the line is exactly the canonical JSON of the entry
//! (so no byte can change without notice, even one serde would ignore). At the end the
//! entry count and head must equal the header's. The first failure stops verification and
//! is reported with its line and entry.
//!
//! The chain does not cover the header's `origin`: the caller compares the reported origin
//! with the one it expects (a signed checkpoint names it).

use std::io::{BufRead, Read};

use crate::entry::{leaf_hash, Fields, ZERO_HASH};
use crate::export::{check_origin, ExportHeader, EXPORT_FORMAT, EXPORT_VERSION};
use crate::{AuditEntry, Hash};

/// Longest accepted line, newline excluded. An entry line is at most about 70 KiB (see
/// [`crate::entry::MAX_PAYLOAD_LEN`]); 1 MiB leaves room while bounding memory on hostile input.
pub const MAX_LINE_LEN: usize = 1 << 20;

/// A verified export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// The header's origin; not covered by the chain, compare it with the expected one.
    pub origin: String,
    /// Number of entries verified.
    pub entries: u64,
    /// Hex leaf hash of the last entry, `None` for an empty log.
    pub head: Option<String>,
}

/// The first problem found in an export: where, and what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {problem}", location(*.line, *.entry))]
pub struct VerifyError {
    /// 1-based line number (line 1 is the header).
    pub line: u64,
    /// The entry index expected at that line; `None` for the header.
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
    /// The header's head is not the last entry's leaf hash.
    #[error("head mismatch: header says {header:?}, computed {computed:?}")]
    HeadMismatch {
        /// The header's head.
        header: Option<String>,
        /// The last entry's computed leaf hash.
        computed: Option<String>,
    },
}

/// Verifies an export read from `input`; see the module docs for what is checked.
pub fn verify_export<R: BufRead>(mut input: R) -> Result<VerifyReport, VerifyError> {
    let mut line = Vec::new();
    let mut canon = Vec::new();
    let header_err = |problem| VerifyError { line: 1, entry: None, problem };
    if !read_line(&mut input, &mut line).map_err(header_err)? {
        return Err(header_err(Problem::Empty));
    }
    let header = parse_header(&line).map_err(header_err)?;
    let mut prev = ZERO_HASH;
    let mut count = 0u64;
    loop {
        let at = |problem| VerifyError { line: count + 2, entry: Some(count), problem };
        if !read_line(&mut input, &mut line).map_err(at)? {
            break;
        }
        if count >= header.entries {
            return Err(at(Problem::ExtraEntry(header.entries)));
        }
        prev = check_entry(&line, count, &prev, &mut canon).map_err(at)?;
        count += 1;
    }
    if count != header.entries {
        let problem = Problem::CountMismatch { header: header.entries, found: count };
        return Err(VerifyError { line: count + 2, entry: Some(count), problem });
    }
    let head = (count > 0).then(|| hex::encode(prev));
    if head != header.head {
        return Err(header_err(Problem::HeadMismatch { header: header.head, computed: head }));
    }
    Ok(VerifyReport { origin: header.origin, entries: count, head })
}

/// Reads one `\n`-terminated line into `buf` (without the `\n`); `false` at end of input.
fn read_line<R: BufRead>(input: &mut R, buf: &mut Vec<u8>) -> Result<bool, Problem> {
    buf.clear();
    let mut limited = input.by_ref().take(MAX_LINE_LEN as u64 + 1);
    let n = limited.read_until(b'\n', buf).map_err(|e| Problem::Io(e.to_string()))?;
    match buf.pop() {
        None if n == 0 => Ok(false),
        Some(b'\n') => Ok(true),
        _ if buf.len() >= MAX_LINE_LEN => Err(Problem::LineTooLong),
        _ => Err(Problem::MissingNewline),
    }
}

fn parse_header(line: &[u8]) -> Result<ExportHeader, Problem> {
    #[derive(serde::Deserialize)]
    struct Probe {
        format: String,
        version: u64,
    }
    let bad = |e: serde_json::Error| Problem::BadHeader(e.to_string());
    let probe: Probe = serde_json::from_slice(line).map_err(bad)?;
    if probe.format != EXPORT_FORMAT {
        return Err(Problem::BadHeader(format!("format is {:?}", probe.format)));
    }
    if probe.version != EXPORT_VERSION {
        return Err(Problem::UnsupportedVersion(probe.version));
    }
    let header: ExportHeader = serde_json::from_slice(line).map_err(bad)?;
    check_origin(&header.origin).map_err(Problem::BadHeader)?;
    if serde_json::to_vec(&header).map_err(bad)? != line {
        return Err(Problem::BadHeader("not in canonical JSON form".into()));
    }
    Ok(header)
}

/// Checks one entry line and returns its leaf hash.
fn check_entry(line: &[u8], index: u64, prev: &Hash, canon: &mut Vec<u8>) -> Result<Hash, Problem> {
    let malformed = |e: serde_json::Error| Problem::MalformedEntry(e.to_string());
    let e: AuditEntry = serde_json::from_slice(line).map_err(malformed)?;
    if e.index != index {
        return Err(Problem::IndexOutOfOrder { expected: index, found: e.index });
    }
    let expected = hex::encode(prev);
    if e.prev_hash != expected {
        return Err(Problem::PrevHashMismatch { expected, found: e.prev_hash });
    }
    let payload_json = serde_json::to_vec(&e.payload).map_err(malformed)?;
    let leaf = leaf_hash(
        &Fields {
            index,
            time_ms: e.time_ms,
            kind: &e.kind,
            actor: &e.actor,
            payload_json: &payload_json,
            raft_index: e.raft_index,
            prev_hash: prev,
        }
        .encode(),
    );
    let computed = hex::encode(leaf);
    if e.leaf_hash != computed {
        return Err(Problem::LeafHashMismatch { recorded: e.leaf_hash, computed });
    }
    canon.clear();
    serde_json::to_writer(&mut *canon, &e).map_err(malformed)?;
    if canon.as_slice() != line {
        return Err(Problem::NonCanonical);
    }
    Ok(leaf)
}

#[cfg(test)]
mod tests;
