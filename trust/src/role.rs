//! The role an org plays in the federation, as written into its certificate.
//!
//! The CA writes the role as the SAN URI `urn:ossa:role:<role>` when it admits an org; the
//! admission check reads it back. Stewards vote in Raft, members are learners.

use std::fmt;
use std::str::FromStr;

use crate::TrustError;

/// Role of an org in the federation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A voting Raft member.
    Steward,
    /// A non-voting member (Raft learner).
    Member,
}

impl Role {
    /// The lowercase name used in certificates, JSON and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Steward => "steward",
            Role::Member => "member",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = TrustError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "steward" => Ok(Role::Steward),
            "member" => Ok(Role::Member),
            other => Err(TrustError::InvalidRole(other.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_parse_agree() {
        for role in [Role::Steward, Role::Member] {
            assert_eq!(role.to_string().parse::<Role>().ok(), Some(role));
        }
        assert_eq!(Role::Steward.to_string(), "steward");
        assert!("Steward".parse::<Role>().is_err());
        assert!("".parse::<Role>().is_err());
    }
}
