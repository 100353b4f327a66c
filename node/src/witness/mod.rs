//! Witnessing: the stewards check every other org's audit checkpoints, cosign the consistent
//! ones and catch a log that shows two histories.
//!
//! Witnesses are the stewards (by the registry as this node has applied it; [`witnesses_of`]),
//! not every org: each checkpoint then costs a proof fetch and a cosignature per steward
//! rather than per org, and the gossip grows with orgs x stewards instead of with the square
//! of the orgs. Every node still verifies and forwards checkpoints, cosignatures and
//! equivocation evidence, and every org's log, a member's included, is witnessed by all the
//! stewards. An auditor names the witnesses they trust when they verify (`--witness-cert`).
//!
//! Data flow, on gossip topic `ossa/<federation>/checkpoints/1` ([`checkpoints_topic`]):
//!
//! 1. A node's checkpointer ([`crate::checkpoints`]) publishes each new checkpoint note.
//! 2. A peer validates it before forwarding ([`Witness::on_gossip`]): the origin must be
//!    `<federation>/<org>` of a registry member, and the note signed by that member's key (the
//!    key inside its peer id). Then, off the validation path, it compares the checkpoint with
//!    the last one it accepted from that log ([`seen`], kept in sled so a restart does not
//!    forget): a larger tree needs an RFC 9162 consistency proof, which it fetches from the
//!    log's node over `/ossa/sync/1` ([`serve_consistency`] answers); the same size needs the
//!    same root. The first checkpoint seen from a log is accepted as is (trust on first use).
//! 3. A consistent checkpoint is cosigned (C2SP `tlog-cosignature`, witness name = the
//!    witness's own log origin) and the cosigned note gossiped; nodes forward it if a
//!    steward's cosignature on it verifies, and the log's node merges the stewards' verified
//!    cosignatures into its own copy of the note
//!    ([`crate::checkpoints::OwnCheckpoints::add_cosignatures`]).
//! 4. Two checkpoints signed by one log of the same size with different roots, or whose
//!    consistency proof fails, are equivocation: the pair is kept as evidence ([`evidence`]),
//!    audited, counted in `ossa_audit_equivocating_orgs` and gossiped. A node that receives
//!    evidence checks it itself (both signatures; same size, or a failing proof it fetches)
//!    before it records and forwards it. The trust scores read [`Witness::equivocating`].
//!
//! Witnessing needs the log's node to be connected to fetch a proof; when it is not, the
//! checkpoint is left unwitnessed and the next one is compared with the same last one.

pub mod evidence;
mod gossip;
pub mod seen;

use std::sync::Arc;

use ossa_audit::Hash;
use ossa_consensus::{MemberRole, Registry};
use prost::Message;

pub use gossip::serve_consistency;

use crate::daemon::NodeContext;
use crate::wire::pb;

/// The checkpoints gossip topic of a federation.
pub fn checkpoints_topic(federation: &str) -> String {
    format!("ossa/{federation}/checkpoints/1")
}

/// Most hashes a consistency proof can have (two per level of a tree of 2^64 leaves).
const MAX_PROOF_HASHES: usize = 128;

/// The witness state of a node.
pub struct Witness {
    topic: String,
    seen: seen::SeenCheckpoints,
    evidence: evidence::EvidenceStore,
}

impl Witness {
    /// Opens the witness state stored in `db`.
    pub fn open(db: &sled::Db, federation: &str) -> Result<Self, sled::Error> {
        Ok(Self {
            topic: checkpoints_topic(federation),
            seen: seen::SeenCheckpoints::open(db)?,
            evidence: evidence::EvidenceStore::open(db)?,
        })
    }

    /// The gossip topic this witness listens on.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Orgs with confirmed equivocation evidence.
    pub fn equivocating(&self) -> Vec<String> {
        self.evidence.orgs()
    }

    /// All equivocation evidence held.
    pub fn evidence(&self) -> Vec<evidence::Evidence> {
        self.evidence.all()
    }

    /// Judges a checkpoints gossip message (see the module docs).
    pub async fn on_gossip(
        &self,
        node: &Arc<NodeContext>,
        source: libp2p::PeerId,
        data: &[u8],
    ) -> libp2p::gossipsub::MessageAcceptance {
        gossip::on_gossip(node, source, data).await
    }
}

/// Publishes this node's new checkpoint for witnessing.
pub async fn publish_checkpoint(node: &NodeContext, note: String) {
    publish(node, pb::checkpoint_gossip::Body::Checkpoint(note)).await;
}

async fn publish(node: &NodeContext, body: pb::checkpoint_gossip::Body) {
    let data = pb::CheckpointGossip { body: Some(body) }.encode_to_vec();
    if let Err(err) = node.net.publish(node.witness.topic.clone(), data).await {
        tracing::debug!(%err, "cannot publish checkpoint gossip");
    }
}

/// Whether `org` witnesses the other orgs' checkpoints: the stewards do.
fn is_witness(registry: &Registry, org: &str) -> bool {
    registry.members.get(org).is_some_and(|member| member.role == MemberRole::Steward)
}

/// How many witnesses can cosign `org`'s checkpoints: the stewards other than `org`.
pub fn witnesses_of(registry: &Registry, org: &str) -> usize {
    registry.members.values().filter(|member| member.role == MemberRole::Steward && member.org != org).count()
}

/// A key that signs a log's checkpoints, and the peer id it gives.
type LogKey = (libp2p::PeerId, [u8; 32]);

/// The member org whose log `origin` names (`<federation>/<org>`), with the peer ids and keys
/// that speak for it now: its node's key, and while a key rotation's grace period runs, the
/// old key too (the node signs with it until it restarts).
fn log_owner(registry: &Registry, federation: &str, origin: &str) -> Option<(String, Vec<LogKey>)> {
    let org = origin.strip_prefix(federation)?.strip_prefix('/')?;
    let member = registry.members.get(org)?;
    let old = registry.rotations.get(org).and_then(|history| history.last()).map(|r| r.old_peer_id.as_str());
    let now = crate::clock::now_ms();
    let keys = std::iter::once(member.peer_id.as_str())
        .chain(old.filter(|peer| registry.speaks_for(org, peer, now)))
        .filter_map(|peer| {
            let peer: libp2p::PeerId = peer.parse().ok()?;
            Some((peer, crate::admission::public_key_of_peer(&peer)?))
        })
        .collect();
    Some((org.to_owned(), keys))
}

/// Decodes proof hashes from the wire, refusing wrong lengths and too many.
fn decode_hashes(raw: &[Vec<u8>]) -> Option<Vec<Hash>> {
    if raw.len() > MAX_PROOF_HASHES {
        return None;
    }
    raw.iter().map(|h| Hash::try_from(h.as_slice()).ok()).collect()
}
