//! Local trust: each member's normalized opinion of the others, as sparse rows.
//!
//! Input: for each (observer `i`, subject `j`) pair of members, `s_ij = successes - failures -
//! k * violations - penalty_weight * penalties` (decayed, Q32, computed in `compute.rs`). Output:
//! `c_ij = max(s_ij, 0) / sum_j max(s_ij, 0)` in Q63, already multiplied by `1 - a` for the
//! power iteration, stored row by row (compressed sparse rows) so that one round costs one
//! multiplication per observed pair. A row without a positive entry is empty: its mass goes
//! to the pre-trusted orgs in [`super::eigen`], as EigenTrust prescribes.

use super::fixed::ONE_Q63;

/// `(1 - a) * C` in compressed sparse rows.
#[derive(Debug, Clone, Default)]
pub(crate) struct SparseRows {
    /// Row `i` holds entries `starts[i]..starts[i + 1]`.
    pub(crate) starts: Vec<usize>,
    /// Column (subject member index) of each entry, ascending within a row.
    pub(crate) cols: Vec<u32>,
    /// `(1 - a) * c_ij` in Q63 of each entry.
    pub(crate) weights: Vec<u64>,
}

impl SparseRows {
    /// Builds the rows of `n` members from positive opinions `(i, j, max(s_ij, 0))`.
    pub(crate) fn build(n: usize, mut opinions: Vec<(u32, u32, u64)>, alpha_permille: u32) -> Self {
        opinions.retain(|&(_, _, s)| s > 0);
        opinions.sort_unstable();
        let keep = u128::from(1000 - alpha_permille.min(1000));
        let mut rows = Self { starts: Vec::with_capacity(n + 1), cols: Vec::new(), weights: Vec::new() };
        rows.cols.reserve(opinions.len());
        rows.weights.reserve(opinions.len());
        let mut next = 0;
        for i in 0..n {
            rows.starts.push(rows.cols.len());
            let start = next;
            while next < opinions.len() && opinions[next].0 as usize == i {
                next += 1;
            }
            let row = &opinions[start..next];
            let sum: u128 = row.iter().map(|&(_, _, s)| u128::from(s)).sum();
            for &(_, j, s) in row {
                // s <= sum, so c <= 2^63; c * 1000 fits easily.
                let c = (u128::from(s) << 63) / sum;
                rows.cols.push(j);
                rows.weights.push((c * keep / 1000) as u64);
            }
        }
        rows.starts.push(rows.cols.len());
        debug_assert!(rows.weights.iter().all(|&w| w <= ONE_Q63));
        rows
    }

    /// Number of rows.
    pub(crate) fn len(&self) -> usize {
        self.starts.len().saturating_sub(1)
    }

    /// The entries of row `i`.
    pub(crate) fn row(&self, i: usize) -> impl Iterator<Item = (usize, u64)> + '_ {
        let range = self.starts[i]..self.starts[i + 1];
        self.cols[range.clone()].iter().map(|&j| j as usize).zip(self.weights[range].iter().copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_normalized_and_damped() {
        let rows = SparseRows::build(3, vec![(0, 2, 3), (0, 1, 1), (1, 0, 0), (2, 0, 5)], 0);
        assert_eq!(rows.len(), 3);
        assert_eq!(rows.row(0).collect::<Vec<_>>(), vec![(1, ONE_Q63 / 4), (2, ONE_Q63 / 4 * 3)]);
        assert_eq!(rows.row(1).count(), 0, "no positive opinion: empty row");
        assert_eq!(rows.row(2).collect::<Vec<_>>(), vec![(0, ONE_Q63)]);

        let damped = SparseRows::build(3, vec![(2, 0, 5)], 150);
        assert_eq!(damped.row(2).collect::<Vec<_>>(), vec![(0, (u128::from(ONE_Q63) * 850 / 1000) as u64)]);
    }
}
