//! End to end through the public API: a node signs its tree head, a witness cosigns it, an
//! auditor verifies the note, an export against it, an inclusion proof and the consistency
//! of a later checkpoint; a rewritten history fails each of these.

use ossa_audit::{
    cosign_checkpoint, sign_checkpoint, verify_checkpoint, verify_consistency, verify_cosignature,
    verify_export_against, verify_inclusion, AuditLog, Checkpoint, EntryDraft, Hash, MemoryAuditStore, Problem,
    ProofError,
};
use ossa_trust::NodeKey;
use serde_json::json;

const ORIGIN: &str = "org-a.example/audit";
const KEY: &str = "org-a.example";
const WITNESS: &str = "org-b.example";

fn draft(i: u64, tag: &str) -> EntryDraft {
    EntryDraft {
        time_ms: i,
        kind: "t".into(),
        actor: "org-a".into(),
        payload: json!({ "i": i, "tag": tag }),
        raft_index: None,
    }
}

fn log_with(n: u64, tag_at: impl Fn(u64) -> &'static str) -> AuditLog<MemoryAuditStore> {
    let log = AuditLog::open(MemoryAuditStore::new()).expect("open");
    for i in 0..n {
        log.append(draft(i, tag_at(i))).expect("append");
    }
    log
}

fn export(log: &AuditLog<MemoryAuditStore>) -> Vec<u8> {
    let mut out = Vec::new();
    log.export(ORIGIN, &mut out).expect("export");
    out
}

fn leaf(log: &AuditLog<MemoryAuditStore>, i: u64) -> Hash {
    let e = &log.entries(i, 1).expect("entry")[0];
    ossa_audit::leaf_hash(&e.canonical_bytes().expect("bytes"))
}

#[test]
fn signed_cosigned_checkpoint_covers_export_and_proofs() {
    let (node, witness) = (NodeKey::generate(), NodeKey::generate());
    let log = log_with(21, |_| "a");
    let note = sign_checkpoint(&Checkpoint::new(ORIGIN, log.tree_head()), KEY, &node).expect("sign");
    let note = cosign_checkpoint(&note, WITNESS, &witness, 1_750_000_000).expect("cosign");

    let cp = verify_checkpoint(&note, KEY, &node.public_key()).expect("log signature");
    assert_eq!(verify_cosignature(&note, WITNESS, &witness.public_key()).expect("cosigned").checkpoint, cp);
    assert_eq!((cp.origin.as_str(), cp.size), (ORIGIN, 21));

    for _ in 0..5 {
        log.append(draft(99, "later")).expect("append");
    }
    let report = verify_export_against(&export(&log)[..], &cp).expect("export extends the checkpoint");
    assert_eq!(report.entries, 26);

    let proof = log.inclusion_proof(7, cp.size).expect("proof");
    assert_eq!(verify_inclusion(&leaf(&log, 7), 7, cp.size, &proof, &cp.root), Ok(()));

    let later = log.tree_head();
    let proof = log.consistency_proof(cp.size, later.size).expect("proof");
    assert_eq!(verify_consistency(cp.size, later.size, &cp.root, &later.root, &proof), Ok(()));
}

#[test]
fn a_rewritten_history_fails_against_the_signed_checkpoint() {
    let node = NodeKey::generate();
    let honest = log_with(21, |_| "a");
    let note = sign_checkpoint(&Checkpoint::new(ORIGIN, honest.tree_head()), KEY, &node).expect("sign");
    let cp = verify_checkpoint(&note, KEY, &node.public_key()).expect("verify");

    // Same length and more, entry 9 changed, chain and header recomputed: valid on its own.
    let forked = log_with(30, |i| if i == 9 { "b" } else { "a" });
    let err = verify_export_against(&export(&forked)[..], &cp).expect_err("fork");
    assert!(matches!(err.problem, Problem::CheckpointRootMismatch { size: 21, .. }), "{err}");

    let head = forked.tree_head();
    let proof = forked.consistency_proof(cp.size, head.size).expect("proof");
    let result = verify_consistency(cp.size, head.size, &cp.root, &head.root, &proof);
    assert_eq!(result, Err(ProofError::OldRootMismatch));

    let proof = forked.inclusion_proof(9, cp.size).expect("proof");
    assert!(verify_inclusion(&leaf(&forked, 9), 9, cp.size, &proof, &cp.root).is_err());
}
