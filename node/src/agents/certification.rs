//! Certifications: a steward org's signed statement that an agent, at one manifest digest,
//! passed the conformance checks its node ran, graded with a [`Tier`].
//!
//! A certification travels like an agent record: a `SignedRecord` whose payload is the exact
//! encoded `Certification`, signed under [`CERTIFICATION_DOMAIN`] by the certifier org's node
//! key, gossiped on `ossa/<federation>/certifications/1` and pulled by sync.
//! [`verify_certification`] is the single gate for every one, from gossip, sync or this node's
//! own API: size, decoding, signature, the signer is the admitted node of the certifier org and
//! that org is a steward in the replicated registry (a revoked org is no longer a member, so its
//! certifications are refused here too), the tenant exists and is not the certifier's own (no
//! org certifies itself), the agent id and digests are well-formed, the tier is one of `bronze`,
//! `silver`, `gold`, it was not issued in the future, lives at most [`CERTIFICATION_TTL_MS`]
//! and has not expired. Which certification of a certifier is the newest belongs to the store
//! ([`super::certifications`]).
//!
//! A certification names both the manifest digest and the digest of the record's content
//! ([`super::record::content_digest`]): the steward checked that the record says what the
//! manifest says, and the grade applies only while the agent's record has that content.

use std::fmt;
use std::str::FromStr;

use ossa_consensus::{MemberRole, Registry};
use ossa_trust::{sign_envelope, NodeKey};
use prost::Message;
use serde::{Deserialize, Serialize};

use super::manifest::is_valid_id;
use super::record::{content_digest, open_signed, Opened, Rejection};
use crate::wire::pb;

/// Signature domain of certifications.
pub const CERTIFICATION_DOMAIN: &str = "ossa/certification/1";
/// Largest signed certification accepted: a tenant name, an agent id (at most 128 bytes), a
/// digest, an org name and three numbers make a few hundred bytes; 2 KiB bounds a hostile one.
pub const MAX_SIGNED_CERTIFICATION: usize = 2 * 1024;
/// How long a certification lives: 30 days, after which the agent must be certified again,
/// so a grade reflects a recent check of an endpoint that may since have gone away.
pub const CERTIFICATION_TTL_MS: u64 = 30 * 24 * 3600 * 1000;
/// How far in the future a certification's issue time may be, for clock skew between nodes.
pub const MAX_CLOCK_SKEW_MS: u64 = 5 * 60 * 1000;

/// A certification grade. Ordered: `Bronze < Silver < Gold`, so "at least silver" is a
/// comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    /// The lowest grade.
    Bronze,
    /// The middle grade.
    Silver,
    /// The highest grade.
    Gold,
}

impl Tier {
    /// The wire and display name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bronze => "bronze",
            Self::Silver => "silver",
            Self::Gold => "gold",
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not a tier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown tier {0:?}: expected bronze, silver or gold")]
pub struct UnknownTier(pub String);

impl FromStr for Tier {
    type Err = UnknownTier;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "bronze" => Ok(Self::Bronze),
            "silver" => Ok(Self::Silver),
            "gold" => Ok(Self::Gold),
            other => Err(UnknownTier(other.chars().take(32).collect())),
        }
    }
}

/// A certification as the API and CLI show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificationView {
    /// The grade.
    pub tier: Tier,
    /// The steward org that certified.
    pub certifier: String,
    /// Hex SHA-256 of the manifest that was checked.
    pub manifest_digest: String,
    /// Hex SHA-256 of the certified record content.
    pub record_digest: String,
    /// Issue time, Unix milliseconds.
    pub issued_at_ms: u64,
    /// Expiry, Unix milliseconds.
    pub expires_at_ms: u64,
}

/// A certification that passed [`verify_certification`].
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedCertification {
    /// The decoded certification.
    pub certification: pb::Certification,
    /// Its tier, parsed.
    pub tier: Tier,
    /// The encoded `SignedRecord` exactly as received (what is stored and forwarded).
    pub raw: Vec<u8>,
}

impl VerifiedCertification {
    /// Store key: one certification per (tenant, agent, manifest digest, certifier).
    pub fn key(&self) -> Vec<u8> {
        let c = &self.certification;
        certification_key(&c.tenant, &c.agent_id, &c.manifest_digest, &c.certifier_org)
    }

