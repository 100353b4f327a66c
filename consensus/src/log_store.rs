//! The Raft log and vote, stored in sled.
//!
//! Two trees of the node's sled database: `raft_log` maps the big-endian log index to the
//! JSON-encoded entry; `raft_meta` holds the vote, the committed log id and the last purged
//! log id. Every write that Raft must find after a crash (appended entries, the vote) is
//! flushed (fsync) before it is reported done, so an acknowledged entry is on disk. `truncate`
//! and `purge` are not flushed: losing one only brings back entries that Raft already knows
//! how to overwrite or purge again.
//!
//! Appends are group-flushed. [`RaftLogStorage::append`] writes the entries to sled (readable
//! at once, as openraft requires) and hands openraft's completion callback to the store's
//! flusher thread through a bounded queue, then returns. The flusher takes every callback
//! queued, flushes once, and completes them in order, so a burst of appends (many clients
//! writing at once on the leader, pipelined replication on a follower) costs one fsync rather
//! than one each. A callback is completed only after a flush that began after its entries
//! were written, so no append is reported durable before it is. When the queue is full,
//! `append` waits for room.
//!
//! Reads of the log's tail (replication to each follower, apply) are answered from the decoded
//! entries kept in memory ([`LogTail`]) when it holds the whole range; the tail is changed
//! under its lock together with sled, so a read sees both as of one append, truncation or
//! purge.

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::sync::{Arc, Mutex, MutexGuard};

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{LogId, RaftLogReader, StorageIOError, Vote};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::mpsc;

use crate::log_tail::LogTail;
use crate::types::{Entry, StorageError, TypeConfig};
use crate::NodeId;

const VOTE_KEY: &[u8] = b"vote";
const COMMITTED_KEY: &[u8] = b"committed";
const PURGED_KEY: &[u8] = b"last_purged";
/// Appends waiting for the flusher: far more than openraft has in flight at once, so `append`
/// waits only if the disk stalls.
const PENDING_FLUSHES: usize = 4096;

/// Raft log storage over two sled trees. Cheap to clone: clones share the trees and the
/// flusher, which stops when the last clone is dropped.
#[derive(Clone)]
pub struct SledLogStore {
    db: sled::Db,
    log: sled::Tree,
    meta: sled::Tree,
    flushes: mpsc::Sender<LogFlushed<TypeConfig>>,
    tail: Arc<Mutex<LogTail>>,
}

impl SledLogStore {
    /// Opens (or creates) the log trees in `db` and starts the flusher thread.
    pub fn open(db: &sled::Db) -> Result<Self, sled::Error> {
        let (flushes, pending) = mpsc::channel(PENDING_FLUSHES);
        let flusher_db = db.clone();
        std::thread::Builder::new()
            .name("raft-log-flush".into())
            .spawn(move || run_flusher(&flusher_db, pending))
            .map_err(sled::Error::Io)?;
        let (log, meta) = (db.open_tree("raft_log")?, db.open_tree("raft_meta")?);
        Ok(Self { db: db.clone(), log, meta, flushes, tail: Arc::default() })
    }

    fn tail(&self) -> MutexGuard<'_, LogTail> {
        self.tail.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn read_meta<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, StorageError> {
        let bytes = self.meta.get(key).map_err(|e| StorageIOError::read(&e))?;
        bytes.map(|b| serde_json::from_slice(&b)).transpose().map_err(|e| StorageIOError::read(&e).into())
    }

    fn write_meta<T: Serialize>(&self, key: &[u8], value: &T) -> Result<(), StorageError> {
        let bytes = serde_json::to_vec(value).map_err(|e| StorageIOError::write(&e))?;
        self.meta.insert(key, bytes).map_err(|e| StorageIOError::write(&e))?;
        Ok(())
    }

    async fn flush(&self) -> Result<(), StorageError> {
        self.db.flush_async().await.map_err(|e| StorageIOError::write(&e))?;
        Ok(())
    }

    fn last_entry(&self) -> Result<Option<Entry>, StorageError> {
        let last = self.log.last().map_err(|e| StorageIOError::read_logs(&e))?;
        last.map(|(_, v)| decode_entry(&v)).transpose()
    }
}

