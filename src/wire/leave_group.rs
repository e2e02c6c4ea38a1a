//! LeaveGroup response (API key 13), versions 1–5.

use bytes::Bytes;
use kafka_protocol::messages::ApiKey;

use super::{DecodeError, DecodeResponse, KafkaCode, Reader, Str, is_flexible};

/// The LeaveGroup response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaveGroupResponse {
    /// Throttle time.
    pub throttle_time_ms: i32,
    /// Top-level error code.
    pub error_code: KafkaCode,
    /// Per-member results (v3+, batched leave of KIP-345).
    pub members: Vec<LeaveGroupMember>,
}

/// The result for one leaving member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaveGroupMember {
    /// Member id.
    pub member_id: Str,
    /// Static instance id.
    pub group_instance_id: Option<Str>,
    /// Error code for this member.
    pub error_code: KafkaCode,
}

impl DecodeResponse for LeaveGroupResponse {
    const API: ApiKey = ApiKey::LeaveGroup;

    fn decode(body: Bytes, version: i16) -> Result<Self, DecodeError> {
        super::check_version(Self::API, version)?;
        let flexible = is_flexible(Self::API, version);
        let mut r = Reader::new(body);
        let throttle_time_ms = r.field("throttle_time_ms").i32()?;
        let error_code = KafkaCode(r.field("error_code").i16()?);
        let members = if version >= 3 {
            // member_id + instance id + error (+ tags): compact 1+1+2+1, classic 2+2+2.
            let count = r
                .field("members")
                .array_len(flexible, if flexible { 5 } else { 6 })?;
            let mut members = Vec::with_capacity(count);
            for _ in 0..count {
                let member_id = r.field("member.member_id").string(flexible)?;
                let group_instance_id = r.field("member.group_instance_id").nullable_string(flexible)?;
                let error_code = KafkaCode(r.field("member.error_code").i16()?);
                if flexible {
                    r.skip_tagged_fields()?;
                }
                members.push(LeaveGroupMember {
                    member_id,
                    group_instance_id,
                    error_code,
                });
            }
            members
        } else {
            vec![]
        };
        if flexible {
            r.skip_tagged_fields()?;
        }
        r.finish()?;
        Ok(LeaveGroupResponse {
            throttle_time_ms,
            error_code,
            members,
        })
    }
}
