//! Snapshots built while entries are being applied.
//!
//! openraft builds a snapshot in a task of its own, while the state machine goes on applying.
//! A snapshot must hold exactly the entries up to its `last_log_id`: one that held the changes
//! of a later entry would have them applied twice by the node that installs it. Here one task
//! applies entries that each create one tenant, in batches of several entries, while another
//! builds snapshots without pause; every snapshot must hold one tenant per entry it covers.

use std::collections::BTreeSet;
use std::sync::Arc;

use anyhow::{ensure, Context};
use openraft::storage::RaftStateMachine;
use openraft::testing::log_id;
use openraft::{EntryPayload, Membership, RaftSnapshotBuilder};
use ossa_audit::{AuditLog, SledAuditStore};
use ossa_consensus::{
    AppliedState, Entry, MemberRole, NodeId, Proposal, ProposalBatch, RegistryCommand, RegistryStateMachine,
};

const LEADER: NodeId = 0;
const TERM: u64 = 1;
/// Index of the entry that admits the org creating the tenants.
const MEMBER_INDEX: u64 = 2;
/// Entries after [`MEMBER_INDEX`], one tenant each.
const TENANT_ENTRIES: u64 = 1500;
/// Entries per `apply` call: openraft applies whatever has committed, often several entries.
const ENTRIES_PER_APPLY: usize = 8;

#[derive(serde::Deserialize)]
struct SnapshotBody {
    state: AppliedState,
}

fn entry(index: u64, command: RegistryCommand) -> Entry {
    let proposal = Proposal { by: "acme".to_owned(), command };
    Entry { log_id: log_id(TERM, LEADER, index), payload: EntryPayload::Normal(ProposalBatch(vec![proposal])) }
}

fn entries() -> Vec<Entry> {
    let voters: BTreeSet<NodeId> = [LEADER].into();
    let mut entries = vec![Entry {
        log_id: log_id(TERM, LEADER, 1),
        payload: EntryPayload::Membership(Membership::new(vec![voters], None)),
    }];
    let join = RegistryCommand::AddMember {
        org: "acme".to_owned(),
        peer_id: "peer-acme".to_owned(),
        node_id: LEADER,
        role: MemberRole::Steward,
    };
    entries.push(entry(MEMBER_INDEX, join));
    for index in MEMBER_INDEX + 1..=MEMBER_INDEX + TENANT_ENTRIES {
        entries.push(entry(index, RegistryCommand::CreateTenant { name: format!("tenant{index}") }));
    }
    entries
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_built_during_apply_holds_exactly_the_entries_it_names() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let db = ossa_audit::open_sled(&dir.path().join("db"))?;
    let audit = Arc::new(AuditLog::open(SledAuditStore::open(&db)?)?);
    let mut sm = RegistryStateMachine::open(&db, audit)?;
    let mut builder = sm.get_snapshot_builder().await;
    let applier = tokio::spawn(async move {
        let mut entries = entries();
        while !entries.is_empty() {
            let rest = entries.split_off(entries.len().min(ENTRIES_PER_APPLY));
            sm.apply(std::mem::replace(&mut entries, rest)).await?;
            tokio::task::yield_now().await;
        }
        anyhow::Ok(sm.reader().read().registry.tenants.len())
    });

    let mut snapshots = 0;
    loop {
        let done = applier.is_finished();
        let snapshot = builder.build_snapshot().await?;
        let body: SnapshotBody = serde_json::from_slice(snapshot.snapshot.get_ref()).context("snapshot body")?;
        let covered = snapshot.meta.last_log_id.map_or(0, |id| id.index);
        let tenants = covered.saturating_sub(MEMBER_INDEX);
        ensure!(
            body.state.registry.tenants.len() as u64 == tenants,
            "snapshot {snapshots} names entries up to {covered} ({tenants} tenants) but holds {} tenants",
            body.state.registry.tenants.len()
        );
        ensure!(body.state.last_applied == snapshot.meta.last_log_id, "the body's last_applied is the meta's");
        snapshots += 1;
        if done {
            ensure!(covered == MEMBER_INDEX + TENANT_ENTRIES, "the last snapshot covers every entry");
            break;
        }
    }
    let tenants = applier.await??;
    ensure!(tenants as u64 == TENANT_ENTRIES, "every entry created its tenant");
    ensure!(snapshots > 1, "snapshots were built while entries were applied");
    Ok(())
}
