//! The federation registry: the replicated state machine's data and its pure transition
//! function.
//!
//! A [`Proposal`] (who asks, and a [`RegistryCommand`]) is committed through Raft; every node
//! then calls [`Registry::apply`] with the same proposals in the same order and so reaches the
//! same [`Registry`]. `apply` never fails: a command that breaks a rule (a duplicate tenant, a
//! bad name, an unknown owner, an invalid policy) leaves the state unchanged and answers a
//! refusal in its [`RegistryResponse`], which the node turns into an HTTP status. Policy and
//! governance commands are applied by [`crate::governance`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::governance::{Governance, GovernanceProposal, PolicyVersion};
use crate::rotation::KeyRotation;

/// Raft node id. Derived by the node from its libp2p peer id (see `ossa-node`).
pub type NodeId = u64;

/// A member's role in the federation, as written in its certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MemberRole {
    /// Votes in Raft.
    Steward,
    /// Replicates as a Raft learner.
    Member,
}

impl std::fmt::Display for MemberRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Steward => "steward",
            Self::Member => "member",
        })
    }
}

/// An admitted organization and its node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// Organization name (from its certificate).
    pub org: String,
    /// libp2p peer id of the org's node.
    pub peer_id: String,
    /// Raft node id of the org's node.
    pub node_id: NodeId,
    /// Steward or member.
    pub role: MemberRole,
    /// Raft log index of the entry that admitted it.
    pub admitted_at: u64,
}

/// An org removed from the federation by governance: its node is refused at admission, its
/// records, observations and checkpoints are refused, and it cannot be added again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    /// The revoked org.
    pub org: String,
    /// Its node's peer id at the time.
    pub peer_id: String,
    /// Its node's Raft id.
    pub node_id: NodeId,
    /// The role it had.
    pub role: MemberRole,
    /// Why, as proposed.
    pub reason: String,
    /// The proposal that revoked it.
    pub proposal: u64,
    /// Raft index of the entry that made the revocation take effect.
    pub raft_index: u64,
}

/// A tenant: a namespace of agents and policies owned by one org.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tenant {
    /// Unique tenant name.
    pub name: String,
    /// The org that owns it.
    pub owner: String,
    /// Raft log index of the entry that created it.
    pub created_at: u64,
}

/// A state change, as committed in the Raft log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RegistryCommand {
    /// Record an admitted org (written by the leader when a node joins).
    AddMember {
        /// Org name.
        org: String,
        /// Its node's peer id.
        peer_id: String,
        /// Its node's Raft id.
        node_id: NodeId,
        /// Its role.
        role: MemberRole,
    },
    /// Create a tenant owned by the proposing org.
    CreateTenant {
        /// Tenant name.
        name: String,
    },
    /// Replace a tenant's Cedar policy set (only its owner may).
    SetTenantPolicy {
        /// The tenant.
        tenant: String,
        /// Cedar policy text.
        text: String,
    },
    /// Propose a federation-wide Cedar policy set (stewards only); it becomes active once a
    /// quorum of stewards has approved it.
    ProposeFederationPolicy {
        /// Cedar policy text.
        text: String,
        /// When the proposal was made (Unix ms, from the node that accepted it).
        at_ms: u64,
    },
    /// Propose revoking a member org (stewards only); it takes effect once a quorum of
    /// stewards has approved it.
    ProposeRevocation {
        /// The org to revoke.
        org: String,
        /// Why (shown to approvers and kept in the registry).
        reason: String,
        /// When the proposal was made (Unix ms, from the node that accepted it).
        at_ms: u64,
    },
    /// Propose making a member org a steward (a Raft voter) or a steward a plain member
    /// (stewards only); it takes effect once a quorum of stewards has approved it.
    ProposeRoleChange {
        /// The org.
        org: String,
        /// Its new role.
        role: MemberRole,
        /// Allow a steward count that is even or outside 3..=7.
        force: bool,
        /// When the proposal was made (Unix ms, from the node that accepted it).
        at_ms: u64,
    },
    /// Replace the proposing org's node key (see [`crate::KeyRotation`]); proposed by the org's
    /// own node once the federation CA has issued a certificate for the new key.
    RotateKey {
        /// Peer id of the new key.
        new_peer_id: String,
        /// Raft node id of the new key.
        new_node_id: NodeId,
        /// How long the old key is still honoured, in ms.
        grace_ms: u64,
        /// When the rotation was proposed (Unix ms, from the org's node).
        at_ms: u64,
    },
    /// Approve a pending proposal (stewards only).
    ApproveProposal {
        /// Proposal id (the Raft index that created it).
        id: u64,
        /// When the approval was made (Unix ms, from the node that accepted it).
        at_ms: u64,
    },
}

