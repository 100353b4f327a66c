//! Trust scores: from signed observations to a 0..=1000 score per org and agent, and the
//! circuit breaker that quarantines the ones that misbehave.
//!
//! Pure and synchronous; the node signs, gossips, persists and serves. Data flows in three
//! steps:
//!
//! 1. **Ingest.** The node verifies an [`Observation`] (or a [`Penalty`]) and passes it with
//!    its clock to [`TrustLedger::record`] ([`TrustLedger::record_penalty`]). The ledger
//!    refuses self-ratings, replays, stale sequences, times too old or in the future, and
//!    oversized names, with a [`Refusal`] the node counts; otherwise it adds the observation
//!    to decayed counters per (observer, subject org) and (observer, subject agent)
//!    (`ledger.rs`, `replay.rs`, `evidence.rs`). [`TrustLedger::prune`] drops what no longer
//!    counts.
//! 2. **Compute.** [`TrustLedger::compute`] takes the member orgs, the stewards and a time, and
//!    returns [`TrustScores`]: local trust (`local.rs`), EigenTrust's power iteration
//!    (`eigen.rs`), shares and scores (`share.rs`), agent scores (`agent.rs`), with the
//!    [`Evidence`] behind each (`compute.rs`).
//! 3. **Act.** [`CircuitBreaker::update`] turns new scores into quarantine [`Transition`]s.
//!
//! # Formulas (defaults from [`TrustConfig`])
//!
//! - **Decay.** An observation made at `at` weighs `2^-((now - at) / h)` at compute time
//!   `now`, half-life `h` = 7 days; evidence older than 16 half-lives counts 0. Counters are
//!   kept per half-life epoch so that the weights do not depend on arrival order.
//! - **Opinion** of observer `i` about org `j`: `s_ij = S - F - k*V - w_p*P` with decayed
//!   successes `S`, failures `F`, violations `V`, invalid-signature penalties `P` filed by `i`
//!   against `j`; `k = 5`, `w_p = 50`.
//! - **Local trust:** `c_ij = max(s_ij, 0) / sum_j max(s_ij, 0)`; a row without a positive
//!   entry falls back to `p`.
//! - **Global trust:** `t = (1 - a) C^T t + a p`, `a = 0.15`, `p` uniform over the stewards
//!   (over all members if none is given), from `t = p` until the L1 change of a round is
//!   below `2^-32` or after 200 rounds.
//! - **Equivocation:** a member's proof that org `j` signed two forking checkpoints convicts
//!   `j`: its trust is 0, its own reports and pre-trust are ignored, for good.
//! - **Share** of org `j`: `t_j` out of [`SHARE_SCALE`] (2^32); the shares of the members sum
//!   to exactly [`SHARE_SCALE`].
//! - **Org score:** `min(1000, 500 * t_j * members)`, rounded to nearest: 500 is the average
//!   share, 1000 twice the average or more, 0 no trust reaching the org (e.g. a newcomer that
//!   no trusted org has reported on yet).
//! - **Agent score:** `(O*m + 1000*S) / (m + S + F + k*V)` with the org score `O`, prior weight
//!   `m = 10` observations and the agent's decayed counts, each observer's counts weighted by
//!   the observer's org score / 1000.
//! - **Breaker:** quarantine below 200 given at least 5 observations and 1 adverse report
//!   (or a conviction); release at 400.
//!
//! # Guarantees (tested in `proptests.rs`)
//!
//! Integer arithmetic only, so equal inputs give bit-identical scores on every platform, within
//! 1e-7 of a floating-point evaluation of the formulas above;
//! results do not depend on the order observations arrived in (as long as no observer's
//! sequences arrive more than the replay window apart) nor on pruning; refused input
//! changes nothing; more successes never lower the subject org's score; a group of
//! non-stewards that no outsider rates holds share 0 however much its members rate each
//! other. Cost: `O(observed pairs * rounds)` per computation; memory `O(observed pairs)` plus
//! `replay_window / 8` bytes per observer, independent of the number of observations.

mod agent;
mod bench;
mod breaker;
mod compute;
mod config;
mod eigen;
mod error;
mod evidence;
mod fixed;
mod ledger;
mod local;
#[cfg(test)]
mod proptests;
mod replay;
mod scores;
mod share;
#[cfg(test)]
mod tests;
mod types;

pub use bench::{bench_workload, TrustWorkload};
pub use breaker::{Change, CircuitBreaker, Subject, Transition};
pub use config::{BreakerConfig, TrustConfig};
pub use error::{Refusal, TrustConfigError};
pub use ledger::{LedgerStats, TrustLedger, MAX_PENALTIES_PER_PAIR};
pub use scores::{AgentScore, Evidence, OrgScore, TrustScores, MAX_SCORE, SHARE_SCALE};
pub use types::{Observation, Outcome, Penalty, PenaltyKind, MAX_AGENT_LEN, MAX_EVIDENCE_ID_LEN, MAX_ORG_LEN};
