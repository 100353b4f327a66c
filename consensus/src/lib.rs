//! OSSA consensus: the federation registry replicated through Raft (openraft 0.9).
//!
//! Data flow: the node submits a [`Proposal`] to [`Consensus::proposer`]; on a node that is not
//! the leader it is refused with the leader's address and the node forwards it there. On the
//! leader the proposer packs the proposals that arrive together into one entry (a
//! [`ProposalBatch`]) and hands it to openraft's `client_write`. openraft appends the entry
//! to the [`SledLogStore`] (fsynced), replicates it through the node's [`RaftTransport`], and
//! once a quorum of stewards holds it, every node's [`RegistryStateMachine`] applies it: audit
//! log first, then the registry in sled. Reads come from [`RegistryReader`], the applied
//! in-memory copy.
//!
//! Storage is sled behind openraft's own storage traits (`RaftLogStorage`,
//! `RaftStateMachine`), which are the small interface another engine would implement; the
//! tests run openraft's storage conformance suite against it.

// openraft's storage and network traits fix `StorageError` and `RPCError` (200+ bytes) as the
// error types; the helpers that feed them return the same types rather than boxing twice.
#![allow(clippy::result_large_err)]

mod governance;
mod log_store;
mod log_tail;
mod network;
mod proposer;
mod records;
mod registry;
mod rotation;
mod state_machine;
mod transport;
mod types;

use std::sync::Arc;

use ossa_audit::{AuditLog, SledAuditStore};

pub use governance::{
    Governance, GovernanceProposal, PolicyScope, PolicyVersion, ProposalAction, ProposalStatus, QuorumRule,
    MAX_REASON_LEN, PROPOSAL_TTL_MS, STEWARD_COUNTS,
};
pub use log_store::SledLogStore;
pub use network::{NetworkFactory, PeerClient};
pub use openraft;
pub use proposer::{Committed, ProposeError, Proposer, MAX_BATCH_BYTES, MAX_PROPOSAL_BYTES};
pub use registry::{
    Change, Member, MemberRole, NodeId, Proposal, ProposalBatch, RefusalCode, Registry, RegistryCommand,
    RegistryResponse, Revocation, Tenant,
};
pub use rotation::{KeyRotation, MAX_ROTATION_GRACE_MS};
pub use state_machine::{AppliedState, RegistryReader, RegistryStateMachine};
pub use transport::{serve, RaftRpc, RaftRpcReply, RaftTransport, TransportError};
pub use types::{Entry, MemberNode, Raft, StorageError, TypeConfig};

/// Timing of the registry's Raft group, in milliseconds.
#[derive(Debug, Clone, Copy)]
pub struct RaftTimings {
    /// Leader heartbeat interval.
    pub heartbeat_ms: u64,
    /// Lower bound of the randomized election timeout.
    pub election_min_ms: u64,
    /// Upper bound of the randomized election timeout.
    pub election_max_ms: u64,
}

impl Default for RaftTimings {
    /// 50 ms heartbeats and a 150..300 ms election timeout, the Raft paper's range.
    ///
    /// In openraft 0.9 a follower that has had a leader waits for the leader lease (the
    /// election timeout's upper bound) plus its own election timeout (drawn once, when the node
    /// starts) before it stands, and refuses votes while its own lease runs; a vote request
    /// must be answered within the lower bound. A leader's silence is therefore noticed after
    /// 450..600 ms, and a write commits again after about `max + min(two survivors' timeouts)`:
    /// median ~570 ms on loopback. (A leader whose connections close, because it died or
    /// restarted, is replaced sooner: the node stands for election when it sees that happen.)
    /// A 60..120 ms timeout halves that (measured
    /// median 261-271 ms) but is not the default: at 10 nodes on two busy cores, votes missed
    /// their 60 ms deadline and the federation went hundreds of terms without a leader, and
    /// across a WAN a round trip alone can take that long. The heartbeat is also openraft's
    /// deadline for every AppendEntries, so it cannot go far below 50 ms either.
    fn default() -> Self {
        Self { heartbeat_ms: 50, election_min_ms: 150, election_max_ms: 300 }
    }
}

