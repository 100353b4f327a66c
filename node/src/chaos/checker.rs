//! The consistency checker: given what the clients were told and what every node holds after
//! healing, lists every violation.
//!
//! - **Lost write**: a tenant whose creation was acknowledged (HTTP 201, so committed by a
//!   quorum) is missing on some node.
//! - **Divergence**: nodes hold different tenant sets, or different Raft-applied audit entries
//!   (for the same Raft index, a different kind, actor or payload; or entries some node lacks).
//! - **Split brain**: two different leaders observed for the same term.
//! - **Audit**: a node's audit log does not verify.
//!
//! The checker is pure: [`check`] reads a [`History`] and [`NodeState`]s and returns a
//! [`Verdict`]; collecting them from a running testnet is [`super::collect`]'s job.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// What the workload saw: acknowledged writes and the leaders observed per term.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    /// Tenants whose creation was acknowledged (HTTP 201).
    pub acknowledged: BTreeSet<String>,
    /// Writes whose outcome is unknown (timeout, connection cut): they may or may not exist.
    pub uncertain: BTreeSet<String>,
    /// (term, leader peer id) pairs seen by polling `/v1/status`.
    pub leaders: BTreeSet<(u64, String)>,
}

/// One Raft-applied audit entry, reduced to what every replica must agree on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedEntry {
    /// Entry kind.
    pub kind: String,
    /// Who proposed it.
    pub actor: String,
    /// Canonical JSON of its payload.
    pub payload: String,
}

/// What one node holds after healing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeState {
    /// The node's org.
    pub org: String,
    /// Its tenants.
    pub tenants: BTreeSet<String>,
    /// Its Raft-applied audit entries by Raft index, in log order (one Raft entry can carry
    /// several proposals, each audited on its own).
    pub applied: BTreeMap<u64, Vec<AppliedEntry>>,
    /// Why its audit log does not verify, if it does not.
    pub audit_error: Option<String>,
}

/// One violation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Violation {
    /// An acknowledged write is missing on a node.
    LostWrite {
        /// The tenant.
        tenant: String,
        /// The node that lacks it.
        org: String,
    },
    /// Two nodes hold different tenant sets.
    DivergentTenants {
        /// One node.
        a: String,
        /// The other.
        b: String,
        /// Tenants only one of them has (a few).
        differ: Vec<String>,
    },
    /// Two nodes disagree on Raft-applied audit entries.
    DivergentAudit {
        /// One node.
        a: String,
        /// The other.
        b: String,
        /// The first Raft index where they differ.
        raft_index: u64,
    },
    /// Two leaders in one term.
    SplitBrain {
        /// The term.
        term: u64,
        /// The leaders seen.
        leaders: Vec<String>,
    },
    /// A node's audit log does not verify.
    AuditInvalid {
        /// The node.
        org: String,
        /// Why.
        error: String,
    },
}

/// The checker's answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// Acknowledged writes checked.
    pub acknowledged: usize,
    /// Nodes compared.
    pub nodes: usize,
    /// Everything wrong, empty when the run was consistent.
    pub violations: Vec<Violation>,
}

impl Verdict {
    /// Whether nothing was wrong.
    pub fn ok(&self) -> bool {
        self.violations.is_empty()
    }
}

/// Checks `nodes` against `history` (see the module docs).
pub fn check(history: &History, nodes: &[NodeState]) -> Verdict {
    let mut violations = Vec::new();
    for node in nodes {
        for tenant in history.acknowledged.difference(&node.tenants) {
            violations.push(Violation::LostWrite { tenant: tenant.clone(), org: node.org.clone() });
        }
        if let Some(error) = &node.audit_error {
            violations.push(Violation::AuditInvalid { org: node.org.clone(), error: error.clone() });
        }
    }
    if let Some((first, rest)) = nodes.split_first() {
        for other in rest {
            let differ: Vec<String> = first.tenants.symmetric_difference(&other.tenants).take(5).cloned().collect();
            if !differ.is_empty() {
                violations.push(Violation::DivergentTenants { a: first.org.clone(), b: other.org.clone(), differ });
            }
            if let Some(raft_index) = first_difference(&first.applied, &other.applied) {
                violations.push(Violation::DivergentAudit { a: first.org.clone(), b: other.org.clone(), raft_index });
            }
        }
    }
    let mut by_term: BTreeMap<u64, BTreeSet<&str>> = BTreeMap::new();
    for (term, leader) in &history.leaders {
        by_term.entry(*term).or_default().insert(leader);
    }
    for (term, leaders) in by_term {
        if leaders.len() > 1 {
            violations.push(Violation::SplitBrain { term, leaders: leaders.into_iter().map(str::to_owned).collect() });
        }
    }
    Verdict { acknowledged: history.acknowledged.len(), nodes: nodes.len(), violations }
}

