//! Naming rules and the OSSA SAN URIs.
//!
//! Org and federation names become DNS-like labels, topic names and directory names, so they
//! follow one rule (1..=63 of `[a-z0-9-]`, no leading or trailing `-`). Certificates and CSRs
//! carry identity as SAN URIs `urn:ossa:<kind>:<value>`; [`ossa_uri`] builds them and
//! [`split_ossa_uri`] reads them back.

use crate::TrustError;

/// Longest org or federation name: one DNS label.
const MAX_NAME_LEN: usize = 63;

/// Longest accepted peer id string; libp2p ed25519 peer ids are 52 characters in base58.
const MAX_PEER_ID_LEN: usize = 128;

/// Prefix shared by every OSSA SAN URI.
const URI_PREFIX: &str = "urn:ossa:";

/// SAN URI kind naming the org.
pub(crate) const KIND_ORG: &str = "org";
/// SAN URI kind naming the libp2p peer id.
pub(crate) const KIND_PEER: &str = "peer";
/// SAN URI kind naming the federation.
pub(crate) const KIND_FEDERATION: &str = "federation";
/// SAN URI kind naming the role.
pub(crate) const KIND_ROLE: &str = "role";

/// Checks an org name: 1..=63 characters of `[a-z0-9-]`, not starting or ending with `-`.
pub fn validate_org_name(name: &str) -> Result<(), TrustError> {
    validate_name("org", name)
}

/// Checks a federation name with the same rule as [`validate_org_name`].
pub fn validate_federation_name(name: &str) -> Result<(), TrustError> {
    validate_name("federation", name)
}

fn validate_name(kind: &'static str, name: &str) -> Result<(), TrustError> {
    let reason = if name.is_empty() {
        Some("must not be empty")
    } else if name.len() > MAX_NAME_LEN {
        Some("must be at most 63 characters")
    } else if !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
        Some("only lowercase letters a-z, digits 0-9 and '-' are allowed")
    } else if name.starts_with('-') || name.ends_with('-') {
        Some("must not start or end with '-'")
    } else {
        None
    };
    match reason {
        Some(reason) => {
            Err(TrustError::InvalidName { kind, name: name.chars().take(MAX_NAME_LEN + 1).collect(), reason })
        }
        None => Ok(()),
    }
}

/// Checks that a peer id is 1..=128 ASCII letters or digits (base58 or base32 multihash).
pub(crate) fn validate_peer_id(peer_id: &str) -> Result<(), TrustError> {
    if peer_id.is_empty() || peer_id.len() > MAX_PEER_ID_LEN || !peer_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(TrustError::InvalidPeerId(peer_id.chars().take(MAX_PEER_ID_LEN + 1).collect()));
    }
    Ok(())
}

/// Builds the SAN URI `urn:ossa:<kind>:<value>`.
pub(crate) fn ossa_uri(kind: &str, value: &str) -> String {
    format!("{URI_PREFIX}{kind}:{value}")
}

/// Splits `urn:ossa:<kind>:<value>` into `(kind, value)`; `None` for any other URI.
pub(crate) fn split_ossa_uri(uri: &str) -> Option<(&str, &str)> {
    uri.strip_prefix(URI_PREFIX)?.split_once(':')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_org_names_pass() {
        for name in ["a", "acme", "acme-corp", "a1-b2", &"x".repeat(63)] {
            assert!(validate_org_name(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn bad_org_names_fail_with_reason() {
        let cases = [
            ("", "empty"),
            ("-acme", "start or end"),
            ("acme-", "start or end"),
            ("Acme", "lowercase"),
            ("ac me", "lowercase"),
            ("acmé", "lowercase"),
            ("a.b", "lowercase"),
            (&"x".repeat(64), "63"),
        ];
        for (name, why) in cases {
            let err = validate_org_name(name).expect_err(name);
            let text = err.to_string();
            assert!(text.contains(why) && text.contains("org"), "{name}: {text}");
        }
        assert!(validate_federation_name("Fed").is_err());
    }

    #[test]
    fn peer_ids_and_uris() {
        assert!(validate_peer_id("12D3KooWabc").is_ok());
        assert!(validate_peer_id("").is_err());
        assert!(validate_peer_id("12D3:x").is_err());
        assert!(validate_peer_id(&"a".repeat(129)).is_err());
        let uri = ossa_uri(KIND_ORG, "acme");
        assert_eq!(uri, "urn:ossa:org:acme");
        assert_eq!(split_ossa_uri(&uri), Some(("org", "acme")));
        assert_eq!(split_ossa_uri("https://x"), None);
    }
}
