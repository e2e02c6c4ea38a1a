//! Group-membership decoders (FindCoordinator, JoinGroup, SyncGroup, Heartbeat, LeaveGroup and the
//! consumer protocol) against `kafka-protocol`'s encoders, for every supported version, many
//! random shapes, every truncation, and hostile counts.

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::find_coordinator_response as kp_fc;
use kafka_protocol::messages::join_group_response as kp_jg;
use kafka_protocol::messages::leave_group_response as kp_lg;
use kafka_protocol::messages::{
    BrokerId, ConsumerProtocolAssignment, ConsumerProtocolSubscription, HeartbeatResponse as KpHeartbeat,
    SyncGroupResponse as KpSync, TopicName, consumer_protocol_assignment as kp_ca,
    consumer_protocol_subscription as kp_cs,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

use super::response_test_util::{Gen, encode};
use super::*;

fn s(x: &StrBytes) -> Str {
    Str::from(x.as_str())
}

/// Every strict prefix of a valid response fails with an error (never a panic).
fn assert_truncations_fail<T: DecodeResponse + std::fmt::Debug>(bytes: &Bytes, version: i16) {
    for len in 0..bytes.len() {
        assert!(
            T::decode(bytes.slice(..len), version).is_err(),
            "{:?} v{version} accepted a {len}-byte prefix of {}",
            T::API,
            bytes.len()
        );
    }
    // A trailing byte is ignored, as Kafka's clients do.
    let mut longer = BytesMut::from(&bytes[..]);
    longer.extend_from_slice(&[0]);
    assert!(
        T::decode(longer.freeze(), version).is_ok(),
        "trailing byte refused"
    );
}

const SHAPES: u64 = 150;

#[test]
fn find_coordinator_matches_reference_for_every_version() {
    for version in 1..=4 {
        let flexible = is_flexible(ApiKey::FindCoordinator, version);
        for seed in 0..SHAPES {
            let mut g = Gen(seed * 31 + version as u64);
            let mut kp = kp_fc::FindCoordinatorResponse::default().with_throttle_time_ms(g.i32());
            let expected: Vec<Coordinator>;
            if version >= 4 {
                let cs: Vec<kp_fc::Coordinator> = (0..g.below(4))
                    .map(|_| {
                        kp_fc::Coordinator::default()
                            .with_key(g.sb())
                            .with_node_id(BrokerId(g.i32()))
                            .with_host(g.sb())
                            .with_port(g.i32())
                            .with_error_code(g.i16())
                            .with_error_message(g.opt_sb())
                            .with_unknown_tagged_fields(g.tags(true))
                    })
                    .collect();
                expected = cs
                    .iter()
                    .map(|c| Coordinator {
                        key: Some(s(&c.key)),
                        node_id: c.node_id.0,
                        host: s(&c.host),
                        port: c.port,
                        error_code: KafkaCode(c.error_code),
                        error_message: c.error_message.as_ref().map(s),
                    })
                    .collect();
                kp = kp.with_coordinators(cs);
            } else {
                kp = kp
                    .with_error_code(g.i16())
                    .with_error_message(g.opt_sb())
                    .with_node_id(BrokerId(g.i32()))
                    .with_host(g.sb())
                    .with_port(g.i32());
                expected = vec![Coordinator {
                    key: None,
                    node_id: kp.node_id.0,
                    host: s(&kp.host),
                    port: kp.port,
                    error_code: KafkaCode(kp.error_code),
                    error_message: kp.error_message.as_ref().map(s),
                }];
            }
            kp = kp.with_unknown_tagged_fields(g.tags(flexible));
            let bytes = encode(&kp, version);
            let ours = FindCoordinatorResponse::decode(bytes.clone(), version).unwrap();
            assert_eq!(ours.throttle_time_ms, kp.throttle_time_ms);
            assert_eq!(ours.coordinators, expected, "v{version} seed {seed}");
            if seed < 10 {
                assert_truncations_fail::<FindCoordinatorResponse>(&bytes, version);
            }
        }
    }
}

#[test]
fn join_group_matches_reference_for_every_version() {
    for version in 2..=9 {
        let flexible = is_flexible(ApiKey::JoinGroup, version);
        for seed in 0..SHAPES {
            let mut g = Gen(seed * 17 + version as u64);
            let members: Vec<_> = (0..g.below(4))
                .map(|_| {
                    kp_jg::JoinGroupResponseMember::default()
                        .with_member_id(g.sb())
                        .with_group_instance_id(if version >= 5 { g.opt_sb() } else { None })
                        .with_metadata(g.bytes(8))
                        .with_unknown_tagged_fields(g.tags(flexible))
                })
                .collect();
            let kp = kp_jg::JoinGroupResponse::default()
                .with_throttle_time_ms(g.i32())
                .with_error_code(g.i16())
                .with_generation_id(g.i32())
                .with_protocol_type(if version >= 7 { g.opt_sb() } else { None })
                .with_protocol_name(if version >= 7 { g.opt_sb() } else { Some(g.sb()) })
                .with_leader(g.sb())
                .with_skip_assignment(version >= 9 && g.below(2) == 0)
                .with_member_id(g.sb())
                .with_members(members)
                .with_unknown_tagged_fields(g.tags(flexible));
            let bytes = encode(&kp, version);
            let ours = JoinGroupResponse::decode(bytes.clone(), version).unwrap();
            let expected = JoinGroupResponse {
                throttle_time_ms: kp.throttle_time_ms,
                error_code: KafkaCode(kp.error_code),
                generation_id: kp.generation_id,
                protocol_type: kp.protocol_type.as_ref().map(s),
                protocol_name: kp.protocol_name.as_ref().map(s),
                leader: s(&kp.leader),
                skip_assignment: kp.skip_assignment,
                member_id: s(&kp.member_id),
                members: kp
                    .members
                    .iter()
                    .map(|m| JoinGroupMember {
                        member_id: s(&m.member_id),
                        group_instance_id: m.group_instance_id.as_ref().map(s),
                        metadata: m.metadata.clone(),
                    })
                    .collect(),
            };
            assert_eq!(ours, expected, "v{version} seed {seed}");
            if seed < 10 {
                assert_truncations_fail::<JoinGroupResponse>(&bytes, version);
            }
        }
    }
}

#[test]
fn sync_group_matches_reference_for_every_version() {
    for version in 1..=5 {
        let flexible = is_flexible(ApiKey::SyncGroup, version);
        for seed in 0..SHAPES {
            let mut g = Gen(seed * 13 + version as u64);
            let kp = KpSync::default()
                .with_throttle_time_ms(g.i32())
                .with_error_code(g.i16())
                .with_protocol_type(if version >= 5 { g.opt_sb() } else { None })
                .with_protocol_name(if version >= 5 { g.opt_sb() } else { None })
                .with_assignment(g.bytes(8))
                .with_unknown_tagged_fields(g.tags(flexible));
            let bytes = encode(&kp, version);
            let ours = SyncGroupResponse::decode(bytes.clone(), version).unwrap();
            assert_eq!(
                ours,
                SyncGroupResponse {
                    throttle_time_ms: kp.throttle_time_ms,
                    error_code: KafkaCode(kp.error_code),
                    protocol_type: kp.protocol_type.as_ref().map(s),
                    protocol_name: kp.protocol_name.as_ref().map(s),
                    assignment: kp.assignment.clone(),
                }
            );
            if seed < 10 {
                assert_truncations_fail::<SyncGroupResponse>(&bytes, version);
            }
        }
    }
}

#[test]
fn heartbeat_matches_reference_for_every_version() {
    for version in 1..=4 {
        for seed in 0..SHAPES {
            let mut g = Gen(seed * 7 + version as u64);
            let kp = KpHeartbeat::default()
                .with_throttle_time_ms(g.i32())
                .with_error_code(g.i16())
                .with_unknown_tagged_fields(g.tags(version >= 4));
            let bytes = encode(&kp, version);
            let ours = HeartbeatResponse::decode(bytes.clone(), version).unwrap();
            assert_eq!(ours.throttle_time_ms, kp.throttle_time_ms);
            assert_eq!(ours.error_code, KafkaCode(kp.error_code));
            if seed < 10 {
                assert_truncations_fail::<HeartbeatResponse>(&bytes, version);
            }
        }
    }
}

#[test]
fn leave_group_matches_reference_for_every_version() {
    for version in 1..=5 {
        let flexible = is_flexible(ApiKey::LeaveGroup, version);
        for seed in 0..SHAPES {
            let mut g = Gen(seed * 5 + version as u64);
            let members: Vec<_> = if version >= 3 {
                (0..g.below(4))
                    .map(|_| {
                        kp_lg::MemberResponse::default()
                            .with_member_id(g.sb())
                            .with_group_instance_id(g.opt_sb())
                            .with_error_code(g.i16())
                            .with_unknown_tagged_fields(g.tags(flexible))
                    })
                    .collect()
            } else {
                vec![]
            };
            let kp = kp_lg::LeaveGroupResponse::default()
                .with_throttle_time_ms(g.i32())
                .with_error_code(g.i16())
                .with_members(members)
                .with_unknown_tagged_fields(g.tags(flexible));
            let bytes = encode(&kp, version);
            let ours = LeaveGroupResponse::decode(bytes.clone(), version).unwrap();
            let expected: Vec<_> = kp
                .members
                .iter()
                .map(|m| LeaveGroupMember {
                    member_id: s(&m.member_id),
                    group_instance_id: m.group_instance_id.as_ref().map(s),
                    error_code: KafkaCode(m.error_code),
                })
                .collect();
            assert_eq!(ours.members, expected);
            assert_eq!(ours.error_code, KafkaCode(kp.error_code));
            if seed < 10 {
                assert_truncations_fail::<LeaveGroupResponse>(&bytes, version);
            }
        }
    }
}

fn random_subscription(g: &mut Gen, version: i16) -> Subscription {
    let tps = |g: &mut Gen| {
        (0..g.below(4))
            .map(|_| TopicPartitions {
                topic: Str::from(g.name()),
                partitions: (0..g.below(5)).map(|_| g.i32()).collect(),
            })
            .collect::<Vec<_>>()
    };
    Subscription {
        version,
        topics: (0..g.below(5)).map(|_| Str::from(g.name())).collect(),
        user_data: (g.below(2) == 0).then(|| g.bytes(8)),
        owned_partitions: if version >= 1 { tps(g) } else { vec![] },
        generation_id: if version >= 2 { g.i32() } else { -1 },
        rack_id: if version >= 3 {
            g.opt_sb().map(|r| s(&r))
        } else {
            None
        },
    }
}

#[test]
fn subscription_matches_reference_for_every_version() {
    for version in 0..=3 {
        for seed in 0..SHAPES {
            let mut g = Gen(seed * 3 + version as u64);
            let sub = random_subscription(&mut g, version);
            // Encode with the reference directly, not with our wrapper.
            let kp = ConsumerProtocolSubscription::default()
                .with_topics(
                    sub.topics
                        .iter()
                        .map(|t| StrBytes::from_string(t.to_string()))
                        .collect(),
                )
                .with_user_data(sub.user_data.clone())
                .with_owned_partitions(
                    sub.owned_partitions
                        .iter()
                        .map(|tp| {
                            kp_cs::TopicPartition::default()
                                .with_topic(TopicName(StrBytes::from_string(tp.topic.to_string())))
                                .with_partitions(tp.partitions.clone())
                        })
                        .collect(),
                )
                .with_generation_id(sub.generation_id)
                .with_rack_id(sub.rack_id.as_ref().map(|r| StrBytes::from_string(r.to_string())));
            let mut buf = BytesMut::new();
            bytes::BufMut::put_i16(&mut buf, version);
            kp.encode(&mut buf, version).unwrap();
            let bytes = buf.freeze();
            assert_eq!(
                Subscription::decode(bytes.clone()).unwrap(),
                sub,
                "v{version} seed {seed}"
            );
            // Our encoder produces what the reference decodes.
            let ours = sub.encode().unwrap();
            assert_eq!(ours, bytes);
            let mut body = ours.slice(2..);
            assert_eq!(
                ConsumerProtocolSubscription::decode(&mut body, version).unwrap(),
                kp
            );
            for len in 0..bytes.len() {
                assert!(Subscription::decode(bytes.slice(..len)).is_err(), "prefix {len}");
            }
        }
    }
}

#[test]
fn assignment_matches_reference_for_every_version() {
    for version in 0..=3 {
        for seed in 0..SHAPES {
            let mut g = Gen(seed * 11 + version as u64);
            let assignment = Assignment {
                version,
                partitions: (0..g.below(4))
                    .map(|_| TopicPartitions {
                        topic: Str::from(g.name()),
                        partitions: (0..g.below(5)).map(|_| g.i32()).collect(),
                    })
                    .collect(),
                user_data: (g.below(2) == 0).then(|| g.bytes(8)),
            };
            let kp = ConsumerProtocolAssignment::default()
                .with_assigned_partitions(
                    assignment
                        .partitions
                        .iter()
                        .map(|tp| {
                            kp_ca::TopicPartition::default()
                                .with_topic(TopicName(StrBytes::from_string(tp.topic.to_string())))
                                .with_partitions(tp.partitions.clone())
                        })
                        .collect(),
                )
                .with_user_data(assignment.user_data.clone());
            let mut buf = BytesMut::new();
            bytes::BufMut::put_i16(&mut buf, version);
            kp.encode(&mut buf, version).unwrap();
            let bytes = buf.freeze();
            assert_eq!(Assignment::decode(bytes.clone()).unwrap(), assignment);
            assert_eq!(assignment.encode().unwrap(), bytes);
            for len in 1..bytes.len() {
                assert!(Assignment::decode(bytes.slice(..len)).is_err(), "prefix {len}");
            }
        }
    }
}

#[test]
fn newer_consumer_protocol_versions_read_as_the_newest_known() {
    let mut g = Gen(99);
    let sub = random_subscription(&mut g, 3);
    let mut bytes = BytesMut::from(&sub.encode().unwrap()[..]);
    bytes[..2].copy_from_slice(&7i16.to_be_bytes());
    bytes.extend_from_slice(b"future fields");
    let decoded = Subscription::decode(bytes.freeze()).unwrap();
    assert_eq!(decoded.version, 7);
    assert_eq!(decoded.topics, sub.topics);
    assert_eq!(decoded.owned_partitions, sub.owned_partitions);
    assert_eq!(Assignment::decode(Bytes::new()).unwrap(), Assignment::default());
    assert!(
        Subscription::decode(Bytes::from_static(&[
            0xff, 0xff, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff
        ]))
        .is_err()
    );
}

#[test]
fn hostile_counts_fail_before_allocating() {
    // JoinGroup v5: throttle, error, generation, protocol "", leader "", member "", members = i32::MAX.
    let mut b = vec![0u8; 10];
    b.extend([0, 0, 0, 0, 0, 0]);
    b.extend([0x7f, 0xff, 0xff, 0xff, 0, 0]);
    let err = JoinGroupResponse::decode(Bytes::from(b), 5).unwrap_err();
    assert!(
        matches!(err, DecodeError::CountExceedsBytes { field: "members", .. }),
        "{err:?}"
    );
    // FindCoordinator v4: compact coordinators count near u32::MAX.
    let b = vec![0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f, 0];
    let err = FindCoordinatorResponse::decode(Bytes::from(b), 4).unwrap_err();
    assert!(matches!(err, DecodeError::CountExceedsBytes { .. }), "{err:?}");
    // Subscription: i32::MAX topics.
    let err = Subscription::decode(Bytes::from_static(&[0, 1, 0x7f, 0xff, 0xff, 0xff, 0, 0])).unwrap_err();
    assert!(
        matches!(err, DecodeError::CountExceedsBytes { field: "topics", .. }),
        "{err:?}"
    );
    // Assignment: one topic announcing i32::MAX partitions.
    let err = Assignment::decode(Bytes::from_static(&[
        0, 0, 0, 0, 0, 1, 0, 1, b'a', 0x7f, 0xff, 0xff, 0xff, 0,
    ]))
    .unwrap_err();
    assert!(matches!(err, DecodeError::CountExceedsBytes { .. }), "{err:?}");
    // SyncGroup v3: negative assignment length.
    let err = SyncGroupResponse::decode(Bytes::from_static(&[0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xfe]), 3)
        .unwrap_err();
    assert!(matches!(err, DecodeError::NegativeLength { .. }), "{err:?}");
    // LeaveGroup v3: members = i32::MAX.
    let err = LeaveGroupResponse::decode(Bytes::from_static(&[0, 0, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff]), 3)
        .unwrap_err();
    assert!(matches!(err, DecodeError::CountExceedsBytes { .. }), "{err:?}");
    for api_version in [0, 10] {
        assert!(HeartbeatResponse::decode(Bytes::from_static(&[0; 6]), api_version).is_err());
    }
}

/// librdkafka's mock answers a follower that syncs after its leader with INVALID_REQUEST and a
/// null assignment (`rd_kafka_mock_handle_SyncGroup`); the error code must come through (it used
/// to be a decode error, which the membership took for a lost coordinator).
#[test]
fn sync_group_with_a_null_assignment_carries_its_error_code() {
    // v3: throttle, error 42, assignment length -1.
    let r = SyncGroupResponse::decode(
        Bytes::from_static(&[0, 0, 0, 0, 0, 42, 0xff, 0xff, 0xff, 0xff]),
        3,
    )
    .unwrap();
    assert_eq!(r.error_code, KafkaCode(42));
    assert!(r.assignment.is_empty());
    // v4 (flexible): compact null, no tagged fields.
    let r = SyncGroupResponse::decode(Bytes::from_static(&[0, 0, 0, 0, 0, 27, 0, 0]), 4).unwrap();
    assert_eq!(r.error_code, KafkaCode::REBALANCE_IN_PROGRESS);
}

#[test]
fn random_bytes_never_panic() {
    let mut g = Gen(7);
    for _ in 0..3000 {
        let len = g.below(40) as usize;
        let bytes = Bytes::from((0..len).map(|_| g.below(256) as u8).collect::<Vec<_>>());
        for v in 1..=9 {
            let _ = FindCoordinatorResponse::decode(bytes.clone(), v);
            let _ = JoinGroupResponse::decode(bytes.clone(), v);
            let _ = SyncGroupResponse::decode(bytes.clone(), v);
            let _ = HeartbeatResponse::decode(bytes.clone(), v);
            let _ = LeaveGroupResponse::decode(bytes.clone(), v);
        }
        let _ = Subscription::decode(bytes.clone());
        let _ = Assignment::decode(bytes);
    }
}
