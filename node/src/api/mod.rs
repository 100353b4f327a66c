//! The HTTP API (axum): health, readiness, metrics and the `/v1` JSON resources.
//!
//! Reads come from the applied registry of this node; writes go through
//! [`crate::writes::submit`] (forwarded to the Raft leader when needed). Mutating calls and the
//! audit export need `Authorization: Bearer <NODE_DIR/api.token>`. Request bodies are limited
//! to [`MAX_BODY`] bytes and parsed by hand, so every refusal is the JSON error shape
//! `{"error": {"code", "message"}}` with a fitting status, and changes nothing.

mod agents;
mod audit;
pub mod org;
mod policy;
mod testing;
pub mod trust;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use ossa_consensus::openraft::ServerState;
use ossa_consensus::{RefusalCode, RegistryCommand, RegistryResponse};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::agents::directory::{AgentView, Query as AgentQuery};
use crate::agents::service::AgentError;
use crate::clock::now_ms;
use crate::daemon::NodeContext;
use crate::writes::{submit, WriteError};

/// Largest request body accepted. Every current body is a small JSON object; 64 KiB leaves
/// room for the policy and manifest bodies to come without letting a client make the node
/// buffer megabytes.
pub const MAX_BODY: usize = 64 * 1024;

type Shared = State<Arc<NodeContext>>;

/// Builds the API router.
pub fn router(node: Arc<NodeContext>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .route("/v1/status", get(status))
        .route("/v1/members", get(members))
        .route("/v1/tenants", get(list_tenants).post(create_tenant))
        .route(
            "/v1/agents",
            get(agents::list_agents)
                .post(agents::register_agent)
                .layer(DefaultBodyLimit::max(crate::agents::manifest::MAX_MANIFEST_BYTES)),
        )
        .route("/v1/agents/search", get(agents::search_agents))
        .route("/v1/agents/{tenant}/{id}", get(agents::get_agent).delete(agents::delete_agent))
        .route(
            "/v1/agents/{tenant}/{id}/certify",
            axum::routing::post(agents::certify_agent)
                .layer(DefaultBodyLimit::max(crate::agents::manifest::MAX_MANIFEST_BYTES)),
        )
        .route("/v1/tenants/{tenant}/policy", get(policy::get_tenant_policy).put(policy::set_tenant_policy))
        .route("/v1/policy", get(policy::policy_overview))
        .route("/v1/policy/proposals", axum::routing::post(policy::propose_policy))
        .route("/v1/policy/proposals/{id}/approve", axum::routing::post(policy::approve_proposal))
        .route("/v1/authorize", axum::routing::post(policy::authorize_request))
        .route("/v1/governance/revocations", axum::routing::post(policy::propose_revocation))
        .route("/v1/governance/role-changes", axum::routing::post(policy::propose_role_change))
        .route("/v1/governance/proposals/{id}/approve", axum::routing::post(policy::approve_proposal))
        .route("/v1/org/rotate", axum::routing::post(org::rotate_key))
        .route("/v1/testing/partition", axum::routing::put(testing::set_partition))
        .route("/v1/testing/disconnect", axum::routing::post(testing::disconnect))
        .route("/v1/observations", axum::routing::post(trust::observe))
        .route("/v1/trust", get(trust::show))
        .route("/v1/audit/export", get(audit::audit_export))
        .route("/v1/audit/checkpoint", get(audit::audit_checkpoint))
        .route("/v1/audit/proof/inclusion", get(audit::inclusion_proof))
        .route("/v1/audit/proof/consistency", get(audit::consistency_proof))
        .route("/v1/audit/prove", get(audit::prove))
        .route("/v1/audit/equivocations", get(audit::equivocations))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint") })
        .layer(axum::middleware::from_fn(trace_request))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(node)
}

/// Runs each request in a span (exported over OTLP when configured, see [`crate::telemetry`]).
async fn trace_request(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    use tracing::Instrument;
    let span = tracing::info_span!("http", method = %request.method(), path = %request.uri().path());
    next.run(request).instrument(span).await
}

/// An API error: status plus the JSON body `{"error": {"code", "message"}}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into() }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "error": { "code": self.code, "message": self.message } });
        (self.status, Json(body)).into_response()
    }
}

