//! `ossa bench`: the performance goals of the design, measured on this machine.
//!
//! Each benchmark builds what it measures from the real components (no mocks), runs a warm-up,
//! then times many operations and reports the rate and latency percentiles in microseconds
//! (`--json` for `{"bench", "rate_per_s", "p50_us", "p99_us", ...}`).
//!
//! - [`query`]: capability queries on an in-process agent directory.
//! - [`commit`]: committed registry writes through a fresh 3-steward loopback testnet
//!   (`BenchNet`: real `ossa node run` processes started by [`crate::launch::start`]), with
//!   1, 64 and 256 concurrent HTTP clients.
//! - [`failover`]: kill -9 of the Raft leader of such a testnet to the next committed write.
//! - [`audit`]: appends to a sled-backed audit log (one at a time and batched) with checkpoints
//!   signed as a node signs them, and the offline verification of its export.
//! - [`trust`]: ingest and EigenTrust recomputation of a synthetic federation's trust scores.
//! - [`authorize`]: Cedar authorization decisions against many tenant policy sets.
//! - [`gossip`]: propagation of a signed agent record through 10, 100 and 1000 in-process
//!   nodes running the node's gossipsub over `MemoryTransport`.
//!
//! The in-process benchmarks (`query`, `audit`, `trust`, `authorize`) run on a blocking thread;
//! those that take long poll a stop flag that Ctrl-C sets (`blocking_until_interrupted`), so
//! they stop between operations and remove what they wrote.

mod audit;
mod authorize;
mod commit;
mod failover;
mod gossip;
mod query;
mod trust;

pub use audit::{audit, AuditOptions};
pub use authorize::{authorize, AuthorizeOptions};
pub use commit::{commit, parse_client_count, CommitOptions, MAX_CLIENTS};
pub use failover::{failover, FailoverOptions};
pub use gossip::{gossip, GossipOptions};
pub use query::query;
pub use trust::{trust, TrustOptions};

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde::Serialize;

use crate::config::NodeDir;
use crate::launch::{Progress, TestnetManifest, TestnetNode, UpOptions};

/// Result of one benchmark.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    /// Benchmark name.
    pub bench: String,
    /// Concurrent clients (`commit` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clients: Option<usize>,
    /// Nodes of the network (`gossip` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nodes: Option<usize>,
    /// Trials run: leader kills (`failover`), whole runs (`audit-verify`, `trust-ingest`),
    /// records published (`gossip`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trials: Option<usize>,
    /// Entries per timed call (`audit-append-batch` only): the latencies are of whole batches,
    /// while `operations` and `rate_per_s` count entries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch: Option<usize>,
    /// What was measured, in words.
    pub setup: String,
    /// Operations timed.
    pub operations: usize,
    /// Operations that failed and are not in the figures: requests not answered 201
    /// (`commit`), trials without a commit in time (`failover`), records that did not reach
    /// 99% (`gossip`) or every node (`gossip-all`) in time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<u64>,
    /// Operations per second (for `failover`: trials per second of the whole run, not a goal).
    pub rate_per_s: f64,
    /// Median latency.
    pub p50_us: f64,
    /// 99th percentile latency.
    pub p99_us: f64,
    /// Worst latency.
    pub max_us: f64,
    /// The design's goal for this benchmark.
    pub goal: String,
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)].as_secs_f64() * 1e6
}

/// Builds a report from individual latencies measured over `elapsed`.
fn report(bench: &str, setup: String, goal: &str, mut latencies: Vec<Duration>, elapsed: Duration) -> BenchReport {
    latencies.sort_unstable();
    BenchReport {
        bench: bench.to_owned(),
        clients: None,
        nodes: None,
        trials: None,
        batch: None,
        setup,
        operations: latencies.len(),
        errors: None,
        rate_per_s: latencies.len() as f64 / elapsed.as_secs_f64().max(f64::EPSILON),
        p50_us: percentile(&latencies, 0.50),
        p99_us: percentile(&latencies, 0.99),
        max_us: percentile(&latencies, 1.0),
        goal: goal.to_owned(),
    }
}

/// Stewards of the benchmark testnet: the design's figures are for a 3-voter Raft group.
const STEWARDS: usize = 3;
/// How long the benchmarks wait for the testnet to agree on a leader: a few election timeouts.
const LEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the leader is looked for while waiting.
const LEADER_POLL: Duration = Duration::from_millis(20);
/// Deadline of one `GET /v1/status`: the node answers from memory, so a slow answer means it
/// is overloaded or gone.
const STATUS_TIMEOUT: Duration = Duration::from_secs(2);

