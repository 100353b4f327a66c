//! `ossa bench audit`: appends to a sled-backed audit log, with checkpoints signed as a node
//! signs them, and the offline verification of the log's export.
//!
//! Four phases, in a scratch directory removed at the end:
//!
//! 1. **Single appends**: `--entries` calls of [`AuditLog::append`] from one thread on a fresh
//!    log on the node's own engine and configuration (`ossa_audit::open_sled` and a
//!    [`SledAuditStore`]), each call timed.
//! 2. **Concurrent appends**: the same number of entries appended one at a time by each of
//!    `--writers` threads at once to another fresh sled log, each call timed: how a node's
//!    request handlers append policy decisions under load. They take turns on the log's lock;
//!    the one that fills the tail writes it.
//! 3. **Batched appends**: the same number of entries through [`AuditLog::append_batch`] calls
//!    of `--batch` entries on another fresh sled log, each call timed.
//! 4. **Verification**: a log of `--verify-entries` entries is exported to a file as `ossa
//!    audit export` writes it, and `ossa_audit::verify_export` (what `ossa audit verify` runs)
//!    reads it back `--verify-runs` times, each run timed. The log is the batched sled log if it
//!    has that many entries (then all its entries are exported); otherwise it is an in-memory
//!    log ([`MemoryAuditStore`]) of that many entries of the same drafts, because filling sled
//!    to a million entries takes minutes and the export depends only on the entries, not on
//!    the engine that held them.
//!
//! In the append phases a C2SP checkpoint of the tree head is signed with an ed25519 org key
//! as the node's checkpointer signs them: whenever the log has grown by
//! `--checkpoint-entries` entries, or `--checkpoint-interval-ms` has passed since the last
//! one and it grew at all, and once at the end; each time the log is flushed first (tail
//! written, fsync) and the durable head signed. Drafts (payloads like the node's
//! `policy.decision` entries) are built outside the timed calls. The rate of an append phase
//! is its entries over the time spent in the appends, the checkpoint signatures and one final
//! `AuditLog::flush`.
//!
//! Durability: a single append returns once its entry is in the log's tail, which goes to
//! sled in one atomic write per [`ossa_audit::log::TAIL_MAX_ENTRIES`] entries (a batch is
//! written at once, with the tail); sled's background flusher fsyncs every 500 ms (sled's
//! default, which the node uses), and `AuditLog::flush` writes the tail and fsyncs on demand.
//! The node's audit log is as durable, and its checkpointer also writes the tail every 50 ms:
//! an entry reaches the disk within about 500 ms of its append, and every entry appended
//! before a flush survives a crash.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Barrier, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use ossa_audit::{
    open_sled, sign_checkpoint, verify_checkpoint, verify_export, AuditLog, AuditStore, Checkpoint, EntryDraft,
    MemoryAuditStore, SledAuditStore,
};
use ossa_trust::NodeKey;
use serde_json::json;

use super::{blocking_until_interrupted, check_stop, micros, report, BenchReport};

/// Origin of the benchmark's log, and the name of its checkpoint signing key, shaped like a
/// node's `<federation>/<org>`.
const ORIGIN: &str = "bench.ossa/org-bench";
/// Drafts built (untimed) at a time in the single and concurrent append phases: bounds
/// their memory.
const CHUNK: usize = 10_000;
/// Progress lines per phase on stderr.
const PROGRESS_STEPS: u64 = 10;
/// The first entry's time: 2025-01-01T00:00:00Z.
const BASE_MS: u64 = 1_735_689_600_000;
/// Reads from the export go through a buffer this large (as `ossa audit verify` reads a file).
const READ_BUFFER: usize = 1 << 20;

