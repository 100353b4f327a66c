//! The audit log: appends drafts to the hash chain and the Merkle tree, and reads them back.
//!
//! [`AuditLog`] keeps the head of the chain (length, last leaf hash, highest Raft index) and
//! the tree's frontier (see [`crate::merkle`]) in memory behind a mutex. An append first
//! checks the draft's size limits and encodes its payload as canonical JSON, outside the
//! mutex; then, under it, encodes the entry with the next index and the head's hash as
//! `prev_hash`, computes the tree nodes the new leaf completes, writes the record, the
//! completed nodes the store keeps (level [`crate::merkle::LOWEST_STORED_LEVEL`] and up) and
//! the new head metadata to the [`AuditStore`] in one atomic write, and only then moves the
//! head and the frontier. A batched append ([`AuditLog::append_batch`]) does the same for
//! several drafts against a copy of the head, in one write. Appends made from several
//! threads at once are batched the same way by group commit (the `group` submodule): one
//! write for all the drafts queued while the previous write was under way.
//!
//! Durability: an append returns once its write is in the store, never earlier. The sled
//! store does not fsync a write; [`AuditLog::flush`] does, so every append that returned
//! before a `flush` that succeeds survives a crash. Without a flush an entry reaches the disk
//! with sled's background flush (within about 500 ms), and because sled recovers a prefix of
//! its writes, a crash never keeps a later write of the same database (the registry, say)
//! without the audit entries written before it.
//!
//! On open the head is rebuilt from the store, and the last entry's hash and its link to the
//! entry before are checked against the recorded head; the `tree` submodule then loads the
//! frontier from the stored nodes and checks that it binds the last entry, or builds the
//! tree from the records when the store predates it (format 1). The same submodule answers
//! tree heads, roots of earlier sizes and proofs.
//!
//! Metadata keys in the store: `format_version` (one byte, [`STORE_FORMAT`]), `head` (u64
//! big-endian index of the last entry then its 32-byte leaf hash) and `raft_index` (u64
//! big-endian, the highest Raft index appended so far).

use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::entry::{self, Fields, Stored, MAX_ACTOR_LEN, MAX_KIND_LEN, MAX_PAYLOAD_LEN, ZERO_HASH};
use crate::merkle::{Frontier, NodeId, LOWEST_STORED_LEVEL};
use crate::{AuditEntry, AuditError, AuditStore, EntryDraft, Hash};

mod group;
mod tree;

/// Version of the store layout (keys, metadata); checked on open. 3: records, head metadata
/// and the Merkle tree nodes of level [`LOWEST_STORED_LEVEL`] and up. A version-2 store
/// (every node of level 1 and up) is read as it is and relabelled 3 on open: the nodes it has
/// below level 8 are no longer read. A version-1 store (records and head only) is upgraded on
/// open by building its tree from the records.
pub const STORE_FORMAT: u8 = 3;

/// The store layout before the Merkle tree: records and head metadata only.
const STORE_FORMAT_CHAIN_ONLY: u8 = 1;

/// The store layout that kept every tree node of level 1 and up.
const STORE_FORMAT_ALL_NODES: u8 = 2;

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
    group: group::GroupCommit,
}

