//! Rack awareness for the assignors (KIP-881): which members and partitions share a rack.

use std::collections::{BTreeMap, BTreeSet};

use super::MemberSubscription;
use crate::types::TopicPartition;

/// The racks of each partition's replicas (from metadata: each replica's broker's `broker.rack`).
/// A partition that is missing, or whose brokers have no rack, has no rack.
pub(crate) type PartitionRacks = BTreeMap<TopicPartition, BTreeSet<String>>;

/// Rack matching for one assignment over `members` (in assignor order) and `partitions`.
pub(super) struct Racks<'a> {
    /// Each member's rack, by index; all `None` when rack matching is off.
    member: Vec<Option<&'a str>>,
    partitions: &'a PartitionRacks,
}

impl<'a> Racks<'a> {
    /// Rack matching as Kafka decides it (`AbstractPartitionAssignor.useRackAwareAssignment`):
    /// on when some member has a rack that some of `partitions`' replicas are in, and the
    /// partitions do not all have replicas on exactly the same racks (then racks cannot matter).
    /// Only the members `deciding` selects count for that decision (a topic's subscribers).
    pub(super) fn new<'p>(
        members: &[&'a MemberSubscription],
        deciding: impl Fn(usize) -> bool,
        partitions: impl IntoIterator<Item = &'p TopicPartition>,
        racks: &'a PartitionRacks,
    ) -> Racks<'a> {
        let member_racks: BTreeSet<&str> = members
            .iter()
            .enumerate()
            .filter(|(i, _)| deciding(*i))
            .filter_map(|(_, m)| m.rack.as_deref())
            .collect();
        let none = BTreeSet::new();
        let per_partition: Vec<&BTreeSet<String>> = partitions
            .into_iter()
            .map(|tp| racks.get(tp).unwrap_or(&none))
            .collect();
        let all: BTreeSet<&str> = per_partition
            .iter()
            .flat_map(|r| r.iter().map(String::as_str))
            .collect();
        let on = !member_racks.is_empty()
            && !member_racks.is_disjoint(&all)
            && !per_partition
                .iter()
                .all(|r| r.len() == all.len() && r.iter().all(|x| all.contains(x.as_str())));
        Racks {
            member: members
                .iter()
                .map(|m| if on { m.rack.as_deref() } else { None })
                .collect(),
            partitions: racks,
        }
    }

    /// Whether rack matching is in use.
    pub(super) fn on(&self) -> bool {
        self.member.iter().any(Option::is_some)
    }

    /// Whether member `m` may take `tp` without leaving its rack: it has no rack (or matching is
    /// off), or a replica of `tp` is in its rack.
    pub(super) fn matches(&self, m: usize, tp: &TopicPartition) -> bool {
        match self.member.get(m).copied().flatten() {
            None => true,
            Some(rack) => self.partitions.get(tp).is_some_and(|r| r.contains(rack)),
        }
    }

    /// Whether member `m` has a rack that holds a replica of `tp` (a positive match, unlike
    /// [`Racks::matches`], which a member without a rack passes).
    pub(super) fn same_rack(&self, m: usize, tp: &TopicPartition) -> bool {
        self.member.get(m).copied().flatten().is_some() && self.matches(m, tp)
    }
}
