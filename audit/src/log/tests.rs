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
    log.persist().expect("persist");
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
        assert_eq!(log.append_replicated(vec![draft(0, Some(5))]).expect("a").len(), 1);
        assert!(log.append_replicated(vec![draft(1, Some(5))]).expect("b").is_empty());
        assert!(log.append_replicated(vec![draft(2, Some(4))]).expect("c").is_empty());
        assert_eq!(log.append_replicated(vec![draft(3, None)]).expect("d").len(), 1);
        assert_eq!(log.last_raft_index(), Some(5));
        log.flush().expect("flush");
    }
    let db = sled_db(&dir);
    let log = AuditLog::open(SledAuditStore::open(&db).expect("store")).expect("reopen");
    assert_eq!(log.last_raft_index(), Some(5));
    let replayed = (1..=5).map(|i| draft(9, Some(i))).collect();
    assert!(log.append_replicated(replayed).expect("re-apply").is_empty());
    assert_eq!(log.len(), 2);
    // A replayed batch that runs past what was appended: only the new entries go in.
    let tail = (4..=7).map(|i| draft(9, Some(i))).collect();
    let appended = log.append_replicated(tail).expect("new");
    let raft_indexes: Vec<_> = appended.iter().map(|e| e.raft_index).collect();
    assert_eq!(raft_indexes, [Some(6), Some(7)]);
    assert_eq!((appended[0].index, log.last_raft_index()), (2, Some(7)));
}

#[test]
fn a_replicated_batch_keeps_a_shared_raft_index_and_drops_a_lower_one() {
    let log = AuditLog::open(MemoryAuditStore::new()).expect("open");
    let drafts = vec![draft(0, Some(1)), draft(1, Some(1)), draft(2, None), draft(3, Some(3)), draft(4, Some(2))];
    let appended = log.append_replicated(drafts).expect("batch");
    let raft_indexes: Vec<_> = appended.iter().map(|e| e.raft_index).collect();
    assert_eq!(raft_indexes, [Some(1), Some(1), None, Some(3)], "proposals of one Raft entry share its index");
    assert_eq!(log.len(), 4);
    assert_eq!(log.last_raft_index(), Some(3));
    // Replayed after a restart, the whole entry is already in: none of its drafts goes in again.
    let replayed = vec![draft(5, Some(3)), draft(6, Some(3)), draft(7, Some(4)), draft(8, Some(4))];
    let appended = log.append_replicated(replayed).expect("replay");
    let raft_indexes: Vec<_> = appended.iter().map(|e| e.raft_index).collect();
    assert_eq!(raft_indexes, [Some(4), Some(4)]);
}

#[test]
fn open_detects_a_corrupted_last_entry() {
    let store = MemoryAuditStore::new();
    let log = AuditLog::open(store).expect("open");
    log.append(draft(0, None)).expect("append");
    log.append(draft(1, None)).expect("append");
    log.persist().expect("persist");
    let store = log.store.clone();
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
    for i in 0..2 {
        log.append(draft(i, None)).expect("append");
        log.persist().expect("persist");
    }
    drop(log);
    // Each append was written alone, so is a chunk of its own: removing the second removes
    // the last entry.
    db.open_tree("audit_chunks").expect("tree").remove(1u64.to_be_bytes()).expect("remove").expect("was there");
    let reopened = AuditLog::open(SledAuditStore::open(&db).expect("store"));
    assert!(matches!(reopened, Err(AuditError::Corrupt(_))));
}

