//! From global trust (Q63) to what users see: a share out of [`SHARE_SCALE`] and a score.
//!
//! - **Share**: the Q63 trust scaled to [`SHARE_SCALE`] by largest remainders (round every
//!   share down, then give one unit to the members with the largest remainders, ties to the
//!   first in name order), so the shares sum to exactly [`SHARE_SCALE`] and each is within one
//!   unit of the exact value.
//! - **Score**: `min(1000, 500 * t * members)`, rounded to nearest, from the unrounded trust:
//!   500 means the average share (`1 / members`), 1000 twice the average or more, 0 no trust
//!   reaching the org. The average is a yardstick that does not move with one outlier
//!   (unlike the maximum), and the cap keeps the pre-trusted stewards, whose share is large by
//!   construction, from squashing everybody else's scale.

use super::fixed::ONE_Q63;
use super::scores::{MAX_SCORE, SHARE_SCALE};

/// Bits between Q63 and the share scale.
const SHIFT: u32 = 63 - SHARE_SCALE.trailing_zeros();

/// Shares out of [`SHARE_SCALE`] for Q63 trust values (in member order).
pub(crate) fn shares(trust: &[u64]) -> Vec<u64> {
    let mut shares: Vec<u64> = trust.iter().map(|&t| t >> SHIFT).collect();
    let total: u128 = trust.iter().map(|&t| u128::from(t)).sum();
    if total == 0 {
        return shares;
    }
    let floor_sum: u64 = shares.iter().sum();
    let missing = usize::try_from(SHARE_SCALE.saturating_sub(floor_sum)).unwrap_or(usize::MAX);
    let mask = (1u64 << SHIFT) - 1;
    let mut by_remainder: Vec<usize> = (0..trust.len()).collect();
    by_remainder.sort_by_key(|&i| (std::cmp::Reverse(trust[i] & mask), i));
    for &i in by_remainder.iter().take(missing) {
        shares[i] += 1;
    }
    shares
}

/// The 0..=1000 score of a member holding Q63 trust `t` among `members`, rounded to nearest
/// (so that e.g. an exact third of the trust among three members, stored rounded down in
/// Q63, still scores 500).
pub(crate) fn score(t: u64, members: usize) -> u16 {
    let scaled = (u128::from(t) * 500 * members as u128 + (1 << 62)) >> 63;
    u16::try_from(scaled.min(u128::from(MAX_SCORE))).unwrap_or(MAX_SCORE)
}

const _: () = assert!(ONE_Q63 >> SHIFT == SHARE_SCALE);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_sum_to_the_scale() {
        let third = ONE_Q63 / 3;
        let trust = [third, third, ONE_Q63 - 2 * third];
        let s = shares(&trust);
        assert_eq!(s.iter().sum::<u64>(), SHARE_SCALE);
        assert_eq!(s, vec![1431655765, 1431655765, 1431655766]);
        assert_eq!(shares(&[0, 0]), vec![0, 0]);
        assert_eq!(shares(&[ONE_Q63, 0]), vec![SHARE_SCALE, 0]);
    }

    #[test]
    fn score_is_relative_to_the_average_share() {
        assert_eq!(score(ONE_Q63 / 10, 10), 500);
        assert_eq!(score(ONE_Q63 / 5, 10), 1000);
        assert_eq!(score(ONE_Q63, 10), 1000);
        assert_eq!(score(ONE_Q63 / 40, 10), 125);
        assert_eq!(score(0, 10), 0);
        assert_eq!(score(ONE_Q63 / 1000, 1000), 500, "rounded to nearest, not down");
        assert_eq!(score(ONE_Q63 / 4000, 1000), 125);
        assert_eq!(score(ONE_Q63 / 3, 3), 500);
    }
}
