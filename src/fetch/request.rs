//! The requests the fetch core asks for, as semantic bodies: the engine encodes each at the
//! version it negotiated with the broker it sends it to.

use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic, ForgottenTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use kafka_protocol::messages::{
    BrokerId, FetchRequest, GroupId, ListOffsetsRequest, OffsetFetchRequest, OffsetForLeaderEpochRequest,
    TopicName,
};
use kafka_protocol::protocol::StrBytes;

use crate::types::{TopicPartition, by_topic};

/// One partition of a fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FetchPartitionBody {
    pub(crate) tp: TopicPartition,
    /// The topic's id from metadata (all zero: unknown); Fetch v13+ names topics by id.
    pub(crate) topic_id: [u8; 16],
    /// The leader epoch the consumer knows (sent from Fetch v9; -1 when unknown).
    pub(crate) current_leader_epoch: i32,
    pub(crate) fetch_offset: i64,
    /// The leader epoch of the last record batch read before `fetch_offset` (sent from Fetch
    /// v12, KIP-320: the broker answers with a diverging epoch if its log differs; -1 unknown).
    pub(crate) last_fetched_epoch: i32,
    pub(crate) partition_max_bytes: i32,
}

/// A Fetch request. Without a fetch session (KIP-227): `session_id` 0 and `session_epoch` -1 ask
/// for a full fetch of `partitions`; a session would carry its id and epoch, only the changed
/// partitions, and the `forgotten` ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FetchBody {
    pub(crate) max_wait_ms: i32,
    pub(crate) min_bytes: i32,
    pub(crate) max_bytes: i32,
    /// 0 read_uncommitted, 1 read_committed.
    pub(crate) isolation_level: i8,
    pub(crate) session_id: i32,
    pub(crate) session_epoch: i32,
    pub(crate) partitions: Vec<FetchPartitionBody>,
    /// Partitions the session stops fetching, with their topic ids (v7+ sessions).
    pub(crate) forgotten: Vec<(TopicPartition, [u8; 16])>,
    /// `client.rack` (sent from v11; empty: none).
    pub(crate) rack_id: String,
}

/// A ListOffsets request: per partition, the leader epoch the consumer knows and the timestamp
/// to look up (-2 earliest, -1 latest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ListOffsetsBody {
    pub(crate) isolation_level: i8,
    pub(crate) partitions: Vec<(TopicPartition, i32, i64)>,
}

/// An OffsetForLeaderEpoch request (KIP-320): per partition, the leader epoch the consumer knows
/// (fencing stale metadata) and the epoch of the records it last read, whose end the leader names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OffsetForLeaderEpochBody {
    /// `(partition, current leader epoch, epoch to look up)`.
    pub(crate) partitions: Vec<(TopicPartition, i32, i32)>,
}

/// An OffsetFetch request for the group's committed offsets of `partitions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OffsetFetchBody {
    pub(crate) group_id: String,
    pub(crate) partitions: Vec<TopicPartition>,
    /// A consumer-protocol (KIP-848) member's id and epoch, sent from v9 so the coordinator
    /// can fence a stale member (STALE_MEMBER_EPOCH, UNKNOWN_MEMBER_ID). The fetch core leaves
    /// it `None`; the engine fills it in as the request leaves, from the membership of that
    /// moment. `None` (classic members, manual assignment): no member (null id, epoch -1).
    pub(crate) member: Option<(String, i32)>,
}

fn topic_name(topic: &str) -> TopicName {
    TopicName(StrBytes::from_string(topic.to_owned()))
}

impl OffsetForLeaderEpochBody {
    /// The request at `version` (2–4): as a consumer (replica id -1, from v3).
    pub(crate) fn to_request(&self, _version: i16) -> OffsetForLeaderEpochRequest {
        let topics = by_topic(
            &self.partitions,
            |(tp, _, _)| tp,
            |(tp, current, epoch)| {
                OffsetForLeaderPartition::default()
                    .with_partition(tp.partition)
                    .with_current_leader_epoch(*current)
                    .with_leader_epoch(*epoch)
            },
        );
        OffsetForLeaderEpochRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(
                topics
                    .into_iter()
                    .map(|(topic, partitions)| {
                        OffsetForLeaderTopic::default()
                            .with_topic(topic_name(&topic))
                            .with_partitions(partitions)
                    })
                    .collect(),
            )
    }
}