#[test]
fn single_appends_wait_in_the_tail_until_it_is_full() {
    let log = AuditLog::open(MemoryAuditStore::new()).expect("open");
    let full = TAIL_MAX_ENTRIES as u64;
    for i in 0..full {
        log.append(draft(i, None)).expect("append");
    }
    assert_eq!(log.store.next_index().expect("stored"), 0, "a full tail is not written yet");
    assert_eq!(log.len(), full, "the tail's entries are in the log");
    log.append(draft(full, None)).expect("append");
    assert_eq!(log.store.next_index().expect("stored"), full + 1, "one write took the tail and the new entry");
    log.append(draft(full + 1, None)).expect("append");
    let head = log.tree_head();
    assert_eq!(log.entries(full + 1, 1).expect("read")[0].actor, draft(full + 1, None).actor, "reads see the tail");
    assert_eq!(log.store.next_index().expect("stored"), full + 2, "a read that reaches the tail writes it");
    assert_eq!(log.root(full + 2).expect("root"), head.root);
}

#[test]
fn dropping_the_log_writes_its_tail() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = sled_db(&dir);
    let head = {
        let log = AuditLog::open(SledAuditStore::open(&db).expect("store")).expect("open");
        for i in 0..5 {
            log.append(draft(i, None)).expect("append");
        }
        log.tree_head()
    };
    let reopened = AuditLog::open(SledAuditStore::open(&db).expect("store")).expect("reopen");
    assert_eq!(reopened.tree_head(), head);
}

#[test]
fn flush_returns_the_head_it_made_durable() {
    let log = AuditLog::open(MemoryAuditStore::new()).expect("open");
    log.append_batch(vec![draft(0, None), draft(1, None)]).expect("batch");
    log.append(draft(2, None)).expect("append");
    let flushed = log.flush().expect("flush");
    assert_eq!(flushed, log.tree_head());
    assert_eq!(log.store.next_index().expect("stored"), flushed.size);
}

/// A memory store whose writes fail while `failing` is set.
#[derive(Default)]
struct FlakyStore {
    inner: MemoryAuditStore,
    failing: std::sync::atomic::AtomicBool,
}

impl FlakyStore {
    fn check(&self) -> Result<(), AuditError> {
        if self.failing.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(AuditError::Corrupt("disk on fire".into()));
        }
        Ok(())
    }
}

impl AuditStore for FlakyStore {
    fn append_with_nodes(&self, i: u64, r: &[u8], n: &[(NodeId, Hash)], m: &[(&str, &[u8])]) -> Result<(), AuditError> {
        self.check()?;
        self.inner.append_with_nodes(i, r, n, m)
    }
    fn append_batch(&self, r: &[(u64, &[u8])], n: &[(NodeId, Hash)], m: &[(&str, &[u8])]) -> Result<(), AuditError> {
        self.check()?;
        self.inner.append_batch(r, n, m)
    }
    fn get_node(&self, id: NodeId) -> Result<Option<Hash>, AuditError> {
        self.inner.get_node(id)
    }
    fn put_nodes(&self, nodes: &[(NodeId, Hash)]) -> Result<(), AuditError> {
        self.check()?;
        self.inner.put_nodes(nodes)
    }
    fn get(&self, index: u64) -> Result<Option<Vec<u8>>, AuditError> {
        self.inner.get(index)
    }
    fn last(&self) -> Result<Option<(u64, Vec<u8>)>, AuditError> {
        self.inner.last()
    }
    fn range(&self, start: u64, limit: usize) -> Result<Vec<(u64, Vec<u8>)>, AuditError> {
        self.inner.range(start, limit)
    }
    fn get_meta(&self, key: &str) -> Result<Option<Vec<u8>>, AuditError> {
        self.inner.get_meta(key)
    }
    fn put_meta(&self, key: &str, value: &[u8]) -> Result<(), AuditError> {
        self.check()?;
        self.inner.put_meta(key, value)
    }
    fn flush(&self) -> Result<(), AuditError> {
        self.check()
    }
}

