//! Policy sets and governance, as registry state transitions.
//!
//! - A tenant's owner replaces the tenant's Cedar policy set with [`set_tenant_policy`]: the
//!   text is validated strictly against the OSSA schema and checked to name only the tenant's
//!   own entities (`ossa-policy`), then stored in its canonical form as a new
//!   [`PolicyVersion`] (Raft index + SHA-256 of the canonical text). History is kept; the last
//!   version is active.
//! - A federation-wide set goes through governance: a steward [`propose`]s it (its own approval
//!   counts), stewards [`approve`] it, and it becomes the active federation version once the
//!   [`QuorumRule`] (itself registry state) is met. A proposal expires [`PROPOSAL_TTL_MS`] after
//!   it was made; a rollback is a new proposal of an older text.
//!
//! - Revoking a member org is a proposal of the same kind ([`propose_revocation`], action
//!   [`ProposalAction::Revoke`]) under the same quorum: once active, the org leaves `members`
//!   for `revoked` ([`crate::Revocation`]) and the node enforces it (connections, admission,
//!   gossip, Raft membership). A revocation that would leave no steward is refused.
//!
//! - Promoting a member to steward or demoting a steward ([`propose_role_change`], action
//!   [`ProposalAction::SetRole`]) goes the same way; the steward count must stay 3, 5 or 7
//!   ([`STEWARD_COUNTS`]) unless the proposal is forced, and never reach 0. The node's Raft
//!   leader then makes the Raft voters follow the stewards (a promoted learner once caught up).
//!
//! Validation runs here, at apply time on every replica, with the Cedar version pinned
//! exactly, so every replica reaches the same verdict; the node runs the same checks before
//! proposing so that a bad set is refused early with the validator's message.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::registry::{Change, MemberRole, RefusalCode, Registry, RegistryResponse, Revocation};

/// How long a proposal may collect approvals: a week leaves stewards in every time zone time
/// to review a federation-wide change, and bounds how long a stale proposal can be revived.
pub const PROPOSAL_TTL_MS: u64 = 7 * 24 * 60 * 60 * 1000;

/// Which set a policy version belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "scope", content = "tenant", rename_all = "snake_case")]
pub enum PolicyScope {
    /// The federation-wide set.
    Federation,
    /// A tenant's set.
    Tenant(String),
}

/// One version of a policy set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyVersion {
    /// Federation or tenant.
    pub scope: PolicyScope,
    /// Raft index of the entry that made this version active.
    pub raft_index: u64,
    /// Hex SHA-256 of the canonical text.
    pub digest: String,
    /// Canonical Cedar text.
    pub text: String,
    /// Policy ids in the set.
    pub policy_ids: Vec<String>,
    /// Org that set (or proposed) it.
    pub set_by: String,
}

/// State of a governance proposal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProposalStatus {
    /// Collecting approvals.
    Pending,
    /// Reached its quorum and became the active federation set.
    Active,
    /// Expired before reaching its quorum.
    Expired,
}

/// What a proposal does once active.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum ProposalAction {
    /// Make its policy set the active federation-wide set.
    #[default]
    FederationPolicy,
    /// Revoke a member org.
    Revoke {
        /// The org.
        org: String,
        /// Why.
        reason: String,
    },
    /// Give a member org a new role (promote to steward, demote to member).
    SetRole {
        /// The org.
        org: String,
        /// Its new role.
        role: MemberRole,
    },
}

/// Steward (Raft voter) counts a federation keeps unless a role change is forced: odd, so a
/// split vote cannot tie, and from 3 (survives one failure) to 7 (more voters slow commits).
pub const STEWARD_COUNTS: [usize; 3] = [3, 5, 7];

/// Longest revocation reason: a sentence or a ticket reference, not a report.
pub const MAX_REASON_LEN: usize = 1024;

