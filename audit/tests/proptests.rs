//! Property tests: exports of random logs verify, any tampering is detected, and the
//! verifier never panics.

use ossa_audit::{verify_export, AuditLog, EntryDraft, MemoryAuditStore};
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
    let log = AuditLog::open(MemoryAuditStore::new()).expect("open");
    for d in drafts {
        log.append(d).expect("append");
    }
    let mut out = Vec::new();
    log.export(ORIGIN, &mut out).expect("export");
    out
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
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn verify_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = verify_export(&bytes[..]);
    }

    #[test]
    fn verify_never_panics_on_a_valid_header_with_garbage(
        entries in any::<u64>(),
        tail in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        let mut bytes = format!(
            "{{\"format\":\"ossa-audit-export\",\"version\":1,\"origin\":\"o\",\"entries\":{entries},\"head\":null}}\n"
        )
        .into_bytes();
        bytes.extend_from_slice(&tail);
        let _ = verify_export(&bytes[..]);
    }
}
