//! Reproducible pseudo-random inputs for property tests: a seed from
//! `ZEKKA_TEST_SEED` (to replay a failure) or from the clock, printed so a
//! failing run can be replayed, and a small SplitMix64 generator.

/// The seed of this run: `ZEKKA_TEST_SEED`, else the clock. Printed.
pub fn seed() -> u64 {
    let seed = std::env::var("ZEKKA_TEST_SEED")
        .ok()
        .and_then(|raw| raw.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(42)
        });
    eprintln!("property test seed: ZEKKA_TEST_SEED={seed}");
    seed
}

/// SplitMix64: tiny, fast, and good enough to spread test inputs.
pub struct Rng(u64);

impl Rng {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..bound` (`bound` > 0).
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound
    }
}
