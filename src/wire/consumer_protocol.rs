//! The consumer protocol (`protocol_type` "consumer"): the subscription each member sends in its
//! JoinGroup metadata, and the assignment the leader sends back through SyncGroup.
//!
//! Both start with an `INT16` version, then a non-flexible struct. Other members' subscriptions
//! and the assignments the leader computed arrive from the broker, so they are decoded here with
//! bounded reads. As in the Java client, a version newer than kafkit knows is read as the newest it
//! knows (fields are only ever appended) and trailing bytes are ignored. Encoding goes through
//! `kafka-protocol`.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, ConsumerProtocolAssignment, ConsumerProtocolSubscription, TopicName,
    consumer_protocol_assignment as kp_assign, consumer_protocol_subscription as kp_sub,
};
use kafka_protocol::protocol::{Encodable, StrBytes};

use super::{DecodeError, EncodeError, Reader, Str};

/// The newest subscription and assignment version kafkit reads and writes.
pub const CONSUMER_PROTOCOL_VERSION: i16 = 3;

/// Partitions of one topic.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct TopicPartitions {
    /// Topic name.
    pub topic: Str,
    /// Partition indexes.
    pub partitions: Vec<i32>,
}

/// A member's subscription (JoinGroup protocol metadata).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// The version it was written with (as sent; may exceed [`CONSUMER_PROTOCOL_VERSION`]).
    pub version: i16,
    /// Subscribed topics.
    pub topics: Vec<Str>,
    /// Opaque assignor data.
    pub user_data: Option<Bytes>,
    /// Partitions the member owns now (v1+; the cooperative protocol relies on it).
    pub owned_partitions: Vec<TopicPartitions>,
    /// The generation in which it owned them (v2+), or -1.
    pub generation_id: i32,
    /// The member's rack (v3+).
    pub rack_id: Option<Str>,
}

/// A member's assignment (SyncGroup).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Assignment {
    /// The version it was written with.
    pub version: i16,
    /// Assigned partitions.
    pub partitions: Vec<TopicPartitions>,
    /// Opaque assignor data.
    pub user_data: Option<Bytes>,
}

fn read_version(r: &mut Reader) -> Result<i16, DecodeError> {
    let version = r.field("version").i16()?;
    if version < 0 {
        return Err(DecodeError::Invalid {
            field: "version",
            reason: "negative consumer protocol version",
        });
    }
    Ok(version)
}

fn read_topic_partitions(r: &mut Reader, field: &'static str) -> Result<Vec<TopicPartitions>, DecodeError> {
    // topic (2) + partitions count (4)
    let count = r.field(field).array_len(false, 6)?;
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let topic = r.field("topic").string(false)?;
        let partitions = r.field("partitions").i32_array(false)?;
        out.push(TopicPartitions { topic, partitions });
    }
    Ok(out)
}

impl Subscription {
    /// Decodes a subscription (version prefix included).
    pub fn decode(bytes: Bytes) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let version = read_version(&mut r)?;
        let count = r.field("topics").array_len(false, 2)?;
        let mut topics = Vec::with_capacity(count);
        for _ in 0..count {
            topics.push(r.field("topic").string(false)?);
        }
        let user_data = r.field("user_data").nullable_bytes(false)?;
        let owned_partitions = if version >= 1 {
            read_topic_partitions(&mut r, "owned_partitions")?
        } else {
            vec![]
        };
        let generation_id = if version >= 2 {
            r.field("generation_id").i32()?
        } else {
            -1
        };
        let rack_id = if version >= 3 {
            r.field("rack_id").nullable_string(false)?
        } else {
            None
        };
        Ok(Subscription {
            version,
            topics,
            user_data,
            owned_partitions,
            generation_id,
            rack_id,
        })
    }

    /// Encodes the subscription (version prefix included) at `min(self.version, 3)`.
    pub fn encode(&self) -> Result<Bytes, EncodeError> {
        let version = self.version.clamp(0, CONSUMER_PROTOCOL_VERSION);
        let message = ConsumerProtocolSubscription::default()
            .with_topics(self.topics.iter().map(|t| str_bytes(t)).collect())
            .with_user_data(self.user_data.clone())
            .with_owned_partitions(if version >= 1 {
                self.owned_partitions
                    .iter()
                    .map(|tp| {
                        kp_sub::TopicPartition::default()
                            .with_topic(TopicName(str_bytes(&tp.topic)))
                            .with_partitions(tp.partitions.clone())
                    })
                    .collect()
            } else {
                vec![]
            })
            .with_generation_id(if version >= 2 { self.generation_id } else { -1 })
            .with_rack_id(if version >= 3 {
                self.rack_id.as_ref().map(|r| str_bytes(r))
            } else {
                None
            });
        encode_versioned(&message, version)
    }
}

impl Assignment {
    /// Decodes an assignment (version prefix included). Empty bytes are an empty assignment, as
    /// the Java client and librdkafka read them.
    pub fn decode(bytes: Bytes) -> Result<Self, DecodeError> {
        if bytes.is_empty() {
            return Ok(Assignment::default());
        }
        let mut r = Reader::new(bytes);
        let version = read_version(&mut r)?;
        let partitions = read_topic_partitions(&mut r, "assigned_partitions")?;
        let user_data = r.field("user_data").nullable_bytes(false)?;
        Ok(Assignment {
            version,
            partitions,
            user_data,
        })
    }

    /// Encodes the assignment (version prefix included) at `min(self.version, 3)`.
    pub fn encode(&self) -> Result<Bytes, EncodeError> {
        let version = self.version.clamp(0, CONSUMER_PROTOCOL_VERSION);
        let message = ConsumerProtocolAssignment::default()
            .with_assigned_partitions(
                self.partitions
                    .iter()
                    .map(|tp| {
                        kp_assign::TopicPartition::default()
                            .with_topic(TopicName(str_bytes(&tp.topic)))
                            .with_partitions(tp.partitions.clone())
                    })
                    .collect(),
            )
            .with_user_data(self.user_data.clone());
        encode_versioned(&message, version)
    }
}

fn str_bytes(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_owned())
}

fn encode_versioned<M: Encodable>(message: &M, version: i16) -> Result<Bytes, EncodeError> {
    let fail = |e: anyhow::Error| EncodeError {
        // The consumer protocol travels inside JoinGroup/SyncGroup.
        api: ApiKey::JoinGroup,
        version,
        reason: format!("consumer protocol: {e}"),
    };
    let size = message.compute_size(version).map_err(fail)?;
    let mut buf = BytesMut::with_capacity(2 + size);
    buf.put_i16(version);
    message.encode(&mut buf, version).map_err(fail)?;
    Ok(buf.freeze())
}
