//! The audit log: appends drafts to the hash chain and the Merkle tree, and reads them back.
//!
//! [`AuditLog`] keeps the head of the chain (length, last leaf hash, highest Raft index), the
//! tree's frontier (see [`crate::merkle`]) and the tail behind one mutex. An append first
//! checks the draft's size limits and encodes its payload as canonical JSON, outside the
//! mutex; then, under it, encodes the entry with the next index and the head's hash as
//! `prev_hash`, computes the tree nodes the new leaf completes, and moves the head and the
//! frontier. The entry's record and those nodes join the **tail**: appended entries not yet
//! written to the [`AuditStore`]. The tail goes to the store in one atomic write, with the new
//! head metadata, when it reaches [`TAIL_MAX_ENTRIES`] entries, with every batched or
//! replicated append ([`AuditLog::append_batch`], [`AuditLog::append_replicated`]), at
//! [`AuditLog::persist`] and [`AuditLog::flush`], before any read of the store that reaches
//! into it (entries, roots, proofs, exports), and when the log is dropped. So appends made one
//! at a time cost what one batch of them would: sled's cost is per write and per key, not per
//! byte, and one write per entry held single appends to about 8,000 per second.
//!
//! A write that fails changes nothing: the head stays where it was and the tail keeps its
//! entries for the next write. The append that asked for it fails, and so does every append
//! while the tail is full.
//!
//! Durability: an append returns once its entry is in the log (readable, provable, in the tree
//! head), not once it is on disk. [`AuditLog::flush`] writes the tail and fsyncs, so every
//! append that returned before a `flush` that succeeds survives a crash. Without a flush an
//! entry reaches the store with the tail (the node persists it every 50 ms) and the disk with
//! sled's background flush (within about 500 ms): a crash loses at most that window, as sled
//! alone would. Because the tail is always written before the entries of a replicated append
//! in the same write, and sled recovers a prefix of its writes, a crash never keeps a later
//! write of the same database (the registry, say) without the audit entries written before it.
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
use crate::merkle::{Frontier, NodeId, TreeHead, LOWEST_STORED_LEVEL};
use crate::{AuditEntry, AuditError, AuditStore, EntryDraft, Hash};

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

/// Most entries the tail holds: an append that would take it past this writes it first.
/// A thousand typical entries are about 300 KB in memory and one sled write of a few dozen
/// keys.
pub const TAIL_MAX_ENTRIES: usize = 1024;

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

/// Appended entries not yet in the store: their records and the stored-level tree nodes
/// they complete, in append order.
#[derive(Debug, Default)]
struct Tail {
    records: Vec<(u64, Vec<u8>)>,
    nodes: Vec<(NodeId, Hash)>,
}

/// What the mutex guards: the head, and the tail that the store lacks to reach it.
#[derive(Debug)]
struct State {
    head: Head,
    tail: Tail,
}

/// When an append writes the tail (with its own entries) to the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Write {
    /// Only when the tail would pass [`TAIL_MAX_ENTRIES`].
    WhenFull,
    /// Now, if there is anything to write.
    Now,
}

