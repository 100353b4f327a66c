//! The circuit breaker: which orgs and agents are quarantined, with hysteresis.
//!
//! Fed each new [`TrustScores`], it returns the [`Transition`]s for the caller to apply,
//! audit and count. Rules, per org and per agent:
//! - a subject is **quarantined** when its score is below `quarantine_below` and the evidence
//!   about it reaches `min_evidence` observations in total and `min_adverse` failures,
//!   violations and penalties (so a newcomer, or an org with a clean record that few trusted
//!   orgs have dealt with yet, is never quarantined); an org convicted of equivocation is
//!   quarantined at once;
//! - a quarantined subject is **released** when its score reaches `release_at` (higher than
//!   `quarantine_below`, so a score hovering at the threshold does not flap) and it is not
//!   convicted;
//! - a quarantined subject missing from the scores (the org left the federation, or all
//!   evidence about the agent expired) is **forgotten**: there is nothing left to hold it by.
//!
//! Quarantine is a statement about one node's view; the breaker keeps no history beyond the
//! current set, which the caller may persist and restore with [`CircuitBreaker::restore`].

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::config::BreakerConfig;
use super::error::TrustConfigError;
use super::scores::{Evidence, TrustScores};

/// An org or an agent.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Subject {
    /// A member org.
    Org {
        /// The org.
        org: String,
    },
    /// An agent of a member org.
    Agent {
        /// The org that owns it.
        org: String,
        /// The agent, `tenant/agent-id`.
        agent: String,
    },
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::Org { org } => write!(f, "org {org}"),
            Subject::Agent { org, agent } => write!(f, "agent {agent} of org {org}"),
        }
    }
}

/// What happened to a subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// The subject is now quarantined.
    Quarantined,
    /// The subject's score recovered; it is no longer quarantined.
    Released,
    /// The subject no longer appears in the scores; it is no longer quarantined.
    Forgotten,
}

/// One change of quarantine state, for the audit log and metrics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    /// Whom it concerns.
    pub subject: Subject,
    /// What changed.
    pub change: Change,
    /// The subject's score that caused it (0 when forgotten).
    pub score: u16,
    /// The evidence behind the score (empty when forgotten).
    pub evidence: Evidence,
}

/// Quarantine state of orgs and agents.
#[derive(Debug, Clone)]
pub struct CircuitBreaker {
    config: BreakerConfig,
    quarantined: BTreeSet<Subject>,
}

impl CircuitBreaker {
    /// A breaker with nobody quarantined.
    pub fn new(config: BreakerConfig) -> Result<Self, TrustConfigError> {
        Self::restore(config, [])
    }

    /// A breaker with the given subjects quarantined (e.g. reloaded after a restart).
    pub fn restore(
        config: BreakerConfig,
        quarantined: impl IntoIterator<Item = Subject>,
    ) -> Result<Self, TrustConfigError> {
        config.validate()?;
        Ok(Self { config, quarantined: quarantined.into_iter().collect() })
    }

    /// Whether `subject` is quarantined.
    pub fn is_quarantined(&self, subject: &Subject) -> bool {
        self.quarantined.contains(subject)
    }

    /// The quarantined subjects, sorted.
    pub fn quarantined(&self) -> impl Iterator<Item = &Subject> {
        self.quarantined.iter()
    }

    /// Applies new scores; returns the transitions in a deterministic order (orgs by name,
    /// then agents by (agent, org), then forgotten subjects in sorted order).
    pub fn update(&mut self, scores: &TrustScores) -> Vec<Transition> {
        let mut transitions = Vec::new();
        let mut present = BTreeSet::new();
        let orgs = scores.orgs.iter().map(|o| (Subject::Org { org: o.org.clone() }, o.score, o.evidence, o.convicted));
        let agents = scores
            .agents
            .iter()
            .map(|a| (Subject::Agent { org: a.org.clone(), agent: a.agent.clone() }, a.score, a.evidence, false));
        for (subject, score, evidence, convicted) in orgs.chain(agents) {
            if let Some(change) = self.step(&subject, score, &evidence, convicted) {
                transitions.push(Transition { subject: subject.clone(), change, score, evidence });
            }
            present.insert(subject);
        }
        let gone: Vec<Subject> = self.quarantined.difference(&present).cloned().collect();
        for subject in gone {
            self.quarantined.remove(&subject);
            transitions.push(Transition {
                subject,
                change: Change::Forgotten,
                score: 0,
                evidence: Evidence::default(),
            });
        }
        transitions
    }

