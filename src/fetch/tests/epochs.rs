//! Leader epochs (KIP-320) in the fetch core: validation after a leader change and of committed
//! offsets, diverging epochs in fetch answers, truncation handled by the reset policy, errors.

use super::*;
use crate::sim::responses::epoch_end_response;

/// A validation request as `(id, broker, [(partition, current epoch, epoch asked)])`.
type Validation = (u64, NodeId, Vec<(i32, i32, i32)>);

fn validations(requests: &[FetchRequest]) -> Vec<Validation> {
    requests
        .iter()
        .filter_map(|r| match r {
            FetchRequest::OffsetForLeaderEpoch { id, node, body } => Some((
                *id,
                *node,
                body.partitions
                    .iter()
                    .map(|(tp, current, epoch)| (tp.partition, *current, *epoch))
                    .collect(),
            )),
            _ => None,
        })
        .collect()
}

/// The fetch due now, answered with records 0..5 of `t/0` (written in leader epoch 1).
fn answer_first_fetch(sim: &mut Sim) {
    let f = fetches(&sim.requests());
    let answer = fetched(KafkaCode::NONE, 5, Some(records(0, 5)));
    sim.core
        .handle_fetch(f[0].0, Ok(fetch_response(vec![(tp(0), answer)])), sim.now);
}

/// `t/0` at broker 1, read from 0 to 5 in leader epoch 1 (the batch's epoch).
fn read_to_five(sim: &mut Sim) {
    sim.leaders(1, |_| 1);
    sim.ready_at(1, 0);
    answer_first_fetch(sim);
    assert_eq!(sim.delivered(), vec![(tp(0), 0)]);
    let part = sim.core.partition(&tp(0)).unwrap();
    assert_eq!((part.position, part.offset_epoch), (5, 1));
}

/// The leader moves to broker 2 in epoch 2: the position is validated before any fetch.
fn leader_moves(sim: &mut Sim) -> u64 {
    sim.leaders_at(1, |_| 2, 2);
    let reqs = sim.requests();
    assert!(
        fetches(&reqs).is_empty(),
        "no fetch before the position is validated: {reqs:?}"
    );
    let v = validations(&reqs);
    assert_eq!(v.len(), 1, "{reqs:?}");
    assert_eq!(
        (v[0].1, &v[0].2),
        (2, &vec![(0, 2, 1)]),
        "to the new leader: its epoch, the epoch read"
    );
    v[0].0
}

fn epoch_end(sim: &mut Sim, id: u64, code: KafkaCode, epoch: i32, end: i64) {
    let response = epoch_end_response(&[(tp(0), code, epoch, end)]);
    sim.core.handle_offset_for_leader_epoch(id, Ok(response), sim.now);
}

fn diverged(sim: &mut Sim) -> bool {
    sim.take_events();
    let before = sim.events.len();
    sim.events
        .retain(|e| !matches!(e, FetchEvent::Diverged { tp: t } if *t == tp(0)));
    sim.events.len() < before
}

fn warned_of_truncation(sim: &mut Sim) -> bool {
    sim.take_events();
    sim.events
        .iter()
        .any(|e| matches!(e, FetchEvent::Warning(e) if e.to_string().contains("truncated at offset")))
}

#[test]
fn a_leader_change_validates_the_position_and_a_log_that_holds_it_fetches_on() {
    let mut sim = Sim::new(false);
    read_to_five(&mut sim);
    let id = leader_moves(&mut sim);
    // Epoch 1 ends at 9 in the new leader's log: everything read is there.
    epoch_end(&mut sim, id, KafkaCode::NONE, 1, 9);
    assert!(!diverged(&mut sim));
    let reqs = sim.requests();
    let FetchRequest::Fetch { node, body, .. } = &reqs[0] else {
        panic!("{reqs:?}")
    };
    let p = &body.partitions[0];
    assert_eq!(
        (
            *node,
            p.fetch_offset,
            p.current_leader_epoch,
            p.last_fetched_epoch
        ),
        (2, 5, 2, 1)
    );
}