/// The newest Fetch version that names topics by name.
pub(crate) const FETCH_BY_NAME_MAX: i16 = 12;

impl FetchBody {
    /// The newest version this body can be sent at: from v13 topics go by id, so a body with a
    /// topic whose id is unknown stays at v12.
    pub(crate) fn max_version(&self) -> i16 {
        let known = |id: &[u8; 16]| *id != [0; 16];
        if self.partitions.iter().all(|p| known(&p.topic_id))
            && self.forgotten.iter().all(|(_, id)| known(id))
        {
            i16::MAX
        } else {
            FETCH_BY_NAME_MAX
        }
    }

    /// The request at `version`: versions below 9 cannot carry the leader epoch (sent as -1);
    /// from v13 topics are named by id (see [`FetchBody::max_version`]).
    pub(crate) fn to_request(&self, version: i16) -> FetchRequest {
        let epochs = version >= 9;
        let by_id = version > FETCH_BY_NAME_MAX;
        let ids: std::collections::HashMap<&str, [u8; 16]> = self
            .partitions
            .iter()
            .map(|p| (&*p.tp.topic, p.topic_id))
            .chain(self.forgotten.iter().map(|(tp, id)| (&*tp.topic, *id)))
            .collect();
        let id_of = |topic: &str| uuid::Uuid::from_bytes(ids.get(topic).copied().unwrap_or_default());
        let topics = by_topic(
            &self.partitions,
            |p| &p.tp,
            |p| {
                FetchPartition::default()
                    .with_partition(p.tp.partition)
                    .with_current_leader_epoch(if epochs { p.current_leader_epoch } else { -1 })
                    .with_fetch_offset(p.fetch_offset)
                    .with_last_fetched_epoch(if version >= 12 { p.last_fetched_epoch } else { -1 })
                    .with_partition_max_bytes(p.partition_max_bytes)
            },
        );
        FetchRequest::default()
            .with_max_wait_ms(self.max_wait_ms)
            .with_min_bytes(self.min_bytes)
            .with_max_bytes(self.max_bytes)
            .with_isolation_level(self.isolation_level)
            .with_session_id(self.session_id)
            .with_session_epoch(self.session_epoch)
            .with_rack_id(StrBytes::from_string(if version >= 11 {
                self.rack_id.clone()
            } else {
                String::new()
            }))
            .with_topics(
                topics
                    .into_iter()
                    .map(|(topic, partitions)| {
                        let t = FetchTopic::default().with_partitions(partitions);
                        if by_id {
                            t.with_topic_id(id_of(&topic))
                        } else {
                            t.with_topic(topic_name(&topic))
                        }
                    })
                    .collect(),
            )
            .with_forgotten_topics_data(if version >= 7 {
                by_topic(&self.forgotten, |(tp, _)| tp, |(tp, _)| tp.partition)
                    .into_iter()
                    .map(|(topic, partitions)| {
                        let t = ForgottenTopic::default().with_partitions(partitions);
                        if by_id {
                            t.with_topic_id(id_of(&topic))
                        } else {
                            t.with_topic(topic_name(&topic))
                        }
                    })
                    .collect()
            } else {
                Vec::new()
            })
    }
}

impl ListOffsetsBody {
    /// The request at `version`: the leader epoch from v4, the isolation level from v2.
    pub(crate) fn to_request(&self, version: i16) -> ListOffsetsRequest {
        let topics = by_topic(
            &self.partitions,
            |(tp, _, _)| tp,
            |(tp, epoch, timestamp)| {
                ListOffsetsPartition::default()
                    .with_partition_index(tp.partition)
                    .with_current_leader_epoch(if version >= 4 { *epoch } else { -1 })
                    .with_timestamp(*timestamp)
            },
        );
        ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_isolation_level(if version >= 2 { self.isolation_level } else { 0 })
            .with_topics(
                topics
                    .into_iter()
                    .map(|(topic, partitions)| {
                        ListOffsetsTopic::default()
                            .with_name(topic_name(&topic))
                            .with_partitions(partitions)
                    })
                    .collect(),
            )
    }
}

