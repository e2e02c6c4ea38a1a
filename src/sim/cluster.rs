//! The simulated cluster's data: brokers, partition logs with leaders and leader epochs, and the
//! answers to Metadata, Fetch and ListOffsets as a broker would give them.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};

use super::Rng;
use super::batch::{encode_batch, value};
use super::responses::{
    PartitionInfo, at_version, epoch_end_response, fetch_response, fetched, list_offsets_response, metadata,
};
use crate::cluster::ClusterMetadata;
use crate::fetch::{FetchBody, ListOffsetsBody, OffsetForLeaderEpochBody};
use crate::types::{NodeId, TopicPartition};
use crate::wire::{FetchResponse, KafkaCode, ListOffsetsResponse, OffsetForLeaderEpochResponse};

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
    /// The leader epoch cache: each epoch and the offset where it starts.
    epochs: Vec<(i32, i64)>,
}

impl PartitionLog {
    /// Where `epoch` ends in this log, as a leader answers OffsetForLeaderEpoch: the largest
    /// epoch at or below it and the start of the next one (the log end for the latest); `(-1, -1)`
    /// when the log knows no epoch that old.
    pub(crate) fn epoch_end(&self, epoch: i32) -> (i32, i64) {
        let i = self.epochs.partition_point(|(e, _)| *e <= epoch);
        if i == 0 {
            return (-1, -1);
        }
        let found = self.epochs[i - 1].0;
        let end = self.epochs.get(i).map_or(self.end, |(_, start)| *start);
        (found, end)
    }

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
                        epochs: vec![(0, 0)],
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
            log.epochs.push((log.leader_epoch, log.end));
        }
    }

    /// An unclean leader election: `leader` takes over `tp` with a log that ends at the first
    /// batch boundary at or after `to` (what it had replicated); the records after it are lost,
    /// and the offsets are written again in the new epoch. Returns where the log now ends.
    pub(crate) fn truncate(&mut self, tp: &TopicPartition, to: i64, leader: NodeId) -> i64 {
        let Some(log) = self.logs.get_mut(tp) else {
            return 0;
        };
        let keep = log.batches.partition_point(|b| b.base < to.max(log.log_start));
        log.batches.truncate(keep);
        log.end = log.batches.last().map_or(log.log_start, |b| b.base + b.count);
        let end = log.end;
        log.epochs.retain(|(_, start)| *start < end);
        if log.epochs.is_empty() {
            log.epochs.push((0, log.log_start));
        }
        log.leader = leader;
        log.leader_epoch += 1;
        log.epochs.push((log.leader_epoch, end));
        end
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
                } else if version >= 12 && p.last_fetched_epoch >= 0 {
                    // KIP-320: the log must hold the epoch last read up to the fetch offset (checked
                    // before the offset's range, as Kafka does).
                    match log.epoch_end(p.last_fetched_epoch) {
                        (-1, _) | (_, -1) => KafkaCode::OFFSET_OUT_OF_RANGE,
                        (epoch, end) if epoch < p.last_fetched_epoch || end < p.fetch_offset => {
                            let mut answer = fetched(KafkaCode::NONE, log.end, None);
                            answer.diverging_epoch = crate::wire::DivergingEpoch {
                                epoch,
                                end_offset: end,
                            };
                            return (p.tp.clone(), answer);
                        }
                        _ if p.fetch_offset < log.log_start || p.fetch_offset > log.end => {
                            KafkaCode::OFFSET_OUT_OF_RANGE
                        }
                        _ => KafkaCode::NONE,
                    }
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
        at_version(fetch_response(partitions), version)
    }

    /// The answer of broker `node` to an OffsetForLeaderEpoch.
    pub(crate) fn epoch_ends(
        &self,
        node: NodeId,
        body: &OffsetForLeaderEpochBody,
    ) -> OffsetForLeaderEpochResponse {
        let answers: Vec<_> = body
            .partitions
            .iter()
            .map(|(tp, current, epoch)| match self.logs.get(tp) {
                None => (tp.clone(), KafkaCode::UNKNOWN_TOPIC_OR_PARTITION, -1, -1),
                Some(log) if log.leader != node => (tp.clone(), KafkaCode::NOT_LEADER_OR_FOLLOWER, -1, -1),
                Some(log) if *current >= 0 && *current < log.leader_epoch => {
                    (tp.clone(), KafkaCode::FENCED_LEADER_EPOCH, -1, -1)
                }
                Some(log) if *current > log.leader_epoch => {
                    (tp.clone(), KafkaCode::UNKNOWN_LEADER_EPOCH, -1, -1)
                }
                Some(log) => {
                    let (found, end) = log.epoch_end(*epoch);
                    (tp.clone(), KafkaCode::NONE, found, end)
                }
            })
            .collect();
        epoch_end_response(&answers)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fetch::FetchPartitionBody;

    fn fetch_at(offset: i64, last_fetched_epoch: i32, current: i32) -> FetchBody {
        FetchBody {
            max_wait_ms: 0,
            min_bytes: 1,
            max_bytes: 1 << 20,
            isolation_level: 0,
            session_id: 0,
            session_epoch: -1,
            partitions: vec![FetchPartitionBody {
                tp: TopicPartition::new("t", 0),
                topic_id: [0; 16],
                current_leader_epoch: current,
                fetch_offset: offset,
                last_fetched_epoch,
                partition_max_bytes: 1 << 20,
            }],
            forgotten: vec![],
            rack_id: String::new(),
        }
    }

    /// The simulated broker answers leader epochs as Kafka's leader epoch cache does.
    #[test]
    fn epochs_end_where_the_next_begins_and_an_unclean_election_diverges() {
        let tp = TopicPartition::new("t", 0);
        let mut c = Cluster::new(2, &[("t", 1)]);
        c.produce(&tp, 10, 5);
        c.move_leader(&tp, 2);
        c.produce(&tp, 10, 5);
        let log = &c.logs[&tp];
        assert_eq!(log.epoch_end(0), (0, 10));
        assert_eq!(log.epoch_end(1), (1, 20), "the latest epoch ends at the log end");
        assert_eq!(log.epoch_end(5), (1, 20));
        // Broker 1 had replicated only the first 15: it takes over uncleanly in epoch 2.
        assert_eq!(c.truncate(&tp, 15, 1), 15);
        c.produce(&tp, 3, 3);
        let log = &c.logs[&tp];
        assert_eq!((log.epoch_end(1), log.epoch_end(2)), ((1, 15), (2, 18)));
        // A consumer that read to 20 in epoch 1: the fetch answers the divergence, no records.
        let mut rng = crate::sim::Rng::new(1);
        let answer = c.fetch(1, &fetch_at(20, 1, 2), 12, &mut rng, false);
        let p = &answer.responses[0].partitions[0];
        assert_eq!((p.diverging_epoch.epoch, p.diverging_epoch.end_offset), (1, 15));
        assert!(p.records.is_none());
        // Before v12 the broker cannot tell.
        let answer = c.fetch(1, &fetch_at(15, 1, 2), 11, &mut rng, false);
        assert!(answer.responses[0].partitions[0].records.is_some());
        // OffsetForLeaderEpoch: the same answer, and fencing by the current epoch.
        let body = OffsetForLeaderEpochBody {
            partitions: vec![(tp.clone(), 2, 1)],
        };
        let end = &c.epoch_ends(1, &body).topics[0].partitions[0];
        assert_eq!((end.error_code, end.leader_epoch, end.end_offset), (0, 1, 15));
        let stale = OffsetForLeaderEpochBody {
            partitions: vec![(tp.clone(), 1, 1)],
        };
        let end = &c.epoch_ends(1, &stale).topics[0].partitions[0];
        assert_eq!(KafkaCode(end.error_code), KafkaCode::FENCED_LEADER_EPOCH);
        assert_eq!(
            KafkaCode(c.epoch_ends(2, &body).topics[0].partitions[0].error_code),
            KafkaCode::NOT_LEADER_OR_FOLLOWER
        );
    }
}
