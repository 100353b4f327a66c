//! A2A agent cards v1.0: no top-level `url`; the endpoint is the `url` of the first entry of
//! `supportedInterfaces`, which the spec defines as the agent's preferred interface. Its
//! `protocolBinding` (or older `transport`) is not needed to list the agent and is ignored.

use super::a2a_card;
use super::draft::Draft;
use super::error::ImportError;
use super::fields::At;

/// Extracts the agent from an A2A v1.0 card.
pub(crate) fn import(root: &At<'_>) -> Result<Draft, ImportError> {
    let interfaces = root.require("supportedInterfaces")?;
    let items = interfaces.items()?;
    let Some(preferred) = items.first() else {
        return Err(ImportError::InvalidValue {
            path: interfaces.path,
            reason: "must list at least one interface".to_owned(),
        });
    };
    let endpoint = preferred.require_string("url")?;
    a2a_card::import(root, endpoint)
}
