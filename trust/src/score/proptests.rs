//! Property tests of the trust score, with a fixed seed so a failure reproduces everywhere:
//! the computation matches a floating-point reference of the DESIGN formulas, shares form a
//! distribution, more successes never lower a score, collusion without outside ratings gains
//! nothing, results do not depend on arrival order, pruning or the ledger instance, refused
//! input changes nothing, and the breaker quarantines and releases as documented.

use std::collections::{HashMap, HashSet};

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

use super::*;

const DAY: u64 = 86_400_000;
const WEEK: u64 = 7 * DAY;
/// An arbitrary time, not aligned to an epoch.
const NOW: u64 = 3_000 * DAY + 12_345_678;

fn config() -> Config {
    Config { cases: 256, rng_seed: RngSeed::Fixed(0x7E57_7255), ..Config::default() }
}

fn name(i: usize) -> String {
    format!("org-{i}")
}

/// A generated federation: members `org-0 .. org-(n-1)`, the first `stewards` pre-trusted.
#[derive(Debug, Clone)]
struct Fed {
    n: usize,
    stewards: usize,
    observations: Vec<Observation>,
    penalties: Vec<Penalty>,
}

/// (observer, subject, agent, outcome, age in ms).
type ObservationSpec = (usize, usize, usize, Outcome, u64);
/// (reporter, subject, evidence number); number 0 is an equivocation proof.
type PenaltySpec = (usize, usize, u8);

fn outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![4 => Just(Outcome::Success), 2 => Just(Outcome::Failure), 1 => Just(Outcome::Violation)]
}

fn observation_specs(
    observers: std::ops::Range<usize>,
    subjects: std::ops::Range<usize>,
    max: usize,
) -> impl Strategy<Value = Vec<ObservationSpec>> {
    vec((observers, subjects, 0..3usize, outcome(), 0..60 * DAY), 0..max)
}

/// Observations with per-observer sequences in list order.
fn observations(specs: &[ObservationSpec]) -> Vec<Observation> {
    let mut sequences: HashMap<usize, u64> = HashMap::new();
    specs
        .iter()
        .map(|&(observer, subject, agent, outcome, age)| {
            let sequence = sequences.entry(observer).or_insert(0);
            *sequence += 1;
            Observation {
                observer_org: name(observer),
                subject_org: name(subject),
                subject_agent: format!("t{subject}/agent-{agent}"),
                outcome,
                latency_ms: None,
                at_ms: NOW - age,
                sequence: *sequence,
            }
        })
        .collect()
}

/// Penalties; the same (reporter, subject, number) always yields the same penalty.
fn penalties(specs: &[PenaltySpec]) -> Vec<Penalty> {
    specs
        .iter()
        .map(|&(reporter, subject, number)| Penalty {
            reporter_org: name(reporter),
            subject_org: name(subject),
            kind: if number == 0 { PenaltyKind::Equivocation } else { PenaltyKind::InvalidSignature },
            evidence_id: format!("evidence-{number}"),
            at_ms: NOW - u64::from(number) * DAY,
        })
        .collect()
}

fn federation() -> impl Strategy<Value = Fed> {
    (3usize..9, 1usize..4)
        .prop_flat_map(|(n, stewards)| {
            let penalty = (0..n, 0..n, prop_oneof![1 => Just(0u8), 12 => 1u8..4]);
            (Just(n), Just(stewards), observation_specs(0..n, 0..n, 80), vec(penalty, 0..4))
        })
        .prop_map(|(n, stewards, specs, penalty_specs)| Fed {
            n,
            stewards,
            observations: observations(&specs),
            penalties: penalties(&penalty_specs),
        })
}

impl Fed {
    fn members(&self) -> Vec<String> {
        (0..self.n).map(name).collect()
    }

    fn steward_names(&self) -> Vec<String> {
        (0..self.stewards).map(name).collect()
    }

    /// A ledger fed with the given observations and penalties (refusals ignored).
    fn ledger(observations: &[Observation], penalties: &[Penalty]) -> TrustLedger {
        let mut ledger = TrustLedger::new(TrustConfig::default()).expect("valid");
        for o in observations {
            let _ = ledger.record(o, NOW);
        }
        for p in penalties {
            let _ = ledger.record_penalty(p, NOW);
        }
        ledger
    }

    fn scores(&self, ledger: &TrustLedger) -> TrustScores {
        ledger.compute(&self.members(), &self.steward_names(), NOW)
    }

