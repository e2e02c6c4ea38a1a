//! Topic ids (KIP-516, Fetch v13+) in the fetch core: fetches carry each topic's id from
//! metadata, answers that name topics by id only are applied by id, an id the fetch did not ask
//! for is ignored, and the topic-id errors refresh metadata at the same position.

use super::*;
use crate::sim::responses::{at_version, topic_id};

#[test]
fn fetches_carry_topic_ids_and_answers_by_id_are_applied() {
    let mut sim = Sim::new(false);
    sim.leaders(1, |_| 1);
    sim.ready_at(1, 0);
    let reqs = sim.requests();
    let FetchRequest::Fetch { id, body, .. } = &reqs[0] else {
        panic!("{reqs:?}")
    };
    assert_eq!(body.partitions[0].topic_id, topic_id("t"));
    assert_eq!(body.max_version(), i16::MAX, "may go at v13+");
    let answer = fetch_response(vec![(tp(0), fetched(KafkaCode::NONE, 5, Some(records(0, 5))))]);
    let answer = at_version(answer, 13);
    assert!(answer.responses[0].topic.is_empty(), "v13 names no topic");
    sim.core.handle_fetch(*id, Ok(answer), sim.now);
    assert_eq!(sim.delivered(), vec![(tp(0), 0)]);
    assert_eq!(sim.core.partition(&tp(0)).unwrap().position, 5);
}

#[test]
fn an_answer_for_another_topic_id_is_ignored_and_topic_id_errors_refresh_metadata() {
    let mut sim = Sim::new(false);
    sim.leaders(1, |_| 1);
    sim.ready_at(1, 0);
    let f = fetches(&sim.requests());
    // Records under an id this fetch did not ask for (the topic was created again meanwhile).
    let mut answer = at_version(
        fetch_response(vec![(tp(0), fetched(KafkaCode::NONE, 5, Some(records(0, 5))))]),
        13,
    );
    answer.responses[0].topic_id = [9; 16];
    sim.core.handle_fetch(f[0].0, Ok(answer), sim.now);
    assert!(sim.delivered().is_empty());
    assert_eq!(sim.core.partition(&tp(0)).unwrap().position, 0);
    let mut f = fetches(&sim.requests());
    for code in [KafkaCode::UNKNOWN_TOPIC_ID, KafkaCode::INCONSISTENT_TOPIC_ID] {
        let answer = at_version(fetch_response(vec![(tp(0), fetched(code, -1, None))]), 13);
        sim.core.handle_fetch(f[0].0, Ok(answer), sim.now);
        sim.take_events();
        assert!(
            sim.events
                .iter()
                .any(|e| matches!(e, FetchEvent::RefreshMetadata)),
            "{code}"
        );
        sim.events.clear();
        assert_eq!(sim.core.partition(&tp(0)).unwrap().leader, None, "{code}");
        sim.leaders(1, |_| 1);
        f = fetches(&sim.requests());
        assert_eq!(f[0].2, vec![(0, 0)], "{code}: same position");
    }
}
