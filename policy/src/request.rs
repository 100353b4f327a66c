//! The inputs of an authorization: the request and the entity data it is judged on.
//!
//! Callers (the node's HTTP API and CLI) fill plain serde structs: an [`AuthzRequest`] and a
//! short list of [`EntityInfo`] built from the registry (orgs, tenants) and the agent
//! directory (agents, their capabilities and tier). This module checks them against the size
//! limits, the entity id convention of [`crate::schema`] and the schema, then converts them
//! into Cedar's request and entity store.
//!
//! The schema checks are done here rather than by Cedar: Cedar's schema-checked constructors
//! cost about 10 us per request (more than evaluating both policy sets), while the shapes this
//! module builds are fixed by its own code. What remains to check is which principal and
//! resource types each action applies to (read from the parsed schema once) and which parent
//! types each entity may have (agent -> its own tenant, tenant -> orgs, org -> none). Action
//! entities are not added to the store: the schema has no action groups, so `action in [...]`
//! is plain membership (a schema test guards that). Tests check that Cedar's own schema
//! validation accepts everything built here.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use cedar_policy::{Context, Entities, Entity, EntityId, EntityTypeName, EntityUid, Request, RestrictedExpression};
use serde::{Deserialize, Serialize};

use crate::schema::{agent_tenant, schema, Action, EntityKind};
use crate::PolicyError;

/// Most entities described with one request. A decision needs the principal, the resource and
/// their ancestors (agent -> tenant -> org), so a handful; 64 leaves room for richer hierarchies
/// and bounds the entity store built per request.
pub const MAX_ENTITIES: usize = 64;

/// Most parents of one entity. The schema gives each entity at most one parent type; 16 allows
/// an agent listed in several tenants of one org while bounding the hierarchy walk.
pub const MAX_PARENTS: usize = 16;

/// Most capabilities of one agent. Matches the order of magnitude of an agent manifest's
/// capability list and bounds the Cedar set built per agent.
pub const MAX_CAPABILITIES: usize = 64;

/// Longest entity id, in bytes: a tenant name (63), `/` and an agent id, with slack; ids go into
/// audit entries, so they stay short.
pub const MAX_ENTITY_ID_BYTES: usize = 256;

/// Longest string attribute or context value (capability, tier, caller org), in bytes. These are
/// names, not documents.
pub const MAX_STRING_BYTES: usize = 256;

/// Highest trust score (`context.trust` is 0..=MAX_TRUST, the fixed-point scale of the trust crate).
pub const MAX_TRUST: u16 = 1000;

/// An entity named by kind and id (`EntityRef { kind: Agent, id: "acme/bot" }`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EntityRef {
    /// The entity type.
    pub kind: EntityKind,
    /// The id; for an agent `<tenant>/<agent-id>`.
    pub id: String,
}

impl EntityRef {
    /// `Ossa::Org::"<org>"`.
    pub fn org(org: &str) -> Self {
        EntityRef { kind: EntityKind::Org, id: org.to_string() }
    }

    /// `Ossa::Tenant::"<tenant>"`.
    pub fn tenant(tenant: &str) -> Self {
        EntityRef { kind: EntityKind::Tenant, id: tenant.to_string() }
    }

    /// `Ossa::Agent::"<tenant>/<agent>"`.
    pub fn agent(tenant: &str, agent: &str) -> Self {
        EntityRef { kind: EntityKind::Agent, id: format!("{tenant}/{agent}") }
    }

    /// The Cedar uid, after the id checks (length; agents need a `<tenant>/` prefix).
    pub(crate) fn to_uid(&self) -> Result<EntityUid, PolicyError> {
        if self.id.len() > MAX_ENTITY_ID_BYTES {
            return Err(PolicyError::too_large("entity id (bytes)", self.id.len(), MAX_ENTITY_ID_BYTES));
        }
        if self.kind == EntityKind::Agent && agent_tenant(&self.id).is_none_or(str::is_empty) {
            return Err(PolicyError::Entities {
                message: format!("agent id {:?} must have the form <tenant>/<agent-id>", self.id),
            });
        }
        Ok(EntityUid::from_type_name_and_id(self.kind.type_name().clone(), EntityId::new(&self.id)))
    }
}