impl RegistryCommand {
    /// Stable name of the command, used as the audit entry kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::AddMember { .. } => "registry.add_member",
            Self::CreateTenant { .. } => "registry.create_tenant",
            Self::SetTenantPolicy { .. } => "policy.set_tenant",
            Self::ProposeFederationPolicy { .. } => "policy.propose",
            Self::ProposeRevocation { .. } => "governance.propose_revocation",
            Self::ProposeRoleChange { .. } => "governance.propose_role_change",
            Self::RotateKey { .. } => "registry.rotate_key",
            Self::ApproveProposal { .. } => "policy.approve",
        }
    }

    /// Whether the command opens a governance proposal. A proposal's id is the Raft index of
    /// its entry, so the proposer puts such a command in an entry of its own, and the registry
    /// refuses a second one in the same entry.
    pub fn opens_proposal(&self) -> bool {
        matches!(
            self,
            Self::ProposeFederationPolicy { .. } | Self::ProposeRevocation { .. } | Self::ProposeRoleChange { .. }
        )
    }
}

/// A command and the org that proposed it (the org behind the node that accepted the request).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    /// Org that proposed the command.
    pub by: String,
    /// The command.
    pub command: RegistryCommand,
}

impl std::fmt::Display for Proposal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} by {}", self.command.kind(), self.by)
    }
}

/// The payload of one Raft entry: proposals committed together and applied in order, each as
/// if it had an entry of its own at the batch's Raft index (see [`crate::Proposer`]).
///
/// Stored and sent as a JSON array of proposals. An entry written by a release before batching
/// holds one proposal object; it reads as a batch of one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "StoredBatch")]
pub struct ProposalBatch(pub Vec<Proposal>);

/// The two stored forms of [`ProposalBatch`].
#[derive(Deserialize)]
#[serde(untagged)]
enum StoredBatch {
    Batch(Vec<Proposal>),
    Single(Proposal),
}

impl From<StoredBatch> for ProposalBatch {
    fn from(stored: StoredBatch) -> Self {
        match stored {
            StoredBatch::Batch(proposals) => Self(proposals),
            StoredBatch::Single(proposal) => Self(vec![proposal]),
        }
    }
}

impl std::fmt::Display for ProposalBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.as_slice() {
            [one] => write!(f, "{one}"),
            many => write!(f, "{} proposals", many.len()),
        }
    }
}

/// The outcome of applying one proposal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum RegistryResponse {
    /// The member was recorded (or updated, e.g. a new peer id after re-admission).
    MemberAdded {
        /// The member as stored.
        member: Member,
    },
    /// The tenant was created.
    TenantCreated {
        /// The tenant as stored.
        tenant: Tenant,
    },
    /// A tenant with that name exists already; nothing changed.
    TenantExists {
        /// The existing tenant.
        tenant: Tenant,
    },
    /// A tenant's policy set was replaced.
    PolicySet {
        /// The new active version.
        version: PolicyVersion,
    },
    /// A federation policy proposal was created (and activated if one approval is a quorum).
    ProposalCreated {
        /// The proposal as stored.
        proposal: GovernanceProposal,
    },
    /// A proposal was approved (and activated if the quorum is now reached).
    ProposalApproved {
        /// The proposal as stored.
        proposal: GovernanceProposal,
    },
    /// The proposing org's key was rotated.
    KeyRotated {
        /// The rotation as stored.
        rotation: KeyRotation,
    },
    /// The command broke a rule; nothing changed.
    Refused {
        /// What kind of refusal (maps to an HTTP status).
        code: RefusalCode,
        /// Why.
        reason: String,
    },
}

