//! Partition assignors run by the group leader: `range`, `roundrobin` and `cooperative-sticky`.
//!
//! All three are deterministic functions of the members' subscriptions and the partition counts,
//! named as Kafka and librdkafka name them so that mixed groups agree on the protocol.

use std::collections::{BTreeMap, BTreeSet};

use crate::types::TopicPartition;

mod racks;
mod range;
mod roundrobin;
mod sticky;

pub(crate) use racks::PartitionRacks;

/// An assignment strategy (a JoinGroup "protocol").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum AssignorKind {
    /// Per topic, contiguous ranges of partitions to members in order (eager).
    Range,
    /// All partitions dealt out one by one to the members subscribed to them (eager).
    RoundRobin,
    /// Balanced and sticky, with the incremental two-phase protocol of KIP-429.
    CooperativeSticky,
}

impl AssignorKind {
    /// The protocol name on the wire.
    pub(crate) fn name(self) -> &'static str {
        match self {
            AssignorKind::Range => "range",
            AssignorKind::RoundRobin => "roundrobin",
            AssignorKind::CooperativeSticky => "cooperative-sticky",
        }
    }

    /// The assignor with this protocol name.
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        [Self::Range, Self::RoundRobin, Self::CooperativeSticky]
            .into_iter()
            .find(|k| k.name() == name)
    }

    /// Whether the assignor uses the cooperative (incremental) rebalance protocol.
    pub(crate) fn is_cooperative(self) -> bool {
        matches!(self, AssignorKind::CooperativeSticky)
    }

    /// Computes the assignment for every member (each member appears, possibly with nothing).
    ///
    /// Topics missing from `counts` (or with a non-positive count) have no partitions. `racks`
    /// holds the racks of each partition's replicas: `range` and `cooperative-sticky` prefer
    /// giving a member partitions with a replica in its rack (KIP-881) where balance allows, as
    /// Kafka's assignors do; `roundrobin` ignores racks, as Kafka's does.
    pub(crate) fn assign(
        self,
        members: &[MemberSubscription],
        counts: &BTreeMap<String, i32>,
        racks: &PartitionRacks,
    ) -> Assignments {
        let mut sorted: Vec<&MemberSubscription> = members.iter().collect();
        sorted.sort_by(|a, b| member_order(a, b));
        sorted.dedup_by(|a, b| a.member_id == b.member_id);
        match self {
            AssignorKind::Range => range::assign(&sorted, counts, racks),
            AssignorKind::RoundRobin => roundrobin::assign(&sorted, counts),
            AssignorKind::CooperativeSticky => sticky::assign(&sorted, counts, racks),
        }
    }
}

/// One member's subscription, as the leader learned it from JoinGroup.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct MemberSubscription {
    /// Member id.
    pub(crate) member_id: String,
    /// Static instance id (KIP-345); orders members across restarts.
    pub(crate) group_instance_id: Option<String>,
    /// Subscribed topics.
    pub(crate) topics: BTreeSet<String>,
    /// Partitions the member says it owns (cooperative protocol).
    pub(crate) owned: BTreeSet<TopicPartition>,
    /// The generation in which it owned them, or -1.
    pub(crate) generation: i32,
    /// The member's `client.rack` (KIP-881), if it sent a non-empty one.
    pub(crate) rack: Option<String>,
}

/// The assignment per member id.
pub(crate) type Assignments = BTreeMap<String, BTreeSet<TopicPartition>>;

/// Kafka's member order: static members (by instance id) first, then dynamic ones by member id.
fn member_order(a: &MemberSubscription, b: &MemberSubscription) -> std::cmp::Ordering {
    match (&a.group_instance_id, &b.group_instance_id) {
        (Some(x), Some(y)) => x.cmp(y).then_with(|| a.member_id.cmp(&b.member_id)),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.member_id.cmp(&b.member_id),
    }
}

/// The partitions of `topic` (none if its count is unknown or not positive).
fn partitions_of(topic: &str, counts: &BTreeMap<String, i32>) -> impl Iterator<Item = TopicPartition> {
    let count = counts.get(topic).copied().unwrap_or(0).max(0);
    let topic: std::sync::Arc<str> = topic.into();
    (0..count).map(move |p| TopicPartition {
        topic: topic.clone(),
        partition: p,
    })
}

fn empty_assignments(members: &[&MemberSubscription]) -> Assignments {
    members
        .iter()
        .map(|m| (m.member_id.clone(), BTreeSet::new()))
        .collect()
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod rack_tests;
