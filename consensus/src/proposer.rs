//! Batching of registry writes into Raft entries.
//!
//! openraft 0.9 appends every `client_write` as an entry of its own, and each entry costs the
//! leader a trip through its Raft core, a log append and its flush, a slot in replication and
//! an apply. The [`Proposer`] packs writes into one entry instead:
//!
//! 1. [`Proposer::propose`] measures the proposal (its JSON length; one over
//!    [`MAX_PROPOSAL_BYTES`] is refused) and queues it with a reply channel (bounded:
//!    [`QUEUE_CAPACITY`]; a full queue makes the caller wait).
//! 2. One task takes the queue. It waits for a proposal and takes every proposal queued behind
//!    it, up to [`MAX_BATCH_PROPOSALS`] and [`MAX_BATCH_BYTES`] (a single larger proposal goes
//!    alone). A command that opens a governance proposal also goes alone: its id is the Raft
//!    index of its entry. The task hands the batch to `client_write` as one [`ProposalBatch`].
//! 3. Once the entry is applied, each caller gets its own proposal's [`RegistryResponse`] and
//!    the entry's log index; if the write fails (this node is not the leader, Raft stopped),
//!    every caller gets the error. Then the task takes the next batch.
//!
//! This is group commit: one batch is being committed at a time, and the writes that arrive
//! meanwhile form the next (unless leadership is lost, below). A lone write is proposed at
//! once, with no timer, so a single client pays nothing for the batching; the more concurrent
//! writers, the larger the entries.
//! Measured with `ossa bench commit` (3 stewards, 256 clients, one 2-core machine), one batch
//! at a time beat 2, 4 and 8 (12.9k writes/s against 11.8k, 11.4k and 10.8k; at 64 clients
//! p99 14.7 ms against 16-21 ms): the machine's CPU is the limit, and smaller batches cost more
//! of it per write. Across a WAN a batch waits one round trip, so 512 proposals a batch still
//! allow ~10k writes/s at 50 ms.
//!
//! A batch that cannot commit soon (the node lost its leadership while the batch was in
//! flight) must not hold up the writes behind it: they could go to the new leader. So the task
//! stops waiting for a batch as soon as the Raft metrics show another leader or none, and
//! goes on with the next batch (which `client_write` then refuses at once, naming the leader
//! if one is known); the old batch is still answered, whenever openraft settles it.

use std::io;
use std::iter;

use openraft::error::{ClientWriteError, ForwardToLeader, RaftError};
use tokio::sync::{mpsc, oneshot};

use crate::registry::{NodeId, Proposal, ProposalBatch, RegistryResponse};
use crate::types::{MemberNode, Raft};

/// Proposals waiting for a batch; callers wait for room beyond this.
const QUEUE_CAPACITY: usize = 4096;
/// Most proposals in one entry.
const MAX_BATCH_PROPOSALS: usize = 512;
/// Most JSON bytes of proposals in one entry; a single proposal up to [`MAX_PROPOSAL_BYTES`]
/// makes an entry of its own. The Raft transport's message limit must hold
/// `max_payload_entries` entries of [`MAX_PROPOSAL_BYTES`] (see [`crate::MAX_PAYLOAD_ENTRIES`]).
pub const MAX_BATCH_BYTES: usize = 128 * 1024;
/// Largest proposal, in JSON bytes: four times a policy set's largest text (64 KiB). JSON at
/// most doubles printable text, so every set of printable text fits; control characters take 6
/// bytes each, and a set made mostly of them is refused as too large. Larger proposals are
/// refused before they reach the log.
pub const MAX_PROPOSAL_BYTES: usize = 256 * 1024;

/// The error of a failed Raft client write.
type ClientWriteFailure = RaftError<NodeId, ClientWriteError<NodeId, MemberNode>>;

/// Why a proposal was not committed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProposeError {
    /// Raft refused or failed the write (not the leader, no quorum, stopped).
    #[error(transparent)]
    Raft(Box<ClientWriteFailure>),
    /// The proposal is larger than [`MAX_PROPOSAL_BYTES`]; nothing was written.
    #[error("the proposal is {0} bytes of JSON; at most {MAX_PROPOSAL_BYTES} are accepted")]
    TooLarge(usize),
    /// The entry committed at this log index, but the state machine gave no answer for the
    /// proposal (a defect: a fresh entry is answered in full).
    #[error("committed at log index {0}, but the state machine gave no answer for this proposal")]
    Unanswered(u64),
    /// The proposer stopped before answering (the node is shutting down).
    #[error("the registry's proposer has stopped")]
    Stopped,
}

