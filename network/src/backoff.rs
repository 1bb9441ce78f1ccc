//! Exponential backoff with jitter (the Java client's `ExponentialBackoff`)
//! and the small random source it draws from.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A xorshift64* generator: enough randomness for jitter and for spreading
/// load over nodes, with no dependency. Not for anything secret.
#[derive(Debug, Clone)]
pub struct XorShiftRng {
    state: u64,
}

impl XorShiftRng {
    /// Seeded from the clock and a per-process counter, so two clients started
    /// together still draw different sequences.
    pub fn from_time() -> Self {
        use std::sync::atomic::{AtomicU64, Ordering};
        static COUNTER: AtomicU64 = AtomicU64::new(0x9E37_79B9_7F4A_7C15);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let c = COUNTER.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
        XorShiftRng::with_seed(nanos ^ c.rotate_left(17))
    }

    /// A generator with a fixed seed (tests).
    pub fn with_seed(seed: u64) -> Self {
        // splitmix64 of the seed, so that small seeds still give a well-mixed,
        // non-zero state (xorshift must never hold 0).
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        XorShiftRng {
            state: if z == 0 { 1 } else { z },
        }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A float uniformly in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// An integer uniformly in `[0, n)`; 0 when `n` is 0.
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }
}

/// `initial * multiplier^attempts`, capped at `max`, times a random factor in
/// `[1 - jitter, 1 + jitter]` (and capped again), as the Java client computes
/// reconnect and retry backoffs.
#[derive(Debug, Clone, Copy)]
pub struct ExponentialBackoff {
    initial: Duration,
    multiplier: f64,
    max: Duration,
    jitter: f64,
    exp_max: f64,
}

impl ExponentialBackoff {
    /// The multiplier the Java client uses for connection and retry backoffs.
    pub const DEFAULT_MULTIPLIER: f64 = 2.0;
    /// The jitter the Java client uses (±20 %).
    pub const DEFAULT_JITTER: f64 = 0.2;

    /// A backoff growing from `initial` to `max`.
    pub fn new(initial: Duration, multiplier: f64, max: Duration, jitter: f64) -> Self {
        let max = max.max(initial);
        let initial_ms = (initial.as_secs_f64() * 1000.0).max(1.0);
        let max_ms = max.as_secs_f64() * 1000.0;
        let exp_max = if max_ms > initial_ms && multiplier > 1.0 {
            (max_ms / initial_ms).ln() / multiplier.ln()
        } else {
            0.0
        };
        ExponentialBackoff {
            initial,
            multiplier,
            max,
            jitter: jitter.clamp(0.0, 1.0),
            exp_max,
        }
    }

    /// The Java defaults for multiplier and jitter.
    pub fn standard(initial: Duration, max: Duration) -> Self {
        ExponentialBackoff::new(initial, Self::DEFAULT_MULTIPLIER, max, Self::DEFAULT_JITTER)
    }

    /// The backoff after `attempts` failures (0 = first retry).
    pub fn backoff(&self, attempts: u32, rng: &mut XorShiftRng) -> Duration {
        if self.exp_max == 0.0 {
            return self.initial;
        }
        let exp = (attempts as f64).min(self.exp_max);
        // In nanoseconds, so that jitter-free values come out exact.
        let term = self.initial.as_nanos() as f64 * self.multiplier.powf(exp);
        let factor = if self.jitter < f64::EPSILON {
            1.0
        } else {
            1.0 - self.jitter + 2.0 * self.jitter * rng.next_f64()
        };
        let value =
            Duration::from_nanos((term * factor).round().clamp(0.0, u64::MAX as f64) as u64);
        value.min(self.max)
    }

    /// The smallest value `backoff(attempts)` can return (without jitter's low side).
    pub fn initial(&self) -> Duration {
        self.initial
    }

    /// The cap.
    pub fn max(&self) -> Duration {
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn grows_within_jitter_and_caps() {
        let b = ExponentialBackoff::standard(ms(50), ms(1000));
        let mut rng = XorShiftRng::with_seed(7);
        for _ in 0..200 {
            let d0 = b.backoff(0, &mut rng);
            assert!(d0 >= ms(40) && d0 <= ms(60), "{d0:?}");
            let d2 = b.backoff(2, &mut rng);
            assert!(d2 >= ms(160) && d2 <= ms(240), "{d2:?}");
            for attempts in [5, 10, 100, u32::MAX] {
                let d = b.backoff(attempts, &mut rng);
                assert!(d <= ms(1000), "{d:?}");
                assert!(d >= ms(800), "{d:?}");
            }
        }
    }

    #[test]
    fn jitter_actually_varies() {
        let b = ExponentialBackoff::standard(ms(100), ms(10_000));
        let mut rng = XorShiftRng::with_seed(1);
        let values: std::collections::HashSet<_> =
            (0..20).map(|_| b.backoff(1, &mut rng)).collect();
        assert!(values.len() > 10);
    }

    #[test]
    fn no_growth_when_max_equals_initial() {
        let b = ExponentialBackoff::standard(ms(100), ms(100));
        let mut rng = XorShiftRng::with_seed(3);
        assert_eq!(b.backoff(0, &mut rng), ms(100));
        assert_eq!(b.backoff(9, &mut rng), ms(100));
        // A max below initial is raised to initial.
        let b = ExponentialBackoff::standard(ms(100), ms(10));
        assert_eq!(b.backoff(4, &mut rng), ms(100));
    }

    #[test]
    fn zero_jitter_is_exact() {
        let b = ExponentialBackoff::new(ms(10), 2.0, ms(1000), 0.0);
        let mut rng = XorShiftRng::with_seed(3);
        assert_eq!(b.backoff(0, &mut rng), ms(10));
        assert_eq!(b.backoff(3, &mut rng), ms(80));
        assert_eq!(b.backoff(30, &mut rng), ms(1000));
    }

    #[test]
    fn rng_ranges() {
        let mut rng = XorShiftRng::with_seed(0);
        for _ in 0..1000 {
            let f = rng.next_f64();
            assert!((0.0..1.0).contains(&f));
            assert!(rng.below(3) < 3);
        }
        assert_eq!(rng.below(0), 0);
        let a = XorShiftRng::from_time().next_u64();
        let b = XorShiftRng::from_time().next_u64();
        assert_ne!(a, b);
    }
}
