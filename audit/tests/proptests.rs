//! Property tests: exports of random logs verify, any tampering is detected (also against a
//! checkpoint, which catches a consistently cut tail), and the verifier and the note parsers
//! never panic.

use ossa_audit::{
    parse_checkpoint, parse_note, verify_checkpoint, verify_cosignature, verify_export, verify_export_against,
    AuditLog, Checkpoint, EntryDraft, MemoryAuditStore, Problem,
};
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::Value;

const ORIGIN: &str = "node-a.example";

fn any_string(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(any::<char>(), 0..max).prop_map(String::from_iter)
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f).map(Value::Number)),
        any_string(8).prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(any_string(4), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn draft() -> impl Strategy<Value = EntryDraft> {
    (any::<u64>(), any_string(12), any_string(12), json_value(), any::<Option<u64>>()).prop_map(
        |(time_ms, kind, actor, payload, raft_index)| EntryDraft { time_ms, kind, actor, payload, raft_index },
    )
}

fn export(drafts: Vec<EntryDraft>) -> Vec<u8> {
    export_with_checkpoint(drafts).0
}

/// The export of a log of `drafts` and the (unsigned) checkpoint of its whole tree.
fn export_with_checkpoint(drafts: Vec<EntryDraft>) -> (Vec<u8>, Checkpoint) {
    let log = AuditLog::open(MemoryAuditStore::new()).expect("open");
    for d in drafts {
        log.append(d).expect("append");
    }
    let mut out = Vec::new();
    log.export(ORIGIN, &mut out).expect("export");
    (out, Checkpoint::new(ORIGIN, log.tree_head()))
}

#[derive(Debug, Clone)]
enum Tamper {
    Flip(Index, u8),
    RemoveLine(Index),
    SwapLines(Index, Index),
    Truncate(Index),
}

fn tamper() -> impl Strategy<Value = Tamper> {
    prop_oneof![
        (any::<Index>(), 1..=255u8).prop_map(|(i, x)| Tamper::Flip(i, x)),
        any::<Index>().prop_map(Tamper::RemoveLine),
        (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Tamper::SwapLines(a, b)),
        any::<Index>().prop_map(Tamper::Truncate),
    ]
}

fn apply(bytes: &[u8], t: &Tamper) -> Vec<u8> {
    let mut lines: Vec<&[u8]> = bytes.split_inclusive(|b| *b == b'\n').collect();
    match t {
        Tamper::Flip(i, x) => {
            let mut out = bytes.to_vec();
            out[i.index(bytes.len())] ^= x;
            return out;
        }
        Tamper::Truncate(i) => return bytes[..i.index(bytes.len())].to_vec(),
        Tamper::RemoveLine(i) => {
            lines.remove(i.index(lines.len()));
        }
        Tamper::SwapLines(a, b) => {
            let n = lines.len();
            let a = a.index(n);
            let b = (a + 1 + b.index(n - 1)) % n; // any line but `a`
            lines.swap(a, b);
        }
    }
    lines.concat()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn export_of_random_log_verifies(drafts in prop::collection::vec(draft(), 0..8)) {
        let n = drafts.len() as u64;
        let report = verify_export(&export(drafts)[..]).expect("verifies");
        prop_assert_eq!(report.entries, n);
        prop_assert_eq!(report.origin, ORIGIN);
    }

    #[test]
    fn any_tampering_is_detected(
        drafts in prop::collection::vec(draft(), 1..6),
        t in tamper(),
    ) {
        let bytes = export(drafts);
        let tampered = apply(&bytes, &t);
        prop_assert_ne!(&tampered, &bytes);
        // The origin is not chained: a flip there must at least change the reported origin.
        if let Ok(report) = verify_export(&tampered[..]) {
            prop_assert_ne!(report.origin, ORIGIN, "undetected {:?}", t);
        }
    }

    #[test]
    fn any_tampering_is_detected_against_a_checkpoint(
        drafts in prop::collection::vec(draft(), 1..6),
        t in tamper(),
    ) {
        let (bytes, checkpoint) = export_with_checkpoint(drafts);
        prop_assert!(verify_export_against(&bytes[..], &checkpoint).is_ok());
        let tampered = apply(&bytes, &t);
        prop_assert!(verify_export_against(&tampered[..], &checkpoint).is_err(), "undetected {:?}", t);
    }

    #[test]
    fn a_consistently_cut_tail_is_caught_by_the_checkpoint(
        drafts in prop::collection::vec(draft(), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let n = drafts.len();
        let keep = cut.index(n); // 0..n entries kept
        let (_, checkpoint) = export_with_checkpoint(drafts.clone());
        let (shorter, _) = export_with_checkpoint(drafts[..keep].to_vec());
        prop_assert!(verify_export(&shorter[..]).is_ok(), "a cut log exports as a valid log of its own");
        let err = verify_export_against(&shorter[..], &checkpoint).expect_err("cut tail");
        prop_assert_eq!(err.entry, Some(keep as u64));
        prop_assert_eq!(err.problem, Problem::ShorterThanCheckpoint { checkpoint: n as u64, found: keep as u64 });
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn verify_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = verify_export(&bytes[..]);
    }

    #[test]
    fn note_parsers_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600), text in any_string(300)) {
        let lossy = String::from_utf8_lossy(&bytes);
        for note in [lossy.as_ref(), text.as_str()] {
            let _ = parse_note(note);
            let _ = parse_checkpoint(note);
            let _ = verify_checkpoint(note, "k", &[7; 32]);
            let _ = verify_cosignature(note, "k", &[7; 32]);
        }
    }

    #[test]
    fn note_parsers_never_panic_on_near_notes(
        body in prop::collection::vec(prop::sample::select(vec!["o", "1", "0", "\n", "AAAA", "=", " ", "\u{2014}", "k", "+"]), 0..40),
    ) {
        let note = body.concat();
        let _ = parse_note(&note);
        let _ = verify_checkpoint(&note, "k", &[7; 32]);
        let _ = verify_cosignature(&note, "k", &[7; 32]);
    }

    #[test]
    fn verify_never_panics_on_a_valid_header_with_garbage(
        entries in any::<u64>(),
        tail in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        let mut bytes = format!(
            "{{\"format\":\"ossa-audit-export\",\"version\":2,\"origin\":\"o\",\"entries\":{entries},\"head\":null,\"root\":\"00\"}}\n"
        )
        .into_bytes();
        bytes.extend_from_slice(&tail);
        let _ = verify_export(&bytes[..]);
    }
}
