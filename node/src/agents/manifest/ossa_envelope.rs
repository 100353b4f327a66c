//! OSSA manifests in the `apiVersion` / `kind: Agent` / `metadata` / `spec` envelope:
//! `ossa/v0.2.x`, `ossa/v0.3.x` and `ossa/v1`. The v0.4/v0.5 importer reuses the pieces.
//!
//! Read: `metadata.name` (required; it is both the agent id and its name),
//! `metadata.version` (required here), `metadata.description` (else `spec.description`),
//! `spec` (required here), `spec.endpoint` (optional URL) and capabilities from
//! `spec.taxonomy.capability`, `spec.tools[].capabilities` and `spec.capabilities`, where each
//! entry is a string or a mapping with `name`.

use serde_json::Value;

use super::draft::{implied_protocol, Draft};
use super::error::ImportError;
use super::fields::{named_list, named_one_or_list, At, Located};

/// Extracts the agent from an `ossa/v0.2.x`, `ossa/v0.3.x` or `ossa/v1` manifest.
pub(crate) fn import(root: &At<'_>) -> Result<Draft, ImportError> {
    let metadata = root.require("metadata")?;
    let spec = root.require("spec")?;
    let name = metadata.require_string("name")?;
    Ok(Draft {
        id: name.clone(),
        version: metadata.require_string("version")?,
        description: description(&metadata, Some(&spec))?,
        capabilities: capabilities(&spec)?,
        endpoint: spec.optional_string("endpoint")?,
        protocol: implied_protocol("ossa"),
        name,
    })
}

/// `metadata.description`, else `spec.description`.
pub(crate) fn description(metadata: &At<'_>, spec: Option<&At<'_>>) -> Result<Option<Located>, ImportError> {
    if let Some(text) = metadata.optional_string("description")? {
        return Ok(Some(text));
    }
    match spec {
        Some(spec) => spec.optional_string("description"),
        None => Ok(None),
    }
}

/// Capabilities from `spec.taxonomy.capability`, `spec.tools[].capabilities` and
/// `spec.capabilities`, in that order.
pub(crate) fn capabilities(spec: &At<'_>) -> Result<Vec<Located>, ImportError> {
    let mut found = Vec::new();
    if let Some(taxonomy) = spec.get("taxonomy")? {
        if let Some(capability) = taxonomy.get("capability")? {
            found.extend(named_one_or_list(&capability)?);
        }
    }
    if let Some(tools) = spec.get("tools")? {
        for tool in tools.items()? {
            match tool.value {
                // A bare tool name declares no capabilities.
                Value::String(_) => {}
                Value::Object(_) => {
                    if let Some(list) = tool.get("capabilities")? {
                        found.extend(named_list(&list)?);
                    }
                }
                _ => return Err(tool.wrong_type("a mapping or a tool name")),
            }
        }
    }
    if let Some(list) = spec.get("capabilities")? {
        found.extend(named_list(&list)?);
    }
    Ok(found)
}
