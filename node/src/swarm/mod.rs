//! The libp2p swarm: one task owns it; everyone else talks to it through a [`NetworkClient`].
//!
//! ```text
//!  NetworkClient ──Command (bounded)──▶ EventLoop (owns Swarm<Behaviour>)
//!       │                                 │  admission on every connection; publishes the
//!       │                                 │  admitted peers (watch) for the raft streams
//!       │                                 │  sync requests, held until the peer is admitted
//!       └─ /ossa/raft/1 streams ─┐        │
//!  router task ◀──Inbound (bounded)───────┘  inbound raft streams, sync requests and gossip
//!       └── answers sync with Command::RespondSync, messages of admitted peers,
//!           judges gossip with Command::Validate    and admitted peers' disconnections
//! ```
//!
//! A connection is useless until admission succeeds: inbound requests, streams and gossip
//! from an unadmitted peer are dropped (and counted; gossip is reported `Reject`), outbound
//! requests to it wait until it is admitted or fails, and a peer that fails admission is
//! disconnected and banned for a while. `/ossa/raft/1` runs on long-lived streams outside the
//! swarm task (`raft_streams`).
//!
//! Peers beyond the bootstrap list are found by Kademlia (`/ossa/kad/1`, see `discovery`):
//!
//! ```text
//!  identify (listen addrs) + admission ──▶ routing table (admitted peers only)
//!  bootstrap (periodic) ──FIND_NODE──▶ admitted peers ──▶ the peers they name are dialed
//!  every few seconds: routing-table peers not connected are dialed
//!  every new connection ──▶ admission, as above; banned, cut-off and revoked peers are never dialed
//! ```

mod behaviour;
mod discovery;
mod raft_streams;
mod stream_limits;

pub use behaviour::QUARANTINED_APP_SCORE;
pub(crate) use behaviour::{gossip_behaviour, subscribe};
mod event_loop;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use libp2p::gossipsub::{MessageAcceptance, MessageId};
use libp2p::request_response::ResponseChannel;
use libp2p::{Multiaddr, PeerId};
use tokio::sync::{mpsc, oneshot, watch};

use crate::admission::AdmittedPeer;
use crate::wire::pb;

pub use event_loop::{spawn, SwarmSettings};
use raft_streams::{AdmittedPeers, StreamPool};
pub use raft_streams::{InboundRaftStream, FRAME_DEADLINE, MAX_IDLE_STREAMS_PER_PEER};

/// How many commands may wait for the swarm loop before senders are slowed down: gossip
/// publications and verdicts, sync requests and connection requests come in bursts.
const COMMAND_QUEUE: usize = 1024;
/// How many inbound items may wait for the router. Past this, new ones are dropped and the
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
    /// Gossipsub refused to publish.
    #[error("cannot publish: {0}")]
    Publish(String),
    /// The swarm loop has stopped.
    #[error("the network task has stopped")]
    Stopped,
}

/// Something an admitted peer sent, for the router to handle.
pub enum Inbound {
    /// A `/ossa/raft/1` stream, to be served until it ends.
    RaftStream(InboundRaftStream),
    /// A gossip message, to be judged with [`NetworkClient::validate`].
    Gossip(InboundGossip),
    /// A `/ossa/sync/1` request.
    Sync(InboundSync),
    /// The last connection to an admitted peer closed (it died, restarted, or was cut off).
    Disconnected(PeerId),
}

/// An inbound `/ossa/sync/1` request from an admitted peer.
pub struct InboundSync {
    /// Who sent it.
    pub from: AdmittedPeer,
    /// The request.
    pub request: pb::SyncRequest,
    /// Where the answer goes (hand it back with [`NetworkClient::respond_sync`]).
    pub channel: ResponseChannel<pb::SyncResponse>,
}

/// A gossip message received from an admitted peer, not yet forwarded.
pub struct InboundGossip {
    /// The peer that forwarded it to us.
    pub source: PeerId,
    /// Its gossipsub id.
    pub message_id: MessageId,
    /// Its topic.
    pub topic: String,
    /// Its data.
    pub data: Vec<u8>,
}

