//! The fuzz harness: one entry point per decoder of outside input, shared by the cargo-fuzz
//! targets in `fuzz_targets/` and by the node's `fuzz_seeds` test, which runs the committed
//! seed corpus through the same functions on the stable toolchain.
//!
//! Each entry point takes raw bytes as they would arrive (a manifest upload, a gossiped
//! record or report, an admission request frame, an audit export, a checkpoint note, a
//! tlog-proof file), runs the node's own decoding and verification on them against a fixed
//! world ([`World`]: two member orgs with fixed keys, a tenant, one agent in the directory,
//! a federation CA, a small audit log) and returns `Ok(())` when the input was accepted or
//! the refusal's message. Beyond not panicking, each checks what must hold of an accepted
//! input (an imported manifest registers, a verified report decodes to itself, a parsed note
//! encodes back to the same text, ...) with an assertion, so a broken invariant is a crash
//! the fuzzer reports.
//!
//! Time is fixed ([`NOW_MS`]) so an input behaves the same on every run.

use std::io::Cursor;
use std::sync::LazyLock;

use futures::executor::block_on;
use libp2p::request_response::Codec;
use libp2p::PeerId;
use ossa_audit::tlog_proof::TrustedKey;
use ossa_audit::{
    cosign_checkpoint, merge_cosignatures, parse_checkpoint, parse_note, sign_checkpoint, verify_checkpoint,
    verify_cosignature, verify_export, verify_export_against, verify_tlog_proof, AuditLog, Checkpoint, EntryDraft,
    MemoryAuditStore, TlogProof,
};
use ossa_consensus::{Member, MemberRole, Registry, Tenant};
use ossa_node::admission::{peer_id_of_key, Admission};
use ossa_node::agents::directory::Directory;
use ossa_node::agents::manifest::import;
use ossa_node::agents::record::{build_record, sign_record, verify_record, RECORD_TTL_MS};
use ossa_node::trust_scores::observation::{decode_report, verify_report};
use ossa_node::wire::{pb, ProstCodec, ADMISSION_PROTOCOL, MAX_ADMISSION_MESSAGE};
use ossa_trust::NodeKey;
use prost::Message;

/// The fixed "now" of every check, milliseconds since the Unix epoch (2027-01-15). Seed
/// records are issued at this time and the seed certificate is valid at it.
pub const NOW_MS: u64 = 1_800_000_000_000;

/// The member org whose agents, log and certificate the seeds use.
pub const ACME: &str = "acme";
/// The other member org: observer and witness.
pub const GLOBEX: &str = "globex";
/// acme's tenant.
pub const ACME_TENANT: &str = "acme-t";
/// The agent of acme in the directory (`TENANT/ID`, as observations name it).
pub const OBSERVED_AGENT: &str = "acme-t/summarizer";
/// The origin (and key name) of acme's audit log.
pub const LOG_ORIGIN: &str = "fed/acme";
/// The key name globex cosigns under.
pub const WITNESS_NAME: &str = "fed/globex";

/// acme's node key (a fixed test key, so committed seeds stay valid).
const ACME_KEY: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIPhNM7ajVT2kA5DUZkPzeOy10taTN+kfIEsjdw/lShjf
-----END PRIVATE KEY-----
";
/// globex's node key.
const GLOBEX_KEY: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIFOieAdfdcb01C6ANaf+TIDb5yNNsLMYRpm8bvMAKt2f
-----END PRIVATE KEY-----
";

/// The federation CA certificate the admission seeds were issued under (`write-seeds`).
const FEDERATION_CA_DER: &[u8] = include_bytes!("../fixtures/federation-ca.der");

/// Audit log entries in the sample log, and how many of them the trusted checkpoint covers.
const LOG_ENTRIES: u64 = 5;
const CHECKPOINT_SIZE: u64 = 3;

/// Everything the checks run against; built once per process.
pub struct World {
    /// acme's node key.
    pub acme: NodeKey,
    /// globex's node key.
    pub globex: NodeKey,
    /// acme and globex as members; `acme-t` owned by acme.
    pub registry: Registry,
    /// Holds acme's agent `acme-t/summarizer`.
    pub directory: Directory,
    _db: sled::Db,
    /// Admission against [`FEDERATION_CA_DER`].
    pub admission: Admission,
    /// acme's peer id: the connection the admission request arrives on.
    pub acme_peer: PeerId,
    /// acme's audit log ([`LOG_ENTRIES`] entries).
    pub log: AuditLog<MemoryAuditStore>,
    /// acme's signed checkpoint of the first [`CHECKPOINT_SIZE`] entries.
    pub checkpoint: Checkpoint,
}

/// The world every check runs against.
pub static WORLD: LazyLock<World> = LazyLock::new(World::new);

