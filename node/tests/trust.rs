//! Trust scores across a real federation: observations of one org's agent made on two nodes
//! lower that org's score on every node to the same number, quarantine it (hidden from
//! discovery, audited) and, once it behaves, release it; forged and replayed observations
//! injected by an in-process peer change nothing.

use std::time::Duration;

use ossa_node::trust_scores::observation::sign_observation;
use ossa_testnet::{certificate_for, in_process_peer, Federation};
use ossa_trust::{FederationCa, NodeKey, Observation, Outcome};
use serde_json::json;

const SETTLE: Duration = Duration::from_secs(30);

/// One federation at a time: two on two cores make Raft and gossip timing flaky.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/manifests");

/// Registers `fixture` in `tenant` on `node`; returns the agent as `TENANT/ID`.
async fn register(net: &Federation, node: usize, tenant: &str, fixture: &str) -> String {
    assert_eq!(net.create_tenant(node, tenant).await.expect("tenant").status, 201);
    net.wait_until("the tenant is known locally", SETTLE, || async {
        net.tenants(node).await.ok().filter(|t| t.iter().any(|n| n == tenant))
    })
    .await
    .expect("tenant");
    let bytes = std::fs::read(format!("{FIXTURES}/{fixture}")).expect("fixture");
    let answer = net.post_raw(node, &format!("/v1/agents?tenant={tenant}"), bytes, true).await.expect("register");
    assert_eq!(answer.status, 201, "{}", answer.body);
    format!("{tenant}/{}", answer.body["id"].as_str().expect("id"))
}

async fn observe(net: &Federation, node: usize, agent: &str, outcome: &str, times: usize) {
    for _ in 0..times {
        let body = serde_json::to_vec(&json!({ "agent": agent, "outcome": outcome })).expect("json");
        let answer = net.post_raw(node, "/v1/observations", body, true).await.expect("observe");
        assert_eq!(answer.status, 201, "{}", answer.body);
    }
}

/// Org scores as node `i` reports them, sorted by org.
async fn org_scores(net: &Federation, i: usize) -> Option<Vec<(String, u64)>> {
    let view = net.get(i, "/v1/trust").await.ok()?.body;
    let rows = view["scores"].as_array()?;
    let orgs = rows.iter().filter(|r| r.get("agent").is_none());
    Some(orgs.map(|r| (r["org"].as_str().unwrap_or_default().to_owned(), r["score"].as_u64().unwrap_or(0))).collect())
}

fn score_of(scores: &[(String, u64)], org: &str) -> u64 {
    scores.iter().find(|(o, _)| o == org).map(|(_, s)| *s).unwrap_or(0)
}

/// Waits until every node reports the same org scores and `holds` is true of them.
async fn agreed_scores(net: &Federation, what: &str, holds: impl Fn(&[(String, u64)]) -> bool) -> Vec<(String, u64)> {
    net.wait_until(what, SETTLE, || async {
        let first = org_scores(net, 0).await?;
        for i in 1..net.len() {
            if org_scores(net, i).await? != first {
                return None;
            }
        }
        holds(&first).then_some(first)
    })
    .await
    .expect("scores")
}

#[tokio::test(flavor = "multi_thread")]
async fn failures_lower_an_org_everywhere_alike_quarantine_it_and_recovery_releases_it() {
    let _serial = SERIAL.lock().await;
    let net = Federation::up(env!("CARGO_BIN_EXE_ossa"), 3, 3).expect("testnet up");
    let bad = register(&net, 0, "alpha", "ossa-0.1.9-code-reviewer.yaml").await;
    let good_1 = register(&net, 1, "beta", "ossa-v0.2-invoice-triage.yaml").await;
    let good_2 = register(&net, 2, "gamma", "a2a-0.3-travel-planner.json").await;
    for i in 0..net.len() {
        net.wait_until("every agent is in every directory", SETTLE, || async {
            let agents = net.get(i, "/v1/agents").await.ok()?.body.as_array()?.len();
            (agents == 3).then_some(())
        })
        .await
        .expect("directory");
    }

    // Org 1 and org 2 vouch for each other and see org 0's agent fail.
    observe(&net, 1, &good_2, "success", 5).await;
    observe(&net, 2, &good_1, "success", 5).await;
    observe(&net, 1, &bad, "failure", 10).await;
    observe(&net, 2, &bad, "failure", 10).await;
    let lowered = agreed_scores(&net, "org0 falls below both others on every node", |s| {
        score_of(s, "org0") < score_of(s, "org1") && score_of(s, "org0") < score_of(s, "org2")
    })
    .await;
    assert!(score_of(&lowered, "org0") < 200, "{lowered:?}");

    // Below the breaker's threshold: org 0's agent is hidden from discovery unless asked for.
    let (tenant, id) = bad.split_once('/').expect("TENANT/ID");
    let quarantined = net
        .wait_until("org0's agent is quarantined on node 1", SETTLE, || async {
            let answer = net.get(1, &format!("/v1/agents?tenant={tenant}&include_quarantined=true")).await.ok()?;
            let agent = answer.body.as_array()?.iter().find(|a| a["id"] == id)?.clone();
            (agent["quarantined"] == true).then_some(agent)
        })
        .await
        .expect("quarantine");
    assert!(quarantined["trust"].as_u64().expect("trust") < 200);
    let visible = net.get(1, &format!("/v1/agents?tenant={tenant}")).await.expect("list").body;
    assert_eq!(visible.as_array().map(Vec::len), Some(0), "hidden by default: {visible}");
    let above = net.get(1, "/v1/agents?min_trust=1001").await.expect("list");
    assert_eq!(above.status, 400, "min_trust is bounded");
    let export = net.get_text(1, "/v1/audit/export").await.expect("export");
    assert!(export.contains("\"kind\":\"trust.quarantined\""), "the quarantine is audited");
    assert!(export.contains("\"kind\":\"trust.observation\""), "observations are audited by their observer");

    // Org 0 is not allowed to rate itself.
    let own = net
        .post_raw(
            0,
            "/v1/observations",
            serde_json::to_vec(&json!({ "agent": bad, "outcome": "success" })).expect("json"),
            true,
        )
        .await
        .expect("post");
    assert_eq!(own.status, 400);
    assert_eq!(own.body["error"]["code"], "self_rating");

    // It behaves again: enough successes outweigh the failures and it is released.
    observe(&net, 1, &bad, "success", 40).await;
    observe(&net, 2, &bad, "success", 40).await;
    agreed_scores(&net, "org0 recovers on every node", |s| score_of(s, "org0") >= 400).await;
    net.wait_until("org0's agent is released on node 2", SETTLE, || async {
        let answer = net.get(2, &format!("/v1/agents?tenant={tenant}")).await.ok()?;
        let agent = answer.body.as_array()?.iter().find(|a| a["id"] == id)?.clone();
        (agent["quarantined"] == false).then_some(())
    })
    .await
    .expect("release");
    let export = net.get_text(2, "/v1/audit/export").await.expect("export");
    assert!(export.contains("\"kind\":\"trust.released\""), "the release is audited");
    let metrics = net.get_text(2, "/metrics").await.expect("metrics");
    assert!(metrics.contains("ossa_trust_transitions_total{kind=\"trust.released\"}"), "{metrics}");
}

