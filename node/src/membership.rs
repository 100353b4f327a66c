//! Joining the Raft group: founding it, asking the leader to be added, and recording members.
//!
//! A node is *joined* when the registry lists its org with its peer id and the Raft membership
//! holds its node id (as a voter if its certificate makes it a steward, else as a learner).
//! Until then [`run_join_loop`] works towards it, once a second:
//! - a steward with no bootstrap address and no Raft state founds the group with itself;
//! - the leader records itself in the registry if it is missing;
//! - any other node sends `Join` (with its listen addresses) to the leader if known, else to
//!   each admitted peer; a peer that is not the leader answers with the leader's address.
//!
//! The leader's [`handle_join`] adds the sender as a learner (waiting for it to catch up),
//! promotes a steward to voter, and writes an `AddMember` entry. Every step is idempotent, so
//! a join interrupted by a leader change is simply repeated.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use ossa_consensus::openraft::{ChangeMembers, ServerState};
use ossa_consensus::{MemberNode, MemberRole, Proposal, RegistryCommand};
use ossa_trust::Role;

use crate::admission::{node_id_of, AdmittedPeer};
use crate::daemon::NodeContext;
use crate::raft_glue::member_address;
use crate::wire::pb::{self, raft_request, raft_response};
use crate::writes::leader_response;

/// Pause between join attempts while not joined; a join normally completes in one round.
const JOIN_RETRY: Duration = Duration::from_secs(1);
/// Pause between checks once joined (a lost registration is rare and repaired at this pace).
const JOINED_RECHECK: Duration = Duration::from_secs(10);
/// A join waits for the learner to catch up with the log, so it gets a long deadline.
const JOIN_TIMEOUT: Duration = Duration::from_secs(30);

fn member_role(role: Role) -> MemberRole {
    match role {
        Role::Steward => MemberRole::Steward,
        Role::Member => MemberRole::Member,
    }
}

/// Whether this node is fully joined (see the module docs).
pub fn is_joined(node: &NodeContext) -> bool {
    let registered = node
        .consensus
        .registry
        .read()
        .registry
        .members
        .get(&node.org)
        .is_some_and(|m| m.peer_id == node.peer_id.to_string() && m.node_id == node.node_id);
    let metrics = node.consensus.raft.metrics().borrow().clone();
    let membership = metrics.membership_config.membership();
    let in_group = match node.role {
        Role::Steward => membership.voter_ids().any(|id| id == node.node_id),
        Role::Member => membership.get_node(&node.node_id).is_some(),
    };
    registered && in_group
}

/// Works towards [`is_joined`] for as long as the node runs.
pub async fn run_join_loop(node: std::sync::Arc<NodeContext>, founder: bool) {
    loop {
        let pause = if is_joined(&node) {
            JOINED_RECHECK
        } else {
            if let Err(err) = join_step(&node, founder).await {
                tracing::info!(%err, "not joined yet");
            }
            JOIN_RETRY
        };
        tokio::time::sleep(pause).await;
    }
}

/// This node as other nodes should know it: its advertised addresses if configured, else the
/// addresses it listens on.
async fn own_member_node(node: &NodeContext) -> Result<MemberNode, String> {
    let addrs = if node.advertise.is_empty() {
        node.net.view().await.map_err(|e| e.to_string())?.listen_addrs
    } else {
        node.advertise.clone()
    };
    if addrs.is_empty() {
        return Err("not listening yet".into());
    }
    Ok(MemberNode {
        org: node.org.clone(),
        peer_id: node.peer_id.to_string(),
        addrs: addrs.iter().map(|a| a.to_string()).collect(),
    })
}

async fn join_step(node: &NodeContext, founder: bool) -> Result<(), String> {
    let raft = &node.consensus.raft;
    let me = own_member_node(node).await?;
    let initialized = raft.is_initialized().await.map_err(|e| e.to_string())?;
    if !initialized && founder && node.role == Role::Steward {
        tracing::info!("founding the federation's Raft group");
        let founders = BTreeMap::from([(node.node_id, me)]);
        return raft.initialize(founders).await.map_err(|e| e.to_string());
    }
    if raft.metrics().borrow().state == ServerState::Leader {
        return record_member(node, node.org.clone(), node.peer_id.to_string(), node.node_id, node.role).await;
    }
    let view = node.net.view().await.map_err(|e| e.to_string())?;
    let mut targets: Vec<MemberNode> = node.leader_node().map(|(_, n)| n).into_iter().collect();
    targets.extend(view.admitted.iter().map(|p| MemberNode {
        org: p.org.clone(),
        peer_id: p.peer_id.to_string(),
        addrs: vec![],
    }));
    for target in targets {
        match send_join(node, &target, &me).await {
            Ok(None) => return Ok(()),
            Ok(Some(leader)) => {
                if send_join(node, &leader, &me).await?.is_none() {
                    return Ok(());
                }
            }
            Err(err) => tracing::debug!(peer = %target.peer_id, %err, "join attempt failed"),
        }
    }
    Err("no peer accepted the join yet".into())
}

