//! Rough append throughput of the audit log (hash chain + Merkle tree) on the in-memory and
//! the sled engine, and the time to verify the export. Not a test: run it in release,
//! `cargo run --release -p ossa-audit --example append_rate [ENTRIES]`. `ossa bench audit`
//! is the benchmark of record.

use std::time::Instant;

use ossa_audit::{verify_export, AuditLog, AuditStore, EntryDraft, MemoryAuditStore, SledAuditStore};

/// Entries appended per engine unless given on the command line.
const DEFAULT_ENTRIES: u64 = 200_000;

fn draft(i: u64) -> EntryDraft {
    EntryDraft {
        time_ms: 1_700_000_000_000 + i,
        kind: "policy.applied".into(),
        actor: "org-a".into(),
        payload: serde_json::json!({ "tenant": "t-1", "policy": i, "decision": "allow" }),
        raft_index: Some(i),
    }
}

fn run<S: AuditStore>(name: &str, store: S, n: u64) -> Result<(), Box<dyn std::error::Error>> {
    let log = AuditLog::open(store)?;
    let start = Instant::now();
    for i in 0..n {
        log.append(draft(i))?;
    }
    let append = start.elapsed();
    log.flush()?;
    let head = log.tree_head();
    let start = Instant::now();
    let mut out = Vec::new();
    log.export("bench.example", &mut out)?;
    let export = start.elapsed();
    let start = Instant::now();
    let report = verify_export(&out[..])?;
    let verify = start.elapsed();
    assert_eq!(report.root, hex::encode(head.root));
    println!(
        "{name}: {n} appends in {:.2?} = {:.0}/s; export {:.2?}; verify {:.2?} ({} MB)",
        append,
        n as f64 / append.as_secs_f64(),
        export,
        verify,
        out.len() / 1_000_000
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n = std::env::args().nth(1).map(|a| a.parse()).transpose()?.unwrap_or(DEFAULT_ENTRIES);
    run("memory", MemoryAuditStore::new(), n)?;
    let dir = tempfile::tempdir()?;
    let db = sled::open(dir.path())?;
    run("sled", SledAuditStore::open(&db)?, n)?;
    Ok(())
}
