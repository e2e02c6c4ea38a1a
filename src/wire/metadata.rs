//! Metadata response (API key 3), versions 4–12.

use bytes::Bytes;
use kafka_protocol::messages::ApiKey;

use super::{DecodeError, DecodeResponse, Reader, Str, is_flexible};

/// "Authorized operations not requested", Kafka's `Integer.MIN_VALUE` sentinel.
pub const AUTHORIZED_OPERATIONS_UNKNOWN: i32 = i32::MIN;

/// The Metadata response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataResponse {
    /// Throttle time.
    pub throttle_time_ms: i32,
    /// The brokers of the cluster.
    pub brokers: Vec<MetadataBroker>,
    /// The cluster id (v2+).
    pub cluster_id: Option<Str>,
    /// The controller's node id, or -1.
    pub controller_id: i32,
    /// One entry per requested (or every) topic.
    pub topics: Vec<MetadataTopic>,
    /// Cluster authorized operations (v8–v10), or [`AUTHORIZED_OPERATIONS_UNKNOWN`].
    pub cluster_authorized_operations: i32,
}

/// One broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataBroker {
    /// Node id.
    pub node_id: i32,
    /// Host name.
    pub host: Str,
    /// Port.
    pub port: i32,
    /// Rack, if configured.
    pub rack: Option<Str>,
}

/// One topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataTopic {
    /// Topic-level error code.
    pub error_code: i16,
    /// Topic name (nullable from v12, when topics are requested by id).
    pub name: Option<Str>,
    /// Topic id (v10+), all zeroes when unknown.
    pub topic_id: [u8; 16],
    /// Whether the topic is internal.
    pub is_internal: bool,
    /// The partitions.
    pub partitions: Vec<MetadataPartition>,
    /// Topic authorized operations (v8+), or [`AUTHORIZED_OPERATIONS_UNKNOWN`].
    pub topic_authorized_operations: i32,
}

/// One partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataPartition {
    /// Partition-level error code.
    pub error_code: i16,
    /// Partition index.
    pub partition_index: i32,
    /// Leader's node id, or -1.
    pub leader_id: i32,
    /// Leader epoch (v7+), or -1.
    pub leader_epoch: i32,
    /// Replicas.
    pub replica_nodes: Vec<i32>,
    /// In-sync replicas.
    pub isr_nodes: Vec<i32>,
    /// Offline replicas (v5+).
    pub offline_replicas: Vec<i32>,
}

impl DecodeResponse for MetadataResponse {
    const API: ApiKey = ApiKey::Metadata;

    fn decode(body: Bytes, version: i16) -> Result<Self, DecodeError> {
        super::check_version(Self::API, version)?;
        let flexible = is_flexible(Self::API, version);
        let mut r = Reader::new(body);
        let throttle_time_ms = r.field("throttle_time_ms").i32()?;

        // node_id + host + port (+ rack, + tags): at least 4+1+4 bytes compact, 4+2+4 classic.
        let count = r
            .field("brokers")
            .array_len(flexible, if flexible { 9 } else { 12 })?;
        let mut brokers = Vec::with_capacity(count);
        for _ in 0..count {
            let node_id = r.field("broker.node_id").i32()?;
            let host = r.field("broker.host").string(flexible)?;
            let port = r.field("broker.port").i32()?;
            let rack = r.field("broker.rack").nullable_string(flexible)?;
            if flexible {
                r.skip_tagged_fields()?;
            }
            brokers.push(MetadataBroker {
                node_id,
                host,
                port,
                rack,
            });
        }
        let cluster_id = r.field("cluster_id").nullable_string(flexible)?;
        let controller_id = r.field("controller_id").i32()?;

        let count = r
            .field("topics")
            .array_len(flexible, if flexible { 8 } else { 9 })?;
        let mut topics = Vec::with_capacity(count);
        for _ in 0..count {
            let error_code = r.field("topic.error_code").i16()?;
            let name = if version >= 12 {
                r.field("topic.name").nullable_string(flexible)?
            } else {
                Some(r.field("topic.name").string(flexible)?)
            };
            let topic_id = if version >= 10 {
                r.field("topic.topic_id").uuid()?
            } else {
                [0; 16]
            };
            let is_internal = r.field("topic.is_internal").bool()?;
            let count = r
                .field("topic.partitions")
                .array_len(flexible, if flexible { 18 } else { 14 })?;
            let mut partitions = Vec::with_capacity(count);
            for _ in 0..count {
                let error_code = r.field("partition.error_code").i16()?;
                let partition_index = r.field("partition.partition_index").i32()?;
                let leader_id = r.field("partition.leader_id").i32()?;
                let leader_epoch = if version >= 7 {
                    r.field("partition.leader_epoch").i32()?
                } else {
                    -1
                };
                let replica_nodes = r.field("partition.replica_nodes").i32_array(flexible)?;
                let isr_nodes = r.field("partition.isr_nodes").i32_array(flexible)?;
                let offline_replicas = if version >= 5 {
                    r.field("partition.offline_replicas").i32_array(flexible)?
                } else {
                    vec![]
                };
                if flexible {
                    r.skip_tagged_fields()?;
                }
                partitions.push(MetadataPartition {
                    error_code,
                    partition_index,
                    leader_id,
                    leader_epoch,
                    replica_nodes,
                    isr_nodes,
                    offline_replicas,
                });
            }
            let topic_authorized_operations = if version >= 8 {
                r.field("topic.topic_authorized_operations").i32()?
            } else {
                AUTHORIZED_OPERATIONS_UNKNOWN
            };
            if flexible {
                r.skip_tagged_fields()?;
            }
            topics.push(MetadataTopic {
                error_code,
                name,
                topic_id,
                is_internal,
                partitions,
                topic_authorized_operations,
            });
        }
        let cluster_authorized_operations = if (8..=10).contains(&version) {
            r.field("cluster_authorized_operations").i32()?
        } else {
            AUTHORIZED_OPERATIONS_UNKNOWN
        };
        if flexible {
            r.skip_tagged_fields()?;
        }
        r.finish()?;
        Ok(MetadataResponse {
            throttle_time_ms,
            brokers,
            cluster_id,
            controller_id,
            topics,
            cluster_authorized_operations,
        })
    }
}
