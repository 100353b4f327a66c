//! Harness for multi-node tests: a real federation of `ossa node run` processes on loopback.
//!
//! [`Federation::up`] runs `ossa testnet up --detach` in a temporary directory and reads its
//! `testnet.json`; the test then drives the nodes through their HTTP APIs, kills (`SIGKILL`)
//! and restarts them by pid, and waits on their state with [`Federation::wait_until`], which
//! polls a condition until a deadline instead of sleeping a fixed time. Dropping the
//! federation kills every node it started.

mod rogue;

pub use rogue::{certificate_for, expired_certificate_for, in_process_peer, unadmitted_raft_exchange};

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use ossa_node::launch::{TestnetManifest, TestnetNode};
use serde_json::Value;

/// Poll interval of [`Federation::wait_until`].
const POLL: Duration = Duration::from_millis(100);

/// A running test federation.
pub struct Federation {
    /// Removed on drop unless the test panicked (then kept for its node logs).
    dir: PathBuf,
    exe: PathBuf,
    manifest: TestnetManifest,
    http: reqwest::Client,
}

/// An HTTP answer: status code and JSON body (`Value::Null` when the body is not JSON).
#[derive(Debug)]
pub struct Answer {
    /// HTTP status code.
    pub status: u16,
    /// Parsed body.
    pub body: Value,
}

impl Federation {
    /// Starts `nodes` nodes, the first `stewards` of them stewards, with the `ossa` binary
    /// `exe`, and returns once all are ready.
    pub fn up(exe: impl Into<PathBuf>, nodes: usize, stewards: usize) -> anyhow::Result<Self> {
        Self::up_with_tenants(exe, nodes, stewards, 0)
    }

