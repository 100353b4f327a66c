//! `ossa testnet chaos` and `ossa testnet check`: faults against a running local testnet while
//! clients write, then a consistency verdict.
//!
//! Data flow of a chaos run ([`chaos`]):
//!
//! 1. A fault schedule is drawn from `--seed` (`faults::schedule`): one fault at a time (so a
//!    majority is always up), each `kill -9` then restart of a node, SIGSTOP then SIGCONT (a
//!    paused node: alive to the kernel, silent to its peers), or a partition that cuts one
//!    node off from the rest (an admission-level block list on both sides, through the nodes'
//!    fault-injection endpoint), then heals it.
//! 2. Meanwhile `--clients` clients create uniquely named tenants through random nodes
//!    (`workload`) and record which were acknowledged (HTTP 201: committed by a quorum) and
//!    which are uncertain (timeouts, cut connections); a sampler records the (term, leader)
//!    pairs every node reports.
//! 3. After each fault ends, the `recovery` module times how long its node takes to be ready
//!    and caught up with nothing more done: the run prints, per fault class, how many
//!    recovered by themselves, and each fault in the report carries its `recovered_after_ms`.
//! 4. Healing: every block list is cleared, every paused node resumed and every killed node
//!    restarted (a no-op when all recovered); the run waits until all nodes are ready and
//!    have applied the same Raft index.
//! 5. [`collect`] reads every node's tenants and audit export, and [`checker::check`] judges
//!    them against the history. The history and verdict are written to `DIR/chaos.json`;
//!    `ossa testnet check` repeats steps 4-5 on the current state with that history.
//!
//! Nodes are touched only by the pids recorded in `DIR/testnet.json`.

pub mod checker;
mod faults;
mod recovery;
mod workload;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

use crate::config::NodeDir;
use crate::launch::{wait_ready, Progress, TestnetManifest};
use checker::{AppliedEntry, History, NodeState, Verdict};
pub use faults::Fault;

/// How long healing may take before the run gives up: a restarted node replays its log and
/// catches up within seconds; a minute covers a slow, loaded machine.
const CONVERGE_TIMEOUT: Duration = Duration::from_secs(60);

/// Options of `ossa testnet chaos`.
#[derive(Debug, Clone)]
pub struct ChaosOptions {
    /// Seed of the fault schedule and of the clients' choices.
    pub seed: u64,
    /// Number of faults.
    pub faults: usize,
    /// Length of the run.
    pub duration: Duration,
    /// Concurrent writing clients.
    pub clients: usize,
}

/// What a chaos run leaves in `DIR/chaos.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChaosReport {
    /// The seed.
    pub seed: u64,
    /// The faults applied, in order.
    pub faults: Vec<Fault>,
    /// What the clients saw.
    pub history: History,
    /// The checker's verdict after healing.
    pub verdict: Verdict,
}

fn report_path(dir: &Path) -> std::path::PathBuf {
    dir.join("chaos.json")
}

/// Runs faults and writes against the testnet in `dir`, heals it and checks it.
pub async fn chaos(dir: &Path, options: ChaosOptions, progress: Progress) -> anyhow::Result<ChaosReport> {
    let mut manifest = TestnetManifest::load(dir)?;
    if manifest.nodes.len() < 3 {
        bail!("chaos needs at least 3 nodes (one may fail while a majority goes on)");
    }
    let client = http_client()?;
    wait_ready(&client, &manifest.nodes, progress).await?;
    let schedule = faults::schedule(options.seed, options.faults, options.duration, manifest.nodes.len());
    progress.line(format_args!(
        "chaos: {} faults over {:?}, {} clients, seed {}",
        schedule.len(),
        options.duration,
        options.clients,
        options.seed
    ));
    let workload = workload::start(&manifest, options.clients, options.seed, options.duration)?;
    let applied = faults::run(dir, &mut manifest, &schedule, progress).await?;
    for line in recovery::summary(&applied) {
        progress.line(format_args!("self-healing: {line}"));
    }
    let history = workload.finish().await;
    progress.line(format_args!(
        "writes: {} acknowledged, {} uncertain; healing",
        history.acknowledged.len(),
        history.uncertain.len()
    ));
    faults::heal(dir, &mut manifest).await?;
    let verdict = check_now(dir, &manifest, &history, progress).await?;
    let report = ChaosReport { seed: options.seed, faults: applied, history, verdict };
    std::fs::write(report_path(dir), serde_json::to_string_pretty(&report)?)
        .with_context(|| format!("cannot write {}", report_path(dir).display()))?;
    Ok(report)
}

