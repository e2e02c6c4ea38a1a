//! Liveness: a member whose application stops pulling waiting records for max.poll.interval leaves
//! the group so others can take over, and rejoins on the next pull (KIP-62 semantics).

use std::sync::atomic::Ordering;

use super::EngineCore;
use crate::events::{Event, Status};
use crate::group::LeaveReason;

impl EngineCore {
    /// Turns the streams' pull flags into times, and leaves the group if records of an unpaused
    /// partition have waited unpulled for longer than max.poll.interval.
    pub(super) fn check_max_poll(&mut self) {
        let limit = u64::try_from(self.config.max_poll_interval.as_millis()).unwrap_or(u64::MAX);
        let now_ms = self.clock.ms(self.now);
        // Streams only flag a pull; its time is taken here (at most one housekeeping period late,
        // which can only delay a leave, never hasten it).
        for p in self.parts.values() {
            if p.shared.pulled.swap(false, Ordering::AcqRel) {
                p.shared.last_pull_ms.store(now_ms, Ordering::Release);
            }
        }
        // A manually assigned consumer has no group to leave.
        if self.stalled_reported || self.manual.is_some() {
            return;
        }
        let stuck = self.parts.values().find(|p| {
            !p.is_ended()
                && !p.shared.is_paused()
                && p.shared.buffered.load(Ordering::Acquire) > 0
                && now_ms.saturating_sub(p.shared.last_pull_ms.load(Ordering::Acquire)) > limit
        });
        let Some(stuck) = stuck else {
            return;
        };
        let partition = stuck.shared.tp.clone();
        self.stalled_reported = true;
        tracing::warn!(
            %partition,
            max_poll_interval = ?self.config.max_poll_interval,
            "records waited unpulled longer than max.poll.interval.ms; leaving the group so others can take over (pull again to rejoin)"
        );
        if let Some(group) = &mut self.group {
            group.membership.leave(LeaveReason::MaxPollExceeded, self.now);
            self.rejoin.left.store(true, Ordering::Release);
            // Health first, then the event: whoever reacts to the event sees the new status.
            self.set_status(Status::Stalled);
        }
        self.reporter.event(Event::MaxPollExceeded { partition });
    }

    /// The application pulled again after a max-poll-interval leave: rejoin.
    pub(super) fn rejoin(&mut self) {
        if let Some(group) = &mut self.group {
            group.membership.rejoin(self.now);
            self.stalled_reported = false;
            self.set_status(Status::Joining);
        }
    }
}
