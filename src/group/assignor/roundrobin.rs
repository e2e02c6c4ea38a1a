//! The `roundrobin` assignor: all partitions, sorted, dealt one at a time to the members in a
//! circle, skipping members not subscribed to the partition's topic.

use std::collections::{BTreeMap, BTreeSet};

use super::{Assignments, MemberSubscription, empty_assignments, partitions_of};

pub(super) fn assign(members: &[&MemberSubscription], counts: &BTreeMap<String, i32>) -> Assignments {
    let mut out = empty_assignments(members);
    let topics: BTreeSet<&str> = members
        .iter()
        .flat_map(|m| m.topics.iter().map(String::as_str))
        .collect();
    let mut cursor = 0usize;
    for topic in topics {
        for tp in partitions_of(topic, counts) {
            // Some member subscribes to `topic`, so this finds one within a full circle.
            for step in 0..members.len() {
                let i = (cursor + step) % members.len();
                let Some(m) = members.get(i) else { continue };
                if m.topics.contains(topic) {
                    if let Some(set) = out.get_mut(&m.member_id) {
                        set.insert(tp.clone());
                    }
                    cursor = i + 1;
                    break;
                }
            }
        }
    }
    out
}