impl OffsetFetchBody {
    /// The request at `version`: `require_stable` (KIP-447) from v7; from v8 the group goes in
    /// the `groups` array (KIP-709), with the member id and epoch from v9 (KIP-848).
    pub(crate) fn to_request(&self, version: i16) -> OffsetFetchRequest {
        let topics = by_topic(&self.partitions, |tp| tp, |tp| tp.partition);
        let group_id = GroupId(StrBytes::from_string(self.group_id.clone()));
        let request = OffsetFetchRequest::default().with_require_stable(version >= 7);
        if version >= 8 {
            let (member_id, member_epoch) = match &self.member {
                Some((id, epoch)) if version >= 9 => (Some(StrBytes::from_string(id.clone())), *epoch),
                _ => (None, -1),
            };
            request.with_groups(vec![
                OffsetFetchRequestGroup::default()
                    .with_group_id(group_id)
                    .with_member_id(member_id)
                    .with_member_epoch(member_epoch)
                    .with_topics(Some(
                        topics
                            .into_iter()
                            .map(|(topic, partitions)| {
                                OffsetFetchRequestTopics::default()
                                    .with_name(topic_name(&topic))
                                    .with_partition_indexes(partitions)
                            })
                            .collect(),
                    )),
            ])
        } else {
            request.with_group_id(group_id).with_topics(Some(
                topics
                    .into_iter()
                    .map(|(topic, partitions)| {
                        OffsetFetchRequestTopic::default()
                            .with_name(topic_name(&topic))
                            .with_partition_indexes(partitions)
                    })
                    .collect(),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;
    use kafka_protocol::protocol::{Decodable, Encodable};

    use super::*;
    use crate::wire::{ApiKey, supported_range};

    fn round_trip<T: Encodable + Decodable>(request: &T, version: i16) -> T {
        let mut buf = BytesMut::new();
        request.encode(&mut buf, version).unwrap();
        let mut bytes = buf.freeze();
        let out = T::decode(&mut bytes, version).unwrap();
        assert!(bytes.is_empty());
        out
    }

    fn versions(api: ApiKey) -> std::ops::RangeInclusive<i16> {
        let (min, max) = supported_range(api).unwrap();
        min..=max
    }

    #[test]
    fn fetch_bodies_encode_at_every_supported_version() {
        let body = FetchBody {
            max_wait_ms: 500,
            min_bytes: 1,
            max_bytes: 1 << 20,
            isolation_level: 1,
            session_id: 0,
            session_epoch: -1,
            partitions: vec![
                FetchPartitionBody {
                    tp: TopicPartition::new("b", 1),
                    topic_id: [0xb; 16],
                    current_leader_epoch: 7,
                    fetch_offset: 42,
                    last_fetched_epoch: 6,
                    partition_max_bytes: 1000,
                },
                FetchPartitionBody {
                    tp: TopicPartition::new("a", 0),
                    topic_id: [0xa; 16],
                    current_leader_epoch: 7,
                    fetch_offset: 5,
                    last_fetched_epoch: -1,
                    partition_max_bytes: 1000,
                },
            ],
            forgotten: vec![(TopicPartition::new("c", 3), [0xc; 16])],
            rack_id: "rack-2".into(),
        };
        assert_eq!(body.max_version(), i16::MAX, "every topic id known");
        for v in versions(ApiKey::Fetch) {
            let r: FetchRequest = round_trip(&body.to_request(v), v);
            assert_eq!(r.topics.len(), 2);
            if v >= 13 {
                assert_eq!(
                    r.topics[0].topic_id.as_bytes(),
                    &[0xa; 16],
                    "v{v}: by id, in name order"
                );
                assert_eq!(r.topics[1].topic_id.as_bytes(), &[0xb; 16]);
            } else {
                assert_eq!(r.topics[0].topic.0.as_str(), "a", "topics in name order");
            }
            if v >= 7 {
                let f = &r.forgotten_topics_data;
                assert_eq!(f.len(), 1, "v{v}: forgotten partitions are sent");
                assert_eq!(f[0].partitions, [3]);
                if v >= 13 {
                    assert_eq!(f[0].topic_id.as_bytes(), &[0xc; 16]);
                } else {
                    assert_eq!(f[0].topic.0.as_str(), "c");
                }
            }
            let p = &r.topics[1].partitions[0];
            assert_eq!(
                (p.partition, p.fetch_offset, p.partition_max_bytes),
                (1, 42, 1000)
            );
            assert_eq!(p.current_leader_epoch, if v >= 9 { 7 } else { -1 }, "v{v}");
            assert_eq!(p.last_fetched_epoch, if v >= 12 { 6 } else { -1 }, "v{v}");
            assert_eq!(r.max_wait_ms, 500);
            if v >= 4 {
                assert_eq!(r.isolation_level, 1);
            }
            if v >= 7 {
                assert_eq!((r.session_id, r.session_epoch), (0, -1), "no fetch session");
            }
            if v >= 11 {
                assert_eq!(r.rack_id.as_str(), "rack-2", "client.rack from v11");
            }
        }
    }

    #[test]
    fn a_topic_without_a_known_id_keeps_a_fetch_at_the_newest_version_by_name() {
        let mut body = FetchBody {
            max_wait_ms: 0,
            min_bytes: 1,
            max_bytes: 1,
            isolation_level: 0,
            session_id: 0,
            session_epoch: -1,
            partitions: vec![FetchPartitionBody {
                tp: TopicPartition::new("a", 0),
                topic_id: [1; 16],
                current_leader_epoch: -1,
                fetch_offset: 0,
                last_fetched_epoch: -1,
                partition_max_bytes: 1,
            }],
            forgotten: vec![(TopicPartition::new("b", 0), [0; 16])],
            rack_id: String::new(),
        };
        assert_eq!(body.max_version(), FETCH_BY_NAME_MAX);
        body.forgotten.clear();
        assert_eq!(body.max_version(), i16::MAX);
        body.partitions[0].topic_id = [0; 16];
        assert_eq!(body.max_version(), FETCH_BY_NAME_MAX);
    }

    #[test]
    fn offset_for_leader_epoch_bodies_encode_at_every_supported_version() {
        let body = OffsetForLeaderEpochBody {
            partitions: vec![
                (TopicPartition::new("t", 2), 9, 4),
                (TopicPartition::new("t", 0), 9, 3),
            ],
        };
        for v in versions(ApiKey::OffsetForLeaderEpoch) {
            let r: OffsetForLeaderEpochRequest = round_trip(&body.to_request(v), v);
            let parts: Vec<_> = r.topics[0]
                .partitions
                .iter()
                .map(|p| (p.partition, p.current_leader_epoch, p.leader_epoch))
                .collect();
            assert_eq!(parts, [(2, 9, 4), (0, 9, 3)], "v{v}");
            if v >= 3 {
                assert_eq!(r.replica_id.0, -1, "a consumer, not a follower");
            }
        }
    }

    #[test]
    fn list_offsets_and_offset_fetch_bodies_encode_at_every_supported_version() {
        let body = ListOffsetsBody {
            isolation_level: 1,
            partitions: vec![(TopicPartition::new("t", 3), 5, -2)],
        };
        for v in versions(ApiKey::ListOffsets) {
            let r: ListOffsetsRequest = round_trip(&body.to_request(v), v);
            let p = &r.topics[0].partitions[0];
            assert_eq!((p.partition_index, p.timestamp), (3, -2));
            assert_eq!(p.current_leader_epoch, if v >= 4 { 5 } else { -1 });
        }
        for member in [None, Some(("m-1".to_owned(), 7))] {
            let body = OffsetFetchBody {
                group_id: "g".into(),
                partitions: vec![TopicPartition::new("t", 0), TopicPartition::new("t", 2)],
                member: member.clone(),
            };
            for v in versions(ApiKey::OffsetFetch) {
                let r: OffsetFetchRequest = round_trip(&body.to_request(v), v);
                if v >= 8 {
                    let [group] = &r.groups[..] else {
                        panic!("v{v}: one group expected: {r:?}")
                    };
                    assert_eq!(group.group_id.0.as_str(), "g");
                    let topics = group.topics.as_ref().unwrap();
                    assert_eq!(topics[0].name.0.as_str(), "t");
                    assert_eq!(topics[0].partition_indexes, vec![0, 2]);
                    let sent = (
                        group.member_id.as_ref().map(|m| m.as_str().to_owned()),
                        group.member_epoch,
                    );
                    let expected = match &member {
                        Some((id, epoch)) if v >= 9 => (Some(id.clone()), *epoch),
                        _ => (None, -1),
                    };
                    assert_eq!(sent, expected, "v{v}");
                } else {
                    assert_eq!(r.group_id.0.as_str(), "g");
                    let topics = r.topics.unwrap();
                    assert_eq!(topics[0].partition_indexes, vec![0, 2]);
                }
            }
        }
    }
}
