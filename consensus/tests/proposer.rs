//! The proposer against a real single-node Raft group: concurrent writes share entries, each
//! caller gets its own proposal's answer, every proposal is audited once at its entry's index,
//! and a restart re-applies the batched log to the same registry.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use ossa_audit::{AuditLog, SledAuditStore};
use ossa_consensus::{
    Committed, Consensus, MemberNode, MemberRole, NodeId, Proposal, RaftRpc, RaftRpcReply, RaftTimings, RaftTransport,
    RegistryCommand, RegistryResponse, SnapshotPolicy, TransportError,
};
use tokio::task::JoinSet;

const NODE: NodeId = 1;
const WRITERS: usize = 200;

/// A single node sends no RPCs; any attempt is a test failure surfaced as an error.
#[derive(Clone)]
struct Alone;

impl RaftTransport for Alone {
    async fn call(
        &self,
        target: NodeId,
        _node: &MemberNode,
        _rpc: RaftRpc,
        _timeout: Duration,
    ) -> Result<RaftRpcReply, TransportError> {
        Err(TransportError::Unreachable(format!("a single node has no peer {target}")))
    }
}

struct Node {
    consensus: Consensus,
    audit: Arc<AuditLog<SledAuditStore>>,
}

async fn start(dir: &Path) -> anyhow::Result<Node> {
    let db = ossa_audit::open_sled(&dir.join("db"))?;
    let audit = Arc::new(AuditLog::open(SledAuditStore::open(&db)?)?);
    let consensus =
        Consensus::start(NODE, "test", RaftTimings::default(), SnapshotPolicy::default(), &db, audit.clone(), Alone)
            .await?;
    Ok(Node { consensus, audit })
}

async fn wait_for_leadership(consensus: &Consensus) -> anyhow::Result<()> {
    let wait = consensus.raft.wait(Some(Duration::from_secs(10)));
    wait.current_leader(NODE, "single node leads").await.context("no leader")?;
    Ok(())
}

fn propose(by: &str, command: RegistryCommand) -> Proposal {
    Proposal { by: by.into(), command }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_share_entries_and_each_gets_its_own_answer() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let node = start(dir.path()).await?;
    let member = MemberNode { org: "acme".into(), peer_id: "p".into(), addrs: vec![] };
    node.consensus.raft.initialize(BTreeMap::from([(NODE, member)])).await?;
    wait_for_leadership(&node.consensus).await?;
    let join = RegistryCommand::AddMember {
        org: "acme".into(),
        peer_id: "p".into(),
        node_id: NODE,
        role: MemberRole::Steward,
    };
    node.consensus.proposer.propose(propose("acme", join)).await?;

    let mut writers = JoinSet::new();
    for i in 0..WRITERS {
        let proposer = node.consensus.proposer.clone();
        writers.spawn(async move {
            let name = format!("t{i}");
            let answer = proposer.propose(propose("acme", RegistryCommand::CreateTenant { name: name.clone() })).await;
            (name, answer)
        });
    }
    let mut indexes = BTreeSet::new();
    while let Some(joined) = writers.join_next().await {
        let (name, answer) = joined?;
        let Committed { response, log_index } = answer?;
        match response {
            RegistryResponse::TenantCreated { tenant } => assert_eq!(tenant.name, name, "another caller's answer"),
            other => panic!("{name}: {other:?}"),
        }
        indexes.insert(log_index);
    }
    assert!(indexes.len() < WRITERS, "{WRITERS} concurrent writes took {} entries: none shared", indexes.len());

    let registry = node.consensus.registry.read().registry.clone();
    assert_eq!(registry.tenants.len(), WRITERS);
    for tenant in registry.tenants.values() {
        assert!(indexes.contains(&tenant.created_at), "{tenant:?} was created at an index no caller was told");
    }
    // Every proposal has its own audit entry at its entry's index; the log verifies.
    let mut export = Vec::new();
    node.audit.export("proposer-test", &mut export)?;
    let report = ossa_audit::verify_export(export.as_slice())?;
    let created = String::from_utf8(export)?.lines().filter(|l| l.contains("\"registry.create_tenant\"")).count();
    assert_eq!(created, WRITERS, "audit entries of tenant creations ({} entries in all)", report.entries);

    // Restarted without its registry (as after a crash between the audit write and the registry
    // write), the node re-applies its batched log: the same registry, nothing audited twice.
    let audited = node.audit.len();
    node.consensus.raft.shutdown().await?;
    drop(node);
    {
        let db = ossa_audit::open_sled(&dir.path().join("db"))?;
        assert!(db.drop_tree("registry")?, "the state machine keeps the registry in the tree \"registry\"");
        db.flush()?;
    }
    let node = start(dir.path()).await?;
    wait_for_leadership(&node.consensus).await?;
    let after = node.consensus.registry.read().registry.clone();
    assert_eq!(after, registry);
    assert_eq!(node.audit.len(), audited, "re-applied entries were audited again");
    Ok(())
}
