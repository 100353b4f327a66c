//! `ossa node run`: wires the node's parts together and runs until stopped.
//!
//! Start-up order: load the node directory (key, certificate, CA, token, config) → open sled →
//! open the audit log and the agent directory → start the swarm (listening, admission, gossip)
//! → start Raft with the libp2p transport → start the inbound router, the join loop,
//! readiness tracking and agent maintenance → serve the HTTP API. SIGINT or
//! SIGTERM shuts Raft down, flushes sled and exits.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use libp2p::{identity, Multiaddr, PeerId};
use openraft::RaftMetrics;
use ossa_audit::{AuditEntry, AuditError, AuditLog, EntryDraft, SledAuditStore};
use ossa_consensus::{Consensus, MemberNode, NodeId, RaftTimings, SnapshotPolicy};
use ossa_trust::{parse_org_cert_pem, pem_to_der, NodeKey, Role};

use crate::admission::{node_id_of, Admission};
use crate::agents::directory::Directory;
use crate::agents::service::{agents_topic, certifications_topic, AgentService};
use crate::authz::PolicyEngine;
use crate::checkpoints::OwnCheckpoints;
use crate::config::{NodeConfig, NodeDir};
use crate::metrics::Metrics;
use crate::raft_glue::Libp2pTransport;
use crate::router::run_router;
use crate::swarm::{self, NetworkClient, SwarmSettings};

/// Everything a running node's tasks share.
pub struct NodeContext {
    /// This node's org.
    pub org: String,
    /// The federation it belongs to.
    pub federation: String,
    /// Steward or member, from its certificate.
    pub role: Role,
    /// libp2p peer id.
    pub peer_id: PeerId,
    /// Raft node id (derived from the peer id).
    pub node_id: NodeId,
    /// Raft and the applied registry.
    pub consensus: Consensus,
    /// The swarm.
    pub net: NetworkClient,
    /// This node's audit log.
    pub audit: Arc<AuditLog<SledAuditStore>>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Bearer token required by mutating API calls.
    pub api_token: String,
    /// Set by [`crate::readiness::run_readiness`].
    pub ready: AtomicBool,
    /// The agent directory and this org's agents.
    pub agents: AgentService,
    /// The org's node key (signs agent records, certifications and audit checkpoints).
    pub key: Arc<NodeKey>,
    /// This node's recent signed audit checkpoints, with witness cosignatures.
    pub checkpoints: OwnCheckpoints,
    /// Witnessing of the other orgs' audit checkpoints.
    pub witness: crate::witness::Witness,
    /// Trust scores from signed observations, and the circuit breaker.
    pub trust: crate::trust_scores::TrustService,
    /// Cedar authorization against the replicated policy sets.
    pub policies: PolicyEngine,
    /// Addresses other nodes should dial (`--advertise`); empty means the listen addresses.
    pub advertise: Vec<Multiaddr>,
    /// When this node's org certificate expires (Unix seconds).
    pub cert_expires_at: u64,
    /// The federation CA certificate (DER), to check certificates the operator hands in.
    pub ca_der: Vec<u8>,
    /// Writes this node may have in flight to the leader at once (see [`crate::writes`]).
    pub forward_slots: tokio::sync::Semaphore,
    /// Whether `PUT /v1/testing/partition` is served (`[testing] fault_injection`).
    pub fault_injection: bool,
}

impl NodeContext {
    /// The current leader's id and address, if known.
    pub fn leader_node(&self) -> Option<(NodeId, MemberNode)> {
        leader_in(&self.consensus.raft.metrics().borrow())
    }

    /// Whether the node is joined and caught up with the leader (see [`crate::readiness`]).
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    /// Appends `draft` to the audit log from async code (see [`NodeContext::audit_blocking`]).
    pub async fn audit_append(&self, draft: EntryDraft) -> Result<AuditEntry, AuditError> {
        self.audit_blocking(move |audit| audit.append(draft)).await
    }

