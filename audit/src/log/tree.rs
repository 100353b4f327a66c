//! The log's Merkle tree: tree heads, roots of earlier sizes, and proofs read from the store.
//!
//! Every perfect subtree of level [`LOWEST_STORED_LEVEL`] (8) and up is stored under its
//! [`NodeId`] when its last leaf is appended. A lower one is the root of at most 128
//! consecutive entries, computed from their records (one range read) when needed; a level-0
//! node is the leaf hash of the record. The hash of any range the RFC 6962 recursion visits
//! is then one stored node or one range of records when the range is a perfect subtree, and
//! otherwise the fold of at most 64 of them, so [`AuditLog::root`],
//! [`AuditLog::inclusion_proof`] and [`AuditLog::consistency_proof`] read `O(log n)` nodes
//! and at most 255 records. Proofs follow RFC 9162 §2.1.3.1 (`PATH`) and §2.1.4.1
//! (`SUBPROOF`) literally, lowest hash first, and are checked by [`crate::verify_inclusion`]
//! and [`crate::verify_consistency`].
//!
//! Each read first makes sure the store holds the entries of the size asked for (writing the
//! log's tail if it does not). Nodes are never rewritten, and a size the store holds only
//! touches nodes already written, so the reads themselves need no lock. On open, [`load`] reads the frontier
//! of the current size and checks it against the last entry, and [`rebuild`] builds the tree
//! of a store that predates it.

use super::{read_records, AuditLog};
use crate::entry::leaf_hash;
use crate::merkle::{
    decomposition, node_hash, perfect_root, split_point, Frontier, NodeId, TreeHead, EMPTY_ROOT, LOWEST_STORED_LEVEL,
};
use crate::{AuditError, AuditStore, Hash};

/// Records read, and nodes written, per batch when building the tree of an older store.
const REBUILD_BATCH: usize = 4096;

impl<S: AuditStore> AuditLog<S> {
    /// The current tree size (number of entries) and root, from memory.
    pub fn tree_head(&self) -> TreeHead {
        let head = &self.lock().head;
        TreeHead { size: head.len, root: head.frontier.root() }
    }

    /// The Merkle root of the first `size` entries (`size <= len()`).
    pub fn root(&self, size: u64) -> Result<Hash, AuditError> {
        self.stored_up_to(size)?;
        self.range_hash(0, size)
    }

    /// The inclusion proof of entry `index` in the tree of the first `size` entries: sibling
    /// hashes from the leaf up (RFC 9162 §2.1.3.1).
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, AuditError> {
        self.stored_up_to(size)?;
        if index >= size {
            return Err(AuditError::InvalidRange(format!("entry {index} is not in a tree of size {size}")));
        }
        let mut proof = Vec::new();
        self.path(index, 0, size, &mut proof)?;
        Ok(proof)
    }

    /// The consistency proof between the trees of the first `from` and the first `to`
    /// entries (RFC 9162 §2.1.4.1); empty when `from` is 0 or equals `to`.
    pub fn consistency_proof(&self, from: u64, to: u64) -> Result<Vec<Hash>, AuditError> {
        self.stored_up_to(to)?;
        if from > to {
            return Err(AuditError::InvalidRange(format!("consistency from size {from} to smaller size {to}")));
        }
        let mut proof = Vec::new();
        if from > 0 && from < to {
            self.subproof(from, 0, to, true, &mut proof)?;
        }
        Ok(proof)
    }

    /// `PATH(m, D[start:end])`, appended to `out` lowest first.
    fn path(&self, m: u64, start: u64, end: u64, out: &mut Vec<Hash>) -> Result<(), AuditError> {
        let n = end - start;
        if n <= 1 {
            return Ok(());
        }
        let k = split_point(n);
        if m < start + k {
            self.path(m, start, start + k, out)?;
            out.push(self.range_hash(start + k, end)?);
        } else {
            self.path(m, start + k, end, out)?;
            out.push(self.range_hash(start, start + k)?);
        }
        Ok(())
    }

    /// `SUBPROOF(m, D[start:end], whole)`, appended to `out` lowest first.
    fn subproof(&self, m: u64, start: u64, end: u64, whole: bool, out: &mut Vec<Hash>) -> Result<(), AuditError> {
        let n = end - start;
        if m == n {
            if !whole {
                out.push(self.range_hash(start, end)?);
            }
            return Ok(());
        }
        let k = split_point(n);
        if m <= k {
            self.subproof(m, start, start + k, whole, out)?;
            out.push(self.range_hash(start + k, end)?);
        } else {
            self.subproof(m - k, start + k, end, false, out)?;
            out.push(self.range_hash(start, start + k)?);
        }
        Ok(())
    }

