//! Judging checkpoints gossip, witnessing, and serving consistency proofs (see the module
//! docs of [`crate::witness`]).

use std::sync::Arc;
use std::time::Duration;

use libp2p::gossipsub::MessageAcceptance;
use libp2p::PeerId;
use ossa_audit::{
    cosign_checkpoint, parse_note, verify_checkpoint, verify_consistency, verify_cosignature, Checkpoint, EntryDraft,
};
use prost::Message;

use super::evidence::Evidence;
use super::{decode_hashes, is_witness, log_owner, publish, LogKey};
use crate::checkpoints::audit_origin;
use crate::clock::now_ms;
use crate::daemon::NodeContext;
use crate::wire::pb::{self, checkpoint_gossip::Body};

/// Deadline of a consistency proof fetch: one round trip to a connected peer.
const PROOF_TIMEOUT: Duration = Duration::from_secs(5);

/// A checkpoint note that verified under its log's key.
struct Signed {
    org: String,
    peer: PeerId,
    origin: String,
    checkpoint: Checkpoint,
    note: String,
}

/// Why a message was refused; `reason` labels the metric.
struct Refusal {
    reason: &'static str,
    detail: String,
}

fn refuse(reason: &'static str, detail: impl Into<String>) -> Refusal {
    Refusal { reason, detail: detail.into() }
}

impl Refusal {
    /// Whether gossipsub should lower the forwarder's score. A log or witness this node does
    /// not know (yet) may be a member whose admission it has not applied: not the sender's fault.
    fn penalizes_sender(&self) -> bool {
        !matches!(self.reason, "unknown_log" | "no_known_cosigner")
    }
}

pub(super) async fn on_gossip(node: &Arc<NodeContext>, source: PeerId, data: &[u8]) -> MessageAcceptance {
    let judged = match pb::CheckpointGossip::decode(data).ok().and_then(|m| m.body) {
        None => Err(refuse("malformed", "not a checkpoint gossip message")),
        Some(Body::Checkpoint(note)) => on_checkpoint(node, note),
        Some(Body::Cosigned(note)) => on_cosigned(node, &note),
        Some(Body::Equivocation(pair)) => on_equivocation(node, pair).await,
    };
    match judged {
        Ok(acceptance) => acceptance,
        Err(refusal) => {
            node.metrics.witness_rejected(refusal.reason);
            if refusal.reason == "bad_signature" {
                node.trust.note_invalid_signature(node, source, data);
            }
            tracing::debug!(reason = refusal.reason, detail = %refusal.detail, "checkpoint gossip refused");
            if refusal.penalizes_sender() {
                MessageAcceptance::Reject
            } else {
                MessageAcceptance::Ignore
            }
        }
    }
}

/// Checks that `note` is a checkpoint signed by the member whose log it names.
fn signed_by_member(node: &NodeContext, note: &str) -> Result<Signed, Refusal> {
    let parsed = ossa_audit::parse_checkpoint(note).map_err(|e| refuse("malformed", e.to_string()))?;
    let owner = log_owner(&node.consensus.registry.read().registry, &node.federation, &parsed.origin);
    let (org, keys) = owner.ok_or_else(|| refuse("unknown_log", format!("{} is no member's log", parsed.origin)))?;
    let mut failure = format!("{org} has no usable key");
    for (peer, key) in keys {
        match verify_checkpoint(note, &parsed.origin, &key) {
            Ok(checkpoint) => {
                return Ok(Signed { org, peer, origin: parsed.origin, checkpoint, note: note.to_owned() })
            }
            Err(e) => failure = e.to_string(),
        }
    }
    Err(refuse("bad_signature", failure))
}

/// A log's own checkpoint: forward it if its signature holds, and, if this node's org is a
/// witness, witness it in the background.
fn on_checkpoint(node: &Arc<NodeContext>, note: String) -> Result<MessageAcceptance, Refusal> {
    let signed = signed_by_member(node, &note)?;
    if signed.org != node.org && is_witness(&node.consensus.registry.read().registry, &node.org) {
        let node = node.clone();
        tokio::spawn(async move { witness(&node, signed).await });
    }
    Ok(MessageAcceptance::Accept)
}

