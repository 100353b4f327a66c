//! `ossa testnet`: a local federation of real `ossa node run` processes on loopback.
//!
//! `up` creates `DIR/ca` (the federation CA) and one node directory `DIR/orgN` per node (key,
//! CSR, certificate — the first `stewards` as stewards — token, and a `node.toml` on free
//! loopback ports, with checkpoints rarer beyond 20 nodes: `checkpoint_interval_ms`), starts
//! the first node (which founds the Raft group), then the others (bootstrapping from the
//! first), waits until every node's `/ready` answers 200, optionally seeds tenants, each with
//! a policy set and an agent (the `seed` module), and writes `DIR/testnet.json`. Each node logs to `DIR/orgN/node.log`.
//! `up` on a directory that already holds a stopped testnet restarts it as it was.
//! Without `--detach` it then waits for Ctrl-C and stops the nodes it started; with it, the
//! nodes keep running in their own process group until `ossa testnet down`.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use ossa_trust::{FederationCa, Role};
use serde::{Deserialize, Serialize};

use crate::cli::admin::{admit_org, create_org};
use crate::config::{NodeConfig, NodeDir};

mod seed;

/// Name of the testnet's federation.
pub const TESTNET_FEDERATION: &str = "testnet";
/// How long `up` waits for every node to become ready: a cold start of a debug build plus a
/// few joins takes seconds; a minute means something is wrong (see the node logs).
const READY_TIMEOUT: Duration = Duration::from_secs(90);
/// How often readiness is polled.
const POLL: Duration = Duration::from_millis(200);
/// How long `start_node` waits for a started node to show up as `ossa node run` in `/proc`
/// (normally a few milliseconds; a node that exits at once is noticed sooner).
const EXEC_TIMEOUT: Duration = Duration::from_secs(5);
/// How long `down` waits after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// Most nodes whose testnet keeps the node's default checkpoint interval (see
/// [`checkpoint_interval_ms`]).
const FULL_RATE_WITNESS_NODES: usize = 20;
/// Checkpoint interval per node beyond [`FULL_RATE_WITNESS_NODES`].
const CHECKPOINT_MS_PER_NODE: u64 = 500;

/// The checkpoint interval of each node of a testnet of `nodes` nodes. The stewards check and
/// cosign every other node's checkpoints, and every node verifies what they gossip, so the
/// witnessing work per interval grows with nodes x stewards. Up to
/// [`FULL_RATE_WITNESS_NODES`] nodes share this machine at the node's default (1 s); beyond,
/// the interval is half a second per node. With 3 stewards and 1 s checkpoints, a write
/// reached every log of 20 nodes in 29-31 ms (median), but of 30 nodes in 302 ms, with an
/// election while they started; with 15 s checkpoints 30 nodes took 33-36 ms from term 1.
fn checkpoint_interval_ms(nodes: usize) -> u64 {
    let default = crate::config::AuditConfig::default().checkpoint_interval_ms;
    if nodes <= FULL_RATE_WITNESS_NODES {
        default
    } else {
        nodes as u64 * CHECKPOINT_MS_PER_NODE
    }
}

/// Options of `ossa testnet up`.
#[derive(Debug, Clone)]
pub struct UpOptions {
    /// Number of nodes.
    pub nodes: usize,
    /// How many of them are stewards.
    pub stewards: usize,
    /// Tenants to seed once up, each with a policy set and an agent.
    pub tenants: usize,
    /// Testnet directory.
    pub dir: PathBuf,
    /// Leave the nodes running and return.
    pub detach: bool,
}

/// Where the progress lines of starting a testnet go: stdout for `ossa testnet up`, stderr for
/// `ossa bench`, whose stdout carries only its results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

impl Progress {
    pub(crate) fn line(self, args: std::fmt::Arguments<'_>) {
        match self {
            Self::Stdout => out!("{args}"),
            Self::Stderr => eprintln!("{args}"),
        }
    }
}

/// `DIR/testnet.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TestnetManifest {
    /// Federation name.
    pub federation: String,
    /// Directory of the federation CA.
    pub ca_dir: PathBuf,
    /// The nodes.
    pub nodes: Vec<TestnetNode>,
}

/// One node of a testnet.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TestnetNode {
    /// Org name.
    pub org: String,
    /// libp2p peer id.
    pub peer_id: String,
    /// Base URL of its HTTP API.
    pub api: String,
    /// Its peer-to-peer multiaddr, including `/p2p/<peer id>`.
    pub p2p: String,
    /// `steward` or `member`.
    pub role: String,
    /// Its node directory.
    pub dir: PathBuf,
    /// Process id of its `ossa node run`.
    pub pid: u32,
}