/// The flusher: for every group of queued appends, one fsync, then their callbacks in order.
/// Ends when every sender (every clone of the store) is gone.
fn run_flusher(db: &sled::Db, mut pending: mpsc::Receiver<LogFlushed<TypeConfig>>) {
    let mut group = Vec::new();
    while let Some(first) = pending.blocking_recv() {
        group.push(first);
        while let Ok(next) = pending.try_recv() {
            group.push(next);
        }
        let flushed = db.flush().map(|_| ());
        for callback in group.drain(..) {
            let result = flushed.as_ref().map(|_| ()).map_err(|e| std::io::Error::other(e.to_string()));
            callback.log_io_completed(result);
        }
    }
}

fn index_key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

fn decode_entry(bytes: &[u8]) -> Result<Entry, StorageError> {
    serde_json::from_slice(bytes).map_err(|e| StorageIOError::read_logs(&e).into())
}

impl RaftLogReader<TypeConfig> for SledLogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        if let Some(entries) = self.tail().get(&range) {
            return Ok(entries);
        }
        let start = match range.start_bound() {
            Bound::Included(&i) => Bound::Included(index_key(i)),
            Bound::Excluded(&i) => Bound::Excluded(index_key(i)),
            Bound::Unbounded => Bound::Unbounded,
        };
        let end = match range.end_bound() {
            Bound::Included(&i) => Bound::Included(index_key(i)),
            Bound::Excluded(&i) => Bound::Excluded(index_key(i)),
            Bound::Unbounded => Bound::Unbounded,
        };
        self.log
            .range::<[u8; 8], _>((start, end))
            .map(|item| {
                let (_, value) = item.map_err(|e| StorageIOError::read_logs(&e))?;
                decode_entry(&value)
            })
            .collect()
    }
}

impl RaftLogStorage<TypeConfig> for SledLogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let last_purged_log_id: Option<LogId<NodeId>> = self.read_meta(PURGED_KEY)?;
        let last_log_id = self.last_entry()?.map(|e| e.log_id).or(last_purged_log_id);
        Ok(LogState { last_purged_log_id, last_log_id })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), StorageError> {
        self.write_meta(VOTE_KEY, vote)?;
        self.flush().await
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StorageError> {
        self.read_meta(VOTE_KEY)
    }

    async fn save_committed(&mut self, committed: Option<LogId<NodeId>>) -> Result<(), StorageError> {
        self.write_meta(COMMITTED_KEY, &committed)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<NodeId>>, StorageError> {
        Ok(self.read_meta::<Option<LogId<NodeId>>>(COMMITTED_KEY)?.flatten())
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let mut batch = sled::Batch::default();
        let mut appended = Vec::new();
        for entry in entries {
            let bytes = serde_json::to_vec(&entry).map_err(|e| StorageIOError::write_logs(&e))?;
            let encoded_len = bytes.len();
            batch.insert(&index_key(entry.log_id.index), bytes);
            appended.push((entry, encoded_len));
        }
        {
            let mut tail = self.tail();
            self.log.apply_batch(batch).map_err(|e| StorageIOError::write_logs(&e))?;
            for (entry, encoded_len) in appended {
                tail.push(entry, encoded_len);
            }
        }
        self.flushes.send(callback).await.map_err(|_| {
            let stopped = std::io::Error::other("the raft log flusher has stopped");
            StorageIOError::write_logs(&stopped)
        })?;
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> Result<(), StorageError> {
        let mut batch = sled::Batch::default();
        for key in self.log.range(index_key(log_id.index)..).keys() {
            batch.remove(key.map_err(|e| StorageIOError::write_logs(&e))?);
        }
        let mut tail = self.tail();
        self.log.apply_batch(batch).map_err(|e| StorageIOError::write_logs(&e))?;
        tail.truncate(log_id.index);
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> Result<(), StorageError> {
        self.write_meta(PURGED_KEY, &log_id)?;
        let mut batch = sled::Batch::default();
        for key in self.log.range(..=index_key(log_id.index)).keys() {
            batch.remove(key.map_err(|e| StorageIOError::write_logs(&e))?);
        }
        let mut tail = self.tail();
        self.log.apply_batch(batch).map_err(|e| StorageIOError::write_logs(&e))?;
        tail.purge(log_id.index);
        Ok(())
    }
}
