//! Authorization on this node: Cedar decisions against the replicated policy sets.
//!
//! The [`PolicyEngine`] holds an `ossa_policy::Authorizer` and keeps it in step with the
//! registry lazily: before a decision it compares the Raft index of the active federation
//! version and of the request's tenant version with what it has installed, and re-validates
//! and installs only what changed. A node serving 1000 tenants thus loads a tenant's set on
//! first use and after each change, never all of them at once. One Raft entry can carry two
//! changes of one set, which then share its index; the state machine applies an entry's
//! proposals under one lock, so what this engine sees at an index is always the entry's last.
//!
//! Entities come from the registry (orgs, tenants and their owners) and the agent directory
//! (an agent's capabilities and tier). Every decision is appended to this node's audit log
//! with the request's hash, the policy versions used, the verdict and the deciding policies.

use std::collections::HashMap;
use std::sync::RwLock;

use ossa_consensus::{PolicyVersion, Registry};
use ossa_policy::{
    AgentAttrs, Authorizer, AuthzContext, AuthzRequest, Decision, EntityInfo, EntityKind, EntityRef, PolicyError,
};
use serde::{Deserialize, Serialize};

use crate::agents::directory::Directory;

/// A decision with the versions that made it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Verdict {
    /// `allow` or `deny`.
    pub decision: String,
    /// Deciding policy ids (`federation:<id>` / `tenant:<id>`).
    pub deciding: Vec<String>,
    /// Why, in words (errors during evaluation, missing sets).
    pub reasons: Vec<String>,
    /// Raft index of the federation version used, if any.
    pub federation_version: Option<u64>,
    /// Raft index of the tenant version used, if any.
    pub tenant_version: Option<u64>,
}

#[derive(Default)]
struct Installed {
    authorizer: Authorizer,
    federation: Option<u64>,
    tenants: HashMap<String, u64>,
}

/// The node's authorizer, synced lazily with the registry.
#[derive(Default)]
pub struct PolicyEngine {
    installed: RwLock<Installed>,
}

fn validated(version: &PolicyVersion) -> Result<ossa_policy::ValidatedPolicySet, PolicyError> {
    // The registry holds canonical text that every replica validated at apply time with the
    // same pinned Cedar; validating again only rebuilds the in-memory set.
    ossa_policy::validate_policy_set(&version.text)
}

impl PolicyEngine {
    fn sync(&self, registry: &Registry, tenant: &str) -> Result<(Option<u64>, Option<u64>), PolicyError> {
        let federation = registry.active_federation_policy();
        let tenant_version = registry.active_tenant_policy(tenant);
        let wanted = (federation.map(|v| v.raft_index), tenant_version.map(|v| v.raft_index));
        {
            let installed = self.installed.read().unwrap_or_else(|p| p.into_inner());
            if installed.federation == wanted.0 && installed.tenants.get(tenant).copied() == wanted.1 {
                return Ok(wanted);
            }
        }
        let mut installed = self.installed.write().unwrap_or_else(|p| p.into_inner());
        if installed.federation != wanted.0 {
            installed.authorizer.set_federation(federation.map(validated).transpose()?);
            installed.federation = wanted.0;
        }
        if installed.tenants.get(tenant).copied() != wanted.1 {
            match tenant_version {
                Some(version) => {
                    installed.authorizer.set_tenant(tenant, validated(version)?)?;
                    installed.tenants.insert(tenant.to_owned(), version.raft_index);
                }
                None => {
                    installed.authorizer.remove_tenant(tenant);
                    installed.tenants.remove(tenant);
                }
            }
        }
        Ok(wanted)
    }

    /// Decides `request` against the active sets, with entities from `registry` and `directory`.
    pub fn decide(
        &self,
        registry: &Registry,
        directory: &Directory,
        request: &AuthzRequest,
    ) -> Result<Verdict, PolicyError> {
        let (federation_version, tenant_version) = self.sync(registry, &request.tenant)?;
        let entities = entities_for(registry, directory, &[&request.principal, &request.resource]);
        let installed = self.installed.read().unwrap_or_else(|p| p.into_inner());
        let Decision { allowed, deciding, reasons } = installed.authorizer.authorize(request, &entities)?;
        Ok(Verdict {
            decision: if allowed { "allow" } else { "deny" }.to_owned(),
            deciding,
            reasons,
            federation_version,
            tenant_version,
        })
    }
}