    /// `MTH(D[start:end])`: one stored node for a perfect aligned range, else the RFC split.
    fn range_hash(&self, start: u64, end: u64) -> Result<Hash, AuditError> {
        let n = end - start;
        if n == 0 {
            return Ok(EMPTY_ROOT);
        }
        if n.is_power_of_two() {
            if let Some(id) = NodeId::covering(start, n.trailing_zeros() as u8) {
                return node_at(&self.store, id);
            }
        }
        let k = split_point(n);
        Ok(node_hash(&self.range_hash(start, start + k)?, &self.range_hash(start + k, end)?))
    }
}

/// The hash of node `id`: the record's leaf hash at level 0, the stored node from level
/// [`LOWEST_STORED_LEVEL`] up, else the root of the records it covers.
fn node_at<S: AuditStore>(store: &S, id: NodeId) -> Result<Hash, AuditError> {
    let missing = || AuditError::Corrupt(format!("tree node {id:?} missing"));
    if id.level >= LOWEST_STORED_LEVEL {
        return store.get_node(id)?.ok_or_else(missing);
    }
    let width = 1usize << id.level;
    let first = id.index.checked_shl(u32::from(id.level)).ok_or_else(missing)?;
    let records = store.range(first, width)?;
    let mut leaves = Vec::with_capacity(width);
    for (offset, (index, record)) in records.iter().enumerate() {
        if Some(*index) != first.checked_add(offset as u64) {
            return Err(missing());
        }
        leaves.push(leaf_hash(record));
    }
    (leaves.len() == width).then(|| perfect_root(&leaves)).flatten().ok_or_else(missing)
}

/// Reads the frontier of a tree of `len` leaves and checks it: every stored frontier node
/// must be the hash of its two children, and the nodes above the last leaf, `last`, must hash
/// up to the smallest frontier node. `O(log n)` reads of nodes and at most about a thousand
/// of records; a full check would be linear.
pub(super) fn load<S: AuditStore>(store: &S, len: u64, last: &Hash) -> Result<Frontier, AuditError> {
    let ids: Vec<NodeId> = decomposition(len).collect();
    let hashes = ids.iter().map(|id| node_at(store, *id)).collect::<Result<Vec<_>, _>>()?;
    for (id, hash) in ids.iter().zip(&hashes).filter(|(id, _)| id.level >= LOWEST_STORED_LEVEL) {
        let child = |index| node_at(store, NodeId { level: id.level - 1, index });
        if node_hash(&child(id.index * 2)?, &child(id.index * 2 + 1)?) != *hash {
            return Err(AuditError::Corrupt(format!("tree node {id:?} is not the hash of its children")));
        }
    }
    if let (Some(smallest), Some(stored)) = (ids.last(), hashes.last()) {
        let pos = len - 1;
        let mut acc = *last;
        for level in 0..smallest.level {
            // The last leaf ends its subtree, so it is the right child at every level of it.
            let sibling = node_at(store, NodeId { level, index: (pos >> level) ^ 1 })?;
            acc = node_hash(&sibling, &acc);
        }
        if acc != *stored {
            return Err(AuditError::Corrupt(format!("tree node {smallest:?} does not cover the last entry")));
        }
    }
    Frontier::from_parts(len, hashes).ok_or_else(|| AuditError::Corrupt("tree frontier shape".into()))
}

/// Builds and stores the tree (its nodes of level [`LOWEST_STORED_LEVEL`] and up) of the
/// `len` records of a store that has none, checking every chain link on the way and that
/// the last leaf is `last`.
pub(super) fn rebuild<S: AuditStore>(store: &S, len: u64, last: &Hash) -> Result<Frontier, AuditError> {
    let mut frontier = Frontier::default();
    let mut prev = crate::entry::ZERO_HASH;
    let mut nodes = Vec::with_capacity(REBUILD_BATCH);
    while frontier.size() < len {
        let start = frontier.size();
        let n = usize::try_from(len - start).map_or(REBUILD_BATCH, |n| n.min(REBUILD_BATCH));
        for stored in read_records(store, start, n)? {
            if stored.prev != prev {
                return Err(AuditError::Corrupt(format!("entry {}: broken chain", stored.entry.index)));
            }
            frontier.append_keeping(&stored.leaf, LOWEST_STORED_LEVEL, &mut nodes);
            prev = stored.leaf;
        }
        store.put_nodes(&nodes)?;
        nodes.clear();
    }
    if len > 0 && prev != *last {
        return Err(AuditError::Corrupt("last entry does not match the head".into()));
    }
    Ok(frontier)
}

#[cfg(test)]
mod tests;