#[test]
fn a_log_truncated_below_what_was_read_goes_on_from_the_divergence_point() {
    let mut sim = Sim::new(false);
    read_to_five(&mut sim);
    let id = leader_moves(&mut sim);
    epoch_end(&mut sim, id, KafkaCode::NONE, 1, 3);
    assert!(diverged(&mut sim));
    assert!(
        sim.requests().is_empty(),
        "nothing until the engine says where the application is"
    );
    // The application had read up to 5: records 3 and 4 are gone from the log.
    sim.core.handle_diverged(&tp(0), 5, sim.now);
    assert!(warned_of_truncation(&mut sim), "{:?}", sim.events);
    let f = fetches(&sim.requests());
    assert_eq!(f[0].2, vec![(0, 3)]);
    assert_eq!(sim.core.partition(&tp(0)).unwrap().offset_epoch, 1);
}

#[test]
fn records_fetched_but_not_read_when_the_log_diverges_are_fetched_again() {
    let mut sim = Sim::new(false);
    read_to_five(&mut sim);
    let id = leader_moves(&mut sim);
    epoch_end(&mut sim, id, KafkaCode::NONE, 1, 3);
    assert!(diverged(&mut sim));
    // The application had read only offsets 0 and 1: nothing it read was lost.
    sim.core.handle_diverged(&tp(0), 2, sim.now);
    assert!(!warned_of_truncation(&mut sim));
    let f = fetches(&sim.requests());
    assert_eq!(f[0].2, vec![(0, 2)]);
    // It reads 2..7 in epoch 1; the leader moves again (epoch 3) and epoch 1 now ends at 1.
    sim.core.handle_fetch(
        f[0].0,
        Ok(fetch_response(vec![(
            tp(0),
            fetched(KafkaCode::NONE, 7, Some(records(2, 5))),
        )])),
        sim.now,
    );
    sim.take_events();
    sim.events.clear();
    sim.leaders_at(1, |_| 2, 3);
    let v = validations(&sim.requests());
    assert_eq!(v[0].2, vec![(0, 3, 1)]);
    epoch_end(&mut sim, v[0].0, KafkaCode::NONE, 1, 1);
    assert!(diverged(&mut sim));
    // Nothing read since the position was set (-1): it counts from there (2), below which the
    // log now ends.
    sim.core.handle_diverged(&tp(0), -1, sim.now);
    assert!(warned_of_truncation(&mut sim));
    assert_eq!(fetches(&sim.requests())[0].2, vec![(0, 1)]);
}

#[test]
fn reset_policy_none_stops_a_truncated_partition_with_an_error_that_says_so() {
    let mut c = config(false);
    c.offset_reset = OffsetReset::None;
    c.start_at = Some(SeekTarget::Offset(0));
    let mut sim = Sim::with(c);
    sim.leaders(1, |_| 1);
    sim.core.assign(tp(0), sim.now);
    answer_first_fetch(&mut sim);
    let id = leader_moves(&mut sim);
    epoch_end(&mut sim, id, KafkaCode::NONE, 1, 3);
    assert!(diverged(&mut sim));
    sim.core.handle_diverged(&tp(0), 5, sim.now);
    sim.take_events();
    let failed = sim.events.iter().find_map(|e| match e {
        FetchEvent::Failed { tp: t, error } if *t == tp(0) => Some(error.to_string()),
        _ => None,
    });
    let failed = failed.expect("the partition fails");
    assert!(
        failed.contains("truncated at offset 3") && failed.contains("auto.offset.reset is none"),
        "{failed}"
    );
    assert_eq!(sim.core.partition(&tp(0)).unwrap().state, PositionState::Failed);
    assert!(sim.requests().is_empty());
    // A seek reads on.
    sim.core.seek(&tp(0), 3, sim.now);
    assert_eq!(fetches(&sim.requests())[0].2, vec![(0, 3)]);
}

#[test]
fn an_epoch_the_leader_does_not_know_is_reset_by_policy() {
    let mut sim = Sim::new(false);
    read_to_five(&mut sim);
    let id = leader_moves(&mut sim);
    epoch_end(&mut sim, id, KafkaCode::NONE, -1, -1);
    assert!(diverged(&mut sim));
    sim.core.handle_diverged(&tp(0), 5, sim.now);
    let reqs = sim.requests();
    assert!(
        matches!(&reqs[..], [FetchRequest::ListOffsets { body, .. }] if body.partitions[0].2 == -2),
        "earliest: {reqs:?}"
    );
}

