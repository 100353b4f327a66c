//! The log's Merkle roots and proofs against an independent RFC 6962 implementation, the
//! `ct-merkle` crate: same roots, byte-identical proofs, and each side's proofs accepted by
//! the other side's verifier, for random tree sizes up to 300.

use std::sync::OnceLock;

use ct_merkle::mem_backed_tree::MemoryBackedTree;
use ct_merkle::{ConsistencyProof, InclusionProof, RootHash};
use ossa_audit::{verify_consistency, verify_inclusion, AuditLog, EntryDraft, Hash, MemoryAuditStore, ProofError};
use proptest::prelude::*;
use serde_json::json;
use sha2_v011::Sha256;

/// Largest tree size exercised.
const MAX: u64 = 300;

type Reference = MemoryBackedTree<Sha256, Vec<u8>>;

/// One log of [`MAX`] entries and the canonical bytes of each (the reference's leaves).
fn fixture() -> &'static (AuditLog<MemoryAuditStore>, Vec<Vec<u8>>) {
    static FIXTURE: OnceLock<(AuditLog<MemoryAuditStore>, Vec<Vec<u8>>)> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let log = AuditLog::open(MemoryAuditStore::new()).expect("open");
        for i in 0..MAX {
            let payload = json!({ "i": i, "pad": "x".repeat((i % 7) as usize) });
            let draft = EntryDraft { time_ms: i, kind: "ref".into(), actor: "a".into(), payload, raft_index: None };
            log.append(draft).expect("append");
        }
        let usize_max = usize::try_from(MAX).expect("small");
        let leaves =
            log.entries(0, usize_max).expect("entries").iter().map(|e| e.canonical_bytes().expect("bytes")).collect();
        (log, leaves)
    })
}

fn reference(n: u64) -> Reference {
    let mut tree = Reference::new();
    for leaf in &fixture().1[..n as usize] {
        tree.push(leaf.clone());
    }
    tree
}

fn hash_of(root: &RootHash<Sha256>) -> Hash {
    root.as_bytes().as_slice().try_into().expect("32 bytes")
}

fn flat(proof: &[Hash]) -> Vec<u8> {
    proof.concat()
}

fn leaf_hash(i: u64) -> Hash {
    ossa_audit::leaf_hash(&fixture().1[i as usize])
}

#[test]
fn roots_match_for_every_size() {
    let (log, leaves) = fixture();
    let mut tree = Reference::new();
    for (n, leaf) in (1..=MAX).zip(leaves) {
        tree.push(leaf.clone());
        assert_eq!(log.root(n).expect("root"), hash_of(&tree.root()), "size {n}");
    }
    assert_eq!(log.tree_head().root, hash_of(&tree.root()));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn inclusion_proofs_match_for_every_index(n in 1..=MAX) {
        let (log, leaves) = fixture();
        let tree = reference(n);
        let root = tree.root();
        for i in 0..n {
            let ours = log.inclusion_proof(i, n).expect("proof");
            let theirs = tree.prove_inclusion(i as usize);
            prop_assert_eq!(flat(&ours), theirs.as_bytes().to_vec(), "index {} size {}", i, n);
            prop_assert!(root.verify_inclusion(&leaves[i as usize], i, &InclusionProof::from_bytes(flat(&ours))).is_ok());
            prop_assert_eq!(verify_inclusion(&leaf_hash(i), i, n, &ours, &hash_of(&root)), Ok(()));
        }
    }

    #[test]
    fn consistency_proofs_match(n in 2..=MAX, m_seed in any::<prop::sample::Index>()) {
        let (log, _) = fixture();
        let m = 1 + m_seed.index(n as usize - 1) as u64; // 1 <= m < n
        let tree = reference(n);
        let ours = log.consistency_proof(m, n).expect("proof");
        let theirs = tree.prove_consistency((n - m) as usize);
        prop_assert_eq!(flat(&ours), theirs.as_bytes().to_vec(), "{} -> {}", m, n);
        let old = reference(m).root();
        let proof = ConsistencyProof::try_from_bytes(flat(&ours)).expect("whole hashes");
        prop_assert!(tree.root().verify_consistency(&old, &proof).is_ok());
        let (old_root, new_root) = (hash_of(&old), hash_of(&tree.root()));
        prop_assert_eq!(verify_consistency(m, n, &old_root, &new_root, &ours), Ok(()));
    }

    #[test]
    fn damaged_proofs_are_refused(n in 2..=MAX, seed in any::<prop::sample::Index>(), byte in 0..32usize) {
        let (log, _) = fixture();
        let i = seed.index(n as usize) as u64;
        let root = log.root(n).expect("root");
        let mut proof = log.inclusion_proof(i, n).expect("proof");
        let k = seed.index(proof.len());
        proof[k][byte] ^= 1;
        prop_assert_eq!(verify_inclusion(&leaf_hash(i), i, n, &proof, &root), Err(ProofError::RootMismatch));
        proof[k][byte] ^= 1;
        proof.pop();
        prop_assert!(verify_inclusion(&leaf_hash(i), i, n, &proof, &root).is_err());
        let m = 1 + seed.index(n as usize - 1) as u64;
        let mut proof = log.consistency_proof(m, n).expect("proof");
        let old_root = log.root(m).expect("root");
        let k = seed.index(proof.len());
        proof[k][byte] ^= 1;
        prop_assert!(verify_consistency(m, n, &old_root, &root, &proof).is_err());
        proof[k][byte] ^= 1;
        let mut other = old_root;
        other[byte] ^= 1;
        prop_assert!(verify_consistency(m, n, &other, &root, &proof).is_err());
    }
}
