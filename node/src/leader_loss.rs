//! Standing for election the moment the leader's process is gone.
//!
//! openraft 0.9 notices a dead leader only by silence: a follower stands after the leader lease
//! (the election timeout's upper bound) plus its own election timeout, and refuses votes while
//! its lease runs, so with the default 150..300 ms timeouts a killed leader is replaced after
//! about 0.6 s. But a leader that dies or restarts closes its TCP connections at once (the
//! kernel does it for a killed process), and every peer's swarm sees the close:
//!
//! ```text
//!  swarm: last connection to an admitted peer closed ──Inbound::Disconnected──▶ router
//!    ──▶ on_disconnected: was it the leader this node follows, and is this node a voter?
//!          yes ──▶ ask the leader for a read index over a fresh connection
//!                  it answers, or no answer yet ──▶ do nothing (a link that flapped; timers)
//!                  the dial is refused ──▶ raft.trigger().elect(): term + 1 at once, no lease
//!                  no leader within a vote deadline, and this node took up another
//!                  candidate's vote? ──▶ stand once more, at term + 2
//! ```
//!
//! The read index is the check that the leader is really gone. A connection can close while
//! the leader lives (a flapping link, a connection limit); standing then would unseat a healthy
//! leader, since openraft 0.9 has no pre-vote: the leader's next AppendEntries meets the higher
//! term and it steps down. A killed process refuses the new connection at once, so the check
//! costs a dial on the way to an election. A host that does not answer at all is left to the
//! timers, as before.
//!
//! Every surviving voter stands at the same term. Standing drops a voter's own lease (its vote
//! is no longer a committed leader's), and openraft orders equal-term votes by node id, so the
//! candidate with the highest id gets the others' votes in one round trip when its log is at
//! least as long as theirs. It does not when its log is shorter (the dead leader had replicated
//! its last entries to some followers only), or when its vote request reached a survivor that
//! had not stood yet and so still held its lease. Either way the others end up refused by it
//! for their lower ids, and each of them takes up its vote from the refusal. That is the sign
//! for a second round: a node that took up another candidate's vote and still has no leader
//! when a vote round's deadline has passed (openraft's `election_timeout_min`) stands again,
//! one term higher, and the refused candidate, whose own vote is not committed, grants it if
//! its log is at least as long. If that splits too (more than two survivors), openraft's own
//! election timers settle it.
//!
//! A peer cut off by fault injection refuses the dial too, so a follower blocked from a live
//! leader stands, as it would after its timeout, and cannot win without a majority. A learner
//! or the leader itself never stands.

use std::time::Duration;

use libp2p::PeerId;
use openraft::RaftMetrics;
use ossa_consensus::{MemberNode, NodeId};

use crate::admission::node_id_of;
use crate::daemon::{leader_in, NodeContext};
use crate::raft_glue::member_address;
use crate::swarm::NetError;
use crate::wire::pb::{self, raft_request};

/// Called by the router when the last connection to admitted `peer` closed.
pub async fn on_disconnected(node: &NodeContext, peer: &PeerId) {
    let raft = &node.consensus.raft;
    let (is_voter, followed) = {
        let metrics = raft.metrics();
        let metrics = metrics.borrow();
        (metrics.membership_config.membership().voter_ids().any(|id| id == node.node_id), leader_in(&metrics))
    };
    let Some((leader, leader_node)) = followed else { return };
    if !is_voter || leader != node_id_of(peer) || leader == node.node_id {
        return;
    }
    // Openraft's own deadline for a vote round trip.
    let vote_deadline = Duration::from_millis(raft.config().election_timeout_min);
    match ask_leader(node, &leader_node, vote_deadline).await {
        LeaderCheck::Answered => {
            tracing::info!(%peer, "the leader's connection closed, but it answers; not standing");
            node.metrics.leader_disconnected("leader_answered");
            return;
        }
        LeaderCheck::NoAnswer => {
            tracing::info!(%peer, "the leader's connection closed and it does not answer; leaving it to the timers");
            node.metrics.leader_disconnected("no_answer");
            return;
        }
        LeaderCheck::Refused => {}
    }
    tracing::info!(%peer, "the leader's connection closed and it refuses new ones; standing for election");
    node.metrics.leader_disconnected("stood");
    if !stand(node).await {
        return;
    }
    let new_leader = |m: &RaftMetrics<NodeId, MemberNode>| m.current_leader.is_some_and(|l| l != leader);
    let mut metrics = raft.metrics();
    if tokio::time::timeout(vote_deadline, metrics.wait_for(new_leader)).await.is_ok() {
        return;
    }
    let took_up_another_vote = {
        let m = metrics.borrow();
        !new_leader(&m) && !m.vote.is_committed() && m.vote.leader_id().voted_for() != Some(node.node_id)
    };
    if took_up_another_vote {
        tracing::info!("the first round split (a shorter log or a lease in the way); standing again");
        stand(node).await;
    }
}

/// What became of a read-index request to the leader after its connection closed.
enum LeaderCheck {
    /// It answered (whatever it said): it lives.
    Answered,
    /// It could not be reached: the dial was refused or the peer is cut off.
    Refused,
    /// No answer by the deadline, or the request failed on the way.
    NoAnswer,
}

async fn ask_leader(node: &NodeContext, leader: &MemberNode, deadline: Duration) -> LeaderCheck {
    let Ok((peer, addrs)) = member_address(leader) else { return LeaderCheck::NoAnswer };
    let request = pb::RaftRequest { body: Some(raft_request::Body::ReadIndex(pb::ReadIndex {})) };
    match node.net.request(peer, addrs, request, deadline).await {
        Ok(_) => LeaderCheck::Answered,
        Err(NetError::Unreachable(..)) => LeaderCheck::Refused,
        Err(_) => LeaderCheck::NoAnswer,
    }
}

/// Triggers an election; false if Raft has stopped.
async fn stand(node: &NodeContext) -> bool {
    match node.consensus.raft.trigger().elect().await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(%e, "cannot stand for election");
            false
        }
    }
}
