//! Audit witnessing across real nodes: checkpoints cosigned by the stewards, proofs verified
//! offline with the witnesses' certificates, a restart that keeps the tree, and a node that
//! rewrites its history caught by its peers.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ossa_testnet::Federation;

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Upper bound for a few Raft rounds plus a checkpoint period and a gossip round trip.
const SETTLE: Duration = Duration::from_secs(30);

fn ossa(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ossa")).args(args).output().expect("run ossa")
}

fn cert(net: &Federation, i: usize) -> PathBuf {
    net.node(i).dir.join("org.pem")
}

/// Waits until node `i` serves a checkpoint of at least `size` entries cosigned by `cosigners`.
async fn cosigned_checkpoint(net: &Federation, i: usize, size: u64, cosigners: usize) -> String {
    net.wait_until(
        &format!("node {i} has a checkpoint of size >= {size} with {cosigners} cosignatures"),
        SETTLE,
        || async {
            let note = net.get_text(i, &format!("/v1/audit/checkpoint?min_cosigners={cosigners}")).await.ok()?;
            let checkpoint = ossa_audit::parse_checkpoint(&note).ok()?;
            (checkpoint.size >= size).then_some(note)
        },
    )
    .await
    .expect("cosigned checkpoint")
}

fn counter(metrics: &str, name: &str) -> u64 {
    metrics.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok()).unwrap_or(0)
}

fn cosigners(note: &str) -> Vec<String> {
    let parsed = ossa_audit::parse_note(note).expect("note");
    parsed.signatures.into_iter().map(|line| line.name).collect()
}

async fn wait_ready(net: &Federation, i: usize) {
    let ready = || async { (net.get(i, "/ready").await.ok()?.status == 200).then_some(()) };
    net.wait_until(&format!("node {i} is ready"), SETTLE, ready).await.expect("ready");
}

fn b64_hashes(value: &serde_json::Value) -> Vec<ossa_audit::Hash> {
    let hashes = value.as_array().expect("hash list");
    hashes.iter().map(|h| STANDARD.decode(h.as_str().expect("str")).expect("b64").try_into().expect("32")).collect()
}

fn b64_hash(value: &serde_json::Value) -> ossa_audit::Hash {
    STANDARD.decode(value.as_str().expect("str")).expect("b64").try_into().expect("32 bytes")
}

