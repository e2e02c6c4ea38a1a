//! Fetching: requests to each leader broker for the owned partitions it leads whose buffers have
//! room, pipelined while those partitions are behind; responses become chunks on the partitions'
//! streams.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{ApiKey, FetchRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use tokio::time::Instant;

use super::partitions::PositionState;
use super::{Driver, Input};
use crate::config::IsolationLevel;
use crate::error::{Error, Result};
use crate::handoff::{Chunk, Delivery};
use crate::records::AbortedTransaction;
use crate::types::NodeId;
use crate::types::TopicPartition;
use crate::wire::{FetchResponse, KafkaCode};

/// Fetches in flight to one broker at most, over disjoint sets of partitions (see
/// [`Driver::start_fetches`]). A partition is in at most one fetch, so the bytes in flight stay
/// bounded by the partitions' fetch sizes, as with one fetch.
const FETCHES_PER_BROKER: usize = 4;

/// The fetches in flight to one broker.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct InFlight {
    count: usize,
    /// One of them may be held by the broker for up to `fetch.wait.max.ms`.
    waiting: bool,
}

/// What one fetch asked for, to match the response against.
pub(crate) struct Asked {
    tp: TopicPartition,
    position: i64,
    incarnation: u64,
}

pub(crate) struct FetchResult {
    node: NodeId,
    may_wait: bool,
    asked: Vec<Asked>,
    result: Result<FetchResponse>,
}

/// Scans batch headers (no CRC, no records) to find where the complete batches end and the offset
/// after the last of them. `None` when no batch is complete.
pub(crate) fn complete_batches(records: &[u8]) -> Option<(usize, i64)> {
    let mut pos = 0usize;
    let mut next_offset = None;
    // base_offset (8) + batch_length (4); the batch spans 12 + batch_length bytes.
    while let Some(header) = records.get(pos..pos + 12) {
        let base_offset = i64::from_be_bytes(header[0..8].try_into().ok()?);
        let length = i32::from_be_bytes(header[8..12].try_into().ok()?);
        // last_offset_delta sits at byte 23 of the batch.
        if length < 49 {
            break;
        }
        let end = pos.checked_add(12)?.checked_add(length as usize)?;
        if end > records.len() {
            break;
        }
        let delta = records.get(pos + 23..pos + 27)?;
        let last_offset_delta = i32::from_be_bytes(delta.try_into().ok()?);
        next_offset = Some(
            base_offset
                .checked_add(i64::from(last_offset_delta))?
                .checked_add(1)?,
        );
        pos = end;
    }
    next_offset.map(|n| (pos, n))
}

impl Driver {
    pub(crate) fn fetch_blocked_by_buffers(&self) -> bool {
        self.parts.values().any(|p| {
            p.state == PositionState::Ready && !p.in_fetch && !p.shared.is_paused() && !self.has_room(p)
        })
    }

    fn has_room(&self, part: &super::Part) -> bool {
        part.shared.buffered.load(Ordering::Acquire) < self.config.partition_buffer_bytes
            && self.total_buffered.load(Ordering::Acquire) < self.config.total_buffer_bytes
    }

    /// Whether a fetch for this partition is answered at once: readable records are known to exist
    /// past its position (below the last response's high watermark, or its last stable offset under
    /// read_committed) and any one record satisfies the fetch's minimum.
    fn is_behind(&self, part: &super::Part) -> bool {
        self.config.fetch_min_bytes <= 1 && part.position < part.readable_end
    }

    /// Starts fetches to the leaders of ready partitions with room in their buffers.
    ///
    /// Partitions known to be behind are spread over up to [`FETCHES_PER_BROKER`] fetches in flight
    /// per broker, over disjoint sets of partitions, so the broker builds the next response while
    /// this side reads the last one. A broker answers a connection's requests in order, so a fetch
    /// that may wait at the broker (`fetch.wait.max.ms`, when no partition in it is behind) is sent
    /// only when nothing else is in flight to that broker, and nothing is sent behind it.
    pub(crate) fn start_fetches(&mut self, _now: Instant) {
        if self.is_closing() {
            return;
        }
        // Per leader: (behind, caught up).
        let mut by_leader: BTreeMap<NodeId, (Vec<TopicPartition>, Vec<TopicPartition>)> = BTreeMap::new();
        let mut leaderless = false;
        for (tp, part) in &self.parts {
            if part.state != PositionState::Ready || part.in_fetch || part.is_ended() || !self.has_room(part)
            {
                continue;
            }
            if part.shared.is_paused() {
                continue;
            }
            match part.leader {
                Some(leader) => {
                    let (behind, caught_up) = by_leader.entry(leader).or_default();
                    if self.is_behind(part) {
                        behind.push(tp.clone());
                    } else {
                        caught_up.push(tp.clone());
                    }
                }
                None => leaderless = true,
            }
        }
        if leaderless {
            self.request_metadata_refresh(Instant::now());
        }
        for (node, (behind, caught_up)) in by_leader {
            let flight = self.fetches_in_flight.get(&node).copied().unwrap_or_default();
            if flight.waiting {
                continue;
            }
            if behind.is_empty() {
                if flight.count == 0 {
                    self.spawn_fetch(node, caught_up, true);
                }
                continue;
            }
            let n = FETCHES_PER_BROKER.saturating_sub(flight.count).min(behind.len());
            if n == 0 {
                continue;
            }
            let mut sets: Vec<Vec<TopicPartition>> = (0..n).map(|_| Vec::new()).collect();
            for (i, tp) in behind.into_iter().enumerate() {
                sets[i % n].push(tp);
            }
            // Caught-up partitions ride along with behind ones: that fetch is answered at once.
            sets[0].extend(caught_up);
            for set in sets {
                self.spawn_fetch(node, set, false);
            }
        }
    }

