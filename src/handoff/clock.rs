//! One clock for the engine and the handoff.

use std::time::Instant;

/// Milliseconds since a consumer-wide epoch, for timestamps both threads share in atomics.
///
/// It never reads the time itself: the engine creates it from its first `now` and converts every
/// later `now` it is given, so whatever drives the engine's clock (a real runtime, paused tokio
/// time, a simulation's virtual clock) drives these timestamps too.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    epoch: Instant,
}

impl Clock {
    /// A clock whose millisecond 0 is `epoch`.
    pub(crate) fn starting_at(epoch: Instant) -> Self {
        Clock { epoch }
    }

    /// `at` in milliseconds since the epoch (0 before it).
    pub(crate) fn ms(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn counts_from_its_epoch_and_never_goes_negative() {
        let epoch = Instant::now() + Duration::from_secs(10);
        let clock = Clock::starting_at(epoch);
        assert_eq!(clock.ms(epoch), 0);
        assert_eq!(clock.ms(epoch + Duration::from_millis(1500)), 1500);
        assert_eq!(clock.ms(epoch - Duration::from_secs(1)), 0);
    }
}
