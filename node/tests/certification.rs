//! Certification across a real federation (node 0 a steward, nodes 1 and 2 members): an agent
//! registered on a member is certified gold by the steward, whose node checks the manifest
//! and probes the agent's endpoint (a tiny HTTP server in this test); a node that was down
//! catches the certification up through sync and finds the agent with `--tier silver`.
//! Refusals (a member certifying, a manifest that is not the registered one, an endpoint that
//! does not answer) say why and spread nothing, and re-registering with a changed manifest
//! drops the tier.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use ossa_testnet::{Answer, Federation};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SETTLE: Duration = Duration::from_secs(20);
const STEWARD: usize = 0;
const OWNER: usize = 1;
const OTHER: usize = 2;

/// Answers `200 ok` to every request on a loopback port, as the agent's endpoint; returns
/// the port.
async fn agent_endpoint() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = [0u8; 4096];
                let _ = socket.read(&mut request).await;
                let _ = socket.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok").await;
            });
        }
    });
    port
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// A complete A2A v1.0 card (every field certification requires).
fn card(id: &str, port: u16, description: &str) -> Vec<u8> {
    serde_json::to_vec_pretty(&json!({
        "id": id,
        "name": format!("Echo {id}"),
        "description": description,
        "version": "1.0.0",
        "supportedInterfaces": [
            { "url": format!("http://127.0.0.1:{port}/a2a"), "protocolBinding": "JSONRPC", "protocolVersion": "1.0" }
        ],
        "capabilities": { "streaming": false },
        "defaultInputModes": ["text/plain"],
        "defaultOutputModes": ["text/plain"],
        "skills": [{ "id": "echo", "name": "Echo", "description": "Says it back.", "tags": ["echo"] }]
    }))
    .expect("json")
}

async fn register(net: &Federation, manifest: &[u8]) -> Answer {
    net.post_raw(OWNER, "/v1/agents?tenant=beta", manifest.to_vec(), true).await.expect("register")
}

async fn certify(net: &Federation, node: usize, agent: &str, tier: &str, manifest: &[u8]) -> Answer {
    let path = format!("/v1/agents/beta/{agent}/certify?tier={tier}");
    net.post_raw(node, &path, manifest.to_vec(), true).await.expect("certify")
}

/// Node `node`'s view of `beta/<agent>`, once it has the record with manifest `digest`.
async fn agent_with_digest(net: &Federation, node: usize, agent: &str, digest: &str) -> Value {
    net.wait_until(&format!("node {node} has {agent} at manifest {digest:.8}"), SETTLE, || async {
        let answer = net.get(node, &format!("/v1/agents/beta/{agent}")).await.ok()?;
        (answer.body["manifest_digest"] == digest).then_some(answer.body)
    })
    .await
    .expect("agent replicated")
}

fn ossa(args: &[&str], node_dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ossa")).args(args).arg("--dir").arg(node_dir).output().expect("run ossa")
}

