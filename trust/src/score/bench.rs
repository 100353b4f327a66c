//! A synthetic federation for benchmarks (`ossa bench trust`, `examples/eigentrust.rs`).
//!
//! [`bench_workload`] draws, from a seed, `orgs` member orgs (the first five are stewards),
//! each with a hidden reliability (80% reliable, 15% flaky, 5% bad), 25 regular partners and
//! four agents, and `observations` observations spread over the last four weeks: a random
//! observer reports on an agent of one of its partners, the outcome drawn from the partner's
//! reliability. [`TrustWorkload::ingest`] records them into a fresh ledger.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::config::TrustConfig;
use super::error::TrustConfigError;
use super::ledger::TrustLedger;
use super::types::{Observation, Outcome};

/// Stewards in the synthetic federation (a Raft group of five).
const STEWARDS: usize = 5;
/// Partners each org deals with: sparse, like real business relations.
const PARTNERS: usize = 25;
/// Agents per org.
const AGENTS: usize = 4;
/// Observations are spread over this many days before `now_ms`.
const SPREAD_DAYS: u64 = 28;
/// The fixed "now" of the workload: 2025-01-01T00:00:00Z.
const NOW_MS: u64 = 1_735_689_600_000;

/// A generated federation and its observations.
#[derive(Debug, Clone)]
pub struct TrustWorkload {
    /// Member org names, sorted.
    pub members: Vec<String>,
    /// Steward org names.
    pub stewards: Vec<String>,
    /// Observations in generation order (sequences increase per observer).
    pub observations: Vec<Observation>,
    /// The time to record and compute at.
    pub now_ms: u64,
}

impl TrustWorkload {
    /// Records every observation into a new ledger; returns it and the number refused (zero
    /// for a generated workload unless `config` is stricter than the default).
    pub fn ingest(&self, config: &TrustConfig) -> Result<(TrustLedger, usize), TrustConfigError> {
        let mut ledger = TrustLedger::new(config.clone())?;
        let refused = self.observations.iter().filter(|o| ledger.record(o, self.now_ms).is_err()).count();
        Ok((ledger, refused))
    }
}

/// Generates the workload of `orgs` orgs and `observations` observations from `seed`.
pub fn bench_workload(orgs: usize, observations: usize, seed: u64) -> TrustWorkload {
    let mut rng = StdRng::seed_from_u64(seed);
    let members: Vec<String> = (0..orgs).map(|i| format!("org-{i:05}")).collect();
    let stewards = members.iter().take(STEWARDS).cloned().collect();
    // Success / violation rates in percent.
    let reliability: Vec<(u32, u32)> = (0..orgs)
        .map(|_| match rng.gen_range(0..100) {
            0..80 => (97, 0),
            80..95 => (70, 1),
            _ => (30, 10),
        })
        .collect();
    let partners: Vec<Vec<usize>> = (0..orgs)
        .map(|me| {
            (0..PARTNERS.min(orgs.saturating_sub(1)))
                .map(|_| loop {
                    let other = rng.gen_range(0..orgs);
                    if other != me {
                        break other;
                    }
                })
                .collect()
        })
        .collect();
    let mut sequence = vec![0u64; orgs];
    let mut generated = Vec::with_capacity(observations);
    for _ in 0..observations {
        let observer = rng.gen_range(0..orgs);
        let list = &partners[observer];
        if list.is_empty() {
            continue;
        }
        let subject = list[rng.gen_range(0..list.len())];
        let (success, violation) = reliability[subject];
        let roll = rng.gen_range(0..100);
        let outcome = if roll < success {
            Outcome::Success
        } else if roll < success + violation {
            Outcome::Violation
        } else {
            Outcome::Failure
        };
        sequence[observer] += 1;
        generated.push(Observation {
            observer_org: members[observer].clone(),
            subject_org: members[subject].clone(),
            subject_agent: format!("{}-main/agent-{}", members[subject], rng.gen_range(0..AGENTS)),
            outcome,
            latency_ms: Some(rng.gen_range(5..500)),
            at_ms: NOW_MS - rng.gen_range(0..SPREAD_DAYS * 24 * 3_600_000),
            sequence: sequence[observer],
        });
    }
    TrustWorkload { members, stewards, observations: generated, now_ms: NOW_MS }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workload_is_reproducible_and_fully_accepted() {
        let a = bench_workload(50, 2000, 7);
        let b = bench_workload(50, 2000, 7);
        assert_eq!(a.observations, b.observations);
        assert_eq!(a.observations.len(), 2000);
        assert_eq!(a.stewards.len(), 5);
        let (ledger, refused) = a.ingest(&TrustConfig::default()).expect("valid");
        assert_eq!(refused, 0);
        let scores = ledger.compute(&a.members, &a.stewards, a.now_ms);
        assert!(scores.converged);
        assert_eq!(scores.orgs.len(), 50);
        assert!(bench_workload(3, 10, 1).observations.len() == 10);
        assert!(bench_workload(1, 10, 1).observations.is_empty(), "a lone org has nobody to rate");
    }
}