#[test]
fn a_failed_write_keeps_the_tail_and_refuses_appends_once_it_is_full() {
    let log = AuditLog::open(FlakyStore::default()).expect("open");
    log.append(draft(0, None)).expect("append");
    log.store.failing.store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(log.persist().is_err() && log.flush().is_err(), "the write fails");
    assert!(log.append_batch(vec![draft(1, None)]).is_err(), "a batch is written at once, so fails");
    assert!(log.root(1).is_err(), "a read that needs the tail written fails");
    assert_eq!(log.len(), 1, "the failed batch appended nothing");
    let full = TAIL_MAX_ENTRIES as u64;
    for i in 1..full {
        log.append(draft(i, None)).expect("room in the tail");
    }
    let before = (log.tree_head(), log.head());
    assert!(log.append(draft(full, None)).is_err(), "a full tail that cannot be written refuses appends");
    assert_eq!((log.tree_head(), log.head()), before, "the refused append changed nothing");
    log.store.failing.store(false, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(log.flush().expect("the store works again"), before.0);
    assert_eq!(log.store.inner.next_index().expect("stored"), full, "every acknowledged append was written");
    let mut out = Vec::new();
    log.export("node-a", &mut out).expect("export");
    assert_eq!(crate::verify_export(&out[..]).expect("verifies").entries, full);
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

/// Appends `drafts` one at a time to one log and in batches of `sizes` (cycled; the rest in
/// one last batch) to another, and checks that both hold the same entries, records, tree and
/// proofs.
fn assert_batches_match_single_appends<S: AuditStore>(
    single: &AuditLog<S>,
    batched: &AuditLog<S>,
    drafts: Vec<EntryDraft>,
    sizes: &[usize],
) {
    let mut expected = Vec::new();
    for d in drafts.clone() {
        expected.push(single.append(d).expect("single append"));
    }
    let mut got = Vec::new();
    let mut rest = drafts.into_iter();
    for size in sizes.iter().copied().cycle().take(sizes.len().max(1) * 64) {
        let batch: Vec<EntryDraft> = rest.by_ref().take(size).collect();
        got.extend(batched.append_batch(batch).expect("batch append"));
    }
    got.extend(batched.append_batch(rest.collect()).expect("last batch"));
    assert_eq!(got, expected);
    let n = single.len();
    assert_eq!(batched.len(), n);
    assert_eq!(batched.head(), single.head());
    assert_eq!(batched.last_raft_index(), single.last_raft_index());
    assert_eq!(batched.tree_head(), single.tree_head());
    single.persist().expect("the single appends' tail written");
    let len = usize::try_from(n).expect("small");
    assert_eq!(batched.store.range(0, len + 1).expect("range"), single.store.range(0, len + 1).expect("range"));
    for key in [META_HEAD, META_RAFT, META_FORMAT] {
        assert_eq!(batched.store.get_meta(key).expect("meta"), single.store.get_meta(key).expect("meta"), "{key}");
    }
    for size in 0..=n {
        assert_eq!(batched.root(size).expect("root"), single.root(size).expect("root"), "root of {size}");
        for from in 0..=size {
            let (b, s) = (batched.consistency_proof(from, size), single.consistency_proof(from, size));
            assert_eq!(b.expect("proof"), s.expect("proof"), "consistency {from}..{size}");
        }
        for index in 0..size {
            let (b, s) = (batched.inclusion_proof(index, size), single.inclusion_proof(index, size));
            assert_eq!(b.expect("proof"), s.expect("proof"), "inclusion of {index} in {size}");
        }
    }
}

#[test]
fn batches_give_the_entries_tree_and_proofs_of_single_appends() {
    let drafts: Vec<_> = (0..40).map(|i| draft(i, (i % 3 == 0).then_some(i * 2))).collect();
    let single = AuditLog::open(MemoryAuditStore::new()).expect("open");
    let batched = AuditLog::open(MemoryAuditStore::new()).expect("open");
    assert_batches_match_single_appends(&single, &batched, drafts, &[1, 0, 7, 2, 16]);
}

#[test]
fn sled_batches_match_single_appends_and_survive_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = sled_db(&dir);
    let single = AuditLog::open(SledAuditStore::open(&db).expect("store")).expect("open");
    let other = crate::open_sled(&dir.path().join("other")).expect("open sled");
    let batched = AuditLog::open(SledAuditStore::open(&other).expect("store")).expect("open");
    let drafts: Vec<_> = (0..37).map(|i| draft(i, Some(100 + i))).collect();
    assert_batches_match_single_appends(&single, &batched, drafts, &[5, 13]);
    batched.flush().expect("flush");
    let head = batched.tree_head();
    drop(batched);
    let reopened = AuditLog::open(SledAuditStore::open(&other).expect("store")).expect("reopen");
    assert_eq!(reopened.tree_head(), head);
    assert_eq!(reopened.last_raft_index(), Some(136));
    let next = reopened.append_batch(vec![draft(37, None), draft(38, None)]).expect("append after reopen");
    assert_eq!(next[0].index, 37);
    let mut out = Vec::new();
    reopened.export("node-a", &mut out).expect("export");
    assert_eq!(crate::verify_export(&out[..]).expect("verifies").entries, 39);
}

#[test]
fn a_batch_with_a_bad_draft_appends_nothing() {
    let log = AuditLog::open(MemoryAuditStore::new()).expect("open");
    log.append(draft(0, Some(1))).expect("append");
    log.persist().expect("persist");
    let before = (log.tree_head(), log.head(), log.last_raft_index());
    let mut bad = draft(2, None);
    bad.actor = "a".repeat(MAX_ACTOR_LEN + 1);
    let r = log.append_batch(vec![draft(1, Some(5)), bad, draft(3, None)]);
    assert!(matches!(r, Err(AuditError::TooLarge { field: "actor", .. })));
    assert_eq!((log.tree_head(), log.head(), log.last_raft_index()), before);
    assert_eq!(log.store.next_index().expect("len"), 1, "nothing written");
    assert_eq!(log.store.get_meta(META_RAFT).expect("meta"), Some(1u64.to_be_bytes().to_vec()));
    assert!(log.append_batch(Vec::new()).expect("empty batch").is_empty());
    let appended = log.append_batch(vec![draft(1, None)]).expect("a valid batch still appends");
    assert_eq!(appended[0].index, 1);
}

#[test]
fn a_batch_moves_the_raft_index_to_its_highest() {
    let log = AuditLog::open(MemoryAuditStore::new()).expect("open");
    log.append_batch(vec![draft(0, Some(7)), draft(1, Some(3)), draft(2, None)]).expect("batch");
    assert_eq!(log.last_raft_index(), Some(7), "the highest Raft index, not the last one");
    assert!(log.append_replicated(vec![draft(3, Some(7))]).expect("replicated").is_empty());
}

mod batch_properties {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, RngSeed};

    use super::*;

    /// Fixed seed so a failure reproduces on every machine.
    fn config() -> Config {
        Config { cases: 64, rng_seed: RngSeed::Fixed(0xA0D1_7BA7), ..Config::default() }
    }

    fn drafts() -> impl Strategy<Value = Vec<EntryDraft>> {
        let one = (any::<u64>(), "[a-z.]{0,8}", "[a-z0-9-]{0,8}", any::<i64>(), any::<Option<u64>>()).prop_map(
            |(time_ms, kind, actor, n, raft_index)| EntryDraft {
                time_ms,
                kind,
                actor,
                payload: json!({ "n": n }),
                raft_index,
            },
        );
        prop::collection::vec(one, 0..48)
    }

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn batches_of_any_sizes_equal_single_appends(
            drafts in drafts(),
            sizes in prop::collection::vec(0..12usize, 1..6),
            prefix in 0..5u64,
        ) {
            let single = AuditLog::open(MemoryAuditStore::new()).expect("open");
            let batched = AuditLog::open(MemoryAuditStore::new()).expect("open");
            // Start both from the same non-empty log, so batches begin at any frontier shape.
            for i in 0..prefix {
                single.append(draft(i, None)).expect("append");
                batched.append(draft(i, None)).expect("append");
            }
            assert_batches_match_single_appends(&single, &batched, drafts, &sizes);
        }
    }
}