/// The entities a request needs: the named ones and their ancestors (tenant, owning org).
fn entities_for(registry: &Registry, directory: &Directory, named: &[&EntityRef]) -> Vec<EntityInfo> {
    let mut out: Vec<EntityInfo> = Vec::new();
    let mut add = |info: EntityInfo| {
        if !out.iter().any(|e| e.uid == info.uid) {
            out.push(info);
        }
    };
    let tenant_info = |tenant: &str| EntityInfo {
        uid: EntityRef::tenant(tenant),
        parents: registry.tenants.get(tenant).map(|t| vec![EntityRef::org(&t.owner)]).unwrap_or_default(),
        agent: None,
    };
    for entity in named {
        match entity.kind {
            EntityKind::Org => add(EntityInfo { uid: (*entity).clone(), parents: vec![], agent: None }),
            EntityKind::Tenant => {
                add(tenant_info(&entity.id));
                if let Some(t) = registry.tenants.get(&entity.id) {
                    add(EntityInfo { uid: EntityRef::org(&t.owner), parents: vec![], agent: None });
                }
            }
            EntityKind::Agent => {
                let Some((tenant, agent_id)) = entity.id.split_once('/') else { continue };
                let record = directory.record(tenant, agent_id).filter(|r| !r.deleted);
                let attrs = AgentAttrs {
                    capabilities: record.as_ref().map(|r| r.capabilities.clone()).unwrap_or_default(),
                    tier: record
                        .and_then(|r| directory.tier(&r, crate::clock::now_ms()))
                        .map(|t| t.as_str().to_owned())
                        .unwrap_or_default(),
                };
                add(EntityInfo {
                    uid: (*entity).clone(),
                    parents: vec![EntityRef::tenant(tenant)],
                    agent: Some(attrs),
                });
                add(tenant_info(tenant));
                if let Some(t) = registry.tenants.get(tenant) {
                    add(EntityInfo { uid: EntityRef::org(&t.owner), parents: vec![], agent: None });
                }
            }
        }
    }
    out
}

/// Parses `kind:id` (`org:acme`, `tenant:research`, `agent:research/summarizer`).
pub fn parse_entity(text: &str) -> Result<EntityRef, String> {
    let (kind, id) =
        text.split_once(':').ok_or_else(|| format!("{text:?} is not KIND:ID (org:, tenant: or agent:)"))?;
    if id.is_empty() {
        return Err(format!("{text:?} has an empty id"));
    }
    let kind = match kind {
        "org" => EntityKind::Org,
        "tenant" => EntityKind::Tenant,
        "agent" => EntityKind::Agent,
        other => return Err(format!("unknown entity kind {other:?}; use org, tenant or agent")),
    };
    Ok(EntityRef { kind, id: id.to_owned() })
}

/// The trust score of a policy principal: an agent's (its own, else its org's), an org's, or
/// 0 for anything else or anything unknown.
pub fn principal_trust(
    principal: &EntityRef,
    directory: &crate::agents::directory::Directory,
    scores: &ossa_trust::TrustScores,
) -> u16 {
    match principal.kind {
        EntityKind::Org => scores.org(&principal.id).map(|o| o.score).unwrap_or(0),
        EntityKind::Agent => principal
            .id
            .split_once('/')
            .and_then(|(tenant, id)| directory.record(tenant, id))
            .map(|r| crate::trust_scores::ranking::agent_trust(scores, &r.org, &r.tenant, &r.agent_id))
            .unwrap_or(0),
        _ => 0,
    }
}

/// Body of `POST /v1/authorize` (and what `ossa authorize` sends).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorizeBody {
    /// Tenant whose policy set decides.
    pub tenant: String,
    /// `org:ID` or `agent:TENANT/ID`.
    pub principal: String,
    /// `discover`, `invoke`, `register` or `administer`.
    pub action: String,
    /// `agent:TENANT/ID` or `tenant:TENANT`.
    pub resource: String,
    /// Request context.
    #[serde(default)]
    pub context: ContextBody,
}

/// Context part of [`AuthorizeBody`]; missing fields default to empty / 0.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContextBody {
    /// Capability looked up or invoked.
    #[serde(default)]
    pub capability: String,
    /// Caller's trust score, 0..=1000; when left out, the node fills in the principal's own
    /// score (an agent's, else its org's; an org's) from its trust scores.
    #[serde(default)]
    pub trust: Option<u16>,
    /// Org the call comes from.
    #[serde(default)]
    pub caller_org: String,
}

