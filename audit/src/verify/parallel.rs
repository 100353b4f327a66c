//! The verifier's threads: the calling thread reads entry lines into batches, worker
//! threads check the batches, and the calling thread takes their outcomes back in input
//! order.
//!
//! A batch is up to [`BATCH_LINES`] lines or about [`BATCH_BYTES`] bytes, in one buffer.
//! A worker checks its lines in order ([`super::line`]), each against the leaf hash of the
//! line before it; the first line of a batch against the `prev_hash` it claims, which the
//! caller checks. When every line passes, the worker also hashes the batch's leaves into the
//! aligned perfect subtrees that cover them ([`crate::merkle::compact_range`]), so the caller
//! adds a handful of subtree roots to its tree instead of every leaf. At most
//! `2 * workers + 2` batches are out at a time, and their buffers are reused, so no more than
//! that many exist. A batch closes only after the line that takes it to [`BATCH_BYTES`], so
//! its buffer holds at most `BATCH_BYTES + MAX_LINE_LEN` bytes (2 MiB, newline included),
//! besides its line ends and its outcome's leaf hashes (80 KiB at most): memory is bounded by
//! about `(2 * workers + 2) * 2` MiB, 8 MiB with one worker and 68 MiB with [`MAX_WORKERS`].
//! An outcome that stops verification ends the reading: the workers finish the batch in hand
//! and exit.
//!
//! Reading stops at the end of the input, at a line that cannot be read (too long, not
//! terminated, an I/O error) or at a line past the header's entry count; how it stopped is
//! reported after the outcomes of every line before it, so the first problem in input order
//! is the one reported.

use std::collections::BTreeMap;
use std::io::{BufRead, Read};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Mutex, PoisonError};

use super::line::{check_entry, Prev, Scratch};
use super::{Problem, MAX_LINE_LEN};
use crate::merkle::{compact_range, perfect_root};
use crate::Hash;

/// Lines per batch at most.
const BATCH_LINES: usize = 2048;
/// A batch is closed once its lines reach this many bytes.
const BATCH_BYTES: usize = 1 << 20;
/// Worker threads at most, whatever the machine has.
const MAX_WORKERS: usize = 16;

/// Consecutive entry lines, newlines removed.
#[derive(Default)]
struct Batch {
    /// Position of the batch in the input, from 0.
    seq: u64,
    /// Index of the entry on the first line.
    first: u64,
    bytes: Vec<u8>,
    /// End of each line in `bytes`.
    ends: Vec<usize>,
}

impl Batch {
    fn lines(&self) -> impl Iterator<Item = &[u8]> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts.zip(&self.ends).map(|(start, end)| &self.bytes[start..*end])
    }
}

/// What a worker found in a batch.
pub(super) struct Outcome {
    batch: Batch,
    /// The `prev_hash` the first line claims, once it got past the index check.
    pub first_prev: Option<String>,
    /// Leaf hashes of the lines that passed, in order: all of them, or those before
    /// `failure`.
    pub leaves: Vec<Hash>,
    /// When every line passed: `(level, root)` of the perfect subtrees covering the batch,
    /// in order.
    pub subtrees: Vec<(u8, Hash)>,
    /// The first line that failed (its offset in the batch) and why.
    pub failure: Option<(usize, Problem)>,
}

impl Outcome {
    /// Index of the entry on the batch's first line.
    pub fn first(&self) -> u64 {
        self.batch.first
    }
}

/// How reading the entry lines ended.
pub(super) enum Ending {
    /// The input ended after this many entry lines.
    End(u64),
    /// Entry line `count` (0-based) could not be read or is past the header's count.
    Stopped(u64, Problem),
}

/// Reads the entry lines of `input` (the header already read), at most `expected` of them,
/// has worker threads check them, and hands each batch's outcome to `consume` in input
/// order. Stops at the first error `consume` returns.
pub(super) fn check_lines<R: BufRead, E>(
    input: R,
    expected: u64,
    consume: impl FnMut(&Outcome) -> Result<(), E>,
) -> Result<Ending, E> {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, MAX_WORKERS);
    // Batches out at once (being read, queued, checked or waiting to be taken in order):
    // enough to keep every worker busy while the caller waits on a slow one. It is also the
    // number of batch buffers, each of at most `BATCH_BYTES + MAX_LINE_LEN` bytes (see the
    // module docs for the bound on memory).
    let window = 2 * workers + 2;
    let (work_tx, work_rx) = sync_channel::<Batch>(window);
    let work_rx = Mutex::new(work_rx);
    let (done_tx, done_rx) = sync_channel::<Outcome>(window);
    std::thread::scope(|s| {
        for _ in 0..workers {
            let (work_rx, done_tx) = (&work_rx, done_tx.clone());
            s.spawn(move || work(work_rx, done_tx));
        }
        drop(done_tx);
        let reader = Reader { input, count: 0, expected, ending: None };
        dispatch(reader, window, work_tx, done_rx, consume)
    })
}