/// Compares `signed` with the last checkpoint accepted from its log; cosigns it if
/// consistent, records equivocation if not.
async fn witness(node: &NodeContext, signed: Signed) {
    let seen = &node.witness.seen;
    let lock = seen.lock_for(&signed.origin);
    let _guard = lock.lock().await;
    let Some(last) = seen.get(&signed.origin) else {
        return accept_and_cosign(node, &signed).await;
    };
    let (old, new) = (&last.checkpoint, &signed.checkpoint);
    if new.size < old.size {
        return; // older than one already witnessed
    }
    if new.size == old.size && new.root == old.root {
        return cosign(node, &signed).await; // published again: it lacks cosignatures
    }
    if new.size == old.size {
        return confirm(node, &signed, &last.note, "same_size_different_root").await;
    }
    match fetch_consistency(node, signed.peer, old.size, new.size).await {
        Ok(proof) => match verify_consistency(old.size, new.size, &old.root, &new.root, &proof) {
            Ok(()) => accept_and_cosign(node, &signed).await,
            Err(err) => {
                tracing::warn!(log = %signed.origin, %err, "consistency proof fails");
                confirm(node, &signed, &last.note, "inconsistent").await;
            }
        },
        Err(err) => tracing::debug!(log = %signed.origin, %err, "checkpoint left unwitnessed"),
    }
}

async fn accept_and_cosign(node: &NodeContext, signed: &Signed) {
    if let Err(err) = node.witness.seen.set(&signed.origin, &signed.note) {
        tracing::warn!(%err, "cannot store witnessed checkpoint");
        return;
    }
    cosign(node, signed).await;
}

async fn cosign(node: &NodeContext, signed: &Signed) {
    let me = audit_origin(&node.federation, &node.org);
    match cosign_checkpoint(&signed.note, &me, &node.key, now_ms() / 1000) {
        Ok(cosigned) => {
            node.metrics.cosignatures_made.inc();
            publish(node, Body::Cosigned(cosigned)).await;
        }
        Err(err) => tracing::warn!(%err, "cannot cosign checkpoint"),
    }
}

async fn fetch_consistency(
    node: &NodeContext,
    peer: PeerId,
    from: u64,
    to: u64,
) -> Result<Vec<ossa_audit::Hash>, String> {
    let request = pb::SyncRequest {
        consistency: Some(pb::ConsistencyProofRequest { from_size: from, to_size: to }),
        ..Default::default()
    };
    let response =
        node.net.sync(peer, raft_addrs(node, &peer), request, PROOF_TIMEOUT).await.map_err(|e| e.to_string())?;
    let answer = response.consistency.ok_or("the peer sent no consistency proof")?;
    if !answer.error.is_empty() {
        return Err(format!("the peer cannot prove it: {}", answer.error));
    }
    decode_hashes(&answer.hashes).ok_or_else(|| "malformed proof hashes".to_owned())
}

/// The addresses of `peer` in the Raft membership, to dial it if not connected.
fn raft_addrs(node: &NodeContext, peer: &PeerId) -> Vec<libp2p::Multiaddr> {
    let metrics = node.consensus.raft.metrics().borrow().clone();
    let member = metrics.membership_config.membership().get_node(&crate::admission::node_id_of(peer)).cloned();
    member.map(|m| m.addrs.iter().filter_map(|a| a.parse().ok()).collect()).unwrap_or_default()
}

/// Records confirmed equivocation (if new for the org), audits it and gossips the evidence.
async fn confirm(node: &NodeContext, signed: &Signed, other: &str, kind: &str) {
    if record(node, signed, other, kind) {
        let pair = pb::Equivocation { first: other.to_owned(), second: signed.note.clone() };
        publish(node, Body::Equivocation(pair)).await;
    }
}

/// Stores and audits evidence; returns whether it was new.
fn record(node: &NodeContext, signed: &Signed, other: &str, kind: &str) -> bool {
    let evidence = Evidence {
        org: signed.org.clone(),
        origin: signed.origin.clone(),
        first: other.to_owned(),
        second: signed.note.clone(),
        kind: kind.to_owned(),
        confirmed_at_ms: now_ms(),
    };
    match node.witness.evidence.insert(&evidence) {
        Ok(false) => false,
        Ok(true) => {
            tracing::warn!(org = %signed.org, kind, "audit log equivocation confirmed");
            node.metrics.equivocating_orgs.set(node.witness.evidence.orgs().len() as i64);
            let draft = EntryDraft {
                time_ms: evidence.confirmed_at_ms,
                kind: "audit.equivocation".into(),
                actor: signed.org.clone(),
                payload: serde_json::json!({ "origin": evidence.origin, "kind": kind,
                    "first": evidence.first, "second": evidence.second }),
                raft_index: None,
            };
            if let Err(err) = node.audit.append(draft) {
                tracing::warn!(%err, "cannot audit equivocation");
            }
            true
        }
        Err(err) => {
            tracing::warn!(%err, "cannot store equivocation evidence");
            false
        }
    }
}

