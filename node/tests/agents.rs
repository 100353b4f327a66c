//! Agent discovery across a real federation: records registered on one node, from each
//! manifest format, are found on every other node; removal spreads; bad registrations are
//! refused with a message and register nothing.

use std::time::Duration;

use ossa_testnet::{Answer, Federation};
use serde_json::Value;

const SETTLE: Duration = Duration::from_secs(20);
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/manifests");

async fn register(net: &Federation, node: usize, tenant: &str, fixture: &str) -> Answer {
    let bytes = std::fs::read(format!("{FIXTURES}/{fixture}")).expect("fixture");
    net.post_raw(node, &format!("/v1/agents?tenant={tenant}"), bytes, true).await.expect("register")
}

async fn agent_ids(net: &Federation, node: usize, query: &str) -> Option<Vec<String>> {
    let answer = net.get(node, &format!("/v1/agents{query}")).await.ok()?;
    let mut ids: Vec<String> =
        answer.body.as_array()?.iter().filter_map(|a| a["id"].as_str().map(str::to_owned)).collect();
    ids.sort();
    Some(ids)
}

#[tokio::test(flavor = "multi_thread")]
async fn agents_registered_anywhere_are_found_everywhere_and_removal_spreads() {
    let net = Federation::up(env!("CARGO_BIN_EXE_ossa"), 3, 3).expect("testnet up");
    for (node, tenant) in [(0, "alpha"), (1, "beta"), (2, "gamma")] {
        assert_eq!(net.create_tenant(node, tenant).await.expect("tenant").status, 201);
    }
    // Every node must know every tenant before it can check a record's tenant.
    for i in 0..net.len() {
        net.wait_until("tenants replicated", SETTLE, || async { net.tenants(i).await.ok().filter(|t| t.len() == 3) })
            .await
            .expect("tenants");
    }

    let registrations = [
        (0, "alpha", "ossa-0.1.9-code-reviewer.yaml"),
        (1, "beta", "ossa-v0.2-invoice-triage.yaml"),
        (2, "gamma", "a2a-0.3-travel-planner.json"),
        (0, "alpha", "ossa-v1-support-bot.yaml"),
        (1, "beta", "a2a-1.0-recipe-agent.json"),
        (2, "gamma", "ossa-v0.5-data-analyst.yaml"),
    ];
    let mut expected = Vec::new();
    for (node, tenant, fixture) in registrations {
        let answer = register(&net, node, tenant, fixture).await;
        assert_eq!(answer.status, 201, "{fixture}: {:?}", answer.body);
        assert_eq!(answer.body["org"], net.node(node).org.as_str(), "{fixture}");
        expected.push((tenant, answer.body["id"].as_str().expect("id").to_owned(), answer.body.clone()));
    }
    let mut all_ids: Vec<String> = expected.iter().map(|(_, id, _)| id.clone()).collect();
    all_ids.sort();

    for i in 0..net.len() {
        net.wait_until("every agent is in every directory", SETTLE, || async {
            agent_ids(&net, i, "").await.filter(|ids| *ids == all_ids)
        })
        .await
        .expect("directory converged");
        // Each agent is found by one of its capabilities, with the fields its org signed.
        for (tenant, id, registered) in &expected {
            let capability = registered["capabilities"][0].as_str().expect("capability");
            let found = net.get(i, &format!("/v1/agents/search?capability={capability}")).await.expect("search");
            let hit: Option<&Value> =
                found.body.as_array().and_then(|list| list.iter().find(|a| a["id"] == id.as_str()));
            let hit = hit.unwrap_or_else(|| panic!("node {i}: {id} not found by {capability}"));
            assert_eq!(hit["tenant"], *tenant);
            // Discovery adds the agent's trust score and quarantine state to the signed record.
            let mut record = hit.clone();
            let ranked = record.as_object_mut().expect("object");
            assert!(ranked.remove("trust").is_some_and(|t| t.as_u64().is_some_and(|t| t <= 1000)));
            assert_eq!(ranked.remove("quarantined"), Some(Value::Bool(false)));
            assert_eq!(&record, registered, "node {i} serves the record as signed");
        }
    }

    // Removal: a tombstone from the owner spreads.
    let (tenant, id, _) = &expected[1];
    let removed = net.delete(1, &format!("/v1/agents/{tenant}/{id}")).await.expect("delete");
    assert_eq!(removed.status, 204, "{:?}", removed.body);
    for i in 0..net.len() {
        net.wait_until("the removal reached every node", SETTLE, || async {
            agent_ids(&net, i, "").await.filter(|ids| !ids.contains(id) && ids.len() == all_ids.len() - 1)
        })
        .await
        .expect("removal spread");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_registrations_are_refused_and_register_nothing() {
    let net = Federation::up(env!("CARGO_BIN_EXE_ossa"), 3, 3).expect("testnet up");
    assert_eq!(net.create_tenant(0, "alpha").await.expect("tenant").status, 201);
    net.wait_until("tenant on node 1", SETTLE, || async { net.tenants(1).await.ok().filter(|t| t.len() == 1) })
        .await
        .expect("tenant replicated");

    // Another org's tenant.
    let foreign = register(&net, 1, "alpha", "ossa-v1-support-bot.yaml").await;
    assert_eq!(foreign.status, 403, "{:?}", foreign.body);
    // An unknown tenant.
    let unknown = register(&net, 0, "nope", "ossa-v1-support-bot.yaml").await;
    assert_eq!(unknown.status, 404, "{:?}", unknown.body);
    // A malformed manifest: the message says what is wrong.
    let malformed = net
        .post_raw(0, "/v1/agents?tenant=alpha", b"apiVersion: ossa/v1\nkind: Agent\nspec: [not, a, map".to_vec(), true)
        .await
        .expect("post");
    assert_eq!(malformed.status, 400, "{:?}", malformed.body);
    assert_eq!(malformed.body["error"]["code"], "invalid_manifest");
    // An oversized one.
    let big = net.post_raw(0, "/v1/agents?tenant=alpha", vec![b'a'; 300 * 1024], true).await.expect("post");
    assert_eq!(big.status, 413, "{:?}", big.body);
    // No token.
    let bytes = std::fs::read(format!("{FIXTURES}/ossa-v1-support-bot.yaml")).expect("fixture");
    assert_eq!(net.post_raw(0, "/v1/agents?tenant=alpha", bytes, false).await.expect("post").status, 401);

    for i in 0..net.len() {
        assert_eq!(agent_ids(&net, i, "").await, Some(vec![]), "node {i} registered something");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_that_missed_the_gossip_catches_up_through_sync() {
    let mut net = Federation::up(env!("CARGO_BIN_EXE_ossa"), 3, 3).expect("testnet up");
    assert_eq!(net.create_tenant(0, "alpha").await.expect("tenant").status, 201);
    net.wait_until("tenant on node 2", SETTLE, || async { net.tenants(2).await.ok().filter(|t| t.len() == 1) })
        .await
        .expect("tenant replicated");

    // Node 2 is down while the agent is registered and gossiped.
    net.kill(2).expect("kill");
    let answer = register(&net, 0, "alpha", "ossa-v1-support-bot.yaml").await;
    assert_eq!(answer.status, 201, "{:?}", answer.body);
    let id = answer.body["id"].as_str().expect("id").to_owned();
    net.wait_until("node 1 has it by gossip", SETTLE, || async {
        agent_ids(&net, 1, "").await.filter(|ids| ids.contains(&id))
    })
    .await
    .expect("gossip");

    net.restart(2).expect("restart");
    net.wait_until("the restarted node has it through /ossa/sync/1", SETTLE, || async {
        agent_ids(&net, 2, "").await.filter(|ids| ids.contains(&id))
    })
    .await
    .expect("synced");
}

/// Cuts node `cut` off from the others (both ways) through the fault-injection endpoint, or
/// heals every link with `None`.
async fn partition(net: &Federation, cut: Option<usize>) {
    for i in 0..net.len() {
        let blocked: Vec<String> = match cut {
            None => vec![],
            Some(c) if c == i => (0..net.len()).filter(|j| *j != c).map(|j| net.node(j).peer_id.clone()).collect(),
            Some(c) => vec![net.node(c).peer_id.clone()],
        };
        let body = serde_json::to_vec(&serde_json::json!({ "blocked": blocked })).expect("json");
        let answer = net.put_raw(i, "/v1/testing/partition", body).await.expect("partition");
        assert_eq!(answer.status, 200, "{:?}", answer.body);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_cut_off_by_a_partition_catches_up_once_it_heals() {
    let net = Federation::up(env!("CARGO_BIN_EXE_ossa"), 3, 3).expect("testnet up");
    assert_eq!(net.create_tenant(0, "alpha").await.expect("tenant").status, 201);
    for i in 0..net.len() {
        net.wait_until("tenant replicated", SETTLE, || async { net.tenants(i).await.ok().filter(|t| t.len() == 1) })
            .await
            .expect("tenant");
    }
    partition(&net, Some(2)).await;
    let answer = register(&net, 0, "alpha", "ossa-v1-support-bot.yaml").await;
    assert_eq!(answer.status, 201, "{:?}", answer.body);
    net.wait_until("node 1 has the agent", SETTLE, || async {
        agent_ids(&net, 1, "").await.filter(|ids| ids.len() == 1)
    })
    .await
    .expect("majority side");
    assert_eq!(agent_ids(&net, 2, "").await, Some(vec![]), "the cut-off node cannot have heard of it");

    partition(&net, None).await;
    net.wait_until("node 2 catches up after the partition heals", SETTLE, || async {
        agent_ids(&net, 2, "").await.filter(|ids| ids.len() == 1)
    })
    .await
    .expect("healed");
}
