//! Rough speed of the audit log on this machine: appends to a sled log one at a time, one at
//! a time from several threads at once (sharing the log's tail) and in batches, each phase
//! ending with one flush (fsync), and the offline verification of an export. Not a test: run it in
//! release, `cargo run --release -p ossa-audit --example append_rate [ENTRIES [VERIFY_ENTRIES]]`.
//! `ossa bench audit` is the benchmark of record.

use std::io::BufReader;
use std::time::{Duration, Instant};

use ossa_audit::{verify_export, AuditLog, EntryDraft, MemoryAuditStore, SledAuditStore};

/// Entries appended per phase unless given on the command line.
const DEFAULT_ENTRIES: u64 = 200_000;
/// Entries in the verified export unless given on the command line.
const DEFAULT_VERIFY_ENTRIES: u64 = 1_000_000;
/// Entries per `append_batch` call.
const BATCH: u64 = 1000;
/// Threads appending at once in the concurrent phase.
const WRITERS: u64 = 64;

/// The `i`-th draft, shaped like the node's `policy.decision` entries.
fn draft(i: u64) -> EntryDraft {
    let tenant = format!("tenant-{}", i % 1000);
    let request_hash =
        format!("{i:016x}{:016x}{:016x}{:016x}", !i, i.rotate_left(17), i.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    EntryDraft {
        time_ms: 1_735_689_600_000 + i,
        kind: "policy.decision".into(),
        actor: "org-bench".into(),
        payload: serde_json::json!({
            "request_hash": request_hash,
            "action": "invoke",
            "decision": if i.is_multiple_of(10) { "deny" } else { "allow" },
            "deciding": [format!("{tenant}-p{}", i % 8)],
            "federation_version": 3,
            "tenant_version": i % 7 + 1,
            "tenant": tenant,
        }),
        raft_index: None,
    }
}

fn sled_log(dir: &std::path::Path, name: &str) -> Result<AuditLog<SledAuditStore>, Box<dyn std::error::Error>> {
    let db = ossa_audit::open_sled(&dir.join(name))?;
    Ok(AuditLog::open(SledAuditStore::open(&db)?)?)
}

/// Prints the rate of `n` appends that took `appending`, then a flush that took `flushing`.
fn show(what: &str, n: u64, appending: Duration, flushing: Duration) {
    let total = appending + flushing;
    println!(
        "{what}: {n} in {total:.2?} = {:.0}/s (appends {appending:.2?}, flush {flushing:.2?})",
        n as f64 / total.as_secs_f64()
    );
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<u64>());
    let n = args.next().transpose()?.unwrap_or(DEFAULT_ENTRIES);
    let verify_n = args.next().transpose()?.unwrap_or(DEFAULT_VERIFY_ENTRIES);
    let dir = tempfile::tempdir()?;

    let log = sled_log(dir.path(), "single")?;
    let drafts: Vec<EntryDraft> = (0..n).map(draft).collect();
    let start = Instant::now();
    for d in drafts {
        log.append(d)?;
    }
    let appending = start.elapsed();
    log.flush()?;
    show("sled, one at a time", n, appending, start.elapsed() - appending);

    let log = sled_log(dir.path(), "threads")?;
    let per_writer = n / WRITERS;
    let mut all: Vec<Vec<EntryDraft>> =
        (0..WRITERS).map(|w| (w * per_writer..(w + 1) * per_writer).map(draft).collect()).collect();
    let start = Instant::now();
    std::thread::scope(|s| {
        for drafts in all.drain(..) {
            let log = &log;
            s.spawn(move || {
                for d in drafts {
                    log.append(d).expect("append");
                }
            });
        }
    });
    let appending = start.elapsed();
    log.flush()?;
    show(
        &format!("sled, one at a time from {WRITERS} threads"),
        per_writer * WRITERS,
        appending,
        start.elapsed() - appending,
    );

    let log = sled_log(dir.path(), "batched")?;
    let batches: Vec<Vec<EntryDraft>> =
        (0..n.div_ceil(BATCH)).map(|b| (b * BATCH..((b + 1) * BATCH).min(n)).map(draft).collect()).collect();
    let start = Instant::now();
    for batch in batches {
        log.append_batch(batch)?;
    }
    let appending = start.elapsed();
    log.flush()?;
    show(&format!("sled, batches of {BATCH}"), n, appending, start.elapsed() - appending);

    let memory = AuditLog::open(MemoryAuditStore::new())?;
    let mut next = 0;
    while next < verify_n {
        let end = verify_n.min(next + BATCH);
        memory.append_batch((next..end).map(draft).collect())?;
        next = end;
    }
    let path = dir.path().join("export.jsonl");
    memory.export("bench.example", std::fs::File::create(&path)?)?;
    for _ in 0..3 {
        let start = Instant::now();
        let report = verify_export(BufReader::with_capacity(1 << 20, std::fs::File::open(&path)?))?;
        assert_eq!(report.root, hex::encode(memory.tree_head().root));
        println!("verify: {} entries in {:.2?}", report.entries, start.elapsed());
    }
    Ok(())
}
