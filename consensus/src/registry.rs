//! The federation registry: the replicated state machine's data and its pure transition
//! function.
//!
//! A [`Proposal`] (who asks, and a [`RegistryCommand`]) is committed through Raft; every node
//! then calls [`Registry::apply`] with the same proposals in the same order and so reaches the
//! same [`Registry`]. `apply` never fails: a command that breaks a rule (a duplicate tenant, a
//! bad name, an unknown owner) leaves the state unchanged and answers a refusal in its
//! [`RegistryResponse`], which the node turns into an HTTP status.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

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
}

impl RegistryCommand {
    /// Stable name of the command, used as the audit entry kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::AddMember { .. } => "registry.add_member",
            Self::CreateTenant { .. } => "registry.create_tenant",
        }
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

/// The outcome of applying one entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum RegistryResponse {
    /// Applied; nothing to report (blank and membership entries, and entries the state machine
    /// had applied already).
    #[default]
    Done,
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
    /// The command broke a rule; nothing changed.
    Refused {
        /// Why.
        reason: String,
    },
}

/// The replicated registry state.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Registry {
    /// Members by org name.
    pub members: BTreeMap<String, Member>,
    /// Tenants by name.
    pub tenants: BTreeMap<String, Tenant>,
}

/// What one `apply` changed, so storage can persist just that.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Nothing changed.
    None,
    /// This member was inserted or replaced.
    Member(Member),
    /// This tenant was inserted.
    Tenant(Tenant),
}

impl Registry {
    /// Applies one committed proposal at Raft log `index`. Deterministic; never fails.
    pub fn apply(&mut self, index: u64, proposal: &Proposal) -> (RegistryResponse, Change) {
        match &proposal.command {
            RegistryCommand::AddMember { org, peer_id, node_id, role } => {
                let member = Member {
                    org: org.clone(),
                    peer_id: peer_id.clone(),
                    node_id: *node_id,
                    role: *role,
                    admitted_at: index,
                };
                self.members.insert(org.clone(), member.clone());
                (RegistryResponse::MemberAdded { member: member.clone() }, Change::Member(member))
            }
            RegistryCommand::CreateTenant { name } => {
                if let Err(err) = ossa_policy::validate_tenant_name(name) {
                    return (RegistryResponse::Refused { reason: err.to_string() }, Change::None);
                }
                if !self.members.contains_key(&proposal.by) {
                    let reason = format!("org {:?} is not a member of the federation", proposal.by);
                    return (RegistryResponse::Refused { reason }, Change::None);
                }
                if let Some(existing) = self.tenants.get(name) {
                    return (RegistryResponse::TenantExists { tenant: existing.clone() }, Change::None);
                }
                let tenant = Tenant { name: name.clone(), owner: proposal.by.clone(), created_at: index };
                self.tenants.insert(name.clone(), tenant.clone());
                (RegistryResponse::TenantCreated { tenant: tenant.clone() }, Change::Tenant(tenant))
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
        assert_eq!(change, Change::None);
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
