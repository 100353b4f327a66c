//! The evidence ledger: every accepted observation and penalty, folded into bounded,
//! order-independent counters.
//!
//! Input: verified [`Observation`]s and [`Penalty`] reports with the local clock. Each is
//! checked (field sizes, self-rating, time window, replay window) and either refused with a
//! [`Refusal`] that leaves the ledger untouched, or added to:
//! - the observer's replay window ([`super::replay`]);
//! - the decayed counters of (observer, subject org) and (observer, subject agent)
//!   ([`super::evidence`]);
//! - for a penalty, the (reporter, subject) penalty log, deduplicated by evidence id.
//!
//! Memory grows with the number of distinct observers (one replay window each), distinct
//! (observer, subject) pairs (at most `horizon + 1` buckets each), distinct names (interned
//! once), and at most [`MAX_PENALTIES_PER_PAIR`] penalties per (reporter, subject); never with
//! the number of observations. [`TrustLedger::prune`] drops what no longer counts.
//! [`TrustLedger::compute`] (in `compute.rs`) turns the ledger into scores.

use std::borrow::Borrow;
use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::hash::Hash;

use super::config::TrustConfig;
use super::error::{Refusal, TrustConfigError};
use super::evidence::{epoch_weight, oldest_epoch, DecayClock, OutcomeBuckets};
use super::fixed::EVIDENCE_ONE;
use super::replay::ReplayWindow;
use super::types::{Observation, Penalty, PenaltyKind, MAX_AGENT_LEN, MAX_EVIDENCE_ID_LEN, MAX_ORG_LEN};

/// Most penalties kept per (reporter, subject). A reporter's opinion of a subject is at zero
/// after a handful of penalties (each weighs `penalty_weight` failures), so more add nothing
/// but memory; further ones are refused with [`Refusal::TooManyPenalties`].
pub const MAX_PENALTIES_PER_PAIR: usize = 64;

/// Index of an interned org name.
pub(crate) type OrgId = usize;
/// Index of an interned (subject org, agent) pair.
pub(crate) type AgentId = usize;

/// Gives each distinct key a small index, once, for the life of the ledger.
#[derive(Debug, Clone)]
pub(crate) struct Interner<K> {
    ids: HashMap<K, usize>,
    keys: Vec<K>,
}

impl<K> Default for Interner<K> {
    fn default() -> Self {
        Self { ids: HashMap::new(), keys: Vec::new() }
    }
}

impl<K: Hash + Eq + Clone> Interner<K> {
    pub(crate) fn get<Q: Hash + Eq + ?Sized>(&self, key: &Q) -> Option<usize>
    where
        K: Borrow<Q>,
    {
        self.ids.get(key).copied()
    }

    /// The index of `key`, allocating an owned copy only when it is new.
    fn intern_ref<Q: Hash + Eq + ToOwned<Owned = K> + ?Sized>(&mut self, key: &Q) -> usize
    where
        K: Borrow<Q>,
    {
        match self.get(key) {
            Some(id) => id,
            None => self.intern(key.to_owned()),
        }
    }

    fn intern(&mut self, key: K) -> usize {
        let next = self.keys.len();
        match self.ids.entry(key) {
            Entry::Occupied(e) => *e.get(),
            Entry::Vacant(e) => {
                self.keys.push(e.key().clone());
                e.insert(next);
                next
            }
        }
    }

    pub(crate) fn key(&self, id: usize) -> &K {
        &self.keys[id]
    }

    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }
}

/// One recorded penalty.
#[derive(Debug, Clone)]
pub(crate) struct PenaltyEntry {
    evidence_id: Box<str>,
    pub(crate) kind: PenaltyKind,
    pub(crate) epoch: u64,
    /// Q32 weight of one penalty at its time, as for observations.
    pub(crate) weight: u64,
}

/// Sizes of a ledger, for metrics and the benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct LedgerStats {
    /// Observations accepted since the ledger was created.
    pub accepted: u64,
    /// Penalties accepted since the ledger was created.
    pub penalties_accepted: u64,
    /// Observers with a replay window.
    pub observers: usize,
    /// (observer, subject org) pairs with counters.
    pub org_pairs: usize,
    /// (observer, subject agent) pairs with counters.
    pub agent_pairs: usize,
    /// (reporter, subject) pairs with penalties.
    pub penalty_pairs: usize,
}

