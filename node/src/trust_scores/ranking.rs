//! Discovery ranked by trust: each agent found gets its trust score (its own, else its org's;
//! 0 for an org nobody has vouched for yet), agents below `min_trust` are dropped, quarantined
//! agents and agents of quarantined orgs are hidden unless asked for, and the rest are sorted
//! by score, highest first (ties by tenant and id, so the order is stable).

use ossa_trust::{Subject, TrustScores};
use serde::{Deserialize, Serialize};

use super::TrustService;
use crate::agents::directory::AgentView;

/// An agent as discovery answers it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RankedAgent {
    /// The directory's view of the agent.
    #[serde(flatten)]
    pub agent: AgentView,
    /// Its trust score, 0..=1000.
    pub trust: u16,
    /// Whether it (or its org) is quarantined by the circuit breaker.
    pub quarantined: bool,
}

/// How to filter and rank.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ranking {
    /// Drop agents scored below this.
    pub min_trust: u16,
    /// Keep quarantined agents (marked as such).
    pub include_quarantined: bool,
}

/// The agent's score in `scores`: its own if observed, else its org's, else 0.
pub fn agent_trust(scores: &TrustScores, org: &str, tenant: &str, id: &str) -> u16 {
    scores.agent_score(org, &format!("{tenant}/{id}")).unwrap_or(0)
}

impl TrustService {
    /// Filters and ranks `agents` (see the module docs).
    pub fn rank(&self, agents: Vec<AgentView>, ranking: Ranking) -> Vec<RankedAgent> {
        let scores = self.scores();
        let mut ranked: Vec<RankedAgent> = agents
            .into_iter()
            .map(|agent| {
                let trust = agent_trust(&scores, &agent.org, &agent.tenant, &agent.id);
                let quarantined = self.is_quarantined(&Subject::Org { org: agent.org.clone() })
                    || self.is_quarantined(&Subject::Agent {
                        org: agent.org.clone(),
                        agent: format!("{}/{}", agent.tenant, agent.id),
                    });
                RankedAgent { agent, trust, quarantined }
            })
            .filter(|r| r.trust >= ranking.min_trust && (ranking.include_quarantined || !r.quarantined))
            .collect();
        ranked.sort_by(|a, b| {
            b.trust.cmp(&a.trust).then_with(|| (&a.agent.tenant, &a.agent.id).cmp(&(&b.agent.tenant, &b.agent.id)))
        });
        ranked
    }
}
