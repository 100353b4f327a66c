//! Replay property test of the sled-backed registry state machine.
//!
//! For a random sequence of proposals (members joining and re-joining, tenants created by
//! members, by strangers and under invalid names, federation policies proposed and
//! approved), packed into Raft entries of random sizes
//! (as the proposer batches them) and applied through `RaftStateMachine::apply` in random
//! batches of entries:
//! (a) every response equals the one the plain in-memory `Registry::apply` gives, and every
//!     proposal has its own audit entry at its entry's Raft index;
//! (b) after dropping and reopening the sled database, the loaded state equals the state
//!     before the restart;
//! (c) re-applying the last few entries after the reopen changes neither the registry nor the
//!     audit log, and the audit log still verifies;
//! (d) after a crash that kept the audit log but lost the registry (the state machine audits
//!     an entry before it writes the registry), openraft re-applies every entry from the
//!     persisted `last_applied` on: the answers and the registry come back the same, and
//!     nothing is audited twice;
//! (e) a snapshot built by the state machine and installed into a fresh one gives the same
//!     state.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use openraft::storage::RaftStateMachine;
use openraft::testing::log_id;
use openraft::{EntryPayload, Membership, RaftSnapshotBuilder};
use ossa_audit::{verify_export, AuditLog, SledAuditStore};
use ossa_consensus::{
    AppliedState, Entry, MemberRole, NodeId, Proposal, ProposalBatch, Registry, RegistryCommand, RegistryStateMachine,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestCaseError};

/// Raft node id of the single leader that wrote every entry.
const LEADER: NodeId = 0;
/// Raft term of every entry.
const TERM: u64 = 1;

/// A state machine with its database and audit log, opened on a directory.
struct Node {
    sm: RegistryStateMachine,
    audit: Arc<AuditLog<SledAuditStore>>,
    // Dropped last: the state machine and the audit log hold clones of it.
    _db: sled::Db,
}

fn fail<E: std::fmt::Display>(context: &'static str) -> impl FnOnce(E) -> TestCaseError {
    move |e| TestCaseError::fail(format!("{context}: {e}"))
}

fn open(dir: &Path) -> Result<Node, TestCaseError> {
    let db = ossa_audit::open_sled(&dir.join("db")).map_err(fail("open sled"))?;
    let store = SledAuditStore::open(&db).map_err(fail("open audit store"))?;
    let audit = Arc::new(AuditLog::open(store).map_err(fail("open audit log"))?);
    let sm = RegistryStateMachine::open(&db, audit.clone()).map_err(fail("open state machine"))?;
    Ok(Node { sm, audit, _db: db })
}

fn membership_entry(index: u64) -> Entry {
    let voters: BTreeSet<NodeId> = [LEADER].into();
    Entry {
        log_id: log_id(TERM, LEADER, index),
        payload: EntryPayload::Membership(Membership::new(vec![voters], None)),
    }
}

fn normal_entry(index: u64, proposals: &[Proposal]) -> Entry {
    Entry { log_id: log_id(TERM, LEADER, index), payload: EntryPayload::Normal(ProposalBatch(proposals.to_vec())) }
}

/// The sled tree in which the state machine keeps the registry and `last_applied`.
const REGISTRY_TREE: &str = "registry";

/// Index of the first proposal; index 1 holds the group's membership.
const FIRST_PROPOSAL_INDEX: u64 = 2;

