//! `/v1/observations` and `/v1/trust`: signed observations in, scores out.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use ossa_trust::Subject;
use serde::{Deserialize, Serialize};

use super::{authorize, parse_body, ApiError, Shared};
use crate::trust_scores::observation::parse_outcome;
use crate::trust_scores::ObserveError;

/// Body of `POST /v1/observations`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ObserveBody {
    /// The agent observed, `TENANT/ID`.
    agent: String,
    /// `success`, `failure` or `violation`.
    outcome: String,
    /// Latency of the call, if measured.
    #[serde(default)]
    latency_ms: Option<u32>,
}

impl From<ObserveError> for ApiError {
    fn from(err: ObserveError) -> Self {
        let (status, code) = match &err {
            ObserveError::UnknownAgent(_) => (StatusCode::NOT_FOUND, "unknown_agent"),
            ObserveError::OwnAgent(_) => (StatusCode::BAD_REQUEST, "self_rating"),
            ObserveError::Refused(_) => (StatusCode::CONFLICT, "refused"),
            ObserveError::Storage(_) => (StatusCode::INTERNAL_SERVER_ERROR, "storage"),
        };
        ApiError::new(status, code, err.to_string())
    }
}

pub(super) async fn observe(
    State(node): Shared,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    authorize(&node, &headers)?;
    let body: ObserveBody = parse_body(body)?;
    let outcome = parse_outcome(&body.outcome).ok_or_else(|| {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", "outcome must be success, failure or violation")
    })?;
    let observation = node.trust.observe(&node, &body.agent, outcome, body.latency_ms).await?;
    Ok((StatusCode::CREATED, Json(observation)).into_response())
}

/// One org or agent in `GET /v1/trust`.
#[derive(Debug, Serialize, Deserialize)]
pub struct TrustRow {
    /// The org (for an agent, the org that owns it).
    pub org: String,
    /// The agent, `TENANT/ID`; absent for an org.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// Score, 0..=1000.
    pub score: u16,
    /// Whether the circuit breaker holds it in quarantine.
    pub quarantined: bool,
    /// Whether the org is a steward (pre-trusted); orgs only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steward: Option<bool>,
    /// Whether the org has been convicted of equivocation; orgs only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub convicted: Option<bool>,
    /// The decayed evidence counts behind the score.
    pub evidence: ossa_trust::Evidence,
}

/// Body of `GET /v1/trust`.
#[derive(Debug, Serialize, Deserialize)]
pub struct TrustView {
    /// The score clock (Unix ms, rounded down to the minute) the scores were computed at.
    pub computed_at_ms: u64,
    /// Orgs, then agents.
    pub scores: Vec<TrustRow>,
}

pub(super) async fn show(State(node): Shared) -> Json<TrustView> {
    let scores = node.trust.scores();
    let orgs = scores.orgs.iter().map(|o| TrustRow {
        org: o.org.clone(),
        agent: None,
        score: o.score,
        quarantined: node.trust.is_quarantined(&Subject::Org { org: o.org.clone() }),
        steward: Some(o.steward),
        convicted: Some(o.convicted),
        evidence: o.evidence,
    });
    let agents = scores.agents.iter().map(|a| TrustRow {
        org: a.org.clone(),
        agent: Some(a.agent.clone()),
        score: a.score,
        quarantined: node.trust.is_quarantined(&Subject::Agent { org: a.org.clone(), agent: a.agent.clone() }),
        steward: None,
        convicted: None,
        evidence: a.evidence,
    });
    Json(TrustView { computed_at_ms: scores.now_ms, scores: orgs.chain(agents).collect() })
}
