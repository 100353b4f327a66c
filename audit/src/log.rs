//! The audit log: appends drafts to the hash chain and the Merkle tree, and reads them back.
//!
//! [`AuditLog`] keeps the head of the chain (length, last leaf hash, highest Raft index) and
//! the tree's frontier (see [`crate::merkle`]) in memory behind a mutex. An append takes the
//! mutex, checks the draft's size limits, encodes the entry with the next index and the
//! head's hash as `prev_hash`, computes the tree nodes the new leaf completes, writes the
//! record, those nodes and the new head metadata to the [`AuditStore`] in one atomic write,
//! then moves the head and the frontier. A batched append ([`AuditLog::append_batch`]) does
//! the same for several drafts against a copy of the head and writes them all in one atomic
//! write before moving the head. On open the head is rebuilt from the store, and the
//! last entry's hash and its link to the entry before are checked against the recorded head;
//! the `tree` submodule then loads the frontier from the stored nodes and checks that it
//! binds the last entry, or builds the tree from the records when the store predates it
//! (format 1). The same submodule answers tree heads, roots of earlier sizes and proofs.
//!
//! Metadata keys in the store: `format_version` (one byte, [`STORE_FORMAT`]), `head` (u64
//! big-endian index of the last entry then its 32-byte leaf hash) and `raft_index` (u64
//! big-endian, the highest Raft index appended so far).

use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::entry::{self, Fields, Stored, MAX_ACTOR_LEN, MAX_KIND_LEN, MAX_PAYLOAD_LEN, ZERO_HASH};
use crate::merkle::Frontier;
use crate::{AuditEntry, AuditError, AuditStore, EntryDraft, Hash};

mod tree;

/// Version of the store layout (keys, metadata); checked on open. 2: records, head metadata
/// and Merkle tree nodes. A version-1 store (records and head only) is upgraded on open by
/// building its tree from the records.
pub const STORE_FORMAT: u8 = 2;

/// The store layout before the Merkle tree: records and head metadata only.
const STORE_FORMAT_CHAIN_ONLY: u8 = 1;

const META_FORMAT: &str = "format_version";
const META_HEAD: &str = "head";
const META_RAFT: &str = "raft_index";

/// The in-memory head of the chain and the tree's frontier.
#[derive(Debug, Clone)]
pub(crate) struct Head {
    pub len: u64,
    pub last: Hash,
    pub raft: Option<u64>,
    pub frontier: Frontier,
}

/// A node's append-only, hash-chained audit log over a store `S`.
///
/// `Send + Sync`: appends from several tasks serialize on an internal mutex.
#[derive(Debug)]
pub struct AuditLog<S: AuditStore> {
    pub(crate) store: S,
    head: Mutex<Head>,
}

impl<S: AuditStore> AuditLog<S> {
    /// Opens the log in `store`, loading and checking its head.
    ///
    /// A store written before the Merkle tree existed gets its tree built here, once, in
    /// time linear in the log's length; every later open reads `O(log n)` tree nodes.
    pub fn open(store: S) -> Result<Self, AuditError> {
        let has_tree = match store.get_meta(META_FORMAT)?.as_deref() {
            None | Some([STORE_FORMAT_CHAIN_ONLY]) => false,
            Some([STORE_FORMAT]) => true,
            Some(v) => return Err(AuditError::UnsupportedFormat(v.first().copied().unwrap_or(0))),
        };
        let raft = store.get_meta(META_RAFT)?.map(|b| fixed::<8>(&b)).transpose()?;
        let recorded = store.get_meta(META_HEAD)?.map(|b| fixed::<40>(&b)).transpose()?;
        let mut head =
            Head { len: 0, last: ZERO_HASH, raft: raft.map(u64::from_be_bytes), frontier: Frontier::default() };
        if let Some((index, record)) = store.last()? {
            let last = decode_at(index, &record)?;
            let prev = match index.checked_sub(1) {
                None => Some(ZERO_HASH),
                Some(p) => store.get(p)?.map(|r| decode_at(p, &r)).transpose()?.map(|s| s.leaf),
            };
            let bad = || AuditError::Corrupt(format!("entry {index} does not match head and chain"));
            if recorded != Some(head_meta(index, &last.leaf)) || prev != Some(last.prev) {
                return Err(bad());
            }
            head.len = index.checked_add(1).ok_or_else(bad)?;
            head.last = last.leaf;
        } else if recorded.is_some() {
            return Err(AuditError::Corrupt("head recorded but no entries".into()));
        }
        head.frontier = if has_tree {
            tree::load(&store, head.len, &head.last)?
        } else {
            let frontier = tree::rebuild(&store, head.len, &head.last)?;
            store.put_meta(META_FORMAT, &[STORE_FORMAT])?;
            frontier
        };
        Ok(Self { store, head: Mutex::new(head) })
    }

