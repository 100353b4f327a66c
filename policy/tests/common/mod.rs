//! Builders shared by the integration tests: requests, entity data and sets.
#![allow(dead_code)] // each test binary uses a different subset

use ossa_policy::{
    validate_policy_set, Action, AgentAttrs, AuthzContext, AuthzRequest, EntityInfo, EntityRef, ValidatedPolicySet,
};

/// Validates `text`, panicking with the error (tests only).
pub fn set(text: &str) -> ValidatedPolicySet {
    validate_policy_set(text).unwrap_or_else(|error| panic!("{error}\n{text}"))
}

/// An org entity.
pub fn org(name: &str) -> EntityInfo {
    EntityInfo { uid: EntityRef::org(name), parents: vec![], agent: None }
}

/// A tenant entity owned by `owner`.
pub fn tenant(name: &str, owner: &str) -> EntityInfo {
    EntityInfo { uid: EntityRef::tenant(name), parents: vec![EntityRef::org(owner)], agent: None }
}

/// An agent entity of `tenant_name`.
pub fn agent(tenant_name: &str, id: &str, capabilities: &[&str], tier: &str) -> EntityInfo {
    EntityInfo {
        uid: EntityRef::agent(tenant_name, id),
        parents: vec![EntityRef::tenant(tenant_name)],
        agent: Some(AgentAttrs {
            capabilities: capabilities.iter().map(|c| c.to_string()).collect(),
            tier: tier.to_string(),
        }),
    }
}

/// A request context.
pub fn context(capability: &str, trust: u16, caller_org: &str) -> AuthzContext {
    AuthzContext { capability: capability.to_string(), trust, caller_org: caller_org.to_string() }
}

/// `principal` invokes agent `tenant_name/agent_id`.
pub fn invoke(tenant_name: &str, principal: EntityRef, agent_id: &str, ctx: AuthzContext) -> AuthzRequest {
    AuthzRequest {
        tenant: tenant_name.to_string(),
        principal,
        action: Action::Invoke,
        resource: EntityRef::agent(tenant_name, agent_id),
        context: ctx,
    }
}
