//! Builders of decoded broker answers (kafkit's own `wire` types), for cores driven in simulation.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;

use crate::cluster::ClusterMetadata;
use crate::types::{NodeId, TopicPartition};
use crate::wire::{
    DivergingEpoch, FetchPartition, FetchResponse, FetchTopic, KafkaCode, LeaderIdAndEpoch,
    ListOffsetsPartition, ListOffsetsResponse, ListOffsetsTopic, MetadataBroker, MetadataPartition,
    MetadataResponse, MetadataTopic, OffsetCommitPartition, OffsetCommitResponse, OffsetCommitTopic,
    OffsetFetchPartition, OffsetFetchResponse, OffsetFetchTopic, OffsetForLeaderEpochResponse,
    OffsetForLeaderEpochTopic, Str,
};

/// One partition as metadata describes it.
#[derive(Debug, Clone)]
pub(crate) struct PartitionInfo {
    pub(crate) tp: TopicPartition,
    pub(crate) leader: Option<NodeId>,
    pub(crate) leader_epoch: i32,
}

/// Metadata naming `brokers` (at `broker-N:9092`) and `partitions`; `generation` orders snapshots.
pub(crate) fn metadata(
    brokers: &[NodeId],
    partitions: &[PartitionInfo],
    generation: u64,
) -> Arc<ClusterMetadata> {
    let mut topics: BTreeMap<Arc<str>, Vec<MetadataPartition>> = BTreeMap::new();
    for p in partitions {
        topics
            .entry(p.tp.topic.clone())
            .or_default()
            .push(MetadataPartition {
                error_code: 0,
                partition_index: p.tp.partition,
                leader_id: p.leader.unwrap_or(-1),
                leader_epoch: p.leader_epoch,
                replica_nodes: brokers.to_vec(),
                isr_nodes: brokers.to_vec(),
                offline_replicas: vec![],
            });
    }
    let response = MetadataResponse {
        throttle_time_ms: 0,
        brokers: brokers
            .iter()
            .map(|&node_id| MetadataBroker {
                node_id,
                host: Str::from(format!("broker-{node_id}")),
                port: 9092,
                rack: None,
            })
            .collect(),
        cluster_id: Some(Str::from("sim")),
        controller_id: brokers.first().copied().unwrap_or(-1),
        topics: topics
            .into_iter()
            .map(|(name, partitions)| MetadataTopic {
                error_code: 0,
                name: Some(Str::from(&*name)),
                topic_id: topic_id(&name),
                is_internal: false,
                partitions,
                topic_authorized_operations: crate::wire::AUTHORIZED_OPERATIONS_UNKNOWN,
            })
            .collect(),
        cluster_authorized_operations: crate::wire::AUTHORIZED_OPERATIONS_UNKNOWN,
    };
    Arc::new(ClusterMetadata::from_response(&response, generation))
}

/// The simulated topic id of `topic` (never all zero).
pub(crate) fn topic_id(topic: &str) -> [u8; 16] {
    // FNV-1a, twice over: stable across runs, distinct for distinct names in practice.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in topic.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&h.to_be_bytes());
    id[8..].copy_from_slice(&(h ^ 0x5555_5555_5555_5555).to_be_bytes());
    id[15] |= 1;
    id
}

/// A Fetch answer as a broker gives it at `version`: from v13 topics are named by id only.
pub(crate) fn at_version(mut response: FetchResponse, version: i16) -> FetchResponse {
    if version >= 13 {
        for t in &mut response.responses {
            t.topic_id = topic_id(t.topic.as_str());
            t.topic = Str::default();
        }
    }
    response
}

/// One partition of a Fetch answer: `code`, the high watermark (also the last stable offset) and
/// the record bytes.
pub(crate) fn fetched(code: KafkaCode, high_watermark: i64, records: Option<Bytes>) -> FetchPartition {
    FetchPartition {
        partition_index: 0,
        error_code: code.0,
        high_watermark,
        last_stable_offset: high_watermark,
        log_start_offset: 0,
        diverging_epoch: DivergingEpoch::UNKNOWN,
        current_leader: LeaderIdAndEpoch::UNKNOWN,
        aborted_transactions: None,
        preferred_read_replica: -1,
        records,
    }
}