    /// Runs `work` on the audit log from async code, on tokio's blocking pool.
    ///
    /// The log's calls can block on sled: an append that fills the tail writes it (a thousand
    /// entries in one write), a read that reaches into the tail writes it first, a flush
    /// fsyncs, and other callers wait on the log's lock meanwhile. Run there, that never stalls
    /// a runtime thread. A panic in `work` comes back as [`AuditError::Storage`].
    pub async fn audit_blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&AuditLog<SledAuditStore>) -> Result<T, AuditError> + Send + 'static,
    ) -> Result<T, AuditError> {
        let audit = self.audit.clone();
        tokio::task::spawn_blocking(move || work(&audit)).await.map_err(AuditError::storage)?
    }
}

/// The leader named by one Raft metrics snapshot, with its address: read together with the
/// snapshot's term, it is that term's leader.
pub fn leader_in(metrics: &RaftMetrics<NodeId, MemberNode>) -> Option<(NodeId, MemberNode)> {
    let leader = metrics.current_leader?;
    let node = metrics.membership_config.membership().get_node(&leader)?.clone();
    Some((leader, node))
}

/// What `ossa node run` needs, after command-line overrides.
pub struct RunOptions {
    /// The node directory.
    pub dir: NodeDir,
    /// The effective config (already saved to `node.toml`).
    pub config: NodeConfig,
}

