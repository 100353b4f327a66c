//! Confirmed equivocation evidence, kept in sled (tree `equivocations`, key = org, value =
//! JSON [`Evidence`]). The first confirmed pair of an org is kept; later ones add nothing an
//! auditor needs.

use serde::{Deserialize, Serialize};

/// Two checkpoints signed by one org's log that cannot both be true.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// The equivocating org.
    pub org: String,
    /// The log's origin.
    pub origin: String,
    /// One signed checkpoint note.
    pub first: String,
    /// The other, conflicting one.
    pub second: String,
    /// Why they conflict: `same_size_different_root` or `inconsistent`.
    pub kind: String,
    /// When this node confirmed it (Unix ms).
    pub confirmed_at_ms: u64,
}

/// The evidence store.
pub struct EvidenceStore {
    tree: sled::Tree,
}

impl EvidenceStore {
    /// Opens the store in `db`.
    pub fn open(db: &sled::Db) -> Result<Self, sled::Error> {
        Ok(Self { tree: db.open_tree("equivocations")? })
    }

    /// Stores `evidence` unless the org already has some; returns whether it was new.
    pub fn insert(&self, evidence: &Evidence) -> Result<bool, sled::Error> {
        let value = serde_json::to_vec(evidence).unwrap_or_default();
        let swapped = self.tree.compare_and_swap(evidence.org.as_bytes(), None::<&[u8]>, Some(value))?;
        if swapped.is_ok() {
            self.tree.flush()?;
        }
        Ok(swapped.is_ok())
    }

    /// Orgs with evidence, sorted.
    pub fn orgs(&self) -> Vec<String> {
        self.tree.iter().keys().filter_map(|k| k.ok()).filter_map(|k| String::from_utf8(k.to_vec()).ok()).collect()
    }

    /// All evidence, by org.
    pub fn all(&self) -> Vec<Evidence> {
        self.tree.iter().values().filter_map(|v| v.ok()).filter_map(|v| serde_json::from_slice(&v).ok()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_first_evidence_of_an_org_across_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let evidence = |second: &str| Evidence {
            org: "acme".into(),
            origin: "fed/acme".into(),
            first: "a".into(),
            second: second.into(),
            kind: "same_size_different_root".into(),
            confirmed_at_ms: 1,
        };
        {
            let db = ossa_audit::open_sled(dir.path()).expect("open");
            let store = EvidenceStore::open(&db).expect("store");
            assert!(store.insert(&evidence("b")).expect("insert"));
            assert!(!store.insert(&evidence("c")).expect("insert"), "an org's first evidence is kept");
        }
        let db = ossa_audit::open_sled(dir.path()).expect("reopen");
        let store = EvidenceStore::open(&db).expect("store");
        assert_eq!(store.orgs(), vec!["acme".to_owned()]);
        assert_eq!(store.all(), vec![evidence("b")]);
    }
}
