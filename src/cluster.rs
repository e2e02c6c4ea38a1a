//! Cluster metadata: brokers, topics, partitions, leaders and leader epochs.

use std::collections::BTreeMap;

use crate::types::NodeId;
use crate::wire::{KafkaCode, MetadataResponse};

/// A snapshot of cluster metadata, as one Metadata response described it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterMetadata {
    generation: u64,
    cluster_id: Option<String>,
    controller_id: Option<NodeId>,
    brokers: BTreeMap<NodeId, BrokerInfo>,
    topics: BTreeMap<String, TopicMetadata>,
}

/// One broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerInfo {
    /// Node id.
    pub node_id: NodeId,
    /// Host to connect to.
    pub host: String,
    /// Port to connect to.
    pub port: u16,
    /// Rack, if configured.
    pub rack: Option<String>,
}

impl BrokerInfo {
    /// `host:port`.
    pub fn addr(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// One topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicMetadata {
    /// Name.
    pub name: String,
    /// Topic id (KIP-516; Metadata v10+), all zeroes when the broker sent none.
    pub topic_id: [u8; 16],
    /// The topic-level error, e.g. `UNKNOWN_TOPIC_OR_PARTITION`.
    pub error: Option<KafkaCode>,
    /// Whether it is an internal topic.
    pub is_internal: bool,
    /// Partitions, sorted by index.
    pub partitions: Vec<PartitionMetadata>,
}

/// One partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionMetadata {
    /// Partition index.
    pub partition: i32,
    /// Current leader, if there is one.
    pub leader: Option<NodeId>,
    /// Leader epoch, or -1 when the broker does not report one.
    pub leader_epoch: i32,
    /// Replica node ids.
    pub replicas: Vec<NodeId>,
    /// In-sync replica node ids.
    pub isr: Vec<NodeId>,
    /// The partition-level error, e.g. `LEADER_NOT_AVAILABLE`.
    pub error: Option<KafkaCode>,
}

fn error_of(code: i16) -> Option<KafkaCode> {
    let code = KafkaCode(code);
    code.is_error().then_some(code)
}

impl ClusterMetadata {
    /// Builds a snapshot from a decoded response; `generation` orders snapshots (higher is newer).
    /// Brokers with ports outside `u16` and topics without a name are left out.
    pub fn from_response(response: &MetadataResponse, generation: u64) -> Self {
        let brokers = response
            .brokers
            .iter()
            .filter_map(|b| {
                let port = u16::try_from(b.port).ok()?;
                Some((
                    b.node_id,
                    BrokerInfo {
                        node_id: b.node_id,
                        host: b.host.to_string(),
                        port,
                        rack: b.rack.as_ref().map(|r| r.to_string()),
                    },
                ))
            })
            .collect();
        let topics = response
            .topics
            .iter()
            .filter_map(|t| {
                let name = t.name.as_ref()?.to_string();
                let mut partitions: Vec<_> = t
                    .partitions
                    .iter()
                    .map(|p| PartitionMetadata {
                        partition: p.partition_index,
                        leader: (p.leader_id >= 0).then_some(p.leader_id),
                        leader_epoch: p.leader_epoch,
                        replicas: p.replica_nodes.clone(),
                        isr: p.isr_nodes.clone(),
                        error: error_of(p.error_code),
                    })
                    .collect();
                partitions.sort_by_key(|p| p.partition);
                Some((
                    name.clone(),
                    TopicMetadata {
                        name,
                        topic_id: t.topic_id,
                        error: error_of(t.error_code),
                        is_internal: t.is_internal,
                        partitions,
                    },
                ))
            })
            .collect();
        ClusterMetadata {
            generation,
            cluster_id: response.cluster_id.as_ref().map(|c| c.to_string()),
            controller_id: (response.controller_id >= 0).then_some(response.controller_id),
            brokers,
            topics,
        }
    }

    /// Orders snapshots: a snapshot from a later request has a higher generation.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The cluster id.
    pub fn cluster_id(&self) -> Option<&str> {
        self.cluster_id.as_deref()
    }

    /// The controller's node id.
    pub fn controller_id(&self) -> Option<NodeId> {
        self.controller_id
    }

    /// Brokers, by node id.
    pub fn brokers(&self) -> impl Iterator<Item = &BrokerInfo> {
        self.brokers.values()
    }

    /// One broker.
    pub fn broker(&self, node: NodeId) -> Option<&BrokerInfo> {
        self.brokers.get(&node)
    }

    /// Topics, by name.
    pub fn topics(&self) -> impl Iterator<Item = &TopicMetadata> {
        self.topics.values()
    }

    /// One topic.
    pub fn topic(&self, name: &str) -> Option<&TopicMetadata> {
        self.topics.get(name)
    }

    /// One partition.
    pub fn partition(&self, topic: &str, partition: i32) -> Option<&PartitionMetadata> {
        let t = self.topics.get(topic)?;
        t.partitions
            .binary_search_by_key(&partition, |p| p.partition)
            .ok()
            .map(|i| &t.partitions[i])
    }
}
