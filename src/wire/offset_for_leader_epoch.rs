//! OffsetForLeaderEpoch response (API key 23), versions 2–4.
//!
//! A consumer asks a partition's leader where a leader epoch ends in its log (KIP-320): if the
//! epoch of the records it last read ends before its position, the log it read from was
//! truncated (an unclean leader election) and the position must be moved back.
//!
//! Version notes (from Kafka's `OffsetForLeaderEpochResponse.json`): v1 adds `leader_epoch`, v2
//! `throttle_time_ms` (and the request's `current_leader_epoch`), v3 only the request's
//! `replica_id`; v4 is flexible. Kafka 4 removed v0–1 (KIP-896).

use bytes::Bytes;
use kafka_protocol::messages::ApiKey;

use super::{DecodeError, DecodeResponse, Reader, Str, is_flexible};

/// The OffsetForLeaderEpoch response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetForLeaderEpochResponse {
    /// Throttle time.
    pub throttle_time_ms: i32,
    /// One entry per requested topic.
    pub topics: Vec<OffsetForLeaderEpochTopic>,
}

/// One topic of an OffsetForLeaderEpoch response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetForLeaderEpochTopic {
    /// The topic name.
    pub topic: Str,
    /// The partitions.
    pub partitions: Vec<EpochEndOffset>,
}

/// Where a leader epoch ends in one partition's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochEndOffset {
    /// Partition-level error code.
    pub error_code: i16,
    /// Partition index.
    pub partition: i32,
    /// The largest epoch in the leader's log at or below the one asked for, or -1.
    pub leader_epoch: i32,
    /// The offset where that epoch ends (the first offset of the next), or -1.
    pub end_offset: i64,
}

impl DecodeResponse for OffsetForLeaderEpochResponse {
    const API: ApiKey = ApiKey::OffsetForLeaderEpoch;

    fn decode(body: Bytes, version: i16) -> Result<Self, DecodeError> {
        super::check_version(Self::API, version)?;
        let flexible = is_flexible(Self::API, version);
        let mut r = Reader::new(body);
        let throttle_time_ms = r.field("throttle_time_ms").i32()?;
        // error, partition, leader epoch, end offset, [tags]
        let min_partition = 2 + 4 + 4 + 8 + usize::from(flexible);
        // Topic: name + partitions (+ tags): 1+1+1 compact, 2+4 classic.
        let topics = r.array("topics", flexible, if flexible { 3 } else { 6 }, |r| {
            let topic = r.field("topic.topic").string(flexible)?;
            let partitions = r.array("topic.partitions", flexible, min_partition, |r| {
                Ok(EpochEndOffset {
                    error_code: r.field("partition.error_code").i16()?,
                    partition: r.field("partition.partition").i32()?,
                    leader_epoch: r.field("partition.leader_epoch").i32()?,
                    end_offset: r.field("partition.end_offset").i64()?,
                })
            })?;
            Ok(OffsetForLeaderEpochTopic { topic, partitions })
        })?;
        if flexible {
            r.skip_tagged_fields()?;
        }
        r.finish()?;
        Ok(OffsetForLeaderEpochResponse {
            throttle_time_ms,
            topics,
        })
    }
}