impl TestnetManifest {
    /// Path of the manifest in a testnet directory.
    pub fn path(dir: &Path) -> PathBuf {
        dir.join("testnet.json")
    }

    /// Reads `DIR/testnet.json`.
    pub fn load(dir: &Path) -> anyhow::Result<Self> {
        let path = Self::path(dir);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {} (is there a testnet in {}?)", path.display(), dir.display()))?;
        serde_json::from_str(&text).with_context(|| format!("{} is not a testnet manifest", path.display()))
    }

    pub(crate) fn save(&self, dir: &Path) -> anyhow::Result<()> {
        let path = Self::path(dir);
        std::fs::write(&path, serde_json::to_string_pretty(self)?)
            .with_context(|| format!("cannot write {}", path.display()))
    }
}

/// Ports handed to testnet nodes come from below Linux's ephemeral range (32768-60999), so an
/// outgoing connection of another process can never take a port between the check here and
/// the node binding it; the start is random so concurrent testnets rarely pick the same.
const PORT_RANGE: std::ops::Range<u16> = 20_000..32_000;

/// Picks `count` distinct loopback ports that are free now.
fn free_ports(count: usize) -> anyhow::Result<Vec<u16>> {
    let span = PORT_RANGE.end - PORT_RANGE.start;
    let offset: u16 = rand::random::<u16>() % span;
    let ports: Vec<u16> = (0..span)
        .map(|i| PORT_RANGE.start + (offset + i) % span)
        .filter(|port| TcpListener::bind(("127.0.0.1", *port)).is_ok())
        .take(count)
        .collect();
    if ports.len() < count {
        bail!("found only {} free loopback ports in {PORT_RANGE:?}", ports.len());
    }
    Ok(ports)
}

/// `ossa testnet up`.
pub async fn up(options: UpOptions) -> anyhow::Result<ExitCode> {
    let manifest = start(&options, Progress::Stdout).await?;
    print_nodes(&manifest);
    if options.detach {
        let dir = options.dir.canonicalize()?;
        out!("\nnodes keep running; stop them with `ossa testnet down --dir {}`", dir.display());
        return Ok(ExitCode::SUCCESS);
    }
    out!("\npress Ctrl-C to stop the testnet");
    tokio::signal::ctrl_c().await?;
    stop_nodes(&manifest);
    Ok(ExitCode::SUCCESS)
}

