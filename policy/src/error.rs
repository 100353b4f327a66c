//! The one error type of the Cedar part of this crate.
//!
//! Variants are split by what the caller does next: input that is too big, text that does not
//! parse, a set that parses but fails the schema, a tenant set that reaches outside its
//! tenant, or a malformed authorization request or entity description. Messages are meant
//! for the person who wrote the input (they carry `line:column` where Cedar reports one), and
//! the enum is serde-serializable so the node can send it across the wire unchanged.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Why a policy set, a request or its entities were refused.
#[derive(Debug, Clone, PartialEq, Eq, Error, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PolicyError {
    /// An input exceeds one of the documented size limits.
    #[error("{what} is too large: {actual} > limit {limit}")]
    TooLarge {
        /// Which input (e.g. "policy set text", "policy count").
        what: String,
        /// Its size, in the unit of the limit.
        actual: usize,
        /// The limit.
        limit: usize,
    },
    /// The policy text is not valid Cedar syntax.
    #[error("policy set does not parse: {message}")]
    Parse {
        /// Cedar's messages, each prefixed with `line:column`.
        message: String,
    },
    /// The policy set parses but fails strict validation against the OSSA schema.
    #[error("policy set fails schema validation: {}", messages.join("; "))]
    Validation {
        /// One message per validator error, each prefixed with `line:column` and naming the policy.
        messages: Vec<String>,
    },
    /// The set uses a Cedar feature OSSA does not accept (e.g. templates) or a bad `@id`.
    #[error("policy set not accepted: {message}")]
    Unsupported {
        /// What was refused and why.
        message: String,
    },
    /// A tenant policy names entities of another tenant.
    #[error("policy {policy_id} of tenant {tenant:?} names {entity}, which belongs to another tenant")]
    Scope {
        /// The tenant whose set was checked.
        tenant: String,
        /// The offending policy.
        policy_id: String,
        /// The foreign entity, as written in Cedar (`Ossa::Agent::"other/bot"`).
        entity: String,
    },
    /// A tenant name is not acceptable.
    #[error("bad tenant name {tenant:?}: {message}")]
    Tenant {
        /// The refused name.
        tenant: String,
        /// Why.
        message: String,
    },
    /// An authorization request is malformed (bad action, resource outside the tenant, context
    /// out of range, schema mismatch).
    #[error("bad authorization request: {message}")]
    Request {
        /// What is wrong.
        message: String,
    },
    /// The entity description passed with a request is malformed.
    #[error("bad entity data: {message}")]
    Entities {
        /// What is wrong.
        message: String,
    },
}

impl PolicyError {
    /// Shorthand for a [`PolicyError::TooLarge`].
    pub(crate) fn too_large(what: &str, actual: usize, limit: usize) -> Self {
        PolicyError::TooLarge { what: what.to_string(), actual, limit }
    }
}
