use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::*;

fn member(id: &str, topics: &[&str]) -> MemberSubscription {
    MemberSubscription {
        member_id: id.into(),
        topics: topics.iter().map(|t| t.to_string()).collect(),
        generation: -1,
        ..Default::default()
    }
}

fn counts(c: &[(&str, i32)]) -> BTreeMap<String, i32> {
    c.iter().map(|(t, n)| (t.to_string(), *n)).collect()
}

fn tps(list: &[(&str, i32)]) -> BTreeSet<TopicPartition> {
    list.iter().map(|(t, p)| TopicPartition::new(*t, *p)).collect()
}

#[test]
fn names_match_kafka_and_librdkafka() {
    for kind in [
        AssignorKind::Range,
        AssignorKind::RoundRobin,
        AssignorKind::CooperativeSticky,
    ] {
        assert_eq!(AssignorKind::from_name(kind.name()), Some(kind));
    }
    assert_eq!(AssignorKind::CooperativeSticky.name(), "cooperative-sticky");
    assert_eq!(AssignorKind::from_name("sticky"), None);
}

#[test]
fn range_gives_contiguous_ranges_per_topic() {
    // Kafka's RangeAssignor example: t0, t1 with 3 partitions each, two members.
    let members = [member("c0", &["t0", "t1"]), member("c1", &["t0", "t1"])];
    let out = AssignorKind::Range.assign(&members, &counts(&[("t0", 3), ("t1", 3)]), &PartitionRacks::new());
    assert_eq!(out["c0"], tps(&[("t0", 0), ("t0", 1), ("t1", 0), ("t1", 1)]));
    assert_eq!(out["c1"], tps(&[("t0", 2), ("t1", 2)]));
}

#[test]
fn roundrobin_deals_all_partitions_in_order() {
    let members = [member("c0", &["t0", "t1"]), member("c1", &["t0", "t1"])];
    let out =
        AssignorKind::RoundRobin.assign(&members, &counts(&[("t0", 3), ("t1", 3)]), &PartitionRacks::new());
    assert_eq!(out["c0"], tps(&[("t0", 0), ("t0", 2), ("t1", 1)]));
    assert_eq!(out["c1"], tps(&[("t0", 1), ("t1", 0), ("t1", 2)]));
    // Members not subscribed to a topic are skipped.
    let members = [
        member("a", &["t0"]),
        member("b", &["t0", "t1"]),
        member("c", &["t0", "t1", "t2"]),
    ];
    let out = AssignorKind::RoundRobin.assign(
        &members,
        &counts(&[("t0", 1), ("t1", 2), ("t2", 3)]),
        &PartitionRacks::new(),
    );
    assert_eq!(out["a"], tps(&[("t0", 0)]));
    assert_eq!(out["b"], tps(&[("t1", 0)]));
    assert_eq!(out["c"], tps(&[("t1", 1), ("t2", 0), ("t2", 1), ("t2", 2)]));
}

#[test]
fn static_members_sort_by_instance_id() {
    let mut a = member("zzz", &["t"]);
    a.group_instance_id = Some("instance-a".into());
    let b = member("aaa", &["t"]);
    let out = AssignorKind::Range.assign(&[b, a], &counts(&[("t", 3)]), &PartitionRacks::new());
    assert_eq!(out["zzz"], tps(&[("t", 0), ("t", 1)]));
    assert_eq!(out["aaa"], tps(&[("t", 2)]));
}

#[test]
fn cooperative_sticky_moves_only_what_balance_needs_in_two_phases() {
    let mut a = member("a", &["t"]);
    a.owned = tps(&[("t", 0), ("t", 1), ("t", 2), ("t", 3)]);
    a.generation = 5;
    let b = member("b", &["t"]);
    let c = counts(&[("t", 4)]);
    let out = AssignorKind::CooperativeSticky.assign(&[a.clone(), b.clone()], &c, &PartitionRacks::new());
    // Two partitions move to b, but b does not get them while a still owns them.
    assert_eq!(out["a"].len(), 2);
    assert!(out["b"].is_empty(), "{out:?}");
    // a revoked the two; next generation b gets them and a keeps its two.
    a.owned = out["a"].clone();
    a.generation = 6;
    let out2 = AssignorKind::CooperativeSticky.assign(&[a.clone(), b], &c, &PartitionRacks::new());
    assert_eq!(out2["a"], out["a"]);
    assert_eq!(out2["b"].len(), 2);
    assert!(out2["b"].is_disjoint(&out2["a"]));
}

