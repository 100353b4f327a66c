//! The libp2p swarm: one task owns it; everyone else talks to it through a [`NetworkClient`].
//!
//! ```text
//!  NetworkClient ──Command (bounded)──▶ EventLoop (owns Swarm<Behaviour>)
//!                                         │  admission on every connection
//!                                         │  outbound requests, held until the peer is admitted
//!  router task ◀──Inbound (bounded)───────┘  inbound /ossa/raft/1 requests of admitted peers
//!       └── answers with Command::Respond
//! ```
//!
//! A connection is useless until admission succeeds: inbound requests from an unadmitted
//! peer are dropped (and counted), outbound requests to it wait in a queue until it is
//! admitted or fails, and a peer that fails admission is disconnected and banned for a while.

mod behaviour;
mod event_loop;

use std::time::Duration;

use libp2p::request_response::ResponseChannel;
use libp2p::{Multiaddr, PeerId};
use tokio::sync::{mpsc, oneshot};

use crate::admission::AdmittedPeer;
use crate::wire::pb;

pub use event_loop::{spawn, SwarmSettings};

/// How many commands may wait for the swarm loop before senders are slowed down. Raft sends
/// at most a few RPCs per peer in flight; 1024 leaves room for bursts of client writes.
const COMMAND_QUEUE: usize = 1024;
/// How many inbound requests may wait for the router. Past this, new ones are dropped and the
/// sender times out and retries, which is how Raft expects an overloaded peer to behave.
const INBOUND_QUEUE: usize = 1024;

/// Why a request to a peer got no answer.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The peer could not be dialed, or refused/failed admission, or disconnected.
    #[error("peer {0} unreachable: {1}")]
    Unreachable(PeerId, String),
    /// No answer within the deadline.
    #[error("no answer from {0} within {1:?}")]
    Timeout(PeerId, Duration),
    /// The stream broke or the answer could not be decoded.
    #[error("request to {0} failed: {1}")]
    Failed(PeerId, String),
    /// The swarm loop has stopped.
    #[error("the network task has stopped")]
    Stopped,
}

/// An inbound `/ossa/raft/1` request from an admitted peer.
pub struct Inbound {
    /// Who sent it.
    pub from: AdmittedPeer,
    /// The request.
    pub request: pb::RaftRequest,
    /// Where the answer goes (hand it back with [`NetworkClient::respond`]).
    pub channel: ResponseChannel<pb::RaftResponse>,
}

/// What the swarm loop knows about the network, for status and joins.
#[derive(Debug, Clone, Default)]
pub struct NetworkView {
    /// Addresses this node listens on.
    pub listen_addrs: Vec<Multiaddr>,
    /// Admitted, connected peers.
    pub admitted: Vec<AdmittedPeer>,
}

pub(crate) enum Command {
    Request {
        peer: PeerId,
        addrs: Vec<Multiaddr>,
        request: pb::RaftRequest,
        reply: oneshot::Sender<Result<pb::RaftResponse, NetError>>,
    },
    Respond {
        channel: ResponseChannel<pb::RaftResponse>,
        response: pb::RaftResponse,
    },
    View {
        reply: oneshot::Sender<NetworkView>,
    },
}

/// Cloneable handle to the swarm loop.
#[derive(Clone)]
pub struct NetworkClient {
    commands: mpsc::Sender<Command>,
}

impl NetworkClient {
    /// Sends `request` to `peer` (dialing `addrs` if not connected) and waits up to `timeout`
    /// for the answer. The request leaves only once the peer is admitted.
    pub async fn request(
        &self,
        peer: PeerId,
        addrs: Vec<Multiaddr>,
        request: pb::RaftRequest,
        timeout: Duration,
    ) -> Result<pb::RaftResponse, NetError> {
        let (reply, answer) = oneshot::channel();
        self.commands.send(Command::Request { peer, addrs, request, reply }).await.map_err(|_| NetError::Stopped)?;
        match tokio::time::timeout(timeout, answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(NetError::Stopped),
            Err(_) => Err(NetError::Timeout(peer, timeout)),
        }
    }

    /// Answers an [`Inbound`] request.
    pub async fn respond(&self, channel: ResponseChannel<pb::RaftResponse>, response: pb::RaftResponse) {
        // If the loop has stopped, the node is shutting down and the answer has nowhere to go.
        let _ = self.commands.send(Command::Respond { channel, response }).await;
    }

    /// The loop's current view of the network.
    pub async fn view(&self) -> Result<NetworkView, NetError> {
        let (reply, answer) = oneshot::channel();
        self.commands.send(Command::View { reply }).await.map_err(|_| NetError::Stopped)?;
        answer.await.map_err(|_| NetError::Stopped)
    }
}
