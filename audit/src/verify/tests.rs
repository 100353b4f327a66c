//! Export round trip and one test per tamper class, each checking the entry named.

use serde_json::json;

use super::*;
use crate::entry::{leaf_hash, Fields};
use crate::{AuditEntry, AuditLog, EntryDraft, MemoryAuditStore};

/// An export of `n` entries, split into lines (without newlines).
fn export_lines(n: u64) -> Vec<String> {
    let log = AuditLog::open(MemoryAuditStore::new()).expect("open");
    for i in 0..n {
        let draft = EntryDraft {
            time_ms: 10 * i,
            kind: "agent.accepted".into(),
            actor: "org-a/agent-é".into(),
            payload: json!({ "i": i, "score": 0.5 + i as f64, "s": "q\"\n" }),
            raft_index: (i % 2 == 0).then_some(i),
        };
        log.append(draft).expect("append");
    }
    let mut out = Vec::new();
    let summary = log.export("node-a.example", &mut out).expect("export");
    assert_eq!(summary.entries, n);
    let text = String::from_utf8(out).expect("utf8");
    text.lines().map(str::to_owned).collect()
}

fn verify_lines(lines: &[String]) -> Result<VerifyReport, VerifyError> {
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    verify_export(text.as_bytes())
}

fn entry_value(line: &str) -> serde_json::Value {
    serde_json::from_str(line).expect("entry json")
}

#[test]
fn round_trip_verifies() {
    for n in [0, 1, 5] {
        let lines = export_lines(n);
        assert_eq!(lines.len() as u64, n + 1);
        let report = verify_lines(&lines).expect("verifies");
        assert_eq!(report.origin, "node-a.example");
        assert_eq!(report.entries, n);
        let header: serde_json::Value = serde_json::from_str(&lines[0]).expect("header");
        assert_eq!(header["format"], "ossa-audit-export");
        assert_eq!(header["version"], 2);
        assert_eq!(header["entries"], n);
        assert_eq!(header["head"], json!(report.head));
        assert_eq!(header["root"], json!(report.root));
        assert_eq!(report.version, 2);
    }
}

#[test]
fn changed_field_names_the_entry() {
    let mut lines = export_lines(5);
    let mut v = entry_value(&lines[3]);
    v["actor"] = json!("mallory");
    lines[3] = v.to_string();
    let err = verify_lines(&lines).expect_err("detected");
    assert_eq!((err.line, err.entry), (4, Some(2)));
    assert!(matches!(err.problem, Problem::LeafHashMismatch { .. }));
    assert!(err.to_string().starts_with("entry 2 (line 4): leaf hash mismatch: "));
}

#[test]
fn rehashed_entry_breaks_the_next_link() {
    let mut lines = export_lines(5);
    let mut v = entry_value(&lines[2]);
    v["payload"]["i"] = json!(99);
    let e: AuditEntry = serde_json::from_value(v).expect("entry");
    let prev = hex::decode(&e.prev_hash).expect("hex");
    let payload = crate::canonical::canonical_json(&e.payload).expect("payload");
    let fields = Fields {
        index: e.index,
        time_ms: e.time_ms,
        kind: &e.kind,
        actor: &e.actor,
        payload_json: &payload,
        raft_index: e.raft_index,
        prev_hash: &prev.try_into().expect("32 bytes"),
    };
    let forged = AuditEntry { leaf_hash: hex::encode(leaf_hash(&fields.encode())), ..e };
    lines[2] = serde_json::to_string(&forged).expect("json");
    let err = verify_lines(&lines).expect_err("detected");
    assert_eq!((err.line, err.entry), (4, Some(2)));
    assert!(matches!(err.problem, Problem::PrevHashMismatch { .. }));
}

#[test]
fn removed_entry_is_out_of_order() {
    let mut lines = export_lines(5);
    lines.remove(3);
    let err = verify_lines(&lines).expect_err("detected");
    assert_eq!((err.line, err.entry), (4, Some(2)));
    assert_eq!(err.problem, Problem::IndexOutOfOrder { expected: 2, found: 3 });
}

#[test]
fn duplicated_or_inserted_entry_is_out_of_order() {
    let mut lines = export_lines(5);
    lines.insert(3, lines[2].clone());
    let err = verify_lines(&lines).expect_err("detected");
    assert_eq!((err.line, err.entry), (4, Some(2)));
    assert_eq!(err.problem, Problem::IndexOutOfOrder { expected: 2, found: 1 });
}

#[test]
fn reordered_entries_are_out_of_order() {
    let mut lines = export_lines(5);
    lines.swap(2, 4);
    let err = verify_lines(&lines).expect_err("detected");
    assert_eq!((err.line, err.entry), (3, Some(1)));
    assert_eq!(err.problem, Problem::IndexOutOfOrder { expected: 1, found: 3 });
}

