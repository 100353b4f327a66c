//! Rogue peers against a real federation: an in-process libp2p node (the real swarm code)
//! presents a certificate from another CA, or a genuine certificate issued for another key.
//! The federation must refuse both, count the refusals, and apply nothing they send.

use std::sync::Arc;
use std::time::Duration;

use libp2p::{identity, Multiaddr, PeerId};
use ossa_node::admission::{peer_id_of_key, Admission};
use ossa_node::metrics::Metrics;
use ossa_node::swarm::{self, NetworkClient, SwarmSettings};
use ossa_node::wire::pb::{self, raft_request};
use ossa_testnet::Federation;
use ossa_trust::{create_csr, pem_to_der, FederationCa, NodeKey, Role};

const SETTLE: Duration = Duration::from_secs(20);

/// Starts an in-process node that presents `cert_pem` while holding `key`, trusting `ca_der`.
fn rogue(key: &NodeKey, cert_pem: &str, ca_der: Vec<u8>, bootstrap: Multiaddr) -> NetworkClient {
    let keypair = identity::Keypair::ed25519_from_bytes(key.secret_bytes()).expect("key");
    let settings = SwarmSettings {
        keypair,
        listen: "/ip4/127.0.0.1/tcp/0".parse().expect("addr"),
        bootstrap: vec![bootstrap],
        cert_der: pem_to_der(cert_pem, "CERTIFICATE").expect("der"),
        admission: Admission::new(ca_der),
        admission_timeout: Duration::from_secs(10),
        ban: Duration::from_secs(60),
        topics: vec![],
    };
    let (client, _inbound) = swarm::spawn(settings, Arc::new(Metrics::default())).expect("rogue swarm");
    client
}

fn cert_for(ca: &FederationCa, org: &str, key: &NodeKey) -> String {
    let peer = peer_id_of_key(&key.public_key()).expect("peer id");
    let csr = create_csr(org, key, &peer.to_string()).expect("csr");
    ca.admit(&csr, Role::Steward, 30).expect("admit")
}

fn refusals(metrics: &str, reason: &str) -> u64 {
    let prefix = format!("ossa_admission_refused_total{{reason=\"{reason}\"}} ");
    metrics.lines().find_map(|l| l.strip_prefix(&prefix)).and_then(|v| v.trim().parse().ok()).unwrap_or(0)
}

async fn try_write(rogue: &NetworkClient, target: PeerId, addr: Multiaddr, tenant: &str) -> bool {
    let command = serde_json::json!({ "type": "create_tenant", "name": tenant });
    let request = pb::RaftRequest { body: Some(raft_request::Body::ClientWrite(command.to_string().into_bytes())) };
    rogue.request(target, vec![addr], request, Duration::from_secs(5)).await.is_ok()
}

#[tokio::test(flavor = "multi_thread")]
async fn foreign_ca_and_wrong_key_peers_are_refused_and_nothing_they_send_is_applied() {
    let net = Federation::up(env!("CARGO_BIN_EXE_ossa"), 3, 3).expect("testnet up");
    let target = net.node(0);
    let target_peer: PeerId = target.peer_id.parse().expect("peer id");
    let p2p: Multiaddr = target.p2p.parse().expect("multiaddr");
    let target_addr: Multiaddr = target.p2p.rsplit_once("/p2p/").expect("p2p suffix").0.parse().expect("addr");

    // A CA with the same federation name but its own key.
    let foreign_ca = FederationCa::create("testnet").expect("foreign ca");
    let foreign_key = NodeKey::generate();
    let foreign = rogue(
        &foreign_key,
        &cert_for(&foreign_ca, "mallory", &foreign_key),
        foreign_ca.cert_der().to_vec(),
        p2p.clone(),
    );

    // The real CA, but the certificate was issued for another key than the one connecting.
    let real_ca = FederationCa::load(net.ca_dir()).expect("real ca");
    let (issued_key, connecting_key) = (NodeKey::generate(), NodeKey::generate());
    let stolen_cert = cert_for(&real_ca, "eve", &issued_key);
    let impostor = rogue(&connecting_key, &stolen_cert, real_ca.cert_der().to_vec(), p2p);

    assert!(!try_write(&foreign, target_peer, target_addr.clone(), "evil-foreign").await, "foreign CA got an answer");
    assert!(!try_write(&impostor, target_peer, target_addr, "evil-impostor").await, "impostor got an answer");

    net.wait_until("both refusals are counted", SETTLE, || async {
        let metrics = net.get_text(0, "/metrics").await.ok()?;
        (refusals(&metrics, "unknown_issuer") >= 1 && refusals(&metrics, "peer_id_mismatch") >= 1).then_some(())
    })
    .await
    .expect("refusals in /metrics");

    for i in 0..net.len() {
        let tenants = net.tenants(i).await.expect("tenants");
        assert!(tenants.iter().all(|t| !t.starts_with("evil")), "node {i} applied a rogue write: {tenants:?}");
        let members = net.get(i, "/v1/members").await.expect("members").body;
        assert_eq!(members.as_array().map(Vec::len), Some(3), "node {i}: {members}");
    }
}
