//! Revocation across a real federation: a member org revoked by a steward majority is cut off
//! on every node, its agents vanish from discovery, it knows it is revoked, and revoking a
//! steward leaves a Raft group that still commits.

use std::time::Duration;

use ossa_testnet::{Answer, Federation};
use serde_json::json;

const SETTLE: Duration = Duration::from_secs(30);

/// One four-node federation at a time: eight debug nodes on two cores make Raft timeouts flaky.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/manifests");

async fn post_json(net: &Federation, node: usize, path: &str, body: serde_json::Value) -> Answer {
    net.post_raw(node, path, serde_json::to_vec(&body).expect("json"), true).await.expect("post")
}

/// Proposes revoking `org` on node `proposer` and approves it on node `approver`.
async fn revoke(net: &Federation, org: &str, proposer: usize, approver: usize) {
    let proposed =
        post_json(net, proposer, "/v1/governance/revocations", json!({ "org": org, "reason": "test" })).await;
    assert_eq!(proposed.status, 201, "{}", proposed.body);
    assert_eq!(proposed.body["proposal"]["status"], "pending", "one steward of three is no quorum");
    let id = proposed.body["proposal"]["id"].as_u64().expect("id");
    let approved = post_json(net, approver, &format!("/v1/governance/proposals/{id}/approve"), json!({})).await;
    assert_eq!(approved.status, 200, "{}", approved.body);
    assert_eq!(approved.body["proposal"]["status"], "active");
}

async fn delta_agents(net: &Federation, i: usize) -> Option<usize> {
    let agents = net.get(i, "/v1/agents?tenant=delta").await.ok()?.body;
    Some(agents.as_array()?.len())
}

