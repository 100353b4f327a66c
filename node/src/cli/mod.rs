//! The `ossa` command line: argument parsing (clap derive) and dispatch.
//!
//! Admin commands (`federation`, `org`) work on files; `node run` starts the daemon;
//! `testnet` manages local node processes; client commands (`status`, `members`, `tenant`,
//! `audit export|checkpoint|prove`) talk to a node's HTTP API; `audit verify` and `audit
//! verify-proof` work offline (`cli::audit`).

/// Prints a line to stdout like `println!`, but a closed pipe (`ossa members | head -1`) ends
/// the process quietly instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::write_line(format_args!($($arg)*))
    };
}

pub(crate) mod admin;
mod audit;
mod client;
mod rotate;
mod table;

pub(crate) use table::print as print_table;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::config::{NodeConfig, NodeDir};

/// OSSA federation node: admits orgs by certificate, replicates the registry through Raft and
/// keeps a verifiable audit log.
#[derive(Debug, Parser)]
#[command(name = "ossa", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a federation CA and admit orgs into it.
    #[command(subcommand)]
    Federation(FederationCommand),
    /// Create an org's node directory (key, CSR, API token, config).
    #[command(subcommand)]
    Org(OrgCommand),
    /// Run a node.
    #[command(subcommand)]
    Node(NodeCommand),
    /// Run a local multi-node federation on loopback.
    #[command(subcommand)]
    Testnet(TestnetCommand),
    /// Show a node's status.
    Status(ClientArgs),
    /// List the federation's members.
    Members(ClientArgs),
    /// Create and list tenants.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Register, find and remove agents.
    #[command(subcommand)]
    Agent(AgentCommand),
    /// Set tenant policy sets; propose and approve federation-wide ones.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Decide a request locally against the federation and tenant policy sets; prints `allow`
    /// or `deny`, then the deciding policy ids. The decision is audited.
    Authorize(AuthorizeArgs),
    /// Export and verify a node's audit log.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Report how other orgs' agents behaved, and show the trust scores that follow.
    #[command(subcommand)]
    Trust(TrustCommand),
    /// Measure a performance goal of the design on this machine.
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Capability query latency on a large agent directory (goal: p99 < 1 ms on 100k agents).
    Query {
        /// Agents in the directory.
        #[arg(long, default_value_t = 100_000)]
        records: usize,
        /// Queries to time.
        #[arg(long, default_value_t = 20_000)]
        queries: usize,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Committed registry writes/s and commit latency on a fresh 3-steward loopback testnet
    /// (goals: >= 20,000 writes/s with 256 clients; p50 < 1 ms and p99 < 5 ms with 1 client;
    /// p99 < 20 ms with 64 clients).
    ///
    /// Starts 3 stewards (`ossa node run`, fsync on) in a temporary directory. For each client
    /// count, that many concurrent clients (a keep-alive HTTP connection each, in this process)
    /// create unique tenants through the leader's API for --seconds, after a warm-up of a fifth
    /// of that. Only writes answered 201 (committed by a quorum) count; others are errors.
    /// Progress goes to stderr; the nodes are stopped at the end.
    Commit {
        /// Client counts to measure, comma-separated (each from 1 to 512).
        #[arg(long, value_delimiter = ',', default_value = "1,64,256", value_parser = crate::bench::parse_client_count)]
        clients: Vec<usize>,
        /// Length of each timed run, in seconds.
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        /// Print one JSON object per client count.
        #[arg(long)]
        json: bool,
    },
    /// Leader failover: kill -9 of the Raft leader to the next committed write, over repeated
    /// trials (goal: median < 300 ms, p99 < 600 ms).
    ///
    /// Starts 3 stewards on loopback in a temporary directory. Each trial writes through every
    /// node every 5 ms, kills the leader (SIGKILL), and times until a write sent after the kill
    /// commits through a surviving node; the killed node is then restarted and caught up before
    /// the next trial. Progress goes to stderr; the nodes are stopped at the end.
    Failover {
        /// Number of leader kills.
        #[arg(long, default_value_t = 10)]
        trials: usize,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Audit log appends per second into a sled-backed log, and offline verification of its
    /// export (goals: >= 200,000 appends/s; a 1M-entry export verified in < 2 s).
    ///
    /// In a scratch directory (removed at the end), appends --entries entries to a fresh audit
    /// log on the node's sled engine one at a time from one thread (`audit-append`), then as
    /// many one at a time from --writers threads at once, as a node's request handlers append
    /// under load (`audit-append-concurrent`; single appends gather in the log's tail, which
    /// goes to sled 1,024 entries at a time), then as many in batches of --batch entries, each
    /// batch one atomic sled write (`audit-append-batch`; its latencies are per batch),
    /// signing a C2SP checkpoint every --checkpoint-entries entries or
    /// --checkpoint-interval-ms as a node does. Then a log of --verify-entries entries is exported to a file as `ossa audit
    /// export` writes it, and its verification as `ossa audit verify` does it is timed
    /// --verify-runs times (`audit-verify`; latencies are per whole verification). That log is
    /// the batched sled log if it is long enough (all of it is exported), else an in-memory log
    /// of the same entries: the export does not depend on the engine, and filling sled to a
    /// million entries takes minutes.
    ///
    /// Durability, as on the node: an append returns once it is in the log (a single append
    /// in its tail, a batch written to sled), without fsync; sled's background flusher fsyncs
    /// every 500 ms, each checkpoint is signed after a flush (fsync), and the append rates
    /// include one final flush. Progress goes to stderr.
    Audit {
        /// Entries appended in each append phase (200,000 keeps the default run within about a
        /// minute on sled).
        #[arg(long, default_value_t = 200_000)]
        entries: u64,
        /// Entries per batched append.
        #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
        batch: u64,
        /// Threads appending one at a time at once in the concurrent phase.
        #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=4096))]
        writers: u64,
        /// Sign a checkpoint after this many new entries (the node's `[audit] checkpoint_entries`).
        #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
        checkpoint_entries: u64,
        /// ... or after this many milliseconds if the log grew (the node's `[audit]
        /// checkpoint_interval_ms`).
        #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(1..))]
        checkpoint_interval_ms: u64,
        /// Entries in the export that is verified.
        #[arg(long, default_value_t = 1_000_000)]
        verify_entries: u64,
        /// Times the export is verified.
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=1000))]
        verify_runs: u64,
        /// Directory in which the scratch directory is created (default: the system's temporary
        /// directory).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Print one JSON object per report.
        #[arg(long)]
        json: bool,
    },
    /// EigenTrust recomputation time of every trust score for 1000 orgs and 100k observations,
    /// and the ingest rate (no goal in the design; the node recomputes at most once a second).
    ///
    /// Generates --orgs member orgs (5 stewards, 25 partners each) and --observations
    /// observations from --seed, then, each run, records them all into a fresh ledger
    /// (`trust-ingest`; latencies are per whole ingest) and recomputes every org and agent score
    /// (`trust-recompute`); every run must compute the same scores. Progress goes to stderr.
    Trust {
        /// Member orgs.
        #[arg(long, default_value_t = 1_000)]
        orgs: usize,
        /// Observations.
        #[arg(long, default_value_t = 100_000)]
        observations: usize,
        /// Runs (ingest + recompute) to time.
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=10_000))]
        runs: u64,
        /// Seed of the generated federation.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Print one JSON object per report.
        #[arg(long)]
        json: bool,
    },
    /// Cedar authorization latency with many tenant policy sets (goal: p99 < 100 us with 1000
    /// tenant policy sets).
    ///
    /// Validates and installs a federation set and --tenants tenant sets of 10 policies each,
    /// then times --requests decisions (after a warm-up of a tenth of that), each checking the
    /// request, building the six entities' store and evaluating both sets. Progress goes to
    /// stderr.
    Authorize {
        /// Tenant policy sets.
        #[arg(long, default_value_t = 1_000)]
        tenants: usize,
        /// Decisions to time.
        #[arg(long, default_value_t = 100_000)]
        requests: usize,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Time for one signed agent record to reach 99% (and 100%) of N in-process nodes (goals:
    /// < 100 ms for 100 nodes, < 500 ms for 1000 nodes).
    ///
    /// For each size, builds N libp2p nodes in this process with the node's gossipsub (same
    /// configuration and peer scoring) over MemoryTransport with Noise and Yamux, each dialing
    /// 3 random earlier nodes (--seed), and waits until their meshes have formed. Each trial, a
    /// random node publishes a freshly signed record; every receiver verifies it as the node
    /// does (signature, signer, tenant, expiry, limits) before gossipsub forwards it. Admission
    /// and the directory write are left out. Reports `gossip` (time to 99% of the nodes) and
    /// `gossip-all` (to every node) per size. Progress goes to stderr.
    Gossip {
        /// Network sizes, comma-separated (each from 2 to 5000).
        #[arg(long, value_delimiter = ',', default_value = "10,100,1000", value_parser = clap::value_parser!(u64).range(2..=5000))]
        nodes: Vec<u64>,
        /// Records published per size.
        #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=10_000))]
        trials: u64,
        /// Seed of the topology and of the publishers.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Print one JSON object per report.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum PolicyCommand {
    /// Replace a tenant's Cedar policy set (only the tenant's owner may); validated strictly
    /// against the OSSA schema before it is written.
    Set {
        /// The Cedar file.
        file: PathBuf,
        /// The tenant.
        #[arg(long)]
        tenant: String,
        /// Refuse the set if the analysis warns (e.g. a permit that a forbid always overrides).
        #[arg(long)]
        strict: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Propose a federation-wide Cedar policy set (stewards only); prints the proposal id. It
    /// becomes active once a majority of stewards approved it (the proposer's approval counts).
    Propose {
        /// The Cedar file.
        file: PathBuf,
        /// Refuse the set if the analysis warns.
        #[arg(long)]
        strict: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Approve a pending proposal as this node's (steward) org.
    Approve {
        /// Proposal id (from `policy propose` or `policy list`).
        id: u64,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Show the active federation version, tenant versions and proposals with their approvals.
    List(ClientArgs),
}

/// Flags of `ossa authorize`.
#[derive(Debug, Args)]
pub struct AuthorizeArgs {
    /// Tenant whose policy set decides.
    #[arg(long)]
    tenant: String,
    /// Who acts: `org:ORG` or `agent:TENANT/ID`.
    #[arg(long)]
    principal: String,
    /// discover, invoke, register or administer.
    #[arg(long)]
    action: String,
    /// On what: `agent:TENANT/ID` or `tenant:TENANT`.
    #[arg(long)]
    resource: String,
    /// Context as JSON: {"capability": "...", "trust": 0..1000, "caller_org": "..."}.
    #[arg(long)]
    context: Option<String>,
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(Debug, Subcommand)]
enum TrustCommand {
    /// Sign and gossip an observation of another org's agent; it feeds that org's and that
    /// agent's trust scores on every node, and is audited.
    Observe {
        /// The agent, TENANT/ID.
        #[arg(long)]
        agent: String,
        /// What happened.
        #[arg(long, value_parser = ["success", "failure", "violation"])]
        outcome: String,
        /// How long the call took.
        #[arg(long)]
        latency_ms: Option<u32>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// List orgs and agents with their scores (0..=1000) and the evidence behind them.
    Show(ClientArgs),
}

/// Certification tiers, lowest first.
const TIERS: [&str; 3] = ["bronze", "silver", "gold"];

#[derive(Debug, Subcommand)]
enum AgentCommand {
    /// Register an agent from an OSSA manifest (YAML) or an A2A agent card (JSON): the node
    /// signs an agent record and gossips it to the federation.
    Register {
        /// The manifest or agent card.
        file: PathBuf,
        /// Tenant of this node's org to register it in.
        #[arg(long)]
        tenant: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Find agents by capability, answered from the node's local directory, highest trust
    /// first; quarantined agents are hidden unless --include-quarantined.
    Find {
        /// Capability the agent must have.
        #[arg(long)]
        capability: String,
        /// Only agents of this tenant.
        #[arg(long)]
        tenant: Option<String>,
        /// Only agents certified at this tier or higher (silver also matches gold).
        #[arg(long, value_parser = TIERS)]
        tier: Option<String>,
        /// Only agents with at least this trust score (0..=1000).
        #[arg(long, value_parser = clap::value_parser!(u16).range(0..=1000))]
        min_trust: Option<u16>,
        /// Also show agents the circuit breaker has quarantined.
        #[arg(long)]
        include_quarantined: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// List the agents the node knows, highest trust first.
    List {
        /// Only agents of this tenant.
        #[arg(long)]
        tenant: Option<String>,
        /// Only agents certified at this tier or higher (silver also matches gold).
        #[arg(long, value_parser = TIERS)]
        tier: Option<String>,
        /// Also show agents the circuit breaker has quarantined.
        #[arg(long)]
        include_quarantined: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Show one agent with its tier and the certifications behind it.
    Get {
        /// Agent id, or TENANT/ID.
        id: String,
        /// Tenant of the agent (unless given as TENANT/ID).
        #[arg(long)]
        tenant: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Certify another org's agent at a tier, on a steward's node. The node checks that FILE is
    /// the manifest the agent is registered with (same SHA-256), that it validates strictly
    /// against its format, that the signed record matches it and that the declared endpoint
    /// answers; it prints each check. Only if all pass does it sign a certification (valid 30
    /// days) and gossip it; the agent's tier is then the highest certified at its current
    /// manifest.
    Certify {
        /// Agent id, or TENANT/ID.
        id: String,
        /// Tenant of the agent (unless given as TENANT/ID).
        #[arg(long)]
        tenant: Option<String>,
        /// The grade.
        #[arg(long, value_parser = TIERS)]
        tier: String,
        /// The manifest the agent was registered with.
        #[arg(long)]
        manifest: PathBuf,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Remove an agent of this node's org (gossips a signed tombstone).
    Remove {
        /// Agent id, or TENANT/ID.
        id: String,
        /// Tenant of the agent (unless given as TENANT/ID).
        #[arg(long)]
        tenant: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
}

#[derive(Debug, Subcommand)]
enum FederationCommand {
    /// Create the federation CA (key + self-signed certificate) in DIR.
    Init {
        /// Federation name (lowercase letters, digits and '-').
        #[arg(long)]
        name: String,
        /// Directory for ca.pem and ca.key (created if missing; an existing CA is never overwritten).
        #[arg(long)]
        out: PathBuf,
    },
    /// Sign an org's CSR with the federation CA; writes the certificate and, beside it, ca.pem.
    Admit {
        /// Directory of the federation CA (from `federation init`).
        #[arg(long)]
        ca: PathBuf,
        /// The org's CSR (NODE_DIR/org.csr).
        #[arg(long)]
        csr: PathBuf,
        /// Where to write the org certificate (normally NODE_DIR/org.pem).
        #[arg(long)]
        out: PathBuf,
        /// Make the org a steward (a Raft voter) instead of a member.
        #[arg(long)]
        steward: bool,
        /// Days the certificate is valid.
        #[arg(long, default_value_t = 365)]
        days: u32,
    },
    /// Propose revoking a member org (a governance proposal: it takes effect once a majority
    /// of stewards approved it). Then every node cuts the org's node off, refuses it at
    /// admission, drops its agents, records and observations, and audits the revocation.
    Revoke {
        /// The org to revoke.
        org: String,
        /// Why (kept in the registry and shown to approvers).
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Propose making a member org a steward (a Raft voter once its node has caught up).
    /// Refused if the steward count would be even or outside 3..=7, unless --force.
    Promote {
        /// The org.
        org: String,
        /// Allow an even steward count or one outside 3..=7.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Propose making a steward a plain member (its node stays on as a Raft learner). Refused if
    /// the steward count would be even or outside 3..=7, unless --force.
    Demote {
        /// The org.
        org: String,
        /// Allow an even steward count or one outside 3..=7.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Approve a pending governance proposal (same as `ossa policy approve`).
    Approve {
        /// The proposal id.
        id: u64,
        #[command(flatten)]
        client: ClientArgs,
    },
}

#[derive(Debug, Subcommand)]
enum OrgCommand {
    /// Generate the node key, a CSR binding ORG to the node's peer id, an API token and node.toml.
    Init {
        /// Org name (lowercase letters, digits and '-').
        #[arg(long)]
        name: String,
        /// The node directory to create.
        #[arg(long)]
        dir: PathBuf,
    },
    /// Replace the org's node key. Without --cert: make a new key and CSR in
    /// NODE_DIR/rotation/ for the federation admin to sign (`ossa federation admit`). With
    /// --cert: hand the new certificate to the running node, which commits the rotation through
    /// Raft, then install the new key and certificate in NODE_DIR (the old ones go to
    /// NODE_DIR/retired/). Restart the node afterwards: it comes back on the new key, re-signs
    /// its agent records and takes its old key's place in Raft. Peers honour the old key until
    /// the grace period ends and refuse it from then on.
    Rotate {
        /// The org's node directory.
        #[arg(long)]
        dir: PathBuf,
        /// The certificate the federation admin issued for the new key.
        #[arg(long)]
        cert: Option<PathBuf>,
        /// How long peers still accept the old key, in seconds (at most a week).
        #[arg(
            long,
            default_value_t = crate::api::org::DEFAULT_GRACE_MS / 1000,
            value_parser = clap::value_parser!(u64).range(0..=ossa_consensus::MAX_ROTATION_GRACE_MS / 1000)
        )]
        grace_secs: u64,
        /// Base URL of the node's API [default: the api of NODE_DIR/node.toml].
        #[arg(long, env = "OSSA_API")]
        api: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum NodeCommand {
    /// Run the node of NODE_DIR. Flags given here are saved to NODE_DIR/node.toml, so a later
    /// `ossa node run --dir NODE_DIR` restarts the node exactly as it was.
    Run(RunArgs),
}

/// Flags of `ossa node run`.
#[derive(Debug, Args, Default)]
pub struct RunArgs {
    /// The node directory (from `ossa org init`).
    #[arg(long)]
    pub dir: PathBuf,
    /// Multiaddr to listen on for other nodes, e.g. /ip4/0.0.0.0/tcp/7470.
    #[arg(long)]
    pub listen: Option<String>,
    /// HOST:PORT of the HTTP API (default 127.0.0.1:7480).
    #[arg(long)]
    pub api: Option<String>,
    /// Multiaddr of a node to join through (repeatable; replaces the saved list). A steward
    /// started with none founds the federation's Raft group.
    #[arg(long)]
    pub bootstrap: Vec<String>,
    /// Multiaddr other nodes should dial to reach this node, e.g. /dns4/node2/tcp/7470
    /// (repeatable; replaces the saved list). Default: the addresses the node listens on.
    #[arg(long)]
    pub advertise: Vec<String>,
}

impl RunArgs {
    /// Applies these flags to `config`.
    pub fn apply(&self, config: &mut NodeConfig) {
        if let Some(listen) = &self.listen {
            config.listen = listen.clone();
        }
        if let Some(api) = &self.api {
            config.api = api.clone();
        }
        if !self.bootstrap.is_empty() {
            config.bootstrap = self.bootstrap.clone();
        }
        if !self.advertise.is_empty() {
            config.advertise = self.advertise.clone();
        }
    }
}

#[derive(Debug, Subcommand)]
enum TestnetCommand {
    /// Create a CA and N orgs, start N nodes on loopback and wait until all are ready. On a
    /// directory that holds a testnet, restart its stopped nodes as they were instead.
    Up {
        /// Number of nodes.
        #[arg(long, default_value_t = 3)]
        nodes: usize,
        /// Number of stewards (Raft voters) among them; the rest are members (default: min(N, 3)).
        #[arg(long)]
        stewards: Option<usize>,
        /// Tenants to seed once the federation is up (tenant-0, tenant-1, ... spread over the orgs),
        /// each with a Cedar policy set and one registered agent.
        #[arg(long, default_value_t = 0)]
        tenants: usize,
        /// Directory for the testnet (CA, node directories, testnet.json).
        #[arg(long, default_value = "testnet")]
        dir: PathBuf,
        /// Return once the nodes are ready, leaving them running (stop with `testnet down`).
        #[arg(long)]
        detach: bool,
    },
    /// Show the nodes of a testnet and whether they are up.
    Status {
        /// Directory of the testnet.
        #[arg(long, default_value = "testnet")]
        dir: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Stop every node of a testnet (by the pids in testnet.json).
    Down {
        /// Directory of the testnet.
        #[arg(long, default_value = "testnet")]
        dir: PathBuf,
    },
    /// Put faults on a running testnet while clients write, heal it, and check it: `kill -9`
    /// then restart, SIGSTOP then SIGCONT, or a partition that cuts a node off (an
    /// admission-level block list on both sides), one node at a time, drawn from --seed. After
    /// each fault it times how long the node takes to be ready and caught up by itself, and
    /// prints per fault class how many recovered so. Writes the history, the faults and the
    /// verdict to DIR/chaos.json; exits non-zero on any violation.
    Chaos {
        /// Directory of the testnet.
        #[arg(long, default_value = "testnet")]
        dir: PathBuf,
        /// Seed of the fault schedule and the clients.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Number of faults.
        #[arg(long, default_value_t = 4)]
        faults: usize,
        /// Length of the run in seconds.
        #[arg(long, default_value_t = 30)]
        seconds: u64,
        /// Concurrent writing clients.
        #[arg(long, default_value_t = 4)]
        clients: usize,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check a testnet: no acknowledged write of the last chaos run lost, every node on the same
    /// tenants and Raft-applied audit entries, at most one leader per term, every audit log
    /// valid. Exits non-zero on any violation.
    Check {
        /// Directory of the testnet.
        #[arg(long, default_value = "testnet")]
        dir: PathBuf,
        /// Print the verdict as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Flags shared by every client command.
#[derive(Debug, Args, Clone)]
pub struct ClientArgs {
    /// Base URL of the node's API [default: $OSSA_API, else the api of --dir's node.toml,
    /// else http://127.0.0.1:7480].
    #[arg(long, env = "OSSA_API")]
    pub api: Option<String>,
    /// Bearer token [default: $OSSA_TOKEN, else --dir's api.token].
    #[arg(long, env = "OSSA_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Node directory to take the API address and token from.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
enum TenantCommand {
    /// Create a tenant owned by the node's org.
    Create {
        /// Tenant name.
        name: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// List tenants.
    List(ClientArgs),
}

fn exit_for(verdict: &crate::chaos::checker::Verdict) -> ExitCode {
    if verdict.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Prints a checker verdict (or the whole chaos report as JSON).
fn print_verdict(
    verdict: &crate::chaos::checker::Verdict,
    json_report: Option<&crate::chaos::ChaosReport>,
) -> anyhow::Result<ExitCode> {
    if let Some(report) = json_report {
        out!("{}", serde_json::to_string_pretty(report)?);
        return Ok(exit_for(verdict));
    }
    if verdict.ok() {
        out!(
            "ok: {} acknowledged writes on all {} nodes; nodes agree; one leader per term; audit logs verify",
            verdict.acknowledged,
            verdict.nodes
        );
    } else {
        out!("FAILED: {} violation(s)", verdict.violations.len());
        for violation in &verdict.violations {
            out!("  {}", serde_json::to_string(violation)?);
        }
    }
    Ok(exit_for(verdict))
}

fn print_bench(report: &crate::bench::BenchReport, json: bool) -> anyhow::Result<ExitCode> {
    if json {
        out!("{}", serde_json::to_string(report)?);
    } else {
        out!("bench {}: {}", report.bench, report.setup);
        out!(
            "  {} ops, {:.0}/s, p50 {:.1} us, p99 {:.1} us, max {:.1} us (goal: {})",
            report.operations,
            report.rate_per_s,
            report.p50_us,
            report.p99_us,
            report.max_us,
            report.goal
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes one line to stdout; exits quietly if the reader has gone away.
pub(crate) fn write_line(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if let Err(err) = stdout.write_fmt(args).and_then(|()| stdout.write_all(b"\n")) {
        if err.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
    }
}

/// Parses the command line and runs the command.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let telemetry =
        crate::telemetry::init(matches!(cli.command, Command::Node(_) | Command::Testnet(TestnetCommand::Up { .. })));
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let code = match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    };
    telemetry.shutdown();
    code
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Federation(FederationCommand::Init { name, out }) => admin::federation_init(&name, &out),
        Command::Federation(FederationCommand::Admit { ca, csr, out, steward, days }) => {
            admin::federation_admit(&ca, &csr, &out, steward, days)
        }
        Command::Federation(FederationCommand::Revoke { org, reason, client }) => {
            client::federation_revoke(&client, &org, &reason).await
        }
        Command::Federation(FederationCommand::Approve { id, client }) => client::policy_approve(&client, id).await,
        Command::Federation(FederationCommand::Promote { org, force, client }) => {
            client::federation_set_role(&client, &org, "steward", force).await
        }
        Command::Federation(FederationCommand::Demote { org, force, client }) => {
            client::federation_set_role(&client, &org, "member", force).await
        }
        Command::Org(OrgCommand::Init { name, dir }) => admin::org_init(&name, &NodeDir::new(dir)),
        Command::Org(OrgCommand::Rotate { dir, cert: None, .. }) => rotate::prepare(&NodeDir::new(dir)),
        Command::Org(OrgCommand::Rotate { dir, cert: Some(cert), grace_secs, api, json }) => {
            let client = ClientArgs { api, token: None, dir: Some(dir.clone()), json };
            rotate::finish(&NodeDir::new(dir), &cert, grace_secs, &client).await
        }
        Command::Node(NodeCommand::Run(args)) => {
            let dir = NodeDir::new(args.dir.clone());
            let mut config = NodeConfig::load(&dir.config())?;
            args.apply(&mut config);
            config.save(&dir.config())?;
            crate::daemon::run(crate::daemon::RunOptions { dir, config }).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Testnet(TestnetCommand::Up { nodes, stewards, tenants, dir, detach }) => {
            let options =
                crate::launch::UpOptions { nodes, stewards: stewards.unwrap_or(nodes.min(3)), tenants, dir, detach };
            crate::launch::up(options).await
        }
        Command::Testnet(TestnetCommand::Status { dir, json }) => crate::launch::status(&dir, json).await,
        Command::Testnet(TestnetCommand::Chaos { dir, seed, faults, seconds, clients, json }) => {
            if seconds == 0 || clients == 0 {
                anyhow::bail!("--seconds and --clients must be at least 1");
            }
            let options =
                crate::chaos::ChaosOptions { seed, faults, duration: std::time::Duration::from_secs(seconds), clients };
            let progress = if json { crate::launch::Progress::Stderr } else { crate::launch::Progress::Stdout };
            let report = crate::chaos::chaos(&dir, options, progress).await?;
            print_verdict(&report.verdict, json.then_some(&report))
        }
        Command::Testnet(TestnetCommand::Check { dir, json }) => {
            let progress = if json { crate::launch::Progress::Stderr } else { crate::launch::Progress::Stdout };
            let verdict = crate::chaos::check(&dir, progress).await?;
            if json {
                out!("{}", serde_json::to_string_pretty(&verdict)?);
                return Ok(exit_for(&verdict));
            }
            print_verdict(&verdict, None)
        }
        Command::Testnet(TestnetCommand::Down { dir }) => crate::launch::down(&dir).await,
        Command::Status(args) => client::status(&args).await,
        Command::Members(args) => client::members(&args).await,
        Command::Tenant(TenantCommand::Create { name, client }) => client::tenant_create(&client, &name).await,
        Command::Tenant(TenantCommand::List(args)) => client::tenant_list(&args).await,
        Command::Agent(AgentCommand::Register { file, tenant, client }) => {
            client::agent_register(&client, &file, &tenant).await
        }
        Command::Agent(AgentCommand::Find { capability, tenant, tier, min_trust, include_quarantined, client }) => {
            let filter =
                client::AgentFilter { capability: Some(capability), tenant, tier, min_trust, include_quarantined };
            client::agent_find(&client, &filter).await
        }
        Command::Agent(AgentCommand::List { tenant, tier, include_quarantined, client }) => {
            let filter = client::AgentFilter { tenant, tier, include_quarantined, ..Default::default() };
            client::agent_find(&client, &filter).await
        }
        Command::Agent(AgentCommand::Get { id, tenant, client }) => {
            client::agent_get(&client, &id, tenant.as_deref()).await
        }
        Command::Agent(AgentCommand::Certify { id, tenant, tier, manifest, client }) => {
            client::agent_certify(&client, &id, tenant.as_deref(), &tier, &manifest).await
        }
        Command::Trust(TrustCommand::Observe { agent, outcome, latency_ms, client }) => {
            client::trust_observe(&client, &agent, &outcome, latency_ms).await
        }
        Command::Trust(TrustCommand::Show(client)) => client::trust_show(&client).await,
        Command::Agent(AgentCommand::Remove { id, tenant, client }) => {
            client::agent_remove(&client, &id, tenant.as_deref()).await
        }
        Command::Policy(PolicyCommand::Set { file, tenant, strict, client }) => {
            client::policy_set(&client, &file, &tenant, strict).await
        }
        Command::Policy(PolicyCommand::Propose { file, strict, client }) => {
            client::policy_propose(&client, &file, strict).await
        }
        Command::Policy(PolicyCommand::Approve { id, client }) => client::policy_approve(&client, id).await,
        Command::Policy(PolicyCommand::List(client)) => client::policy_list(&client).await,
        Command::Authorize(args) => {
            let context = match &args.context {
                Some(text) => {
                    serde_json::from_str(text).map_err(|e| anyhow::anyhow!("--context is not valid JSON: {e}"))?
                }
                None => crate::authz::ContextBody::default(),
            };
            let body = crate::authz::AuthorizeBody {
                tenant: args.tenant,
                principal: args.principal,
                action: args.action,
                resource: args.resource,
                context,
            };
            client::authorize(&args.client, &body).await
        }
        Command::Audit(command) => audit::run(command).await,
        Command::Bench(BenchCommand::Query { records, queries, json }) => {
            eprintln!("building a directory of {records} agents ...");
            let report = tokio::task::spawn_blocking(move || crate::bench::query(records, queries)).await??;
            print_bench(&report, json)
        }
        Command::Bench(BenchCommand::Commit { clients, seconds, json }) => {
            for report in crate::bench::commit(crate::bench::CommitOptions { clients, seconds }).await? {
                print_bench(&report, json)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench(BenchCommand::Failover { trials, json }) => {
            let report = crate::bench::failover(crate::bench::FailoverOptions { trials }).await?;
            print_bench(&report, json)
        }
        Command::Bench(BenchCommand::Audit {
            entries,
            batch,
            writers,
            checkpoint_entries,
            checkpoint_interval_ms,
            verify_entries,
            verify_runs,
            dir,
            json,
        }) => {
            let options = crate::bench::AuditOptions {
                entries,
                batch: usize::try_from(batch)?,
                writers: usize::try_from(writers)?,
                checkpoint_entries,
                checkpoint_interval: std::time::Duration::from_millis(checkpoint_interval_ms),
                verify_entries,
                verify_runs: usize::try_from(verify_runs)?,
                dir,
            };
            for report in crate::bench::audit(options).await? {
                print_bench(&report, json)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench(BenchCommand::Trust { orgs, observations, runs, seed, json }) => {
            let options = crate::bench::TrustOptions { orgs, observations, runs: usize::try_from(runs)?, seed };
            for report in crate::bench::trust(options).await? {
                print_bench(&report, json)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench(BenchCommand::Gossip { nodes, trials, seed, json }) => {
            let nodes = nodes.into_iter().map(usize::try_from).collect::<Result<_, _>>()?;
            let options = crate::bench::GossipOptions { nodes, trials: usize::try_from(trials)?, seed };
            for report in crate::bench::gossip(options).await? {
                print_bench(&report, json)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench(BenchCommand::Authorize { tenants, requests, json }) => {
            let report = crate::bench::authorize(crate::bench::AuthorizeOptions { tenants, requests }).await?;
            print_bench(&report, json)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_flags_override_and_persist_in_the_config() {
        let cli = Cli::try_parse_from([
            "ossa",
            "node",
            "run",
            "--dir",
            "n",
            "--listen",
            "/ip4/127.0.0.1/tcp/9",
            "--bootstrap",
            "/ip4/127.0.0.1/tcp/1",
        ])
        .expect("parse");
        let Command::Node(NodeCommand::Run(args)) = cli.command else { panic!("wrong command") };
        let mut config = NodeConfig::default();
        args.apply(&mut config);
        assert_eq!(config.listen, "/ip4/127.0.0.1/tcp/9");
        assert_eq!(config.api, crate::config::DEFAULT_API, "unset flags keep the saved value");
        assert_eq!(config.bootstrap, vec!["/ip4/127.0.0.1/tcp/1".to_owned()]);
        // No flags: the saved config is kept as it is.
        let before = config.clone();
        RunArgs { dir: "n".into(), ..Default::default() }.apply(&mut config);
        assert_eq!(config, before);
    }

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