    /// The view shown to users.
    pub fn view(&self) -> CertificationView {
        let c = &self.certification;
        CertificationView {
            tier: self.tier,
            certifier: c.certifier_org.clone(),
            manifest_digest: hex::encode(&c.manifest_digest),
            record_digest: hex::encode(&c.record_digest),
            issued_at_ms: c.issued_at_ms,
            expires_at_ms: c.expires_at_ms,
        }
    }
}

/// The key prefix of every certification of an agent at one manifest digest. Tenant names and
/// agent ids cannot hold a 0 byte (both are checked), so the separators are unambiguous and
/// the keys sort by tenant, then agent.
pub fn agent_prefix(tenant: &str, agent_id: &str, digest: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(tenant.len() + agent_id.len() + digest.len() + 2);
    key.extend_from_slice(tenant.as_bytes());
    key.push(0);
    key.extend_from_slice(agent_id.as_bytes());
    key.push(0);
    key.extend_from_slice(digest);
    key
}

/// The store key of a certification.
pub fn certification_key(tenant: &str, agent_id: &str, digest: &[u8], certifier: &str) -> Vec<u8> {
    let mut key = agent_prefix(tenant, agent_id, digest);
    key.extend_from_slice(certifier.as_bytes());
    key
}

/// Builds the certification of the agent of `record`, at its manifest and content, issued
/// now by `certifier`, valid for [`CERTIFICATION_TTL_MS`].
pub fn build_certification(record: &pb::AgentRecord, tier: Tier, certifier: &str, now_ms: u64) -> pb::Certification {
    pb::Certification {
        tenant: record.tenant.clone(),
        agent_id: record.agent_id.clone(),
        manifest_digest: record.manifest_digest.clone(),
        tier: tier.as_str().to_owned(),
        certifier_org: certifier.to_owned(),
        issued_at_ms: now_ms,
        expires_at_ms: now_ms + CERTIFICATION_TTL_MS,
        record_digest: content_digest(record).to_vec(),
    }
}

/// Signs `certification` with the node key; returns the encoded `SignedRecord`.
pub fn sign_certification(key: &NodeKey, certification: &pb::Certification) -> Vec<u8> {
    let payload = certification.encode_to_vec();
    let signature = sign_envelope(key, CERTIFICATION_DOMAIN, &payload);
    pb::SignedRecord { payload, signer: key.public_key().to_vec(), signature: signature.to_vec() }.encode_to_vec()
}