/// Accepted evidence about orgs and agents; see the module documentation of [`crate::score`]
/// for the whole flow.
#[derive(Debug, Clone)]
pub struct TrustLedger {
    pub(crate) config: TrustConfig,
    pub(crate) orgs: Interner<String>,
    pub(crate) agents: Interner<(OrgId, String)>,
    replay: HashMap<OrgId, ReplayWindow>,
    pub(crate) org_pairs: HashMap<(OrgId, OrgId), OutcomeBuckets>,
    pub(crate) agent_pairs: HashMap<(OrgId, AgentId), OutcomeBuckets>,
    pub(crate) penalties: HashMap<(OrgId, OrgId), Vec<PenaltyEntry>>,
    accepted: u64,
    penalties_accepted: u64,
}

fn check_field(value: &str, max: usize, field: &'static str) -> Result<(), Refusal> {
    if value.is_empty() || value.len() > max {
        return Err(Refusal::InvalidField(field));
    }
    Ok(())
}

impl TrustLedger {
    /// An empty ledger with the given (validated) settings.
    pub fn new(config: TrustConfig) -> Result<Self, TrustConfigError> {
        config.validate()?;
        Ok(Self {
            config,
            orgs: Interner::default(),
            agents: Interner::default(),
            replay: HashMap::new(),
            org_pairs: HashMap::new(),
            agent_pairs: HashMap::new(),
            penalties: HashMap::new(),
            accepted: 0,
            penalties_accepted: 0,
        })
    }

    /// The settings this ledger weighs evidence with.
    pub fn config(&self) -> &TrustConfig {
        &self.config
    }

    /// The decay clock at `now_ms`.
    pub(crate) fn clock(&self, now_ms: u64) -> DecayClock {
        DecayClock::new(now_ms, self.config.half_life_ms(), self.config.horizon_half_lives)
    }

    /// Refuses a time beyond the skew allowance or one too old to count.
    fn check_time(&self, at_ms: u64, now_ms: u64, may_be_old: bool) -> Result<(), Refusal> {
        if at_ms > now_ms.saturating_add(self.config.max_future_skew_secs.saturating_mul(1000)) {
            return Err(Refusal::FromFuture);
        }
        let half_life_ms = self.config.half_life_ms();
        if !may_be_old && at_ms / half_life_ms < oldest_epoch(now_ms, half_life_ms, self.config.horizon_half_lives) {
            return Err(Refusal::TooOld);
        }
        Ok(())
    }

    /// Records one verified observation, judged against the local clock `now_ms`.
    ///
    /// Refused (and the ledger left unchanged) when a name is empty or too long, the observer
    /// rates its own org, `at_ms` lies beyond `max_future_skew_secs` ahead of `now_ms` or is
    /// older than the decay horizon, or the (observer, sequence) is a replay or stale (see
    /// [`TrustConfig::replay_window`]). The latency is not used.
    pub fn record(&mut self, observation: &Observation, now_ms: u64) -> Result<(), Refusal> {
        check_field(&observation.observer_org, MAX_ORG_LEN, "observer_org")?;
        check_field(&observation.subject_org, MAX_ORG_LEN, "subject_org")?;
        check_field(&observation.subject_agent, MAX_AGENT_LEN, "subject_agent")?;
        if observation.observer_org == observation.subject_org {
            return Err(Refusal::SelfRating);
        }
        self.check_time(observation.at_ms, now_ms, false)?;
        let known = self.orgs.get(observation.observer_org.as_str());
        if let Some(window) = known.and_then(|id| self.replay.get(&id)) {
            window.check(observation.sequence)?;
        }

        let observer = self.orgs.intern_ref(observation.observer_org.as_str());
        let subject = self.orgs.intern_ref(observation.subject_org.as_str());
        let agent = self.agents.intern((subject, observation.subject_agent.clone()));
        match self.replay.entry(observer) {
            Entry::Occupied(mut e) => e.get_mut().mark(observation.sequence),
            Entry::Vacant(e) => {
                e.insert(ReplayWindow::new(observation.sequence, self.config.replay_window));
            }
        }
        let (epoch, weight) = epoch_weight(observation.at_ms, self.config.half_life_ms());
        self.org_pairs.entry((observer, subject)).or_default().add(epoch, observation.outcome, weight);
        self.agent_pairs.entry((observer, agent)).or_default().add(epoch, observation.outcome, weight);
        self.accepted += 1;
        Ok(())
    }