    /// `may_wait`: no partition in it is known to be behind, so the broker may hold it for up to
    /// `fetch.wait.max.ms`.
    fn spawn_fetch(&mut self, node: NodeId, tps: Vec<TopicPartition>, may_wait: bool) {
        let mut asked = Vec::with_capacity(tps.len());
        let mut topics: BTreeMap<std::sync::Arc<str>, Vec<FetchPartition>> = BTreeMap::new();
        for tp in tps {
            let Some(part) = self.parts.get_mut(&tp) else {
                continue;
            };
            part.in_fetch = true;
            topics.entry(tp.topic.clone()).or_default().push(
                FetchPartition::default()
                    .with_partition(tp.partition)
                    .with_current_leader_epoch(part.leader_epoch)
                    .with_fetch_offset(part.position)
                    .with_partition_max_bytes(part.fetch_bytes),
            );
            asked.push(Asked {
                tp,
                position: part.position,
                incarnation: part.incarnation,
            });
        }
        let request = FetchRequest::default()
            .with_max_wait_ms(i32::try_from(self.config.fetch_wait_max.as_millis()).unwrap_or(i32::MAX))
            .with_min_bytes(self.config.fetch_min_bytes)
            .with_max_bytes(self.config.fetch_max_bytes)
            .with_isolation_level(match self.config.isolation_level {
                IsolationLevel::ReadCommitted => 1,
                IsolationLevel::ReadUncommitted => 0,
            })
            .with_topics(
                topics
                    .into_iter()
                    .map(|(topic, partitions)| {
                        FetchTopic::default()
                            .with_topic(TopicName(StrBytes::from_string(topic.to_string())))
                            .with_partitions(partitions)
                    })
                    .collect(),
            );
        let flight = self.fetches_in_flight.entry(node).or_default();
        flight.count += 1;
        flight.waiting |= may_wait;
        let pool = self.pool.clone();
        let tx = self.inputs_tx.clone();
        tokio::spawn(async move {
            let result = async {
                let conn = pool.connection(node).await?;
                let version = conn.api_versions().version_for(ApiKey::Fetch)?;
                // Versions below 9 cannot carry the leader epoch; the default (-1) is omitted then.
                let mut request = request;
                if version < 9 {
                    for t in &mut request.topics {
                        for p in &mut t.partitions {
                            p.current_leader_epoch = -1;
                        }
                    }
                }
                conn.request_at::<_, FetchResponse>(&request, version).await
            }
            .await;
            let _ = tx.send(Input::Fetch(FetchResult {
                node,
                may_wait,
                asked,
                result,
            }));
        });
    }

