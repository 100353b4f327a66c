//! Settings of the trust score and the circuit breaker, as they appear under `[trust]` in a
//! node's `node.toml`. Every field has a default; [`TrustConfig::validate`] rejects values the
//! fixed-point arithmetic cannot honour.
//!
//! Ratios are integers (per mille, bit counts) so that the whole score path stays integer.

use serde::{Deserialize, Serialize};

use super::error::TrustConfigError;
use super::MAX_SCORE;

/// How observations are weighed and how global trust is computed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrustConfig {
    /// Half-life of an observation's weight, in seconds. Seven days: a week-old failure counts
    /// half, so an org that fixes a problem recovers within a few weeks, while one bad day
    /// does not vanish overnight.
    pub half_life_secs: u64,
    /// Evidence older than this many half-lives counts zero and is dropped by
    /// [`TrustLedger::prune`](crate::TrustLedger::prune). Sixteen half-lives leave a weight
    /// below 1/65536 behind, and bound the buckets kept per pair to 17.
    pub horizon_half_lives: u32,
    /// How far in the future (by the local clock) an observation's time may lie, in seconds.
    /// Five minutes absorbs clock skew between honest nodes.
    pub max_future_skew_secs: u64,
    /// Replay window per observer, in sequence numbers (a multiple of 64). An observation whose
    /// sequence is at or below `highest seen - replay_window` is refused as stale; within the
    /// window a bitmap remembers which sequences were seen (512 bytes per observer at 4096).
    pub replay_window: u64,
    /// `k`: a policy violation weighs as much as this many failures. Five: a violation is a
    /// breach of trust, not an outage.
    pub violation_weight: u32,
    /// A penalty (equivocation or invalid signature) reported by an org about another weighs as
    /// much as this many failures in the reporter's opinion. Fifty: ten violations.
    pub penalty_weight: u32,
    /// `a`, the weight of the pre-trusted stewards in global trust, in thousandths. 150 is
    /// EigenTrust's and PageRank's customary 0.15: fast convergence (the error shrinks by 0.85
    /// per round) and a damping that caps what collusion can gain.
    pub alpha_permille: u32,
    /// Upper bound on power-iteration rounds. 200 rounds shrink the error by 0.85^200 < 2^-46,
    /// below the convergence threshold, so the bound only stops pathological inputs.
    pub max_iterations: u32,
    /// Iteration stops when the L1 change between two rounds is below `2^-convergence_bits`
    /// of the total trust. 32 bits: far below one score point for federations of any size.
    pub convergence_bits: u32,
    /// How many observations an agent's org score is worth when it is blended with the agent's
    /// own observations. Ten: an agent's own record dominates after about ten interactions.
    pub agent_prior_weight: u32,
    /// The circuit breaker's thresholds.
    pub breaker: BreakerConfig,
}

impl Default for TrustConfig {
    fn default() -> Self {
        Self {
            half_life_secs: 7 * 24 * 3600,
            horizon_half_lives: 16,
            max_future_skew_secs: 300,
            replay_window: 4096,
            violation_weight: 5,
            penalty_weight: 50,
            alpha_permille: 150,
            max_iterations: 200,
            convergence_bits: 32,
            agent_prior_weight: 10,
            breaker: BreakerConfig::default(),
        }
    }
}

/// When the circuit breaker quarantines and releases an org or agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BreakerConfig {
    /// A subject whose score falls below this is quarantined (given enough evidence). 200 is
    /// well under the 500 an org with an average share scores.
    pub quarantine_below: u16,
    /// A quarantined subject is released when its score reaches this. Higher than
    /// `quarantine_below` so that a score hovering at the threshold does not flap.
    pub release_at: u16,
    /// Minimum decayed number of observations and penalties about a subject before it can be
    /// quarantined: a newcomer nobody has reported on is unknown, not bad.
    pub min_evidence: u32,
    /// Minimum decayed number of failures, violations and penalties about a subject before it
    /// can be quarantined: an org with a clean record is never quarantined just because few
    /// trusted orgs have dealt with it yet.
    pub min_adverse: u32,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self { quarantine_below: 200, release_at: 400, min_evidence: 5, min_adverse: 1 }
    }
}

/// Largest accepted half-life: ten years in seconds.
const MAX_HALF_LIFE_SECS: u64 = 10 * 366 * 24 * 3600;
/// Largest replay window: 2^20 sequences, 128 KiB of bitmap per observer.
const MAX_REPLAY_WINDOW: u64 = 1 << 20;
/// Largest iteration bound; anything above only delays a pathological computation.
const MAX_ITERATIONS: u32 = 10_000;
/// Convergence finer than 2^-60 is below the rounding of Q63 sums over many orgs.
const MAX_CONVERGENCE_BITS: u32 = 60;
/// Weights above this could overflow the i128 intermediates in no realistic case, but they
/// make no sense either.
const MAX_WEIGHT: u32 = 1_000_000;

