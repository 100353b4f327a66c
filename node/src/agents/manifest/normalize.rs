//! From a format's [`Draft`] to the normalized [`ImportedAgent`]: trimming, case folding,
//! deduplication and the limits every imported agent must meet, whatever its format.
//!
//! The limits keep a signed agent record small and its fields safe to show, index and use
//! as keys; a value over a limit is refused (with the field's path), never silently cut.
//! They are in bytes of UTF-8, the unit the record verifier counts
//! ([`crate::agents::record::verify_record`] checks the same limits), so every agent that
//! imports makes a record that fits [`crate::agents::record::MAX_SIGNED_RECORD`].

use std::collections::BTreeSet;

use super::draft::Draft;
use super::error::ImportError;
use super::fields::Located;
use super::format::ManifestFormat;
use super::ImportedAgent;

/// Longest agent id, in bytes. Ids are directory keys and CLI arguments; 128 fits reverse-DNS
/// style ids (`com.example.billing.invoice-reviewer`) with room to spare.
pub const MAX_ID_LEN: usize = 128;

/// Longest id derived from an A2A card's name. Shorter than [`MAX_ID_LEN`] so a derived id
/// stays readable; names differing only after 64 characters need an explicit `id`.
pub const MAX_SLUG_LEN: usize = 64;

/// Most distinct capabilities per agent. Records are gossiped to every node and indexed by
/// capability; real agents list a few to a few dozen.
pub const MAX_CAPABILITIES: usize = 64;

/// Longest capability, in bytes: room for namespaced names such as taxonomy paths.
pub const MAX_CAPABILITY_LEN: usize = 128;

/// Longest agent name, in bytes.
pub const MAX_NAME_LEN: usize = 256;

/// Longest version string, in bytes (semver with pre-release and build metadata).
pub const MAX_VERSION_LEN: usize = 64;

/// Longest description, in bytes: a paragraph, not a manual, since every node stores it.
pub const MAX_DESCRIPTION_LEN: usize = 4096;

/// Longest endpoint URL in its normalized form, in bytes (the common practical URL limit).
pub const MAX_ENDPOINT_LEN: usize = 2048;

/// Longest protocol name, in bytes (`ossa`, `a2a`, `mcp`, `openai-assistants`...).
pub const MAX_PROTOCOL_LEN: usize = 32;

/// Applies normalization and limits to what a format importer read.
pub(crate) fn normalize(draft: Draft, format: ManifestFormat, digest: [u8; 32]) -> Result<ImportedAgent, ImportError> {
    Ok(ImportedAgent {
        format,
        id: id(&draft.id)?,
        name: bounded_text(&draft.name, MAX_NAME_LEN)?,
        version: bounded_text(&draft.version, MAX_VERSION_LEN)?,
        description: match &draft.description {
            Some(text) if !text.value.trim().is_empty() => Some(bounded_text(text, MAX_DESCRIPTION_LEN)?),
            _ => None,
        },
        capabilities: capabilities(&draft.capabilities)?,
        endpoint: draft.endpoint.as_ref().map(endpoint).transpose()?,
        protocol: protocol(&draft.protocol)?,
        digest,
    })
}

/// A URL-safe id from a display name: lowercase ASCII letters and digits, every other run of
/// characters turned into one `-`, no leading or trailing `-`, at most [`MAX_SLUG_LEN`] bytes.
/// `"Acme Invoice Reviewer (EU)"` becomes `"acme-invoice-reviewer-eu"`. May be empty when the
/// name has no ASCII letter or digit.
pub fn slug(name: &str) -> String {
    let mut out = String::new();
    let mut dash = false;
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            if dash && !out.is_empty() {
                out.push('-');
            }
            dash = false;
            out.push(c.to_ascii_lowercase());
        } else {
            dash = true;
        }
    }
    out.truncate(MAX_SLUG_LEN);
    out.trim_end_matches('-').to_owned()
}

/// Whether `value` is a valid agent id as import accepts it (already trimmed): what a
/// record or certification received from a peer must hold too.
pub fn is_valid_id(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= MAX_ID_LEN
        && value.starts_with(|c: char| c.is_ascii_alphanumeric())
        && value.chars().all(is_id_char)
}

