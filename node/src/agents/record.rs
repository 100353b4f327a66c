//! Signed agent records: built from an imported manifest, signed by the org's node key,
//! checked by every node before it is stored or forwarded.
//!
//! A record travels as a `SignedRecord` (protobuf): the exact encoded `AgentRecord` bytes,
//! the signer's ed25519 public key, and a signature over the bytes under the domain
//! [`AGENT_RECORD_DOMAIN`]. [`verify_record`] is the single gate for every record, whether it
//! comes from gossip, from sync or from this node's own API: size, decoding, signature, the
//! signer is the admitted node of the record's org (from the replicated registry), the tenant
//! is owned by that org, the record has not expired, and its fields are within limits. The
//! sequence check (last writer wins) belongs to the directory, which knows the stored one.

use ossa_consensus::Registry;
use ossa_trust::{sign_envelope, verify_envelope, NodeKey};
use prost::Message;

use super::manifest::{
    is_valid_id, ImportedAgent, MAX_CAPABILITY_LEN, MAX_DESCRIPTION_LEN, MAX_ENDPOINT_LEN, MAX_ID_LEN, MAX_NAME_LEN,
    MAX_PROTOCOL_LEN, MAX_VERSION_LEN,
};
use crate::admission::peer_id_of_key;
use crate::wire::pb;

/// Signature domain of agent records.
pub const AGENT_RECORD_DOMAIN: &str = "ossa/agent-record/1";
/// Largest signed record accepted: a record holds at most [`MAX_CAPABILITIES`] short
/// capabilities and a handful of short strings, a few KiB; 16 KiB bounds a hostile one and
/// holds the largest record an imported manifest can make (every field at the importer's
/// limit, which [`verify_record`] also enforces, comes to about 15 KiB).
pub const MAX_SIGNED_RECORD: usize = 16 * 1024;
/// Most capabilities one record may list (the manifest importer enforces the same bound).
pub const MAX_CAPABILITIES: usize = super::manifest::MAX_CAPABILITIES;
/// Longest `format` of a record: a short label such as `ossa/v0.5`.
pub const MAX_LABEL_LEN: usize = 64;
/// How long a record lives unless re-announced: an hour keeps the directory free of agents
/// whose org went away, while re-announcing every 20 minutes costs one small message per agent.
pub const RECORD_TTL_MS: u64 = 60 * 60 * 1000;

/// A record that passed [`verify_record`].
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedRecord {
    /// The decoded record.
    pub record: pb::AgentRecord,
    /// The encoded `SignedRecord` exactly as received (what is stored and forwarded).
    pub raw: Vec<u8>,
}

impl VerifiedRecord {
    /// Directory key: tenant and agent id.
    pub fn key(&self) -> (String, String) {
        (self.record.tenant.clone(), self.record.agent_id.clone())
    }

    /// The ed25519 public key that signed the record.
    pub fn signer(&self) -> Vec<u8> {
        pb::SignedRecord::decode(self.raw.as_slice()).map(|signed| signed.signer).unwrap_or_default()
    }
}

/// Why a record was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// Larger than the limit of its kind ([`MAX_SIGNED_RECORD`] for agent records).
    #[error("{len} bytes; the limit is {limit}")]
    TooLarge {
        /// Its size.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// Not a valid encoding.
    #[error("malformed record: {0}")]
    Malformed(String),
    /// The signature does not verify.
    #[error("bad signature")]
    BadSignature,
    /// The signer is not the admitted node of the record's org.
    #[error("signer is not the admitted node of org {org:?}")]
    SignerNotMember {
        /// The org the record claims.
        org: String,
    },
    /// A certification's signer org is a member but not a steward.
    #[error("org {org:?} is not a steward, so it cannot certify")]
    NotSteward {
        /// The org that signed.
        org: String,
    },
    /// The tenant is not in the registry.
    #[error("unknown tenant {0:?}")]
    UnknownTenant(String),
    /// The tenant belongs to another org.
    #[error("tenant {tenant:?} is owned by {owner:?}, not {org:?}")]
    TenantNotOwned {
        /// The tenant.
        tenant: String,
        /// Its owner.
        owner: String,
        /// The org that signed the record.
        org: String,
    },
    /// The record's expiry has passed.
    #[error("record expired")]
    Expired,
    /// Not newer than the stored record of the same agent.
    #[error("sequence {got} is not newer than the stored {have}")]
    Stale {
        /// Stored sequence.
        have: u64,
        /// Received sequence.
        got: u64,
    },
    /// A field is out of bounds.
    #[error("invalid record: {0}")]
    Invalid(String),
}