/// Options of `ossa bench audit`.
#[derive(Debug, Clone)]
pub struct AuditOptions {
    /// Entries appended in each append phase.
    pub entries: u64,
    /// Entries per [`AuditLog::append_batch`] call (at least 1).
    pub batch: usize,
    /// Threads appending at once in the concurrent phase (at least 1).
    pub writers: usize,
    /// A checkpoint is signed whenever the log has grown by this many entries (at least 1).
    pub checkpoint_entries: u64,
    /// ... or when this long has passed since the last one and the log grew.
    pub checkpoint_interval: Duration,
    /// Entries in the verified export.
    pub verify_entries: u64,
    /// Verifications of the export timed (at least 1).
    pub verify_runs: usize,
    /// Where the scratch directory is created (default: the system's temporary directory).
    pub dir: Option<PathBuf>,
}

/// `ossa bench audit`: four reports, `audit-append`, `audit-append-concurrent`,
/// `audit-append-batch` and `audit-verify`.
pub async fn audit(options: AuditOptions) -> anyhow::Result<Vec<BenchReport>> {
    blocking_until_interrupted(move |stop| run(&options, stop)).await
}

fn run(options: &AuditOptions, stop: &AtomicBool) -> anyhow::Result<Vec<BenchReport>> {
    ensure!(options.batch > 0, "--batch must be at least 1");
    ensure!(options.writers > 0, "--writers must be at least 1");
    ensure!(options.checkpoint_entries > 0, "--checkpoint-entries must be at least 1");
    ensure!(options.verify_runs > 0, "--verify-runs must be at least 1");
    let scratch = Scratch::create(options.dir.as_deref())?;
    eprintln!("audit: scratch directory {}", scratch.0.display());
    let key = NodeKey::generate();
    let single = {
        let log = open_log(&scratch.0.join("single"))?;
        single_appends(&log, options, &key, stop)?
    };
    let concurrent = {
        let log = open_log(&scratch.0.join("concurrent"))?;
        concurrent_appends(&log, options, &key, stop)?
    };
    let log = open_log(&scratch.0.join("batched"))?;
    let batched = batched_appends(&log, options, &key, stop)?;
    let export = scratch.0.join("export.jsonl");
    let verified = if log.len() >= options.verify_entries {
        verification(&log, "the batched sled log", &export, options, stop)?
    } else {
        drop(log);
        eprintln!("audit: appending {} entries to an in-memory log to export ...", options.verify_entries);
        let memory = AuditLog::open(MemoryAuditStore::new())?;
        let mut next = 0;
        while next < options.verify_entries {
            check_stop(stop)?;
            let end = options.verify_entries.min(next.saturating_add(options.batch as u64));
            memory.append_batch((next..end).map(draft).collect())?;
            next = end;
        }
        verification(&memory, "an in-memory log of the same drafts", &export, options, stop)?
    };
    Ok(vec![single, concurrent, batched, verified])
}

/// A fresh log over the node's sled engine at `path`.
fn open_log(path: &Path) -> anyhow::Result<AuditLog<SledAuditStore>> {
    let db = open_sled(path).with_context(|| format!("cannot open sled at {}", path.display()))?;
    Ok(AuditLog::open(SledAuditStore::open(&db)?)?)
}

/// Phase 1: `options.entries` single appends.
fn single_appends(
    log: &AuditLog<SledAuditStore>,
    options: &AuditOptions,
    key: &NodeKey,
    stop: &AtomicBool,
) -> anyhow::Result<BenchReport> {
    let total = options.entries;
    let mut signer = Signer::new(key, options);
    let mut latencies = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
    let mut busy = Duration::ZERO;
    let mut progress = Progress::new("single appends", total);
    let mut next = 0u64;
    while next < total {
        check_stop(stop)?;
        let end = total.min(next.saturating_add(CHUNK as u64));
        let drafts: Vec<EntryDraft> = (next..end).map(draft).collect();
        let started = Instant::now();
        for d in drafts {
            let t = Instant::now();
            log.append(d)?;
            latencies.push(t.elapsed());
            next += 1;
            signer.appended(log, next)?;
        }
        busy += started.elapsed();
        progress.show(next, busy);
    }
    busy += signer.finish(log, next)?;
    let setup = format!(
        "{total} entries appended one at a time (AuditLog::append) to a sled AuditLog; {}; {}",
        signer.describe(),
        flush_words()
    );
    let mut report = report("audit-append", setup, ">= 200,000 appends/s", latencies, busy);
    report.rate_per_s = rate(total, busy);
    Ok(report)
}

