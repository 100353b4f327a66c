//! The registry state machine: applies committed entries, persists them in sled, audits them,
//! and builds and installs snapshots.
//!
//! Data flow for each batch of committed entries openraft hands to [`RaftStateMachine::apply`]:
//! 1. for each entry in order, and each proposal in the entry's [`ProposalBatch`] in order,
//!    [`Registry::apply`] computes the response and the records that changed (in memory), and
//!    an audit draft is made of the command and its result (so the proposals of one entry
//!    share its Raft index in the audit log);
//! 2. the drafts are appended to the node's audit log in one write (`append_replicated`,
//!    keyed by the Raft index, so an entry re-applied after a restart is not audited twice);
//! 3. the changed records and the new `last_applied` go to the `registry` tree in one sled
//!    batch.
//!
//! A batch costs two sled writes whatever its size, which is what lets commit throughput grow
//! with concurrent writers. Step 2 comes before step 3 in the same sled database, and sled
//! recovers a prefix of its writes, so a crash can leave audited entries that are not yet
//! applied (they are re-applied and de-duplicated on restart) but never an applied entry that
//! is not audited. An entry at or below `last_applied` is skipped (answered with no
//! responses), so applying an entry twice never changes the registry. Blank and membership
//! entries answer no responses either.
//!
//! Durability comes from the Raft log, not from apply: an entry is applied only once a
//! majority has it fsynced in their logs, so apply does not fsync. Its writes reach the disk
//! with the log's next flush (same sled database) or sled's background flush (every 500 ms).
//! A crash that loses them loses nothing acknowledged: on restart openraft re-applies the log
//! from the persisted `last_applied` up to the persisted committed index, and the leader's
//! commit index covers the rest. Two things must never see state that is not on disk, and
//! both flush first: a signed audit checkpoint (the checkpointer flushes the audit log before
//! it signs) and a snapshot (log entries up to it may be purged once it exists, so
//! [`RaftSnapshotBuilder::build_snapshot`] flushes after saving it, and copies the state only
//! between two applied batches, when every entry it covers has been written: see `applying`).
//! Applied audit entries that a crash lost, never covered by a checkpoint, are audited again
//! when their Raft entries are re-applied, with the same Raft index and a new time.
//!
//! Readers (the HTTP API) share the in-memory [`AppliedState`] through [`RegistryReader`].

use std::io::Cursor;
use std::sync::{Arc, Mutex, PoisonError, RwLock, RwLockReadGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{EntryPayload, LogId, RaftSnapshotBuilder, SnapshotMeta, StorageIOError, StoredMembership};
use ossa_audit::{AuditLog, EntryDraft, SledAuditStore};
use serde::{Deserialize, Serialize};

use crate::records;
use crate::registry::{ProposalBatch, Registry, RegistryResponse};
use crate::types::{Entry, MemberNode, StorageError, TypeConfig};
use crate::NodeId;

const LAST_APPLIED_KEY: &[u8] = b"meta/last_applied";
const MEMBERSHIP_KEY: &[u8] = b"meta/membership";
const SNAPSHOT_META_KEY: &[u8] = b"meta";
const SNAPSHOT_DATA_KEY: &[u8] = b"data";
/// Version of the snapshot body; bump it and migrate when [`SnapshotBody`] changes.
const SNAPSHOT_VERSION: u32 = 1;

/// The applied registry plus the Raft bookkeeping that goes with it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AppliedState {
    /// The registry data.
    pub registry: Registry,
    /// Log id of the last applied entry.
    pub last_applied: Option<LogId<NodeId>>,
    /// The last applied membership config.
    pub membership: StoredMembership<NodeId, MemberNode>,
}

/// What a snapshot holds, versioned.
#[derive(Serialize, Deserialize)]
struct SnapshotBody {
    version: u32,
    state: AppliedState,
}

