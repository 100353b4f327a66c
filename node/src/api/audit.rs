//! `/v1/audit/...`: the export, signed checkpoints, proofs and equivocation evidence.
//!
//! Proof endpoints read `O(log n)` stored tree nodes and answer JSON with base64 hashes, as
//! an RFC 9162 client expects them: `GET /v1/audit/proof/inclusion?index=I&size=N` (with the
//! entry itself) and `GET /v1/audit/proof/consistency?from=M&to=N`. `GET
//! /v1/audit/prove?index=I` answers a whole C2SP `tlog-proof` file against the recent
//! checkpoint with the most witness cosignatures.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ossa_audit::{AuditError, Hash};
use serde::Deserialize;
use serde_json::json;

use super::{authorize, query, ApiError, Shared};

pub(super) async fn audit_export(State(node): Shared, headers: HeaderMap) -> Result<Response, ApiError> {
    authorize(&node, &headers)?;
    let origin = crate::checkpoints::audit_origin(&node.federation, &node.org);
    let audit = node.audit.clone();
    let bytes = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        audit.export(&origin, &mut out).map(|_| out)
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "export_failed", e.to_string()))?
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "export_failed", e.to_string()))?;
    Ok(([(header::CONTENT_TYPE, "application/jsonl")], bytes).into_response())
}

/// Query of `GET /v1/audit/checkpoint`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CheckpointQuery {
    /// Serve the latest checkpoint that at least this many witnesses cosigned.
    #[serde(default)]
    min_cosigners: usize,
}

pub(super) async fn audit_checkpoint(
    State(node): Shared,
    params: Result<Query<CheckpointQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let params = query(params)?;
    let note = node.checkpoints.latest_cosigned(params.min_cosigners).ok_or_else(|| {
        let message = if params.min_cosigners == 0 {
            "no checkpoint signed yet (the audit log is empty)".to_owned()
        } else {
            format!("none of the recent checkpoints has {} witness cosignatures yet", params.min_cosigners)
        };
        ApiError::new(StatusCode::NOT_FOUND, "no_checkpoint", message)
    })?;
    Ok(note_response(note))
}

fn note_response(text: String) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response()
}

fn proof_error(err: AuditError) -> ApiError {
    match err {
        AuditError::InvalidRange(message) => ApiError::new(StatusCode::BAD_REQUEST, "bad_range", message),
        other => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "audit_failed", other.to_string()),
    }
}

fn base64_hashes(hashes: &[Hash]) -> Vec<String> {
    hashes.iter().map(|h| STANDARD.encode(h)).collect()
}

/// Query of `GET /v1/audit/proof/inclusion`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct InclusionQuery {
    index: u64,
    size: u64,
}

pub(super) async fn inclusion_proof(
    State(node): Shared,
    params: Result<Query<InclusionQuery>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let InclusionQuery { index, size } = query(params)?;
    let hashes = node.audit.inclusion_proof(index, size).map_err(proof_error)?;
    let root = node.audit.root(size).map_err(proof_error)?;
    let entry = node.audit.entries(index, 1).map_err(proof_error)?.pop();
    Ok(Json(json!({
        "index": index, "size": size, "root": STANDARD.encode(root),
        "hashes": base64_hashes(&hashes), "entry": entry,
    })))
}

/// Query of `GET /v1/audit/proof/consistency`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ConsistencyQuery {
    from: u64,
    to: u64,
}

pub(super) async fn consistency_proof(
    State(node): Shared,
    params: Result<Query<ConsistencyQuery>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let ConsistencyQuery { from, to } = query(params)?;
    let hashes = node.audit.consistency_proof(from, to).map_err(proof_error)?;
    let (from_root, to_root) = (node.audit.root(from).map_err(proof_error)?, node.audit.root(to).map_err(proof_error)?);
    Ok(Json(json!({
        "from": from, "to": to, "from_root": STANDARD.encode(from_root), "to_root": STANDARD.encode(to_root),
        "hashes": base64_hashes(&hashes),
    })))
}

/// Query of `GET /v1/audit/prove`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ProveQuery {
    index: u64,
}

pub(super) async fn prove(
    State(node): Shared,
    params: Result<Query<ProveQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let ProveQuery { index } = query(params)?;
    let note = node.checkpoints.best_witnessed(index).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_checkpointed",
            format!(
                "no recent checkpoint covers entry {index} (the log has {} entries; a new one is covered within \
                 a second)",
                node.audit.len()
            ),
        )
    })?;
    let proof = ossa_audit::prove_entry(&node.audit, index, &note).map_err(proof_error)?;
    Ok(note_response(proof.encode()))
}

pub(super) async fn equivocations(State(node): Shared) -> Json<Vec<crate::witness::evidence::Evidence>> {
    Json(node.witness.evidence())
}