fn rejected(metrics: &str, reason: &str) -> u64 {
    let prefix = format!("ossa_observations_rejected_total{{reason=\"{reason}\"}} ");
    metrics.lines().find_map(|l| l.strip_prefix(&prefix)).and_then(|v| v.trim().parse().ok()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn forged_and_replayed_observations_change_nothing() {
    let _serial = SERIAL.lock().await;
    let net = Federation::up(env!("CARGO_BIN_EXE_ossa"), 3, 3).expect("testnet up");
    let agent = register(&net, 0, "alpha", "ossa-0.1.9-code-reviewer.yaml").await;
    net.wait_until("node 1 has org0's agent", SETTLE, || async {
        (net.get(1, "/v1/agents").await.ok()?.body.as_array()?.len() == 1).then_some(())
    })
    .await
    .expect("directory");
    observe(&net, 1, &agent, "success", 1).await;
    let before = agreed_scores(&net, "every node counted org1's observation", |s| {
        s.len() == 3 && score_of(s, "org0") > score_of(s, "org1")
    })
    .await;

    // An admitted peer (a certificate of the federation's CA) that is not a registry member.
    let ca = FederationCa::load(net.ca_dir()).expect("ca");
    let rogue_key = NodeKey::generate();
    let cert = certificate_for(&ca, "mallory", &rogue_key).expect("cert");
    let topic = ossa_node::trust_scores::observations_topic("testnet");
    let rogue = in_process_peer(
        &rogue_key,
        &cert,
        ca.cert_der().to_vec(),
        net.node(0).p2p.parse().expect("addr"),
        vec![topic.clone()],
    )
    .expect("rogue peer");

    // Forged: claims org1 but is signed by the rogue's key. Replayed: really signed by org1's
    // key (read from its node directory), with the sequence org1 already used.
    // The three are refused as signer_not_member, bad_signature and by the ledger (a replay).
    let failure = |sequence| Observation {
        observer_org: "org1".into(),
        subject_org: "org0".into(),
        subject_agent: agent.clone(),
        outcome: Outcome::Failure,
        latency_ms: None,
        at_ms: std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis() as u64,
        sequence,
    };
    let org1_key = NodeKey::from_pkcs8_pem(&std::fs::read_to_string(net.node(1).dir.join("node.key")).expect("key"))
        .expect("org1 key");
    // Tampered: org1's genuine signature over other bytes (the signature's last byte flipped).
    // Gossip names a message by its content, so every round signs afresh (a new `at_ms`):
    // bytes a peer has seen once are not delivered again.
    let tampered = |observation: &Observation| {
        let mut signed = sign_observation(&org1_key, observation);
        let last = signed.len() - 1;
        signed[last] ^= 1;
        signed
    };
    net.wait_until("node 0 refused the forgery, the tampering and the replay", SETTLE, || async {
        let forged = sign_observation(&rogue_key, &failure(2));
        let replayed = sign_observation(&org1_key, &failure(1));
        for message in [forged, tampered(&failure(3)), replayed] {
            let _ = rogue.publish(topic.clone(), message).await;
        }
        let metrics = net.get_text(0, "/metrics").await.ok()?;
        let refused = ["signer_not_member", "bad_signature", "ledger"].iter().all(|r| rejected(&metrics, r) >= 1);
        refused.then_some(())
    })
    .await
    .expect("refusals");
    for i in 0..net.len() {
        assert_eq!(org_scores(&net, i).await.expect("scores"), before, "node {i}: scores moved");
    }
}
