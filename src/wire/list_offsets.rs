//! ListOffsets response (API key 2), versions 1–7.
//!
//! Version notes (from Kafka's `ListOffsetsResponse.json`): v1 replaced v0's array of old-style
//! offsets with one `timestamp`/`offset` pair; v2 adds `throttle_time_ms` (and the request's
//! isolation level); v4 adds `leader_epoch`; v6 is flexible; v7 only adds the max-timestamp query
//! (KIP-734) to the request.

use bytes::Bytes;
use kafka_protocol::messages::ApiKey;

use super::{DecodeError, DecodeResponse, Reader, Str, is_flexible};

/// The ListOffsets response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListOffsetsResponse {
    /// Throttle time (v2+; 0 before).
    pub throttle_time_ms: i32,
    /// One entry per requested topic.
    pub topics: Vec<ListOffsetsTopic>,
}

/// One topic of a ListOffsets response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListOffsetsTopic {
    /// The topic name.
    pub name: Str,
    /// The partitions.
    pub partitions: Vec<ListOffsetsPartition>,
}

/// One partition of a ListOffsets response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListOffsetsPartition {
    /// Partition index.
    pub partition_index: i32,
    /// Partition-level error code.
    pub error_code: i16,
    /// The timestamp of the returned offset's record, or -1.
    pub timestamp: i64,
    /// The offset found, or -1.
    pub offset: i64,
    /// The leader epoch of that offset (v4+), or -1.
    pub leader_epoch: i32,
}

impl DecodeResponse for ListOffsetsResponse {
    const API: ApiKey = ApiKey::ListOffsets;

    fn decode(body: Bytes, version: i16) -> Result<Self, DecodeError> {
        super::check_version(Self::API, version)?;
        let flexible = is_flexible(Self::API, version);
        let mut r = Reader::new(body);
        let throttle_time_ms = if version >= 2 {
            r.field("throttle_time_ms").i32()?
        } else {
            0
        };
        // index, error, timestamp, offset, [leader epoch], [tags]
        let min_partition = 4 + 2 + 8 + 8 + if version >= 4 { 4 } else { 0 } + usize::from(flexible);
        // Topic: name + partitions (+ tags): 1+1+1 compact, 2+4 classic.
        let topics = r.array("topics", flexible, if flexible { 3 } else { 6 }, |r| {
            let name = r.field("topic.name").string(flexible)?;
            let partitions = r.array("topic.partitions", flexible, min_partition, |r| {
                Ok(ListOffsetsPartition {
                    partition_index: r.field("partition.partition_index").i32()?,
                    error_code: r.field("partition.error_code").i16()?,
                    timestamp: r.field("partition.timestamp").i64()?,
                    offset: r.field("partition.offset").i64()?,
                    leader_epoch: if version >= 4 {
                        r.field("partition.leader_epoch").i32()?
                    } else {
                        -1
                    },
                })
            })?;
            Ok(ListOffsetsTopic { name, partitions })
        })?;
        if flexible {
            r.skip_tagged_fields()?;
        }
        r.finish()?;
        Ok(ListOffsetsResponse {
            throttle_time_ms,
            topics,
        })
    }
}
