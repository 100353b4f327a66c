//! Unit tests of append, chain, head and reopen.

use serde_json::json;

use super::*;
use crate::{MemoryAuditStore, SledAuditStore};

fn draft(i: u64, raft_index: Option<u64>) -> EntryDraft {
    EntryDraft {
        time_ms: 1_000 + i,
        kind: "test.event".into(),
        actor: format!("actor-{i}"),
        payload: json!({ "n": i, "tags": ["a", "b"], "f": 0.1 }),
        raft_index,
    }
}

fn sled_db(dir: &tempfile::TempDir) -> sled::Db {
    crate::open_sled(&dir.path().join("db")).expect("open sled")
}

#[test]
fn append_links_the_chain_and_moves_the_head() {
    let log = AuditLog::open(MemoryAuditStore::new()).expect("open");
    assert!(log.is_empty());
    assert_eq!(log.head(), None);
    let a = log.append(draft(0, None)).expect("append");
    let b = log.append(draft(1, None)).expect("append");
    assert_eq!((a.index, b.index), (0, 1));
    assert_eq!(a.prev_hash, hex::encode(ZERO_HASH));
    assert_eq!(b.prev_hash, a.leaf_hash);
    assert_ne!(a.leaf_hash, b.leaf_hash);
    assert_eq!(log.len(), 2);
    let (i, h) = log.head().expect("head");
    assert_eq!((i, hex::encode(h)), (1, b.leaf_hash.clone()));
    assert_eq!(log.entries(0, 10).expect("entries"), vec![a, b.clone()]);
    assert_eq!(log.entries(1, 1).expect("entries"), vec![b]);
    assert!(log.entries(2, 10).expect("entries").is_empty());
    assert!(log.entries(0, 0).expect("entries").is_empty());
    assert!(log.entries(u64::MAX, usize::MAX).expect("entries").is_empty());
}

#[test]
fn leaf_hash_is_recomputed_from_stored_bytes() {
    let log = AuditLog::open(MemoryAuditStore::new()).expect("open");
    let a = log.append(draft(0, Some(3))).expect("append");
    let record = log.store.get(0).expect("get").expect("stored");
    assert_eq!(a.leaf_hash, hex::encode(entry::leaf_hash(&record)));
}

#[test]
fn size_limits_are_enforced_without_effect() {
    let log = AuditLog::open(MemoryAuditStore::new()).expect("open");
    let mut d = draft(0, None);
    d.kind = "k".repeat(MAX_KIND_LEN + 1);
    assert!(matches!(log.append(d), Err(AuditError::TooLarge { field: "kind", .. })));
    let mut d = draft(0, None);
    d.actor = "a".repeat(MAX_ACTOR_LEN + 1);
    assert!(matches!(log.append(d), Err(AuditError::TooLarge { field: "actor", .. })));
    let mut d = draft(0, None);
    d.payload = json!("x".repeat(MAX_PAYLOAD_LEN));
    assert!(matches!(log.append(d), Err(AuditError::TooLarge { field: "payload", .. })));
    assert!(log.is_empty());
    log.append(draft(0, None)).expect("a valid draft still appends at index 0");
}

#[test]
fn sled_reopen_keeps_and_continues_the_chain() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (second, head) = {
        let db = sled_db(&dir);
        let log = AuditLog::open(SledAuditStore::open(&db).expect("store")).expect("open");
        log.append(draft(0, None)).expect("append");
        let second = log.append(draft(1, Some(9))).expect("append");
        log.flush().expect("flush");
        (second, log.head())
    };
    let db = sled_db(&dir);
    let log = AuditLog::open(SledAuditStore::open(&db).expect("store")).expect("reopen");
    assert_eq!(log.len(), 2);
    assert_eq!(log.head(), head);
    assert_eq!(log.last_raft_index(), Some(9));
    let third = log.append(draft(2, None)).expect("append after reopen");
    assert_eq!(third.index, 2);
    assert_eq!(third.prev_hash, second.leaf_hash);
    let mut out = Vec::new();
    log.export("node-a", &mut out).expect("export");
    assert_eq!(crate::verify_export(&out[..]).expect("verifies").entries, 3);
}

#[test]
fn append_replicated_is_idempotent_across_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let db = sled_db(&dir);
        let log = AuditLog::open(SledAuditStore::open(&db).expect("store")).expect("open");
        assert!(log.append_replicated(draft(0, Some(5))).expect("a").is_some());
        assert!(log.append_replicated(draft(1, Some(5))).expect("b").is_none());
        assert!(log.append_replicated(draft(2, Some(4))).expect("c").is_none());
        assert!(log.append_replicated(draft(3, None)).expect("d").is_some());
        assert_eq!(log.last_raft_index(), Some(5));
        log.flush().expect("flush");
    }
    let db = sled_db(&dir);
    let log = AuditLog::open(SledAuditStore::open(&db).expect("store")).expect("reopen");
    assert_eq!(log.last_raft_index(), Some(5));
    for i in 1..=5 {
        assert!(log.append_replicated(draft(9, Some(i))).expect("re-apply").is_none());
    }
    assert_eq!(log.len(), 2);
    let e = log.append_replicated(draft(9, Some(6))).expect("new").expect("appended");
    assert_eq!((e.index, log.last_raft_index()), (2, Some(6)));
}

#[test]
fn open_detects_a_corrupted_last_entry() {
    let store = MemoryAuditStore::new();
    let log = AuditLog::open(store).expect("open");
    log.append(draft(0, None)).expect("append");
    log.append(draft(1, None)).expect("append");
    let store = log.store;
    let mut record = store.get(1).expect("get").expect("stored");
    let last = record.len() - 40; // inside the payload
    record[last] ^= 1;
    store.append(1, &record, &[]).expect("overwrite");
    assert!(matches!(AuditLog::open(store), Err(AuditError::Corrupt(_))));
}

#[test]
fn open_detects_a_missing_last_entry() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = sled_db(&dir);
    let log = AuditLog::open(SledAuditStore::open(&db).expect("store")).expect("open");
    log.append(draft(0, None)).expect("append");
    log.append(draft(1, None)).expect("append");
    drop(log);
    db.open_tree("audit_entries").expect("tree").remove(1u64.to_be_bytes()).expect("remove");
    let reopened = AuditLog::open(SledAuditStore::open(&db).expect("store"));
    assert!(matches!(reopened, Err(AuditError::Corrupt(_))));
}

#[test]
fn appends_from_several_threads_form_one_chain() {
    let log = std::sync::Arc::new(AuditLog::open(MemoryAuditStore::new()).expect("open"));
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let log = log.clone();
            std::thread::spawn(move || {
                for i in 0..25 {
                    log.append(draft(t * 100 + i, None)).expect("append");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("thread");
    }
    let mut out = Vec::new();
    log.export("node-a", &mut out).expect("export");
    assert_eq!(crate::verify_export(&out[..]).expect("verifies").entries, 100);
}

#[test]
fn export_rejects_a_bad_origin() {
    let log = AuditLog::open(MemoryAuditStore::new()).expect("open");
    for origin in ["", "a\nb", &"o".repeat(256)] {
        let r = log.export(origin, Vec::new());
        assert!(matches!(r, Err(AuditError::InvalidOrigin(_))), "{origin:?}");
    }
}

#[test]
fn log_is_send_and_sync_for_every_engine() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<AuditLog<SledAuditStore>>();
    assert_send_sync::<AuditLog<MemoryAuditStore>>();
}
