//! OffsetCommit response (API key 8), versions 2–9.
//!
//! Version notes (from Kafka's `OffsetCommitRequest/Response.json`): v3 adds `throttle_time_ms`;
//! v5 drops the request's retention time; v6 adds the request's `committed_leader_epoch`; v7 adds
//! the request's `group_instance_id` (KIP-345); v8 is flexible; v9 is v8 for consumer-protocol
//! (KIP-848) members, whose generation is their member epoch. The response body is otherwise
//! the same in every version.

use bytes::Bytes;
use kafka_protocol::messages::ApiKey;

use super::{DecodeError, DecodeResponse, Reader, Str, is_flexible};

/// The OffsetCommit response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetCommitResponse {
    /// Throttle time (v3+; 0 before).
    pub throttle_time_ms: i32,
    /// One entry per committed topic.
    pub topics: Vec<OffsetCommitTopic>,
}

/// One topic of an OffsetCommit response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetCommitTopic {
    /// The topic name.
    pub name: Str,
    /// The partitions.
    pub partitions: Vec<OffsetCommitPartition>,
}

/// One partition's commit result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetCommitPartition {
    /// Partition index.
    pub partition_index: i32,
    /// Error code, e.g. `REBALANCE_IN_PROGRESS` or `ILLEGAL_GENERATION`.
    pub error_code: i16,
}

impl DecodeResponse for OffsetCommitResponse {
    const API: ApiKey = ApiKey::OffsetCommit;

    fn decode(body: Bytes, version: i16) -> Result<Self, DecodeError> {
        super::check_version(Self::API, version)?;
        let flexible = is_flexible(Self::API, version);
        let mut r = Reader::new(body);
        let throttle_time_ms = if version >= 3 {
            r.field("throttle_time_ms").i32()?
        } else {
            0
        };
        // Topic: name + partitions (+ tags): 1+1+1 compact, 2+4 classic; partition: index, error, [tags].
        let topics = r.array("topics", flexible, if flexible { 3 } else { 6 }, |r| {
            let name = r.field("topic.name").string(flexible)?;
            let partitions = r.array("topic.partitions", flexible, 4 + 2 + usize::from(flexible), |r| {
                Ok(OffsetCommitPartition {
                    partition_index: r.field("partition.partition_index").i32()?,
                    error_code: r.field("partition.error_code").i16()?,
                })
            })?;
            Ok(OffsetCommitTopic { name, partitions })
        })?;
        if flexible {
            r.skip_tagged_fields()?;
        }
        r.finish()?;
        Ok(OffsetCommitResponse {
            throttle_time_ms,
            topics,
        })
    }
}