/// Sends `Join` to `target`. `Ok(None)` when joined, `Ok(Some(leader))` when redirected.
async fn send_join(node: &NodeContext, target: &MemberNode, me: &MemberNode) -> Result<Option<MemberNode>, String> {
    let (peer, addrs) = member_address(target)?;
    let request = pb::RaftRequest { body: Some(raft_request::Body::Join(pb::Join { addrs: me.addrs.clone() })) };
    let response = node.net.request(peer, addrs, request, JOIN_TIMEOUT).await.map_err(|e| e.to_string())?;
    match response.body {
        Some(raft_response::Body::Joined(_)) => Ok(None),
        Some(raft_response::Body::ForwardToLeader(leader)) if !leader.peer_id.is_empty() => {
            Ok(Some(MemberNode { org: String::new(), peer_id: leader.peer_id, addrs: leader.addrs }))
        }
        Some(raft_response::Body::ForwardToLeader(_)) => Err("no leader known yet".into()),
        Some(raft_response::Body::Error(message)) => Err(message),
        _ => Err("unexpected answer to join".into()),
    }
}

async fn record_member(
    node: &NodeContext,
    org: String,
    peer_id: String,
    node_id: u64,
    role: Role,
) -> Result<(), String> {
    let role = member_role(role);
    let current = node.consensus.registry.read().registry.members.get(&org).cloned();
    if current.is_some_and(|m| m.peer_id == peer_id && m.node_id == node_id && m.role == role) {
        return Ok(());
    }
    let command = RegistryCommand::AddMember { org, peer_id, node_id, role };
    node.consensus
        .proposer
        .propose(Proposal { by: node.org.clone(), command })
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Most addresses a joining node may announce: a node listens on a few interfaces at most,
/// and the addresses are stored in the replicated Raft membership.
const MAX_JOIN_ADDRS: usize = 16;
/// Longest address a joining node may announce (a multiaddr with DNS name and peer id is
/// well under 200 bytes).
const MAX_JOIN_ADDR_LEN: usize = 256;

/// Checks the addresses a joining node announces before they go into the Raft membership.
fn check_join_addrs(addrs: &[String]) -> Result<(), String> {
    if addrs.is_empty() || addrs.len() > MAX_JOIN_ADDRS {
        return Err(format!("a join must announce 1 to {MAX_JOIN_ADDRS} addresses, not {}", addrs.len()));
    }
    for addr in addrs {
        if addr.len() > MAX_JOIN_ADDR_LEN || addr.parse::<libp2p::Multiaddr>().is_err() {
            return Err(format!(
                "{:?} is not a multiaddr of at most {MAX_JOIN_ADDR_LEN} bytes",
                addr.chars().take(64).collect::<String>()
            ));
        }
    }
    Ok(())
}

/// Leader side of a join: see the module docs.
pub async fn handle_join(node: &NodeContext, from: AdmittedPeer, addrs: Vec<String>) -> pb::RaftResponse {
    if let Err(message) = check_join_addrs(&addrs) {
        return pb::RaftResponse { body: Some(raft_response::Body::Error(message)) };
    }
    let raft = &node.consensus.raft;
    if raft.metrics().borrow().state != ServerState::Leader {
        return leader_response(node);
    }
    if node.consensus.registry.read().registry.revoked.contains_key(&from.org) {
        let message = format!("org {:?} has been revoked by the federation", from.org);
        return pb::RaftResponse { body: Some(raft_response::Body::Error(message)) };
    }
    if node.consensus.registry.read().registry.is_rotated_away(&from.org, &from.peer_id.to_string()) {
        let message =
            format!("org {:?} rotated its key away from peer {}; restart on the new key", from.org, from.peer_id);
        return pb::RaftResponse { body: Some(raft_response::Body::Error(message)) };
    }
    let id = node_id_of(&from.peer_id);
    let joiner = MemberNode { org: from.org.clone(), peer_id: from.peer_id.to_string(), addrs };
    let membership = raft.metrics().borrow().membership_config.membership().clone();
    let result = async {
        if membership.get_node(&id).is_none() {
            tracing::info!(org = %from.org, node_id = id, "adding learner");
            raft.add_learner(id, joiner, true).await.map_err(|e| e.to_string())?;
        }
        // A known org has the role governance gave it; a new one the role of its certificate.
        let registered = node.consensus.registry.read().registry.members.get(&from.org).map(|m| m.role);
        let steward = registered.map_or(from.role == Role::Steward, |role| role == MemberRole::Steward);
        if steward && !membership.voter_ids().any(|v| v == id) {
            tracing::info!(org = %from.org, node_id = id, "promoting steward to voter");
            raft.change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([id])), false)
                .await
                .map_err(|e| e.to_string())?;
        }
        record_member(node, from.org.clone(), from.peer_id.to_string(), id, from.role).await
    }
    .await;
    match result {
        Ok(()) => pb::RaftResponse { body: Some(raft_response::Body::Joined(pb::Joined { node_id: id })) },
        Err(message) => pb::RaftResponse { body: Some(raft_response::Body::Error(message)) },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_addresses_are_bounded_and_must_parse() {
        assert!(check_join_addrs(&["/ip4/127.0.0.1/tcp/7470".to_owned()]).is_ok());
        assert!(check_join_addrs(&[]).is_err());
        assert!(check_join_addrs(&vec!["/ip4/127.0.0.1/tcp/1".to_owned(); MAX_JOIN_ADDRS + 1]).is_err());
        assert!(check_join_addrs(&["not an address".to_owned()]).is_err());
        assert!(check_join_addrs(&[format!("/dns4/{}/tcp/1", "a".repeat(MAX_JOIN_ADDR_LEN))]).is_err());
    }
}