/// Phase 2: `options.entries` single appends, shared among `options.writers` threads that
/// append at once. The entries go in rounds of [`CHUNK`] entries, or of
/// `--checkpoint-entries` if fewer: every writer builds its drafts of the round (untimed),
/// then all append them, and the round's time runs from the first writer's start to the last
/// one's end; checkpoints are signed between rounds.
fn concurrent_appends(
    log: &AuditLog<SledAuditStore>,
    options: &AuditOptions,
    key: &NodeKey,
    stop: &AtomicBool,
) -> anyhow::Result<BenchReport> {
    let total = options.entries;
    let writers = options.writers;
    let mut signer = Signer::new(key, options);
    let mut busy = Duration::ZERO;
    let mut progress = Progress::new("concurrent appends", total);
    // Writers meet the main thread at the start and at the end of every round.
    let barrier = Barrier::new(writers + 1);
    let quit = AtomicBool::new(false);
    let failed: Mutex<Option<ossa_audit::AuditError>> = Mutex::new(None);
    let round_len = options.checkpoint_entries.min(CHUNK as u64);
    let rounds = total.div_ceil(round_len);
    let latencies = std::thread::scope(|s| -> anyhow::Result<Vec<Duration>> {
        let handles: Vec<_> = (0..writers as u64)
            .map(|w| {
                let (barrier, quit, failed) = (&barrier, &quit, &failed);
                s.spawn(move || {
                    let mut mine = Vec::new();
                    for round in 0..rounds {
                        let start = round * round_len;
                        let end = total.min(start + round_len);
                        let drafts: Vec<EntryDraft> =
                            (start..end).filter(|i| i % writers as u64 == w).map(draft).collect();
                        barrier.wait();
                        if quit.load(Ordering::Relaxed) {
                            return mine;
                        }
                        for d in drafts {
                            let t = Instant::now();
                            if let Err(err) = log.append(d) {
                                failed.lock().unwrap_or_else(PoisonError::into_inner).get_or_insert(err);
                                break;
                            }
                            mine.push(t.elapsed());
                        }
                        barrier.wait();
                    }
                    mine
                })
            })
            .collect();
        let mut outcome = Ok(());
        for _ in 0..rounds {
            // Between rounds: stop if asked to or an append failed, else sign if due.
            let failure = failed.lock().unwrap_or_else(PoisonError::into_inner).take();
            let between = check_stop(stop)
                .and_then(|()| failure.map_or(Ok(()), |err| Err(err.into())))
                .and_then(|()| signer.appended(log, log.len()));
            match between {
                Ok(signing) => busy += signing,
                Err(err) => {
                    quit.store(true, Ordering::Relaxed);
                    barrier.wait();
                    outcome = Err(err);
                    break;
                }
            }
            barrier.wait();
            let started = Instant::now();
            barrier.wait();
            busy += started.elapsed();
            progress.show(log.len(), busy);
        }
        let mut latencies = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
        for handle in handles {
            latencies.extend(handle.join().map_err(|_| anyhow::anyhow!("a writer thread panicked"))?);
        }
        outcome.map(|()| latencies)
    })?;
    if let Some(err) = failed.into_inner().unwrap_or_else(PoisonError::into_inner) {
        return Err(err.into());
    }
    busy += signer.finish(log, log.len())?;
    let setup = format!(
        "{total} entries appended one at a time (AuditLog::append) by {writers} threads at once to a sled AuditLog \
         (taking turns on the log's lock); {}; {}",
        signer.describe(),
        flush_words()
    );
    let mut report = report("audit-append-concurrent", setup, ">= 200,000 appends/s", latencies, busy);
    report.clients = Some(writers);
    report.rate_per_s = rate(total, busy);
    Ok(report)
}