#[tokio::test(flavor = "multi_thread")]
async fn checkpoints_are_cosigned_by_peers_and_proofs_verify_offline() {
    let _serial = SERIAL.lock().await;
    let mut net = Federation::up(env!("CARGO_BIN_EXE_ossa"), 3, 3).expect("testnet up");
    let leader = net.wait_until("a leader is known", SETTLE, || net.leader_seen_by(0)).await.expect("leader");
    assert_eq!(net.create_tenant(leader, "witnessed").await.expect("create").status, 201);

    let note = cosigned_checkpoint(&net, 0, 4, 2).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = |name: &str| dir.path().join(name);
    std::fs::write(path("cp.note"), &note).expect("write");
    std::fs::write(path("log.jsonl"), net.get_text(0, "/v1/audit/export").await.expect("export")).expect("write");
    let (c0, c1, c2) = (cert(&net, 0), cert(&net, 1), cert(&net, 2));
    let trust = |min: &str| -> Vec<std::ffi::OsString> {
        ["--cert".as_ref(), c0.as_os_str(), "--witness-cert".as_ref(), c1.as_os_str()]
            .into_iter()
            .chain(["--witness-cert".as_ref(), c2.as_os_str(), "--min-cosigners".as_ref(), min.as_ref()])
            .map(Into::into)
            .collect()
    };
    let run = |first: &[&str], file: &Path, extra: &[std::ffi::OsString]| {
        let mut args: Vec<&std::ffi::OsStr> = first.iter().map(|a| a.as_ref()).collect();
        args.push(file.as_os_str());
        args.extend(extra.iter().map(|a| a.as_os_str()));
        ossa(&args)
    };

    // The export verifies against the checkpoint both peers cosigned.
    let mut with_checkpoint = trust("2");
    with_checkpoint.extend(["--checkpoint".into(), path("cp.note").into_os_string()]);
    let verified = run(&["audit", "verify"], &path("log.jsonl"), &with_checkpoint);
    assert!(verified.status.success(), "{}", String::from_utf8_lossy(&verified.stderr));
    let stdout = String::from_utf8_lossy(&verified.stdout);
    assert!(stdout.contains("testnet/org1") && stdout.contains("testnet/org2"), "names the cosigners: {stdout}");

    // A one-entry proof from the node verifies offline; a changed byte of the entry does not.
    let api = net.node(0).api.clone();
    let proved = ossa(&[
        "audit".as_ref(),
        "prove".as_ref(),
        "1".as_ref(),
        "--out".as_ref(),
        path("e1.tlog-proof").as_os_str(),
        "--api".as_ref(),
        api.as_ref(),
    ]);
    assert!(proved.status.success(), "{}", String::from_utf8_lossy(&proved.stderr));
    let ok = run(&["audit", "verify-proof"], &path("e1.tlog-proof"), &trust("2"));
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let proof = std::fs::read_to_string(path("e1.tlog-proof")).expect("read");
    let mut parsed = ossa_audit::TlogProof::parse(&proof).expect("parse");
    let last = parsed.entry.len() - 33;
    parsed.entry[last] ^= 0x01;
    std::fs::write(path("bad.tlog-proof"), parsed.encode()).expect("write");
    let refused = run(&["audit", "verify-proof"], &path("bad.tlog-proof"), &trust("2"));
    assert!(!refused.status.success(), "a changed entry must not verify");

    // The API's proofs check out against the signed root.
    let checkpoint = ossa_audit::parse_checkpoint(&note).expect("checkpoint");
    let inclusion =
        net.get(0, &format!("/v1/audit/proof/inclusion?index=2&size={}", checkpoint.size)).await.expect("get");
    assert_eq!(inclusion.status, 200, "{}", inclusion.body);
    let leaf = hex::decode(inclusion.body["entry"]["leaf_hash"].as_str().expect("leaf")).expect("hex");
    let leaf: ossa_audit::Hash = leaf.try_into().expect("32 bytes");
    ossa_audit::verify_inclusion(&leaf, 2, checkpoint.size, &b64_hashes(&inclusion.body["hashes"]), &checkpoint.root)
        .expect("inclusion proof verifies against the checkpoint");
    let bad_range = net.get(0, &format!("/v1/audit/proof/inclusion?index=5&size={}", u64::MAX)).await.expect("get");
    assert_eq!(bad_range.status, 400);
    assert_eq!(bad_range.body["error"]["code"], "bad_range");

    // A restart keeps the tree: the next checkpoint is provably an extension of this one.
    net.kill(0).expect("kill");
    net.restart(0).expect("restart");
    wait_ready(&net, 0).await;
    let leader = net.wait_until("a leader is known", SETTLE, || net.leader_seen_by(1)).await.expect("leader");
    assert_eq!(net.create_tenant(leader, "after-restart").await.expect("create").status, 201);
    let later = ossa_audit::parse_checkpoint(&cosigned_checkpoint(&net, 0, checkpoint.size + 1, 2).await).expect("cp");
    let consistency = net
        .get(0, &format!("/v1/audit/proof/consistency?from={}&to={}", checkpoint.size, later.size))
        .await
        .expect("get");
    assert_eq!(consistency.status, 200, "{}", consistency.body);
    assert_eq!(b64_hash(&consistency.body["to_root"]), later.root);
    ossa_audit::verify_consistency(
        checkpoint.size,
        later.size,
        &checkpoint.root,
        &later.root,
        &b64_hashes(&consistency.body["hashes"]),
    )
    .expect("the restarted node's log extends the one it signed before");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_that_rewrites_its_history_is_caught_by_its_peers() {
    let _serial = SERIAL.lock().await;
    let mut net = Federation::up(env!("CARGO_BIN_EXE_ossa"), 3, 3).expect("testnet up");
    let leader = net.wait_until("a leader is known", SETTLE, || net.leader_seen_by(0)).await.expect("leader");
    assert_eq!(net.create_tenant(leader, "before-the-fork").await.expect("create").status, 201);
    let size = ossa_audit::parse_checkpoint(&cosigned_checkpoint(&net, 2, 4, 2).await).expect("cp").size;
    assert!(size >= 4);

    // Node 2 comes back signing, next to its true checkpoint, one of a rewritten history.
    net.kill(2).expect("kill");
    net.restart_with_env(2, &[(ossa_node::checkpoints::FORK_HOOK_ENV, "1")]).expect("restart");
    wait_ready(&net, 2).await;
    // Each write grows every log, so node 2 signs again (and forks again) until a fork reaches
    // its peers through a formed gossip mesh.
    let mut caught = false;
    for attempt in 0..10 {
        let leader = net.wait_until("a leader is known", SETTLE, || net.leader_seen_by(0)).await.expect("leader");
        assert_eq!(net.create_tenant(leader, &format!("after-the-fork-{attempt}")).await.expect("create").status, 201);
        let seen = net
            .wait_until("node 0 holds evidence", Duration::from_secs(3), || async {
                let answer = net.get(0, "/v1/audit/equivocations").await.ok()?;
                (!answer.body.as_array()?.is_empty()).then_some(())
            })
            .await;
        if seen.is_ok() {
            caught = true;
            break;
        }
    }
    assert!(caught, "no peer caught the rewritten history; logs in {}", net.dir().display());
    for honest in [0, 1] {
        let evidence = net
            .wait_until(&format!("node {honest} holds equivocation evidence against org2"), SETTLE, || async {
                let answer = net.get(honest, "/v1/audit/equivocations").await.ok()?;
                let list = answer.body.as_array()?.clone();
                (!list.is_empty()).then_some(list)
            })
            .await
            .expect("evidence");
        assert_eq!(evidence.len(), 1, "only the rewriting org is accused: {evidence:?}");
        assert_eq!(evidence[0]["org"], "org2");
        let metrics = net.get_text(honest, "/metrics").await.expect("metrics");
        assert!(metrics.contains("ossa_audit_equivocating_orgs 1"), "{metrics}");
        let export = net.get_text(honest, "/v1/audit/export").await.expect("export");
        assert!(export.contains("\"kind\":\"audit.equivocation\""), "the evidence is audited");
        ossa_audit::verify_export(export.as_bytes()).expect("the witness's own log still verifies");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_stewards_witness_every_log_and_a_member_cosigns_nothing() {
    let _serial = SERIAL.lock().await;
    let net = Federation::up(env!("CARGO_BIN_EXE_ossa"), 4, 3).expect("testnet up");
    // org3 is a member: its log is witnessed by the three stewards, a steward's by the two others.
    let member_log = cosigned_checkpoint(&net, 3, 1, 3).await;
    let steward_log = cosigned_checkpoint(&net, 0, 1, 2).await;
    for org in ["testnet/org0", "testnet/org1", "testnet/org2"] {
        assert!(cosigners(&member_log).iter().any(|name| name == org), "{org} cosigned org3's log: {member_log}");
    }
    assert!(!cosigners(&steward_log).iter().any(|name| name == "testnet/org3"), "{steward_log}");
    // By now the member has checked and forwarded the stewards' checkpoints, and cosigned none.
    let member_metrics = net.get_text(3, "/metrics").await.expect("metrics");
    assert_eq!(counter(&member_metrics, "ossa_audit_cosignatures_made_total"), 0, "the member cosigned");
    let steward_metrics = net.get_text(0, "/metrics").await.expect("metrics");
    assert!(counter(&steward_metrics, "ossa_audit_cosignatures_made_total") >= 1, "a steward cosigned nothing");
}
