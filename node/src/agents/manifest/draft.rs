//! What a format importer extracts, before normalization and limits.

use super::fields::Located;

/// A protocol implied by the format rather than read from a field.
pub(crate) fn implied_protocol(name: &str) -> Located {
    Located { path: "(format)".to_owned(), value: name.to_owned() }
}

/// The fields of an agent as read from one manifest, each with the path it came from, so
/// that [`super::normalize`] can point at the field when a value breaks a limit.
#[derive(Debug, Clone)]
pub(crate) struct Draft {
    /// The agent id, explicit or derived.
    pub(crate) id: Located,
    /// Human-readable name.
    pub(crate) name: Located,
    /// Version string as written.
    pub(crate) version: Located,
    /// Optional description.
    pub(crate) description: Option<Located>,
    /// Capabilities as written (not yet trimmed, lowercased or deduplicated).
    pub(crate) capabilities: Vec<Located>,
    /// Where the agent is reached, if the manifest says.
    pub(crate) endpoint: Option<Located>,
    /// The protocol spoken at the endpoint (`ossa`, `a2a`, or as the manifest names it).
    pub(crate) protocol: Located,
}
