//! Heartbeat response (API key 12), versions 1–4.

use bytes::Bytes;
use kafka_protocol::messages::ApiKey;

use super::{DecodeError, DecodeResponse, KafkaCode, Reader, is_flexible};

/// The Heartbeat response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeartbeatResponse {
    /// Throttle time.
    pub throttle_time_ms: i32,
    /// Error code.
    pub error_code: KafkaCode,
}

impl DecodeResponse for HeartbeatResponse {
    const API: ApiKey = ApiKey::Heartbeat;

    fn decode(body: Bytes, version: i16) -> Result<Self, DecodeError> {
        super::check_version(Self::API, version)?;
        let mut r = Reader::new(body);
        let throttle_time_ms = r.field("throttle_time_ms").i32()?;
        let error_code = KafkaCode(r.field("error_code").i16()?);
        if is_flexible(Self::API, version) {
            r.skip_tagged_fields()?;
        }
        r.finish()?;
        Ok(HeartbeatResponse {
            throttle_time_ms,
            error_code,
        })
    }
}
