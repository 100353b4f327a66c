//! `/v1/policy`, `/v1/tenants/{tenant}/policy` and `/v1/authorize`: policy sets through Raft
//! and audited authorization decisions.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use ossa_consensus::{RegistryCommand, RegistryResponse};
use serde::Deserialize;
use serde_json::json;

use super::*;

fn policy_text(body: Result<Bytes, BytesRejection>) -> Result<String, ApiError> {
    let bytes = body_bytes(body, "policy set", MAX_BODY)?;
    String::from_utf8(bytes.to_vec())
        .map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, "bad_body", "a policy set must be UTF-8 Cedar text"))
}

/// Query of the policy-submitting endpoints.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct SubmitQuery {
    /// Refuse the set if the analysis warns (a permit that a forbid always overrides).
    #[serde(default)]
    strict: bool,
}

/// Validates a submitted set the way every replica will, before it is proposed, and runs the
/// analysis. Returns the warnings as text.
fn precheck(node: &NodeContext, text: &str, tenant: Option<&str>, strict: bool) -> Result<Vec<String>, ApiError> {
    let invalid = |e: ossa_policy::PolicyError| ApiError::new(StatusCode::BAD_REQUEST, "invalid_policy", e.to_string());
    let set = ossa_policy::validate_policy_set(text).map_err(invalid)?;
    let federation = match tenant {
        Some(tenant) => {
            ossa_policy::check_tenant_scope(&set, tenant).map_err(invalid)?;
            let active = node.consensus.registry.read().registry.active_federation_policy().cloned();
            active.map(|v| ossa_policy::validate_policy_set(&v.text)).transpose().map_err(invalid)?
        }
        None => None,
    };
    let warnings: Vec<String> =
        ossa_policy::analyze_against(&set, federation.as_ref()).iter().map(ToString::to_string).collect();
    if strict && !warnings.is_empty() {
        return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "policy_warnings", warnings.join("; ")));
    }
    Ok(warnings)
}

pub(super) async fn set_tenant_policy(
    State(node): Shared,
    headers: HeaderMap,
    Path(tenant): Path<String>,
    params: Result<Query<SubmitQuery>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    authorize(&node, &headers)?;
    let SubmitQuery { strict } = query(params)?;
    let text = policy_text(body)?;
    let owner = node.consensus.registry.read().registry.tenants.get(&tenant).map(|t| t.owner.clone());
    match owner {
        None => return Err(refusal(RefusalCode::NotFound, format!("unknown tenant {tenant:?}"))),
        Some(owner) if owner != node.org => {
            return Err(refusal(
                RefusalCode::Forbidden,
                format!("tenant {tenant:?} belongs to {owner}, not {}", node.org),
            ))
        }
        Some(_) => {}
    }
    let warnings = precheck(&node, &text, Some(&tenant), strict)?;
    match submit(&node, RegistryCommand::SetTenantPolicy { tenant, text }).await? {
        RegistryResponse::PolicySet { version } => {
            Ok(Json(json!({ "version": version, "warnings": warnings })).into_response())
        }
        RegistryResponse::Refused { code, reason } => Err(refusal(code, reason)),
        other => Err(unexpected(other)),
    }
}

pub(super) async fn get_tenant_policy(State(node): Shared, Path(tenant): Path<String>) -> Result<Response, ApiError> {
    let applied = node.consensus.registry.read();
    let registry = &applied.registry;
    if !registry.tenants.contains_key(&tenant) {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("unknown tenant {tenant:?}")));
    }
    let history = registry.tenant_policies.get(&tenant).cloned().unwrap_or_default();
    Ok(Json(json!({ "tenant": tenant, "active": history.last(), "history": history })).into_response())
}

pub(super) async fn policy_overview(State(node): Shared) -> Json<serde_json::Value> {
    let applied = node.consensus.registry.read();
    let registry = &applied.registry;
    let tenants: serde_json::Map<String, serde_json::Value> = registry
        .tenant_policies
        .iter()
        .filter_map(|(tenant, versions)| {
            versions.last().map(|v| {
                (tenant.clone(), json!({ "raft_index": v.raft_index, "digest": v.digest, "policy_ids": v.policy_ids }))
            })
        })
        .collect();
    Json(json!({
        "federation": registry.active_federation_policy(),
        "federation_history": registry.federation_policies.iter().map(|v| json!({ "raft_index": v.raft_index, "digest": v.digest, "set_by": v.set_by })).collect::<Vec<_>>(),
        "tenants": tenants,
        "proposals": registry.proposals.values().collect::<Vec<_>>(),
        "stewards": registry.stewards().map(|m| m.org.clone()).collect::<Vec<_>>(),
        "quorum": registry.governance.required(registry.stewards().count()),
    }))
}