/// A witness's cosigned note. For this node's own log, the verified cosignatures are merged
/// into the note; others forward it if some steward's cosignature holds. Cosignatures by
/// other orgs are left out.
fn on_cosigned(node: &NodeContext, note: &str) -> Result<MessageAcceptance, Refusal> {
    let signed = signed_by_member(node, note)?;
    let mut parsed = parse_note(note).map_err(|e| refuse("malformed", e.to_string()))?;
    // Each cosigning line's witness keys, looked up under the registry's lock; checked after.
    let candidates: Vec<(String, Vec<LogKey>)> = {
        let registry = &node.consensus.registry.read().registry;
        let keys_of = |name: &str| {
            let (org, keys) = log_owner(registry, &node.federation, name)?;
            (org != signed.org && is_witness(registry, &org)).then_some(keys)
        };
        let lines = parsed.signatures.iter().filter(|line| line.name != signed.origin);
        lines.filter_map(|line| Some((line.name.clone(), keys_of(&line.name)?))).collect()
    };
    let verified: Vec<String> = candidates
        .into_iter()
        .filter(|(name, keys)| keys.iter().any(|(_, key)| verify_cosignature(note, name, key).is_ok()))
        .map(|(name, _)| name)
        .collect();
    parsed.signatures.retain(|line| line.name == signed.origin || verified.contains(&line.name));
    let cosigners = parsed.signatures.iter().filter(|line| line.name != signed.origin).count();
    if cosigners == 0 {
        return Err(refuse("no_known_cosigner", "no cosignature by a known steward verifies"));
    }
    if signed.org == node.org {
        match node.checkpoints.add_cosignatures(&parsed.encode()) {
            Ok(true) => {
                node.metrics.cosignatures_received.inc_by(cosigners as u64);
            }
            Ok(false) => tracing::debug!(size = signed.checkpoint.size, "cosignature of a checkpoint no longer kept"),
            Err(err) => tracing::debug!(%err, "cannot merge cosignature"),
        }
    }
    Ok(MessageAcceptance::Accept)
}

/// Evidence from a peer: both notes must be signed by the same member's log and conflict;
/// a pair of different sizes is confirmed only if the log's node cannot prove consistency.
async fn on_equivocation(node: &Arc<NodeContext>, pair: pb::Equivocation) -> Result<MessageAcceptance, Refusal> {
    let first = signed_by_member(node, &pair.first)?;
    let second = signed_by_member(node, &pair.second)?;
    if first.origin != second.origin {
        return Err(refuse("bad_evidence", "the two checkpoints are of different logs"));
    }
    let (old, new) = if first.checkpoint.size <= second.checkpoint.size { (first, second) } else { (second, first) };
    let kind = if old.checkpoint.size == new.checkpoint.size {
        if old.checkpoint.root == new.checkpoint.root {
            return Err(refuse("bad_evidence", "the two checkpoints agree"));
        }
        "same_size_different_root"
    } else {
        let (a, b) = (&old.checkpoint, &new.checkpoint);
        match fetch_consistency(node, new.peer, a.size, b.size).await {
            Ok(proof) if verify_consistency(a.size, b.size, &a.root, &b.root, &proof).is_ok() => {
                return Err(refuse("bad_evidence", "the log proves the two checkpoints consistent"));
            }
            Ok(_) => "inconsistent",
            // Cannot judge without the log's node: keep it from spreading further from here.
            Err(_) => return Ok(MessageAcceptance::Ignore),
        }
    };
    record(node, &new, &old.note, kind);
    Ok(MessageAcceptance::Accept)
}

/// Answers a consistency proof request from this node's audit log (on the blocking pool: the
/// proof may first write the log's tail).
pub async fn serve_consistency(node: &NodeContext, request: &pb::ConsistencyProofRequest) -> pb::SyncResponse {
    let (from, to) = (request.from_size, request.to_size);
    let answer = match node.audit_blocking(move |audit| audit.consistency_proof(from, to)).await {
        Ok(hashes) => {
            pb::ConsistencyProofResponse { hashes: hashes.iter().map(|h| h.to_vec()).collect(), error: String::new() }
        }
        Err(err) => pb::ConsistencyProofResponse { hashes: Vec::new(), error: err.to_string() },
    };
    pb::SyncResponse { consistency: Some(answer), ..Default::default() }
}