impl ProposeError {
    /// The leader to send the write to, when this node is not the leader.
    pub fn forward_to_leader(&self) -> Option<&ForwardToLeader<NodeId, MemberNode>> {
        match self {
            Self::Raft(e) => e.forward_to_leader(),
            Self::TooLarge(_) | Self::Unanswered(_) | Self::Stopped => None,
        }
    }
}

/// A committed proposal: its answer and the log index of the entry that carried it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// What the registry answered.
    pub response: RegistryResponse,
    /// Raft log index of the entry.
    pub log_index: u64,
}

/// A queued proposal and where its answer goes.
struct Pending {
    proposal: Proposal,
    bytes: usize,
    reply: oneshot::Sender<Result<Committed, ProposeError>>,
}

impl Pending {
    /// Whether the proposal must have an entry of its own.
    fn goes_alone(&self) -> bool {
        self.proposal.command.opens_proposal()
    }
}

/// The handle through which this node proposes registry writes.
#[derive(Clone)]
pub struct Proposer {
    queue: mpsc::Sender<Pending>,
}

impl Proposer {
    /// Starts the batching task for `raft` (on the current tokio runtime). It ends when every
    /// handle is dropped.
    pub fn start(raft: Raft) -> Self {
        let (queue, pending) = mpsc::channel(QUEUE_CAPACITY);
        tokio::spawn(run(raft, pending));
        Self { queue }
    }

    /// Commits `proposal`, batched with whatever else is being proposed, and returns its answer.
    pub async fn propose(&self, proposal: Proposal) -> Result<Committed, ProposeError> {
        let bytes = json_len(&proposal);
        if bytes > MAX_PROPOSAL_BYTES {
            return Err(ProposeError::TooLarge(bytes));
        }
        let (reply, answer) = oneshot::channel();
        self.queue.send(Pending { proposal, bytes, reply }).await.map_err(|_| ProposeError::Stopped)?;
        answer.await.map_err(|_| ProposeError::Stopped)?
    }
}

/// Length of `proposal` in JSON, the form in which the log stores and replication sends it.
fn json_len(proposal: &Proposal) -> usize {
    struct Count(usize);
    impl io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Serializing a proposal cannot fail (plain strings and numbers); if it did, it would fail
    // again in the log store, which refuses the write.
    let _ = serde_json::to_writer(&mut count, proposal);
    count.0
}

/// The batching task (see the module docs).
async fn run(raft: Raft, mut queue: mpsc::Receiver<Pending>) {
    // Server metrics change only with the leader, vote or membership, so waiting on them does
    // not wake the task at every step of the Raft core.
    let mut server = raft.server_metrics();
    let mut carried = None;
    loop {
        let first = match carried.take() {
            Some(first) => first,
            None => match queue.recv().await {
                Some(first) => first,
                None => return,
            },
        };
        let (batch, next) = gather(first, &mut queue);
        carried = next;
        let in_flight = tokio::spawn(commit(raft.clone(), batch));
        let leadership_lost = server.wait_for(|m| m.current_leader != Some(m.id));
        tokio::select! {
            _ = in_flight => {}
            _ = leadership_lost => {}
        }
    }
}

/// `first` and the proposals queued behind it, within the batch limits; the first proposal
/// that did not fit is returned beside the batch.
fn gather(first: Pending, queue: &mut mpsc::Receiver<Pending>) -> (Vec<Pending>, Option<Pending>) {
    let alone = first.goes_alone();
    let mut bytes = first.bytes;
    let mut batch = vec![first];
    while !alone && batch.len() < MAX_BATCH_PROPOSALS {
        let Ok(next) = queue.try_recv() else { break };
        if next.goes_alone() || bytes + next.bytes > MAX_BATCH_BYTES {
            return (batch, Some(next));
        }
        bytes += next.bytes;
        batch.push(next);
    }
    (batch, None)
}

