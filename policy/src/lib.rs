//! OSSA policy: the rules that decide whether a registry write is acceptable, and the Cedar
//! policy library that decides whether a request is authorized.
//!
//! Every function here is pure: it looks only at its arguments, so every replica of the
//! registry reaches the same verdict for the same command. The consensus crate calls these
//! rules inside its state machine (on every node, at apply time) and the node calls them again
//! before proposing, so a bad request is refused early with the same message.
//!
//! Policy sets flow through this crate in four steps:
//!
//! 1. [`validate_policy_set`] turns submitted Cedar text into a [`ValidatedPolicySet`]
//!    (size limits, parse, strict validation against [`SCHEMA_TEXT`], canonical text and its
//!    SHA-256 digest). The registry stores the canonical text.
//! 2. [`check_tenant_scope`] refuses a tenant set that names another tenant's entities.
//! 3. [`analyze`] returns [`Warning`]s (a permit that a forbid always overrides) that the node
//!    shows on submit and refuses under `--strict`.
//! 4. An [`Authorizer`] holds the active federation set and every tenant's set and answers
//!    [`AuthzRequest`]s with a [`Decision`], from entity data ([`EntityInfo`]) the caller
//!    builds from the registry and the agent directory.
//!
//! [`authorize_workload`] builds a synthetic federation of tenant sets and requests for the
//! authorization benchmark (`ossa bench authorize`).
//!
//! The Cedar version is pinned exactly in the workspace: validation results are part of the
//! replicated state, so every replica must run the same validator.

mod analysis;
mod authorizer;
mod bench;
mod error;
mod guard;
mod location;
mod names;
mod request;
mod schema;
mod scope;
mod validate;

pub use analysis::{analyze, analyze_against, Warning};
pub use authorizer::{Authorizer, Decision};
pub use bench::{authorize_workload, AuthzWorkload, POLICIES_PER_TENANT};
pub use error::PolicyError;
pub use guard::{MAX_NESTING, MAX_OPERATORS};
pub use names::{validate_tenant_name, NameError, MAX_TENANT_NAME_LEN};
pub use request::{
    AgentAttrs, AuthzContext, AuthzRequest, EntityInfo, EntityRef, MAX_CAPABILITIES, MAX_ENTITIES, MAX_ENTITY_ID_BYTES,
    MAX_PARENTS, MAX_STRING_BYTES, MAX_TRUST,
};
pub use schema::{agent_tenant, Action, EntityKind, NAMESPACE, SCHEMA_TEXT};
pub use scope::check_tenant_scope;
pub use validate::{validate_policy_set, ValidatedPolicySet, MAX_POLICIES, MAX_POLICY_ID_LEN, MAX_POLICY_SET_BYTES};
