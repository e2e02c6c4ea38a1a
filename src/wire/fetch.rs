//! Fetch response (API key 1), versions 4–17.
//!
//! Zero-copy: each partition's record data is a [`Bytes`] slice of the response buffer. Nothing
//! here parses records; the `records/` reader does that where the records are consumed.
//!
//! Version notes (from Kafka's `FetchResponse.json`):
//! - v4: `last_stable_offset` and `aborted_transactions` (transactional consumption).
//! - v5: `log_start_offset`.
//! - v7: top-level `error_code` and `session_id` (KIP-227 incremental fetch sessions).
//! - v11: `preferred_read_replica` (KIP-392, fetch from followers).
//! - v12: flexible encoding; per partition, tagged fields `diverging_epoch` (tag 0),
//!   `current_leader` (tag 1) and `snapshot_id` (tag 2, for KRaft followers only: skipped).
//! - v13: topic ids (KIP-516) instead of topic names; v14 may answer
//!   OFFSET_MOVED_TO_TIERED_STORAGE (for followers); v15 changes only the request's replica
//!   fields; v16 adds the top-level tagged `node_endpoints` (KIP-951: skipped, metadata names the
//!   brokers); v17 only the request's directory id.

use bytes::Bytes;
use kafka_protocol::messages::ApiKey;

use super::{DecodeError, DecodeResponse, Reader, Str, is_flexible};

/// The Fetch response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchResponse {
    /// Throttle time.
    pub throttle_time_ms: i32,
    /// Top-level error code (v7+; 0 before), e.g. a fetch-session error.
    pub error_code: i16,
    /// The fetch session id (v7+), or 0 when the fetch is not part of a session.
    pub session_id: i32,
    /// One entry per topic with data or errors.
    pub responses: Vec<FetchTopic>,
}

/// One topic of a Fetch response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchTopic {
    /// The topic name (up to v12; empty from v13, which names topics by id).
    pub topic: Str,
    /// The topic id (v13+; all zero before).
    pub topic_id: [u8; 16],
    /// The partitions.
    pub partitions: Vec<FetchPartition>,
}

/// One partition of a Fetch response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchPartition {
    /// Partition index.
    pub partition_index: i32,
    /// Partition-level error code.
    pub error_code: i16,
    /// The high watermark.
    pub high_watermark: i64,
    /// The last stable offset, or -1.
    pub last_stable_offset: i64,
    /// The log start offset (v5+), or -1.
    pub log_start_offset: i64,
    /// Where the fetched log diverges from the leader's (v12+ tagged field); unknown when absent.
    pub diverging_epoch: DivergingEpoch,
    /// The current leader, when the broker knows this one is not it (v12+ tagged field, KIP-951);
    /// unknown when absent.
    pub current_leader: LeaderIdAndEpoch,
    /// Aborted transactions in the returned range; `None` when the broker sent null (read
    /// uncommitted, or no transactions).
    pub aborted_transactions: Option<Vec<AbortedTransaction>>,
    /// The replica to fetch from next (v11+), or -1.
    pub preferred_read_replica: i32,
    /// The record batches, a slice of the response buffer; may end with a truncated batch.
    pub records: Option<Bytes>,
}

/// An aborted transaction: its producer and its first offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTransaction {
    /// The producer id.
    pub producer_id: i64,
    /// The first offset of the transaction.
    pub first_offset: i64,
}

/// A leader epoch and its end offset (Kafka's `EpochEndOffset`); -1 in both when unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DivergingEpoch {
    /// The largest epoch, or -1.
    pub epoch: i32,
    /// Its end offset, or -1.
    pub end_offset: i64,
}

impl DivergingEpoch {
    /// Not sent.
    pub const UNKNOWN: DivergingEpoch = DivergingEpoch {
        epoch: -1,
        end_offset: -1,
    };
}

/// A leader's node id and epoch; -1 in both when unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaderIdAndEpoch {
    /// The leader's node id, or -1.
    pub leader_id: i32,
    /// The leader epoch, or -1.
    pub leader_epoch: i32,
}

impl LeaderIdAndEpoch {
    /// Not sent.
    pub const UNKNOWN: LeaderIdAndEpoch = LeaderIdAndEpoch {
        leader_id: -1,
        leader_epoch: -1,
    };

    /// Whether a leader is named.
    pub fn is_known(&self) -> bool {
        self.leader_id >= 0
    }
}

const DIVERGING_EPOCH_TAG: u32 = 0;
const CURRENT_LEADER_TAG: u32 = 1;

/// The fewest bytes one partition takes at `version`, for checking counts before allocating.
fn min_partition_size(version: i16, flexible: bool) -> usize {
    let (array, bytes, tags) = if flexible { (1, 1, 1) } else { (4, 4, 0) };
    let log_start = if version >= 5 { 8 } else { 0 };
    let preferred = if version >= 11 { 4 } else { 0 };
    // index, error, high watermark, LSO, [log start], aborted, [preferred replica], records, [tags]
    4 + 2 + 8 + 8 + log_start + array + preferred + bytes + tags
}

impl DecodeResponse for FetchResponse {
    const API: ApiKey = ApiKey::Fetch;