#[test]
fn cooperative_sticky_prefers_the_newest_generation_claim() {
    let mut stale = member("a", &["t"]);
    stale.owned = tps(&[("t", 0)]);
    stale.generation = 3;
    let mut current = member("b", &["t"]);
    current.owned = tps(&[("t", 0)]);
    current.generation = 4;
    let out = AssignorKind::CooperativeSticky.assign(
        &[stale, current],
        &counts(&[("t", 2)]),
        &PartitionRacks::new(),
    );
    assert_eq!(out["b"], tps(&[("t", 0)]));
    assert_eq!(out["a"], tps(&[("t", 1)]));
}

fn arb_members() -> impl Strategy<Value = (Vec<MemberSubscription>, BTreeMap<String, i32>)> {
    let topics = ["t0", "t1", "t2", "t3"];
    (
        proptest::collection::vec(0i32..12, 4),
        proptest::collection::vec((proptest::bits::u8::between(0, 4), any::<bool>()), 1..7),
    )
        .prop_map(move |(partition_counts, specs)| {
            let c: BTreeMap<String, i32> = topics
                .iter()
                .zip(&partition_counts)
                .map(|(t, n)| (t.to_string(), *n))
                .collect();
            let members = specs
                .iter()
                .enumerate()
                .map(|(i, (mask, is_static))| {
                    let mut subscribed: BTreeSet<String> = topics
                        .iter()
                        .enumerate()
                        .filter(|(bit, _)| mask & (1 << bit) != 0)
                        .map(|(_, t)| t.to_string())
                        .collect();
                    if subscribed.is_empty() {
                        subscribed.insert("t0".into());
                    }
                    MemberSubscription {
                        member_id: format!("m{i}"),
                        group_instance_id: is_static.then(|| format!("i{}", 9 - i)),
                        topics: subscribed,
                        owned: BTreeSet::new(),
                        generation: -1,
                        rack: None,
                    }
                })
                .collect();
            (members, c)
        })
}

fn all_partitions(members: &[MemberSubscription], c: &BTreeMap<String, i32>) -> BTreeSet<TopicPartition> {
    let topics: BTreeSet<&String> = members.iter().flat_map(|m| &m.topics).collect();
    topics
        .into_iter()
        .flat_map(|t| (0..c[t]).map(move |p| TopicPartition::new(t.as_str(), p)))
        .collect()
}

/// Every partition at most once, only to a member subscribed to its topic, only if it exists.
fn check_valid(members: &[MemberSubscription], c: &BTreeMap<String, i32>, out: &Assignments) {
    assert_eq!(out.len(), members.len());
    let mut seen = BTreeSet::new();
    for m in members {
        for tp in &out[&m.member_id] {
            assert!(
                m.topics.contains(&*tp.topic),
                "{tp} given to unsubscribed {}",
                m.member_id
            );
            assert!(tp.partition < c[&*tp.topic]);
            assert!(seen.insert(tp.clone()), "{tp} assigned twice");
        }
    }
}

fn spread(members: &[MemberSubscription], out: &Assignments) -> usize {
    let loads: Vec<usize> = members.iter().map(|m| out[&m.member_id].len()).collect();
    loads.iter().max().unwrap_or(&0) - loads.iter().min().unwrap_or(&0)
}

