//! Rotating this org's node key, and enforcing other orgs' rotations.
//!
//! The operator's side (`ossa org rotate`) is two steps around the federation admin:
//!
//! ```text
//!  ossa org rotate --dir D            new key + CSR in D/rotation/
//!  ossa federation admit ... CSR      the CA issues a certificate for the new key
//!  ossa org rotate --dir D --cert C   POST /v1/org/rotate ──▶ propose(): the certificate must
//!                                     chain to the CA, name this org and bind the new key;
//!                                     RotateKey committed through Raft
//!                                     then the CLI installs the new key and certificate in D
//!                                     (the old ones move to D/retired/); restart the node
//! ```
//!
//! Until the restart the running node keeps its old key, which the federation honours for the
//! grace period given (`ossa_consensus::KeyRotation`). On restart the node comes up on the new
//! key: it joins Raft under its new node id (the leader drops the old id once the new one is in
//! place, see [`crate::voters`]) and re-signs its agent records with the new key.
//!
//! On every node, [`run_retirement`] hands the swarm the keys whose grace period is over: they
//! are disconnected and refused at admission (reason `key_retired`) from then on.

use std::collections::HashSet;
use std::sync::Arc;

use libp2p::PeerId;
use ossa_consensus::{KeyRotation, RegistryCommand, RegistryResponse, MAX_ROTATION_GRACE_MS};
use ossa_trust::{parse_org_cert_pem, pem_to_der, verify_org_cert, MAX_PEM_BYTES};

use crate::admission::{check_binding, node_id_of, peer_id_of_key};
use crate::clock::now_ms;
use crate::daemon::NodeContext;
use crate::revocation::ENFORCE_PERIOD;
use crate::writes::{submit, WriteError};

/// Why a rotation was refused.
#[derive(Debug, thiserror::Error)]
pub enum RotationError {
    /// The certificate is not a valid certificate of this federation for this org.
    #[error("the new certificate is not acceptable: {0}")]
    Certificate(String),
    /// The grace period is too long.
    #[error("the grace period is at most {MAX_ROTATION_GRACE_MS} ms")]
    Grace,
    /// The registry refused the rotation.
    #[error("{reason}")]
    Refused {
        /// The registry's refusal code.
        code: ossa_consensus::RefusalCode,
        /// Why.
        reason: String,
    },
    /// The write did not commit.
    #[error(transparent)]
    Write(#[from] WriteError),
}

/// Proposes replacing this node's key by the one `cert_pem` was issued for, the old key being
/// honoured for `grace_ms` more. Checks the certificate first; commits `RotateKey`.
pub async fn propose(node: &NodeContext, cert_pem: &str, grace_ms: u64) -> Result<KeyRotation, RotationError> {
    if grace_ms > MAX_ROTATION_GRACE_MS {
        return Err(RotationError::Grace);
    }
    let new_peer = check_new_certificate(node, cert_pem)?;
    let command = RegistryCommand::RotateKey {
        new_peer_id: new_peer.to_string(),
        new_node_id: node_id_of(&new_peer),
        grace_ms,
        at_ms: now_ms(),
    };
    match submit(node, command).await? {
        RegistryResponse::KeyRotated { rotation } => {
            tracing::warn!(new_peer = %rotation.new_peer_id, retire_at_ms = rotation.retire_at_ms,
                "node key rotated: restart the node on the new key before the old one retires");
            Ok(rotation)
        }
        RegistryResponse::Refused { code, reason } => Err(RotationError::Refused { code, reason }),
        other => Err(RotationError::Refused {
            code: ossa_consensus::RefusalCode::Invalid,
            reason: format!("unexpected registry answer {other:?}"),
        }),
    }
}

/// The peer id of the new key, if `cert_pem` is a valid certificate of this federation, for
/// this org, binding a key other than the current one.
fn check_new_certificate(node: &NodeContext, cert_pem: &str) -> Result<PeerId, RotationError> {
    let bad = |why: String| RotationError::Certificate(why);
    if cert_pem.len() > MAX_PEM_BYTES {
        return Err(bad(format!("{} bytes; the limit is {MAX_PEM_BYTES}", cert_pem.len())));
    }
    let cert = parse_org_cert_pem(cert_pem).map_err(|e| bad(e.to_string()))?;
    let der = pem_to_der(cert_pem, "CERTIFICATE").map_err(|e| bad(e.to_string()))?;
    verify_org_cert(&der, &node.ca_der, now_ms() / 1000).map_err(|e| bad(e.to_string()))?;
    if cert.org != node.org {
        return Err(bad(format!("it was issued to org {:?}, not {:?}", cert.org, node.org)));
    }
    let new_peer = peer_id_of_key(&cert.public_key).ok_or_else(|| bad("its key is not an ed25519 key".into()))?;
    check_binding(&new_peer, &cert).map_err(|e| bad(e.to_string()))?;
    if new_peer == node.peer_id {
        return Err(bad(format!("it is for the key this node already uses (peer {new_peer})")));
    }
    Ok(new_peer)
}

/// Keeps the swarm's set of retired keys up to date, for as long as the node runs.
pub async fn run_retirement(node: Arc<NodeContext>) {
    let mut enforced: HashSet<PeerId> = HashSet::new();
    let mut tick = tokio::time::interval(ENFORCE_PERIOD);
    loop {
        tick.tick().await;
        let retired: HashSet<PeerId> = {
            let registry = &node.consensus.registry.read().registry;
            registry.retired_peer_ids(now_ms()).filter_map(|(_, peer)| peer.parse().ok()).collect()
        };
        if retired == enforced {
            continue;
        }
        for peer in retired.difference(&enforced) {
            tracing::info!(%peer, "key retired by a rotation: refusing it from now on");
        }
        if node.net.set_retired(retired.clone()).await.is_err() {
            return; // the swarm has stopped: the node is shutting down
        }
        enforced = retired;
    }
}