    /// Global trust per the DESIGN formulas in floating point, observation by observation.
    fn reference(&self) -> Vec<f64> {
        let config = TrustConfig::default();
        let h = config.half_life_ms() as f64;
        let weight = |at: u64| 2f64.powf(-((NOW - at) as f64) / h);
        let index = |org: &str| org.strip_prefix("org-").and_then(|i| i.parse::<usize>().ok()).expect("generated");
        let n = self.n;
        let mut seen = HashSet::new();
        let mut convicted = vec![false; n];
        let mut penalty = vec![vec![0f64; n]; n];
        let mut reported = vec![vec![false; n]; n];
        for p in &self.penalties {
            let (r, s) = (index(&p.reporter_org), index(&p.subject_org));
            if r == s || !seen.insert((r, s, p.evidence_id.clone())) {
                continue;
            }
            match p.kind {
                PenaltyKind::Equivocation => convicted[s] = true,
                PenaltyKind::InvalidSignature => penalty[r][s] += weight(p.at_ms),
            }
        }
        for p in &self.penalties {
            let (r, s) = (index(&p.reporter_org), index(&p.subject_org));
            reported[r][s] |= r != s && !convicted[r];
        }
        let mut opinion = vec![vec![0f64; n]; n];
        for o in &self.observations {
            let (i, j) = (index(&o.observer_org), index(&o.subject_org));
            if i != j {
                reported[i][j] |= !convicted[i];
                opinion[i][j] += weight(o.at_ms)
                    * match o.outcome {
                        Outcome::Success => 1.0,
                        Outcome::Failure => -1.0,
                        Outcome::Violation => -f64::from(config.violation_weight),
                    };
            }
        }
        let mut pretrust: Vec<usize> = (0..self.stewards).filter(|&i| !convicted[i]).collect();
        if pretrust.is_empty() {
            pretrust = (0..n).filter(|&i| !convicted[i]).collect();
        }
        let mut p = vec![0f64; n];
        for &i in &pretrust {
            p[i] = 1.0 / pretrust.len() as f64;
        }
        let c: Vec<Option<Vec<f64>>> = (0..n)
            .map(|i| {
                let row: Vec<f64> = (0..n)
                    .map(|j| {
                        let s = opinion[i][j] - f64::from(config.penalty_weight) * penalty[i][j];
                        if convicted[i] || convicted[j] {
                            0.0
                        } else {
                            s.max(0.0)
                        }
                    })
                    .collect();
                let sum: f64 = row.iter().sum();
                if sum > 0.0 {
                    return Some(row.iter().map(|s| s / sum).collect());
                }
                // No one trusted: the pre-trusted orgs it reported nothing about, if that
                // excludes any (see `compute`).
                let rest: Vec<usize> = pretrust.iter().copied().filter(|&j| !reported[i][j]).collect();
                (!rest.is_empty() && rest.len() < pretrust.len())
                    .then(|| (0..n).map(|j| if rest.contains(&j) { 1.0 / rest.len() as f64 } else { 0.0 }).collect())
            })
            .collect();
        let a = f64::from(config.alpha_permille) / 1000.0;
        let mut t = p.clone();
        for _ in 0..2000 {
            let mut next: Vec<f64> = p.iter().map(|pj| a * pj).collect();
            for i in 0..n {
                for j in 0..n {
                    next[j] += (1.0 - a) * t[i] * c[i].as_ref().map_or(p[j], |row| row[j]);
                }
            }
            t = next;
        }
        t
    }
}

