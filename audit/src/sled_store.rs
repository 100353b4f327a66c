//! The sled engine for [`AuditStore`].
//!
//! Records live in the tree `audit_chunks`, several to a key: each write splits its records
//! into runs of consecutive indices, cuts each run into chunks of at most [`CHUNK_BYTES`]
//! (or one record), and stores every chunk under the big-endian index of its first record
//! (so sled's byte order is index order). A chunk's value is a `u32` record count, one `u32`
//! end offset per record, then the records back to back (all big-endian). sled's cost is
//! mostly per key and per atomic write, so a batched append or a full tail of hundreds
//! of entries costs one write of a few dozen keys rather than a write and a key per entry. A
//! record is read back by seeking to the last chunk that starts at or before its index.
//!
//! Merkle tree nodes live in `audit_nodes`, keyed by 9 bytes (the level, then the
//! big-endian index within the level) with the 32-byte hash as value; metadata lives in
//! `audit_meta`. All trees belong to a `sled::Db` shared with other components. A write,
//! single or batched, is one sled transaction over the three trees. It does not fsync: what
//! is written reaches the disk when [`AuditStore::flush`] calls `Db::flush`, or earlier
//! through sled's background flusher (every 500 ms with the default configuration that
//! [`open_sled`] uses). sled recovers a prefix of its writes after a crash, so a write of
//! this store is never recovered without the writes made before it.
//!
//! A database written before chunks kept one key per record in `audit_entries`; opening it
//! moves those records into chunks (once, in time linear in the log), drops the old tree and
//! flushes before any append. A move that was interrupted is redone from the old tree on the
//! next open, writing the same chunks again.

use std::convert::Infallible;

use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;

use crate::merkle::NodeId;
use crate::{AuditError, AuditStore, Hash};

/// Tree holding the records, in chunks.
const CHUNKS_TREE: &str = "audit_chunks";
/// Tree holding the log metadata.
const META_TREE: &str = "audit_meta";
/// Tree holding the Merkle tree node hashes.
const NODES_TREE: &str = "audit_nodes";
/// Tree of the layout before chunks: one key per record; moved into chunks on open.
const LEGACY_ENTRIES_TREE: &str = "audit_entries";

/// A chunk is closed before a record would take it past this many bytes of records (a
/// larger record gets a chunk of its own). A leaf of sled's tree holds up to 17 values, and
/// one past 128 KiB is written to a separate blob file, which sled does not fsync; 17 chunks
/// of 6 KiB stay below that, while a key's fixed cost is still spread over a dozen typical
/// entries.
const CHUNK_BYTES: usize = 6 * 1024;

/// Records read from the old layout per write while moving them into chunks.
const MIGRATE_BATCH: usize = 4096;

/// An [`AuditStore`] in three trees of a shared `sled::Db`.
#[derive(Debug, Clone)]
pub struct SledAuditStore {
    db: sled::Db,
    chunks: sled::Tree,
    nodes: sled::Tree,
    meta: sled::Tree,
}

impl SledAuditStore {
    /// Opens (creating if needed) the audit trees of `db`, first moving the records of the
    /// layout before chunks, if any, into chunks.
    pub fn open(db: &sled::Db) -> Result<Self, AuditError> {
        let store = Self {
            db: db.clone(),
            chunks: db.open_tree(CHUNKS_TREE).map_err(AuditError::storage)?,
            nodes: db.open_tree(NODES_TREE).map_err(AuditError::storage)?,
            meta: db.open_tree(META_TREE).map_err(AuditError::storage)?,
        };
        store.migrate_legacy_records()?;
        Ok(store)
    }

