//! The authorization truth table: default deny, tenant permits, federation sets, forbid
//! precedence, deciding ids, isolation errors.

mod common;

use common::{agent, context, invoke, org, set, tenant};
use ossa_policy::{Authorizer, Decision, EntityInfo, EntityRef, PolicyError};

const TENANT_PERMIT: &str = r#"
    @id("allow-invoke")
    permit(principal, action == Ossa::Action::"invoke", resource in Ossa::Tenant::"acme")
    when { context.trust >= 500 && resource.capabilities.contains(context.capability) };
"#;

const FEDERATION_BASE: &str = r#"
    @id("baseline") permit(principal, action, resource);
    @id("no-mallory") forbid(principal, action, resource) when { context.caller_org == "mallory" };
"#;

fn entities() -> Vec<EntityInfo> {
    vec![
        org("acme"),
        org("globex"),
        tenant("acme", "acme"),
        agent("acme", "summarizer", &["summarize"], "gold"),
        agent("globex", "client", &[], "bronze"),
    ]
}

fn caller() -> EntityRef {
    EntityRef::agent("globex", "client")
}

fn decide(authorizer: &Authorizer, trust: u16, caller_org: &str) -> Decision {
    let request = invoke("acme", caller(), "summarizer", context("summarize", trust, caller_org));
    authorizer.authorize(&request, &entities()).expect("well-formed request")
}

fn with_tenant(federation: Option<&str>, tenant_text: &str) -> Authorizer {
    Authorizer::from_sets(federation.map(set), [("acme".to_string(), set(tenant_text))]).expect("in scope")
}

#[test]
fn no_tenant_set_is_default_deny() {
    let authorizer = Authorizer::new(Some(set(FEDERATION_BASE)));
    let decision = decide(&authorizer, 900, "globex");
    assert!(!decision.allowed);
    assert!(decision.deciding.is_empty());
    assert!(decision.reasons[0].contains("default deny"), "{decision:?}");
}

#[test]
fn tenant_permit_allows_and_is_reported() {
    let authorizer = with_tenant(None, TENANT_PERMIT);
    let decision = decide(&authorizer, 900, "globex");
    assert_eq!(decision, Decision { allowed: true, deciding: vec!["tenant:allow-invoke".into()], reasons: vec![] });
}

#[test]
fn unmatched_tenant_conditions_deny() {
    let authorizer = with_tenant(None, TENANT_PERMIT);
    let decision = decide(&authorizer, 100, "globex");
    assert!(!decision.allowed);
    assert!(decision.deciding.is_empty());
    assert_eq!(decision.reasons, ["tenant set has no matching permit (default deny)"]);
}

#[test]
fn entity_hierarchy_comes_from_the_entity_data() {
    // Without the agent's entity, `resource in Tenant::"acme"` is false and its attributes are
    // missing: the permit cannot apply (and is reported as skipped).
    let authorizer = with_tenant(None, TENANT_PERMIT);
    let request = invoke("acme", caller(), "summarizer", context("summarize", 900, "globex"));
    let decision = authorizer.authorize(&request, &[]).expect("well-formed");
    assert!(!decision.allowed);
}

#[test]
fn federation_forbid_wins_over_tenant_permit() {
    let authorizer = with_tenant(Some(FEDERATION_BASE), TENANT_PERMIT);
    let allowed = decide(&authorizer, 900, "globex");
    assert!(allowed.allowed);
    assert_eq!(allowed.deciding, ["federation:baseline", "tenant:allow-invoke"]);

    let denied = decide(&authorizer, 900, "mallory");
    assert!(!denied.allowed);
    assert_eq!(denied.deciding, ["federation:no-mallory"]);
    assert_eq!(denied.reasons, ["federation set has a matching forbid"]);
}

#[test]
fn federation_set_without_permit_denies() {
    let forbid_only =
        r#"@id("no-mallory") forbid(principal, action, resource) when { context.caller_org == "mallory" };"#;
    let authorizer = with_tenant(Some(forbid_only), TENANT_PERMIT);
    let decision = decide(&authorizer, 900, "globex");
    assert!(!decision.allowed);
    assert!(decision.deciding.is_empty());
    assert_eq!(decision.reasons, ["federation set has no matching permit (default deny)"]);

    // No federation set at all: no federation constraint.
    let authorizer = with_tenant(None, TENANT_PERMIT);
    assert!(decide(&authorizer, 900, "globex").allowed);
}

