//! Tenant isolation on submit: a tenant's policy set may only name its own tenant's entities.
//!
//! The check walks every entity literal of every policy (scope and conditions) and applies:
//!
//! - `Ossa::Tenant::"<t>"` is allowed only for `t` = the submitting tenant;
//! - `Ossa::Agent::"<t>/<id>"` is allowed only for `t` = the submitting tenant (see the id
//!   convention in [`crate::schema`]); an agent id without `/` belongs to no tenant and is
//!   refused too;
//! - `Ossa::Org::"..."` and `Ossa::Action::"..."` are allowed: orgs are principals, not tenant
//!   resources, and naming an org is how a tenant grants access to a partner
//!   (`principal in Ossa::Org::"partner"`).
//!
//! This is the submit-time half of isolation. The run-time half is in
//! [`crate::Authorizer::authorize`]: a request is decided only by its own tenant's set, and its
//! resource must belong to that tenant, so even `permit(principal, action, resource);` in
//! tenant A never grants anything on tenant B's agents.

use crate::schema::{agent_tenant, EntityKind};
use crate::{validate_tenant_name, PolicyError, ValidatedPolicySet};

/// Refuses `set` if any policy names a tenant or agent of a tenant other than `tenant`.
pub fn check_tenant_scope(set: &ValidatedPolicySet, tenant: &str) -> Result<(), PolicyError> {
    validate_tenant_name(tenant)
        .map_err(|error| PolicyError::Tenant { tenant: tenant.to_string(), message: error.to_string() })?;
    for policy in set.policies() {
        for uid in policy.entity_literals() {
            let id = uid.id().unescaped();
            let own = match EntityKind::of(uid.type_name()) {
                Some(EntityKind::Tenant) => id == tenant,
                Some(EntityKind::Agent) => agent_tenant(id) == Some(tenant),
                Some(EntityKind::Org) | None => true,
            };
            if !own {
                return Err(PolicyError::Scope {
                    tenant: tenant.to_string(),
                    policy_id: policy.id().to_string(),
                    entity: uid.to_string(),
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate_policy_set;

    fn check(text: &str) -> Result<(), PolicyError> {
        check_tenant_scope(&validate_policy_set(text).expect("valid"), "acme")
    }

    #[test]
    fn own_entities_and_orgs_are_allowed() {
        let text = r#"
            permit(principal in Ossa::Org::"partner", action == Ossa::Action::"invoke", resource in Ossa::Tenant::"acme");
            permit(principal, action, resource == Ossa::Agent::"acme/bot");
            forbid(principal, action, resource) when { resource == Ossa::Agent::"acme/old" };
        "#;
        assert_eq!(check(text), Ok(()));
    }

    #[test]
    fn other_tenants_are_refused_in_scope_and_conditions() {
        let cases = [
            r#"permit(principal, action, resource in Ossa::Tenant::"globex");"#,
            r#"permit(principal, action, resource == Ossa::Agent::"globex/bot");"#,
            r#"permit(principal == Ossa::Agent::"globex/bot", action, resource);"#,
            r#"permit(principal, action, resource) when { resource in Ossa::Tenant::"globex" };"#,
            r#"permit(principal, action, resource) unless { principal == Ossa::Agent::"acme-evil/x" };"#,
            r#"permit(principal, action, resource == Ossa::Agent::"no-tenant-prefix");"#,
        ];
        for text in cases {
            let Err(PolicyError::Scope { tenant, policy_id, entity }) = check(text) else { panic!("{text} passed") };
            assert_eq!((tenant.as_str(), policy_id.as_str()), ("acme", "policy0"));
            assert!(entity.starts_with("Ossa::"), "{entity}");
        }
    }

    #[test]
    fn bad_tenant_name_is_refused() {
        let set = validate_policy_set("permit(principal, action, resource);").expect("valid");
        assert!(matches!(check_tenant_scope(&set, "Bad/Name"), Err(PolicyError::Tenant { .. })));
    }
}