    /// Moves the records of `audit_entries` into chunks, drops that tree and flushes, so
    /// that no append lands in chunks while the old tree can still come back.
    fn migrate_legacy_records(&self) -> Result<(), AuditError> {
        if !self.db.tree_names().iter().any(|name| name == LEGACY_ENTRIES_TREE.as_bytes()) {
            return Ok(());
        }
        let legacy = self.db.open_tree(LEGACY_ENTRIES_TREE).map_err(AuditError::storage)?;
        // Chunks are cut the same way every time, so a move that was interrupted is redone
        // by writing the same chunks over the ones it wrote.
        let mut batch: Vec<(u64, sled::IVec)> = Vec::with_capacity(MIGRATE_BATCH);
        let mut iter = legacy.iter();
        loop {
            batch.clear();
            for kv in iter.by_ref().take(MIGRATE_BATCH) {
                let (k, v) = kv.map_err(AuditError::storage)?;
                batch.push((key_index(&k)?, v));
            }
            if batch.is_empty() {
                break;
            }
            let records: Vec<(u64, &[u8])> = batch.iter().map(|(i, r)| (*i, r.as_ref())).collect();
            let mut chunks = sled::Batch::default();
            for (first, value) in encode_chunks(&records) {
                chunks.insert(&first.to_be_bytes()[..], value);
            }
            self.chunks.apply_batch(chunks).map_err(AuditError::storage)?;
        }
        self.db.drop_tree(LEGACY_ENTRIES_TREE).map_err(AuditError::storage)?;
        self.db.flush().map_err(AuditError::storage)?;
        Ok(())
    }

    /// The chunk that would hold `index`: the last one starting at or before it, as its first
    /// index and its value, unparsed. It may end before `index`.
    fn chunk_of(&self, index: u64) -> Result<Option<(u64, sled::IVec)>, AuditError> {
        let Some(kv) = self.chunks.range(..=index.to_be_bytes()).next_back() else {
            return Ok(None);
        };
        let (k, v) = kv.map_err(AuditError::storage)?;
        Ok(Some((key_index(&k)?, v)))
    }
}

fn key_index(key: &[u8]) -> Result<u64, AuditError> {
    <[u8; 8]>::try_from(key)
        .map(u64::from_be_bytes)
        .map_err(|_| AuditError::Corrupt(format!("audit record key of {} bytes", key.len())))
}

/// The `audit_nodes` key of `id`: level, then big-endian index.
fn node_key(id: NodeId) -> [u8; 9] {
    let mut key = [0; 9];
    key[0] = id.level;
    key[1..].copy_from_slice(&id.index.to_be_bytes());
    key
}

/// `records` as chunks: `(index of the first record, chunk value)`, a new chunk wherever
/// the indices skip or the current chunk would pass [`CHUNK_BYTES`].
fn encode_chunks(records: &[(u64, &[u8])]) -> Vec<(u64, Vec<u8>)> {
    let mut out = Vec::new();
    let mut run_start = 0;
    let mut bytes = 0;
    for (i, (index, record)) in records.iter().enumerate() {
        let follows = i > run_start && records[i - 1].0.checked_add(1) == Some(*index);
        if i > run_start && (!follows || bytes + record.len() > CHUNK_BYTES) {
            out.push((records[run_start].0, Chunk::encode(&records[run_start..i])));
            run_start = i;
            bytes = 0;
        }
        bytes += record.len();
    }
    if run_start < records.len() {
        out.push((records[run_start].0, Chunk::encode(&records[run_start..])));
    }
    out
}

/// A decoded chunk value: the end offset of each record, and the records back to back.
struct Chunk<'a> {
    ends: &'a [u8],
    data: &'a [u8],
}

impl<'a> Chunk<'a> {
    /// The value of a chunk of `records` (consecutive indices, at least one).
    fn encode(records: &[(u64, &[u8])]) -> Vec<u8> {
        let data: usize = records.iter().map(|(_, r)| r.len()).sum();
        let mut out = Vec::with_capacity(4 + 4 * records.len() + data);
        out.extend_from_slice(&(records.len() as u32).to_be_bytes());
        let mut end = 0u32;
        for (_, record) in records {
            end += record.len() as u32;
            out.extend_from_slice(&end.to_be_bytes());
        }
        for (_, record) in records {
            out.extend_from_slice(record);
        }
        out
    }

