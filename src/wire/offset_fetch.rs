//! OffsetFetch response (API key 9), versions 1–9.
//!
//! Version notes (from Kafka's `OffsetFetchResponse.json`): v2 adds a top-level `error_code`,
//! which comes *after* the topics array; v3 adds `throttle_time_ms` (first); v5 adds
//! `committed_leader_epoch`; v6 is flexible; v7 only adds `require_stable` to the request (KIP-447).
//! v8 answers per group (a `groups` array, each with its topics and its own `error_code`; KIP-709)
//! and v9 only adds the member id and epoch to the request (KIP-848). kafkit asks for one group,
//! so a v8+ answer must hold exactly one, which is read into the same shape as v1–7.

use bytes::Bytes;
use kafka_protocol::messages::ApiKey;

use super::{DecodeError, DecodeResponse, Reader, Str, is_flexible};

/// The OffsetFetch response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetFetchResponse {
    /// Throttle time (v3+; 0 before).
    pub throttle_time_ms: i32,
    /// One entry per requested (or every committed) topic.
    pub topics: Vec<OffsetFetchTopic>,
    /// Top-level error code (v2+; 0 before), e.g. `COORDINATOR_LOAD_IN_PROGRESS`.
    pub error_code: i16,
}

/// One topic of an OffsetFetch response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetFetchTopic {
    /// The topic name.
    pub name: Str,
    /// The partitions.
    pub partitions: Vec<OffsetFetchPartition>,
}

/// One partition's committed offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetFetchPartition {
    /// Partition index.
    pub partition_index: i32,
    /// The committed offset, or -1 when the group has committed none.
    pub committed_offset: i64,
    /// The leader epoch of the committed offset (v5+), or -1.
    pub committed_leader_epoch: i32,
    /// The metadata committed with the offset.
    pub metadata: Option<Str>,
    /// Partition-level error code.
    pub error_code: i16,
}

impl DecodeResponse for OffsetFetchResponse {
    const API: ApiKey = ApiKey::OffsetFetch;

    fn decode(body: Bytes, version: i16) -> Result<Self, DecodeError> {
        super::check_version(Self::API, version)?;
        let flexible = is_flexible(Self::API, version);
        let mut r = Reader::new(body);
        let throttle_time_ms = if version >= 3 {
            r.field("throttle_time_ms").i32()?
        } else {
            0
        };
        let (topics, error_code) = if version >= 8 {
            // Group: id + topics + error (+ tags): 1 + 1 + 2 + 1 compact.
            let mut groups = r.array("groups", flexible, 5, |r| {
                let _group_id = r.field("group.group_id").string(flexible)?;
                let topics = topics(r, version, flexible)?;
                let error_code = r.field("group.error_code").i16()?;
                Ok((topics, error_code))
            })?;
            if groups.len() != 1 {
                return Err(DecodeError::Invalid {
                    field: "groups",
                    reason: "the answer must hold exactly the one group asked for",
                });
            }
            groups.swap_remove(0)
        } else {
            let topics = topics(&mut r, version, flexible)?;
            let error_code = if version >= 2 {
                r.field("error_code").i16()?
            } else {
                0
            };
            (topics, error_code)
        };
        if flexible {
            r.skip_tagged_fields()?;
        }
        r.finish()?;
        Ok(OffsetFetchResponse {
            throttle_time_ms,
            topics,
            error_code,
        })
    }
}

/// The topics array (of the response in v1–7, of its one group in v8+).
fn topics(r: &mut Reader, version: i16, flexible: bool) -> Result<Vec<OffsetFetchTopic>, DecodeError> {
    // index, offset, [leader epoch], metadata, error, [tags]
    let min_partition =
        4 + 8 + if version >= 5 { 4 } else { 0 } + if flexible { 1 } else { 2 } + 2 + usize::from(flexible);
    // Topic: name + partitions (+ tags): 1+1+1 compact, 2+4 classic.
    r.array("topics", flexible, if flexible { 3 } else { 6 }, |r| {
        let name = r.field("topic.name").string(flexible)?;
        let partitions = r.array("topic.partitions", flexible, min_partition, |r| {
            Ok(OffsetFetchPartition {
                partition_index: r.field("partition.partition_index").i32()?,
                committed_offset: r.field("partition.committed_offset").i64()?,
                committed_leader_epoch: if version >= 5 {
                    r.field("partition.committed_leader_epoch").i32()?
                } else {
                    -1
                },
                metadata: r.field("partition.metadata").nullable_string(flexible)?,
                error_code: r.field("partition.error_code").i16()?,
            })
        })?;
        Ok(OffsetFetchTopic { name, partitions })
    })
}
