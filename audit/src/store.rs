//! The storage trait behind the audit log, and an in-memory engine.
//!
//! [`crate::AuditLog`] is the only writer: it hands each store one or more consecutive
//! entries (their indices and canonical bytes) together with the stored Merkle tree nodes
//! they complete and the metadata that must change with them (head, highest Raft index),
//! and the store writes them atomically. Stores know nothing about hashing; they keep
//! opaque records keyed by index, in index order, 32-byte tree node hashes keyed by
//! [`NodeId`], and a small key-value map of metadata. The log writes each index once, in
//! increasing order, so an engine may keep the records of one write together (the sled
//! engine keeps them in a few chunks, one key each: its cost is per key). Rewriting a record
//! is for corruption tests only, and need only work for a record that was written alone. A
//! shared conformance test (`tests/store_conformance.rs`) runs against every engine.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::merkle::NodeId;
use crate::{AuditError, Hash};

/// Persistent storage for audit records and log metadata.
pub trait AuditStore: Send + Sync + 'static {
    /// Stores `record` under `index`, every `(id, hash)` of `nodes` and every `(key, value)`
    /// of `meta`, atomically: after a crash either all of them are stored or none is.
    fn append_with_nodes(
        &self,
        index: u64,
        record: &[u8],
        nodes: &[(NodeId, Hash)],
        meta: &[(&str, &[u8])],
    ) -> Result<(), AuditError>;

    /// Stores every `(index, record)` of `records`, every `(id, hash)` of `nodes` and every
    /// `(key, value)` of `meta`, atomically: after a crash either all of them are stored or
    /// none is. The batched form of [`AuditStore::append_with_nodes`], with the same
    /// durability: one write instead of one per record.
    fn append_batch(
        &self,
        records: &[(u64, &[u8])],
        nodes: &[(NodeId, Hash)],
        meta: &[(&str, &[u8])],
    ) -> Result<(), AuditError>;

    /// [`AuditStore::append_with_nodes`] without tree nodes.
    fn append(&self, index: u64, record: &[u8], meta: &[(&str, &[u8])]) -> Result<(), AuditError> {
        self.append_with_nodes(index, record, &[], meta)
    }

    /// The stored hash of tree node `id`.
    fn get_node(&self, id: NodeId) -> Result<Option<Hash>, AuditError>;

    /// Stores tree nodes outside an append (rebuilding the tree of an older store).
    fn put_nodes(&self, nodes: &[(NodeId, Hash)]) -> Result<(), AuditError>;

    /// The record stored under `index`.
    fn get(&self, index: u64) -> Result<Option<Vec<u8>>, AuditError>;

    /// The record with the highest index, with that index.
    fn last(&self) -> Result<Option<(u64, Vec<u8>)>, AuditError>;

    /// Up to `limit` records with index `>= start`, in increasing index order.
    fn range(&self, start: u64, limit: usize) -> Result<Vec<(u64, Vec<u8>)>, AuditError>;

    /// One past the highest stored index: the number of records, as the log writes indices
    /// contiguously from 0.
    fn next_index(&self) -> Result<u64, AuditError> {
        Ok(self.last()?.map_or(0, |(i, _)| i.saturating_add(1)))
    }

    /// A metadata value.
    fn get_meta(&self, key: &str) -> Result<Option<Vec<u8>>, AuditError>;

    /// Sets a metadata value.
    fn put_meta(&self, key: &str, value: &[u8]) -> Result<(), AuditError>;

    /// Makes everything written so far durable (fsync for on-disk engines).
    fn flush(&self) -> Result<(), AuditError>;
}

/// A store that lives in memory only; for tests and property tests. Clones share one store,
/// as handles of a sled database do, so a test can reopen a log over the store it wrote.
#[derive(Debug, Default, Clone)]
pub struct MemoryAuditStore {
    inner: Arc<Mutex<MemoryInner>>,
}

#[derive(Debug, Default)]
struct MemoryInner {
    entries: BTreeMap<u64, Vec<u8>>,
    nodes: BTreeMap<NodeId, Hash>,
    meta: BTreeMap<String, Vec<u8>>,
}