#[test]
fn tenant_forbid_overrides_tenant_permit() {
    let text = format!("{TENANT_PERMIT}\n@id(\"no-bronze-callers\") forbid(principal, action, resource) when {{ context.trust < 950 }};");
    let authorizer = with_tenant(None, &text);
    let decision = decide(&authorizer, 900, "globex");
    assert!(!decision.allowed);
    assert_eq!(decision.deciding, ["tenant:no-bronze-callers"]);
    assert!(decide(&authorizer, 960, "globex").allowed);
}

#[test]
fn evaluation_errors_are_reported_and_skip_the_policy() {
    // The caller agent is not described, so reading its `tier` fails and the permit is skipped.
    let text = r#"@id("tier") permit(principal is Ossa::Agent, action, resource) when { principal.tier == "gold" };"#;
    let authorizer = with_tenant(None, text);
    let request = invoke("acme", EntityRef::agent("globex", "ghost"), "summarizer", context("x", 900, "globex"));
    let decision = authorizer.authorize(&request, &entities()).expect("well-formed");
    assert!(!decision.allowed);
    assert!(decision.reasons.iter().any(|reason| reason.starts_with("tenant policy skipped")), "{decision:?}");
}

#[test]
fn resources_outside_the_tenant_are_refused() {
    let authorizer = with_tenant(None, "permit(principal, action, resource);");
    let mut request = invoke("acme", caller(), "summarizer", context("summarize", 900, "globex"));
    request.resource = EntityRef::agent("globex", "client");
    let Err(PolicyError::Request { message }) = authorizer.authorize(&request, &entities()) else {
        panic!("cross-tenant resource accepted")
    };
    assert!(message.contains("not in tenant"), "{message}");
}

#[test]
fn tenant_sets_are_scope_checked_and_replaceable() {
    let mut authorizer = Authorizer::new(None);
    let foreign = set(r#"permit(principal, action, resource in Ossa::Tenant::"globex");"#);
    assert!(matches!(authorizer.set_tenant("acme", foreign), Err(PolicyError::Scope { .. })));
    assert_eq!(authorizer.tenant_count(), 0);

    assert!(authorizer.set_tenant("acme", set(TENANT_PERMIT)).expect("in scope").is_none());
    assert!(decide(&authorizer, 900, "globex").allowed);
    assert!(authorizer.remove_tenant("acme").is_some());
    assert!(!decide(&authorizer, 900, "globex").allowed);
}

#[test]
fn malformed_inputs_are_errors() {
    let authorizer = with_tenant(None, TENANT_PERMIT);
    let request = invoke("acme", caller(), "summarizer", context("summarize", 1001, "globex"));
    assert!(matches!(authorizer.authorize(&request, &entities()), Err(PolicyError::Request { .. })));
    let request = invoke("acme", caller(), "summarizer", context("summarize", 900, "globex"));
    let bad_entities = vec![org("acme"); ossa_policy::MAX_ENTITIES + 1];
    assert!(matches!(authorizer.authorize(&request, &bad_entities), Err(PolicyError::TooLarge { .. })));
}

#[test]
fn errors_and_decisions_serialize() {
    let error = PolicyError::Parse { message: "1:2: oops".into() };
    let json = serde_json::to_string(&error).expect("serializable");
    assert_eq!(json, r#"{"kind":"parse","message":"1:2: oops"}"#);
    let back: PolicyError = serde_json::from_str(&json).expect("round trip");
    assert_eq!(back, error);
    let decision = decide(&with_tenant(None, TENANT_PERMIT), 900, "globex");
    let back: Decision = serde_json::from_str(&serde_json::to_string(&decision).expect("json")).expect("json");
    assert_eq!(back, decision);
}

#[test]
fn deepest_accepted_policy_fits_a_small_stack() {
    // The most nested and longest condition the guard lets through, validated and evaluated
    // on a 1 MiB thread (tokio workers and test threads get 2 MiB).
    let nesting = ossa_policy::MAX_NESTING - 1; // `when {` is one level
    let plus = ossa_policy::MAX_OPERATORS - 2; // `context.trust` and `resource.tier` use one each
    let condition = format!(
        "{}context.trust{}{} > 0 && resource.tier == \"gold\"",
        "(".repeat(nesting),
        " + 1".repeat(plus - 1),
        ")".repeat(nesting)
    );
    let text = format!("permit(principal, action, resource is Ossa::Agent) when {{ {condition} }};");
    let worker = std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(move || {
            let authorizer = with_tenant(None, &text);
            decide(&authorizer, 900, "globex").allowed
        })
        .expect("spawn");
    assert!(worker.join().expect("no stack overflow"));
}
