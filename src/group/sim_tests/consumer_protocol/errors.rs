//! Every error code of ConsumerGroupHeartbeat, coordinator moves and transport failures.

use std::time::Duration;

use bytes::Bytes;

use super::*;
use crate::error::{Error, ErrorKind};
use crate::wire::KafkaCode;

fn lost(events: &[GroupEvent]) -> Vec<TopicPartition> {
    events
        .iter()
        .flat_map(|e| match e {
            GroupEvent::Lost(tps, _) => tps.clone(),
            _ => vec![],
        })
        .collect()
}

fn fatal(events: &[GroupEvent]) -> Option<&Error> {
    events.iter().find_map(|e| match e {
        GroupEvent::Fatal(e) => Some(e),
        _ => None,
    })
}

/// A member alone in the group, holding `a`'s two partitions, its events taken.
fn joined() -> (World, usize) {
    let mut w = World::new(2);
    let a = w.add(config(), &["a"]);
    w.settle();
    assert_eq!(w.holds(a).len(), 2);
    w.take_events(a);
    (w, a)
}

#[test]
fn fenced_member_epoch_loses_everything_and_rejoins_at_epoch_0_with_its_id() {
    let (mut w, a) = joined();
    w.coordinator.fence_known_rejoin = false;
    let id = w.clients[a].m.member_id().to_owned();
    w.coordinator
        .inject
        .push_back((KafkaCode::FENCED_MEMBER_EPOCH, None));
    w.advance(Duration::from_secs(5));
    let events = w.take_events(a);
    assert_eq!(lost(&events), tps(&[("a", 0), ("a", 1)]), "{events:?}");
    let err = events.iter().find_map(|e| match e {
        GroupEvent::Lost(_, e) => Some(e.clone()),
        _ => None,
    });
    assert_eq!(
        err.and_then(|e| e.kafka_code()),
        Some(KafkaCode::FENCED_MEMBER_EPOCH)
    );
    let rejoin = w.clients[a]
        .heartbeats
        .iter()
        .rev()
        .find(|(_, _, r)| r.member_epoch == 0)
        .map(|(_, _, r)| r.clone())
        .expect("a rejoin");
    assert_eq!(rejoin.member_id.as_str(), id, "fenced: the member id is kept");
    assert!(
        rejoin.subscribed_topic_names.is_some(),
        "the rejoin is a full heartbeat"
    );
    assert_eq!(
        w.holds(a),
        tps(&[("a", 0), ("a", 1)]),
        "and the partitions come back"
    );
}

#[test]
fn a_fenced_join_takes_a_fresh_member_id() {
    // Kafka 4.1 fences a join at epoch 0 whose id it still counts: the member must not loop.
    let (mut w, a) = joined();
    let id = w.clients[a].m.member_id().to_owned();
    w.coordinator
        .inject
        .push_back((KafkaCode::FENCED_MEMBER_EPOCH, None));
    w.advance(Duration::from_secs(5));
    assert_eq!(lost(&w.take_events(a)).len(), 2);
    let joins: Vec<String> = w.clients[a]
        .heartbeats
        .iter()
        .filter(|(_, _, r)| r.member_epoch == 0)
        .map(|(_, _, r)| r.member_id.to_string())
        .collect();
    assert_eq!(joins.len(), 3, "{joins:?}");
    assert_eq!(joins[1], id, "first with its id");
    assert_ne!(joins[2], id, "then, fenced again at epoch 0, with a fresh one");
    assert_eq!(w.clients[a].m.member_id(), joins[2]);
    // The old member holds the partitions until its session expires at the coordinator.
    assert!(w.holds(a).is_empty());
    w.advance(Duration::from_secs(50));
    assert_eq!(w.holds(a), tps(&[("a", 0), ("a", 1)]));
    assert_eq!(w.coordinator.members.len(), 1);
}

#[test]
fn unknown_member_id_loses_everything_and_rejoins() {
    let (mut w, a) = joined();
    let id = w.clients[a].m.member_id().to_owned();
    // The coordinator forgot the member (its session expired while it was unreachable).
    w.coordinator.members.clear();
    w.advance(Duration::from_secs(5));
    let events = w.take_events(a);
    assert_eq!(lost(&events).len(), 2, "{events:?}");
    let join = w.clients[a]
        .heartbeats
        .iter()
        .rev()
        .find(|(_, _, r)| r.member_epoch == 0)
        .map(|(_, _, r)| r.clone())
        .expect("a rejoin");
    assert_eq!(join.member_id.as_str(), id);
    assert_eq!(w.holds(a).len(), 2);
}

