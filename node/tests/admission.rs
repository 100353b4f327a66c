//! Rogue peers against a real federation: an in-process libp2p node (the real swarm code)
//! presents a certificate from another CA, or a genuine certificate issued for another key.
//! The federation must refuse both, count the refusals, apply nothing they send, and keep them
//! out of its discovery routing table.

use std::time::Duration;

use libp2p::{Multiaddr, PeerId};
use ossa_node::swarm::NetworkClient;
use ossa_node::wire::pb::{self, raft_request};
use ossa_testnet::{certificate_for, expired_certificate_for, in_process_peer, unadmitted_raft_exchange, Federation};
use ossa_trust::{FederationCa, NodeKey};

const SETTLE: Duration = Duration::from_secs(20);

fn counter(metrics: &str, name: &str) -> u64 {
    metrics.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok()).unwrap_or(0)
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
    let foreign_cert = certificate_for(&foreign_ca, "mallory", &foreign_key).expect("cert");
    let foreign = in_process_peer(&foreign_key, &foreign_cert, foreign_ca.cert_der().to_vec(), p2p.clone(), vec![])
        .expect("foreign peer");

    // The real CA, but the certificate was issued for another key than the one connecting.
    let real_ca = FederationCa::load(net.ca_dir()).expect("real ca");
    let (issued_key, connecting_key) = (NodeKey::generate(), NodeKey::generate());
    let stolen_cert = certificate_for(&real_ca, "eve", &issued_key).expect("cert");
    let impostor =
        in_process_peer(&connecting_key, &stolen_cert, real_ca.cert_der().to_vec(), p2p, vec![]).expect("impostor");

    assert!(!try_write(&foreign, target_peer, target_addr.clone(), "evil-foreign").await, "foreign CA got an answer");
    assert!(!try_write(&impostor, target_peer, target_addr, "evil-impostor").await, "impostor got an answer");

    net.wait_until("both refusals are counted", SETTLE, || async {
        let metrics = net.get_text(0, "/metrics").await.ok()?;
        (refusals(&metrics, "unknown_issuer") >= 1 && refusals(&metrics, "peer_id_mismatch") >= 1).then_some(())
    })
    .await
    .expect("refusals in /metrics");

    // Discovery: the target's routing table holds the two other nodes, never a rogue one.
    net.wait_until("the target's routing table holds the federation's nodes", SETTLE, || async {
        (net.status(0).await.ok()?["routing_table"].as_u64()? == 2).then_some(())
    })
    .await
    .expect("routing table");
    let status = net.status(0).await.expect("status");
    let peers: Vec<&str> =
        status["peers"].as_array().expect("peers").iter().filter_map(|p| p["org"].as_str()).collect();
    assert!(peers.iter().all(|org| *org != "mallory" && *org != "eve"), "{status}");

    for i in 0..net.len() {
        let tenants = net.tenants(i).await.expect("tenants");
        assert!(tenants.iter().all(|t| !t.starts_with("evil")), "node {i} applied a rogue write: {tenants:?}");
        let members = net.get(i, "/v1/members").await.expect("members").body;
        assert_eq!(members.as_array().map(Vec::len), Some(3), "node {i}: {members}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_certificate_is_refused_with_the_reason() {
    let net = Federation::up(env!("CARGO_BIN_EXE_ossa"), 3, 3).expect("testnet up");
    let target = net.node(1);
    let target_peer: PeerId = target.peer_id.parse().expect("peer id");
    let p2p: Multiaddr = target.p2p.parse().expect("multiaddr");
    let target_addr: Multiaddr = target.p2p.rsplit_once("/p2p/").expect("p2p suffix").0.parse().expect("addr");
    let ca = FederationCa::load(net.ca_dir()).expect("ca");
    let key = NodeKey::generate();
    let expired = expired_certificate_for(&ca, "lapsed", &key).expect("cert");
    let lapsed = in_process_peer(&key, &expired, ca.cert_der().to_vec(), p2p, vec![]).expect("peer");

    let command = serde_json::json!({ "type": "create_tenant", "name": "from-an-expired-cert" });
    let request = pb::RaftRequest { body: Some(raft_request::Body::ClientWrite(command.to_string().into_bytes())) };
    let refused = lapsed.request(target_peer, vec![target_addr], request, SETTLE).await.expect_err("refused");
    // The refused peer is told why, unless a second connection between the two (each side
    // may dial) is refused first and the disconnect wins the race with the answer.
    let message = refused.to_string();
    assert!(message.contains("expired") || message.ends_with("disconnected"), "refused: {message}");
    let metrics = net.get_text(1, "/metrics").await.expect("metrics");
    assert!(refusals(&metrics, "expired") >= 1, "the refusal is counted by reason");
    assert!(!net.tenants(1).await.expect("tenants").iter().any(|t| t == "from-an-expired-cert"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_raft_stream_of_a_peer_that_skips_admission_is_never_served() {
    let net = Federation::up(env!("CARGO_BIN_EXE_ossa"), 1, 1).expect("testnet up");
    let target = net.node(0);
    let target_peer: PeerId = target.peer_id.parse().expect("peer id");
    let target_addr: Multiaddr = target.p2p.rsplit_once("/p2p/").expect("p2p suffix").0.parse().expect("addr");

    let command = serde_json::json!({ "type": "create_tenant", "name": "never-admitted" });
    let request = pb::RaftRequest { body: Some(raft_request::Body::ClientWrite(command.to_string().into_bytes())) };
    let answer = unadmitted_raft_exchange(target_peer, target_addr, &request).await.expect("connected");
    assert!(answer.is_err(), "an unadmitted peer got a byte back: {answer:?}");

    // The stream was dropped unread at the admission deadline, and counted.
    net.wait_until("the dropped stream is counted", SETTLE, || async {
        let metrics = net.get_text(0, "/metrics").await.ok()?;
        (counter(&metrics, "ossa_unadmitted_requests_total") >= 1).then_some(())
    })
    .await
    .expect("counted in /metrics");
    assert!(!net.tenants(0).await.expect("tenants").iter().any(|t| t == "never-admitted"));
}
