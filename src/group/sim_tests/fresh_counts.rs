//! The leader assigns from partition counts fetched after it joined: counts it knew before the
//! join do not do, until the wait for fresh ones times out.

use super::*;

fn rejoin_as_leader(sim: &mut Sim, generation: i32) {
    // A rebalance: the member rejoins and leads again.
    sim.m
        .handle_commit_error(KafkaCode::REBALANCE_IN_PROGRESS, sim.now);
    sim.take_events();
    sim.m.handle_revoke_done(sim.now);
    let (s, req) = sim.one();
    let Req::Join(j) = req else { panic!("{req:?}") };
    let member = j.member_id.to_string();
    let metadata = j.protocols[0].metadata.clone();
    sim.reply(
        &s,
        join_ok(
            generation,
            &member,
            &member,
            "range",
            &[(member.as_str(), metadata)],
        ),
    );
}

#[test]
fn a_leader_waits_for_counts_fetched_after_its_join() {
    let mut sim = Sim::new(config(), LATEST);
    sim.subscribe(&["t"]);
    join_alone(&mut sim, &["t"], &[("t", 2)], 1);
    assert!(!sim.m.wants_partition_counts());
    rejoin_as_leader(&mut sim, 2);
    assert!(
        sim.m.wants_partition_counts(),
        "the engine is asked for fresh metadata"
    );
    assert!(
        sim.poll().is_empty(),
        "the counts known before the join do not do"
    );
    sim.counts(&[("t", 3)]);
    assert!(!sim.m.wants_partition_counts());
    let (_, req) = sim.one();
    let Req::Sync(sync) = req else { panic!("{req:?}") };
    let a = Assignment::decode(sync.assignments[0].assignment.clone()).unwrap();
    assert_eq!(
        a.partitions[0].partitions,
        vec![0, 1, 2],
        "assigned from the fresh count"
    );
}

#[test]
fn without_fresh_counts_the_leader_assigns_from_what_it_knows_at_the_deadline() {
    let mut sim = Sim::new(config(), LATEST);
    sim.subscribe(&["t"]);
    join_alone(&mut sim, &["t"], &[("t", 2)], 1);
    rejoin_as_leader(&mut sim, 2);
    assert!(sim.poll().is_empty());
    // Counts were known: fresh ones are waited for 1 s at most (a quarter of the rebalance
    // timeout if that is shorter), well before the coordinator gives up on the sync.
    assert!(
        sim.advance(Duration::from_millis(999))
            .iter()
            .all(|(_, r)| !matches!(r, Req::Sync(_)))
    );
    let sent = sim.advance(Duration::from_millis(1));
    let Some((_, Req::Sync(sync))) = sent.into_iter().find(|(_, r)| matches!(r, Req::Sync(_))) else {
        panic!("no SyncGroup at the deadline")
    };
    let a = Assignment::decode(sync.assignments[0].assignment.clone()).unwrap();
    assert_eq!(a.partitions[0].partitions, vec![0, 1]);
}
