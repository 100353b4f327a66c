//! Property tests of the parsers of outside input: the export verifier, signed notes and
//! checkpoints, cosignatures, tlog-proof files and the canonical entry decoder. Arbitrary
//! input never panics; a parsed note or proof encodes back to its exact text; and a mutated
//! valid input is either refused or still says exactly what the original said.

use ossa_trust::NodeKey;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use serde_json::json;

use crate::entry::decode;
use crate::{
    cosign_checkpoint, parse_checkpoint, parse_note, prove_entry, sign_checkpoint, verify_checkpoint,
    verify_cosignature, verify_export, verify_export_against, verify_tlog_proof, AuditLog, Checkpoint, EntryDraft,
    MemoryAuditStore, TlogProof, TrustedKey,
};

const ORIGIN: &str = "fed/acme";
const WITNESS: &str = "fed/globex";

/// Fixed seed so a failure reproduces on every machine.
fn config() -> Config {
    Config { cases: 256, rng_seed: RngSeed::Fixed(0x0F55_A0D1), ..Config::default() }
}

/// A log of 6 entries, its key, a witness key, the log's checkpoint of its first 4 entries
/// and a cosigned note of all 6.
struct Fixture {
    log: AuditLog<MemoryAuditStore>,
    key: NodeKey,
    witness: NodeKey,
    early: Checkpoint,
    note: String,
}

fn fixture() -> Fixture {
    let log = AuditLog::open(MemoryAuditStore::new()).expect("open");
    let mut early = None;
    for i in 0..6u64 {
        if i == 4 {
            early = Some(Checkpoint::new(ORIGIN, log.tree_head()));
        }
        let draft = EntryDraft {
            time_ms: 1_000 + i,
            kind: "agent.registered".into(),
            actor: "acme".into(),
            payload: json!({ "i": i, "name": "agent-é", "score": 0.25 }),
            raft_index: (i % 2 == 0).then_some(i),
        };
        log.append(draft).expect("append");
    }
    let (key, witness) = (NodeKey::generate(), NodeKey::generate());
    let note = sign_checkpoint(&Checkpoint::new(ORIGIN, log.tree_head()), ORIGIN, &key).expect("sign");
    let note = cosign_checkpoint(&note, WITNESS, &witness, 1_700_000_000).expect("cosign");
    Fixture { log, key, witness, early: early.expect("6 > 4"), note }
}

/// One edit of a byte string: overwrite, insert or remove the byte at an index.
#[derive(Debug, Clone)]
enum Edit {
    Set(prop::sample::Index, u8),
    Insert(prop::sample::Index, u8),
    Remove(prop::sample::Index),
}

fn edits() -> impl Strategy<Value = Vec<Edit>> {
    // Bytes that matter to these formats, and any byte.
    let byte = prop_oneof![prop::sample::select(b"\n {}\":,0123456789abAZ+/=-".to_vec()), any::<u8>()];
    let edit = prop_oneof![
        (any::<prop::sample::Index>(), byte.clone()).prop_map(|(i, b)| Edit::Set(i, b)),
        (any::<prop::sample::Index>(), byte).prop_map(|(i, b)| Edit::Insert(i, b)),
        any::<prop::sample::Index>().prop_map(Edit::Remove),
    ];
    prop::collection::vec(edit, 1..5)
}

fn mutate(original: &[u8], edits: &[Edit]) -> Vec<u8> {
    let mut bytes = original.to_vec();
    for edit in edits {
        match edit {
            Edit::Set(i, b) if !bytes.is_empty() => {
                let at = i.index(bytes.len());
                bytes[at] = *b;
            }
            Edit::Insert(i, b) => {
                let at = i.index(bytes.len() + 1);
                bytes.insert(at, *b);
            }
            Edit::Remove(i) if !bytes.is_empty() => {
                let at = i.index(bytes.len());
                bytes.remove(at);
            }
            _ => {}
        }
    }
    bytes
}

