//! In-process peers for attack tests: the node's real swarm code, started with any key and
//! certificate, so a test can connect to a federation as an outsider, an impostor, or an
//! admitted org that was never registered, and send what it likes.

use std::sync::Arc;
use std::time::Duration;

use libp2p::{identity, Multiaddr};
use ossa_node::admission::{peer_id_of_key, Admission};
use ossa_node::metrics::Metrics;
use ossa_node::swarm::{self, NetworkClient, SwarmSettings};
use ossa_trust::{create_csr, pem_to_der, FederationCa, NodeKey, Role};

/// Starts an in-process node that presents `cert_pem` while holding `key`, trusts `ca_der`,
/// dials `bootstrap` and subscribes to `topics`.
pub fn in_process_peer(
    key: &NodeKey,
    cert_pem: &str,
    ca_der: Vec<u8>,
    bootstrap: Multiaddr,
    topics: Vec<String>,
) -> anyhow::Result<NetworkClient> {
    let keypair = identity::Keypair::ed25519_from_bytes(key.secret_bytes())?;
    let settings = SwarmSettings {
        keypair,
        listen: "/ip4/127.0.0.1/tcp/0".parse()?,
        bootstrap: vec![bootstrap],
        cert_der: pem_to_der(cert_pem, "CERTIFICATE")?,
        admission: Admission::new(ca_der),
        admission_timeout: Duration::from_secs(10),
        ban: Duration::from_secs(60),
        topics,
    };
    let (client, _inbound) =
        swarm::spawn(settings, Arc::new(Metrics::default())).map_err(|e| anyhow::anyhow!("in-process peer: {e}"))?;
    Ok(client)
}

/// A certificate for `org` on `key`, issued by `ca` (as a steward).
pub fn certificate_for(ca: &FederationCa, org: &str, key: &NodeKey) -> anyhow::Result<String> {
    Ok(ca.admit(&csr_for(org, key)?, Role::Steward, 30)?)
}

/// A certificate for `org` on `key`, issued by `ca` (as a steward), that expired a day ago.
pub fn expired_certificate_for(ca: &FederationCa, org: &str, key: &NodeKey) -> anyhow::Result<String> {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() as i64;
    const DAY: i64 = 86_400;
    Ok(ca.admit_with_validity(&csr_for(org, key)?, Role::Steward, now - 30 * DAY, now - DAY)?)
}

fn csr_for(org: &str, key: &NodeKey) -> anyhow::Result<String> {
    let peer = peer_id_of_key(&key.public_key()).ok_or_else(|| anyhow::anyhow!("not an ed25519 key"))?;
    Ok(create_csr(org, key, &peer.to_string())?)
}
