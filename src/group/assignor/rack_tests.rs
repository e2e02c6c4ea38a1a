//! Rack-aware assignment (KIP-881), checked against the cases of Kafka's own assignor tests
//! (`RangeAssignorTest`, `AbstractStickyAssignorTest`) on their broker and replica layout.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::*;

const RACKS: [&str; 6] = ["a", "b", "c", "d", "e", "f"];

/// Kafka's test layout: broker `i` is in `broker_racks[i]`; partition `i` of a topic has its
/// replicas on brokers `(i + j + first) % brokers` for `j < rf`, where `first` counts the
/// partitions of the topics before it (in the order given).
fn layout(topics: &[(&str, i32)], rf: usize, broker_racks: &[Option<&str>]) -> PartitionRacks {
    let mut out = PartitionRacks::new();
    let mut first = 0usize;
    for (topic, n) in topics {
        for i in 0..*n as usize {
            let racks: BTreeSet<String> = (0..rf)
                .filter_map(|j| broker_racks[(i + j + first) % broker_racks.len()])
                .map(str::to_owned)
                .collect();
            if !racks.is_empty() {
                out.insert(TopicPartition::new(*topic, i as i32), racks);
            }
        }
        first += *n as usize;
    }
    out
}

fn racks(n: usize) -> Vec<Option<&'static str>> {
    RACKS.iter().take(n).map(|r| Some(*r)).collect()
}

fn members(topics: &[&[&str]], racks: &[Option<&str>]) -> Vec<MemberSubscription> {
    topics
        .iter()
        .zip(racks)
        .enumerate()
        .map(|(i, (t, r))| MemberSubscription {
            member_id: format!("consumer{i}"),
            topics: t.iter().map(|t| t.to_string()).collect(),
            generation: -1,
            rack: r.map(str::to_owned),
            ..Default::default()
        })
        .collect()
}

/// `"t1-0, t1-3"` as a set.
fn parse(s: &str) -> BTreeSet<TopicPartition> {
    s.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            let (t, p) = s.rsplit_once('-').unwrap();
            TopicPartition::new(t, p.parse().unwrap())
        })
        .collect()
}

fn counts(c: &[(&str, i32)]) -> BTreeMap<String, i32> {
    c.iter().map(|(t, n)| (t.to_string(), *n)).collect()
}

/// Partitions assigned to a member with a rack that holds none of their replicas.
fn mismatched(members: &[MemberSubscription], racks: &PartitionRacks, out: &Assignments) -> usize {
    members
        .iter()
        .filter_map(|m| m.rack.as_ref().map(|r| (m, r)))
        .map(|(m, r)| {
            out[&m.member_id]
                .iter()
                .filter(|tp| !racks.get(*tp).is_some_and(|s| s.contains(r)))
                .count()
        })
        .sum()
}

fn check_range(
    topics: &[(&str, i32)],
    subscriptions: &[&[&str]],
    rf: usize,
    broker_racks: &[Option<&str>],
    member_racks: &[Option<&str>],
    expected: &[&str],
    expected_mismatched: usize,
) {
    let racks = layout(topics, rf, broker_racks);
    let members = members(subscriptions, member_racks);
    let out = AssignorKind::Range.assign(&members, &counts(topics), &racks);
    for (i, want) in expected.iter().enumerate() {
        assert_eq!(out[&format!("consumer{i}")], parse(want), "consumer{i}, rf {rf}");
    }
    assert_eq!(mismatched(&members, &racks, &out), expected_mismatched, "rf {rf}");
}

const ALL: &[&str] = &["t1", "t2", "t3"];

