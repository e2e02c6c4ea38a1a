//! The OffsetCommit request as a semantic body, encoded at the negotiated version by the engine.

use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::{GroupId, OffsetCommitRequest, TopicName};
use kafka_protocol::protocol::StrBytes;

use crate::handoff::CommitOffset;
use crate::types::by_topic;

/// An OffsetCommit request. `generation_id_or_member_epoch` is the classic generation, or the
/// member epoch in a consumer-protocol (KIP-848) group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OffsetCommitBody {
    pub(crate) group_id: String,
    pub(crate) generation_id_or_member_epoch: i32,
    pub(crate) member_id: String,
    pub(crate) group_instance_id: Option<String>,
    pub(crate) offsets: Vec<CommitOffset>,
}

impl OffsetCommitBody {
    /// The request at `version`: the leader epoch from v6, `group.instance.id` from v7.
    pub(crate) fn to_request(&self, version: i16) -> OffsetCommitRequest {
        let topics = by_topic(
            &self.offsets,
            |o| &o.tp,
            |o| {
                OffsetCommitRequestPartition::default()
                    .with_partition_index(o.tp.partition)
                    .with_committed_offset(o.offset)
                    .with_committed_leader_epoch(if version >= 6 { o.leader_epoch } else { -1 })
            },
        );
        OffsetCommitRequest::default()
            .with_group_id(GroupId(StrBytes::from_string(self.group_id.clone())))
            .with_generation_id_or_member_epoch(self.generation_id_or_member_epoch)
            .with_member_id(StrBytes::from_string(self.member_id.clone()))
            .with_group_instance_id(if version >= 7 {
                self.group_instance_id.clone().map(StrBytes::from_string)
            } else {
                None
            })
            .with_topics(
                topics
                    .into_iter()
                    .map(|(topic, partitions)| {
                        OffsetCommitRequestTopic::default()
                            .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                            .with_partitions(partitions)
                    })
                    .collect(),
            )
    }
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;
    use kafka_protocol::protocol::{Decodable, Encodable};

    use super::*;
    use crate::types::TopicPartition;
    use crate::wire::{ApiKey, supported_range};

    #[test]
    fn commit_bodies_encode_at_every_supported_version() {
        let body = OffsetCommitBody {
            group_id: "g".into(),
            generation_id_or_member_epoch: 4,
            member_id: "m".into(),
            group_instance_id: Some("i".into()),
            offsets: vec![
                CommitOffset {
                    tp: TopicPartition::new("t", 1),
                    offset: 10,
                    leader_epoch: 3,
                },
                CommitOffset {
                    tp: TopicPartition::new("t", 0),
                    offset: 7,
                    leader_epoch: 3,
                },
            ],
        };
        let (min, max) = supported_range(ApiKey::OffsetCommit).unwrap();
        for v in min..=max {
            let mut buf = BytesMut::new();
            body.to_request(v).encode(&mut buf, v).unwrap();
            let r = OffsetCommitRequest::decode(&mut buf.freeze(), v).unwrap();
            assert_eq!(r.generation_id_or_member_epoch, 4);
            assert_eq!(r.member_id.as_str(), "m");
            let parts = &r.topics[0].partitions;
            assert_eq!(
                parts
                    .iter()
                    .map(|p| (p.partition_index, p.committed_offset))
                    .collect::<Vec<_>>(),
                vec![(1, 10), (0, 7)]
            );
            assert_eq!(parts[0].committed_leader_epoch, if v >= 6 { 3 } else { -1 });
            assert_eq!(r.group_instance_id.is_some(), v >= 7);
        }
    }
}