    /// Records one verified penalty report, judged against the local clock `now_ms`.
    ///
    /// Refused when a field is empty or too long, the reporter accuses itself, the time lies
    /// in the future beyond the skew allowance, an [`PenaltyKind::InvalidSignature`] report is
    /// older than the decay horizon (an equivocation proof never gets too old), the same
    /// (reporter, subject, evidence id) is on record, or the pair already holds
    /// [`MAX_PENALTIES_PER_PAIR`] penalties.
    pub fn record_penalty(&mut self, penalty: &Penalty, now_ms: u64) -> Result<(), Refusal> {
        check_field(&penalty.reporter_org, MAX_ORG_LEN, "reporter_org")?;
        check_field(&penalty.subject_org, MAX_ORG_LEN, "subject_org")?;
        check_field(&penalty.evidence_id, MAX_EVIDENCE_ID_LEN, "evidence_id")?;
        if penalty.reporter_org == penalty.subject_org {
            return Err(Refusal::SelfRating);
        }
        self.check_time(penalty.at_ms, now_ms, penalty.kind == PenaltyKind::Equivocation)?;
        let reporter = self.orgs.get(penalty.reporter_org.as_str());
        let subject = self.orgs.get(penalty.subject_org.as_str());
        if let Some(log) = reporter.zip(subject).and_then(|pair| self.penalties.get(&pair)) {
            if log.iter().any(|e| *e.evidence_id == *penalty.evidence_id) {
                return Err(Refusal::Duplicate);
            }
            if log.len() >= MAX_PENALTIES_PER_PAIR {
                return Err(Refusal::TooManyPenalties);
            }
        }

        let reporter = self.orgs.intern_ref(penalty.reporter_org.as_str());
        let subject = self.orgs.intern_ref(penalty.subject_org.as_str());
        let (epoch, weight) = match penalty.kind {
            PenaltyKind::InvalidSignature => epoch_weight(penalty.at_ms, self.config.half_life_ms()),
            // Proof of a forked history does not fade; epoch and weight are only for display.
            PenaltyKind::Equivocation => (0, EVIDENCE_ONE),
        };
        self.penalties.entry((reporter, subject)).or_default().push(PenaltyEntry {
            evidence_id: penalty.evidence_id.as_str().into(),
            kind: penalty.kind,
            epoch,
            weight,
        });
        self.penalties_accepted += 1;
        Ok(())
    }

    /// Drops the evidence that counts zero at `now_ms` and at any later time: buckets and
    /// invalid-signature penalties older than the decay horizon, and pairs left empty.
    /// Scores computed at `now_ms` or later are the same with or without pruning.
    pub fn prune(&mut self, now_ms: u64) {
        let oldest = oldest_epoch(now_ms, self.config.half_life_ms(), self.config.horizon_half_lives);
        self.org_pairs.retain(|_, buckets| !buckets.prune(oldest));
        self.agent_pairs.retain(|_, buckets| !buckets.prune(oldest));
        self.penalties.retain(|_, log| {
            log.retain(|e| e.kind == PenaltyKind::Equivocation || e.epoch >= oldest);
            !log.is_empty()
        });
    }