    /// Appends `draft` as the next entry and returns it.
    pub fn append(&self, draft: EntryDraft) -> Result<AuditEntry, AuditError> {
        append_locked(&self.store, &mut self.lock(), draft)
    }

    /// Appends `drafts` as the next entries, in order, and returns them.
    ///
    /// The entries, the chain, the tree and every proof are exactly those of appending the
    /// drafts one at a time with [`AuditLog::append`]; the difference is the write: every
    /// record, the tree nodes they complete and the new head go to the store in one atomic
    /// write ([`AuditStore::append_batch`]), which amortizes the store's per-write cost. All or
    /// nothing: if a draft exceeds a size limit or the write fails, nothing is appended.
    /// Durability is the store's, as for [`AuditLog::append`] (see [`AuditLog::flush`]).
    /// An empty batch writes nothing.
    pub fn append_batch(&self, drafts: Vec<EntryDraft>) -> Result<Vec<AuditEntry>, AuditError> {
        append_batch_locked(&self.store, &mut self.lock(), drafts)
    }

    /// Idempotent append for replicated entries: if `draft.raft_index` is `Some(i)` and an
    /// entry with a Raft index `>= i` was already appended, does nothing and returns
    /// `Ok(None)`. A restarted node re-applies Raft entries, and this keeps them single.
    pub fn append_replicated(&self, draft: EntryDraft) -> Result<Option<AuditEntry>, AuditError> {
        let mut head = self.lock();
        if let (Some(new), Some(seen)) = (draft.raft_index, head.raft) {
            if new <= seen {
                return Ok(None);
            }
        }
        append_locked(&self.store, &mut head, draft).map(Some)
    }

    /// Number of entries.
    pub fn len(&self) -> u64 {
        self.lock().len
    }

    /// Whether the log has no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Index and leaf hash of the last entry.
    pub fn head(&self) -> Option<(u64, Hash)> {
        let head = self.lock();
        head.len.checked_sub(1).map(|i| (i, head.last))
    }

    /// Highest Raft index of any appended entry.
    pub fn last_raft_index(&self) -> Option<u64> {
        self.lock().raft
    }

    /// Up to `limit` entries from index `start`, in order.
    pub fn entries(&self, start: u64, limit: usize) -> Result<Vec<AuditEntry>, AuditError> {
        let len = self.len();
        let limit = usize::try_from(len.saturating_sub(start)).map_or(limit, |n| n.min(limit));
        Ok(self.read(start, limit)?.into_iter().map(|s| s.entry).collect())
    }

    /// Makes every appended entry durable.
    pub fn flush(&self) -> Result<(), AuditError> {
        self.store.flush()
    }

    /// A snapshot of the head.
    pub(crate) fn snapshot(&self) -> Head {
        self.lock().clone()
    }

    /// Decodes `limit` consecutive records from `start`; a gap is corruption.
    pub(crate) fn read(&self, start: u64, limit: usize) -> Result<Vec<Stored>, AuditError> {
        read_records(&self.store, start, limit)
    }