impl AuthorizeBody {
    /// The policy request this body describes.
    pub fn to_request(&self) -> Result<AuthzRequest, String> {
        Ok(AuthzRequest {
            tenant: self.tenant.clone(),
            principal: parse_entity(&self.principal)?,
            action: self.action.parse().map_err(|e| format!("{e}"))?,
            resource: parse_entity(&self.resource)?,
            context: AuthzContext {
                capability: self.context.capability.clone(),
                trust: self.context.trust.unwrap_or(0),
                caller_org: self.context.caller_org.clone(),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ossa_consensus::{Member, MemberRole, Proposal, RegistryCommand, RegistryResponse};

    fn registry_with(tenant_policy: &str, federation_policy: Option<&str>) -> Registry {
        let mut registry = Registry::default();
        for (i, org) in ["acme", "globex"].iter().enumerate() {
            let m = Member {
                org: org.to_string(),
                peer_id: format!("p{i}"),
                node_id: i as u64,
                role: MemberRole::Steward,
                admitted_at: 1,
            };
            registry.members.insert(org.to_string(), m);
        }
        let apply = |r: &mut Registry, index, by: &str, command| r.apply(index, &Proposal { by: by.into(), command }).0;
        apply(&mut registry, 2, "acme", RegistryCommand::CreateTenant { name: "t".into() });
        let set = apply(
            &mut registry,
            3,
            "acme",
            RegistryCommand::SetTenantPolicy { tenant: "t".into(), text: tenant_policy.into() },
        );
        assert!(matches!(set, RegistryResponse::PolicySet { .. }), "{set:?}");
        if let Some(text) = federation_policy {
            let propose = RegistryCommand::ProposeFederationPolicy { text: text.into(), at_ms: 0 };
            let RegistryResponse::ProposalCreated { proposal } = apply(&mut registry, 4, "acme", propose) else {
                panic!("federation policy not proposed")
            };
            let approve = RegistryCommand::ApproveProposal { id: proposal.id, at_ms: 1 };
            let approved = apply(&mut registry, 5, "globex", approve);
            assert!(matches!(approved, RegistryResponse::ProposalApproved { .. }), "{approved:?}");
        }
        registry
    }

    fn invoke(principal: &str) -> AuthorizeBody {
        AuthorizeBody {
            tenant: "t".into(),
            principal: principal.into(),
            action: "invoke".into(),
            resource: "agent:t/bot".into(),
            context: ContextBody { capability: "summarize".into(), trust: Some(500), caller_org: "globex".into() },
        }
    }

    #[test]
    fn tenant_permit_allows_and_a_federation_forbid_then_wins() {
        let db = sled::Config::new().temporary(true).open().expect("db");
        let directory = Directory::open(&db).expect("directory");
        let permit = r#"@id("orgs-invoke") permit(principal is Ossa::Org, action == Ossa::Action::"invoke", resource in Ossa::Tenant::"t");"#;
        let engine = PolicyEngine::default();
        let registry = registry_with(permit, None);
        let request = invoke("org:globex").to_request().expect("request");
        let verdict = engine.decide(&registry, &directory, &request).expect("decide");
        assert_eq!(verdict.decision, "allow");
        assert_eq!(verdict.deciding, vec!["tenant:orgs-invoke".to_owned()]);
        assert_eq!(verdict.tenant_version, Some(3));

        // The same engine picks up the newly active federation set.
        let federation = r#"@id("base") permit(principal, action, resource);
@id("no-globex") forbid(principal == Ossa::Org::"globex", action == Ossa::Action::"invoke", resource);"#;
        let registry = registry_with(permit, Some(federation));
        let verdict = engine.decide(&registry, &directory, &request).expect("decide");
        assert_eq!(verdict.decision, "deny");
        assert_eq!(verdict.deciding, vec!["federation:no-globex".to_owned()]);
        assert_eq!(verdict.federation_version, Some(5));
    }

    #[test]
    fn entity_syntax_is_checked() {
        assert_eq!(parse_entity("agent:t/bot").expect("ok"), EntityRef::agent("t", "bot"));
        assert!(parse_entity("bot").is_err());
        assert!(parse_entity("robot:x").is_err());
        assert!(parse_entity("org:").is_err());
    }
}
