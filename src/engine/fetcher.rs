//! Fetching: one request in flight per leader broker, covering the owned partitions it leads whose
//! buffers have room; responses become chunks on the partitions' streams.

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
use crate::consumer::{Chunk, Delivery};
use crate::error::{Error, Result};
use crate::net::NodeId;
use crate::records::AbortedTransaction;
use crate::types::TopicPartition;
use crate::wire::{FetchResponse, KafkaCode};

/// What one fetch asked for, to match the response against.
pub(crate) struct Asked {
    tp: TopicPartition,
    position: i64,
    incarnation: u64,
}

pub(crate) struct FetchResult {
    node: NodeId,
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

    /// Starts a fetch to every leader that has partitions ready and none in flight.
    pub(crate) fn start_fetches(&mut self, _now: Instant) {
        if self.is_closing() {
            return;
        }
        let mut by_leader: BTreeMap<NodeId, Vec<TopicPartition>> = BTreeMap::new();
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
                Some(leader) if !self.fetches_in_flight.contains(&leader) => {
                    by_leader.entry(leader).or_default().push(tp.clone())
                }
                Some(_) => {}
                None => leaderless = true,
            }
        }
        if leaderless {
            self.request_metadata_refresh(Instant::now());
        }
        for (node, tps) in by_leader {
            self.spawn_fetch(node, tps);
        }
    }

    fn spawn_fetch(&mut self, node: NodeId, tps: Vec<TopicPartition>) {
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
        self.fetches_in_flight.insert(node);
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
            let _ = tx.send(Input::Fetch(FetchResult { node, asked, result }));
        });
    }

    pub(crate) fn handle_fetch(&mut self, fetch: FetchResult, now: Instant) {
        self.fetches_in_flight.remove(&fetch.node);
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
                self.reporter.event(crate::consumer::Event::Warning(e));
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
                                    .store(part.shared.clock.ms(now.into_std()), Ordering::Release);
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
                    self.reporter.event(crate::consumer::Event::Warning(Error::kafka(
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