    /// As [`Federation::up`], with `tenants` tenants seeded by `ossa testnet up --tenants`.
    pub fn up_with_tenants(
        exe: impl Into<PathBuf>,
        nodes: usize,
        stewards: usize,
        tenants: usize,
    ) -> anyhow::Result<Self> {
        let exe = exe.into();
        let dir = tempfile::tempdir()?.keep();
        let output = Command::new(&exe)
            .args(["testnet", "up", "--detach", "--nodes", &nodes.to_string(), "--stewards", &stewards.to_string()])
            .args(["--tenants", &tenants.to_string()])
            .arg("--dir")
            .arg(dir.join("net"))
            .stdin(Stdio::null())
            .output()
            .context("cannot run ossa testnet up")?;
        let manifest = TestnetManifest::load(&dir.join("net"));
        let federation = Self {
            exe,
            manifest: manifest.unwrap_or(TestnetManifest {
                federation: String::new(),
                ca_dir: PathBuf::new(),
                nodes: vec![],
            }),
            dir,
            http: reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?,
        };
        if !output.status.success() {
            let logs: String = federation
                .manifest
                .nodes
                .iter()
                .map(|n| {
                    let log = std::fs::read_to_string(n.dir.join("node.log")).unwrap_or_default();
                    let tail: Vec<&str> = log.lines().rev().take(5).collect();
                    format!("--- {} ---\n{}\n", n.org, tail.into_iter().rev().collect::<Vec<_>>().join("\n"))
                })
                .collect();
            bail!(
                "ossa testnet up failed:\n{}\n{}\n{logs}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(federation)
    }

    /// The testnet directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The testnet directory (`--dir` of `ossa testnet ...` commands).
    pub fn testnet_dir(&self) -> PathBuf {
        self.dir.join("net")
    }

    /// The federation CA directory.
    pub fn ca_dir(&self) -> &Path {
        &self.manifest.ca_dir
    }

    /// Node `i`.
    pub fn node(&self, i: usize) -> &TestnetNode {
        &self.manifest.nodes[i]
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.manifest.nodes.len()
    }

    /// Whether the federation has no nodes.
    pub fn is_empty(&self) -> bool {
        self.manifest.nodes.is_empty()
    }

    /// The API token of node `i`.
    pub fn token(&self, i: usize) -> anyhow::Result<String> {
        Ok(std::fs::read_to_string(self.node(i).dir.join("api.token"))?.trim().to_owned())
    }

    async fn answer(response: reqwest::Response) -> anyhow::Result<Answer> {
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(Value::Null);
        Ok(Answer { status, body })
    }

    /// `GET path` on node `i`.
    pub async fn get(&self, i: usize, path: &str) -> anyhow::Result<Answer> {
        Self::answer(self.http.get(format!("{}{path}", self.node(i).api)).send().await?).await
    }

    /// `GET path` on node `i`, as text (for `/metrics` and exports).
    pub async fn get_text(&self, i: usize, path: &str) -> anyhow::Result<String> {
        let response = self.http.get(format!("{}{path}", self.node(i).api)).bearer_auth(self.token(i)?).send().await?;
        Ok(response.text().await?)
    }

    /// `POST path` with a raw body on node `i`, with or without its token.
    pub async fn post_raw(&self, i: usize, path: &str, body: Vec<u8>, with_token: bool) -> anyhow::Result<Answer> {
        let mut request =
            self.http.post(format!("{}{path}", self.node(i).api)).header("content-type", "application/json").body(body);
        if with_token {
            request = request.bearer_auth(self.token(i)?);
        }
        Self::answer(request.send().await?).await
    }

    /// `PUT path` on node `i` with a JSON `body` and its token.
    pub async fn put_raw(&self, i: usize, path: &str, body: Vec<u8>) -> anyhow::Result<Answer> {
        let request = self.http.put(format!("{}{path}", self.node(i).api)).header("content-type", "application/json");
        Self::answer(request.body(body).bearer_auth(self.token(i)?).send().await?).await
    }

    /// `DELETE path` on node `i`, with its token.
    pub async fn delete(&self, i: usize, path: &str) -> anyhow::Result<Answer> {
        let response =
            self.http.delete(format!("{}{path}", self.node(i).api)).bearer_auth(self.token(i)?).send().await?;
        Self::answer(response).await
    }

    /// Creates tenant `name` through node `i`.
    pub async fn create_tenant(&self, i: usize, name: &str) -> anyhow::Result<Answer> {
        self.post_raw(i, "/v1/tenants", serde_json::to_vec(&serde_json::json!({ "name": name }))?, true).await
    }

    /// Tenant names as listed by node `i`.
    pub async fn tenants(&self, i: usize) -> anyhow::Result<Vec<String>> {
        let answer = self.get(i, "/v1/tenants").await?;
        let list = answer.body.as_array().context("tenant list is not an array")?;
        Ok(list.iter().filter_map(|t| t["name"].as_str().map(str::to_owned)).collect())
    }

    /// Node `i`'s `/v1/status`.
    pub async fn status(&self, i: usize) -> anyhow::Result<Value> {
        Ok(self.get(i, "/v1/status").await?.body)
    }

    /// Index of the node that node `asked` names as leader, if any.
    pub async fn leader_seen_by(&self, asked: usize) -> Option<usize> {
        let status = self.status(asked).await.ok()?;
        let leader = status["leader"].as_str()?;
        self.manifest.nodes.iter().position(|n| n.peer_id == leader)
    }

    /// Kills node `i` with SIGKILL and waits until the process is gone.
    pub fn kill(&mut self, i: usize) -> anyhow::Result<()> {
        let pid = self.node(i).pid;
        Command::new("kill").args(["-KILL", &pid.to_string()]).status()?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while Path::new(&format!("/proc/{pid}")).exists() && !is_zombie(pid) {
            if Instant::now() > deadline {
                bail!("node {i} (pid {pid}) did not die");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }

    /// Restarts node `i` with `ossa node run --dir` (its saved config).
    pub fn restart(&mut self, i: usize) -> anyhow::Result<()> {
        self.restart_with_env(i, &[])
    }

    /// Restarts node `i` with extra environment variables (test hooks of the node).
    pub fn restart_with_env(&mut self, i: usize, env: &[(&str, &str)]) -> anyhow::Result<()> {
        let node_dir = self.node(i).dir.clone();
        let log = std::fs::OpenOptions::new().append(true).create(true).open(node_dir.join("node.log"))?;
        let child = Command::new(&self.exe)
            .args(["node", "run", "--dir"])
            .arg(&node_dir)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        self.manifest.nodes[i].pid = child.id();
        Ok(())
    }

    /// Polls `check` until it returns `Some`, or fails after `timeout` naming `what`.
    pub async fn wait_until<T, F, Fut>(&self, what: &str, timeout: Duration, mut check: F) -> anyhow::Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Option<T>>,
    {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(value) = check().await {
                return Ok(value);
            }
            if Instant::now() > deadline {
                bail!("timed out after {timeout:?} waiting until {what}; node logs are in {}", self.dir().display());
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| s.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next()) == Some("Z"))
        .unwrap_or(true)
}

impl Drop for Federation {
    fn drop(&mut self) {
        // `ossa testnet chaos` restarts nodes and records their new pids in testnet.json.
        let on_disk = TestnetManifest::load(&self.testnet_dir()).map(|m| m.nodes).unwrap_or_default();
        for node in self.manifest.nodes.iter().chain(&on_disk) {
            if node.pid != 0 {
                let _ = Command::new("kill").args(["-KILL", &node.pid.to_string()]).status();
            }
        }
        if std::thread::panicking() {
            eprintln!("test federation kept at {} for its node logs", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