    pub(crate) fn handle_fetch(&mut self, fetch: FetchResult, now: Instant) {
        if let Some(flight) = self.fetches_in_flight.get_mut(&fetch.node) {
            flight.count = flight.count.saturating_sub(1);
            if fetch.may_wait {
                flight.waiting = false;
            }
        }
        for asked in &fetch.asked {
            if let Some(part) = self.parts.get_mut(&asked.tp) {
                part.in_fetch = false;
            }
        }
        let response = match fetch.result {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(node = fetch.node, error = %e, "fetch failed");
                if e.is_retriable() {
                    self.request_metadata_refresh(now);
                }
                self.reporter.event(crate::events::Event::Warning(e));
                return;
            }
        };
        if KafkaCode(response.error_code).is_error() {
            let code = KafkaCode(response.error_code);
            tracing::warn!(node = fetch.node, %code, "fetch failed at the top level");
            self.request_metadata_refresh(now);
            return;
        }
        let mut by_tp: BTreeMap<(&str, i32), (&crate::wire::FetchPartition,)> = BTreeMap::new();
        for topic in &response.responses {
            for p in &topic.partitions {
                by_tp.insert((topic.topic.as_str(), p.partition_index), (p,));
            }
        }
        let read_committed = self.config.isolation_level == IsolationLevel::ReadCommitted;
        let mut refresh = false;
        for asked in &fetch.asked {
            let Some(part) = self.parts.get_mut(&asked.tp) else {
                continue;
            };
            if part.incarnation != asked.incarnation || part.position != asked.position || part.is_ended() {
                continue;
            }
            let Some((p,)) = by_tp.get(&(&*asked.tp.topic, asked.tp.partition)) else {
                continue;
            };
            let code = KafkaCode(p.error_code);
            match code {
                KafkaCode::NONE => {
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
                        Some((len, next_offset)) => {
                            let chunk_bytes: Bytes = records.slice(..len);
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
                            let size = chunk_bytes.len();
                            if part.shared.buffered.fetch_add(size, Ordering::AcqRel) == 0 {
                                // Records start waiting now: the max-poll clock starts here.
                                part.shared
                                    .last_pull_ms
                                    .store(self.clock.ms(now.into_std()), Ordering::Release);
                            }
                            part.shared.total_buffered.fetch_add(size, Ordering::AcqRel);
                            let delivered = part.deliver(Delivery::Chunk(Chunk {
                                records: chunk_bytes,
                                start_at: part.position,
                                aborted,
                                leader_epoch: part.leader_epoch,
                            }));
                            if !delivered {
                                part.shared.buffered.fetch_sub(size, Ordering::AcqRel);
                                part.shared.total_buffered.fetch_sub(size, Ordering::AcqRel);
                            }
                            part.position = next_offset.max(part.position);
                            part.fetch_bytes = self.config.max_partition_fetch_bytes;
                        }
                        None => {
                            // One batch larger than the partition's fetch size: ask for more next time.
                            part.fetch_bytes = part
                                .fetch_bytes
                                .saturating_mul(2)
                                .min(self.config.fetch_max_bytes.max(1));
                        }
                    }
                }
                KafkaCode::OFFSET_OUT_OF_RANGE => {
                    tracing::warn!(partition = %asked.tp, position = part.position, "offset out of range; applying the reset policy");
                    part.state = PositionState::NeedReset;
                }
                KafkaCode::NOT_LEADER_OR_FOLLOWER
                | KafkaCode::FENCED_LEADER_EPOCH
                | KafkaCode::UNKNOWN_LEADER_EPOCH
                | KafkaCode::UNKNOWN_TOPIC_OR_PARTITION
                | KafkaCode::LEADER_NOT_AVAILABLE
                | KafkaCode(9)
                | KafkaCode(56)
                | KafkaCode(100) => {
                    // Leadership moved: find the new leader and resume at the same position.
                    tracing::debug!(partition = %asked.tp, %code, "refreshing metadata");
                    part.leader = None;
                    refresh = true;
                }
                other => {
                    tracing::warn!(partition = %asked.tp, code = %other, "fetch error for partition");
                    self.reporter.event(crate::events::Event::Warning(Error::kafka(
                        other,
                        format!("fetching {} failed", asked.tp),
                    )));
                    refresh = true;
                }
            }
        }
        if refresh {
            self.request_metadata_refresh(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::complete_batches;

    fn batch(base: i64, delta: i32, len: i32) -> Vec<u8> {
        let mut b = vec![0u8; 12 + len as usize];
        b[0..8].copy_from_slice(&base.to_be_bytes());
        b[8..12].copy_from_slice(&len.to_be_bytes());
        b[23..27].copy_from_slice(&delta.to_be_bytes());
        b
    }

    #[test]
    fn finds_complete_batches_and_ignores_a_truncated_tail() {
        let mut bytes = batch(10, 4, 60);
        bytes.extend(batch(15, 0, 49));
        let whole = bytes.len();
        bytes.extend(&batch(16, 9, 100)[..50]);
        assert_eq!(complete_batches(&bytes), Some((whole, 16)));
        assert_eq!(complete_batches(&bytes[..whole - 1]), Some((72, 15)));
        assert_eq!(complete_batches(&bytes[..20]), None);
        assert_eq!(complete_batches(&[]), None);
    }

    #[test]
    fn hostile_headers_never_overflow() {
        assert_eq!(complete_batches(&batch(i64::MAX, i32::MAX, 60)), None);
        let mut b = batch(0, 0, i32::MAX);
        b.truncate(100);
        assert_eq!(complete_batches(&b), None);
        let mut negative = vec![0u8; 12];
        negative[8..12].copy_from_slice(&(-5i32).to_be_bytes());
        assert_eq!(complete_batches(&negative), None);
    }
}