/// Creates a testnet in `options.dir` and starts its nodes as `ossa testnet up` does; returns
/// its manifest once every node is ready and the tenants exist, leaving the nodes running
/// (`options.detach` is not looked at). If it fails part way, the nodes started so far keep
/// running and are listed in `DIR/testnet.json`.
pub async fn start(options: &UpOptions, progress: Progress) -> anyhow::Result<TestnetManifest> {
    if options.nodes == 0 {
        bail!("--nodes must be at least 1");
    }
    if options.stewards == 0 || options.stewards > options.nodes {
        bail!("--stewards must be between 1 and --nodes ({})", options.nodes);
    }
    let dir = &options.dir;
    if TestnetManifest::path(dir).exists() {
        return restart(dir, progress).await;
    }
    if dir.join("ca").exists() {
        bail!("{} holds a federation CA but no testnet.json; remove the directory for a new testnet", dir.display());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let dir = dir.canonicalize()?;
    let ca_dir = dir.join("ca");
    std::fs::create_dir_all(&ca_dir)?;
    let ca = FederationCa::create(TESTNET_FEDERATION)?;
    ca.save(&ca_dir)?;

    let ports = free_ports(options.nodes * 2)?;
    let mut nodes = Vec::with_capacity(options.nodes);
    for i in 0..options.nodes {
        let org = format!("org{i}");
        let node_dir = NodeDir::new(dir.join(&org));
        let peer_id = create_org(&org, &node_dir)?;
        let role = if i < options.stewards { Role::Steward } else { Role::Member };
        admit_org(&ca, &node_dir.csr(), &node_dir.cert(), role, 365)?;
        let (p2p_port, api_port) = (ports[2 * i], ports[2 * i + 1]);
        let p2p = format!("/ip4/127.0.0.1/tcp/{p2p_port}/p2p/{peer_id}");
        let config = NodeConfig {
            listen: format!("/ip4/127.0.0.1/tcp/{p2p_port}"),
            api: format!("127.0.0.1:{api_port}"),
            bootstrap: nodes.first().map(|first: &TestnetNode| vec![first.p2p.clone()]).unwrap_or_default(),
            testing: crate::config::TestingConfig { fault_injection: true },
            audit: crate::config::AuditConfig {
                checkpoint_interval_ms: checkpoint_interval_ms(options.nodes),
                ..Default::default()
            },
            ..NodeConfig::default()
        };
        config.save(&node_dir.config())?;
        nodes.push(TestnetNode {
            org,
            peer_id: peer_id.to_string(),
            api: format!("http://127.0.0.1:{api_port}"),
            p2p,
            role: role.to_string(),
            dir: node_dir.path().to_path_buf(),
            pid: 0,
        });
    }
    let mut manifest = TestnetManifest { federation: TESTNET_FEDERATION.to_owned(), ca_dir, nodes };

    let exe = std::env::current_exe().context("cannot find the ossa executable")?;
    let client = reqwest::Client::builder().timeout(Duration::from_secs(2)).build()?;
    progress.line(format_args!("starting {} nodes in {}", manifest.nodes.len(), dir.display()));
    // The founder first, so the others have a Raft group to join.
    for i in 0..manifest.nodes.len() {
        manifest.nodes[i].pid = start_node(&exe, &manifest.nodes[i].dir)?;
        manifest.save(&dir)?;
        if i == 0 {
            wait_ready(&client, &manifest.nodes[..1], progress).await?;
        }
    }
    wait_ready(&client, &manifest.nodes, progress).await?;
    seed::seed_tenants(&client, &manifest, options.tenants, progress).await?;
    Ok(manifest)
}

/// Restarts the stopped nodes of the testnet of `dir` exactly as they were (they keep their
/// data, keys and ports), leaving running ones alone, and waits until all are ready.
async fn restart(dir: &Path, progress: Progress) -> anyhow::Result<TestnetManifest> {
    let mut manifest = TestnetManifest::load(dir)?;
    let exe = std::env::current_exe().context("cannot find the ossa executable")?;
    let client = reqwest::Client::builder().timeout(Duration::from_secs(2)).build()?;
    let stopped: Vec<usize> = (0..manifest.nodes.len()).filter(|i| !process_alive(manifest.nodes[*i].pid)).collect();
    if stopped.is_empty() {
        progress.line(format_args!("every node of the testnet in {} is running", dir.display()));
    } else {
        progress.line(format_args!(
            "restarting {} of the {} nodes of the existing testnet in {} (remove the directory for a new one)",
            stopped.len(),
            manifest.nodes.len(),
            dir.display()
        ));
    }
    for i in stopped {
        let node = &mut manifest.nodes[i];
        refresh_peer_id(node)?;
        node.pid = start_node(&exe, &node.dir)?;
    }
    manifest.save(dir)?;
    wait_ready(&client, &manifest.nodes, progress).await?;
    Ok(manifest)
}

/// Takes the node's peer id from its key file again: `ossa org rotate` may have replaced it.
fn refresh_peer_id(node: &mut TestnetNode) -> anyhow::Result<()> {
    let key_file = NodeDir::new(&node.dir).key();
    let pem = std::fs::read_to_string(&key_file).with_context(|| format!("cannot read {}", key_file.display()))?;
    let key = ossa_trust::NodeKey::from_pkcs8_pem(&pem).with_context(|| format!("{}", key_file.display()))?;
    let peer_id = crate::admission::peer_id_of_key(&key.public_key()).context("node key is not ed25519")?.to_string();
    if peer_id != node.peer_id {
        if let Some((addr, _)) = node.p2p.rsplit_once("/p2p/") {
            node.p2p = format!("{addr}/p2p/{peer_id}");
        }
        node.peer_id = peer_id;
    }
    Ok(())
}

/// Starts `ossa node run --dir NODE_DIR` (the executable `exe`) in its own process group,
/// logging to `NODE_DIR/node.log`, and returns its pid.
pub(crate) fn start_node(exe: &Path, node_dir: &Path) -> anyhow::Result<u32> {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(node_dir.join("node.log"))?;
    let mut command = std::process::Command::new(exe);
    command.arg("node").arg("run").arg("--dir").arg(node_dir);
    command.stdin(Stdio::null()).stdout(log.try_clone()?).stderr(log);
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        // Its own process group: Ctrl-C in the terminal reaches only `testnet up`, which then
        // stops the nodes itself; a detached testnet survives the terminal.
        command.process_group(0);
    }
    let mut child = command.spawn().with_context(|| format!("cannot start {}", exe.display()))?;
    // The kernel sets the new program's command line a moment after `spawn` returns; until
    // then `process_alive` would take the node for exited.
    let deadline = Instant::now() + EXEC_TIMEOUT;
    while !process_alive(child.id()) && child.try_wait()?.is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(child.id())
}

