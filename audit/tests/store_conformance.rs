//! Storage conformance: every `AuditStore` engine must pass `conformance`.

use ossa_audit::{AuditStore, MemoryAuditStore, NodeId, SledAuditStore};

/// The behaviour `AuditLog` relies on, checked against a fresh, empty store.
fn conformance<S: AuditStore>(store: &S) {
    assert_eq!(store.last().expect("last"), None);
    assert_eq!(store.next_index().expect("len"), 0);
    assert_eq!(store.get(0).expect("get"), None);
    assert!(store.range(0, 10).expect("range").is_empty());
    assert_eq!(store.get_meta("head").expect("meta"), None);

    // Indices past 255 and 65535 check that order is numeric, not by byte of a short key.
    let indices: Vec<u64> = (0..20).chain([255, 256, 65_535, 65_536, 1 << 40]).collect();
    for &i in &indices {
        let record = format!("record-{i}").into_bytes();
        let head = i.to_be_bytes();
        store.append(i, &record, &[("head", &head), ("other", b"x")]).expect("append");
        assert_eq!(store.get_meta("head").expect("meta"), Some(head.to_vec()));
    }
    assert_eq!(store.get(7).expect("get"), Some(b"record-7".to_vec()));
    assert_eq!(store.get(20).expect("get"), None);
    let last = store.last().expect("last");
    assert_eq!(last, Some((1 << 40, format!("record-{}", 1u64 << 40).into_bytes())));
    assert_eq!(store.next_index().expect("len"), (1 << 40) + 1);

    let all = store.range(0, usize::MAX).expect("range");
    assert_eq!(all.iter().map(|(i, _)| *i).collect::<Vec<_>>(), indices);
    let page = store.range(18, 3).expect("range");
    assert_eq!(page.iter().map(|(i, _)| *i).collect::<Vec<_>>(), vec![18, 19, 255]);
    assert!(store.range(0, 0).expect("range").is_empty());
    assert!(store.range((1 << 40) + 1, 5).expect("range").is_empty());

    store.append(3, b"rewritten", &[]).expect("overwrite");
    assert_eq!(store.get(3).expect("get"), Some(b"rewritten".to_vec()));
    assert_eq!(store.get_meta("other").expect("meta"), Some(b"x".to_vec()));

    // Tree nodes: written with an append, atomically, or on their own; keyed by both parts.
    let node = |level, index| NodeId { level, index };
    assert_eq!(store.get_node(node(1, 0)).expect("node"), None);
    let nodes = [(node(1, 0), [1; 32]), (node(2, 0), [2; 32]), (node(1, 1 << 40), [3; 32])];
    store.append_with_nodes(21, b"record-21", &nodes, &[("head", b"h21")]).expect("append with nodes");
    assert_eq!(store.get(21).expect("get"), Some(b"record-21".to_vec()));
    assert_eq!(store.get_meta("head").expect("meta"), Some(b"h21".to_vec()));
    for (id, hash) in nodes {
        assert_eq!(store.get_node(id).expect("node"), Some(hash), "{id:?}");
    }
    assert_eq!(store.get_node(node(0, 0)).expect("node"), None, "level 0 is the record, never a node");
    assert_eq!(store.get_node(node(1, 1)).expect("node"), None);
    assert_eq!(store.get_node(node(2, 1 << 40)).expect("node"), None);
    store.put_nodes(&[(node(1, 1), [4; 32]), (node(63, 0), [5; 32])]).expect("put nodes");
    assert_eq!(store.get_node(node(1, 1)).expect("node"), Some([4; 32]));
    assert_eq!(store.get_node(node(63, 0)).expect("node"), Some([5; 32]));
    store.put_nodes(&[]).expect("no nodes");

    store.put_meta("k", b"v1").expect("put");
    store.put_meta("k", b"v2").expect("put");
    assert_eq!(store.get_meta("k").expect("meta"), Some(b"v2".to_vec()));
    assert_eq!(store.get_meta("missing").expect("meta"), None);
    store.flush().expect("flush");
}

#[test]
fn memory_store_conforms() {
    conformance(&MemoryAuditStore::new());
}

#[test]
fn sled_store_conforms() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = ossa_audit::open_sled(dir.path()).expect("sled");
    conformance(&SledAuditStore::open(&db).expect("store"));
}

#[test]
fn sled_store_persists_across_reopen_and_shares_the_db() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let db = ossa_audit::open_sled(dir.path()).expect("sled");
        db.insert(b"someone-else", b"theirs".to_vec()).expect("other component");
        let store = SledAuditStore::open(&db).expect("store");
        store.append(0, b"r0", &[("head", b"h0")]).expect("append");
        store.append_with_nodes(1, b"r1", &[(NodeId { level: 1, index: 0 }, [7; 32])], &[]).expect("append");
        store.flush().expect("flush");
    }
    let db = ossa_audit::open_sled(dir.path()).expect("sled");
    let store = SledAuditStore::open(&db).expect("store");
    assert_eq!(store.last().expect("last"), Some((1, b"r1".to_vec())));
    assert_eq!(store.get_node(NodeId { level: 1, index: 0 }).expect("node"), Some([7; 32]));
    assert_eq!(store.get_meta("head").expect("meta"), Some(b"h0".to_vec()));
    let other = db.get(b"someone-else").expect("get");
    assert_eq!(other.as_deref(), Some(&b"theirs"[..]));
    assert!(db.tree_names().iter().any(|n| n.as_ref() == b"audit_chunks"));
}
