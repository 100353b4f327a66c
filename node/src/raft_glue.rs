//! Raft over libp2p: the outbound [`RaftTransport`] and the inbound request handler.
//!
//! Outbound: openraft → [`Libp2pTransport::call`] → JSON of the [`RaftRpc`] inside a
//! `RaftRequest` → [`NetworkClient::request`] to the target's peer id and addresses, on a
//! pooled `/ossa/raft/1` stream.
//! Inbound: the router ([`crate::router`]) hands each `/ossa/raft/1` stream of an admitted
//! peer to [`serve_stream`], which passes its requests in turn to [`handle`]: Raft RPCs go to
//! `ossa_consensus::serve` (after checking the RPC's claimed sender is the authenticated
//! peer), forwarded writes to the local proposer (on behalf of the sender's org), joins to
//! [`crate::membership::handle_join`], read-index requests to the local Raft.

use std::time::Duration;

use libp2p::{Multiaddr, PeerId};
use ossa_consensus::{
    serve, Committed, MemberNode, NodeId, Proposal, RaftRpc, RaftRpcReply, RaftTransport, RegistryCommand,
    TransportError,
};
use tracing::Instrument;

use crate::admission::{node_id_of, AdmittedPeer};
use crate::daemon::NodeContext;
use crate::swarm::{InboundRaftStream, NetError, NetworkClient};
use crate::wire::pb::{self, raft_request, raft_response};
use crate::writes::leader_response;

/// Sends Raft RPCs over `/ossa/raft/1`.
#[derive(Clone)]
pub struct Libp2pTransport {
    net: NetworkClient,
}

impl Libp2pTransport {
    /// A transport over the swarm behind `net`.
    pub fn new(net: NetworkClient) -> Self {
        Self { net }
    }
}

/// Parses the peer id and addresses of a Raft member.
pub fn member_address(node: &MemberNode) -> Result<(PeerId, Vec<Multiaddr>), String> {
    let peer = node.peer_id.parse::<PeerId>().map_err(|e| format!("bad peer id {:?}: {e}", node.peer_id))?;
    let addrs = node.addrs.iter().filter_map(|a| a.parse().ok()).collect();
    Ok((peer, addrs))
}

impl RaftTransport for Libp2pTransport {
    async fn call(
        &self,
        _target: NodeId,
        node: &MemberNode,
        rpc: RaftRpc,
        timeout: Duration,
    ) -> Result<RaftRpcReply, TransportError> {
        let (peer, addrs) = member_address(node).map_err(TransportError::Unreachable)?;
        let body = serde_json::to_vec(&rpc).map_err(|e| TransportError::Failed(e.to_string()))?;
        let request = pb::RaftRequest { body: Some(raft_request::Body::Rpc(body)) };
        let response = self.net.request(peer, addrs, request, timeout).await.map_err(|e| match e {
            NetError::Unreachable(..) | NetError::Stopped => TransportError::Unreachable(e.to_string()),
            NetError::Timeout(_, after) => TransportError::Timeout(after),
            NetError::Failed(..) | NetError::Publish(_) => TransportError::Failed(e.to_string()),
        })?;
        match response.body {
            Some(raft_response::Body::RpcReply(bytes)) => {
                serde_json::from_slice(&bytes).map_err(|e| TransportError::Failed(format!("bad reply: {e}")))
            }
            Some(raft_response::Body::Error(message)) => Err(TransportError::Failed(message)),
            _ => Err(TransportError::Failed("unexpected reply to a raft rpc".into())),
        }
    }
}

fn error(message: impl Into<String>) -> pb::RaftResponse {
    pb::RaftResponse { body: Some(raft_response::Body::Error(message.into())) }
}

/// Serves the requests of one inbound `/ossa/raft/1` stream, one at a time (each in a
/// `raft_request` span), until the peer closes it, sends a frame that cannot be read, or is no
/// longer admitted.
pub async fn serve_stream(node: &NodeContext, mut stream: InboundRaftStream) {
    let peer = stream.from.peer_id;
    if let Err(e) = stream.go_ahead().await {
        tracing::debug!(%peer, error = %e, "raft stream closed before its go-ahead");
        return;
    }
    loop {
        let request = match stream.next_request().await {
            Ok(request) => request,
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return,
            Err(e) => {
                tracing::warn!(%peer, error = %e, "closing a raft stream that sent an unreadable frame");
                return;
            }
        };
        if !node.net.is_admitted(&peer) {
            node.metrics.unadmitted_requests.inc();
            tracing::debug!(%peer, "dropping a raft request of a peer no longer admitted");
            return;
        }
        let span = tracing::info_span!("raft_request", peer = %stream.from.org);
        let response = handle(node, stream.from.clone(), request).instrument(span).await;
        if let Err(e) = stream.respond(&response).await {
            tracing::debug!(%peer, error = %e, "raft stream closed before its answer");
            return;
        }
    }
}

/// Answers one inbound `/ossa/raft/1` request of an admitted peer.
pub async fn handle(node: &NodeContext, from: AdmittedPeer, request: pb::RaftRequest) -> pb::RaftResponse {
    match request.body {
        Some(raft_request::Body::Rpc(bytes)) => {
            let rpc: RaftRpc = match serde_json::from_slice(&bytes) {
                Ok(rpc) => rpc,
                Err(e) => return error(format!("malformed raft rpc: {e}")),
            };
            let sender = node_id_of(&from.peer_id);
            if rpc.claimed_sender().is_some_and(|claimed| claimed != sender) {
                tracing::warn!(peer = %from.peer_id, rpc = rpc.name(), "raft rpc claims another sender");
                return error("raft rpc claims to come from another node");
            }
            let reply = serve(&node.consensus.raft, rpc).await;
            match serde_json::to_vec(&reply) {
                Ok(bytes) => pb::RaftResponse { body: Some(raft_response::Body::RpcReply(bytes)) },
                Err(e) => error(format!("cannot encode reply: {e}")),
            }
        }
        Some(raft_request::Body::ClientWrite(bytes)) => {
            let command: RegistryCommand = match serde_json::from_slice(&bytes) {
                Ok(command) => command,
                Err(e) => return error(format!("malformed registry command: {e}")),
            };
            // Members are recorded only by the leader when a node joins; every other command is
            // proposed on behalf of the sender's org and checked by the registry at apply time.
            if matches!(command, RegistryCommand::AddMember { .. }) {
                return error(format!("{} cannot be forwarded by a peer", command.kind()));
            }
            let proposal = Proposal { by: from.org, command };
            match node.consensus.proposer.propose(proposal).await {
                Ok(Committed { response, log_index }) => match serde_json::to_vec(&response) {
                    Ok(response) => {
                        let written = pb::Written { response, log_index };
                        pb::RaftResponse { body: Some(raft_response::Body::Written(written)) }
                    }
                    Err(e) => error(format!("cannot encode reply: {e}")),
                },
                Err(e) => match e.forward_to_leader() {
                    Some(_) => leader_response(node),
                    None => error(e.to_string()),
                },
            }
        }
        Some(raft_request::Body::Join(join)) => crate::membership::handle_join(node, from, join.addrs).await,
        Some(raft_request::Body::ReadIndex(_)) => match node.consensus.raft.ensure_linearizable().await {
            Ok(read_log_id) => pb::RaftResponse {
                body: Some(raft_response::Body::ReadIndex(read_log_id.map(|l| l.index).unwrap_or(0))),
            },
            Err(e) => match e.forward_to_leader::<MemberNode>() {
                Some(_) => leader_response(node),
                None => error(e.to_string()),
            },
        },
        None => error("empty request"),
    }
}
