//! Key rotation across a real federation: a steward rotates its node key while a client keeps
//! writing, comes back on the new key in the old one's Raft seat, re-signs its agent records,
//! and its old key is refused once the grace period is over.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ossa_testnet::{in_process_peer, Federation};
use ossa_trust::{pem_to_der, NodeKey};
use serde_json::Value;

const SETTLE: Duration = Duration::from_secs(60);
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/manifests");

fn ossa(args: &[&str], dir: &Path) -> Value {
    let output = Command::new(env!("CARGO_BIN_EXE_ossa")).args(args).arg("--dir").arg(dir).output().expect("run ossa");
    assert!(
        output.status.success(),
        "ossa {args:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or(Value::Null)
}

async fn agent_sequence(net: &Federation, i: usize) -> Option<u64> {
    net.get(i, "/v1/agents/echo/support-bot").await.ok().filter(|a| a.status == 200)?.body["sequence"].as_u64()
}

/// Creates tenants through the node API at `api` until `stop`; returns how many were
/// acknowledged and the failures.
async fn write_until(api: String, token: String, stop: Arc<AtomicBool>) -> (usize, Vec<String>) {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("client");
    let (mut acknowledged, mut failed) = (0, Vec::new());
    while !stop.load(Ordering::Relaxed) {
        let name = format!("during-rotation-{}", acknowledged + failed.len());
        let sent =
            http.post(format!("{api}/v1/tenants")).bearer_auth(&token).json(&serde_json::json!({ "name": name }));
        match sent.send().await {
            Ok(answer) if answer.status().as_u16() == 201 => acknowledged += 1,
            Ok(answer) => failed.push(format!("HTTP {}: {}", answer.status(), answer.text().await.unwrap_or_default())),
            Err(err) => failed.push(err.to_string()),
        }
    }
    (acknowledged, failed)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_steward_rotates_its_key_without_downtime_and_the_old_key_is_retired() {
    let mut net = Federation::up(env!("CARGO_BIN_EXE_ossa"), 3, 3).expect("testnet up");
    // The rotating steward is not the leader, so the client's writes through node 0 never have
    // a leader killed under them (a lost leader is what failover tests measure).
    let leader = net.wait_until("a leader is known", SETTLE, || net.leader_seen_by(0)).await.expect("leader");
    let target = if leader == 1 { 2 } else { 1 };
    let org = net.node(target).org.clone();
    let dir = net.node(target).dir.clone();
    assert_eq!(net.create_tenant(target, "echo").await.expect("tenant").status, 201);
    net.wait_until("the rotating node knows its tenant", SETTLE, || async {
        net.tenants(target).await.ok().filter(|t| t.iter().any(|n| n == "echo"))
    })
    .await
    .expect("tenant");
    let manifest = std::fs::read(format!("{FIXTURES}/ossa-v1-support-bot.yaml")).expect("fixture");
    let registered = net.post_raw(target, "/v1/agents?tenant=echo", manifest, true).await.expect("register");
    assert_eq!(registered.status, 201, "{}", registered.body);
    let signed_by_old_key =
        net.wait_until("node 0 finds the agent", SETTLE, || agent_sequence(&net, 0)).await.expect("agent");
    let old_status = net.status(target).await.expect("status");
    let old_node_id = old_status["node_id"].as_u64().expect("node id");

    // Step 1: a new key and CSR; the admin signs it.
    ossa(&["org", "rotate"], &dir);
    let csr = dir.join("rotation/org.csr");
    let cert = dir.join("rotation/org.pem");
    let admitted = Command::new(env!("CARGO_BIN_EXE_ossa"))
        .args(["federation", "admit", "--steward", "--ca"])
        .arg(net.ca_dir())
        .arg("--csr")
        .arg(&csr)
        .arg("--out")
        .arg(&cert)
        .status()
        .expect("admit");
    assert!(admitted.success());

    // Step 2, with a client writing through node 0 all along.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = tokio::spawn(write_until(net.node(0).api.clone(), net.token(0).expect("token"), stop.clone()));
    let answer = ossa(&["org", "rotate", "--grace-secs", "3", "--json", "--cert", cert.to_str().expect("utf8")], &dir);
    let rotation = &answer["rotation"];
    assert_eq!(rotation["old_node_id"].as_u64(), Some(old_node_id), "{answer}");
    let new_peer = rotation["new_peer_id"].as_str().expect("new peer id").to_owned();
    let new_node_id = rotation["new_node_id"].as_u64().expect("new node id");
    let old_peer = old_status["peer_id"].as_str().expect("peer id").to_owned();
    let old_key_file = dir.join(format!("retired/node-{old_peer}.key"));
    let old_cert_file = dir.join(format!("retired/org-{old_peer}.pem"));
    assert!(old_key_file.exists() && old_cert_file.exists(), "the old key and certificate are kept aside");

    // The node comes back on the new key and takes the old key's place.
    net.kill(target).expect("kill");
    net.restart(target).expect("restart");
    net.wait_until("the node runs on the new key", SETTLE, || async {
        let status = net.status(target).await.ok()?;
        (status["peer_id"] == new_peer.as_str() && status["ready"] == true).then_some(())
    })
    .await
    .expect("new key");
    net.wait_until("the new node id replaced the old one among the voters", SETTLE, || async {
        let status = net.status(0).await.ok()?;
        let ids = |field: &str| -> Option<Vec<u64>> {
            status[field].as_array()?.iter().map(Value::as_u64).collect::<Option<Vec<u64>>>()
        };
        let (voters, learners) = (ids("raft_voters")?, ids("raft_learners")?);
        let replaced = voters.len() == 3 && voters.contains(&new_node_id) && !voters.contains(&old_node_id);
        (replaced && !learners.contains(&old_node_id)).then_some(())
    })
    .await
    .expect("raft membership");
    net.wait_until("node 0 has the agent record re-signed by the new key", SETTLE, || async {
        agent_sequence(&net, 0).await.filter(|sequence| *sequence > signed_by_old_key)
    })
    .await
    .expect("re-signed");
    let members = net.get(0, "/v1/members").await.expect("members").body;
    let member = members.as_array().expect("list").iter().find(|m| m["org"] == org.as_str()).expect("member").clone();
    assert_eq!((member["peer_id"].as_str(), member["role"].as_str()), (Some(new_peer.as_str()), Some("steward")));

    stop.store(true, Ordering::Relaxed);
    let (acknowledged, failed) = writer.await.expect("writer");
    assert!(acknowledged > 0, "the client wrote during the rotation");
    assert!(failed.is_empty(), "no write failed during the rotation: {failed:?}");
    let after = net.create_tenant(target, "after-rotation").await.expect("post");
    assert_eq!(after.status, 201, "the rotated node writes: {}", after.body);

    // The old key, past its grace period, is refused at admission.
    let old_key = NodeKey::from_pkcs8_pem(&std::fs::read_to_string(&old_key_file).expect("key")).expect("pem");
    let old_cert = std::fs::read_to_string(&old_cert_file).expect("cert");
    let ca = pem_to_der(&std::fs::read_to_string(dir.join("ca.pem")).expect("ca"), "CERTIFICATE").expect("der");
    let _impostor =
        in_process_peer(&old_key, &old_cert, ca, net.node(0).p2p.parse().expect("addr"), vec![]).expect("peer");
    net.wait_until("node 0 refuses the retired key", SETTLE, || async {
        let metrics = net.get_text(0, "/metrics").await.ok()?;
        metrics.contains("ossa_admission_refused_total{reason=\"key_retired\"}").then_some(())
    })
    .await
    .expect("retired key refused");
}
