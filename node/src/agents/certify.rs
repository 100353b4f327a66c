//! Certifying an agent, on a steward's node (`POST /v1/agents/{tenant}/{id}/certify`).
//!
//! [`certify`] refuses before running anything when this node's org is not a steward in the
//! replicated registry, when its directory has no live record of the agent, when the agent is
//! its own org's (no org grades itself), or when the SHA-256 of the supplied manifest is not
//! the manifest digest of the agent's current record (computed as registration does: over the
//! exact bytes). Then it runs every conformance check ([`super::conformance`]) and reports
//! each. Only if all passed does it build the certification (this org, the tier, the record's
//! manifest and content digests, 30 days of validity), sign it, pass it through the same
//! [`verify_certification`] gate as a peer's, store it, audit it (`agent.certified`) and
//! publish it on `ossa/<federation>/certifications/1`. On any refusal or failed check nothing
//! is signed, stored or sent.

use ossa_audit::EntryDraft;
use ossa_consensus::MemberRole;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::certification::{build_certification, sign_certification, verify_certification, CertificationView, Tier};
use super::conformance::{check_endpoint, check_manifest, check_record, Check};
use super::directory::{AgentView, DirectoryError};
use crate::clock::now_ms;
use crate::daemon::NodeContext;
use crate::swarm::NetError;

/// What to certify.
#[derive(Debug, Clone, Copy)]
pub struct CertifyRequest<'a> {
    /// The agent's tenant.
    pub tenant: &'a str,
    /// The agent id.
    pub agent_id: &'a str,
    /// The grade to give.
    pub tier: Tier,
    /// The manifest the agent was registered with, byte for byte.
    pub manifest: &'a [u8],
}

/// A certification issued and published.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Certified {
    /// The certification.
    pub certification: CertificationView,
    /// The agent as this node's directory now shows it.
    pub agent: AgentView,
    /// The checks that passed.
    pub checks: Vec<Check>,
}

/// Why nothing was certified.
#[derive(Debug, thiserror::Error)]
pub enum CertifyError {
    /// This node's org is not a steward.
    #[error("org {org:?} is not a steward of the federation; only a steward's node certifies agents")]
    NotSteward {
        /// This node's org.
        org: String,
    },
    /// No live record of the agent.
    #[error("no agent {agent:?} in tenant {tenant:?} in this node's directory")]
    NotFound {
        /// The tenant.
        tenant: String,
        /// The agent id.
        agent: String,
    },
    /// The agent belongs to this node's org.
    #[error("{tenant}/{agent} is an agent of this node's own org, which cannot certify itself")]
    OwnAgent {
        /// The tenant.
        tenant: String,
        /// The agent id.
        agent: String,
    },
    /// The manifest is not the one the agent was registered with.
    #[error(
        "the manifest's SHA-256 is {supplied}, but {tenant}/{agent} is registered with manifest {registered}; \
         certify the exact file it was registered with"
    )]
    ManifestMismatch {
        /// The tenant.
        tenant: String,
        /// The agent id.
        agent: String,
        /// Hex digest of the supplied manifest.
        supplied: String,
        /// Hex digest in the agent's record.
        registered: String,
    },
    /// A conformance check failed.
    #[error("{}", failed(.checks))]
    ChecksFailed {
        /// Every check, passed or not.
        checks: Vec<Check>,
    },
    /// The certification could not be stored.
    #[error(transparent)]
    Directory(#[from] DirectoryError),
    /// Publishing failed (the certification is stored and reaches peers by sync).
    #[error(transparent)]
    Network(#[from] NetError),
}

fn failed(checks: &[Check]) -> String {
    let failed: Vec<String> =
        checks.iter().filter(|c| !c.passed).map(|c| format!("{} check failed ({})", c.name, c.detail)).collect();
    failed.join("; ")
}

/// Runs the checks and, if all pass, certifies (see the module docs).
pub async fn certify(node: &NodeContext, request: CertifyRequest<'_>) -> Result<Certified, CertifyError> {
    let CertifyRequest { tenant, agent_id, tier, manifest } = request;
    let is_steward = {
        let applied = node.consensus.registry.read();
        applied.registry.members.get(&node.org).is_some_and(|m| m.role == MemberRole::Steward)
    };
    if !is_steward {
        return Err(CertifyError::NotSteward { org: node.org.clone() });
    }
    let directory = node.agents.directory();
    let now = now_ms();
    let record = directory
        .record(tenant, agent_id)
        .filter(|r| !r.deleted && r.expires_at_ms > now)
        .ok_or_else(|| CertifyError::NotFound { tenant: tenant.to_owned(), agent: agent_id.to_owned() })?;
    if record.org == node.org {
        return Err(CertifyError::OwnAgent { tenant: tenant.to_owned(), agent: agent_id.to_owned() });
    }
    let supplied = Sha256::digest(manifest);
    if supplied.as_slice() != record.manifest_digest.as_slice() {
        return Err(CertifyError::ManifestMismatch {
            tenant: tenant.to_owned(),
            agent: agent_id.to_owned(),
            supplied: hex::encode(supplied),
            registered: hex::encode(&record.manifest_digest),
        });
    }

    let (manifest_check, agent) = check_manifest(manifest);
    let record_check = check_record(&record, agent.as_ref());
    let endpoint_check = check_endpoint(&record.endpoint).await;
    let checks = vec![manifest_check, record_check, endpoint_check];
    if checks.iter().any(|c| !c.passed) {
        tracing::info!(%tenant, agent = %agent_id, "certification refused: {}", failed(&checks));
        return Err(CertifyError::ChecksFailed { checks });
    }

    let now = now_ms();
    let certification = build_certification(&record, tier, &node.org, now);
    let signed = sign_certification(&node.key, &certification);
    let verified =
        verify_certification(&signed, &node.consensus.registry.read().registry, now).map_err(DirectoryError::from)?;
    let view = verified.view();
    directory.certifications().insert(verified)?;
    let draft = EntryDraft {
        time_ms: now,
        kind: "agent.certified".into(),
        actor: node.org.clone(),
        payload: serde_json::json!({ "tenant": tenant, "agent": agent_id, "certification": &view }),
        raft_index: None,
    };
    if let Err(err) = node.audit_append(draft).await {
        tracing::warn!(%err, "cannot audit certification");
    }
    tracing::info!(%tenant, agent = %agent_id, %tier, "agent certified");
    node.net.publish(node.agents.certifications_topic().to_owned(), signed).await?;
    Ok(Certified { certification: view, agent: directory.view(&record, now), checks })
}
