//! The Raft voters follow the registry's stewards.
//!
//! Governance decides who is a steward (`ossa_consensus::ProposalAction::SetRole`: promotions and
//! demotions); the Raft leader makes the voter set match, one membership change at a time
//! (openraft runs each through joint consensus): a promoted member's node becomes a voter once
//! its replication has caught up to within [`CATCH_UP_LAG`] entries, so a lagging voter never
//! holds up commits; a demoted steward's node stays on as a learner. Revoked nodes are left to
//! [`crate::revocation`], which removes them outright.
//!
//! After a key rotation ([`crate::key_rotation`]) the org's node comes back under a new node
//! id: the old id leaves once the new one holds its place (a voter for a voter, any member of
//! the group for a learner), or once the old key is retired, first as a voter, then outright.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use ossa_consensus::openraft::{ChangeMembers, ServerState};
use ossa_consensus::MemberRole;

use crate::clock::now_ms;
use crate::daemon::NodeContext;

/// How often the leader compares voters and stewards.
pub const RECONCILE_PERIOD: Duration = Duration::from_millis(500);

/// A learner is caught up when its replicated log is at most this many entries behind the
/// leader's: a few heartbeats' worth of writes.
pub const CATCH_UP_LAG: u64 = 100;

/// Makes the voters follow the stewards, for as long as the node runs.
pub async fn run_reconciler(node: Arc<NodeContext>) {
    let mut tick = tokio::time::interval(RECONCILE_PERIOD);
    loop {
        tick.tick().await;
        if let Some(change) = next_change(&node) {
            tracing::info!(?change, "making the Raft voters follow the stewards");
            if let Err(err) = node.consensus.raft.change_membership(change, true).await {
                tracing::warn!(%err, "voter change not made yet");
            }
        }
    }
}

/// The next membership change the leader should make, if any.
fn next_change(node: &NodeContext) -> Option<ChangeMembers<u64, ossa_consensus::MemberNode>> {
    let metrics = node.consensus.raft.metrics().borrow().clone();
    if metrics.state != ServerState::Leader {
        return None;
    }
    let membership = metrics.membership_config.membership();
    let voters: BTreeSet<u64> = membership.voter_ids().collect();
    let (stewards, members, rotated_away): (BTreeSet<u64>, BTreeSet<u64>, BTreeSet<u64>) = {
        let registry = &node.consensus.registry.read().registry;
        let of = |role| registry.members.values().filter(|m| m.role == role).map(|m| m.node_id).collect();
        let now = now_ms();
        let rotated_away = registry
            .rotations
            .values()
            .flatten()
            .filter(|r| {
                let replaced = if voters.contains(&r.old_node_id) {
                    voters.contains(&r.new_node_id)
                } else {
                    membership.get_node(&r.new_node_id).is_some()
                };
                membership.get_node(&r.old_node_id).is_some()
                    && (replaced || !registry.speaks_for(&r.org, &r.old_peer_id, now))
            })
            .map(|r| r.old_node_id)
            .collect();
        (of(MemberRole::Steward), of(MemberRole::Member), rotated_away)
    };
    let old_voters: BTreeSet<u64> = voters.intersection(&rotated_away).copied().collect();
    if !old_voters.is_empty() && old_voters.len() < voters.len() {
        return Some(ChangeMembers::RemoveVoters(old_voters));
    }
    if !rotated_away.is_empty() && old_voters.is_empty() {
        return Some(ChangeMembers::RemoveNodes(rotated_away));
    }
    let demoted: BTreeSet<u64> = voters.intersection(&members).copied().collect();
    if !demoted.is_empty() && demoted.len() < voters.len() {
        return Some(ChangeMembers::RemoveVoters(demoted));
    }
    let last = metrics.last_log_index.unwrap_or(0);
    let caught_up = |id: &u64| {
        let matched = metrics.replication.as_ref().and_then(|r| r.get(id).cloned().flatten());
        matched.is_some_and(|log_id| log_id.index + CATCH_UP_LAG >= last)
    };
    let promoted: BTreeSet<u64> = stewards
        .iter()
        .filter(|id| !voters.contains(id) && membership.get_node(id).is_some() && caught_up(id))
        .copied()
        .collect();
    (!promoted.is_empty()).then_some(ChangeMembers::AddVoterIds(promoted))
}
