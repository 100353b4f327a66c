//! RFC 6962 / RFC 9162 Merkle tree hashing over the log's leaf hashes.
//!
//! The leaves are the entries' leaf hashes ([`crate::leaf_hash`], `SHA-256(0x00 || entry)`);
//! an interior node is [`node_hash`], `SHA-256(0x01 || left || right)`. The tree of `n`
//! leaves splits at the largest power of two `k < n`: the left part is a perfect subtree of
//! `k` leaves, the right part the tree of the remaining `n - k`.
//!
//! A perfect subtree is named by a [`NodeId`] `(level, index)`: it covers leaves
//! `index * 2^level .. (index + 1) * 2^level`. Its hash never changes once its last leaf is
//! appended, so the log stores it (levels `>= 1`; level 0 is the entry's own leaf hash).
//!
//! The frontier (compact range) of a tree of `n` leaves is the list of the perfect
//! subtrees that `n`'s binary digits decompose it into, largest first: `popcount(n)` hashes.
//! Appending a leaf merges the trailing equal-sized subtrees (each merge completes one
//! stored node); the root folds the frontier from the right.

use sha2::{Digest, Sha256};

use crate::Hash;

/// Root of the empty tree: `SHA-256("")`, as RFC 6962 §2.1 defines `MTH({})`.
pub const EMPTY_ROOT: Hash = [
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24, 0x27, 0xae, 0x41,
    0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
];

/// Interior node hash: `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// A perfect subtree: leaves `index << level .. (index + 1) << level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId {
    /// Height above the leaves; level 0 is a single leaf.
    pub level: u8,
    /// Position among the subtrees of this level, from 0.
    pub index: u64,
}

impl NodeId {
    /// The perfect subtree that covers `start .. start + 2^level`, if `start` is aligned.
    pub(crate) fn covering(start: u64, level: u8) -> Option<Self> {
        let aligned =
            start.checked_shr(u32::from(level)).is_some_and(|i| i.checked_shl(u32::from(level)) == Some(start));
        aligned.then(|| Self { level, index: start >> level })
    }
}

/// A tree size and its root hash (a tree head; a checkpoint signs one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeHead {
    /// Number of leaves (entries).
    pub size: u64,
    /// Merkle tree hash of the first `size` entries.
    pub root: Hash,
}

/// The compact range of a tree: the hashes of its perfect subtrees, largest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Frontier {
    size: u64,
    hashes: Vec<Hash>,
}

impl Frontier {
    /// A frontier of a tree of `size` leaves from its subtree hashes (largest first); `None`
    /// if the count does not match `size`'s binary decomposition.
    pub fn from_parts(size: u64, hashes: Vec<Hash>) -> Option<Self> {
        (hashes.len() == size.count_ones() as usize).then_some(Self { size, hashes })
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The nodes completed by appending `leaf`, lowest first; the last one (or `leaf` when
    /// the list is empty) becomes the frontier's new smallest subtree. Does not change `self`.
    pub fn completed_by(&self, leaf: &Hash) -> Vec<(NodeId, Hash)> {
        let merges = self.size.trailing_ones() as usize;
        let mut out = Vec::with_capacity(merges);
        let mut carry = *leaf;
        for (j, left) in self.hashes.iter().rev().take(merges).enumerate() {
            carry = node_hash(left, &carry);
            let level = j as u8 + 1;
            out.push((NodeId { level, index: self.size >> level }, carry));
        }
        out
    }

    /// Applies an append of `leaf` whose completed nodes are `completed` (from
    /// [`Frontier::completed_by`]).
    pub fn push(&mut self, leaf: &Hash, completed: &[(NodeId, Hash)]) {
        let top = completed.last().map_or(*leaf, |(_, h)| *h);
        self.hashes.truncate(self.hashes.len().saturating_sub(completed.len()));
        self.hashes.push(top);
        self.size += 1;
    }

    /// Appends `leaf` without reporting completed nodes (for verifiers, which keep none).
    pub fn add(&mut self, leaf: &Hash) {
        let mut carry = *leaf;
        for _ in 0..self.size.trailing_ones() {
            if let Some(left) = self.hashes.pop() {
                carry = node_hash(&left, &carry);
            }
        }
        self.hashes.push(carry);
        self.size += 1;
    }

    /// Appends `leaf`, returning the nodes it completed.
    pub fn append(&mut self, leaf: &Hash) -> Vec<(NodeId, Hash)> {
        let completed = self.completed_by(leaf);
        self.push(leaf, &completed);
        completed
    }

    /// The Merkle tree hash of the whole tree.
    pub fn root(&self) -> Hash {
        let mut iter = self.hashes.iter().rev();
        match iter.next() {
            None => EMPTY_ROOT,
            Some(last) => iter.fold(*last, |acc, left| node_hash(left, &acc)),
        }
    }
}

/// The perfect subtrees of the first `size` leaves, largest first (the frontier's shape).
pub(crate) fn decomposition(size: u64) -> impl Iterator<Item = NodeId> {
    let mut start = 0u64;
    (0..64u8).rev().filter(move |l| size >> l & 1 == 1).map(move |level| {
        let id = NodeId { level, index: start >> level };
        start += 1 << level;
        id
    })
}

/// The largest power of two strictly below `n` (`n >= 2`), the RFC 6962 split point.
pub(crate) fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(i: u64) -> Hash {
        crate::leaf_hash(&i.to_be_bytes())
    }

    /// RFC 6962 MTH, recursively, as the reference.
    fn mth(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => EMPTY_ROOT,
            1 => leaves[0],
            n => {
                let k = split_point(n as u64) as usize;
                node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
            }
        }
    }

    #[test]
    fn empty_root_is_sha256_of_nothing() {
        assert_eq!(EMPTY_ROOT, <Hash>::from(Sha256::digest(b"")));
    }

    #[test]
    fn split_point_is_largest_power_below() {
        let cases = [(2, 1), (3, 2), (4, 2), (5, 4), (8, 4), (9, 8), (u64::MAX, 1 << 63)];
        for (n, k) in cases {
            assert_eq!(split_point(n), k, "n={n}");
        }
    }

    #[test]
    fn frontier_root_and_nodes_match_the_recursive_definition() {
        let mut f = Frontier::default();
        let mut leaves = Vec::new();
        let mut nodes = std::collections::HashMap::new();
        for i in 0..70u64 {
            assert_eq!(f.root(), mth(&leaves), "size {i}");
            let l = leaf(i);
            let mut g = f.clone();
            g.add(&l);
            for (id, h) in f.append(&l) {
                nodes.insert(id, h);
            }
            leaves.push(l);
            assert_eq!(f, g);
        }
        for (id, h) in nodes {
            let start = (id.index << id.level) as usize;
            assert_eq!(h, mth(&leaves[start..start + (1 << id.level)]), "{id:?}");
        }
        let parts: Vec<_> = decomposition(70).collect();
        let expect = [NodeId { level: 6, index: 0 }, NodeId { level: 2, index: 16 }, NodeId { level: 1, index: 34 }];
        assert_eq!(parts, expect);
    }

    #[test]
    fn covering_requires_alignment() {
        assert_eq!(NodeId::covering(8, 3), Some(NodeId { level: 3, index: 1 }));
        assert_eq!(NodeId::covering(4, 3), None);
        assert_eq!(NodeId::covering(0, 63), Some(NodeId { level: 63, index: 0 }));
    }
}
