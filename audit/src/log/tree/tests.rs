//! Tree heads, proofs read from the store, reopen, upgrade of a chain-only store, and
//! detection of damaged tree nodes.

use serde_json::json;

use super::super::{META_FORMAT, META_HEAD, META_RAFT, STORE_FORMAT};
use super::*;
use crate::{verify_consistency, verify_inclusion, EntryDraft, MemoryAuditStore, SledAuditStore};

fn draft(i: u64) -> EntryDraft {
    EntryDraft { time_ms: i, kind: "tree.test".into(), actor: "a".into(), payload: json!({ "i": i }), raft_index: None }
}

fn log_of(n: u64) -> AuditLog<MemoryAuditStore> {
    let log = AuditLog::open(MemoryAuditStore::new()).expect("open");
    for i in 0..n {
        log.append(draft(i)).expect("append");
    }
    log.persist().expect("every entry in the store");
    log
}

fn leaf(log: &AuditLog<impl AuditStore>, i: u64) -> Hash {
    let hex_leaf = &log.entries(i, 1).expect("entry")[0].leaf_hash;
    hex::decode(hex_leaf).expect("hex").try_into().expect("32 bytes")
}

#[test]
fn roots_and_proofs_verify_for_every_size_and_index() {
    let log = AuditLog::open(MemoryAuditStore::new()).expect("open");
    let mut roots = vec![EMPTY_ROOT];
    assert_eq!(log.tree_head(), TreeHead { size: 0, root: EMPTY_ROOT });
    for i in 0..33 {
        log.append(draft(i)).expect("append");
        let head = log.tree_head();
        assert_eq!(head.size, i + 1);
        assert_eq!(log.root(head.size).expect("root"), head.root);
        roots.push(head.root);
    }
    for size in 0..=33u64 {
        assert_eq!(log.root(size).expect("root"), roots[size as usize], "size {size}");
        for index in 0..size {
            let proof = log.inclusion_proof(index, size).expect("proof");
            let l = leaf(&log, index);
            assert_eq!(verify_inclusion(&l, index, size, &proof, &roots[size as usize]), Ok(()), "{index}/{size}");
        }
        for from in 0..=size {
            let proof = log.consistency_proof(from, size).expect("proof");
            let (a, b) = (&roots[from as usize], &roots[size as usize]);
            assert_eq!(verify_consistency(from, size, a, b, &proof), Ok(()), "{from}->{size}");
        }
    }
}

#[test]
fn out_of_range_requests_are_errors() {
    let log = log_of(5);
    assert!(matches!(log.root(6), Err(AuditError::InvalidRange(_))));
    assert!(matches!(log.inclusion_proof(5, 5), Err(AuditError::InvalidRange(_))));
    assert!(matches!(log.inclusion_proof(0, 6), Err(AuditError::InvalidRange(_))));
    assert!(matches!(log.inclusion_proof(0, 0), Err(AuditError::InvalidRange(_))));
    assert!(matches!(log.consistency_proof(4, 3), Err(AuditError::InvalidRange(_))));
    assert!(matches!(log.consistency_proof(1, 6), Err(AuditError::InvalidRange(_))));
    assert!(matches!(log.consistency_proof(u64::MAX, u64::MAX), Err(AuditError::InvalidRange(_))));
}

#[test]
fn sled_reopen_keeps_and_continues_the_tree() {
    let dir = tempfile::tempdir().expect("tempdir");
    let head = {
        let db = crate::open_sled(dir.path()).expect("sled");
        let log = AuditLog::open(SledAuditStore::open(&db).expect("store")).expect("open");
        for i in 0..37 {
            log.append(draft(i)).expect("append");
        }
        log.flush().expect("flush");
        log.tree_head()
    };
    let db = crate::open_sled(dir.path()).expect("sled");
    let log = AuditLog::open(SledAuditStore::open(&db).expect("store")).expect("reopen");
    assert_eq!(log.tree_head(), head);
    for i in 37..70 {
        log.append(draft(i)).expect("append");
    }
    let reference = log_of(70);
    assert_eq!(log.tree_head(), reference.tree_head());
    assert_eq!(log.root(37).expect("root"), head.root);
    let proof = log.consistency_proof(37, 70).expect("proof");
    assert_eq!(verify_consistency(37, 70, &head.root, &log.tree_head().root, &proof), Ok(()));
    assert_eq!(proof, reference.consistency_proof(37, 70).expect("proof"));
}

