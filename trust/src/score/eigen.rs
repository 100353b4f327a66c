//! Global trust by power iteration: `t = (1 - a) C^T t + a p`, in Q63.
//!
//! Input: the damped local trust rows `(1 - a) C` ([`SparseRows`]) and the pre-trusted
//! members (the stewards). Start from `t = p`; each round computes `(1 - a) C^T t` row by row
//! (rounding every product down), then gives everything not yet handed out, `ONE - sum`, to
//! `p`. That residue is exactly `a` (teleport) plus `(1 - a)` times the trust of members with
//! no positive opinion (their row falls back to `p`) plus the rounding, so every round's
//! vector sums to exactly `ONE_Q63`. Stop when the L1 change of a round is below epsilon or
//! after `max_iterations` rounds.
//!
//! Determinism: integer arithmetic only, members in sorted order, the residue split equally
//! with the remainder going one unit each to the first pre-trusted members in sorted order.

use super::fixed::{mul_q63, ONE_Q63};
use super::local::SparseRows;

/// The fixed point of the iteration.
#[derive(Debug, Clone)]
pub(crate) struct GlobalTrust {
    /// Q63 share of each member; sums to `ONE_Q63` when `pretrusted` is not empty.
    pub(crate) trust: Vec<u64>,
    pub(crate) iterations: u32,
    pub(crate) converged: bool,
}

/// Adds `amount` to the pre-trusted members, equally, remainder first come first served.
fn spread(amount: u64, pretrusted: &[usize], into: &mut [u64]) {
    let Some(count) = u64::try_from(pretrusted.len()).ok().filter(|&c| c > 0) else { return };
    let each = amount / count;
    let extra = amount % count;
    for (k, &i) in pretrusted.iter().enumerate() {
        into[i] += each + u64::from((k as u64) < extra);
    }
}

/// Runs the power iteration; `pretrusted` holds sorted member indices.
pub(crate) fn global_trust(rows: &SparseRows, pretrusted: &[usize], max_iterations: u32, epsilon: u64) -> GlobalTrust {
    let n = rows.len();
    let mut trust = vec![0u64; n];
    if pretrusted.is_empty() {
        return GlobalTrust { trust, iterations: 0, converged: true };
    }
    spread(ONE_Q63, pretrusted, &mut trust);
    let mut next = vec![0u64; n];
    for round in 1..=max_iterations {
        next.fill(0);
        for (i, &t) in trust.iter().enumerate() {
            if t == 0 {
                continue;
            }
            for (j, c) in rows.row(i) {
                next[j] += mul_q63(c, t);
            }
        }
        // Each row hands out at most (1 - a) of its trust, so the sum stays below ONE.
        let handed_out: u64 = next.iter().sum();
        spread(ONE_Q63 - handed_out, pretrusted, &mut next);
        let change: u128 = trust.iter().zip(&next).map(|(&a, &b)| u128::from(a.abs_diff(b))).sum();
        std::mem::swap(&mut trust, &mut next);
        if change < u128::from(epsilon) {
            return GlobalTrust { trust, iterations: round, converged: true };
        }
    }
    GlobalTrust { trust, iterations: max_iterations, converged: false }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn real(x: u64) -> f64 {
        x as f64 / ONE_Q63 as f64
    }

    #[test]
    fn no_opinions_leaves_the_pretrust() {
        let rows = SparseRows::build(4, vec![], 150);
        let g = global_trust(&rows, &[0, 2], 100, 1 << 31);
        assert_eq!(g.trust, vec![ONE_Q63 / 2, 0, ONE_Q63 / 2, 0]);
        assert!(g.converged);
        assert_eq!(g.iterations, 1);
    }

    #[test]
    fn matches_the_closed_form_of_a_small_chain() {
        // 0 (steward) trusts 1 fully; 1 trusts 2 fully; 2 has no opinion (falls back to p).
        // t0 = a + (1-a) t2; t1 = (1-a) t0; t2 = (1-a) t1, with t0 + t1 + t2 = 1.
        let rows = SparseRows::build(3, vec![(0, 1, 1), (1, 2, 1)], 150);
        let g = global_trust(&rows, &[0], 500, 1 << 20);
        assert!(g.converged);
        assert_eq!(g.trust.iter().sum::<u64>(), ONE_Q63);
        let k = 0.85f64;
        let t0 = 1.0 / (1.0 + k + k * k);
        for (got, want) in g.trust.iter().zip([t0, k * t0, k * k * t0]) {
            assert!((real(*got) - want).abs() < 1e-9, "{} vs {want}", real(*got));
        }
    }

    #[test]
    fn residue_goes_to_the_first_pretrusted_first() {
        let mut into = vec![0; 4];
        spread(11, &[1, 2, 3], &mut into);
        assert_eq!(into, vec![0, 4, 4, 3]);
    }

    #[test]
    fn iteration_bound_is_honoured() {
        let rows = SparseRows::build(2, vec![(0, 1, 1), (1, 0, 1)], 1);
        let g = global_trust(&rows, &[0], 3, 1);
        assert_eq!((g.iterations, g.converged), (3, false));
        assert_eq!(g.trust.iter().sum::<u64>(), ONE_Q63);
    }
}
