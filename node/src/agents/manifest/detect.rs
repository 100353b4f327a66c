//! Which format a parsed document is, decided by its fields alone (never the file name).
//!
//! Rules, in order:
//! 1. The top level must be a mapping.
//! 2. `ossaVersion` present: OSSA 0.1.x (it must be a string starting `0.1`). Having
//!    `apiVersion` as well is ambiguous and refused.
//! 3. `apiVersion` present: it must be `ossa/v0.2[.x]`, `ossa/v0.3[.x]`, `ossa/v1[.x]`,
//!    `ossa/v0.4[.x]` or `ossa/v0.5[.x]`, and `kind` must be `Agent`.
//! 4. Any A2A card marker present (`skills`, `supportedInterfaces`, `protocolVersion`,
//!    `defaultInputModes`, `defaultOutputModes`): an A2A card, v1.0 if it has
//!    `supportedInterfaces`, else v0.3 (whose endpoint is the top-level `url`).
//! 5. Otherwise the shape is unknown.

use serde_json::Value;

use super::error::ImportError;
use super::fields::{kind_of, At};
use super::format::ManifestFormat;

/// Top-level fields that only A2A agent cards have.
const A2A_MARKERS: [&str; 5] =
    ["skills", "supportedInterfaces", "protocolVersion", "defaultInputModes", "defaultOutputModes"];

/// Decides the format of a parsed document.
pub(crate) fn detect(root: &Value) -> Result<ManifestFormat, ImportError> {
    let Some(map) = root.as_object() else {
        return Err(ImportError::UnknownShape {
            reason: format!("the top level is {}, expected a mapping of fields", kind_of(root)),
        });
    };
    let top = At::root(root);
    let has = |key: &str| map.get(key).is_some_and(|v| !v.is_null());
    if has("ossaVersion") {
        if has("apiVersion") {
            return Err(ImportError::UnknownShape {
                reason: "both `ossaVersion` and `apiVersion` are set; an OSSA manifest has one of them".to_owned(),
            });
        }
        let version = top.require_string("ossaVersion")?;
        return if version.value.trim().starts_with("0.1") {
            Ok(ManifestFormat::Ossa019)
        } else {
            Err(ImportError::InvalidValue {
                path: version.path,
                reason: format!(
                    "unsupported OSSA version `{}`: `ossaVersion` manifests must be 0.1.x; newer ones use `apiVersion: ossa/v...`",
                    version.value
                ),
            })
        };
    }
    if has("apiVersion") {
        let api = top.require_string("apiVersion")?;
        let format = ossa_api_version(api.value.trim()).ok_or_else(|| ImportError::InvalidValue {
            path: api.path.clone(),
            reason: format!(
                "unsupported `{}`: expected ossa/v0.2.x, ossa/v0.3.x, ossa/v0.4.x, ossa/v0.5.x or ossa/v1",
                api.value
            ),
        })?;
        let kind = top.require_string("kind")?;
        if kind.value != "Agent" {
            return Err(ImportError::InvalidValue {
                path: kind.path,
                reason: format!("only `kind: Agent` manifests describe an agent, found `{}`", kind.value),
            });
        }
        return Ok(format);
    }
    if A2A_MARKERS.iter().any(|key| has(key)) {
        return Ok(if has("supportedInterfaces") { ManifestFormat::A2aV1 } else { ManifestFormat::A2aV03 });
    }
    Err(ImportError::UnknownShape {
        reason: "expected an OSSA manifest (`ossaVersion` or `apiVersion: ossa/...`) or an A2A agent card (`name`, `skills`, ...)"
            .to_owned(),
    })
}

/// The format named by an OSSA `apiVersion`, e.g. `ossa/v0.2.3` or `ossa/v1`.
fn ossa_api_version(api_version: &str) -> Option<ManifestFormat> {
    let version = api_version.strip_prefix("ossa/")?.strip_prefix('v')?;
    let mut parts = version.split('.');
    let major = parts.next()?;
    let minor = parts.next();
    match (major, minor) {
        ("1", _) => Some(ManifestFormat::OssaV1),
        ("0", Some("2")) => Some(ManifestFormat::OssaV02),
        ("0", Some("3")) => Some(ManifestFormat::OssaV03),
        ("0", Some("4")) => Some(ManifestFormat::OssaV04),
        ("0", Some("5")) => Some(ManifestFormat::OssaV05),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_versions_map_to_formats() {
        assert_eq!(ossa_api_version("ossa/v0.2.3"), Some(ManifestFormat::OssaV02));
        assert_eq!(ossa_api_version("ossa/v0.2"), Some(ManifestFormat::OssaV02));
        assert_eq!(ossa_api_version("ossa/v0.3.5"), Some(ManifestFormat::OssaV03));
        assert_eq!(ossa_api_version("ossa/v1"), Some(ManifestFormat::OssaV1));
        assert_eq!(ossa_api_version("ossa/v1.0.0"), Some(ManifestFormat::OssaV1));
        assert_eq!(ossa_api_version("ossa/v0.4.1"), Some(ManifestFormat::OssaV04));
        assert_eq!(ossa_api_version("ossa/v0.5.x"), Some(ManifestFormat::OssaV05));
        assert_eq!(ossa_api_version("ossa/v0.1.9"), None);
        assert_eq!(ossa_api_version("ossa/v2"), None);
        assert_eq!(ossa_api_version("apps/v1"), None);
        assert_eq!(ossa_api_version("ossa/0.2"), None);
    }

    #[test]
    fn a2a_version_is_decided_by_supported_interfaces() {
        let v1 = serde_json::json!({"name": "x", "skills": [], "supportedInterfaces": []});
        let v03 = serde_json::json!({"name": "x", "skills": [], "url": "https://a"});
        assert_eq!(detect(&v1), Ok(ManifestFormat::A2aV1));
        assert_eq!(detect(&v03), Ok(ManifestFormat::A2aV03));
    }
}
