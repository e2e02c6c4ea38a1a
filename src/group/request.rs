//! The requests the membership machine asks the engine to send.
//!
//! A [`GroupRequest`] is semantic until the engine knows which broker it goes to: the engine
//! negotiates the version with that broker and calls [`GroupRequest::encode`].

use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::consumer_group_heartbeat_request::TopicPartitions as HeartbeatTopicPartitions;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{
    ConsumerGroupHeartbeatRequest, FindCoordinatorRequest, GroupId, HeartbeatRequest, JoinGroupRequest,
    LeaveGroupRequest, SyncGroupRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use crate::error::Error;
use crate::wire::{ApiKey, ApiVersions, EncodeError, EncodedBody, encode_body};

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
    /// KIP-848. `None` fields are "unchanged since the last heartbeat" (sent as null / -1).
    ConsumerGroupHeartbeat {
        group_id: String,
        member_id: String,
        member_epoch: i32,
        instance_id: Option<String>,
        rack_id: Option<String>,
        rebalance_timeout_ms: Option<i32>,
        subscribed_topic_names: Option<Vec<String>>,
        /// v1+: topics the coordinator matches (`None`: unchanged).
        subscribed_topic_regex: Option<String>,
        server_assignor: Option<String>,
        /// The owned partitions, by topic id.
        topic_partitions: Option<Vec<([u8; 16], Vec<i32>)>>,
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
            Body::ConsumerGroupHeartbeat { .. } => ApiKey::ConsumerGroupHeartbeat,
        }
    }

    /// Negotiates the version with the target broker's `versions` and encodes the body at it.
    /// Returns the version, which `handle_response` needs; on error, pass the error to
    /// `handle_response` instead of sending anything.
    pub(crate) fn encode_for(&self, versions: &ApiVersions) -> Result<(i16, EncodedBody), Error> {
        let version = versions.version_for(self.api())?;
        Ok((version, self.encode(version)?))
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
            Body::ConsumerGroupHeartbeat {
                group_id,
                member_id,
                member_epoch,
                instance_id,
                rack_id,
                rebalance_timeout_ms,
                subscribed_topic_names,
                subscribed_topic_regex,
                server_assignor,
                topic_partitions,
            } => {
                let r = ConsumerGroupHeartbeatRequest::default()
                    .with_group_id(GroupId(sb(group_id)))
                    .with_member_id(sb(member_id))
                    .with_member_epoch(*member_epoch)
                    .with_instance_id(instance_id.as_deref().map(sb))
                    .with_rack_id(rack_id.as_deref().map(sb))
                    .with_rebalance_timeout_ms(rebalance_timeout_ms.unwrap_or(-1))
                    .with_subscribed_topic_names(
                        subscribed_topic_names
                            .as_ref()
                            .map(|names| names.iter().map(|n| TopicName(sb(n))).collect()),
                    )
                    .with_subscribed_topic_regex(subscribed_topic_regex.as_deref().map(sb))
                    .with_server_assignor(server_assignor.as_deref().map(sb))
                    .with_topic_partitions(topic_partitions.as_ref().map(|topics| {
                        topics
                            .iter()
                            .map(|(id, partitions)| {
                                HeartbeatTopicPartitions::default()
                                    .with_topic_id(uuid::Uuid::from_bytes(*id))
                                    .with_partitions(partitions.clone())
                            })
                            .collect()
                    }));
                encode_body(api, &r, version)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::{
        ConsumerGroupHeartbeatRequest, FindCoordinatorRequest, HeartbeatRequest, JoinGroupRequest,
        LeaveGroupRequest, SyncGroupRequest,
    };
    use kafka_protocol::protocol::Decodable;

    use super::*;
    use crate::wire::supported_range;

    fn decode<T: Decodable>(req: &GroupRequest, version: i16) -> T {
        let mut body = req.encode(version).unwrap().0;
        let out = T::decode(&mut body, version).unwrap();
        assert!(body.is_empty(), "{:?} v{version}: trailing bytes", req.api());
        out
    }

    fn each_version(api: ApiKey) -> std::ops::RangeInclusive<i16> {
        let (min, max) = supported_range(api).unwrap();
        min..=max
    }

    #[test]
    fn every_request_encodes_at_every_supported_version() {
        let find = GroupRequest(Body::FindCoordinator { group_id: "g".into() });
        for v in each_version(ApiKey::FindCoordinator) {
            let r: FindCoordinatorRequest = decode(&find, v);
            if v >= 4 {
                assert_eq!(r.coordinator_keys, [StrBytes::from_static_str("g")]);
            } else {
                assert_eq!(r.key.as_str(), "g");
            }
            assert_eq!(r.key_type, 0);
        }
        let join = GroupRequest(Body::JoinGroup {
            group_id: "g".into(),
            session_timeout_ms: 45_000,
            rebalance_timeout_ms: 300_000,
            member_id: "m".into(),
            group_instance_id: None,
            protocols: vec![("range", Bytes::from_static(b"meta"))],
            reason: Some("why".into()),
        });
        for v in each_version(ApiKey::JoinGroup) {
            let r: JoinGroupRequest = decode(&join, v);
            assert_eq!((r.session_timeout_ms, r.rebalance_timeout_ms), (45_000, 300_000));
            assert_eq!(r.member_id.as_str(), "m");
            assert_eq!(r.protocols[0].name.as_str(), "range");
            assert_eq!(&r.protocols[0].metadata[..], b"meta");
            assert_eq!(r.reason.is_some(), v >= 8);
        }
        let sync = GroupRequest(Body::SyncGroup {
            group_id: "g".into(),
            generation_id: 7,
            member_id: "m".into(),
            group_instance_id: None,
            protocol_name: "range".into(),
            assignments: vec![("m".into(), Bytes::from_static(b"a"))],
        });
        for v in each_version(ApiKey::SyncGroup) {
            let r: SyncGroupRequest = decode(&sync, v);
            assert_eq!(r.generation_id, 7);
            assert_eq!(r.assignments.len(), 1);
            assert_eq!(r.protocol_name.is_some(), v >= 5);
        }
        let heartbeat = GroupRequest(Body::Heartbeat {
            group_id: "g".into(),
            generation_id: 7,
            member_id: "m".into(),
            group_instance_id: None,
        });
        for v in each_version(ApiKey::Heartbeat) {
            let r: HeartbeatRequest = decode(&heartbeat, v);
            assert_eq!((r.generation_id, r.member_id.as_str()), (7, "m"));
        }
        let leave = GroupRequest(Body::LeaveGroup {
            group_id: "g".into(),
            member_id: "m".into(),
            reason: "bye".into(),
        });
        for v in each_version(ApiKey::LeaveGroup) {
            let r: LeaveGroupRequest = decode(&leave, v);
            let member = if v >= 3 {
                r.members[0].member_id.clone()
            } else {
                r.member_id.clone()
            };
            assert_eq!(member.as_str(), "m");
        }
    }

    #[test]
    fn consumer_group_heartbeat_sends_null_for_unchanged_fields() {
        let full = GroupRequest(Body::ConsumerGroupHeartbeat {
            group_id: "g".into(),
            member_id: "m".into(),
            member_epoch: 0,
            instance_id: Some("i".into()),
            rack_id: Some("r".into()),
            rebalance_timeout_ms: Some(300_000),
            subscribed_topic_names: Some(vec!["a".into(), "b".into()]),
            subscribed_topic_regex: None,
            server_assignor: Some("uniform".into()),
            topic_partitions: Some(vec![([7; 16], vec![0, 2])]),
        });
        for v in each_version(ApiKey::ConsumerGroupHeartbeat) {
            let r: ConsumerGroupHeartbeatRequest = decode(&full, v);
            assert_eq!(
                (r.group_id.as_str(), r.member_id.as_str(), r.member_epoch),
                ("g", "m", 0)
            );
            assert_eq!(r.instance_id.as_deref(), Some("i"));
            assert_eq!(r.rack_id.as_deref(), Some("r"));
            assert_eq!(r.rebalance_timeout_ms, 300_000);
            let names: Vec<&str> = r
                .subscribed_topic_names
                .iter()
                .flatten()
                .map(|t| t.as_str())
                .collect();
            assert_eq!(names, ["a", "b"]);
            assert_eq!(r.server_assignor.as_deref(), Some("uniform"));
            let owned = r.topic_partitions.unwrap();
            assert_eq!(owned[0].topic_id.as_bytes(), &[7; 16]);
            assert_eq!(owned[0].partitions, [0, 2]);
            assert_eq!(r.subscribed_topic_regex, None);
        }
        let incremental = GroupRequest(Body::ConsumerGroupHeartbeat {
            group_id: "g".into(),
            member_id: "m".into(),
            member_epoch: 5,
            instance_id: None,
            rack_id: None,
            rebalance_timeout_ms: None,
            subscribed_topic_names: None,
            subscribed_topic_regex: None,
            server_assignor: None,
            topic_partitions: None,
        });
        let r: ConsumerGroupHeartbeatRequest = decode(&incremental, 0);
        assert_eq!(r.member_epoch, 5);
        assert_eq!(r.rebalance_timeout_ms, -1);
        assert!(r.subscribed_topic_names.is_none() && r.topic_partitions.is_none());
        assert!(r.server_assignor.is_none() && r.instance_id.is_none() && r.rack_id.is_none());
    }

    /// The broker-evaluated pattern rides in v1's `SubscribedTopicRegex`, with an empty name list
    /// (the coordinator needs one of the two to join); v0 has no field for it, so encoding fails
    /// rather than joining without the pattern.
    #[test]
    fn consumer_group_heartbeat_carries_the_regex_from_v1() {
        let join = GroupRequest(Body::ConsumerGroupHeartbeat {
            group_id: "g".into(),
            member_id: "m".into(),
            member_epoch: 0,
            instance_id: None,
            rack_id: None,
            rebalance_timeout_ms: Some(300_000),
            subscribed_topic_names: Some(vec![]),
            subscribed_topic_regex: Some("orders-.*".into()),
            server_assignor: None,
            topic_partitions: Some(vec![]),
        });
        let r: ConsumerGroupHeartbeatRequest = decode(&join, 1);
        assert_eq!(r.subscribed_topic_regex.as_deref(), Some("orders-.*"));
        assert_eq!(r.subscribed_topic_names.map(|n| n.len()), Some(0));
        assert!(join.encode(0).is_err(), "v0 cannot carry a regex");
    }

    #[test]
    fn encode_for_negotiates_with_the_broker() {
        use crate::wire::{ApiVersionRange, ApiVersionsResponse};
        let broker = ApiVersions::from_response(&ApiVersionsResponse {
            error_code: 0,
            api_keys: vec![ApiVersionRange {
                api_key: ApiKey::Heartbeat as i16,
                min_version: 0,
                max_version: 2,
            }],
            throttle_time_ms: 0,
        });
        let heartbeat = GroupRequest(Body::Heartbeat {
            group_id: "g".into(),
            generation_id: 1,
            member_id: "m".into(),
            group_instance_id: None,
        });
        let (version, body) = heartbeat.encode_for(&broker).unwrap();
        assert_eq!(version, 2);
        assert_eq!(body, heartbeat.encode(2).unwrap());
        let find = GroupRequest(Body::FindCoordinator { group_id: "g".into() });
        let err = find.encode_for(&broker).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::UnsupportedVersion);
    }

    #[test]
    fn static_membership_fails_to_encode_before_it_existed() {
        let join = GroupRequest(Body::JoinGroup {
            group_id: "g".into(),
            session_timeout_ms: 1,
            rebalance_timeout_ms: 1,
            member_id: String::new(),
            group_instance_id: Some("i".into()),
            protocols: vec![],
            reason: None,
        });
        assert!(join.encode(4).is_err());
        assert!(join.encode(5).is_ok());
        let heartbeat = GroupRequest(Body::Heartbeat {
            group_id: "g".into(),
            generation_id: 1,
            member_id: "m".into(),
            group_instance_id: Some("i".into()),
        });
        assert!(heartbeat.encode(2).is_err());
        assert!(heartbeat.encode(3).is_ok());
    }
}