fn arb_proposal() -> impl Strategy<Value = Proposal> {
    let org = prop::sample::select(vec!["acme", "globex", "initech"]);
    let add_member = (org, 0..2u8, any::<bool>()).prop_map(|(org, peer, steward)| Proposal {
        by: "acme".to_owned(),
        command: RegistryCommand::AddMember {
            org: org.to_owned(),
            // A second peer id for the same org is a re-admission that replaces the member.
            peer_id: format!("peer-{org}-{peer}"),
            node_id: u64::from(peer) * 10 + org.len() as u64,
            role: if steward { MemberRole::Steward } else { MemberRole::Member },
        },
    });
    let by = prop::sample::select(vec!["acme", "globex", "initech", "stranger"]);
    let name = prop::sample::select(vec!["research", "ops", "eu.west", "team_7", "Bad Name", "", "-dash"]);
    let create_tenant = (by, name).prop_map(|(by, name)| Proposal {
        by: by.to_owned(),
        command: RegistryCommand::CreateTenant { name: name.to_owned() },
    });
    // Governance: proposals by stewards and others (refused), several of which can land in
    // one entry (the second is refused: ids are Raft indexes), and approvals of ids that may or
    // may not exist.
    let proposer = prop::sample::select(vec!["acme", "globex", "stranger"]);
    let propose_policy = proposer.prop_map(|by| Proposal {
        by: by.to_owned(),
        command: RegistryCommand::ProposeFederationPolicy { text: FORBID_INVOKE.to_owned(), at_ms: 1_000 },
    });
    let approver = prop::sample::select(vec!["acme", "globex", "initech"]);
    let approve = (approver, FIRST_PROPOSAL_INDEX..FIRST_PROPOSAL_INDEX + 20).prop_map(|(by, id)| Proposal {
        by: by.to_owned(),
        command: RegistryCommand::ApproveProposal { id, at_ms: 2_000 },
    });
    prop_oneof![3 => add_member, 3 => create_tenant, 1 => propose_policy, 1 => approve]
}

/// A valid federation policy set.
const FORBID_INVOKE: &str = r#"@id("no-invoke") forbid(principal, action == Ossa::Action::"invoke", resource);"#;

/// Fixed seed so a failure reproduces on every machine; 32 cases keep the sled round trips
/// (each case opens three databases and fsyncs every batch) to a few seconds.
fn config() -> Config {
    Config { cases: 32, rng_seed: RngSeed::Fixed(0x055A_C0DE), failure_persistence: None, ..Config::default() }
}

fn check_same_state(got: &AppliedState, want: &AppliedState, what: &str) -> Result<(), TestCaseError> {
    prop_assert_eq!(&got.registry, &want.registry, "{}: registry", what);
    prop_assert_eq!(got.last_applied, want.last_applied, "{}: last_applied", what);
    prop_assert_eq!(&got.membership, &want.membership, "{}: membership", what);
    Ok(())
}

fn verify_audit(audit: &AuditLog<SledAuditStore>) -> Result<(), TestCaseError> {
    let mut export = Vec::new();
    audit.export("replay-test", &mut export).map_err(fail("export audit log"))?;
    let report = verify_export(export.as_slice()).map_err(fail("verify audit export"))?;
    prop_assert_eq!(report.entries, audit.len());
    Ok(())
}

/// `proposals` packed into entries of `entry_sizes` proposals (cycled).
fn pack(proposals: &[Proposal], entry_sizes: &[usize]) -> Vec<Vec<Proposal>> {
    let mut packed = Vec::new();
    let mut rest = proposals;
    for size in entry_sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (entry, tail) = rest.split_at((*size).min(rest.len()));
        packed.push(entry.to_vec());
        rest = tail;
    }
    packed
}

