//! In-process peers for attack tests: the node's real swarm code, started with any key and
//! certificate, so a test can connect to a federation as an outsider, an impostor, or an
//! admitted org that was never registered, and send what it likes; and a bare peer that skips
//! admission altogether and writes straight to an `/ossa/raft/1` stream.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use futures::{AsyncReadExt, StreamExt};
use libp2p::swarm::SwarmEvent;
use libp2p::{identity, noise, tcp, yamux, Multiaddr, PeerId};
use ossa_node::admission::{peer_id_of_key, Admission};
use ossa_node::metrics::Metrics;
use ossa_node::swarm::{self, NetworkClient, SwarmSettings};
use ossa_node::wire::{pb, write_frame, MAX_RAFT_MESSAGE, RAFT_PROTOCOL};
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

/// Connects to `target` at `addr` with a fresh key and no admission at all, opens an
/// `/ossa/raft/1` stream, writes `request` at once (without waiting for the go-ahead an
/// admitted peer gets) and reads one byte. Returns that byte, or the error that ended the
/// stream first: what the node let through to an unadmitted peer.
pub async fn unadmitted_raft_exchange(
    target: PeerId,
    addr: Multiaddr,
    request: &pb::RaftRequest,
) -> anyhow::Result<io::Result<u8>> {
    let mut swarm = libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(tcp::Config::default(), noise::Config::new, yamux::Config::default)?
        .with_behaviour(|_| libp2p_stream::Behaviour::new())?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build();
    swarm.dial(addr.with(libp2p::multiaddr::Protocol::P2p(target)))?;
    loop {
        match swarm.select_next_some().await {
            SwarmEvent::ConnectionEstablished { peer_id, .. } if peer_id == target => break,
            SwarmEvent::OutgoingConnectionError { error, .. } => anyhow::bail!("cannot connect: {error}"),
            _ => {}
        }
    }
    let mut control = swarm.behaviour().new_control();
    let driver = tokio::spawn(async move {
        loop {
            swarm.select_next_some().await;
        }
    });
    let answer = async {
        let mut stream = control.open_stream(target, RAFT_PROTOCOL).await.map_err(io::Error::other)?;
        write_frame(&mut stream, request, MAX_RAFT_MESSAGE).await?;
        let mut byte = [0u8];
        stream.read_exact(&mut byte).await.map(|()| byte[0])
    }
    .await;
    driver.abort();
    Ok(answer)
}
