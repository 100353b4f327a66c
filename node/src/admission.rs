//! The admission check run on every new connection (`/ossa/admission/1`).
//!
//! A peer is admitted when the certificate it presents (1) chains to the federation CA and is
//! within its validity dates (checked by `ossa_trust::verify_org_cert`) and (2) was issued for
//! the very key that authenticated the connection: the certificate's ed25519 public key must
//! give the Noise-authenticated libp2p peer id, and the peer id written in the certificate
//! must be that same id. Until then the swarm processes nothing else from the peer.

use std::time::{SystemTime, UNIX_EPOCH};

use libp2p::identity::{ed25519, PublicKey};
use libp2p::PeerId;
use ossa_trust::{verify_org_cert, OrgCertificate, Role};

/// An admitted peer: who it is, according to its verified certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdmittedPeer {
    /// The peer's libp2p id (Noise-authenticated).
    pub peer_id: PeerId,
    /// Its org name.
    pub org: String,
    /// Steward or member.
    pub role: Role,
}

/// Why a peer was refused.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// The certificate itself is not acceptable.
    #[error("{0}")]
    Certificate(#[from] ossa_trust::AdmissionError),
    /// The certificate is valid but was issued for another key.
    #[error("certificate was issued for peer {in_cert}, but the connection is authenticated as {actual}")]
    PeerIdMismatch {
        /// Peer id derived from (or written in) the certificate.
        in_cert: String,
        /// The Noise-authenticated peer id.
        actual: PeerId,
    },
}

impl Refusal {
    /// A short stable label, used as the `reason` label of the refusal metric.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Certificate(e) => e.reason(),
            Self::PeerIdMismatch { .. } => "peer_id_mismatch",
        }
    }
}

/// Verifies peers against the federation CA.
#[derive(Clone)]
pub struct Admission {
    ca_der: Vec<u8>,
}

impl Admission {
    /// An admission check against the CA certificate `ca_der`.
    pub fn new(ca_der: Vec<u8>) -> Self {
        Self { ca_der }
    }

    /// Checks the certificate `cert_der` presented by the connection authenticated as `peer`.
    pub fn check(&self, peer: &PeerId, cert_der: &[u8]) -> Result<AdmittedPeer, Refusal> {
        self.check_at(peer, cert_der, unix_now())
    }

    /// [`Admission::check`] at the time `now_unix_secs` (seconds since the Unix epoch).
    pub fn check_at(&self, peer: &PeerId, cert_der: &[u8], now_unix_secs: u64) -> Result<AdmittedPeer, Refusal> {
        let cert = verify_org_cert(cert_der, &self.ca_der, now_unix_secs)?;
        check_binding(peer, &cert)?;
        Ok(AdmittedPeer { peer_id: *peer, org: cert.org, role: cert.role })
    }
}

/// Checks that `cert` was issued for `peer`: by its public key and by the peer id it names.
pub fn check_binding(peer: &PeerId, cert: &OrgCertificate) -> Result<(), Refusal> {
    let from_key = peer_id_of_key(&cert.public_key);
    let mismatch = |in_cert: String| Refusal::PeerIdMismatch { in_cert, actual: *peer };
    match from_key {
        Some(id) if id == *peer => {}
        Some(id) => return Err(mismatch(id.to_string())),
        None => return Err(mismatch("<not an ed25519 key>".to_owned())),
    }
    if cert.peer_id != peer.to_string() {
        return Err(mismatch(cert.peer_id.clone()));
    }
    Ok(())
}

/// The libp2p peer id of an ed25519 public key, or `None` if the bytes are not a valid key.
pub fn peer_id_of_key(public_key: &[u8; 32]) -> Option<PeerId> {
    let key = ed25519::PublicKey::try_from_bytes(public_key).ok()?;
    Some(PublicKey::from(key).to_peer_id())
}

/// The ed25519 public key inside a peer id (peer ids of ed25519 identities embed the key);
/// `None` for other kinds of peer id.
pub fn public_key_of_peer(peer: &PeerId) -> Option<[u8; 32]> {
    let multihash = peer.as_ref();
    // Code 0 is the identity multihash: the digest is the protobuf-encoded public key.
    if multihash.code() != 0 {
        return None;
    }
    let key = PublicKey::try_decode_protobuf(multihash.digest()).ok()?;
    Some(key.try_into_ed25519().ok()?.to_bytes())
}

/// The Raft node id of a peer: the last 8 bytes of its peer id, which for an ed25519 identity
/// are the last 8 bytes of the public key. Keys are uniformly random, so ids of a federation's
/// nodes collide with negligible probability, and every node derives the same id.
pub fn node_id_of(peer: &PeerId) -> u64 {
    let bytes = peer.to_bytes();
    let mut tail = [0u8; 8];
    let start = bytes.len().saturating_sub(8);
    tail[8 - (bytes.len() - start)..].copy_from_slice(&bytes[start..]);
    u64::from_be_bytes(tail)
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ossa_trust::{create_csr, FederationCa, NodeKey};

    fn org(ca: &FederationCa, name: &str) -> (NodeKey, PeerId, Vec<u8>) {
        let key = NodeKey::generate();
        let peer = peer_id_of_key(&key.public_key()).expect("valid key");
        let csr = create_csr(name, &key, &peer.to_string()).expect("csr");
        let pem = ca.admit(&csr, Role::Steward, 30).expect("admit");
        (key, peer, ossa_trust::pem_to_der(&pem, "CERTIFICATE").expect("der"))
    }

    #[test]
    fn a_peer_id_gives_back_its_key() {
        let key = NodeKey::generate();
        let peer = peer_id_of_key(&key.public_key()).expect("valid key");
        assert_eq!(public_key_of_peer(&peer), Some(key.public_key()));
        assert_eq!(public_key_of_peer(&PeerId::random()), None, "a random peer id is a hash, not a key");
    }

    #[test]
    fn admits_the_right_key_and_refuses_others() {
        let ca = FederationCa::create("fed").expect("ca");
        let admission = Admission::new(ca.cert_der().to_vec());
        let (_, peer, cert) = org(&ca, "acme");
        let admitted = admission.check(&peer, &cert).expect("admitted");
        assert_eq!(admitted.org, "acme");
        assert_eq!(admitted.role, Role::Steward);

        // Same CA, but the connection is authenticated by another key.
        let (_, other_peer, _) = org(&ca, "globex");
        let refusal = admission.check(&other_peer, &cert).expect_err("wrong key");
        assert_eq!(refusal.reason(), "peer_id_mismatch");

        // A certificate from another federation's CA.
        let rogue_ca = FederationCa::create("fed").expect("rogue ca");
        let (_, rogue_peer, rogue_cert) = org(&rogue_ca, "mallory");
        let refusal = admission.check(&rogue_peer, &rogue_cert).expect_err("foreign ca");
        assert_ne!(refusal.reason(), "peer_id_mismatch");
    }

    #[test]
    fn node_id_is_stable_and_distinct() {
        let a = peer_id_of_key(&NodeKey::generate().public_key()).expect("key");
        let b = peer_id_of_key(&NodeKey::generate().public_key()).expect("key");
        assert_eq!(node_id_of(&a), node_id_of(&a));
        assert_ne!(node_id_of(&a), node_id_of(&b));
    }
}
