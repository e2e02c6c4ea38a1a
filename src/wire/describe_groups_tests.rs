//! The DescribeGroups decoder against `kafka-protocol`'s encoder for every supported version and
//! many random shapes, plus hostile input: every truncation, huge counts, negative lengths, and
//! arbitrary bytes.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::GroupId;
use kafka_protocol::messages::describe_groups_response as kp;
use kafka_protocol::protocol::StrBytes;

use super::response_test_util::{Gen, assert_count_rejected, encode};
use super::*;

fn s(x: &StrBytes) -> Str {
    Str::from(x.as_str())
}

fn reference(g: &mut Gen, version: i16) -> kp::DescribeGroupsResponse {
    let flexible = is_flexible(ApiKey::DescribeGroups, version);
    let groups = (0..g.below(4))
        .map(|_| {
            let members = (0..g.below(4))
                .map(|_| {
                    kp::DescribedGroupMember::default()
                        .with_member_id(g.sb())
                        .with_group_instance_id(if version >= 4 { g.opt_sb() } else { None })
                        .with_client_id(g.sb())
                        .with_client_host(g.sb())
                        .with_member_metadata(g.bytes(12))
                        .with_member_assignment(g.bytes(12))
                        .with_unknown_tagged_fields(g.tags(flexible))
                })
                .collect();
            kp::DescribedGroup::default()
                .with_error_code(g.i16())
                .with_error_message(if version >= 6 { g.opt_sb() } else { None })
                .with_group_id(GroupId(g.sb()))
                .with_group_state(g.sb())
                .with_protocol_type(g.sb())
                .with_protocol_data(g.sb())
                .with_members(members)
                .with_authorized_operations(if version >= 3 { g.i32() } else { i32::MIN })
                .with_unknown_tagged_fields(g.tags(flexible))
        })
        .collect();
    kp::DescribeGroupsResponse::default()
        .with_throttle_time_ms(if version >= 1 { g.i32() } else { 0 })
        .with_groups(groups)
        .with_unknown_tagged_fields(g.tags(flexible))
}

fn expected(kp: &kp::DescribeGroupsResponse) -> DescribeGroupsResponse {
    DescribeGroupsResponse {
        throttle_time_ms: kp.throttle_time_ms,
        groups: kp
            .groups
            .iter()
            .map(|g| DescribedGroup {
                error_code: KafkaCode(g.error_code),
                error_message: g.error_message.as_ref().map(s),
                group_id: s(&g.group_id.0),
                group_state: s(&g.group_state),
                protocol_type: s(&g.protocol_type),
                protocol_data: s(&g.protocol_data),
                members: g
                    .members
                    .iter()
                    .map(|m| DescribedGroupMember {
                        member_id: s(&m.member_id),
                        group_instance_id: m.group_instance_id.as_ref().map(s),
                        client_id: s(&m.client_id),
                        client_host: s(&m.client_host),
                        member_metadata: m.member_metadata.clone(),
                        member_assignment: m.member_assignment.clone(),
                    })
                    .collect(),
                authorized_operations: g.authorized_operations,
            })
            .collect(),
    }
}

#[test]
fn describe_groups_matches_reference_for_every_version() {
    let (min, max) = supported_range(ApiKey::DescribeGroups).unwrap();
    assert_eq!((min, max), (0, 6));
    for version in min..=max {
        for seed in 0..150u64 {
            let mut g = Gen(seed * 13 + version as u64);
            let kp = reference(&mut g, version);
            let bytes = encode(&kp, version);
            let ours = DescribeGroupsResponse::decode(bytes.clone(), version)
                .unwrap_or_else(|e| panic!("v{version} seed {seed}: {e}"));
            assert_eq!(ours, expected(&kp), "v{version} seed {seed}");
            if seed < 10 {
                // Every strict prefix is a typed error (never a panic, never a wrong success).
                for len in 0..bytes.len() {
                    assert!(
                        DescribeGroupsResponse::decode(bytes.slice(..len), version).is_err(),
                        "v{version} seed {seed}: a {len}-byte prefix of {} decoded",
                        bytes.len()
                    );
                }
            }
        }
    }
}

