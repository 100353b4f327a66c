//! The `ossa` binary's file commands on good and bad input: each refusal is a clear error,
//! a non-zero exit, and leaves no file behind.

use std::path::Path;
use std::process::{Command, Output};

fn ossa(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ossa")).args(args).current_dir(cwd).output().expect("run ossa")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn init_admit_and_node_start_checks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    assert!(ossa(&["federation", "init", "--name", "fed", "--out", "ca"], d).status.success());
    let again = ossa(&["federation", "init", "--name", "fed", "--out", "ca"], d);
    assert!(!again.status.success(), "an existing CA must not be overwritten");
    assert!(ossa(&["org", "init", "--name", "acme", "--dir", "acme"], d).status.success());
    for file in ["node.key", "org.csr", "api.token", "node.toml"] {
        assert!(d.join("acme").join(file).exists(), "{file} missing");
    }
    let admitted =
        ossa(&["federation", "admit", "--ca", "ca", "--csr", "acme/org.csr", "--out", "acme/org.pem", "--steward"], d);
    assert!(admitted.status.success(), "{}", stderr(&admitted));
    assert!(d.join("acme/ca.pem").exists(), "admit writes the CA certificate beside the org's");

    // A malformed CSR.
    std::fs::write(
        d.join("bad.csr"),
        "-----BEGIN CERTIFICATE REQUEST-----\nnot base64!\n-----END CERTIFICATE REQUEST-----\n",
    )
    .expect("write");
    let bad = ossa(&["federation", "admit", "--ca", "ca", "--csr", "bad.csr", "--out", "bad.pem"], d);
    assert!(!bad.status.success());
    assert!(stderr(&bad).contains("bad.csr"), "the error names the file: {}", stderr(&bad));
    assert!(!d.join("bad.pem").exists());

    // An oversized CSR.
    std::fs::write(d.join("big.csr"), vec![b'A'; 200_000]).expect("write");
    let big = ossa(&["federation", "admit", "--ca", "ca", "--csr", "big.csr", "--out", "big.pem"], d);
    assert!(!big.status.success());
    assert!(!d.join("big.pem").exists());

    // A node whose certificate comes from another CA than its ca.pem refuses to start.
    assert!(ossa(&["federation", "init", "--name", "fed", "--out", "other-ca"], d).status.success());
    std::fs::copy(d.join("other-ca/ca.pem"), d.join("acme/ca.pem")).expect("swap ca");
    let run = ossa(&["node", "run", "--dir", "acme", "--listen", "/ip4/127.0.0.1/tcp/0", "--api", "127.0.0.1:0"], d);
    assert!(!run.status.success());
    assert!(stderr(&run).contains("not a valid certificate"), "{}", stderr(&run));

    // A malformed certificate file.
    std::fs::write(d.join("acme/org.pem"), "garbage").expect("write");
    let run = ossa(&["node", "run", "--dir", "acme"], d);
    assert!(!run.status.success());
    assert!(stderr(&run).contains("org.pem"), "{}", stderr(&run));
}

#[test]
fn org_init_refuses_bad_names_and_never_replaces_a_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let bad = ossa(&["org", "init", "--name", "Not An Org", "--dir", "x"], d);
    assert!(!bad.status.success());
    assert!(!d.join("x/node.key").exists());
    assert!(ossa(&["org", "init", "--name", "acme", "--dir", "acme"], d).status.success());
    let key = std::fs::read(d.join("acme/node.key")).expect("key");
    assert!(!ossa(&["org", "init", "--name", "acme", "--dir", "acme"], d).status.success());
    assert_eq!(std::fs::read(d.join("acme/node.key")).expect("key"), key);
}

