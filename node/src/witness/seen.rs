//! The last checkpoint this node accepted from each other log, kept in sled (tree
//! `witness_seen`, key = origin, value = the signed note) so that a restart does not turn
//! the next checkpoint into a first use.
//!
//! Each origin has its own async lock: witnessing one log (which may wait for a proof from
//! its node) never holds up another's.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ossa_audit::{parse_checkpoint, Checkpoint};

/// A checkpoint accepted from a log, with the note that signs it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The checkpoint.
    pub checkpoint: Checkpoint,
    /// Its signed note, as received.
    pub note: String,
}

/// Last accepted checkpoint per origin.
pub struct SeenCheckpoints {
    tree: sled::Tree,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl SeenCheckpoints {
    /// Opens the store in `db`.
    pub fn open(db: &sled::Db) -> Result<Self, sled::Error> {
        Ok(Self { tree: db.open_tree("witness_seen")?, locks: Mutex::default() })
    }

    /// The lock that serializes witnessing of `origin`.
    pub fn lock_for(&self, origin: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        locks.entry(origin.to_owned()).or_default().clone()
    }

    /// The last checkpoint accepted from `origin`. A stored note that no longer parses (it
    /// was checked before it was stored) counts as none.
    pub fn get(&self, origin: &str) -> Option<Seen> {
        let bytes = self.tree.get(origin.as_bytes()).ok()??;
        let note = String::from_utf8(bytes.to_vec()).ok()?;
        let checkpoint = parse_checkpoint(&note).ok()?;
        Some(Seen { checkpoint, note })
    }

    /// Records `note` as the last checkpoint accepted from its origin.
    pub fn set(&self, origin: &str, note: &str) -> Result<(), sled::Error> {
        self.tree.insert(origin.as_bytes(), note.as_bytes())?;
        Ok(())
    }
}
