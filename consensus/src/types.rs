//! The openraft type configuration of the federation registry.

use std::io::Cursor;

use serde::{Deserialize, Serialize};

use crate::registry::{ProposalBatch, RegistryResponse};

/// What Raft knows about a node: enough for the transport to reach it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberNode {
    /// Org name of the node.
    pub org: String,
    /// libp2p peer id (base58).
    pub peer_id: String,
    /// Multiaddrs the node listens on.
    pub addrs: Vec<String>,
}

impl std::fmt::Display for MemberNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.org, self.peer_id)
    }
}

openraft::declare_raft_types!(
    /// Type configuration of the registry's Raft group.
    pub TypeConfig:
        D = ProposalBatch,
        R = Vec<RegistryResponse>,
        Node = MemberNode,
        SnapshotData = Cursor<Vec<u8>>,
);

/// The registry's Raft handle.
pub type Raft = openraft::Raft<TypeConfig>;
/// A Raft log entry of the registry.
pub type Entry = openraft::Entry<TypeConfig>;
/// Storage error of the registry's Raft group.
pub type StorageError = openraft::StorageError<crate::NodeId>;
