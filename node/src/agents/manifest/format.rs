//! The manifest formats the importer understands, with stable names.

use std::fmt;
use std::str::FromStr;

/// A supported manifest format. [`ManifestFormat::as_str`] is stable: it may be stored in
/// records and shown to users, so existing names never change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ManifestFormat {
    /// OSSA 0.1.x: `ossaVersion: "0.1.9"` and an `agent` mapping.
    Ossa019,
    /// OSSA `apiVersion: ossa/v0.2.x`, `kind: Agent`, `metadata`, `spec`.
    OssaV02,
    /// OSSA `apiVersion: ossa/v0.3.x`, same envelope as v0.2.
    OssaV03,
    /// OSSA `apiVersion: ossa/v1` (or `v1.x`), same envelope as v0.2.
    OssaV1,
    /// OSSA `apiVersion: ossa/v0.4.x`: the envelope with richer metadata and `spec.protocols`.
    OssaV04,
    /// OSSA `apiVersion: ossa/v0.5.x`: as v0.4.
    OssaV05,
    /// A2A agent card v0.3 (top-level `url`).
    A2aV03,
    /// A2A agent card v1.0 (`supportedInterfaces`).
    A2aV1,
}

impl ManifestFormat {
    /// Every format, in a fixed order.
    pub const ALL: [ManifestFormat; 8] = [
        Self::Ossa019,
        Self::OssaV02,
        Self::OssaV03,
        Self::OssaV1,
        Self::OssaV04,
        Self::OssaV05,
        Self::A2aV03,
        Self::A2aV1,
    ];

    /// The stable name, e.g. `"ossa/0.1.9"`, `"ossa/v0.2"`, `"a2a/0.3"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ossa019 => "ossa/0.1.9",
            Self::OssaV02 => "ossa/v0.2",
            Self::OssaV03 => "ossa/v0.3",
            Self::OssaV1 => "ossa/v1",
            Self::OssaV04 => "ossa/v0.4",
            Self::OssaV05 => "ossa/v0.5",
            Self::A2aV03 => "a2a/0.3",
            Self::A2aV1 => "a2a/1.0",
        }
    }

    /// The protocol family: `"ossa"` or `"a2a"`.
    pub fn family(self) -> &'static str {
        match self {
            Self::A2aV03 | Self::A2aV1 => "a2a",
            _ => "ossa",
        }
    }
}

impl fmt::Display for ManifestFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not one of [`ManifestFormat::as_str`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown manifest format `{0}`")]
pub struct UnknownFormat(pub String);

impl FromStr for ManifestFormat {
    type Err = UnknownFormat;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|f| f.as_str() == s).ok_or_else(|| UnknownFormat(s.to_owned()))
    }
}