#[test]
fn member_assignments_decode_with_the_consumer_protocol() {
    let assignment = Assignment {
        version: 3,
        partitions: vec![TopicPartitions {
            topic: Str::from("orders"),
            partitions: vec![0, 2],
        }],
        user_data: None,
    };
    for version in 0..=6 {
        let kp = kp::DescribeGroupsResponse::default().with_groups(vec![
            kp::DescribedGroup::default()
                .with_group_id(GroupId(StrBytes::from_static_str("g")))
                .with_group_state(StrBytes::from_static_str("Stable"))
                .with_protocol_type(StrBytes::from_static_str("consumer"))
                .with_protocol_data(StrBytes::from_static_str("range"))
                .with_members(vec![
                    kp::DescribedGroupMember::default()
                        .with_member_id(StrBytes::from_static_str("m-1"))
                        .with_client_id(StrBytes::from_static_str("kafkit"))
                        .with_client_host(StrBytes::from_static_str("/127.0.0.1"))
                        .with_member_assignment(assignment.encode().unwrap()),
                ]),
        ]);
        let ours = DescribeGroupsResponse::decode(encode(&kp, version), version).unwrap();
        let group = ours.group("g").unwrap();
        assert_eq!(group.group_state.as_str(), "Stable");
        assert_eq!(group.protocol_data.as_str(), "range");
        let member = &group.members[0];
        assert_eq!(member.client_host.as_str(), "/127.0.0.1");
        assert_eq!(
            Assignment::decode(member.member_assignment.clone()).unwrap(),
            assignment
        );
        assert!(ours.group("other").is_none());
    }
}

#[test]
fn versions_outside_the_range_are_refused() {
    for version in [-1, 7, i16::MAX] {
        assert_eq!(
            DescribeGroupsResponse::decode(Bytes::new(), version),
            Err(DecodeError::UnsupportedVersion {
                api: ApiKey::DescribeGroups,
                version
            })
        );
    }
}

#[test]
fn a_group_count_of_i32_max_in_a_tiny_response() {
    // v1: throttle_time_ms, then groups.len = i32::MAX with 8 bytes behind it.
    let mut b = BytesMut::new();
    b.put_i32(0);
    b.put_i32(i32::MAX);
    b.put_bytes(0, 8);
    let err = DescribeGroupsResponse::decode(b.freeze(), 1).unwrap_err();
    assert_count_rejected(&err, "groups", i32::MAX as usize);
}

#[test]
fn a_huge_member_count_is_refused_before_allocating() {
    for version in [4i16, 5, 6] {
        let flexible = is_flexible(ApiKey::DescribeGroups, version);
        let mut b = BytesMut::new();
        b.put_i32(0); // throttle
        let string = |b: &mut BytesMut, s: &[u8]| {
            if flexible {
                b.put_u8(s.len() as u8 + 1);
            } else {
                b.put_i16(s.len() as i16);
            }
            b.put_slice(s);
        };
        if flexible {
            b.put_u8(2); // one group
        } else {
            b.put_i32(1);
        }
        b.put_i16(0); // error
        if version >= 6 {
            b.put_u8(0); // null error message
        }
        for field in [&b"g"[..], b"Stable", b"consumer", b"range"] {
            string(&mut b, field);
        }
        // members: u32::MAX - 1 (compact) or i32::MAX (classic).
        if flexible {
            b.put_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
        } else {
            b.put_i32(i32::MAX);
        }
        b.put_bytes(0, 6);
        let count = if flexible {
            u32::MAX as usize - 1
        } else {
            i32::MAX as usize
        };
        let err = DescribeGroupsResponse::decode(b.freeze(), version).unwrap_err();
        assert_count_rejected(&err, "group.members", count);
    }
}

#[test]
fn a_negative_string_length_is_a_typed_error() {
    // v0: one group, error 0, group_id length -3.
    let mut b = BytesMut::new();
    b.put_i32(1);
    b.put_i16(0);
    b.put_i16(-3);
    b.put_bytes(0, 16);
    let err = DescribeGroupsResponse::decode(b.freeze(), 0).unwrap_err();
    assert_eq!(
        err,
        DecodeError::NegativeLength {
            field: "group.group_id",
            length: -3
        }
    );
}

#[test]
fn a_null_member_assignment_is_refused() {
    // v0, one group with one member whose assignment is null (-1): BYTES is not nullable.
    let mut b = BytesMut::new();
    b.put_i32(1);
    b.put_i16(0);
    for field in [&b"g"[..], b"Stable", b"consumer", b"range"] {
        b.put_i16(field.len() as i16);
        b.put_slice(field);
    }
    b.put_i32(1);
    for field in [&b"m"[..], b"c", b"/h"] {
        b.put_i16(field.len() as i16);
        b.put_slice(field);
    }
    b.put_i32(0); // metadata: empty
    b.put_i32(-1); // assignment: null
    let err = DescribeGroupsResponse::decode(b.freeze(), 0).unwrap_err();
    assert_eq!(
        err,
        DecodeError::UnexpectedNull {
            field: "member.member_assignment"
        }
    );
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

    /// Any bytes at any version: Ok or a typed error, never a panic.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256), v in -1i16..8) {
        if let Ok(r) = DescribeGroupsResponse::decode(Bytes::from(bytes), v) {
            for m in r.groups.iter().flat_map(|g| &g.members) {
                let _ = Assignment::decode(m.member_assignment.clone());
                let _ = Subscription::decode(m.member_metadata.clone());
            }
        }
    }
}
