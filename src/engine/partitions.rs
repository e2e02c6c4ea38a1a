//! Owned partitions: creating their streams, ending them on revoke or loss.

use std::sync::Arc;

use tokio::time::Instant;

use super::Driver;
use crate::cluster::ClusterMetadata;
use crate::error::Error;
use crate::events::{Event, Status};
use crate::handoff::{Delivery, PartitionHandoff, partition_handoff};
use crate::types::NodeId;
use crate::types::TopicPartition;

/// Where a partition's fetch position comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PositionState {
    /// Needs its committed offset (group) or a reset.
    NeedOffset,
    /// A lookup (OffsetFetch or ListOffsets) is in flight.
    LookingUp,
    /// Needs a reset by policy (no committed offset, or out of range).
    NeedReset,
    /// Known: fetching.
    Ready,
    /// Stopped: reset policy `none` and no offset; the stream got an error.
    Failed,
}

/// One owned partition.
pub(crate) struct Part {
    pub(crate) handoff: PartitionHandoff,
    pub(crate) shared: Arc<crate::handoff::PartitionShared>,
    pub(crate) state: PositionState,
    /// The next offset to fetch.
    pub(crate) position: i64,
    pub(crate) leader: Option<NodeId>,
    pub(crate) leader_epoch: i32,
    /// Bumped whenever the position is set from outside the fetch path, so a late fetch response
    /// for an old position is ignored.
    pub(crate) incarnation: u64,
    pub(crate) in_fetch: bool,
    /// Last offset committed for it (by anyone in this process).
    pub(crate) committed: i64,
    /// Per-partition fetch size, grown when one batch does not fit.
    pub(crate) fetch_bytes: i32,
    pub(crate) high_watermark: i64,
    /// Where the last fetch response said readable records end (the high watermark, or the last
    /// stable offset under read_committed); -1 if unknown.
    pub(crate) readable_end: i64,
}

impl Part {
    pub(crate) fn is_ended(&self) -> bool {
        self.handoff.is_ended()
    }
    pub(crate) fn end(&self) {
        self.handoff.end()
    }
    fn close_channel(&mut self) {
        self.handoff.end_and_close()
    }
    pub(crate) fn is_dropped(&mut self) -> bool {
        self.handoff.is_released()
    }
    pub(crate) fn deliver(&self, delivery: Delivery) -> bool {
        self.handoff.deliver(delivery)
    }
}

impl Driver {
    /// Takes ownership of `tps`: a stream for each, handed to the application before any fetch.
    pub(crate) fn assign(&mut self, tps: Vec<TopicPartition>, _now: Instant) {
        for tp in &tps {
            if let Some(existing) = self.parts.get(tp)
                && !existing.is_ended()
            {
                continue;
            }
            let (handoff, stream) = partition_handoff(
                tp.clone(),
                self.total_buffered.clone(),
                self.clock.ms(_now.into_std()),
            );
            let shared = handoff.shared.clone();
            self.incarnation += 1;
            let (leader, leader_epoch) = self.leader_of(tp);
            let part = Part {
                handoff,
                shared,
                state: PositionState::NeedOffset,
                position: -1,
                leader,
                leader_epoch,
                incarnation: self.incarnation,
                in_fetch: false,
                committed: -1,
                fetch_bytes: self.config.max_partition_fetch_bytes,
                high_watermark: -1,
                readable_end: -1,
            };
            self.parts.insert(tp.clone(), part);
            if let Some(tx) = &self.partitions_tx {
                let _ = tx.send(stream);
            }
        }
        tracing::info!(partitions = ?tps.iter().map(ToString::to_string).collect::<Vec<_>>(), "assigned");
        self.reporter.event(Event::Assigned(tps));
    }

    /// Starts a clean revoke: streams end now; the rebalance continues once the application has
    /// dropped them and their offsets are committed (bounded by the rebalance timeout).
    pub(crate) fn begin_revoke(&mut self, tps: Vec<TopicPartition>, now: Instant) {
        for tp in &tps {
            if let Some(part) = self.parts.get_mut(tp) {
                part.end();
                part.close_channel();
            }
        }
        self.reporter.status(Status::Rebalancing);
        self.offsets
            .begin_revoke(tps, now + self.config.max_poll_interval);
    }

    /// Drops partitions at once (lost, not revoked): their offsets are not committed.
    pub(crate) fn lose(&mut self, tps: Vec<TopicPartition>, error: Error) {
        for tp in &tps {
            if let Some(mut part) = self.parts.remove(tp) {
                part.end();
                part.close_channel();
            }
        }
        self.offsets.forget(&tps);
        if !tps.is_empty() {
            tracing::warn!(error = %error, partitions = tps.len(), "partitions lost");
            self.reporter.event(Event::Lost(tps, error));
        }
    }

    /// Finishes a revoke once every revoked stream is dropped and commits landed, or the deadline
    /// passed.
    pub(crate) fn check_revoke_wait(&mut self, now: Instant) {
        let Some((tps, deadline, committed)) = self.offsets.revoke_wait() else {
            return;
        };
        let all_dropped = tps
            .iter()
            .all(|tp| self.parts.get_mut(tp).is_none_or(|p| p.is_dropped()));
        if !all_dropped && now < deadline {
            return;
        }
        if !committed && now < deadline {
            // Streams are gone: commit what they processed, then finish.
            if self.config.enable_auto_commit && self.group_generation().is_some() {
                // Sent here, not on the next auto-commit pass: a second check in the same pass must
                // already see it in flight, or the revoke would finish before the commit.
                self.offsets.mark_revoke_committed();
                if self.commit_processed(now) {
                    return;
                }
            }
        }
        if self.offsets.commit_in_flight() && now < deadline {
            return;
        }
        for tp in &tps {
            self.parts.remove(tp);
        }
        self.offsets.end_revoke();
        tracing::info!(partitions = tps.len(), "revoked");
        self.reporter.event(Event::Revoked(tps));
        if let Some(group) = &mut self.group {
            group.revoke_done(now);
        }
    }

    pub(crate) fn leader_of(&self, tp: &TopicPartition) -> (Option<NodeId>, i32) {
        self.metadata
            .as_ref()
            .and_then(|m| m.partition(&tp.topic, tp.partition))
            .map_or((None, -1), |p| (p.leader, p.leader_epoch))
    }

    pub(crate) fn update_leaders(&mut self, metadata: &ClusterMetadata) {
        for (tp, part) in &mut self.parts {
            if let Some(p) = metadata.partition(&tp.topic, tp.partition) {
                part.leader = p.leader;
                part.leader_epoch = p.leader_epoch;
            } else {
                part.leader = None;
            }
        }
    }

    pub(crate) fn group_generation(&self) -> Option<(i32, String)> {
        self.group.as_ref().and_then(|g| g.generation())
    }
}
