//! Local authorization against the federation set and the requesting tenant's set.
//!
//! The node keeps one [`Authorizer`] in step with the registry: it replaces the federation set
//! when a proposal activates and one tenant's set when that tenant's owner sets it (each
//! update touches only its own entry, so 1000 tenants cost a hash map, not a rebuild). A
//! request then flows: tenant/resource pairing check -> Cedar request -> look up the tenant's
//! set (none: deny) -> entity store ([`crate::request`]) -> evaluate the federation
//! set (if any) and the tenant set with Cedar -> combine into a [`Decision`].
//!
//! Semantics:
//!
//! - **Both must allow.** Allowed only if the tenant set allows and, when a federation set is
//!   active, the federation set allows too. Within each set Cedar's rules hold: default deny,
//!   and a matching forbid overrides any permit; so a federation forbid beats a tenant permit.
//! - **No federation set means no federation constraint.** Before the stewards activate a
//!   federation set, tenants govern themselves. Once one is active it must *permit* what it
//!   allows (typically a blanket `permit(principal, action, resource);` plus forbids), because
//!   inside it Cedar's default deny applies.
//! - **No tenant set means deny.** A tenant that has not set policies allows nothing.
//! - **Isolation.** A request names its tenant; it is judged by that tenant's set only, and its
//!   resource must belong to that tenant (`Ossa::Tenant::"<tenant>"` or an agent
//!   `"<tenant>/..."`), else the request is refused as malformed. Together with
//!   [`crate::check_tenant_scope`] on submit, tenant B's policies never decide tenant A's
//!   requests and never reach A's resources.
//! - **Errors are not decisions.** Malformed input returns `Err`; callers treat it as deny and
//!   report it (the HTTP API answers 4xx). A policy whose condition fails to evaluate (for
//!   example, an attribute of an entity the caller did not describe) is skipped by Cedar; the
//!   decision lists it in `reasons`.

use std::collections::HashMap;

use cedar_policy::{Decision as CedarDecision, Entities, Request, Response};
use serde::{Deserialize, Serialize};

use crate::request::{cedar_entities, cedar_request};
use crate::schema::{agent_tenant, EntityKind};
use crate::{check_tenant_scope, AuthzRequest, EntityInfo, PolicyError, ValidatedPolicySet};

/// Prefix of a federation policy id in [`Decision::deciding`].
const FEDERATION: &str = "federation";

/// Prefix of a tenant policy id in [`Decision::deciding`].
const TENANT: &str = "tenant";

/// The outcome of [`Authorizer::authorize`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// True to allow.
    pub allowed: bool,
    /// The policies that decided, as `federation:<id>` or `tenant:<id>`, federation first, each
    /// layer in source order: when allowed, the permits that matched; when denied, the forbids
    /// that matched (empty for a default deny).
    pub deciding: Vec<String>,
    /// Human-readable explanation: why a layer denied, policies skipped because of errors.
    pub reasons: Vec<String>,
}

/// The active policy sets of a federation, ready to answer requests.
#[derive(Debug, Default)]
pub struct Authorizer {
    federation: Option<ValidatedPolicySet>,
    tenants: HashMap<String, ValidatedPolicySet>,
    engine: cedar_policy::Authorizer,
}

impl Authorizer {
    /// An authorizer with the given federation set and no tenant sets.
    pub fn new(federation: Option<ValidatedPolicySet>) -> Self {
        Authorizer { federation, tenants: HashMap::new(), engine: cedar_policy::Authorizer::new() }
    }

    /// An authorizer with the given federation set and tenant sets (each scope-checked).
    pub fn from_sets(
        federation: Option<ValidatedPolicySet>,
        tenants: impl IntoIterator<Item = (String, ValidatedPolicySet)>,
    ) -> Result<Self, PolicyError> {
        let mut authorizer = Authorizer::new(federation);
        for (tenant, set) in tenants {
            authorizer.set_tenant(&tenant, set)?;
        }
        Ok(authorizer)
    }

    /// Replaces the federation set (`None`: no federation constraint); returns the old one.
    pub fn set_federation(&mut self, set: Option<ValidatedPolicySet>) -> Option<ValidatedPolicySet> {
        std::mem::replace(&mut self.federation, set)
    }