/// Checks a received signed certification (see the module docs). Changes nothing.
pub fn verify_certification(
    bytes: &[u8],
    registry: &Registry,
    now_ms: u64,
) -> Result<VerifiedCertification, Rejection> {
    let Opened { payload, signer_peer } = open_signed(bytes, CERTIFICATION_DOMAIN, MAX_SIGNED_CERTIFICATION)?;
    let c = pb::Certification::decode(payload.as_slice()).map_err(|e| Rejection::Malformed(e.to_string()))?;
    let member =
        registry.members.get(&c.certifier_org).filter(|_| registry.speaks_for(&c.certifier_org, &signer_peer, now_ms));
    let Some(member) = member else {
        return Err(Rejection::SignerNotMember { org: c.certifier_org });
    };
    if member.role != MemberRole::Steward {
        return Err(Rejection::NotSteward { org: c.certifier_org });
    }
    let tenant = registry.tenants.get(&c.tenant).ok_or_else(|| Rejection::UnknownTenant(c.tenant.clone()))?;
    if tenant.owner == c.certifier_org {
        return Err(Rejection::Invalid(format!("org {:?} certified an agent of its own tenant", c.certifier_org)));
    }
    if !is_valid_id(&c.agent_id) {
        return Err(Rejection::Invalid(format!("agent id {:?} is not a valid id", c.agent_id)));
    }
    if c.manifest_digest.len() != 32 || c.record_digest.len() != 32 {
        return Err(Rejection::Invalid("a digest is not 32 bytes".into()));
    }
    let tier = c.tier.parse::<Tier>().map_err(|e| Rejection::Invalid(e.to_string()))?;
    if c.issued_at_ms > now_ms + MAX_CLOCK_SKEW_MS {
        return Err(Rejection::Invalid("issued in the future".into()));
    }
    if c.expires_at_ms < c.issued_at_ms || c.expires_at_ms - c.issued_at_ms > CERTIFICATION_TTL_MS {
        return Err(Rejection::Invalid(format!(
            "lifetime from {} to {} is not within {CERTIFICATION_TTL_MS} ms",
            c.issued_at_ms, c.expires_at_ms
        )));
    }
    if c.expires_at_ms <= now_ms {
        return Err(Rejection::Expired);
    }
    Ok(VerifiedCertification { certification: c, tier, raw: bytes.to_vec() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::peer_id_of_key;
    use ossa_consensus::{Member, Tenant};
    use proptest::prelude::*;

    const NOW: u64 = 1_000_000;
    const DIGEST: [u8; 32] = [7; 32];

    struct Keys {
        steward: NodeKey,
        member: NodeKey,
    }

    fn keys() -> Keys {
        Keys { steward: NodeKey::generate(), member: NodeKey::generate() }
    }

    /// `acme` is a steward, `globex` a member owning tenant `globex-t`; `acme` owns `acme-t`.
    fn registry(keys: &Keys) -> Registry {
        let member = |org: &str, key: &NodeKey, role| Member {
            org: org.into(),
            peer_id: peer_id_of_key(&key.public_key()).expect("key").to_string(),
            node_id: 1,
            role,
            admitted_at: 1,
        };
        let mut registry = Registry::default();
        registry.members.insert("acme".into(), member("acme", &keys.steward, MemberRole::Steward));
        registry.members.insert("globex".into(), member("globex", &keys.member, MemberRole::Member));
        for (name, owner) in [("acme-t", "acme"), ("globex-t", "globex")] {
            registry.tenants.insert(name.into(), Tenant { name: name.into(), owner: owner.into(), created_at: 2 });
        }
        registry
    }

    fn agent() -> pb::AgentRecord {
        pb::AgentRecord {
            org: "globex".into(),
            tenant: "globex-t".into(),
            agent_id: "summarizer".into(),
            manifest_digest: DIGEST.to_vec(),
            ..Default::default()
        }
    }

    fn gold_by(certifier: &str) -> pb::Certification {
        build_certification(&agent(), Tier::Gold, certifier, NOW)
    }

    #[test]
    fn tiers_parse_order_and_print() {
        assert!(Tier::Bronze < Tier::Silver && Tier::Silver < Tier::Gold);
        for tier in [Tier::Bronze, Tier::Silver, Tier::Gold] {
            assert_eq!(tier.as_str().parse::<Tier>(), Ok(tier));
            assert_eq!(serde_json::to_value(tier).expect("json"), serde_json::json!(tier.as_str()));
        }
        assert_eq!("platinum".parse::<Tier>(), Err(UnknownTier("platinum".into())));
        assert_eq!("Gold".parse::<Tier>(), Err(UnknownTier("Gold".into())), "names are exact");
    }

    #[test]
    fn a_stewards_certification_verifies_as_signed() {
        let keys = keys();
        let signed = sign_certification(&keys.steward, &gold_by("acme"));
        let verified = verify_certification(&signed, &registry(&keys), NOW).expect("valid");
        assert_eq!(verified.certification, gold_by("acme"));
        assert_eq!(verified.tier, Tier::Gold);
        assert_eq!(verified.raw, signed);
        assert_eq!(verified.key(), certification_key("globex-t", "summarizer", &DIGEST, "acme"));
        assert!(verified.key().starts_with(&agent_prefix("globex-t", "summarizer", &DIGEST)));
        assert_eq!(verified.view().manifest_digest, hex::encode(DIGEST));
        assert_eq!(verified.view().record_digest, hex::encode(content_digest(&agent())));
    }

    #[test]
    fn refuses_each_kind_of_bad_certification() {
        let keys = keys();
        let registry = registry(&keys);
        let check = |bytes: &[u8]| verify_certification(bytes, &registry, NOW).expect_err("must be refused").reason();
        let sign = |c: &pb::Certification| sign_certification(&keys.steward, c);

        // Tampered: a bronze certification raised to gold after signing.
        let bronze = build_certification(&agent(), Tier::Bronze, "acme", NOW);
        let mut tampered = pb::SignedRecord::decode(sign(&bronze).as_slice()).expect("decode");
        tampered.payload = gold_by("acme").encode_to_vec();
        assert_eq!(check(&tampered.encode_to_vec()), "bad_signature");
        let mut flipped = pb::SignedRecord::decode(sign(&gold_by("acme")).as_slice()).expect("decode");
        flipped.signature[3] ^= 1;
        assert_eq!(check(&flipped.encode_to_vec()), "bad_signature");

        // A record signature is not a certification signature (domain separation).
        let as_record = crate::agents::record::sign_record(&keys.steward, &pb::AgentRecord::default());
        assert_eq!(check(&as_record), "bad_signature");

        // Wrong tier names.
        for bad in ["platinum", "", "GOLD"] {
            let mut c = gold_by("acme");
            c.tier = bad.into();
            assert_eq!(check(&sign(&c)), "invalid", "tier {bad:?}");
        }

        // Expired, too long-lived, issued in the future.
        let mut expired = gold_by("acme");
        (expired.issued_at_ms, expired.expires_at_ms) = (1, NOW);
        assert_eq!(check(&sign(&expired)), "expired");
        let mut forever = gold_by("acme");
        forever.expires_at_ms = NOW + CERTIFICATION_TTL_MS + 1;
        assert_eq!(check(&sign(&forever)), "invalid");
        let mut future = gold_by("acme");
        future.issued_at_ms = NOW + MAX_CLOCK_SKEW_MS + 1;
        future.expires_at_ms = future.issued_at_ms + 1;
        assert_eq!(check(&sign(&future)), "invalid");

        // Signers: a member that is not a steward; a key that is not the org's; an outsider.
        assert_eq!(check(&sign_certification(&keys.member, &gold_by("globex"))), "not_steward");
        assert_eq!(check(&sign_certification(&keys.member, &gold_by("acme"))), "signer_not_member");
        assert_eq!(check(&sign_certification(&NodeKey::generate(), &gold_by("acme"))), "signer_not_member");
        assert_eq!(check(&sign(&gold_by("initech"))), "signer_not_member");

        // Its own tenant, an unknown tenant, a bad agent id or digest.
        let mut own = gold_by("acme");
        own.tenant = "acme-t".into();
        assert_eq!(check(&sign(&own)), "invalid");
        let mut unknown = gold_by("acme");
        unknown.tenant = "nobody-t".into();
        assert_eq!(check(&sign(&unknown)), "unknown_tenant");
        let mut bad_id = gold_by("acme");
        bad_id.agent_id = "a\0b".into();
        assert_eq!(check(&sign(&bad_id)), "invalid");
        let mut short = gold_by("acme");
        short.manifest_digest.truncate(31);
        assert_eq!(check(&sign(&short)), "invalid");
        let mut no_record = gold_by("acme");
        no_record.record_digest.clear();
        assert_eq!(check(&sign(&no_record)), "invalid");

        // Size and encoding.
        let mut bloated = gold_by("acme");
        bloated.agent_id = "x".repeat(MAX_SIGNED_CERTIFICATION);
        assert_eq!(check(&sign(&bloated)), "too_large");
        assert_eq!(check(b"\xff\xff not protobuf"), "malformed");
    }

    #[test]
    fn a_revoked_or_demoted_certifier_is_refused() {
        let keys = keys();
        let signed = sign_certification(&keys.steward, &gold_by("acme"));
        let mut demoted = registry(&keys);
        demoted.members.get_mut("acme").expect("acme").role = MemberRole::Member;
        assert_eq!(verify_certification(&signed, &demoted, NOW).map_err(|e| e.reason()), Err("not_steward"));
        // Revocation moves the org out of `members`.
        let mut revoked = registry(&keys);
        revoked.members.remove("acme");
        assert_eq!(verify_certification(&signed, &revoked, NOW).map_err(|e| e.reason()), Err("signer_not_member"));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic_and_are_refused(bytes in prop::collection::vec(any::<u8>(), 0..1024)) {
            let keys = keys();
            prop_assert!(verify_certification(&bytes, &registry(&keys), NOW).is_err());
        }
    }
}
