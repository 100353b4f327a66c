//! Reading OSSA identity fields out of parsed X.509 structures.
//!
//! Shared by the CSR check ([`crate::inspect_csr`]) and the certificate checks
//! ([`crate::verify_org_cert`], [`crate::parse_org_cert_pem`]): each caller hands in the
//! x509-parser view of a subject, public key or SAN list and gets plain values back, or a
//! message saying what is wrong, which it wraps in its own error type.

use x509_parser::extensions::GeneralName;
use x509_parser::oid_registry::OID_SIG_ED25519;
use x509_parser::x509::{SubjectPublicKeyInfo, X509Name};

use crate::names::{split_ossa_uri, KIND_FEDERATION, KIND_ORG, KIND_PEER, KIND_ROLE};

/// The `urn:ossa:<kind>:<value>` SAN URI values found in a SAN list, at most one per kind.
#[derive(Debug, Default)]
pub(crate) struct OssaUris {
    pub(crate) org: Option<String>,
    pub(crate) peer: Option<String>,
    pub(crate) federation: Option<String>,
    pub(crate) role: Option<String>,
}

/// Collects the OSSA SAN URIs. Refuses non-URI names, non-OSSA URIs, kinds outside
/// `allowed` and duplicate kinds.
pub(crate) fn collect_uris<'a>(
    names: impl IntoIterator<Item = &'a GeneralName<'a>>,
    allowed: &[&str],
) -> Result<OssaUris, String> {
    let mut uris = OssaUris::default();
    for name in names {
        let GeneralName::URI(uri) = name else {
            return Err(format!("unexpected subject alternative name {name}"));
        };
        let Some((kind, value)) = split_ossa_uri(uri) else {
            return Err(format!("unexpected SAN URI {uri:?}"));
        };
        let slot = match kind {
            _ if !allowed.contains(&kind) => None,
            KIND_ORG => Some(&mut uris.org),
            KIND_PEER => Some(&mut uris.peer),
            KIND_FEDERATION => Some(&mut uris.federation),
            KIND_ROLE => Some(&mut uris.role),
            _ => None,
        };
        let Some(slot) = slot else {
            return Err(format!("unexpected SAN URI kind {kind:?}"));
        };
        if slot.replace(value.to_string()).is_some() {
            return Err(format!("more than one urn:ossa:{kind} SAN URI"));
        }
    }
    Ok(uris)
}

/// Returns the subject's common name, requiring the subject to be exactly one CN.
pub(crate) fn single_common_name(subject: &X509Name<'_>) -> Result<String, String> {
    let mut attributes = subject.iter_attributes();
    let (Some(first), None) = (attributes.next(), attributes.next()) else {
        return Err("subject must be exactly one common name (CN)".into());
    };
    if first.attr_type() != &x509_parser::oid_registry::OID_X509_COMMON_NAME {
        return Err("subject must be exactly one common name (CN)".into());
    }
    first.as_str().map(str::to_string).map_err(|e| format!("subject CN is not a string: {e}"))
}

/// Returns the raw 32-byte key of an ed25519 SubjectPublicKeyInfo; other key types are refused.
pub(crate) fn ed25519_key(spki: &SubjectPublicKeyInfo<'_>) -> Result<[u8; 32], String> {
    if spki.algorithm.algorithm != OID_SIG_ED25519 || spki.algorithm.parameters.is_some() {
        return Err(format!("public key algorithm {} is not ed25519", spki.algorithm.algorithm));
    }
    if spki.subject_public_key.unused_bits != 0 {
        return Err("ed25519 public key has unused bits".into());
    }
    <[u8; 32]>::try_from(spki.subject_public_key.data.as_ref())
        .map_err(|_| format!("ed25519 public key is {} bytes, expected 32", spki.subject_public_key.data.len()))
}