impl<S: AuditStore> AuditLog<S> {
    /// Opens the log in `store`, loading and checking its head.
    ///
    /// A store written before the Merkle tree existed gets its tree built here, once, in
    /// time linear in the log's length; every later open reads `O(log n)` tree nodes.
    pub fn open(store: S) -> Result<Self, AuditError> {
        let format = match store.get_meta(META_FORMAT)?.as_deref() {
            None => STORE_FORMAT_CHAIN_ONLY,
            Some([v @ (STORE_FORMAT_CHAIN_ONLY | STORE_FORMAT_ALL_NODES | STORE_FORMAT)]) => *v,
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
        head.frontier = if format == STORE_FORMAT_CHAIN_ONLY {
            tree::rebuild(&store, head.len, &head.last)?
        } else {
            tree::load(&store, head.len, &head.last)?
        };
        if format != STORE_FORMAT {
            store.put_meta(META_FORMAT, &[STORE_FORMAT])?;
        }
        Ok(Self { store, head: Mutex::new(head), group: group::GroupCommit::default() })
    }

    /// Appends `draft` as the next entry and returns it, once it is in the store.
    ///
    /// Appends from several threads at once are group-committed: one thread writes all the
    /// drafts queued while the previous write was under way, in one store write, as
    /// [`AuditLog::append_batch`] would; each call still returns its own entry, after that
    /// write. A draft over a size limit fails alone and is not queued; a failed write fails
    /// every append in it, and none of them is appended.
    pub fn append(&self, draft: EntryDraft) -> Result<AuditEntry, AuditError> {
        let prepared = Prepared::new(draft)?;
        self.group.append(prepared, |drafts| append_prepared(&self.store, &mut self.lock(), drafts))
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
        let prepared = drafts.into_iter().map(Prepared::new).collect::<Result<Vec<_>, _>>()?;
        append_prepared(&self.store, &mut self.lock(), prepared)
    }

    /// Idempotent append for replicated entries, in one write: a draft whose `raft_index` is
    /// `Some(i)` is left out if an entry with a Raft index `>= i` was already appended (before
    /// or earlier in `drafts`); the rest are appended as [`AuditLog::append_batch`] would, and
    /// returned. A restarted node re-applies Raft entries, and this keeps them single; a batch
    /// of applied entries costs one store write. All or nothing, as `append_batch`.
    pub fn append_replicated(&self, drafts: Vec<EntryDraft>) -> Result<Vec<AuditEntry>, AuditError> {
        let prepared = drafts.into_iter().map(Prepared::new).collect::<Result<Vec<_>, _>>()?;
        let mut head = self.lock();
        let mut seen = head.raft;
        let fresh = prepared
            .into_iter()
            .filter(|p| match p.draft.raft_index {
                Some(new) if seen.is_some_and(|seen| new <= seen) => false,
                Some(new) => {
                    seen = Some(new);
                    true
                }
                None => true,
            })
            .collect();
        append_prepared(&self.store, &mut head, fresh)
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

    /// Makes every appended entry durable: when this returns `Ok`, every append that
    /// returned before it survives a crash (the sled store fsyncs).
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

/// Appends `drafts` under the head's lock: encodes every draft against a copy of the head,
/// then writes all records, the stored nodes they complete and the final metadata in one
/// store write, and only then moves the head. An empty batch writes nothing.
fn append_prepared<S: AuditStore>(
    store: &S,
    head: &mut Head,
    drafts: Vec<Prepared>,
) -> Result<Vec<AuditEntry>, AuditError> {
    if drafts.is_empty() {
        return Ok(Vec::new());
    }
    let mut next = head.clone();
    let mut records = Vec::with_capacity(drafts.len());
    let mut entries = Vec::with_capacity(drafts.len());
    let mut nodes: Vec<(NodeId, Hash)> = Vec::new();
    for draft in drafts {
        let Encoded { record, leaf, entry } = encode_next(&next, draft);
        next.frontier.append_keeping(&leaf, LOWEST_STORED_LEVEL, &mut nodes);
        next.len += 1;
        next.last = leaf;
        next.raft = next.raft.max(entry.raft_index);
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

/// A draft within the size limits, with its payload's canonical JSON: the part of an entry
/// that does not depend on its place in the log, made before taking the head's lock.
#[derive(Debug)]
pub(crate) struct Prepared {
    draft: EntryDraft,
    payload_json: Vec<u8>,
}

impl Prepared {
    /// Checks `draft`'s size limits and encodes its payload.
    fn new(draft: EntryDraft) -> Result<Self, AuditError> {
        check_len("kind", draft.kind.len(), MAX_KIND_LEN)?;
        check_len("actor", draft.actor.len(), MAX_ACTOR_LEN)?;
        let payload_json = crate::canonical::canonical_json(&draft.payload)?;
        check_len("payload", payload_json.len(), MAX_PAYLOAD_LEN)?;
        Ok(Self { draft, payload_json })
    }
}

/// A draft encoded as the entry after `head`: its canonical bytes, leaf hash and the entry.
struct Encoded {
    record: Vec<u8>,
    leaf: Hash,
    entry: AuditEntry,
}

/// Encodes `prepared` as the next entry after `head` (index `head.len`, linked to
/// `head.last`).
fn encode_next(head: &Head, prepared: Prepared) -> Encoded {
    let Prepared { draft, payload_json } = prepared;
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
        prev_hash: entry::hex_string(&head.last),
        leaf_hash: entry::hex_string(&leaf),
    };
    Encoded { record, leaf, entry }
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