impl TrustConfig {
    /// Checks every field against the range the arithmetic supports.
    pub fn validate(&self) -> Result<(), TrustConfigError> {
        let bad = |field, reason| Err(TrustConfigError { field, reason });
        if self.half_life_secs == 0 || self.half_life_secs > MAX_HALF_LIFE_SECS {
            return bad("half_life_secs", "must be between 1 second and 10 years");
        }
        if self.horizon_half_lives == 0 || self.horizon_half_lives > 63 {
            return bad("horizon_half_lives", "must be between 1 and 63");
        }
        if self.max_future_skew_secs > MAX_HALF_LIFE_SECS {
            return bad("max_future_skew_secs", "must be at most 10 years");
        }
        if self.replay_window == 0 || !self.replay_window.is_multiple_of(64) || self.replay_window > MAX_REPLAY_WINDOW {
            return bad("replay_window", "must be a multiple of 64 between 64 and 1048576");
        }
        if self.violation_weight > MAX_WEIGHT {
            return bad("violation_weight", "must be at most 1000000");
        }
        if self.penalty_weight > MAX_WEIGHT {
            return bad("penalty_weight", "must be at most 1000000");
        }
        if self.alpha_permille == 0 || self.alpha_permille > 1000 {
            return bad("alpha_permille", "must be between 1 and 1000");
        }
        if self.max_iterations == 0 || self.max_iterations > MAX_ITERATIONS {
            return bad("max_iterations", "must be between 1 and 10000");
        }
        if self.convergence_bits == 0 || self.convergence_bits > MAX_CONVERGENCE_BITS {
            return bad("convergence_bits", "must be between 1 and 60");
        }
        if self.agent_prior_weight > MAX_WEIGHT {
            return bad("agent_prior_weight", "must be at most 1000000");
        }
        self.breaker.validate()
    }

    /// The half-life in milliseconds (valid after [`TrustConfig::validate`]).
    pub(crate) fn half_life_ms(&self) -> u64 {
        self.half_life_secs.saturating_mul(1000)
    }
}

impl BreakerConfig {
    /// Checks that the thresholds are scores and that release lies above quarantine.
    pub fn validate(&self) -> Result<(), TrustConfigError> {
        let bad = |field, reason| Err(TrustConfigError { field, reason });
        if self.release_at > MAX_SCORE {
            return bad("breaker.release_at", "must be at most 1000");
        }
        if self.release_at <= self.quarantine_below {
            return bad("breaker.release_at", "must be above breaker.quarantine_below");
        }
        if self.min_evidence > MAX_WEIGHT || self.min_adverse > MAX_WEIGHT {
            return bad("breaker.min_evidence", "evidence minimums must be at most 1000000");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_round_trip() {
        let config = TrustConfig::default();
        config.validate().expect("defaults are valid");
        let text = toml::to_string(&config).expect("serialize");
        assert_eq!(toml::from_str::<TrustConfig>(&text).expect("parse"), config);
    }

    #[test]
    fn partial_config_takes_defaults() {
        let config: TrustConfig =
            toml::from_str("half_life_secs = 3600\n[breaker]\nquarantine_below = 100\n").expect("parse");
        assert_eq!(config.half_life_secs, 3600);
        assert_eq!(config.alpha_permille, 150);
        assert_eq!(config.breaker.quarantine_below, 100);
        assert_eq!(config.breaker.release_at, 400);
        assert!(toml::from_str::<TrustConfig>("alpha = 0.15\n").is_err(), "unknown fields are refused");
    }

    type Mutation = fn(&mut TrustConfig);

    #[test]
    fn out_of_range_values_are_refused() {
        let cases: [(&str, Mutation); 9] = [
            ("half_life_secs", |c| c.half_life_secs = 0),
            ("horizon_half_lives", |c| c.horizon_half_lives = 64),
            ("replay_window", |c| c.replay_window = 100),
            ("alpha_permille", |c| c.alpha_permille = 0),
            ("alpha_permille", |c| c.alpha_permille = 1001),
            ("max_iterations", |c| c.max_iterations = 0),
            ("convergence_bits", |c| c.convergence_bits = 61),
            ("breaker.release_at", |c| c.breaker.release_at = c.breaker.quarantine_below),
            ("breaker.release_at", |c| c.breaker.release_at = 1001),
        ];
        for (field, change) in cases {
            let mut config = TrustConfig::default();
            change(&mut config);
            assert_eq!(config.validate().map_err(|e| e.field), Err(field));
        }
    }
}
