//! FetchResponse: differential against `kafka-protocol`'s broker-side encoder for every supported
//! version, zero-copy records, and hostile inputs (including the frame from issue 2).

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::fetch_response as kp;
use kafka_protocol::messages::{BrokerId, ProducerId, TopicName};

use super::response_test_util::{Gen, assert_count_rejected, decode_and_check_prefixes, encode};
use super::*;

fn kp_partition(g: &mut Gen, version: i16, index: i32) -> kp::PartitionData {
    let flexible = version >= 12;
    let aborted = match g.below(3) {
        0 => None,
        1 => Some(vec![]),
        _ => Some(
            (0..=g.below(4))
                .map(|_| {
                    kp::AbortedTransaction::default()
                        .with_producer_id(ProducerId(g.i64()))
                        .with_first_offset(g.i64())
                        .with_unknown_tagged_fields(g.unknown_tags(flexible, 0))
                })
                .collect(),
        ),
    };
    let records = match g.below(4) {
        0 => None,
        1 => Some(Bytes::new()),
        _ => Some(g.bytes(300)),
    };
    let mut p = kp::PartitionData::default()
        .with_partition_index(index)
        .with_error_code(g.below(4) as i16)
        .with_high_watermark(g.i64())
        .with_last_stable_offset(g.i64())
        .with_log_start_offset(if version >= 5 { g.i64() } else { -1 })
        .with_aborted_transactions(aborted)
        .with_preferred_read_replica(BrokerId(if version >= 11 { g.i32() } else { -1 }))
        .with_records(records)
        // Tags 0-2 are the known fields; unknown ones start at 3.
        .with_unknown_tagged_fields(g.unknown_tags(flexible, 3));
    if flexible {
        if g.chance(2) {
            p = p.with_diverging_epoch(
                kp::EpochEndOffset::default()
                    .with_epoch(g.i32())
                    .with_end_offset(g.i64())
                    .with_unknown_tagged_fields(g.unknown_tags(flexible, 0)),
            );
        }
        if g.chance(2) {
            p = p.with_current_leader(
                kp::LeaderIdAndEpoch::default()
                    .with_leader_id(BrokerId(g.i32()))
                    .with_leader_epoch(g.i32())
                    .with_unknown_tagged_fields(g.unknown_tags(flexible, 0)),
            );
        }
        if g.chance(3) {
            p = p.with_snapshot_id(
                kp::SnapshotId::default()
                    .with_end_offset(g.i64())
                    .with_epoch(g.i32()),
            );
        }
    }
    p
}

fn kp_fetch(g: &mut Gen, version: i16) -> kp::FetchResponse {
    let flexible = version >= 12;
    let topics = (0..g.below(4))
        .map(|_| {
            let partitions = (0..g.below(5))
                .map(|i| kp_partition(g, version, i as i32))
                .collect();
            let topic = kp::FetchableTopicResponse::default();
            let topic = if version >= 13 {
                topic.with_topic_id(uuid::Uuid::from_u64_pair(g.i64() as u64, g.i64() as u64))
            } else {
                topic.with_topic(TopicName(g.str_bytes()))
            };
            topic
                .with_partitions(partitions)
                .with_unknown_tagged_fields(g.unknown_tags(flexible, 0))
        })
        .collect();
    kp::FetchResponse::default()
        .with_throttle_time_ms(g.i32())
        .with_error_code(if version >= 7 { g.i16() } else { 0 })
        .with_session_id(if version >= 7 { g.i32() } else { 0 })
        .with_responses(topics)
        // Tag 0 is node_endpoints (v16+); the reference encoder writes unknown tags from 1 only.
        .with_unknown_tagged_fields(g.unknown_tags(flexible, 1))
}