    fn decode(body: Bytes, version: i16) -> Result<Self, DecodeError> {
        super::check_version(Self::API, version)?;
        let flexible = is_flexible(Self::API, version);
        let mut r = Reader::new(body);
        let throttle_time_ms = r.field("throttle_time_ms").i32()?;
        let (error_code, session_id) = if version >= 7 {
            (r.field("error_code").i16()?, r.field("session_id").i32()?)
        } else {
            (0, 0)
        };
        // topic name (or id from v13) + partitions array (+ tags): 1+1+1 compact, 2+4 classic.
        let min_topic = match (version >= 13, flexible) {
            (true, _) => 16 + 1 + 1,
            (false, true) => 3,
            (false, false) => 6,
        };
        let count = r.field("responses").array_len(flexible, min_topic)?;
        let mut responses = Vec::with_capacity(count);
        for _ in 0..count {
            responses.push(decode_topic(&mut r, version, flexible)?);
        }
        if flexible {
            r.skip_tagged_fields()?;
        }
        r.finish()?;
        Ok(FetchResponse {
            throttle_time_ms,
            error_code,
            session_id,
            responses,
        })
    }
}

fn decode_topic(r: &mut Reader, version: i16, flexible: bool) -> Result<FetchTopic, DecodeError> {
    let (topic, topic_id) = if version >= 13 {
        (Str::default(), r.field("topic_id").uuid()?)
    } else {
        (r.field("topic").string(flexible)?, [0; 16])
    };
    let count = r
        .field("partitions")
        .array_len(flexible, min_partition_size(version, flexible))?;
    let mut partitions = Vec::with_capacity(count);
    for _ in 0..count {
        partitions.push(decode_partition(r, version, flexible)?);
    }
    if flexible {
        r.skip_tagged_fields()?;
    }
    Ok(FetchTopic {
        topic,
        topic_id,
        partitions,
    })
}

fn decode_partition(r: &mut Reader, version: i16, flexible: bool) -> Result<FetchPartition, DecodeError> {
    let partition_index = r.field("partition.partition_index").i32()?;
    let error_code = r.field("partition.error_code").i16()?;
    let high_watermark = r.field("partition.high_watermark").i64()?;
    let last_stable_offset = r.field("partition.last_stable_offset").i64()?;
    let log_start_offset = if version >= 5 {
        r.field("partition.log_start_offset").i64()?
    } else {
        -1
    };
    let aborted_transactions = decode_aborted_transactions(r, flexible)?;
    let preferred_read_replica = if version >= 11 {
        r.field("partition.preferred_read_replica").i32()?
    } else {
        -1
    };
    let records = r.field("partition.records").nullable_bytes(flexible)?;
    let mut diverging_epoch = DivergingEpoch::UNKNOWN;
    let mut current_leader = LeaderIdAndEpoch::UNKNOWN;
    if flexible {
        r.tagged_fields(|tag, f| {
            match tag {
                DIVERGING_EPOCH_TAG => {
                    diverging_epoch = DivergingEpoch {
                        epoch: f.field("partition.diverging_epoch.epoch").i32()?,
                        end_offset: f.field("partition.diverging_epoch.end_offset").i64()?,
                    };
                    end_of_tagged_struct(f, "partition.diverging_epoch")?;
                }
                CURRENT_LEADER_TAG => {
                    current_leader = LeaderIdAndEpoch {
                        leader_id: f.field("partition.current_leader.leader_id").i32()?,
                        leader_epoch: f.field("partition.current_leader.leader_epoch").i32()?,
                    };
                    end_of_tagged_struct(f, "partition.current_leader")?;
                }
                // snapshot_id (tag 2) is for KRaft followers; other tags are unknown to us.
                _ => {}
            }
            Ok(())
        })?;
    }
    Ok(FetchPartition {
        partition_index,
        error_code,
        high_watermark,
        last_stable_offset,
        log_start_offset,
        diverging_epoch,
        current_leader,
        aborted_transactions,
        preferred_read_replica,
        records,
    })
}

/// Skips a tagged struct's own tag buffer and checks that the struct filled its tagged field.
fn end_of_tagged_struct(f: &mut Reader, field: &'static str) -> Result<(), DecodeError> {
    f.skip_tagged_fields()?;
    if f.remaining() == 0 {
        Ok(())
    } else {
        Err(DecodeError::Invalid {
            field,
            reason: "tagged field is longer than its struct",
        })
    }
}

fn decode_aborted_transactions(
    r: &mut Reader,
    flexible: bool,
) -> Result<Option<Vec<AbortedTransaction>>, DecodeError> {
    let Some(count) = r
        .field("partition.aborted_transactions")
        .nullable_array_len(flexible, if flexible { 17 } else { 16 })?
    else {
        return Ok(None);
    };
    let mut aborted = Vec::with_capacity(count);
    for _ in 0..count {
        let producer_id = r.field("aborted_transaction.producer_id").i64()?;
        let first_offset = r.field("aborted_transaction.first_offset").i64()?;
        if flexible {
            r.skip_tagged_fields()?;
        }
        aborted.push(AbortedTransaction {
            producer_id,
            first_offset,
        });
    }
    Ok(Some(aborted))
}
