//! Fault injection for testnets (`[testing] fault_injection`); a node without the switch answers
//! 403 to both routes.
//!
//! `PUT /v1/testing/partition`: the body `{"blocked": [peer id, ...]}` replaces the set of
//! peers this node cuts itself off from: connections to them are closed and refused until the
//! set changes (`[]` heals). Doing this on both sides of a cut is a partition at the admission
//! level, which works where network namespaces are not available.
//!
//! `POST /v1/testing/disconnect`: the body `{"peer": peer id}` closes this node's connections
//! to that peer once, a link that flaps; either side may connect again at once.

use std::collections::HashSet;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use libp2p::PeerId;
use serde::Deserialize;
use serde_json::json;

use super::{authorize, parse_body, ApiError, Shared};
use crate::daemon::NodeContext;

/// Most peers one node can be told to cut off: far more than a testnet has.
const MAX_BLOCKED: usize = 1024;

/// Body of `PUT /v1/testing/partition`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PartitionBody {
    blocked: Vec<String>,
}

/// Body of `POST /v1/testing/disconnect`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DisconnectBody {
    peer: String,
}

/// Refuses the request unless the caller has the token and the node has fault injection on.
fn allow_fault_injection(node: &NodeContext, headers: &HeaderMap) -> Result<(), ApiError> {
    authorize(node, headers)?;
    if !node.fault_injection {
        let message = "fault injection is off; it is for testnets ([testing] fault_injection in node.toml)";
        return Err(ApiError::new(StatusCode::FORBIDDEN, "fault_injection_disabled", message));
    }
    Ok(())
}

fn parse_peer(text: &str) -> Result<PeerId, ApiError> {
    text.parse::<PeerId>()
        .map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, "bad_request", format!("{text:?} is not a peer id")))
}

fn stopping(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "stopping", e.to_string())
}

pub(super) async fn disconnect(
    State(node): Shared,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    allow_fault_injection(&node, &headers)?;
    let DisconnectBody { peer } = parse_body(body)?;
    node.net.disconnect(parse_peer(&peer)?).await.map_err(stopping)?;
    Ok(Json(json!({ "disconnected": peer })))
}

pub(super) async fn set_partition(
    State(node): Shared,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    allow_fault_injection(&node, &headers)?;
    let PartitionBody { blocked } = parse_body(body)?;
    if blocked.len() > MAX_BLOCKED {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "bad_request", format!("at most {MAX_BLOCKED} peers")));
    }
    let peers = blocked.iter().map(|p| parse_peer(p)).collect::<Result<HashSet<_>, _>>()?;
    let count = peers.len();
    node.net.set_blocked(peers).await.map_err(stopping)?;
    Ok(Json(json!({ "blocked": count })))
}
