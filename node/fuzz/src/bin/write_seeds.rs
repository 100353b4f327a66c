//! Writes the committed seed corpus (`corpus/TARGET/seed-ok-*` and `seed-err-*`) and the
//! federation CA certificate the admission seeds chain to (`fixtures/federation-ca.der`).
//!
//! `seed-ok-*` inputs are accepted by their entry point, `seed-err-*` ones refused; the
//! node's `fuzz_seeds` test checks exactly that. `cargo +nightly fuzz build` builds it beside
//! the targets; run it, then build again: the harness embeds the CA certificate.

use std::fs;
use std::path::Path;

use futures::executor::block_on;
use libp2p::request_response::Codec;
use ossa_audit::{cosign_checkpoint, prove_entry, sign_checkpoint, Checkpoint};
use ossa_node::admission::peer_id_of_key;
use ossa_node::agents::record::{sign_record, tombstone, RECORD_TTL_MS};
use ossa_node::trust_scores::observation::{sign_observation, sign_penalty};
use ossa_node::wire::{pb, ProstCodec, ADMISSION_PROTOCOL, MAX_ADMISSION_MESSAGE};
use ossa_node_fuzz::{World, ACME, ACME_TENANT, GLOBEX, LOG_ORIGIN, NOW_MS, OBSERVED_AGENT, WITNESS_NAME, WORLD};
use ossa_trust::{create_csr, pem_to_der, FederationCa, NodeKey, Observation, Outcome, Penalty, PenaltyKind, Role};
use prost::Message;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let world = &*WORLD;
    let ca = FederationCa::create("fed").expect("create a CA");
    fs::write(root.join("fixtures/federation-ca.der"), ca.cert_der()).expect("write the CA certificate");
    let seeds = [
        ("manifest", manifest_seeds(&root.join("../tests/fixtures/manifests"))),
        ("record", record_seeds(world)),
        ("observation", observation_seeds(world)),
        ("admission", admission_seeds(world, &ca)),
        ("audit_export", audit_export_seeds(world)),
        ("checkpoint_note", checkpoint_note_seeds(world)),
        ("tlog_proof", tlog_proof_seeds(world)),
    ];
    for (target, files) in seeds {
        let dir = root.join("corpus").join(target);
        fs::create_dir_all(&dir).expect("create the corpus directory");
        for (name, bytes) in files {
            fs::write(dir.join(format!("seed-{name}")), bytes).expect("write a seed");
        }
    }
}

type Seeds = Vec<(String, Vec<u8>)>;

fn seed(name: &str, bytes: impl Into<Vec<u8>>) -> (String, Vec<u8>) {
    (name.to_owned(), bytes.into())
}