/// What the swarm loop knows about the network, for status and joins.
#[derive(Debug, Clone, Default)]
pub struct NetworkView {
    /// Addresses this node listens on.
    pub listen_addrs: Vec<Multiaddr>,
    /// Admitted, connected peers.
    pub admitted: Vec<AdmittedPeer>,
    /// Peers in the Kademlia routing table.
    pub routing_table: usize,
    /// Admissions since the node started, re-admissions included: a change between two views
    /// means some peer came (back), however briefly it was away.
    pub admissions: u64,
}

pub(crate) enum Command {
    /// Dial `peer` if not connected; answer once it is admitted.
    Connect {
        peer: PeerId,
        addrs: Vec<Multiaddr>,
        reply: oneshot::Sender<Result<(), NetError>>,
    },
    View {
        reply: oneshot::Sender<NetworkView>,
    },
    SetRevoked {
        orgs: HashSet<String>,
        peers: HashSet<PeerId>,
    },
    SetRetired {
        peers: HashSet<PeerId>,
    },
    SetApplicationScores {
        scores: Vec<(PeerId, f64)>,
    },
    SetBlocked {
        peers: HashSet<PeerId>,
    },
    Disconnect {
        peer: PeerId,
    },
    Publish {
        topic: String,
        data: Vec<u8>,
        reply: oneshot::Sender<Result<(), NetError>>,
    },
    Validate {
        message_id: MessageId,
        source: PeerId,
        acceptance: MessageAcceptance,
    },
    Sync {
        peer: PeerId,
        addrs: Vec<Multiaddr>,
        request: pb::SyncRequest,
        reply: oneshot::Sender<Result<pb::SyncResponse, NetError>>,
    },
    RespondSync {
        channel: ResponseChannel<pb::SyncResponse>,
        response: pb::SyncResponse,
    },
}

/// Cloneable handle to the swarm loop and the raft streams.
#[derive(Clone)]
pub struct NetworkClient {
    commands: mpsc::Sender<Command>,
    told_revoked: Arc<Mutex<HashSet<PeerId>>>,
    admitted: watch::Receiver<AdmittedPeers>,
    raft_streams: StreamPool,
}

impl NetworkClient {
    /// Sends `request` to `peer` on a `/ossa/raft/1` stream (dialing `addrs` if not connected)
    /// and waits up to `timeout` for the answer. The request leaves only once the peer is
    /// admitted.
    pub async fn request(
        &self,
        peer: PeerId,
        addrs: Vec<Multiaddr>,
        request: pb::RaftRequest,
        timeout: Duration,
    ) -> Result<pb::RaftResponse, NetError> {
        let exchange = async {
            self.connect(peer, addrs).await?;
            self.raft_streams.exchange(peer, &request).await
        };
        tokio::time::timeout(timeout, exchange).await.unwrap_or(Err(NetError::Timeout(peer, timeout)))
    }

    /// Returns once `peer` is admitted, dialing `addrs` if it is not connected.
    async fn connect(&self, peer: PeerId, addrs: Vec<Multiaddr>) -> Result<(), NetError> {
        if self.is_admitted(&peer) {
            return Ok(());
        }
        let (reply, answer) = oneshot::channel();
        self.commands.send(Command::Connect { peer, addrs, reply }).await.map_err(|_| NetError::Stopped)?;
        answer.await.map_err(|_| NetError::Stopped)?
    }

    /// Whether `peer` is admitted and not cut off, as the swarm loop last published.
    pub fn is_admitted(&self, peer: &PeerId) -> bool {
        self.admitted.borrow().contains_key(peer)
    }

    /// Publishes `data` on gossip `topic`. Having no peer subscribed yet is not an error: the
    /// message is then only known locally until it is re-announced or synced.
    pub async fn publish(&self, topic: String, data: Vec<u8>) -> Result<(), NetError> {
        let (reply, answer) = oneshot::channel();
        self.commands.send(Command::Publish { topic, data, reply }).await.map_err(|_| NetError::Stopped)?;
        answer.await.map_err(|_| NetError::Stopped)?
    }