/// A Fetch answer for `partitions`.
pub(crate) fn fetch_response(partitions: Vec<(TopicPartition, FetchPartition)>) -> FetchResponse {
    let mut topics: BTreeMap<Arc<str>, Vec<FetchPartition>> = BTreeMap::new();
    for (tp, mut p) in partitions {
        p.partition_index = tp.partition;
        topics.entry(tp.topic.clone()).or_default().push(p);
    }
    FetchResponse {
        throttle_time_ms: 0,
        error_code: 0,
        session_id: 0,
        responses: topics
            .into_iter()
            .map(|(topic, partitions)| FetchTopic {
                topic: Str::from(&*topic),
                topic_id: [0; 16],
                partitions,
            })
            .collect(),
    }
}

/// A ListOffsets answer: `(partition, code, offset)`.
pub(crate) fn list_offsets_response(partitions: &[(TopicPartition, KafkaCode, i64)]) -> ListOffsetsResponse {
    let mut topics: BTreeMap<Arc<str>, Vec<ListOffsetsPartition>> = BTreeMap::new();
    for (tp, code, offset) in partitions {
        topics
            .entry(tp.topic.clone())
            .or_default()
            .push(ListOffsetsPartition {
                partition_index: tp.partition,
                error_code: code.0,
                timestamp: -1,
                offset: *offset,
                leader_epoch: -1,
            });
    }
    ListOffsetsResponse {
        throttle_time_ms: 0,
        topics: topics
            .into_iter()
            .map(|(name, partitions)| ListOffsetsTopic {
                name: Str::from(&*name),
                partitions,
            })
            .collect(),
    }
}

/// An OffsetFetch answer: `(partition, code, committed offset or -1)`, and the top-level code.
pub(crate) fn offset_fetch_response(
    top: KafkaCode,
    partitions: &[(TopicPartition, KafkaCode, i64)],
) -> OffsetFetchResponse {
    let mut topics: BTreeMap<Arc<str>, Vec<OffsetFetchPartition>> = BTreeMap::new();
    for (tp, code, offset) in partitions {
        topics
            .entry(tp.topic.clone())
            .or_default()
            .push(OffsetFetchPartition {
                partition_index: tp.partition,
                committed_offset: *offset,
                committed_leader_epoch: -1,
                metadata: None,
                error_code: code.0,
            });
    }
    OffsetFetchResponse {
        throttle_time_ms: 0,
        topics: topics
            .into_iter()
            .map(|(name, partitions)| OffsetFetchTopic {
                name: Str::from(&*name),
                partitions,
            })
            .collect(),
        error_code: top.0,
    }
}

/// An OffsetCommit answer: `(partition, code)`.
pub(crate) fn offset_commit_response(partitions: &[(TopicPartition, KafkaCode)]) -> OffsetCommitResponse {
    let mut topics: BTreeMap<Arc<str>, Vec<OffsetCommitPartition>> = BTreeMap::new();
    for (tp, code) in partitions {
        topics
            .entry(tp.topic.clone())
            .or_default()
            .push(OffsetCommitPartition {
                partition_index: tp.partition,
                error_code: code.0,
            });
    }
    OffsetCommitResponse {
        throttle_time_ms: 0,
        topics: topics
            .into_iter()
            .map(|(name, partitions)| OffsetCommitTopic {
                name: Str::from(&*name),
                partitions,
            })
            .collect(),
    }
}

/// An OffsetForLeaderEpoch answer: `(partition, code, epoch, its end offset)`.
pub(crate) fn epoch_end_response(
    partitions: &[(TopicPartition, KafkaCode, i32, i64)],
) -> OffsetForLeaderEpochResponse {
    let mut topics: BTreeMap<Arc<str>, Vec<crate::wire::EpochEndOffset>> = BTreeMap::new();
    for (tp, code, epoch, end_offset) in partitions {
        topics
            .entry(tp.topic.clone())
            .or_default()
            .push(crate::wire::EpochEndOffset {
                error_code: code.0,
                partition: tp.partition,
                leader_epoch: *epoch,
                end_offset: *end_offset,
            });
    }
    OffsetForLeaderEpochResponse {
        throttle_time_ms: 0,
        topics: topics
            .into_iter()
            .map(|(topic, partitions)| OffsetForLeaderEpochTopic {
                topic: Str::from(&*topic),
                partitions,
            })
            .collect(),
    }
}
