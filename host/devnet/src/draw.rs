//! Deterministic randomness: every random choice of the network is a pure function of the
//! network seed and of integers naming what is being chosen.
//!
//! A [`Draw`] is a SplitMix64 stream started from `(seed, topic, a, b, c)`. Two draws with the
//! same inputs give the same values on every machine and every run, so any record of any repo can
//! be regenerated alone, in O(1), without holding the network in memory. SplitMix64 is not a
//! cryptographic generator; the signing keys drawn from it are test keys of a test network.

/// What a draw is for: keeps the streams of different decisions independent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u64)]
pub enum Topic {
    /// The weight of a repo in the size distribution.
    RepoSize = 1,
    /// An account's identity: DID, handle, keys, status history.
    Account = 2,
    /// The plan of one slot of a repo (its kind and fate).
    Slot = 3,
    /// The content of one record.
    Content = 4,
    /// The choice of a record another record points at.
    Target = 5,
    /// The order in which repos join the interleaved history.
    History = 6,
    /// Live events.
    Live = 7,
    /// Labels.
    Label = 8,
    /// Fault injection.
    Fault = 9,
    /// Signing keys.
    Key = 10,
}

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// The SplitMix64 finaliser: a bijective 64-bit mix.
pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A deterministic stream of random values (see the module docs).
#[derive(Debug, Clone)]
pub struct Draw {
    state: u64,
}

impl Draw {
    /// The stream for `topic` and the three coordinates `a`, `b`, `c` under `seed`.
    pub fn new(seed: u64, topic: Topic, a: u64, b: u64, c: u64) -> Self {
        let mut state = mix(seed ^ GOLDEN);
        for part in [topic as u64, a, b, c] {
            state = mix(state ^ part.wrapping_mul(GOLDEN));
        }
        Self { state }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN);
        mix(self.state)
    }

    /// A value in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        // Multiply-shift: unbiased enough for content generation, and branch-free.
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// A value in `low..=high`.
    pub fn range(&mut self, low: u64, high: u64) -> u64 {
        low + self.below(high.saturating_sub(low) + 1)
    }

    /// A value in `0..n` as `usize`.
    pub fn index(&mut self, n: usize) -> usize {
        usize::try_from(self.below(n as u64)).unwrap_or(0)
    }

    /// A float in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// True with probability `per_mille / 1000`.
    pub fn chance(&mut self, per_mille: u32) -> bool {
        self.below(1000) < u64::from(per_mille)
    }

    /// One element of a slice; callers pass non-empty constant tables.
    ///
    /// # Panics
    /// If `items` is empty.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.index(items.len())]
    }

    /// An index chosen with the given relative weights (0 when all weights are 0).
    pub fn weighted(&mut self, weights: &[u32]) -> usize {
        let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
        let mut point = self.below(total);
        for (index, &weight) in weights.iter().enumerate() {
            if point < u64::from(weight) {
                return index;
            }
            point -= u64::from(weight);
        }
        0
    }
}

impl rand::RngCore for Draw {
    fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    fn next_u64(&mut self) -> u64 {
        Draw::next_u64(self)
    }

    fn fill_bytes(&mut self, dst: &mut [u8]) {
        for chunk in dst.chunks_mut(8) {
            let bytes = Draw::next_u64(self).to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_inputs_give_the_same_stream() {
        let mut a = Draw::new(7, Topic::Slot, 1, 2, 3);
        let mut b = Draw::new(7, Topic::Slot, 1, 2, 3);
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
    }

    #[test]
    fn any_input_changes_the_stream() {
        let base = Draw::new(7, Topic::Slot, 1, 2, 3).next_u64();
        for other in [
            Draw::new(8, Topic::Slot, 1, 2, 3),
            Draw::new(7, Topic::Content, 1, 2, 3),
            Draw::new(7, Topic::Slot, 2, 2, 3),
            Draw::new(7, Topic::Slot, 1, 3, 3),
            Draw::new(7, Topic::Slot, 1, 2, 4),
        ] {
            assert_ne!(other.clone().next_u64(), base);
        }
    }

    #[test]
    fn below_and_weighted_stay_in_range_and_cover_it() {
        let mut draw = Draw::new(1, Topic::Live, 0, 0, 0);
        let mut seen = [0u32; 5];
        for _ in 0..10_000 {
            let value = draw.below(5);
            assert!(value < 5);
            seen[value as usize] += 1;
        }
        assert!(seen.iter().all(|&count| count > 1500), "{seen:?}");
        let mut picks = [0u32; 3];
        for _ in 0..10_000 {
            picks[draw.weighted(&[1, 0, 3])] += 1;
        }
        assert_eq!(picks[1], 0);
        assert!(picks[2] > 2 * picks[0], "{picks:?}");
    }
}