/// Runs the node until SIGINT or SIGTERM.
pub async fn run(options: RunOptions) -> anyhow::Result<()> {
    let RunOptions { dir, config } = options;
    let key_pem = read(&dir.key())?;
    let key = Arc::new(NodeKey::from_pkcs8_pem(&key_pem).with_context(|| format!("{}", dir.key().display()))?);
    let keypair = identity::Keypair::ed25519_from_bytes(key.secret_bytes()).context("node key")?;
    let peer_id = keypair.public().to_peer_id();
    let cert_pem = read(&dir.cert())
        .context("no org certificate: have the federation admin run `ossa federation admit` for this node")?;
    let cert = parse_org_cert_pem(&cert_pem).with_context(|| format!("{}", dir.cert().display()))?;
    let cert_der = pem_to_der(&cert_pem, "CERTIFICATE")?;
    let ca_der =
        pem_to_der(&read(&dir.ca_cert())?, "CERTIFICATE").with_context(|| format!("{}", dir.ca_cert().display()))?;
    Admission::new(ca_der.clone()).check(&peer_id, &cert_der).with_context(|| {
        format!("{} is not a valid certificate of the federation in {}", dir.cert().display(), dir.ca_cert().display())
    })?;
    let api_token = read(&dir.api_token())?.trim().to_owned();
    if api_token.is_empty() {
        bail!("{} is empty", dir.api_token().display());
    }
    let listen: Multiaddr = config.listen.parse().with_context(|| format!("listen address {:?}", config.listen))?;
    let bootstrap = parse_multiaddrs(&config.bootstrap, "bootstrap")?;
    let advertise = parse_multiaddrs(&config.advertise, "advertise")?;
    let api_addr: SocketAddr = config.api.parse().with_context(|| format!("API address {:?}", config.api))?;

    let db = ossa_audit::open_sled(&dir.data()).with_context(|| format!("cannot open {}", dir.data().display()))?;
    let audit = Arc::new(AuditLog::open(SledAuditStore::open(&db)?)?);
    let metrics = Arc::new(Metrics::default());
    let (net, inbound) = swarm::spawn(
        SwarmSettings {
            keypair,
            listen,
            bootstrap,
            cert_der,
            admission: Admission::new(ca_der.clone()),
            admission_timeout: Duration::from_secs(config.admission.timeout_secs),
            ban: Duration::from_secs(config.admission.ban_secs),
            topics: vec![
                agents_topic(&cert.federation),
                certifications_topic(&cert.federation),
                crate::witness::checkpoints_topic(&cert.federation),
                crate::trust_scores::observations_topic(&cert.federation),
            ],
        },
        metrics.clone(),
    )
    .map_err(|e| anyhow::anyhow!("cannot start the network: {e}"))?;
    let node_id = node_id_of(&peer_id);
    let timings = RaftTimings {
        heartbeat_ms: config.raft.heartbeat_ms,
        election_min_ms: config.raft.election_min_ms,
        election_max_ms: config.raft.election_max_ms,
    };
    let snapshots = SnapshotPolicy {
        every_entries: config.raft.snapshot_every_entries,
        keep_entries: config.raft.snapshot_keep_entries,
    };
    let transport = Libp2pTransport::new(net.clone());
    let consensus =
        Consensus::start(node_id, &cert.federation, timings, snapshots, &db, audit.clone(), transport).await?;
    let trust = crate::trust_scores::TrustService::open(&db, &cert.federation, key.clone(), config.trust.clone())?;
    let node = Arc::new(NodeContext {
        org: cert.org.clone(),
        federation: cert.federation.clone(),
        role: cert.role,
        peer_id,
        node_id,
        consensus,
        net,
        audit,
        metrics,
        api_token,
        ready: AtomicBool::new(false),
        agents: AgentService::new(Directory::open(&db)?, &cert.federation, key.clone()),
        key,
        checkpoints: OwnCheckpoints::default(),
        witness: crate::witness::Witness::open(&db, &cert.federation)?,
        trust,
        policies: PolicyEngine::default(),
        advertise,
        cert_expires_at: cert.not_after,
        ca_der,
        forward_slots: tokio::sync::Semaphore::new(crate::writes::MAX_FORWARDS_IN_FLIGHT),
        fault_injection: config.testing.fault_injection,
    });
    tracing::info!(org = %node.org, %peer_id, node_id, role = %node.role, federation = %node.federation, "node starting");
    tokio::spawn(run_router(node.clone(), inbound));
    tokio::spawn(crate::membership::run_join_loop(node.clone(), config.bootstrap.is_empty()));
    tokio::spawn(crate::readiness::run_readiness(node.clone()));
    tokio::spawn(crate::agents::service::run_maintenance(node.clone()));
    tokio::spawn(crate::agents::sync::run_sync(node.clone()));
    tokio::spawn(crate::agents::service::run_certifier_check(node.clone()));
    tokio::spawn(crate::trust_scores::run_scoring(node.clone()));
    tokio::spawn(crate::revocation::run_enforcer(node.clone()));
    tokio::spawn(crate::key_rotation::run_retirement(node.clone()));
    tokio::spawn(crate::voters::run_reconciler(node.clone()));
    tokio::spawn(crate::expiry::run_expiry_warnings(node.clone()));
    tokio::spawn(crate::checkpoints::run_checkpointer(
        node.clone(),
        config.audit.checkpoint_entries,
        Duration::from_millis(config.audit.checkpoint_interval_ms),
    ));

    let listener =
        tokio::net::TcpListener::bind(api_addr).await.with_context(|| format!("cannot listen on {api_addr}"))?;
    tracing::info!(api = %api_addr, "HTTP API listening");
    axum::serve(listener, crate::api::router(node.clone())).with_graceful_shutdown(shutdown_signal()).await?;

    tracing::info!("shutting down");
    if let Err(err) = node.consensus.raft.shutdown().await {
        tracing::warn!(%err, "raft did not shut down cleanly");
    }
    node.audit_blocking(|audit| audit.flush()).await.context("cannot write the audit log")?;
    db.flush_async().await?;
    Ok(())
}

fn parse_multiaddrs(addrs: &[String], what: &str) -> anyhow::Result<Vec<Multiaddr>> {
    addrs.iter().map(|a| a.parse::<Multiaddr>().with_context(|| format!("{what} address {a:?}"))).collect()
}

fn read(path: &std::path::Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = interrupt => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}
