//! Owned partitions: their handoff to the application (created before the first fetch), what the
//! cores read from it, deliveries into it, and its end on revoke or loss.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;

use super::EngineCore;
use crate::commit::Progress;
use crate::config::ConsumerConfig;
use crate::error::Error;
use crate::events::{Event, Status};
use crate::fetch::Gate;
use crate::handoff::{Chunk, CommitOffset, Delivery, PartitionHandoff, partition_handoff};
use crate::records::AbortedTransaction;
use crate::types::TopicPartition;

/// The application's side of each partition, as the commit core reads it.
pub(super) struct AppProgress<'a> {
    pub(super) parts: &'a mut BTreeMap<TopicPartition, PartitionHandoff>,
}

impl Progress for AppProgress<'_> {
    fn committable(&self, tp: &TopicPartition, closing: bool) -> Option<CommitOffset> {
        let shared = &self.parts.get(tp)?.shared;
        let offset = if closing {
            shared.committable_on_close()?
        } else {
            shared.committable()?
        };
        // The epoch of the last record the application got (as Kafka's consumer commits the
        // consumed record's epoch): never the leader's current one, which may name a log that
        // no longer holds what was read.
        let leader_epoch = shared.delivered_epoch.load(Ordering::Acquire);
        Some(CommitOffset {
            tp: tp.clone(),
            offset,
            leader_epoch,
        })
    }

    fn is_released(&mut self, tp: &TopicPartition) -> bool {
        self.parts.get_mut(tp).is_none_or(|p| p.is_released())
    }
}

/// Whether each partition may be fetched, from its handoff: ended, paused, or out of buffer room
/// (its own, or the consumer's total).
pub(super) fn gate<'a>(
    parts: &'a BTreeMap<TopicPartition, PartitionHandoff>,
    config: &'a ConsumerConfig,
    total_buffered: &'a AtomicUsize,
) -> impl Fn(&TopicPartition) -> Gate + 'a {
    move |tp| match parts.get(tp) {
        None => Gate::Ended,
        Some(p) if p.is_ended() => Gate::Ended,
        Some(p) if p.shared.is_paused() => Gate::Paused,
        Some(p)
            if p.shared.buffered.load(Ordering::Acquire) >= config.partition_buffer_bytes
                || total_buffered.load(Ordering::Acquire) >= config.total_buffer_bytes =>
        {
            Gate::Full
        }
        Some(_) => Gate::Open,
    }
}

impl EngineCore {
    /// Takes ownership of `tps`: a stream for each, handed to the application before any fetch.
    pub(super) fn assign(&mut self, tps: Vec<TopicPartition>) {
        let now_ms = self.clock.ms(self.now);
        for tp in &tps {
            if self.parts.get(tp).is_some_and(|p| !p.is_ended()) {
                continue;
            }
            let (handoff, stream) = partition_handoff(tp.clone(), self.total_buffered.clone(), now_ms);
            self.parts.insert(tp.clone(), handoff);
            self.fetch.assign(tp.clone(), self.now);
            self.commit.assign(tp.clone());
            if let Some(tx) = &self.partitions_tx {
                let _ = tx.send(stream);
            }
        }
        tracing::info!(partitions = ?tps.iter().map(ToString::to_string).collect::<Vec<_>>(), "assigned");
        self.reporter.event(Event::Assigned(tps));
    }

    /// Manual assignment: own `tps` too (those already owned stay as they are).
    pub(super) fn assign_manually(&mut self, tps: Vec<TopicPartition>) {
        let new: Vec<TopicPartition> = tps
            .into_iter()
            .filter(|tp| self.manual.as_mut().is_some_and(|m| m.insert(tp.clone())))
            .collect();
        if !new.is_empty() {
            self.assign(new);
            // Their leaders (and, for new topics, their metadata) are needed now.
            self.request_metadata_refresh();
        }
    }

    /// Manual assignment: give `tps` up. Their streams end at once; with a group, what was
    /// processed is committed first (as Kafka's consumer does when an assignment shrinks).
    pub(super) fn unassign_manually(&mut self, tps: Vec<TopicPartition>) {
        let gone: Vec<TopicPartition> = tps
            .into_iter()
            .filter(|tp| self.manual.as_mut().is_some_and(|m| m.remove(tp)))
            .collect();
        if gone.is_empty() {
            return;
        }
        if self.group.is_some() {
            // What a close would commit for them: everything handed to the application.
            let progress = AppProgress {
                parts: &mut self.parts,
            };
            let offsets: Vec<CommitOffset> = gone
                .iter()
                .filter_map(|tp| progress.committable(tp, true))
                .collect();
            let target = self.commit_target();
            if !offsets.is_empty() && self.commit.check_owned(&offsets, target.as_ref()).is_ok() {
                let id = self.next_reply;
                self.next_reply += 1;
                self.commit.commit(id, offsets, target.as_ref(), self.now);
            }
        }
        tracing::info!(partitions = gone.len(), "unassigned");
        self.give_up(gone);
    }

    /// Gives `tps` up at once, without a revoke wait (no group to wait for, or what was
    /// processed was committed already): their streams end, and the application hears they were
    /// revoked. Manual unassignment and, without a group, a topic a pattern no longer matches.
    pub(super) fn give_up(&mut self, tps: Vec<TopicPartition>) {
        for tp in &tps {
            if let Some(mut part) = self.parts.remove(tp) {
                part.end_and_close();
            }
            self.fetch.remove(tp);
        }
        self.commit.remove(&tps);
        self.reporter.event(Event::Revoked(tps));
    }

