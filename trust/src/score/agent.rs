//! Agent scores: the org's score as a prior, moved by the agent's own record.
//!
//! `score = (O * m + 1000 * S) / (m + S + F + k * V)`, where `O` is the org's score, `m` is
//! `agent_prior_weight` observations, and `S`, `F`, `V` are the agent's decayed successes,
//! failures and violations, each observer's reports weighted by that observer's own org
//! score / 1000. So an agent nobody reported on scores `O`, each success pulls it toward
//! 1000 and each failure (violation: `k` failures) toward 0, and reports from orgs nobody
//! trusts (score 0) do not move it: the same rule by which EigenTrust ignores their opinions.
//! The score never falls when successes are added (`O <= 1000`). An agent of an org convicted
//! of equivocation scores 0.

use super::fixed::EVIDENCE_ONE;
use super::scores::MAX_SCORE;

/// Weighted evidence about one agent: decayed Q32 counts multiplied by the observer's score.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct WeightedCounts {
    pub(crate) successes: u128,
    pub(crate) failures: u128,
    pub(crate) violations: u128,
}

impl WeightedCounts {
    /// Adds one observer's decayed counts `[S, F, V]` (Q32) weighed by its score.
    pub(crate) fn add(&mut self, counts: [u64; 3], observer_score: u16) {
        let w = u128::from(observer_score);
        self.successes += u128::from(counts[0]) * w;
        self.failures += u128::from(counts[1]) * w;
        self.violations += u128::from(counts[2]) * w;
    }
}

/// The agent score from its org's score and its weighted evidence.
pub(crate) fn agent_score(org_score: u16, counts: &WeightedCounts, prior_weight: u32, violation_weight: u32) -> u16 {
    // Counts carry a factor of MAX_SCORE (observer score), so the prior does too.
    let prior = u128::from(prior_weight) * u128::from(EVIDENCE_ONE) * u128::from(MAX_SCORE);
    let numerator = u128::from(org_score) * prior + u128::from(MAX_SCORE) * counts.successes;
    let denominator = prior + counts.successes + counts.failures + u128::from(violation_weight) * counts.violations;
    if denominator == 0 {
        return org_score;
    }
    u16::try_from(numerator / denominator).unwrap_or(MAX_SCORE)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE: u64 = EVIDENCE_ONE;

    fn counts(s: u64, f: u64, v: u64, observer: u16) -> WeightedCounts {
        let mut c = WeightedCounts::default();
        c.add([s * ONE, f * ONE, v * ONE], observer);
        c
    }

    #[test]
    fn starts_at_the_org_score_and_moves_with_evidence() {
        assert_eq!(agent_score(600, &WeightedCounts::default(), 10, 5), 600);
        // Ten successes from a fully trusted observer: (600*10 + 1000*10) / 20.
        assert_eq!(agent_score(600, &counts(10, 0, 0, 1000), 10, 5), 800);
        // Ten failures: 6000 / 20.
        assert_eq!(agent_score(600, &counts(0, 10, 0, 1000), 10, 5), 300);
        // One violation weighs five failures: 6000 / 15.
        assert_eq!(agent_score(600, &counts(0, 0, 1, 1000), 10, 5), 400);
        // An observer at half trust counts half: 10 successes act as 5.
        assert_eq!(agent_score(600, &counts(10, 0, 0, 500), 10, 5), (6000 + 5000) / 15);
        // Untrusted observers do not move it.
        assert_eq!(agent_score(600, &counts(0, 100, 0, 0), 10, 5), 600);
        // Without a prior, the record alone decides.
        assert_eq!(agent_score(600, &counts(3, 1, 0, 1000), 0, 5), 750);
        assert_eq!(agent_score(600, &WeightedCounts::default(), 0, 5), 600);
    }

    #[test]
    fn more_successes_never_lower_it() {
        for org in [0, 300, 1000] {
            for f in [0, 1, 7] {
                for v in [0, 2] {
                    let mut last = 0;
                    for s in 0..40 {
                        let score = agent_score(org, &counts(s, f, v, 700), 10, 5);
                        assert!(score >= last, "org {org} s {s} f {f} v {v}: {score} < {last}");
                        last = score;
                    }
                }
            }
        }
    }
}
