//! JoinGroup response (API key 11), versions 2–9.

use bytes::Bytes;
use kafka_protocol::messages::ApiKey;

use super::{DecodeError, DecodeResponse, KafkaCode, Reader, Str, is_flexible};

/// The JoinGroup response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinGroupResponse {
    /// Throttle time.
    pub throttle_time_ms: i32,
    /// Error code.
    pub error_code: KafkaCode,
    /// The generation the member joined.
    pub generation_id: i32,
    /// The protocol type (v7+; `None` before or when null).
    pub protocol_type: Option<Str>,
    /// The chosen protocol (assignor) name; nullable from v7.
    pub protocol_name: Option<Str>,
    /// The leader's member id.
    pub leader: Str,
    /// Whether the leader should skip computing the assignment (v9+, server-side assignors).
    pub skip_assignment: bool,
    /// This member's id (assigned by the coordinator on the first join).
    pub member_id: Str,
    /// All members with their metadata; empty unless this member is the leader.
    pub members: Vec<JoinGroupMember>,
}

/// One member, as the leader sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinGroupMember {
    /// Member id.
    pub member_id: Str,
    /// Static instance id (v5+).
    pub group_instance_id: Option<Str>,
    /// The member's metadata for the chosen protocol (a consumer-protocol subscription).
    pub metadata: Bytes,
}

impl DecodeResponse for JoinGroupResponse {
    const API: ApiKey = ApiKey::JoinGroup;

    fn decode(body: Bytes, version: i16) -> Result<Self, DecodeError> {
        super::check_version(Self::API, version)?;
        let flexible = is_flexible(Self::API, version);
        let mut r = Reader::new(body);
        let throttle_time_ms = r.field("throttle_time_ms").i32()?;
        let error_code = KafkaCode(r.field("error_code").i16()?);
        let generation_id = r.field("generation_id").i32()?;
        let protocol_type = if version >= 7 {
            r.field("protocol_type").nullable_string(flexible)?
        } else {
            None
        };
        let protocol_name = if version >= 7 {
            r.field("protocol_name").nullable_string(flexible)?
        } else {
            Some(r.field("protocol_name").string(flexible)?)
        };
        let leader = r.field("leader").string(flexible)?;
        let skip_assignment = if version >= 9 {
            r.field("skip_assignment").bool()?
        } else {
            false
        };
        let member_id = r.field("member_id").string(flexible)?;
        // member_id + (instance id) + metadata (+ tags): compact 1+1+1+1, classic 2+2+4.
        let min = match (flexible, version >= 5) {
            (true, _) => 4,
            (false, true) => 8,
            (false, false) => 6,
        };
        let count = r.field("members").array_len(flexible, min)?;
        let mut members = Vec::with_capacity(count);
        for _ in 0..count {
            let member_id = r.field("member.member_id").string(flexible)?;
            let group_instance_id = if version >= 5 {
                r.field("member.group_instance_id").nullable_string(flexible)?
            } else {
                None
            };
            let metadata = r.field("member.metadata").bytes(flexible)?;
            if flexible {
                r.skip_tagged_fields()?;
            }
            members.push(JoinGroupMember {
                member_id,
                group_instance_id,
                metadata,
            });
        }
        if flexible {
            r.skip_tagged_fields()?;
        }
        r.finish()?;
        Ok(JoinGroupResponse {
            throttle_time_ms,
            error_code,
            generation_id,
            protocol_type,
            protocol_name,
            leader,
            skip_assignment,
            member_id,
            members,
        })
    }
}