/// Writes `batch` as one entry and answers each of its callers.
async fn commit(raft: Raft, batch: Vec<Pending>) {
    let (proposals, replies): (Vec<_>, Vec<_>) = batch.into_iter().map(|p| (p.proposal, p.reply)).unzip();
    match raft.client_write(ProposalBatch(proposals)).await {
        Ok(written) => {
            let log_index = written.log_id.index;
            if written.data.len() != replies.len() {
                // A fresh entry is answered in full; this is a defect, reported to each caller.
                tracing::error!(
                    log_index,
                    proposed = replies.len(),
                    answered = written.data.len(),
                    "a batch's answers do not match its proposals"
                );
            }
            let responses = written.data.into_iter().map(Some).chain(iter::repeat(None));
            for (reply, response) in replies.into_iter().zip(responses) {
                let answer = match response {
                    Some(response) => Ok(Committed { response, log_index }),
                    None => Err(ProposeError::Unanswered(log_index)),
                };
                // A caller that gave up no longer listens; its write is committed all the same.
                let _ = reply.send(answer);
            }
        }
        Err(e) => {
            let e = ProposeError::Raft(Box::new(e));
            for reply in replies {
                let _ = reply.send(Err(e.clone()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use ossa_audit::{AuditLog, SledAuditStore};

    use super::*;
    use crate::registry::RegistryCommand;

    fn pending(name: &str) -> (Pending, oneshot::Receiver<Result<Committed, ProposeError>>) {
        let proposal = Proposal { by: "acme".into(), command: RegistryCommand::CreateTenant { name: name.into() } };
        let (reply, answer) = oneshot::channel();
        (Pending { bytes: json_len(&proposal), proposal, reply }, answer)
    }

    fn names(batch: &[Pending]) -> Vec<String> {
        batch
            .iter()
            .map(|p| match &p.proposal.command {
                RegistryCommand::CreateTenant { name } => name.clone(),
                other => panic!("unexpected {other:?}"),
            })
            .collect()
    }

    #[test]
    fn json_len_is_the_length_of_the_json() {
        let (p, _answer) = pending("t-1");
        assert_eq!(p.bytes, serde_json::to_vec(&p.proposal).expect("json").len());
    }

    #[tokio::test]
    async fn gather_takes_what_is_queued_in_order_up_to_the_count_limit() {
        let (sender, mut queue) = mpsc::channel(QUEUE_CAPACITY);
        let mut answers = Vec::new();
        for i in 0..MAX_BATCH_PROPOSALS + 2 {
            let (p, answer) = pending(&format!("t{i}"));
            answers.push(answer);
            sender.send(p).await.expect("queued");
        }
        let first = queue.recv().await.expect("first");
        let (batch, carried) = gather(first, &mut queue);
        assert_eq!(batch.len(), MAX_BATCH_PROPOSALS);
        assert!(carried.is_none(), "the count limit stops before taking the next one");
        let expected: Vec<String> = (0..MAX_BATCH_PROPOSALS).map(|i| format!("t{i}")).collect();
        assert_eq!(names(&batch), expected);
        let first = queue.recv().await.expect("rest");
        let (rest, _) = gather(first, &mut queue);
        assert_eq!(names(&rest), [format!("t{MAX_BATCH_PROPOSALS}"), format!("t{}", MAX_BATCH_PROPOSALS + 1)]);
    }

    #[tokio::test]
    async fn gather_stops_at_the_byte_limit_and_carries_the_proposal_that_did_not_fit() {
        let (sender, mut queue) = mpsc::channel(QUEUE_CAPACITY);
        let big = "x".repeat(MAX_BATCH_BYTES / 2);
        let mut answers = Vec::new();
        for name in ["a", big.as_str(), big.as_str(), "b"] {
            let (p, answer) = pending(name);
            answers.push(answer);
            sender.send(p).await.expect("queued");
        }
        let first = queue.recv().await.expect("first");
        let (batch, carried) = gather(first, &mut queue);
        assert_eq!(batch.len(), 2, "a and one big proposal fit; two big ones do not");
        assert!(batch.iter().map(|p| p.bytes).sum::<usize>() <= MAX_BATCH_BYTES);
        let carried = carried.expect("the second big proposal is carried to the next batch");
        assert_eq!(names(&[carried]), [big]);

        let (sender, mut queue) = mpsc::channel(1);
        let (huge, _answer) = pending(&"y".repeat(MAX_BATCH_BYTES + 1));
        sender.send(huge).await.expect("queued");
        let first = queue.recv().await.expect("huge");
        let (batch, carried) = gather(first, &mut queue);
        assert_eq!((batch.len(), carried.is_none()), (1, true), "a proposal over the limit goes alone");
    }

    #[tokio::test]
    async fn a_command_that_opens_a_governance_proposal_gets_an_entry_of_its_own() {
        let (sender, mut queue) = mpsc::channel(QUEUE_CAPACITY);
        let propose = |org: &str| Proposal {
            by: "acme".into(),
            command: RegistryCommand::ProposeRevocation { org: org.into(), reason: "x".into(), at_ms: 1 },
        };
        let mut answers = Vec::new();
        let (a, answer) = pending("a");
        answers.push(answer);
        sender.send(a).await.expect("queued");
        for org in ["m", "n"] {
            let (reply, answer) = oneshot::channel();
            answers.push(answer);
            let proposal = propose(org);
            sender.send(Pending { bytes: json_len(&proposal), proposal, reply }).await.expect("queued");
        }
        let (b, answer) = pending("b");
        answers.push(answer);
        sender.send(b).await.expect("queued");

        let first = queue.recv().await.expect("a");
        let (batch, carried) = gather(first, &mut queue);
        assert_eq!(names(&batch), ["a"], "the batch ends before the governance proposal");
        let (batch, carried) = gather(carried.expect("carried"), &mut queue);
        assert_eq!((batch.len(), carried.is_none()), (1, true), "a governance proposal goes alone");
        let (batch, carried) = gather(queue.recv().await.expect("n"), &mut queue);
        assert_eq!((batch.len(), carried.is_none()), (1, true), "the next one too, even with work behind it");
        let (batch, _) = gather(queue.recv().await.expect("b"), &mut queue);
        assert_eq!(names(&batch), ["b"]);
    }

    /// A transport for a node with no peers.
    #[derive(Clone)]
    struct NoPeers;

    impl crate::RaftTransport for NoPeers {
        async fn call(
            &self,
            target: NodeId,
            _node: &MemberNode,
            _rpc: crate::RaftRpc,
            _timeout: Duration,
        ) -> Result<crate::RaftRpcReply, crate::TransportError> {
            Err(crate::TransportError::Unreachable(format!("no peer {target}")))
        }
    }

    #[tokio::test]
    async fn every_caller_of_a_refused_batch_gets_the_refusal() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = ossa_audit::open_sled(&dir.path().join("db")).expect("sled");
        let audit = Arc::new(AuditLog::open(SledAuditStore::open(&db).expect("store")).expect("audit log"));
        // Never initialized: the node is no leader and knows of none.
        let consensus = crate::Consensus::start(1, "test", Default::default(), Default::default(), &db, audit, NoPeers)
            .await
            .expect("start");
        let (batch, answers): (Vec<_>, Vec<_>) = (0..5).map(|i| pending(&format!("t{i}"))).unzip();
        commit(consensus.raft.clone(), batch).await;
        for answer in answers {
            let refusal = answer.await.expect("answered").expect_err("a node that is not the leader commits nothing");
            let forward =
                refusal.forward_to_leader().unwrap_or_else(|| panic!("not a forward to the leader: {refusal}"));
            assert_eq!(forward.leader_id, None, "no leader is known");
        }
    }

    #[tokio::test]
    async fn an_oversized_proposal_is_refused_before_it_is_queued() {
        let (queue, mut pending) = mpsc::channel(1);
        let proposer = Proposer { queue };
        let text = "z".repeat(MAX_PROPOSAL_BYTES);
        let proposal = Proposal { by: "acme".into(), command: RegistryCommand::CreateTenant { name: text } };
        let refused = tokio::time::timeout(Duration::from_secs(10), proposer.propose(proposal)).await;
        let refused = refused.expect("the proposal was queued instead of refused");
        assert!(matches!(refused, Err(ProposeError::TooLarge(bytes)) if bytes > MAX_PROPOSAL_BYTES), "{refused:?}");
        assert!(pending.try_recv().is_err(), "nothing was queued");
    }
}
