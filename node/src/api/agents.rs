//! `/v1/agents`: register manifests, list, search, read and remove agents of the directory;
//! certify them (on a steward's node).

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use super::*;
use crate::agents::certification::Tier;
use crate::agents::certify::{certify, CertifyError, CertifyRequest};
use crate::trust_scores::ranking::{RankedAgent, Ranking};

/// Query of `POST /v1/agents`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RegisterQuery {
    tenant: String,
}

pub(super) async fn register_agent(
    State(node): Shared,
    headers: HeaderMap,
    params: Result<Query<RegisterQuery>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    authorize(&node, &headers)?;
    let RegisterQuery { tenant } = query(params)?;
    let manifest = body_bytes(body, "manifest", crate::agents::manifest::MAX_MANIFEST_BYTES)?;
    let view = node.agents.register(&node, &tenant, &manifest).await?;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

/// Query of `GET /v1/agents` and `GET /v1/agents/search`.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct SearchQuery {
    capability: Option<String>,
    tenant: Option<String>,
    /// Lowest certification tier (`bronze`, `silver`, `gold`): `silver` also matches gold.
    tier: Option<String>,
    /// Drop agents with a lower trust score (0..=1000).
    #[serde(default)]
    min_trust: u16,
    /// Keep quarantined agents in the answer (marked `"quarantined": true`).
    #[serde(default)]
    include_quarantined: bool,
}

/// Finds agents, ranked by trust (see [`crate::trust_scores::ranking`]).
fn find_ranked(node: &NodeContext, params: SearchQuery) -> Result<Vec<RankedAgent>, ApiError> {
    let SearchQuery { capability, tenant, tier, min_trust, include_quarantined } = params;
    if min_trust > ossa_trust::MAX_SCORE {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "bad_query", "min_trust is a score from 0 to 1000"));
    }
    let tier = tier
        .map(|t| t.parse::<Tier>())
        .transpose()
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_query", e.to_string()))?;
    let found = node.agents.find(&AgentQuery { capability, tenant, tier });
    Ok(node.trust.rank(found, Ranking { min_trust, include_quarantined }))
}

pub(super) async fn list_agents(
    State(node): Shared,
    params: Result<Query<SearchQuery>, QueryRejection>,
) -> Result<Json<Vec<RankedAgent>>, ApiError> {
    Ok(Json(find_ranked(&node, query(params)?)?))
}

pub(super) async fn search_agents(
    State(node): Shared,
    params: Result<Query<SearchQuery>, QueryRejection>,
) -> Result<Json<Vec<RankedAgent>>, ApiError> {
    let params = query(params)?;
    if params.capability.is_none() {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "bad_query", "search needs ?capability=..."));
    }
    Ok(Json(find_ranked(&node, params)?))
}

pub(super) async fn get_agent(
    State(node): Shared,
    Path((tenant, id)): Path<(String, String)>,
) -> Result<Json<AgentView>, ApiError> {
    let query = AgentQuery { tenant: Some(tenant.clone()), ..Default::default() };
    node.agents.find(&query).into_iter().find(|a| a.id == id).map(Json).ok_or_else(|| {
        ApiError::new(StatusCode::NOT_FOUND, "unknown_agent", format!("no agent {id:?} in tenant {tenant:?}"))
    })
}

pub(super) async fn delete_agent(
    State(node): Shared,
    headers: HeaderMap,
    Path((tenant, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    authorize(&node, &headers)?;
    node.agents.remove(&node, &tenant, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Query of `POST /v1/agents/{tenant}/{id}/certify`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CertifyQuery {
    tier: String,
}

/// Certifies an agent (see [`crate::agents::certify`]): 201 with the certification and the
/// checks; 422 with the checks when one failed.
pub(super) async fn certify_agent(
    State(node): Shared,
    headers: HeaderMap,
    Path((tenant, id)): Path<(String, String)>,
    params: Result<Query<CertifyQuery>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    authorize(&node, &headers)?;
    let CertifyQuery { tier } = query(params)?;
    let tier = tier.parse::<Tier>().map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_query", e.to_string()))?;
    let manifest = body_bytes(body, "manifest", crate::agents::manifest::MAX_MANIFEST_BYTES)?;
    let request = CertifyRequest { tenant: &tenant, agent_id: &id, tier, manifest: &manifest };
    let err = match certify(&node, request).await {
        Ok(certified) => return Ok((StatusCode::CREATED, Json(certified)).into_response()),
        Err(err) => err,
    };
    if let CertifyError::ChecksFailed { checks } = &err {
        let body = json!({ "error": { "code": "checks_failed", "message": err.to_string() }, "checks": checks });
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response());
    }
    Err(err.into())
}