    fn lock(&self) -> MutexGuard<'_, Head> {
        // The head is assigned only after a successful store write, never half-updated.
        self.head.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Decodes `limit` consecutive records from `start`; a gap is corruption.
fn read_records<S: AuditStore>(store: &S, start: u64, limit: usize) -> Result<Vec<Stored>, AuditError> {
    let records = store.range(start, limit)?;
    if records.len() != limit {
        return Err(AuditError::Corrupt(format!("entries missing from {start}")));
    }
    let mut out = Vec::with_capacity(records.len());
    for (offset, (index, record)) in records.into_iter().enumerate() {
        if Some(index) != start.checked_add(offset as u64) {
            return Err(AuditError::Corrupt(format!("gap before entry {index}")));
        }
        out.push(decode_at(index, &record)?);
    }
    Ok(out)
}

fn append_locked<S: AuditStore>(store: &S, head: &mut Head, draft: EntryDraft) -> Result<AuditEntry, AuditError> {
    let Encoded { record, leaf, entry } = encode_next(head, draft)?;
    let raft = head.raft.max(entry.raft_index);
    let head_meta = head_meta(entry.index, &leaf);
    let raft_meta = raft.map(u64::to_be_bytes);
    let mut meta: Vec<(&str, &[u8])> = vec![(META_HEAD, &head_meta)];
    if let Some(r) = raft_meta.as_ref().filter(|_| raft != head.raft) {
        meta.push((META_RAFT, r));
    }
    let completed = head.frontier.completed_by(&leaf);
    store.append_with_nodes(entry.index, &record, &completed, &meta)?;
    advance(head, &leaf, &completed, entry.raft_index);
    Ok(entry)
}

/// [`AuditLog::append_batch`] under the head's lock: encodes every draft against a copy of the
/// head, then writes all records, nodes and the final metadata in one store write and only
/// then moves the head.
fn append_batch_locked<S: AuditStore>(
    store: &S,
    head: &mut Head,
    drafts: Vec<EntryDraft>,
) -> Result<Vec<AuditEntry>, AuditError> {
    if drafts.is_empty() {
        return Ok(Vec::new());
    }
    let mut next = head.clone();
    let mut records = Vec::with_capacity(drafts.len());
    let mut entries = Vec::with_capacity(drafts.len());
    // One completed node per entry on average (a tree of n leaves has n - 1 interior nodes).
    let mut nodes = Vec::with_capacity(drafts.len());
    for draft in drafts {
        let Encoded { record, leaf, entry } = encode_next(&next, draft)?;
        let completed = next.frontier.completed_by(&leaf);
        advance(&mut next, &leaf, &completed, entry.raft_index);
        nodes.extend_from_slice(&completed);
        records.push((entry.index, record));
        entries.push(entry);
    }
    let head_meta = head_meta(next.len - 1, &next.last);
    let raft_meta = next.raft.map(u64::to_be_bytes);
    let mut meta: Vec<(&str, &[u8])> = vec![(META_HEAD, &head_meta)];
    if let Some(r) = raft_meta.as_ref().filter(|_| next.raft != head.raft) {
        meta.push((META_RAFT, r));
    }
    let records: Vec<(u64, &[u8])> = records.iter().map(|(i, r)| (*i, r.as_slice())).collect();
    store.append_batch(&records, &nodes, &meta)?;
    *head = next;
    Ok(entries)
}

/// A draft encoded as the entry after `head`: its canonical bytes, leaf hash and the entry.
struct Encoded {
    record: Vec<u8>,
    leaf: Hash,
    entry: AuditEntry,
}

/// Checks `draft`'s size limits and encodes it as the next entry after `head` (index
/// `head.len`, linked to `head.last`). Changes nothing.
fn encode_next(head: &Head, draft: EntryDraft) -> Result<Encoded, AuditError> {
    check_len("kind", draft.kind.len(), MAX_KIND_LEN)?;
    check_len("actor", draft.actor.len(), MAX_ACTOR_LEN)?;
    let payload_json = crate::canonical::canonical_json(&draft.payload)?;
    check_len("payload", payload_json.len(), MAX_PAYLOAD_LEN)?;
    let index = head.len;
    let record = Fields {
        index,
        time_ms: draft.time_ms,
        kind: &draft.kind,
        actor: &draft.actor,
        payload_json: &payload_json,
        raft_index: draft.raft_index,
        prev_hash: &head.last,
    }
    .encode();
    let leaf = entry::leaf_hash(&record);
    let entry = AuditEntry {
        index,
        time_ms: draft.time_ms,
        kind: draft.kind,
        actor: draft.actor,
        payload: draft.payload,
        raft_index: draft.raft_index,
        prev_hash: hex::encode(head.last),
        leaf_hash: hex::encode(leaf),
    };
    Ok(Encoded { record, leaf, entry })
}

/// Moves `head` past an appended entry with leaf hash `leaf` that completed the tree nodes
/// `completed` (from [`Frontier::completed_by`]) and carried `raft_index`.
fn advance(head: &mut Head, leaf: &Hash, completed: &[(crate::merkle::NodeId, Hash)], raft_index: Option<u64>) {
    head.frontier.push(leaf, completed);
    head.len += 1;
    head.last = *leaf;
    head.raft = head.raft.max(raft_index);
}

fn check_len(field: &'static str, len: usize, max: usize) -> Result<(), AuditError> {
    if len > max {
        return Err(AuditError::TooLarge { field, len, max });
    }
    Ok(())
}

fn decode_at(index: u64, record: &[u8]) -> Result<Stored, AuditError> {
    let stored = entry::decode(record)?;
    if stored.entry.index != index {
        return Err(AuditError::Corrupt(format!("record under key {index} says index {}", stored.entry.index)));
    }
    Ok(stored)
}

/// The `head` meta value: index of the last entry, then its leaf hash.
fn head_meta(index: u64, leaf: &Hash) -> [u8; 40] {
    let mut out = [0; 40];
    out[..8].copy_from_slice(&index.to_be_bytes());
    out[8..].copy_from_slice(leaf);
    out
}

fn fixed<const N: usize>(b: &[u8]) -> Result<[u8; N], AuditError> {
    <[u8; N]>::try_from(b).map_err(|_| AuditError::Corrupt(format!("meta value of {} bytes", b.len())))
}

#[cfg(test)]
mod tests;
