//! Enforcing revocations decided by governance.
//!
//! A revocation takes effect when the Raft entry that completes its quorum is applied
//! (`ossa_consensus::ProposalAction::Revoke`): the org leaves `members` for `revoked`. From then on the
//! checks that ask "is this a member?" refuse it everywhere: its agent records, observations,
//! certifications and checkpoints fail validation (its stored certifications are dropped by
//! `agents::service::run_certifier_check`, which follows the set of stewards). What the registry
//! cannot do by itself, [`run_enforcer`] does within [`ENFORCE_PERIOD`] of the apply:
//!
//! - hands the revoked set to the swarm, which disconnects and bans the org's node, refuses
//!   it at admission from then on (reason `revoked`, sent to the refused node), drops it from
//!   the discovery routing table and never dials it;
//! - removes the org's agent records from the directory, so they are neither found nor synced;
//! - on the Raft leader, removes the org's node from the Raft membership (openraft changes
//!   membership through joint consensus, so the remaining voters keep their quorum);
//! - audits the enforcement (`federation.revoked`) and logs it.
//!
//! The revoked org's own node sees the same entry, or is told by the member nodes that refuse
//! it: it reports itself revoked in `/v1/status` and `/ready` fails.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use ossa_audit::EntryDraft;
use ossa_consensus::openraft::{ChangeMembers, ServerState};
use ossa_consensus::Revocation;

use crate::clock::now_ms;
use crate::daemon::NodeContext;

/// How often the registry is checked for new revocations: well inside the one second in which
/// a revocation must reach every connection.
pub const ENFORCE_PERIOD: Duration = Duration::from_millis(100);

/// Whether this node's own org has been revoked: by the registry it applied, or by a peer
/// that refused it for that reason (a revoked node may be cut off before it applies the entry).
pub fn is_revoked(node: &NodeContext) -> bool {
    let told_by = node.net.told_revoked_by();
    let registry = &node.consensus.registry.read().registry;
    registry.revoked.contains_key(&node.org)
        || registry.members.values().any(|m| m.org != node.org && told_by.iter().any(|p| p.to_string() == m.peer_id))
}

/// Enforces revocations for as long as the node runs.
pub async fn run_enforcer(node: Arc<NodeContext>) {
    let mut enforced: BTreeSet<String> = BTreeSet::new();
    let mut started = false;
    let mut tick = tokio::time::interval(ENFORCE_PERIOD);
    loop {
        tick.tick().await;
        let revoked: BTreeMap<String, Revocation> = node.consensus.registry.read().registry.revoked.clone();
        let orgs: BTreeSet<String> = revoked.keys().cloned().collect();
        if orgs != enforced || !started {
            let others = orgs.iter().filter(|o| **o != node.org).cloned().collect();
            let peers = revoked.values().filter(|r| r.org != node.org).filter_map(|r| r.peer_id.parse().ok()).collect();
            if node.net.set_revoked(others, peers).await.is_err() {
                return; // the swarm has stopped: the node is shutting down
            }
            for org in orgs.difference(&enforced) {
                audit(&node, &revoked[org], started);
                match node.agents.directory().remove_org(org) {
                    Ok(0) => {}
                    Ok(removed) => tracing::info!(%org, removed, "revoked org's agent records removed"),
                    Err(err) => tracing::warn!(%err, "cannot remove a revoked org's agent records"),
                }
            }
            (enforced, started) = (orgs, true);
        }
        if node.consensus.raft.metrics().borrow().state == ServerState::Leader {
            remove_from_raft(&node, &revoked).await;
        }
    }
}

fn audit(node: &NodeContext, revocation: &Revocation, new: bool) {
    if revocation.org == node.org {
        tracing::error!(reason = %revocation.reason, "this org has been revoked by the federation");
    } else if new {
        tracing::warn!(org = %revocation.org, reason = %revocation.reason, "org revoked: its node is cut off");
    }
    if !new {
        return; // enforced again after a restart: audited when it happened
    }
    let draft = EntryDraft {
        time_ms: now_ms(),
        kind: "federation.revoked".into(),
        actor: revocation.org.clone(),
        payload: serde_json::to_value(revocation).unwrap_or_default(),
        raft_index: None,
    };
    if let Err(err) = node.audit.append(draft) {
        tracing::warn!(%err, "cannot audit revocation");
    }
}

/// Leader only: takes revoked nodes out of the Raft membership, voters first.
async fn remove_from_raft(node: &NodeContext, revoked: &BTreeMap<String, Revocation>) {
    let membership = node.consensus.raft.metrics().borrow().membership_config.membership().clone();
    let ids: BTreeSet<u64> = revoked.values().map(|r| r.node_id).collect();
    let voters: BTreeSet<u64> = membership.voter_ids().filter(|id| ids.contains(id)).collect();
    let nodes: BTreeSet<u64> = membership.nodes().map(|(id, _)| *id).filter(|id| ids.contains(id)).collect();
    let change = if !voters.is_empty() {
        ChangeMembers::RemoveVoters(voters)
    } else if !nodes.is_empty() {
        ChangeMembers::RemoveNodes(nodes)
    } else {
        return;
    };
    tracing::info!(?change, "removing revoked nodes from the Raft membership");
    if let Err(err) = node.consensus.raft.change_membership(change, false).await {
        tracing::warn!(%err, "cannot remove revoked nodes from the Raft membership yet");
    }
}