/// `ossa testnet check`: the verdict on the testnet in `dir` now, against the history of its
/// last chaos run (if any).
pub async fn check(dir: &Path, progress: Progress) -> anyhow::Result<Verdict> {
    let manifest = TestnetManifest::load(dir)?;
    let history = match std::fs::read_to_string(report_path(dir)) {
        Ok(text) => {
            serde_json::from_str::<ChaosReport>(&text)
                .with_context(|| format!("{} is not a chaos report", report_path(dir).display()))?
                .history
        }
        Err(_) => History::default(),
    };
    check_now(dir, &manifest, &history, progress).await
}

async fn check_now(
    dir: &Path,
    manifest: &TestnetManifest,
    history: &History,
    progress: Progress,
) -> anyhow::Result<Verdict> {
    let client = http_client()?;
    wait_ready(&client, &manifest.nodes, progress).await?;
    wait_converged(&client, manifest).await.with_context(|| format!("testnet in {}", dir.display()))?;
    let nodes = collect(&client, manifest).await?;
    Ok(checker::check(history, &nodes))
}

fn http_client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?)
}

/// Waits until every node reports the same last applied Raft index twice in a row.
async fn wait_converged(client: &reqwest::Client, manifest: &TestnetManifest) -> anyhow::Result<()> {
    let deadline = Instant::now() + CONVERGE_TIMEOUT;
    let mut previous = None;
    loop {
        let mut applied = Vec::new();
        for node in &manifest.nodes {
            let status: serde_json::Value = client.get(format!("{}/v1/status", node.api)).send().await?.json().await?;
            applied.push(status["last_applied"].as_u64());
        }
        let same = applied.windows(2).all(|w| w[0] == w[1]);
        if same && previous.as_ref() == Some(&applied) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("nodes did not converge within {CONVERGE_TIMEOUT:?}: last applied {applied:?}");
        }
        previous = Some(applied);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Reads every node's tenants and Raft-applied audit entries, and verifies its audit log.
pub async fn collect(client: &reqwest::Client, manifest: &TestnetManifest) -> anyhow::Result<Vec<NodeState>> {
    let mut states = Vec::new();
    for node in &manifest.nodes {
        let tenants: Vec<ossa_consensus::Tenant> =
            client.get(format!("{}/v1/tenants", node.api)).send().await?.json().await?;
        let token = std::fs::read_to_string(NodeDir::new(&node.dir).api_token())?;
        let export = client
            .get(format!("{}/v1/audit/export", node.api))
            .bearer_auth(token.trim())
            .timeout(Duration::from_secs(60))
            .send()
            .await?
            .error_for_status()?
            .bytes()
            .await?;
        let audit_error = ossa_audit::verify_export(export.as_ref()).err().map(|e| e.to_string());
        states.push(NodeState {
            org: node.org.clone(),
            tenants: tenants.into_iter().map(|t| t.name).collect(),
            applied: applied_entries(&export),
            audit_error,
        });
    }
    Ok(states)
}

/// The Raft-applied entries of an export, by Raft index (the header and local entries skipped).
fn applied_entries(export: &[u8]) -> BTreeMap<u64, Vec<AppliedEntry>> {
    let text = String::from_utf8_lossy(export);
    let mut applied: BTreeMap<u64, Vec<AppliedEntry>> = BTreeMap::new();
    for entry in text.lines().skip(1).filter_map(|line| serde_json::from_str::<ossa_audit::AuditEntry>(line).ok()) {
        if let Some(index) = entry.raft_index {
            let reduced = AppliedEntry { kind: entry.kind, actor: entry.actor, payload: entry.payload.to_string() };
            applied.entry(index).or_default().push(reduced);
        }
    }
    applied
}

#[cfg(test)]
mod tests {
    use ossa_audit::{AuditLog, EntryDraft, MemoryAuditStore};

    use super::*;

    fn draft(kind: &str, raft_index: Option<u64>) -> EntryDraft {
        EntryDraft {
            time_ms: 1,
            kind: kind.into(),
            actor: "org0".into(),
            payload: serde_json::json!({ "kind": kind }),
            raft_index,
        }
    }

    #[test]
    fn applied_entries_keeps_every_proposal_of_a_raft_entry_in_order_and_skips_local_ones() {
        let log = AuditLog::open(MemoryAuditStore::new()).expect("open");
        let drafts = vec![draft("a", Some(5)), draft("local", None), draft("b", Some(5)), draft("c", Some(6))];
        log.append_replicated(drafts).expect("append");
        let mut export = Vec::new();
        log.export("org0", &mut export).expect("export");
        let applied = applied_entries(&export);
        let kinds: Vec<(u64, Vec<&str>)> = applied
            .iter()
            .map(|(index, entries)| (*index, entries.iter().map(|e| e.kind.as_str()).collect()))
            .collect();
        assert_eq!(kinds, [(5, vec!["a", "b"]), (6, vec!["c"])]);
    }
}