fn is_id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

/// Checks an id: 1 to [`MAX_ID_LEN`] bytes of ASCII letters, digits, `.`, `_` and `-`,
/// starting with a letter or digit. Case is kept.
fn id(id: &Located) -> Result<String, ImportError> {
    let value = id.value.trim();
    let invalid = |reason: String| ImportError::InvalidValue { path: id.path.clone(), reason };
    if value.is_empty() {
        return Err(invalid("the agent id is empty (for an A2A card without `id`, the name has no ASCII letter or digit to derive one from; add an `id` field)".to_owned()));
    }
    if value.len() > MAX_ID_LEN {
        return Err(invalid(format!("the agent id is {} bytes, over the limit of {MAX_ID_LEN}", value.len())));
    }
    if !value.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(invalid(format!("the agent id `{value}` must start with an ASCII letter or digit")));
    }
    if let Some(bad) = value.chars().find(|c| !is_id_char(*c)) {
        return Err(invalid(format!(
            "the agent id `{value}` contains {bad:?}; allowed are ASCII letters, digits, `.`, `_` and `-`"
        )));
    }
    Ok(value.to_owned())
}

/// Trims a free-text field and checks it is non-empty, short enough and free of control
/// characters (line breaks and tabs are allowed).
fn bounded_text(text: &Located, max_len: usize) -> Result<String, ImportError> {
    let value = text.value.trim();
    let invalid = |reason: String| ImportError::InvalidValue { path: text.path.clone(), reason };
    if value.is_empty() {
        return Err(invalid("must not be empty".to_owned()));
    }
    if value.len() > max_len {
        return Err(invalid(format!("is {} bytes long, over the limit of {max_len}", value.len())));
    }
    if value.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\t' | '\r')) {
        return Err(invalid("contains a control character".to_owned()));
    }
    Ok(value.to_owned())
}

/// Trims, lowercases, deduplicates and sorts capabilities, checking each and their count.
fn capabilities(raw: &[Located]) -> Result<Vec<String>, ImportError> {
    let mut set = BTreeSet::new();
    for capability in raw {
        let value = capability.value.trim().to_lowercase();
        let invalid = |reason: String| ImportError::InvalidValue { path: capability.path.clone(), reason };
        if value.is_empty() {
            return Err(invalid("a capability must not be empty".to_owned()));
        }
        if value.len() > MAX_CAPABILITY_LEN {
            return Err(invalid(format!(
                "the capability is {} bytes long, over the limit of {MAX_CAPABILITY_LEN}",
                value.len()
            )));
        }
        if value.chars().any(char::is_control) {
            return Err(invalid("a capability must not contain control characters".to_owned()));
        }
        set.insert(value);
        if set.len() > MAX_CAPABILITIES {
            return Err(invalid(format!("more than {MAX_CAPABILITIES} distinct capabilities")));
        }
    }
    Ok(set.into_iter().collect())
}