/// A governance proposal: a federation policy set, or a revocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GovernanceProposal {
    /// Id: the Raft index of the entry that created it (such an entry holds no other proposal
    /// that opens one; see [`crate::RegistryCommand::opens_proposal`]).
    pub id: u64,
    /// What it does once active.
    #[serde(default, flatten)]
    pub action: ProposalAction,
    /// Canonical Cedar text (empty for a revocation).
    pub text: String,
    /// Hex SHA-256 of the canonical text.
    pub digest: String,
    /// Policy ids in the set.
    pub policy_ids: Vec<String>,
    /// Steward org that proposed it.
    pub proposer: String,
    /// Steward orgs that approved it (the proposer included).
    pub approvals: BTreeSet<String>,
    /// When it was proposed (Unix ms).
    pub created_at_ms: u64,
    /// When it expires (Unix ms).
    pub expires_at_ms: u64,
    /// Its state.
    pub status: ProposalStatus,
}

/// How many steward approvals a proposal needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuorumRule {
    /// More than half of the stewards in the registry.
    #[default]
    MajorityOfStewards,
}

/// The governance rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Governance {
    /// The quorum for federation-wide changes.
    pub quorum: QuorumRule,
}

impl Governance {
    /// Approvals needed with `stewards` stewards.
    pub fn required(&self, stewards: usize) -> usize {
        match self.quorum {
            QuorumRule::MajorityOfStewards => stewards / 2 + 1,
        }
    }
}

type Outcome = (RegistryResponse, Vec<Change>);

fn refuse(code: RefusalCode, reason: impl Into<String>) -> Outcome {
    (RegistryResponse::refused(code, reason), vec![])
}

fn validate(text: &str, tenant: Option<&str>) -> Result<ossa_policy::ValidatedPolicySet, String> {
    let set = ossa_policy::validate_policy_set(text).map_err(|e| e.to_string())?;
    if let Some(tenant) = tenant {
        ossa_policy::check_tenant_scope(&set, tenant).map_err(|e| e.to_string())?;
    }
    Ok(set)
}

fn is_steward(registry: &Registry, org: &str) -> bool {
    registry.members.get(org).is_some_and(|m| m.role == MemberRole::Steward)
}

/// `SetTenantPolicy`: see the module docs.
pub fn set_tenant_policy(registry: &mut Registry, index: u64, by: &str, tenant: &str, text: &str) -> Outcome {
    let Some(found) = registry.tenants.get(tenant) else {
        return refuse(RefusalCode::NotFound, format!("unknown tenant {tenant:?}"));
    };
    if found.owner != by {
        return refuse(RefusalCode::Forbidden, format!("tenant {tenant:?} belongs to {}, not {by}", found.owner));
    }
    let set = match validate(text, Some(tenant)) {
        Ok(set) => set,
        Err(message) => return refuse(RefusalCode::Invalid, message),
    };
    let version = PolicyVersion {
        scope: PolicyScope::Tenant(tenant.to_owned()),
        raft_index: index,
        digest: set.digest_hex(),
        text: set.canonical_text().to_owned(),
        policy_ids: set.policy_ids().to_vec(),
        set_by: by.to_owned(),
    };
    let history = registry.tenant_policies.entry(tenant.to_owned()).or_default();
    history.push(version.clone());
    let change = Change::TenantPolicies(tenant.to_owned(), history.clone());
    (RegistryResponse::PolicySet { version }, vec![change])
}

/// Activates `proposal` if it has its quorum; returns the changes that makes.
fn activate_if_quorate(registry: &mut Registry, index: u64, proposal: &mut GovernanceProposal) -> Vec<Change> {
    let stewards: BTreeSet<&str> = registry.stewards().map(|m| m.org.as_str()).collect();
    let valid_approvals = proposal.approvals.iter().filter(|org| stewards.contains(org.as_str())).count();
    if valid_approvals < registry.governance.required(stewards.len()) {
        return vec![];
    }
    proposal.status = ProposalStatus::Active;
    match &proposal.action {
        ProposalAction::FederationPolicy => {
            registry.federation_policies.push(PolicyVersion {
                scope: PolicyScope::Federation,
                raft_index: index,
                digest: proposal.digest.clone(),
                text: proposal.text.clone(),
                policy_ids: proposal.policy_ids.clone(),
                set_by: proposal.proposer.clone(),
            });
            vec![Change::FederationPolicies(registry.federation_policies.clone())]
        }
        ProposalAction::Revoke { org, reason } => {
            // Revoked meanwhile by another proposal: nothing left to do.
            let Some(member) = registry.members.remove(org) else { return vec![] };
            let revocation = Revocation {
                org: org.clone(),
                peer_id: member.peer_id,
                node_id: member.node_id,
                role: member.role,
                reason: reason.clone(),
                proposal: proposal.id,
                raft_index: index,
            };
            registry.revoked.insert(org.clone(), revocation.clone());
            vec![Change::Revoked(revocation)]
        }
        ProposalAction::SetRole { org, role } => {
            // Revoked meanwhile: nothing left to do.
            let Some(member) = registry.members.get_mut(org) else { return vec![] };
            member.role = *role;
            vec![Change::Member(member.clone())]
        }
    }
}

