//! `/ossa/raft/1` on long-lived streams: Raft RPCs, forwarded writes, joins and read-index
//! requests travel without the swarm task on their path.
//!
//! ```text
//!  outbound: NetworkClient::request ── peer not admitted yet? Command::Connect, wait ──▶
//!            StreamPool: an idle stream to the peer, or a new one (libp2p-stream, straight to
//!            the connection) ──request frame──▶ … ◀──response frame── stream back to the pool
//!  inbound:  libp2p-stream ──▶ acceptor: held until its peer is admitted (at most the
//!            admission deadline), else dropped and counted ──Inbound::RaftStream──▶ router,
//!            which sends the go-ahead and serves the stream's requests in order
//! ```
//!
//! A stream carries one exchange at a time: a request frame, then its response frame (framing:
//! [`crate::wire`]). Concurrent calls to one peer use one stream each; after its answer a stream
//! goes back to its peer's pool (at most [`MAX_IDLE_STREAMS_PER_PEER`]) and carries the next call
//! with no new substream, protocol negotiation or swarm-task hop. A call that fails or times out
//! drops its stream, so a late answer is never read as the answer to another request. A peer's
//! pool is emptied when its last connection closes.
//!
//! A new stream begins with one go-ahead byte from the accepting side, sent once it has
//! admitted the opener and a task serves the stream. The opener writes its first request only
//! after it, so a stream dropped unserved (an unadmitted opener, a busy router, libp2p-stream's
//! full accept queue) has carried nothing, and the call safely tries a fresh one. Once the
//! writing of a request has begun, a failure is the caller's to judge, never retried here: the
//! request may have left and been served (a forwarded write applied). A pooled stream is rarely
//! dead when taken, since a peer's pool is emptied when its connection closes.
//!
//! Bounds (`stream_limits`): at most `MAX_CALLS_PER_PEER` calls to one peer are in flight
//! (more wait), and at most `MAX_SERVED_STREAMS_PER_PEER` streams of one peer are served (more
//! are dropped before their go-ahead). A served stream may sit idle between requests for as
//! long as its opener keeps it, but once a request's length prefix has arrived its body must
//! arrive, and the answer must be taken, within [`FRAME_DEADLINE`], else the stream is
//! dropped: a stalled or slow peer holds a serving task for that long at most.
//!
//! Admission is checked when a stream arrives and again before each request on it is served; a
//! peer that loses admission is also disconnected by the swarm loop, which ends its streams.
//! Pooled and served streams keep their connection open (libp2p's keep-alive counts open
//! streams). Only Raft members and the nodes joining them hold such streams, and heartbeats keep
//! those connections busy anyway.

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{AsyncReadExt, AsyncWriteExt, StreamExt};
use libp2p::{PeerId, Stream};
use tokio::sync::{mpsc, watch};

use super::stream_limits::{CallPermits, ServedSlot, ServedStreams};
use super::{Inbound, NetError};
use crate::admission::AdmittedPeer;
use crate::metrics::Metrics;
use crate::wire::{pb, read_frame, read_frame_body, read_frame_len, write_frame, MAX_RAFT_MESSAGE, RAFT_PROTOCOL};

/// The admitted, reachable peers, as the swarm loop last published them.
pub(crate) type AdmittedPeers = HashMap<PeerId, AdmittedPeer>;

/// Idle streams kept per peer. Raft keeps one or two calls in flight per peer; the rest serve
/// bursts of forwarded writes, and a burst beyond this opens streams that are closed after it.
pub const MAX_IDLE_STREAMS_PER_PEER: usize = 64;
/// Fresh streams tried per call when the accepting side drops them unserved.
const OPEN_ATTEMPTS: usize = 3;
/// The byte that tells an opener its stream is admitted and served.
const GO_AHEAD: u8 = 1;
/// How long an inbound stream may take to deliver a request's body once its length arrived,
/// and to take the go-ahead or an answer: 16 MiB (the largest frame) at about 0.5 MiB/s.
pub const FRAME_DEADLINE: Duration = Duration::from_secs(30);

/// Outbound streams to admitted peers, idle ones pooled per peer.
#[derive(Clone)]
pub(crate) struct StreamPool {
    control: libp2p_stream::Control,
    idle: Arc<Mutex<HashMap<PeerId, Vec<Stream>>>>,
    calls: CallPermits,
}

impl StreamPool {
    pub(super) fn new(control: libp2p_stream::Control) -> Self {
        Self { control, idle: Arc::default(), calls: CallPermits::default() }
    }

