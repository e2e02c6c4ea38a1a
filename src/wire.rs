//! The wire layer: framing, request encoding, version negotiation and kafkit's own bounded response
//! decoders.
//!
//! Requests are encoded with the `kafka-protocol` crate. Responses are decoded by kafkit's own
//! decoders in this module, because a decoder that allocates from an untrusted count lets one
//! malformed frame abort the process. Every decoder here checks each length and count against the
//! bytes remaining before allocating, and reports malformed input as a [`DecodeError`].
//!
//! This is kafkit's low-level layer; most applications never touch it.

mod api_versions;
mod consumer_group_heartbeat;
mod consumer_protocol;
mod describe_groups;
mod error_code;
mod fetch;
mod find_coordinator;
mod frame;
mod heartbeat;
mod join_group;
mod leave_group;
mod list_offsets;
mod metadata;
mod offset_commit;
mod offset_fetch;
mod offset_for_leader_epoch;
mod reader;
mod request;
mod sync_group;
mod versions;

pub use api_versions::{ApiVersionRange, ApiVersionsResponse};
pub use consumer_group_heartbeat::{ConsumerGroupHeartbeatResponse, HeartbeatTopicPartitions};
pub use consumer_protocol::{Assignment, CONSUMER_PROTOCOL_VERSION, Subscription, TopicPartitions};
pub use describe_groups::{DescribeGroupsResponse, DescribedGroup, DescribedGroupMember};
pub use error_code::KafkaCode;
pub use fetch::{
    AbortedTransaction, DivergingEpoch, FetchPartition, FetchResponse, FetchTopic, LeaderIdAndEpoch,
};
pub use find_coordinator::{Coordinator, FindCoordinatorResponse};
pub use frame::{DEFAULT_MAX_FRAME_SIZE, FrameDecoder, FrameError};
pub use heartbeat::HeartbeatResponse;
pub use join_group::{JoinGroupMember, JoinGroupResponse};
pub use leave_group::{LeaveGroupMember, LeaveGroupResponse};
pub use list_offsets::{ListOffsetsPartition, ListOffsetsResponse, ListOffsetsTopic};
pub use metadata::{
    AUTHORIZED_OPERATIONS_UNKNOWN, MetadataBroker, MetadataPartition, MetadataResponse, MetadataTopic,
};
pub use offset_commit::{OffsetCommitPartition, OffsetCommitResponse, OffsetCommitTopic};
pub use offset_fetch::{OffsetFetchPartition, OffsetFetchResponse, OffsetFetchTopic};
pub use offset_for_leader_epoch::{EpochEndOffset, OffsetForLeaderEpochResponse, OffsetForLeaderEpochTopic};
pub use reader::{Reader, Str};
pub use request::{
    EncodeError, EncodedBody, KafkaRequest, RequestFrame, ResponseHeader, encode_body, encode_request,
    read_response_header,
};
pub use sync_group::SyncGroupResponse;
pub use versions::{ApiVersions, SUPPORTED, VersionError, negotiate_version, supported_range};

pub use kafka_protocol::messages::ApiKey;

/// Malformed bytes in a response: what was wrong, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// A field needs more bytes than the response holds.
    #[error("truncated response: {field} needs {needed} bytes, {available} left")]
    Truncated {
        /// The field being read.
        field: &'static str,
        /// Bytes it needs.
        needed: usize,
        /// Bytes left.
        available: usize,
    },
    /// A length prefix is negative (and not the null marker -1).
    #[error("negative length {length} for {field}")]
    NegativeLength {
        /// The field being read.
        field: &'static str,
        /// The length read.
        length: i64,
    },
    /// An array announces more elements than the remaining bytes could hold.
    #[error("{field}: {count} elements need at least {min_bytes} bytes, only {available} left")]
    CountExceedsBytes {
        /// The field being read.
        field: &'static str,
        /// The element count read.
        count: usize,
        /// The minimum bytes `count` elements occupy.
        min_bytes: usize,
        /// Bytes left.
        available: usize,
    },
    /// A varint runs past its maximum length.
    #[error("varint too long in {field}")]
    VarintTooLong {
        /// The field being read.
        field: &'static str,
    },
    /// A string is not valid UTF-8.
    #[error("{field} is not valid UTF-8")]
    InvalidUtf8 {
        /// The field being read.
        field: &'static str,
    },
    /// A field that cannot be null is null.
    #[error("{field} is null")]
    UnexpectedNull {
        /// The field being read.
        field: &'static str,
    },
    /// Bytes left over after the last field.
    #[error("{count} unexpected trailing bytes after the response")]
    TrailingBytes {
        /// How many.
        count: usize,
    },
    /// A value that is out of range or inconsistent.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The field being read.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The response is for an API version kafkit has no decoder for.
    #[error("no decoder for {api:?} version {version}")]
    UnsupportedVersion {
        /// The API.
        api: ApiKey,
        /// The version.
        version: i16,
    },
}

/// A response decoder for one API, usable for every version in [`SUPPORTED`].
pub trait DecodeResponse: Sized {
    /// The API this decodes.
    const API: ApiKey;
    /// Decodes a response body (after the response header) of the given version. Fails on
    /// trailing bytes.
    fn decode(body: bytes::Bytes, version: i16) -> Result<Self, DecodeError>;
}

/// Refuses a version outside kafkit's supported range for `api` (the [`SUPPORTED`] table is the
/// single source of truth for what the decoders handle).
pub(crate) fn check_version(api: ApiKey, version: i16) -> Result<(), DecodeError> {
    match supported_range(api) {
        Some((min, max)) if (min..=max).contains(&version) => Ok(()),
        _ => Err(DecodeError::UnsupportedVersion { api, version }),
    }
}

/// Whether `api` at `version` uses the flexible (compact, tagged-field) encoding.
///
/// Decided by the request-header version, which is 2 exactly for flexible versions (the response
/// header cannot tell: ApiVersions keeps response header v0 even when its body is flexible).
pub fn is_flexible(api: ApiKey, version: i16) -> bool {
    api.request_header_version(version) >= 2
}

#[cfg(test)]
mod describe_groups_tests;
#[cfg(test)]
mod differential_tests;
#[cfg(test)]
mod fetch_tests;
#[cfg(test)]
mod group_differential_tests;
#[cfg(test)]
mod hostile_tests;
#[cfg(test)]
mod offsets_tests;
#[cfg(test)]
mod response_test_util;