/// `ProposeRoleChange`: see the module docs.
pub fn propose_role_change(
    registry: &mut Registry,
    index: u64,
    by: &str,
    org: &str,
    role: MemberRole,
    force: bool,
    at_ms: u64,
) -> Outcome {
    if !is_steward(registry, by) {
        return refuse(RefusalCode::Forbidden, format!("only steward orgs may propose; {by} is not one"));
    }
    let Some(member) = registry.members.get(org) else {
        return refuse(RefusalCode::NotFound, format!("org {org:?} is not a member"));
    };
    if member.role == role {
        return refuse(RefusalCode::Conflict, format!("{org} is already a {role}"));
    }
    let stewards = registry.stewards().count();
    let after = if role == MemberRole::Steward { stewards + 1 } else { stewards - 1 };
    if after == 0 {
        return refuse(RefusalCode::Conflict, format!("{org} is the last steward; the federation would have none"));
    }
    if !force && !STEWARD_COUNTS.contains(&after) {
        return refuse(
            RefusalCode::Conflict,
            format!(
                "this would leave {after} stewards; keep 3, 5 or 7 (an odd count cannot split a vote evenly) by \
                 pairing promotions and demotions, or force it"
            ),
        );
    }
    open_proposal(registry, index, by, ProposalAction::SetRole { org: org.to_owned(), role }, None, at_ms)
}

/// `ProposeRevocation`: see the module docs.
pub fn propose_revocation(
    registry: &mut Registry,
    index: u64,
    by: &str,
    org: &str,
    reason: &str,
    at_ms: u64,
) -> Outcome {
    if !is_steward(registry, by) {
        return refuse(RefusalCode::Forbidden, format!("only steward orgs may propose; {by} is not one"));
    }
    if reason.trim().is_empty() || reason.len() > MAX_REASON_LEN {
        return refuse(RefusalCode::Invalid, format!("a revocation needs a reason of 1 to {MAX_REASON_LEN} bytes"));
    }
    let Some(member) = registry.members.get(org) else {
        let why = if registry.revoked.contains_key(org) { "is already revoked" } else { "is not a member" };
        return refuse(RefusalCode::NotFound, format!("org {org:?} {why}"));
    };
    if member.role == MemberRole::Steward && registry.stewards().count() == 1 {
        return refuse(RefusalCode::Conflict, format!("{org} is the last steward; the federation would have none"));
    }
    open_proposal(
        registry,
        index,
        by,
        ProposalAction::Revoke { org: org.to_owned(), reason: reason.to_owned() },
        None,
        at_ms,
    )
}

