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
//! The lines are checked by several threads (the `parallel` submodule reads them in batches
//! and hands the batches to worker threads), each line as the `line` submodule describes;
//! this module takes the batches' outcomes back in input order, links each batch to the one
//! before (its first `prev_hash`), grows the tree and checks the checkpoint, so what is
//! reported is what checking the lines one by one in order would report.
//!
//! The header is not signed, so [`verify_export_against`] also checks the export against a
//! signed [`Checkpoint`] the caller trusts: same origin, at least the checkpoint's size
//! (else the tail was cut, and the first missing entry is named), and the Merkle root of
//! the first `size` entries equal to the checkpoint's root (else this is another history).
//! Without a checkpoint, the caller compares the reported origin with the one it expects.

mod line;
mod parallel;
mod report;

use std::io::BufRead;

pub use report::{Problem, VerifyError, VerifyReport};

use crate::checkpoint::Checkpoint;
use crate::entry::ZERO_HASH;
use crate::export::{check_origin, ExportHeader, EXPORT_FORMAT, EXPORT_VERSION, EXPORT_VERSION_CHAIN_ONLY};
use crate::merkle::Frontier;
use crate::Hash;
use parallel::{check_lines, read_line, Ending, Outcome};

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
    let header_err = |problem| VerifyError { line: 1, entry: None, problem };
    if !read_line(&mut input, &mut line).map_err(header_err)? {
        return Err(header_err(Problem::Empty));
    }
    let header = parse_header(&line).map_err(header_err)?;
    if let Some(cp) = checkpoint.filter(|cp| cp.origin != header.origin) {
        let problem = Problem::OriginMismatch { export: header.origin, checkpoint: cp.origin.clone() };
        return Err(header_err(problem));
    }
    let mut chain = Chain { prev: ZERO_HASH, tree: Frontier::default(), checkpoint };
    chain.check_against()?;
    let count = match check_lines(input, header.entries, |outcome| chain.take(outcome))? {
        Ending::End(count) => count,
        Ending::Stopped(count, problem) => return Err(VerifyError { line: count + 2, entry: Some(count), problem }),
    };
    let Chain { prev, tree, .. } = chain;
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

/// The entries verified so far: the last leaf hash, the tree, and the checkpoint to meet.
struct Chain<'a> {
    prev: Hash,
    tree: Frontier,
    checkpoint: Option<&'a Checkpoint>,
}

impl Chain<'_> {
    /// Takes the next batch's outcome: links its first line to the entries before, adds its
    /// leaves to the tree (checking the checkpoint's root when the tree reaches its size),
    /// and reports its first failure.
    fn take(&mut self, outcome: &Outcome) -> Result<(), VerifyError> {
        let first = outcome.first();
        let at = |offset: usize, problem| {
            let entry = first + offset as u64;
            VerifyError { line: entry + 2, entry: Some(entry), problem }
        };
        let unlinked =
            matches!(outcome.failure, Some((0, Problem::MalformedEntry(_) | Problem::IndexOutOfOrder { .. })));
        if let (Some(claimed), false) = (&outcome.first_prev, unlinked) {
            let expected = hex::encode(self.prev);
            if *claimed != expected {
                return Err(at(0, Problem::PrevHashMismatch { expected, found: claimed.clone() }));
            }
        }
        // Every batch before this one passed whole (a failure returns `Err`, which stops the
        // dispatch), so the tree ends where this batch starts.
        debug_assert_eq!(self.tree.size(), first, "batches are taken whole and in order");
        let end = first + outcome.leaves.len() as u64;
        let reached_inside = self.checkpoint.is_some_and(|cp| cp.size > first && cp.size < end);
        if outcome.failure.is_none() && !reached_inside {
            for (level, root) in &outcome.subtrees {
                self.tree.add_subtree(*level, root);
            }
            self.check_against()?;
        } else {
            for leaf in &outcome.leaves {
                self.tree.add(leaf);
                self.check_against()?;
            }
        }
        if let Some(last) = outcome.leaves.last() {
            self.prev = *last;
        }
        match &outcome.failure {
            Some((offset, problem)) => Err(at(*offset, problem.clone())),
            None => Ok(()),
        }
    }

    /// When the tree has reached the checkpoint's size, checks its root against the
    /// checkpoint's.
    fn check_against(&self) -> Result<(), VerifyError> {
        check_against(&self.tree, self.checkpoint)
    }
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

#[cfg(test)]
mod tests;