/// A copy of `log`'s records and head metadata in a fresh store, labelled format 1 and
/// without tree nodes: what a node wrote before the tree existed.
fn chain_only_copy(log: &AuditLog<MemoryAuditStore>) -> MemoryAuditStore {
    let store = MemoryAuditStore::new();
    for (i, record) in log.store.range(0, usize::MAX).expect("range") {
        store.append(i, &record, &[]).expect("copy");
    }
    for key in [META_HEAD, META_RAFT] {
        if let Some(v) = log.store.get_meta(key).expect("meta") {
            store.put_meta(key, &v).expect("copy meta");
        }
    }
    store.put_meta(META_FORMAT, &[1]).expect("format");
    store
}

#[test]
fn a_chain_only_store_gets_its_tree_on_open() {
    let log = log_of(300);
    let store = chain_only_copy(&log);
    assert_eq!(store.get_node(NodeId { level: 1, index: 0 }).expect("node"), None);
    let upgraded = AuditLog::open(store).expect("upgrade");
    assert_eq!(upgraded.tree_head(), log.tree_head());
    assert_eq!(upgraded.inclusion_proof(17, 300).expect("proof"), log.inclusion_proof(17, 300).expect("proof"));
    assert_eq!(upgraded.store.get_meta(META_FORMAT).expect("meta"), Some(vec![STORE_FORMAT]));
    let reopened = AuditLog::open(upgraded.store.clone()).expect("reopen");
    assert_eq!(reopened.tree_head(), log.tree_head());
}

#[test]
fn a_store_with_every_node_is_read_as_it_is_and_relabelled() {
    // Format 2 kept the nodes of every level; they agree with the records, and the levels
    // below 8 are simply not read any more.
    let log = log_of(300);
    let mut all = Vec::new();
    let mut frontier = Frontier::default();
    for i in 0..300 {
        frontier.append_keeping(&leaf(&log, i), 1, &mut all);
    }
    log.store.put_nodes(&all).expect("every node");
    log.store.put_meta(META_FORMAT, &[2]).expect("format 2");
    let head = log.tree_head();
    let proof = log.inclusion_proof(17, 300).expect("proof");
    let reopened = AuditLog::open(log.store.clone()).expect("open");
    assert_eq!((reopened.tree_head(), reopened.inclusion_proof(17, 300).expect("proof")), (head, proof));
    assert_eq!(reopened.store.get_meta(META_FORMAT).expect("meta"), Some(vec![STORE_FORMAT]));
}

#[test]
fn a_chain_only_store_with_a_broken_link_is_refused() {
    let log = log_of(10);
    let store = chain_only_copy(&log);
    let mut record = store.get(4).expect("get").expect("stored");
    let payload_byte = record.len() - 45;
    record[payload_byte] ^= 1;
    store.append(4, &record, &[]).expect("overwrite");
    assert!(matches!(AuditLog::open(store), Err(AuditError::Corrupt(_))));
}

#[test]
fn open_detects_damaged_tree_nodes() {
    // 769 = 512 + 256 + 1: the frontier's stored nodes (9, 0) and (8, 2) are checked against
    // their children (stored ones, and ones computed from the records), then the last leaf.
    for damaged in [NodeId { level: 9, index: 0 }, NodeId { level: 8, index: 2 }] {
        let log = log_of(769);
        log.store.put_nodes(&[(damaged, [0xee; 32])]).expect("damage");
        assert!(matches!(AuditLog::open(log.store.clone()), Err(AuditError::Corrupt(_))), "{damaged:?}");
    }
    // 3072 = 2048 + 1024: the spine of (10, 2) reads its stored sibling (8, 10).
    let log = log_of(3072);
    log.store.put_nodes(&[(NodeId { level: 8, index: 10 }, [0xee; 32])]).expect("damage");
    assert!(matches!(AuditLog::open(log.store.clone()), Err(AuditError::Corrupt(_))));
    // Nodes below level 8 are computed from the records, never read from the store.
    let log = log_of(13);
    log.store.put_nodes(&[(NodeId { level: 3, index: 0 }, [0xee; 32])]).expect("ignored");
    let head = log.tree_head();
    assert_eq!(AuditLog::open(log.store.clone()).expect("open").tree_head(), head);
}
