//! The agent directory: every verified agent record of the federation, stored in sled and
//! indexed in memory by capability, so "who can do X?" is a local lookup.
//!
//! [`Directory::insert`] takes a [`VerifiedRecord`] and applies last-writer-wins per
//! (tenant, agent id) by sequence: an older or equal sequence is refused as stale, a newer one
//! replaces the stored record (a tombstone too, and it is kept so an older record cannot come
//! back). The raw signed bytes are what is stored, so a record can be re-verified and re-sent
//! exactly as its org signed it. Expired records are dropped by [`Directory::sweep_expired`].

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::RwLock;

use prost::Message;
use serde::{Deserialize, Serialize};

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
    /// Certification tier, empty if none.
    pub tier: String,
    /// Record sequence number.
    pub sequence: u64,
    /// Expiry, Unix milliseconds.
    pub expires_at_ms: u64,
}

impl From<&pb::AgentRecord> for AgentView {
    fn from(r: &pb::AgentRecord) -> Self {
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
            tier: r.tier.clone(),
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
    /// Certification tier it must have.
    pub tier: Option<String>,
}

#[derive(Default)]
struct Index {
    records: BTreeMap<Key, VerifiedRecord>,
    by_capability: HashMap<String, BTreeSet<Key>>,
}

impl Index {
    fn put(&mut self, verified: VerifiedRecord) {
        let key = verified.key();
        self.remove(&key);
        if !verified.record.deleted {
            for capability in &verified.record.capabilities {
                self.by_capability.entry(capability.clone()).or_default().insert(key.clone());
            }
        }
        self.records.insert(key, verified);
    }

    fn remove(&mut self, key: &Key) {
        if let Some(old) = self.records.remove(key) {
            for capability in &old.record.capabilities {
                if let Some(keys) = self.by_capability.get_mut(capability) {
                    keys.remove(key);
                    if keys.is_empty() {
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
    /// Opens the `agents` tree of `db` and loads it into memory.
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
        Ok(Self { tree, index: RwLock::new(index) })
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
        let live = |v: &&VerifiedRecord| {
            let r = &v.record;
            !r.deleted
                && r.expires_at_ms > now_ms
                && query.tenant.as_ref().is_none_or(|t| &r.tenant == t)
                && query.tier.as_ref().is_none_or(|t| &r.tier == t)
        };
        match &query.capability {
            Some(capability) => index
                .by_capability
                .get(&capability.trim().to_lowercase())
                .into_iter()
                .flatten()
                .filter_map(|key| index.records.get(key))
                .filter(live)
                .map(|v| AgentView::from(&v.record))
                .collect(),
            None => index.records.values().filter(live).map(|v| AgentView::from(&v.record)).collect(),
        }
    }

    /// Records signed by `org` that are live, for re-announcement.
    pub fn live_records_of(&self, org: &str, now_ms: u64) -> Vec<VerifiedRecord> {
        let index = self.read();
        index
            .records
            .values()
            .filter(|v| v.record.org == org && !v.record.deleted && v.record.expires_at_ms > now_ms)
            .cloned()
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