    /// Without a group: own every partition of the subscribed topics.
    pub(super) fn assign_all(&mut self, counts: &BTreeMap<String, i32>) {
        let wanted: Vec<TopicPartition> = counts
            .iter()
            .flat_map(|(topic, n)| {
                let topic: std::sync::Arc<str> = std::sync::Arc::from(topic.as_str());
                (0..*n).map(move |p| TopicPartition {
                    topic: topic.clone(),
                    partition: p,
                })
            })
            .filter(|tp| !self.parts.contains_key(tp))
            .collect();
        if !wanted.is_empty() {
            self.assign(wanted);
        }
        if !self.parts.is_empty() {
            self.set_status(Status::Consuming);
        }
    }

    /// Starts a clean revoke: streams end now; the rebalance continues once the application has
    /// released them and their offsets are committed (bounded by the rebalance timeout).
    pub(super) fn begin_revoke(&mut self, tps: Vec<TopicPartition>) {
        for tp in &tps {
            if let Some(part) = self.parts.get_mut(tp) {
                part.end_and_close();
            }
        }
        self.set_status(Status::Rebalancing);
        let deadline = self.now + self.config.max_poll_interval;
        let target = self.commit_target();
        self.commit.begin_revoke(tps, deadline, target.as_ref(), self.now);
    }

    /// A revoke outlived its generation: the partitions are lost (nothing committed), and the
    /// membership, which started over, is not told.
    pub(super) fn abandon_revoke(&mut self, tps: Vec<TopicPartition>) {
        for tp in &tps {
            if self.parts.get(tp).is_some_and(|p| p.is_ended()) {
                self.parts.remove(tp);
                self.fetch.remove(tp);
            }
        }
        if !tps.is_empty() {
            let error = Error::new(
                crate::error::ErrorKind::Kafka,
                "the group moved on while the application still held these revoked partitions; their offsets were not committed",
            );
            tracing::warn!(
                partitions = tps.len(),
                "revoke abandoned: the generation ended first"
            );
            self.reporter.event(Event::Lost(tps, error));
        }
    }

    /// The revoke of `tps` is complete: they go, and the membership carries on.
    pub(super) fn finish_revoke(&mut self, tps: Vec<TopicPartition>) {
        for tp in &tps {
            // Only the revoked (ended) ownership goes; the commit core drops a partition assigned
            // again meanwhile from the revoke, this is the belt to those braces.
            if self.parts.get(tp).is_some_and(|p| p.is_ended()) {
                self.parts.remove(tp);
                self.fetch.remove(tp);
            }
        }
        tracing::info!(partitions = tps.len(), "revoked");
        self.reporter.event(Event::Revoked(tps));
        if let Some(group) = &mut self.group {
            group.membership.handle_revoke_done(self.now);
        }
    }

    /// Drops partitions at once (lost, not revoked): their offsets are not committed.
    pub(super) fn lose(&mut self, tps: Vec<TopicPartition>, error: Error) {
        for tp in &tps {
            if let Some(mut part) = self.parts.remove(tp) {
                part.end_and_close();
            }
            self.fetch.remove(tp);
        }
        self.commit.remove(&tps);
        if !tps.is_empty() {
            tracing::warn!(error = %error, partitions = tps.len(), "partitions lost");
            self.reporter.event(Event::Lost(tps, error));
        }
    }

    /// Hands fetched batches to `tp`'s stream, counting them against its buffer.
    pub(super) fn deliver(
        &mut self,
        tp: &TopicPartition,
        records: Bytes,
        start_at: i64,
        aborted: Option<Vec<AbortedTransaction>>,
    ) {
        let Some(part) = self.parts.get_mut(tp) else {
            return;
        };
        if part.is_ended() {
            return;
        }
        let size = records.len();
        part.fetched_bytes += size as u64;
        self.counters.fetched_bytes += size as u64;
        let shared = &part.shared;
        if shared.buffered.fetch_add(size, Ordering::AcqRel) == 0 {
            // Records start waiting now: the max-poll clock starts here.
            shared
                .last_pull_ms
                .store(self.clock.ms(self.now), Ordering::Release);
        }
        shared.total_buffered.fetch_add(size, Ordering::AcqRel);
        let delivered = part.deliver(Delivery::Chunk(Chunk {
            records,
            start_at,
            aborted,
            seek_epoch: shared.seek_epoch.load(Ordering::Acquire),
        }));
        if !delivered {
            shared.consumed(size);
        }
    }

    /// Owned partitions and lag for `health()`.
    pub(super) fn report_assignment(&self) {
        let mut owned = 0;
        let mut lag: Option<u64> = None;
        for (tp, part) in self.parts.iter().filter(|(_, p)| !p.is_ended()) {
            owned += 1;
            let Some(f) = self.fetch.partition(tp).filter(|f| f.high_watermark >= 0) else {
                continue;
            };
            let delivered = part.shared.delivered_next.load(Ordering::Acquire);
            let next = if delivered >= 0 {
                delivered
            } else {
                f.position.max(0)
            };
            let behind = u64::try_from(f.high_watermark.saturating_sub(next)).unwrap_or(0);
            lag = Some(lag.unwrap_or(0).saturating_add(behind));
        }
        self.reporter.assigned(owned, lag);
    }
}
