//! `ossa bench failover`: time from kill -9 of the Raft leader to the next committed write.
//!
//! One 3-steward loopback testnet ([`BenchNet`]) serves every trial. In a trial, a writer per
//! node starts a `POST /v1/tenants` every [`WRITE_INTERVAL`] (without waiting for the
//! previous one, up to [`MAX_IN_FLIGHT`]); after [`WRITE_BEFORE_KILL`] of this traffic the
//! leader (found through `/v1/status`) gets SIGKILL by its pid. The failover time runs from
//! just before the signal to the first 201 of a write sent after it through a surviving node;
//! writes that fail (no leader yet) are simply followed by the next ones. The killed node is
//! then restarted (`ossa node run --dir` of its node directory) and every node must be ready
//! before the next trial. If a trial sees no commit, the node logs are kept (path on stderr).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use reqwest::StatusCode;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::MissedTickBehavior;

use super::{report, until_interrupted, BenchNet, BenchReport, STEWARDS};

/// Interval at which each node's writer starts a write: the resolution of the measured time
/// (with two survivors writing, about half of it), small beside the 300 ms goal.
const WRITE_INTERVAL: Duration = Duration::from_millis(5);
/// Most writes in flight per node: a node without a leader holds writes for a while, and 1 s
/// of them (at [`WRITE_INTERVAL`]) is plenty to catch the first commit.
const MAX_IN_FLIGHT: usize = 200;
/// Writes run this long before the kill, so it lands amid steady traffic on warm connections.
const WRITE_BEFORE_KILL: Duration = Duration::from_millis(500);
/// A trial without a commit this long after the kill failed (the goal is p99 < 600 ms).
const FAILOVER_TIMEOUT: Duration = Duration::from_secs(30);
/// Deadline of one write: longer than the node's own wait for a leader (5 s).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Completed writes waiting to be looked at: more than a trial's writes before the kill
/// (3 nodes x [`WRITE_BEFORE_KILL`] / [`WRITE_INTERVAL`] = 300).
const DONE_QUEUE: usize = 4096;

/// Options of `ossa bench failover`.
#[derive(Debug, Clone)]
pub struct FailoverOptions {
    /// Number of leader kills.
    pub trials: usize,
}

/// One finished write.
#[derive(Debug, Clone, Copy)]
struct Done {
    /// Index of the node it was sent to.
    node: usize,
    started: Instant,
    finished: Instant,
    /// Answered 201.
    committed: bool,
}

/// Whether `done` shows the federation writing again after node `killed` was killed at
/// `killed_at`: a commit through a survivor, of a write sent after the kill.
fn recovers(done: &Done, killed_at: Instant, killed: usize) -> bool {
    done.committed && done.node != killed && done.started >= killed_at
}

/// `ossa bench failover`.
pub async fn failover(options: FailoverOptions) -> anyhow::Result<BenchReport> {
    until_interrupted(run(options)).await
}

async fn run(options: FailoverOptions) -> anyhow::Result<BenchReport> {
    if options.trials == 0 {
        bail!("--trials must be at least 1");
    }
    let mut net = BenchNet::start().await?;
    let http = reqwest::Client::builder().timeout(REQUEST_TIMEOUT).tcp_nodelay(true).build()?;
    let names = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut times = Vec::with_capacity(options.trials);
    let mut failed = 0u64;
    for trial in 1..=options.trials {
        let leader = net.leader().await?;
        let (tx, mut rx) = mpsc::channel(DONE_QUEUE);
        let mut writers = JoinSet::new();
        for (i, node) in net.nodes().iter().enumerate() {
            let url = format!("{}/v1/tenants", node.api);
            writers.spawn(writer(http.clone(), url, net.token(i).to_owned(), i, names.clone(), tx.clone()));
        }
        tokio::time::sleep(WRITE_BEFORE_KILL).await;
        let mut before = 0;
        while let Ok(done) = rx.try_recv() {
            before += usize::from(done.committed);
        }
        let killed_at = net.kill(leader)?;
        let deadline = tokio::time::Instant::from_std(killed_at + FAILOVER_TIMEOUT);
        let recovered = loop {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(done)) if recovers(&done, killed_at, leader) => {
                    break Some((done.finished - killed_at, done.node))
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break None,
            }
        };
        writers.shutdown().await;
        let org = &net.nodes()[leader].org;
        match recovered {
            Some((time, via)) => {
                eprintln!(
                    "trial {trial}/{}: killed the leader {org} ({before} commits before); next commit {:.1} ms \
                     later, through {}",
                    options.trials,
                    time.as_secs_f64() * 1e3,
                    net.nodes()[via].org
                );
                times.push(time);
            }
            None => {
                eprintln!(
                    "trial {trial}/{}: killed the leader {org}; no commit within {FAILOVER_TIMEOUT:?}",
                    options.trials
                );
                failed += 1;
            }
        }
        net.restart(leader).await?;
    }
    let setup = format!(
        "{STEWARDS} stewards on loopback, fsync on; writes through every node every {} ms; kill -9 of the leader \
         to the first commit of a write sent after it through a survivor; {} trials, {failed} without a commit \
         within {FAILOVER_TIMEOUT:?}",
        WRITE_INTERVAL.as_millis(),
        options.trials
    );
    let mut report = report(
        "failover",
        setup,
        "median < 300 ms, p99 < 600 ms (Raft paper: 287 ms median)",
        times,
        started.elapsed(),
    );
    report.trials = Some(options.trials);
    report.errors = Some(failed);
    if failed == 0 {
        net.finish();
    }
    Ok(report)
}

/// Starts a write to `url` every [`WRITE_INTERVAL`] and reports each on `done`, until aborted.
async fn writer(
    http: reqwest::Client,
    url: String,
    token: String,
    node: usize,
    names: Arc<AtomicU64>,
    done: mpsc::Sender<Done>,
) {
    let mut in_flight = JoinSet::new();
    let mut tick = tokio::time::interval(WRITE_INTERVAL);
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if in_flight.len() >= MAX_IN_FLIGHT {
                    continue;
                }
                let name = format!("failover-{}", names.fetch_add(1, Ordering::Relaxed));
                let request = http.post(&url).bearer_auth(&token).json(&serde_json::json!({ "name": name }));
                let done = done.clone();
                in_flight.spawn(async move {
                    let started = Instant::now();
                    let committed = matches!(request.send().await, Ok(r) if r.status() == StatusCode::CREATED);
                    let _ = done.send(Done { node, started, finished: Instant::now(), committed }).await;
                });
            }
            Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_commit_sent_after_the_kill_through_a_survivor_counts() {
        let before = Instant::now();
        let killed_at = before + Duration::from_millis(1);
        let later = killed_at + Duration::from_millis(1);
        let done = Done { node: 1, started: later, finished: later, committed: true };
        assert!(recovers(&done, killed_at, 0));
        assert!(!recovers(&Done { committed: false, ..done }, killed_at, 0), "a failed write");
        assert!(!recovers(&done, killed_at, 1), "a write through the killed node");
        assert!(!recovers(&Done { started: before, ..done }, killed_at, 0), "a write sent before the kill");
    }
}