    /// Installs `tenant`'s set after [`check_tenant_scope`]; returns the set it replaces.
    pub fn set_tenant(
        &mut self,
        tenant: &str,
        set: ValidatedPolicySet,
    ) -> Result<Option<ValidatedPolicySet>, PolicyError> {
        check_tenant_scope(&set, tenant)?;
        Ok(self.tenants.insert(tenant.to_string(), set))
    }

    /// Removes `tenant`'s set (its requests are denied from now on); returns it.
    pub fn remove_tenant(&mut self, tenant: &str) -> Option<ValidatedPolicySet> {
        self.tenants.remove(tenant)
    }

    /// The active federation set.
    pub fn federation_set(&self) -> Option<&ValidatedPolicySet> {
        self.federation.as_ref()
    }

    /// The active set of `tenant`.
    pub fn tenant_set(&self, tenant: &str) -> Option<&ValidatedPolicySet> {
        self.tenants.get(tenant)
    }

    /// Number of tenants with a set.
    pub fn tenant_count(&self) -> usize {
        self.tenants.len()
    }

    /// Decides `request` on the entity data `entities` (see the module docs for the rules).
    pub fn authorize(&self, request: &AuthzRequest, entities: &[EntityInfo]) -> Result<Decision, PolicyError> {
        check_resource_in_tenant(request)?;
        let cedar_request = cedar_request(request)?;
        let Some(tenant_set) = self.tenants.get(&request.tenant) else {
            return Ok(Decision {
                allowed: false,
                deciding: Vec::new(),
                reasons: vec![format!("tenant {:?} has no policy set (default deny)", request.tenant)],
            });
        };
        let entities = cedar_entities(entities)?;
        let mut decision = Decision { allowed: true, deciding: Vec::new(), reasons: Vec::new() };
        let mut layers = Vec::with_capacity(2);
        if let Some(federation) = &self.federation {
            layers.push((FEDERATION, federation, self.evaluate(federation, &cedar_request, &entities)));
        }
        layers.push((TENANT, tenant_set, self.evaluate(tenant_set, &cedar_request, &entities)));
        decision.allowed = layers.iter().all(|(_, _, response)| response.decision() == CedarDecision::Allow);
        for (layer, set, response) in &layers {
            let allowed = response.decision() == CedarDecision::Allow;
            // An allowing layer decided only if the whole request was allowed; a denying layer
            // always did.
            if allowed == decision.allowed {
                decision.deciding.extend(in_source_order(set, response).map(|id| format!("{layer}:{id}")));
            }
            if !allowed && response.diagnostics().reason().next().is_none() {
                decision.reasons.push(format!("{layer} set has no matching permit (default deny)"));
            } else if !allowed {
                decision.reasons.push(format!("{layer} set has a matching forbid"));
            }
            let mut errors: Vec<String> =
                response.diagnostics().errors().map(|error| format!("{layer} policy skipped: {error}")).collect();
            errors.sort();
            decision.reasons.extend(errors);
        }
        Ok(decision)
    }

    fn evaluate(&self, set: &ValidatedPolicySet, request: &Request, entities: &Entities) -> Response {
        self.engine.is_authorized(request, set.cedar(), entities)
    }
}

/// The ids of the policies that determined `response`, in `set`'s source order (Cedar reports
/// them as a hash set; decisions go into the audit log, so their order must not vary).
fn in_source_order<'a>(set: &'a ValidatedPolicySet, response: &Response) -> impl Iterator<Item = &'a String> {
    let reason: Vec<String> = response.diagnostics().reason().map(ToString::to_string).collect();
    set.policy_ids().iter().filter(move |id| reason.contains(id))
}

/// Refuses a request whose resource is not of its tenant (the run-time half of isolation).
fn check_resource_in_tenant(request: &AuthzRequest) -> Result<(), PolicyError> {
    let resource = &request.resource;
    let inside = match resource.kind {
        EntityKind::Tenant => resource.id == request.tenant,
        EntityKind::Agent => agent_tenant(&resource.id) == Some(request.tenant.as_str()),
        EntityKind::Org => false,
    };
    if !inside {
        return Err(PolicyError::Request {
            message: format!("resource {resource} is not in tenant {:?}", request.tenant),
        });
    }
    Ok(())
}