impl MemoryAuditStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, MemoryInner> {
        // Mutations are map inserts of owned values, which do not panic (allocation failure
        // aborts), so a poisoned lock never guards a half-written append.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl AuditStore for MemoryAuditStore {
    fn append_with_nodes(
        &self,
        index: u64,
        record: &[u8],
        nodes: &[(NodeId, Hash)],
        meta: &[(&str, &[u8])],
    ) -> Result<(), AuditError> {
        let mut inner = self.lock();
        inner.entries.insert(index, record.to_vec());
        inner.nodes.extend(nodes.iter().copied());
        for (k, v) in meta {
            inner.meta.insert((*k).to_owned(), v.to_vec());
        }
        Ok(())
    }

    fn append_batch(
        &self,
        records: &[(u64, &[u8])],
        nodes: &[(NodeId, Hash)],
        meta: &[(&str, &[u8])],
    ) -> Result<(), AuditError> {
        let mut inner = self.lock();
        inner.entries.extend(records.iter().map(|(i, r)| (*i, r.to_vec())));
        inner.nodes.extend(nodes.iter().copied());
        for (k, v) in meta {
            inner.meta.insert((*k).to_owned(), v.to_vec());
        }
        Ok(())
    }

    fn get(&self, index: u64) -> Result<Option<Vec<u8>>, AuditError> {
        Ok(self.lock().entries.get(&index).cloned())
    }

    fn last(&self) -> Result<Option<(u64, Vec<u8>)>, AuditError> {
        Ok(self.lock().entries.last_key_value().map(|(i, r)| (*i, r.clone())))
    }

    fn range(&self, start: u64, limit: usize) -> Result<Vec<(u64, Vec<u8>)>, AuditError> {
        let inner = self.lock();
        let iter = inner.entries.range(start..).take(limit);
        Ok(iter.map(|(i, r)| (*i, r.clone())).collect())
    }

    fn get_node(&self, id: NodeId) -> Result<Option<Hash>, AuditError> {
        Ok(self.lock().nodes.get(&id).copied())
    }

    fn put_nodes(&self, nodes: &[(NodeId, Hash)]) -> Result<(), AuditError> {
        self.lock().nodes.extend(nodes.iter().copied());
        Ok(())
    }

    fn get_meta(&self, key: &str) -> Result<Option<Vec<u8>>, AuditError> {
        Ok(self.lock().meta.get(key).cloned())
    }

    fn put_meta(&self, key: &str, value: &[u8]) -> Result<(), AuditError> {
        self.lock().meta.insert(key.to_owned(), value.to_vec());
        Ok(())
    }

    fn flush(&self) -> Result<(), AuditError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SledAuditStore;

    /// A batched append stores every record, node and meta value, as the engine's reads show.
    fn batch_is_stored<S: AuditStore>(store: &S) {
        let node = NodeId { level: 1, index: 0 };
        let records: Vec<(u64, &[u8])> = vec![(0, b"r0"), (1, b"r1"), (2, b"r2")];
        store.append_batch(&records, &[(node, [7; 32])], &[("head", b"h2"), ("raft_index", b"9")]).expect("batch");
        assert_eq!(
            store.range(0, 10).expect("range"),
            vec![(0, b"r0".to_vec()), (1, b"r1".to_vec()), (2, b"r2".to_vec())]
        );
        assert_eq!(store.get_node(node).expect("node"), Some([7; 32]));
        assert_eq!(store.get_meta("head").expect("meta"), Some(b"h2".to_vec()));
        assert_eq!(store.next_index().expect("len"), 3);
        store.append_batch(&[], &[], &[]).expect("an empty batch");
        assert_eq!(store.next_index().expect("len"), 3);
        store.append_batch(&[(3, b"r3")], &[], &[("head", b"h3")]).expect("batch");
        assert_eq!(store.last().expect("last"), Some((3, b"r3".to_vec())));
        assert_eq!(store.get_meta("raft_index").expect("meta"), Some(b"9".to_vec()), "untouched meta is kept");
    }

    #[test]
    fn memory_store_appends_batches() {
        batch_is_stored(&MemoryAuditStore::new());
    }

    #[test]
    fn sled_store_appends_batches() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = crate::open_sled(dir.path()).expect("open sled");
        batch_is_stored(&SledAuditStore::open(&db).expect("store"));
    }
}