/// A fresh loopback testnet of [`STEWARDS`] stewards in a temporary directory, for the
/// benchmarks that need real nodes.
///
/// Dropping it kills (SIGKILL, by pid, only processes it started that are still `ossa node run`)
/// every node, also on an error or Ctrl-C. The directory is removed after [`BenchNet::finish`];
/// otherwise it is kept for its node logs.
pub(crate) struct BenchNet {
    dir: PathBuf,
    exe: PathBuf,
    /// The nodes; pids are updated on restart. `None` until the testnet is up, when the
    /// nodes to kill are those the partial `DIR/testnet.json` lists.
    manifest: Option<TestnetManifest>,
    tokens: Vec<String>,
    http: reqwest::Client,
    finished: bool,
}

impl BenchNet {
    /// Starts the testnet and returns once every node is ready.
    pub(crate) async fn start() -> anyhow::Result<Self> {
        let exe = std::env::current_exe().context("cannot find the ossa executable")?;
        let unique = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
        let dir = std::env::temp_dir().join(format!("ossa-bench-{}-{unique}", std::process::id()));
        let http = reqwest::Client::builder().timeout(STATUS_TIMEOUT).build()?;
        let mut net = Self { dir, exe, manifest: None, tokens: Vec::new(), http, finished: false };
        let options = UpOptions { nodes: STEWARDS, stewards: STEWARDS, tenants: 0, dir: net.dir.clone(), detach: true };
        let manifest = crate::launch::start(&options, Progress::Stderr).await?;
        net.tokens = manifest
            .nodes
            .iter()
            .map(|node| {
                let path = NodeDir::new(&node.dir).api_token();
                std::fs::read_to_string(&path)
                    .map(|token| token.trim().to_owned())
                    .with_context(|| format!("cannot read {}", path.display()))
            })
            .collect::<anyhow::Result<_>>()?;
        net.manifest = Some(manifest);
        Ok(net)
    }

    /// The nodes.
    pub(crate) fn nodes(&self) -> &[TestnetNode] {
        self.manifest.as_ref().map(|m| m.nodes.as_slice()).unwrap_or_default()
    }

    /// The API token of node `i`.
    pub(crate) fn token(&self, i: usize) -> &str {
        &self.tokens[i]
    }

    /// The index of the node that is the Raft leader (of the highest term, if a deposed one
    /// still thinks it leads), waiting up to [`LEADER_TIMEOUT`] for one.
    pub(crate) async fn leader(&self) -> anyhow::Result<usize> {
        let deadline = Instant::now() + LEADER_TIMEOUT;
        loop {
            let mut best: Option<(u64, usize)> = None;
            for (i, node) in self.nodes().iter().enumerate() {
                let Ok(response) = self.http.get(format!("{}/v1/status", node.api)).send().await else { continue };
                let Ok(status) = response.json::<crate::api::Status>().await else { continue };
                if status.raft_state == "leader" && best.is_none_or(|(term, _)| status.term > term) {
                    best = Some((status.term, i));
                }
            }
            if let Some((_, i)) = best {
                return Ok(i);
            }
            if Instant::now() > deadline {
                bail!("no Raft leader after {LEADER_TIMEOUT:?}; see the node logs in {}", self.dir.display());
            }
            tokio::time::sleep(LEADER_POLL).await;
        }
    }

    /// Kills node `i` with SIGKILL and returns the instant just before the signal.
    pub(crate) fn kill(&self, i: usize) -> anyhow::Result<Instant> {
        let node = &self.nodes()[i];
        let pid = i32::try_from(node.pid).context("pid out of range")?;
        let at = Instant::now();
        kill(Pid::from_raw(pid), Signal::SIGKILL).with_context(|| format!("cannot kill {} (pid {pid})", node.org))?;
        Ok(at)
    }

    /// Restarts node `i` (`ossa node run --dir` of its node directory) and waits until every
    /// node is ready.
    pub(crate) async fn restart(&mut self, i: usize) -> anyhow::Result<()> {
        let manifest = self.manifest.as_mut().context("the testnet is not up")?;
        manifest.nodes[i].pid = crate::launch::start_node(&self.exe, &manifest.nodes[i].dir)?;
        crate::launch::wait_ready(&self.http, &manifest.nodes, Progress::Stderr).await
    }

    /// Marks the run as successful: the directory is removed on drop.
    pub(crate) fn finish(mut self) {
        self.finished = true;
    }
}