impl From<WriteError> for ApiError {
    fn from(err: WriteError) -> Self {
        let (status, code) = match err {
            WriteError::NoLeader | WriteError::Network(_) => (StatusCode::SERVICE_UNAVAILABLE, "write_failed"),
            WriteError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            WriteError::Failed(_) => (StatusCode::INTERNAL_SERVER_ERROR, "write_failed"),
        };
        Self::new(status, code, err.to_string())
    }
}

impl From<AgentError> for ApiError {
    fn from(err: AgentError) -> Self {
        use crate::agents::directory::DirectoryError;
        use crate::agents::record::Rejection;
        let (status, code) = match &err {
            AgentError::Import(_) => (StatusCode::BAD_REQUEST, "invalid_manifest"),
            AgentError::UnknownTenant(_) => (StatusCode::NOT_FOUND, "unknown_tenant"),
            AgentError::NotOwner { .. } => (StatusCode::FORBIDDEN, "not_owner"),
            AgentError::NotFound { .. } => (StatusCode::NOT_FOUND, "unknown_agent"),
            AgentError::Directory(DirectoryError::Rejected(Rejection::Stale { .. })) => (StatusCode::CONFLICT, "stale"),
            AgentError::Directory(DirectoryError::Rejected(_)) => (StatusCode::BAD_REQUEST, "invalid_record"),
            AgentError::Directory(DirectoryError::Storage(_)) => (StatusCode::INTERNAL_SERVER_ERROR, "storage"),
            AgentError::Network(_) => (StatusCode::SERVICE_UNAVAILABLE, "network"),
        };
        Self::new(status, code, err.to_string())
    }
}

impl From<crate::agents::certify::CertifyError> for ApiError {
    fn from(err: crate::agents::certify::CertifyError) -> Self {
        use crate::agents::certify::CertifyError;
        use crate::agents::directory::DirectoryError;
        use crate::agents::record::Rejection;
        let (status, code) = match &err {
            CertifyError::NotSteward { .. } => (StatusCode::FORBIDDEN, "not_steward"),
            CertifyError::NotFound { .. } => (StatusCode::NOT_FOUND, "unknown_agent"),
            CertifyError::OwnAgent { .. } => (StatusCode::FORBIDDEN, "own_agent"),
            CertifyError::ManifestMismatch { .. } => (StatusCode::CONFLICT, "manifest_mismatch"),
            CertifyError::ChecksFailed { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "checks_failed"),
            CertifyError::Directory(DirectoryError::Rejected(Rejection::Stale { .. })) => {
                (StatusCode::CONFLICT, "stale")
            }
            CertifyError::Directory(DirectoryError::Rejected(_)) => (StatusCode::BAD_REQUEST, "invalid_certification"),
            CertifyError::Directory(DirectoryError::Storage(_)) => (StatusCode::INTERNAL_SERVER_ERROR, "storage"),
            CertifyError::Network(_) => (StatusCode::SERVICE_UNAVAILABLE, "network"),
        };
        Self::new(status, code, err.to_string())
    }
}

/// The HTTP error for a registry refusal.
fn refusal(code: RefusalCode, reason: String) -> ApiError {
    match code {
        RefusalCode::Invalid => ApiError::new(StatusCode::BAD_REQUEST, "invalid", reason),
        RefusalCode::NotFound => ApiError::new(StatusCode::NOT_FOUND, "not_found", reason),
        RefusalCode::Forbidden => ApiError::new(StatusCode::FORBIDDEN, "forbidden", reason),
        RefusalCode::Conflict => ApiError::new(StatusCode::CONFLICT, "conflict", reason),
    }
}

fn unexpected(response: RegistryResponse) -> ApiError {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "unexpected", format!("unexpected registry answer: {response:?}"))
}

fn query<T>(query: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    query.map(|Query(q)| q).map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_query", e.body_text()))
}

fn authorize(node: &NodeContext, headers: &HeaderMap) -> Result<(), ApiError> {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match presented {
        Some(token) if constant_time_eq(token.as_bytes(), node.api_token.as_bytes()) => Ok(()),
        Some(_) => Err(ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "wrong bearer token")),
        None => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "this call needs `Authorization: Bearer <token>` (the node's api.token)",
        )),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The body's bytes, or the error for a body over `limit` (`what` names the body).