#[test]
fn every_fatal_code_stops_the_member_with_what_to_do() {
    let cases = [
        (KafkaCode::UNRELEASED_INSTANCE_ID, "group.instance.id"),
        (KafkaCode::GROUP_MAX_SIZE_REACHED, "group.consumer.max.size"),
        (KafkaCode::UNSUPPORTED_ASSIGNOR, "group.remote.assignor"),
        (KafkaCode::INVALID_REGULAR_EXPRESSION, "regular expression"),
        (KafkaCode::GROUP_AUTHORIZATION_FAILED, "grant this principal READ"),
        (KafkaCode::UNSUPPORTED_VERSION, "group.protocol=classic"),
        (KafkaCode::INVALID_GROUP_ID, "cannot continue"),
        (KafkaCode::INVALID_REQUEST, "refused the request as invalid"),
    ];
    for (code, hint) in cases {
        let (mut w, a) = joined();
        w.coordinator.inject.push_back((code, Some("broker words")));
        w.advance(Duration::from_secs(5));
        let events = w.take_events(a);
        assert_eq!(lost(&events).len(), 2, "{code}: {events:?}");
        let err = fatal(&events).unwrap_or_else(|| panic!("{code}: no fatal event in {events:?}"));
        assert_eq!(err.kafka_code(), Some(code));
        let text = err.to_string();
        assert!(
            text.contains(hint) && text.contains("broker words"),
            "{code}: {text}"
        );
        let sent = w.clients[a].heartbeats.len();
        w.advance(Duration::from_secs(60));
        assert_eq!(
            w.clients[a].heartbeats.len(),
            sent,
            "{code}: a fatal member sends nothing more"
        );
        assert_eq!(w.clients[a].m.generation(), None);
        assert!(w.clients[a].m.is_left());
    }
}

#[test]
fn a_broker_without_the_api_is_fatal_with_use_classic() {
    let mut m = ConsumerMachine::new(config(), Instant::now());
    let now = Instant::now();
    m.subscribe(["a".to_string()].into(), now);
    let find = m.poll_request().expect("FindCoordinator");
    let body = encode(&find_ok(1), 4);
    m.handle_response(find.id, Ok(body), 4, now);
    let hb = m.poll_request().expect("the join heartbeat");
    assert_eq!(hb.request.api(), ApiKey::ConsumerGroupHeartbeat);
    // What the engine passes when version negotiation finds no ConsumerGroupHeartbeat.
    let e = Error::new(
        ErrorKind::UnsupportedVersion,
        "the broker does not support the ConsumerGroupHeartbeat API",
    );
    m.handle_response(hb.id, Err(e), 0, now);
    let err = std::iter::from_fn(|| m.poll_event()).find_map(|e| match e {
        GroupEvent::Fatal(e) => Some(e),
        _ => None,
    });
    let err = err.expect("fatal");
    assert_eq!(err.kind(), ErrorKind::UnsupportedVersion);
    assert!(err.to_string().contains("use group.protocol=classic"), "{err}");
    assert!(m.poll_request().is_none());
}

/// A broker pattern against a coordinator with ConsumerGroupHeartbeat v0 only (Kafka 3.7-3.9):
/// the join cannot be encoded without dropping the pattern, and the member stops saying why.
#[test]
fn a_broker_pattern_on_heartbeat_v0_is_fatal_naming_the_pattern() {
    let mut c = config();
    c.subscribed_regex = Some("a.*".into());
    let now = Instant::now();
    let mut m = ConsumerMachine::new(c, now);
    m.subscribe(BTreeSet::new(), now);
    let find = m.poll_request().expect("FindCoordinator");
    m.handle_response(find.id, Ok(encode(&find_ok(1), 4)), 4, now);
    let hb = m.poll_request().expect("the join heartbeat");
    // What the engine passes when the body cannot be encoded at the negotiated version.
    let e = Error::from(hb.request.encode(0).expect_err("v0 has no regex field"));
    m.handle_response(hb.id, Err(e), 0, now);
    let err = std::iter::from_fn(|| m.poll_event())
        .find_map(|e| match e {
            GroupEvent::Fatal(e) => Some(e),
            _ => None,
        })
        .expect("fatal");
    assert!(err.to_string().contains("subscribe_broker_pattern"), "{err}");
    assert!(m.poll_request().is_none());
}