/// Phase 3: `options.entries` entries in batches of `options.batch`.
fn batched_appends(
    log: &AuditLog<SledAuditStore>,
    options: &AuditOptions,
    key: &NodeKey,
    stop: &AtomicBool,
) -> anyhow::Result<BenchReport> {
    let total = options.entries;
    let mut signer = Signer::new(key, options);
    let mut latencies = Vec::new();
    let mut busy = Duration::ZERO;
    let mut progress = Progress::new("batched appends", total);
    let mut next = 0u64;
    while next < total {
        check_stop(stop)?;
        let end = total.min(next.saturating_add(options.batch as u64));
        let drafts: Vec<EntryDraft> = (next..end).map(draft).collect();
        let t = Instant::now();
        log.append_batch(drafts)?;
        let took = t.elapsed();
        latencies.push(took);
        next = end;
        busy += took + signer.appended(log, next)?;
        progress.show(next, busy);
    }
    busy += signer.finish(log, next)?;
    let setup = format!(
        "{total} entries appended in batches of {} (AuditLog::append_batch: one sled transaction per batch) to a \
         sled AuditLog; latencies are per batch; {}; {}",
        options.batch,
        signer.describe(),
        flush_words()
    );
    let mut report = report("audit-append-batch", setup, ">= 200,000 appends/s", latencies, busy);
    report.batch = Some(options.batch);
    report.operations = usize::try_from(total).unwrap_or(usize::MAX);
    report.rate_per_s = rate(total, busy);
    Ok(report)
}

/// Phase 4: exports `log` (described by `source`) to `path` and times `verify_export` of that
/// file.
fn verification<S: AuditStore>(
    log: &AuditLog<S>,
    source: &str,
    path: &Path,
    options: &AuditOptions,
    stop: &AtomicBool,
) -> anyhow::Result<BenchReport> {
    eprintln!("audit: exporting {} entries to {} ...", log.len(), path.display());
    let started = Instant::now();
    let file = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let summary = log.export(ORIGIN, file)?;
    let export_time = started.elapsed();
    let bytes = std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?.len();
    let root = hex::encode(log.tree_head().root);
    let mut latencies = Vec::with_capacity(options.verify_runs);
    for run in 1..=options.verify_runs {
        check_stop(stop)?;
        let input = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let t = Instant::now();
        let verified = verify_export(BufReader::with_capacity(READ_BUFFER, input))
            .map_err(|e| anyhow::anyhow!("the export does not verify: {e}"))?;
        let took = t.elapsed();
        ensure!(
            verified.entries == summary.entries && verified.root == root,
            "verified {} entries with root {}, exported {} with root {root}",
            verified.entries,
            verified.root,
            summary.entries
        );
        eprintln!("audit: verification {run}/{}: {} entries in {took:.2?}", options.verify_runs, verified.entries);
        latencies.push(took);
    }
    let busy: Duration = latencies.iter().sum();
    let setup = format!(
        "verify_export of a {}-entry export ({:.0} MB of JSON Lines, written from {source} by AuditLog::export in \
         {:.2?}) read from a file, {} runs; latencies are per whole verification (every leaf hash, chain link and \
         the Merkle root)",
        summary.entries,
        bytes as f64 / 1e6,
        export_time,
        options.verify_runs
    );
    let mut report = report("audit-verify", setup, "a 1M-entry export verified in < 2 s", latencies, busy);
    report.operations = usize::try_from(summary.entries).unwrap_or(usize::MAX);
    report.trials = Some(options.verify_runs);
    report.rate_per_s = rate(summary.entries.saturating_mul(options.verify_runs as u64), busy);
    Ok(report)
}

/// Signs checkpoints of a growing log as the node's checkpointer does: when the log has grown
/// by `every` entries since the last one, or `interval` has passed and it grew at all, and
/// once at the end if it grew.
struct Signer<'a> {
    key: &'a NodeKey,
    every: u64,
    interval: Duration,
    signed_size: u64,
    signed_at: Instant,
    signed: usize,
    time: Duration,
    last: Option<String>,
}

