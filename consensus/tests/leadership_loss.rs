//! The proposer when its node loses the leadership with a batch in flight: three real Raft
//! nodes in one process, joined by an in-memory transport that can cut links.
//!
//! The leader is cut off from both followers, then given a write (which it appends but cannot
//! commit) and two more that queue behind it. The followers elect a new leader; the link from
//! the new leader back to the old one is restored, so the old leader learns of it. All three
//! writes must then be refused, naming the new leader, instead of waiting for the stuck batch;
//! none of them may reach any registry, and a write through the new leader commits everywhere.
//!
//! Here the stuck batch is answered by openraft itself: the new leader's first append
//! conflicts with the old leader's unreplicated entry, which is truncated, and its waiting
//! `client_write` is told to go to the new leader. The proposer's own watch on the leadership
//! (it stops waiting once another leader is known) gives the same answers; this test checks
//! what callers see, whichever of the two comes first.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context};
use ossa_audit::{AuditLog, SledAuditStore};
use ossa_consensus::{
    serve, Committed, Consensus, MemberNode, MemberRole, NodeId, Proposal, ProposeError, Raft, RaftRpc, RaftRpcReply,
    RaftTimings, RaftTransport, RegistryCommand, RegistryResponse, SnapshotPolicy, TransportError,
};

const NODES: [NodeId; 3] = [1, 2, 3];
/// How long any awaited state may take; far above the election timeouts (150-300 ms).
const PATIENCE: Duration = Duration::from_secs(20);

/// The nodes of the test and which directed links are cut.
#[derive(Default)]
struct Links {
    rafts: Mutex<BTreeMap<NodeId, Raft>>,
    cut: Mutex<BTreeSet<(NodeId, NodeId)>>,
}

impl Links {
    fn is_cut(&self, from: NodeId, to: NodeId) -> bool {
        self.cut.lock().expect("links").contains(&(from, to))
    }

    /// Cuts `node` off from every other node, both ways.
    fn isolate(&self, node: NodeId) {
        let mut cut = self.cut.lock().expect("links");
        for other in NODES.into_iter().filter(|&other| other != node) {
            cut.insert((node, other));
            cut.insert((other, node));
        }
    }

    fn restore(&self, from: NodeId, to: NodeId) {
        self.cut.lock().expect("links").remove(&(from, to));
    }
}

/// One node's end of the in-memory network: an RPC over a cut link is unreachable; otherwise
/// it is served by the target's Raft, as the node's libp2p transport would.
#[derive(Clone)]
struct LocalTransport {
    me: NodeId,
    links: Arc<Links>,
}

impl RaftTransport for LocalTransport {
    async fn call(
        &self,
        target: NodeId,
        _node: &MemberNode,
        rpc: RaftRpc,
        timeout: Duration,
    ) -> Result<RaftRpcReply, TransportError> {
        if self.links.is_cut(self.me, target) {
            return Err(TransportError::Unreachable(format!("link {} -> {target} is cut", self.me)));
        }
        let raft = self.links.rafts.lock().expect("links").get(&target).cloned();
        let raft = raft.ok_or_else(|| TransportError::Unreachable(format!("node {target} is not running")))?;
        tokio::time::timeout(timeout, serve(&raft, rpc)).await.map_err(|_| TransportError::Timeout(timeout))
    }
}

fn member(id: NodeId) -> MemberNode {
    MemberNode { org: format!("org{id}"), peer_id: format!("peer{id}"), addrs: vec![] }
}

async fn start(dir: &Path, id: NodeId, links: &Arc<Links>) -> anyhow::Result<Consensus> {
    let db = ossa_audit::open_sled(&dir.join(format!("node{id}")))?;
    let audit = Arc::new(AuditLog::open(SledAuditStore::open(&db)?)?);
    let transport = LocalTransport { me: id, links: links.clone() };
    let consensus =
        Consensus::start(id, "test", RaftTimings::default(), SnapshotPolicy::default(), &db, audit, transport).await?;
    links.rafts.lock().expect("links").insert(id, consensus.raft.clone());
    Ok(consensus)
}

