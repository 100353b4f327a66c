//! The agent service: registering, removing and re-announcing this org's agents, and judging
//! agent records that arrive over gossip.
//!
//! Register: manifest bytes → [`import`] → the tenant must exist and belong to this org →
//! a record with a sequence newer than any stored one → signed → through the same
//! [`verify_record`] gate as a peer's record → stored in the [`Directory`] → published on
//! `ossa/<federation>/agents/1`. Removal publishes a signed tombstone the same way. Every
//! node's [`AgentService::on_gossip`] verifies, stores and answers Accept (forward it),
//! Ignore (stale or expired: drop quietly) or Reject (drop and lower the sender's score).
//! Records missed while away (a late join, a partition) come back through
//! [`super::sync`]. [`run_maintenance`] re-announces this org's live records before they expire and sweeps
//! expired ones; when the node starts on a rotated key it first re-signs, once, the records the
//! old key signed, as soon as the registry knows the new key.
//!
//! Certifications ([`super::certify`] issues them) arrive the same way on
//! `ossa/<federation>/certifications/1`: [`AgentService::on_certification_gossip`] runs
//! [`verify_certification`], stores and answers like for records. [`run_certifier_check`]
//! drops the stored certifications of orgs that stopped being stewards (demoted or revoked).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use libp2p::gossipsub::MessageAcceptance;
use ossa_consensus::MemberRole;
use ossa_trust::NodeKey;

use super::certification::verify_certification;
use super::directory::{AgentView, Directory, DirectoryError, Query};
use super::manifest::{import, ImportError};
use super::record::{build_record, sign_record, tombstone, verify_record, RECORD_TTL_MS};
use crate::clock::now_ms;
use crate::daemon::NodeContext;
use crate::swarm::NetError;
use crate::wire::pb;

/// How often own records are re-announced and expired ones swept: a third of the record
/// lifetime, so a record survives two lost announcements.
const MAINTENANCE_PERIOD: Duration = Duration::from_millis(RECORD_TTL_MS / 3);
/// How often a node that started on a key the registry does not know yet (a rotation still
/// being applied) looks again before re-signing its records.
const KEY_CHECK_PERIOD: Duration = Duration::from_secs(2);
/// How often the registry's stewards are compared with those certifications were last kept
/// for: a demoted or revoked org's grades disappear within a second.
const CERTIFIER_CHECK_PERIOD: Duration = Duration::from_secs(1);