impl<'a> Signer<'a> {
    fn new(key: &'a NodeKey, options: &AuditOptions) -> Self {
        Self {
            key,
            every: options.checkpoint_entries,
            interval: options.checkpoint_interval,
            signed_size: 0,
            signed_at: Instant::now(),
            signed: 0,
            time: Duration::ZERO,
            last: None,
        }
    }

    /// Signs if a checkpoint is due now that the log is `len` entries long; returns the time
    /// spent.
    fn appended(&mut self, log: &AuditLog<SledAuditStore>, len: u64) -> anyhow::Result<Duration> {
        let grown = len.saturating_sub(self.signed_size);
        if grown == 0 || (grown < self.every && self.signed_at.elapsed() < self.interval) {
            return Ok(Duration::ZERO);
        }
        self.sign(log)
    }

    /// Signs the final head if the log grew since the last checkpoint, flushes the log, checks
    /// the last checkpoint against the key and the log, and returns the time spent signing and
    /// flushing.
    fn finish(&mut self, log: &AuditLog<SledAuditStore>, len: u64) -> anyhow::Result<Duration> {
        let mut spent = if len > self.signed_size { self.sign(log)? } else { Duration::ZERO };
        let t = Instant::now();
        log.flush()?;
        spent += t.elapsed();
        if let Some(note) = &self.last {
            let checkpoint = verify_checkpoint(note, ORIGIN, &self.key.public_key())?;
            ensure!(checkpoint.tree_head() == log.tree_head(), "the last checkpoint does not sign the log's head");
        }
        Ok(spent)
    }

    fn sign(&mut self, log: &AuditLog<SledAuditStore>) -> anyhow::Result<Duration> {
        let t = Instant::now();
        let head = log.flush()?;
        let note = sign_checkpoint(&Checkpoint::new(ORIGIN, head), ORIGIN, self.key)?;
        let took = t.elapsed();
        self.last = Some(note);
        self.signed_size = head.size;
        self.signed_at = Instant::now();
        self.signed += 1;
        self.time += took;
        Ok(took)
    }

    fn describe(&self) -> String {
        let each = if self.signed > 0 { micros(self.time) / self.signed as f64 } else { 0.0 };
        format!(
            "{} C2SP checkpoints signed (one per {} entries or {} ms and one at the end, each after a flush with \
             fsync: {each:.0} us each)",
            self.signed,
            self.every,
            self.interval.as_millis()
        )
    }
}

/// What the append figures say about fsync.
fn flush_words() -> String {
    format!(
        "an append returns once in the log (a single append in its tail, written to sled {} entries at a time; a \
         batch written at once), without fsync (sled's background flusher fsyncs every 500 ms); the rate includes \
         one final AuditLog::flush (fsync)",
        ossa_audit::log::TAIL_MAX_ENTRIES
    )
}

