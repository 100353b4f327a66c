//! The sled engine for [`AuditStore`].
//!
//! Records live in the tree `audit_entries` keyed by the big-endian index (so sled's byte
//! order is index order); Merkle tree nodes live in `audit_nodes`, keyed by 9 bytes (the
//! level, then the big-endian index within the level) with the 32-byte hash as value;
//! metadata lives in `audit_meta`. All trees belong to a `sled::Db` shared with other
//! components. An append writes the three trees in one sled transaction, and a batched
//! append ([`AuditStore::append_batch`]) writes a `sled::Batch` per tree in one transaction.
//! Neither fsyncs: what is written reaches the disk when [`AuditStore::flush`] calls
//! `Db::flush`, or earlier through sled's background flusher (every 500 ms with the default
//! configuration that [`open_sled`] uses).

use std::convert::Infallible;

use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;

use crate::merkle::NodeId;
use crate::{AuditError, AuditStore, Hash};

/// Tree holding the records.
const ENTRIES_TREE: &str = "audit_entries";
/// Tree holding the log metadata.
const META_TREE: &str = "audit_meta";
/// Tree holding the Merkle tree node hashes.
const NODES_TREE: &str = "audit_nodes";

/// An [`AuditStore`] in two trees of a shared `sled::Db`.
#[derive(Debug, Clone)]
pub struct SledAuditStore {
    db: sled::Db,
    entries: sled::Tree,
    nodes: sled::Tree,
    meta: sled::Tree,
}

impl SledAuditStore {
    /// Opens (creating if needed) the audit trees of `db`.
    pub fn open(db: &sled::Db) -> Result<Self, AuditError> {
        Ok(Self {
            db: db.clone(),
            entries: db.open_tree(ENTRIES_TREE).map_err(AuditError::storage)?,
            nodes: db.open_tree(NODES_TREE).map_err(AuditError::storage)?,
            meta: db.open_tree(META_TREE).map_err(AuditError::storage)?,
        })
    }
}

fn key_index(key: &[u8]) -> Result<u64, AuditError> {
    <[u8; 8]>::try_from(key)
        .map(u64::from_be_bytes)
        .map_err(|_| AuditError::Corrupt(format!("audit_entries key of {} bytes", key.len())))
}

/// The `audit_nodes` key of `id`: level, then big-endian index.
fn node_key(id: NodeId) -> [u8; 9] {
    let mut key = [0; 9];
    key[0] = id.level;
    key[1..].copy_from_slice(&id.index.to_be_bytes());
    key
}

impl AuditStore for SledAuditStore {
    fn append_with_nodes(
        &self,
        index: u64,
        record: &[u8],
        nodes: &[(NodeId, Hash)],
        meta: &[(&str, &[u8])],
    ) -> Result<(), AuditError> {
        let trees = (&self.entries, &self.nodes, &self.meta);
        let result = trees.transaction(|(entries, nodes_tree, meta_tree)| {
            entries.insert(&index.to_be_bytes(), record)?;
            for (id, hash) in nodes {
                nodes_tree.insert(&node_key(*id)[..], &hash[..])?;
            }
            for (k, v) in meta {
                meta_tree.insert(k.as_bytes(), *v)?;
            }
            Ok::<(), ConflictableTransactionError<Infallible>>(())
        });
        match result {
            Ok(()) => Ok(()),
            Err(TransactionError::Storage(e)) => Err(AuditError::storage(e)),
            Err(TransactionError::Abort(never)) => match never {},
        }
    }

    fn append_batch(
        &self,
        records: &[(u64, &[u8])],
        nodes: &[(NodeId, Hash)],
        meta: &[(&str, &[u8])],
    ) -> Result<(), AuditError> {
        let mut entries_batch = sled::Batch::default();
        for (index, record) in records {
            entries_batch.insert(&index.to_be_bytes()[..], *record);
        }
        let mut nodes_batch = sled::Batch::default();
        for (id, hash) in nodes {
            nodes_batch.insert(&node_key(*id)[..], &hash[..]);
        }
        let mut meta_batch = sled::Batch::default();
        for (k, v) in meta {
            meta_batch.insert(k.as_bytes(), *v);
        }
        let trees = (&self.entries, &self.nodes, &self.meta);
        let result = trees.transaction(|(entries, nodes_tree, meta_tree)| {
            entries.apply_batch(&entries_batch)?;
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
        let v = self.entries.get(index.to_be_bytes());
        Ok(v.map_err(AuditError::storage)?.map(|v| v.to_vec()))
    }

    fn last(&self) -> Result<Option<(u64, Vec<u8>)>, AuditError> {
        match self.entries.last().map_err(AuditError::storage)? {
            None => Ok(None),
            Some((k, v)) => Ok(Some((key_index(&k)?, v.to_vec()))),
        }
    }

    fn range(&self, start: u64, limit: usize) -> Result<Vec<(u64, Vec<u8>)>, AuditError> {
        let mut out = Vec::with_capacity(limit.min(1024));
        for kv in self.entries.range(start.to_be_bytes()..).take(limit) {
            let (k, v) = kv.map_err(AuditError::storage)?;
            out.push((key_index(&k)?, v.to_vec()));
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

/// Opens the sled database at `path`, waiting up to ten seconds while the lock file is still
/// held. sled releases its lock from a background thread some time after the last handle is
/// dropped, so a database reopened in the same process (a restart in a test, a component
/// reopening its store) can briefly find it locked.
pub fn open_sled(path: &std::path::Path) -> Result<sled::Db, sled::Error> {
    let deadline = std::time::Instant::now() + SLED_LOCK_WAIT;
    loop {
        match sled::open(path) {
            Err(sled::Error::Io(e))
                if e.to_string().contains("could not acquire lock") && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            other => return other,
        }
    }
}
