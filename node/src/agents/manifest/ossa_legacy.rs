//! OSSA 0.1.x manifests: `ossaVersion: "0.1.9"` and an `agent` mapping.
//!
//! Read: `agent.id`, `agent.name`, `agent.version` (all required strings),
//! `agent.description` and `agent.endpoint` (optional strings) and `agent.capabilities`
//! (optional list of `{name, ...}` mappings or plain strings). `role`, `runtime` and every
//! other field are accepted and ignored.

use super::draft::{implied_protocol, Draft};
use super::error::ImportError;
use super::fields::{named_list, At};

/// Extracts the agent from an OSSA 0.1.x manifest.
pub(crate) fn import(root: &At<'_>) -> Result<Draft, ImportError> {
    let agent = root.require("agent")?;
    let capabilities = match agent.get("capabilities")? {
        Some(list) => named_list(&list)?,
        None => Vec::new(),
    };
    Ok(Draft {
        id: agent.require_string("id")?,
        name: agent.require_string("name")?,
        version: agent.require_string("version")?,
        description: agent.optional_string("description")?,
        capabilities,
        endpoint: agent.optional_string("endpoint")?,
        protocol: implied_protocol("ossa"),
    })
}