async fn replay(
    proposals: Vec<Proposal>,
    entry_sizes: Vec<usize>,
    batch_sizes: Vec<usize>,
    reapply: usize,
) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().map_err(fail("tempdir"))?;
    let packed = pack(&proposals, &entry_sizes);
    let mut entries = vec![membership_entry(1)];
    entries.extend(packed.iter().zip(FIRST_PROPOSAL_INDEX..).map(|(batch, i)| normal_entry(i, batch)));
    let last_log_id = entries.last().map(|e| e.log_id);
    // One audit entry for the membership, one per proposal.
    let audited = 1 + proposals.len() as u64;

    // (a) Same answers as the in-memory registry, whatever the packing and batching.
    let mut model = Registry::default();
    let expected: Vec<Vec<_>> = packed
        .iter()
        .zip(FIRST_PROPOSAL_INDEX..)
        .map(|(batch, i)| batch.iter().map(|p| model.apply(i, p).0).collect())
        .collect();
    let mut node = open(dir.path())?;
    let mut responses = Vec::new();
    let mut rest = entries.as_slice();
    for size in batch_sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (batch, tail) = rest.split_at((*size).min(rest.len()));
        let got = node.sm.apply(batch.to_vec()).await.map_err(fail("apply"))?;
        prop_assert_eq!(got.len(), batch.len(), "one response per entry");
        responses.extend(got);
        rest = tail;
    }
    prop_assert_eq!(&responses[1..], expected.as_slice());
    let before = node.sm.reader().read().clone();
    prop_assert_eq!(&before.registry, &model);
    prop_assert_eq!(before.last_applied, last_log_id);
    prop_assert_eq!(node.audit.len(), audited, "one audit entry per proposal and membership");
    prop_assert_eq!(node.audit.last_raft_index(), last_log_id.map(|l| l.index));

    // (b) A restart loads exactly what was applied.
    drop(node);
    let mut node = open(dir.path())?;
    check_same_state(&node.sm.reader().read(), &before, "after reopen")?;
    prop_assert_eq!(
        node.sm.applied_state().await.map_err(fail("applied_state"))?,
        (before.last_applied, before.membership.clone())
    );
    prop_assert_eq!(node.audit.len(), audited, "audit log after reopen");

    // (c) Re-applying the tail of the log changes nothing and audits nothing twice.
    let tail = entries[entries.len() - reapply.min(entries.len())..].to_vec();
    node.sm.apply(tail).await.map_err(fail("re-apply"))?;
    check_same_state(&node.sm.reader().read(), &before, "after re-apply")?;
    prop_assert_eq!(node.audit.len(), audited, "re-applied entries were audited again");
    verify_audit(&node.audit)?;
    drop(node);

    // (d) Lose the registry but keep the audit log, then recover as openraft would.
    {
        let db = ossa_audit::open_sled(&dir.path().join("db")).map_err(fail("open sled"))?;
        let dropped = db.drop_tree(REGISTRY_TREE).map_err(fail("drop registry tree"))?;
        prop_assert!(dropped, "the state machine keeps its registry in the tree {:?}", REGISTRY_TREE);
    }
    let mut node = open(dir.path())?;
    let (applied, _) = node.sm.applied_state().await.map_err(fail("applied_state"))?;
    prop_assert_eq!(applied, None, "registry tree dropped");
    let replayed = node.sm.apply(entries.clone()).await.map_err(fail("replay"))?;
    prop_assert_eq!(&replayed, &responses, "answers of a replay from scratch");
    check_same_state(&node.sm.reader().read(), &before, "after replay from scratch")?;
    prop_assert_eq!(node.audit.len(), audited, "replayed entries were audited again");
    verify_audit(&node.audit)?;
    drop(node);
    let mut node = open(dir.path())?;
    check_same_state(&node.sm.reader().read(), &before, "after replay and reopen")?;

    // (e) A snapshot carries the whole state to a fresh state machine.
    let snapshot = node.sm.get_snapshot_builder().await.build_snapshot().await.map_err(fail("build snapshot"))?;
    prop_assert_eq!(snapshot.meta.last_log_id, before.last_applied);
    let other_dir = tempfile::tempdir().map_err(fail("tempdir"))?;
    let mut other = open(other_dir.path())?;
    let mut receiving = other.sm.begin_receiving_snapshot().await.map_err(fail("begin receiving"))?;
    *receiving = *snapshot.snapshot;
    other.sm.install_snapshot(&snapshot.meta, receiving).await.map_err(fail("install snapshot"))?;
    check_same_state(&other.sm.reader().read(), &before, "after snapshot install")?;
    let current = other.sm.get_current_snapshot().await.map_err(fail("current snapshot"))?;
    prop_assert_eq!(current.map(|s| s.meta), Some(snapshot.meta));
    verify_audit(&other.audit)?;
    drop(other);
    let other = open(other_dir.path())?;
    check_same_state(&other.sm.reader().read(), &before, "after snapshot install and reopen")?;
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn apply_restart_reapply_snapshot(
        proposals in prop::collection::vec(arb_proposal(), 1..40),
        entry_sizes in prop::collection::vec(1..5usize, 1..4),
        batch_sizes in prop::collection::vec(1..6usize, 1..4),
        reapply in 1..6usize,
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().build().map_err(fail("runtime"))?;
        runtime.block_on(replay(proposals, entry_sizes, batch_sizes, reapply))?;
    }
}