#[test]
fn truncated_tail_disagrees_with_the_header() {
    let mut lines = export_lines(5);
    lines.truncate(4);
    let err = verify_lines(&lines).expect_err("detected");
    assert_eq!((err.line, err.entry), (5, Some(3)));
    assert_eq!(err.problem, Problem::CountMismatch { header: 5, found: 3 });
    let text: String = export_lines(2).iter().map(|l| format!("{l}\n")).collect();
    let err = verify_export(&text.as_bytes()[..text.len() - 10]).expect_err("cut mid-line");
    assert_eq!((err.line, err.entry), (3, Some(1)));
    assert_eq!(err.problem, Problem::MissingNewline);
}

#[test]
fn changed_header_is_detected() {
    let lines = export_lines(3);
    let head = serde_json::from_str::<serde_json::Value>(&lines[0]).expect("header")["head"]
        .as_str()
        .expect("head")
        .to_owned();
    let cases = [
        ("\"entries\":3", "\"entries\":2", Problem::ExtraEntry(2)),
        ("\"entries\":3", "\"entries\":4", Problem::CountMismatch { header: 4, found: 3 }),
        ("\"version\":2", "\"version\":3", Problem::UnsupportedVersion(3)),
        (
            &head,
            &hex::encode([1u8; 32]),
            Problem::HeadMismatch { header: Some(hex::encode([1u8; 32])), computed: Some(head.clone()) },
        ),
    ];
    for (from, to, problem) in cases {
        let mut tampered = lines.clone();
        tampered[0] = tampered[0].replace(from, to);
        assert_eq!(verify_lines(&tampered).expect_err("detected").problem, problem);
    }
    let mut tampered = lines.clone();
    tampered[0] = tampered[0].replace("ossa-audit-export", "other");
    let err = verify_lines(&tampered).expect_err("detected");
    assert_eq!((err.line, err.entry), (1, None));
    assert!(matches!(err.problem, Problem::BadHeader(_)));
    let mut reordered = lines;
    let header: serde_json::Value = serde_json::from_str(&reordered[0]).expect("header");
    reordered[0] = String::from_utf8(crate::canonical::canonical_json(&header).expect("json")).expect("utf8"); // same fields, keys sorted
    let err = verify_lines(&reordered).expect_err("detected");
    assert!(matches!(err.problem, Problem::BadHeader(_)));
}

#[test]
fn non_semantic_changes_are_detected() {
    let lines = export_lines(2);
    let mut spaced = lines.clone();
    spaced[1] = format!("{} ", spaced[1]);
    let err = verify_lines(&spaced).expect_err("trailing space");
    assert_eq!((err.entry, err.problem), (Some(0), Problem::NonCanonical));
    let mut upper = lines;
    upper[2] = upper[2].replace("\"leaf_hash\":\"", "\"leaf_hash\":\"X");
    assert!(verify_lines(&upper).is_err());
}

#[test]
fn garbage_and_limits_are_errors() {
    assert_eq!(verify_export(&b""[..]).expect_err("empty").problem, Problem::Empty);
    let err = verify_export(&b"not json\n"[..]).expect_err("garbage");
    assert!(matches!(err.problem, Problem::BadHeader(_)));
    let long = vec![b'a'; MAX_LINE_LEN + 5];
    assert_eq!(verify_export(&long[..]).expect_err("long").problem, Problem::LineTooLong);
    let mut lines = export_lines(1);
    lines.push("{}".into());
    let err = verify_lines(&lines).expect_err("extra");
    assert_eq!((err.line, err.entry), (3, Some(1)));
}

/// The header of `lines` as a JSON object.
fn header(lines: &[String]) -> serde_json::Map<String, serde_json::Value> {
    match serde_json::from_str(&lines[0]).expect("header") {
        serde_json::Value::Object(m) => m,
        other => panic!("header is {other}"),
    }
}

/// Re-encodes a header in the export's field order.
fn encode_header(m: &serde_json::Map<String, serde_json::Value>) -> String {
    let h: ExportHeader = serde_json::from_value(serde_json::Value::Object(m.clone())).expect("header");
    serde_json::to_string(&h).expect("json")
}

#[test]
fn version_1_exports_still_verify() {
    let mut lines = export_lines(4);
    let v2 = verify_lines(&lines).expect("v2");
    let mut h = header(&lines);
    h.remove("root");
    h.insert("version".into(), json!(1));
    lines[0] = encode_header(&h);
    let v1 = verify_lines(&lines).expect("v1 verifies");
    assert_eq!((v1.version, &v1.root), (1, &v2.root));
    h.insert("root".into(), json!(v2.root));
    lines[0] = encode_header(&h);
    assert!(matches!(verify_lines(&lines).expect_err("root in v1").problem, Problem::BadHeader(_)));
}