async fn member_orgs(net: &Federation, i: usize) -> Option<Vec<String>> {
    let members = net.get(i, "/v1/members").await.ok()?.body;
    Some(members.as_array()?.iter().filter_map(|m| m["org"].as_str().map(str::to_owned)).collect())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revoked_org_is_cut_off_everywhere_and_a_revoked_steward_leaves_a_working_quorum() {
    let _serial = SERIAL.lock().await;
    let net = Federation::up(env!("CARGO_BIN_EXE_ossa"), 4, 3).expect("testnet up");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs();
    let expires = net.status(0).await.expect("status")["cert_expires_at"].as_u64().expect("cert_expires_at");
    assert!(expires > now + 300 * 86_400, "testnet certificates last a year: {expires}");
    assert_eq!(net.create_tenant(3, "delta").await.expect("tenant").status, 201);
    net.wait_until("node 3 knows its tenant", SETTLE, || async {
        net.tenants(3).await.ok().filter(|t| t.iter().any(|n| n == "delta"))
    })
    .await
    .expect("tenant");
    let manifest = std::fs::read(format!("{FIXTURES}/ossa-v1-support-bot.yaml")).expect("fixture");
    let registered = net.post_raw(3, "/v1/agents?tenant=delta", manifest, true).await.expect("register");
    assert_eq!(registered.status, 201, "{}", registered.body);
    net.wait_until("node 0 finds org3's agent", SETTLE, || async { delta_agents(&net, 0).await.filter(|n| *n == 1) })
        .await
        .expect("agent");

    revoke(&net, "org3", 0, 1).await;
    for i in 0..3 {
        net.wait_until(&format!("node {i} no longer lists org3"), SETTLE, || async {
            member_orgs(&net, i).await.filter(|orgs| !orgs.iter().any(|o| o == "org3"))
        })
        .await
        .expect("members");
        net.wait_until(&format!("node {i} hides org3's agent"), SETTLE, || async {
            delta_agents(&net, i).await.filter(|n| *n == 0)
        })
        .await
        .expect("discovery");
    }
    net.wait_until("node 3 knows it is revoked", SETTLE, || async {
        let status = net.status(3).await.ok()?;
        let ready = net.get(3, "/ready").await.ok()?;
        (status["revoked"] == true && ready.status == 503).then_some(())
    })
    .await
    .expect("revoked node");
    let refused = net
        .wait_until("a node refuses org3 at admission", SETTLE, || async {
            for i in 0..3 {
                let metrics = net.get_text(i, "/metrics").await.ok()?;
                if metrics.contains("ossa_admission_refused_total{reason=\"revoked\"}") {
                    return Some(i);
                }
            }
            None
        })
        .await;
    assert!(refused.is_ok(), "org3's node is cut off and refused");
    let cut_off = net.create_tenant(3, "after-revocation").await.expect("post");
    assert_ne!(cut_off.status, 201, "a revoked node's write does not commit: {}", cut_off.body);
    let export = net.get_text(0, "/v1/audit/export").await.expect("export");
    assert!(export.contains("\"kind\":\"federation.revoked\""), "the revocation is audited");
    let again = post_json(&net, 0, "/v1/governance/revocations", json!({ "org": "org3", "reason": "again" })).await;
    assert_eq!(again.status, 404, "{}", again.body);

    // A steward: the two stewards left keep committing.
    revoke(&net, "org2", 0, 1).await;
    net.wait_until("node 0 no longer lists org2", SETTLE, || async {
        member_orgs(&net, 0).await.filter(|orgs| orgs.len() == 2)
    })
    .await
    .expect("members");
    let committed = net
        .wait_until("a write commits without org2", SETTLE, || async {
            let leader = net.leader_seen_by(0).await?;
            (net.create_tenant(leader, "after-steward-revocation").await.ok()?.status == 201).then_some(())
        })
        .await;
    assert!(committed.is_ok(), "the remaining stewards keep a quorum");
    for i in 0..2 {
        net.wait_until(&format!("node {i} has the new tenant"), SETTLE, || async {
            net.tenants(i).await.ok().filter(|t| t.iter().any(|n| n == "after-steward-revocation"))
        })
        .await
        .expect("replicated");
    }
}

/// Waits until the leader (seen from node 0) reports `org` with Raft status `raft`.
async fn raft_status_on_leader(net: &Federation, org: &str, raft: &str) -> serde_json::Value {
    net.wait_until(&format!("{org} is a Raft {raft}"), SETTLE, || async {
        let leader = net.leader_seen_by(0).await?;
        let members = net.get(leader, "/v1/members").await.ok()?.body;
        let member = members.as_array()?.iter().find(|m| m["org"] == org)?.clone();
        (member["raft"] == raft).then_some(member)
    })
    .await
    .expect("raft status")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_promoted_member_becomes_a_voter_and_a_demoted_steward_a_learner() {
    let _serial = SERIAL.lock().await;
    let mut net = Federation::up(env!("CARGO_BIN_EXE_ossa"), 4, 3).expect("testnet up");
    let learner = raft_status_on_leader(&net, "org3", "learner").await;
    assert!(learner["lag"].as_u64().is_some(), "the leader reports a member's lag: {learner}");

    // Four stewards would be an even count: refused with the reason, unless forced.
    let refused = post_json(&net, 0, "/v1/governance/role-changes", json!({ "org": "org3", "role": "steward" })).await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(refused.body["error"]["message"].as_str().expect("message").contains("odd"), "{}", refused.body);

    let body = json!({ "org": "org3", "role": "steward", "force": true });
    let proposed = post_json(&net, 0, "/v1/governance/role-changes", body).await;
    assert_eq!(proposed.status, 201, "{}", proposed.body);
    let id = proposed.body["proposal"]["id"].as_u64().expect("id");
    let approved = post_json(&net, 1, &format!("/v1/governance/proposals/{id}/approve"), json!({})).await;
    assert_eq!(approved.body["proposal"]["status"], "active", "{}", approved.body);
    let voter = raft_status_on_leader(&net, "org3", "voter").await;
    assert_eq!(voter["role"], "steward");

    // The promoted voter counts: with the old leader killed, three of the four voters elect a
    // new leader and commit.
    let old_leader = net.wait_until("a leader is known", SETTLE, || net.leader_seen_by(3)).await.expect("leader");
    net.kill(old_leader).expect("kill");
    let survivor = (old_leader + 1) % net.len();
    let committed = net
        .wait_until("a write commits without the old leader", SETTLE, || async {
            let leader = net.leader_seen_by(survivor).await.filter(|l| *l != old_leader)?;
            (net.create_tenant(leader, "after-leader-loss").await.ok()?.status == 201).then_some(())
        })
        .await;
    assert!(committed.is_ok(), "a new leader commits with the promoted voter");
    net.restart(old_leader).expect("restart");
    net.wait_until("the old leader is back", SETTLE, || async {
        (net.get(old_leader, "/ready").await.ok()?.status == 200).then_some(())
    })
    .await
    .expect("ready");

    // Back to three: org1 is demoted and stays on as a learner; writes still commit.
    let proposed = post_json(&net, 3, "/v1/governance/role-changes", json!({ "org": "org1", "role": "member" })).await;
    assert_eq!(proposed.status, 201, "{}", proposed.body);
    let id = proposed.body["proposal"]["id"].as_u64().expect("id");
    for approver in [0, 2] {
        let answer = post_json(&net, approver, &format!("/v1/governance/proposals/{id}/approve"), json!({})).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
    raft_status_on_leader(&net, "org1", "learner").await;
    let committed = net
        .wait_until("a write commits with the new voters", SETTLE, || async {
            let leader = net.leader_seen_by(0).await?;
            (net.create_tenant(leader, "after-role-changes").await.ok()?.status == 201).then_some(())
        })
        .await;
    assert!(committed.is_ok(), "the new voter set commits");
}