    /// Sends `request` to `peer`, which must be admitted, on a pooled or a new stream, and
    /// reads its response.
    pub(super) async fn exchange(&self, peer: PeerId, request: &pb::RaftRequest) -> Result<pb::RaftResponse, NetError> {
        let _in_flight = self.calls.acquire(peer).await;
        let mut stream = match self.take_idle(&peer) {
            Some(stream) => stream,
            None => self.open(peer).await?,
        };
        write_frame(&mut stream, request, MAX_RAFT_MESSAGE).await.map_err(|e| failed(peer, &e))?;
        let response = read_frame(&mut stream, MAX_RAFT_MESSAGE).await.map_err(|e| failed(peer, &e))?;
        self.put_idle(peer, stream);
        Ok(response)
    }

    /// Opens a stream to `peer` and waits for its go-ahead, trying [`OPEN_ATTEMPTS`] times.
    async fn open(&self, peer: PeerId) -> Result<Stream, NetError> {
        let mut last_error = String::new();
        for _ in 0..OPEN_ATTEMPTS {
            let mut stream = self
                .control
                .clone()
                .open_stream(peer, RAFT_PROTOCOL)
                .await
                .map_err(|e| NetError::Unreachable(peer, e.to_string()))?;
            let mut go_ahead = [0u8];
            match stream.read_exact(&mut go_ahead).await {
                Ok(()) if go_ahead[0] == GO_AHEAD => return Ok(stream),
                Ok(()) => return Err(NetError::Failed(peer, format!("bad go-ahead byte {}", go_ahead[0]))),
                Err(e) => last_error = e.to_string(),
            }
        }
        Err(NetError::Failed(peer, format!("no raft stream was served: {last_error}")))
    }

    fn take_idle(&self, peer: &PeerId) -> Option<Stream> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).get_mut(peer)?.pop()
    }

    fn put_idle(&self, peer: PeerId, stream: Stream) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let streams = idle.entry(peer).or_default();
        if streams.len() < MAX_IDLE_STREAMS_PER_PEER {
            streams.push(stream);
        }
    }

    /// Drops the idle streams to `peer` (its last connection closed).
    pub(super) fn forget(&self, peer: &PeerId) {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).remove(peer);
        self.calls.forget(peer);
    }
}

fn failed(peer: PeerId, error: &io::Error) -> NetError {
    NetError::Failed(peer, error.to_string())
}

/// An inbound `/ossa/raft/1` stream of an admitted peer, for the router to serve: first
/// [`Self::go_ahead`], then [`Self::next_request`] and [`Self::respond`] in turn.
pub struct InboundRaftStream {
    /// Who opened it.
    pub from: AdmittedPeer,
    stream: Stream,
    /// Its place in the count of its peer's served streams.
    _slot: ServedSlot,
}

impl InboundRaftStream {
    /// Tells the opener its stream is served.
    pub async fn go_ahead(&mut self) -> io::Result<()> {
        within_deadline(async {
            self.stream.write_all(&[GO_AHEAD]).await?;
            self.stream.flush().await
        })
        .await
    }

    /// The next request, waiting for as long as the opener keeps the stream idle; an error of
    /// kind `UnexpectedEof` when the opener closed the stream, `TimedOut` when a request's
    /// body took longer than [`FRAME_DEADLINE`].
    pub async fn next_request(&mut self) -> io::Result<pb::RaftRequest> {
        read_request(&mut self.stream).await
    }

    /// Answers the last request; `TimedOut` if the opener did not take it within
    /// [`FRAME_DEADLINE`].
    pub async fn respond(&mut self, response: &pb::RaftResponse) -> io::Result<()> {
        within_deadline(write_frame(&mut self.stream, response, MAX_RAFT_MESSAGE)).await
    }
}

/// Reads a request frame: its length prefix whenever it comes, its body within
/// [`FRAME_DEADLINE`].
async fn read_request<T: futures::AsyncRead + Unpin + Send>(io: &mut T) -> io::Result<pb::RaftRequest> {
    let len = read_frame_len(io, MAX_RAFT_MESSAGE).await?;
    within_deadline(read_frame_body(io, len)).await
}

/// `io`, failed with `TimedOut` if it takes longer than [`FRAME_DEADLINE`].
async fn within_deadline<T>(io: impl std::future::Future<Output = io::Result<T>>) -> io::Result<T> {
    tokio::time::timeout(FRAME_DEADLINE, io).await.unwrap_or_else(|_| {
        Err(io::Error::new(io::ErrorKind::TimedOut, format!("the peer took more than {FRAME_DEADLINE:?}")))
    })
}

