//! The `range` assignor: for each topic, the subscribed members in order get contiguous ranges;
//! the first `partitions % members` get one extra.

use std::collections::BTreeMap;

use super::{Assignments, MemberSubscription, empty_assignments, partitions_of};

pub(super) fn assign(members: &[&MemberSubscription], counts: &BTreeMap<String, i32>) -> Assignments {
    let mut out = empty_assignments(members);
    let mut by_topic: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for m in members {
        for t in &m.topics {
            by_topic.entry(t.as_str()).or_default().push(m.member_id.as_str());
        }
    }
    for (topic, subscribers) in by_topic {
        let partitions: Vec<_> = partitions_of(topic, counts).collect();
        let per = partitions.len() / subscribers.len();
        let extra = partitions.len() % subscribers.len();
        let mut rest = partitions.into_iter();
        for (i, member) in subscribers.iter().enumerate() {
            let take = per + usize::from(i < extra);
            if let Some(set) = out.get_mut(*member) {
                set.extend(rest.by_ref().take(take));
            }
        }
    }
    out
}
