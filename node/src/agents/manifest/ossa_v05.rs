//! OSSA `ossa/v0.4.x` and `ossa/v0.5.x` manifests: the v0.2 envelope with richer
//! `metadata` and an optional `spec.protocols`.
//!
//! Differences from [`super::ossa_envelope`]: `spec` and `metadata.version` are optional (a
//! missing version becomes [`DEFAULT_VERSION`]); the endpoint and protocol come from the
//! first entry of `spec.protocols` that declares an `endpoint` (or `url`), else from
//! `spec.endpoint` with protocol `ossa`. `spec.protocols` is either a list of mappings named
//! by `type` (or `name`), or a mapping from protocol name to its settings (read in key order).

use super::draft::{implied_protocol, Draft};
use super::error::ImportError;
use super::fields::{At, Located};
use super::ossa_envelope::{capabilities, description};

/// Version recorded when a v0.4/v0.5 manifest has no `metadata.version`: records need one,
/// and `0.0.0` sorts below every real release, so a later versioned manifest reads as newer.
pub const DEFAULT_VERSION: &str = "0.0.0";

/// Extracts the agent from an `ossa/v0.4.x` or `ossa/v0.5.x` manifest.
pub(crate) fn import(root: &At<'_>) -> Result<Draft, ImportError> {
    let metadata = root.require("metadata")?;
    let spec = root.get("spec")?;
    let name = metadata.require_string("name")?;
    let version = metadata
        .optional_string("version")?
        .unwrap_or_else(|| Located { path: metadata.child_path("version"), value: DEFAULT_VERSION.to_owned() });
    let (protocol, endpoint) = match &spec {
        Some(spec) => match first_protocol_endpoint(spec)? {
            Some(found) => found,
            None => (implied_protocol("ossa"), spec.optional_string("endpoint")?),
        },
        None => (implied_protocol("ossa"), None),
    };
    Ok(Draft {
        id: name.clone(),
        version,
        description: description(&metadata, spec.as_ref())?,
        capabilities: match &spec {
            Some(spec) => capabilities(spec)?,
            None => Vec::new(),
        },
        endpoint,
        protocol,
        name,
    })
}

/// The first protocol in `spec.protocols` that declares an endpoint.
fn first_protocol_endpoint(spec: &At<'_>) -> Result<Option<(Located, Option<Located>)>, ImportError> {
    let Some(protocols) = spec.get("protocols")? else {
        return Ok(None);
    };
    if protocols.value.is_object() {
        let map = protocols.value.as_object().into_iter().flatten();
        for (name, _) in map {
            let Some(entry) = protocols.get(name)? else { continue };
            if let Some(endpoint) = endpoint_of(&entry)? {
                return Ok(Some((Located { path: entry.path.clone(), value: name.clone() }, Some(endpoint))));
            }
        }
        return Ok(None);
    }
    for entry in protocols.items()? {
        if let Some(endpoint) = endpoint_of(&entry)? {
            let name = match entry.optional_string("type")? {
                Some(name) => name,
                None => entry.require_string("name")?,
            };
            return Ok(Some((name, Some(endpoint))));
        }
    }
    Ok(None)
}

/// The `endpoint` (or `url`) of one protocol entry. Entries that are not mappings (`- mcp`,
/// `mcp: true`) name a protocol without settings, so they declare no endpoint.
fn endpoint_of(entry: &At<'_>) -> Result<Option<Located>, ImportError> {
    if !entry.value.is_object() {
        return Ok(None);
    }
    match entry.optional_string("endpoint")? {
        Some(endpoint) => Ok(Some(endpoint)),
        None => entry.optional_string("url"),
    }
}
