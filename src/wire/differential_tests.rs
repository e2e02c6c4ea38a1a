//! kafkit's decoders against `kafka-protocol`'s broker-side encoders: encode a response with the
//! reference, decode it with ours, compare every field, for every supported version.

use bytes::Bytes;
use kafka_protocol::messages::api_versions_response as kp_av;
use kafka_protocol::messages::metadata_response as kp_md;
use kafka_protocol::messages::{BrokerId, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::response_test_util::{Gen, encode};
use super::*;

fn kp_metadata(g: &mut Gen, version: i16) -> kp_md::MetadataResponse {
    let flexible = is_flexible(ApiKey::Metadata, version);
    let brokers = (0..g.below(4))
        .map(|i| {
            kp_md::MetadataResponseBroker::default()
                .with_node_id(BrokerId(i as i32))
                .with_host(StrBytes::from_string(g.name()))
                .with_port(g.below(65536) as i32)
                .with_rack(if g.below(2) == 0 {
                    None
                } else {
                    Some(StrBytes::from_string(g.name()))
                })
                .with_unknown_tagged_fields(g.tags(flexible))
        })
        .collect();
    let topics = (0..g.below(4))
        .map(|_| {
            let partitions = (0..g.below(5))
                .map(|p| {
                    let ids = |g: &mut Gen| (0..g.below(4)).map(|_| BrokerId(g.i32())).collect::<Vec<_>>();
                    kp_md::MetadataResponsePartition::default()
                        .with_error_code(g.below(3) as i16)
                        .with_partition_index(p as i32)
                        .with_leader_id(BrokerId(g.i32()))
                        .with_leader_epoch(if version >= 7 { g.i32() } else { -1 })
                        .with_replica_nodes(ids(g))
                        .with_isr_nodes(ids(g))
                        .with_offline_replicas(if version >= 5 { ids(g) } else { vec![] })
                        .with_unknown_tagged_fields(g.tags(flexible))
                })
                .collect();
            let name = if version >= 12 && g.below(4) == 0 {
                None
            } else {
                Some(TopicName(StrBytes::from_string(g.name())))
            };
            let mut topic_id = [0u8; 16];
            if version >= 10 {
                for b in &mut topic_id {
                    *b = g.below(256) as u8;
                }
            }
            kp_md::MetadataResponseTopic::default()
                .with_error_code(g.below(2) as i16 * 3)
                .with_name(name)
                .with_topic_id(uuid::Uuid::from_bytes(topic_id))
                .with_is_internal(g.below(2) == 0)
                .with_partitions(partitions)
                .with_topic_authorized_operations(if version >= 8 { g.i32() } else { i32::MIN })
                .with_unknown_tagged_fields(g.tags(flexible))
        })
        .collect();
    kp_md::MetadataResponse::default()
        .with_throttle_time_ms(g.i32())
        .with_brokers(brokers)
        .with_cluster_id(if g.below(3) == 0 {
            None
        } else {
            Some(StrBytes::from_string(g.name()))
        })
        .with_controller_id(BrokerId(g.i32()))
        .with_topics(topics)
        .with_cluster_authorized_operations(if (8..=10).contains(&version) {
            g.i32()
        } else {
            i32::MIN
        })
        .with_unknown_tagged_fields(g.tags(flexible))
}

fn expected_metadata(kp: &kp_md::MetadataResponse) -> MetadataResponse {
    let s = |s: &StrBytes| Str::from(s.as_str());
    MetadataResponse {
        throttle_time_ms: kp.throttle_time_ms,
        brokers: kp
            .brokers
            .iter()
            .map(|b| MetadataBroker {
                node_id: b.node_id.0,
                host: s(&b.host),
                port: b.port,
                rack: b.rack.as_ref().map(s),
            })
            .collect(),
        cluster_id: kp.cluster_id.as_ref().map(s),
        controller_id: kp.controller_id.0,
        topics: kp
            .topics
            .iter()
            .map(|t| MetadataTopic {
                error_code: t.error_code,
                name: t.name.as_ref().map(|n| s(&n.0)),
                topic_id: *t.topic_id.as_bytes(),
                is_internal: t.is_internal,
                partitions: t
                    .partitions
                    .iter()
                    .map(|p| MetadataPartition {
                        error_code: p.error_code,
                        partition_index: p.partition_index,
                        leader_id: p.leader_id.0,
                        leader_epoch: p.leader_epoch,
                        replica_nodes: p.replica_nodes.iter().map(|b| b.0).collect(),
                        isr_nodes: p.isr_nodes.iter().map(|b| b.0).collect(),
                        offline_replicas: p.offline_replicas.iter().map(|b| b.0).collect(),
                    })
                    .collect(),
                topic_authorized_operations: t.topic_authorized_operations,
            })
            .collect(),
        cluster_authorized_operations: kp.cluster_authorized_operations,
    }
}

#[test]
fn metadata_matches_reference_for_every_supported_version() {
    let (min, max) = supported_range(ApiKey::Metadata).unwrap();
    for version in min..=max {
        let mut g = Gen(version as u64 * 7919);
        for case in 0..200 {
            let kp = kp_metadata(&mut g, version);
            let bytes = encode(&kp, version);
            let ours = MetadataResponse::decode(bytes.clone(), version)
                .unwrap_or_else(|e| panic!("v{version} case {case}: {e}"));
            assert_eq!(ours, expected_metadata(&kp), "v{version} case {case}");
            // Every strict prefix is a typed error, never a panic or a wrong success.
            for cut in [0, 1, bytes.len() / 2, bytes.len().saturating_sub(1)] {
                if cut < bytes.len() {
                    assert!(
                        MetadataResponse::decode(bytes.slice(..cut), version).is_err(),
                        "v{version} cut {cut}"
                    );
                }
            }
        }
    }
}

fn kp_api_versions(g: &mut Gen, version: i16) -> kp_av::ApiVersionsResponse {
    let flexible = is_flexible(ApiKey::ApiVersions, version);
    let keys = (0..g.below(70))
        .map(|k| {
            kp_av::ApiVersion::default()
                .with_api_key(k as i16)
                .with_min_version(g.below(3) as i16)
                .with_max_version(g.below(17) as i16)
                .with_unknown_tagged_fields(g.tags(flexible))
        })
        .collect();
    let mut r = kp_av::ApiVersionsResponse::default()
        .with_error_code(if g.below(5) == 0 { 35 } else { 0 })
        .with_api_keys(keys)
        .with_throttle_time_ms(if version >= 1 { g.i32() } else { 0 })
        .with_unknown_tagged_fields(g.tags(flexible));
    if flexible && g.below(2) == 0 {
        // Feature flags travel as tagged fields; a consumer ignores them but must skip them.
        r = r
            .with_finalized_features_epoch(g.i32() as i64)
            .with_zk_migration_ready(true)
            .with_supported_features(vec![
                kp_av::SupportedFeatureKey::default()
                    .with_name(StrBytes::from_static_str("metadata.version"))
                    .with_min_version(1)
                    .with_max_version(20),
            ]);
    }
    r
}

#[test]
fn api_versions_matches_reference_for_every_supported_version() {
    let (min, max) = supported_range(ApiKey::ApiVersions).unwrap();
    for version in min..=max {
        let mut g = Gen(version as u64 * 104729 + 1);
        for case in 0..200 {
            let kp = kp_api_versions(&mut g, version);
            let bytes = encode(&kp, version);
            let ours = ApiVersionsResponse::decode(bytes.clone(), version)
                .unwrap_or_else(|e| panic!("v{version} case {case}: {e}"));
            let expected = ApiVersionsResponse {
                error_code: kp.error_code,
                api_keys: kp
                    .api_keys
                    .iter()
                    .map(|k| ApiVersionRange {
                        api_key: k.api_key,
                        min_version: k.min_version,
                        max_version: k.max_version,
                    })
                    .collect(),
                throttle_time_ms: kp.throttle_time_ms,
            };
            assert_eq!(ours, expected, "v{version} case {case}");
            if bytes.len() > 1 {
                assert!(ApiVersionsResponse::decode(bytes.slice(..bytes.len() - 1), version).is_err());
            }
        }
    }
}

#[test]
fn unsupported_version_answer_is_read_as_v0() {
    // A broker that does not know the requested version answers in the v0 format.
    let kp = kp_av::ApiVersionsResponse::default()
        .with_error_code(35)
        .with_api_keys(vec![
            kp_av::ApiVersion::default()
                .with_api_key(18)
                .with_min_version(0)
                .with_max_version(2),
        ]);
    let bytes = encode(&kp, 0);
    assert_eq!(ApiVersionsResponse::peek_error_code(&bytes), Some(35));
    let v0 = ApiVersionsResponse::decode(bytes, 0).unwrap();
    assert_eq!(
        ApiVersions::from_response(&v0).broker_range(ApiKey::ApiVersions),
        Some((0, 2))
    );
}

#[test]
fn versions_outside_the_supported_range_are_refused() {
    assert!(matches!(
        MetadataResponse::decode(Bytes::new(), 3),
        Err(DecodeError::UnsupportedVersion {
            api: ApiKey::Metadata,
            version: 3
        })
    ));
    assert!(matches!(
        ApiVersionsResponse::decode(Bytes::new(), 4),
        Err(DecodeError::UnsupportedVersion { .. })
    ));
}
