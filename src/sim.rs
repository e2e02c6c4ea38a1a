//! The whole consumer in one deterministic world: members (the engine's sans-IO core with its
//! handoff and a simulated application) against a simulated cluster (brokers with logs, a group
//! coordinator), on a virtual clock, with scripted and random faults. Every case's history is
//! checked against the same promises as the reliability suite's history checker.
//!
//! Compiled for tests and for cargo-fuzz (`--cfg fuzzing`), never into the library: a broken
//! promise is a panic here, which is what a test or a fuzzer needs.
#![allow(clippy::panic)]
// A fuzz build uses only part of the world.
#![cfg_attr(not(test), allow(dead_code))]

mod app;
pub(crate) mod batch;
pub(crate) mod case;
mod cluster;
mod coordinator;
mod history;
pub(crate) mod kip848;
mod net;
pub(crate) mod responses;
mod sessions;
pub(crate) mod world;

#[cfg(fuzzing)]
pub(crate) use case::Case;
#[cfg(fuzzing)]
pub(crate) use world::World;

#[cfg(test)]
mod scenarios;
#[cfg(test)]
mod tests;

/// The world's source of choices: a small deterministic random number generator (SplitMix64:
/// the same seed, the same case), optionally led by a tape of bytes (a fuzzer's input) that
/// makes the first choices, one or a few bytes each.
#[derive(Debug, Clone)]
pub(crate) struct Rng {
    state: u64,
    tape: Vec<u8>,
    read: usize,
}

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng::with_tape(seed, Vec::new())
    }

    /// Choices read from `tape` first, then from the generator seeded with `seed`.
    pub(crate) fn with_tape(seed: u64, tape: Vec<u8>) -> Rng {
        Rng {
            state: seed ^ 0x9E37_79B9_7F4A_7C15,
            tape,
            read: 0,
        }
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when `n` is 0, without using a choice).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        if self.read < self.tape.len() {
            // As few bytes as `n` needs, so that each byte of a fuzzer's input is one decision.
            let width = (64 - (n - 1).leading_zeros()).div_ceil(8).max(1) as usize;
            let bytes = &self.tape[self.read..(self.read + width).min(self.tape.len())];
            self.read += width;
            let v = bytes.iter().fold(0u64, |v, &b| (v << 8) | u64::from(b));
            return v % n;
        }
        self.next_u64() % n
    }

    /// True with probability `percent` / 100.
    pub(crate) fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// Uniform in `lo..=hi` milliseconds.
    pub(crate) fn millis(&mut self, lo: u64, hi: u64) -> std::time::Duration {
        std::time::Duration::from_millis(lo + self.below(hi.saturating_sub(lo) + 1))
    }
}

/// Engine logs for a traced case (`RUST_LOG`), written to the test's output.
#[cfg(test)]
pub(crate) fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}