/// The calling thread's loop: keeps up to `window` batches out, and consumes outcomes in
/// order. Returning drops both channel ends, which stops the workers.
fn dispatch<R: BufRead, E>(
    mut reader: Reader<R>,
    window: usize,
    work_tx: SyncSender<Batch>,
    done_rx: Receiver<Outcome>,
    mut consume: impl FnMut(&Outcome) -> Result<(), E>,
) -> Result<Ending, E> {
    let mut sent = 0u64;
    let mut next = 0u64;
    let mut arrived = BTreeMap::new();
    let mut spare: Vec<Batch> = Vec::new();
    loop {
        while sent - next < window as u64 && reader.ending.is_none() {
            let mut batch = spare.pop().unwrap_or_default();
            reader.fill(&mut batch, sent);
            if batch.ends.is_empty() {
                break;
            }
            if work_tx.send(batch).is_err() {
                break;
            }
            sent += 1;
        }
        if next == sent {
            break;
        }
        let Ok(outcome) = done_rx.recv() else {
            break;
        };
        arrived.insert(outcome.batch.seq, outcome);
        while let Some(outcome) = arrived.remove(&next) {
            consume(&outcome)?;
            next += 1;
            spare.push(outcome.batch);
        }
    }
    Ok(reader.ending.unwrap_or(Ending::End(reader.count)))
}

/// A worker thread: checks batches until the work or the outcome channel closes.
fn work(work_rx: &Mutex<Receiver<Batch>>, done_tx: SyncSender<Outcome>) {
    let mut scratch = Scratch::default();
    loop {
        let received = work_rx.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok(batch) = received else {
            return;
        };
        if done_tx.send(check_batch(batch, &mut scratch)).is_err() {
            return;
        }
    }
}

/// Checks a batch's lines in order, stopping at the first that fails.
fn check_batch(batch: Batch, scratch: &mut Scratch) -> Outcome {
    let mut first_prev = None;
    let mut leaves: Vec<Hash> = Vec::with_capacity(batch.ends.len());
    let mut failure = None;
    for (offset, line) in batch.lines().enumerate() {
        let index = batch.first + offset as u64;
        let prev = match leaves.last() {
            Some(leaf) => Prev::Known(leaf),
            None => Prev::Claimed(&mut first_prev),
        };
        match check_entry(line, index, prev, scratch) {
            Ok(leaf) => leaves.push(leaf),
            Err(problem) => {
                failure = Some((offset, problem));
                break;
            }
        }
    }
    let mut subtrees = Vec::new();
    if failure.is_none() {
        let end = batch.first + leaves.len() as u64;
        for (level, start) in compact_range(batch.first, end) {
            let from = (start - batch.first) as usize;
            if let Some(root) = perfect_root(&leaves[from..from + (1 << level)]) {
                subtrees.push((level, root));
            }
        }
    }
    Outcome { batch, first_prev, leaves, subtrees, failure }
}

/// Reads entry lines into batches.
struct Reader<R> {
    input: R,
    /// Entry lines read so far.
    count: u64,
    /// The header's entry count: a line past it ends reading.
    expected: u64,
    ending: Option<Ending>,
}

impl<R: BufRead> Reader<R> {
    /// Refills `batch` (batch number `seq`) with the next lines, until it is full or reading
    /// ends.
    fn fill(&mut self, batch: &mut Batch, seq: u64) {
        batch.seq = seq;
        batch.first = self.count;
        batch.bytes.clear();
        batch.ends.clear();
        while self.ending.is_none() && batch.ends.len() < BATCH_LINES && batch.bytes.len() < BATCH_BYTES {
            match read_line(&mut self.input, &mut batch.bytes) {
                Ok(false) => self.ending = Some(Ending::End(self.count)),
                Ok(true) if self.count >= self.expected => {
                    self.ending = Some(Ending::Stopped(self.count, Problem::ExtraEntry(self.expected)));
                }
                Ok(true) => {
                    batch.ends.push(batch.bytes.len());
                    self.count += 1;
                }
                Err(problem) => self.ending = Some(Ending::Stopped(self.count, problem)),
            }
            if self.ending.is_some() {
                batch.bytes.truncate(batch.ends.last().copied().unwrap_or(0));
            }
        }
    }
}

/// Reads one `\n`-terminated line onto the end of `buf` (without the `\n`); `false` at end of
/// input.
pub(super) fn read_line<R: BufRead>(input: &mut R, buf: &mut Vec<u8>) -> Result<bool, Problem> {
    let start = buf.len();
    let mut limited = input.by_ref().take(MAX_LINE_LEN as u64 + 1);
    let n = limited.read_until(b'\n', buf).map_err(|e| Problem::Io(e.to_string()))?;
    if n == 0 {
        return Ok(false);
    }
    match buf.pop() {
        Some(b'\n') => Ok(true),
        _ if buf.len() - start >= MAX_LINE_LEN => Err(Problem::LineTooLong),
        _ => Err(Problem::MissingNewline),
    }
}