impl Rejection {
    /// Whether the sender should be penalized (gossipsub `Reject`) rather than the message just
    /// dropped (`Ignore`): a stale or expired record can come from an honest peer relaying late.
    pub fn penalizes_sender(&self) -> bool {
        !matches!(self, Self::Stale { .. } | Self::Expired)
    }

    /// Short stable label for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "too_large",
            Self::Malformed(_) => "malformed",
            Self::BadSignature => "bad_signature",
            Self::SignerNotMember { .. } => "signer_not_member",
            Self::NotSteward { .. } => "not_steward",
            Self::UnknownTenant(_) => "unknown_tenant",
            Self::TenantNotOwned { .. } => "tenant_not_owned",
            Self::Expired => "expired",
            Self::Stale { .. } => "stale",
            Self::Invalid(_) => "invalid",
        }
    }
}

/// Builds the record of `agent` in `tenant` for `org`.
pub fn build_record(agent: &ImportedAgent, org: &str, tenant: &str, sequence: u64, now_ms: u64) -> pb::AgentRecord {
    pb::AgentRecord {
        org: org.to_owned(),
        tenant: tenant.to_owned(),
        agent_id: agent.id.clone(),
        name: agent.name.clone(),
        version: agent.version.clone(),
        description: agent.description.clone().unwrap_or_default(),
        capabilities: agent.capabilities.clone(),
        endpoint: agent.endpoint.clone().unwrap_or_default(),
        protocol: agent.protocol.clone(),
        format: agent.format.to_string(),
        manifest_digest: agent.digest.to_vec(),
        sequence,
        issued_at_ms: now_ms,
        expires_at_ms: now_ms + RECORD_TTL_MS,
        deleted: false,
    }
}

/// The tombstone that removes `previous`: same agent, newer sequence, no content.
pub fn tombstone(previous: &pb::AgentRecord, sequence: u64, now_ms: u64) -> pb::AgentRecord {
    pb::AgentRecord {
        org: previous.org.clone(),
        tenant: previous.tenant.clone(),
        agent_id: previous.agent_id.clone(),
        sequence,
        issued_at_ms: now_ms,
        expires_at_ms: now_ms + RECORD_TTL_MS,
        deleted: true,
        ..Default::default()
    }
}

/// SHA-256 of what `record` says about its agent: the record encoded with its sequence and
/// times zeroed, so re-announcements of the same content share it (certifications name it).
pub fn content_digest(record: &pb::AgentRecord) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let content = pb::AgentRecord { sequence: 0, issued_at_ms: 0, expires_at_ms: 0, ..record.clone() };
    Sha256::digest(content.encode_to_vec()).into()
}

/// Signs `record` with the node key; returns the encoded `SignedRecord`.
pub fn sign_record(key: &NodeKey, record: &pb::AgentRecord) -> Vec<u8> {
    let payload = record.encode_to_vec();
    let signature = sign_envelope(key, AGENT_RECORD_DOMAIN, &payload);
    pb::SignedRecord { payload, signer: key.public_key().to_vec(), signature: signature.to_vec() }.encode_to_vec()
}

fn check_field(name: &str, value: &str, limit: usize) -> Result<(), Rejection> {
    if value.len() > limit {
        return Err(Rejection::Invalid(format!("{name} is {} bytes; the limit is {limit}", value.len())));
    }
    Ok(())
}

/// The checked envelope of a signed message: its payload and the signer's peer id.
pub(crate) struct Opened {
    /// The exact signed payload bytes.
    pub(crate) payload: Vec<u8>,
    /// Peer id of the signing key.
    pub(crate) signer_peer: String,
}