fn manifest_seeds(fixtures: &Path) -> Seeds {
    let mut seeds: Seeds = fs::read_dir(fixtures)
        .expect("the manifest fixtures")
        .map(|entry| {
            let path = entry.expect("a fixture").path();
            let name = path.file_name().expect("a file name").to_string_lossy().into_owned();
            (format!("ok-{name}"), fs::read(&path).expect("read a fixture"))
        })
        .collect();
    let bomb = "a: &a [x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\n\
                c: &c [*b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c]\n\
                e: [*d, *d, *d, *d, *d, *d, *d, *d]\nskills: []\n";
    seeds.extend([
        seed("err-empty", ""),
        seed("err-not-utf8", &b"name: \xff\xfe\n"[..]),
        seed("err-unknown-shape", r#"{"hello": "world"}"#),
        seed("err-duplicate-key", "ossaVersion: 0.1.9\nossaVersion: 0.1.9\n"),
        seed("err-alias-bomb.yaml", bomb),
        seed("err-wrong-kind.yaml", "apiVersion: ossa/v0.2.3\nkind: Workflow\nmetadata:\n  name: x\n"),
    ]);
    seeds
}

fn agent_record() -> pb::AgentRecord {
    pb::AgentRecord {
        org: ACME.into(),
        tenant: ACME_TENANT.into(),
        agent_id: "invoice-triage".into(),
        name: "Invoice Triage".into(),
        version: "1.2.0".into(),
        description: "Sorts incoming invoices".into(),
        capabilities: vec!["classify".into(), "invoices".into()],
        endpoint: "https://agents.acme.example/triage".into(),
        protocol: "a2a".into(),
        format: "a2a/v0.3".into(),
        manifest_digest: vec![7; 32],
        sequence: 3,
        issued_at_ms: NOW_MS,
        expires_at_ms: NOW_MS + RECORD_TTL_MS,
        deleted: false,
    }
}

fn record_seeds(world: &World) -> Seeds {
    let record = agent_record();
    let mut forged = pb::SignedRecord::decode(sign_record(&world.acme, &record).as_slice()).expect("decode");
    forged.signature[0] ^= 1;
    let expired = pb::AgentRecord { expires_at_ms: NOW_MS, ..record.clone() };
    let foreign_tenant = pb::AgentRecord { tenant: "globex-t".into(), ..record.clone() };
    vec![
        seed("ok-agent", sign_record(&world.acme, &record)),
        seed("ok-tombstone", sign_record(&world.acme, &tombstone(&record, 4, NOW_MS))),
        seed("err-bad-signature", forged.encode_to_vec()),
        seed("err-signer-not-member", sign_record(&world.globex, &record)),
        seed("err-expired", sign_record(&world.acme, &expired)),
        seed("err-unknown-tenant", sign_record(&world.acme, &foreign_tenant)),
        seed("err-not-protobuf", &b"\xff\xff\xff not a record"[..]),
    ]
}

fn observation_seeds(world: &World) -> Seeds {
    let observation = Observation {
        observer_org: GLOBEX.into(),
        subject_org: ACME.into(),
        subject_agent: OBSERVED_AGENT.into(),
        outcome: Outcome::Failure,
        latency_ms: Some(120),
        at_ms: NOW_MS,
        sequence: 1,
    };
    let penalty = Penalty {
        reporter_org: GLOBEX.into(),
        subject_org: ACME.into(),
        kind: PenaltyKind::InvalidSignature,
        evidence_id: "ab12".into(),
        at_ms: NOW_MS,
    };
    let own = Observation { observer_org: ACME.into(), ..observation.clone() };
    let unknown = Observation { subject_agent: "acme-t/nobody".into(), ..observation.clone() };
    vec![
        seed("ok-observation", sign_observation(&world.globex, &observation)),
        seed("ok-penalty", sign_penalty(&world.globex, &penalty, 2)),
        seed("err-self-rating", sign_observation(&world.acme, &own)),
        seed("err-unknown-agent", sign_observation(&world.globex, &unknown)),
        seed("err-signer-not-member", sign_observation(&world.acme, &observation)),
        seed("err-not-protobuf", &b"\x0a\xff\xff\xff\xff"[..]),
    ]
}

/// A certificate `ca` issues to `key` for `org`, as DER.
fn certificate(ca: &FederationCa, org: &str, key: &NodeKey) -> Vec<u8> {
    let peer = peer_id_of_key(&key.public_key()).expect("an ed25519 key");
    let csr = create_csr(org, key, &peer.to_string()).expect("a CSR");
    let pem = ca.admit(&csr, Role::Steward, ossa_trust::MAX_CERT_DAYS).expect("admit");
    pem_to_der(&pem, "CERTIFICATE").expect("DER")
}

/// An admission request as the node's codec frames it on the wire.
fn frame(cert_der: Vec<u8>) -> Vec<u8> {
    let mut codec = ProstCodec::<pb::AdmissionRequest, pb::AdmissionResponse>::new(MAX_ADMISSION_MESSAGE);
    let mut io = futures::io::Cursor::new(Vec::new());
    block_on(codec.write_request(&ADMISSION_PROTOCOL, &mut io, pb::AdmissionRequest { cert_der })).expect("frame");
    io.into_inner()
}

fn admission_seeds(world: &World, ca: &FederationCa) -> Seeds {
    let rogue = FederationCa::create("fed").expect("create a CA");
    vec![
        seed("ok-acme", frame(certificate(ca, ACME, &world.acme))),
        seed("err-another-peers-certificate", frame(certificate(ca, GLOBEX, &world.globex))),
        seed("err-another-federation", frame(certificate(&rogue, ACME, &world.acme))),
        seed("err-not-a-certificate", frame(b"not DER".to_vec())),
        seed("err-frame-over-limit", &[0xff, 0xff, 0xff, 0xff, 0x0a][..]),
    ]
}

fn audit_export_seeds(world: &World) -> Seeds {
    let mut export = Vec::new();
    world.log.export(LOG_ORIGIN, &mut export).expect("export");
    let text = String::from_utf8(export.clone()).expect("UTF-8");
    let lines: Vec<&str> = text.lines().collect();
    let cut: String = lines[..3].iter().map(|l| format!("{l}\n")).collect();
    vec![
        seed("ok-export", export),
        seed("err-cut-tail", cut),
        seed("err-edited-entry", text.replacen("agent-2", "agent-9", 1)),
        seed("err-other-origin", text.replacen(LOG_ORIGIN, "fed/globex", 1)),
        seed("err-not-json", "ossa-audit-export 2\n"),
    ]
}

fn signed_note(world: &World) -> String {
    sign_checkpoint(&Checkpoint::new(LOG_ORIGIN, world.log.tree_head()), LOG_ORIGIN, &world.acme).expect("sign")
}

fn checkpoint_note_seeds(world: &World) -> Seeds {
    let note = signed_note(world);
    let cosigned = cosign_checkpoint(&note, WITNESS_NAME, &world.globex, NOW_MS / 1000).expect("cosign");
    let by_globex =
        sign_checkpoint(&Checkpoint::new(LOG_ORIGIN, world.log.tree_head()), LOG_ORIGIN, &world.globex).expect("sign");
    vec![
        seed("ok-signed", note.clone()),
        seed("ok-cosigned", cosigned),
        seed("err-forged-size", note.replacen("\n5\n", "\n6\n", 1)),
        seed("err-signed-by-another-key", by_globex),
        seed("err-no-signature", note.split("\n\n").next().expect("text").to_owned() + "\n"),
    ]
}

fn tlog_proof_seeds(world: &World) -> Seeds {
    let note = signed_note(world);
    let cosigned = cosign_checkpoint(&note, WITNESS_NAME, &world.globex, NOW_MS / 1000).expect("cosign");
    let proof = prove_entry(&world.log, 1, &cosigned).expect("prove").encode();
    let uncosigned = prove_entry(&world.log, 2, &note).expect("prove").encode();
    vec![
        seed("ok-entry-1", proof.clone()),
        seed("err-no-cosignature", uncosigned),
        seed("err-wrong-index", proof.replacen("\nindex 1\n", "\nindex 3\n", 1)),
        seed("err-signed-index", proof.replacen("\nindex 1\n", "\nindex +1\n", 1)),
        seed("err-not-base64", proof.replacen("\nextra ", "\nextra !", 1)),
    ]
}