    fn step(&mut self, subject: &Subject, score: u16, evidence: &Evidence, convicted: bool) -> Option<Change> {
        let c = &self.config;
        if self.quarantined.contains(subject) {
            if !convicted && score >= c.release_at {
                self.quarantined.remove(subject);
                return Some(Change::Released);
            }
            return None;
        }
        let enough = evidence.total_milli() >= u64::from(c.min_evidence) * 1000
            && evidence.adverse_milli() >= u64::from(c.min_adverse) * 1000;
        if convicted || (score < c.quarantine_below && enough) {
            self.quarantined.insert(subject.clone());
            return Some(Change::Quarantined);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::score::scores::OrgScore;

    fn scores(orgs: &[(&str, u16, u64, u64)]) -> TrustScores {
        TrustScores {
            now_ms: 0,
            iterations: 1,
            converged: true,
            orgs: orgs
                .iter()
                .map(|&(org, score, successes, failures)| OrgScore {
                    org: org.into(),
                    share: 0,
                    score,
                    steward: false,
                    convicted: false,
                    evidence: Evidence {
                        successes_milli: successes * 1000,
                        failures_milli: failures * 1000,
                        observers: 1,
                        ..Evidence::default()
                    },
                })
                .collect(),
            agents: vec![],
        }
    }

    fn org(name: &str) -> Subject {
        Subject::Org { org: name.into() }
    }

    #[test]
    fn hysteresis_between_quarantine_and_release() {
        let mut b = CircuitBreaker::new(BreakerConfig::default()).expect("valid");
        // Low score, enough evidence with failures: quarantined.
        let t = b.update(&scores(&[("a", 150, 2, 4), ("b", 900, 10, 0)]));
        assert_eq!(t.len(), 1);
        assert_eq!((&t[0].subject, t[0].change, t[0].score), (&org("a"), Change::Quarantined, 150));
        assert!(b.is_quarantined(&org("a")));
        // Above the quarantine threshold but below release: still quarantined, no transition.
        assert!(b.update(&scores(&[("a", 399, 9, 4), ("b", 900, 10, 0)])).is_empty());
        assert!(b.is_quarantined(&org("a")));
        // At the release threshold: released.
        let t = b.update(&scores(&[("a", 400, 20, 4), ("b", 900, 10, 0)]));
        assert_eq!((t.len(), &t[0].subject, t[0].change), (1, &org("a"), Change::Released));
        // Between thresholds again: not re-quarantined.
        assert!(b.update(&scores(&[("a", 300, 20, 6), ("b", 900, 10, 0)])).is_empty());
        assert_eq!(b.quarantined().count(), 0);
    }

    #[test]
    fn too_little_or_only_good_evidence_never_quarantines() {
        let mut b = CircuitBreaker::new(BreakerConfig::default()).expect("valid");
        // No evidence (a newcomer), too little evidence, and a clean record.
        assert!(b.update(&scores(&[("new", 0, 0, 0), ("few", 0, 1, 3), ("clean", 10, 50, 0)])).is_empty());
        assert_eq!(b.quarantined().count(), 0);
    }

    #[test]
    fn convicted_orgs_are_quarantined_and_stay() {
        let mut b = CircuitBreaker::new(BreakerConfig::default()).expect("valid");
        let mut s = scores(&[("x", 0, 0, 0)]);
        s.orgs[0].convicted = true;
        assert_eq!(b.update(&s)[0].change, Change::Quarantined);
        s.orgs[0].score = 1000;
        assert!(b.update(&s).is_empty(), "a conviction is not released by score");
    }

    #[test]
    fn vanished_subjects_are_forgotten() {
        let mut b = CircuitBreaker::restore(BreakerConfig::default(), [org("gone"), org("a")]).expect("valid");
        let t = b.update(&scores(&[("a", 100, 0, 9)]));
        assert_eq!(t.len(), 1);
        assert_eq!((&t[0].subject, t[0].change), (&org("gone"), Change::Forgotten));
        assert_eq!(b.quarantined().cloned().collect::<Vec<_>>(), vec![org("a")]);
        assert!(CircuitBreaker::new(BreakerConfig { release_at: 100, ..BreakerConfig::default() }).is_err());
    }
}
