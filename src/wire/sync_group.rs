//! SyncGroup response (API key 14), versions 1–5.

use bytes::Bytes;
use kafka_protocol::messages::ApiKey;

use super::{DecodeError, DecodeResponse, KafkaCode, Reader, Str, is_flexible};

/// The SyncGroup response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncGroupResponse {
    /// Throttle time.
    pub throttle_time_ms: i32,
    /// Error code.
    pub error_code: KafkaCode,
    /// Protocol type (v5+).
    pub protocol_type: Option<Str>,
    /// Protocol name (v5+).
    pub protocol_name: Option<Str>,
    /// This member's assignment (a consumer-protocol assignment; may be empty). The protocol's
    /// field is not nullable, but librdkafka's mock cluster sends null with its errors (a follower
    /// syncing after its leader gets INVALID_REQUEST and a null assignment): read as empty, so the
    /// error code decides what happens.
    pub assignment: Bytes,
}

impl DecodeResponse for SyncGroupResponse {
    const API: ApiKey = ApiKey::SyncGroup;

    fn decode(body: Bytes, version: i16) -> Result<Self, DecodeError> {
        super::check_version(Self::API, version)?;
        let flexible = is_flexible(Self::API, version);
        let mut r = Reader::new(body);
        let throttle_time_ms = r.field("throttle_time_ms").i32()?;
        let error_code = KafkaCode(r.field("error_code").i16()?);
        let (protocol_type, protocol_name) = if version >= 5 {
            (
                r.field("protocol_type").nullable_string(flexible)?,
                r.field("protocol_name").nullable_string(flexible)?,
            )
        } else {
            (None, None)
        };
        let assignment = r
            .field("assignment")
            .nullable_bytes(flexible)?
            .unwrap_or_default();
        if flexible {
            r.skip_tagged_fields()?;
        }
        r.finish()?;
        Ok(SyncGroupResponse {
            throttle_time_ms,
            error_code,
            protocol_type,
            protocol_name,
            assignment,
        })
    }
}
