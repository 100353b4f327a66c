//! Directory anti-entropy over `/ossa/sync/1`.
//!
//! Gossip only reaches the nodes that are connected when a record is published. A node that
//! joins late, restarts, or comes back from a partition therefore pulls the whole directory
//! of one admitted peer, page by page ([`serve`] on the peer's side), and runs every record
//! through [`super::service::AgentService::ingest`], the same checks as gossip: a record it
//! already has is stale and skipped, a forged one is refused. Then it pulls the peer's
//! certifications the same way (requests with `certifications` set, resumed by store key)
//! through [`super::service::AgentService::ingest_certification`]. [`run_sync`] does this as soon
//! as the node is ready, from a peer as soon as it is (re)admitted, and every
//! [`SYNC_PERIOD`] against a randomly chosen peer, which also repairs any message gossip lost.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::seq::SliceRandom;

use super::certifications::decode_stored;
use super::directory::{Directory, DirectoryError};
use super::record::Rejection;
use crate::daemon::NodeContext;
use crate::swarm::NetError;
use crate::wire::pb;

/// Records per page: 256 records of at most 16 KiB fit the 4 MiB sync message limit (and
/// 256 certifications of at most 2 KiB easily do).
pub const PAGE_SIZE: usize = 256;
/// Pause between anti-entropy rounds once synced: repairs lost gossip within half a minute at
/// the cost of one directory transfer per node per period.
pub const SYNC_PERIOD: Duration = Duration::from_secs(30);
/// Pause between attempts until the first sync succeeded.
const FIRST_SYNC_RETRY: Duration = Duration::from_secs(1);
/// Deadline of one page.
const PAGE_TIMEOUT: Duration = Duration::from_secs(30);

/// Answers one sync request from this node's directory or certifications.
pub fn serve(directory: &Directory, request: &pb::SyncRequest) -> pb::SyncResponse {
    let limit = (request.limit as usize).clamp(1, PAGE_SIZE);
    if request.certifications {
        let (records, more) = directory.certifications().page(&request.after_certification, limit);
        return pb::SyncResponse { records, more, consistency: None };
    }
    let after = (!request.after_tenant.is_empty() || !request.after_agent.is_empty())
        .then_some((request.after_tenant.as_str(), request.after_agent.as_str()));
    let (records, more) = directory.page(after, limit);
    pb::SyncResponse { records, more, consistency: None }
}

/// Outcome of pulling a peer's directory.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SyncReport {
    /// Records and certifications stored because they were new or newer.
    pub stored: usize,
    /// Records and certifications already known (stale).
    pub known: usize,
    /// Records and certifications refused by the checks.
    pub refused: usize,
}

impl SyncReport {
    fn count(&mut self, peer: libp2p::PeerId, outcome: Result<(), DirectoryError>) {
        match outcome {
            Ok(()) => self.stored += 1,
            Err(DirectoryError::Rejected(Rejection::Stale { .. })) => self.known += 1,
            Err(err) => {
                self.refused += 1;
                tracing::debug!(%peer, %err, "synced record refused");
            }
        }
    }
}

/// Pulls every record and then every certification of `peer` into this node's directory.
pub async fn pull(node: &NodeContext, peer: libp2p::PeerId) -> Result<SyncReport, NetError> {
    let mut report = pull_records(node, peer).await?;
    pull_certifications(node, peer, &mut report).await?;
    Ok(report)
}

async fn pull_records(node: &NodeContext, peer: libp2p::PeerId) -> Result<SyncReport, NetError> {
    let mut report = SyncReport::default();
    let mut request = pb::SyncRequest { limit: PAGE_SIZE as u32, ..Default::default() };
    loop {
        let page = node.net.sync(peer, Vec::new(), request.clone(), PAGE_TIMEOUT).await?;
        let mut last = None;
        for raw in page.records.iter().take(PAGE_SIZE) {
            report.count(peer, node.agents.ingest(node, raw));
            last = Some(raw);
        }
        let Some(last) = last.filter(|_| page.more) else { return Ok(report) };
        // Resume after the last record of this page, by its own (tenant, agent id). A peer
        // whose pages do not move forward is answering in a loop; stop there.
        let Some((tenant, agent)) = key_of(last) else { return Ok(report) };
        if (tenant.as_str(), agent.as_str()) <= (request.after_tenant.as_str(), request.after_agent.as_str()) {
            tracing::warn!(%peer, "sync pages do not advance; stopping");
            return Ok(report);
        }
        request.after_tenant = tenant;
        request.after_agent = agent;
    }
}

