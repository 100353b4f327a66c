//! The certification store: every verified certification of the federation, in sled (tree
//! `certifications`) and in memory, keyed by (tenant, agent id, manifest digest, certifier).
//!
//! [`Certifications::insert`] keeps one certification per key, the most recently issued: a
//! steward that certifies the same manifest again replaces its earlier grade, an older or equal
//! one is refused as stale. The raw signed bytes are what is stored, so a certification can be
//! re-verified and re-sent exactly as its certifier signed it. The directory asks
//! [`Certifications::live`] for the unexpired certifications of an agent's current record
//! (same manifest digest, same record content), from which the agent's tier follows;
//! certifications of an older manifest stay stored until they expire but grade nothing. [`Certifications::sweep_expired`] drops
//! expired ones and [`Certifications::retain_certifiers`] drops those of orgs that are no
//! longer stewards.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::RwLock;

use prost::Message;

use super::certification::{agent_prefix, CertificationView, Tier, VerifiedCertification};
use super::directory::DirectoryError;
use super::record::{content_digest, Rejection};
use crate::wire::pb;

/// Stored certifications.
pub struct Certifications {
    tree: sled::Tree,
    index: RwLock<BTreeMap<Vec<u8>, VerifiedCertification>>,
}

/// Decodes a stored (already verified) certification.
pub(crate) fn decode_stored(raw: &[u8]) -> Option<VerifiedCertification> {
    let signed = pb::SignedRecord::decode(raw).ok()?;
    let certification = pb::Certification::decode(signed.payload.as_slice()).ok()?;
    let tier = certification.tier.parse::<Tier>().ok()?;
    Some(VerifiedCertification { certification, tier, raw: raw.to_vec() })
}