/// The first Raft index at which `a` and `b` differ: two different entries at one index, or
/// a different last index. An index only one of them holds below both last indexes is not a
/// difference: a node that installed a snapshot has no audit entries for the entries the
/// snapshot covers.
fn first_difference(a: &BTreeMap<u64, Vec<AppliedEntry>>, b: &BTreeMap<u64, Vec<AppliedEntry>>) -> Option<u64> {
    let differing = a.iter().find(|(i, entry)| b.get(i).is_some_and(|other| other != *entry)).map(|(i, _)| *i);
    let (last_a, last_b) = (a.keys().next_back().copied(), b.keys().next_back().copied());
    differing.or_else(|| (last_a != last_b).then(|| last_a.min(last_b).map_or(0, |i| i + 1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(payload: &str) -> AppliedEntry {
        AppliedEntry { kind: "registry.create_tenant".into(), actor: "org0".into(), payload: payload.into() }
    }

    fn node(org: &str, tenants: &[&str]) -> NodeState {
        NodeState {
            org: org.into(),
            tenants: tenants.iter().map(|t| t.to_string()).collect(),
            applied: tenants.iter().enumerate().map(|(i, t)| (i as u64 + 1, vec![entry(t)])).collect(),
            audit_error: None,
        }
    }

    fn history(acked: &[&str]) -> History {
        History {
            acknowledged: acked.iter().map(|t| t.to_string()).collect(),
            leaders: BTreeSet::from([(1, "p0".into()), (2, "p1".into())]),
            ..History::default()
        }
    }

    #[test]
    fn a_consistent_run_passes() {
        let nodes = [node("org0", &["a", "b"]), node("org1", &["a", "b"])];
        let verdict = check(&history(&["a", "b"]), &nodes);
        assert!(verdict.ok(), "{verdict:?}");
        assert_eq!((verdict.acknowledged, verdict.nodes), (2, 2));
    }

    #[test]
    fn catches_a_lost_acknowledged_write() {
        let nodes = [node("org0", &["a"]), node("org1", &["a"])];
        let verdict = check(&history(&["a", "b"]), &nodes);
        let lost: Vec<&Violation> =
            verdict.violations.iter().filter(|v| matches!(v, Violation::LostWrite { .. })).collect();
        assert_eq!(lost.len(), 2, "b is missing on both nodes: {verdict:?}");
        assert!(verdict.violations.contains(&Violation::LostWrite { tenant: "b".into(), org: "org1".into() }));
    }

    #[test]
    fn an_unacknowledged_write_may_be_anywhere_but_nodes_must_agree() {
        let mut h = history(&["a"]);
        h.uncertain.insert("c".into());
        assert!(check(&h, &[node("org0", &["a", "c"]), node("org1", &["a", "c"])]).ok());
        let verdict = check(&h, &[node("org0", &["a", "c"]), node("org1", &["a"])]);
        assert!(verdict.violations.iter().any(|v| matches!(v, Violation::DivergentTenants { .. })), "{verdict:?}");
    }

    #[test]
    fn catches_divergent_applied_entries() {
        let mut other = node("org1", &["a", "b"]);
        other.applied.insert(2, vec![entry("not-b")]);
        let verdict = check(&history(&["a"]), &[node("org0", &["a", "b"]), other]);
        assert_eq!(
            verdict.violations,
            vec![Violation::DivergentAudit { a: "org0".into(), b: "org1".into(), raft_index: 2 }]
        );
    }

    #[test]
    fn catches_a_proposal_missing_from_a_shared_raft_entry() {
        let mut batched = node("org0", &["a", "b"]);
        batched.applied.entry(2).or_default().push(entry("b2"));
        let verdict = check(&history(&["a"]), &[batched, node("org1", &["a", "b"])]);
        assert_eq!(
            verdict.violations,
            vec![Violation::DivergentAudit { a: "org0".into(), b: "org1".into(), raft_index: 2 }]
        );
    }

    #[test]
    fn catches_a_node_that_stopped_short_but_not_one_that_skipped_a_snapshot() {
        let full = node("org0", &["a", "b", "c"]);
        let mut short = full.clone();
        short.org = "org1".into();
        short.applied.remove(&3);
        let verdict = check(&history(&[]), &[full.clone(), short]);
        assert!(verdict.violations.contains(&Violation::DivergentAudit {
            a: "org0".into(),
            b: "org1".into(),
            raft_index: 3
        }));
        let mut snapshotted = full.clone();
        snapshotted.org = "org2".into();
        snapshotted.applied.remove(&1);
        assert!(check(&history(&[]), &[full, snapshotted]).ok());
    }

    #[test]
    fn catches_two_leaders_in_a_term_and_a_bad_audit_log() {
        let mut h = history(&[]);
        h.leaders.insert((2, "p2".into()));
        let mut broken = node("org1", &[]);
        broken.audit_error = Some("entry 3: leaf hash mismatch".into());
        let verdict = check(&h, &[node("org0", &[]), broken]);
        assert!(verdict
            .violations
            .contains(&Violation::SplitBrain { term: 2, leaders: vec!["p1".into(), "p2".into()] }));
        assert!(verdict.violations.iter().any(|v| matches!(v, Violation::AuditInvalid { org, .. } if org == "org1")));
    }
}
