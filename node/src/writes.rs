//! Registry writes from this node: propose locally, or forward to the leader.
//!
//! A write accepted by any node reaches the leader: [`submit`] tries the local Raft (through
//! the consensus crate's `Proposer`, which batches concurrent writes into one Raft entry);
//! when it answers "forward to leader", the command goes to the leader over `/ossa/raft/1` as
//! a client write, and the leader proposes it on behalf of this node's org. During an election
//! no leader is known; `submit` then waits until the local Raft learns of a new one (it watches
//! the Raft metrics, so it retries the moment a leader is elected) and retries, for a bounded
//! time, since a new leader is normally elected within a few hundred milliseconds.
//!
//! A forwarded write is answered once this node has applied it too (the leader's reply carries
//! its log index), so a client that writes through a follower reads its write back from that
//! follower: a tenant created there can have its policy set there at once. If the follower
//! does not catch up within `APPLY_WAIT` (5 s) the write is still answered; it is committed.
//!
//! At most [`MAX_FORWARDS_IN_FLIGHT`] writes are forwarded at once; the others wait for a slot
//! in arrival order. Without the bound, the writes a follower held during an election all went
//! to the new leader the moment it was known, past the Raft protocol's limit of concurrent
//! streams per connection: the leader dropped streams, its own replication to that follower
//! among them, and the federation stopped committing under load.

use std::time::Duration;

use ossa_consensus::{MemberNode, NodeId, Proposal, ProposeError, RegistryCommand, RegistryResponse};
use tokio::time::Instant;

use crate::daemon::NodeContext;
use crate::raft_glue::member_address;
use crate::swarm::NetError;
use crate::wire::pb::{self, raft_request, raft_response};

/// How long a write waits for a leader before giving up: several election timeouts.
const WAIT_FOR_LEADER: Duration = Duration::from_secs(5);
/// Longest pause between attempts while no new leader is known (a fraction of an election
/// timeout); the pause ends as soon as the local Raft learns of one.
const RETRY_PAUSE: Duration = Duration::from_millis(100);
/// Deadline of one forwarded write (commit needs a quorum round trip and an fsync).
const FORWARD_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a forwarded write waits for this node to apply it before it is answered anyway.
const APPLY_WAIT: Duration = Duration::from_secs(5);
/// Writes one node forwards to the leader at once: enough to keep the leader's batches full,
/// and well under the 100 concurrent streams a connection takes per protocol, which the
/// leader's own Raft traffic to this node shares.
pub const MAX_FORWARDS_IN_FLIGHT: usize = 32;

/// Why a write did not commit.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// No leader could be found in time.
    #[error("no Raft leader is known; the federation may be electing one or have lost its quorum")]
    NoLeader,
    /// The leader could not be reached.
    #[error("cannot reach the leader: {0}")]
    Network(#[from] NetError),
    /// The command is too large to propose; nothing was written.
    #[error("write refused: {0}")]
    TooLarge(String),
    /// The leader or the local Raft refused or failed the write.
    #[error("write failed: {0}")]
    Failed(String),
}

/// Commits `command` on behalf of this node's org and returns the registry's answer.
pub async fn submit(node: &NodeContext, command: RegistryCommand) -> Result<RegistryResponse, WriteError> {
    let deadline = Instant::now() + WAIT_FOR_LEADER;
    loop {
        // Committed here, or not the leader: then the leader this node knows of, if any.
        let proposal = Proposal { by: node.org.clone(), command: command.clone() };
        let (leader_id, leader) = match node.consensus.proposer.propose(proposal).await {
            Ok(committed) => return Ok(committed.response),
            Err(e @ ProposeError::TooLarge(_)) => return Err(WriteError::TooLarge(e.to_string())),
            Err(e) => match e.forward_to_leader() {
                Some(forward) => (forward.leader_id, forward.leader_node.clone()),
                None => return Err(WriteError::Failed(e.to_string())),
            },
        };
        if let Some(leader) = leader {
            if let Some(Applied { response, log_index }) = forward(node, &leader, &command).await? {
                wait_until_applied(node, log_index).await;
                return Ok(response);
            }
        }
        if Instant::now() >= deadline {
            return Err(WriteError::NoLeader);
        }
        wait_for_new_leader(node, leader_id).await;
    }
}

/// Waits until the local Raft knows of a leader other than `tried` (the one that could not
/// take the write, or none), for at most [`RETRY_PAUSE`].
async fn wait_for_new_leader(node: &NodeContext, tried: Option<NodeId>) {
    let mut metrics = node.consensus.raft.metrics();
    let elected = metrics.wait_for(|m| m.current_leader.is_some() && m.current_leader != tried);
    // Either way the caller tries again: a timeout or a closed channel only ends the pause.
    let _ = tokio::time::timeout(RETRY_PAUSE, elected).await;
}

/// Waits (at most [`APPLY_WAIT`]) until this node has applied the log up to `log_index`.
async fn wait_until_applied(node: &NodeContext, log_index: u64) {
    let wait = node.consensus.raft.wait(Some(APPLY_WAIT));
    if let Err(err) = wait.applied_index_at_least(Some(log_index), "forwarded write").await {
        tracing::debug!(log_index, %err, "answering a forwarded write before applying it here");
    }
}

/// A forwarded write the leader committed and applied, at `log_index`.
struct Applied {
    response: RegistryResponse,
    log_index: u64,
}

/// Forwards `command` to `leader`; `None` if it is not the leader (any more).
async fn forward(
    node: &NodeContext,
    leader: &MemberNode,
    command: &RegistryCommand,
) -> Result<Option<Applied>, WriteError> {
    let _slot = node.forward_slots.acquire().await.map_err(|e| WriteError::Failed(e.to_string()))?;
    let (peer, addrs) = member_address(leader).map_err(WriteError::Failed)?;
    let bytes = serde_json::to_vec(command).map_err(|e| WriteError::Failed(e.to_string()))?;
    let request = pb::RaftRequest { body: Some(raft_request::Body::ClientWrite(bytes)) };
    let response = node.net.request(peer, addrs, request, FORWARD_TIMEOUT).await?;
    match response.body {
        Some(raft_response::Body::Written(written)) => serde_json::from_slice(&written.response)
            .map(|response| Some(Applied { response, log_index: written.log_index }))
            .map_err(|e| WriteError::Failed(format!("bad reply from leader: {e}"))),
        Some(raft_response::Body::ForwardToLeader(_)) => Ok(None),
        Some(raft_response::Body::Error(message)) => Err(WriteError::Failed(message)),
        _ => Err(WriteError::Failed("unexpected reply from leader".into())),
    }
}

/// The "not the leader, ask there" answer, naming the current leader if known.
pub fn leader_response(node: &NodeContext) -> pb::RaftResponse {
    let leader = node.leader_node().map(|(_, n)| pb::Leader { peer_id: n.peer_id, addrs: n.addrs }).unwrap_or_default();
    pb::RaftResponse { body: Some(raft_response::Body::ForwardToLeader(leader)) }
}