impl World {
    fn new() -> Self {
        let acme = NodeKey::from_pkcs8_pem(ACME_KEY).expect("fixed test key");
        let globex = NodeKey::from_pkcs8_pem(GLOBEX_KEY).expect("fixed test key");
        let acme_peer = peer_id_of_key(&acme.public_key()).expect("an ed25519 key");
        let mut registry = Registry::default();
        for (org, key) in [(ACME, &acme), (GLOBEX, &globex)] {
            let peer_id = peer_id_of_key(&key.public_key()).expect("an ed25519 key").to_string();
            let member = Member { org: org.into(), peer_id, node_id: 1, role: MemberRole::Steward, admitted_at: 1 };
            registry.members.insert(org.into(), member);
        }
        let tenant = Tenant { name: ACME_TENANT.into(), owner: ACME.into(), created_at: 2 };
        registry.tenants.insert(ACME_TENANT.into(), tenant);
        let db = sled::Config::new().temporary(true).open().expect("temporary sled database");
        let directory = Directory::open(&db).expect("directory");
        let (tenant, agent) = OBSERVED_AGENT.split_once('/').expect("TENANT/ID");
        let record = pb::AgentRecord {
            org: ACME.into(),
            tenant: tenant.into(),
            agent_id: agent.into(),
            sequence: 1,
            issued_at_ms: NOW_MS,
            expires_at_ms: NOW_MS + RECORD_TTL_MS,
            ..Default::default()
        };
        let verified = verify_record(&sign_record(&acme, &record), &registry, NOW_MS).expect("the agent's record");
        directory.insert(verified).expect("insert the agent");
        let log = AuditLog::open(MemoryAuditStore::new()).expect("memory log");
        let mut checkpoint = None;
        for i in 0..LOG_ENTRIES {
            if i == CHECKPOINT_SIZE {
                checkpoint = Some(Checkpoint::new(LOG_ORIGIN, log.tree_head()));
            }
            let draft = EntryDraft {
                time_ms: NOW_MS + i,
                kind: "agent.registered".into(),
                actor: ACME.into(),
                payload: serde_json::json!({ "agent": format!("agent-{i}"), "sequence": i }),
                raft_index: Some(10 + i),
            };
            log.append(draft).expect("append");
        }
        let checkpoint = checkpoint.expect("the log is longer than the checkpoint");
        let admission = Admission::new(FEDERATION_CA_DER.to_vec());
        Self { acme, globex, registry, directory, _db: db, admission, acme_peer, log, checkpoint }
    }

    /// acme's log key as a verifier trusts it.
    pub fn log_key(&self) -> TrustedKey {
        TrustedKey { name: LOG_ORIGIN.into(), public_key: self.acme.public_key() }
    }

    /// globex's witness key as a verifier trusts it.
    pub fn witness_key(&self) -> TrustedKey {
        TrustedKey { name: WITNESS_NAME.into(), public_key: self.globex.public_key() }
    }
}

/// A fuzz entry point: raw input to `Ok(())` (accepted) or the refusal's message.
pub type Check = fn(&[u8]) -> Result<(), String>;

/// Every entry point, by the name of its fuzz target and seed corpus directory.
pub const TARGETS: [(&str, Check); 7] = [
    ("manifest", manifest),
    ("record", record),
    ("observation", observation),
    ("admission", admission),
    ("audit_export", audit_export),
    ("checkpoint_note", checkpoint_note),
    ("tlog_proof", tlog_proof),
];

/// A manifest upload, through the register path: import (every format, by detection), then
/// the record built from it must pass the same gate as a peer's record.
pub fn manifest(data: &[u8]) -> Result<(), String> {
    let imported = import(data, None);
    assert_eq!(imported, import(data, None), "import is not deterministic");
    // The file name only picks the error message; it must never change an import's result.
    let hinted = import(data, Some("agent.json"));
    assert_eq!(imported.is_ok(), hinted.is_ok(), "a file name hint changed the outcome");
    let agent = imported.map_err(|e| e.to_string())?;
    let world = &*WORLD;
    let record = build_record(&agent, ACME, ACME_TENANT, 1, NOW_MS);
    let verified = verify_record(&sign_record(&world.acme, &record), &world.registry, NOW_MS)
        .unwrap_or_else(|refusal| panic!("an imported manifest makes a record the node refuses: {refusal}"));
    assert_eq!(verified.record, record);
    Ok(())
}

/// A signed agent record from gossip or sync: decode and verify.
pub fn record(data: &[u8]) -> Result<(), String> {
    let world = &*WORLD;
    let verified = verify_record(data, &world.registry, NOW_MS).map_err(|e| e.to_string())?;
    let signed = pb::SignedRecord::decode(data).expect("a verified record decodes");
    assert_eq!(pb::AgentRecord::decode(signed.payload.as_slice()).as_ref(), Ok(&verified.record));
    let view = world.directory.view(&verified.record, NOW_MS);
    assert_eq!(view.id, verified.record.agent_id);
    Ok(())
}

