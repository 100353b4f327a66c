//! Group commit: appends made from several threads at once share one store write.
//!
//! A thread that appends queues its prepared draft with a [`Slot`] for the answer. If no
//! thread is committing, it becomes the leader: it takes everything queued (its own draft
//! first, then whatever arrived meanwhile), appends it as one batch (one atomic store
//! write, under the head's lock) and answers every slot; then, while drafts arrived during
//! that write, it writes those too, up to [`MAX_ROUNDS`] writes, and finally hands the lead
//! to the thread of the first draft still queued, if any. A thread that is not the leader
//! sleeps on its slot until it is answered or handed the lead. So while a write is under
//! way the next batch gathers, and under load each write carries many entries; alone, a
//! thread commits its own draft at once.
//!
//! The entries, the chain and the tree are exactly those of the same appends made one at a
//! time in queue order, and each append returns only after the write that holds its entry.
//! A failed write fails every append in its batch (the leader's with the store's error, the
//! others with a [`GroupFailed`] naming it) and appends none of them.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use super::Prepared;
use crate::{AuditEntry, AuditError};

/// Writes a leader makes before handing the lead on: enough to spare the wait for another
/// thread to wake while appends keep coming, few enough that the leader's own append is not
/// held up for long.
const MAX_ROUNDS: usize = 16;

/// The queue of drafts waiting for a write, shared by the appending threads.
#[derive(Debug, Default)]
pub(super) struct GroupCommit {
    queue: Mutex<Queue>,
}

#[derive(Debug, Default)]
struct Queue {
    /// Drafts waiting for the next write, in arrival order, each with its answer slot.
    waiting: Vec<(Prepared, Arc<Slot>)>,
    /// Whether a thread holds the lead (is writing, or has been handed the lead).
    leading: bool,
}

/// Where a waiting append learns its outcome.
#[derive(Debug, Default)]
struct Slot {
    state: Mutex<SlotState>,
    changed: Condvar,
}

#[derive(Debug, Default)]
enum SlotState {
    #[default]
    Waiting,
    /// This append's thread is to lead the next write.
    Lead,
    Done(Result<AuditEntry, AuditError>),
}

/// The error of an append whose batch failed to be written by another thread.
#[derive(Debug, thiserror::Error)]
#[error("the group commit holding this entry failed: {0}")]
struct GroupFailed(String);

impl GroupCommit {
    /// Appends `draft` with the next group write, which `write` performs: it gets the queued
    /// drafts in order and returns their entries in the same order, or fails for all.
    pub fn append(
        &self,
        draft: Prepared,
        write: impl Fn(Vec<Prepared>) -> Result<Vec<AuditEntry>, AuditError>,
    ) -> Result<AuditEntry, AuditError> {
        let slot = Arc::new(Slot::default());
        let lead = {
            let mut queue = self.lock();
            queue.waiting.push((draft, slot.clone()));
            !std::mem::replace(&mut queue.leading, true)
        };
        if !lead {
            if let Some(outcome) = slot.wait() {
                return outcome;
            }
        }
        let lead = Lead(self);
        for _ in 0..MAX_ROUNDS {
            let (drafts, slots): (Vec<Prepared>, Vec<Arc<Slot>>) =
                std::mem::take(&mut self.lock().waiting).into_iter().unzip();
            if drafts.is_empty() {
                break;
            }
            let round = Round(slots);
            match write(drafts) {
                Ok(entries) => {
                    for (slot, entry) in round.0.iter().zip(entries) {
                        slot.answer(Ok(entry));
                    }
                }
                Err(err) => {
                    let shared = err.to_string();
                    let mut original = Some(err);
                    for other in &round.0 {
                        let own = if Arc::ptr_eq(other, &slot) { original.take() } else { None };
                        other.answer(Err(own.unwrap_or_else(|| AuditError::storage(GroupFailed(shared.clone())))));
                    }
                }
            }
        }
        drop(lead);
        slot.wait().unwrap_or_else(|| Err(AuditError::storage(GroupFailed("handed the lead twice".into()))))
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        // The queue is changed by pushes, takes and flag flips, never left half-changed.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A thread's lead: on drop hands it to the first queued draft's thread, if any.
struct Lead<'a>(&'a GroupCommit);

impl Drop for Lead<'_> {
    fn drop(&mut self) {
        let mut queue = self.0.lock();
        match queue.waiting.first() {
            Some((_, next)) => next.set(SlotState::Lead),
            None => queue.leading = false,
        }
    }
}

/// The slots of one write: on drop answers those still waiting (the write panicked).
struct Round(Vec<Arc<Slot>>);

impl Drop for Round {
    fn drop(&mut self) {
        for slot in &self.0 {
            slot.answer_if_waiting(|| {
                Err(AuditError::storage(GroupFailed("the write ended without an answer".into())))
            });
        }
    }
}

