//! Property and fuzz-style tests: no input makes the importer panic, the result depends only
//! on the bytes, and whatever imports meets the documented normalization and limits.

use proptest::prelude::*;
use serde_json::{Map, Value};

use super::*;

/// Valid manifests that the mutation tests start from.
const SEEDS: [&[u8]; 4] = [
    include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/manifests/ossa-0.1.9-code-reviewer.yaml")),
    include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/manifests/ossa-v0.2-invoice-triage.yaml")),
    include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/manifests/ossa-v0.5-data-analyst.yaml")),
    include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/manifests/a2a-0.3-travel-planner.json")),
];

/// Checks the guarantees of a successful import and that importing again gives the same.
fn check(bytes: &[u8]) {
    let result = import(bytes, None);
    assert_eq!(result, import(bytes, None), "import is not deterministic");
    let Ok(agent) = result else { return };
    let expected: [u8; 32] = Sha256::digest(bytes).into();
    assert_eq!(agent.digest, expected);
    assert!(!agent.id.is_empty() && agent.id.len() <= MAX_ID_LEN);
    assert!(agent.id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')));
    assert!(agent.capabilities.len() <= MAX_CAPABILITIES);
    assert!(agent.capabilities.windows(2).all(|w| w[0] < w[1]), "not sorted and unique: {:?}", agent.capabilities);
    for capability in &agent.capabilities {
        assert_eq!(capability, &capability.trim().to_lowercase());
        assert!(!capability.is_empty() && capability.len() <= MAX_CAPABILITY_LEN);
    }
    if let Some(endpoint) = &agent.endpoint {
        assert!(endpoint.starts_with("http://") || endpoint.starts_with("https://"), "{endpoint}");
    }
}

/// One edit of a byte string.
#[derive(Debug, Clone)]
enum Mutation {
    /// Overwrite the byte at (index mod len).
    Set(usize, u8),
    /// Insert bytes at (index mod len + 1).
    Insert(usize, Vec<u8>),
    /// Remove up to `n` bytes from (index mod len).
    Remove(usize, usize),
    /// Copy a slice of the document elsewhere (duplicates keys and lines).
    Duplicate(usize, usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
        (any::<usize>(), prop::collection::vec(prop::sample::select(b" \n\t:-[]{}\"'#&*!|>,0aZ".to_vec()), 1..6))
            .prop_map(|(i, b)| Mutation::Insert(i, b)),
        (any::<usize>(), 1usize..40).prop_map(|(i, n)| Mutation::Remove(i, n)),
        (any::<usize>(), any::<usize>(), 1usize..60).prop_map(|(f, t, n)| Mutation::Duplicate(f, t, n)),
    ]
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    let len = bytes.len().max(1);
    match m {
        Mutation::Set(i, b) => {
            if let Some(slot) = bytes.get_mut(i % len) {
                *slot = *b;
            }
        }
        Mutation::Insert(i, b) => {
            let at = (i % len + 1).min(bytes.len());
            bytes.splice(at..at, b.iter().copied());
        }
        Mutation::Remove(i, n) => {
            let from = (i % len).min(bytes.len());
            let to = (from + n).min(bytes.len());
            bytes.drain(from..to);
        }
        Mutation::Duplicate(f, t, n) => {
            let from = (f % len).min(bytes.len());
            let slice = bytes[from..(from + n).min(bytes.len())].to_vec();
            let at = (t % len).min(bytes.len());
            bytes.splice(at..at, slice);
        }
    }
}

/// Field names the importers read, so random documents often hit the interesting paths.
const KEYS: [&str; 22] = [
    "ossaVersion",
    "apiVersion",
    "kind",
    "agent",
    "metadata",
    "spec",
    "id",
    "name",
    "version",
    "description",
    "capabilities",
    "capability",
    "taxonomy",
    "tools",
    "protocols",
    "endpoint",
    "url",
    "type",
    "skills",
    "tags",
    "supportedInterfaces",
    "x-extra",
];

/// Scalars that are meaningful to the importers, plus arbitrary ones.
fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        prop::sample::select(vec![
            "0.1.9",
            "ossa/v0.2.3",
            "ossa/v1",
            "ossa/v0.5",
            "Agent",
            "https://agent.example/a2a",
            "ftp://x",
            "Code-Review",
            " ",
            "",
            "a2a",
            "1.0.0",
        ])
        .prop_map(|s| Value::String(s.to_owned())),
        "[ -~]{0,12}".prop_map(Value::String),
        any::<i64>().prop_map(Value::from),
        any::<bool>().prop_map(Value::Bool),
        Just(Value::Null),
    ]
}

/// Random nested documents over [`KEYS`] and [`scalar`].
fn document() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(KEYS.to_vec()), inner), 0..6)
                .prop_map(|entries| Value::Object(entries.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
        ]
    })
}

/// Writes a value as block-style YAML (scalars double-quoted JSON, which YAML accepts).
fn to_yaml(value: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                out.push_str(&format!("{pad}{k}:"));
                block_child(v, indent, out);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for v in items {
                out.push_str(&format!("{pad}-"));
                block_child(v, indent, out);
            }
        }
        other => out.push_str(&format!("{pad}{other}\n")),
    }
}

fn block_child(value: &Value, indent: usize, out: &mut String) {
    match value {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            to_yaml(value, indent + 2, out);
        }
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            to_yaml(value, indent + 2, out);
        }
        other => out.push_str(&format!(" {other}\n")),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        check(&bytes);
    }

    #[test]
    fn mutated_manifests_never_panic(seed in 0usize..SEEDS.len(), edits in prop::collection::vec(mutation(), 1..6)) {
        let mut bytes = SEEDS[seed].to_vec();
        for edit in &edits {
            apply(&mut bytes, edit);
        }
        check(&bytes);
    }

    #[test]
    fn random_documents_never_panic(doc in document(), as_yaml in any::<bool>()) {
        let text = if as_yaml {
            let mut out = String::new();
            to_yaml(&doc, 0, &mut out);
            out
        } else {
            doc.to_string()
        };
        check(text.as_bytes());
    }

    #[test]
    fn capabilities_are_trimmed_lowercased_deduplicated_sorted(
        raw in prop::collection::vec("[ ]{0,2}[a-zA-Z][a-zA-Z0-9_-]{0,10}[ ]{0,2}", 0..20),
        id in "[a-z][a-z0-9-]{0,20}",
    ) {
        let mut agent = Map::new();
        agent.insert("id".into(), Value::from(id.clone()));
        agent.insert("name".into(), Value::from("Agent"));
        agent.insert("version".into(), Value::from("1.0.0"));
        agent.insert("capabilities".into(), raw.iter().map(|c| serde_json::json!({ "name": c })).collect());
        let doc = serde_json::json!({ "ossaVersion": "0.1.9", "agent": agent });
        let mut yaml = String::new();
        to_yaml(&doc, 0, &mut yaml);
        let from_yaml = import(yaml.as_bytes(), None).expect("valid manifest");
        let from_json = import(doc.to_string().as_bytes(), None).expect("valid manifest");
        let mut expected: Vec<String> = raw.iter().map(|c| c.trim().to_lowercase()).collect();
        expected.sort();
        expected.dedup();
        prop_assert_eq!(&from_yaml.capabilities, &expected);
        prop_assert_eq!(&from_json.capabilities, &expected);
        prop_assert_eq!(from_yaml.id, id);
        prop_assert_ne!(from_yaml.digest, from_json.digest);
    }
}