    /// Parses and checks a chunk value: a count of at least one, offsets that never go back
    /// and end at the end of the data.
    fn parse(value: &'a [u8]) -> Result<Self, AuditError> {
        let bad = |what: &str| AuditError::Corrupt(format!("audit chunk: {what}"));
        let (count, rest) = value.split_first_chunk::<4>().ok_or_else(|| bad("truncated"))?;
        let count = u32::from_be_bytes(*count) as usize;
        let table = count.checked_mul(4).filter(|t| *t <= rest.len()).ok_or_else(|| bad("offsets past the end"))?;
        let (ends, data) = rest.split_at(table);
        let chunk = Self { ends, data };
        let mut last = 0;
        for i in 0..count {
            let end = chunk.end(i);
            if end < last {
                return Err(bad("offsets go back"));
            }
            last = end;
        }
        if count == 0 || last != data.len() {
            return Err(bad("offsets do not cover the data"));
        }
        Ok(chunk)
    }

    fn count(&self) -> usize {
        self.ends.len() / 4
    }

    fn end(&self, i: usize) -> usize {
        let bytes: [u8; 4] = self.ends[4 * i..4 * i + 4].try_into().unwrap_or_default();
        u32::from_be_bytes(bytes) as usize
    }

    /// Record `i` of the chunk (`i < count()`).
    fn record(&self, i: usize) -> &'a [u8] {
        let start = if i == 0 { 0 } else { self.end(i - 1) };
        &self.data[start..self.end(i)]
    }
}

impl AuditStore for SledAuditStore {
    fn append_with_nodes(
        &self,
        index: u64,
        record: &[u8],
        nodes: &[(NodeId, Hash)],
        meta: &[(&str, &[u8])],
    ) -> Result<(), AuditError> {
        self.append_batch(&[(index, record)], nodes, meta)
    }

    fn append_batch(
        &self,
        records: &[(u64, &[u8])],
        nodes: &[(NodeId, Hash)],
        meta: &[(&str, &[u8])],
    ) -> Result<(), AuditError> {
        let mut chunks_batch = sled::Batch::default();
        for (first, value) in encode_chunks(records) {
            chunks_batch.insert(&first.to_be_bytes()[..], value);
        }
        let mut nodes_batch = sled::Batch::default();
        for (id, hash) in nodes {
            nodes_batch.insert(&node_key(*id)[..], &hash[..]);
        }
        let mut meta_batch = sled::Batch::default();
        for (k, v) in meta {
            meta_batch.insert(k.as_bytes(), *v);
        }
        let trees = (&self.chunks, &self.nodes, &self.meta);
        let result = trees.transaction(|(chunks, nodes_tree, meta_tree)| {
            chunks.apply_batch(&chunks_batch)?;
            nodes_tree.apply_batch(&nodes_batch)?;
            meta_tree.apply_batch(&meta_batch)?;
            Ok::<(), ConflictableTransactionError<Infallible>>(())
        });
        match result {
            Ok(()) => Ok(()),
            Err(TransactionError::Storage(e)) => Err(AuditError::storage(e)),
            Err(TransactionError::Abort(never)) => match never {},
        }
    }

    fn get(&self, index: u64) -> Result<Option<Vec<u8>>, AuditError> {
        let Some((first, value)) = self.chunk_of(index)? else {
            return Ok(None);
        };
        let chunk = Chunk::parse(&value)?;
        let offset = index - first;
        if offset >= chunk.count() as u64 {
            return Ok(None);
        }
        Ok(Some(chunk.record(offset as usize).to_vec()))
    }

    fn last(&self) -> Result<Option<(u64, Vec<u8>)>, AuditError> {
        let Some((k, v)) = self.chunks.last().map_err(AuditError::storage)? else {
            return Ok(None);
        };
        let chunk = Chunk::parse(&v)?;
        let last = chunk.count() - 1;
        Ok(Some((key_index(&k)? + last as u64, chunk.record(last).to_vec())))
    }