/// What the acceptor needs besides the streams themselves.
pub(super) struct Acceptor {
    pub(super) admitted: watch::Receiver<AdmittedPeers>,
    pub(super) inbound: mpsc::Sender<Inbound>,
    pub(super) metrics: Arc<Metrics>,
    /// How long a stream may wait for its peer's admission.
    pub(super) admission_timeout: Duration,
    /// Streams being served, per peer.
    pub(super) served: ServedStreams,
}

impl Acceptor {
    /// Hands each inbound stream of an admitted peer to the router, until the swarm stops.
    pub(super) async fn run(self, mut incoming: libp2p_stream::IncomingStreams) {
        while let Some((peer, stream)) = incoming.next().await {
            let mut admitted = self.admitted.clone();
            let (inbound, metrics, wait) = (self.inbound.clone(), self.metrics.clone(), self.admission_timeout);
            let served = self.served.clone();
            tokio::spawn(async move {
                let Some(from) = wait_for_admission(&mut admitted, peer, wait).await else {
                    metrics.unadmitted_requests.inc();
                    tracing::debug!(%peer, "dropping a raft stream of an unadmitted peer");
                    return;
                };
                let Some(slot) = served.try_take(peer) else {
                    metrics.raft_streams_refused.inc();
                    tracing::warn!(%peer, "dropping a raft stream: the peer has the most streams served");
                    return;
                };
                let stream = InboundRaftStream { from, stream, _slot: slot };
                if inbound.try_send(Inbound::RaftStream(stream)).is_err() {
                    tracing::warn!(%peer, "router busy; dropping a raft stream before its go-ahead");
                }
            });
        }
    }
}

/// `peer` once it is admitted, or `None` if it is not within `wait`. A stream can arrive just
/// before the admission of its opener completes on this side.
async fn wait_for_admission(
    admitted: &mut watch::Receiver<AdmittedPeers>,
    peer: PeerId,
    wait: Duration,
) -> Option<AdmittedPeer> {
    let admitted = tokio::time::timeout(wait, admitted.wait_for(|peers| peers.contains_key(&peer))).await.ok()?.ok()?;
    admitted.get(&peer).cloned()
}

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use super::*;

    /// A peer that sends `bytes`, then nothing more, never closing the stream.
    struct Stalls {
        bytes: Vec<u8>,
    }

    impl futures::AsyncRead for Stalls {
        fn poll_read(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
            if self.bytes.is_empty() {
                return Poll::Pending;
            }
            let n = buf.len().min(self.bytes.len());
            buf[..n].copy_from_slice(&self.bytes[..n]);
            self.bytes.drain(..n);
            Poll::Ready(Ok(n))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_body_that_stalls_is_given_up_after_the_deadline() {
        let mut peer = Stalls { bytes: [&100u32.to_be_bytes()[..], &[0u8; 10]].concat() };
        let started = tokio::time::Instant::now();
        let error = read_request(&mut peer).await.expect_err("the body never completes");
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), FRAME_DEADLINE);
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_stream_waits_for_its_next_request_without_deadline() {
        let mut peer = Stalls { bytes: Vec::new() };
        let waited = tokio::time::timeout(FRAME_DEADLINE * 20, read_request(&mut peer)).await;
        assert!(waited.is_err(), "still waiting for a request after {:?}", FRAME_DEADLINE * 20);
    }

    fn admitted_peer(peer_id: PeerId) -> AdmittedPeer {
        AdmittedPeer { peer_id, org: "acme".into(), role: ossa_trust::Role::Steward }
    }

    #[tokio::test(start_paused = true)]
    async fn a_stream_waits_for_its_peers_admission() {
        let peer = PeerId::random();
        let (publish, mut admitted) = watch::channel(AdmittedPeers::new());
        let waiting =
            tokio::spawn(async move { wait_for_admission(&mut admitted, peer, Duration::from_secs(10)).await });
        tokio::time::sleep(Duration::from_secs(1)).await;
        publish.send_modify(|peers| drop(peers.insert(peer, admitted_peer(peer))));
        let from = waiting.await.expect("task").expect("admitted within the wait");
        assert_eq!(from.peer_id, peer);
        assert_eq!(from.org, "acme");
    }

    #[tokio::test(start_paused = true)]
    async fn a_stream_of_a_peer_never_admitted_is_refused() {
        let (peer, other) = (PeerId::random(), PeerId::random());
        let (publish, mut admitted) = watch::channel(AdmittedPeers::new());
        publish.send_modify(|peers| drop(peers.insert(other, admitted_peer(other))));
        assert!(wait_for_admission(&mut admitted, peer, Duration::from_secs(10)).await.is_none());
    }
}
