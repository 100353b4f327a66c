//! The Raft transport boundary: what the consensus crate needs from the network.
//!
//! Outbound, [`crate::network`] turns each openraft RPC into a [`RaftRpc`] and hands it to a
//! [`RaftTransport`], which the node implements over libp2p request-response
//! (`/ossa/raft/1`). Inbound, the node decodes a [`RaftRpc`] and calls [`serve`], which runs it
//! against the local Raft and returns the [`RaftRpcReply`] to send back. Both are plain serde
//! types, so the wire encoding is the transport's choice.

use std::future::Future;
use std::time::Duration;

use openraft::error::{InstallSnapshotError, RaftError};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, VoteRequest,
    VoteResponse,
};
use serde::{Deserialize, Serialize};

use crate::types::{MemberNode, Raft, TypeConfig};
use crate::NodeId;

/// A Raft RPC from one node to another.
#[derive(Debug, Serialize, Deserialize)]
pub enum RaftRpc {
    /// Log replication and heartbeats.
    AppendEntries(AppendEntriesRequest<TypeConfig>),
    /// Leader election.
    Vote(VoteRequest<NodeId>),
    /// One chunk of a snapshot.
    InstallSnapshot(InstallSnapshotRequest<TypeConfig>),
}

impl RaftRpc {
    /// The node id the RPC claims to come from (the leader or candidate in its vote). The node
    /// checks it against the authenticated sender so one peer cannot speak for another.
    pub fn claimed_sender(&self) -> Option<NodeId> {
        let vote = match self {
            Self::AppendEntries(req) => &req.vote,
            Self::Vote(req) => &req.vote,
            Self::InstallSnapshot(req) => &req.vote,
        };
        vote.leader_id().voted_for()
    }

    /// Short name of the RPC, for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Self::AppendEntries(_) => "append_entries",
            Self::Vote(_) => "vote",
            Self::InstallSnapshot(_) => "install_snapshot",
        }
    }
}

/// The answer to a [`RaftRpc`], including the remote Raft's own refusal.
#[derive(Debug, Serialize, Deserialize)]
pub enum RaftRpcReply {
    /// Answer to [`RaftRpc::AppendEntries`].
    AppendEntries(Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>>),
    /// Answer to [`RaftRpc::Vote`].
    Vote(Result<VoteResponse<NodeId>, RaftError<NodeId>>),
    /// Answer to [`RaftRpc::InstallSnapshot`].
    InstallSnapshot(Result<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>>),
}

/// Why an RPC did not get an answer.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The peer cannot be reached (not connected, not admitted, dial failed).
    #[error("peer unreachable: {0}")]
    Unreachable(String),
    /// No answer in time.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The exchange failed after reaching the peer (stream closed, bad encoding).
    #[error("rpc failed: {0}")]
    Failed(String),
}

/// Sends Raft RPCs to other nodes. Implemented by the node over libp2p.
pub trait RaftTransport: Clone + Send + Sync + 'static {
    /// Sends `rpc` to `target` (reachable as described by `node`) and waits for its reply for
    /// at most `timeout`.
    fn call(
        &self,
        target: NodeId,
        node: &MemberNode,
        rpc: RaftRpc,
        timeout: Duration,
    ) -> impl Future<Output = Result<RaftRpcReply, TransportError>> + Send;
}

/// Runs an inbound RPC against the local Raft.
pub async fn serve(raft: &Raft, rpc: RaftRpc) -> RaftRpcReply {
    match rpc {
        RaftRpc::AppendEntries(req) => RaftRpcReply::AppendEntries(raft.append_entries(req).await),
        RaftRpc::Vote(req) => RaftRpcReply::Vote(raft.vote(req).await),
        RaftRpc::InstallSnapshot(req) => RaftRpcReply::InstallSnapshot(raft.install_snapshot(req).await),
    }
}