    fn range(&self, start: u64, limit: usize) -> Result<Vec<(u64, Vec<u8>)>, AuditError> {
        let mut out = Vec::with_capacity(limit.min(1024));
        if limit == 0 {
            return Ok(out);
        }
        // From the chunk that would hold `start`; if it ends before `start`, its loop below is
        // empty.
        let from = self.chunk_of(start)?.map_or(start, |(first, _)| first);
        for kv in self.chunks.range(from.to_be_bytes()..) {
            let (k, v) = kv.map_err(AuditError::storage)?;
            let first = key_index(&k)?;
            let chunk = Chunk::parse(&v)?;
            for i in start.saturating_sub(first) as usize..chunk.count() {
                out.push((first + i as u64, chunk.record(i).to_vec()));
                if out.len() == limit {
                    return Ok(out);
                }
            }
        }
        Ok(out)
    }

    fn get_node(&self, id: NodeId) -> Result<Option<Hash>, AuditError> {
        match self.nodes.get(node_key(id)).map_err(AuditError::storage)? {
            None => Ok(None),
            Some(v) => <Hash>::try_from(v.as_ref())
                .map(Some)
                .map_err(|_| AuditError::Corrupt(format!("audit_nodes value of {} bytes", v.len()))),
        }
    }

    fn put_nodes(&self, nodes: &[(NodeId, Hash)]) -> Result<(), AuditError> {
        let mut batch = sled::Batch::default();
        for (id, hash) in nodes {
            batch.insert(&node_key(*id)[..], &hash[..]);
        }
        self.nodes.apply_batch(batch).map_err(AuditError::storage)
    }

    fn get_meta(&self, key: &str) -> Result<Option<Vec<u8>>, AuditError> {
        let v = self.meta.get(key.as_bytes()).map_err(AuditError::storage)?;
        Ok(v.map(|v| v.to_vec()))
    }

    fn put_meta(&self, key: &str, value: &[u8]) -> Result<(), AuditError> {
        self.meta.insert(key.as_bytes(), value).map_err(AuditError::storage)?;
        Ok(())
    }

    fn flush(&self) -> Result<(), AuditError> {
        self.db.flush().map_err(AuditError::storage)?;
        Ok(())
    }
}

