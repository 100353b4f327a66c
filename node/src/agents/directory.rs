//! The agent directory: every verified agent record of the federation, stored in sled and
//! indexed in memory by capability, so "who can do X?" is a local lookup.
//!
//! [`Directory::insert`] takes a [`VerifiedRecord`] and applies last-writer-wins per
//! (tenant, agent id) by sequence: an older or equal sequence is refused as stale, a newer one
//! replaces the stored record (a tombstone too, and it is kept so an older record cannot come
//! back). The raw signed bytes are what is stored, so a record can be re-verified and re-sent
//! exactly as its org signed it. Expired records are dropped by [`Directory::sweep_expired`].
//!
//! An agent's tier is not in its record (its org cannot grade itself): it is the highest
//! unexpired tier that stewards certified at the manifest digest of the agent's current
//! record, looked up in the [`Certifications`] store whenever an agent is shown or filtered.
//! Re-registering with a changed manifest therefore drops the tier until it is certified again.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use prost::Message;
use serde::{Deserialize, Serialize};

use super::certification::{CertificationView, Tier};
use super::certifications::Certifications;
use super::record::{Rejection, VerifiedRecord};
use crate::wire::pb;

type Key = (String, String);

/// An agent as the API and CLI show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentView {
    /// Agent id, unique within its tenant.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Tenant it belongs to.
    pub tenant: String,
    /// Org that owns the tenant and signed the record.
    pub org: String,
    /// Version from the manifest.
    pub version: String,
    /// Description from the manifest.
    pub description: String,
    /// Normalized capabilities.
    pub capabilities: Vec<String>,
    /// Where to call it.
    pub endpoint: String,
    /// Protocol (e.g. `a2a`, `ossa`).
    pub protocol: String,
    /// Manifest format it was imported from.
    pub format: String,
    /// Hex SHA-256 of the manifest.
    pub manifest_digest: String,
    /// Highest unexpired certification tier at the current manifest digest; `null` if none.
    pub tier: Option<Tier>,
    /// The unexpired certifications at the current manifest digest, highest tier first.
    pub certifications: Vec<CertificationView>,
    /// Record sequence number.
    pub sequence: u64,
    /// Expiry, Unix milliseconds.
    pub expires_at_ms: u64,
}

impl AgentView {
    /// The view of `r` with its live `certifications` (highest tier first).
    pub fn new(r: &pb::AgentRecord, certifications: Vec<CertificationView>) -> Self {
        Self {
            id: r.agent_id.clone(),
            name: r.name.clone(),
            tenant: r.tenant.clone(),
            org: r.org.clone(),
            version: r.version.clone(),
            description: r.description.clone(),
            capabilities: r.capabilities.clone(),
            endpoint: r.endpoint.clone(),
            protocol: r.protocol.clone(),
            format: r.format.clone(),
            manifest_digest: hex::encode(&r.manifest_digest),
            tier: certifications.first().map(|c| c.tier),
            certifications,
            sequence: r.sequence,
            expires_at_ms: r.expires_at_ms,
        }
    }
}

/// A directory query; every set field must match.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// Capability the agent must have.
    pub capability: Option<String>,
    /// Tenant it must belong to.
    pub tenant: Option<String>,
    /// Lowest certification tier it must have: `Silver` matches silver and gold agents.
    pub tier: Option<Tier>,
}

/// The in-memory index. Each record is held once, behind an `Arc`, by `records` and by the
/// capability index: a capability query walks its own sorted map and never looks a key up in
/// `records` (on 100k agents those lookups, string comparisons on cold memory, were most of a
/// query's time).
#[derive(Default)]
struct Index {
    records: BTreeMap<Key, Arc<VerifiedRecord>>,
    by_capability: HashMap<String, BTreeMap<Key, Arc<VerifiedRecord>>>,
}

impl Index {
    fn put(&mut self, verified: VerifiedRecord) {
        let key = verified.key();
        self.remove(&key);
        let verified = Arc::new(verified);
        if !verified.record.deleted {
            for capability in &verified.record.capabilities {
                self.by_capability.entry(capability.clone()).or_default().insert(key.clone(), verified.clone());
            }
        }
        self.records.insert(key, verified);
    }

    fn remove(&mut self, key: &Key) {
        if let Some(old) = self.records.remove(key) {
            for capability in &old.record.capabilities {
                if let Some(agents) = self.by_capability.get_mut(capability) {
                    agents.remove(key);
                    if agents.is_empty() {
                        self.by_capability.remove(capability);
                    }
                }
            }
        }
    }
}