impl std::fmt::Display for EntityRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}::{}::{:?}", crate::NAMESPACE, self.kind.basename(), self.id)
    }
}

/// The request context every action gets (see the schema's `RequestContext`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthzContext {
    /// Capability looked up or invoked; empty when not applicable.
    pub capability: String,
    /// Caller's trust score, 0..=[`MAX_TRUST`].
    pub trust: u16,
    /// Org the call comes from.
    pub caller_org: String,
}

/// One authorization question: may `principal` do `action` on `resource` in `tenant`?
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthzRequest {
    /// The tenant whose policy set decides; the resource must belong to it.
    pub tenant: String,
    /// Who acts (an agent or an org, depending on the action).
    pub principal: EntityRef,
    /// What they do.
    pub action: Action,
    /// On what (an agent of `tenant`, or `tenant` itself).
    pub resource: EntityRef,
    /// Facts about the call.
    pub context: AuthzContext,
}

/// The attributes of an agent entity (required by the schema for every agent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentAttrs {
    /// Capabilities from the agent's manifest.
    pub capabilities: Vec<String>,
    /// Certification tier.
    pub tier: String,
}

/// One entity of the store a request is judged on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityInfo {
    /// The entity.
    pub uid: EntityRef,
    /// Its parents: the owning org for a tenant, the tenant for an agent.
    #[serde(default)]
    pub parents: Vec<EntityRef>,
    /// Attributes; required for agents, absent for orgs and tenants.
    #[serde(default)]
    pub agent: Option<AgentAttrs>,
}

/// A string input checked against [`MAX_STRING_BYTES`].
fn short(what: &str, value: &str) -> Result<(), PolicyError> {
    if value.len() > MAX_STRING_BYTES {
        return Err(PolicyError::too_large(what, value.len(), MAX_STRING_BYTES));
    }
    Ok(())
}

/// The Cedar request for `request` (its tenant/resource pairing is checked by the caller).
pub(crate) fn cedar_request(request: &AuthzRequest) -> Result<Request, PolicyError> {
    let context = &request.context;
    short("context.capability (bytes)", &context.capability)?;
    short("context.caller_org (bytes)", &context.caller_org)?;
    if context.trust > MAX_TRUST {
        return Err(PolicyError::Request { message: format!("context.trust {} is above {MAX_TRUST}", context.trust) });
    }
    let (principals, resources) = &applies_to()[request.action as usize];
    for (role, entity, allowed) in
        [("principal", &request.principal, principals), ("resource", &request.resource, resources)]
    {
        if !allowed.contains(&entity.kind) {
            return Err(PolicyError::Request {
                message: format!(
                    "{} cannot be the {role} of {}; allowed: {allowed:?}",
                    entity,
                    request.action.as_str()
                ),
            });
        }
    }
    Request::new(
        request.principal.to_uid()?,
        request.action.uid().clone(),
        request.resource.to_uid()?,
        cedar_context(context)?,
        None,
    )
    .map_err(|error| PolicyError::Request { message: error.to_string() })
}

/// The context record of the schema's `RequestContext`.
fn cedar_context(context: &AuthzContext) -> Result<Context, PolicyError> {
    let pairs = [
        ("capability".to_string(), RestrictedExpression::new_string(context.capability.clone())),
        ("trust".to_string(), RestrictedExpression::new_long(i64::from(context.trust))),
        ("caller_org".to_string(), RestrictedExpression::new_string(context.caller_org.clone())),
    ];
    Context::from_pairs(pairs).map_err(|error| PolicyError::Request { message: error.to_string() })
}

/// For each action (indexed by `Action as usize`), the principal and resource kinds the schema
/// allows.
fn applies_to() -> &'static [(Vec<EntityKind>, Vec<EntityKind>); 4] {
    static TABLE: OnceLock<[(Vec<EntityKind>, Vec<EntityKind>); 4]> = OnceLock::new();
    TABLE.get_or_init(|| {
        Action::ALL.map(|action| {
            let schema = schema();
            (kinds(schema.principals_for_action(action.uid())), kinds(schema.resources_for_action(action.uid())))
        })
    })
}

