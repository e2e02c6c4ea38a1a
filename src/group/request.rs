//! The requests the membership machine asks the engine to send.
//!
//! A [`GroupRequest`] is semantic until the engine knows which broker it goes to: the engine
//! negotiates the version with that broker and calls [`GroupRequest::encode`].

use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{
    FindCoordinatorRequest, GroupId, HeartbeatRequest, JoinGroupRequest, LeaveGroupRequest, SyncGroupRequest,
};
use kafka_protocol::protocol::StrBytes;

use crate::wire::{ApiKey, EncodeError, EncodedBody, encode_body};

/// Identifies a request in flight; echo it in [`super::GroupMachine::handle_response`].
pub(crate) type RequestId = u64;

/// Where a request goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// Any reachable broker (FindCoordinator).
    AnyBroker,
    /// The group coordinator, by node id; its address is
    /// [`super::GroupMachine::coordinator_address`].
    Coordinator(i32),
}

/// A request to send: where, with what deadline, and what.
#[derive(Debug, Clone)]
pub(crate) struct OutgoingRequest {
    /// Echo this in `handle_response`.
    pub(crate) id: RequestId,
    /// Where to send it.
    pub(crate) target: Target,
    /// How long to wait for the response before reporting a timeout error.
    pub(crate) timeout: Duration,
    /// The request.
    pub(crate) request: GroupRequest,
}

/// A group request, encodable at any version the broker and kafkit share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GroupRequest(pub(super) Body);

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Body {
    FindCoordinator {
        group_id: String,
    },
    JoinGroup {
        group_id: String,
        session_timeout_ms: i32,
        rebalance_timeout_ms: i32,
        member_id: String,
        group_instance_id: Option<String>,
        protocols: Vec<(&'static str, Bytes)>,
        reason: Option<String>,
    },
    SyncGroup {
        group_id: String,
        generation_id: i32,
        member_id: String,
        group_instance_id: Option<String>,
        protocol_name: String,
        assignments: Vec<(String, Bytes)>,
    },
    Heartbeat {
        group_id: String,
        generation_id: i32,
        member_id: String,
        group_instance_id: Option<String>,
    },
    LeaveGroup {
        group_id: String,
        member_id: String,
        reason: String,
    },
}

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_owned())
}

impl GroupRequest {
    /// The API.
    pub(crate) fn api(&self) -> ApiKey {
        match &self.0 {
            Body::FindCoordinator { .. } => ApiKey::FindCoordinator,
            Body::JoinGroup { .. } => ApiKey::JoinGroup,
            Body::SyncGroup { .. } => ApiKey::SyncGroup,
            Body::Heartbeat { .. } => ApiKey::Heartbeat,
            Body::LeaveGroup { .. } => ApiKey::LeaveGroup,
        }
    }

    /// Encodes the body at `version` (the negotiated version for [`GroupRequest::api`]). Fails if
    /// the version cannot carry a field kafkit needs (e.g. `group.instance.id` below JoinGroup
    /// v5); pass that failure to `handle_response` as an error and the machine reports it as fatal.
    pub(crate) fn encode(&self, version: i16) -> Result<EncodedBody, EncodeError> {
        let api = self.api();
        match &self.0 {
            Body::FindCoordinator { group_id } => {
                let mut r = FindCoordinatorRequest::default().with_key_type(0);
                r = if version >= 4 {
                    r.with_coordinator_keys(vec![sb(group_id)])
                } else {
                    r.with_key(sb(group_id))
                };
                encode_body(api, &r, version)
            }
            Body::JoinGroup {
                group_id,
                session_timeout_ms,
                rebalance_timeout_ms,
                member_id,
                group_instance_id,
                protocols,
                reason,
            } => {
                let r = JoinGroupRequest::default()
                    .with_group_id(GroupId(sb(group_id)))
                    .with_session_timeout_ms(*session_timeout_ms)
                    .with_rebalance_timeout_ms(*rebalance_timeout_ms)
                    .with_member_id(sb(member_id))
                    .with_group_instance_id(group_instance_id.as_deref().map(sb))
                    .with_protocol_type(sb("consumer"))
                    .with_protocols(
                        protocols
                            .iter()
                            .map(|(name, metadata)| {
                                JoinGroupRequestProtocol::default()
                                    .with_name(sb(name))
                                    .with_metadata(metadata.clone())
                            })
                            .collect(),
                    )
                    .with_reason(if version >= 8 {
                        reason.as_deref().map(sb)
                    } else {
                        None
                    });
                encode_body(api, &r, version)
            }
            Body::SyncGroup {
                group_id,
                generation_id,
                member_id,
                group_instance_id,
                protocol_name,
                assignments,
            } => {
                let r = SyncGroupRequest::default()
                    .with_group_id(GroupId(sb(group_id)))
                    .with_generation_id(*generation_id)
                    .with_member_id(sb(member_id))
                    .with_group_instance_id(group_instance_id.as_deref().map(sb))
                    .with_protocol_type((version >= 5).then(|| sb("consumer")))
                    .with_protocol_name((version >= 5).then(|| sb(protocol_name)))
                    .with_assignments(
                        assignments
                            .iter()
                            .map(|(member, assignment)| {
                                SyncGroupRequestAssignment::default()
                                    .with_member_id(sb(member))
                                    .with_assignment(assignment.clone())
                            })
                            .collect(),
                    );
                encode_body(api, &r, version)
            }
            Body::Heartbeat {
                group_id,
                generation_id,
                member_id,
                group_instance_id,
            } => {
                let r = HeartbeatRequest::default()
                    .with_group_id(GroupId(sb(group_id)))
                    .with_generation_id(*generation_id)
                    .with_member_id(sb(member_id))
                    .with_group_instance_id(group_instance_id.as_deref().map(sb));
                encode_body(api, &r, version)
            }
            Body::LeaveGroup {
                group_id,
                member_id,
                reason,
            } => {
                let mut r = LeaveGroupRequest::default().with_group_id(GroupId(sb(group_id)));
                r = if version >= 3 {
                    r.with_members(vec![
                        MemberIdentity::default()
                            .with_member_id(sb(member_id))
                            .with_reason((version >= 5).then(|| sb(reason))),
                    ])
                } else {
                    r.with_member_id(sb(member_id))
                };
                encode_body(api, &r, version)
            }
        }
    }
}