/// Kind of refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefusalCode {
    /// The command's content is invalid (bad name, invalid policy).
    Invalid,
    /// It names something that does not exist.
    NotFound,
    /// The proposing org may not do this.
    Forbidden,
    /// It conflicts with the current state (double approval, closed proposal).
    Conflict,
}

impl RegistryResponse {
    /// A refusal.
    pub fn refused(code: RefusalCode, reason: impl Into<String>) -> Self {
        Self::Refused { code, reason: reason.into() }
    }
}

/// The replicated registry state.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Registry {
    /// Members by org name.
    pub members: BTreeMap<String, Member>,
    /// Tenants by name.
    pub tenants: BTreeMap<String, Tenant>,
    /// Each tenant's policy versions, oldest first; the last is active.
    #[serde(default)]
    pub tenant_policies: BTreeMap<String, Vec<PolicyVersion>>,
    /// Federation policy versions, oldest first; the last is active.
    #[serde(default)]
    pub federation_policies: Vec<PolicyVersion>,
    /// Governance proposals by id.
    #[serde(default)]
    pub proposals: BTreeMap<u64, GovernanceProposal>,
    /// The governance rules (themselves registry state).
    #[serde(default)]
    pub governance: Governance,
    /// Revoked orgs by name (no longer in `members`).
    #[serde(default)]
    pub revoked: BTreeMap<String, Revocation>,
    /// Each org's key rotations, oldest first.
    #[serde(default)]
    pub rotations: BTreeMap<String, Vec<KeyRotation>>,
}

/// One record that `apply` changed, so storage can persist just that.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// This member was inserted or replaced.
    Member(Member),
    /// This tenant was inserted.
    Tenant(Tenant),
    /// This tenant's policy history changed.
    TenantPolicies(String, Vec<PolicyVersion>),
    /// The federation policy history changed.
    FederationPolicies(Vec<PolicyVersion>),
    /// This proposal was inserted or updated.
    Proposal(GovernanceProposal),
    /// This org was revoked (and so is no longer a member).
    Revoked(Revocation),
    /// This org's key rotation history changed.
    KeyRotations(String, Vec<KeyRotation>),
}

impl Registry {
    /// Every record of the registry as a [`Change`] (what a full rewrite of storage writes).
    pub fn all_records(&self) -> Vec<Change> {
        let mut records: Vec<Change> = self.members.values().cloned().map(Change::Member).collect();
        records.extend(self.tenants.values().cloned().map(Change::Tenant));
        records.extend(self.tenant_policies.iter().map(|(t, v)| Change::TenantPolicies(t.clone(), v.clone())));
        if !self.federation_policies.is_empty() {
            records.push(Change::FederationPolicies(self.federation_policies.clone()));
        }
        records.extend(self.proposals.values().cloned().map(Change::Proposal));
        records.extend(self.revoked.values().cloned().map(Change::Revoked));
        records.extend(self.rotations.iter().map(|(org, history)| Change::KeyRotations(org.clone(), history.clone())));
        records
    }

    /// Puts a stored record back (used when loading from storage).
    pub fn restore(&mut self, record: Change) {
        match record {
            Change::Member(m) => {
                self.members.insert(m.org.clone(), m);
            }
            Change::Tenant(t) => {
                self.tenants.insert(t.name.clone(), t);
            }
            Change::TenantPolicies(tenant, versions) => {
                self.tenant_policies.insert(tenant, versions);
            }
            Change::FederationPolicies(versions) => self.federation_policies = versions,
            Change::Proposal(p) => {
                self.proposals.insert(p.id, p);
            }
            // A revocation outranks the member record it replaced, which storage may still
            // hold: it is removed whichever of the two is restored first.
            Change::Revoked(r) => {
                self.members.remove(&r.org);
                self.revoked.insert(r.org.clone(), r);
            }
            Change::KeyRotations(org, history) => {
                self.rotations.insert(org, history);
            }
        }
        for org in self.revoked.keys() {
            self.members.remove(org);
        }
    }