    /// Current sizes.
    pub fn stats(&self) -> LedgerStats {
        LedgerStats {
            accepted: self.accepted,
            penalties_accepted: self.penalties_accepted,
            observers: self.replay.len(),
            org_pairs: self.org_pairs.len(),
            agent_pairs: self.agent_pairs.len(),
            penalty_pairs: self.penalties.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::score::types::Outcome;

    const DAY: u64 = 24 * 3_600_000;
    const NOW: u64 = 1000 * DAY;

    fn ledger() -> TrustLedger {
        TrustLedger::new(TrustConfig::default()).expect("valid")
    }

    fn obs(observer: &str, subject: &str, sequence: u64) -> Observation {
        Observation {
            observer_org: observer.into(),
            subject_org: subject.into(),
            subject_agent: format!("{subject}-t/agent"),
            outcome: Outcome::Success,
            latency_ms: Some(12),
            at_ms: NOW - DAY,
            sequence,
        }
    }

    fn penalty(reporter: &str, subject: &str, id: &str, kind: PenaltyKind) -> Penalty {
        Penalty {
            reporter_org: reporter.into(),
            subject_org: subject.into(),
            kind,
            evidence_id: id.into(),
            at_ms: NOW - DAY,
        }
    }

    #[test]
    fn refusals_leave_no_trace() {
        let mut l = ledger();
        assert_eq!(l.record(&obs("a", "a", 1), NOW), Err(Refusal::SelfRating));
        assert_eq!(l.record(&obs("", "b", 1), NOW), Err(Refusal::InvalidField("observer_org")));
        assert_eq!(l.record(&obs("a", &"b".repeat(129), 1), NOW), Err(Refusal::InvalidField("subject_org")));
        let mut future = obs("a", "b", 1);
        future.at_ms = NOW + 301_000;
        assert_eq!(l.record(&future, NOW), Err(Refusal::FromFuture));
        future.at_ms = NOW + 299_000;
        let mut old = obs("a", "b", 1);
        old.at_ms = NOW - 7 * DAY * 17;
        assert_eq!(l.record(&old, NOW), Err(Refusal::TooOld));
        assert_eq!(l.stats(), LedgerStats::default());
        assert_eq!(l.orgs.len(), 0, "refused names are not interned");
        assert_eq!(l.record(&future, NOW), Ok(()));
        assert_eq!(l.stats().accepted, 1);
    }

    #[test]
    fn replays_are_refused_per_observer() {
        let mut l = ledger();
        assert_eq!(l.record(&obs("a", "b", 7), NOW), Ok(()));
        assert_eq!(l.record(&obs("a", "c", 7), NOW), Err(Refusal::Duplicate), "same observer and sequence");
        assert_eq!(l.record(&obs("c", "b", 7), NOW), Ok(()), "another observer has its own sequences");
        assert_eq!(l.record(&obs("a", "b", 7 + 4096), NOW), Ok(()));
        assert_eq!(l.record(&obs("a", "b", 7), NOW), Err(Refusal::Stale { sequence: 7, highest: 4103 }));
        assert_eq!(l.record(&obs("a", "b", 8), NOW), Ok(()));
        let stats = l.stats();
        assert_eq!((stats.accepted, stats.observers, stats.org_pairs, stats.agent_pairs), (4, 2, 2, 2));
    }

    #[test]
    fn penalties_are_deduplicated_and_bounded() {
        let mut l = ledger();
        let p = penalty("a", "b", "ev-1", PenaltyKind::InvalidSignature);
        assert_eq!(l.record_penalty(&p, NOW), Ok(()));
        assert_eq!(l.record_penalty(&p, NOW), Err(Refusal::Duplicate));
        assert_eq!(l.record_penalty(&penalty("c", "b", "ev-1", PenaltyKind::InvalidSignature), NOW), Ok(()));
        assert_eq!(
            l.record_penalty(&penalty("b", "b", "ev-2", PenaltyKind::Equivocation), NOW),
            Err(Refusal::SelfRating)
        );
        assert_eq!(
            l.record_penalty(&penalty("a", "b", "", PenaltyKind::Equivocation), NOW),
            Err(Refusal::InvalidField("evidence_id"))
        );
        for i in 2..=MAX_PENALTIES_PER_PAIR {
            assert_eq!(
                l.record_penalty(&penalty("a", "b", &format!("ev-{i}"), PenaltyKind::InvalidSignature), NOW),
                Ok(())
            );
        }
        assert_eq!(
            l.record_penalty(&penalty("a", "b", "one-more", PenaltyKind::Equivocation), NOW),
            Err(Refusal::TooManyPenalties)
        );
        assert_eq!(l.stats().penalties_accepted, MAX_PENALTIES_PER_PAIR as u64 + 1);
    }

    #[test]
    fn prune_drops_only_what_no_longer_counts() {
        let mut l = ledger();
        l.record(&obs("a", "b", 1), NOW).expect("fresh");
        let mut recent = obs("a", "c", 2);
        recent.at_ms = NOW + 100 * DAY;
        l.record(&recent, NOW + 100 * DAY).expect("fresh");
        l.record_penalty(&penalty("a", "b", "fork", PenaltyKind::Equivocation), NOW).expect("fresh");
        l.record_penalty(&penalty("a", "b", "sig", PenaltyKind::InvalidSignature), NOW).expect("fresh");
        l.prune(NOW + 100 * DAY);
        assert_eq!((l.stats().org_pairs, l.stats().agent_pairs), (2, 2), "16 half-lives are 112 days");
        l.prune(NOW + 120 * DAY);
        assert_eq!((l.stats().org_pairs, l.stats().agent_pairs), (1, 1));
        assert_eq!(l.penalties.values().map(Vec::len).sum::<usize>(), 1, "the equivocation proof stays");
        // A replay of the pruned penalty is now too old rather than new.
        assert_eq!(
            l.record_penalty(&penalty("a", "b", "sig", PenaltyKind::InvalidSignature), NOW + 120 * DAY),
            Err(Refusal::TooOld)
        );
    }
}
