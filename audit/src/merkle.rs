//! RFC 6962 / RFC 9162 Merkle tree hashing over the log's leaf hashes.
//!
//! The leaves are the entries' leaf hashes ([`crate::leaf_hash`], `SHA-256(0x00 || entry)`);
//! an interior node is [`node_hash`], `SHA-256(0x01 || left || right)`. The tree of `n`
//! leaves splits at the largest power of two `k < n`: the left part is a perfect subtree of
//! `k` leaves, the right part the tree of the remaining `n - k`.
//!
//! A perfect subtree is named by a [`NodeId`] `(level, index)`: it covers leaves
//! `index * 2^level .. (index + 1) * 2^level`. Its hash never changes once its last leaf is
//! appended, so the log can store it (it stores those of level [`LOWEST_STORED_LEVEL`] and up
//! and computes the lower ones from the entries; level 0 is the entry's own leaf hash).
//!
//! The frontier (compact range) of a tree of `n` leaves is the list of the perfect
//! subtrees that `n`'s binary digits decompose it into, largest first: `popcount(n)` hashes.
//! Appending a leaf merges the trailing equal-sized subtrees (each merge completes one
//! node); the root folds the frontier from the right. A verifier that hashes a run of
//! leaves elsewhere (another thread) appends it as the perfect subtrees of its
//! `compact_range`, each hashed by `perfect_root`, with `Frontier::add_subtree`.

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

/// The lowest level of the tree nodes the log stores: a node of level `l >= 8` covers `2^l`
/// entries, so stored nodes number about one per 128 entries, and a lower node is the root
/// of at most 128 consecutive entries, computed from their records when a proof needs it.
pub const LOWEST_STORED_LEVEL: u8 = 8;

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

    /// Appends `leaf` without reporting completed nodes (for verifiers, which keep none).
    pub fn add(&mut self, leaf: &Hash) {
        self.add_subtree(0, leaf);
    }

    /// Appends the perfect subtree of level `level` whose root is `hash`, the tree of the
    /// next `2^level` leaves: the same frontier as adding those leaves one by one. The size
    /// must be a multiple of `2^level`, so that the subtree is aligned (as each subtree of a
    /// [`compact_range`] starting at the size is).
    pub fn add_subtree(&mut self, level: u8, hash: &Hash) {
        debug_assert!(self.size.trailing_zeros() >= u32::from(level), "unaligned subtree");
        let mut carry = *hash;
        for _ in 0..(self.size >> level).trailing_ones() {
            if let Some(left) = self.hashes.pop() {
                carry = node_hash(&left, &carry);
            }
        }
        self.hashes.push(carry);
        self.size += 1 << level;
    }

    /// Appends `leaf` and pushes the nodes it completes of level `min_level` or higher onto
    /// `completed`, lowest first.
    pub fn append_keeping(&mut self, leaf: &Hash, min_level: u8, completed: &mut Vec<(NodeId, Hash)>) {
        let mut carry = *leaf;
        for level in 1..=self.size.trailing_ones() as u8 {
            if let Some(left) = self.hashes.pop() {
                carry = node_hash(&left, &carry);
                if level >= min_level {
                    completed.push((NodeId { level, index: self.size >> level }, carry));
                }
            }
        }
        self.hashes.push(carry);
        self.size += 1;
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
    compact_range(0, size).map(|(level, first)| NodeId { level, index: first >> level })
}

/// The Merkle tree hash of `leaves`, a perfect subtree: `leaves.len()` must be a power of
/// two (else `None`).
pub(crate) fn perfect_root(leaves: &[Hash]) -> Option<Hash> {
    if !leaves.len().is_power_of_two() {
        return None;
    }
    let mut level: Vec<Hash> = leaves.chunks_exact(2).map(|pair| node_hash(&pair[0], &pair[1])).collect();
    while level.len() > 1 {
        for i in 0..level.len() / 2 {
            level[i] = node_hash(&level[2 * i], &level[2 * i + 1]);
        }
        level.truncate(level.len() / 2);
    }
    Some(level.first().copied().unwrap_or(leaves[0]))
}

/// The leaves `start..end` as the fewest aligned perfect subtrees, in order: `(level, first
/// leaf)` pairs, each covering `2^level` leaves from its first.
pub(crate) fn compact_range(start: u64, end: u64) -> impl Iterator<Item = (u8, u64)> {
    let mut at = start;
    std::iter::from_fn(move || {
        if at >= end {
            return None;
        }
        let fits = 63 - (end - at).leading_zeros();
        let level = at.trailing_zeros().min(fits) as u8;
        let first = at;
        at += 1 << level;
        Some((level, first))
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
            let mut completed = Vec::new();
            f.append_keeping(&l, 1, &mut completed);
            nodes.extend(completed);
            leaves.push(l);
            assert_eq!(f, g);
        }
        // Each append merges away all but the frontier's subtrees: 70 leaves, 3 subtrees.
        assert_eq!(nodes.len(), 70 - 3);
        let mut high = Frontier::default();
        let mut kept = Vec::new();
        for i in 0..70u64 {
            high.append_keeping(&leaf(i), 3, &mut kept);
        }
        assert_eq!(high, f);
        let mut expect: Vec<_> = nodes.iter().filter(|(id, _)| id.level >= 3).map(|(id, h)| (*id, *h)).collect();
        expect.sort();
        kept.sort();
        assert_eq!(kept, expect, "only levels 3 and up");
        for (id, h) in nodes {
            let start = (id.index << id.level) as usize;
            assert_eq!(h, mth(&leaves[start..start + (1 << id.level)]), "{id:?}");
        }
        let parts: Vec<_> = decomposition(70).collect();
        let expect = [NodeId { level: 6, index: 0 }, NodeId { level: 2, index: 16 }, NodeId { level: 1, index: 34 }];
        assert_eq!(parts, expect);
    }

    #[test]
    fn subtrees_of_compact_ranges_build_the_same_frontier() {
        let leaves: Vec<Hash> = (0..100).map(leaf).collect();
        for (start, end) in [(0, 100), (3, 77), (64, 100), (5, 6), (0, 1), (96, 100), (7, 7)] {
            let mut by_leaf = Frontier::default();
            let mut by_subtree = Frontier::default();
            for l in &leaves[..start as usize] {
                by_leaf.add(l);
                by_subtree.add(l);
            }
            for l in &leaves[start as usize..end as usize] {
                by_leaf.add(l);
            }
            let mut covered = start;
            for (level, first) in compact_range(start, end) {
                assert_eq!(first, covered, "contiguous");
                let width = 1usize << level;
                let root = perfect_root(&leaves[first as usize..first as usize + width]).expect("power of two");
                assert_eq!(root, mth(&leaves[first as usize..first as usize + width]));
                by_subtree.add_subtree(level, &root);
                covered += width as u64;
            }
            assert_eq!(covered, end.max(start));
            assert_eq!(by_subtree, by_leaf, "{start}..{end}");
        }
        assert_eq!(perfect_root(&leaves[..3]), None);
        assert_eq!(perfect_root(&leaves[..1]), Some(leaves[0]));
    }

    #[test]
    fn covering_requires_alignment() {
        assert_eq!(NodeId::covering(8, 3), Some(NodeId { level: 3, index: 1 }));
        assert_eq!(NodeId::covering(4, 3), None);
        assert_eq!(NodeId::covering(0, 63), Some(NodeId { level: 63, index: 0 }));
    }
}