/// Waits until every node's `/ready` answers 200 (at most [`READY_TIMEOUT`]).
pub(crate) async fn wait_ready(
    client: &reqwest::Client,
    nodes: &[TestnetNode],
    progress: Progress,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + READY_TIMEOUT;
    let mut last_reported = usize::MAX;
    loop {
        let mut ready = 0;
        for node in nodes {
            if !process_alive(node.pid) {
                bail!("node {} (pid {}) exited; see {}", node.org, node.pid, node.dir.join("node.log").display());
            }
            let ok = client.get(format!("{}/ready", node.api)).send().await.is_ok_and(|r| r.status().is_success());
            ready += usize::from(ok);
        }
        if ready != last_reported {
            progress.line(format_args!("  {ready}/{} nodes ready", nodes.len()));
            last_reported = ready;
        }
        if ready == nodes.len() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("nodes not ready after {READY_TIMEOUT:?}; see the node.log files in each node directory");
        }
        tokio::time::sleep(POLL).await;
    }
}

fn print_nodes(manifest: &TestnetManifest) {
    out!("");
    crate::cli::print_table(
        &["org", "role", "api", "p2p", "pid"],
        &manifest
            .nodes
            .iter()
            .map(|n| vec![n.org.clone(), n.role.clone(), n.api.clone(), n.p2p.clone(), n.pid.to_string()])
            .collect::<Vec<_>>(),
    );
}

/// Whether `pid` is a running `ossa node run` process (not a zombie, not a reused pid).
pub(crate) fn process_alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
    // The state is the first field after the parenthesised command name.
    let state = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next());
    if state == Some("Z") {
        return false;
    }
    std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|cmd| {
        let args: Vec<&[u8]> = cmd.split(|b| *b == 0).collect();
        args.windows(2).any(|w| w == [b"node".as_slice(), b"run".as_slice()])
    })
}

fn stop_nodes(manifest: &TestnetManifest) {
    let running: Vec<&TestnetNode> = manifest.nodes.iter().filter(|n| process_alive(n.pid)).collect();
    for node in &running {
        if let Ok(pid) = i32::try_from(node.pid) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
    }
    let deadline = Instant::now() + STOP_GRACE;
    while running.iter().any(|n| process_alive(n.pid)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    for node in &running {
        if process_alive(node.pid) {
            if let Ok(pid) = i32::try_from(node.pid) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
        out!("stopped {} (pid {})", node.org, node.pid);
    }
}

/// `ossa testnet down`.
pub async fn down(dir: &Path) -> anyhow::Result<ExitCode> {
    let manifest = TestnetManifest::load(dir)?;
    stop_nodes(&manifest);
    Ok(ExitCode::SUCCESS)
}

/// `ossa testnet status`.
pub async fn status(dir: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let manifest = TestnetManifest::load(dir)?;
    let client = reqwest::Client::builder().timeout(Duration::from_secs(2)).build()?;
    let mut rows = Vec::new();
    let mut report = Vec::new();
    for node in &manifest.nodes {
        let status: Option<serde_json::Value> = match client.get(format!("{}/v1/status", node.api)).send().await {
            Ok(r) => r.json().await.ok(),
            Err(_) => None,
        };
        let field =
            |k: &str| status.as_ref().and_then(|s| s[k].as_str().map(str::to_owned)).unwrap_or_else(|| "-".into());
        let alive = process_alive(node.pid);
        let ready = status.as_ref().and_then(|s| s["ready"].as_bool()).unwrap_or(false);
        rows.push(vec![
            node.org.clone(),
            node.role.clone(),
            if alive { "up".into() } else { "down".into() },
            field("raft_state"),
            ready.to_string(),
            node.api.clone(),
            node.pid.to_string(),
        ]);
        report.push(serde_json::json!({ "node": node, "alive": alive, "ready": ready, "status": status }));
    }
    if json {
        out!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        crate::cli::print_table(&["org", "role", "process", "raft", "ready", "api", "pid"], &rows);
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_slow_down_beyond_twenty_nodes() {
        let default = crate::config::AuditConfig::default().checkpoint_interval_ms;
        for nodes in [1, 3, 10, 20] {
            assert_eq!(checkpoint_interval_ms(nodes), default, "{nodes} nodes");
        }
        assert_eq!(checkpoint_interval_ms(21), 10_500);
        assert_eq!(checkpoint_interval_ms(30), 15_000);
    }
}