/// How long [`open_sled`] waits for a lock held by an earlier handle of the same database.
const SLED_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Bytes of sled's page cache. sled's default is 1 GiB, which a node's database (Raft log,
/// registry, an audit log that only grows) would fill over time; 64 MiB holds the working set
/// (the log's recent chunks and upper tree nodes, the registry) and keeps a node's memory
/// bounded whatever the length of its history.
pub const SLED_CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// Opens the sled database at `path` with a [`SLED_CACHE_BYTES`] page cache and sled's default
/// background flush (every 500 ms), waiting up to ten seconds while the lock file is still
/// held. sled releases its lock from a background thread some time after the last handle is
/// dropped, so a database reopened in the same process (a restart in a test, a component
/// reopening its store) can briefly find it locked.
pub fn open_sled(path: &std::path::Path) -> Result<sled::Db, sled::Error> {
    let deadline = std::time::Instant::now() + SLED_LOCK_WAIT;
    let config = sled::Config::new().path(path).cache_capacity(SLED_CACHE_BYTES);
    loop {
        match config.open() {
            Err(sled::Error::Io(e))
                if e.to_string().contains("could not acquire lock") && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(dir: &tempfile::TempDir) -> (sled::Db, SledAuditStore) {
        let db = open_sled(dir.path()).expect("sled");
        let store = SledAuditStore::open(&db).expect("store");
        (db, store)
    }

    fn record(i: u64, len: usize) -> Vec<u8> {
        let mut r = i.to_be_bytes().to_vec();
        r.resize(len.max(8), b'x');
        r
    }

    #[test]
    fn a_write_becomes_chunks_of_consecutive_indices_within_the_size_limit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (_db, store) = store(&dir);
        let big: Vec<Vec<u8>> = (0..20).map(|i| record(i, 1000)).collect();
        let mut records: Vec<(u64, &[u8])> = big.iter().enumerate().map(|(i, r)| (i as u64, r.as_slice())).collect();
        let far = record(1000, 10);
        records.push((1000, &far));
        store.append_batch(&records, &[], &[]).expect("batch");
        // 1000-byte records: 6 fit in 6 KiB, so 6 + 6 + 6 + 2, then the skip to 1000.
        let keys: Vec<u64> = store.chunks.iter().keys().map(|k| key_index(&k.expect("key")).expect("index")).collect();
        assert_eq!(keys, vec![0, 6, 12, 18, 1000]);
        for (i, r) in &records {
            assert_eq!(store.get(*i).expect("get").as_deref(), Some(*r), "record {i}");
        }
        assert_eq!(store.get(20).expect("get"), None);
        assert_eq!(store.get(999).expect("get"), None);
        let page = store.range(4, 4).expect("range");
        assert_eq!(page.iter().map(|(i, _)| *i).collect::<Vec<_>>(), vec![4, 5, 6, 7]);
        let tail = store.range(19, 10).expect("range");
        assert_eq!(tail.iter().map(|(i, _)| *i).collect::<Vec<_>>(), vec![19, 1000]);
        assert_eq!(store.last().expect("last"), Some((1000, far.clone())));
    }

    #[test]
    fn damaged_chunks_are_corruption() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (_db, store) = store(&dir);
        store.append_batch(&[(0, b"ab"), (1, b"cd")], &[], &[]).expect("batch");
        let good = store.chunks.get(0u64.to_be_bytes()).expect("get").expect("chunk").to_vec();
        let mut back = good.clone();
        back[4..8].copy_from_slice(&5u32.to_be_bytes()); // first end after the second
        let mut short = good.clone();
        short.pop();
        let mut empty = good;
        empty[..4].copy_from_slice(&0u32.to_be_bytes());
        for bad in [back, short, empty, vec![0, 0], vec![0, 0, 0, 9]] {
            store.chunks.insert(0u64.to_be_bytes(), bad.clone()).expect("damage");
            assert!(matches!(store.get(1), Err(AuditError::Corrupt(_))), "{bad:?}");
        }
    }

    #[test]
    fn records_of_the_layout_before_chunks_are_moved_into_chunks() {
        let dir = tempfile::tempdir().expect("tempdir");
        let records: Vec<Vec<u8>> = (0..5000).map(|i| record(i, 100)).collect();
        {
            let db = open_sled(dir.path()).expect("sled");
            let legacy = db.open_tree(LEGACY_ENTRIES_TREE).expect("tree");
            for (i, r) in records.iter().enumerate() {
                legacy.insert((i as u64).to_be_bytes(), r.as_slice()).expect("insert");
            }
            // A move that was cut short left its first chunk behind.
            let first: Vec<(u64, &[u8])> = records[..300].iter().enumerate().map(|(i, r)| (i as u64, &r[..])).collect();
            let (at, chunk) = encode_chunks(&first).swap_remove(0);
            db.open_tree(CHUNKS_TREE).expect("tree").insert(at.to_be_bytes(), chunk).expect("insert");
            db.flush().expect("flush");
        }
        let (db, store) = store(&dir);
        assert!(!db.tree_names().iter().any(|n| n == LEGACY_ENTRIES_TREE.as_bytes()), "old tree dropped");
        let all = store.range(0, usize::MAX).expect("range");
        assert_eq!(all.len(), records.len());
        for ((i, got), want) in all.iter().zip(&records) {
            assert_eq!(got, want, "record {i}");
        }
        // 100-byte records, 61 to a 6 KiB chunk.
        assert_eq!(store.chunks.len(), 5000usize.div_ceil(61) + 1, "the first batch of 4096 ends a chunk early");
    }

    #[test]
    fn an_empty_old_tree_is_dropped_and_the_chunks_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (db, store) = store(&dir);
        store.append_batch(&[(0, b"r0"), (1, b"r1")], &[], &[]).expect("batch");
        db.open_tree(LEGACY_ENTRIES_TREE).expect("an old binary opens its tree");
        let reopened = SledAuditStore::open(&db).expect("store");
        assert!(!db.tree_names().iter().any(|n| n == LEGACY_ENTRIES_TREE.as_bytes()));
        assert_eq!(reopened.range(0, 5).expect("range"), vec![(0, b"r0".to_vec()), (1, b"r1".to_vec())]);
    }
}
