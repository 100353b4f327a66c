//! Property tests: tenant isolation, forbid precedence and digest stability, over random
//! sets and requests (seeded by proptest; modest case counts).

mod common;

use common::{agent, context, org, set, tenant};
use ossa_policy::{Action, Authorizer, AuthzRequest, EntityInfo, EntityRef};
use proptest::prelude::*;

const TENANTS: usize = 6;
const ORGS: usize = 3;
const AGENTS: usize = 3;
const CAPABILITIES: [&str; 3] = ["summarize", "translate", "search"];

fn tenant_name(t: usize) -> String {
    format!("t{t}")
}

fn org_name(o: usize) -> String {
    format!("o{o}")
}

/// A random policy of tenant `t`, named `<tenant>-<index>`; it names only `t`'s entities.
fn policy(t: usize, index: usize) -> impl Strategy<Value = String> {
    let tenant = tenant_name(t);
    let effect = prop_oneof![3 => Just("permit"), 1 => Just("forbid")];
    let principal = prop_oneof![
        Just("principal".to_string()),
        Just("principal is Ossa::Agent".to_string()),
        Just("principal is Ossa::Org".to_string()),
        (0..ORGS).prop_map(|o| format!("principal in Ossa::Org::\"{}\"", org_name(o))),
    ];
    let action = prop_oneof![
        Just("action".to_string()),
        prop::sample::select(Action::ALL.to_vec()).prop_map(|a| format!("action == Ossa::Action::\"{}\"", a.as_str())),
    ];
    let resource = {
        let tenant = tenant.clone();
        let agent_tenant = tenant.clone();
        prop_oneof![
            Just("resource".to_string()),
            Just(format!("resource in Ossa::Tenant::\"{tenant}\"")),
            (0..AGENTS).prop_map(move |a| format!("resource == Ossa::Agent::\"{agent_tenant}/a{a}\"")),
        ]
    };
    let condition = prop_oneof![
        Just(String::new()),
        (0u16..=1000).prop_map(|n| format!(" when {{ context.trust >= {n} }}")),
        prop::sample::select(CAPABILITIES.to_vec()).prop_map(|c| format!(" when {{ context.capability == \"{c}\" }}")),
        (0..ORGS).prop_map(|o| format!(" unless {{ context.caller_org == \"{}\" }}", org_name(o))),
    ];
    (effect, principal, action, resource, condition).prop_map(
        move |(effect, principal, action, resource, condition)| {
            format!("@id(\"{tenant}-{index}\") {effect}({principal}, {action}, {resource}){condition};\n")
        },
    )
}

/// A random set of 1..=6 policies for tenant `t`.
fn tenant_set(t: usize) -> impl Strategy<Value = String> {
    (1usize..=6).prop_flat_map(move |n| (0..n).map(|i| policy(t, i)).collect::<Vec<_>>()).prop_map(|p| p.concat())
}

/// A random well-typed request in a random tenant, from a random principal of any tenant.
fn request() -> impl Strategy<Value = AuthzRequest> {
    let action = prop::sample::select(Action::ALL.to_vec());
    (
        0..TENANTS,
        action,
        0..TENANTS,
        0..ORGS,
        0..AGENTS,
        0..AGENTS,
        0u16..=1000,
        0..CAPABILITIES.len(),
        0..ORGS,
        any::<bool>(),
    )
        .prop_map(|(t, action, pt, po, pa, ra, trust, cap, caller, agent_principal)| {
            let tenant = tenant_name(t);
            let principal = match action {
                Action::Discover | Action::Invoke if agent_principal => {
                    EntityRef::agent(&tenant_name(pt), &format!("a{pa}"))
                }
                _ => EntityRef::org(&org_name(po)),
            };
            let resource = match action {
                Action::Administer => EntityRef::tenant(&tenant),
                _ => EntityRef::agent(&tenant, &format!("a{ra}")),
            };
            AuthzRequest {
                tenant,
                principal,
                action,
                resource,
                context: context(CAPABILITIES[cap], trust, &org_name(caller)),
            }
        })
}