/// The OSSA kinds among `types`, sorted.
fn kinds<'a>(types: Option<impl Iterator<Item = &'a EntityTypeName>>) -> Vec<EntityKind> {
    let mut kinds: Vec<EntityKind> = types.into_iter().flatten().filter_map(EntityKind::of).collect();
    kinds.sort();
    kinds
}

/// The Cedar entity store for `infos`, checked against the limits, the id convention (an
/// agent's parents are exactly the tenant its id names) and the schema.
pub(crate) fn cedar_entities(infos: &[EntityInfo]) -> Result<Entities, PolicyError> {
    if infos.len() > MAX_ENTITIES {
        return Err(PolicyError::too_large("entity count", infos.len(), MAX_ENTITIES));
    }
    let mut entities = Vec::with_capacity(infos.len());
    for info in infos {
        entities.push(cedar_entity(info)?);
    }
    Entities::from_entities(entities, None).map_err(|error| PolicyError::Entities { message: error.to_string() })
}

fn cedar_entity(info: &EntityInfo) -> Result<Entity, PolicyError> {
    if info.parents.len() > MAX_PARENTS {
        return Err(PolicyError::too_large("parents of one entity", info.parents.len(), MAX_PARENTS));
    }
    let uid = info.uid.to_uid()?;
    let parents = info.parents.iter().map(EntityRef::to_uid).collect::<Result<HashSet<_>, _>>()?;
    let parent_kind = match info.uid.kind {
        EntityKind::Org => None,
        EntityKind::Tenant => Some(EntityKind::Org),
        EntityKind::Agent => Some(EntityKind::Tenant),
    };
    if let Some(parent) = info.parents.iter().find(|parent| Some(parent.kind) != parent_kind) {
        return Err(PolicyError::Entities { message: format!("{parent} cannot be a parent of {}", info.uid) });
    }
    let mut attrs = HashMap::new();
    match (info.uid.kind, &info.agent) {
        (EntityKind::Agent, Some(agent)) => {
            let tenant = agent_tenant(&info.uid.id).unwrap_or_default();
            if info.parents.iter().any(|parent| *parent != EntityRef::tenant(tenant)) {
                return Err(PolicyError::Entities {
                    message: format!("agent {} may only have its own tenant {tenant:?} as parent", info.uid),
                });
            }
            if agent.capabilities.len() > MAX_CAPABILITIES {
                return Err(PolicyError::too_large("agent capabilities", agent.capabilities.len(), MAX_CAPABILITIES));
            }
            for capability in &agent.capabilities {
                short("agent capability (bytes)", capability)?;
            }
            short("agent tier (bytes)", &agent.tier)?;
            let capabilities = agent.capabilities.iter().cloned().map(RestrictedExpression::new_string);
            attrs.insert("capabilities".to_string(), RestrictedExpression::new_set(capabilities));
            attrs.insert("tier".to_string(), RestrictedExpression::new_string(agent.tier.clone()));
        }
        (EntityKind::Agent, None) => {
            return Err(PolicyError::Entities { message: format!("agent {} needs capabilities and tier", info.uid) });
        }
        (_, Some(_)) => {
            return Err(PolicyError::Entities { message: format!("{} cannot have agent attributes", info.uid) });
        }
        (_, None) => {}
    }
    Entity::new(uid, attrs, parents).map_err(|error| PolicyError::Entities { message: error.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context() -> AuthzContext {
        AuthzContext { capability: "summarize".into(), trust: 800, caller_org: "globex".into() }
    }

    fn agent(tenant: &str, id: &str) -> EntityInfo {
        EntityInfo {
            uid: EntityRef::agent(tenant, id),
            parents: vec![EntityRef::tenant(tenant)],
            agent: Some(AgentAttrs { capabilities: vec!["summarize".into()], tier: "gold".into() }),
        }
    }

    #[test]
    fn builds_requests_and_entities_that_match_the_schema() {
        let request = AuthzRequest {
            tenant: "acme".into(),
            principal: EntityRef::org("globex"),
            action: Action::Invoke,
            resource: EntityRef::agent("acme", "bot"),
            context: context(),
        };
        assert!(cedar_request(&request).is_ok());
        let infos = [
            EntityInfo { uid: EntityRef::org("acme"), parents: vec![], agent: None },
            EntityInfo { uid: EntityRef::tenant("acme"), parents: vec![EntityRef::org("acme")], agent: None },
            agent("acme", "bot"),
        ];
        assert_eq!(cedar_entities(&infos).map(|entities| entities.len()).ok(), Some(3));
    }

    #[test]
    fn what_is_built_here_passes_cedars_own_schema_checks() {
        // Every action with every principal/resource kind: accepted here iff Cedar's
        // schema-checked constructor accepts it.
        let kinds = [EntityKind::Org, EntityKind::Tenant, EntityKind::Agent];
        let entity = |kind: EntityKind| EntityRef { kind, id: "acme/x".into() };
        for action in Action::ALL {
            for principal in kinds {
                for resource in kinds {
                    let request = AuthzRequest {
                        tenant: "acme".into(),
                        principal: entity(principal),
                        action,
                        resource: entity(resource),
                        context: context(),
                    };
                    let ours = cedar_request(&request).is_ok();
                    let cedars = cedar_context(&request.context).ok().and_then(|context| {
                        let (p, r) = (request.principal.to_uid().ok()?, request.resource.to_uid().ok()?);
                        Request::new(p, action.uid().clone(), r, context, Some(schema())).ok()
                    });
                    assert_eq!(ours, cedars.is_some(), "{action:?} {principal:?} {resource:?}");
                }
            }
        }
        // Entities: the store built here validates against the schema, action entities included.
        let infos = [
            EntityInfo { uid: EntityRef::org("acme"), parents: vec![], agent: None },
            EntityInfo { uid: EntityRef::tenant("acme"), parents: vec![EntityRef::org("acme")], agent: None },
            agent("acme", "bot"),
        ];
        let built: Vec<Entity> = infos.iter().map(|info| cedar_entity(info).expect("valid")).collect();
        assert!(Entities::from_entities(built, Some(schema())).is_ok());
        // No action groups: leaving action entities out of the store changes no decision.
        assert_eq!(schema().action_groups().count(), 0);
    }

    #[test]
    fn refuses_schema_mismatches_and_oversized_input() {
        // `register` is done by orgs only.
        let mut request = AuthzRequest {
            tenant: "acme".into(),
            principal: EntityRef::agent("acme", "bot"),
            action: Action::Register,
            resource: EntityRef::agent("acme", "bot"),
            context: context(),
        };
        assert!(matches!(cedar_request(&request), Err(PolicyError::Request { .. })));
        request.action = Action::Invoke;
        request.context.trust = MAX_TRUST + 1;
        assert!(matches!(cedar_request(&request), Err(PolicyError::Request { .. })));
        request.context.trust = 0;
        request.context.capability = "x".repeat(MAX_STRING_BYTES + 1);
        assert!(matches!(cedar_request(&request), Err(PolicyError::TooLarge { .. })));

        let too_many: Vec<EntityInfo> = (0..=MAX_ENTITIES).map(|i| agent("acme", &i.to_string())).collect();
        assert!(matches!(cedar_entities(&too_many), Err(PolicyError::TooLarge { .. })));
        let mut wrong_parent = agent("acme", "bot");
        wrong_parent.parents = vec![EntityRef::tenant("globex")];
        assert!(matches!(cedar_entities(&[wrong_parent]), Err(PolicyError::Entities { .. })));
        let mut no_attrs = agent("acme", "bot");
        no_attrs.agent = None;
        assert!(matches!(cedar_entities(&[no_attrs]), Err(PolicyError::Entities { .. })));
        let bad_id = EntityInfo { uid: EntityRef { kind: EntityKind::Agent, id: "bot".into() }, ..agent("acme", "x") };
        assert!(matches!(cedar_entities(&[bad_id]), Err(PolicyError::Entities { .. })));
        // Schema: a tenant's parent must be an org.
        let tenant_in_tenant =
            EntityInfo { uid: EntityRef::tenant("acme"), parents: vec![EntityRef::tenant("x")], agent: None };
        assert!(matches!(cedar_entities(&[tenant_in_tenant]), Err(PolicyError::Entities { .. })));
    }
}