fn expected_fetch(kp: &kp::FetchResponse) -> FetchResponse {
    FetchResponse {
        throttle_time_ms: kp.throttle_time_ms,
        error_code: kp.error_code,
        session_id: kp.session_id,
        responses: kp
            .responses
            .iter()
            .map(|t| FetchTopic {
                topic: Str::from(t.topic.0.as_str()),
                topic_id: *t.topic_id.as_bytes(),
                partitions: t
                    .partitions
                    .iter()
                    .map(|p| FetchPartition {
                        partition_index: p.partition_index,
                        error_code: p.error_code,
                        high_watermark: p.high_watermark,
                        last_stable_offset: p.last_stable_offset,
                        log_start_offset: p.log_start_offset,
                        diverging_epoch: DivergingEpoch {
                            epoch: p.diverging_epoch.epoch,
                            end_offset: p.diverging_epoch.end_offset,
                        },
                        current_leader: LeaderIdAndEpoch {
                            leader_id: p.current_leader.leader_id.0,
                            leader_epoch: p.current_leader.leader_epoch,
                        },
                        aborted_transactions: p.aborted_transactions.as_ref().map(|a| {
                            a.iter()
                                .map(|a| AbortedTransaction {
                                    producer_id: a.producer_id.0,
                                    first_offset: a.first_offset,
                                })
                                .collect()
                        }),
                        preferred_read_replica: p.preferred_read_replica.0,
                        records: p.records.clone(),
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// Every decoded `records` slice lies inside `buf`: a view, not a copy.
fn assert_records_point_into(decoded: &FetchResponse, buf: &Bytes) {
    let range = buf.as_ptr_range();
    for p in decoded.responses.iter().flat_map(|t| &t.partitions) {
        if let Some(records) = p.records.as_ref().filter(|r| !r.is_empty()) {
            let r = records.as_ptr_range();
            assert!(
                range.start <= r.start && r.end <= range.end,
                "partition {}: records were copied out of the response buffer",
                p.partition_index
            );
        }
    }
}

#[test]
fn fetch_matches_reference_for_every_supported_version() {
    let (min, max) = supported_range(ApiKey::Fetch).unwrap();
    assert_eq!((min, max), (4, 17));
    for version in min..=max {
        let mut g = Gen(version as u64 * 31337 + 5);
        for case in 0..300 {
            let kp = kp_fetch(&mut g, version);
            let bytes = encode(&kp, version);
            let what = format!("Fetch v{version} case {case}");
            let ours: FetchResponse = decode_and_check_prefixes(&bytes, version, &what);
            assert_eq!(ours, expected_fetch(&kp), "{what}");
            assert_records_point_into(&ours, &bytes);
        }
    }
}

#[test]
fn fetch_trailing_byte_is_ignored_like_kafkas_clients_do() {
    let mut g = Gen(1);
    for version in 4..=17 {
        let kp = kp_fetch(&mut g, version);
        let exact = FetchResponse::decode(encode(&kp, version), version).unwrap();
        let mut buf = BytesMut::from(&encode(&kp, version)[..]);
        buf.put_u8(0);
        assert_eq!(
            FetchResponse::decode(buf.freeze(), version).unwrap(),
            exact,
            "v{version}"
        );
    }
}

#[test]
fn fetch_versions_outside_the_supported_range_are_refused() {
    for version in [0, 3, 18, 19, -1] {
        assert_eq!(
            FetchResponse::decode(Bytes::new(), version),
            Err(DecodeError::UnsupportedVersion {
                api: ApiKey::Fetch,
                version
            })
        );
    }
}

/// The 20 bytes from issue 2 that make `kafka-protocol` 0.18.0 ask for ~400 GB and abort.
///
/// They are a Fetch v12 response frame as the connection hands it over (after the size prefix):
/// correlation id 0x63, an empty header tag buffer, throttle_time_ms 0, error_code 0, session_id 42,
/// then the `responses` compact-array length `ffffffff0f` = 2^32 - 1, i.e. 2^32 - 2 topics.
const ISSUE_2_FRAME: [u8; 20] = [
    0x00, 0x00, 0x00, 0x63, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a, 0xff, 0xff,
    0xff, 0xff, 0x0f,
];

#[test]
fn issue_2_hostile_fetch_frame_is_a_typed_error() {
    let (header, body) = read_response_header(ApiKey::Fetch, 12, Bytes::from_static(&ISSUE_2_FRAME)).unwrap();
    assert_eq!(header.correlation_id, 0x63);
    let err = FetchResponse::decode(body, 12).unwrap_err();
    assert_count_rejected(&err, "responses", 0xffff_fffe);
}

#[test]
fn issue_2_hostile_fetch_frame_through_the_connection_path() {
    // As the connection reads it: size prefix, then the 20 bytes, split across two reads.
    let mut wire = (ISSUE_2_FRAME.len() as i32).to_be_bytes().to_vec();
    wire.extend_from_slice(&ISSUE_2_FRAME);
    let mut frames = FrameDecoder::new(DEFAULT_MAX_FRAME_SIZE);
    frames.buffer().extend_from_slice(&wire[..7]);
    assert_eq!(frames.next_frame().unwrap(), None);
    frames.buffer().extend_from_slice(&wire[7..]);
    let frame = frames.next_frame().unwrap().unwrap();
    assert_eq!(frame.len(), 20);
    let (header, body) = read_response_header(ApiKey::Fetch, 12, frame).unwrap();
    assert_eq!(header.correlation_id, 99);
    let err = FetchResponse::decode(body, 12).unwrap_err();
    assert_count_rejected(&err, "responses", 0xffff_fffe);
    assert!(err.to_string().contains("responses"), "{err}");
}

#[test]
fn issue_2_intent_at_classic_versions_and_one_level_down() {
    // v11 (classic): responses = i32::MAX.
    let body = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff, 0, 0];
    let err = FetchResponse::decode(Bytes::copy_from_slice(&body), 11).unwrap_err();
    assert_count_rejected(&err, "responses", 0x7fff_ffff);
    // v12: one topic "t", then partitions = 2^32 - 2.
    let body = [
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, b't', 0xff, 0xff, 0xff, 0xff, 0x0f,
    ];
    let err = FetchResponse::decode(Bytes::copy_from_slice(&body), 12).unwrap_err();
    assert_count_rejected(&err, "partitions", 0xffff_fffe);
}

/// A v`version` response with one topic "t" and one partition whose aborted_transactions count
/// is `count`, followed by `tail` bytes of padding.
fn one_partition_with_aborted_count(version: i16, count: u32, tail: usize) -> Bytes {
    let flexible = version >= 12;
    let mut b = BytesMut::new();
    b.put_i32(0); // throttle
    if version >= 7 {
        b.put_i16(0);
        b.put_i32(0);
    }
    if flexible {
        b.put_slice(&[2, 2, b't', 2]); // 1 topic, "t", 1 partition
    } else {
        b.put_i32(1);
        b.put_slice(&[0, 1, b't']);
        b.put_i32(1);
    }
    b.put_i32(0); // partition
    b.put_i16(0);
    b.put_i64(10);
    b.put_i64(10);
    if version >= 5 {
        b.put_i64(0);
    }
    if flexible {
        // compact: count + 1 as an unsigned varint
        let mut n = count + 1;
        while n >= 0x80 {
            b.put_u8((n as u8 & 0x7f) | 0x80);
            n >>= 7;
        }
        b.put_u8(n as u8);
    } else {
        b.put_u32(count);
    }
    b.put_bytes(0xab, tail);
    b.freeze()
}

#[test]
fn aborted_transactions_count_of_100_million_fails_before_allocating() {
    // 100 M entries would be 1.6 GB; the frame holds a few dozen bytes. The count is checked
    // against the bytes remaining before any Vec is sized from it.
    for version in [4, 11, 12] {
        let bytes = one_partition_with_aborted_count(version, 100_000_000, 32);
        assert!(bytes.len() < 100);
        let err = FetchResponse::decode(bytes, version).unwrap_err();
        assert_count_rejected(&err, "partition.aborted_transactions", 100_000_000);
    }
    // Negative classic count (other than -1, null) is its own typed error.
    let bytes = one_partition_with_aborted_count(11, (-2i32) as u32, 32);
    assert_eq!(
        FetchResponse::decode(bytes, 11).unwrap_err(),
        DecodeError::NegativeLength {
            field: "partition.aborted_transactions",
            length: -2
        }
    );
}

#[test]
fn negative_and_oversized_records_lengths_are_typed_errors() {
    let kp = kp::FetchResponse::default().with_responses(vec![
        kp::FetchableTopicResponse::default()
            .with_topic(TopicName("t".into()))
            .with_partitions(vec![
                kp::PartitionData::default().with_records(Some(Bytes::from_static(b"abcd"))),
            ]),
    ]);
    let bytes = encode(&kp, 11);
    // The records length is the INT32 before the last 4 bytes.
    let at = bytes.len() - 8;
    let mut hostile = bytes.to_vec();
    hostile[at..at + 4].copy_from_slice(&(-7i32).to_be_bytes());
    assert_eq!(
        FetchResponse::decode(Bytes::from(hostile.clone()), 11).unwrap_err(),
        DecodeError::NegativeLength {
            field: "partition.records",
            length: -7
        }
    );
    hostile[at..at + 4].copy_from_slice(&i32::MAX.to_be_bytes());
    let err = FetchResponse::decode(Bytes::from(hostile), 11).unwrap_err();
    assert!(
        matches!(
            err,
            DecodeError::Truncated {
                field: "partition.records",
                available: 4,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn known_tagged_fields_must_hold_exactly_their_struct() {
    let p = kp::PartitionData::default().with_current_leader(
        kp::LeaderIdAndEpoch::default()
            .with_leader_id(BrokerId(3))
            .with_leader_epoch(9),
    );
    let kp = kp::FetchResponse::default().with_responses(vec![
        kp::FetchableTopicResponse::default()
            .with_topic(TopicName("t".into()))
            .with_partitions(vec![p]),
    ]);
    let bytes = encode(&kp, 12);
    let ours = FetchResponse::decode(bytes.clone(), 12).unwrap();
    let leader = ours.responses[0].partitions[0].current_leader;
    assert_eq!(
        leader,
        LeaderIdAndEpoch {
            leader_id: 3,
            leader_epoch: 9
        }
    );
    assert!(leader.is_known());
    // Find the tag: [count=1][tag=1][size=9][i32 3][i32 9][0]. Shrink the size to 5: the struct
    // no longer fits in its field.
    let pos = bytes
        .windows(3)
        .position(|w| w == [1, 1, 9])
        .expect("current_leader tag");
    let mut short = bytes.to_vec();
    short[pos + 2] = 5;
    let err = FetchResponse::decode(Bytes::from(short), 12).unwrap_err();
    assert!(
        matches!(
            err,
            DecodeError::Truncated {
                field: "partition.current_leader.leader_epoch",
                ..
            }
        ),
        "{err:?}"
    );
    // Grow it to 10 and insert a stray byte inside: the struct no longer fills its field.
    let mut long = bytes[..pos + 2].to_vec();
    long.push(10);
    long.extend_from_slice(&bytes[pos + 3..pos + 3 + 9]);
    long.push(0xee);
    long.extend_from_slice(&bytes[pos + 3 + 9..]);
    assert_eq!(
        FetchResponse::decode(Bytes::from(long), 12).unwrap_err(),
        DecodeError::Invalid {
            field: "partition.current_leader",
            reason: "tagged field is longer than its struct"
        }
    );
}

#[test]
fn unknown_tagged_field_larger_than_the_frame_is_truncated() {
    // v12, no topics, then top-level tags: one field, tag 9, size 2^28.
    let body = [
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 9, 0x80, 0x80, 0x80, 0x80, 0x01,
    ];
    let err = FetchResponse::decode(Bytes::copy_from_slice(&body), 12).unwrap_err();
    assert!(matches!(err, DecodeError::Truncated { .. }), "{err:?}");
}

/// A response with `partitions` partitions of `size` bytes of records each, built by hand so the
/// test does not spend its time in the reference encoder.
fn big_fetch(partitions: i32, size: usize) -> Bytes {
    let mut b = BytesMut::with_capacity(64 + partitions as usize * (size + 64));
    b.put_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 7]); // throttle, error, session 7
    b.put_u8(2); // one topic
    b.put_u8(8); // compact string of 7 bytes
    b.put_slice(b"orders-");
    b.put_u8(partitions as u8 + 1);
    for p in 0..partitions {
        b.put_i32(p);
        b.put_i16(0);
        b.put_i64(1 << 20);
        b.put_i64(1 << 20);
        b.put_i64(0);
        b.put_u8(0); // aborted_transactions: null
        b.put_i32(-1); // preferred read replica
        let mut n = size as u32 + 1;
        while n >= 0x80 {
            b.put_u8((n as u8 & 0x7f) | 0x80);
            n >>= 7;
        }
        b.put_u8(n as u8);
        b.put_bytes(p as u8, size);
        b.put_u8(0); // tags
    }
    b.put_u8(0); // topic tags
    b.put_u8(0); // response tags
    b.freeze()
}

#[test]
fn eight_mebibyte_partitions_are_sliced_not_copied() {
    const MIB: usize = 1 << 20;
    let buf = big_fetch(8, MIB);
    assert!(buf.len() > 8 * MIB);
    let decoded = FetchResponse::decode(buf.clone(), 12).unwrap();
    assert_eq!(decoded.session_id, 7);
    let topic = &decoded.responses[0];
    assert_eq!(topic.topic, "orders-");
    assert_eq!(topic.partitions.len(), 8);
    let range = buf.as_ptr_range();
    let mut previous_end = range.start;
    for (i, p) in topic.partitions.iter().enumerate() {
        let records = p.records.as_ref().unwrap();
        assert_eq!(records.len(), MIB);
        assert!(records.iter().all(|&b| b == i as u8));
        let r = records.as_ptr_range();
        // Inside the response buffer, in order, not overlapping: views into the one allocation.
        assert!(
            previous_end <= r.start && r.end <= range.end,
            "partition {i} was copied"
        );
        previous_end = r.end;
        assert_eq!(p.aborted_transactions, None);
        assert_eq!(p.current_leader, LeaderIdAndEpoch::UNKNOWN);
        assert_eq!(p.diverging_epoch, DivergingEpoch::UNKNOWN);
    }
    // Decoding again and again costs per partition, not per byte: the slices share one buffer.
    for _ in 0..1000 {
        let again = FetchResponse::decode(buf.clone(), 12).unwrap();
        assert_eq!(again.responses[0].partitions.len(), 8);
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

    /// Any bytes at any version: Ok or a typed error, never a panic.
    #[test]
    fn fetch_arbitrary_bytes_never_panic(
        bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256),
        version in 3i16..14,
    ) {
        let _ = FetchResponse::decode(Bytes::from(bytes), version);
    }

    /// A valid response with bytes overwritten: Ok or a typed error, never a panic.
    #[test]
    fn fetch_mutated_valid_responses_never_panic(
        seed in 0u64..10_000,
        version in 4i16..=12,
        edits in proptest::collection::vec((proptest::prelude::any::<usize>(), proptest::prelude::any::<u8>()), 1..6),
    ) {
        let mut g = Gen(seed);
        let mut bytes = encode(&kp_fetch(&mut g, version), version).to_vec();
        if !bytes.is_empty() {
            for (at, value) in edits {
                let len = bytes.len();
                bytes[at % len] = value;
            }
        }
        let _ = FetchResponse::decode(Bytes::from(bytes), version);
    }
}