impl Drop for BenchNet {
    fn drop(&mut self) {
        let manifest = self.manifest.clone().or_else(|| TestnetManifest::load(&self.dir).ok());
        for node in manifest.iter().flat_map(|m| &m.nodes) {
            if crate::launch::process_alive(node.pid) || our_child(node.pid) {
                if let Ok(pid) = i32::try_from(node.pid) {
                    let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
                }
            }
        }
        if self.finished {
            let _ = std::fs::remove_dir_all(&self.dir);
        } else if self.dir.exists() {
            eprintln!("testnet stopped; node logs kept in {}", self.dir.display());
        }
    }
}

/// Whether `pid` is a live (not zombie) child of this process. Its pid cannot have been reused
/// (this process never reaps the nodes), so it is a node started here, even in the moment
/// after `spawn` when `/proc` does not show its command line yet.
fn our_child(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
    // State and parent pid are the first fields after the parenthesised command name.
    let mut fields = stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace()).into_iter().flatten();
    let (state, parent) = (fields.next(), fields.next());
    state.is_some_and(|s| s != "Z") && parent.and_then(|p| p.parse::<u32>().ok()) == Some(std::process::id())
}

/// Runs `bench` until it ends or Ctrl-C; on Ctrl-C the future is dropped, so a [`BenchNet`]
/// inside it kills its nodes.
async fn until_interrupted<T>(bench: impl std::future::Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    tokio::select! {
        result = bench => result,
        _ = tokio::signal::ctrl_c() => bail!("interrupted"),
    }
}

/// Runs the blocking benchmark `bench` on a blocking thread until it ends or Ctrl-C. On Ctrl-C
/// it sets the flag `bench` polls (see [`check_stop`]) and waits for `bench` to return, so
/// that it cleans up (a temporary directory) before the process ends.
async fn blocking_until_interrupted<T, F>(bench: F) -> anyhow::Result<T>
where
    T: Send + 'static,
    F: FnOnce(&AtomicBool) -> anyhow::Result<T> + Send + 'static,
{
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let mut task = tokio::task::spawn_blocking(move || bench(&flag));
    tokio::select! {
        result = &mut task => result?,
        _ = tokio::signal::ctrl_c() => {
            stop.store(true, Ordering::Relaxed);
            eprintln!("interrupted; stopping the benchmark ...");
            let _ = task.await;
            bail!("interrupted")
        }
    }
}

/// Fails once [`blocking_until_interrupted`] has been asked to stop.
fn check_stop(stop: &AtomicBool) -> anyhow::Result<()> {
    if stop.load(Ordering::Relaxed) {
        bail!("interrupted");
    }
    Ok(())
}

/// Latency in microseconds, for the words of a report.
fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_come_from_the_sorted_latencies() {
        let latencies = (1..=100).rev().map(Duration::from_micros).collect();
        let report = report("x", String::new(), "", latencies, Duration::from_millis(10));
        assert_eq!(report.operations, 100);
        assert_eq!(report.p50_us.round(), 51.0);
        assert_eq!(report.p99_us.round(), 99.0);
        assert_eq!(report.max_us.round(), 100.0);
        assert_eq!(report.rate_per_s.round(), 10_000.0);
    }

    #[test]
    fn an_empty_run_reports_zeros() {
        let report = report("x", String::new(), "", Vec::new(), Duration::ZERO);
        assert_eq!((report.operations, report.rate_per_s, report.p50_us, report.max_us), (0, 0.0, 0.0, 0.0));
    }

    #[test]
    fn only_live_children_are_ours() {
        assert!(!our_child(std::process::id()), "this process is not its own child");
        assert!(!our_child(u32::MAX), "no such process");
        let mut child = std::process::Command::new("sleep").arg("30").spawn().expect("spawn sleep");
        assert!(our_child(child.id()));
        child.kill().expect("kill");
        child.wait().expect("wait");
        assert!(!our_child(child.id()), "a reaped child");
    }

    #[test]
    fn json_has_the_optional_fields_only_when_set() {
        let mut report = report("commit", String::new(), "", vec![Duration::from_millis(1)], Duration::from_secs(1));
        let plain = serde_json::to_value(&report).expect("json");
        assert!(plain.get("clients").is_none() && plain.get("errors").is_none() && plain.get("trials").is_none());
        report.clients = Some(64);
        report.errors = Some(0);
        let json = serde_json::to_value(&report).expect("json");
        assert_eq!(json["bench"], "commit");
        assert_eq!(json["clients"], 64);
        assert_eq!(json["errors"], 0);
        assert_eq!(json["p50_us"], 1000.0);
    }
}
