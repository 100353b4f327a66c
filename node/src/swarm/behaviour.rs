//! The composed libp2p behaviour: identify, admission and the Raft request-response protocol.

use std::time::Duration;

use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::NetworkBehaviour;
use libp2p::{identify, identity};

use crate::wire::{pb, ProstCodec, ADMISSION_PROTOCOL, MAX_ADMISSION_MESSAGE, MAX_RAFT_MESSAGE, RAFT_PROTOCOL};

/// Protocol version announced by identify.
const IDENTIFY_PROTOCOL: &str = "/ossa/id/1";
/// An admission handshake is one small round trip; 10 s only cuts off a stalled peer.
const ADMISSION_TIMEOUT: Duration = Duration::from_secs(10);
/// The slowest `/ossa/raft/1` request is a join, which waits for the new learner to catch up
/// with the log; Raft RPCs carry their own, shorter deadlines on top of this.
const RAFT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The node's behaviour.
#[derive(NetworkBehaviour)]
pub struct Behaviour {
    pub(super) identify: identify::Behaviour,
    pub(super) admission: request_response::Behaviour<ProstCodec<pb::AdmissionRequest, pb::AdmissionResponse>>,
    pub(super) raft: request_response::Behaviour<ProstCodec<pb::RaftRequest, pb::RaftResponse>>,
}

impl Behaviour {
    pub(super) fn new(key: &identity::Keypair) -> Self {
        let identify = identify::Behaviour::new(identify::Config::new(IDENTIFY_PROTOCOL.to_owned(), key.public()));
        let admission = request_response::Behaviour::with_codec(
            ProstCodec::new(MAX_ADMISSION_MESSAGE),
            [(ADMISSION_PROTOCOL, ProtocolSupport::Full)],
            request_response::Config::default().with_request_timeout(ADMISSION_TIMEOUT),
        );
        let raft = request_response::Behaviour::with_codec(
            ProstCodec::new(MAX_RAFT_MESSAGE),
            [(RAFT_PROTOCOL, ProtocolSupport::Full)],
            request_response::Config::default().with_request_timeout(RAFT_REQUEST_TIMEOUT),
        );
        Self { identify, admission, raft }
    }
}
