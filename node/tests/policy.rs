//! Policy through Raft on a real federation: a tenant's set is enforced on every node, default
//! deny, invalid and unauthorized writes are refused, and a federation forbid takes effect only
//! once a second steward approves it, then wins over the tenant's permit everywhere, also on a
//! node restarted afterwards.

use std::time::Duration;

use ossa_testnet::{Answer, Federation};
use serde_json::json;

const SETTLE: Duration = Duration::from_secs(20);

const TENANT_PERMIT: &str = r#"
@id("orgs-may-invoke")
permit(principal is Ossa::Org, action == Ossa::Action::"invoke", resource in Ossa::Tenant::"shop");
"#;

const FEDERATION_FORBID: &str = r#"
@id("baseline")
permit(principal, action, resource);

@id("org2-may-not-invoke")
forbid(principal == Ossa::Org::"org2", action == Ossa::Action::"invoke", resource);
"#;

async fn decide(net: &Federation, node: usize, tenant: &str) -> Answer {
    let body = json!({
        "tenant": tenant,
        "principal": "org:org2",
        "action": "invoke",
        "resource": format!("agent:{tenant}/checkout"),
        "context": { "capability": "payments", "trust": 700, "caller_org": "org2" },
    });
    net.post_raw(node, "/v1/authorize", body.to_string().into_bytes(), true).await.expect("authorize")
}

async fn wait_decision(net: &Federation, node: usize, tenant: &str, expected: &str, deciding: &str) {
    net.wait_until(&format!("node {node} decides {expected} by {deciding}"), SETTLE, || async {
        let answer = decide(net, node, tenant).await;
        let ids: Vec<String> = answer.body["deciding"]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
            .unwrap_or_default();
        (answer.body["decision"] == expected && (deciding.is_empty() || ids.iter().any(|i| i == deciding)))
            .then_some(())
    })
    .await
    .expect("decision");
}

async fn put_policy(net: &Federation, node: usize, tenant: &str, text: &str) -> Answer {
    let path = format!("/v1/tenants/{tenant}/policy");
    let response = reqwest::Client::new()
        .put(format!("{}{path}", net.node(node).api))
        .bearer_auth(net.token(node).expect("token"))
        .body(text.to_owned())
        .send()
        .await
        .expect("put");
    let status = response.status().as_u16();
    Answer { status, body: response.json().await.unwrap_or_default() }
}

#[tokio::test(flavor = "multi_thread")]
async fn tenant_sets_and_federation_governance_are_enforced_on_every_node() {
    let mut net = Federation::up(env!("CARGO_BIN_EXE_ossa"), 3, 3).expect("testnet up");
    for tenant in ["shop", "empty"] {
        assert_eq!(net.create_tenant(0, tenant).await.expect("tenant").status, 201);
    }

    // Invalid Cedar: refused with the validator's position; unknown tenant; not the owner.
    let invalid = put_policy(&net, 0, "shop", "permit(principal, action, resource").await;
    assert_eq!(invalid.status, 400, "{:?}", invalid.body);
    let message = invalid.body["error"]["message"].as_str().unwrap_or_default().to_owned();
    assert!(message.contains(':'), "the message carries a position: {message}");
    assert_eq!(put_policy(&net, 0, "nope", TENANT_PERMIT).await.status, 404);
    net.wait_until("tenant on node 1", SETTLE, || async { net.tenants(1).await.ok().filter(|t| t.len() == 2) })
        .await
        .expect("replicated");
    assert_eq!(put_policy(&net, 1, "shop", TENANT_PERMIT).await.status, 403, "org1 does not own shop");
    let oversized = format!("{TENANT_PERMIT}\n// {}", "x".repeat(ossa_policy::MAX_POLICY_SET_BYTES));
    let refused = put_policy(&net, 0, "shop", &oversized).await;
    assert!(refused.status == 413 || refused.status == 400, "oversized set: {:?}", refused.body);
    for i in 0..net.len() {
        wait_decision(&net, i, "shop", "deny", "").await;
    }

    // The owner's set is enforced on every node; a tenant without a set is default deny.
    let set = put_policy(&net, 0, "shop", TENANT_PERMIT).await;
    assert_eq!(set.status, 200, "{:?}", set.body);
    for i in 0..net.len() {
        wait_decision(&net, i, "shop", "allow", "tenant:orgs-may-invoke").await;
        assert_eq!(decide(&net, i, "empty").await.body["decision"], "deny");
    }

    // A federation forbid proposed by one steward of three is not active yet.
    let proposed =
        net.post_raw(0, "/v1/policy/proposals", FEDERATION_FORBID.as_bytes().to_vec(), true).await.expect("propose");
    assert_eq!(proposed.status, 201, "{:?}", proposed.body);
    let id = proposed.body["proposal"]["id"].as_u64().expect("id");
    assert_eq!(proposed.body["proposal"]["status"], "pending");
    let again = net.post_raw(0, &format!("/v1/policy/proposals/{id}/approve"), vec![], true).await.expect("approve");
    assert_eq!(again.status, 409, "double approval: {:?}", again.body);
    for i in 0..net.len() {
        assert_eq!(decide(&net, i, "shop").await.body["decision"], "allow", "node {i} enforces a pending proposal");
    }

    // A second steward approves: the forbid wins over the tenant permit everywhere.
    let approved = net.post_raw(1, &format!("/v1/policy/proposals/{id}/approve"), vec![], true).await.expect("approve");
    assert_eq!(approved.status, 200, "{:?}", approved.body);
    assert_eq!(approved.body["proposal"]["status"], "active");
    for i in 0..net.len() {
        wait_decision(&net, i, "shop", "deny", "federation:org2-may-not-invoke").await;
    }

    // A restarted node comes back with the active versions and enforces them.
    net.kill(2).expect("kill");
    net.restart(2).expect("restart");
    net.wait_until("node 2 is ready again", SETTLE, || async {
        (net.get(2, "/ready").await.ok()?.status == 200).then_some(())
    })
    .await
    .expect("ready");
    wait_decision(&net, 2, "shop", "deny", "federation:org2-may-not-invoke").await;
    let (restarted, reference) =
        (net.get(2, "/v1/policy").await.expect("policy").body, net.get(0, "/v1/policy").await.expect("policy").body);
    assert!(restarted["federation"]["digest"].is_string(), "the federation version survives: {restarted}");
    assert_eq!(restarted["federation"], reference["federation"]);
    assert_eq!(restarted["tenants"]["shop"], reference["tenants"]["shop"]);

    // Every decision is audited on the deciding node.
    let export = net.get_text(2, "/v1/audit/export").await.expect("export");
    assert!(export.lines().any(|l| l.contains("policy.decision") && l.contains("org2-may-not-invoke")));
    ossa_audit::verify_export(export.as_bytes()).expect("audit log verifies");
}
