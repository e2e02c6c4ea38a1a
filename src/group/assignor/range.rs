//! The `range` assignor: for each topic, the subscribed members in order get contiguous ranges;
//! the first `partitions % members` get one extra.
//!
//! Rack aware as Kafka's `RangeAssignor` (KIP-881): where members and replicas have racks, each
//! member first takes, within its quota, the partitions with a replica in its rack (topics with
//! the same members and partition count together, so that partition `p` of each goes to the same
//! member); the rest are then handed out in order as without racks.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::racks::Racks;
use super::{Assignments, MemberSubscription, PartitionRacks, empty_assignments, partitions_of};
use crate::types::TopicPartition;

/// One topic's assignment in progress.
struct TopicState<'a> {
    topic: Arc<str>,
    /// Indices (into the member list) of its subscribers, in member order.
    consumers: Vec<usize>,
    racks: Racks<'a>,
    unassigned: Vec<TopicPartition>,
    assigned: BTreeMap<usize, usize>,
    per_consumer: usize,
    extra_left: usize,
}

impl TopicState<'_> {
    /// How many more partitions of this topic `c` may take: the quota, plus one while extras are
    /// left, less what it has.
    fn max_assignable(&self, c: usize) -> usize {
        let quota = self.per_consumer + usize::from(self.extra_left > 0);
        quota.saturating_sub(self.assigned.get(&c).copied().unwrap_or(0))
    }

    fn take(
        &mut self,
        c: usize,
        tps: &[TopicPartition],
        out: &mut Assignments,
        members: &[&MemberSubscription],
    ) {
        let n = self.assigned.entry(c).or_insert(0);
        *n += tps.len();
        if *n > self.per_consumer {
            self.extra_left = self.extra_left.saturating_sub(1);
        }
        self.unassigned.retain(|tp| !tps.contains(tp));
        if let Some(set) = members.get(c).and_then(|m| out.get_mut(&m.member_id)) {
            set.extend(tps.iter().cloned());
        }
    }

    /// Each consumer in order takes, up to its quota, the unassigned partitions `may` allows.
    fn assign_ranges(
        &mut self,
        may: impl Fn(&Self, usize, &TopicPartition) -> bool,
        out: &mut Assignments,
        members: &[&MemberSubscription],
    ) {
        for c in self.consumers.clone() {
            if self.unassigned.is_empty() {
                break;
            }
            let tps: Vec<TopicPartition> = self
                .unassigned
                .iter()
                .filter(|tp| may(self, c, tp))
                .take(self.max_assignable(c))
                .cloned()
                .collect();
            if !tps.is_empty() {
                self.take(c, &tps, out, members);
            }
        }
    }
}

pub(super) fn assign(
    members: &[&MemberSubscription],
    counts: &BTreeMap<String, i32>,
    racks: &PartitionRacks,
) -> Assignments {
    let mut out = empty_assignments(members);
    let mut by_topic: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, m) in members.iter().enumerate() {
        for t in &m.topics {
            by_topic.entry(t.as_str()).or_default().push(i);
        }
    }
    let mut states: Vec<TopicState> = Vec::new();
    for (topic, consumers) in by_topic {
        let partitions: Vec<TopicPartition> = partitions_of(topic, counts).collect();
        if partitions.is_empty() {
            continue;
        }
        let racks = Racks::new(members, |c| consumers.contains(&c), &partitions, racks);
        states.push(TopicState {
            topic: topic.into(),
            per_consumer: partitions.len() / consumers.len(),
            extra_left: partitions.len() % consumers.len(),
            consumers,
            racks,
            unassigned: partitions,
            assigned: BTreeMap::new(),
        });
    }

    if states.iter().any(|s| s.racks.on()) {
        // Topics with the same subscribers and partition count are co-partitioned: partition `p`
        // of each goes to one member with a replica of all of them in its rack.
        let mut groups: BTreeMap<(Vec<usize>, usize), Vec<usize>> = BTreeMap::new();
        for (i, s) in states.iter().enumerate() {
            let n = s.unassigned.len();
            groups.entry((s.consumers.clone(), n)).or_default().push(i);
        }
        for ((consumers, n), group) in groups {
            if group.len() > 1 {
                assign_co_partitioned(&consumers, n, &group, &mut states, &mut out, members);
            } else if let Some(s) = group.first().and_then(|&i| states.get_mut(i))
                && s.racks.on()
            {
                s.assign_ranges(|s, c, tp| s.racks.matches(c, tp), &mut out, members);
            }
        }
    }
    for s in &mut states {
        s.assign_ranges(|_, _, _| true, &mut out, members);
    }
    out
}

fn assign_co_partitioned(
    consumers: &[usize],
    partitions: usize,
    group: &[usize],
    states: &mut [TopicState],
    out: &mut Assignments,
    members: &[&MemberSubscription],
) {
    let mut remaining: Vec<usize> = consumers.to_vec();
    for p in 0..partitions {
        let Ok(p) = i32::try_from(p) else { break };
        let chosen = remaining.iter().copied().find(|&c| {
            group.iter().all(|&i| {
                states.get(i).is_some_and(|s| {
                    s.racks.matches(c, &TopicPartition::new(s.topic.clone(), p)) && s.max_assignable(c) > 0
                })
            })
        });
        let Some(c) = chosen else { continue };
        for &i in group {
            if let Some(s) = states.get_mut(i)
                && let Some(tp) = s.unassigned.iter().find(|tp| tp.partition == p).cloned()
            {
                s.take(c, &[tp], out, members);
            }
        }
        let full = group
            .iter()
            .all(|&i| states.get(i).is_none_or(|s| s.max_assignable(c) == 0));
        if full {
            remaining.retain(|&x| x != c);
            if remaining.is_empty() {
                break;
            }
        }
    }
}
