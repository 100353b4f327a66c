//! Trust scores in the node: signed observations in, EigenTrust scores and a circuit breaker
//! out.
//!
//! Data flow:
//!
//! 1. `ossa trust observe` / `POST /v1/observations` ([`TrustService::observe`]): the node
//!    looks the agent up in its directory, signs an observation with the next sequence number
//!    of its org (a dense counter kept in sled), audits it (`trust.observation`), counts it
//!    and publishes it on `ossa/<federation>/observations/1`.
//! 2. A peer checks it before forwarding ([`TrustService::on_gossip`]):
//!    [`observation::verify_report`], a per-observer rate limit, then the ledger's own
//!    rules (no replay, no stale sequence, no time out of range). Accepted observations are
//!    kept in sled (tree `observations`) and replayed into the ledger at start.
//! 3. Every [`SCORING_PERIOD`] [`run_scoring`] recomputes the scores if anything changed or the
//!    minute turned: members and stewards from the registry, equivocation evidence from
//!    [`crate::witness`] as penalties, and the time rounded down to the minute, so every node
//!    with the same observations computes bit-identical scores ([`ossa_trust::TrustLedger`]).
//! 4. The [`ossa_trust::CircuitBreaker`] turns the scores into quarantine and release
//!    transitions; each is audited (`trust.quarantined` / `trust.released`), logged and
//!    counted (`ossa_trust_transitions_total`, `ossa_trust_quarantined`). A quarantined org's
//!    node gets a negative gossipsub application score, which deprioritizes its gossip.
//!
//! Readers: `GET /v1/trust`, the ranking and quarantine filter of agent discovery, and the
//! `trust` field of the policy context when the caller leaves it out.
//!
//! Not yet: observations are not part of the `/ossa/sync/1` anti-entropy, so a node that was
//! down while observations were gossiped computes from fewer until they are observed again.

pub mod observation;
pub mod ranking;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use libp2p::gossipsub::MessageAcceptance;
use ossa_audit::EntryDraft;
use ossa_trust::{
    Change, CircuitBreaker, NodeKey, Observation, Outcome, Penalty, PenaltyKind, Subject, TrustConfig, TrustLedger,
    TrustScores,
};

use crate::clock::now_ms;
use crate::daemon::NodeContext;
use observation::{decode_report, sign_observation, sign_penalty, verify_report, Report};

/// How often scores are recomputed when something changed: observations show up in scores
/// within a second, at the cost of one recomputation (~15 ms for 1000 orgs) per second at most.
pub const SCORING_PERIOD: Duration = Duration::from_secs(1);

/// The clock scores are computed at is rounded down to this, so nodes agree on it.
const SCORE_CLOCK_MS: u64 = 60_000;

/// Shortest time between two invalid-signature penalties this node files against one org: a
/// misbehaving node sends many, one report a minute says enough.
pub const PENALTY_INTERVAL: Duration = Duration::from_secs(60);

/// Observations per second an observer org may have accepted, on average, and in a burst.
const RATE_PER_SEC: u64 = 20;
const RATE_BURST: u64 = 400;

/// The observations gossip topic of a federation.
pub fn observations_topic(federation: &str) -> String {
    format!("ossa/{federation}/observations/1")
}

/// Why this node could not make an observation.
#[derive(Debug, thiserror::Error)]
pub enum ObserveError {
    /// The agent is not in the directory, or not `TENANT/ID`.
    #[error("{0}")]
    UnknownAgent(String),
    /// The agent is this org's own.
    #[error("an org cannot rate its own agents ({0} belongs to this node's org)")]
    OwnAgent(String),
    /// The ledger refused it (should not happen for a fresh observation).
    #[error("observation refused: {0}")]
    Refused(String),
    /// Storage failed.
    #[error("storage: {0}")]
    Storage(String),
}

/// Token bucket per observer org.
struct Bucket {
    tokens: u64,
    refilled: Instant,
}

/// The node's trust state.
pub struct TrustService {
    topic: String,
    key: Arc<NodeKey>,
    ledger: Mutex<TrustLedger>,
    breaker: Mutex<CircuitBreaker>,
    scores: RwLock<Arc<TrustScores>>,
    changed: AtomicBool,
    observations: sled::Tree,
    meta: sled::Tree,
    buckets: Mutex<HashMap<String, Bucket>>,
    last_penalty: Mutex<HashMap<String, Instant>>,
}

