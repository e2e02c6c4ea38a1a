//! ApiVersions response (API key 18), versions 0–3.

use bytes::Bytes;
use kafka_protocol::messages::ApiKey;

use super::{DecodeError, DecodeResponse, Reader, is_flexible};

/// One API's version range, as the broker offers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiVersionRange {
    /// The API key.
    pub api_key: i16,
    /// Lowest version the broker supports.
    pub min_version: i16,
    /// Highest version the broker supports.
    pub max_version: i16,
}

/// The ApiVersions response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiVersionsResponse {
    /// Top-level error code; `UNSUPPORTED_VERSION` (35) means the broker answered in the v0 format.
    pub error_code: i16,
    /// What the broker supports.
    pub api_keys: Vec<ApiVersionRange>,
    /// Throttle time (v1+).
    pub throttle_time_ms: i32,
}

impl ApiVersionsResponse {
    /// The error code at the start of any ApiVersions response body, whatever its version.
    ///
    /// A broker that does not support the requested version answers in the v0 format with
    /// `UNSUPPORTED_VERSION`, so callers peek at this before choosing the decoder version.
    pub fn peek_error_code(body: &[u8]) -> Option<i16> {
        Some(i16::from_be_bytes([*body.first()?, *body.get(1)?]))
    }
}

impl DecodeResponse for ApiVersionsResponse {
    const API: ApiKey = ApiKey::ApiVersions;

    fn decode(body: Bytes, version: i16) -> Result<Self, DecodeError> {
        super::check_version(Self::API, version)?;
        let flexible = is_flexible(Self::API, version);
        let mut r = Reader::new(body);
        let error_code = r.field("error_code").i16()?;
        let count = r
            .field("api_keys")
            .array_len(flexible, if flexible { 7 } else { 6 })?;
        let mut api_keys = Vec::with_capacity(count);
        for _ in 0..count {
            let api_key = r.field("api_key").i16()?;
            let min_version = r.field("min_version").i16()?;
            let max_version = r.field("max_version").i16()?;
            if flexible {
                r.skip_tagged_fields()?;
            }
            api_keys.push(ApiVersionRange {
                api_key,
                min_version,
                max_version,
            });
        }
        let throttle_time_ms = if version >= 1 {
            r.field("throttle_time_ms").i32()?
        } else {
            0
        };
        if flexible {
            // Feature flags (tags 0-3) are not used by a consumer.
            r.skip_tagged_fields()?;
        }
        r.finish()?;
        Ok(ApiVersionsResponse {
            error_code,
            api_keys,
            throttle_time_ms,
        })
    }
}
