//! The simulated cluster's data: brokers, partition logs with leaders and leader epochs, and the
//! answers to Metadata, Fetch and ListOffsets as a broker would give them.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};

use super::Rng;
use super::batch::{encode_batch, value};
use super::responses::{PartitionInfo, fetch_response, fetched, list_offsets_response, metadata};
use crate::cluster::ClusterMetadata;
use crate::fetch::{FetchBody, ListOffsetsBody};
use crate::types::{NodeId, TopicPartition};
use crate::wire::{FetchResponse, KafkaCode, ListOffsetsResponse};

/// One record batch of a log.
#[derive(Debug, Clone)]
struct Batch {
    base: i64,
    count: i64,
    bytes: Bytes,
}

/// One partition: its log and its leader.
#[derive(Debug, Clone)]
pub(crate) struct PartitionLog {
    pub(crate) leader: NodeId,
    pub(crate) leader_epoch: i32,
    batches: Vec<Batch>,
    pub(crate) log_start: i64,
    pub(crate) end: i64,
}

impl PartitionLog {
    fn batch_index(&self, offset: i64) -> Option<usize> {
        let i = self.batches.partition_point(|b| b.base + b.count <= offset);
        (i < self.batches.len()).then_some(i)
    }
}

/// The cluster.
#[derive(Debug)]
pub(crate) struct Cluster {
    pub(crate) brokers: Vec<NodeId>,
    pub(crate) logs: BTreeMap<TopicPartition, PartitionLog>,
    /// What Metadata answers say (it may lag behind a leader move).
    published: BTreeMap<TopicPartition, (NodeId, i32)>,
    metadata_generation: u64,
}

impl Cluster {
    /// `brokers` brokers (ids 1..) and `topics` with their partition counts; partition `p` is led
    /// by broker `1 + p % brokers`.
    pub(crate) fn new(brokers: i32, topics: &[(&str, i32)]) -> Cluster {
        let mut logs = BTreeMap::new();
        for (topic, partitions) in topics {
            let topic: Arc<str> = Arc::from(*topic);
            for p in 0..*partitions {
                logs.insert(
                    TopicPartition::new(topic.clone(), p),
                    PartitionLog {
                        leader: 1 + p % brokers,
                        leader_epoch: 0,
                        batches: vec![],
                        log_start: 0,
                        end: 0,
                    },
                );
            }
        }
        let mut cluster = Cluster {
            brokers: (1..=brokers).collect(),
            logs,
            published: BTreeMap::new(),
            metadata_generation: 0,
        };
        cluster.publish();
        cluster
    }

    /// Metadata answers show the current leaders from now on.
    pub(crate) fn publish(&mut self) {
        self.published = self
            .logs
            .iter()
            .map(|(tp, l)| (tp.clone(), (l.leader, l.leader_epoch)))
            .collect();
    }

    /// Appends `n` records to `tp` in batches of up to `batch` records; returns their offsets.
    pub(crate) fn produce(&mut self, tp: &TopicPartition, n: i64, batch: i64) -> std::ops::Range<i64> {
        let Some(log) = self.logs.get_mut(tp) else {
            return 0..0;
        };
        let from = log.end;
        let mut offset = from;
        while offset < from + n {
            let count = batch.max(1).min(from + n - offset);
            let values: Vec<Bytes> = (offset..offset + count).map(|o| value(tp.partition, o)).collect();
            log.batches.push(Batch {
                base: offset,
                count,
                bytes: encode_batch(offset, log.leader_epoch, &values),
            });
            offset += count;
        }
        log.end = offset;
        from..offset
    }

    /// Moves `tp`'s leadership to `leader` (a new leader epoch).
    pub(crate) fn move_leader(&mut self, tp: &TopicPartition, leader: NodeId) {
        if let Some(log) = self.logs.get_mut(tp) {
            log.leader = leader;
            log.leader_epoch += 1;
        }
    }

    pub(crate) fn metadata(&mut self) -> Arc<ClusterMetadata> {
        self.metadata_generation += 1;
        let partitions: Vec<PartitionInfo> = self
            .published
            .iter()
            .map(|(tp, (leader, epoch))| PartitionInfo {
                tp: tp.clone(),
                leader: Some(*leader),
                leader_epoch: *epoch,
            })
            .collect();
        metadata(&self.brokers, &partitions, self.metadata_generation)
    }