/// A signed trust report (observation or penalty) from gossip: verify, and decode as the
/// node does when it replays its own store.
pub fn observation(data: &[u8]) -> Result<(), String> {
    let world = &*WORLD;
    let decoded = decode_report(data);
    let report = verify_report(data, &world.registry, &world.directory, NOW_MS).map_err(|e| e.to_string())?;
    assert_eq!(decoded.ok(), Some(report), "a verified report decodes to something else");
    Ok(())
}

/// An admission request frame on a new connection from acme's peer: the length-prefixed
/// codec, then the certificate check.
pub fn admission(data: &[u8]) -> Result<(), String> {
    let world = &*WORLD;
    let mut codec = ProstCodec::<pb::AdmissionRequest, pb::AdmissionResponse>::new(MAX_ADMISSION_MESSAGE);
    let mut io = futures::io::Cursor::new(data);
    let request = block_on(codec.read_request(&ADMISSION_PROTOCOL, &mut io)).map_err(|e| e.to_string())?;
    let admitted =
        world.admission.check_at(&world.acme_peer, &request.cert_der, NOW_MS / 1000).map_err(|e| e.to_string())?;
    assert_eq!(admitted.peer_id, world.acme_peer);
    assert_eq!(admitted.org, ACME);
    Ok(())
}

/// An audit export file, verified offline alone and against acme's trusted checkpoint.
pub fn audit_export(data: &[u8]) -> Result<(), String> {
    let world = &*WORLD;
    let alone = verify_export(Cursor::new(data));
    let against = verify_export_against(Cursor::new(data), &world.checkpoint).map_err(|e| e.to_string())?;
    assert_eq!(alone.as_ref().ok(), Some(&against), "passes against a checkpoint but not alone");
    Ok(())
}

/// A checkpoint note from gossip: the envelope, acme's signature, globex's cosignature,
/// and what a witness does with it (cosign, merge).
pub fn checkpoint_note(data: &[u8]) -> Result<(), String> {
    let world = &*WORLD;
    let text = std::str::from_utf8(data).map_err(|e| e.to_string())?;
    if let Ok(note) = parse_note(text) {
        assert_eq!(note.encode(), text, "a parsed note does not encode back to its text");
        assert_eq!(merge_cosignatures(text, text).as_deref(), Ok(text), "merging a note with itself changed it");
    }
    let unverified = parse_checkpoint(text);
    if let Ok(cosigned) = cosign_checkpoint(text, WITNESS_NAME, &world.globex, NOW_MS / 1000) {
        // The new line alone, under the same text, must verify (other lines may be bad).
        let mut note = parse_note(&cosigned).expect("a cosigned note parses");
        note.signatures.drain(..note.signatures.len() - 1);
        let seen = verify_cosignature(&note.encode(), WITNESS_NAME, &world.globex.public_key());
        assert_eq!(seen.map(|c| c.checkpoint).ok(), unverified.clone().ok(), "a fresh cosignature does not verify");
    }
    let _ = verify_cosignature(text, WITNESS_NAME, &world.globex.public_key());
    let checkpoint = verify_checkpoint(text, LOG_ORIGIN, &world.acme.public_key()).map_err(|e| e.to_string())?;
    assert_eq!(unverified, Ok(checkpoint), "a verified checkpoint parses to something else");
    Ok(())
}

/// A tlog-proof file, verified offline with acme's log key and globex as a trusted witness.
/// To reach the entry decoder and the inclusion check, which come after the signature check,
/// the parsed proof is also verified against a checkpoint acme signs for it here.
pub fn tlog_proof(data: &[u8]) -> Result<(), String> {
    let world = &*WORLD;
    let text = std::str::from_utf8(data).map_err(|e| e.to_string())?;
    let proof = TlogProof::parse(text).map_err(|e| e.to_string())?;
    assert_eq!(proof.encode(), text, "a parsed proof does not encode back to its text");
    let (log, witnesses) = (world.log_key(), [world.witness_key()]);
    let size = proof.index.saturating_add(1).max(1u64 << proof.hashes.len().min(63));
    let root = proof.hashes.first().copied().unwrap_or_default();
    let resigned = sign_checkpoint(&Checkpoint { origin: LOG_ORIGIN.into(), size, root }, LOG_ORIGIN, &world.acme)
        .expect("a valid origin and key name");
    let _ = verify_tlog_proof(&TlogProof { checkpoint_note: resigned, ..proof.clone() }, &log, &witnesses, 0);
    let proven = verify_tlog_proof(&proof, &log, &witnesses, 1).map_err(|e| e.to_string())?;
    assert_eq!(proven.entry.index, proof.index);
    assert_eq!(proven.cosigners, [WITNESS_NAME]);
    Ok(())
}