fn body_bytes(body: Result<Bytes, BytesRejection>, what: &str, limit: usize) -> Result<Bytes, ApiError> {
    body.map_err(|e| match e {
        BytesRejection::FailedToBufferBody(_) => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("{what} is larger than {limit} bytes"),
        ),
        other => ApiError::new(StatusCode::BAD_REQUEST, "bad_body", other.body_text()),
    })
}

fn parse_body<T: for<'de> Deserialize<'de>>(body: Result<Bytes, BytesRejection>) -> Result<T, ApiError> {
    let bytes = body_bytes(body, "request body", MAX_BODY)?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_json", format!("invalid JSON body: {e}")))
}

async fn health() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

async fn ready(State(node): Shared) -> Response {
    if crate::revocation::is_revoked(&node) {
        let body = json!({ "ready": false, "revoked": true });
        return (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
    }
    if node.is_ready() {
        Json(json!({ "ready": true })).into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "ready": false }))).into_response()
    }
}

async fn metrics(State(node): Shared) -> Response {
    let raft = node.consensus.raft.metrics().borrow().clone();
    let m = &node.metrics;
    m.raft_term.set(raft.current_term as i64);
    m.raft_last_applied.set(raft.last_applied.map(|l| l.index as i64).unwrap_or(0));
    m.raft_is_leader.set(i64::from(raft.state == ServerState::Leader));
    m.registry_tenants.set(node.consensus.registry.read().registry.tenants.len() as i64);
    m.audit_entries.set(node.audit.len() as i64);
    m.cert_expiry.set(i64::try_from(node.cert_expires_at).unwrap_or(i64::MAX));
    m.directory_records.set(node.agents.directory().len() as i64);
    m.directory_certifications.set(node.agents.directory().certifications().len() as i64);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], m.encode()).into_response()
}

/// Body of `GET /v1/status`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Status {
    /// This node's org.
    pub org: String,
    /// Federation name.
    pub federation: String,
    /// libp2p peer id.
    pub peer_id: String,
    /// Raft node id.
    pub node_id: u64,
    /// `steward` or `member` (from the certificate).
    pub role: String,
    /// `leader`, `follower`, `candidate` or `learner`.
    pub raft_state: String,
    /// Peer id of the current Raft leader, if known.
    pub leader: Option<String>,
    /// Current Raft term.
    pub term: u64,
    /// Last applied log index.
    pub last_applied: Option<u64>,
    /// Last log index covered by this node's registry snapshot (built or installed), if any.
    #[serde(default)]
    pub snapshot_index: Option<u64>,
    /// Highest log index purged from this node's Raft log (behind its snapshot), if any.
    #[serde(default)]
    pub purged_index: Option<u64>,
    /// Admitted and caught up (same as `/ready`).
    pub ready: bool,
    /// Members in the registry.
    pub members: usize,
    /// Tenants in the registry.
    pub tenants: usize,
    /// Entries in this node's audit log.
    pub audit_entries: u64,
    /// Whether the federation has revoked this node's org.
    #[serde(default)]
    pub revoked: bool,
    /// When this node's org certificate expires (Unix seconds).
    #[serde(default)]
    pub cert_expires_at: u64,
    /// Node ids of the Raft voters, as this node knows the membership.
    #[serde(default)]
    pub raft_voters: Vec<u64>,
    /// Node ids of the Raft learners, as this node knows the membership.
    #[serde(default)]
    pub raft_learners: Vec<u64>,
    /// Peers connected to this node and admitted, whether from the bootstrap list, the Raft
    /// membership or discovery.
    #[serde(default)]
    pub peers: Vec<PeerView>,
    /// Peers in the discovery (Kademlia) routing table.
    #[serde(default)]
    pub routing_table: usize,
}

/// A connected, admitted peer in `GET /v1/status`.
#[derive(Debug, Serialize, Deserialize)]
pub struct PeerView {
    /// Its org (from its certificate).
    pub org: String,
    /// Its libp2p peer id.
    pub peer_id: String,
}