pub(super) async fn propose_policy(
    State(node): Shared,
    headers: HeaderMap,
    params: Result<Query<SubmitQuery>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    authorize(&node, &headers)?;
    let SubmitQuery { strict } = query(params)?;
    let text = policy_text(body)?;
    let warnings = precheck(&node, &text, None, strict)?;
    match submit(&node, RegistryCommand::ProposeFederationPolicy { text, at_ms: now_ms() }).await? {
        RegistryResponse::ProposalCreated { proposal } => {
            Ok((StatusCode::CREATED, Json(json!({ "proposal": proposal, "warnings": warnings }))).into_response())
        }
        RegistryResponse::Refused { code, reason } => Err(refusal(code, reason)),
        other => Err(unexpected(other)),
    }
}

/// Body of `POST /v1/governance/revocations`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RevokeBody {
    org: String,
    reason: String,
}

pub(super) async fn propose_revocation(
    State(node): Shared,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    authorize(&node, &headers)?;
    let RevokeBody { org, reason } = parse_body(body)?;
    created_proposal(submit(&node, RegistryCommand::ProposeRevocation { org, reason, at_ms: now_ms() }).await?)
}

/// Body of `POST /v1/governance/role-changes`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RoleChangeBody {
    org: String,
    role: ossa_consensus::MemberRole,
    #[serde(default)]
    force: bool,
}

pub(super) async fn propose_role_change(
    State(node): Shared,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    authorize(&node, &headers)?;
    let RoleChangeBody { org, role, force } = parse_body(body)?;
    created_proposal(submit(&node, RegistryCommand::ProposeRoleChange { org, role, force, at_ms: now_ms() }).await?)
}

/// The answer to a command that opens a governance proposal.
fn created_proposal(response: RegistryResponse) -> Result<Response, ApiError> {
    match response {
        RegistryResponse::ProposalCreated { proposal } => {
            Ok((StatusCode::CREATED, Json(json!({ "proposal": proposal }))).into_response())
        }
        RegistryResponse::Refused { code, reason } => Err(refusal(code, reason)),
        other => Err(unexpected(other)),
    }
}

pub(super) async fn approve_proposal(
    State(node): Shared,
    headers: HeaderMap,
    Path(id): Path<u64>,
) -> Result<Response, ApiError> {
    authorize(&node, &headers)?;
    match submit(&node, RegistryCommand::ApproveProposal { id, at_ms: now_ms() }).await? {
        RegistryResponse::ProposalApproved { proposal } => Ok(Json(json!({ "proposal": proposal })).into_response()),
        RegistryResponse::Refused { code, reason } => Err(refusal(code, reason)),
        other => Err(unexpected(other)),
    }
}

pub(super) async fn authorize_request(
    State(node): Shared,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<crate::authz::Verdict>, ApiError> {
    authorize(&node, &headers)?;
    let body: crate::authz::AuthorizeBody = parse_body(body)?;
    let mut request = body.to_request().map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_request", e))?;
    if body.context.trust.is_none() {
        request.context.trust =
            crate::authz::principal_trust(&request.principal, node.agents.directory(), &node.trust.scores());
    }
    let verdict = {
        let applied = node.consensus.registry.read();
        node.policies.decide(&applied.registry, node.agents.directory(), &request)
    }
    .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_request", e.to_string()))?;
    let request_bytes = serde_json::to_vec(&request).unwrap_or_default();
    let draft = ossa_audit::EntryDraft {
        time_ms: now_ms(),
        kind: "policy.decision".to_owned(),
        actor: node.org.clone(),
        payload: json!({
            "request_hash": hex::encode(ossa_audit::leaf_hash(&request_bytes)),
            "tenant": request.tenant,
            "action": request.action.as_str(),
            "decision": verdict.decision,
            "deciding": verdict.deciding,
            "federation_version": verdict.federation_version,
            "tenant_version": verdict.tenant_version,
            "trust": request.context.trust,
        }),
        raft_index: None,
    };
    // On the blocking pool: the append that fills the log's tail writes it to sled.
    if let Err(err) = node.audit_append(draft).await {
        // A decision that cannot be audited is not given.
        return Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "audit_failed", err.to_string()));
    }
    node.metrics.authz_decision(&verdict.decision);
    Ok(Json(verdict))
}