/// Read access to the applied registry for the rest of the node.
#[derive(Clone)]
pub struct RegistryReader(Arc<RwLock<AppliedState>>);

impl RegistryReader {
    /// Locks the applied state for reading.
    pub fn read(&self) -> RwLockReadGuard<'_, AppliedState> {
        self.0.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The registry state machine over sled.
pub struct RegistryStateMachine {
    db: sled::Db,
    tree: sled::Tree,
    snapshots: sled::Tree,
    state: Arc<RwLock<AppliedState>>,
    /// Held through each `apply`, from the first in-memory change to the last sled write, and
    /// by a snapshot builder while it copies the state: so a snapshot never holds an entry's
    /// changes without its `last_applied`, nor state whose sled writes were not yet made.
    applying: Arc<Mutex<()>>,
    audit: Arc<AuditLog<SledAuditStore>>,
}

/// Builds snapshots from a copy of the applied state.
pub struct RegistrySnapshotBuilder {
    state: Arc<RwLock<AppliedState>>,
    applying: Arc<Mutex<()>>,
    snapshots: sled::Tree,
}

fn read_state_machine_err<E: std::error::Error + 'static>(e: E) -> StorageError {
    StorageIOError::read_state_machine(&e).into()
}

fn read_snapshot_err<E: std::error::Error + 'static>(e: E) -> StorageError {
    StorageIOError::read_snapshot(None, &e).into()
}

fn write_snapshot_err<E: std::error::Error + 'static>(e: E) -> StorageError {
    StorageIOError::write_snapshot(None, &e).into()
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

fn json<T: Serialize>(value: &T) -> Result<Vec<u8>, StorageError> {
    serde_json::to_vec(value).map_err(|e| StorageIOError::write_state_machine(&e).into())
}

impl RegistryStateMachine {
    /// Opens the state machine's trees in `db` and loads the applied state.
    pub fn open(db: &sled::Db, audit: Arc<AuditLog<SledAuditStore>>) -> Result<Self, StorageError> {
        let tree = db.open_tree("registry").map_err(read_state_machine_err)?;
        let snapshots = db.open_tree("raft_snapshot").map_err(read_state_machine_err)?;
        let mut state = AppliedState::default();
        for item in tree.iter() {
            let (key, value) = item.map_err(read_state_machine_err)?;
            let key = String::from_utf8_lossy(&key);
            if let Some(record) = records::decode(&key, &value) {
                state.registry.restore(record.map_err(read_state_machine_err)?);
            } else if key.as_bytes() == LAST_APPLIED_KEY {
                state.last_applied = serde_json::from_slice(&value).map_err(read_state_machine_err)?;
            } else if key.as_bytes() == MEMBERSHIP_KEY {
                state.membership = serde_json::from_slice(&value).map_err(read_state_machine_err)?;
            }
        }
        Ok(Self {
            db: db.clone(),
            tree,
            snapshots,
            state: Arc::new(RwLock::new(state)),
            applying: Arc::default(),
            audit,
        })
    }

    /// A handle for reading the applied state.
    pub fn reader(&self) -> RegistryReader {
        RegistryReader(self.state.clone())
    }

    fn audit(&self, drafts: Vec<EntryDraft>) -> Result<(), StorageError> {
        self.audit.append_replicated(drafts).map_err(|e| StorageIOError::write_state_machine(&e))?;
        Ok(())
    }

