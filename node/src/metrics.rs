//! Prometheus metrics of the node, registered once under the `ossa` prefix.
//!
//! Counters are bumped where things happen (the swarm loop, the API); gauges that mirror state
//! owned elsewhere (Raft, the registry, the audit log) are set just before each scrape by the
//! `/metrics` handler, so they cost nothing between scrapes.

use prometheus_client::encoding::{text::encode, EncodeLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Label set naming a reason.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    /// Short stable reason, e.g. `unknown_issuer`.
    pub reason: String,
}

/// The node's metrics.
pub struct Metrics {
    registry: Registry,
    /// Peers refused at admission, by reason.
    pub admission_refused: Family<ReasonLabel, Counter>,
    /// Peers admitted.
    pub admission_accepted: Counter,
    /// Peers currently connected and admitted.
    pub admitted_peers: Gauge,
    /// Requests dropped because their sender was not admitted.
    pub unadmitted_requests: Counter,
    /// Inbound Raft streams dropped because their peer had the most streams served.
    pub raft_streams_refused: Counter,
    /// Peers in the Kademlia routing table (peers admitted on some connection, connected or not).
    pub discovery_table_peers: Gauge,
    /// Dials of routing-table peers that were not connected.
    pub discovery_dials: Counter,
    /// Current Raft term.
    pub raft_term: Gauge,
    /// Last applied Raft log index.
    pub raft_last_applied: Gauge,
    /// 1 when this node is the Raft leader.
    pub raft_is_leader: Gauge,
    /// Tenants in the registry.
    pub registry_tenants: Gauge,
    /// Entries in this node's audit log.
    pub audit_entries: Gauge,
    /// Gossiped records refused, by reason.
    pub records_rejected: Family<ReasonLabel, Counter>,
    /// Records in the agent directory (tombstones included).
    pub directory_records: Gauge,
    /// Certifications stored (expired ones not yet swept included).
    pub directory_certifications: Gauge,
    /// Audit checkpoints this node signed.
    pub checkpoints_signed: Counter,
    /// Tree size of this node's latest signed checkpoint.
    pub checkpoint_size: Gauge,
    /// Unix time (seconds) of this node's latest signed checkpoint.
    pub checkpoint_time: Gauge,
    /// Peer checkpoints this node cosigned as a witness.
    pub cosignatures_made: Counter,
    /// Verified cosignatures of this node's checkpoints received from witnesses.
    pub cosignatures_received: Counter,
    /// Orgs with confirmed equivocation evidence.
    pub equivocating_orgs: Gauge,
    /// Checkpoint gossip refused, by reason.
    pub witness_rejected: Family<ReasonLabel, Counter>,
    /// Gossiped observations refused, by reason.
    pub observations_rejected: Family<ReasonLabel, Counter>,
    /// Circuit breaker transitions, by kind (`trust.quarantined`, `trust.released`, ...).
    pub trust_transitions: Family<KindLabel, Counter>,
    /// Subjects quarantined now, by kind (`org`, `agent`).
    pub trust_quarantined: Family<KindLabel, Gauge>,
    /// Authorization decisions given, by decision (`allow`, `deny`).
    pub authz_decisions: Family<DecisionLabel, Counter>,
    /// When this node's org certificate expires (Unix seconds).
    pub cert_expiry: Gauge,
    /// Closed connections of the leader this node follows, by what followed (`stood`: the
    /// leader refused a new connection and this node stood for election; `leader_answered`;
    /// `no_answer`: left to the election timers).
    pub leader_disconnects: Family<OutcomeLabel, Counter>,
}

/// Label set naming what followed an event.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    /// Short stable outcome, e.g. `stood`.
    pub outcome: String,
}

/// Label set naming an authorization decision.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DecisionLabel {
    /// `allow` or `deny`.
    pub decision: String,
}