/// A node's append-only, hash-chained audit log over a store `S`.
///
/// `Send + Sync`: appends from several tasks serialize on an internal mutex. Dropping the
/// log writes its tail to the store, ignoring a failure, as `std::io::BufWriter` does;
/// [`AuditLog::flush`] reports it.
#[derive(Debug)]
pub struct AuditLog<S: AuditStore> {
    pub(crate) store: S,
    state: Mutex<State>,
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
        Ok(Self { store, state: Mutex::new(State { head, tail: Tail::default() }) })
    }

    /// Appends `draft` as the next entry and returns it, once it is in the log: in the tail,
    /// or with the tail in the store when the tail was full (see the module docs). A draft
    /// over a size limit, or an append whose write of a full tail fails, appends nothing.
    pub fn append(&self, draft: EntryDraft) -> Result<AuditEntry, AuditError> {
        let prepared = Prepared::new(draft)?;
        let mut entries = append_prepared(&self.store, &mut self.lock(), vec![prepared], Write::WhenFull)?;
        entries.pop().ok_or_else(|| AuditError::Corrupt("an append made no entry".into()))
    }

    /// Appends `drafts` as the next entries, in order, and returns them.
    ///
    /// The entries, the chain, the tree and every proof are exactly those of appending the
    /// drafts one at a time with [`AuditLog::append`]; the difference is the write: every
    /// record, the tree nodes they complete and the new head go to the store in one atomic
    /// write ([`AuditStore::append_batch`]) together with the tail, and return once it is in
    /// the store. All or nothing: if a draft exceeds a size limit or the write fails, nothing
    /// is appended. Durability is the store's (see [`AuditLog::flush`]). An empty batch
    /// writes only the tail.
    pub fn append_batch(&self, drafts: Vec<EntryDraft>) -> Result<Vec<AuditEntry>, AuditError> {
        let prepared = drafts.into_iter().map(Prepared::new).collect::<Result<Vec<_>, _>>()?;
        append_prepared(&self.store, &mut self.lock(), prepared, Write::Now)
    }

    /// Idempotent append for replicated entries, in one write: a draft whose `raft_index` is
    /// `Some(i)` is left out if an earlier call appended an entry with a Raft index `>= i`, or
    /// if a higher Raft index came before it in `drafts`. Drafts that share one Raft index in
    /// a call are all kept: one Raft entry can carry several proposals, and the state machine
    /// appends all of an entry's drafts in the same call. The rest are appended as
    /// [`AuditLog::append_batch`] would, and returned. A restarted node re-applies Raft
    /// entries, and this keeps them single; a batch of applied entries costs one store write.
    /// All or nothing, as `append_batch`.
    pub fn append_replicated(&self, drafts: Vec<EntryDraft>) -> Result<Vec<AuditEntry>, AuditError> {
        let prepared = drafts.into_iter().map(Prepared::new).collect::<Result<Vec<_>, _>>()?;
        let mut state = self.lock();
        let appended_before = state.head.raft;
        let mut highest = appended_before;
        let fresh = prepared
            .into_iter()
            .filter(|p| match p.draft.raft_index {
                Some(new) if appended_before.is_some_and(|before| new <= before) => false,
                Some(new) if highest.is_some_and(|highest| new < highest) => false,
                Some(new) => {
                    highest = Some(new);
                    true
                }
                None => true,
            })
            .collect();
        append_prepared(&self.store, &mut state, fresh, Write::Now)
    }

    /// Number of entries.
    pub fn len(&self) -> u64 {
        self.lock().head.len
    }

    /// Whether the log has no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Index and leaf hash of the last entry.
    pub fn head(&self) -> Option<(u64, Hash)> {
        let head = &self.lock().head;
        head.len.checked_sub(1).map(|i| (i, head.last))
    }

    /// Highest Raft index of any appended entry.
    pub fn last_raft_index(&self) -> Option<u64> {
        self.lock().head.raft
    }

    /// Up to `limit` entries from index `start`, in order.
    pub fn entries(&self, start: u64, limit: usize) -> Result<Vec<AuditEntry>, AuditError> {
        let len = self.stored_head()?.len;
        let limit = usize::try_from(len.saturating_sub(start)).map_or(limit, |n| n.min(limit));
        Ok(self.read(start, limit)?.into_iter().map(|s| s.entry).collect())
    }

    /// Writes the tail to the store (without fsync), so that every entry appended before is
    /// there.
    pub fn persist(&self) -> Result<(), AuditError> {
        write_tail(&self.store, &mut self.lock())
    }

    /// Makes every appended entry durable and returns the tree head they make up: when this
    /// returns `Ok`, every append that returned before it survives a crash (the tail is
    /// written, then the sled store fsyncs). A checkpoint signed over that head covers only
    /// entries on disk.
    pub fn flush(&self) -> Result<TreeHead, AuditError> {
        let head = self.stored_head()?;
        self.store.flush()?;
        Ok(TreeHead { size: head.len, root: head.frontier.root() })
    }

    /// The head, once every entry up to it is in the store (the tail written first).
    pub(crate) fn stored_head(&self) -> Result<Head, AuditError> {
        let mut state = self.lock();
        write_tail(&self.store, &mut state)?;
        Ok(state.head.clone())
    }

    /// Checks that `size` is at most the log's length and that the store holds the first
    /// `size` entries, writing the tail if it must.
    pub(crate) fn stored_up_to(&self, size: u64) -> Result<(), AuditError> {
        let mut state = self.lock();
        let len = state.head.len;
        if size > len {
            return Err(AuditError::InvalidRange(format!("tree size {size} is past the log's {len} entries")));
        }
        if size > len - state.tail.records.len() as u64 {
            write_tail(&self.store, &mut state)?;
        }
        Ok(())
    }

    /// Decodes `limit` consecutive records from `start`; a gap is corruption.
    pub(crate) fn read(&self, start: u64, limit: usize) -> Result<Vec<Stored>, AuditError> {
        read_records(&self.store, start, limit)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The head and tail are assigned together after the write (if any) succeeded, never
        // half-updated.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<S: AuditStore> Drop for AuditLog<S> {
    fn drop(&mut self) {
        // A failure cannot be reported here; `flush` is how a caller learns of it.
        let _ = self.persist();
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

/// Appends `drafts` under the lock: encodes every draft against a copy of the head, then,
/// if `write` says so or the tail would pass [`TAIL_MAX_ENTRIES`], writes the tail, the new
/// records, the stored nodes they complete and the final metadata in one store write; only
/// then moves the head (and clears the tail, or adds the new records to it). A failed write
/// changes nothing.
fn append_prepared<S: AuditStore>(
    store: &S,
    state: &mut State,
    drafts: Vec<Prepared>,
    write: Write,
) -> Result<Vec<AuditEntry>, AuditError> {
    let mut next = state.head.clone();
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
    let pending = state.tail.records.len() + records.len();
    if pending > 0 && (write == Write::Now || pending > TAIL_MAX_ENTRIES) {
        write_out(store, &state.tail, &records, &nodes, &next)?;
        state.tail = Tail::default();
    } else {
        state.tail.records.extend(records);
        state.tail.nodes.extend(nodes);
    }
    state.head = next;
    Ok(entries)
}

/// Writes the tail, if any, to the store and empties it; a failed write keeps it.
fn write_tail<S: AuditStore>(store: &S, state: &mut State) -> Result<(), AuditError> {
    if state.tail.records.is_empty() {
        return Ok(());
    }
    write_out(store, &state.tail, &[], &[], &state.head)?;
    state.tail = Tail::default();
    Ok(())
}

/// Writes `tail` then the new `records` and `nodes`, with the metadata of `head` (the head
/// after them), in one store write.
fn write_out<S: AuditStore>(
    store: &S,
    tail: &Tail,
    records: &[(u64, Vec<u8>)],
    nodes: &[(NodeId, Hash)],
    head: &Head,
) -> Result<(), AuditError> {
    let head_meta = head_meta(head.len - 1, &head.last);
    let raft_meta = head.raft.map(u64::to_be_bytes);
    let mut meta: Vec<(&str, &[u8])> = vec![(META_HEAD, &head_meta)];
    if let Some(r) = raft_meta.as_ref() {
        meta.push((META_RAFT, r));
    }
    let records: Vec<(u64, &[u8])> = tail.records.iter().chain(records).map(|(i, r)| (*i, r.as_slice())).collect();
    let nodes: Vec<(NodeId, Hash)> = tail.nodes.iter().chain(nodes).copied().collect();
    store.append_batch(&records, &nodes, &meta)
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
