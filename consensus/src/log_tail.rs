//! The decoded tail of the Raft log, kept in memory beside sled.
//!
//! The leader reads each entry back soon after appending it: once per follower to replicate
//! it, once to apply it. Reading it from sled costs a page lookup and a JSON decode each time;
//! [`LogTail`] answers those reads with clones of the entries it was handed at append.
//!
//! It always holds a suffix of the log: contiguous entries ending at the last one appended.
//! Appends extend it (an append that does not follow its last entry starts it afresh), a
//! truncation cuts it back like the log, a purge drops its front, and beyond
//! [`MAX_TAIL_BYTES`] of encoded entries or [`MAX_TAIL_ENTRIES`] entries its oldest are
//! dropped. A read it cannot answer whole is left to sled.

use std::collections::VecDeque;
use std::ops::{Bound, RangeBounds};

use crate::types::Entry;

/// Most encoded bytes the tail holds: a few hundred full batches, enough for followers a few
/// hundred milliseconds behind under full load.
pub const MAX_TAIL_BYTES: usize = 16 * 1024 * 1024;
/// Most entries the tail holds.
pub const MAX_TAIL_ENTRIES: usize = 4096;

/// A suffix of the log, decoded, with each entry's encoded size.
#[derive(Default)]
pub struct LogTail {
    entries: VecDeque<(Entry, usize)>,
    bytes: usize,
}

impl LogTail {
    /// Adds an appended entry, whose encoding is `encoded_len` bytes long.
    pub fn push(&mut self, entry: Entry, encoded_len: usize) {
        if self.last_index().is_some_and(|last| entry.log_id.index != last + 1) {
            self.entries.clear();
            self.bytes = 0;
        }
        self.bytes += encoded_len;
        self.entries.push_back((entry, encoded_len));
        while self.bytes > MAX_TAIL_BYTES || self.entries.len() > MAX_TAIL_ENTRIES {
            self.pop_front();
        }
    }

    /// Drops the entries at and after `index` (the log was truncated there).
    pub fn truncate(&mut self, index: u64) {
        while self.last_index().is_some_and(|last| last >= index) {
            if let Some((_, len)) = self.entries.pop_back() {
                self.bytes -= len;
            }
        }
    }

    /// Drops the entries up to and including `index` (the log was purged up to there).
    pub fn purge(&mut self, index: u64) {
        while self.entries.front().is_some_and(|(entry, _)| entry.log_id.index <= index) {
            self.pop_front();
        }
    }

    /// Clones of the entries in `range`, if the tail holds all of them; `None` if part of the
    /// range lies before the tail (sled has it), or the tail is empty.
    pub fn get<R: RangeBounds<u64>>(&self, range: &R) -> Option<Vec<Entry>> {
        let first = self.entries.front()?.0.log_id.index;
        let start = match range.start_bound() {
            Bound::Included(&i) => i,
            Bound::Excluded(&i) => i.checked_add(1)?,
            Bound::Unbounded => return None,
        };
        if start < first {
            return None;
        }
        let skip = usize::try_from(start - first).ok()?;
        let entries = self.entries.iter().skip(skip).map(|(entry, _)| entry);
        Some(entries.take_while(|entry| range.contains(&entry.log_id.index)).cloned().collect())
    }

    fn last_index(&self) -> Option<u64> {
        self.entries.back().map(|(entry, _)| entry.log_id.index)
    }

    fn pop_front(&mut self) {
        if let Some((_, len)) = self.entries.pop_front() {
            self.bytes -= len;
        }
    }
}

#[cfg(test)]
mod tests {
    use openraft::{CommittedLeaderId, EntryPayload, LogId};

    use super::*;

    fn entry(index: u64) -> Entry {
        Entry { log_id: LogId::new(CommittedLeaderId::new(1, 1), index), payload: EntryPayload::Blank }
    }

    fn indexes(entries: Option<Vec<Entry>>) -> Option<Vec<u64>> {
        entries.map(|entries| entries.iter().map(|e| e.log_id.index).collect())
    }

    fn tail_of(range: std::ops::RangeInclusive<u64>) -> LogTail {
        let mut tail = LogTail::default();
        for index in range {
            tail.push(entry(index), 10);
        }
        tail
    }

    #[test]
    fn answers_reads_it_holds_whole_and_leaves_the_rest_to_sled() {
        let tail = tail_of(5..=9);
        assert_eq!(indexes(tail.get(&(5..10))), Some(vec![5, 6, 7, 8, 9]));
        assert_eq!(indexes(tail.get(&(7..=8))), Some(vec![7, 8]));
        assert_eq!(indexes(tail.get(&(8..))), Some(vec![8, 9]));
        assert_eq!(indexes(tail.get(&(12..20))), Some(vec![]), "past the last entry there is nothing");
        assert_eq!(indexes(tail.get(&(4..7))), None, "index 4 is before the tail");
        assert_eq!(indexes(tail.get(&(..7))), None);
        assert_eq!(indexes(LogTail::default().get(&(1..2))), None);
    }

    #[test]
    fn truncation_and_purge_cut_it_like_the_log() {
        let mut tail = tail_of(1..=10);
        tail.truncate(8);
        assert_eq!(indexes(tail.get(&(1..))), Some((1..=7).collect()));
        tail.push(entry(8), 10);
        assert_eq!(indexes(tail.get(&(6..))), Some(vec![6, 7, 8]));
        tail.purge(3);
        assert_eq!(indexes(tail.get(&(3..))), None);
        assert_eq!(indexes(tail.get(&(4..))), Some((4..=8).collect()));
        assert_eq!(tail.bytes, 50);
    }

    #[test]
    fn an_append_that_does_not_follow_starts_it_afresh() {
        let mut tail = tail_of(1..=3);
        tail.push(entry(10), 10);
        assert_eq!(indexes(tail.get(&(1..))), None);
        assert_eq!(indexes(tail.get(&(10..))), Some(vec![10]));
        assert_eq!(tail.bytes, 10);
    }

    #[test]
    fn the_oldest_entries_go_beyond_the_limits() {
        let mut tail = LogTail::default();
        for index in 1..=3 {
            tail.push(entry(index), MAX_TAIL_BYTES / 2);
        }
        assert_eq!(indexes(tail.get(&(2..))), Some(vec![2, 3]));
        assert_eq!(indexes(tail.get(&(1..))), None);
        let tail = tail_of(1..=(MAX_TAIL_ENTRIES as u64 + 5));
        assert_eq!(tail.entries.len(), MAX_TAIL_ENTRIES);
        assert_eq!(indexes(tail.get(&(5..6))), None);
        assert_eq!(indexes(tail.get(&(6..7))), Some(vec![6]));
    }
}
