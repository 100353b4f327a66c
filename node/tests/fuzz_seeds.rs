//! The fuzz targets' seed corpus on the stable toolchain: every committed seed
//! (`node/fuzz/corpus/TARGET/seed-*`) goes through the same entry point its cargo-fuzz
//! target calls (the harness in `node/fuzz/src/lib.rs`, compiled here as a module). Each
//! must finish without a panic, `seed-ok-*` inputs accepted and `seed-err-*` ones refused
//! with a message, so CI exercises every decoder of outside input and the harness's own
//! invariants without a sanitizer build.

// Some of the harness's world is only read by the fuzz crate's seed writer.
#[allow(dead_code)]
#[path = "../fuzz/src/lib.rs"]
mod harness;

use std::fs;
use std::path::Path;

#[test]
fn every_seed_runs_through_its_entry_point_with_the_expected_outcome() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
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
                    assert!(!expect_ok, "{target}/{name} was refused: {message}");
                    assert!(!message.trim().is_empty(), "{target}/{name} was refused without a message");
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
}
