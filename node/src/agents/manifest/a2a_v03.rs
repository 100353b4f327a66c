//! A2A agent cards v0.3 (and the v0.2.x cards shaped the same way): the endpoint is the
//! required top-level `url`; `preferredTransport` and `additionalInterfaces` are ignored.

use super::a2a_card;
use super::draft::Draft;
use super::error::ImportError;
use super::fields::At;

/// Extracts the agent from an A2A v0.3 card.
pub(crate) fn import(root: &At<'_>) -> Result<Draft, ImportError> {
    let endpoint = root.require_string("url")?;
    a2a_card::import(root, endpoint)
}
