//! The fuzz targets' seed corpus on the stable toolchain: every committed seed
//! (`node/fuzz/corpus/TARGET/seed-*`) goes through the same entry point its cargo-fuzz
//! target calls (the harness in `node/fuzz/src/lib.rs`, compiled here as a module). Each
//! must finish without a panic, `seed-ok-*` inputs accepted and `seed-err-*` ones refused
//! for the reason [`REASONS`] names, so CI exercises every decoder of outside input and the
//! harness's own invariants without a sanitizer build.

// Some of the harness's world is only read by the fuzz crate's seed writer.
#[allow(dead_code)]
#[path = "../fuzz/src/lib.rs"]
mod harness;

use std::collections::HashSet;
use std::fs;
use std::path::Path;

/// Why each refused seed must be refused: a fragment of the refusal's message. A seed refused
/// for another reason (say, a decoder that now fails earlier than the check the seed was
/// written for) fails the test.
const REASONS: &[(&str, &str)] = &[
    ("admission/seed-err-another-federation", "not issued by the federation CA"),
    ("admission/seed-err-another-peers-certificate", "but the connection is authenticated as"),
    ("admission/seed-err-frame-over-limit", "exceeds the limit of 65536"),
    ("admission/seed-err-not-a-certificate", "malformed certificate"),
    ("audit_export/seed-err-cut-tail", "export ends after 2 entries, header says 5"),
    ("audit_export/seed-err-edited-entry", "leaf hash mismatch"),
    ("audit_export/seed-err-not-json", "bad header"),
    ("audit_export/seed-err-other-origin", "is not the checkpoint's origin"),
    ("checkpoint_note/seed-err-forged-size", "invalid signature by key"),
    ("checkpoint_note/seed-err-no-signature", "no blank line before the signatures"),
    ("checkpoint_note/seed-err-signed-by-another-key", "no signature by key"),
    ("manifest/seed-err-alias-bomb.yaml", "alias replay limit exceeded"),
    ("manifest/seed-err-duplicate-key", "duplicate mapping key"),
    ("manifest/seed-err-empty", "manifest is empty"),
    ("manifest/seed-err-not-utf8", "not UTF-8"),
    ("manifest/seed-err-unknown-shape", "not a supported agent manifest"),
    ("manifest/seed-err-wrong-kind.yaml", "only `kind: Agent` manifests describe an agent"),
    ("observation/seed-err-not-protobuf", "malformed observation"),
    ("observation/seed-err-self-rating", "cannot rate itself"),
    ("observation/seed-err-signer-not-member", "signer is not the admitted node"),
    ("observation/seed-err-unknown-agent", "unknown agent"),
    ("record/seed-err-bad-signature", "bad signature"),
    ("record/seed-err-expired", "record expired"),
    ("record/seed-err-not-protobuf", "malformed record"),
    ("record/seed-err-signer-not-member", "signer is not the admitted node"),
    ("record/seed-err-unknown-tenant", "unknown tenant"),
    ("tlog_proof/seed-err-no-cosignature", "trusted witness(es) cosigned the checkpoint"),
    ("tlog_proof/seed-err-not-base64", "not base64"),
    ("tlog_proof/seed-err-signed-index", "the index is not a decimal u64"),
    ("tlog_proof/seed-err-wrong-index", "the proof is for index 3"),
];

#[test]
fn every_seed_runs_through_its_entry_point_with_the_expected_outcome() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let mut refused = HashSet::new();
    for (target, check) in harness::TARGETS {
        let mut seen = (0, 0);
        let dir = corpus.join(target);
        let mut paths: Vec<_> = fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| entry.expect("a corpus entry").path())
            .collect();
        paths.sort();
        for path in paths {
            let name = path.file_name().expect("a file name").to_string_lossy().into_owned();
            let Some(expect_ok) = name.strip_prefix("seed-").map(|rest| rest.starts_with("ok-")) else {
                continue; // an input the fuzzer added locally
            };
            let input = fs::read(&path).expect("read a seed");
            match check(&input) {
                Ok(()) => assert!(expect_ok, "{target}/{name} was accepted"),
                Err(message) => {
                    let seed = format!("{target}/{name}");
                    assert!(!expect_ok, "{seed} was refused: {message}");
                    let (_, reason) = REASONS.iter().find(|(known, _)| *known == seed).unwrap_or_else(|| {
                        panic!("{seed} has no expected reason in REASONS (refused with: {message})")
                    });
                    assert!(message.contains(reason), "{seed} was refused for another reason: {message}");
                    refused.insert(seed);
                }
            }
            if expect_ok {
                seen.0 += 1;
            } else {
                seen.1 += 1;
            }
        }
        assert!(seen.0 > 0 && seen.1 > 0, "{target}: needs accepted and refused seeds, has {seen:?}");
    }
    for (seed, _) in REASONS {
        assert!(refused.contains(*seed), "{seed} is in REASONS but was not refused (or is gone)");
    }
}