/// Every org, tenant (tenant t owned by org t % ORGS) and agent of the test world.
fn world() -> Vec<EntityInfo> {
    let mut entities: Vec<EntityInfo> = (0..ORGS).map(|o| org(&org_name(o))).collect();
    for t in 0..TENANTS {
        entities.push(tenant(&tenant_name(t), &org_name(t % ORGS)));
        for a in 0..AGENTS {
            entities.push(agent(&tenant_name(t), &format!("a{a}"), &CAPABILITIES[..=a], "gold"));
        }
    }
    entities
}

fn all_tenant_sets() -> impl Strategy<Value = Vec<String>> {
    (0..TENANTS).map(tenant_set).collect::<Vec<_>>()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// A request in tenant T gets the same decision with every other tenant's set installed as
    /// with T's set alone, and only T's policies (or the federation's) are named as deciding.
    #[test]
    fn requests_are_never_decided_by_another_tenant(texts in all_tenant_sets(), requests in prop::collection::vec(request(), 1..16)) {
        let sets: Vec<_> = texts.iter().map(|text| set(text)).collect();
        let all = Authorizer::from_sets(None, sets.iter().cloned().enumerate().map(|(t, s)| (tenant_name(t), s)))
            .expect("generated sets stay in scope");
        let entities = world();
        for request in &requests {
            let t: usize = request.tenant[1..].parse().expect("t<N>");
            let alone = Authorizer::from_sets(None, [(request.tenant.clone(), sets[t].clone())]).expect("in scope");
            let decision = all.authorize(request, &entities).expect("well-formed");
            prop_assert_eq!(&decision, &alone.authorize(request, &entities).expect("well-formed"));
            let own = format!("tenant:{}-", request.tenant);
            for id in &decision.deciding {
                prop_assert!(id.starts_with(&own), "{} decided a request of {}", id, request.tenant);
            }
        }
    }

    /// Adding a forbid that matches the request, to the federation set or to the tenant set,
    /// always denies it, whatever the permits say, and names that forbid.
    #[test]
    fn a_matching_forbid_always_wins(texts in all_tenant_sets(), request in request(), in_federation in any::<bool>()) {
        let t: usize = request.tenant[1..].parse().expect("t<N>");
        let forbid = format!(
            "@id(\"stop\") forbid(principal, action, resource) when {{ context.trust == {} && context.caller_org == \"{}\" }};\n",
            request.context.trust, request.context.caller_org
        );
        // Blanket permits everywhere, so only the forbid can deny.
        let permit_all = "@id(\"all\") permit(principal, action, resource);\n";
        let (federation, tenant_text) = if in_federation {
            (format!("{permit_all}{forbid}"), format!("{permit_all}{}", texts[t]))
        } else {
            (permit_all.to_string(), format!("{permit_all}{}{forbid}", texts[t]))
        };
        let authorizer = Authorizer::from_sets(Some(set(&federation)), [(request.tenant.clone(), set(&tenant_text))])
            .expect("in scope");
        let decision = authorizer.authorize(&request, &world()).expect("well-formed");
        prop_assert!(!decision.allowed);
        let layer = if in_federation { "federation" } else { "tenant" };
        prop_assert!(decision.deciding.contains(&format!("{layer}:stop")), "{:?}", decision);
        prop_assert!(decision.deciding.iter().all(|id| !id.ends_with(":all")), "{:?}", decision);
    }

    /// The digest depends on the policies, not on whitespace or comments.
    #[test]
    fn digest_ignores_layout(text in tenant_set(0), gaps in prop::collection::vec(prop_oneof![Just(" "), Just("\n"), Just("\t  "), Just(" // note\n")], 64)) {
        let original = set(&text);
        let mut gap = gaps.iter().cycle();
        let relaid: String = text
            .split(' ')
            .map(|word| format!("{word}{}", gap.next().copied().unwrap_or(" ")))
            .collect();
        let relaid_set = set(&relaid);
        prop_assert_eq!(relaid_set.digest(), original.digest());
        prop_assert_eq!(relaid_set.policy_ids(), original.policy_ids());
        let reparsed = set(original.canonical_text());
        prop_assert_eq!(reparsed.canonical_text(), original.canonical_text());
    }
}