/// The `i`-th draft: a policy decision, shaped like the node's `policy.decision` entries.
fn draft(i: u64) -> EntryDraft {
    let tenant = format!("tenant-{}", i % 1000);
    let request_hash =
        format!("{i:016x}{:016x}{:016x}{:016x}", !i, i.rotate_left(17), i.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    EntryDraft {
        time_ms: BASE_MS + i,
        kind: "policy.decision".into(),
        actor: "org-bench".into(),
        payload: json!({
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

fn rate(entries: u64, busy: Duration) -> f64 {
    entries as f64 / busy.as_secs_f64().max(f64::EPSILON)
}

/// Progress of a phase on stderr, every tenth of it.
struct Progress {
    what: &'static str,
    total: u64,
    next_step: u64,
}

impl Progress {
    fn new(what: &'static str, total: u64) -> Self {
        eprintln!("audit: {total} {what} ...");
        Self { what, total, next_step: 1 }
    }

    fn show(&mut self, done: u64, busy: Duration) {
        if self.total == 0 || done.saturating_mul(PROGRESS_STEPS) < self.next_step.saturating_mul(self.total) {
            return;
        }
        eprintln!("audit: {done}/{} {} ({:.0}/s)", self.total, self.what, rate(done, busy));
        self.next_step = done.saturating_mul(PROGRESS_STEPS) / self.total.max(1) + 1;
    }
}

/// A scratch directory, removed (with everything in it) on drop, also on an error or Ctrl-C.
struct Scratch(PathBuf);

impl Scratch {
    fn create(parent: Option<&Path>) -> anyhow::Result<Self> {
        let unique = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
        let parent = parent.map_or_else(std::env::temp_dir, Path::to_path_buf);
        let dir = parent.join(format!("ossa-bench-audit-{}-{unique}", std::process::id()));
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(Self(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_bench_appends_signs_and_verifies_a_real_log() {
        let parent = tempfile::tempdir().expect("tempdir");
        let options = AuditOptions {
            entries: 250,
            batch: 40,
            writers: 8,
            checkpoint_entries: 100,
            checkpoint_interval: Duration::from_secs(3600),
            verify_entries: 300,
            verify_runs: 2,
            dir: Some(parent.path().to_path_buf()),
        };
        let reports = run(&options, &AtomicBool::new(false)).expect("bench");
        let names: Vec<&str> = reports.iter().map(|r| r.bench.as_str()).collect();
        assert_eq!(names, ["audit-append", "audit-append-concurrent", "audit-append-batch", "audit-verify"]);
        let [single, concurrent, batched, verified] = &reports[..] else { panic!("four reports") };
        assert_eq!(single.operations, 250);
        // 250 entries: checkpoints at 100 and 200, and one at the end.
        assert!(single.setup.contains("3 C2SP checkpoints"), "{}", single.setup);
        // Rounds of 100 entries: checkpoints after the first two, and one at the end.
        assert_eq!((concurrent.operations, concurrent.clients), (250, Some(8)));
        assert!(concurrent.setup.contains("3 C2SP checkpoints"), "{}", concurrent.setup);
        assert_eq!((batched.operations, batched.batch), (250, Some(40)));
        // Batches end at 40, 80, ..., 240, 250: checkpoints at 120 and 240, then at the end.
        assert!(batched.setup.contains("3 C2SP checkpoints"), "{}", batched.setup);
        assert_eq!((verified.operations, verified.trials), (300, Some(2)));
        assert!(verified.setup.contains("in-memory log"), "the sled log is too short: {}", verified.setup);
        for r in &reports {
            assert!(r.rate_per_s > 0.0 && r.p50_us <= r.p99_us && r.p99_us <= r.max_us, "{r:?}");
        }
        let left: Vec<_> = std::fs::read_dir(parent.path()).expect("read dir").collect();
        assert!(left.is_empty(), "the scratch directory is removed");
    }

    #[test]
    fn a_long_enough_sled_log_is_exported_whole() {
        let parent = tempfile::tempdir().expect("tempdir");
        let options = AuditOptions {
            entries: 120,
            batch: 50,
            writers: 3,
            checkpoint_entries: 10_000,
            checkpoint_interval: Duration::from_secs(3600),
            verify_entries: 100,
            verify_runs: 1,
            dir: Some(parent.path().to_path_buf()),
        };
        let reports = run(&options, &AtomicBool::new(false)).expect("bench");
        assert!(reports[0].setup.contains("1 C2SP checkpoints"), "only the final one: {}", reports[0].setup);
        assert_eq!((reports[3].operations, reports[3].trials), (120, Some(1)));
        assert!(reports[3].setup.contains("the batched sled log"), "{}", reports[3].setup);
    }

    #[test]
    fn a_stopped_bench_removes_its_directory() {
        let parent = tempfile::tempdir().expect("tempdir");
        let options = AuditOptions {
            entries: 10,
            batch: 5,
            writers: 2,
            checkpoint_entries: 10,
            checkpoint_interval: Duration::from_secs(3600),
            verify_entries: 10,
            verify_runs: 1,
            dir: Some(parent.path().to_path_buf()),
        };
        let err = run(&options, &AtomicBool::new(true)).expect_err("stopped");
        assert!(err.to_string().contains("interrupted"), "{err}");
        assert_eq!(std::fs::read_dir(parent.path()).expect("read dir").count(), 0);
    }
}
