//! [`TrustLedger::compute`]: from the ledger's counters to [`TrustScores`].
//!
//! 1. Members are sorted and deduplicated; stewards outside the member list and evidence from
//!    or about non-members are ignored.
//! 2. Every counter is decayed to `now` ([`DecayClock`]). Per (observer, subject) pair of
//!    members: `s_ij = S - F - k*V - penalty_weight*P`; the sums per subject are its
//!    [`Evidence`].
//! 3. A member against which a member filed an equivocation proof is convicted: nobody's
//!    opinion of it counts, its own reports are ignored, it is not pre-trusted, its trust is 0.
//! 4. Local trust rows ([`SparseRows`]), then global trust ([`global_trust`]) with `p`
//!    uniform over the non-convicted stewards (over all non-convicted members if there is no
//!    such steward), then shares and scores ([`super::share`]).
//! 5. Agent scores ([`super::agent`]) from the org scores and the agents' own counters.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::agent::{agent_score, WeightedCounts};
use super::eigen::global_trust;
use super::evidence::{decay_one, DecayClock};
use super::fixed::{q32_to_milli, ONE_Q63};
use super::ledger::TrustLedger;
use super::local::SparseRows;
use super::scores::{AgentScore, Evidence, OrgScore, TrustScores};
use super::share::{score, shares};
use super::types::PenaltyKind;

/// Undecayed sums behind an [`Evidence`], in Q32.
#[derive(Debug, Clone, Copy, Default)]
struct EvidenceSums {
    counts: [u128; 4],
    observers: u32,
}

impl EvidenceSums {
    fn add(&mut self, counts: [u64; 3], penalties: u64) {
        for (sum, c) in self.counts.iter_mut().zip([counts[0], counts[1], counts[2], penalties]) {
            *sum += u128::from(c);
        }
        self.observers += 1;
    }

    fn finish(&self) -> Evidence {
        Evidence {
            successes_milli: q32_to_milli(self.counts[0]),
            failures_milli: q32_to_milli(self.counts[1]),
            violations_milli: q32_to_milli(self.counts[2]),
            penalties_milli: q32_to_milli(self.counts[3]),
            observers: self.observers,
        }
    }
}

/// Sorted, deduplicated names.
fn sorted_names<S: AsRef<str>>(names: &[S]) -> Vec<&str> {
    let mut sorted: Vec<&str> = names.iter().map(AsRef::as_ref).collect();
    sorted.sort_unstable();
    sorted.dedup();
    sorted
}

