//! The parts of an A2A agent card shared by v0.3 and v1.0.
//!
//! Read: `name` and `version` (required strings), `description` (optional), `id` (optional,
//! not in the A2A spec: when present it is the agent id, else the id is a slug of `name`, see
//! [`super::normalize::slug`]), and `skills` (required list), of which each skill's `id`
//! (required string) and `tags` (optional list of strings) become capabilities. The
//! `capabilities` object of a card (streaming, push notifications) describes the transport,
//! not what the agent can do, and is ignored like every other field.

use super::draft::{implied_protocol, Draft};
use super::error::ImportError;
use super::fields::{At, Located};
use super::normalize::slug;

/// Extracts an agent from an A2A card whose endpoint the version-specific importer found.
pub(crate) fn import(root: &At<'_>, endpoint: Located) -> Result<Draft, ImportError> {
    let name = root.require_string("name")?;
    let id = match root.optional_string("id")? {
        Some(id) => id,
        None => Located { path: name.path.clone(), value: slug(&name.value) },
    };
    let mut capabilities = Vec::new();
    for skill in root.require("skills")?.items()? {
        capabilities.push(skill.require_string("id")?);
        if let Some(tags) = skill.get("tags")? {
            for tag in tags.items()? {
                capabilities.push(tag.string()?);
            }
        }
    }
    Ok(Draft {
        id,
        version: root.require_string("version")?,
        description: root.optional_string("description")?,
        capabilities,
        endpoint: Some(endpoint),
        protocol: implied_protocol("a2a"),
        name,
    })
}
