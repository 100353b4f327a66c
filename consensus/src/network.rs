//! openraft's network traits over a [`RaftTransport`].
//!
//! One [`PeerClient`] per target node; each RPC is wrapped in a [`RaftRpc`], sent with the
//! deadline openraft gives (`RPCOption::hard_ttl`), and the outcome mapped as openraft expects:
//! an unreachable peer is `Unreachable` (openraft backs off), a timeout or a broken exchange is
//! a `NetworkError` (openraft retries), and the remote Raft's own error is a `RemoteError`.

use openraft::error::{InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, VoteRequest,
    VoteResponse,
};

use crate::transport::{RaftRpc, RaftRpcReply, RaftTransport, TransportError};
use crate::types::{MemberNode, TypeConfig};
use crate::NodeId;

/// Creates a [`PeerClient`] per target.
pub struct NetworkFactory<T> {
    transport: T,
}

impl<T> NetworkFactory<T> {
    /// Wraps a transport.
    pub fn new(transport: T) -> Self {
        Self { transport }
    }
}

/// Sends the RPCs of one replication stream to one target.
pub struct PeerClient<T> {
    transport: T,
    target: NodeId,
    node: MemberNode,
}

impl<T: RaftTransport> RaftNetworkFactory<TypeConfig> for NetworkFactory<T> {
    type Network = PeerClient<T>;

    async fn new_client(&mut self, target: NodeId, node: &MemberNode) -> Self::Network {
        PeerClient { transport: self.transport.clone(), target, node: node.clone() }
    }
}

type RpcResult<R, E> = Result<R, RPCError<NodeId, MemberNode, RaftError<NodeId, E>>>;

#[derive(Debug, thiserror::Error)]
#[error("peer answered {0} to a different request")]
struct MismatchedReply(&'static str);

impl<T: RaftTransport> PeerClient<T> {
    async fn send(&self, rpc: RaftRpc, option: &RPCOption) -> Result<RaftRpcReply, TransportError> {
        self.transport.call(self.target, &self.node, rpc, option.hard_ttl()).await
    }

    fn map_reply<R, E: std::error::Error>(
        &self,
        reply: Result<RaftRpcReply, TransportError>,
        pick: impl FnOnce(RaftRpcReply) -> Result<Result<R, RaftError<NodeId, E>>, &'static str>,
    ) -> RpcResult<R, E> {
        match reply {
            Ok(reply) => match pick(reply) {
                Ok(Ok(response)) => Ok(response),
                Ok(Err(remote)) => Err(RPCError::RemoteError(RemoteError::new(self.target, remote))),
                Err(kind) => Err(RPCError::Network(NetworkError::new(&MismatchedReply(kind)))),
            },
            Err(err @ TransportError::Unreachable(_)) => Err(RPCError::Unreachable(Unreachable::new(&err))),
            Err(err) => Err(RPCError::Network(NetworkError::new(&err))),
        }
    }
}

impl<T: RaftTransport> RaftNetwork<TypeConfig> for PeerClient<T> {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<NodeId>, openraft::error::Infallible> {
        let reply = self.send(RaftRpc::AppendEntries(rpc), &option).await;
        self.map_reply(reply, |r| match r {
            RaftRpcReply::AppendEntries(res) => Ok(res),
            _ => Err("append_entries"),
        })
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<NodeId>, InstallSnapshotError> {
        let reply = self.send(RaftRpc::InstallSnapshot(rpc), &option).await;
        self.map_reply(reply, |r| match r {
            RaftRpcReply::InstallSnapshot(res) => Ok(res),
            _ => Err("install_snapshot"),
        })
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> RpcResult<VoteResponse<NodeId>, openraft::error::Infallible> {
        let reply = self.send(RaftRpc::Vote(rpc), &option).await;
        self.map_reply(reply, |r| match r {
            RaftRpcReply::Vote(res) => Ok(res),
            _ => Err("vote"),
        })
    }
}
