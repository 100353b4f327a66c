//! The chaos run's clients and leader sampler.
//!
//! Each client creates tenants named `chaos-<seed>-<client>-<n>` through a randomly chosen
//! node, one at a time, until the run ends. A 201 is an acknowledged write; a 409 ("exists")
//! cannot happen for a fresh name unless an earlier, uncertain attempt committed, so it counts
//! as acknowledged too; a timeout or cut connection leaves the write uncertain. The sampler
//! asks every node for its (term, leader) every [`SAMPLE_PERIOD`].

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::task::JoinHandle;

use super::checker::History;
use crate::config::NodeDir;
use crate::launch::{TestnetManifest, TestnetNode};

/// How often the sampler asks every node who leads.
const SAMPLE_PERIOD: Duration = Duration::from_millis(100);

/// Deadline of one write: long enough for a leader election and a forward.
const WRITE_TIMEOUT: Duration = Duration::from_secs(3);

/// A running workload.
pub struct Workload {
    tasks: Vec<JoinHandle<()>>,
    history: Arc<Mutex<History>>,
}

/// Starts `clients` clients and the sampler for `duration`.
pub fn start(manifest: &TestnetManifest, clients: usize, seed: u64, duration: Duration) -> anyhow::Result<Workload> {
    let client = reqwest::Client::builder().timeout(WRITE_TIMEOUT).build()?;
    let mut nodes = Vec::new();
    for node in &manifest.nodes {
        let token = std::fs::read_to_string(NodeDir::new(&node.dir).api_token())?.trim().to_owned();
        nodes.push((node.clone(), token));
    }
    let nodes = Arc::new(nodes);
    let history = Arc::new(Mutex::new(History::default()));
    let deadline = Instant::now() + duration;
    let mut tasks: Vec<JoinHandle<()>> = (0..clients)
        .map(|i| {
            let (client, nodes, history) = (client.clone(), nodes.clone(), history.clone());
            tokio::spawn(async move { write_loop(&client, &nodes, &history, seed, i, deadline).await })
        })
        .collect();
    let (client, nodes_for_sampler, sampler_history) = (client, nodes, history.clone());
    tasks.push(tokio::spawn(
        async move { sample_leaders(&client, &nodes_for_sampler, &sampler_history, deadline).await },
    ));
    Ok(Workload { tasks, history })
}

impl Workload {
    /// Waits for the clients to end and returns what they saw.
    pub async fn finish(self) -> History {
        for task in self.tasks {
            // A panicked client loses only its own record-keeping; the others' history stands.
            let _ = task.await;
        }
        self.history.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

async fn write_loop(
    client: &reqwest::Client,
    nodes: &[(TestnetNode, String)],
    history: &Mutex<History>,
    seed: u64,
    id: usize,
    deadline: Instant,
) {
    let mut rng = StdRng::seed_from_u64(seed.wrapping_add(id as u64 + 1));
    let mut n = 0u64;
    while Instant::now() < deadline {
        let (node, token) = &nodes[rng.gen_range(0..nodes.len())];
        let name = format!("chaos-{seed}-{id}-{n}");
        n += 1;
        let sent = client
            .post(format!("{}/v1/tenants", node.api))
            .bearer_auth(token)
            .json(&serde_json::json!({ "name": name }))
            .send()
            .await;
        let status = sent.as_ref().map(|r| r.status().as_u16());
        record(history, name, status.as_ref().ok().copied());
        if status.is_err() {
            // A dead or paused node: pick another next time without hammering.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Files one write's outcome (`status` is `None` when no answer came).
fn record(history: &Mutex<History>, name: String, status: Option<u16>) {
    let mut history = history.lock().unwrap_or_else(|p| p.into_inner());
    match status {
        Some(201 | 409) => {
            history.acknowledged.insert(name);
        }
        // Refused before it reached Raft (a client error): not written.
        Some(status) if (400..500).contains(&status) => {}
        // 5xx (e.g. a forward whose answer was lost), timeouts, cut connections.
        _ => {
            history.uncertain.insert(name);
        }
    }
}

async fn sample_leaders(
    client: &reqwest::Client,
    nodes: &[(TestnetNode, String)],
    history: &Mutex<History>,
    deadline: Instant,
) {
    while Instant::now() < deadline {
        let mut seen = BTreeSet::new();
        for (node, _) in nodes {
            if let Some(status) = status_of(client, node).await {
                if let (Some(term), Some(leader)) = (status["term"].as_u64(), status["leader"].as_str()) {
                    seen.insert((term, leader.to_owned()));
                }
            }
        }
        history.lock().unwrap_or_else(|p| p.into_inner()).leaders.extend(seen);
        tokio::time::sleep(SAMPLE_PERIOD).await;
    }
}

async fn status_of(client: &reqwest::Client, node: &TestnetNode) -> Option<serde_json::Value> {
    let response = client.get(format!("{}/v1/status", node.api)).timeout(SAMPLE_PERIOD * 5).send().await.ok()?;
    response.json().await.ok()
}
