//! Static analysis run on submit: warnings about policies that can never take effect.
//!
//! [`analyze`] reports the warnings of Cedar's validator (kept in the
//! [`ValidatedPolicySet`]; e.g. a policy whose scope no request can match under the schema) and
//! one rule of its own.
//!
//! Implemented rule (**shadowed permit**): a permit P is flagged when some forbid F
//!
//! 1. has no `when`/`unless` condition, and
//! 2. covers P's scope in all three positions, judged from the scope text alone:
//!    - principal/resource: F unconstrained covers anything; `== e` covers `== e`;
//!      `in e` covers `== e`, `in e` and `is T in e`; `is T` covers `== T::"x"`, `is T` and
//!      `is T in e`; `is T in e` covers `== e` (if `e` is a `T`) and `is T in e`;
//!    - action: F unconstrained covers anything; `== a` covers `== a` and `in [a]`;
//!      `in [a, b]` covers `== a` and any `in` list drawn from `[a, b]` (the OSSA schema has no
//!      action groups, so `in` over actions is list membership).
//!
//! Cedar makes forbid override permit, so such a P can never allow anything: every request
//! P matches is also matched by F, whatever P's own conditions say.
//!
//! Limits: the rule never reports a false positive, but it misses shadowing that needs more
//! than the scope text: a forbid with conditions (even `when { true }`), coverage through the
//! entity hierarchy (`forbid ... resource in Org::"o"` vs a permit on a tenant of `o` is not
//! flagged, because hierarchy is data, not policy), coverage through the schema (a forbid on
//! `principal is Agent` vs a permit whose action only applies to agents), and several forbids
//! that together cover a permit.

use cedar_policy::{
    ActionConstraint, Effect, EntityTypeName, EntityUid, Policy, PrincipalConstraint, ResourceConstraint,
};
use serde::{Deserialize, Serialize};

use crate::ValidatedPolicySet;

/// Something in a policy set that is legal but almost certainly a mistake.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Warning {
    /// A permit that an unconditional forbid always overrides (see the module docs).
    ShadowedPermit {
        /// Id of the permit that can never allow anything.
        permit: String,
        /// Id of the forbid that overrides it.
        forbid: String,
        /// True when the forbid is in the federation set rather than the analyzed set.
        by_federation: bool,
    },
    /// A warning of Cedar's validator (e.g. a policy that can never match under the schema).
    Validator {
        /// The validator's message, with `line:column`.
        message: String,
    },
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Warning::ShadowedPermit { permit, forbid, by_federation } => {
                let place = if *by_federation { "federation " } else { "" };
                write!(f, "permit {permit} never takes effect: {place}forbid {forbid} always overrides it")
            }
            Warning::Validator { message } => write!(f, "{message}"),
        }
    }
}

/// Warnings about `set` on its own: the validator's warnings, then shadowed permits.
pub fn analyze(set: &ValidatedPolicySet) -> Vec<Warning> {
    let mut warnings: Vec<Warning> =
        set.validator_warnings().iter().map(|message| Warning::Validator { message: message.clone() }).collect();
    warnings.extend(shadowed(set, set, false));
    warnings
}

/// [`analyze`], plus tenant permits that a forbid of the federation set always overrides.
pub fn analyze_against(set: &ValidatedPolicySet, federation: Option<&ValidatedPolicySet>) -> Vec<Warning> {
    let mut warnings = analyze(set);
    if let Some(federation) = federation {
        warnings.extend(shadowed(set, federation, true));
    }
    warnings
}

/// Permits of `permits` covered by an unconditional forbid of `forbids`.
fn shadowed(permits: &ValidatedPolicySet, forbids: &ValidatedPolicySet, by_federation: bool) -> Vec<Warning> {
    let forbids: Vec<&Policy> = forbids
        .policies()
        .filter(|policy| policy.effect() == Effect::Forbid && !policy.has_non_scope_constraint())
        .collect();
    let mut warnings = Vec::new();
    for permit in permits.policies().filter(|policy| policy.effect() == Effect::Permit) {
        if let Some(forbid) = forbids.iter().find(|forbid| covers(forbid, permit)) {
            warnings.push(Warning::ShadowedPermit {
                permit: permit.id().to_string(),
                forbid: forbid.id().to_string(),
                by_federation,
            });
        }
    }
    warnings
}

/// True when every request in `permit`'s scope is in `forbid`'s scope.
fn covers(forbid: &Policy, permit: &Policy) -> bool {
    scope_covers(&principal(forbid), &principal(permit))
        && action_covers(&forbid.action_constraint(), &permit.action_constraint())
        && scope_covers(&resource(forbid), &resource(permit))
}

/// A principal or resource scope constraint (Cedar has one type for each, same shape).
enum Scope {
    Any,
    Eq(EntityUid),
    In(EntityUid),
    Is(EntityTypeName),
    IsIn(EntityTypeName, EntityUid),
}

fn principal(policy: &Policy) -> Scope {
    match policy.principal_constraint() {
        PrincipalConstraint::Any => Scope::Any,
        PrincipalConstraint::Eq(uid) => Scope::Eq(uid),
        PrincipalConstraint::In(uid) => Scope::In(uid),
        PrincipalConstraint::Is(type_name) => Scope::Is(type_name),
        PrincipalConstraint::IsIn(type_name, uid) => Scope::IsIn(type_name, uid),
    }
}

