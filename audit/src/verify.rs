//! Offline verification of an export.
//!
//! [`verify_export`] streams the input line by line (each at most [`MAX_LINE_LEN`] bytes and
//! terminated by `\n`). Line 1 must be a version-2 (or version-1) header. Every following
//! line must be the entry whose index is the next in `0, 1, 2, ...`; for each one the
//! verifier checks the `prev_hash` link against the leaf hash it computed for the previous
//! line, recomputes the leaf hash from the fields, checks the line is exactly the canonical
//! JSON of the entry (so no byte can change without notice, even one serde would ignore),
//! and adds the leaf to a Merkle tree frontier (`O(log n)` memory). At the end the entry
//! count, head and (version 2) Merkle root must equal the header's. The first failure stops
//! verification and is reported with its line and entry.
//!
//! The header is not signed, so [`verify_export_against`] also checks the export against a
//! signed [`Checkpoint`] the caller trusts: same origin, at least the checkpoint's size
//! (else the tail was cut, and the first missing entry is named), and the Merkle root of
//! the first `size` entries equal to the checkpoint's root (else this is another history).
//! Without a checkpoint, the caller compares the reported origin with the one it expects.

mod report;

use std::io::{BufRead, Read};

pub use report::{Problem, VerifyError, VerifyReport};

use crate::checkpoint::Checkpoint;
use crate::entry::{leaf_hash, Fields, ZERO_HASH};
use crate::export::{check_origin, ExportHeader, EXPORT_FORMAT, EXPORT_VERSION, EXPORT_VERSION_CHAIN_ONLY};
use crate::merkle::Frontier;
use crate::{AuditEntry, Hash};

/// Longest accepted line, newline excluded. An entry line is at most about 70 KiB (see
/// [`crate::entry::MAX_PAYLOAD_LEN`]); 1 MiB leaves room while bounding memory on hostile input.
pub const MAX_LINE_LEN: usize = 1 << 20;

/// Verifies an export read from `input`; see the module docs for what is checked.
pub fn verify_export<R: BufRead>(input: R) -> Result<VerifyReport, VerifyError> {
    verify(input, None)
}

/// Verifies an export read from `input` like [`verify_export`], and that it extends the
/// history `checkpoint` signed: same origin, at least `checkpoint.size` entries, and the
/// root of the first `checkpoint.size` entries equal to `checkpoint.root`. The caller has
/// verified the checkpoint's signature ([`crate::verify_checkpoint`]).
pub fn verify_export_against<R: BufRead>(input: R, checkpoint: &Checkpoint) -> Result<VerifyReport, VerifyError> {
    verify(input, Some(checkpoint))
}

fn verify<R: BufRead>(mut input: R, checkpoint: Option<&Checkpoint>) -> Result<VerifyReport, VerifyError> {
    let mut line = Vec::new();
    let mut canon = Vec::new();
    let header_err = |problem| VerifyError { line: 1, entry: None, problem };
    if !read_line(&mut input, &mut line).map_err(header_err)? {
        return Err(header_err(Problem::Empty));
    }
    let header = parse_header(&line).map_err(header_err)?;
    if let Some(cp) = checkpoint.filter(|cp| cp.origin != header.origin) {
        let problem = Problem::OriginMismatch { export: header.origin, checkpoint: cp.origin.clone() };
        return Err(header_err(problem));
    }
    let mut prev = ZERO_HASH;
    let mut tree = Frontier::default();
    check_against(&tree, checkpoint)?;
    loop {
        let count = tree.size();
        let at = |problem| VerifyError { line: count + 2, entry: Some(count), problem };
        if !read_line(&mut input, &mut line).map_err(at)? {
            break;
        }
        if count >= header.entries {
            return Err(at(Problem::ExtraEntry(header.entries)));
        }
        prev = check_entry(&line, count, &prev, &mut canon).map_err(at)?;
        tree.add(&prev);
        check_against(&tree, checkpoint)?;
    }
    let count = tree.size();
    if count != header.entries {
        let problem = Problem::CountMismatch { header: header.entries, found: count };
        return Err(VerifyError { line: count + 2, entry: Some(count), problem });
    }
    let head = (count > 0).then(|| hex::encode(prev));
    if head != header.head {
        return Err(header_err(Problem::HeadMismatch { header: header.head, computed: head }));
    }
    let root = hex::encode(tree.root());
    if let Some(recorded) = header.root.filter(|r| *r != root) {
        return Err(header_err(Problem::RootMismatch { header: recorded, computed: root }));
    }
    if let Some(cp) = checkpoint.filter(|cp| cp.size > count) {
        let problem = Problem::ShorterThanCheckpoint { checkpoint: cp.size, found: count };
        return Err(VerifyError { line: count + 2, entry: Some(count), problem });
    }
    Ok(VerifyReport { origin: header.origin, entries: count, head, root, version: header.version })
}

/// When `tree` has reached the checkpoint's size, checks its root against the checkpoint's.
fn check_against(tree: &Frontier, checkpoint: Option<&Checkpoint>) -> Result<(), VerifyError> {
    let Some(cp) = checkpoint.filter(|cp| cp.size == tree.size()) else {
        return Ok(());
    };
    let computed = tree.root();
    if computed == cp.root {
        return Ok(());
    }
    let problem = Problem::CheckpointRootMismatch {
        size: cp.size,
        checkpoint: hex::encode(cp.root),
        computed: hex::encode(computed),
    };
    Err(VerifyError { line: cp.size + 1, entry: None, problem })
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
    if probe.version != EXPORT_VERSION && probe.version != EXPORT_VERSION_CHAIN_ONLY {
        return Err(Problem::UnsupportedVersion(probe.version));
    }
    let header: ExportHeader = serde_json::from_slice(line).map_err(bad)?;
    check_origin(&header.origin).map_err(Problem::BadHeader)?;
    if serde_json::to_vec(&header).map_err(bad)? != line {
        return Err(Problem::BadHeader("not in canonical JSON form".into()));
    }
    match (header.version, &header.root) {
        (EXPORT_VERSION, None) => Err(Problem::BadHeader("no root".into())),
        (EXPORT_VERSION_CHAIN_ONLY, Some(_)) => Err(Problem::BadHeader("root in a version-1 header".into())),
        _ => Ok(header),
    }
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
    let payload_json = crate::canonical::canonical_json(&e.payload).map_err(malformed)?;
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
