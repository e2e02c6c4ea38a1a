//! Leader epochs (KIP-320): is the log read so far still the leader's log?
//!
//! A partition's position carries the leader epoch of the batch read before it. After the
//! leader changes (and for a committed offset that names its epoch) the position is validated
//! before any fetch: OffsetForLeaderEpoch asks the leader where that epoch ends in its log. A
//! fetch (v12+) carries the same epoch, and the broker answers a diverging one instead of
//! records. Either way, an end before the position means the log was truncated under the
//! consumer (an unclean leader election): what the application already read is gone, and the
//! reset policy decides: `earliest`/`latest` go on from the first offset known to diverge (as
//! Kafka's consumer does), `none` stops the partition with an error. An epoch the leader does
//! not know at all is reset by policy. Nothing is skipped silently: records after the
//! divergence point that were fetched but not yet read are dropped and fetched again.
//!
//! The application's side holds records fetched ahead of it, so where it is reading decides
//! whether truncated records were *read*: the core reports [`FetchEvent::Diverged`] and the
//! engine answers [`FetchCore::handle_diverged`] with the next offset the application reads.

use std::collections::BTreeMap;
use std::time::Instant;

use super::classify;
use super::{
    FetchAction, FetchCore, FetchEvent, FetchRequest, Gate, OffsetForLeaderEpochBody, PositionState,
};
use crate::config::OffsetReset;
use crate::error::{Error, ErrorKind, Result};
use crate::types::{NodeId, TopicPartition};
use crate::wire::{KafkaCode, OffsetForLeaderEpochResponse};

impl FetchCore {
    /// One OffsetForLeaderEpoch per leader for the partitions whose positions wait for it.
    pub(super) fn plan_validations(&mut self, gate: &impl Fn(&TopicPartition) -> Gate) {
        if self.validate_retry_at.is_some_and(|t| self.now < t) {
            return;
        }
        let mut by_leader: BTreeMap<NodeId, Vec<TopicPartition>> = BTreeMap::new();
        let mut leaderless = false;
        for (tp, part) in &self.partitions {
            if part.state != PositionState::NeedValidation || gate(tp) == Gate::Ended {
                continue;
            }
            match part.leader {
                Some(leader) => by_leader.entry(leader).or_default().push(tp.clone()),
                None => leaderless = true,
            }
        }
        if leaderless {
            self.events.push_back(FetchEvent::RefreshMetadata);
        }
        for (node, tps) in by_leader {
            let id = self.next_request_id();
            let mut partitions = Vec::with_capacity(tps.len());
            for tp in &tps {
                if let Some(part) = self.partitions.get_mut(tp) {
                    part.state = PositionState::Validating(id);
                    partitions.push((tp.clone(), part.leader_epoch, part.offset_epoch));
                }
            }
            tracing::debug!(
                node,
                partitions = partitions.len(),
                "validating positions against the leader's log"
            );
            self.validations.insert(id, tps);
            self.requests.push_back(FetchRequest::OffsetForLeaderEpoch {
                id,
                node,
                body: OffsetForLeaderEpochBody { partitions },
            });
        }
    }

    /// The answer to OffsetForLeaderEpoch `id`.
    pub(crate) fn handle_offset_for_leader_epoch(
        &mut self,
        id: u64,
        result: Result<OffsetForLeaderEpochResponse>,
        now: Instant,
    ) {
        self.now = now;
        let Some(tps) = self.validations.remove(&id) else {
            return;
        };
        let state = PositionState::Validating(id);
        let response = match result {
            Ok(r) => r,
            Err(e) if e.kind() == ErrorKind::UnsupportedVersion => {
                // A broker without the API (before Kafka 2.3, or a Kafka-compatible one without
                // it) cannot validate: fetch on, as Kafka's consumer does.
                tracing::debug!(error = %e, "the leader cannot validate positions; fetching on");
                for tp in &tps {
                    if let Some(part) = self.partitions.get_mut(tp).filter(|p| p.state == state) {
                        part.state = PositionState::Ready;
                    }
                }
                return;
            }
            Err(e) => {
                tracing::debug!(error = %e, "OffsetForLeaderEpoch failed; retrying");
                return self.retry_validation(&tps, state, e.is_retriable());
            }
        };
        let mut refresh = false;
        for topic in &response.topics {
            for p in &topic.partitions {
                let tp = TopicPartition::new(topic.topic.as_str(), p.partition);
                if !self.partitions.get(&tp).is_some_and(|part| part.state == state) {
                    continue;
                }
                let code = KafkaCode(p.error_code);
                match classify(code) {
                    FetchAction::None => self.apply_epoch_end(&tp, p.leader_epoch, p.end_offset),
                    FetchAction::RefreshLeader => refresh = true,
                    FetchAction::ResetPosition | FetchAction::Warn => {
                        tracing::warn!(partition = %tp, %code, "validating the position failed; retrying");
                    }
                }
            }
        }
        // Partitions answered with an error, or left out of the answer.
        self.retry_validation(&tps, state, refresh);
    }

