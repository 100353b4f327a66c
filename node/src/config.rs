//! The node's configuration, `NODE_DIR/node.toml`, and the layout of a node directory.
//!
//! `ossa org init` writes a `node.toml` with defaults; `ossa node run` reads it, applies the
//! command-line overrides and writes the result back, so `ossa node run --dir NODE_DIR` with no
//! other flags restarts the node exactly as it last ran.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Default peer-to-peer listen address: every interface, TCP port 7470.
pub const DEFAULT_LISTEN: &str = "/ip4/0.0.0.0/tcp/7470";
/// Default HTTP API address: loopback only, so the API is private unless configured otherwise.
pub const DEFAULT_API: &str = "127.0.0.1:7480";

/// Contents of `node.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// Multiaddr the node listens on for other nodes.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// `HOST:PORT` of the HTTP API.
    #[serde(default = "default_api")]
    pub api: String,
    /// Multiaddrs of nodes to contact first (each must end in `/p2p/<peer id>` or be a plain
    /// address). A steward with no bootstrap address and no Raft state founds the federation's
    /// Raft group.
    #[serde(default)]
    pub bootstrap: Vec<String>,
    /// Multiaddrs other nodes should dial to reach this one (for example `/dns4/node2/tcp/7470`
    /// behind NAT or in a container network). Empty: the addresses the node listens on.
    #[serde(default)]
    pub advertise: Vec<String>,
    /// Raft timings.
    #[serde(default)]
    pub raft: RaftConfig,
    /// Admission settings.
    #[serde(default)]
    pub admission: AdmissionConfig,
    /// Audit checkpoint settings.
    #[serde(default)]
    pub audit: AuditConfig,
    /// Trust score and circuit breaker settings (see `ossa_trust::TrustConfig`).
    #[serde(default)]
    pub trust: ossa_trust::TrustConfig,
    /// Test-only switches.
    #[serde(default)]
    pub testing: TestingConfig,
}

/// Test-only switches; `ossa testnet up` turns them on for its nodes. Never in production.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestingConfig {
    /// Serve `PUT /v1/testing/partition`, with which `ossa testnet chaos` cuts links between
    /// nodes (a partition at the admission level, both ways).
    pub fault_injection: bool,
}

/// When the node signs a checkpoint of its audit log: after `checkpoint_entries` new entries
/// or `checkpoint_interval_ms` after the last one, whichever comes first (and only if the log
/// grew).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// Entries after which a checkpoint is signed at once. 10,000 keeps a busy node's witnesses
    /// within a fraction of a second of its head while costing one signature per 10k appends.
    pub checkpoint_entries: u64,
    /// Longest time between a new entry and the checkpoint that covers it. One second bounds
    /// how stale a served checkpoint can be at one signature per second. The stewards check
    /// and cosign every other org's checkpoints, so the federation's witnessing work grows
    /// with orgs x stewards: beyond 20 orgs, raise it (`ossa testnet up` gives half a second
    /// per node; README, Performance).
    pub checkpoint_interval_ms: u64,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self { checkpoint_entries: 10_000, checkpoint_interval_ms: 1_000 }
    }
}

/// Raft timings in milliseconds (see `ossa_consensus::RaftTimings` for why these defaults) and
/// the snapshot policy (`ossa_consensus::SnapshotPolicy`). A field left out keeps its default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RaftConfig {
    /// Leader heartbeat interval.
    pub heartbeat_ms: u64,
    /// Lower bound of the election timeout.
    pub election_min_ms: u64,
    /// Upper bound of the election timeout.
    pub election_max_ms: u64,
    /// Applied entries between two snapshots of the registry.
    pub snapshot_every_entries: u64,
    /// Log entries kept behind the last snapshot; a follower further behind gets the snapshot.
    pub snapshot_keep_entries: u64,
}

impl Default for RaftConfig {
    fn default() -> Self {
        let t = ossa_consensus::RaftTimings::default();
        let s = ossa_consensus::SnapshotPolicy::default();
        Self {
            heartbeat_ms: t.heartbeat_ms,
            election_min_ms: t.election_min_ms,
            election_max_ms: t.election_max_ms,
            snapshot_every_entries: s.every_entries,
            snapshot_keep_entries: s.keep_entries,
        }
    }
}