impl Slot {
    /// Sleeps until answered (`Some`) or handed the lead (`None`).
    fn wait(&self) -> Option<Result<AuditEntry, AuditError>> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            match std::mem::take(&mut *state) {
                SlotState::Waiting => {
                    state = self.changed.wait(state).unwrap_or_else(PoisonError::into_inner);
                }
                SlotState::Lead => return None,
                SlotState::Done(outcome) => return Some(outcome),
            }
        }
    }

    fn answer(&self, outcome: Result<AuditEntry, AuditError>) {
        self.set(SlotState::Done(outcome));
    }

    fn answer_if_waiting(&self, outcome: impl FnOnce() -> Result<AuditEntry, AuditError>) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if matches!(*state, SlotState::Waiting) {
            *state = SlotState::Done(outcome());
            self.changed.notify_one();
        }
    }

    fn set(&self, new: SlotState) {
        *self.state.lock().unwrap_or_else(PoisonError::into_inner) = new;
        self.changed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc::sync_channel;
    use std::time::{Duration, Instant};

    use super::*;
    use crate::EntryDraft;

    fn draft(name: &str) -> Prepared {
        let draft = EntryDraft {
            time_ms: 0,
            kind: name.into(),
            actor: "a".into(),
            payload: serde_json::Value::Null,
            raft_index: None,
        };
        Prepared::new(draft).expect("within limits")
    }

    /// The entry a fake write makes of a draft: its kind tells whose it is.
    fn entry(index: u64, draft: &Prepared) -> AuditEntry {
        AuditEntry {
            index,
            time_ms: 0,
            kind: draft.draft.kind.clone(),
            actor: String::new(),
            payload: serde_json::Value::Null,
            raft_index: None,
            prev_hash: String::new(),
            leaf_hash: String::new(),
        }
    }

    /// Waits until `group` has `n` drafts queued.
    fn until_queued(group: &GroupCommit, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while group.lock().waiting.len() < n {
            assert!(Instant::now() < deadline, "drafts not queued in time");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn appends_queued_during_a_write_share_the_next_one() {
        let group = GroupCommit::default();
        let writes = Mutex::new(Vec::new());
        let (entered_tx, entered_rx) = sync_channel(1);
        let (release_tx, release_rx) = sync_channel(1);
        let release_rx = Mutex::new(release_rx);
        let write = |drafts: Vec<Prepared>| {
            let mut sizes = writes.lock().expect("lock");
            let first = sizes.is_empty();
            let start = sizes.iter().sum::<usize>() as u64;
            sizes.push(drafts.len());
            drop(sizes);
            if first {
                entered_tx.send(()).expect("test alive");
                release_rx.lock().expect("lock").recv().expect("released");
            }
            Ok(drafts.iter().enumerate().map(|(i, d)| entry(start + i as u64, d)).collect())
        };
        std::thread::scope(|s| {
            let first = s.spawn(|| group.append(draft("a"), write));
            entered_rx.recv().expect("first write under way");
            let others: Vec<_> =
                ["b", "c", "d"].into_iter().map(|name| (name, s.spawn(|| group.append(draft(name), write)))).collect();
            until_queued(&group, 3);
            release_tx.send(()).expect("writer waiting");
            let a = first.join().expect("thread").expect("appended");
            assert_eq!((a.index, a.kind.as_str()), (0, "a"));
            let mut indices = Vec::new();
            for (name, handle) in others {
                let e = handle.join().expect("thread").expect("appended");
                assert_eq!(e.kind, name, "each append gets its own entry");
                indices.push(e.index);
            }
            indices.sort_unstable();
            assert_eq!(indices, vec![1, 2, 3]);
        });
        assert_eq!(writes.into_inner().expect("lock"), vec![1, 3], "the three queued drafts went in one write");
        assert!(!group.lock().leading && group.lock().waiting.is_empty(), "the lead is given up");
    }

    #[test]
    fn a_failed_write_fails_every_append_in_it_and_the_next_write_goes_on() {
        let group = GroupCommit::default();
        let (entered_tx, entered_rx) = sync_channel(1);
        let (release_tx, release_rx) = sync_channel(1);
        let release_rx = Mutex::new(release_rx);
        let calls = Mutex::new(0);
        let write = |drafts: Vec<Prepared>| {
            let mut n = calls.lock().expect("lock");
            *n += 1;
            let call = *n;
            drop(n);
            match call {
                1 => {
                    entered_tx.send(()).expect("test alive");
                    release_rx.lock().expect("lock").recv().expect("released");
                    Ok(vec![entry(0, &drafts[0])])
                }
                2 => Err(AuditError::Corrupt("disk on fire".into())),
                _ => Ok(drafts.iter().map(|d| entry(1, d)).collect()),
            }
        };
        std::thread::scope(|s| {
            let first = s.spawn(|| group.append(draft("a"), write));
            entered_rx.recv().expect("first write under way");
            let b = s.spawn(|| group.append(draft("b"), write));
            let c = s.spawn(|| group.append(draft("c"), write));
            until_queued(&group, 2);
            release_tx.send(()).expect("writer waiting");
            assert!(first.join().expect("thread").is_ok());
            for handle in [b, c] {
                let err = handle.join().expect("thread").expect_err("its write failed");
                assert!(err.to_string().contains("disk on fire"), "{err}");
            }
        });
        let after = group.append(draft("d"), write).expect("the next write goes on");
        assert_eq!(after.kind, "d");
        let own = GroupCommit::default().append(draft("e"), |_| Err(AuditError::Corrupt("alone".into())));
        assert!(matches!(own, Err(AuditError::Corrupt(_))), "the leader gets the store's own error");
    }
}
