//! Pure verification of inclusion and consistency proofs (RFC 9162 §2.1.3.2 and §2.1.4.2).
//!
//! A verifier holds a trusted root (from a signed checkpoint) and receives a proof: a list
//! of sibling or subtree hashes, lowest first, as [`crate::AuditLog::inclusion_proof`] and
//! [`crate::AuditLog::consistency_proof`] produce them. These functions recompute the
//! root(s) from the proof with the RFC's bit-walking algorithms and need no access to the
//! log. They never panic, whatever the input.

use crate::merkle::node_hash;
use crate::Hash;

/// Why a proof does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The leaf index is not inside the tree.
    #[error("leaf index {index} is outside a tree of size {size}")]
    IndexOutOfRange {
        /// The claimed leaf index.
        index: u64,
        /// The claimed tree size.
        size: u64,
    },
    /// The old size of a consistency proof is larger than the new size.
    #[error("consistency from size {from} to smaller size {to}")]
    SizesOutOfOrder {
        /// The old tree size.
        from: u64,
        /// The new tree size.
        to: u64,
    },
    /// The proof has more hashes than the tree shape allows.
    #[error("proof has too many hashes")]
    TooLong,
    /// The proof has fewer hashes than the tree shape needs.
    #[error("proof has too few hashes")]
    TooShort,
    /// The proof must be empty for these sizes but is not.
    #[error("proof must be empty for these sizes, it has {0} hashes")]
    NotEmpty(usize),
    /// The root computed from the proof is not the expected root.
    #[error("computed root does not match the expected root")]
    RootMismatch,
    /// The old root computed from a consistency proof is not the expected old root.
    #[error("computed old root does not match the expected old root")]
    OldRootMismatch,
}

/// Checks that `leaf_hash` is leaf `index` of the tree of `size` leaves whose root is `root`
/// (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    leaf_hash: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf_hash;
    for p in proof {
        if s == 0 {
            return Err(ProofError::TooLong);
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(ProofError::TooShort);
    }
    if r != *root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// Checks that the tree of `from_size` leaves with root `from_root` is a prefix of the tree
/// of `to_size` leaves with root `to_root` (RFC 9162 §2.1.4.2).
///
/// Equal sizes need an empty proof and equal roots. The empty tree is a prefix of every
/// tree: `from_size == 0` needs an empty proof and checks neither root.
pub fn verify_consistency(
    from_size: u64,
    to_size: u64,
    from_root: &Hash,
    to_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if from_size > to_size {
        return Err(ProofError::SizesOutOfOrder { from: from_size, to: to_size });
    }
    if from_size == to_size || from_size == 0 {
        if !proof.is_empty() {
            return Err(ProofError::NotEmpty(proof.len()));
        }
        if from_size != 0 && from_root != to_root {
            return Err(ProofError::RootMismatch);
        }
        return Ok(());
    }
    // 0 < from_size < to_size from here on.
    let (first, rest) = if from_size.is_power_of_two() {
        (from_root, proof)
    } else {
        proof.split_first().ok_or(ProofError::TooShort)?
    };
    let (mut f, mut s) = (from_size - 1, to_size - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if s == 0 {
            return Err(ProofError::TooLong);
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(ProofError::TooShort);
    }
    if fr != *from_root {
        return Err(ProofError::OldRootMismatch);
    }
    if sr != *to_root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_leaf_tree_needs_an_empty_proof() {
        let leaf = [7u8; 32];
        assert_eq!(verify_inclusion(&leaf, 0, 1, &[], &leaf), Ok(()));
        assert_eq!(verify_inclusion(&leaf, 0, 1, &[leaf], &leaf), Err(ProofError::TooLong));
        assert_eq!(verify_inclusion(&leaf, 1, 1, &[], &leaf), Err(ProofError::IndexOutOfRange { index: 1, size: 1 }));
        assert_eq!(verify_inclusion(&leaf, 0, 0, &[], &leaf), Err(ProofError::IndexOutOfRange { index: 0, size: 0 }));
    }

    #[test]
    fn two_leaf_tree() {
        let (a, b) = ([1u8; 32], [2u8; 32]);
        let root = node_hash(&a, &b);
        assert_eq!(verify_inclusion(&a, 0, 2, &[b], &root), Ok(()));
        assert_eq!(verify_inclusion(&b, 1, 2, &[a], &root), Ok(()));
        assert_eq!(verify_inclusion(&a, 1, 2, &[b], &root), Err(ProofError::RootMismatch));
        assert_eq!(verify_inclusion(&a, 0, 2, &[], &root), Err(ProofError::TooShort));
        assert_eq!(verify_consistency(1, 2, &a, &root, &[b]), Ok(()));
        assert_eq!(verify_consistency(1, 2, &b, &root, &[b]), Err(ProofError::RootMismatch));
        assert_eq!(verify_consistency(1, 2, &a, &root, &[]), Err(ProofError::TooShort));
    }

    #[test]
    fn trivial_consistency_cases() {
        let (a, b) = ([1u8; 32], [2u8; 32]);
        assert_eq!(verify_consistency(3, 3, &a, &a, &[]), Ok(()));
        assert_eq!(verify_consistency(3, 3, &a, &b, &[]), Err(ProofError::RootMismatch));
        assert_eq!(verify_consistency(3, 3, &a, &a, &[a]), Err(ProofError::NotEmpty(1)));
        assert_eq!(verify_consistency(0, 9, &a, &b, &[]), Ok(()));
        assert_eq!(verify_consistency(4, 3, &a, &b, &[]), Err(ProofError::SizesOutOfOrder { from: 4, to: 3 }));
        assert_eq!(verify_consistency(3, 5, &a, &b, &[]), Err(ProofError::TooShort));
        assert!(verify_consistency(u64::MAX - 1, u64::MAX, &a, &b, &[a; 3]).is_err());
    }
}