/// Why the directory could not store a record.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    /// The record was refused.
    #[error(transparent)]
    Rejected(#[from] Rejection),
    /// Storage failed.
    #[error("agent directory storage: {0}")]
    Storage(#[from] sled::Error),
}

/// The agent directory.
pub struct Directory {
    tree: sled::Tree,
    index: RwLock<Index>,
    certifications: Certifications,
}

fn tree_key(tenant: &str, agent_id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(tenant.len() + 1 + agent_id.len());
    key.extend_from_slice(tenant.as_bytes());
    key.push(0);
    key.extend_from_slice(agent_id.as_bytes());
    key
}

fn decode_stored(raw: &[u8]) -> Option<VerifiedRecord> {
    let signed = pb::SignedRecord::decode(raw).ok()?;
    let record = pb::AgentRecord::decode(signed.payload.as_slice()).ok()?;
    Some(VerifiedRecord { record, raw: raw.to_vec() })
}

impl Directory {
    /// Opens the `agents` and `certifications` trees of `db` and loads them into memory.
    pub fn open(db: &sled::Db) -> Result<Self, sled::Error> {
        let tree = db.open_tree("agents")?;
        let mut index = Index::default();
        for item in tree.iter() {
            let (key, raw) = item?;
            match decode_stored(&raw) {
                Some(verified) => index.put(verified),
                None => {
                    tracing::warn!(key = %String::from_utf8_lossy(&key), "dropping undecodable stored agent record");
                    tree.remove(key)?;
                }
            }
        }
        Ok(Self { tree, index: RwLock::new(index), certifications: Certifications::open(db)? })
    }

    /// The certifications that grade the directory's agents.
    pub fn certifications(&self) -> &Certifications {
        &self.certifications
    }

    /// How `record` is shown: with its live certifications at its manifest digest.
    pub fn view(&self, record: &pb::AgentRecord, now_ms: u64) -> AgentView {
        AgentView::new(record, self.certifications.live(record, now_ms))
    }

    /// The tier of `record`: the highest live one certified at its manifest digest.
    pub fn tier(&self, record: &pb::AgentRecord, now_ms: u64) -> Option<Tier> {
        self.certifications.live(record, now_ms).first().map(|c| c.tier)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Index> {
        self.index.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The stored record of an agent, tombstones included.
    pub fn record(&self, tenant: &str, agent_id: &str) -> Option<pb::AgentRecord> {
        self.read().records.get(&(tenant.to_owned(), agent_id.to_owned())).map(|v| v.record.clone())
    }

    /// Stores `verified` if it is newer than the stored record of the same agent.
    pub fn insert(&self, verified: VerifiedRecord) -> Result<(), DirectoryError> {
        let mut index = self.index.write().unwrap_or_else(|p| p.into_inner());
        if let Some(stored) = index.records.get(&verified.key()) {
            if verified.record.sequence <= stored.record.sequence {
                return Err(Rejection::Stale { have: stored.record.sequence, got: verified.record.sequence }.into());
            }
        }
        self.tree.insert(tree_key(&verified.record.tenant, &verified.record.agent_id), verified.raw.as_slice())?;
        index.put(verified);
        Ok(())
    }

    /// Live (not deleted, not expired) agents matching `query`, ordered by tenant and id.
    pub fn find(&self, query: &Query, now_ms: u64) -> Vec<AgentView> {
        let index = self.read();
        let live = |v: &&Arc<VerifiedRecord>| {
            let r = &v.record;
            !r.deleted && r.expires_at_ms > now_ms && query.tenant.as_ref().is_none_or(|t| &r.tenant == t)
        };
        let graded = |view: &AgentView| query.tier.is_none_or(|min| view.tier.is_some_and(|tier| tier >= min));
        let candidates: Box<dyn Iterator<Item = &Arc<VerifiedRecord>> + '_> = match &query.capability {
            Some(capability) => Box::new(
                index.by_capability.get(&capability.trim().to_lowercase()).into_iter().flat_map(|a| a.values()),
            ),
            None => Box::new(index.records.values()),
        };
        candidates.filter(live).map(|v| self.view(&v.record, now_ms)).filter(graded).collect()
    }

    /// Records signed by `org` that are live, for re-announcement.
    pub fn live_records_of(&self, org: &str, now_ms: u64) -> Vec<VerifiedRecord> {
        let index = self.read();
        index
            .records
            .values()
            .filter(|v| v.record.org == org && !v.record.deleted && v.record.expires_at_ms > now_ms)
            .map(|v| VerifiedRecord::clone(v))
            .collect()
    }

    /// Drops records (and tombstones) whose expiry has passed. Returns how many.
    pub fn sweep_expired(&self, now_ms: u64) -> Result<usize, sled::Error> {
        self.remove_where(|record| record.expires_at_ms <= now_ms)
    }

    /// Removes every record of `org` (a revoked org: its records are refused from now on, so
    /// none may be served, found or synced either); returns how many.
    pub fn remove_org(&self, org: &str) -> Result<usize, sled::Error> {
        self.remove_where(|record| record.org == org)
    }

    fn remove_where(&self, doomed: impl Fn(&pb::AgentRecord) -> bool) -> Result<usize, sled::Error> {
        let mut index = self.index.write().unwrap_or_else(|p| p.into_inner());
        let keys: Vec<Key> = index.records.iter().filter(|(_, v)| doomed(&v.record)).map(|(k, _)| k.clone()).collect();
        for key in &keys {
            self.tree.remove(tree_key(&key.0, &key.1))?;
            index.remove(key);
        }
        Ok(keys.len())
    }

    /// Up to `limit` stored records (raw signed bytes, tombstones included) after `after`, in
    /// key order, and whether more follow.
    pub fn page(&self, after: Option<(&str, &str)>, limit: usize) -> (Vec<Vec<u8>>, bool) {
        use std::ops::Bound;
        let index = self.read();
        let start = match after {
            Some((tenant, agent)) => Bound::Excluded((tenant.to_owned(), agent.to_owned())),
            None => Bound::Unbounded,
        };
        let mut records = index.records.range((start, Bound::Unbounded)).map(|(_, v)| v.raw.clone());
        let page: Vec<Vec<u8>> = records.by_ref().take(limit).collect();
        let more = records.next().is_some();
        (page, more)
    }

    /// Number of stored records, tombstones included.
    pub fn len(&self) -> usize {
        self.read().records.len()
    }

    /// Whether the directory is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(tenant: &str, id: &str, sequence: u64, capabilities: &[&str], deleted: bool) -> VerifiedRecord {
        let record = pb::AgentRecord {
            org: "acme".into(),
            tenant: tenant.into(),
            agent_id: id.into(),
            capabilities: capabilities.iter().map(|c| c.to_string()).collect(),
            sequence,
            expires_at_ms: 10_000,
            deleted,
            ..Default::default()
        };
        let payload = record.encode_to_vec();
        let raw = pb::SignedRecord { payload, signer: vec![0; 32], signature: vec![0; 64] }.encode_to_vec();
        VerifiedRecord { record, raw }
    }

    fn ids(views: Vec<AgentView>) -> Vec<String> {
        views.into_iter().map(|v| v.id).collect()
    }

    #[test]
    fn last_writer_wins_tombstones_stick_and_restart_keeps_records() {
        let db = sled::Config::new().temporary(true).open().expect("db");
        let directory = Directory::open(&db).expect("open");
        let by = |c: &str| Query { capability: Some(c.into()), ..Default::default() };
        directory.insert(record("t", "a", 1, &["summarize"], false)).expect("first");
        directory.insert(record("t", "b", 1, &["summarize", "translate"], false)).expect("second agent");
        assert_eq!(ids(directory.find(&by("summarize"), 0)), ["a", "b"]);

        // Newer sequence replaces, capability index follows.
        directory.insert(record("t", "a", 2, &["translate"], false)).expect("update");
        assert_eq!(ids(directory.find(&by("summarize"), 0)), ["b"]);
        assert_eq!(ids(directory.find(&by("translate"), 0)), ["a", "b"]);

        // Equal or older is stale and changes nothing.
        let stale = directory.insert(record("t", "a", 2, &["summarize"], false)).expect_err("stale");
        assert!(matches!(stale, DirectoryError::Rejected(Rejection::Stale { have: 2, got: 2 })));
        assert_eq!(ids(directory.find(&by("summarize"), 0)), ["b"]);

        // A tombstone hides the agent and keeps an older record from coming back.
        directory.insert(record("t", "b", 5, &[], true)).expect("tombstone");
        assert_eq!(ids(directory.find(&by("summarize"), 0)), Vec::<String>::new());
        assert!(directory.insert(record("t", "b", 4, &["summarize"], false)).is_err());

        drop(directory);
        let reopened = Directory::open(&db).expect("reopen");
        assert_eq!(reopened.len(), 2);
        assert_eq!(ids(reopened.find(&by("translate"), 0)), ["a"]);
        assert_eq!(reopened.record("t", "b").map(|r| r.deleted), Some(true));

        // Expiry hides, then sweeping removes.
        assert!(reopened.find(&Query::default(), 10_000).is_empty());
        assert_eq!(reopened.sweep_expired(10_000).expect("sweep"), 2);
        assert!(reopened.is_empty());
    }

    #[test]
    fn the_tier_is_the_highest_live_one_at_the_current_manifest() {
        use crate::agents::certification::{build_certification, VerifiedCertification};
        let db = sled::Config::new().temporary(true).open().expect("db");
        let directory = Directory::open(&db).expect("open");
        let with_manifest = |id: &str, sequence: u64, digest: u8| {
            let mut verified = record("t", id, sequence, &["summarize"], false);
            verified.record.manifest_digest = vec![digest; 32];
            verified.record.expires_at_ms = u64::MAX; // outlives the certifications
            verified
        };
        let certify = |verified: &VerifiedRecord, tier: Tier, certifier: &str| {
            let certification = build_certification(&verified.record, tier, certifier, 1);
            let raw = pb::SignedRecord { payload: certification.encode_to_vec(), ..Default::default() }.encode_to_vec();
            directory.certifications().insert(VerifiedCertification { certification, tier, raw }).expect("certify");
        };
        let (gold, silver, bronze, none) =
            (with_manifest("g", 1, 1), with_manifest("s", 1, 1), with_manifest("b", 1, 1), with_manifest("n", 1, 1));
        for agent in [&gold, &silver, &bronze, &none] {
            directory.insert(agent.clone()).expect("insert");
        }
        certify(&gold, Tier::Bronze, "acme");
        certify(&gold, Tier::Gold, "globex");
        certify(&silver, Tier::Silver, "acme");
        certify(&bronze, Tier::Bronze, "acme");
        let at_least = |tier: Option<Tier>| ids(directory.find(&Query { tier, ..Default::default() }, 2));
        assert_eq!(at_least(None), ["b", "g", "n", "s"]);
        assert_eq!(at_least(Some(Tier::Bronze)), ["b", "g", "s"]);
        assert_eq!(at_least(Some(Tier::Silver)), ["g", "s"], "silver means at least silver");
        assert_eq!(at_least(Some(Tier::Gold)), ["g"]);
        let shown = directory.view(&gold.record, 2);
        assert_eq!(shown.tier, Some(Tier::Gold));
        assert_eq!(shown.certifications.iter().map(|c| c.certifier.as_str()).collect::<Vec<_>>(), ["globex", "acme"]);

        // Re-registered with another manifest: the tier is gone, the old certifications stay.
        directory.insert(with_manifest("g", 2, 9)).expect("re-register");
        assert_eq!(at_least(Some(Tier::Bronze)), ["b", "s"]);
        assert_eq!(directory.certifications().len(), 4);
        // Expired certifications grade nothing.
        let expiry = 1 + crate::agents::certification::CERTIFICATION_TTL_MS;
        assert!(directory.find(&Query { tier: Some(Tier::Bronze), ..Default::default() }, expiry).is_empty());
        assert_eq!(directory.find(&Query::default(), expiry).len(), 4);
    }

    #[test]
    fn a_revoked_orgs_records_are_removed_and_stay_removed_after_a_restart() {
        let db = sled::Config::new().temporary(true).open().expect("db");
        let directory = Directory::open(&db).expect("open");
        directory.insert(record("t", "a", 1, &["summarize"], false)).expect("acme's");
        let mut other = record("u", "b", 1, &["summarize"], false).record;
        other.org = "globex".into();
        let raw = pb::SignedRecord { payload: other.encode_to_vec(), signer: vec![0; 32], signature: vec![0; 64] };
        directory.insert(VerifiedRecord { record: other, raw: raw.encode_to_vec() }).expect("globex's");
        assert_eq!(directory.remove_org("acme").expect("remove"), 1);
        let summarizers = Query { capability: Some("summarize".into()), ..Default::default() };
        assert_eq!(ids(directory.find(&summarizers, 0)), ["b"]);
        drop(directory);
        let reopened = Directory::open(&db).expect("reopen");
        assert_eq!(ids(reopened.find(&summarizers, 0)), ["b"]);
        assert_eq!(reopened.remove_org("acme").expect("again"), 0);
    }
}