impl Certifications {
    /// Opens the `certifications` tree of `db` and loads it into memory.
    pub fn open(db: &sled::Db) -> Result<Self, sled::Error> {
        let tree = db.open_tree("certifications")?;
        let mut index = BTreeMap::new();
        for item in tree.iter() {
            let (key, raw) = item?;
            match decode_stored(&raw) {
                Some(verified) => {
                    index.insert(key.to_vec(), verified);
                }
                None => {
                    tracing::warn!(key = %String::from_utf8_lossy(&key), "dropping undecodable stored certification");
                    tree.remove(key)?;
                }
            }
        }
        Ok(Self { tree, index: RwLock::new(index) })
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<Vec<u8>, VerifiedCertification>> {
        self.index.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<Vec<u8>, VerifiedCertification>> {
        self.index.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Stores `verified` unless its certifier's stored certification of the same agent and
    /// manifest was issued at the same time or later.
    pub fn insert(&self, verified: VerifiedCertification) -> Result<(), DirectoryError> {
        let mut index = self.write();
        let key = verified.key();
        if let Some(stored) = index.get(&key) {
            let (have, got) = (stored.certification.issued_at_ms, verified.certification.issued_at_ms);
            if got <= have {
                return Err(Rejection::Stale { have, got }.into());
            }
        }
        self.tree.insert(key.as_slice(), verified.raw.as_slice())?;
        index.insert(key, verified);
        Ok(())
    }

    /// Unexpired certifications of the agent of `record` at its manifest digest and content,
    /// highest tier first.
    pub fn live(&self, record: &pb::AgentRecord, now_ms: u64) -> Vec<CertificationView> {
        let index = self.read();
        if index.is_empty() {
            return Vec::new();
        }
        let prefix = agent_prefix(&record.tenant, &record.agent_id, &record.manifest_digest);
        let mut candidates = index
            .range::<[u8], _>((Bound::Included(prefix.as_slice()), Bound::Unbounded))
            .take_while(|(key, _)| key.starts_with(&prefix))
            .map(|(_, v)| v)
            .filter(|v| v.certification.expires_at_ms > now_ms)
            .peekable();
        if candidates.peek().is_none() {
            return Vec::new(); // most agents: no digest to compute
        }
        let content = content_digest(record);
        let mut found: Vec<CertificationView> =
            candidates.filter(|v| v.certification.record_digest == content).map(|v| v.view()).collect();
        found.sort_by(|a, b| b.tier.cmp(&a.tier).then_with(|| a.certifier.cmp(&b.certifier)));
        found
    }

    /// Up to `limit` stored certifications (raw signed bytes) after the key `after` (from the
    /// start when empty), in key order, and whether more follow.
    pub fn page(&self, after: &[u8], limit: usize) -> (Vec<Vec<u8>>, bool) {
        let index = self.read();
        let start = if after.is_empty() { Bound::Unbounded } else { Bound::Excluded(after) };
        let mut entries = index.range::<[u8], _>((start, Bound::Unbounded)).map(|(_, v)| v.raw.clone());
        let page: Vec<Vec<u8>> = entries.by_ref().take(limit).collect();
        let more = entries.next().is_some();
        (page, more)
    }

    /// Drops certifications whose expiry has passed. Returns how many.
    pub fn sweep_expired(&self, now_ms: u64) -> Result<usize, sled::Error> {
        self.remove_where(|c| c.expires_at_ms <= now_ms)
    }

    /// Drops the certifications of every certifier for which `is_steward` is false (an org
    /// demoted or revoked since it certified). Returns how many.
    pub fn retain_certifiers(&self, is_steward: impl Fn(&str) -> bool) -> Result<usize, sled::Error> {
        self.remove_where(|c| !is_steward(&c.certifier_org))
    }

    fn remove_where(&self, doomed: impl Fn(&pb::Certification) -> bool) -> Result<usize, sled::Error> {
        let mut index = self.write();
        let keys: Vec<Vec<u8>> =
            index.iter().filter(|(_, v)| doomed(&v.certification)).map(|(k, _)| k.clone()).collect();
        for key in &keys {
            self.tree.remove(key.as_slice())?;
            index.remove(key);
        }
        Ok(keys.len())
    }

    /// Number of stored certifications, expired ones not yet swept included.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether none is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agents::certification::{build_certification, certification_key};

    const DIGEST: [u8; 32] = [1; 32];
    const OTHER_DIGEST: [u8; 32] = [2; 32];

    fn record(agent: &str, digest: &[u8]) -> pb::AgentRecord {
        pb::AgentRecord {
            tenant: "t".into(),
            agent_id: agent.into(),
            manifest_digest: digest.to_vec(),
            ..Default::default()
        }
    }

    fn cert(agent: &str, digest: &[u8], tier: Tier, certifier: &str, issued: u64) -> VerifiedCertification {
        let certification = build_certification(&record(agent, digest), tier, certifier, issued);
        let raw =
            pb::SignedRecord { payload: certification.encode_to_vec(), signer: vec![0; 32], signature: vec![0; 64] }
                .encode_to_vec();
        VerifiedCertification { certification, tier, raw }
    }

    fn tiers(store: &Certifications, agent: &str, digest: &[u8], now: u64) -> Vec<(Tier, String)> {
        store.live(&record(agent, digest), now).into_iter().map(|c| (c.tier, c.certifier)).collect()
    }

    #[test]
    fn newest_per_certifier_wins_highest_first_only_at_the_digest() {
        let db = sled::Config::new().temporary(true).open().expect("db");
        let store = Certifications::open(&db).expect("open");
        store.insert(cert("a", &DIGEST, Tier::Bronze, "acme", 10)).expect("bronze");
        store.insert(cert("a", &DIGEST, Tier::Gold, "globex", 10)).expect("gold");
        store.insert(cert("ab", &DIGEST, Tier::Silver, "acme", 10)).expect("an agent whose id extends a's");
        store.insert(cert("a", &OTHER_DIGEST, Tier::Silver, "acme", 10)).expect("other manifest");
        assert_eq!(tiers(&store, "a", &DIGEST, 11), [(Tier::Gold, "globex".into()), (Tier::Bronze, "acme".into())]);
        assert_eq!(tiers(&store, "a", &OTHER_DIGEST, 11), [(Tier::Silver, "acme".into())]);
        // A record with the same manifest digest but other content (its org changed the
        // endpoint without a new manifest) is not what was certified.
        let mut altered = record("a", &DIGEST);
        altered.endpoint = "https://elsewhere.example".into();
        assert!(store.live(&altered, 11).is_empty());
        // Re-announcing the same content (new sequence and times) keeps the grade.
        let mut reannounced = record("a", &DIGEST);
        (reannounced.sequence, reannounced.issued_at_ms, reannounced.expires_at_ms) = (9, 9, 99);
        assert_eq!(store.live(&reannounced, 11).len(), 2);

        // A later certification by the same certifier replaces its grade; an older one is stale.
        store.insert(cert("a", &DIGEST, Tier::Silver, "acme", 20)).expect("re-certified");
        let stale = store.insert(cert("a", &DIGEST, Tier::Gold, "acme", 20)).expect_err("same time");
        assert!(matches!(stale, DirectoryError::Rejected(Rejection::Stale { have: 20, got: 20 })));
        assert_eq!(tiers(&store, "a", &DIGEST, 21), [(Tier::Gold, "globex".into()), (Tier::Silver, "acme".into())]);
        assert_eq!(store.len(), 4);

        // Restart keeps them; expiry hides, then sweeping removes.
        drop(store);
        let store = Certifications::open(&db).expect("reopen");
        assert_eq!(store.len(), 4);
        let globex_expires = 10 + crate::agents::certification::CERTIFICATION_TTL_MS;
        assert_eq!(tiers(&store, "a", &DIGEST, globex_expires), [(Tier::Silver, "acme".into())]);
        assert_eq!(store.sweep_expired(globex_expires).expect("sweep"), 3);
        assert_eq!(store.len(), 1);
    }

    #[test]
    fn pages_in_key_order_and_certifiers_that_lost_the_role_are_dropped() {
        let db = sled::Config::new().temporary(true).open().expect("db");
        let store = Certifications::open(&db).expect("open");
        for (agent, certifier) in [("b", "acme"), ("a", "globex"), ("a", "acme")] {
            store.insert(cert(agent, &DIGEST, Tier::Gold, certifier, 5)).expect("insert");
        }
        let (first, more) = store.page(&[], 2);
        assert!(more);
        let keys: Vec<Vec<u8>> = first.iter().map(|raw| decode_stored(raw).expect("decode").key()).collect();
        assert_eq!(
            keys,
            [certification_key("t", "a", &DIGEST, "acme"), certification_key("t", "a", &DIGEST, "globex")]
        );
        let (rest, more) = store.page(&keys[1], 2);
        assert!(!more);
        assert_eq!(rest.len(), 1);
        assert_eq!(decode_stored(&rest[0]).expect("decode").certification.agent_id, "b");

        assert_eq!(store.retain_certifiers(|org| org == "globex").expect("retain"), 2);
        assert_eq!(tiers(&store, "a", &DIGEST, 6), [(Tier::Gold, "globex".into())]);
        drop(store);
        assert_eq!(Certifications::open(&db).expect("reopen").len(), 1, "the removal is durable");
    }
}