    fn retry_validation(&mut self, tps: &[TopicPartition], state: PositionState, refresh: bool) {
        let mut left = false;
        for tp in tps {
            if let Some(part) = self.partitions.get_mut(tp).filter(|p| p.state == state) {
                part.state = PositionState::NeedValidation;
                left = true;
            }
        }
        if left {
            self.validate_retry_at = Some(self.now + self.config.retry_backoff);
            if refresh {
                self.events.push_back(FetchEvent::RefreshMetadata);
            }
        }
    }

    /// Where the leader says the epoch of `tp`'s last read batch ends (from OffsetForLeaderEpoch,
    /// or a Fetch answer's diverging epoch): at or past the position the log read is the
    /// leader's; before it (or unknown) it diverged.
    pub(super) fn apply_epoch_end(&mut self, tp: &TopicPartition, epoch: i32, end_offset: i64) {
        let Some(part) = self.partitions.get_mut(tp) else {
            return;
        };
        if epoch >= 0 && end_offset >= part.position {
            part.state = PositionState::Ready;
            return;
        }
        tracing::debug!(partition = %tp, position = part.position, epoch, end_offset, "the leader's log diverges");
        // Whatever a fetch in flight brings is from before the divergence: ignored.
        self.next_position_epoch += 1;
        part.position_epoch = self.next_position_epoch;
        part.state = PositionState::Diverged { epoch, end_offset };
        self.events.push_back(FetchEvent::Diverged { tp: tp.clone() });
    }

    /// The engine's answer to [`FetchEvent::Diverged`]: the stream dropped what it held, and the
    /// application reads `app_next` next (-1: it has read nothing since the position was last
    /// set). Records it read from the divergence point on were truncated: the reset policy
    /// decides. Otherwise it fetches again from where it is.
    pub(crate) fn handle_diverged(&mut self, tp: &TopicPartition, app_next: i64, now: Instant) {
        self.now = now;
        let policy_none = self.config.offset_reset == OffsetReset::None;
        let Some(part) = self.partitions.get_mut(tp) else {
            return;
        };
        let PositionState::Diverged { epoch, end_offset } = part.state else {
            return;
        };
        let app_next = if app_next >= 0 { app_next } else { part.sought_at };
        if epoch < 0 || end_offset < 0 {
            tracing::warn!(partition = %tp, position = app_next, "the leader's log has no record of the epoch read; applying the reset policy");
            part.state = PositionState::NeedReset;
            if policy_none {
                self.fail(
                    tp,
                    format!(
                        "{tp}: the leader's log no longer holds the leader epoch of the records read before offset {app_next} (an unclean leader election truncated it)"
                    ),
                );
            }
            return;
        }
        if end_offset < app_next {
            let what = format!(
                "{tp}: the log was truncated at offset {end_offset} (leader epoch {epoch} ends there), below offset {app_next} the application had read to: an unclean leader election lost records {end_offset}..{app_next}"
            );
            tracing::warn!("{what}");
            if policy_none {
                part.state = PositionState::Failed;
                return self.fail(tp, what);
            }
            self.events.push_back(FetchEvent::Warning(Error::new(
                ErrorKind::Kafka,
                format!("{what}; reading on from offset {end_offset}, the first known to diverge"),
            )));
            self.seek_in_epoch(tp, end_offset, epoch, PositionState::Ready, now);
        } else {
            // Only records the application had not read yet are gone: fetch again from where it is.
            let offset_epoch = if app_next == end_offset { epoch } else { -1 };
            self.seek_in_epoch(tp, app_next, offset_epoch, PositionState::Ready, now);
        }
    }

    fn fail(&mut self, tp: &TopicPartition, what: String) {
        if let Some(part) = self.partitions.get_mut(tp) {
            part.state = PositionState::Failed;
        }
        let error = Error::new(
            ErrorKind::Config,
            format!(
                "{what}; auto.offset.reset is none: seek to an offset to read on, or choose earliest/latest"
            ),
        );
        self.events.push_back(FetchEvent::Failed {
            tp: tp.clone(),
            error,
        });
    }
}