#[test]
fn range_matches_kafka_with_uniform_subscriptions() {
    let topics = [("t1", 6), ("t2", 7), ("t3", 2)];
    let subs = [ALL, ALL, ALL];
    let plain = [
        "t1-0, t1-1, t2-0, t2-1, t2-2, t3-0",
        "t1-2, t1-3, t2-3, t2-4, t3-1",
        "t1-4, t1-5, t2-5, t2-6",
    ];
    // Without member racks, or with every partition on every rack, racks do not matter.
    check_range(&topics, &subs, 3, &racks(3), &[None, None, None], &plain, 0);
    check_range(&topics, &subs, 3, &racks(3), &racks(3), &plain, 0);
    check_range(
        &topics,
        &subs,
        1,
        &racks(3),
        &racks(3),
        &[
            "t1-0, t1-3, t2-0, t2-3, t2-6",
            "t1-1, t1-4, t2-1, t2-4, t3-0",
            "t1-2, t1-5, t2-2, t2-5, t3-1",
        ],
        0,
    );
    check_range(
        &topics,
        &subs,
        2,
        &racks(3),
        &racks(3),
        &[
            "t1-0, t1-2, t2-0, t2-2, t2-3, t3-1",
            "t1-1, t1-3, t2-1, t2-4, t3-0",
            "t1-4, t1-5, t2-5, t2-6",
        ],
        1,
    );
    // One member in a rack with no replicas.
    check_range(&topics, &subs, 3, &racks(2), &racks(3), &plain, 4);
}

#[test]
fn range_matches_kafka_with_unequal_subscriptions() {
    let topics = [("t1", 6), ("t2", 7), ("t3", 2)];
    let subs: [&[&str]; 3] = [ALL, ALL, &["t1", "t3"]];
    check_range(
        &topics,
        &subs,
        1,
        &racks(3),
        &racks(3),
        &[
            "t1-0, t1-3, t2-0, t2-2, t2-3, t2-6",
            "t1-1, t1-4, t2-1, t2-4, t2-5, t3-0",
            "t1-2, t1-5, t3-1",
        ],
        2,
    );
    check_range(
        &topics,
        &subs,
        2,
        &racks(3),
        &racks(3),
        &[
            "t1-0, t1-2, t2-0, t2-2, t2-3, t2-5, t3-1",
            "t1-1, t1-3, t2-1, t2-4, t2-6, t3-0",
            "t1-4, t1-5",
        ],
        0,
    );
    check_range(
        &topics,
        &subs,
        3,
        &racks(2),
        &racks(3),
        &[
            "t1-0, t1-1, t2-0, t2-1, t2-2, t2-3, t3-0",
            "t1-2, t1-3, t2-4, t2-5, t2-6, t3-1",
            "t1-4, t1-5",
        ],
        2,
    );
}

#[test]
fn range_keeps_co_partitioned_topics_together_before_racks() {
    let topics = [("t1", 5), ("t2", 5), ("t3", 5)];
    let plain = [
        "t1-0, t1-1, t2-0, t2-1, t3-0, t3-1",
        "t1-2, t1-3, t2-2, t2-3, t3-2, t3-3",
        "t1-4, t2-4, t3-4",
    ];
    let subs = [ALL, ALL, ALL];
    check_range(&topics, &subs, 1, &racks(3), &racks(3), &plain, 10);
    check_range(&topics, &subs, 2, &racks(3), &racks(3), &plain, 5);
    check_range(&topics, &subs, 3, &racks(2), &racks(3), &plain, 3);

    let subs: [&[&str]; 3] = [ALL, ALL, &["t1", "t3"]];
    check_range(
        &topics,
        &subs,
        1,
        &racks(3),
        &racks(3),
        &[
            "t1-0, t1-1, t2-0, t2-1, t2-4, t3-0, t3-1",
            "t1-2, t1-3, t2-2, t2-3, t3-2, t3-3",
            "t1-4, t3-4",
        ],
        9,
    );
    check_range(
        &topics,
        &subs,
        2,
        &racks(3),
        &racks(3),
        &[
            "t1-2, t2-0, t2-1, t2-3, t3-2",
            "t1-0, t1-3, t2-2, t2-4, t3-0, t3-3",
            "t1-1, t1-4, t3-1, t3-4",
        ],
        0,
    );
}

#[test]
fn roundrobin_ignores_racks() {
    let topics = [("t1", 6), ("t2", 7), ("t3", 2)];
    let racks = layout(&topics, 1, &self::racks(3));
    let m = members(&[ALL, ALL, ALL], &self::racks(3));
    let with = AssignorKind::RoundRobin.assign(&m, &counts(&topics), &racks);
    let without = AssignorKind::RoundRobin.assign(&m, &counts(&topics), &PartitionRacks::new());
    assert_eq!(with, without);
}

