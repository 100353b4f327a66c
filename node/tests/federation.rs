//! Multi-node tests against real `ossa node run` processes on loopback (via `ossa-testnet`).
//!
//! Each test starts its own 3-steward federation. They run one at a time (the `SERIAL` lock):
//! three debug-build nodes per test already keep a 2-core machine busy, and Raft timeouts are
//! tuned for a LAN, not for a machine running a dozen nodes at once.

use std::time::Duration;

use ossa_testnet::Federation;

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Generous upper bound for anything that should happen within a few Raft rounds.
const SETTLE: Duration = Duration::from_secs(20);

fn federation() -> Federation {
    Federation::up(env!("CARGO_BIN_EXE_ossa"), 3, 3).expect("testnet up")
}

async fn leader(net: &Federation, asked: usize) -> usize {
    net.wait_until("a leader is known", SETTLE, || net.leader_seen_by(asked)).await.expect("leader")
}

/// Sets `[raft]` fields of every node's `node.toml` and restarts the nodes one at a time (so a
/// majority is always up), each until it is ready again.
async fn set_raft_config(net: &mut Federation, fields: &[(&str, &str)]) {
    for i in 0..net.len() {
        let path = net.node(i).dir.join("node.toml");
        let config = std::fs::read_to_string(&path).expect("node.toml");
        let mut set = 0;
        let config: String = config
            .lines()
            .map(|line| {
                let key = line.split(" = ").next().unwrap_or_default();
                match fields.iter().find(|(field, _)| *field == key) {
                    Some((field, value)) => {
                        set += 1;
                        format!("{field} = {value}\n")
                    }
                    None => format!("{line}\n"),
                }
            })
            .collect();
        assert_eq!(set, fields.len(), "the testnet writes every [raft] field: {config}");
        std::fs::write(&path, config).expect("write node.toml");
        net.kill(i).expect("kill");
        net.restart(i).expect("restart");
        net.wait_until("the restarted node is ready", SETTLE, || async {
            net.get(i, "/ready").await.ok().filter(|a| a.status == 200)
        })
        .await
        .expect("ready");
    }
}

