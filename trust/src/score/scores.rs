//! What a computation returns: per org its global share, score and the evidence behind them,
//! per agent its score and evidence. Sorted, serde-able, and equal (`==`) on every node that
//! computed from the same observations at the same time.

use serde::{Deserialize, Serialize};

/// Global shares are fixed-point fractions of this: the shares of all members sum to exactly
/// `SHARE_SCALE` (unless every member is convicted of equivocation, when all are zero).
pub const SHARE_SCALE: u64 = 1 << 32;

/// Highest score.
pub const MAX_SCORE: u16 = 1000;

/// Decayed evidence about one subject, in thousandths of an observation (1500 = one and a
/// half observations' worth after decay). Counts come from member observers not convicted of
/// equivocation, and are not weighted by the observer's trust: they show what was reported,
/// not how much it counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Evidence {
    /// Decayed successes.
    pub successes_milli: u64,
    /// Decayed failures.
    pub failures_milli: u64,
    /// Decayed policy violations (each weighs `violation_weight` failures in the score).
    pub violations_milli: u64,
    /// Decayed penalties (invalid signatures decay; an equivocation proof counts 1000 for
    /// good). Always zero for agents: penalties are against orgs.
    pub penalties_milli: u64,
    /// Member orgs whose reports about the subject still count.
    pub observers: u32,
}

impl Evidence {
    /// Everything reported, in thousandths: successes, failures, violations and penalties.
    pub fn total_milli(&self) -> u64 {
        self.successes_milli
            .saturating_add(self.failures_milli)
            .saturating_add(self.violations_milli)
            .saturating_add(self.penalties_milli)
    }

    /// Adverse reports, in thousandths: failures, violations and penalties.
    pub fn adverse_milli(&self) -> u64 {
        self.failures_milli.saturating_add(self.violations_milli).saturating_add(self.penalties_milli)
    }
}

/// Global trust of one member org.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgScore {
    /// The org.
    pub org: String,
    /// Its share of global trust, out of [`SHARE_SCALE`].
    pub share: u64,
    /// `min(1000, 500 * share * members / SHARE_SCALE)` rounded to nearest (computed before
    /// rounding the share):
    /// 500 is the average share, 1000 twice the average or more, 0 no trust at all.
    pub score: u16,
    /// Whether the org is a steward (pre-trusted).
    pub steward: bool,
    /// Whether a member filed proof that the org equivocated; its score is then 0.
    pub convicted: bool,
    /// The evidence about it.
    pub evidence: Evidence,
}

/// Trust of one agent that member orgs reported on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentScore {
    /// The org that owns the agent.
    pub org: String,
    /// The agent, `tenant/agent-id`.
    pub agent: String,
    /// Its org's score blended with its own record (see [`crate::score`]).
    pub score: u16,
    /// The org score it started from.
    pub org_score: u16,
    /// The evidence about the agent.
    pub evidence: Evidence,
}

/// Scores of a federation at one time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustScores {
    /// The time the evidence was decayed to, in milliseconds since the Unix epoch.
    pub now_ms: u64,
    /// Power-iteration rounds run.
    pub iterations: u32,
    /// Whether the iteration converged before `max_iterations`.
    pub converged: bool,
    /// One entry per member org, sorted by org name.
    pub orgs: Vec<OrgScore>,
    /// One entry per agent of a member org that a member observer reported on and whose
    /// evidence still counts, sorted by (agent, org).
    pub agents: Vec<AgentScore>,
}

impl TrustScores {
    /// The score of a member org.
    pub fn org(&self, org: &str) -> Option<&OrgScore> {
        self.orgs.binary_search_by(|o| o.org.as_str().cmp(org)).ok().map(|i| &self.orgs[i])
    }

    /// The score entry of an agent, if any member reported on it.
    pub fn agent(&self, org: &str, agent: &str) -> Option<&AgentScore> {
        self.agents
            .binary_search_by(|a| (a.agent.as_str(), a.org.as_str()).cmp(&(agent, org)))
            .ok()
            .map(|i| &self.agents[i])
    }

    /// The score to use for an agent: its own when members reported on it, else its org's
    /// (an agent starts from its org's score). `None` if the org is not a member.
    pub fn agent_score(&self, org: &str, agent: &str) -> Option<u16> {
        match self.agent(org, agent) {
            Some(a) => Some(a.score),
            None => self.org(org).map(|o| o.score),
        }
    }
}