fn resource(policy: &Policy) -> Scope {
    match policy.resource_constraint() {
        ResourceConstraint::Any => Scope::Any,
        ResourceConstraint::Eq(uid) => Scope::Eq(uid),
        ResourceConstraint::In(uid) => Scope::In(uid),
        ResourceConstraint::Is(type_name) => Scope::Is(type_name),
        ResourceConstraint::IsIn(type_name, uid) => Scope::IsIn(type_name, uid),
    }
}

/// The principal/resource rule of the module docs.
fn scope_covers(forbid: &Scope, permit: &Scope) -> bool {
    match (forbid, permit) {
        (Scope::Any, _) => true,
        (Scope::Eq(f), Scope::Eq(p)) => f == p,
        (Scope::In(f), Scope::Eq(p) | Scope::In(p) | Scope::IsIn(_, p)) => f == p,
        (Scope::Is(f), Scope::Eq(p)) => f == p.type_name(),
        (Scope::Is(f), Scope::Is(p) | Scope::IsIn(p, _)) => f == p,
        (Scope::IsIn(ft, f), Scope::Eq(p)) => f == p && ft == p.type_name(),
        (Scope::IsIn(ft, f), Scope::IsIn(pt, p)) => ft == pt && f == p,
        _ => false,
    }
}

/// The action rule of the module docs.
fn action_covers(forbid: &ActionConstraint, permit: &ActionConstraint) -> bool {
    match (forbid, permit) {
        (ActionConstraint::Any, _) => true,
        (ActionConstraint::Eq(f), ActionConstraint::Eq(p)) => f == p,
        (ActionConstraint::Eq(f), ActionConstraint::In(p)) => !p.is_empty() && p.iter().all(|a| a == f),
        (ActionConstraint::In(f), ActionConstraint::Eq(p)) => f.contains(p),
        (ActionConstraint::In(f), ActionConstraint::In(p)) => !p.is_empty() && p.iter().all(|a| f.contains(a)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate_policy_set;

    fn warnings(text: &str) -> Vec<(String, String)> {
        let set = validate_policy_set(text).expect("valid");
        analyze(&set)
            .into_iter()
            .filter_map(|warning| match warning {
                Warning::ShadowedPermit { permit, forbid, .. } => Some((permit, forbid)),
                Warning::Validator { .. } => None,
            })
            .collect()
    }

    fn pair(permit: &str, forbid: &str) -> (String, String) {
        (permit.to_string(), forbid.to_string())
    }

    #[test]
    fn flags_permits_under_a_broader_unconditional_forbid() {
        let text = r#"
            @id("p-invoke") permit(principal, action == Ossa::Action::"invoke", resource in Ossa::Tenant::"acme")
                when { context.trust > 700 };
            @id("p-agent") permit(principal is Ossa::Agent in Ossa::Tenant::"acme", action in [Ossa::Action::"discover"],
                resource == Ossa::Agent::"acme/bot");
            @id("f-all-invoke") forbid(principal, action in [Ossa::Action::"invoke", Ossa::Action::"register"], resource);
            @id("f-agents") forbid(principal is Ossa::Agent, action, resource is Ossa::Agent);
        "#;
        assert_eq!(warnings(text), [pair("p-invoke", "f-all-invoke"), pair("p-agent", "f-agents")]);
    }

    #[test]
    fn conditional_or_narrower_forbids_are_not_flagged() {
        let text = r#"
            permit(principal, action == Ossa::Action::"invoke", resource);
            forbid(principal, action, resource) when { context.trust < 100 };
            forbid(principal, action == Ossa::Action::"invoke", resource in Ossa::Tenant::"acme");
            forbid(principal is Ossa::Org, action, resource);
        "#;
        assert_eq!(warnings(text), []);
    }

    #[test]
    fn federation_forbids_are_reported_against_tenant_permits() {
        let tenant =
            validate_policy_set("permit(principal, action == Ossa::Action::\"invoke\", resource);").expect("valid");
        let federation = validate_policy_set("@id(\"no-invoke\") forbid(principal, action, resource);").expect("valid");
        let found = analyze_against(&tenant, Some(&federation));
        let expected =
            Warning::ShadowedPermit { permit: "policy0".into(), forbid: "no-invoke".into(), by_federation: true };
        assert_eq!(found, std::slice::from_ref(&expected));
        assert!(expected.to_string().contains("federation forbid no-invoke"));
        assert_eq!(analyze_against(&tenant, None), []);
    }

    #[test]
    fn reports_the_validators_warnings() {
        // `administer` applies to tenants only, so this policy can never match.
        let set =
            validate_policy_set("permit(principal, action == Ossa::Action::\"administer\", resource is Ossa::Agent);")
                .expect("valid: impossible policies are a warning, not an error");
        let found = analyze(&set);
        let impossible = |w: &Warning| matches!(w, Warning::Validator { message } if message.starts_with("1:1:") && message.contains("impossible"));
        assert!(found.iter().any(impossible), "{found:?}");
    }
}