async fn verify_audit(net: &Federation, i: usize) -> ossa_audit::VerifyReport {
    let export = net.get_text(i, "/v1/audit/export").await.expect("export");
    ossa_audit::verify_export(export.as_bytes())
        .unwrap_or_else(|e| panic!("audit log of node {i} does not verify: {e}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn tenant_created_on_a_follower_appears_on_every_node_and_is_audited() {
    let _serial = SERIAL.lock().await;
    let net = federation();
    let leader = leader(&net, 0).await;
    let follower = (leader + 1) % net.len();

    let created = net.create_tenant(follower, "research").await.expect("create");
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(created.body["owner"], net.node(follower).org.as_str());
    for i in 0..net.len() {
        net.wait_until("the tenant is listed on every node", SETTLE, || async {
            net.tenants(i).await.ok().filter(|t| t.contains(&"research".to_owned()))
        })
        .await
        .expect("replicated");
    }

    // The same name through another node is a conflict, and changes nothing.
    let again = net.create_tenant(leader, "research").await.expect("create again");
    assert_eq!(again.status, 409, "{:?}", again.body);
    assert_eq!(again.body["error"]["code"], "tenant_exists");
    assert_eq!(net.tenants(leader).await.expect("list"), vec!["research".to_owned()]);

    // Every node audited the entry with its Raft index, and its log verifies.
    let index = created.body["created_at"].as_u64().expect("raft index");
    for i in 0..net.len() {
        net.wait_until("the entry is audited", SETTLE, || async {
            let export = net.get_text(i, "/v1/audit/export").await.ok()?;
            export
                .lines()
                .any(|l| l.contains("registry.create_tenant") && l.contains(&format!("\"raft_index\":{index}")))
                .then_some(())
        })
        .await
        .expect("audited");
        let report = verify_audit(&net, i).await;
        assert!(report.entries >= 4, "membership, members and the tenant: {report:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn after_the_leader_is_killed_a_new_one_is_elected_and_writes_continue() {
    let _serial = SERIAL.lock().await;
    let mut net = federation();
    let old = leader(&net, 0).await;
    let created = net.create_tenant(old, "before").await.expect("create");
    assert_eq!(created.status, 201);
    net.kill(old).expect("kill -9");

    let survivors: Vec<usize> = (0..net.len()).filter(|i| *i != old).collect();
    let new = net
        .wait_until("a survivor names a new leader", SETTLE, || async {
            net.leader_seen_by(survivors[0]).await.filter(|l| *l != old)
        })
        .await
        .expect("new leader");
    assert!(survivors.contains(&new));

    // A write through either survivor commits on both.
    let writer = survivors[1];
    let after = net.create_tenant(writer, "after").await.expect("create after failover");
    assert_eq!(after.status, 201, "{:?}", after.body);
    for &i in &survivors {
        net.wait_until("both tenants are on the survivor", SETTLE, || async {
            let tenants = net.tenants(i).await.ok()?;
            (tenants == ["after", "before"]).then_some(())
        })
        .await
        .expect("replicated after failover");
        verify_audit(&net, i).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_leaders_closed_connection_starts_the_election_at_once() {
    let _serial = SERIAL.lock().await;
    let mut net = federation();
    // Election timers so slow that, by silence alone, a follower would stand only after the
    // 9 s lease plus its 2..9 s timeout: a leader within the deadline below was elected because
    // the survivors saw the killed leader refuse connections. The vote deadline (2 s) is what a
    // second round waits for, when one survivor's vote request met the other's lease.
    set_raft_config(&mut net, &[("heartbeat_ms", "100"), ("election_min_ms", "2000"), ("election_max_ms", "9000")])
        .await;
    let old = leader(&net, 0).await;
    assert_eq!(net.create_tenant(old, "before").await.expect("create").status, 201);
    // Both survivors hold the same log, so the one with the higher node id wins the first round.
    let survivors: Vec<usize> = (0..net.len()).filter(|i| *i != old).collect();
    for &i in &survivors {
        net.wait_until("the survivor applied the write", SETTLE, || async {
            net.tenants(i).await.ok().filter(|t| t == &["before"])
        })
        .await
        .expect("replicated");
    }
    let mut stood_before = 0;
    for &i in &survivors {
        stood_before += leader_disconnects(&net, i, "stood").await;
    }
    net.kill(old).expect("kill -9");

    let by_silence = Duration::from_secs(8);
    let new = net
        .wait_until("a survivor names a new leader before any election timer fires", by_silence, || async {
            net.leader_seen_by(survivors[0]).await.filter(|l| *l != old)
        })
        .await
        .expect("elected on the closed connection");
    assert!(survivors.contains(&new));
    assert_eq!(net.create_tenant(new, "after").await.expect("create after failover").status, 201);
    let mut stood_after = 0;
    for &i in &survivors {
        stood_after += leader_disconnects(&net, i, "stood").await;
    }
    assert!(stood_after > stood_before, "a survivor stood because the killed leader refused connections");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_follower_whose_link_to_a_live_leader_flaps_does_not_unseat_it() {
    let _serial = SERIAL.lock().await;
    let net = federation();
    let leader = leader(&net, 0).await;
    let follower = (leader + 1) % net.len();
    let term = net.status(leader).await.expect("status")["term"].as_u64().expect("a term");
    let body = serde_json::json!({ "peer": net.node(leader).peer_id }).to_string().into_bytes();
    let answer = net.post_raw(follower, "/v1/testing/disconnect", body, true).await.expect("disconnect");
    assert_eq!(answer.status, 200, "{:?}", answer.body);

    net.wait_until("the follower asked the leader and got an answer", SETTLE, || async {
        (leader_disconnects(&net, follower, "leader_answered").await >= 1).then_some(())
    })
    .await
    .expect("the leader answered");
    assert_eq!(leader_disconnects(&net, follower, "stood").await, 0, "the follower did not stand");
    let status = net.status(leader).await.expect("status");
    assert_eq!(status["term"].as_u64(), Some(term), "no election: {status}");
    assert_eq!(net.leader_seen_by(follower).await, Some(leader));
}

/// Node `i`'s count of closed leader connections that ended in `outcome` (0 before the first).
async fn leader_disconnects(net: &Federation, i: usize, outcome: &str) -> u64 {
    let metrics = net.get_text(i, "/metrics").await.expect("metrics");
    let prefix = format!("ossa_leader_disconnects_total{{outcome=\"{outcome}\"}} ");
    metrics.lines().find_map(|l| l.strip_prefix(&prefix)).map_or(0, |v| v.trim().parse().expect("a count"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restarted_node_keeps_its_data_and_catches_up() {
    let _serial = SERIAL.lock().await;
    let mut net = federation();
    let leader = leader(&net, 0).await;
    let down = (leader + 1) % net.len();
    let other = (leader + 2) % net.len();
    assert_eq!(net.create_tenant(leader, "first").await.expect("create").status, 201);
    net.wait_until("the node has the first tenant", SETTLE, || async {
        net.tenants(down).await.ok().filter(|t| t.len() == 1)
    })
    .await
    .expect("replicated");
    let audited_before = net.status(down).await.expect("status")["audit_entries"].as_u64().expect("count");

    net.kill(down).expect("kill -9");
    assert_eq!(net.create_tenant(other, "while-down").await.expect("create").status, 201);
    net.restart(down).expect("restart");

    net.wait_until("the restarted node has both tenants", SETTLE, || async {
        let tenants = net.tenants(down).await.ok()?;
        (tenants == ["first", "while-down"]).then_some(())
    })
    .await
    .expect("caught up");
    net.wait_until("the restarted node is ready", SETTLE, || async {
        net.get(down, "/ready").await.ok().filter(|a| a.status == 200)
    })
    .await
    .expect("ready");
    let report = verify_audit(&net, down).await;
    assert!(report.entries > audited_before, "the restarted node's log continued: {report:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_http_input_is_refused_with_a_json_error_and_changes_nothing() {
    let _serial = SERIAL.lock().await;
    let net = federation();
    let cases: Vec<(&str, Vec<u8>, bool, u16, &str)> = vec![
        ("no token", br#"{"name":"a"}"#.to_vec(), false, 401, "unauthorized"),
        ("malformed json", b"{\"name\":".to_vec(), true, 400, "bad_json"),
        ("unknown field", br#"{"name":"a","owner":"x"}"#.to_vec(), true, 400, "bad_json"),
        ("bad name", br#"{"name":"Not/Valid"}"#.to_vec(), true, 400, "invalid_name"),
        (
            "oversized body",
            format!(r#"{{"name":"{}"}}"#, "a".repeat(100_000)).into_bytes(),
            true,
            413,
            "body_too_large",
        ),
    ];
    for (what, body, with_token, status, code) in cases {
        let answer = net.post_raw(1, "/v1/tenants", body, with_token).await.expect(what);
        assert_eq!(answer.status, status, "{what}: {:?}", answer.body);
        assert_eq!(answer.body["error"]["code"], code, "{what}");
        assert!(answer.body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{what}");
    }
    for i in 0..net.len() {
        assert!(net.tenants(i).await.expect("list").is_empty(), "node {i} changed");
    }
    let missing = net.get(0, "/v1/nope").await.expect("404");
    assert_eq!(missing.status, 404);
    assert_eq!(missing.body["error"]["code"], "not_found");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_export_verifies_against_the_served_checkpoint_and_a_cut_copy_does_not() {
    let _serial = SERIAL.lock().await;
    let net = federation();
    let leader = leader(&net, 0).await;
    assert_eq!(net.create_tenant(leader, "audited").await.expect("create").status, 201);
    let node = (leader + 1) % net.len();
    let checkpoint = net
        .wait_until("a checkpoint covering the tenant is signed", SETTLE, || async {
            let answer = net.get_text(node, "/v1/audit/checkpoint").await.ok()?;
            let checkpoint = ossa_audit::parse_checkpoint(&answer).ok()?;
            (checkpoint.size >= 4).then_some(answer)
        })
        .await
        .expect("checkpoint");
    let export = net.get_text(node, "/v1/audit/export").await.expect("export");

    let dir = tempfile::tempdir().expect("tempdir");
    let (note, log, cut) = (dir.path().join("cp.note"), dir.path().join("log.jsonl"), dir.path().join("cut.jsonl"));
    std::fs::write(&note, &checkpoint).expect("write");
    std::fs::write(&log, &export).expect("write");
    let cert = net.node(node).dir.join("org.pem");
    let verify = |file: &std::path::Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_ossa"))
            .arg("audit")
            .arg("verify")
            .arg(file)
            .arg("--checkpoint")
            .arg(&note)
            .arg("--cert")
            .arg(&cert)
            .output()
            .expect("run ossa")
    };
    let ok = verify(&log);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));

    // Cut the tail below the checkpoint and fix up the header so the file is self-consistent:
    // only the signed checkpoint can tell that history is missing.
    let lines: Vec<&str> = export.lines().collect();
    let kept = &lines[1..3];
    let header = serde_json::json!({
        "format": "ossa-audit-export", "version": 1, "origin": format!("testnet/{}", net.node(node).org),
        "entries": kept.len(),
        "head": serde_json::from_str::<serde_json::Value>(kept[kept.len() - 1]).expect("entry")["leaf_hash"],
    });
    std::fs::write(&cut, format!("{header}\n{}\n", kept.join("\n"))).expect("write");
    let refused = verify(&cut);
    assert!(!refused.status.success(), "a cut log must not verify against the checkpoint");
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(message.contains("entry 2"), "names the first missing entry: {message}");

    // Another org's certificate does not vouch for this checkpoint.
    let other_cert = net.node((node + 1) % net.len()).dir.join("org.pem");
    let wrong = std::process::Command::new(env!("CARGO_BIN_EXE_ossa"))
        .args(["audit", "verify"])
        .arg(&log)
        .arg("--checkpoint")
        .arg(&note)
        .arg("--cert")
        .arg(&other_cert)
        .output()
        .expect("run ossa");
    assert!(!wrong.status.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn testnet_up_seeds_tenants_with_a_policy_set_and_an_agent_each() {
    let _serial = SERIAL.lock().await;
    let net = Federation::up_with_tenants(env!("CARGO_BIN_EXE_ossa"), 3, 3, 6).expect("testnet up");
    for i in 0..net.len() {
        let mut tenants = net.tenants(i).await.expect("tenants");
        tenants.sort();
        let expected: Vec<String> = (0..6).map(|t| format!("tenant-{t}")).collect();
        assert_eq!(tenants, expected, "node {i}");
        net.wait_until("every seeded agent is in the node's directory", SETTLE, || async {
            (net.get(i, "/v1/agents").await.ok()?.body.as_array()?.len() == 6).then_some(())
        })
        .await
        .expect("agents");
    }
    // tenant-4 belongs to org1 (4 mod 3); its policy set lets only its owner invoke its agent.
    let listed = net.get(2, "/v1/agents?tenant=tenant-4").await.expect("agents").body;
    let agent = listed[0]["id"].as_str().expect("tenant-4 has its agent").to_owned();
    for (principal, expected) in [("org:org1", "allow"), ("org:org2", "deny")] {
        let ask = serde_json::json!({
            "tenant": "tenant-4", "principal": principal, "action": "invoke", "resource": format!("agent:tenant-4/{agent}")
        });
        let answer = net.post_raw(2, "/v1/authorize", serde_json::to_vec(&ask).expect("json"), true).await;
        let answer = answer.expect("authorize");
        assert_eq!(answer.body["decision"], expected, "{principal}: {}", answer.body);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_that_fell_behind_the_leaders_snapshot_installs_it() {
    let _serial = SERIAL.lock().await;
    let mut net = federation();
    // Snapshot every 10 applied entries and keep no log behind the snapshot.
    set_raft_config(&mut net, &[("snapshot_every_entries", "10"), ("snapshot_keep_entries", "0")]).await;
    let leader = leader(&net, 0).await;
    let down = (leader + 1) % net.len();
    let behind = net.status(down).await.expect("status")["last_applied"].as_u64().expect("applied");
    net.kill(down).expect("kill -9");
    for k in 0..30 {
        assert_eq!(net.create_tenant(leader, &format!("far-{k}")).await.expect("create").status, 201);
    }
    net.wait_until("the leader purged the entries the down node lacks", SETTLE, || async {
        let purged = net.status(leader).await.ok()?["purged_index"].as_u64()?;
        (purged > behind).then_some(())
    })
    .await
    .expect("purged");

    net.restart(down).expect("restart");
    net.wait_until("the node that was down has every tenant", SETTLE, || async {
        net.tenants(down).await.ok().filter(|t| t.len() == 30)
    })
    .await
    .expect("caught up");
    let export = net.get_text(down, "/v1/audit/export").await.expect("export");
    assert!(export.contains("\"kind\":\"raft.snapshot_installed\""), "it caught up by installing a snapshot");
    verify_audit(&net, down).await;
}
