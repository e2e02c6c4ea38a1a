//! Hostile response bytes: each gives a typed error, allocates no more than the bytes present, and
//! never panics.

use bytes::Bytes;

use super::*;

fn metadata(bytes: &[u8], version: i16) -> Result<MetadataResponse, DecodeError> {
    MetadataResponse::decode(Bytes::copy_from_slice(bytes), version)
}

#[test]
fn broker_count_of_i32_max_in_a_tiny_response() {
    // throttle_time_ms, then brokers.len = i32::MAX with 4 bytes behind it.
    let err = metadata(&[0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 1], 4).unwrap_err();
    assert!(
        matches!(
            err,
            DecodeError::CountExceedsBytes {
                field: "brokers",
                count: 0x7fff_ffff,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn compact_topic_count_near_u32_max() {
    // Flexible v9: throttle, brokers = [] (compact 1), cluster_id null (0), controller, topics = 2^32-2.
    let mut bytes = vec![0, 0, 0, 0, 1, 0, 0, 0, 0, 1];
    bytes.extend([0xff, 0xff, 0xff, 0xff, 0x0f]);
    let err = metadata(&bytes, 9).unwrap_err();
    assert!(
        matches!(err, DecodeError::CountExceedsBytes { field: "topics", .. }),
        "{err:?}"
    );
}

#[test]
fn negative_host_length() {
    // one broker: node_id 1, host length -5.
    let bytes = [
        0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0xff, 0xfb, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    let err = metadata(&bytes, 4).unwrap_err();
    assert!(
        matches!(
            err,
            DecodeError::NegativeLength {
                field: "broker.host",
                length: -5
            }
        ),
        "{err:?}"
    );
}

#[test]
fn runaway_varint_in_a_flexible_response() {
    let mut bytes = vec![0, 0, 0, 0];
    bytes.extend([0x80; 12]);
    let err = metadata(&bytes, 9).unwrap_err();
    assert!(matches!(err, DecodeError::VarintTooLong { .. }), "{err:?}");
}

#[test]
fn api_versions_count_beyond_the_frame() {
    let err = ApiVersionsResponse::decode(Bytes::from_static(&[0, 0, 0x10, 0, 0, 0, 0, 0]), 0).unwrap_err();
    assert!(
        matches!(
            err,
            DecodeError::CountExceedsBytes {
                field: "api_keys",
                ..
            }
        ),
        "{err:?}"
    );
    // Flexible: a huge tagged-field count.
    let err = ApiVersionsResponse::decode(Bytes::from_static(&[0, 0, 1, 0, 0, 0, 0, 0xff, 0xff, 0x03]), 3)
        .unwrap_err();
    assert!(matches!(err, DecodeError::CountExceedsBytes { .. }), "{err:?}");
}

#[test]
fn trailing_bytes_are_ignored() {
    // Kafka's clients ignore bytes after the last field; so does kafkit (librdkafka's mock cluster
    // sends one extra byte in flexible Metadata responses).
    let r = ApiVersionsResponse::decode(Bytes::from_static(&[0, 0, 0, 0, 0, 0, 0xaa]), 0).unwrap();
    assert!(r.api_keys.is_empty());
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

    /// Any bytes at any supported version: Ok or a typed error, never a panic.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256), v in 0i16..16) {
        let b = Bytes::from(bytes);
        let _ = MetadataResponse::decode(b.clone(), v);
        let _ = ApiVersionsResponse::decode(b.clone(), v);
        let _ = read_response_header(ApiKey::Metadata, v.min(12), b);
    }
}
