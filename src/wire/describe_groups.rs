//! DescribeGroups response (API key 15), versions 0–6.
//!
//! Version notes (from Kafka's `DescribeGroupsResponse.json`): v1 adds `throttle_time_ms`; v3 adds
//! `authorized_operations`; v4 adds each member's `group_instance_id`; v5 is flexible; v6 adds a
//! per-group `error_message` and answers a group that does not exist with `GROUP_ID_NOT_FOUND`
//! (older versions answer it with state `Dead` and no error). Member metadata and assignments are
//! opaque bytes here; for protocol type `consumer` they decode with
//! [`Subscription::decode`](super::Subscription::decode) and
//! [`Assignment::decode`](super::Assignment::decode).

use bytes::Bytes;
use kafka_protocol::messages::ApiKey;

use super::{DecodeError, DecodeResponse, KafkaCode, Reader, Str, is_flexible};

/// The DescribeGroups response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeGroupsResponse {
    /// Throttle time (v1+; 0 before).
    pub throttle_time_ms: i32,
    /// One entry per group asked for.
    pub groups: Vec<DescribedGroup>,
}

/// One group, as its coordinator describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribedGroup {
    /// Error code for this group (e.g. `NOT_COORDINATOR`, `GROUP_ID_NOT_FOUND` from v6).
    pub error_code: KafkaCode,
    /// Error message (v6+), if any.
    pub error_message: Option<Str>,
    /// The group id.
    pub group_id: Str,
    /// The state: `Empty`, `PreparingRebalance`, `CompletingRebalance`, `Stable` or `Dead` (a
    /// group that does not exist), or the empty string.
    pub group_state: Str,
    /// The protocol type (`consumer` for consumer groups), or the empty string.
    pub protocol_type: Str,
    /// The chosen protocol (for consumer groups the assignor, e.g. `range`), or the empty string;
    /// only filled in while the group is `Stable`.
    pub protocol_data: Str,
    /// The members (always empty for a `Dead` group).
    pub members: Vec<DescribedGroupMember>,
    /// The operations the caller may perform on the group, as a bit field (v3+, when asked for);
    /// [`AUTHORIZED_OPERATIONS_UNKNOWN`](super::AUTHORIZED_OPERATIONS_UNKNOWN) otherwise.
    pub authorized_operations: i32,
}

/// One member of a described group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribedGroupMember {
    /// The member id the coordinator assigned.
    pub member_id: Str,
    /// The static instance id (`group.instance.id`, v4+), if any.
    pub group_instance_id: Option<Str>,
    /// The client id of the member's latest JoinGroup.
    pub client_id: Str,
    /// The client's host as the coordinator saw it (e.g. `/127.0.0.1`).
    pub client_host: Str,
    /// The member's metadata for the chosen protocol (for `consumer`, a subscription); only
    /// provided while the group is `Stable`.
    pub member_metadata: Bytes,
    /// The member's current assignment (for `consumer`, an assignment); only provided while the
    /// group is `Stable`.
    pub member_assignment: Bytes,
}

impl DescribeGroupsResponse {
    /// The entry for `group_id`, if the response has one.
    pub fn group(&self, group_id: &str) -> Option<&DescribedGroup> {
        self.groups.iter().find(|g| g.group_id.as_str() == group_id)
    }
}

fn decode_member(r: &mut Reader, version: i16, flexible: bool) -> Result<DescribedGroupMember, DecodeError> {
    Ok(DescribedGroupMember {
        member_id: r.field("member.member_id").string(flexible)?,
        group_instance_id: if version >= 4 {
            r.field("member.group_instance_id").nullable_string(flexible)?
        } else {
            None
        },
        client_id: r.field("member.client_id").string(flexible)?,
        client_host: r.field("member.client_host").string(flexible)?,
        member_metadata: r.field("member.member_metadata").bytes(flexible)?,
        member_assignment: r.field("member.member_assignment").bytes(flexible)?,
    })
}

impl DecodeResponse for DescribeGroupsResponse {
    const API: ApiKey = ApiKey::DescribeGroups;

    fn decode(body: Bytes, version: i16) -> Result<Self, DecodeError> {
        super::check_version(Self::API, version)?;
        let flexible = is_flexible(Self::API, version);
        let mut r = Reader::new(body);
        let throttle_time_ms = if version >= 1 {
            r.field("throttle_time_ms").i32()?
        } else {
            0
        };
        // Member: member_id, [instance id], client_id, client_host, metadata, assignment, [tags]:
        // compact 1+1+1+1+1+1+1, classic 2+(2)+2+2+4+4.
        let min_member = match (flexible, version >= 4) {
            (true, _) => 7,
            (false, true) => 16,
            (false, false) => 14,
        };
        // Group: error, [message], group_id, state, protocol_type, protocol_data, members,
        // [authorized_operations], [tags].
        let min_group = 2
            + usize::from(version >= 6)
            + if flexible { 4 + 1 } else { 4 * 2 + 4 }
            + if version >= 3 { 4 } else { 0 }
            + usize::from(flexible);
        let groups = r.array("groups", flexible, min_group, |r| {
            let error_code = KafkaCode(r.field("group.error_code").i16()?);
            let error_message = if version >= 6 {
                r.field("group.error_message").nullable_string(flexible)?
            } else {
                None
            };
            let group_id = r.field("group.group_id").string(flexible)?;
            let group_state = r.field("group.group_state").string(flexible)?;
            let protocol_type = r.field("group.protocol_type").string(flexible)?;
            let protocol_data = r.field("group.protocol_data").string(flexible)?;
            let members = r.array("group.members", flexible, min_member, |r| {
                decode_member(r, version, flexible)
            })?;
            let authorized_operations = if version >= 3 {
                r.field("group.authorized_operations").i32()?
            } else {
                super::AUTHORIZED_OPERATIONS_UNKNOWN
            };
            Ok(DescribedGroup {
                error_code,
                error_message,
                group_id,
                group_state,
                protocol_type,
                protocol_data,
                members,
                authorized_operations,
            })
        })?;
        if flexible {
            r.skip_tagged_fields()?;
        }
        r.finish()?;
        Ok(DescribeGroupsResponse {
            throttle_time_ms,
            groups,
        })
    }
}