/// Records a new proposal by `by` (its own approval counts), activating it at once if that
/// approval is already a quorum.
fn open_proposal(
    registry: &mut Registry,
    index: u64,
    by: &str,
    action: ProposalAction,
    set: Option<&ossa_policy::ValidatedPolicySet>,
    at_ms: u64,
) -> Outcome {
    if registry.proposals.contains_key(&index) {
        // Ids are Raft indexes; the proposer never packs two proposals into one entry.
        return refuse(
            RefusalCode::Conflict,
            format!("entry {index} already opened a proposal; propose again in an entry of its own"),
        );
    }
    let mut proposal = GovernanceProposal {
        id: index,
        action,
        text: set.map(|s| s.canonical_text().to_owned()).unwrap_or_default(),
        digest: set.map(|s| s.digest_hex()).unwrap_or_default(),
        policy_ids: set.map(|s| s.policy_ids().to_vec()).unwrap_or_default(),
        proposer: by.to_owned(),
        approvals: BTreeSet::from([by.to_owned()]),
        created_at_ms: at_ms,
        expires_at_ms: at_ms.saturating_add(PROPOSAL_TTL_MS),
        status: ProposalStatus::Pending,
    };
    let mut changes = activate_if_quorate(registry, index, &mut proposal);
    registry.proposals.insert(index, proposal.clone());
    changes.push(Change::Proposal(proposal.clone()));
    (RegistryResponse::ProposalCreated { proposal }, changes)
}

/// `ProposeFederationPolicy`: see the module docs.
pub fn propose(registry: &mut Registry, index: u64, by: &str, text: &str, at_ms: u64) -> Outcome {
    if !is_steward(registry, by) {
        return refuse(RefusalCode::Forbidden, format!("only steward orgs may propose; {by} is not one"));
    }
    let set = match validate(text, None) {
        Ok(set) => set,
        Err(message) => return refuse(RefusalCode::Invalid, message),
    };
    open_proposal(registry, index, by, ProposalAction::FederationPolicy, Some(&set), at_ms)
}