/// Waits until the nodes in `which` all name the same leader, one of them, and returns it.
async fn agreed_leader(nodes: &BTreeMap<NodeId, Consensus>, which: &[NodeId]) -> anyhow::Result<NodeId> {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let mut named = BTreeSet::new();
        for id in which {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let metrics = nodes[id]
                .raft
                .wait(Some(left))
                .metrics(|m| m.current_leader.is_some_and(|l| which.contains(&l)), "a leader among them")
                .await
                .with_context(|| format!("node {id} names no leader among {which:?}"))?;
            named.extend(metrics.current_leader);
        }
        if let [leader] = named.into_iter().collect::<Vec<_>>()[..] {
            return Ok(leader);
        }
        // They named different leaders while an election settled: ask again.
        if tokio::time::Instant::now() >= deadline {
            bail!("nodes {which:?} did not agree on a leader");
        }
    }
}

fn create_tenant(by: &str, name: &str) -> Proposal {
    Proposal { by: by.into(), command: RegistryCommand::CreateTenant { name: name.into() } }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_behind_a_stuck_batch_are_refused_with_the_new_leader() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let links = Arc::new(Links::default());
    let mut nodes = BTreeMap::new();
    for id in NODES {
        nodes.insert(id, start(dir.path(), id, &links).await?);
    }
    nodes[&1].raft.initialize(NODES.into_iter().map(|id| (id, member(id))).collect::<BTreeMap<_, _>>()).await?;
    let old = agreed_leader(&nodes, &NODES).await?;
    let join =
        RegistryCommand::AddMember { org: "acme".into(), peer_id: "p".into(), node_id: old, role: MemberRole::Steward };
    nodes[&old].proposer.propose(Proposal { by: "acme".into(), command: join }).await?;

    // The old leader, cut off, appends the first write but cannot commit it.
    links.isolate(old);
    let appended_before = nodes[&old].raft.metrics().borrow().last_log_index.unwrap_or(0);
    let stuck = tokio::spawn({
        let proposer = nodes[&old].proposer.clone();
        async move { proposer.propose(create_tenant("acme", "stuck")).await }
    });
    nodes[&old]
        .raft
        .wait(Some(PATIENCE))
        .metrics(|m| m.last_log_index > Some(appended_before), "the cut-off leader appends the write")
        .await
        .context("the first write was not appended")?;
    // These two queue behind the batch in flight.
    let queued: Vec<_> = ["queued-a", "queued-b"]
        .into_iter()
        .map(|name| {
            let proposer = nodes[&old].proposer.clone();
            tokio::spawn(async move { proposer.propose(create_tenant("acme", name)).await })
        })
        .collect();

    let rest: Vec<NodeId> = NODES.into_iter().filter(|&id| id != old).collect();
    let new = agreed_leader(&nodes, &rest).await?;
    links.restore(new, old);

    let mut refused = vec![stuck];
    refused.extend(queued);
    for write in refused {
        let answer =
            tokio::time::timeout(PATIENCE, write).await.context("a write still waits on the stuck batch")??;
        match answer {
            Err(err @ ProposeError::Raft(_)) => {
                let forward = err.forward_to_leader().with_context(|| format!("refused without a leader: {err}"))?;
                assert_eq!(forward.leader_id, Some(new), "{err}");
            }
            other => bail!("a write through the deposed leader was answered {other:?}"),
        }
    }

    // The cluster goes on under the new leader, and none of the refused writes was applied.
    for (from, to) in [(old, new), (old, rest[0]), (old, rest[1]), (rest[0], old), (rest[1], old)] {
        links.restore(from, to);
    }
    let Committed { response, log_index } = nodes[&new].proposer.propose(create_tenant("acme", "after")).await?;
    assert!(matches!(response, RegistryResponse::TenantCreated { .. }), "{response:?}");
    for (id, node) in &nodes {
        node.raft.wait(Some(PATIENCE)).applied_index_at_least(Some(log_index), "the write after").await?;
        let registry = node.registry.read().registry.clone();
        let tenants: Vec<_> = registry.tenants.keys().cloned().collect();
        assert_eq!(tenants, ["after"], "node {id}'s tenants");
    }
    for node in nodes.values() {
        node.raft.shutdown().await?;
    }
    Ok(())
}