async fn status(State(node): Shared) -> Json<Status> {
    let raft = node.consensus.raft.metrics().borrow().clone();
    let raft_state = match raft.state {
        ServerState::Leader => "leader",
        ServerState::Follower => "follower",
        ServerState::Candidate => "candidate",
        ServerState::Learner => "learner",
        ServerState::Shutdown => "shutdown",
    };
    let (members, tenants) = {
        let applied = node.consensus.registry.read();
        (applied.registry.members.len(), applied.registry.tenants.len())
    };
    // An empty view only while the node shuts down.
    let view = node.net.view().await.unwrap_or_default();
    let mut peers: Vec<PeerView> =
        view.admitted.iter().map(|p| PeerView { org: p.org.clone(), peer_id: p.peer_id.to_string() }).collect();
    peers.sort_by(|a, b| a.org.cmp(&b.org));
    Json(Status {
        org: node.org.clone(),
        federation: node.federation.clone(),
        peer_id: node.peer_id.to_string(),
        node_id: node.node_id,
        role: node.role.to_string(),
        raft_state: raft_state.to_owned(),
        // From the same snapshot as the term: read apart, an election in between could pair
        // the old term with the new leader.
        leader: crate::daemon::leader_in(&raft).map(|(_, n)| n.peer_id),
        term: raft.current_term,
        last_applied: raft.last_applied.map(|l| l.index),
        snapshot_index: raft.snapshot.map(|l| l.index),
        purged_index: raft.purged.map(|l| l.index),
        ready: node.is_ready(),
        members,
        tenants,
        audit_entries: node.audit.len(),
        revoked: crate::revocation::is_revoked(&node),
        cert_expires_at: node.cert_expires_at,
        raft_voters: raft.membership_config.membership().voter_ids().collect(),
        raft_learners: raft.membership_config.membership().learner_ids().collect(),
        peers,
        routing_table: view.routing_table,
    })
}

/// One entry of `GET /v1/members`.
#[derive(Debug, Serialize, Deserialize)]
pub struct MemberView {
    /// Org name.
    pub org: String,
    /// Peer id of its node.
    pub peer_id: String,
    /// Raft node id.
    pub node_id: u64,
    /// `steward` or `member`.
    pub role: String,
    /// `voter`, `learner` or `none` in the current Raft membership.
    pub raft: String,
    /// Raft index of its admission entry.
    pub admitted_at: u64,
    /// Entries its node's log is behind the leader's, as the leader sees it (answered by the
    /// leader only; `null` elsewhere and for the leader itself).
    #[serde(default)]
    pub lag: Option<u64>,
}

async fn members(State(node): Shared) -> Json<Vec<MemberView>> {
    let raft_metrics = node.consensus.raft.metrics().borrow().clone();
    let membership = raft_metrics.membership_config.membership();
    let last_log = raft_metrics.last_log_index.unwrap_or(0);
    let applied = node.consensus.registry.read();
    let list = applied
        .registry
        .members
        .values()
        .map(|m| {
            let raft = if membership.voter_ids().any(|v| v == m.node_id) {
                "voter"
            } else if membership.get_node(&m.node_id).is_some() {
                "learner"
            } else {
                "none"
            };
            let matched = raft_metrics.replication.as_ref().and_then(|r| r.get(&m.node_id).cloned());
            let lag = matched
                .filter(|_| m.node_id != node.node_id)
                .map(|log_id| last_log.saturating_sub(log_id.map(|l| l.index).unwrap_or(0)));
            MemberView {
                org: m.org.clone(),
                peer_id: m.peer_id.clone(),
                node_id: m.node_id,
                role: m.role.to_string(),
                raft: raft.to_owned(),
                admitted_at: m.admitted_at,
                lag,
            }
        })
        .collect();
    Json(list)
}

async fn list_tenants(State(node): Shared) -> Json<Vec<ossa_consensus::Tenant>> {
    Json(node.consensus.registry.read().registry.tenants.values().cloned().collect())
}

/// Body of `POST /v1/tenants`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateTenant {
    name: String,
}

async fn create_tenant(
    State(node): Shared,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    authorize(&node, &headers)?;
    let CreateTenant { name } = parse_body(body)?;
    ossa_policy::validate_tenant_name(&name)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_name", e.to_string()))?;
    match submit(&node, RegistryCommand::CreateTenant { name }).await? {
        RegistryResponse::TenantCreated { tenant } => Ok((StatusCode::CREATED, Json(tenant)).into_response()),
        RegistryResponse::TenantExists { tenant } => Err(ApiError::new(
            StatusCode::CONFLICT,
            "tenant_exists",
            format!("tenant {:?} exists already (owner {})", tenant.name, tenant.owner),
        )),
        RegistryResponse::Refused { code, reason } => Err(refusal(code, reason)),
        other => Err(unexpected(other)),
    }
}
