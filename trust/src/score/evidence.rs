//! Decayed outcome counts of one (observer, subject) pair, kept so that the decayed value does
//! not depend on the order in which observations arrived.
//!
//! Time is cut into epochs one half-life long. An observation made at time `at` in epoch
//! `e = at / h` adds `2^((at - e*h) / h)` observations (a Q32 integer in `[1, 2)`, a function of
//! `at` alone) to its epoch's counter for its outcome. Adding integers is exact, so a counter
//! is the same whatever the arrival order. At compute time `now`, epoch `e` is multiplied by
//! `2^(-(now - e*h) / h)` ([`DecayClock`]); the product is `sum 2^(-(now - at) / h)`: every
//! observation decays exactly from its own time, only the rounding differs.
//!
//! Epochs `horizon` or more half-lives before the current one count zero and are pruned, and
//! epochs after the current one (clock skew) do not count yet; so a pair holds at most
//! `horizon + 1` buckets plus the skew, whatever the number of observations.

use super::fixed::{decay_q63, growth_q32};
use super::types::Outcome;

/// Decay factors for one compute time.
#[derive(Debug, Clone)]
pub(crate) struct DecayClock {
    current_epoch: u64,
    /// `factors[d]` is the Q63 factor of epoch `current_epoch - d`.
    factors: Vec<u64>,
}

/// The oldest epoch that still counts at `now_ms`: `horizon` epochs including the current one.
pub(crate) fn oldest_epoch(now_ms: u64, half_life_ms: u64, horizon: u32) -> u64 {
    (now_ms / half_life_ms + 1).saturating_sub(u64::from(horizon))
}

impl DecayClock {
    pub(crate) fn new(now_ms: u64, half_life_ms: u64, horizon: u32) -> Self {
        let current_epoch = now_ms / half_life_ms;
        let oldest = oldest_epoch(now_ms, half_life_ms, horizon);
        let base = decay_q63(now_ms % half_life_ms, half_life_ms);
        // oldest <= current_epoch + 1 by construction; equal only for a zero horizon.
        let factors = (0..current_epoch + 1 - oldest).map(|d| base >> d).collect();
        Self { current_epoch, factors }
    }

    /// The factor of `epoch`, or `None` if it does not count at this time.
    pub(crate) fn factor(&self, epoch: u64) -> Option<u64> {
        let age = self.current_epoch.checked_sub(epoch)?;
        self.factors.get(usize::try_from(age).ok()?).copied()
    }
}

/// The epoch of time `at_ms` and the weight an observation made then carries in it.
pub(crate) fn epoch_weight(at_ms: u64, half_life_ms: u64) -> (u64, u64) {
    (at_ms / half_life_ms, growth_q32(at_ms % half_life_ms, half_life_ms))
}

/// Growth-weighted counts of one epoch: successes, failures, violations (Q32 each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Bucket {
    epoch: u64,
    counts: [u64; 3],
}

/// Outcome counts of one pair, one bucket per epoch, sorted by epoch.
#[derive(Debug, Clone, Default)]
pub(crate) struct OutcomeBuckets {
    buckets: Vec<Bucket>,
}

impl OutcomeBuckets {
    /// Adds one observation of `outcome` carrying `weight` (from [`epoch_weight`]) to `epoch`.
    /// Saturates, which keeps the sum independent of order (it is `min(sum, u64::MAX)`).
    pub(crate) fn add(&mut self, epoch: u64, outcome: Outcome, weight: u64) {
        let at = match self.buckets.binary_search_by_key(&epoch, |b| b.epoch) {
            Ok(i) => i,
            Err(i) => {
                self.buckets.insert(i, Bucket { epoch, counts: [0; 3] });
                i
            }
        };
        let count = &mut self.buckets[at].counts[outcome.index()];
        *count = count.saturating_add(weight);
    }

    /// Decayed successes, failures and violations (Q32) at the clock's time, or `None` when no
    /// bucket counts at that time.
    pub(crate) fn decayed(&self, clock: &DecayClock) -> Option<[u64; 3]> {
        let mut sums = [0u128; 3];
        let mut any = false;
        for bucket in &self.buckets {
            let Some(factor) = clock.factor(bucket.epoch) else { continue };
            any = true;
            for (sum, count) in sums.iter_mut().zip(bucket.counts) {
                *sum += (u128::from(count) * u128::from(factor)) >> 63;
            }
        }
        any.then(|| sums.map(|s| u64::try_from(s).unwrap_or(u64::MAX)))
    }

    /// Drops buckets older than `oldest_epoch`; returns whether the pair is now empty.
    pub(crate) fn prune(&mut self, oldest_epoch: u64) -> bool {
        self.buckets.retain(|b| b.epoch >= oldest_epoch);
        self.buckets.is_empty()
    }
}

/// Decays a single Q32 weight recorded in `epoch` (penalties).
pub(crate) fn decay_one(weight: u64, epoch: u64, clock: &DecayClock) -> Option<u64> {
    let factor = clock.factor(epoch)?;
    Some(((u128::from(weight) * u128::from(factor)) >> 63) as u64)
}

#[cfg(test)]
mod tests {
    use super::super::fixed::EVIDENCE_ONE;
    use super::*;

    const H: u64 = 1_000_000;

    #[test]
    fn an_observation_decays_from_its_own_time() {
        let now = 50 * H + H / 3;
        let clock = DecayClock::new(now, H, 16);
        for at in [now, now - H, now - 2 * H - H / 2, 40 * H, 40 * H + 17] {
            let (epoch, weight) = epoch_weight(at, H);
            let mut buckets = OutcomeBuckets::default();
            buckets.add(epoch, Outcome::Failure, weight);
            let [s, f, v] = buckets.decayed(&clock).expect("within the horizon");
            assert_eq!((s, v), (0, 0));
            let expected = (u128::from(EVIDENCE_ONE) * u128::from(decay_q63(now - at, H))) >> 63;
            assert!(u128::from(f).abs_diff(expected) <= 2, "at {at}: {f} vs {expected}");
        }
    }

    #[test]
    fn horizon_and_future_epochs_do_not_count() {
        let now = 100 * H;
        let clock = DecayClock::new(now, H, 4);
        assert_eq!(oldest_epoch(now, H, 4), 97);
        assert!(clock.factor(97).is_some());
        assert!(clock.factor(96).is_none());
        assert!(clock.factor(101).is_none());
        let mut buckets = OutcomeBuckets::default();
        buckets.add(96, Outcome::Success, EVIDENCE_ONE);
        assert_eq!(buckets.decayed(&clock), None);
        buckets.add(101, Outcome::Success, EVIDENCE_ONE);
        assert_eq!(buckets.decayed(&clock), None);
        buckets.add(100, Outcome::Success, EVIDENCE_ONE);
        assert_eq!(buckets.decayed(&clock), Some([EVIDENCE_ONE, 0, 0]));
        assert!(!buckets.prune(oldest_epoch(now, H, 4)));
        assert_eq!(buckets.buckets.len(), 2, "the future bucket stays");
        assert!(buckets.prune(102));
    }

    #[test]
    fn early_clock_counts_only_existing_epochs() {
        let clock = DecayClock::new(H / 2, H, 16);
        assert_eq!(oldest_epoch(H / 2, H, 16), 0);
        assert!(clock.factor(0).is_some());
    }
}
