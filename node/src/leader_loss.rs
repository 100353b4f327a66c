//! Standing for election the moment the leader's connection closes.
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
//!          yes ──▶ raft.trigger().elect(): a candidate at term + 1 at once, no lease to wait out
//!                  no leader after one heartbeat interval, and this node took up another
//!                  candidate's vote? ──▶ stand once more, at term + 2
//! ```
//!
//! Every surviving voter stands at the same term. Standing drops a voter's own lease (its vote
//! is no longer a committed leader's), and openraft orders equal-term votes by node id, so the
//! candidate with the highest id gets the others' votes in one round trip when its log is at
//! least as long as theirs. When it is not (the dead leader had replicated its last entries to
//! some followers only), the others refuse it for its log and it refuses them for their lower
//! ids; each of them takes up its vote from the refusal. That is the sign for a second round:
//! a node that took up another candidate's vote and still has no leader stands again, one term
//! higher, and the refused candidate, whose own vote is not committed, grants it if its log is
//! longer. If that splits too (more than two survivors), openraft's own election timers settle
//! it, as before.
//!
//! A leader that is alive but cut off from a follower (a partition, a block) is treated like
//! the silence it causes: that follower stands, as it would after its timeout, and cannot win
//! without a majority. A learner or the leader itself never stands.

use std::time::Duration;

use libp2p::PeerId;
use openraft::RaftMetrics;
use ossa_consensus::{MemberNode, NodeId};

use crate::admission::node_id_of;
use crate::daemon::NodeContext;

/// Called by the router when the last connection to admitted `peer` closed.
pub async fn on_disconnected(node: &NodeContext, peer: &PeerId) {
    let raft = &node.consensus.raft;
    let (leader, is_voter) = {
        let metrics = raft.metrics();
        let metrics = metrics.borrow();
        let is_voter = metrics.membership_config.membership().voter_ids().any(|id| id == node.node_id);
        (metrics.current_leader, is_voter)
    };
    if !is_voter || leader != Some(node_id_of(peer)) || leader == Some(node.node_id) {
        return;
    }
    tracing::info!(%peer, "the leader's connection closed; standing for election");
    node.metrics.elections_on_leader_loss.inc();
    if !stand(node).await {
        return;
    }
    // One vote round trip (a save and a reply each way) fits in a heartbeat interval, which is
    // also openraft's deadline for every Raft RPC.
    let round = Duration::from_millis(raft.config().heartbeat_interval);
    let new_leader = |m: &RaftMetrics<NodeId, MemberNode>| m.current_leader.is_some() && m.current_leader != leader;
    let mut metrics = raft.metrics();
    if tokio::time::timeout(round, metrics.wait_for(new_leader)).await.is_ok() {
        return;
    }
    let took_up_another_vote = {
        let m = metrics.borrow();
        !new_leader(&m) && !m.vote.is_committed() && m.vote.leader_id().voted_for() != Some(node.node_id)
    };
    if took_up_another_vote {
        tracing::info!("the first round split on the candidates' logs; standing again");
        stand(node).await;
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