/// Checks the size, encoding and signature (under `domain`) of a `SignedRecord`; the first
/// half of every signed-message check, before its payload is decoded.
pub(crate) fn open_signed(bytes: &[u8], domain: &str, limit: usize) -> Result<Opened, Rejection> {
    if bytes.len() > limit {
        return Err(Rejection::TooLarge { len: bytes.len(), limit });
    }
    let signed = pb::SignedRecord::decode(bytes).map_err(|e| Rejection::Malformed(e.to_string()))?;
    let signer: [u8; 32] = signed
        .signer
        .as_slice()
        .try_into()
        .map_err(|_| Rejection::Malformed("signer is not a 32-byte ed25519 key".into()))?;
    verify_envelope(&signer, domain, &signed.payload, &signed.signature).map_err(|_| Rejection::BadSignature)?;
    let signer_peer = peer_id_of_key(&signer).ok_or(Rejection::BadSignature)?.to_string();
    Ok(Opened { payload: signed.payload, signer_peer })
}

/// Checks a received `SignedRecord` (see the module docs). Changes nothing.
pub fn verify_record(bytes: &[u8], registry: &Registry, now_ms: u64) -> Result<VerifiedRecord, Rejection> {
    let Opened { payload, signer_peer } = open_signed(bytes, AGENT_RECORD_DOMAIN, MAX_SIGNED_RECORD)?;
    let record = pb::AgentRecord::decode(payload.as_slice()).map_err(|e| Rejection::Malformed(e.to_string()))?;
    if !registry.speaks_for(&record.org, &signer_peer, now_ms) {
        return Err(Rejection::SignerNotMember { org: record.org });
    }
    let tenant = registry.tenants.get(&record.tenant).ok_or_else(|| Rejection::UnknownTenant(record.tenant.clone()))?;
    if tenant.owner != record.org {
        return Err(Rejection::TenantNotOwned { tenant: record.tenant, owner: tenant.owner.clone(), org: record.org });
    }
    if record.expires_at_ms <= now_ms {
        return Err(Rejection::Expired);
    }
    if !is_valid_id(&record.agent_id) {
        return Err(Rejection::Invalid(format!(
            "agent id {:?} is not 1 to {MAX_ID_LEN} ASCII letters, digits, `.`, `_` or `-`",
            record.agent_id.chars().take(64).collect::<String>()
        )));
    }
    // The manifest importer's limits: a record of an imported agent always passes.
    for (name, value, limit) in [
        ("name", &record.name, MAX_NAME_LEN),
        ("version", &record.version, MAX_VERSION_LEN),
        ("description", &record.description, MAX_DESCRIPTION_LEN),
        ("endpoint", &record.endpoint, MAX_ENDPOINT_LEN),
        ("protocol", &record.protocol, MAX_PROTOCOL_LEN),
        ("format", &record.format, MAX_LABEL_LEN),
    ] {
        check_field(name, value, limit)?;
    }
    if record.capabilities.len() > MAX_CAPABILITIES {
        return Err(Rejection::Invalid(format!(
            "{} capabilities; the limit is {MAX_CAPABILITIES}",
            record.capabilities.len()
        )));
    }
    for capability in &record.capabilities {
        check_field("capability", capability, MAX_CAPABILITY_LEN)?;
    }
    Ok(VerifiedRecord { record, raw: bytes.to_vec() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ossa_consensus::{Member, MemberRole, Tenant};
    use proptest::prelude::*;

    const NOW: u64 = 1_000_000;

    fn member(org: &str, key: &NodeKey) -> Member {
        let peer_id = peer_id_of_key(&key.public_key()).expect("key").to_string();
        Member { org: org.into(), peer_id, node_id: 1, role: MemberRole::Steward, admitted_at: 1 }
    }

    fn registry(acme: &NodeKey, globex: &NodeKey) -> Registry {
        let mut registry = Registry::default();
        registry.members.insert("acme".into(), member("acme", acme));
        registry.members.insert("globex".into(), member("globex", globex));
        for (name, owner) in [("acme-t", "acme"), ("globex-t", "globex")] {
            registry.tenants.insert(name.into(), Tenant { name: name.into(), owner: owner.into(), created_at: 2 });
        }
        registry
    }

    fn record(org: &str, tenant: &str) -> pb::AgentRecord {
        pb::AgentRecord {
            org: org.into(),
            tenant: tenant.into(),
            agent_id: "summarizer".into(),
            name: "Summarizer".into(),
            capabilities: vec!["summarize".into()],
            sequence: 7,
            issued_at_ms: NOW,
            expires_at_ms: NOW + RECORD_TTL_MS,
            ..Default::default()
        }
    }

    #[test]
    fn accepts_a_record_signed_by_the_owning_member() {
        let (acme, globex) = (NodeKey::generate(), NodeKey::generate());
        let signed = sign_record(&acme, &record("acme", "acme-t"));
        let verified = verify_record(&signed, &registry(&acme, &globex), NOW).expect("valid");
        assert_eq!(verified.record, record("acme", "acme-t"));
        assert_eq!(verified.raw, signed);
    }

    #[test]
    fn refuses_each_kind_of_bad_record() {
        let (acme, globex, outsider) = (NodeKey::generate(), NodeKey::generate(), NodeKey::generate());
        let registry = registry(&acme, &globex);
        let check = |bytes: &[u8]| verify_record(bytes, &registry, NOW).expect_err("must be refused").reason();

        let mut forged =
            pb::SignedRecord::decode(sign_record(&acme, &record("acme", "acme-t")).as_slice()).expect("decode");
        forged.signature[0] ^= 1;
        assert_eq!(check(&forged.encode_to_vec()), "bad_signature");

        // The payload changed after signing (a relay rewrote the capabilities).
        let mut rewritten =
            pb::SignedRecord::decode(sign_record(&acme, &record("acme", "acme-t")).as_slice()).expect("decode");
        let mut changed = record("acme", "acme-t");
        changed.capabilities.push("transfer-funds".into());
        rewritten.payload = changed.encode_to_vec();
        assert_eq!(check(&rewritten.encode_to_vec()), "bad_signature");

        assert_eq!(check(&sign_record(&outsider, &record("acme", "acme-t"))), "signer_not_member");
        assert_eq!(check(&sign_record(&acme, &record("acme", "globex-t"))), "tenant_not_owned");
        assert_eq!(check(&sign_record(&acme, &record("acme", "nobody-t"))), "unknown_tenant");

        let mut expired = record("acme", "acme-t");
        expired.expires_at_ms = NOW;
        assert_eq!(check(&sign_record(&acme, &expired)), "expired");

        let mut bloated = record("acme", "acme-t");
        bloated.description = "x".repeat(MAX_SIGNED_RECORD);
        assert_eq!(check(&sign_record(&acme, &bloated)), "too_large");

        let mut long_field = record("acme", "acme-t");
        long_field.name = "x".repeat(MAX_NAME_LEN + 1);
        assert_eq!(check(&sign_record(&acme, &long_field)), "invalid");

        for bad_id in ["", "a/b", "-lead", "tab\there"] {
            let mut bad = record("acme", "acme-t");
            bad.agent_id = bad_id.into();
            assert_eq!(check(&sign_record(&acme, &bad)), "invalid", "agent id {bad_id:?}");
        }

        assert_eq!(check(b"not protobuf at all \xff\xff"), "malformed");
    }

    /// An OSSA 0.1.9 manifest with every field at the importer's limit, in two-byte characters.
    fn manifest_at_every_limit() -> Vec<u8> {
        use crate::agents::manifest::{MAX_CAPABILITIES as MAX_IMPORTED_CAPABILITIES, MAX_CAPABILITY_LEN as CAP};
        let capabilities: Vec<String> =
            (0..MAX_IMPORTED_CAPABILITIES).map(|i| format!("{i:02}{}", "é".repeat((CAP - 2) / 2))).collect();
        let host = "https://agents.example/";
        serde_json::json!({
            "ossaVersion": "0.1.9",
            "agent": {
                "id": "a".repeat(MAX_ID_LEN),
                "name": "é".repeat(MAX_NAME_LEN / 2),
                "version": "é".repeat(MAX_VERSION_LEN / 2),
                "description": "é".repeat(MAX_DESCRIPTION_LEN / 2),
                "endpoint": format!("{host}{}", "a".repeat(MAX_ENDPOINT_LEN - host.len())),
                "capabilities": capabilities,
            }
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn the_largest_importable_agent_makes_a_record_every_node_accepts() {
        let agent = crate::agents::manifest::import(&manifest_at_every_limit(), None).expect("imports");
        assert_eq!(agent.capabilities.len(), MAX_CAPABILITIES);
        assert_eq!(agent.endpoint.as_ref().map(String::len), Some(MAX_ENDPOINT_LEN));
        // Org and tenant names at the registry's limit; labels at the record's.
        let (org, tenant) = ("o".repeat(63), "t".repeat(63));
        let key = NodeKey::generate();
        let mut registry = Registry::default();
        registry.members.insert(org.clone(), member(&org, &key));
        registry.tenants.insert(tenant.clone(), Tenant { name: tenant.clone(), owner: org.clone(), created_at: 2 });
        let mut record = build_record(&agent, &org, &tenant, u64::MAX, NOW);
        record.protocol = "p".repeat(MAX_PROTOCOL_LEN);
        record.format = "f".repeat(MAX_LABEL_LEN);
        let signed = sign_record(&key, &record);
        let verified = verify_record(&signed, &registry, NOW).expect("the record of an imported agent is accepted");
        assert_eq!(verified.record, record);
    }

    #[test]
    fn an_endpoint_that_normalizing_lengthens_past_the_limit_is_refused_at_import() {
        // Each raw `é` in the path becomes `%C3%A9`: 2 bytes in, 6 bytes out.
        let host = "https://agents.example/";
        let path = "é".repeat((MAX_ENDPOINT_LEN - host.len()) / 2);
        let manifest = serde_json::json!({
            "ossaVersion": "0.1.9",
            "agent": { "id": "a", "name": "b", "version": "1", "endpoint": format!("{host}{path}") }
        });
        let error = crate::agents::manifest::import(manifest.to_string().as_bytes(), None).expect_err("too long");
        assert_eq!(error.path(), Some("agent.endpoint"), "{error}");
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic_and_are_refused(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
            let (acme, globex) = (NodeKey::generate(), NodeKey::generate());
            prop_assert!(verify_record(&bytes, &registry(&acme, &globex), NOW).is_err());
        }

        #[test]
        fn any_flipped_byte_of_a_signed_record_is_refused(index in any::<prop::sample::Index>(), bit in 0u8..8) {
            let (acme, globex) = (NodeKey::generate(), NodeKey::generate());
            let mut signed = sign_record(&acme, &record("acme", "acme-t"));
            let i = index.index(signed.len());
            signed[i] ^= 1 << bit;
            // A flip that lands in an unused protobuf tag may still decode to the same fields;
            // it must then verify to exactly the original record.
            if let Ok(verified) = verify_record(&signed, &registry(&acme, &globex), NOW) {
                prop_assert_eq!(verified.record, record("acme", "acme-t"));
            }
        }

        #[test]
        fn a_mutated_signed_record_is_refused_or_decodes_to_the_same_content(
            edits in prop::collection::vec((any::<prop::sample::Index>(), 0u8..3, any::<u8>()), 1..8),
        ) {
            let (acme, globex) = (NodeKey::generate(), NodeKey::generate());
            let mut signed = sign_record(&acme, &record("acme", "acme-t"));
            for (at, op, byte) in &edits {
                match op {
                    0 => {
                        let i = at.index(signed.len());
                        signed[i] = *byte;
                    }
                    1 => signed.insert(at.index(signed.len() + 1), *byte),
                    _ => {
                        signed.remove(at.index(signed.len()));
                    }
                }
                if signed.is_empty() {
                    break;
                }
            }
            if let Ok(verified) = verify_record(&signed, &registry(&acme, &globex), NOW) {
                prop_assert_eq!(verified.record, record("acme", "acme-t"));
            }
        }
    }
}