/// Checks an endpoint is an absolute `http` or `https` URL with a host and no credentials, and
/// returns it in the URL parser's normalized form (so equal URLs compare equal).
fn endpoint(endpoint: &Located) -> Result<String, ImportError> {
    let value = endpoint.value.trim();
    let invalid = |reason: String| ImportError::InvalidValue { path: endpoint.path.clone(), reason };
    let too_long = |len: usize| invalid(format!("the endpoint is {len} bytes, over the limit of {MAX_ENDPOINT_LEN}"));
    if value.len() > MAX_ENDPOINT_LEN {
        return Err(too_long(value.len()));
    }
    let url = url::Url::parse(value).map_err(|e| invalid(format!("`{value}` is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(format!("the endpoint must be an http(s) URL, found scheme `{}`", url.scheme())));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid(format!("the endpoint `{value}` has no host")));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("the endpoint must not carry credentials (it is published to every node)".to_owned()));
    }
    // Normalizing percent-encodes what a URL may not hold raw, which can lengthen it.
    let normalized = url.to_string();
    if normalized.len() > MAX_ENDPOINT_LEN {
        return Err(too_long(normalized.len()));
    }
    Ok(normalized)
}

/// Lowercases a protocol name and checks it: 1 to [`MAX_PROTOCOL_LEN`] of `a-z`, `0-9`,
/// `+`, `.`, `_` and `-`.
fn protocol(protocol: &Located) -> Result<String, ImportError> {
    let value = protocol.value.trim().to_ascii_lowercase();
    let ok = !value.is_empty()
        && value.len() <= MAX_PROTOCOL_LEN
        && value.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '+' | '.' | '_' | '-'));
    if ok {
        Ok(value)
    } else {
        Err(ImportError::InvalidValue {
            path: protocol.path.clone(),
            reason: format!(
                "protocol name `{}` must be 1 to {MAX_PROTOCOL_LEN} of a-z, 0-9, `+`, `.`, `_`, `-`",
                protocol.value
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(value: &str) -> Located {
        Located { path: "x".to_owned(), value: value.to_owned() }
    }

    #[test]
    fn slugs_are_lowercase_dashed_and_bounded() {
        assert_eq!(slug("Acme Invoice Reviewer (EU)"), "acme-invoice-reviewer-eu");
        assert_eq!(slug("  --Hello__World--  "), "hello-world");
        assert_eq!(slug("日本語"), "");
        assert_eq!(slug(&"a-".repeat(100)).len(), MAX_SLUG_LEN - 1);
        assert!(!slug(&"ab ".repeat(100)).ends_with('-'));
    }

    #[test]
    fn ids_are_checked() {
        assert_eq!(id(&at(" com.acme.reviewer_2 ")), Ok("com.acme.reviewer_2".to_owned()));
        assert!(id(&at("-lead")).is_err());
        assert!(id(&at("has space")).is_err());
        assert!(id(&at("")).is_err());
        assert!(id(&at(&"a".repeat(MAX_ID_LEN + 1))).is_err());
        assert!(id(&at(&"a".repeat(MAX_ID_LEN))).is_ok());
        // The same rule for ids received from peers.
        for good in ["com.acme.reviewer_2", "a", &"a".repeat(MAX_ID_LEN)] {
            assert!(is_valid_id(good), "{good}");
        }
        for bad in ["-lead", "has space", "", " a", "a\0b", &"a".repeat(MAX_ID_LEN + 1)] {
            assert!(!is_valid_id(bad), "{bad:?}");
        }
    }

    #[test]
    fn capabilities_are_normalized_and_limited() {
        let raw = [at(" Summarize "), at("translate"), at("SUMMARIZE"), at("Code Review")];
        assert_eq!(capabilities(&raw), Ok(vec!["code review".into(), "summarize".into(), "translate".into()]));
        assert!(capabilities(&[at("  ")]).is_err());
        assert!(capabilities(&[at(&"c".repeat(MAX_CAPABILITY_LEN + 1))]).is_err());
        assert!(capabilities(&[at(&"c".repeat(MAX_CAPABILITY_LEN))]).is_ok());
        let many: Vec<_> = (0..=MAX_CAPABILITIES).map(|i| at(&format!("cap-{i}"))).collect();
        assert!(capabilities(&many).is_err());
        assert!(capabilities(&many[..MAX_CAPABILITIES]).is_ok());
    }

    #[test]
    fn endpoints_must_be_plain_http_urls() {
        assert_eq!(endpoint(&at("https://agents.example.com/a2a/v1")), Ok("https://agents.example.com/a2a/v1".into()));
        assert_eq!(endpoint(&at("http://10.0.0.7:8080")), Ok("http://10.0.0.7:8080/".into()));
        for bad in ["ftp://x.example", "file:///etc/passwd", "not a url", "https://user:pw@x.example/", "/relative"] {
            assert!(endpoint(&at(bad)).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn protocols_are_lowercased_and_checked() {
        assert_eq!(protocol(&at("A2A")), Ok("a2a".into()));
        assert!(protocol(&at("a b")).is_err());
        assert!(protocol(&at("")).is_err());
    }
}