/// How peers are admitted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdmissionConfig {
    /// Seconds a connected peer has to complete admission before it is disconnected. Ten
    /// seconds covers a slow peer on a bad link; an honest handshake takes one round trip.
    pub timeout_secs: u64,
    /// Seconds a refused peer stays banned: long enough that a misconfigured node does not
    /// hammer its peers, short enough that a fixed one is let back in soon.
    pub ban_secs: u64,
}

impl Default for AdmissionConfig {
    fn default() -> Self {
        Self { timeout_secs: 10, ban_secs: 60 }
    }
}

fn default_listen() -> String {
    DEFAULT_LISTEN.to_owned()
}

fn default_api() -> String {
    DEFAULT_API.to_owned()
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            api: default_api(),
            bootstrap: Vec::new(),
            advertise: Vec::new(),
            raft: RaftConfig::default(),
            admission: AdmissionConfig::default(),
            audit: AuditConfig::default(),
            trust: ossa_trust::TrustConfig::default(),
            testing: TestingConfig::default(),
        }
    }
}

/// Why a config could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Reading or writing the file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not valid `node.toml`.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

impl NodeConfig {
    /// Reads `node.toml` from `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io { path: path.into(), source })?;
        toml::from_str(&text).map_err(|e| ConfigError::Invalid { path: path.into(), message: e.to_string() })
    }

    /// Writes this config to `path`.
    pub fn save(&self, path: &Path) -> Result<(), ConfigError> {
        let text = toml::to_string_pretty(self)
            .map_err(|e| ConfigError::Invalid { path: path.into(), message: e.to_string() })?;
        std::fs::write(path, text).map_err(|source| ConfigError::Io { path: path.into(), source })
    }
}

/// The files of a node directory.
#[derive(Debug, Clone)]
pub struct NodeDir(PathBuf);

impl NodeDir {
    /// A node directory at `path` (not checked).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self(path.into())
    }
    /// The directory itself.
    pub fn path(&self) -> &Path {
        &self.0
    }
    /// The org's ed25519 node key (PKCS#8 PEM); also the libp2p identity.
    pub fn key(&self) -> PathBuf {
        self.0.join("node.key")
    }
    /// The certificate signing request made by `ossa org init`.
    pub fn csr(&self) -> PathBuf {
        self.0.join("org.csr")
    }
    /// The org certificate issued by `ossa federation admit`.
    pub fn cert(&self) -> PathBuf {
        self.0.join("org.pem")
    }
    /// The federation CA certificate (written beside the org certificate by `admit`).
    pub fn ca_cert(&self) -> PathBuf {
        self.0.join("ca.pem")
    }
    /// The bearer token of the HTTP API.
    pub fn api_token(&self) -> PathBuf {
        self.0.join("api.token")
    }
    /// The node's configuration.
    pub fn config(&self) -> PathBuf {
        self.0.join("node.toml")
    }
    /// The sled database (Raft log, registry, audit log).
    pub fn data(&self) -> PathBuf {
        self.0.join("data")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_fills_defaults() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("node.toml");
        std::fs::write(&path, "bootstrap = [\"/ip4/127.0.0.1/tcp/1\"]\n").expect("write");
        let config = NodeConfig::load(&path).expect("load");
        assert_eq!(config.listen, DEFAULT_LISTEN);
        assert_eq!(config.bootstrap, vec!["/ip4/127.0.0.1/tcp/1".to_owned()]);
        config.save(&path).expect("save");
        assert_eq!(NodeConfig::load(&path).expect("reload"), config);
    }

    #[test]
    fn a_partial_raft_section_keeps_the_other_defaults() {
        let config: NodeConfig = toml::from_str("[raft]\nsnapshot_every_entries = 10\n").expect("parses");
        assert_eq!(config.raft, RaftConfig { snapshot_every_entries: 10, ..RaftConfig::default() });
    }

    #[test]
    fn the_readme_example_parses_to_the_defaults() {
        let readme = include_str!("../../README.md");
        let start = readme.find("```toml\nlisten").expect("README has the node.toml example") + "```toml\n".len();
        let example = &readme[start..start + readme[start..].find("```").expect("closing fence")];
        let config: NodeConfig = toml::from_str(example).expect("the README example parses");
        assert_eq!(config, NodeConfig::default(), "the README documents the defaults");
    }

    #[test]
    fn unknown_field_is_an_error_that_names_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("node.toml");
        std::fs::write(&path, "listn = \"x\"\n").expect("write");
        let err = NodeConfig::load(&path).expect_err("unknown field");
        assert!(err.to_string().contains("node.toml"), "{err}");
        assert!(err.to_string().contains("listn"), "{err}");
    }
}
