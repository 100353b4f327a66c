//! `POST /v1/org/rotate`: this org's node key rotation (see [`crate::key_rotation`]).
//!
//! The body `{"cert": PEM, "grace_ms": N}` hands in the certificate the federation CA issued
//! for the org's new key. The certificate is checked, `RotateKey` is committed, and the answer
//! is the stored rotation: old and new peer id and node id, and when the old key retires.
//! Refusals (a certificate of another org or federation, the current key again, a grace period
//! over a week) change nothing.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::{authorize, parse_body, refusal, ApiError, Shared};
use crate::key_rotation::{propose, RotationError};

/// Grace period of the old key when the body gives none: ten minutes, time for a restart.
pub const DEFAULT_GRACE_MS: u64 = 10 * 60 * 1000;

/// Body of `POST /v1/org/rotate`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RotateBody {
    cert: String,
    #[serde(default = "default_grace")]
    grace_ms: u64,
}

fn default_grace() -> u64 {
    DEFAULT_GRACE_MS
}

pub(super) async fn rotate_key(
    State(node): Shared,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    authorize(&node, &headers)?;
    let RotateBody { cert, grace_ms } = parse_body(body)?;
    match propose(&node, &cert, grace_ms).await {
        Ok(rotation) => Ok(Json(json!({ "rotation": rotation }))),
        Err(err @ RotationError::Certificate(_)) => {
            Err(ApiError::new(StatusCode::BAD_REQUEST, "invalid_certificate", err.to_string()))
        }
        Err(err @ RotationError::Grace) => Err(ApiError::new(StatusCode::BAD_REQUEST, "invalid", err.to_string())),
        Err(RotationError::Refused { code, reason }) => Err(refusal(code, reason)),
        Err(RotationError::Write(err)) => Err(err.into()),
    }
}