fn export_of(log: &AuditLog<MemoryAuditStore>) -> Vec<u8> {
    let mut out = Vec::new();
    log.export(ORIGIN, &mut out).expect("export");
    out
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_exports_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..1024)) {
        let f = fixture();
        let alone = verify_export(bytes.as_slice());
        if let Ok(report) = verify_export_against(bytes.as_slice(), &f.early) {
            prop_assert_eq!(alone.ok(), Some(report));
        }
    }

    #[test]
    fn a_mutated_export_is_refused_or_unchanged(edits in edits()) {
        let f = fixture();
        let original = export_of(&f.log);
        let mutated = mutate(&original, &edits);
        if verify_export_against(mutated.as_slice(), &f.early).is_ok() || verify_export(mutated.as_slice()).is_ok() {
            prop_assert_eq!(mutated, original);
        }
    }

    #[test]
    fn arbitrary_notes_never_panic_and_parsed_ones_encode_back(text in "(?s)[\u{2014} a-zA-Z0-9+/=\n.-]{0,300}|.{0,300}") {
        let f = fixture();
        if let Ok(note) = parse_note(&text) {
            prop_assert_eq!(note.encode(), text.clone());
        }
        let _ = parse_checkpoint(&text);
        let _ = verify_checkpoint(&text, ORIGIN, &f.key.public_key());
        let _ = verify_cosignature(&text, WITNESS, &f.witness.public_key());
        let _ = cosign_checkpoint(&text, WITNESS, &f.witness, 1);
    }

    #[test]
    fn a_mutated_note_is_refused_or_signs_the_same_checkpoint(edits in edits()) {
        let f = fixture();
        let Ok(text) = String::from_utf8(mutate(f.note.as_bytes(), &edits)) else { return Ok(()) };
        let original = verify_checkpoint(&f.note, ORIGIN, &f.key.public_key()).expect("valid");
        if let Ok(checkpoint) = verify_checkpoint(&text, ORIGIN, &f.key.public_key()) {
            prop_assert_eq!(checkpoint, original.clone());
        }
        if let Ok(cosigned) = verify_cosignature(&text, WITNESS, &f.witness.public_key()) {
            prop_assert_eq!(cosigned.checkpoint, original);
            prop_assert_eq!(cosigned.time, 1_700_000_000);
        }
    }

    #[test]
    fn arbitrary_proofs_never_panic(text in "(?s)c2sp.org/tlog-proof@v1\nextra [A-Za-z0-9+/=]{0,80}\nindex [0-9]{1,3}\n.{0,200}|.{0,300}") {
        let f = fixture();
        let log = TrustedKey { name: ORIGIN.into(), public_key: f.key.public_key() };
        if let Ok(proof) = TlogProof::parse(&text) {
            prop_assert_eq!(proof.encode(), text);
            let _ = verify_tlog_proof(&proof, &log, &[], 0);
        }
    }

    #[test]
    fn a_mutated_proof_is_refused_or_proves_the_same_entry(index in 0u64..6, edits in edits()) {
        let f = fixture();
        let original = prove_entry(&f.log, index, &f.note).expect("prove").encode();
        let Ok(text) = String::from_utf8(mutate(original.as_bytes(), &edits)) else { return Ok(()) };
        let log = TrustedKey { name: ORIGIN.into(), public_key: f.key.public_key() };
        let witnesses = [TrustedKey { name: WITNESS.into(), public_key: f.witness.public_key() }];
        let expected = &f.log.entries(index, 1).expect("entry")[0];
        if let Ok(proven) = TlogProof::parse(&text).and_then(|p| verify_tlog_proof(&p, &log, &witnesses, 1)) {
            prop_assert_eq!(&proven.entry, expected);
        }
    }

    #[test]
    fn arbitrary_entry_bytes_never_panic_and_decoded_ones_re_encode_to_the_same_entry(
        bytes in prop::collection::vec(any::<u8>(), 0..256),
        edits in edits(),
    ) {
        let valid = fixture().log.entries(2, 1).expect("entry")[0].canonical_bytes().expect("bytes");
        for input in [bytes, mutate(&valid, &edits)] {
            // The payload bytes need not be canonical JSON; the fields they decode to must
            // survive a canonical re-encoding unchanged.
            if let Ok(stored) = decode(&input) {
                let again = decode(&stored.entry.canonical_bytes().expect("re-encodes")).expect("decodes");
                prop_assert_eq!(
                    (&again.entry.index, &again.entry.kind, &again.entry.actor, &again.entry.payload, &again.prev),
                    (&stored.entry.index, &stored.entry.kind, &stored.entry.actor, &stored.entry.payload, &stored.prev)
                );
            }
        }
    }
}