async fn pull_certifications(
    node: &NodeContext,
    peer: libp2p::PeerId,
    report: &mut SyncReport,
) -> Result<(), NetError> {
    let mut request = pb::SyncRequest { limit: PAGE_SIZE as u32, certifications: true, ..Default::default() };
    loop {
        let page = node.net.sync(peer, Vec::new(), request.clone(), PAGE_TIMEOUT).await?;
        let taken = &page.records[..page.records.len().min(PAGE_SIZE)];
        for raw in taken {
            report.count(peer, node.agents.ingest_certification(node, raw));
        }
        // Resume after the last certification's own key; stop if pages do not move forward.
        let Some(last) = taken.last().filter(|_| page.more).and_then(|raw| certification_key_of(raw)) else {
            return Ok(());
        };
        if last <= request.after_certification {
            tracing::warn!(%peer, "certification sync pages do not advance; stopping");
            return Ok(());
        }
        request.after_certification = last;
    }
}

fn certification_key_of(raw: &[u8]) -> Option<Vec<u8>> {
    decode_stored(raw).map(|c| c.key())
}

fn key_of(raw: &[u8]) -> Option<(String, String)> {
    use prost::Message;
    let signed = pb::SignedRecord::decode(raw).ok()?;
    let record = pb::AgentRecord::decode(signed.payload.as_slice()).ok()?;
    Some((record.tenant, record.agent_id))
}

/// Keeps the directory in step with the federation for as long as the node runs: a pull from a
/// random peer every [`SYNC_PERIOD`] (every second until one succeeded), and at
/// once from a peer that is newly admitted, which is how a node that comes back from a
/// partition or a restart catches up without waiting a period. A peer that was away and is
/// back counts as new even if it left and came back between two looks (the swarm's
/// admission count moved), and a pull that fails is tried again at the next look.
pub async fn run_sync(node: Arc<NodeContext>) {
    let mut last_round: Option<Instant> = None;
    let mut known: HashSet<libp2p::PeerId> = HashSet::new();
    let mut admissions_seen = 0;
    loop {
        tokio::time::sleep(FIRST_SYNC_RETRY).await;
        if !node.is_ready() {
            continue;
        }
        let Ok(view) = node.net.view().await else { continue };
        let peers = view.admitted;
        let mut newcomers: Vec<_> = peers.iter().filter(|p| !known.contains(&p.peer_id)).cloned().collect();
        if newcomers.is_empty() && view.admissions != admissions_seen {
            newcomers.extend(peers.choose(&mut rand::thread_rng()).cloned());
        }
        known = peers.iter().map(|p| p.peer_id).collect();
        admissions_seen = view.admissions;
        // One pull per round: a newly admitted peer if any (in a large federation peers arrive
        // one after another, and one full pull is enough to catch up), else a random one when
        // the period is due.
        let due = last_round.is_none_or(|at| at.elapsed() >= SYNC_PERIOD);
        let target = newcomers
            .into_iter()
            .next()
            .or_else(|| due.then(|| peers.choose(&mut rand::thread_rng()).cloned()).flatten());
        if let Some(peer) = target {
            match pull(&node, peer.peer_id).await {
                Ok(report) => {
                    last_round = Some(Instant::now());
                    if report.stored > 0 {
                        tracing::info!(peer = %peer.org, stored = report.stored, "directory synced");
                    }
                }
                Err(err) => {
                    tracing::debug!(%err, "directory sync failed");
                    known.remove(&peer.peer_id);
                }
            }
        }
    }
}
