//! Reference responses for the scripted broker, encoded with `kafka-protocol`'s broker side.

use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{ApiKey, ApiVersionsResponse, BrokerId, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use crate::scripted::{Action, Received};

/// The API ranges of a current Kafka broker, for the APIs a consumer uses.
pub const MODERN: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 3, 11),
    (ApiKey::Fetch, 4, 17),
    (ApiKey::ListOffsets, 1, 9),
    (ApiKey::Metadata, 0, 12),
    (ApiKey::OffsetCommit, 2, 9),
    (ApiKey::OffsetFetch, 1, 9),
    (ApiKey::FindCoordinator, 0, 5),
    (ApiKey::JoinGroup, 0, 9),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 5),
    (ApiKey::SyncGroup, 0, 5),
    (ApiKey::ApiVersions, 0, 3),
    (ApiKey::CreateTopics, 2, 7),
];

/// An ApiVersions response offering `ranges`, encoded at the request's version.
pub fn api_versions(request: &Received, ranges: &[(ApiKey, i16, i16)]) -> Action {
    let keys = ranges
        .iter()
        .map(|&(api, min, max)| {
            ApiVersion::default()
                .with_api_key(api as i16)
                .with_min_version(min)
                .with_max_version(max)
        })
        .collect();
    Action::respond(
        &ApiVersionsResponse::default().with_api_keys(keys),
        request.version,
    )
}

/// A Metadata response naming one broker (node 1 at `port`) and `topics` with `partitions` each, all
/// led by node 1.
pub fn metadata(request: &Received, port: u16, topics: &[(&str, i32)]) -> Action {
    let broker = MetadataResponseBroker::default()
        .with_node_id(BrokerId(1))
        .with_host(StrBytes::from_static_str("127.0.0.1"))
        .with_port(i32::from(port));
    let topics = topics
        .iter()
        .map(|&(name, partitions)| {
            MetadataResponseTopic::default()
                .with_name(Some(TopicName(StrBytes::from_string(name.to_owned()))))
                .with_partitions(
                    (0..partitions)
                        .map(|p| {
                            MetadataResponsePartition::default()
                                .with_partition_index(p)
                                .with_leader_id(BrokerId(1))
                                .with_leader_epoch(if request.version >= 7 { 5 } else { -1 })
                                .with_replica_nodes(vec![BrokerId(1)])
                                .with_isr_nodes(vec![BrokerId(1)])
                        })
                        .collect(),
                )
        })
        .collect();
    let response = MetadataResponse::default()
        .with_brokers(vec![broker])
        .with_cluster_id(Some(StrBytes::from_static_str("scripted")))
        .with_controller_id(BrokerId(1))
        .with_topics(topics);
    Action::respond(&response, request.version)
}
