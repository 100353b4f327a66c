//! The composed libp2p behaviour: identify, admission, the streams of `/ossa/raft/1`
//! (libp2p-stream), gossipsub, sync and discovery (Kademlia among admitted peers).

use std::time::Duration;

use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::NetworkBehaviour;
use libp2p::{gossipsub, identify, identity};
use sha2::{Digest, Sha256};

use super::discovery::Discovery;
use crate::wire::{pb, ProstCodec, ADMISSION_PROTOCOL, MAX_ADMISSION_MESSAGE, MAX_SYNC_MESSAGE, SYNC_PROTOCOL};

/// Protocol version announced by identify.
const IDENTIFY_PROTOCOL: &str = "/ossa/id/1";
/// An admission handshake is one small round trip; 10 s only cuts off a stalled peer.
const ADMISSION_TIMEOUT: Duration = Duration::from_secs(10);
/// A sync page is at most 4 MiB; 30 s allows for a slow link.
const SYNC_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest gossip message: every gossiped message is one signed record of a few KiB; the
/// record validator has its own, smaller limit.
pub const MAX_GOSSIP_MESSAGE: usize = 64 * 1024;
/// Gossipsub heartbeat: 200 ms instead of the default 1 s, so that lazy gossip (IHAVE/IWANT)
/// repairs a missed message within a fraction of a second in federations of up to 1000 nodes.
const GOSSIP_HEARTBEAT: Duration = Duration::from_millis(200);

/// Application score of the node of an org the circuit breaker quarantined: below gossipsub's
/// gossip threshold (-10), so it is pruned from meshes and neither sent nor asked for lazy
/// gossip, but above the graylist threshold (-80), so what it publishes is still judged. Its
/// gossip is deprioritized, not cut off: only revocation cuts an org off.
pub const QUARANTINED_APP_SCORE: f64 = -20.0;

/// Peer scoring: federation peers are admitted by certificate, so the signals that matter are
/// invalid messages (P4, on every topic; a handful graylist the sender) and the application
/// score (quarantine). IP colocation means nothing here (many orgs may share a host in tests or
/// a NAT in production), and mesh-delivery quotas (P3) would punish quiet topics.
fn peer_score_params() -> gossipsub::PeerScoreParams {
    gossipsub::PeerScoreParams { app_specific_weight: 1.0, ip_colocation_factor_weight: 0.0, ..Default::default() }
}

/// Score parameters of each of the node's topics (see [`peer_score_params`]).
fn topic_score_params() -> gossipsub::TopicScoreParams {
    gossipsub::TopicScoreParams {
        topic_weight: 1.0,
        time_in_mesh_weight: 0.0,
        first_message_deliveries_weight: 0.0,
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        invalid_message_deliveries_weight: -10.0,
        invalid_message_deliveries_decay: 0.9,
        ..Default::default()
    }
}

/// The node's gossipsub configuration.
///
/// Gossip is anonymous at the gossipsub layer (`ValidationMode::Anonymous`: no author, sequence
/// number or libp2p signature on a message), because every payload the node gossips (agent
/// records, certifications, observations, checkpoints, cosignatures, equivocation evidence)
/// carries its org's own signature, which the node checks before anything is forwarded
/// (`validate_messages`). A gossipsub signature would only add a second check, run on every
/// copy of a message a node receives rather than once: at 1000 nodes it was most of the CPU
/// time a record takes to spread. Who may gossip at all is decided by admission: the swarm
/// loop drops gossip from an unadmitted propagation source.
///
/// Without an author and sequence number, a message is named by its content
/// ([`content_message_id`]), so the same bytes gossiped twice are one message. The node never
/// needs to send identical bytes twice: a re-announced record has a new sequence number.
fn gossip_config() -> Result<gossipsub::Config, gossipsub::ConfigBuilderError> {
    gossipsub::ConfigBuilder::default()
        .validation_mode(gossipsub::ValidationMode::Anonymous)
        .message_id_fn(content_message_id)
        .validate_messages()
        .max_transmit_size(MAX_GOSSIP_MESSAGE)
        .heartbeat_interval(GOSSIP_HEARTBEAT)
        .build()
}

/// A gossip message's id: SHA-256 over its topic and its data. A collision-resistant hash,
/// because a peer that could make another message with the id of a valid one could have it
/// dropped as a duplicate.
fn content_message_id(message: &gossipsub::Message) -> gossipsub::MessageId {
    let mut hasher = Sha256::new();
    hasher.update(message.topic.as_str().as_bytes());
    hasher.update([0]);
    hasher.update(&message.data);
    gossipsub::MessageId::new(&hasher.finalize())
}

/// The node's gossipsub behaviour: [`gossip_config`] with peer scoring. `ossa bench gossip`
/// builds its nodes with it too, so that it measures what the node runs. It needs no key:
/// messages are anonymous.
pub(crate) fn gossip_behaviour() -> Result<gossipsub::Behaviour, BuildError> {
    let mut gossipsub = gossipsub::Behaviour::new(gossipsub::MessageAuthenticity::Anonymous, gossip_config()?)?;
    gossipsub.with_peer_score(peer_score_params(), gossipsub::PeerScoreThresholds::default())?;
    Ok(gossipsub)
}

/// Subscribes `gossipsub` to `topic` with the node's topic score parameters.
pub(crate) fn subscribe(gossipsub: &mut gossipsub::Behaviour, topic: &str) -> Result<(), BuildError> {
    let topic = gossipsub::IdentTopic::new(topic);
    gossipsub.subscribe(&topic)?;
    gossipsub.set_topic_params(topic, topic_score_params())?;
    Ok(())
}

/// Why a behaviour could not be built (only a bug in the constants above can cause it).
pub(crate) type BuildError = Box<dyn std::error::Error + Send + Sync>;

/// The node's behaviour.
#[derive(NetworkBehaviour)]
pub struct Behaviour {
    pub(super) identify: identify::Behaviour,
    pub(super) admission: request_response::Behaviour<ProstCodec<pb::AdmissionRequest, pb::AdmissionResponse>>,
    pub(super) raft_streams: libp2p_stream::Behaviour,
    pub(super) gossipsub: gossipsub::Behaviour,
    pub(super) sync: request_response::Behaviour<ProstCodec<pb::SyncRequest, pb::SyncResponse>>,
    pub(super) discovery: Discovery,
}

impl Behaviour {
    pub(super) fn new(key: &identity::Keypair) -> Result<Self, BuildError> {
        let identify = identify::Behaviour::new(identify::Config::new(IDENTIFY_PROTOCOL.to_owned(), key.public()));
        let admission = request_response::Behaviour::with_codec(
            ProstCodec::new(MAX_ADMISSION_MESSAGE),
            [(ADMISSION_PROTOCOL, ProtocolSupport::Full)],
            request_response::Config::default().with_request_timeout(ADMISSION_TIMEOUT),
        );
        let raft_streams = libp2p_stream::Behaviour::new();
        let gossipsub = gossip_behaviour()?;
        let sync = request_response::Behaviour::with_codec(
            ProstCodec::new(MAX_SYNC_MESSAGE),
            [(SYNC_PROTOCOL, ProtocolSupport::Full)],
            request_response::Config::default().with_request_timeout(SYNC_TIMEOUT),
        );
        let discovery = Discovery::new(key.public().to_peer_id());
        Ok(Self { identify, admission, raft_streams, gossipsub, sync, discovery })
    }
}