proptest! {
    #[test]
    fn eager_assignors_assign_everything_once((members, c) in arb_members()) {
        for kind in [AssignorKind::Range, AssignorKind::RoundRobin] {
            let out = kind.assign(&members, &c, &PartitionRacks::new());
            check_valid(&members, &c, &out);
            let assigned: BTreeSet<_> = out.values().flatten().cloned().collect();
            prop_assert_eq!(&assigned, &all_partitions(&members, &c));
            prop_assert_eq!(kind.assign(&members, &c, &PartitionRacks::new()), out, "deterministic");
        }
    }

    #[test]
    fn identical_subscriptions_are_balanced((mut members, c) in arb_members()) {
        for m in &mut members {
            m.topics = ["t0", "t1"].iter().map(|t| t.to_string()).collect();
        }
        let rr = AssignorKind::RoundRobin.assign(&members, &c, &PartitionRacks::new());
        prop_assert!(spread(&members, &rr) <= 1);
        let sticky = AssignorKind::CooperativeSticky.assign(&members, &c, &PartitionRacks::new());
        prop_assert!(spread(&members, &sticky) <= 1);
        let range = AssignorKind::Range.assign(&members, &c, &PartitionRacks::new());
        for topic in ["t0", "t1"] {
            let per: Vec<usize> = members.iter().map(|m| range[&m.member_id].iter().filter(|tp| &*tp.topic == topic).count()).collect();
            prop_assert!(per.iter().max().unwrap() - per.iter().min().unwrap() <= 1);
        }
    }

    /// Members that own partitions from a previous round: validity, stickiness, and KIP-429 (no
    /// partition goes to a member while another member still owns it).
    #[test]
    fn cooperative_sticky_is_valid_sticky_and_two_phase(
        (mut members, c) in arb_members(),
        seed in any::<u64>(),
        removed in 0usize..3,
    ) {
        // A previous assignment among a possibly different set of members.
        let previous = AssignorKind::RoundRobin.assign(&members, &c, &PartitionRacks::new());
        for (i, m) in members.iter_mut().enumerate() {
            m.owned = previous[&m.member_id].clone();
            m.generation = 7;
            // Some members changed subscription since.
            if (seed >> i) & 1 == 1 {
                m.topics.insert("t3".into());
            }
        }
        let keep = members.len().saturating_sub(removed).max(1);
        members.truncate(keep);
        members.push(MemberSubscription { member_id: "new".into(), topics: ["t0".into(), "t3".into()].into(), ..Default::default() });

        let out = AssignorKind::CooperativeSticky.assign(&members, &c, &PartitionRacks::new());
        check_valid(&members, &c, &out);
        for m in &members {
            for tp in &out[&m.member_id] {
                for other in &members {
                    prop_assert!(
                        other.member_id == m.member_id || !other.owned.contains(tp),
                        "{} given to {} while {} owns it", tp, m.member_id, other.member_id
                    );
                }
            }
        }
        // Sticky: with identical subscriptions, nobody loses owned partitions below its fair share.
        if members.iter().all(|m| m.topics == members[0].topics) {
            let fair = all_partitions(&members, &c).len() / members.len();
            for m in &members {
                let kept = out[&m.member_id].intersection(&m.owned).count();
                prop_assert!(kept >= m.owned.len().min(fair), "{} kept {kept} of {}", m.member_id, m.owned.len());
            }
        }

        // Second phase: everyone revoked what it lost; the next round converges and completes.
        for m in &mut members {
            m.owned = m.owned.intersection(&out[&m.member_id]).cloned().collect::<BTreeSet<_>>();
            m.owned.extend(out[&m.member_id].iter().cloned());
            m.generation = 8;
        }
        let out2 = AssignorKind::CooperativeSticky.assign(&members, &c, &PartitionRacks::new());
        check_valid(&members, &c, &out2);
        let identical = members.iter().all(|m| m.topics == members[0].topics);
        if identical {
            for m in &members {
                // Nothing a member kept in phase one is taken away in phase two.
                prop_assert!(m.owned.is_subset(&out2[&m.member_id]), "{} lost partitions in phase two", m.member_id);
            }
            let assigned: BTreeSet<_> = out2.values().flatten().cloned().collect();
            prop_assert_eq!(assigned, all_partitions(&members, &c));
        } else {
            // Mixed subscriptions may take more rounds, but they converge to a full assignment.
            let mut out = out2;
            for round in 0..6 {
                for m in &mut members {
                    let kept: BTreeSet<_> = m.owned.intersection(&out[&m.member_id]).cloned().collect();
                    m.owned = kept;
                    m.owned.extend(out[&m.member_id].iter().cloned());
                    m.generation = 9 + round;
                }
                out = AssignorKind::CooperativeSticky.assign(&members, &c, &PartitionRacks::new());
                check_valid(&members, &c, &out);
            }
            let assigned: BTreeSet<_> = out.values().flatten().cloned().collect();
            prop_assert_eq!(assigned, all_partitions(&members, &c));
        }
    }
}

#[test]
fn cooperative_sticky_scales_to_large_groups() {
    let members: Vec<MemberSubscription> = (0..200)
        .map(|i| member(&format!("m{i:03}"), &["t0", "t1"]))
        .collect();
    let c = counts(&[("t0", 1000), ("t1", 1000)]);
    let start = std::time::Instant::now();
    let first = AssignorKind::CooperativeSticky.assign(&members, &c, &PartitionRacks::new());
    let mut next: Vec<MemberSubscription> = members
        .iter()
        .skip(1)
        .map(|m| MemberSubscription {
            owned: first[&m.member_id].clone(),
            generation: 1,
            ..m.clone()
        })
        .collect();
    next.push(member("new", &["t0", "t1"]));
    let second = AssignorKind::CooperativeSticky.assign(&next, &c, &PartitionRacks::new());
    let elapsed = start.elapsed();
    assert!(spread(&next, &second) <= 1);
    assert!(elapsed < std::time::Duration::from_secs(5), "{elapsed:?}");
    eprintln!("200 members x 2000 partitions twice: {elapsed:?}");
}
