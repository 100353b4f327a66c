//! Per-peer bounds on `/ossa/raft/1` streams, so that one peer cannot hold an unbounded number
//! of streams (and the tasks serving them) on either side.
//!
//! - Outbound, [`CallPermits`]: at most [`MAX_CALLS_PER_PEER`] calls to one peer are in flight;
//!   a call beyond that waits for a permit (within its own timeout). Raft keeps one or two calls
//!   per peer in flight; bursts of forwarded writes are what can reach the bound.
//! - Inbound, [`ServedStreams`]: at most [`MAX_SERVED_STREAMS_PER_PEER`] streams of one peer are
//!   served at once; a stream beyond that is dropped before its go-ahead, so it carried nothing
//!   and its opener may try again. The bound is twice the outbound one: a stream whose call the
//!   opener gave up (a timeout drops it) is served until its end reaches this side.
//!
//! A peer's count is dropped when it reaches zero (inbound) or when its last connection closes
//! (outbound), so neither map outgrows the peers this node talks to.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use libp2p::PeerId;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Most calls in flight to one peer.
pub const MAX_CALLS_PER_PEER: usize = 128;
/// Most streams of one peer served at once.
pub const MAX_SERVED_STREAMS_PER_PEER: usize = 2 * MAX_CALLS_PER_PEER;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Outbound: a semaphore of [`MAX_CALLS_PER_PEER`] permits per peer.
#[derive(Clone, Default)]
pub(crate) struct CallPermits(Arc<Mutex<HashMap<PeerId, Arc<Semaphore>>>>);

impl CallPermits {
    /// Waits for a permit to call `peer`; the call holds it until it ends.
    pub(crate) async fn acquire(&self, peer: PeerId) -> OwnedSemaphorePermit {
        let semaphore =
            lock(&self.0).entry(peer).or_insert_with(|| Arc::new(Semaphore::new(MAX_CALLS_PER_PEER))).clone();
        semaphore.acquire_owned().await.expect("a call semaphore is never closed")
    }

    /// Forgets `peer` (its last connection closed); calls still holding permits end with it.
    pub(crate) fn forget(&self, peer: &PeerId) {
        lock(&self.0).remove(peer);
    }
}

/// Inbound: how many streams of each peer are being served.
#[derive(Clone, Default)]
pub(crate) struct ServedStreams(Arc<Mutex<HashMap<PeerId, usize>>>);

impl ServedStreams {
    /// A slot for one more stream of `peer`, or `None` if it has [`MAX_SERVED_STREAMS_PER_PEER`].
    pub(crate) fn try_take(&self, peer: PeerId) -> Option<ServedSlot> {
        let mut served = lock(&self.0);
        let count = served.entry(peer).or_default();
        if *count >= MAX_SERVED_STREAMS_PER_PEER {
            return None;
        }
        *count += 1;
        Some(ServedSlot { peer, streams: self.clone() })
    }

    /// Streams of `peer` being served.
    #[cfg(test)]
    fn count(&self, peer: &PeerId) -> usize {
        lock(&self.0).get(peer).copied().unwrap_or(0)
    }
}

/// One served stream's place in its peer's count, given back when dropped.
pub(crate) struct ServedSlot {
    peer: PeerId,
    streams: ServedStreams,
}

impl Drop for ServedSlot {
    fn drop(&mut self) {
        let mut served = lock(&self.streams.0);
        if let Some(count) = served.get_mut(&self.peer) {
            *count -= 1;
            if *count == 0 {
                served.remove(&self.peer);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_peer_is_served_up_to_the_limit_and_again_once_a_stream_ends() {
        let (served, peer, other) = (ServedStreams::default(), PeerId::random(), PeerId::random());
        let mut slots: Vec<_> = (0..MAX_SERVED_STREAMS_PER_PEER).map(|_| served.try_take(peer)).collect();
        assert!(slots.iter().all(Option::is_some), "every stream up to the limit is served");
        assert!(served.try_take(peer).is_none(), "one more is refused");
        let other_slot = served.try_take(other);
        assert!(other_slot.is_some(), "another peer's streams are counted apart");
        slots.pop();
        assert!(served.try_take(peer).is_some(), "a stream that ended frees its slot");
        drop(slots);
        drop(other_slot);
        assert_eq!(served.count(&peer), 0);
        assert!(served.0.lock().expect("lock").is_empty(), "peers with no streams are forgotten");
    }

    #[tokio::test(start_paused = true)]
    async fn calls_beyond_the_limit_wait_for_one_to_end() {
        let (permits, peer) = (CallPermits::default(), PeerId::random());
        let mut held = Vec::new();
        for _ in 0..MAX_CALLS_PER_PEER {
            held.push(permits.acquire(peer).await);
        }
        let waited = tokio::time::timeout(Duration::from_secs(60), permits.acquire(peer)).await;
        assert!(waited.is_err(), "the call past the limit waits");
        let _other = permits.acquire(PeerId::random()).await;
        held.pop();
        let freed = tokio::time::timeout(Duration::from_secs(60), permits.acquire(peer)).await;
        assert!(freed.is_ok(), "the next call gets the freed permit");
    }
}
