//! Manifest import: OSSA manifests and A2A agent cards in, one [`ImportedAgent`] out.
//!
//! How the bytes flow through [`import`]:
//! 1. **Size**: more than [`MAX_MANIFEST_BYTES`] is refused before anything is parsed.
//! 2. **Digest**: SHA-256 of the exact input bytes, kept so a record (and a certification)
//!    can name the manifest it came from.
//! 3. **Syntax** (`parse.rs`, `value.rs`): UTF-8 text to a generic tree, as JSON or YAML 1.2;
//!    duplicate keys are refused. Syntax errors carry line and column.
//! 4. **Detection** (`detect.rs`): the format is decided from the fields, never the file name.
//! 5. **Extraction**: one importer per format reads only the fields it needs, with their
//!    paths (`ossa_legacy.rs`, `ossa_envelope.rs`, `ossa_v05.rs`, `a2a_v03.rs`, `a2a_v1.rs`,
//!    sharing `fields.rs` and `a2a_card.rs`).
//!    Unknown fields are ignored; a used field that is missing or of the wrong type is an
//!    error naming its path, e.g. `spec.tools[2].capabilities[0]`.
//! 6. **Normalization** (`normalize.rs`): trimming, lowercased/deduplicated/sorted
//!    capabilities, and the limits on id, capabilities, text and endpoint.
//!
//! The function is pure: the same bytes always give the same result. [`validate_strict`]
//! runs the same import and then checks the fields each format requires, for certification.

mod a2a_card;
mod a2a_v03;
mod a2a_v1;
mod detect;
mod draft;
mod error;
mod fields;
mod format;
mod normalize;
mod ossa_envelope;
mod ossa_legacy;
mod ossa_v05;
mod parse;
mod strict;
mod value;

use sha2::{Digest, Sha256};

pub use error::ImportError;
pub use format::{ManifestFormat, UnknownFormat};
pub use normalize::{
    is_valid_id, slug, MAX_CAPABILITIES, MAX_CAPABILITY_LEN, MAX_DESCRIPTION_LEN, MAX_ENDPOINT_LEN, MAX_ID_LEN,
    MAX_NAME_LEN, MAX_PROTOCOL_LEN, MAX_SLUG_LEN, MAX_VERSION_LEN,
};
pub use ossa_v05::DEFAULT_VERSION;
pub use strict::validate_strict;

/// Largest manifest accepted, in bytes. Real manifests and cards are a few KiB; 256 KiB leaves
/// room for long descriptions and many skills while bounding parse time and memory for input
/// that comes from operators and, through certification re-checks, from other orgs.
pub const MAX_MANIFEST_BYTES: usize = 256 * 1024;

/// One agent, as described by a manifest of any supported format, normalized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedAgent {
    /// The format the manifest was recognized as.
    pub format: ManifestFormat,
    /// The agent id: OSSA 0.1.x `agent.id`; OSSA envelope `metadata.name`; A2A: the card's
    /// `id` field if it has one (not part of the A2A spec), else [`slug`] of its `name`.
    /// ASCII letters, digits, `.`, `_`, `-`, at most [`MAX_ID_LEN`] bytes; case is kept.
    pub id: String,
    /// Human-readable name (trimmed, at most [`MAX_NAME_LEN`] bytes).
    pub name: String,
    /// Version as written (trimmed); [`DEFAULT_VERSION`] for OSSA v0.4/v0.5 manifests without one.
    pub version: String,
    /// Description, if the manifest has a non-empty one.
    pub description: Option<String>,
    /// Capabilities: trimmed, lowercased, deduplicated and sorted; at most [`MAX_CAPABILITIES`],
    /// each at most [`MAX_CAPABILITY_LEN`] bytes.
    pub capabilities: Vec<String>,
    /// Where the agent is reached: an http(s) URL without credentials, in normalized form.
    pub endpoint: Option<String>,
    /// Protocol spoken at the endpoint, lowercase: `ossa`, `a2a`, or the name an OSSA v0.4/v0.5
    /// `spec.protocols` entry gives.
    pub protocol: String,
    /// SHA-256 of the exact manifest bytes.
    pub digest: [u8; 32],
}

/// Imports a manifest: OSSA (0.1.x, v0.2/v0.3/v1, v0.4/v0.5) or A2A agent card (v0.3, v1.0).
///
/// `file_name_hint` never decides the format; it only chooses which parser's message to show
/// (JSON for `*.json`) when the text is neither valid JSON nor valid YAML.
pub fn import(bytes: &[u8], file_name_hint: Option<&str>) -> Result<ImportedAgent, ImportError> {
    if bytes.len() > MAX_MANIFEST_BYTES {
        return Err(ImportError::TooLarge { size: bytes.len(), limit: MAX_MANIFEST_BYTES });
    }
    let digest: [u8; 32] = Sha256::digest(bytes).into();
    let tree = parse::parse(bytes, file_name_hint)?;
    let format = detect::detect(&tree)?;
    let root = fields::At::root(&tree);
    let draft = match format {
        ManifestFormat::Ossa019 => ossa_legacy::import(&root)?,
        ManifestFormat::OssaV02 | ManifestFormat::OssaV03 | ManifestFormat::OssaV1 => ossa_envelope::import(&root)?,
        ManifestFormat::OssaV04 | ManifestFormat::OssaV05 => ossa_v05::import(&root)?,
        ManifestFormat::A2aV03 => a2a_v03::import(&root)?,
        ManifestFormat::A2aV1 => a2a_v1::import(&root)?,
    };
    normalize::normalize(draft, format, digest)
}

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