    /// Tells gossipsub whether to forward (`Accept`), drop (`Ignore`) or drop and penalize the
    /// sender (`Reject`) an [`InboundGossip`] message.
    pub async fn validate(&self, message_id: MessageId, source: PeerId, acceptance: MessageAcceptance) {
        let _ = self.commands.send(Command::Validate { message_id, source, acceptance }).await;
    }

    /// Sends a `/ossa/sync/1` request (a directory page or an audit proof) to `peer`, dialing
    /// `addrs` if not connected; it leaves only once the peer is admitted.
    pub async fn sync(
        &self,
        peer: PeerId,
        addrs: Vec<Multiaddr>,
        request: pb::SyncRequest,
        timeout: Duration,
    ) -> Result<pb::SyncResponse, NetError> {
        let (reply, answer) = oneshot::channel();
        self.commands.send(Command::Sync { peer, addrs, request, reply }).await.map_err(|_| NetError::Stopped)?;
        match tokio::time::timeout(timeout, answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(NetError::Stopped),
            Err(_) => Err(NetError::Timeout(peer, timeout)),
        }
    }

    /// Answers an [`InboundSync`] request.
    pub async fn respond_sync(&self, channel: ResponseChannel<pb::SyncResponse>, response: pb::SyncResponse) {
        let _ = self.commands.send(Command::RespondSync { channel, response }).await;
    }

    /// Fault injection (testnets only): cuts the links to `peers` and refuses them until the
    /// set is replaced; an empty set heals.
    pub async fn set_blocked(&self, peers: HashSet<PeerId>) -> Result<(), NetError> {
        self.commands.send(Command::SetBlocked { peers }).await.map_err(|_| NetError::Stopped)
    }

    /// Closes the connections to `peer` once; either side may connect again at once (fault
    /// injection: a link that flaps).
    pub async fn disconnect(&self, peer: PeerId) -> Result<(), NetError> {
        self.commands.send(Command::Disconnect { peer }).await.map_err(|_| NetError::Stopped)
    }

    /// Sets gossipsub application scores of peers (see [`QUARANTINED_APP_SCORE`]).
    pub async fn set_application_scores(&self, scores: Vec<(PeerId, f64)>) -> Result<(), NetError> {
        self.commands.send(Command::SetApplicationScores { scores }).await.map_err(|_| NetError::Stopped)
    }

    /// Replaces the set of revoked orgs and of their nodes' peer ids: their connected nodes are
    /// disconnected and banned now, refused at admission and never dialed from then on.
    pub async fn set_revoked(&self, orgs: HashSet<String>, peers: HashSet<PeerId>) -> Result<(), NetError> {
        self.commands.send(Command::SetRevoked { orgs, peers }).await.map_err(|_| NetError::Stopped)
    }

    /// Replaces the set of retired keys (see `ossa_consensus::KeyRotation`): their connected
    /// nodes are disconnected and banned now, and refused at admission from then on.
    pub async fn set_retired(&self, peers: HashSet<PeerId>) -> Result<(), NetError> {
        self.commands.send(Command::SetRetired { peers }).await.map_err(|_| NetError::Stopped)
    }

    /// The peers that refused this node because, they said, the federation revoked its org (a
    /// revoked node may be cut off before it applies the revocation itself). Unverified: the
    /// caller trusts only peers it knows as members.
    pub fn told_revoked_by(&self) -> HashSet<PeerId> {
        self.told_revoked.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The loop's current view of the network.
    pub async fn view(&self) -> Result<NetworkView, NetError> {
        let (reply, answer) = oneshot::channel();
        self.commands.send(Command::View { reply }).await.map_err(|_| NetError::Stopped)?;
        answer.await.map_err(|_| NetError::Stopped)
    }
}