#[test]
fn audit_verify_names_the_first_bad_entry() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let db = sled::Config::new().temporary(true).open().expect("sled");
    let log = ossa_audit::AuditLog::open(ossa_audit::SledAuditStore::open(&db).expect("store")).expect("log");
    for i in 0..5 {
        log.append(ossa_audit::EntryDraft {
            time_ms: 1_000 + i,
            kind: "test".into(),
            actor: "acme".into(),
            payload: serde_json::json!({ "n": i }),
            raft_index: Some(i),
        })
        .expect("append");
    }
    let mut export = Vec::new();
    log.export("fed/acme", &mut export).expect("export");
    std::fs::write(d.join("good.jsonl"), &export).expect("write");
    let ok = ossa(&["audit", "verify", "good.jsonl"], d);
    assert!(ok.status.success(), "{}", stderr(&ok));

    let tampered = String::from_utf8(export).expect("utf8").replacen("\"n\":3", "\"n\":4", 1);
    std::fs::write(d.join("bad.jsonl"), tampered).expect("write");
    let bad = ossa(&["audit", "verify", "bad.jsonl"], d);
    assert!(!bad.status.success());
    assert!(stderr(&bad).contains("entry 3"), "{}", stderr(&bad));
}

#[test]
fn a_node_with_an_expired_certificate_refuses_to_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    assert!(ossa(&["federation", "init", "--name", "fed", "--out", "ca"], d).status.success());
    assert!(ossa(&["org", "init", "--name", "acme", "--dir", "acme"], d).status.success());
    let ca = ossa_trust::FederationCa::load(&d.join("ca")).expect("ca");
    let key_pem = std::fs::read_to_string(d.join("acme/node.key")).expect("key");
    let key = ossa_trust::NodeKey::from_pkcs8_pem(&key_pem).expect("pem");
    let expired = ossa_testnet::expired_certificate_for(&ca, "acme", &key).expect("cert");
    std::fs::write(d.join("acme/org.pem"), expired).expect("write");
    std::fs::write(d.join("acme/ca.pem"), ca.cert_pem()).expect("write");
    let run = ossa(&["node", "run", "--dir", "acme", "--listen", "/ip4/127.0.0.1/tcp/0", "--api", "127.0.0.1:0"], d);
    assert!(!run.status.success());
    assert!(stderr(&run).contains("expired"), "{}", stderr(&run));
}

#[test]
fn org_rotate_checks_its_files_and_changes_nothing_when_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    assert!(ossa(&["federation", "init", "--name", "fed", "--out", "ca"], d).status.success());
    assert!(ossa(&["org", "init", "--name", "acme", "--dir", "acme"], d).status.success());
    let early = ossa(&["org", "rotate", "--dir", "acme"], d);
    assert!(!early.status.success());
    assert!(stderr(&early).contains("no org certificate"), "{}", stderr(&early));
    assert!(!d.join("acme/rotation").exists());

    let admit = ["federation", "admit", "--ca", "ca", "--csr", "acme/org.csr", "--out", "acme/org.pem"];
    assert!(ossa(&admit, d).status.success());
    let unprepared = ossa(&["org", "rotate", "--dir", "acme", "--cert", "acme/org.pem"], d);
    assert!(!unprepared.status.success());
    assert!(stderr(&unprepared).contains("no rotation prepared"), "{}", stderr(&unprepared));

    let prepared = ossa(&["org", "rotate", "--dir", "acme"], d);
    assert!(prepared.status.success(), "{}", stderr(&prepared));
    assert!(d.join("acme/rotation/node.key").exists() && d.join("acme/rotation/org.csr").exists());
    let twice = ossa(&["org", "rotate", "--dir", "acme"], d);
    assert!(!twice.status.success(), "a prepared rotation is not overwritten");
    assert!(stderr(&twice).contains("already prepared"), "{}", stderr(&twice));

    // The current certificate is for the old key, not the prepared one.
    let key = std::fs::read(d.join("acme/node.key")).expect("key");
    let wrong = ossa(&["org", "rotate", "--dir", "acme", "--cert", "acme/org.pem"], d);
    assert!(!wrong.status.success());
    assert!(stderr(&wrong).contains("was not issued for the key"), "{}", stderr(&wrong));
    assert_eq!(std::fs::read(d.join("acme/node.key")).expect("key"), key, "nothing installed");
    assert!(!d.join("acme/retired").exists());
}
