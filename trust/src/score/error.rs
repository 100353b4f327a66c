//! Why the ledger refused an observation or penalty ([`Refusal`]), and why a configuration was
//! rejected ([`TrustConfigError`]).
//!
//! A refusal is not a failure of the node: replays and stale gossip are expected, so the
//! caller counts them by [`Refusal::reason`] and moves on. The ledger is unchanged by any
//! refused input.

/// Why [`TrustLedger::record`](crate::TrustLedger::record) or
/// [`TrustLedger::record_penalty`](crate::TrustLedger::record_penalty) refused its input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The observer (or reporter) is the subject: an org may not rate itself.
    #[error("an org may not rate itself")]
    SelfRating,
    /// This (observer, sequence) or (reporter, subject, evidence id) was already recorded.
    #[error("already recorded")]
    Duplicate,
    /// The sequence lies at or below the observer's highest sequence minus the replay window.
    #[error("sequence {sequence} is stale: the observer's highest is {highest}")]
    Stale {
        /// The refused sequence.
        sequence: u64,
        /// The highest sequence seen from this observer.
        highest: u64,
    },
    /// The observation is older than the decay horizon and would count zero.
    #[error("older than the decay horizon")]
    TooOld,
    /// The observation's time lies beyond the allowed clock skew in the future.
    #[error("time lies in the future")]
    FromFuture,
    /// The reporter already has the maximum number of penalties on record against the subject.
    #[error("too many penalties from this reporter against this subject")]
    TooManyPenalties,
    /// A name or id is empty or longer than its limit.
    #[error("invalid {0}: empty or too long")]
    InvalidField(&'static str),
}

impl Refusal {
    /// A short, stable label for this refusal, used as a metrics label.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::SelfRating => "self_rating",
            Self::Duplicate => "duplicate",
            Self::Stale { .. } => "stale",
            Self::TooOld => "too_old",
            Self::FromFuture => "from_future",
            Self::TooManyPenalties => "too_many_penalties",
            Self::InvalidField(_) => "invalid_field",
        }
    }
}

/// A [`TrustConfig`](crate::TrustConfig) field is out of range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid trust setting {field}: {reason}")]
pub struct TrustConfigError {
    /// The offending field, as named in `node.toml`.
    pub field: &'static str,
    /// The accepted range.
    pub reason: &'static str,
}
