//! Applying a Fetch answer: records become deliveries, errors become position and leader changes.

use std::collections::HashMap;
use std::time::Instant;

use bytes::Bytes;

use super::batches::complete_batches;
use super::session::SessionAnswer;
use super::{FetchAction, FetchCore, FetchEvent, PositionState, classify};
use crate::error::{Error, Result};
use crate::records::AbortedTransaction;
use crate::wire::{DivergingEpoch, FetchResponse, KafkaCode};

impl FetchCore {
    /// The answer to fetch `id` (or the transport error that took its place).
    pub(crate) fn handle_fetch(&mut self, id: u64, result: Result<FetchResponse>, now: Instant) {
        self.now = now;
        let Some(fetch) = self.fetches.remove(&id) else {
            return;
        };
        let broker = self.brokers.entry(fetch.node).or_default();
        broker.in_flight = broker.in_flight.saturating_sub(1);
        if fetch.may_wait {
            broker.waiting = false;
        }
        // `asked` is in partition order (`send_fetch`). A fetch of most partitions (a session's
        // long poll) is released in one merged walk over the partition map; a small one by
        // lookups.
        if fetch.asked.len().saturating_mul(8) >= self.partitions.len() {
            let mut asked = fetch.asked.iter().peekable();
            for (tp, part) in &mut self.partitions {
                while asked.next_if(|a| a.tp < *tp).is_some() {}
                if asked.next_if(|a| a.tp == *tp).is_some() && part.in_fetch == Some(id) {
                    part.in_fetch = None;
                }
            }
        } else {
            for asked in &fetch.asked {
                if let Some(part) = self.partitions.get_mut(&asked.tp)
                    && part.in_fetch == Some(id)
                {
                    part.in_fetch = None;
                }
            }
        }
        let response = match result {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(node = fetch.node, error = %e, "fetch failed");
                // A failed fetch poisons its connection, so the next request goes on a new one.
                // A session survives that on the broker, but whatever this fetch was (a session
                // request the broker may or may not have applied, or a sessionless one on the
                // same connection), the next session request is full after a reconnect: it
                // closes the old session and states every partition afresh, so nothing depends
                // on what the broker made of the lost connection.
                if let Some(broker) = self.brokers.get_mut(&fetch.node) {
                    broker.session.lost();
                }
                self.fetch_failed(fetch.node);
                if e.is_retriable() {
                    self.events.push_back(FetchEvent::RefreshMetadata);
                }
                self.events.push_back(FetchEvent::Warning(e));
                return;
            }
        };
        let top = KafkaCode(response.error_code);
        let answer =
            match fetch.session_epoch {
                Some(epoch) => self.brokers.entry(fetch.node).or_default().session.answer(
                    epoch,
                    top,
                    response.session_id,
                ),
                None if top.is_error() => SessionAnswer::Failed,
                None => SessionAnswer::Apply,
            };
        match answer {
            SessionAnswer::Apply => {}
            SessionAnswer::Retry { backoff } => {
                if backoff {
                    self.fetch_failed(fetch.node);
                }
                return;
            }
            SessionAnswer::Failed => {
                tracing::warn!(node = fetch.node, code = %top, "fetch failed at the top level");
                self.fetch_failed(fetch.node);
                self.events.push_back(FetchEvent::RefreshMetadata);
                return;
            }
        }
        // From v13 the answer names topics by id: back to names through what was asked (one
        // entry per topic: `asked` is in partition order, so a topic's partitions are together).
        let mut names: HashMap<[u8; 16], &str> = HashMap::new();
        let mut last_id = None;
        for a in fetch.asked.iter().filter(|a| a.topic_id != [0; 16]) {
            if last_id != Some(a.topic_id) {
                names.insert(a.topic_id, &*a.tp.topic);
                last_id = Some(a.topic_id);
            }
        }
        let mut by_tp: HashMap<(&str, i32), &crate::wire::FetchPartition> = HashMap::new();
        // The asked partitions the answer carries, in the order they were asked: an incremental
        // answer carries only those with news, so this is a binary search per answered
        // partition, not a lookup per asked one.
        let mut answered: Vec<usize> = Vec::new();
        for topic in &response.responses {
            let name = if topic.topic.is_empty() && topic.topic_id != [0; 16] {
                match names.get(&topic.topic_id) {
                    Some(name) => *name,
                    // Not a topic of this fetch (or of this incarnation of it): nothing to apply.
                    None => continue,
                }
            } else {
                topic.topic.as_str()
            };
            for p in &topic.partitions {
                if by_tp.insert((name, p.partition_index), p).is_none()
                    && let Ok(i) = fetch
                        .asked
                        .binary_search_by(|a| (&*a.tp.topic, a.tp.partition).cmp(&(name, p.partition_index)))
                {
                    answered.push(i);
                }
            }
        }
        answered.sort_unstable();
        let read_committed = self.config.read_committed();
        let max_fetch = self.config.fetch_max_bytes.max(1);
        let default_fetch = self.config.max_partition_fetch_bytes;
        let mut refresh = false;
        let mut diverged = Vec::new();
        for asked in answered.into_iter().map(|i| &fetch.asked[i]) {
            let Some(part) = self.partitions.get_mut(&asked.tp) else {
                continue;
            };
            if part.position_epoch != asked.position_epoch
                || part.position != asked.position
                || part.state != PositionState::Ready
            {
                continue;
            }
            let Some(p) = by_tp.get(&(&*asked.tp.topic, asked.tp.partition)) else {
                continue;
            };
            let code = KafkaCode(p.error_code);
            let from_follower = part.leader.is_some_and(|leader| leader != fetch.node);
            if from_follower && code.is_error() {
                // A follower that cannot serve (not in sync yet, lagging behind the position, not
                // a replica any more): back to the leader at the same position, no reset.
                tracing::debug!(partition = %asked.tp, node = fetch.node, %code, "preferred read replica failed; fetching from the leader");
                part.preferred_replica = None;
                continue;
            }
            match classify(code) {
                FetchAction::None if p.diverging_epoch != DivergingEpoch::UNKNOWN => {
                    // KIP-320: the log diverges from the epoch last read (the answer carries no
                    // records then).
                    diverged.push((asked.tp.clone(), p.diverging_epoch));
                }
                FetchAction::None => {
                    if p.preferred_read_replica >= 0 && Some(p.preferred_read_replica) != Some(fetch.node) {
                        // KIP-392: the leader names a replica to read from (its answer carries no
                        // records then); used until it errs, the leader moves, or it expires.
                        tracing::debug!(partition = %asked.tp, replica = p.preferred_read_replica, "fetching from the preferred read replica");
                        part.preferred_replica =
                            Some((p.preferred_read_replica, now + self.config.preferred_replica_ttl));
                    }
                    part.high_watermark = p.high_watermark;
                    // Versions before 4 carry no last stable offset (-1): nothing counts as behind.
                    part.readable_end = if read_committed {
                        p.last_stable_offset
                    } else {
                        p.high_watermark
                    };
                    let Some(records) = p.records.as_ref().filter(|r| !r.is_empty()) else {
                        continue;
                    };
                    match complete_batches(records) {
                        Some(complete) => {
                            let chunk: Bytes = records.slice(..complete.len);
                            let aborted = read_committed.then(|| {
                                p.aborted_transactions
                                    .iter()
                                    .flatten()
                                    .map(|a| AbortedTransaction {
                                        producer_id: a.producer_id,
                                        first_offset: a.first_offset,
                                    })
                                    .collect()
                            });
                            self.events.push_back(FetchEvent::Fetched {
                                tp: asked.tp.clone(),
                                records: chunk,
                                start_at: part.position,
                                aborted,
                            });
                            part.position = complete.next_offset.max(part.position);
                            if complete.last_epoch >= 0 {
                                part.offset_epoch = complete.last_epoch;
                            }
                            part.fetch_bytes = default_fetch;
                        }
                        None => {
                            // One batch larger than the partition's fetch size: ask for more next time.
                            part.fetch_bytes = part.fetch_bytes.saturating_mul(2).min(max_fetch);
                        }
                    }
                }
                FetchAction::ResetPosition => {
                    tracing::warn!(partition = %asked.tp, position = part.position, "offset out of range; applying the reset policy");
                    part.state = PositionState::NeedReset;
                }
                FetchAction::RefreshLeader => {
                    // Leadership moved: find the new leader and resume at the same position.
                    tracing::debug!(partition = %asked.tp, %code, "refreshing metadata");
                    part.leader = None;
                    refresh = true;
                }
                FetchAction::Warn => {
                    tracing::warn!(partition = %asked.tp, %code, "fetch error for partition");
                    self.events.push_back(FetchEvent::Warning(Error::kafka(
                        code,
                        format!("fetching {} failed", asked.tp),
                    )));
                    refresh = true;
                }
            }
        }
        for (tp, at) in diverged {
            self.apply_epoch_end(&tp, at.epoch, at.end_offset);
        }
        if refresh {
            self.events.push_back(FetchEvent::RefreshMetadata);
        }
    }

    /// A fetch to `node` failed as a whole: no new fetch to it for the retry backoff.
    fn fetch_failed(&mut self, node: crate::types::NodeId) {
        let backoff = self.config.retry_backoff;
        let now = self.now;
        let broker = self.brokers.entry(node).or_default();
        broker.retry_at = Some(now + backoff);
    }
}