/// Why an agent operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The manifest could not be imported.
    #[error(transparent)]
    Import(#[from] ImportError),
    /// The tenant is not in the registry.
    #[error("unknown tenant {0:?}")]
    UnknownTenant(String),
    /// The tenant belongs to another org.
    #[error("tenant {tenant:?} belongs to {owner}, not to this node's org")]
    NotOwner {
        /// The tenant.
        tenant: String,
        /// Its owner.
        owner: String,
    },
    /// No such agent.
    #[error("no agent {agent:?} in tenant {tenant:?}")]
    NotFound {
        /// The tenant.
        tenant: String,
        /// The agent id.
        agent: String,
    },
    /// The directory refused or failed to store the record.
    #[error(transparent)]
    Directory(#[from] DirectoryError),
    /// Publishing failed.
    #[error(transparent)]
    Network(#[from] NetError),
}

/// Agents of the federation as this node knows them.
pub struct AgentService {
    directory: Directory,
    topic: String,
    certifications_topic: String,
    key: Arc<NodeKey>,
}

impl AgentService {
    /// A service over `directory`, publishing on the agents topic of `federation`, signing with `key`.
    pub fn new(directory: Directory, federation: &str, key: Arc<NodeKey>) -> Self {
        Self { directory, topic: agents_topic(federation), certifications_topic: certifications_topic(federation), key }
    }

    /// The gossip topic of agent records.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The gossip topic of certifications.
    pub fn certifications_topic(&self) -> &str {
        &self.certifications_topic
    }

    /// The directory.
    pub fn directory(&self) -> &Directory {
        &self.directory
    }

    /// Live agents matching `query`.
    pub fn find(&self, query: &Query) -> Vec<AgentView> {
        self.directory.find(query, now_ms())
    }

    fn check_owner(&self, node: &NodeContext, tenant: &str) -> Result<(), AgentError> {
        let applied = node.consensus.registry.read();
        let found = applied.registry.tenants.get(tenant).ok_or_else(|| AgentError::UnknownTenant(tenant.to_owned()))?;
        if found.owner != node.org {
            return Err(AgentError::NotOwner { tenant: tenant.to_owned(), owner: found.owner.clone() });
        }
        Ok(())
    }

    fn next_sequence(&self, tenant: &str, agent_id: &str, now: u64) -> u64 {
        // Time-based, so a node that lost its directory still issues newer sequences.
        let stored = self.directory.record(tenant, agent_id).map(|r| r.sequence).unwrap_or(0);
        now.max(stored + 1)
    }

    async fn sign_store_publish(&self, node: &NodeContext, record: &pb::AgentRecord) -> Result<(), AgentError> {
        let signed = sign_record(&self.key, record);
        let verified =
            verify_record(&signed, &node.consensus.registry.read().registry, now_ms()).map_err(DirectoryError::from)?;
        self.directory.insert(verified)?;
        node.net.publish(self.topic.clone(), signed).await?;
        Ok(())
    }

    /// Registers the agent described by `manifest` in `tenant`.
    pub async fn register(&self, node: &NodeContext, tenant: &str, manifest: &[u8]) -> Result<AgentView, AgentError> {
        self.check_owner(node, tenant)?;
        let agent = import(manifest, None)?;
        let now = now_ms();
        let record = build_record(&agent, &node.org, tenant, self.next_sequence(tenant, &agent.id, now), now);
        self.sign_store_publish(node, &record).await?;
        Ok(self.directory.view(&record, now))
    }

    /// Removes an agent of this org by publishing a tombstone.
    pub async fn remove(&self, node: &NodeContext, tenant: &str, agent_id: &str) -> Result<(), AgentError> {
        self.check_owner(node, tenant)?;
        let not_found = || AgentError::NotFound { tenant: tenant.to_owned(), agent: agent_id.to_owned() };
        let previous = self.directory.record(tenant, agent_id).filter(|r| !r.deleted).ok_or_else(not_found)?;
        let now = now_ms();
        let record = tombstone(&previous, self.next_sequence(tenant, agent_id, now), now);
        self.sign_store_publish(node, &record).await
    }

    /// Verifies a record from a peer (gossip or sync) and stores it if it is newer.
    pub fn ingest(&self, node: &NodeContext, data: &[u8]) -> Result<(), DirectoryError> {
        let verified = verify_record(data, &node.consensus.registry.read().registry, now_ms())?;
        self.directory.insert(verified)
    }

    /// Verifies a certification from a peer (gossip or sync) and stores it if it is newer.
    pub fn ingest_certification(&self, node: &NodeContext, data: &[u8]) -> Result<(), DirectoryError> {
        let verified = verify_certification(data, &node.consensus.registry.read().registry, now_ms())?;
        self.directory.certifications().insert(verified)
    }

    /// Judges and stores an agent record received over gossip.
    pub fn on_gossip(&self, node: &NodeContext, source: libp2p::PeerId, data: &[u8]) -> MessageAcceptance {
        judge(node, source, data, "agent record", self.ingest(node, data))
    }

    /// Judges and stores a certification received over gossip.
    pub fn on_certification_gossip(
        &self,
        node: &NodeContext,
        source: libp2p::PeerId,
        data: &[u8],
    ) -> MessageAcceptance {
        judge(node, source, data, "certification", self.ingest_certification(node, data))
    }

    /// Re-signs and re-publishes this org's live records that are past half their lifetime or
    /// that another key signed (before a key rotation).
    async fn reannounce(&self, node: &NodeContext) {
        let now = now_ms();
        let own_key = self.key.public_key();
        for verified in self.directory.live_records_of(&node.org, now) {
            let foreign = verified.signer() != own_key;
            if verified.record.expires_at_ms > now + RECORD_TTL_MS / 2 && !foreign {
                continue;
            }
            if foreign {
                tracing::info!(agent = %verified.record.agent_id, "re-signing agent record with the rotated key");
            }
            let mut record = verified.record;
            record.sequence = self.next_sequence(&record.tenant, &record.agent_id, now);
            record.issued_at_ms = now;
            record.expires_at_ms = now + RECORD_TTL_MS;
            if let Err(err) = self.sign_store_publish(node, &record).await {
                tracing::warn!(%err, agent = %record.agent_id, "cannot re-announce agent");
            }
        }
    }
}

/// The gossipsub verdict on a stored or refused message (`what` names it in logs).
fn judge(
    node: &NodeContext,
    source: libp2p::PeerId,
    data: &[u8],
    what: &str,
    stored: Result<(), DirectoryError>,
) -> MessageAcceptance {
    match stored {
        Ok(()) => MessageAcceptance::Accept,
        Err(DirectoryError::Rejected(rejection)) => {
            node.metrics.record_rejected(rejection.reason());
            if rejection.reason() == "bad_signature" {
                node.trust.note_invalid_signature(node, source, data);
            }
            tracing::debug!(%rejection, "{what} refused");
            if rejection.penalizes_sender() {
                MessageAcceptance::Reject
            } else {
                MessageAcceptance::Ignore
            }
        }
        Err(err) => {
            tracing::warn!(%err, "cannot store {what}");
            MessageAcceptance::Ignore
        }
    }
}

/// The agents gossip topic of a federation.
pub fn agents_topic(federation: &str) -> String {
    format!("ossa/{federation}/agents/1")
}

/// The certifications gossip topic of a federation.
pub fn certifications_topic(federation: &str) -> String {
    format!("ossa/{federation}/certifications/1")
}

/// Drops the stored certifications of orgs that are no longer stewards in the registry, each
/// time the set of stewards changes, for as long as the node runs (from readiness on, so a
/// registry still catching up after a restart removes nothing).
pub async fn run_certifier_check(node: Arc<NodeContext>) {
    let mut kept_for: Option<BTreeSet<String>> = None;
    let mut tick = tokio::time::interval(CERTIFIER_CHECK_PERIOD);
    loop {
        tick.tick().await;
        if !node.is_ready() {
            continue;
        }
        let stewards: BTreeSet<String> = {
            let applied = node.consensus.registry.read();
            applied.registry.members.values().filter(|m| m.role == MemberRole::Steward).map(|m| m.org.clone()).collect()
        };
        if kept_for.as_ref() == Some(&stewards) {
            continue;
        }
        match node.agents.directory.certifications().retain_certifiers(|org| stewards.contains(org)) {
            Ok(0) => {}
            Ok(removed) => tracing::info!(removed, "certifications of orgs that are no longer stewards removed"),
            Err(err) => {
                tracing::warn!(%err, "cannot remove certifications of former stewards");
                continue;
            }
        }
        kept_for = Some(stewards);
    }
}

/// Re-announces this org's records and sweeps expired records and certifications, for as long
/// as the node runs.
pub async fn run_maintenance(node: Arc<NodeContext>) {
    // Until the registry knows this node's key (just after a key rotation), a new signature
    // would not verify: wait for it, then the first round re-signs what the old key signed.
    let own_peer = node.peer_id.to_string();
    while !node.consensus.registry.read().registry.speaks_for(&node.org, &own_peer, now_ms()) {
        tokio::time::sleep(KEY_CHECK_PERIOD).await;
    }
    let mut tick = tokio::time::interval(MAINTENANCE_PERIOD);
    loop {
        tick.tick().await;
        node.agents.reannounce(&node).await;
        match node.agents.directory.sweep_expired(now_ms()) {
            Ok(0) => {}
            Ok(swept) => tracing::info!(swept, "expired agent records removed"),
            Err(err) => tracing::warn!(%err, "cannot sweep expired agent records"),
        }
        match node.agents.directory.certifications().sweep_expired(now_ms()) {
            Ok(0) => {}
            Ok(swept) => tracing::info!(swept, "expired certifications removed"),
            Err(err) => tracing::warn!(%err, "cannot sweep expired certifications"),
        }
    }
}