/// Label set naming a kind.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    /// Short stable kind, e.g. `org`.
    pub kind: String,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut root = Registry::with_prefix("ossa");
        let metrics = Self {
            registry: Registry::default(),
            admission_refused: Family::default(),
            admission_accepted: Counter::default(),
            admitted_peers: Gauge::default(),
            unadmitted_requests: Counter::default(),
            raft_streams_refused: Counter::default(),
            discovery_table_peers: Gauge::default(),
            discovery_dials: Counter::default(),
            raft_term: Gauge::default(),
            raft_last_applied: Gauge::default(),
            raft_is_leader: Gauge::default(),
            registry_tenants: Gauge::default(),
            audit_entries: Gauge::default(),
            records_rejected: Family::default(),
            directory_records: Gauge::default(),
            directory_certifications: Gauge::default(),
            checkpoints_signed: Counter::default(),
            checkpoint_size: Gauge::default(),
            checkpoint_time: Gauge::default(),
            cosignatures_made: Counter::default(),
            cosignatures_received: Counter::default(),
            equivocating_orgs: Gauge::default(),
            witness_rejected: Family::default(),
            observations_rejected: Family::default(),
            trust_transitions: Family::default(),
            trust_quarantined: Family::default(),
            authz_decisions: Family::default(),
            cert_expiry: Gauge::default(),
            leader_disconnects: Family::default(),
        };
        root.register("admission_refused", "Peers refused at admission", metrics.admission_refused.clone());
        root.register("admission_accepted", "Peers admitted", metrics.admission_accepted.clone());
        root.register("admitted_peers", "Peers connected and admitted", metrics.admitted_peers.clone());
        root.register(
            "unadmitted_requests",
            "Requests dropped because the sender was not admitted",
            metrics.unadmitted_requests.clone(),
        );
        root.register(
            "raft_streams_refused",
            "Inbound Raft streams dropped because their peer had the most streams served",
            metrics.raft_streams_refused.clone(),
        );
        root.register(
            "discovery_table_peers",
            "Peers in the Kademlia routing table",
            metrics.discovery_table_peers.clone(),
        );
        root.register(
            "discovery_dials",
            "Dials of routing-table peers that were not connected",
            metrics.discovery_dials.clone(),
        );
        root.register("raft_term", "Current Raft term", metrics.raft_term.clone());
        root.register("raft_last_applied", "Last applied Raft log index", metrics.raft_last_applied.clone());
        root.register("raft_is_leader", "1 when this node leads the Raft group", metrics.raft_is_leader.clone());
        root.register("registry_tenants", "Tenants in the registry", metrics.registry_tenants.clone());
        root.register("audit_entries", "Entries in the audit log", metrics.audit_entries.clone());
        root.register("records_rejected", "Gossiped records refused", metrics.records_rejected.clone());
        root.register("directory_records", "Records in the agent directory", metrics.directory_records.clone());
        root.register(
            "directory_certifications",
            "Certifications stored by the agent directory",
            metrics.directory_certifications.clone(),
        );
        root.register("audit_checkpoints_signed", "Audit checkpoints signed", metrics.checkpoints_signed.clone());
        root.register("audit_checkpoint_size", "Tree size of the latest checkpoint", metrics.checkpoint_size.clone());
        root.register(
            "audit_checkpoint_timestamp_seconds",
            "Unix time of the latest signed checkpoint",
            metrics.checkpoint_time.clone(),
        );
        root.register("audit_cosignatures_made", "Peer checkpoints cosigned", metrics.cosignatures_made.clone());
        root.register(
            "audit_cosignatures_received",
            "Verified witness cosignatures of this node's checkpoints",
            metrics.cosignatures_received.clone(),
        );
        root.register(
            "audit_equivocating_orgs",
            "Orgs with confirmed equivocation evidence",
            metrics.equivocating_orgs.clone(),
        );
        root.register("audit_witness_rejected", "Checkpoint gossip refused", metrics.witness_rejected.clone());
        root.register("observations_rejected", "Gossiped observations refused", metrics.observations_rejected.clone());
        root.register("trust_transitions", "Circuit breaker transitions", metrics.trust_transitions.clone());
        root.register("trust_quarantined", "Orgs and agents quarantined now", metrics.trust_quarantined.clone());
        root.register("authz_decisions", "Authorization decisions given", metrics.authz_decisions.clone());
        root.register(
            "cert_expiry_timestamp_seconds",
            "When this node's org certificate expires (Unix seconds)",
            metrics.cert_expiry.clone(),
        );
        root.register(
            "leader_disconnects",
            "Closed connections of the followed leader, by what followed",
            metrics.leader_disconnects.clone(),
        );
        Self { registry: root, ..metrics }
    }
}

impl Metrics {
    /// Counts a closed connection of the followed leader and what followed it.
    pub fn leader_disconnected(&self, outcome: &str) {
        self.leader_disconnects.get_or_create(&OutcomeLabel { outcome: outcome.to_owned() }).inc();
    }

    /// Counts a refused admission.
    pub fn refused(&self, reason: &str) {
        self.admission_refused.get_or_create(&ReasonLabel { reason: reason.to_owned() }).inc();
    }

    /// Counts a refused gossiped record.
    pub fn record_rejected(&self, reason: &str) {
        self.records_rejected.get_or_create(&ReasonLabel { reason: reason.to_owned() }).inc();
    }

    /// Counts refused checkpoint gossip.
    pub fn witness_rejected(&self, reason: &str) {
        self.witness_rejected.get_or_create(&ReasonLabel { reason: reason.to_owned() }).inc();
    }

    /// Counts a refused observation.
    pub fn observation_rejected(&self, reason: &str) {
        self.observations_rejected.get_or_create(&ReasonLabel { reason: reason.to_owned() }).inc();
    }

    /// Counts a circuit breaker transition.
    pub fn trust_transition(&self, kind: &str) {
        self.trust_transitions.get_or_create(&KindLabel { kind: kind.to_owned() }).inc();
    }

    /// Counts an authorization decision.
    pub fn authz_decision(&self, decision: &str) {
        self.authz_decisions.get_or_create(&DecisionLabel { decision: decision.to_owned() }).inc();
    }

    /// Sets the number of quarantined orgs and agents.
    pub fn set_quarantined(&self, orgs: usize, agents: usize) {
        self.trust_quarantined.get_or_create(&KindLabel { kind: "org".into() }).set(orgs as i64);
        self.trust_quarantined.get_or_create(&KindLabel { kind: "agent".into() }).set(agents as i64);
    }

    /// The metrics in Prometheus text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_show_up_with_their_reason() {
        let metrics = Metrics::default();
        metrics.refused("unknown_issuer");
        metrics.refused("unknown_issuer");
        let text = metrics.encode();
        assert!(text.contains("ossa_admission_refused_total{reason=\"unknown_issuer\"} 2"), "{text}");
    }
}
