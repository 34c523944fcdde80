//! A small deterministic generator (xorshift64) for seeded simulations: the
//! demo and the benchmarks replay the same activity from the same seed. Not
//! for anything secret.

#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// Any seed works, 0 included.
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// An index in `0..n` where the first few are far more likely, the way a
    /// few products make most of the sales (Pareto-like).
    pub fn skewed(&mut self, n: usize) -> usize {
        let u = self.below(1_000_000) as f64 / 1_000_000.0;
        ((u.powi(3)) * n as f64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::Rng;

    #[test]
    fn same_seed_same_sequence_and_skew_favours_the_head() {
        let (mut a, mut b) = (Rng::new(7), Rng::new(7));
        assert!((0..100).all(|_| a.next_u64() == b.next_u64()));
        let mut r = Rng::new(0);
        let head = (0..10_000).filter(|_| r.skewed(100) < 10).count();
        assert!(head > 4_000, "{head}");
        assert!((0..1000).all(|_| r.below(7) < 7) && r.below(0) == 0);
    }
}
