//! Rough authorization latency: 1000 tenants x 10 policies, plus a federation set.
//!
//! Not a benchmark harness (that is `ossa bench authorize`); a quick measurement to run as
//! `cargo run --release -p ossa-policy --example authorize_latency [tenants] [requests]`.
//! Each timed call includes what a real call pays: checking the request, building the Cedar
//! request and the entity store (six entities), and evaluating both sets.

use std::time::Instant;

use ossa_policy::{
    validate_policy_set, Action, AgentAttrs, Authorizer, AuthzContext, AuthzRequest, EntityInfo, EntityRef, PolicyError,
};

/// Ten policies of tenant `t`: a mix of scoped permits, conditions and forbids.
fn tenant_policies(t: &str) -> String {
    let mut text = String::new();
    for i in 0..8 {
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

fn main() -> Result<(), PolicyError> {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<usize>().unwrap_or(0));
    let tenants = args.next().filter(|n| *n > 0).unwrap_or(1000);
    let requests = args.next().filter(|n| *n > 0).unwrap_or(100_000);

    let federation = validate_policy_set(
        "@id(\"baseline\") permit(principal, action, resource);\n\
         @id(\"quarantine\") forbid(principal, action, resource) when { context.trust < 50 };\n\
         @id(\"banned\") forbid(principal, action, resource) when { context.caller_org == \"mallory\" };",
    )?;
    let started = Instant::now();
    let mut sets = Vec::with_capacity(tenants);
    for t in 0..tenants {
        let name = format!("tenant{t}");
        let set = validate_policy_set(&tenant_policies(&name))?;
        sets.push((name, set));
    }
    let authorizer = Authorizer::from_sets(Some(federation), sets)?;
    println!("validated and installed {tenants} tenant sets in {:?}", started.elapsed());

    let mut samples = Vec::with_capacity(requests);
    let mut allowed = 0usize;
    for n in 0..requests {
        // A cheap deterministic spread over tenants, agents and callers.
        let t = (n * 7919) % tenants;
        let i = n % 8;
        let tenant = format!("tenant{t}");
        let caller_tenant = format!("tenant{}", (t + 1) % tenants);
        let mut entities = Vec::with_capacity(6);
        entities.extend(agent(&tenant, &format!("agent{i}"), &format!("org{}", t % 8)));
        entities.extend(agent(&caller_tenant, "caller", &format!("org{i}")));
        let request = AuthzRequest {
            tenant: tenant.clone(),
            principal: EntityRef::org(&format!("org{i}")),
            action: Action::Invoke,
            resource: EntityRef::agent(&tenant, &format!("agent{i}")),
            context: AuthzContext {
                capability: "summarize".into(),
                trust: (n % 1001) as u16,
                caller_org: format!("org{i}"),
            },
        };
        let start = Instant::now();
        let decision = authorizer.authorize(&request, &entities)?;
        samples.push(start.elapsed());
        allowed += usize::from(decision.allowed);
    }
    samples.sort();
    let pick = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    println!(
        "{requests} decisions ({allowed} allowed): p50 {:?}  p90 {:?}  p99 {:?}  max {:?}",
        pick(0.50),
        pick(0.90),
        pick(0.99),
        pick(1.0)
    );
    Ok(())
}