fn shares_and_scores(scores: &TrustScores) -> Vec<(String, u64, u16)> {
    scores.orgs.iter().map(|o| (o.org.clone(), o.share, o.score)).collect()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn matches_a_floating_point_reference(fed in federation()) {
        let scores = fed.scores(&Fed::ledger(&fed.observations, &fed.penalties));
        let reference = fed.reference();
        for (org, t) in scores.orgs.iter().zip(&reference) {
            let share = org.share as f64 / SHARE_SCALE as f64;
            prop_assert!((share - t).abs() < 1e-7, "{}: {} vs {}", org.org, share, t);
            let expected = if org.convicted { 0.0 } else { (500.0 * t * fed.n as f64).min(1000.0) };
            prop_assert!((f64::from(org.score) - expected).abs() <= 1.0, "{}: {} vs {}", org.org, org.score, expected);
        }
    }

    #[test]
    fn shares_form_a_distribution(fed in federation()) {
        let scores = fed.scores(&Fed::ledger(&fed.observations, &fed.penalties));
        prop_assert_eq!(scores.orgs.len(), fed.n);
        prop_assert!(scores.converged);
        let total: u64 = scores.orgs.iter().map(|o| o.share).sum();
        if scores.orgs.iter().all(|o| o.convicted) {
            prop_assert_eq!(total, 0);
        } else {
            prop_assert_eq!(total, SHARE_SCALE);
        }
        for org in &scores.orgs {
            prop_assert!(org.score <= MAX_SCORE);
            if org.convicted {
                prop_assert_eq!((org.share, org.score), (0, 0));
            }
        }
        prop_assert!(scores.agents.iter().all(|a| a.score <= MAX_SCORE));
    }

    #[test]
    fn more_successes_never_lower_the_score(
        fed in federation(),
        from_steward in any::<bool>(),
        observer in 0usize..9,
        subject in 0usize..9,
        extra in 1usize..12,
        age in 0..30 * DAY,
    ) {
        // Any observer, or a steward: most generated orgs hold no trust, and the successes
        // reported by an org without trust rightly change nothing.
        let observer = if from_steward { observer % fed.stewards } else { observer % fed.n };
        let subject = subject % fed.n;
        prop_assume!(observer != subject);
        // Add the successes one at a time: neither the score nor the share may ever drop.
        let mut ledger = Fed::ledger(&fed.observations, &fed.penalties);
        let mut before = fed.scores(&ledger).orgs[subject].clone();
        for k in 0..extra {
            let success = Observation {
                observer_org: name(observer),
                subject_org: name(subject),
                subject_agent: format!("t{subject}/agent-0"),
                outcome: Outcome::Success,
                latency_ms: None,
                at_ms: NOW - age,
                sequence: 1_000 + k as u64,
            };
            prop_assert_eq!(ledger.record(&success, NOW), Ok(()));
            let after = fed.scores(&ledger).orgs[subject].clone();
            prop_assert!(after.score >= before.score, "success {}: score {} -> {}", k + 1, before.score, after.score);
            prop_assert!(after.share + 1 >= before.share, "success {}: share {} -> {}", k + 1, before.share, after.share);
            before = after;
        }
    }

    #[test]
    fn colluders_without_outside_ratings_gain_nothing(
        (honest, stewards, colluders, honest_specs, collusion_specs) in (3usize..7, 1usize..3, 2usize..5)
            .prop_flat_map(|(honest, stewards, colluders)| {
                let all = honest + colluders;
                (
                    Just(honest),
                    Just(stewards),
                    Just(colluders),
                    observation_specs(0..honest, 0..honest, 40),
                    observation_specs(honest..all, 0..all, 80),
                )
            }),
    ) {
        let fed = Fed { n: honest + colluders, stewards, observations: vec![], penalties: vec![] };
        let baseline = fed.scores(&Fed::ledger(&observations(&honest_specs), &[]));
        let all_specs: Vec<ObservationSpec> = honest_specs.iter().chain(&collusion_specs).copied().collect();
        let colluding = fed.scores(&Fed::ledger(&observations(&all_specs), &[]));
        for org in &colluding.orgs[honest..] {
            prop_assert_eq!((org.share, org.score), (0, 0), "{}", org.org);
        }
        prop_assert_eq!(shares_and_scores(&colluding), shares_and_scores(&baseline));
        for agent in &colluding.agents {
            prop_assert_eq!(Some(agent.score), baseline.agent_score(&agent.org, &agent.agent), "{}", agent.agent);
        }
    }

    #[test]
    fn order_pruning_and_ledger_do_not_matter(fed in federation(), seed in any::<u64>()) {
        let reference = fed.scores(&Fed::ledger(&fed.observations, &fed.penalties));
        let mut rng = StdRng::seed_from_u64(seed);
        let mut observations = fed.observations.clone();
        let mut penalties = fed.penalties.clone();
        observations.shuffle(&mut rng);
        penalties.shuffle(&mut rng);
        prop_assert_eq!(&fed.scores(&Fed::ledger(&observations, &penalties)), &reference);

        // Interleaved with pruning, penalties first, in reverse.
        let mut ledger = TrustLedger::new(TrustConfig::default()).expect("valid");
        for (k, p) in penalties.iter().rev().enumerate() {
            let _ = ledger.record_penalty(p, NOW);
            if k % 2 == 0 {
                ledger.prune(NOW);
            }
        }
        for (k, o) in observations.iter().rev().enumerate() {
            let _ = ledger.record(o, NOW);
            if k % 7 == 0 {
                ledger.prune(NOW);
            }
        }
        prop_assert_eq!(&fed.scores(&ledger), &reference);
        ledger.prune(NOW);
        prop_assert_eq!(&fed.scores(&ledger), &reference);
    }

    #[test]
    fn refused_input_changes_nothing(fed in federation()) {
        let mut ledger = Fed::ledger(&fed.observations, &fed.penalties);
        let before = fed.scores(&ledger);
        let stats = ledger.stats();
        for o in &fed.observations {
            let expected = if o.observer_org == o.subject_org { Refusal::SelfRating } else { Refusal::Duplicate };
            prop_assert_eq!(ledger.record(o, NOW), Err(expected));
        }
        for p in &fed.penalties {
            prop_assert!(ledger.record_penalty(p, NOW).is_err());
        }
        for i in 0..fed.n {
            let own = Observation {
                observer_org: name(i),
                subject_org: name(i),
                subject_agent: format!("t{i}/agent-0"),
                outcome: Outcome::Success,
                latency_ms: None,
                at_ms: NOW,
                sequence: 5_000,
            };
            prop_assert_eq!(ledger.record(&own, NOW), Err(Refusal::SelfRating));
        }
        prop_assert_eq!(ledger.stats(), stats);
        prop_assert_eq!(&fed.scores(&ledger), &before);
        // The refused self-rating did not use up its sequence number.
        let fresh = Observation {
            observer_org: name(0),
            subject_org: name(1),
            subject_agent: "t1/agent-0".into(),
            outcome: Outcome::Success,
            latency_ms: None,
            at_ms: NOW,
            sequence: 5_000,
        };
        prop_assert_eq!(ledger.record(&fresh, NOW), Ok(()));
    }

    #[test]
    fn breaker_quarantines_only_on_evidence(fed in federation()) {
        let scores = fed.scores(&Fed::ledger(&fed.observations, &fed.penalties));
        let config = BreakerConfig::default();
        let mut breaker = CircuitBreaker::new(config.clone()).expect("valid");
        let transitions = breaker.update(&scores);
        for t in &transitions {
            prop_assert_eq!(t.change, Change::Quarantined);
            let convicted = matches!(&t.subject, Subject::Org { org } if scores.org(org).is_some_and(|o| o.convicted));
            prop_assert!(
                convicted
                    || (t.score < config.quarantine_below
                        && t.evidence.total_milli() >= u64::from(config.min_evidence) * 1000
                        && t.evidence.adverse_milli() >= u64::from(config.min_adverse) * 1000),
                "{:?}", t
            );
        }
        for org in scores.orgs.iter().filter(|o| o.evidence.observers == 0 && !o.convicted) {
            let subject = Subject::Org { org: org.org.clone() };
            prop_assert!(!breaker.is_quarantined(&subject), "{} has no evidence", org.org);
        }
        // The same scores again change nothing.
        prop_assert!(breaker.update(&scores).is_empty());
    }

    #[test]
    fn breaker_quarantines_after_failures_and_releases_after_recovery(
        failures in 11usize..60,
        half_lives in 1u64..6,
        successes in 40usize..100,
    ) {
        let members = ["m0", "m1", "m2", "m3", "s0", "s1", "s2", "x"];
        let stewards = ["s0", "s1", "s2"];
        let mut ledger = TrustLedger::new(TrustConfig::default()).expect("valid");
        let mut breaker = CircuitBreaker::new(BreakerConfig::default()).expect("valid");
        let x = Subject::Org { org: "x".into() };
        let mut sequence = 0;
        let mut report = |ledger: &mut TrustLedger, subject: &str, outcome, count, at| {
            for steward in stewards {
                for _ in 0..count {
                    sequence += 1;
                    let o = Observation {
                        observer_org: steward.into(),
                        subject_org: subject.into(),
                        subject_agent: format!("{subject}/main"),
                        outcome,
                        latency_ms: None,
                        at_ms: at,
                        sequence,
                    };
                    ledger.record(&o, at).expect("fresh");
                }
            }
        };
        for member in ["m0", "m1", "m2", "m3", "x"] {
            report(&mut ledger, member, Outcome::Success, 10, NOW);
        }
        breaker.update(&ledger.compute(&members, &stewards, NOW));
        prop_assert!(!breaker.is_quarantined(&x));

        report(&mut ledger, "x", Outcome::Failure, failures, NOW + DAY);
        let transitions = breaker.update(&ledger.compute(&members, &stewards, NOW + DAY));
        prop_assert!(transitions.iter().any(|t| t.subject == x && t.change == Change::Quarantined));
        prop_assert!(breaker.is_quarantined(&x));

        let later = NOW + DAY + half_lives * WEEK;
        report(&mut ledger, "x", Outcome::Success, successes, later);
        let transitions = breaker.update(&ledger.compute(&members, &stewards, later));
        let released = transitions.iter().find(|t| t.subject == x).expect("a transition for x");
        prop_assert_eq!(released.change, Change::Released);
        prop_assert!(released.score >= BreakerConfig::default().release_at);
        prop_assert!(!breaker.is_quarantined(&x));
    }
}