    fn write_state(&self) -> std::sync::RwLockWriteGuard<'_, AppliedState> {
        self.state.write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Applies `entries` in memory and writes them out: their audit entries in one write, then
    /// the changed records and the last applied log id in one sled batch (see the module docs).
    /// The answer holds, for each entry, one response per proposal in it.
    fn apply_batch(
        &mut self,
        entries: impl IntoIterator<Item = Entry>,
    ) -> Result<Vec<Vec<RegistryResponse>>, StorageError> {
        // An entry at or below `last_applied` is applied already: its change and the new
        // `last_applied` were written in one batch. Applying it again against the later state
        // is not a no-op (a tenant refused to a non-member then is created once that org has
        // joined), so it is skipped. Its original answer is not kept; nobody waits for it.
        let applied_before = self.reader().read().last_applied.map(|id| id.index);
        let mut batch = sled::Batch::default();
        let mut drafts = Vec::new();
        let mut responses = Vec::new();
        let mut last_applied = None;
        for entry in entries {
            if applied_before.is_some_and(|applied| entry.log_id.index <= applied) {
                responses.push(Vec::new());
                continue;
            }
            responses.push(self.apply_one(entry.log_id, entry.payload, &mut batch, &mut drafts)?);
            last_applied = Some(entry.log_id);
        }
        let Some(last_applied) = last_applied else { return Ok(responses) };
        self.audit(drafts)?;
        batch.insert(LAST_APPLIED_KEY, json(&Some(last_applied))?);
        self.tree.apply_batch(batch).map_err(|e| StorageIOError::write_state_machine(&e))?;
        self.write_state().last_applied = Some(last_applied);
        Ok(responses)
    }

    /// Applies one entry's payload to the in-memory state, adding its changed records to
    /// `batch` and its audit drafts to `drafts`. The proposals of an entry are applied under
    /// one lock, so readers see the registry between entries, never inside one.
    fn apply_one(
        &mut self,
        log_id: LogId<NodeId>,
        payload: EntryPayload<TypeConfig>,
        batch: &mut sled::Batch,
        drafts: &mut Vec<EntryDraft>,
    ) -> Result<Vec<RegistryResponse>, StorageError> {
        let index = log_id.index;
        match payload {
            EntryPayload::Blank => Ok(Vec::new()),
            EntryPayload::Normal(ProposalBatch(proposals)) => {
                // Only the registry transitions hold the lock; encoding and audit drafts follow.
                let outcomes: Vec<_> = {
                    let mut state = self.write_state();
                    proposals.iter().map(|proposal| state.registry.apply(index, proposal)).collect()
                };
                let mut responses = Vec::with_capacity(proposals.len());
                for (proposal, (response, changes)) in proposals.into_iter().zip(outcomes) {
                    for change in &changes {
                        let (key, value) =
                            records::encode(change).map_err(|e| StorageIOError::write_state_machine(&e))?;
                        batch.insert(key, value);
                    }
                    drafts.push(EntryDraft {
                        time_ms: now_ms(),
                        kind: proposal.command.kind().to_owned(),
                        actor: proposal.by,
                        payload: serde_json::json!({ "command": proposal.command, "result": response }),
                        raft_index: Some(index),
                    });
                    responses.push(response);
                }
                Ok(responses)
            }
            EntryPayload::Membership(membership) => {
                drafts.push(EntryDraft {
                    time_ms: now_ms(),
                    kind: "raft.membership".to_owned(),
                    actor: "raft".to_owned(),
                    payload: serde_json::json!({ "membership": membership }),
                    raft_index: Some(index),
                });
                let stored = StoredMembership::new(Some(log_id), membership);
                batch.insert(MEMBERSHIP_KEY, json(&stored)?);
                self.write_state().membership = stored;
                Ok(Vec::new())
            }
        }
    }

    fn replace_state(&mut self, state: AppliedState) -> Result<(), StorageError> {
        let mut batch = sled::Batch::default();
        for key in self.tree.iter().keys() {
            batch.remove(key.map_err(|e| StorageIOError::write_state_machine(&e))?);
        }
        for record in state.registry.all_records() {
            let (key, value) = records::encode(&record).map_err(|e| StorageIOError::write_state_machine(&e))?;
            batch.insert(key, value);
        }
        batch.insert(LAST_APPLIED_KEY, json(&state.last_applied)?);
        batch.insert(MEMBERSHIP_KEY, json(&state.membership)?);
        self.tree.apply_batch(batch).map_err(|e| StorageIOError::write_state_machine(&e))?;
        *self.write_state() = state;
        Ok(())
    }
}