/// `ApproveProposal`: see the module docs.
pub fn approve(registry: &mut Registry, index: u64, by: &str, id: u64, at_ms: u64) -> Outcome {
    if !is_steward(registry, by) {
        return refuse(RefusalCode::Forbidden, format!("only steward orgs may approve; {by} is not one"));
    }
    let Some(mut proposal) = registry.proposals.get(&id).cloned() else {
        return refuse(RefusalCode::NotFound, format!("no proposal {id}"));
    };
    match proposal.status {
        ProposalStatus::Active => return refuse(RefusalCode::Conflict, format!("proposal {id} is already active")),
        ProposalStatus::Expired => return refuse(RefusalCode::Conflict, format!("proposal {id} has expired")),
        ProposalStatus::Pending => {}
    }
    if at_ms >= proposal.expires_at_ms {
        proposal.status = ProposalStatus::Expired;
        registry.proposals.insert(id, proposal.clone());
        let outcome = RegistryResponse::refused(RefusalCode::Conflict, format!("proposal {id} has expired"));
        return (outcome, vec![Change::Proposal(proposal)]);
    }
    if !proposal.approvals.insert(by.to_owned()) {
        return refuse(RefusalCode::Conflict, format!("{by} has already approved proposal {id}"));
    }
    let mut changes = activate_if_quorate(registry, index, &mut proposal);
    registry.proposals.insert(id, proposal.clone());
    changes.push(Change::Proposal(proposal.clone()));
    (RegistryResponse::ProposalApproved { proposal }, changes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{Member, Proposal, RegistryCommand};
    use proptest::prelude::*;

    const FORBID_ALL: &str = r#"@id("no-invoke") forbid(principal, action == Ossa::Action::"invoke", resource);"#;

    fn federation(stewards: &[&str], members: &[&str]) -> Registry {
        let mut registry = Registry::default();
        for (i, org) in stewards.iter().chain(members).enumerate() {
            let role = if i < stewards.len() { MemberRole::Steward } else { MemberRole::Member };
            let member =
                Member { org: org.to_string(), peer_id: format!("p{i}"), node_id: i as u64, role, admitted_at: 1 };
            registry.members.insert(org.to_string(), member);
        }
        registry
    }

    fn apply(registry: &mut Registry, index: u64, by: &str, command: RegistryCommand) -> RegistryResponse {
        registry.apply(index, &Proposal { by: by.into(), command }).0
    }

    fn code(response: &RegistryResponse) -> Option<RefusalCode> {
        match response {
            RegistryResponse::Refused { code, .. } => Some(*code),
            _ => None,
        }
    }

    #[test]
    fn tenant_policy_is_set_only_by_the_owner_and_only_if_valid() {
        let mut registry = federation(&["acme", "globex"], &[]);
        apply(&mut registry, 2, "acme", RegistryCommand::CreateTenant { name: "t".into() });
        let permit = r#"@id("p") permit(principal, action == Ossa::Action::"invoke", resource in Ossa::Tenant::"t");"#;
        let set = |text: &str| RegistryCommand::SetTenantPolicy { tenant: "t".into(), text: text.into() };
        let before = registry.clone();
        assert_eq!(code(&apply(&mut registry, 3, "globex", set(permit))), Some(RefusalCode::Forbidden));
        assert_eq!(code(&apply(&mut registry, 4, "acme", set("permit(principal"))), Some(RefusalCode::Invalid));
        let other_tenant = r#"permit(principal, action, resource in Ossa::Tenant::"u");"#;
        assert_eq!(code(&apply(&mut registry, 5, "acme", set(other_tenant))), Some(RefusalCode::Invalid));
        let unknown = RegistryCommand::SetTenantPolicy { tenant: "nope".into(), text: permit.into() };
        assert_eq!(code(&apply(&mut registry, 6, "acme", unknown)), Some(RefusalCode::NotFound));
        assert_eq!(registry, before, "refusals change nothing");

        let RegistryResponse::PolicySet { version } = apply(&mut registry, 7, "acme", set(permit)) else {
            panic!("policy not set")
        };
        assert_eq!(version.raft_index, 7);
        assert_eq!(version.policy_ids, vec!["p".to_owned()]);
        assert_eq!(registry.active_tenant_policy("t"), Some(&version));
    }

    #[test]
    fn a_proposal_activates_only_at_a_majority_of_stewards() {
        let mut registry = federation(&["a", "b", "c"], &["m"]);
        let propose = RegistryCommand::ProposeFederationPolicy { text: FORBID_ALL.into(), at_ms: 1000 };
        assert_eq!(code(&apply(&mut registry, 2, "m", propose.clone())), Some(RefusalCode::Forbidden));
        let RegistryResponse::ProposalCreated { proposal } = apply(&mut registry, 3, "a", propose) else {
            panic!("not created")
        };
        assert_eq!(proposal.status, ProposalStatus::Pending);
        assert!(registry.active_federation_policy().is_none(), "one of three stewards is no quorum");

        let approve = |at_ms| RegistryCommand::ApproveProposal { id: proposal.id, at_ms };
        assert_eq!(code(&apply(&mut registry, 4, "a", approve(2000))), Some(RefusalCode::Conflict), "double approval");
        assert_eq!(code(&apply(&mut registry, 5, "m", approve(2000))), Some(RefusalCode::Forbidden), "not a steward");
        assert!(registry.active_federation_policy().is_none());

        let RegistryResponse::ProposalApproved { proposal: approved } = apply(&mut registry, 6, "b", approve(2000))
        else {
            panic!("not approved")
        };
        assert_eq!(approved.status, ProposalStatus::Active);
        let active = registry.active_federation_policy().expect("active");
        assert_eq!((active.raft_index, &active.digest), (6, &proposal.digest));
        assert_eq!(code(&apply(&mut registry, 7, "c", approve(3000))), Some(RefusalCode::Conflict), "already active");
    }

    #[test]
    fn an_expired_proposal_cannot_be_approved() {
        let mut registry = federation(&["a", "b", "c"], &[]);
        apply(&mut registry, 2, "a", RegistryCommand::ProposeFederationPolicy { text: FORBID_ALL.into(), at_ms: 0 });
        let late = RegistryCommand::ApproveProposal { id: 2, at_ms: PROPOSAL_TTL_MS };
        assert_eq!(code(&apply(&mut registry, 3, "b", late)), Some(RefusalCode::Conflict));
        assert_eq!(registry.proposals[&2].status, ProposalStatus::Expired);
        assert!(registry.active_federation_policy().is_none());
    }

    proptest! {
        /// Whatever the order of approvals, a proposal is active exactly when a majority of
        /// the stewards approved it, and approvals by non-stewards never count.
        #[test]
        fn activation_follows_the_quorum(stewards in 1usize..6, approvers in prop::collection::vec(0usize..8, 0..10)) {
            let names: Vec<String> = (0..stewards).map(|i| format!("s{i}")).collect();
            let steward_refs: Vec<&str> = names.iter().map(String::as_str).collect();
            let mut registry = federation(&steward_refs, &["m0", "m1"]);
            apply(&mut registry, 2, "s0", RegistryCommand::ProposeFederationPolicy { text: FORBID_ALL.into(), at_ms: 0 });
            let mut approved: BTreeSet<String> = BTreeSet::from(["s0".to_owned()]);
            for (i, who) in approvers.iter().enumerate() {
                let org = if *who < stewards { format!("s{who}") } else { format!("m{}", who % 2) };
                apply(&mut registry, 3 + i as u64, &org, RegistryCommand::ApproveProposal { id: 2, at_ms: 1 });
                if *who < stewards { approved.insert(org); }
            }
            let quorate = approved.len() > stewards / 2;
            prop_assert_eq!(registry.active_federation_policy().is_some(), quorate);
        }
    }

    #[test]
    fn a_revocation_takes_effect_at_quorum_and_survives_a_restore() {
        let mut registry = federation(&["a", "b", "c"], &["m"]);
        let revoke = |org: &str, reason: &str| RegistryCommand::ProposeRevocation {
            org: org.into(),
            reason: reason.into(),
            at_ms: 1_000,
        };
        assert_eq!(code(&apply(&mut registry, 10, "m", revoke("a", "x"))), Some(RefusalCode::Forbidden));
        assert_eq!(code(&apply(&mut registry, 11, "a", revoke("m", " "))), Some(RefusalCode::Invalid));
        assert_eq!(code(&apply(&mut registry, 12, "a", revoke("nobody", "x"))), Some(RefusalCode::NotFound));

        let created = apply(&mut registry, 13, "a", revoke("m", "leaked its key"));
        let RegistryResponse::ProposalCreated { proposal } = created else { panic!("{created:?}") };
        assert_eq!(proposal.status, ProposalStatus::Pending, "one of three stewards is no quorum");
        assert!(registry.members.contains_key("m"));
        let approved = apply(&mut registry, 14, "b", RegistryCommand::ApproveProposal { id: 13, at_ms: 2_000 });
        assert!(matches!(approved, RegistryResponse::ProposalApproved { .. }), "{approved:?}");
        assert!(!registry.members.contains_key("m"), "revoked orgs leave the members");
        let revocation = registry.revoked.get("m").expect("revoked");
        assert_eq!(
            (revocation.reason.as_str(), revocation.proposal, revocation.raft_index),
            ("leaked its key", 13, 14)
        );

        let rejoin =
            RegistryCommand::AddMember { org: "m".into(), peer_id: "p9".into(), node_id: 9, role: MemberRole::Member };
        assert_eq!(code(&apply(&mut registry, 15, "a", rejoin)), Some(RefusalCode::Forbidden), "no way back in");
        assert_eq!(code(&apply(&mut registry, 16, "a", revoke("m", "again"))), Some(RefusalCode::NotFound));

        // Storage keeps the old member record beside the revocation; the revocation wins
        // whichever is restored first.
        let stale_member = Change::Member(Member {
            org: "m".into(),
            peer_id: "p3".into(),
            node_id: 3,
            role: MemberRole::Member,
            admitted_at: 1,
        });
        for order in [true, false] {
            let mut records = registry.all_records();
            if order {
                records.insert(0, stale_member.clone());
            } else {
                records.push(stale_member.clone());
            }
            let mut restored = Registry::default();
            records.into_iter().for_each(|r| restored.restore(r));
            assert_eq!(restored, registry);
        }
    }

    #[test]
    fn a_second_proposal_in_one_entry_is_refused_and_changes_nothing() {
        let mut registry = federation(&["a", "b", "c"], &["m"]);
        let first = apply(
            &mut registry,
            5,
            "a",
            RegistryCommand::ProposeFederationPolicy { text: FORBID_ALL.into(), at_ms: 1 },
        );
        assert!(matches!(first, RegistryResponse::ProposalCreated { .. }), "{first:?}");
        let before = registry.clone();
        let revoke = RegistryCommand::ProposeRevocation { org: "m".into(), reason: "x".into(), at_ms: 1 };
        assert_eq!(code(&apply(&mut registry, 5, "b", revoke)), Some(RefusalCode::Conflict));
        assert_eq!(registry, before, "the first proposal of the entry stands");
    }

    #[test]
    fn the_last_steward_cannot_be_revoked() {
        let mut registry = federation(&["a"], &["m"]);
        let last = RegistryCommand::ProposeRevocation { org: "a".into(), reason: "x".into(), at_ms: 1 };
        assert_eq!(code(&apply(&mut registry, 2, "a", last)), Some(RefusalCode::Conflict));
        assert!(registry.members.contains_key("a"));
    }

    #[test]
    fn bad_role_changes_and_revocations_are_refused_and_change_nothing() {
        let mut registry = federation(&["a", "b", "c"], &["m"]);
        let before = registry.clone();
        let change =
            |org: &str, role, force| RegistryCommand::ProposeRoleChange { org: org.into(), role, force, at_ms: 1 };
        let revoke = |org: &str| RegistryCommand::ProposeRevocation { org: org.into(), reason: "x".into(), at_ms: 1 };
        let cases = [
            (change("stranger", MemberRole::Steward, false), RefusalCode::NotFound),
            (change("b", MemberRole::Member, false), RefusalCode::Conflict),
            (change("m", MemberRole::Member, false), RefusalCode::Conflict),
            (revoke("stranger"), RefusalCode::NotFound),
        ];
        for (index, (command, expected)) in cases.into_iter().enumerate() {
            let response = apply(&mut registry, 2 + index as u64, "a", command.clone());
            assert_eq!(code(&response), Some(expected), "{command:?}: {response:?}");
        }
        assert_eq!(registry, before);
    }

    #[test]
    fn role_changes_keep_an_odd_steward_count_unless_forced() {
        let mut registry = federation(&["a", "b", "c"], &["m", "n"]);
        let change =
            |org: &str, role, force| RegistryCommand::ProposeRoleChange { org: org.into(), role, force, at_ms: 1 };
        assert_eq!(
            code(&apply(&mut registry, 2, "m", change("n", MemberRole::Steward, false))),
            Some(RefusalCode::Forbidden)
        );
        assert_eq!(
            code(&apply(&mut registry, 3, "a", change("b", MemberRole::Steward, false))),
            Some(RefusalCode::Conflict)
        );
        let even = apply(&mut registry, 4, "a", change("m", MemberRole::Steward, false));
        assert_eq!(code(&even), Some(RefusalCode::Conflict), "4 stewards is refused unless forced");

        let forced = apply(&mut registry, 5, "a", change("m", MemberRole::Steward, true));
        assert!(matches!(forced, RegistryResponse::ProposalCreated { .. }), "{forced:?}");
        apply(&mut registry, 6, "b", RegistryCommand::ApproveProposal { id: 5, at_ms: 2 });
        assert_eq!(registry.members["m"].role, MemberRole::Steward);
        let second = apply(&mut registry, 7, "a", change("n", MemberRole::Steward, false));
        assert!(matches!(second, RegistryResponse::ProposalCreated { .. }), "5 stewards is fine: {second:?}");
        for (index, by) in [(8, "b"), (9, "c")] {
            apply(&mut registry, index, by, RegistryCommand::ApproveProposal { id: 7, at_ms: 2 });
        }
        assert_eq!(registry.stewards().count(), 5, "a majority of four stewards approved");

        // Re-admission keeps the role governance gave, whatever the certificate says.
        let rejoin =
            RegistryCommand::AddMember { org: "n".into(), peer_id: "p9".into(), node_id: 9, role: MemberRole::Member };
        apply(&mut registry, 10, "a", rejoin);
        assert_eq!(registry.members["n"].role, MemberRole::Steward);
        assert_eq!(registry.members["n"].peer_id, "p9");
    }
}