#[test]
fn a_fetch_answer_with_a_diverging_epoch_is_handled_as_a_validation() {
    let mut sim = Sim::new(false);
    read_to_five(&mut sim);
    let f = fetches(&sim.requests());
    let mut p = fetched(KafkaCode::NONE, 9, None);
    p.diverging_epoch = crate::wire::DivergingEpoch {
        epoch: 1,
        end_offset: 4,
    };
    sim.core
        .handle_fetch(f[0].0, Ok(fetch_response(vec![(tp(0), p)])), sim.now);
    assert!(diverged(&mut sim));
    sim.core.handle_diverged(&tp(0), 5, sim.now);
    assert!(warned_of_truncation(&mut sim));
    assert_eq!(fetches(&sim.requests())[0].2, vec![(0, 4)]);
}

#[test]
fn a_committed_offset_that_names_its_epoch_is_validated_before_the_first_fetch() {
    let mut sim = Sim::new(true);
    sim.leaders(2, |_| 1);
    sim.core.assign(tp(0), sim.now);
    sim.core.assign(tp(1), sim.now);
    let reqs = sim.requests();
    let FetchRequest::OffsetFetch { id, .. } = &reqs[0] else {
        panic!("{reqs:?}")
    };
    let mut response = offset_fetch_response(
        KafkaCode::NONE,
        &[(tp(0), KafkaCode::NONE, 40), (tp(1), KafkaCode::NONE, 7)],
    );
    // Partition 0's commit names epoch 0 (Kafka's consumers commit it); partition 1's none.
    for p in &mut response.topics[0].partitions {
        if p.partition_index == 0 {
            p.committed_leader_epoch = 0;
        }
    }
    sim.core.handle_offset_fetch(*id, Ok(response), sim.now);
    let reqs = sim.requests();
    let f = fetches(&reqs);
    assert_eq!(f[0].2, vec![(1, 7)], "partition 1 fetches at once");
    let empty = fetch_response(vec![(tp(1), fetched(KafkaCode::NONE, 7, None))]);
    sim.core.handle_fetch(f[0].0, Ok(empty), sim.now);
    let v = validations(&reqs);
    assert_eq!(v[0].2, vec![(0, 1, 0)]);
    // Epoch 0 ended at 30 in this log: the commit is beyond what the log holds.
    sim.core.handle_offset_for_leader_epoch(
        v[0].0,
        Ok(epoch_end_response(&[(tp(0), KafkaCode::NONE, 0, 30)])),
        sim.now,
    );
    assert!(diverged(&mut sim));
    sim.core.handle_diverged(&tp(0), -1, sim.now);
    assert!(
        warned_of_truncation(&mut sim),
        "the committed position 40 counts as read"
    );
    let f = fetches(&sim.requests());
    assert_eq!(f[0].2, vec![(0, 30), (1, 7)]);
}

#[test]
fn validation_errors_are_retried_and_a_broker_without_the_api_skips_it() {
    let mut sim = Sim::new(false);
    read_to_five(&mut sim);
    let id = leader_moves(&mut sim);
    epoch_end(&mut sim, id, KafkaCode::FENCED_LEADER_EPOCH, -1, -1);
    assert!(sim.requests().is_empty(), "waits out the backoff");
    assert!(
        sim.events
            .iter()
            .any(|e| matches!(e, FetchEvent::RefreshMetadata))
    );
    assert_eq!(
        sim.core.poll_timeout(),
        Some(sim.now + Duration::from_millis(100))
    );
    sim.advance(Duration::from_millis(100));
    let v = validations(&sim.requests());
    assert_eq!(v.len(), 1);
    // Partition left out of the answer: asked again.
    sim.core
        .handle_offset_for_leader_epoch(v[0].0, Ok(epoch_end_response(&[])), sim.now);
    sim.advance(Duration::from_millis(100));
    let v = validations(&sim.requests());
    assert_eq!(v.len(), 1);
    let old_broker = Error::new(ErrorKind::UnsupportedVersion, "no OffsetForLeaderEpoch");
    sim.core
        .handle_offset_for_leader_epoch(v[0].0, Err(old_broker), sim.now);
    assert_eq!(
        fetches(&sim.requests())[0].2,
        vec![(0, 5)],
        "fetches on unvalidated"
    );
}

#[test]
fn a_seek_while_validating_wins_over_the_answer() {
    let mut sim = Sim::new(false);
    read_to_five(&mut sim);
    let id = leader_moves(&mut sim);
    sim.core.seek(&tp(0), 100, sim.now);
    epoch_end(&mut sim, id, KafkaCode::NONE, 1, 3);
    assert!(!diverged(&mut sim));
    let f = fetches(&sim.requests());
    assert_eq!(f[0].2, vec![(0, 100)]);
}