fn checks(answer: &Answer) -> Vec<(String, bool)> {
    let list = answer.body["checks"].as_array().cloned().unwrap_or_default();
    list.iter().map(|c| (c["name"].as_str().unwrap_or_default().to_owned(), c["passed"] == true)).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_steward_certifies_after_its_checks_and_the_tier_spreads_and_follows_the_manifest() {
    let mut net = Federation::up(env!("CARGO_BIN_EXE_ossa"), 3, 1).expect("testnet up");
    assert_eq!(net.node(STEWARD).role, "steward");
    assert_eq!(net.node(OWNER).role, "member");
    assert_eq!(net.create_tenant(OWNER, "beta").await.expect("tenant").status, 201);
    for i in 0..net.len() {
        net.wait_until("tenant replicated", SETTLE, || async { net.tenants(i).await.ok().filter(|t| t.len() == 1) })
            .await
            .expect("tenant");
    }

    let port = agent_endpoint().await;
    let manifest = card("echo", port, "Echoes what it is told.");
    let registered = register(&net, &manifest).await;
    assert_eq!(registered.status, 201, "{:?}", registered.body);
    assert_eq!(registered.body["tier"], Value::Null);
    let digest = registered.body["manifest_digest"].as_str().expect("digest").to_owned();
    for i in 0..net.len() {
        agent_with_digest(&net, i, "echo", &digest).await;
    }

    // A member's node refuses to certify, through the CLI too, with the reason.
    let refused = certify(&net, OTHER, "echo", "gold", &manifest).await;
    assert_eq!((refused.status, refused.body["error"]["code"].as_str()), (403, Some("not_steward")));
    let file = net.dir().join("echo.json");
    std::fs::write(&file, &manifest).expect("write manifest");
    let file_arg = file.to_str().expect("utf-8 path");
    let cli = ossa(&["agent", "certify", "beta/echo", "--tier", "gold", "--manifest", file_arg], &net.node(OTHER).dir);
    assert!(!cli.status.success());
    let stderr = String::from_utf8_lossy(&cli.stderr);
    assert!(stderr.contains("not a steward") && stderr.contains("HTTP 403"), "{stderr}");

    // A manifest that is not the registered one.
    let other_manifest = card("echo", port, "A different description.");
    let mismatch = certify(&net, STEWARD, "echo", "gold", &other_manifest).await;
    assert_eq!((mismatch.status, mismatch.body["error"]["code"].as_str()), (409, Some("manifest_mismatch")));
    // Not a tier; an unknown agent.
    assert_eq!(certify(&net, STEWARD, "echo", "platinum", &manifest).await.status, 400);
    assert_eq!(certify(&net, STEWARD, "nobody", "gold", &manifest).await.status, 404);

    // An endpoint that does not answer fails its check; the other checks pass; nothing signed.
    let silent = card("silent", closed_port(), "Never answers.");
    let answer = register(&net, &silent).await;
    assert_eq!(answer.status, 201, "{:?}", answer.body);
    let silent_digest = answer.body["manifest_digest"].as_str().expect("digest").to_owned();
    agent_with_digest(&net, STEWARD, "silent", &silent_digest).await;
    let failed = certify(&net, STEWARD, "silent", "bronze", &silent).await;
    assert_eq!(failed.status, 422, "{:?}", failed.body);
    assert_eq!(
        checks(&failed),
        [("manifest".to_owned(), true), ("record".to_owned(), true), ("endpoint".to_owned(), false)]
    );
    assert!(failed.body["error"]["message"].as_str().is_some_and(|m| m.contains("did not answer")), "{failed:?}");

    // The third node is down while the steward certifies: it must catch up through sync.
    net.kill(OTHER).expect("kill");
    let certified = certify(&net, STEWARD, "echo", "gold", &manifest).await;
    assert_eq!(certified.status, 201, "{:?}", certified.body);
    assert!(checks(&certified).iter().all(|(_, passed)| *passed), "{:?}", certified.body);
    assert_eq!(certified.body["certification"]["certifier"], net.node(STEWARD).org.as_str());
    assert_eq!(certified.body["agent"]["tier"], "gold");
    let metrics = net.get_text(STEWARD, "/metrics").await.expect("metrics");
    assert!(metrics.lines().any(|l| l == "ossa_directory_certifications 1"), "{metrics}");
    net.restart(OTHER).expect("restart");

    let found = net
        .wait_until("the restarted node finds echo with --tier silver", SETTLE, || async {
            let output =
                ossa(&["agent", "find", "--capability", "echo", "--tier", "silver", "--json"], &net.node(OTHER).dir);
            let agents: Value = serde_json::from_slice(&output.stdout).ok()?;
            agents.as_array().filter(|list| !list.is_empty()).cloned()
        })
        .await
        .expect("certification synced");
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["id"], "echo");
    assert_eq!(found[0]["tier"], "gold", "silver means at least silver");
    let certifications = found[0]["certifications"].as_array().expect("certifications");
    assert_eq!(certifications.len(), 1, "only the steward's certification exists: {certifications:?}");
    assert_eq!(certifications[0]["certifier"], net.node(STEWARD).org.as_str());
    // The owner's node has it by gossip; the silent agent is graded nowhere.
    net.wait_until("the owner's node sees gold", SETTLE, || async {
        let answer = net.get(OWNER, "/v1/agents/search?capability=echo&tier=gold").await.ok()?;
        answer.body.as_array().filter(|l| l.len() == 1).cloned()
    })
    .await
    .expect("gossip");
    for i in 0..net.len() {
        let silent = net.get(i, "/v1/agents/beta/silent").await.expect("get");
        assert_eq!(silent.body["certifications"], json!([]), "node {i}");
    }

    // Re-registering with a changed manifest drops the tier everywhere.
    let changed = card("echo", port, "Echoes what it is told, louder.");
    let answer = register(&net, &changed).await;
    assert_eq!(answer.status, 201, "{:?}", answer.body);
    let new_digest = answer.body["manifest_digest"].as_str().expect("digest").to_owned();
    assert_ne!(new_digest, digest);
    assert_eq!(answer.body["tier"], Value::Null);
    for i in 0..net.len() {
        let view = agent_with_digest(&net, i, "echo", &new_digest).await;
        assert_eq!(view["tier"], Value::Null, "node {i}: {view}");
        let graded = net.get(i, "/v1/agents/search?capability=echo&tier=bronze").await.expect("search");
        assert_eq!(graded.body, json!([]), "node {i}");
    }
}
