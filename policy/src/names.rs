//! Tenant names: the identifier every later record (agent, policy set) is keyed by.
//!
//! A tenant name is used in gossip topics, Cedar entity ids and URL paths, so it is kept to a
//! DNS-label-like alphabet that needs no escaping anywhere: lowercase ASCII letters, digits,
//! `-`, `_` and `.`, starting with a letter or digit.

use thiserror::Error;

/// Longest tenant name accepted. 63 keeps a name usable as a DNS label and keeps registry keys
/// small; it is far above any name a person types.
pub const MAX_TENANT_NAME_LEN: usize = 63;

/// Why a name was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NameError {
    /// The name is empty.
    #[error("tenant name is empty")]
    Empty,
    /// The name is longer than [`MAX_TENANT_NAME_LEN`].
    #[error("tenant name is {len} bytes long; the limit is {MAX_TENANT_NAME_LEN}")]
    TooLong {
        /// Length of the refused name in bytes.
        len: usize,
    },
    /// The name contains a character outside the allowed alphabet.
    #[error("tenant name has {found:?} at position {position}; use lowercase letters, digits, '-', '_' or '.'")]
    BadCharacter {
        /// The offending character.
        found: char,
        /// Its character position (0-based).
        position: usize,
    },
    /// The name does not start with a letter or digit.
    #[error("tenant name must start with a lowercase letter or a digit")]
    BadStart,
}

/// Checks a tenant name against the rules in the module docs.
pub fn validate_tenant_name(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.len() > MAX_TENANT_NAME_LEN {
        return Err(NameError::TooLong { len: name.len() });
    }
    for (position, found) in name.chars().enumerate() {
        let allowed = found.is_ascii_lowercase() || found.is_ascii_digit() || "-_.".contains(found);
        if !allowed {
            return Err(NameError::BadCharacter { found, position });
        }
    }
    let first = name.chars().next().expect("checked non-empty above");
    if !(first.is_ascii_lowercase() || first.is_ascii_digit()) {
        return Err(NameError::BadStart);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_ordinary_names() {
        for name in ["acme", "acme-research", "team_7", "eu.west", "0day"] {
            assert_eq!(validate_tenant_name(name), Ok(()), "{name}");
        }
    }

    #[test]
    fn refuses_each_rule() {
        assert_eq!(validate_tenant_name(""), Err(NameError::Empty));
        assert_eq!(validate_tenant_name(&"a".repeat(64)), Err(NameError::TooLong { len: 64 }));
        assert_eq!(validate_tenant_name("Acme"), Err(NameError::BadCharacter { found: 'A', position: 0 }));
        assert_eq!(validate_tenant_name("a/b"), Err(NameError::BadCharacter { found: '/', position: 1 }));
        assert_eq!(validate_tenant_name("-acme"), Err(NameError::BadStart));
    }

    proptest! {
        #[test]
        fn accepted_names_only_use_the_alphabet(name in ".{0,80}") {
            if validate_tenant_name(&name).is_ok() {
                prop_assert!(name.len() <= MAX_TENANT_NAME_LEN);
                prop_assert!(name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c)));
            }
        }
    }
}
