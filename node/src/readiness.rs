//! Readiness: is this node joined and caught up with the federation's Raft log?
//!
//! A follower's own log cannot tell it whether it is behind, so it asks the leader for a Raft
//! *read index* (`ReadIndex` on `/ossa/raft/1`: the leader confirms its leadership with a
//! quorum and answers its commit index) and is ready once it has applied up to that index.
//! The leader is ready once a quorum has confirmed it. The verdict is kept in
//! `NodeContext::ready`, which `/ready` and `/v1/status` read without waiting.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use ossa_consensus::openraft::ServerState;

use crate::daemon::NodeContext;
use crate::membership::is_joined;
use crate::raft_glue::member_address;
use crate::wire::pb::{self, raft_request, raft_response};

/// Re-check pace once ready: keeps `/ready` honest after a partition at the cost of one small
/// request to the leader every 2 s.
const READY_RECHECK: Duration = Duration::from_secs(2);
/// Re-check pace while not ready, so start-up waits little once the node has caught up.
const NOT_READY_RECHECK: Duration = Duration::from_millis(200);
/// Deadline of one read-index request (a quorum round trip on the leader).
const READ_INDEX_TIMEOUT: Duration = Duration::from_secs(2);

/// Keeps `node.ready` up to date for as long as the node runs.
pub async fn run_readiness(node: Arc<NodeContext>) {
    loop {
        let ready = check(&node).await;
        if node.ready.swap(ready, Ordering::Relaxed) != ready {
            tracing::info!(ready, "readiness changed");
        }
        tokio::time::sleep(if ready { READY_RECHECK } else { NOT_READY_RECHECK }).await;
    }
}

async fn check(node: &NodeContext) -> bool {
    if !is_joined(node) {
        return false;
    }
    let raft = &node.consensus.raft;
    if raft.metrics().borrow().state == ServerState::Leader {
        return raft.ensure_linearizable().await.is_ok();
    }
    let Some((_, leader)) = node.leader_node() else { return false };
    let Ok((peer, addrs)) = member_address(&leader) else { return false };
    let request = pb::RaftRequest { body: Some(raft_request::Body::ReadIndex(pb::ReadIndex {})) };
    let Ok(response) = node.net.request(peer, addrs, request, READ_INDEX_TIMEOUT).await else { return false };
    let Some(raft_response::Body::ReadIndex(read_index)) = response.body else { return false };
    let applied = raft.metrics().borrow().last_applied.map(|l| l.index).unwrap_or(0);
    applied >= read_index
}
