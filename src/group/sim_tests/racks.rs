//! Rack-aware assignment (KIP-881) through the leader: members' racks from their subscriptions,
//! replicas' racks from metadata, and a rejoin when the replicas' racks change.

use super::*;

fn subscription(rack: Option<&str>) -> Bytes {
    crate::wire::Subscription {
        version: 3,
        topics: vec!["t".into()],
        user_data: None,
        owned_partitions: vec![],
        generation_id: -1,
        rack_id: rack.map(Into::into),
    }
    .encode()
    .unwrap()
}

/// Leads a group of `m-a` (us, in rack `ours`) and `m-b` (in rack `other`) on `t` (4 partitions,
/// with replicas in rack-b, rack-a, rack-b, rack-a); returns the sim (stable) and m-b's assignment.
fn lead(ours: Option<&str>, other: Option<&str>) -> (Sim, Vec<i32>) {
    let mut c = config();
    c.client_rack = ours.map(Into::into);
    let mut sim = Sim::new(c, LATEST);
    sim.subscribe(&["t"]);
    let (s, _) = sim.one();
    sim.reply(&s, find_ok(4, 1));
    let (s, req) = sim.one();
    let Req::Join(j) = req else { panic!("{req:?}") };
    let ours_sub = j.protocols[0].metadata.clone();
    assert_eq!(
        crate::wire::Subscription::decode(ours_sub.clone())
            .unwrap()
            .rack_id
            .as_deref(),
        ours
    );
    let ours = ours_sub;
    sim.reply(
        &s,
        join_ok(
            5,
            "m-a",
            "m-a",
            "range",
            &[("m-a", ours), ("m-b", subscription(other))],
        ),
    );
    sim.counts_and_racks(&[("t", 4)], &RACKS);
    let (s, req) = sim.one();
    let Req::Sync(sync) = req else { panic!("{req:?}") };
    let of = |member: &str| -> Vec<i32> {
        let a = sync
            .assignments
            .iter()
            .find(|a| a.member_id.as_str() == member)
            .unwrap();
        let a = Assignment::decode(a.assignment.clone()).unwrap();
        a.partitions.iter().flat_map(|tp| tp.partitions.clone()).collect()
    };
    let (ours, theirs) = (of("m-a"), of("m-b"));
    let ours_bytes = sync
        .assignments
        .iter()
        .find(|a| a.member_id.as_str() == "m-a")
        .unwrap()
        .assignment
        .clone();
    sim.reply(&s, sync_ok(ours_bytes));
    let events = sim.take_events();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, GroupEvent::Assigned(p) if p.len() == ours.len())),
        "{events:?}"
    );
    (sim, theirs)
}

const RACKS: [((&str, i32), &str); 4] = [
    (("t", 0), "rack-b"),
    (("t", 1), "rack-a"),
    (("t", 2), "rack-b"),
    (("t", 3), "rack-a"),
];

#[test]
fn the_leader_gives_each_member_the_partitions_of_its_rack() {
    let (_, theirs) = lead(Some("rack-a"), Some("rack-b"));
    assert_eq!(theirs, [0, 2], "rack-b's partitions, not the plain range 2..4");
    // A member without a rack takes what is left after those with racks took theirs.
    let (_, theirs) = lead(Some("rack-a"), None);
    assert_eq!(theirs, [0, 2]);
    // As in Kafka's RangeAssignor, a member without a rack matches every partition in the rack
    // pass, so m-a (first in order) takes its range first and m-b gets rack-a's 3 and then 2.
    let (_, theirs) = lead(None, Some("rack-a"));
    assert_eq!(theirs, [2, 3]);
    let (_, theirs) = lead(None, None);
    assert_eq!(theirs, [2, 3], "no member racks: the plain range");
}

#[test]
fn a_change_of_replica_racks_rejoins_a_leader_of_members_with_racks() {
    let (mut sim, _) = lead(Some("rack-a"), Some("rack-b"));
    sim.counts_and_racks(&[("t", 4)], &RACKS);
    assert!(sim.take_events().is_empty(), "same racks: nothing to do");
    let moved = [RACKS[0], RACKS[1], RACKS[2], (("t", 3), "rack-b")];
    sim.counts_and_racks(&[("t", 4)], &moved);
    assert!(
        matches!(sim.take_events().as_slice(), [GroupEvent::Revoke(_)]),
        "the leader rejoins so the assignment follows the racks"
    );
}

#[test]
fn replica_racks_do_not_matter_without_member_racks() {
    let (mut sim, _) = lead(None, None);
    let moved = [RACKS[0], RACKS[1], RACKS[2], (("t", 3), "rack-b")];
    sim.counts_and_racks(&[("t", 4)], &moved);
    assert!(sim.take_events().is_empty(), "no member has a rack: no rejoin");
}