    /// Whether a fetch at `node` would return any record now.
    pub(crate) fn has_data(&self, node: NodeId, body: &FetchBody) -> bool {
        body.partitions.iter().any(|p| {
            self.logs
                .get(&p.tp)
                .is_some_and(|l| l.leader == node && p.fetch_offset >= l.log_start && p.fetch_offset < l.end)
        })
    }

    /// The answer of broker `node` to a fetch. `version` decides whether leader epochs are checked
    /// (from v9); `rng` injects the occasional odd answer (a batch cut at the fetch size, a stray
    /// error) when `faults` is on.
    pub(crate) fn fetch(
        &self,
        node: NodeId,
        body: &FetchBody,
        version: i16,
        rng: &mut Rng,
        faults: bool,
    ) -> FetchResponse {
        let mut first_with_data = true;
        let mut total = 0usize;
        let max_total = usize::try_from(body.max_bytes.max(1)).unwrap_or(usize::MAX);
        let partitions = body
            .partitions
            .iter()
            .map(|p| {
                let Some(log) = self.logs.get(&p.tp) else {
                    return (
                        p.tp.clone(),
                        fetched(KafkaCode::UNKNOWN_TOPIC_OR_PARTITION, -1, None),
                    );
                };
                let code = if log.leader != node {
                    KafkaCode::NOT_LEADER_OR_FOLLOWER
                } else if version >= 9
                    && p.current_leader_epoch >= 0
                    && p.current_leader_epoch < log.leader_epoch
                {
                    KafkaCode::FENCED_LEADER_EPOCH
                } else if version >= 9 && p.current_leader_epoch > log.leader_epoch {
                    KafkaCode::UNKNOWN_LEADER_EPOCH
                } else if p.fetch_offset < log.log_start || p.fetch_offset > log.end {
                    KafkaCode::OFFSET_OUT_OF_RANGE
                } else if faults && rng.chance(1) {
                    KafkaCode(-1)
                } else {
                    KafkaCode::NONE
                };
                if code != KafkaCode::NONE {
                    return (p.tp.clone(), fetched(code, -1, None));
                }
                let mut out = BytesMut::new();
                let limit = usize::try_from(p.partition_max_bytes.max(1)).unwrap_or(usize::MAX);
                if let Some(start) = log.batch_index(p.fetch_offset) {
                    for b in &log.batches[start..] {
                        let fits = out.len() + b.bytes.len() <= limit
                            && total + out.len() + b.bytes.len() <= max_total;
                        if fits {
                            out.extend_from_slice(&b.bytes);
                        } else if out.is_empty() && first_with_data && !(faults && rng.chance(30)) {
                            // KIP-74: the first batch of the first partition with data comes whole.
                            out.extend_from_slice(&b.bytes);
                            break;
                        } else {
                            // Cut at the fetch size, as Kafka does.
                            let room = limit.saturating_sub(out.len()).min(b.bytes.len());
                            out.extend_from_slice(&b.bytes[..room]);
                            break;
                        }
                    }
                }
                if !out.is_empty() {
                    first_with_data = false;
                }
                total += out.len();
                let records = (!out.is_empty()).then(|| out.freeze());
                (p.tp.clone(), fetched(KafkaCode::NONE, log.end, records))
            })
            .collect();
        fetch_response(partitions)
    }

    /// The answer of broker `node` to a ListOffsets.
    pub(crate) fn list_offsets(&self, node: NodeId, body: &ListOffsetsBody) -> ListOffsetsResponse {
        let answers: Vec<(TopicPartition, KafkaCode, i64)> = body
            .partitions
            .iter()
            .map(|(tp, epoch, timestamp)| match self.logs.get(tp) {
                None => (tp.clone(), KafkaCode::UNKNOWN_TOPIC_OR_PARTITION, -1),
                Some(log) if log.leader != node => (tp.clone(), KafkaCode::NOT_LEADER_OR_FOLLOWER, -1),
                Some(log) if *epoch >= 0 && *epoch < log.leader_epoch => {
                    (tp.clone(), KafkaCode::FENCED_LEADER_EPOCH, -1)
                }
                Some(log) => {
                    let offset = if *timestamp == -2 { log.log_start } else { log.end };
                    (tp.clone(), KafkaCode::NONE, offset)
                }
            })
            .collect();
        list_offsets_response(&answers)
    }
}