fn save_snapshot(
    snapshots: &sled::Tree,
    meta: &SnapshotMeta<NodeId, MemberNode>,
    data: &[u8],
) -> Result<(), StorageError> {
    let mut batch = sled::Batch::default();
    batch.insert(SNAPSHOT_META_KEY, serde_json::to_vec(meta).map_err(write_snapshot_err)?);
    batch.insert(SNAPSHOT_DATA_KEY, data);
    snapshots.apply_batch(batch).map_err(write_snapshot_err)?;
    Ok(())
}

impl RaftSnapshotBuilder<TypeConfig> for RegistrySnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let state = {
            let _between_batches = self.applying.lock().unwrap_or_else(PoisonError::into_inner);
            self.state.read().unwrap_or_else(PoisonError::into_inner).clone()
        };
        let meta = SnapshotMeta {
            last_log_id: state.last_applied,
            last_membership: state.membership.clone(),
            snapshot_id: format!("{}-{}", state.last_applied.map(|l| l.index).unwrap_or(0), now_ms()),
        };
        let data = serde_json::to_vec(&SnapshotBody { version: SNAPSHOT_VERSION, state })
            .map_err(|e| StorageIOError::write_snapshot(None, &e))?;
        save_snapshot(&self.snapshots, &meta, &data)?;
        // Openraft may purge the log up to the snapshot once this returns.
        self.snapshots.flush_async().await.map_err(write_snapshot_err)?;
        Ok(Snapshot { meta, snapshot: Box::new(Cursor::new(data)) })
    }
}

impl RaftStateMachine<TypeConfig> for RegistryStateMachine {
    type SnapshotBuilder = RegistrySnapshotBuilder;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId<NodeId>>, StoredMembership<NodeId, MemberNode>), StorageError> {
        let state = self.reader();
        let state = state.read();
        Ok((state.last_applied, state.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Vec<RegistryResponse>>, StorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let applying = self.applying.clone();
        let _applying = applying.lock().unwrap_or_else(PoisonError::into_inner);
        self.apply_batch(entries)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        RegistrySnapshotBuilder {
            state: self.state.clone(),
            applying: self.applying.clone(),
            snapshots: self.snapshots.clone(),
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, MemberNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let data = snapshot.into_inner();
        let body: SnapshotBody = serde_json::from_slice(&data).map_err(read_snapshot_err)?;
        if body.version != SNAPSHOT_VERSION {
            let message = format!("snapshot version {} is not {SNAPSHOT_VERSION}", body.version);
            return Err(read_snapshot_err(std::io::Error::other(message)));
        }
        if let Some(log_id) = meta.last_log_id {
            self.audit(vec![EntryDraft {
                time_ms: now_ms(),
                kind: "raft.snapshot_installed".to_owned(),
                actor: "raft".to_owned(),
                payload: serde_json::json!({
                    "snapshot_id": meta.snapshot_id,
                    "tenants": body.state.registry.tenants.len(),
                    "members": body.state.registry.members.len(),
                }),
                raft_index: Some(log_id.index),
            }])?;
        }
        self.replace_state(body.state)?;
        save_snapshot(&self.snapshots, meta, &data)?;
        self.db.flush_async().await.map_err(|e| StorageIOError::write_state_machine(&e))?;
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        let meta = self.snapshots.get(SNAPSHOT_META_KEY).map_err(read_snapshot_err)?;
        let data = self.snapshots.get(SNAPSHOT_DATA_KEY).map_err(read_snapshot_err)?;
        let (Some(meta), Some(data)) = (meta, data) else { return Ok(None) };
        let meta = serde_json::from_slice(&meta).map_err(read_snapshot_err)?;
        Ok(Some(Snapshot { meta, snapshot: Box::new(Cursor::new(data.to_vec())) }))
    }
}
