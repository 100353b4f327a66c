//! The evidence the ledger takes in: [`Observation`]s (one org's report of one interaction
//! with another org's agent) and [`Penalty`] reports (proof or claim of misbehaviour by an
//! org). Both arrive already verified (signature, admitted signer) by the caller.

use serde::{Deserialize, Serialize};

/// Longest org name the ledger accepts, in bytes (org names are validated far shorter).
pub const MAX_ORG_LEN: usize = 128;
/// Longest agent reference (`tenant/agent-id`) the ledger accepts, in bytes.
pub const MAX_AGENT_LEN: usize = 256;
/// Longest penalty evidence id the ledger accepts, in bytes (a hex SHA-256 is 64).
pub const MAX_EVIDENCE_ID_LEN: usize = 128;

/// What happened in one interaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The agent did what was asked.
    Success,
    /// The agent failed or did not answer.
    Failure,
    /// The agent broke a policy; weighs `violation_weight` failures.
    Violation,
}

impl Outcome {
    /// Index of the outcome in per-outcome counters.
    pub(crate) fn index(self) -> usize {
        match self {
            Outcome::Success => 0,
            Outcome::Failure => 1,
            Outcome::Violation => 2,
        }
    }
}

/// One org's signed statement about one interaction with another org's agent.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Observation {
    /// The org that made the call and signs the observation.
    pub observer_org: String,
    /// The org that owns the agent.
    pub subject_org: String,
    /// The agent, as `tenant/agent-id`.
    pub subject_agent: String,
    /// What happened.
    pub outcome: Outcome,
    /// Observed latency; carried for routing and the audit log, not used by the score.
    pub latency_ms: Option<u32>,
    /// When the interaction happened, in milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// The observer's sequence number; each (observer, sequence) counts once.
    pub sequence: u64,
}

/// Kind of misbehaviour a [`Penalty`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PenaltyKind {
    /// Two signed checkpoints of the subject's audit log that fork: a proof anyone can check.
    /// Once recorded by a member, the subject's trust is zero, for good.
    Equivocation,
    /// The subject sent the reporter a message whose signature did not verify. Only the
    /// reporter can see it, so it lowers only the reporter's opinion of the subject (by
    /// `penalty_weight` failures) and decays like an observation.
    InvalidSignature,
}

/// A report by one org that another misbehaved.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Penalty {
    /// The org that reports (and signs) the penalty.
    pub reporter_org: String,
    /// The org accused.
    pub subject_org: String,
    /// What it did.
    pub kind: PenaltyKind,
    /// Identifies the evidence (e.g. hex hash of the offending messages); one penalty per
    /// (reporter, subject, evidence id) counts.
    pub evidence_id: String,
    /// When the misbehaviour was detected, in milliseconds since the Unix epoch.
    pub at_ms: u64,
}