impl TrustLedger {
    /// Scores of the `members` (org names; the federation's membership) at `now_ms`, with the
    /// `stewards` as pre-trusted orgs. Two nodes whose ledgers accepted the same observations
    /// and penalties get equal results for the same arguments, whatever the order of arrival
    /// and whether or not they pruned. `now_ms` should not go backwards after a
    /// [`TrustLedger::prune`]; nodes that want to compare scores should agree on it (e.g. round
    /// it down to a minute).
    pub fn compute<S: AsRef<str>, T: AsRef<str>>(&self, members: &[S], stewards: &[T], now_ms: u64) -> TrustScores {
        let config = &self.config;
        let clock = self.clock(now_ms);
        let names = sorted_names(members);
        let n = names.len();
        let member: Vec<Option<u32>> = (0..self.orgs.len())
            .map(|id| names.binary_search(&self.orgs.key(id).as_str()).ok().and_then(|i| u32::try_from(i).ok()))
            .collect();
        let pair_of = |i: usize, j: usize| Some((member[i]?, member[j]?));

        // Convictions first (a proof counts whoever files it), then decayed penalty weights
        // per pair of members, ignoring reporters that are themselves convicted.
        let mut convicted = vec![false; n];
        for (&(reporter, subject), log) in &self.penalties {
            if let Some((_, j)) = pair_of(reporter, subject) {
                if log.iter().any(|e| e.kind == PenaltyKind::Equivocation) {
                    convicted[j as usize] = true;
                }
            }
        }
        let mut penalty_weight: HashMap<(u32, u32), u64> = HashMap::new();
        for (&(reporter, subject), log) in &self.penalties {
            let Some((i, j)) = pair_of(reporter, subject) else { continue };
            if convicted[i as usize] {
                continue;
            }
            let weight = log
                .iter()
                .filter_map(|e| match e.kind {
                    PenaltyKind::Equivocation => Some(e.weight),
                    PenaltyKind::InvalidSignature => decay_one(e.weight, e.epoch, &clock),
                })
                .fold(0u64, u64::saturating_add);
            if weight > 0 {
                penalty_weight.insert((i, j), weight);
            }
        }

        // Opinions and evidence.
        let k = i128::from(config.violation_weight);
        let kp = i128::from(config.penalty_weight);
        let mut evidence = vec![EvidenceSums::default(); n];
        let mut opinions = Vec::with_capacity(self.org_pairs.len());
        let mut counted: HashMap<(u32, u32), [u64; 3]> = HashMap::with_capacity(self.org_pairs.len());
        for (&(observer, subject), buckets) in &self.org_pairs {
            let Some((i, j)) = pair_of(observer, subject) else { continue };
            if convicted[i as usize] {
                continue;
            }
            let Some(counts) = buckets.decayed(&clock) else { continue };
            counted.insert((i, j), counts);
        }
        let mut trusts_someone = vec![false; n];
        let mut complaints: BTreeMap<u32, BTreeSet<usize>> = BTreeMap::new();
        for (&(i, j), &counts) in &counted {
            let penalties = penalty_weight.get(&(i, j)).copied().unwrap_or(0);
            evidence[j as usize].add(counts, penalties);
            let [s, f, v] = counts.map(i128::from);
            let opinion = s - f - k * v - kp * i128::from(penalties);
            if opinion > 0 && !convicted[j as usize] {
                opinions.push((i, j, u64::try_from(opinion).unwrap_or(u64::MAX)));
                trusts_someone[i as usize] = true;
            } else {
                complaints.entry(i).or_default().insert(j as usize);
            }
        }
        for (&(i, j), &penalties) in &penalty_weight {
            if !counted.contains_key(&(i, j)) {
                evidence[j as usize].add([0; 3], penalties);
                complaints.entry(i).or_default().insert(j as usize);
            }
        }

        // Global trust.
        let mut pretrusted: Vec<usize> = sorted_names(stewards)
            .iter()
            .filter_map(|s| names.binary_search(s).ok())
            .filter(|&i| !convicted[i])
            .collect();
        if pretrusted.is_empty() {
            pretrusted = (0..n).filter(|&i| !convicted[i]).collect();
        }
        // An org that trusts no one would hand its trust to the pre-trusted orgs, including the
        // ones it complains about; it hands it, evenly, to the pre-trusted orgs it has no
        // complaint about instead (to all of them if it complains about every one). So failures
        // reported by a single observer still lower the subject's global trust.
        for (i, complained) in complaints {
            if trusts_someone[i as usize] {
                continue;
            }
            let rest: Vec<usize> = pretrusted.iter().copied().filter(|p| !complained.contains(p)).collect();
            if !rest.is_empty() && rest.len() < pretrusted.len() {
                opinions.extend(rest.into_iter().filter_map(|p| Some((i, u32::try_from(p).ok()?, 1))));
            }
        }
        let rows = SparseRows::build(n, opinions, config.alpha_permille);
        let epsilon = ONE_Q63 >> config.convergence_bits;
        let global = global_trust(&rows, &pretrusted, config.max_iterations, epsilon);
        let share = shares(&global.trust);
        let steward = {
            let stewards = sorted_names(stewards);
            move |name: &str| stewards.binary_search(&name).is_ok()
        };
        let orgs: Vec<OrgScore> = names
            .iter()
            .enumerate()
            .map(|(i, name)| OrgScore {
                org: (*name).to_owned(),
                share: share[i],
                score: if convicted[i] { 0 } else { score(global.trust[i], n) },
                steward: steward(name),
                convicted: convicted[i],
                evidence: evidence[i].finish(),
            })
            .collect();

        let agents = self.agent_scores(&orgs, &member, &clock);
        TrustScores { now_ms, iterations: global.iterations, converged: global.converged, orgs, agents }
    }

    /// Scores of the agents of member orgs that member observers reported on.
    fn agent_scores(&self, orgs: &[OrgScore], member: &[Option<u32>], clock: &DecayClock) -> Vec<AgentScore> {
        let mut per_agent: HashMap<usize, (EvidenceSums, WeightedCounts)> = HashMap::new();
        for (&(observer, agent), buckets) in &self.agent_pairs {
            let (owner, _) = self.agents.key(agent);
            let (Some(i), Some(_)) = (member[observer], member[*owner]) else { continue };
            let observer = &orgs[i as usize];
            if observer.convicted {
                continue;
            }
            let Some(counts) = buckets.decayed(clock) else { continue };
            let (sums, weighted) = per_agent.entry(agent).or_default();
            sums.add(counts, 0);
            weighted.add(counts, observer.score);
        }
        let mut agents: Vec<AgentScore> = per_agent
            .into_iter()
            .filter_map(|(agent, (sums, weighted))| {
                let (owner, name) = self.agents.key(agent);
                let org = &orgs[member[*owner]? as usize];
                let score = if org.convicted {
                    0
                } else {
                    agent_score(org.score, &weighted, self.config.agent_prior_weight, self.config.violation_weight)
                };
                Some(AgentScore {
                    org: org.org.clone(),
                    agent: name.clone(),
                    score,
                    org_score: org.score,
                    evidence: sums.finish(),
                })
            })
            .collect();
        agents.sort_unstable_by(|a, b| (&a.agent, &a.org).cmp(&(&b.agent, &b.org)));
        agents
    }
}
