//! A synthetic federation for authorization benchmarks (`ossa bench authorize`,
//! `examples/authorize_latency.rs`).
//!
//! [`authorize_workload`] validates and installs, into one [`Authorizer`], a federation set
//! (a blanket permit and two forbids) and `tenants` tenant sets of [`POLICIES_PER_TENANT`]
//! policies each: eight scoped permits with a trust and capability condition, a discover
//! permit and a forbid on bronze agents. [`AuthzWorkload::request`] then gives the `n`-th
//! request of a cheap deterministic spread over tenants, agents and callers, with the six
//! entities a caller would build (the target agent, its tenant and org; the caller's agent,
//! tenant and org), so a timed [`Authorizer::authorize`] pays what a real call pays.

use crate::{
    validate_policy_set, Action, AgentAttrs, Authorizer, AuthzContext, AuthzRequest, EntityInfo, EntityRef, PolicyError,
};

/// Policies in each generated tenant set: the size of a modest real set (a few scoped permits
/// with conditions, a default permit, a forbid).
pub const POLICIES_PER_TENANT: usize = 10;

/// Scoped permits in a tenant set (the rest of [`POLICIES_PER_TENANT`] is one discover permit
/// and one forbid); also the number of orgs and agents per tenant requests name.
const SCOPED_PERMITS: usize = 8;

/// The federation set: everything allowed unless the caller is distrusted or banned.
const FEDERATION_SET: &str = "@id(\"baseline\") permit(principal, action, resource);\n\
     @id(\"quarantine\") forbid(principal, action, resource) when { context.trust < 50 };\n\
     @id(\"banned\") forbid(principal, action, resource) when { context.caller_org == \"mallory\" };";

/// An authorizer loaded with a generated federation, and the requests to time against it.
#[derive(Debug)]
pub struct AuthzWorkload {
    /// The federation set and every tenant set, installed.
    pub authorizer: Authorizer,
    /// Number of tenant sets (at least one).
    pub tenants: usize,
}

impl AuthzWorkload {
    /// The `n`-th request (an `invoke` of one of a tenant's agents by one of eight orgs, with
    /// a trust that runs through 0..=1000) and the entities it needs.
    pub fn request(&self, n: usize) -> (AuthzRequest, Vec<EntityInfo>) {
        // A cheap deterministic spread over tenants, agents and callers.
        let t = n.wrapping_mul(7919) % self.tenants;
        let i = n % SCOPED_PERMITS;
        let tenant = format!("tenant{t}");
        let caller_tenant = format!("tenant{}", (t + 1) % self.tenants);
        let caller_org = format!("org{i}");
        let mut entities = Vec::with_capacity(6);
        entities.extend(agent(&tenant, &format!("agent{i}"), &format!("org{}", t % SCOPED_PERMITS)));
        entities.extend(agent(&caller_tenant, "caller", &caller_org));
        let request = AuthzRequest {
            principal: EntityRef::org(&caller_org),
            action: Action::Invoke,
            resource: EntityRef::agent(&tenant, &format!("agent{i}")),
            context: AuthzContext {
                capability: "summarize".into(),
                trust: u16::try_from(n % 1001).unwrap_or(0),
                caller_org,
            },
            tenant,
        };
        (request, entities)
    }
}

/// Validates and installs the federation set and `tenants` tenant sets (at least one).
pub fn authorize_workload(tenants: usize) -> Result<AuthzWorkload, PolicyError> {
    let tenants = tenants.max(1);
    let federation = validate_policy_set(FEDERATION_SET)?;
    let mut sets = Vec::with_capacity(tenants);
    for t in 0..tenants {
        let name = format!("tenant{t}");
        let set = validate_policy_set(&tenant_policies(&name))?;
        sets.push((name, set));
    }
    Ok(AuthzWorkload { authorizer: Authorizer::from_sets(Some(federation), sets)?, tenants })
}

/// The [`POLICIES_PER_TENANT`] policies of tenant `t`: a mix of scoped permits, conditions and
/// forbids.
fn tenant_policies(t: &str) -> String {
    let mut text = String::new();
    for i in 0..SCOPED_PERMITS {
        text.push_str(&format!(
            "@id(\"{t}-p{i}\") permit(principal in Ossa::Org::\"org{i}\", action == Ossa::Action::\"invoke\", \
             resource == Ossa::Agent::\"{t}/agent{i}\") when {{ context.trust >= {} && resource.capabilities.contains(context.capability) }};\n",
            100 * i
        ));
    }
    text.push_str(&format!(
        "@id(\"{t}-discover\") permit(principal, action == Ossa::Action::\"discover\", resource in Ossa::Tenant::\"{t}\");\n"
    ));
    text.push_str(&format!(
        "@id(\"{t}-no-bronze\") forbid(principal, action, resource is Ossa::Agent) when {{ resource.tier == \"bronze\" }};\n"
    ));
    text
}

/// Agent `id` of `tenant` (a gold agent that can summarize and translate), its tenant, and the
/// tenant's owner org.
fn agent(tenant: &str, id: &str, owner: &str) -> [EntityInfo; 3] {
    [
        EntityInfo {
            uid: EntityRef::agent(tenant, id),
            parents: vec![EntityRef::tenant(tenant)],
            agent: Some(AgentAttrs { capabilities: vec!["summarize".into(), "translate".into()], tier: "gold".into() }),
        },
        EntityInfo { uid: EntityRef::tenant(tenant), parents: vec![EntityRef::org(owner)], agent: None },
        EntityInfo { uid: EntityRef::org(owner), parents: vec![], agent: None },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workload_installs_every_set_and_decides_both_ways() {
        let workload = authorize_workload(5).expect("valid sets");
        assert_eq!(workload.authorizer.tenant_count(), 5);
        let policies = workload.authorizer.tenant_set("tenant4").expect("installed");
        assert_eq!(policies.len(), POLICIES_PER_TENANT);
        let (mut allowed, mut denied) = (0, 0);
        for n in 0..200 {
            let (request, entities) = workload.request(n);
            assert_eq!(entities.len(), 6);
            let decision = workload.authorizer.authorize(&request, &entities).expect("a well-formed request");
            if decision.allowed {
                allowed += 1;
            } else {
                denied += 1;
            }
        }
        assert!(allowed > 0 && denied > 0, "allowed {allowed}, denied {denied}");
        assert_eq!(authorize_workload(0).expect("valid").tenants, 1, "at least one tenant");
    }
}