/// When a node snapshots its registry and how much log it keeps behind the snapshot.
///
/// A node builds a snapshot once `every_entries` entries were applied since its last one, then
/// purges its log up to `keep_entries` entries before the snapshot. A follower that lags by
/// more than the leader kept (one restarted after a long outage, a new member) is sent the
/// leader's snapshot instead of the entries, and audits its installation
/// (`raft.snapshot_installed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotPolicy {
    /// Applied entries between two snapshots.
    pub every_entries: u64,
    /// Entries kept in the log before the last snapshot.
    pub keep_entries: u64,
}

impl Default for SnapshotPolicy {
    /// openraft's defaults: a snapshot every 5000 entries, 1000 kept behind it.
    fn default() -> Self {
        Self { every_entries: 5000, keep_entries: 1000 }
    }
}

/// Most entries in one AppendEntries: 32 entries of at most [`MAX_PROPOSAL_BYTES`] each (a
/// batch holds at most [`MAX_BATCH_BYTES`], a proposal alone at most that) are 8 MiB, well under
/// the transport's 16 MiB message limit, and still carry thousands of batched proposals.
pub const MAX_PAYLOAD_ENTRIES: u64 = 32;

/// Why the consensus layer could not start.
#[derive(Debug, thiserror::Error)]
pub enum ConsensusError {
    /// Opening the sled trees failed.
    #[error("cannot open raft storage: {0}")]
    Storage(#[from] sled::Error),
    /// Loading the state machine failed.
    #[error("cannot load the registry: {0}")]
    Registry(#[from] StorageError),
    /// openraft refused the configuration or failed to start.
    #[error("cannot start raft: {0}")]
    Raft(String),
}

/// A running Raft member of the registry.
#[derive(Clone)]
pub struct Consensus {
    /// The openraft handle: writes, membership changes, metrics.
    pub raft: Raft,
    /// Read access to the applied registry.
    pub registry: RegistryReader,
    /// Where this node's registry writes go: batched into Raft entries.
    pub proposer: Proposer,
}

impl Consensus {
    /// Opens the log and state machine in `db` and starts Raft as `node_id`. Entries applied
    /// to the registry are appended to `audit`.
    pub async fn start<T: RaftTransport>(
        node_id: NodeId,
        cluster: &str,
        timings: RaftTimings,
        snapshots: SnapshotPolicy,
        db: &sled::Db,
        audit: Arc<AuditLog<SledAuditStore>>,
        transport: T,
    ) -> Result<Self, ConsensusError> {
        if snapshots.every_entries == 0 {
            return Err(ConsensusError::Raft("snapshot_every_entries must be at least 1".into()));
        }
        let config = openraft::Config {
            cluster_name: cluster.to_owned(),
            heartbeat_interval: timings.heartbeat_ms,
            election_timeout_min: timings.election_min_ms,
            election_timeout_max: timings.election_max_ms,
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(snapshots.every_entries),
            max_in_snapshot_log_to_keep: snapshots.keep_entries,
            max_payload_entries: MAX_PAYLOAD_ENTRIES,
            ..Default::default()
        };
        let config = Arc::new(config.validate().map_err(|e| ConsensusError::Raft(e.to_string()))?);
        let log_store = SledLogStore::open(db)?;
        let state_machine = RegistryStateMachine::open(db, audit)?;
        let registry = state_machine.reader();
        let raft = Raft::new(node_id, config, NetworkFactory::new(transport), log_store, state_machine)
            .await
            .map_err(|e| ConsensusError::Raft(e.to_string()))?;
        let proposer = Proposer::start(raft.clone());
        Ok(Self { raft, registry, proposer })
    }
}