    /// The active policy version of `tenant`.
    pub fn active_tenant_policy(&self, tenant: &str) -> Option<&PolicyVersion> {
        self.tenant_policies.get(tenant).and_then(|versions| versions.last())
    }

    /// The active federation policy version.
    pub fn active_federation_policy(&self) -> Option<&PolicyVersion> {
        self.federation_policies.last()
    }

    /// Orgs whose role is steward.
    pub fn stewards(&self) -> impl Iterator<Item = &Member> {
        self.members.values().filter(|m| m.role == MemberRole::Steward)
    }
}

impl Registry {
    /// Applies one committed proposal at Raft log `index`. Deterministic; never fails.
    pub fn apply(&mut self, index: u64, proposal: &Proposal) -> (RegistryResponse, Vec<Change>) {
        match &proposal.command {
            RegistryCommand::AddMember { org, peer_id, node_id, role } => {
                if self.revoked.contains_key(org) {
                    let reason = format!("org {org:?} was revoked and cannot rejoin");
                    return (RegistryResponse::refused(RefusalCode::Forbidden, reason), vec![]);
                }
                if self.is_rotated_away(org, peer_id) {
                    let reason = format!("org {org:?} rotated its key away from peer {peer_id}; that key is retired");
                    return (RegistryResponse::refused(RefusalCode::Forbidden, reason), vec![]);
                }
                // A known org keeps the role governance gave it, whatever its certificate says.
                let role = self.members.get(org).map(|m| m.role).unwrap_or(*role);
                let member =
                    Member { org: org.clone(), peer_id: peer_id.clone(), node_id: *node_id, role, admitted_at: index };
                self.members.insert(org.clone(), member.clone());
                (RegistryResponse::MemberAdded { member: member.clone() }, vec![Change::Member(member)])
            }
            RegistryCommand::CreateTenant { name } => {
                if let Err(err) = ossa_policy::validate_tenant_name(name) {
                    return (RegistryResponse::refused(RefusalCode::Invalid, err.to_string()), vec![]);
                }
                if !self.members.contains_key(&proposal.by) {
                    let reason = format!("org {:?} is not a member of the federation", proposal.by);
                    return (RegistryResponse::refused(RefusalCode::Forbidden, reason), vec![]);
                }
                if let Some(existing) = self.tenants.get(name) {
                    return (RegistryResponse::TenantExists { tenant: existing.clone() }, vec![]);
                }
                let tenant = Tenant { name: name.clone(), owner: proposal.by.clone(), created_at: index };
                self.tenants.insert(name.clone(), tenant.clone());
                (RegistryResponse::TenantCreated { tenant: tenant.clone() }, vec![Change::Tenant(tenant)])
            }
            RegistryCommand::SetTenantPolicy { tenant, text } => {
                crate::governance::set_tenant_policy(self, index, &proposal.by, tenant, text)
            }
            RegistryCommand::ProposeFederationPolicy { text, at_ms } => {
                crate::governance::propose(self, index, &proposal.by, text, *at_ms)
            }
            RegistryCommand::ProposeRevocation { org, reason, at_ms } => {
                crate::governance::propose_revocation(self, index, &proposal.by, org, reason, *at_ms)
            }
            RegistryCommand::ProposeRoleChange { org, role, force, at_ms } => {
                crate::governance::propose_role_change(self, index, &proposal.by, org, *role, *force, *at_ms)
            }
            RegistryCommand::ApproveProposal { id, at_ms } => {
                crate::governance::approve(self, index, &proposal.by, *id, *at_ms)
            }
            RegistryCommand::RotateKey { new_peer_id, new_node_id, grace_ms, at_ms } => {
                crate::rotation::rotate_key(self, index, &proposal.by, new_peer_id, *new_node_id, *grace_ms, *at_ms)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn add_member(org: &str) -> Proposal {
        Proposal {
            by: "leader".into(),
            command: RegistryCommand::AddMember {
                org: org.into(),
                peer_id: format!("peer-{org}"),
                node_id: org.len() as u64,
                role: MemberRole::Steward,
            },
        }
    }

    fn create_tenant(by: &str, name: &str) -> Proposal {
        Proposal { by: by.into(), command: RegistryCommand::CreateTenant { name: name.into() } }
    }

    #[test]
    fn a_batch_is_a_json_array_and_a_single_proposal_from_before_batching_reads_as_one() {
        let batch = ProposalBatch(vec![create_tenant("acme", "a"), add_member("globex")]);
        let json = serde_json::to_value(&batch).expect("json");
        assert!(json.is_array(), "{json}");
        assert_eq!(serde_json::from_value::<ProposalBatch>(json).expect("batch"), batch);
        let single = serde_json::to_vec(&create_tenant("acme", "a")).expect("json");
        let read: ProposalBatch = serde_json::from_slice(&single).expect("single");
        assert_eq!(read, ProposalBatch(vec![create_tenant("acme", "a")]));
        assert!(serde_json::from_slice::<ProposalBatch>(b"{\"by\":\"acme\"}").is_err(), "no command");
    }

    #[test]
    fn duplicate_tenant_is_refused_and_changes_nothing() {
        let mut registry = Registry::default();
        registry.apply(1, &add_member("acme"));
        registry.apply(2, &add_member("globex"));
        let (first, _) = registry.apply(3, &create_tenant("acme", "research"));
        assert!(matches!(first, RegistryResponse::TenantCreated { .. }));
        let before = registry.clone();
        let (second, change) = registry.apply(4, &create_tenant("globex", "research"));
        match second {
            RegistryResponse::TenantExists { tenant } => assert_eq!(tenant.owner, "acme"),
            other => panic!("expected TenantExists, got {other:?}"),
        }
        assert!(change.is_empty());
        assert_eq!(registry, before);
    }

    #[test]
    fn tenant_of_unknown_org_or_bad_name_is_refused() {
        let mut registry = Registry::default();
        registry.apply(1, &add_member("acme"));
        let (response, _) = registry.apply(2, &create_tenant("stranger", "t1"));
        assert!(matches!(response, RegistryResponse::Refused { .. }));
        let (response, _) = registry.apply(3, &create_tenant("acme", "Bad Name"));
        assert!(matches!(response, RegistryResponse::Refused { .. }));
        assert!(registry.tenants.is_empty());
    }

    fn arb_proposal() -> impl Strategy<Value = Proposal> {
        let org = prop::sample::select(vec!["acme", "globex", "initech", "stranger"]);
        let tenant = prop::sample::select(vec!["t1", "t2", "t3", "Bad"]);
        prop_oneof![org.clone().prop_map(add_member), (org, tenant).prop_map(|(by, name)| create_tenant(by, name)),]
    }

    proptest! {
        /// Two replicas that apply the same sequence reach the same state and answers.
        #[test]
        fn same_sequence_same_state(proposals in prop::collection::vec(arb_proposal(), 0..40)) {
            let mut a = Registry::default();
            let mut b = Registry::default();
            for (i, p) in proposals.iter().enumerate() {
                let index = i as u64 + 1;
                prop_assert_eq!(a.apply(index, p), b.apply(index, p));
            }
            prop_assert_eq!(&a, &b);
            // Every tenant is owned by an org that was a member when it was created.
            for tenant in a.tenants.values() {
                prop_assert!(a.members.contains_key(&tenant.owner));
            }
        }
    }
}
