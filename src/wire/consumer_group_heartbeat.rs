//! ConsumerGroupHeartbeat response (API key 68, KIP-848), versions 0–1.
//!
//! Every version is flexible. Version 1 only adds a request field (the subscribed regex); the
//! response is the same.

use bytes::Bytes;
use kafka_protocol::messages::ApiKey;

use super::{DecodeError, DecodeResponse, KafkaCode, Reader, Str};

/// The ConsumerGroupHeartbeat response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerGroupHeartbeatResponse {
    /// Throttle time.
    pub throttle_time_ms: i32,
    /// Error code.
    pub error_code: KafkaCode,
    /// Error message, if any.
    pub error_message: Option<Str>,
    /// The member id (the coordinator echoes it, or generates one for old clients that send none).
    pub member_id: Option<Str>,
    /// The member epoch.
    pub member_epoch: i32,
    /// The heartbeat interval the coordinator wants, in milliseconds.
    pub heartbeat_interval_ms: i32,
    /// The member's target assignment, when it changed (`None`: unchanged).
    pub assignment: Option<Vec<HeartbeatTopicPartitions>>,
}

/// Partitions of one topic, named by id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatTopicPartitions {
    /// The topic id.
    pub topic_id: [u8; 16],
    /// The partitions.
    pub partitions: Vec<i32>,
}

impl DecodeResponse for ConsumerGroupHeartbeatResponse {
    const API: ApiKey = ApiKey::ConsumerGroupHeartbeat;

    fn decode(body: Bytes, version: i16) -> Result<Self, DecodeError> {
        super::check_version(Self::API, version)?;
        let mut r = Reader::new(body);
        let throttle_time_ms = r.field("throttle_time_ms").i32()?;
        let error_code = KafkaCode(r.field("error_code").i16()?);
        let error_message = r.field("error_message").nullable_string(true)?;
        let member_id = r.field("member_id").nullable_string(true)?;
        let member_epoch = r.field("member_epoch").i32()?;
        let heartbeat_interval_ms = r.field("heartbeat_interval_ms").i32()?;
        // A nullable struct: an INT8 marker, negative for null (Kafka writes -1 and 1, and reads
        // any negative marker as null).
        let assignment = match r.field("assignment").i8()? {
            marker if marker < 0 => None,
            _ => {
                // topic id (16) + partitions (1) + tags (1)
                let topics = r.array("assignment.topic_partitions", true, 18, |r| {
                    let topic_id = r.field("topic_partitions.topic_id").uuid()?;
                    let partitions = r.field("topic_partitions.partitions").i32_array(true)?;
                    Ok(HeartbeatTopicPartitions { topic_id, partitions })
                })?;
                r.skip_tagged_fields()?;
                Some(topics)
            }
        };
        r.skip_tagged_fields()?;
        r.finish()?;
        Ok(ConsumerGroupHeartbeatResponse {
            throttle_time_ms,
            error_code,
            error_message,
            member_id,
            member_epoch,
            heartbeat_interval_ms,
            assignment,
        })
    }
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;
    use kafka_protocol::messages::consumer_group_heartbeat_response as kp;

    use super::*;
    use crate::wire::response_test_util::{Gen, encode};

    /// Our decoder against `kafka-protocol`'s broker-side encoder, both versions, many shapes, and
    /// every strict prefix of the first shapes fails with a typed error.
    #[test]
    fn matches_reference_for_every_version() {
        for version in 0..=1 {
            for seed in 0..150u64 {
                let mut g = Gen(seed * 13 + version as u64);
                let assignment = (!g.chance(3)).then(|| {
                    kp::Assignment::default()
                        .with_topic_partitions(
                            (0..g.below(4))
                                .map(|_| {
                                    let mut id = [0u8; 16];
                                    for b in &mut id {
                                        *b = g.below(256) as u8;
                                    }
                                    kp::TopicPartitions::default()
                                        .with_topic_id(uuid::Uuid::from_bytes(id))
                                        .with_partitions((0..g.below(5)).map(|_| g.i32()).collect())
                                        .with_unknown_tagged_fields(g.tags(true))
                                })
                                .collect(),
                        )
                        .with_unknown_tagged_fields(g.tags(true))
                });
                let reference = kp::ConsumerGroupHeartbeatResponse::default()
                    .with_throttle_time_ms(g.i32())
                    .with_error_code(g.i16())
                    .with_error_message(g.opt_sb())
                    .with_member_id(g.opt_sb())
                    .with_member_epoch(g.i32())
                    .with_heartbeat_interval_ms(g.i32())
                    .with_assignment(assignment)
                    .with_unknown_tagged_fields(g.tags(true));
                let bytes = encode(&reference, version);
                let ours = ConsumerGroupHeartbeatResponse::decode(bytes.clone(), version).unwrap();
                assert_eq!(ours.throttle_time_ms, reference.throttle_time_ms);
                assert_eq!(ours.error_code, KafkaCode(reference.error_code));
                assert_eq!(
                    ours.error_message.as_ref().map(Str::as_str),
                    reference.error_message.as_ref().map(|s| s.as_str())
                );
                assert_eq!(
                    ours.member_id.as_ref().map(Str::as_str),
                    reference.member_id.as_ref().map(|s| s.as_str())
                );
                assert_eq!(ours.member_epoch, reference.member_epoch);
                assert_eq!(ours.heartbeat_interval_ms, reference.heartbeat_interval_ms);
                let expected = reference.assignment.as_ref().map(|a| {
                    a.topic_partitions
                        .iter()
                        .map(|t| HeartbeatTopicPartitions {
                            topic_id: *t.topic_id.as_bytes(),
                            partitions: t.partitions.clone(),
                        })
                        .collect::<Vec<_>>()
                });
                assert_eq!(ours.assignment, expected);
                if seed < 10 {
                    for len in 0..bytes.len() {
                        assert!(
                            ConsumerGroupHeartbeatResponse::decode(bytes.slice(..len), version).is_err(),
                            "v{version} accepted a {len}-byte prefix of {}",
                            bytes.len()
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn hostile_partition_count_is_refused_before_allocating() {
        let mut b = BytesMut::new();
        b.extend_from_slice(&[0, 0, 0, 0]); // throttle
        b.extend_from_slice(&[0, 0]); // error code
        b.extend_from_slice(&[0]); // null message
        b.extend_from_slice(&[0]); // null member id
        b.extend_from_slice(&[0, 0, 0, 1]); // epoch
        b.extend_from_slice(&[0, 0, 0x13, 0x88]); // interval
        b.extend_from_slice(&[1]); // assignment present
        b.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]); // ~4 billion topics
        let err = ConsumerGroupHeartbeatResponse::decode(b.freeze(), 0).unwrap_err();
        assert!(matches!(err, DecodeError::CountExceedsBytes { .. }), "{err:?}");
    }

    #[test]
    fn versions_outside_the_supported_range_are_refused() {
        let err = ConsumerGroupHeartbeatResponse::decode(Bytes::new(), 2).unwrap_err();
        assert!(matches!(err, DecodeError::UnsupportedVersion { .. }), "{err:?}");
    }
}
