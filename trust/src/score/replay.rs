//! Replay protection: which sequence numbers of one observer were already recorded.
//!
//! The rule, with `W` the configured replay window: the window remembers the highest sequence
//! `H` seen from the observer and, in a `W`-bit ring, which of the sequences `H - W + 1 ..= H`
//! were seen. A sequence `<= H - W` is refused as stale (it cannot be told apart from a
//! replay any more); one inside the window is refused if its bit is set. Memory is `W / 8`
//! bytes per observer whatever the number of observations.
//!
//! So the set of accepted observations does not depend on arrival order as long as no
//! observer's observations arrive more than `W` sequences out of order.

use super::error::Refusal;

/// Replay state of one observer.
#[derive(Debug, Clone)]
pub(crate) struct ReplayWindow {
    highest: u64,
    /// Bit `s % W` is set when sequence `s` (within the window) was seen.
    seen: Box<[u64]>,
}

impl ReplayWindow {
    /// A window whose first seen sequence is `sequence`; `window` is a multiple of 64.
    pub(crate) fn new(sequence: u64, window: u64) -> Self {
        let words = usize::try_from(window / 64).unwrap_or(1).max(1);
        let mut this = Self { highest: sequence, seen: vec![0; words].into_boxed_slice() };
        this.set(sequence, true);
        this
    }

    fn window(&self) -> u64 {
        self.seen.len() as u64 * 64
    }

    fn slot(&self, sequence: u64) -> (usize, u64) {
        let bit = sequence % self.window();
        ((bit / 64) as usize, 1 << (bit % 64))
    }

    fn set(&mut self, sequence: u64, value: bool) {
        let (word, mask) = self.slot(sequence);
        if value {
            self.seen[word] |= mask;
        } else {
            self.seen[word] &= !mask;
        }
    }

    /// Whether `sequence` may be recorded, without recording it.
    pub(crate) fn check(&self, sequence: u64) -> Result<(), Refusal> {
        if sequence > self.highest {
            return Ok(());
        }
        if self.highest - sequence >= self.window() {
            return Err(Refusal::Stale { sequence, highest: self.highest });
        }
        let (word, mask) = self.slot(sequence);
        if self.seen[word] & mask != 0 {
            return Err(Refusal::Duplicate);
        }
        Ok(())
    }

    /// Records `sequence`, which [`ReplayWindow::check`] accepted.
    pub(crate) fn mark(&mut self, sequence: u64) {
        if sequence > self.highest {
            let advance = sequence - self.highest;
            if advance >= self.window() {
                self.seen.fill(0);
            } else {
                // The slots of the sequences now entering the window held sequences that
                // just left it.
                for s in self.highest + 1..sequence {
                    self.set(s, false);
                }
            }
            self.highest = sequence;
        }
        self.set(sequence, true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(window: &mut ReplayWindow, sequence: u64) -> Result<(), Refusal> {
        window.check(sequence)?;
        window.mark(sequence);
        Ok(())
    }

    #[test]
    fn duplicates_and_stale_sequences_are_refused() {
        let mut w = ReplayWindow::new(100, 64);
        assert_eq!(w.check(100), Err(Refusal::Duplicate));
        assert_eq!(accept(&mut w, 99), Ok(()));
        assert_eq!(accept(&mut w, 99), Err(Refusal::Duplicate));
        assert_eq!(accept(&mut w, 37), Ok(()), "100 - 37 = 63 < 64: inside the window");
        assert_eq!(accept(&mut w, 36), Err(Refusal::Stale { sequence: 36, highest: 100 }));
        assert_eq!(accept(&mut w, 101), Ok(()));
        assert_eq!(accept(&mut w, 37), Err(Refusal::Stale { sequence: 37, highest: 101 }));
    }

    #[test]
    fn advancing_clears_the_slots_that_leave_the_window() {
        let mut w = ReplayWindow::new(0, 64);
        for s in 1..64 {
            accept(&mut w, s).expect("fresh");
        }
        // 64..=127 reuse the slots of 0..=63; none of them was seen.
        assert_eq!(accept(&mut w, 127), Ok(()));
        for s in 64..127 {
            assert_eq!(accept(&mut w, s), Ok(()), "{s}");
        }
        assert_eq!(w.check(63), Err(Refusal::Stale { sequence: 63, highest: 127 }));
        // A jump beyond the window forgets everything.
        assert_eq!(accept(&mut w, 10_000), Ok(()));
        assert_eq!(accept(&mut w, 9_999), Ok(()));
        assert_eq!(accept(&mut w, 9_999), Err(Refusal::Duplicate));
    }
}