#[test]
fn cooperative_sticky_aligns_racks_and_moves_misaligned_owned_partitions() {
    let topics = [("t1", 6), ("t2", 7), ("t3", 2)];
    let c = counts(&topics);
    let aligned = [
        "t1-0, t1-3, t2-0, t2-3, t2-6",
        "t1-1, t1-4, t2-1, t2-4, t3-0",
        "t1-2, t1-5, t2-2, t2-5, t3-1",
    ];
    for rf in [1, 2] {
        let racks = layout(&topics, rf, &self::racks(3));
        let m = members(&[ALL, ALL, ALL], &self::racks(3));
        let out = AssignorKind::CooperativeSticky.assign(&m, &c, &racks);
        assert_eq!(mismatched(&m, &racks, &out), 0, "rf {rf}");
        if rf == 1 {
            for (i, want) in aligned.iter().enumerate() {
                assert_eq!(out[&format!("consumer{i}")], parse(want));
            }
        }
    }

    // Kafka's case: owned partitions out of their owner's rack move (in two phases), those in
    // it stay.
    let racks = layout(&topics, 1, &self::racks(3));
    let mut m = members(&[ALL, ALL, ALL], &self::racks(3));
    let owned = [
        "t1-0, t1-1, t1-2, t1-3, t1-4",
        "t1-5, t2-0, t2-1, t2-2, t2-3",
        "t2-4, t2-5, t2-6, t3-0, t3-1",
    ];
    for (s, o) in m.iter_mut().zip(owned) {
        s.owned = parse(o);
        s.generation = 3;
    }
    let first = AssignorKind::CooperativeSticky.assign(&m, &c, &racks);
    assert_eq!(first["consumer0"], parse("t1-0, t1-3"));
    assert_eq!(first["consumer1"], parse("t2-1"));
    assert_eq!(first["consumer2"], parse("t2-5, t3-1"));
    for s in &mut m {
        s.owned = first[&s.member_id].clone();
        s.generation = 4;
    }
    let second = AssignorKind::CooperativeSticky.assign(&m, &c, &racks);
    for (i, want) in aligned.iter().enumerate() {
        assert_eq!(second[&format!("consumer{i}")], parse(want));
    }

    // A member in a rack with no replicas still gets its share (balance before racks).
    let racks3 = layout(&topics, 3, &self::racks(2));
    let m = members(&[ALL, ALL, ALL], &self::racks(3));
    let out = AssignorKind::CooperativeSticky.assign(&m, &c, &racks3);
    assert!(out.values().all(|s| s.len() == 5), "{out:?}");
    assert_eq!(out["consumer2"].len(), 5);
}

proptest! {
    /// With racks, cooperative-sticky stays as balanced as without, gives every partition out,
    /// and when each rack holds as many replicas-only-there partitions as its members can take,
    /// leaves no partition outside its member's rack.
    #[test]
    fn cooperative_sticky_with_racks_is_balanced_and_aligned_when_it_can_be(
        per_rack in proptest::collection::vec(1usize..4, 1..4),
        partitions_per_member in 1usize..5,
        rounds in 1usize..4,
    ) {
        // Rack r has per_rack[r] members and per_rack[r] * partitions_per_member partitions,
        // each with its only replica in rack r.
        let mut m = Vec::new();
        let mut racks = PartitionRacks::new();
        let mut p = 0;
        for (r, &n) in per_rack.iter().enumerate() {
            for i in 0..n {
                m.push(MemberSubscription {
                    member_id: format!("m{r}-{i}"),
                    topics: ["t".to_owned()].into(),
                    generation: -1,
                    rack: Some(RACKS[r].to_owned()),
                    ..Default::default()
                });
            }
            for _ in 0..n * partitions_per_member {
                racks.insert(TopicPartition::new("t", p), [RACKS[r].to_owned()].into());
                p += 1;
            }
        }
        let c = counts(&[("t", p)]);
        let mut out = AssignorKind::CooperativeSticky.assign(&m, &c, &racks);
        for round in 0..rounds {
            for s in &mut m {
                s.owned = out[&s.member_id].clone();
                s.generation = round as i32;
            }
            out = AssignorKind::CooperativeSticky.assign(&m, &c, &racks);
        }
        let total: usize = out.values().map(BTreeSet::len).sum();
        prop_assert_eq!(total, p as usize);
        prop_assert!(out.values().all(|s| s.len() == partitions_per_member), "{:?}", out);
        prop_assert_eq!(mismatched(&m, &racks, &out), 0);
    }
}
