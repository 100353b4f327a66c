//! The fault schedule of a chaos run and what carries it out.
//!
//! [`schedule`] draws, from a seed, faults spread over the middle of the run (between 10% and
//! 70% of it, so the clients see the federation before, during and after), one at a time: a
//! fault ends before the next starts, so a majority is always up. [`run`] applies them: kills
//! and pauses by the pids in `testnet.json` (a killed node is restarted with `ossa node run
//! --dir` and its new pid saved); a partition cuts one node off from all the others, both
//! ways, through each node's `PUT /v1/testing/partition` (an admission-level block list; the
//! testnet's nodes have `[testing] fault_injection` on). [`heal`] clears every block list,
//! resumes and restarts whatever is still down.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::bail;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::config::NodeDir;
use crate::launch::{process_alive, start_node, Progress, TestnetManifest};

/// One fault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fault {
    /// When it starts, from the start of the run (ms).
    pub at_ms: u64,
    /// How long it lasts (ms).
    pub for_ms: u64,
    /// Which node (index in `testnet.json`).
    pub node: usize,
    /// `kill` (SIGKILL, then restart) or `pause` (SIGSTOP, then SIGCONT).
    pub kind: FaultKind,
    /// How long after the fault ended the node was ready and caught up, by itself (ms); `None`
    /// if it was not within a minute, or the fault has not run (see the `recovery` module).
    #[serde(default)]
    pub recovered_after_ms: Option<u64>,
}

/// Kinds of fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// `kill -9`, then restart.
    Kill,
    /// SIGSTOP, then SIGCONT.
    Pause,
    /// The node cut off from all others (and they from it), then healed.
    Partition,
}

/// Draws `count` faults for a run of `duration` on `nodes` nodes from `seed`.
pub fn schedule(seed: u64, count: usize, duration: Duration, nodes: usize) -> Vec<Fault> {
    let mut rng = StdRng::seed_from_u64(seed);
    let total = duration.as_millis() as u64;
    let (start, window) = (total / 10, total * 6 / 10);
    let slot = window / count.max(1) as u64;
    (0..count as u64)
        .map(|i| {
            let for_ms = rng.gen_range(slot / 3..=slot * 2 / 3).max(1);
            let at_ms = start + i * slot + rng.gen_range(0..=(slot - for_ms).max(1) - 1);
            let kind = [FaultKind::Kill, FaultKind::Pause, FaultKind::Partition][rng.gen_range(0..3)];
            Fault { at_ms, for_ms, node: rng.gen_range(0..nodes), kind, recovered_after_ms: None }
        })
        .collect()
}

fn signal(pid: u32, signal: Signal) {
    // The node may have exited on its own meanwhile; then there is nothing to signal.
    if let Ok(pid) = i32::try_from(pid) {
        let _ = kill(Pid::from_raw(pid), signal);
    }
}

/// Applies `schedule` to the testnet, in real time; returns the faults applied, each with how
/// long its node took to recover by itself.
pub async fn run(
    dir: &Path,
    manifest: &mut TestnetManifest,
    schedule: &[Fault],
    progress: Progress,
) -> anyhow::Result<Vec<Fault>> {
    let exe = std::env::current_exe()?;
    let started = Instant::now();
    let mut recoveries = Vec::with_capacity(schedule.len());
    for fault in schedule {
        tokio::time::sleep_until((started + Duration::from_millis(fault.at_ms)).into()).await;
        let org = manifest.nodes[fault.node].org.clone();
        progress.line(format_args!("  +{:>6} ms  {:?} {org} for {} ms", fault.at_ms, fault.kind, fault.for_ms));
        let pid = manifest.nodes[fault.node].pid;
        match fault.kind {
            FaultKind::Kill => signal(pid, Signal::SIGKILL),
            FaultKind::Pause => signal(pid, Signal::SIGSTOP),
            FaultKind::Partition => isolate(manifest, Some(fault.node)).await?,
        }
        tokio::time::sleep(Duration::from_millis(fault.for_ms)).await;
        match fault.kind {
            FaultKind::Kill => {
                manifest.nodes[fault.node].pid = start_node(&exe, &manifest.nodes[fault.node].dir)?;
                manifest.save(dir)?;
            }
            FaultKind::Pause => signal(pid, Signal::SIGCONT),
            FaultKind::Partition => isolate(manifest, None).await?,
        }
        recoveries.push(super::recovery::watch(manifest, fault.node));
    }
    let mut applied = schedule.to_vec();
    for (fault, recovery) in applied.iter_mut().zip(recoveries) {
        fault.recovered_after_ms = recovery.await.ok().flatten();
    }
    Ok(applied)
}

/// Cuts node `cut` off from every other node, both ways; `None` heals every link. A node that
/// is down at the time is skipped: it comes back with an empty block list.
async fn isolate(manifest: &TestnetManifest, cut: Option<usize>) -> anyhow::Result<()> {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build()?;
    let peer_of = |i: usize| manifest.nodes[i].peer_id.clone();
    for (i, node) in manifest.nodes.iter().enumerate() {
        let blocked: Vec<String> = match cut {
            None => vec![],
            Some(c) if c == i => (0..manifest.nodes.len()).filter(|j| *j != c).map(peer_of).collect(),
            Some(c) => vec![peer_of(c)],
        };
        let token = std::fs::read_to_string(NodeDir::new(&node.dir).api_token())?;
        let sent = client
            .put(format!("{}/v1/testing/partition", node.api))
            .bearer_auth(token.trim())
            .json(&serde_json::json!({ "blocked": blocked }))
            .send()
            .await;
        match sent {
            Ok(response) if response.status() == reqwest::StatusCode::FORBIDDEN => {
                bail!("{} has fault injection off ([testing] fault_injection in its node.toml)", node.org)
            }
            Ok(_) | Err(_) => {}
        }
    }
    Ok(())
}

/// Clears every block list, resumes every node and restarts any that is not running.
pub async fn heal(dir: &Path, manifest: &mut TestnetManifest) -> anyhow::Result<()> {
    let exe = std::env::current_exe()?;
    for node in &mut manifest.nodes {
        signal(node.pid, Signal::SIGCONT);
        if !process_alive(node.pid) {
            node.pid = start_node(&exe, &node.dir)?;
        }
    }
    manifest.save(dir)?;
    isolate(manifest, None).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_gives_one_schedule_of_non_overlapping_faults_inside_the_run() {
        let duration = Duration::from_secs(20);
        let faults = schedule(7, 4, duration, 3);
        assert_eq!(faults, schedule(7, 4, duration, 3), "the same seed gives the same schedule");
        assert_ne!(faults, schedule(8, 4, duration, 3));
        assert_eq!(faults.len(), 4);
        for pair in faults.windows(2) {
            assert!(pair[0].at_ms + pair[0].for_ms <= pair[1].at_ms, "one fault at a time: {pair:?}");
        }
        let end = faults.last().map(|f| f.at_ms + f.for_ms).unwrap_or(0);
        assert!(faults[0].at_ms >= 2_000 && end <= 14_000, "{faults:?}");
        assert!(faults.iter().all(|f| f.node < 3 && f.for_ms > 0));
    }
}
