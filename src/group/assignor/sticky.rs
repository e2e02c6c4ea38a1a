//! The `cooperative-sticky` assignor.
//!
//! 1. Each partition stays with the member that owns it (at the highest generation claimed for it)
//!    while that member is still subscribed and under the balanced quota.
//! 2. Unowned partitions go to the least-loaded subscribed member.
//! 3. While some member has at least two more partitions than another member that could take one of
//!    them, one partition moves (newly placed ones before kept ones). Each move lowers the sum of
//!    squared loads, so this ends.
//! 4. KIP-429: a partition that ends up with a member other than the one that still owns it is
//!    withheld from everyone this generation. Its owner sees it missing, revokes it and rejoins;
//!    the next rebalance gives it to its new owner. Partitions that do not move are never revoked.
//!
//! Rack aware as Kafka's sticky assignors (KIP-881): where members and replicas have racks, a
//! member keeps an owned partition only if a replica is in its rack; unowned partitions go to a
//! least-loaded member of a replica's rack while under quota (those with the fewest such members
//! first), and balancing moves partitions to members of their racks where it can.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

use super::racks::Racks;
use super::{Assignments, MemberSubscription, PartitionRacks, empty_assignments, partitions_of};
use crate::types::TopicPartition;

pub(super) fn assign(
    members: &[&MemberSubscription],
    counts: &BTreeMap<String, i32>,
    racks: &PartitionRacks,
) -> Assignments {
    let mut out = empty_assignments(members);
    let n = members.len();
    let eligible =
        |m: usize, tp: &TopicPartition| members.get(m).is_some_and(|s| s.topics.contains(&*tp.topic));

    let topics: BTreeSet<&str> = members
        .iter()
        .flat_map(|m| m.topics.iter().map(String::as_str))
        .collect();
    let all: BTreeSet<TopicPartition> = topics.iter().flat_map(|t| partitions_of(t, counts)).collect();
    let racks = Racks::new(members, |_| true, &all, racks);

    // Current owners of each partition: the claimants at the highest generation claimed for it.
    let mut claims: BTreeMap<&TopicPartition, (i32, Vec<usize>)> = BTreeMap::new();
    for (i, m) in members.iter().enumerate() {
        for tp in &m.owned {
            let entry = claims.entry(tp).or_insert((m.generation, vec![]));
            if m.generation > entry.0 {
                *entry = (m.generation, vec![i]);
            } else if m.generation == entry.0 {
                entry.1.push(i);
            }
        }
    }

    let active = members
        .iter()
        .filter(|m| m.topics.iter().any(|t| counts.get(t).is_some_and(|&c| c > 0)))
        .count();
    let max_quota = if active == 0 {
        0
    } else {
        all.len().div_ceil(active)
    };

    let mut owner: BTreeMap<TopicPartition, usize> = BTreeMap::new();
    let mut load = vec![0usize; n];
    for (tp, (_, claimants)) in &claims {
        if !all.contains(*tp) {
            continue;
        }
        let keeper = claimants.iter().copied().find(|&m| {
            eligible(m, tp) && racks.matches(m, tp) && load.get(m).is_some_and(|&l| l < max_quota)
        });
        if let Some(m) = keeper {
            owner.insert((*tp).clone(), m);
            bump(&mut load, m, true);
        }
    }

    // Partitions with the fewest same-rack members first, so they get one (all ties without racks).
    let mut unowned: Vec<&TopicPartition> = all.iter().filter(|tp| !owner.contains_key(*tp)).collect();
    if racks.on() {
        unowned.sort_by_key(|tp| {
            (0..n)
                .filter(|&m| eligible(m, tp) && racks.same_rack(m, tp))
                .count()
        });
    }
    for tp in unowned {
        let best = (0..n).filter(|&m| eligible(m, tp)).min_by_key(|&m| {
            let l = load.get(m).copied().unwrap_or(usize::MAX);
            (!(racks.same_rack(m, tp) && l < max_quota), l, m)
        });
        if let Some(m) = best {
            owner.insert(tp.clone(), m);
            bump(&mut load, m, true);
        }
    }

    let kept_by = |m: usize, tp: &TopicPartition| members.get(m).is_some_and(|s| s.owned.contains(tp));
    loop {
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by_key(|&m| (Reverse(load.get(m).copied().unwrap_or(0)), m));
        let mut step = None;
        'search: for &a in &order {
            let load_a = load.get(a).copied().unwrap_or(0);
            let mut mine: Vec<&TopicPartition> =
                owner.iter().filter(|&(_, &o)| o == a).map(|(tp, _)| tp).collect();
            // Give away partitions outside its rack first, then newly placed before kept ones; to
            // a member of the partition's rack where one can take it.
            mine.sort_by_key(|tp| (racks.same_rack(a, tp), kept_by(a, tp), Reverse(*tp)));
            let mut fallback = None;
            for tp in mine {
                let target = (0..n)
                    .filter(|&b| b != a && eligible(b, tp) && load.get(b).is_some_and(|&l| l + 1 < load_a))
                    .min_by_key(|&b| {
                        (
                            !racks.matches(b, tp),
                            load.get(b).copied().unwrap_or(usize::MAX),
                            b,
                        )
                    });
                match target {
                    Some(b) if racks.matches(b, tp) || !racks.on() => {
                        step = Some((tp.clone(), a, b));
                        break 'search;
                    }
                    Some(b) => {
                        fallback.get_or_insert((tp.clone(), a, b));
                    }
                    None => {}
                }
            }
            if fallback.is_some() {
                step = fallback;
                break 'search;
            }
        }
        let Some((tp, a, b)) = step else { break };
        owner.insert(tp, b);
        bump(&mut load, a, false);
        bump(&mut load, b, true);
    }

    for (tp, m) in owner {
        let owned_elsewhere = claims
            .get(&tp)
            .is_some_and(|(_, claimants)| claimants.iter().any(|&c| c != m));
        if owned_elsewhere {
            continue;
        }
        if let Some(set) = members.get(m).and_then(|s| out.get_mut(&s.member_id)) {
            set.insert(tp);
        }
    }
    out
}

fn bump(load: &mut [usize], m: usize, up: bool) {
    if let Some(l) = load.get_mut(m) {
        *l = if up { *l + 1 } else { l.saturating_sub(1) };
    }
}
