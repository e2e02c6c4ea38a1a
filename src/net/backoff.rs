//! Capped exponential backoff with jitter, as an iterator of delays.

use std::time::Duration;

/// Backoff settings (librdkafka's `reconnect.backoff.ms` / `reconnect.backoff.max.ms`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackoffConfig {
    /// The first delay.
    pub initial: Duration,
    /// The largest delay.
    pub max: Duration,
    /// Growth factor per attempt.
    pub multiplier: u32,
    /// Each delay is drawn uniformly from `[(1 - jitter) * d, d]`, in percent (0–100).
    pub jitter_percent: u8,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        BackoffConfig {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(10),
            multiplier: 2,
            jitter_percent: 20,
        }
    }
}

/// Delays between attempts: `initial`, `initial * multiplier`, … capped at `max`, each reduced by a
/// random jitter so that many clients do not retry in lockstep. Never ends.
///
/// The random source is injectable ([`Backoff::with_rng`]) so tests are deterministic.
pub struct Backoff {
    config: BackoffConfig,
    next_base: Duration,
    rng: Box<dyn FnMut() -> u64 + Send>,
}

impl std::fmt::Debug for Backoff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backoff")
            .field("config", &self.config)
            .field("next_base", &self.next_base)
            .finish()
    }
}

impl Backoff {
    /// A backoff seeded from the process's random hasher keys.
    pub fn new(config: BackoffConfig) -> Self {
        let seed = {
            use std::hash::{BuildHasher, Hasher};
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u64(0x6b61_666b_6974);
            h.finish()
        };
        Backoff::with_rng(config, splitmix64(seed))
    }

    /// A backoff drawing jitter from `rng` (any `u64`s).
    pub fn with_rng(config: BackoffConfig, rng: impl FnMut() -> u64 + Send + 'static) -> Self {
        Backoff {
            config,
            next_base: config.initial,
            rng: Box::new(rng),
        }
    }

    /// Starts again from the initial delay (after a success).
    pub fn reset(&mut self) {
        self.next_base = self.config.initial;
    }
}

impl Iterator for Backoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let base = self.next_base.min(self.config.max);
        self.next_base = base
            .saturating_mul(self.config.multiplier.max(1))
            .min(self.config.max);
        let jitter = u64::from(self.config.jitter_percent.min(100));
        // Uniform in [0, jitter] percent of base, in whole microseconds.
        let base_us = u64::try_from(base.as_micros()).unwrap_or(u64::MAX);
        let span = base_us / 100 * jitter;
        let cut = if span == 0 { 0 } else { (self.rng)() % (span + 1) };
        Some(Duration::from_micros(base_us - cut))
    }
}

/// A tiny non-cryptographic generator; jitter needs no more.
fn splitmix64(mut state: u64) -> impl FnMut() -> u64 + Send {
    move || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> BackoffConfig {
        BackoffConfig {
            initial: Duration::from_millis(100),
            max: Duration::from_millis(1000),
            multiplier: 2,
            jitter_percent: 20,
        }
    }

    #[test]
    fn grows_and_caps_without_jitter() {
        let delays: Vec<_> = Backoff::with_rng(cfg(), || 0)
            .take(7)
            .map(|d| d.as_millis())
            .collect();
        assert_eq!(delays, vec![100, 200, 400, 800, 1000, 1000, 1000]);
    }

    #[test]
    fn jitter_stays_within_bounds() {
        let mut b = Backoff::new(cfg());
        let mut distinct = std::collections::HashSet::new();
        for attempt in 0..200 {
            let d = b.next().unwrap();
            let base = 100u128 * 2u128.pow(attempt.min(4)).min(10);
            let base = base.min(1000);
            assert!(
                d.as_millis() <= base && d.as_millis() * 100 >= base * 80,
                "{attempt}: {d:?} vs {base}"
            );
            distinct.insert(d);
        }
        assert!(distinct.len() > 10, "jitter should vary delays");
    }

    #[test]
    fn reset_starts_over() {
        let mut b = Backoff::with_rng(cfg(), || 0);
        b.next();
        b.next();
        b.reset();
        assert_eq!(b.next(), Some(Duration::from_millis(100)));
    }
}