#[test]
fn the_coordinator_moving_is_followed_with_a_full_heartbeat_and_no_loss() {
    let (mut w, a) = joined();
    w.coordinator_node = 2;
    w.advance(Duration::from_secs(5));
    let events = w.take_events(a);
    assert!(lost(&events).is_empty(), "{events:?}");
    assert!(
        events
            .iter()
            .any(|e| matches!(e, GroupEvent::CoordinatorUnavailable(_)))
    );
    let (_, target, hb) = w.clients[a].heartbeats.last().expect("heartbeats").clone();
    assert_eq!(target, Target::Coordinator(2));
    assert_eq!(hb.member_epoch, 1);
    assert!(
        hb.subscribed_topic_names.is_some() && hb.topic_partitions.is_some(),
        "full after a failure: {hb:?}"
    );
    assert_eq!(w.holds(a).len(), 2);
    for code in [KafkaCode::COORDINATOR_NOT_AVAILABLE, KafkaCode::REQUEST_TIMED_OUT] {
        w.coordinator.inject.push_back((code, None));
        w.advance(Duration::from_secs(6));
        assert!(lost(&w.take_events(a)).is_empty(), "{code}");
        assert_eq!(w.holds(a).len(), 2, "{code}");
    }
}

#[test]
fn coordinator_loading_on_the_first_heartbeat_is_retried_after_backoff() {
    let mut w = World::new(2);
    w.coordinator
        .inject
        .push_back((KafkaCode::COORDINATOR_LOAD_IN_PROGRESS, None));
    w.coordinator
        .inject
        .push_back((KafkaCode::COORDINATOR_LOAD_IN_PROGRESS, None));
    let a = w.add(config(), &["a"]);
    w.advance(Duration::from_secs(2));
    let hbs = &w.clients[a].heartbeats;
    assert!(hbs.len() >= 3, "{hbs:?}");
    assert!(
        hbs[..3]
            .iter()
            .all(|(_, _, r)| r.member_epoch == 0 && r.subscribed_topic_names.is_some())
    );
    assert_eq!(
        hbs[1].0 - hbs[0].0,
        Duration::from_millis(100),
        "the retry backoff"
    );
    assert_eq!(hbs[2].0 - hbs[1].0, Duration::from_millis(200), "doubling");
    assert_eq!(w.holds(a).len(), 2);
}

#[test]
fn a_member_cut_off_for_its_session_gives_its_partitions_up() {
    let (mut w, a) = joined();
    w.clients[a].reachable = false;
    w.advance(Duration::from_secs(44));
    assert_eq!(w.holds(a).len(), 2, "still within the session");
    w.advance(Duration::from_secs(2));
    assert!(w.holds(a).is_empty(), "lost after the session timeout");
    w.clients[a].reachable = true;
    w.advance(Duration::from_secs(5));
    assert_eq!(w.holds(a).len(), 2, "and back after rejoining");
}

#[test]
fn a_commit_fenced_by_the_coordinator_loses_and_rejoins() {
    let (mut w, a) = joined();
    w.coordinator.fence_known_rejoin = false;
    let now = w.now;
    w.clients[a]
        .m
        .handle_commit_error(KafkaCode::STALE_MEMBER_EPOCH, now);
    w.settle();
    let events = w.take_events(a);
    assert!(
        events.is_empty(),
        "stale epoch: the commit is retried, the membership untouched: {events:?}"
    );
    let sent = w.clients[a].heartbeats.len();
    w.clients[a]
        .m
        .handle_commit_error(KafkaCode::REQUEST_TIMED_OUT, now);
    w.settle();
    assert!(w.take_events(a).is_empty());
    assert_eq!(
        w.clients[a].heartbeats.len(),
        sent,
        "no heartbeat moved by a commit's retriable error"
    );
    w.clients[a]
        .m
        .handle_commit_error(KafkaCode::FENCED_MEMBER_EPOCH, now);
    w.settle();
    assert_eq!(lost(&w.take_events(a)).len(), 2);
    assert_eq!(w.holds(a).len(), 2, "rejoined");
}

#[test]
fn a_hostile_heartbeat_answer_is_a_typed_error_not_a_panic() {
    let (mut w, a) = joined();
    // An answer whose assignment announces ~4 billion topics.
    let body = Bytes::from_static(&[
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0x13, 0x88, 1, 0xff, 0xff, 0xff, 0xff, 0x0f,
    ]);
    w.now += Duration::from_secs(5);
    let now = w.now;
    w.clients[a].m.handle_timeout(now);
    let r = w.clients[a].m.poll_request().expect("a heartbeat");
    w.clients[a].m.handle_response(r.id, Ok(body), 0, now);
    w.settle();
    let events = w.take_events(a);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, GroupEvent::CoordinatorUnavailable(_))),
        "{events:?}"
    );
    assert_eq!(w.holds(a).len(), 2, "a malformed answer loses nothing at once");
    w.advance(Duration::from_secs(5));
    assert_eq!(w.holds(a).len(), 2);
}