impl TrustService {
    /// Opens the trust state in `db` and replays the stored observations.
    pub fn open(db: &sled::Db, federation: &str, key: Arc<NodeKey>, config: TrustConfig) -> anyhow::Result<Self> {
        let breaker = CircuitBreaker::new(config.breaker.clone())?;
        let mut ledger = TrustLedger::new(config)?;
        let observations = db.open_tree("observations")?;
        let now = now_ms();
        for stored in observations.iter().values() {
            // Too old or replaced by now: the ledger refuses it, as it should.
            match decode_report(&stored?) {
                Ok(Report::Observation(observation)) => drop(ledger.record(&observation, now)),
                Ok(Report::Penalty(penalty)) => drop(ledger.record_penalty(&penalty, now)),
                Err(_) => {}
            }
        }
        let scores = Arc::new(ledger.compute::<String, String>(&[], &[], now));
        Ok(Self {
            topic: observations_topic(federation),
            key,
            ledger: Mutex::new(ledger),
            breaker: Mutex::new(breaker),
            scores: RwLock::new(scores),
            changed: AtomicBool::new(true),
            observations,
            meta: db.open_tree("trust_meta")?,
            buckets: Mutex::default(),
            last_penalty: Mutex::default(),
        })
    }

    /// The gossip topic of observations.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The latest computed scores.
    pub fn scores(&self) -> Arc<TrustScores> {
        self.scores.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Whether `subject` is quarantined now.
    pub fn is_quarantined(&self, subject: &Subject) -> bool {
        self.breaker.lock().unwrap_or_else(|p| p.into_inner()).is_quarantined(subject)
    }

    /// Signs, audits, counts and gossips an observation of `agent` (`TENANT/ID`).
    pub async fn observe(
        &self,
        node: &NodeContext,
        agent: &str,
        outcome: Outcome,
        latency_ms: Option<u32>,
    ) -> Result<Observation, ObserveError> {
        let (tenant, id) =
            agent.split_once('/').ok_or_else(|| ObserveError::UnknownAgent("give the agent as TENANT/ID".into()))?;
        let record = node
            .agents
            .directory()
            .record(tenant, id)
            .ok_or_else(|| ObserveError::UnknownAgent(format!("no agent {agent:?} in the directory")))?;
        if record.org == node.org {
            return Err(ObserveError::OwnAgent(agent.to_owned()));
        }
        let sequence = self.next_sequence().map_err(|e| ObserveError::Storage(e.to_string()))?;
        let observation = Observation {
            observer_org: node.org.clone(),
            subject_org: record.org,
            subject_agent: agent.to_owned(),
            outcome,
            latency_ms,
            at_ms: now_ms(),
            sequence,
        };
        let signed = sign_observation(&self.key, &observation);
        self.count(&Report::Observation(observation.clone()), &signed).map_err(ObserveError::Refused)?;
        let draft = EntryDraft {
            time_ms: observation.at_ms,
            kind: "trust.observation".into(),
            actor: node.org.clone(),
            payload: serde_json::to_value(&observation).unwrap_or_default(),
            raft_index: None,
        };
        node.audit_append(draft).await.map_err(|e| ObserveError::Storage(e.to_string()))?;
        if let Err(err) = node.net.publish(self.topic.clone(), signed).await {
            tracing::warn!(%err, "cannot publish observation");
        }
        Ok(observation)
    }

    fn next_sequence(&self) -> Result<u64, sled::Error> {
        let next = self.meta.update_and_fetch("next_sequence", |old| {
            let current = old.and_then(|b| <[u8; 8]>::try_from(b).ok()).map(u64::from_be_bytes).unwrap_or(0);
            Some((current + 1).to_be_bytes().to_vec())
        })?;
        self.meta.flush()?;
        Ok(next.and_then(|b| <[u8; 8]>::try_from(b.as_ref()).ok()).map(u64::from_be_bytes).unwrap_or(1))
    }

    /// Records a checked report in the ledger and the store (key: reporter, then the sequence
    /// of an observation or the evidence id of a penalty).
    fn count(&self, report: &Report, signed: &[u8]) -> Result<(), String> {
        let mut ledger = self.ledger.lock().unwrap_or_else(|p| p.into_inner());
        let key = match report {
            Report::Observation(o) => {
                ledger.record(o, now_ms()).map_err(|e| e.to_string())?;
                let mut key = format!("{}\0o", o.observer_org).into_bytes();
                key.extend_from_slice(&o.sequence.to_be_bytes());
                key
            }
            Report::Penalty(p) => {
                ledger.record_penalty(p, now_ms()).map_err(|e| e.to_string())?;
                format!("{}\0p{}/{}", p.reporter_org, p.subject_org, p.evidence_id).into_bytes()
            }
        };
        drop(ledger);
        if let Err(err) = self.observations.insert(key, signed) {
            tracing::warn!(%err, "cannot store observation");
        }
        self.changed.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// Judges a report received over gossip from `source`.
    pub fn on_gossip(&self, node: &NodeContext, source: libp2p::PeerId, data: &[u8]) -> MessageAcceptance {
        let checked = {
            let registry = node.consensus.registry.read();
            verify_report(data, &registry.registry, node.agents.directory(), crate::clock::now_ms())
        };
        let report = match checked {
            Ok(report) => report,
            Err(refusal) => {
                node.metrics.observation_rejected(refusal.reason());
                tracing::debug!(%refusal, "observation refused");
                if matches!(refusal, observation::ObservationRefusal::BadSignature) {
                    self.note_invalid_signature(node, source, data);
                }
                return if refusal.penalizes_sender() { MessageAcceptance::Reject } else { MessageAcceptance::Ignore };
            }
        };
        let reporter = match &report {
            Report::Observation(o) => &o.observer_org,
            Report::Penalty(p) => &p.reporter_org,
        };
        if !self.take_token(reporter) {
            node.metrics.observation_rejected("rate_limited");
            return MessageAcceptance::Ignore;
        }
        match self.count(&report, data) {
            Ok(()) => MessageAcceptance::Accept,
            Err(reason) => {
                node.metrics.observation_rejected("ledger");
                tracing::debug!(%reason, "observation not counted");
                MessageAcceptance::Ignore
            }
        }
    }

    /// Reports that `source` forwarded `data`, a gossip message whose signature does not verify:
    /// an invalid-signature penalty against its org, counted here, audited and gossiped so that
    /// every node's scores include it. At most one per org per [`PENALTY_INTERVAL`].
    pub fn note_invalid_signature(&self, node: &NodeContext, source: libp2p::PeerId, data: &[u8]) {
        let org = {
            let registry = node.consensus.registry.read();
            let source = source.to_string();
            registry.registry.org_of_peer(&source, crate::clock::now_ms()).map(str::to_owned)
        };
        let Some(org) = org.filter(|o| *o != node.org) else { return };
        {
            let mut last = self.last_penalty.lock().unwrap_or_else(|p| p.into_inner());
            if last.get(&org).is_some_and(|at| at.elapsed() < PENALTY_INTERVAL) {
                return;
            }
            last.insert(org.clone(), Instant::now());
        }
        let Ok(sequence) = self.next_sequence() else { return };
        let digest = ossa_audit::leaf_hash(data);
        let penalty = Penalty {
            reporter_org: node.org.clone(),
            subject_org: org.clone(),
            kind: PenaltyKind::InvalidSignature,
            evidence_id: hex::encode(&digest[..16]),
            at_ms: now_ms(),
        };
        let signed = sign_penalty(&self.key, &penalty, sequence);
        if let Err(reason) = self.count(&Report::Penalty(penalty.clone()), &signed) {
            return tracing::debug!(%reason, "invalid-signature penalty not counted");
        }
        tracing::warn!(%org, "a node of this org forwarded a message with an invalid signature");
        let draft = EntryDraft {
            time_ms: penalty.at_ms,
            kind: "trust.penalty".into(),
            actor: node.org.clone(),
            payload: serde_json::to_value(&penalty).unwrap_or_default(),
            raft_index: None,
        };
        if let Err(err) = node.audit.append(draft) {
            tracing::warn!(%err, "cannot audit penalty");
        }
        let (net, topic) = (node.net.clone(), self.topic.clone());
        tokio::spawn(async move {
            if let Err(err) = net.publish(topic, signed).await {
                tracing::debug!(%err, "cannot publish penalty");
            }
        });
    }

    fn take_token(&self, observer: &str) -> bool {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let bucket =
            buckets.entry(observer.to_owned()).or_insert(Bucket { tokens: RATE_BURST, refilled: Instant::now() });
        let earned = bucket.refilled.elapsed().as_millis() as u64 * RATE_PER_SEC / 1000;
        if earned > 0 {
            bucket.tokens = (bucket.tokens + earned).min(RATE_BURST);
            bucket.refilled = Instant::now();
        }
        if bucket.tokens == 0 {
            return false;
        }
        bucket.tokens -= 1;
        true
    }

    /// The gossipsub application score of each other member's node: quarantined orgs'
    /// nodes get [`crate::swarm::QUARANTINED_APP_SCORE`], the others 0.
    fn application_scores(&self, node: &NodeContext) -> Vec<(libp2p::PeerId, f64)> {
        let registry = node.consensus.registry.read();
        registry
            .registry
            .members
            .values()
            .filter(|m| m.org != node.org)
            .filter_map(|m| {
                let peer = m.peer_id.parse().ok()?;
                let quarantined = self.is_quarantined(&Subject::Org { org: m.org.clone() });
                Some((peer, if quarantined { crate::swarm::QUARANTINED_APP_SCORE } else { 0.0 }))
            })
            .collect()
    }

    /// Recomputes the scores and runs the breaker.
    fn rescore(&self, node: &NodeContext, clock_ms: u64) {
        let (members, stewards): (Vec<String>, Vec<String>) = {
            let registry = node.consensus.registry.read();
            let members = registry.registry.members.keys().cloned().collect();
            let stewards = registry
                .registry
                .members
                .values()
                .filter(|m| m.role == ossa_consensus::MemberRole::Steward)
                .map(|m| m.org.clone())
                .collect();
            (members, stewards)
        };
        let scores = {
            let mut ledger = self.ledger.lock().unwrap_or_else(|p| p.into_inner());
            for org in node.witness.equivocating() {
                let penalty = Penalty {
                    reporter_org: node.org.clone(),
                    subject_org: org.clone(),
                    kind: PenaltyKind::Equivocation,
                    evidence_id: format!("equivocation/{org}"),
                    at_ms: clock_ms,
                };
                // The same evidence id twice is refused as a duplicate: nothing changes.
                let _ = ledger.record_penalty(&penalty, clock_ms);
            }
            Arc::new(ledger.compute(&members, &stewards, clock_ms))
        };
        let transitions = self.breaker.lock().unwrap_or_else(|p| p.into_inner()).update(&scores);
        for transition in transitions {
            let kind = match transition.change {
                Change::Quarantined => "trust.quarantined",
                Change::Released => "trust.released",
                Change::Forgotten => "trust.forgotten",
            };
            tracing::warn!(subject = %transition.subject, score = transition.score, "{kind}");
            node.metrics.trust_transition(kind);
            let draft = EntryDraft {
                time_ms: now_ms(),
                kind: kind.into(),
                actor: node.org.clone(),
                payload: serde_json::to_value(&transition).unwrap_or_default(),
                raft_index: None,
            };
            if let Err(err) = node.audit.append(draft) {
                tracing::warn!(%err, "cannot audit trust transition");
            }
        }
        let breaker = self.breaker.lock().unwrap_or_else(|p| p.into_inner());
        let orgs = breaker.quarantined().filter(|s| matches!(s, Subject::Org { .. })).count();
        let agents = breaker.quarantined().count() - orgs;
        node.metrics.set_quarantined(orgs, agents);
        *self.scores.write().unwrap_or_else(|p| p.into_inner()) = scores;
    }
}

/// Recomputes the scores every [`SCORING_PERIOD`] when observations, penalties or the score
/// clock changed, for as long as the node runs.
pub async fn run_scoring(node: Arc<NodeContext>) {
    let mut tick = tokio::time::interval(SCORING_PERIOD);
    let mut last_clock = 0;
    let mut last_equivocating = 0;
    let mut app_scores = Vec::new();
    loop {
        tick.tick().await;
        let clock_ms = now_ms() / SCORE_CLOCK_MS * SCORE_CLOCK_MS;
        let equivocating = node.witness.equivocating().len();
        let changed = node.trust.changed.swap(false, Ordering::Relaxed);
        if changed || clock_ms != last_clock || equivocating != last_equivocating {
            let service = node.clone();
            // ~15 ms for 1000 orgs in release, more in debug: off the async workers.
            let done = tokio::task::spawn_blocking(move || service.trust.rescore(&service, clock_ms)).await;
            if done.is_ok() {
                (last_clock, last_equivocating) = (clock_ms, equivocating);
            }
            let scores = node.trust.application_scores(&node);
            if scores != app_scores && node.net.set_application_scores(scores.clone()).await.is_ok() {
                app_scores = scores;
            }
        }
    }
}