#[test]
fn header_root_is_checked() {
    let mut lines = export_lines(3);
    let mut h = header(&lines);
    let root = h["root"].as_str().expect("root").to_owned();
    h.insert("root".into(), json!(hex::encode([0u8; 32])));
    lines[0] = encode_header(&h);
    let err = verify_lines(&lines).expect_err("detected");
    assert_eq!((err.line, err.entry), (1, None));
    assert_eq!(err.problem, Problem::RootMismatch { header: hex::encode([0u8; 32]), computed: root });
    h.remove("root");
    lines[0] = encode_header(&h);
    assert!(matches!(verify_lines(&lines).expect_err("no root").problem, Problem::BadHeader(_)));
}

/// A checkpoint of the first `size` entries of `lines`' log, from the export itself.
fn checkpoint_at(size: u64) -> crate::Checkpoint {
    let full = export_lines(size);
    let root = hex::decode(header(&full)["root"].as_str().expect("root")).expect("hex");
    crate::Checkpoint { origin: "node-a.example".into(), size, root: root.try_into().expect("32 bytes") }
}

fn verify_lines_against(lines: &[String], cp: &crate::Checkpoint) -> Result<VerifyReport, VerifyError> {
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    verify_export_against(text.as_bytes(), cp)
}

#[test]
fn export_verifies_against_its_own_and_earlier_checkpoints() {
    let lines = export_lines(6);
    for size in 0..=6 {
        let report = verify_lines_against(&lines, &checkpoint_at(size)).expect("verifies");
        assert_eq!(report.entries, 6);
    }
}

#[test]
fn cut_tail_is_caught_against_a_checkpoint() {
    let cp = checkpoint_at(6);
    let shorter = export_lines(4); // a consistent, shorter export: header and all
    assert!(verify_lines(&shorter).is_ok());
    let err = verify_lines_against(&shorter, &cp).expect_err("cut");
    assert_eq!((err.line, err.entry), (6, Some(4)));
    assert_eq!(err.problem, Problem::ShorterThanCheckpoint { checkpoint: 6, found: 4 });
}

#[test]
fn other_history_or_origin_is_caught_against_a_checkpoint() {
    let cp = crate::Checkpoint { root: [7; 32], ..checkpoint_at(3) };
    let err = verify_lines_against(&export_lines(5), &cp).expect_err("other root");
    assert_eq!((err.line, err.entry), (4, None));
    assert!(matches!(err.problem, Problem::CheckpointRootMismatch { size: 3, .. }));
    let cp = crate::Checkpoint { origin: "node-b.example".into(), ..checkpoint_at(3) };
    let err = verify_lines_against(&export_lines(5), &cp).expect_err("other origin");
    assert!(matches!(err.problem, Problem::OriginMismatch { .. }));
    let empty = crate::Checkpoint { root: [7; 32], ..checkpoint_at(0) };
    let err = verify_lines_against(&export_lines(2), &empty).expect_err("empty root");
    assert!(matches!(err.problem, Problem::CheckpointRootMismatch { size: 0, .. }));
}

#[test]
fn long_exports_are_checked_across_batches() {
    // More lines than one batch holds (2048), so lines are checked by several threads and
    // linked batch to batch.
    let lines = export_lines(5000);
    let report = verify_lines(&lines).expect("verifies");
    assert_eq!(report.entries, 5000);
    let root = header(&lines)["root"].as_str().expect("root").to_owned();
    assert_eq!(report.root, root);

    let mut changed = lines.clone();
    let mut v = entry_value(&changed[4501]);
    v["actor"] = json!("mallory");
    changed[4501] = v.to_string();
    let err = verify_lines(&changed).expect_err("detected");
    assert_eq!((err.line, err.entry), (4502, Some(4500)));
    assert!(matches!(err.problem, Problem::LeafHashMismatch { .. }));

    // The first line of the second batch claims another previous entry.
    let mut relinked = lines.clone();
    let mut v = entry_value(&lines[2049]);
    v["prev_hash"] = json!(hex::encode([9u8; 32]));
    relinked[2049] = v.to_string();
    let err = verify_lines(&relinked).expect_err("detected");
    assert_eq!((err.line, err.entry), (2050, Some(2048)));
    assert!(matches!(err.problem, Problem::PrevHashMismatch { .. }), "{:?}", err.problem);

    let mut removed = lines.clone();
    removed.remove(2049);
    let err = verify_lines(&removed).expect_err("detected");
    assert_eq!((err.entry, err.problem), (Some(2048), Problem::IndexOutOfOrder { expected: 2048, found: 2049 }));

    // A checkpoint inside a batch is met leaf by leaf.
    let cp = checkpoint_at(3000);
    assert_eq!(verify_lines_against(&lines, &cp).expect("verifies").entries, 5000);
    let other = crate::Checkpoint { root: [7; 32], ..cp };
    let err = verify_lines_against(&lines, &other).expect_err("other history");
    assert_eq!((err.line, err.entry), (3001, None));
    assert!(matches!(err.problem, Problem::CheckpointRootMismatch { size: 3000, .. }));
}
