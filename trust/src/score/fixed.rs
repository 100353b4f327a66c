//! Fixed-point arithmetic of the score path: powers of two for the decay, nothing else.
//!
//! Every node must compute bit-identical scores from the same observations, so the score path
//! uses integers only. Two formats:
//! - **Q63** (`u64`, [`ONE_Q63`] = 1.0): decay factors, local trust and global trust shares;
//! - **Q32** (`u64`, [`EVIDENCE_ONE`] = one observation): evidence weights and decayed counts.
//!
//! `2^-x` is built from a table of `2^(-1/2^i)` (i = 1..=32) that is itself computed by
//! repeated integer square roots at compile time, so there is no floating-point constant to
//! trust and no platform-dependent rounding.

/// 1.0 in Q63.
pub(crate) const ONE_Q63: u64 = 1 << 63;

/// One observation's worth of evidence in Q32.
pub(crate) const EVIDENCE_ONE: u64 = 1 << 32;

/// `HALF_ROOTS[i] = 2^(-1/2^(i+1))` in Q63: `2^-1/2, 2^-1/4, ..., 2^-1/2^32`.
const HALF_ROOTS: [u64; 32] = half_roots();

/// Floor of the square root of `n` (Newton's method from an over-estimate, which decreases
/// monotonically to the floor).
const fn isqrt(n: u128) -> u128 {
    if n < 2 {
        return n;
    }
    let bits = 128 - n.leading_zeros();
    let mut x: u128 = 1 << bits.div_ceil(2);
    loop {
        let y = (x + n / x) / 2;
        if y >= x {
            return x;
        }
        x = y;
    }
}

const fn half_roots() -> [u64; 32] {
    let mut table = [0u64; 32];
    // 0.5 in Q63; sqrt(v / 2^63) * 2^63 = sqrt(v * 2^63).
    let mut value: u128 = 1 << 62;
    let mut i = 0;
    while i < 32 {
        value = isqrt(value << 63);
        table[i] = value as u64;
        i += 1;
    }
    table
}

/// `a * b` for two Q63 numbers in `[0, 1]`, rounded down.
pub(crate) fn mul_q63(a: u64, b: u64) -> u64 {
    // Both factors are at most 2^63, so the product fits in u128 and the result in u64.
    ((u128::from(a) * u128::from(b)) >> 63) as u64
}

/// `2^(-f / 2^32)` in Q63 for a Q32 fraction `f` in `[0, 1)`.
fn exp2_neg_frac(f: u32) -> u64 {
    let mut result = ONE_Q63;
    for (i, root) in HALF_ROOTS.iter().enumerate() {
        if f & (1 << (31 - i)) != 0 {
            result = mul_q63(result, *root);
        }
    }
    result
}

/// `frac / half_life` as a Q32 fraction, for `frac < half_life`.
fn fraction_q32(frac: u64, half_life_ms: u64) -> u32 {
    // frac < half_life, so the quotient is below 2^32.
    ((u128::from(frac) << 32) / u128::from(half_life_ms)) as u32
}

/// Decay factor `2^(-age / half_life)` in Q63.
pub(crate) fn decay_q63(age_ms: u64, half_life_ms: u64) -> u64 {
    let halvings = age_ms / half_life_ms;
    if halvings >= 64 {
        return 0;
    }
    exp2_neg_frac(fraction_q32(age_ms % half_life_ms, half_life_ms)) >> halvings
}

/// Growth factor `2^(offset / half_life)` in Q32 for `offset < half_life`: the weight an
/// observation made `offset` ms into its epoch carries, in `[1, 2)` observations.
pub(crate) fn growth_q32(offset_ms: u64, half_life_ms: u64) -> u64 {
    if offset_ms == 0 {
        return EVIDENCE_ONE;
    }
    // 2^(offset/h) = 2 * 2^(-(h - offset)/h); in Q32 that is the Q63 value shifted right by 30.
    exp2_neg_frac(fraction_q32(half_life_ms - offset_ms, half_life_ms)) >> 30
}

/// `x * 1000 / EVIDENCE_ONE` rounded to nearest: a Q32 amount in thousandths, saturating.
pub(crate) fn q32_to_milli(x: u128) -> u64 {
    u64::try_from(x.saturating_mul(1000).saturating_add(1 << 31) >> 32).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn real(q63: u64) -> f64 {
        q63 as f64 / ONE_Q63 as f64
    }

    #[test]
    fn isqrt_is_the_floor() {
        for n in [0u128, 1, 2, 3, 4, 15, 16, 17, 1 << 100, (1 << 100) - 1, u128::MAX >> 2] {
            let r = isqrt(n);
            assert!(r * r <= n, "{n}");
            assert!((r + 1) * (r + 1) > n, "{n}");
        }
    }

    #[test]
    fn half_roots_match_floating_point() {
        for (i, root) in HALF_ROOTS.iter().enumerate() {
            let expected = 2f64.powf(-1.0 / 2f64.powi(i as i32 + 1));
            assert!((real(*root) - expected).abs() < 1e-15, "{i}: {} vs {expected}", real(*root));
        }
        // The first root is sqrt(1/2) to the last bit: 0xb504f333f9de6484 >> 1 in Q63.
        assert_eq!(HALF_ROOTS[0], 0x5a82_7999_fcef_3242);
    }

    #[test]
    fn decay_halves_every_half_life() {
        let h = 7 * 24 * 3_600_000;
        assert_eq!(decay_q63(0, h), ONE_Q63);
        assert_eq!(decay_q63(h, h), ONE_Q63 / 2);
        assert_eq!(decay_q63(3 * h, h), ONE_Q63 / 8);
        assert_eq!(decay_q63(64 * h, h), 0);
        assert!((real(decay_q63(h / 2, h)) - 0.5f64.sqrt()).abs() < 1e-9);
        assert!((real(decay_q63(h + h / 4, h)) - 2f64.powf(-1.25)).abs() < 1e-9);
        // Decay is monotone.
        let mut last = ONE_Q63;
        for age in (0..3 * h).step_by(h as usize / 97) {
            let d = decay_q63(age, h);
            assert!(d <= last, "age {age}");
            last = d;
        }
    }

    #[test]
    fn growth_times_decay_is_the_age_decay() {
        let h = 1_000_000;
        for offset in [0, 1, 250_000, 500_000, 999_999] {
            let g = growth_q32(offset, h);
            assert!((EVIDENCE_ONE..2 * EVIDENCE_ONE).contains(&g), "{offset}: {g}");
            // An observation made `offset` into its epoch, seen 3 half-lives after the epoch
            // started, has age 3h - offset.
            let via_epoch = (u128::from(g) * u128::from(decay_q63(3 * h, h))) >> 63;
            let direct = (u128::from(EVIDENCE_ONE) * u128::from(decay_q63(3 * h - offset, h))) >> 63;
            assert!(via_epoch.abs_diff(direct) <= 2, "{offset}: {via_epoch} vs {direct}");
        }
    }

    #[test]
    fn milli_conversion() {
        assert_eq!(q32_to_milli(u128::from(EVIDENCE_ONE)), 1000);
        assert_eq!(q32_to_milli(u128::from(EVIDENCE_ONE / 2)), 500);
        assert_eq!(q32_to_milli(u128::from(EVIDENCE_ONE / 2 - 1)), 500, "rounded to nearest");
        assert_eq!(q32_to_milli(u128::from(EVIDENCE_ONE / 2000)), 0);
        assert_eq!(q32_to_milli(u128::MAX >> 12), u64::MAX);
    }
}
