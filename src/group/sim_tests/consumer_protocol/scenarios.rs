//! Joining, reconciliation, heartbeats, leaving and rejoining.

use std::time::Duration;

use super::*;
use crate::group::RemoteAssignor;

fn assigned(events: &[GroupEvent]) -> Vec<TopicPartition> {
    events
        .iter()
        .flat_map(|e| match e {
            GroupEvent::Assigned(tps) => tps.clone(),
            _ => vec![],
        })
        .collect()
}

fn revoked(events: &[GroupEvent]) -> Vec<TopicPartition> {
    events
        .iter()
        .flat_map(|e| match e {
            GroupEvent::Revoke(tps) => tps.clone(),
            _ => vec![],
        })
        .collect()
}

fn owned_in(req: &ConsumerGroupHeartbeatRequest) -> Option<BTreeSet<(TopicId, i32)>> {
    req.topic_partitions.as_ref().map(|tps| {
        tps.iter()
            .flat_map(|t| t.partitions.iter().map(move |p| (*t.topic_id.as_bytes(), *p)))
            .collect()
    })
}

#[test]
fn join_sends_a_full_heartbeat_at_epoch_0_and_acknowledges_the_assignment() {
    let mut w = World::new(4);
    let a = w.add(config(), &["a"]);
    w.settle();
    assert_eq!(w.holds(a), tps(&[("a", 0), ("a", 1), ("a", 2), ("a", 3)]));
    let hbs = &w.clients[a].heartbeats;
    assert_eq!(
        hbs.len(),
        2,
        "the join, then the acknowledgement at once: {hbs:?}"
    );
    let join = &hbs[0].2;
    assert_eq!(join.member_epoch, 0);
    assert_eq!(join.group_id.as_str(), "g");
    // KIP-1082: the client makes its member id (Kafka's Uuid string, 22 characters).
    assert_eq!(join.member_id.len(), 22, "{:?}", join.member_id);
    assert_eq!(join.member_id.as_str(), w.clients[a].m.member_id());
    let names: Vec<&str> = join
        .subscribed_topic_names
        .iter()
        .flatten()
        .map(|t| t.as_str())
        .collect();
    assert_eq!(names, ["a"]);
    assert_eq!(
        join.rebalance_timeout_ms, 60_000,
        "the rebalance timeout is max.poll.interval"
    );
    assert_eq!(owned_in(join), Some(BTreeSet::new()));
    assert_eq!(join.server_assignor, None);
    let ack = &hbs[1].2;
    assert_eq!(
        (ack.member_epoch, ack.member_id.as_str()),
        (1, join.member_id.as_str())
    );
    assert_eq!(owned_in(ack), Some((0..4).map(|p| (T1, p)).collect()));
    assert_eq!(
        hbs[1].0, hbs[0].0,
        "the acknowledgement does not wait for the interval"
    );
    assert_eq!(w.clients[a].m.generation(), Some((1, join.member_id.to_string())));
    let events = w.take_events(a);
    assert!(
        matches!(&events[0], GroupEvent::Joined { generation_id: 1, .. }),
        "{events:?}"
    );
}

#[test]
fn a_second_member_gets_partitions_only_after_the_first_released_them() {
    let mut w = World::new(4);
    let a = w.add(config(), &["a"]);
    w.settle();
    w.take_events(a);
    w.clients[a].hold_revokes = true;
    let b = w.add(config(), &["a"]);
    // B joins; A hears of its smaller assignment at its next heartbeat and is asked to revoke.
    w.advance(Duration::from_secs(6));
    let gone = revoked(&w.take_events(a));
    assert_eq!(
        gone,
        tps(&[("a", 2), ("a", 3)]),
        "the partitions that stay are never revoked"
    );
    assert!(w.holds(b).is_empty(), "B waits while A still holds them");
    // However long A's application takes (within the rebalance timeout), B gets nothing of A's.
    w.advance(Duration::from_secs(20));
    assert!(w.holds(b).is_empty());
    assert_eq!(w.coordinator.members.len(), 2);
    // While revoking, A still reports them owned: the coordinator must not hand them on.
    let last = w.last_heartbeat(a);
    assert!(last.topic_partitions.is_none() || owned_in(last).is_some_and(|o| o.len() == 4));
    w.release(a);
    w.advance(Duration::from_secs(11));
    assert_eq!(w.holds(a), tps(&[("a", 0), ("a", 1)]));
    assert_eq!(w.holds(b), tps(&[("a", 2), ("a", 3)]));
    assert!(revoked(&w.take_events(a)).is_empty());
    assert_eq!(assigned(&w.take_events(b)), tps(&[("a", 2), ("a", 3)]));
    // A reported the smaller set at once after the revoke, before its next interval.
    let released_at = w.clients[a]
        .heartbeats
        .iter()
        .find(|(_, _, r)| owned_in(r).is_some_and(|o| o.len() == 2))
        .map(|(t, _, _)| *t);
    assert!(released_at.is_some());
}

#[test]
fn closing_revokes_then_leaves_with_epoch_minus_1() {
    let mut w = World::new(2);
    let a = w.add(config(), &["a"]);
    w.settle();
    w.take_events(a);
    w.clients[a].hold_revokes = true;
    w.leave(a, LeaveReason::Close);
    assert_eq!(revoked(&w.take_events(a)), tps(&[("a", 0), ("a", 1)]));
    assert!(!w.clients[a].m.is_left());
    // The application takes its time: heartbeats go on (the session must not expire while it
    // still holds the partitions), with no leave before the revoke is done.
    w.advance(Duration::from_secs(50));
    assert!(
        w.clients[a]
            .heartbeats
            .iter()
            .all(|(_, _, r)| r.member_epoch >= 0)
    );
    assert_eq!(
        w.coordinator.members.len(),
        1,
        "still a member after a session's time"
    );
    assert_eq!(w.holds(a).len(), 2);
    w.release(a);
    w.settle();
    let before = w.clients[a].heartbeats.len() - 1;
    let leave = w.last_heartbeat(a);
    assert_eq!(leave.member_epoch, -1);
    assert!(leave.subscribed_topic_names.is_none() && leave.topic_partitions.is_none());
    assert!(w.clients[a].m.is_left());
    assert!(w.coordinator.members.is_empty());
    assert_eq!(w.clients[a].m.generation(), None);
    w.advance(Duration::from_secs(30));
    assert_eq!(w.clients[a].heartbeats.len(), before + 1, "nothing after leaving");
}

#[test]
fn a_static_member_sends_its_instance_id_and_leaves_with_epoch_minus_2() {
    let mut w = World::new(2);
    let mut c = config();
    c.group_instance_id = Some("instance-1".into());
    let a = w.add(c, &["a"]);
    w.advance(Duration::from_secs(12));
    for (_, _, hb) in &w.clients[a].heartbeats {
        assert_eq!(hb.instance_id.as_deref(), Some("instance-1"), "{hb:?}");
    }
    w.leave(a, LeaveReason::Close);
    assert_eq!(w.last_heartbeat(a).member_epoch, -2);
    assert!(w.clients[a].m.is_left());
}

#[test]
fn steady_heartbeats_follow_the_coordinators_interval_and_carry_only_what_changed() {
    let mut w = World::new(2);
    w.coordinator.heartbeat_interval_ms = 5_000;
    let mut c = config();
    c.remote_assignor = Some(RemoteAssignor::Uniform);
    c.client_rack = Some("rack-1".into());
    let a = w.add(c, &["a"]);
    w.settle();
    assert_eq!(
        w.clients[a].heartbeats[0].2.server_assignor.as_deref(),
        Some("uniform")
    );
    assert_eq!(w.clients[a].heartbeats[0].2.rack_id.as_deref(), Some("rack-1"));
    assert_eq!(
        w.coordinator.members.values().next().map(|m| m.assignor.clone()),
        Some(Some("uniform".into()))
    );
    let start = w.now;
    w.advance(Duration::from_secs(30));
    let steady: Vec<_> = w.clients[a]
        .heartbeats
        .iter()
        .filter(|(t, _, _)| *t > start)
        .collect();
    assert_eq!(
        steady.len(),
        6,
        "one every 5 s (the coordinator's interval, not the configured 3 s)"
    );
    for pair in steady.windows(2) {
        assert_eq!(pair[1].0 - pair[0].0, Duration::from_secs(5));
    }
    for (_, _, hb) in &steady {
        assert_eq!(hb.member_epoch, 1);
        assert!(hb.subscribed_topic_names.is_none(), "{hb:?}");
        assert_eq!(hb.rebalance_timeout_ms, -1);
        assert!(hb.topic_partitions.is_none());
        assert!(hb.server_assignor.is_none() && hb.rack_id.is_none() && hb.instance_id.is_none());
    }
    // A subscription change goes out at once, alone.
    w.clients[a]
        .m
        .subscribe(["a".to_string(), "b".to_string()].into(), w.now);
    let at = w.now;
    w.settle();
    let change = &w.clients[a]
        .heartbeats
        .iter()
        .find(|(t, _, r)| *t == at && r.subscribed_topic_names.is_some())
        .expect("sent at once")
        .2;
    let names: Vec<&str> = change
        .subscribed_topic_names
        .iter()
        .flatten()
        .map(|t| t.as_str())
        .collect();
    assert_eq!(names, ["a", "b"]);
    assert!(change.server_assignor.is_none() && change.rebalance_timeout_ms == -1);
    assert_eq!(w.holds(a).len(), 4, "b's partitions were assigned");
    assert_eq!(
        owned_in(w.last_heartbeat(a)).map(|o| o.len()),
        Some(4),
        "and acknowledged"
    );
}

#[test]
fn max_poll_exceeded_loses_at_once_leaves_and_rejoins_at_epoch_0() {
    let mut w = World::new(2);
    let a = w.add(config(), &["a"]);
    w.settle();
    w.take_events(a);
    let id = w.clients[a].m.member_id().to_owned();
    w.leave(a, LeaveReason::MaxPollExceeded);
    let events = w.take_events(a);
    assert!(
        matches!(&events[0], GroupEvent::Lost(tps, _) if tps.len() == 2),
        "{events:?}"
    );
    assert!(w.holds(a).is_empty());
    assert_eq!(w.last_heartbeat(a).member_epoch, -1);
    assert!(w.clients[a].m.is_left());
    w.advance(Duration::from_secs(5));
    w.clients[a].m.rejoin(w.now);
    w.settle();
    let hbs = &w.clients[a].heartbeats;
    let join = &hbs[hbs.len() - 2].2;
    assert_eq!(join.member_epoch, 0);
    assert_eq!(join.member_id.as_str(), id, "KIP-1082: the member id is kept");
    assert!(join.subscribed_topic_names.is_some() && join.rebalance_timeout_ms == 60_000);
    assert_eq!(w.holds(a), tps(&[("a", 0), ("a", 1)]));
}

#[test]
fn an_assignment_for_an_unknown_topic_id_waits_for_metadata() {
    let mut w = World::new(2);
    w.names.remove(&T2);
    let a = w.add(config(), &["a", "b"]);
    w.settle();
    assert_eq!(w.holds(a), tps(&[("a", 0), ("a", 1)]));
    assert!(w.clients[a].m.wants_topic_ids(), "metadata should be refreshed");
    assert_eq!(owned_in(w.last_heartbeat(a)), Some([(T1, 0), (T1, 1)].into()));
    // Metadata that still lacks the id: no more asking at once (no refresh loop).
    let now = w.now;
    w.clients[a]
        .m
        .handle_topic_ids(&[(T1, "a".to_owned())].into(), now);
    assert!(!w.clients[a].m.wants_topic_ids());
    w.advance(Duration::from_secs(4));
    assert_eq!(w.holds(a).len(), 2);
    w.clients[a]
        .m
        .handle_topic_ids(&[(T2, "b".to_owned())].into(), w.now);
    w.settle();
    assert_eq!(w.holds(a).len(), 4);
    assert!(!w.clients[a].m.wants_topic_ids());
    assert_eq!(owned_in(w.last_heartbeat(a)).map(|o| o.len()), Some(4));
}

#[test]
fn an_empty_subscription_leaves() {
    let mut w = World::new(2);
    let a = w.add(config(), &["a"]);
    w.settle();
    w.clients[a].m.subscribe(BTreeSet::new(), w.now);
    w.settle();
    assert_eq!(w.last_heartbeat(a).member_epoch, -1);
    assert!(w.clients[a].m.is_left() && w.holds(a).is_empty());
}

#[test]
fn a_revoke_held_past_the_rebalance_timeout_is_lost_before_the_partitions_move() {
    let mut w = World::new(2);
    let a = w.add(config(), &["a"]);
    w.settle();
    w.take_events(a);
    w.clients[a].hold_revokes = true;
    let b = w.add(config(), &["a"]);
    w.advance(Duration::from_secs(6));
    assert_eq!(revoked(&w.take_events(a)), tps(&[("a", 1)]));
    // The application never releases a/1; the coordinator fences A after the rebalance timeout
    // (60 s), so A must have given a/1 up by then: check_owners holds at every step.
    w.advance(Duration::from_secs(70));
    let events = w.take_events(a);
    let lost: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            GroupEvent::Lost(tps, e) => Some((tps.clone(), e.to_string())),
            _ => None,
        })
        .collect();
    assert_eq!(lost.len(), 1, "{events:?}");
    assert!(lost[0].0.contains(&tp("a", 1)), "{lost:?}");
    assert!(lost[0].1.contains("rebalance timeout"), "{}", lost[0].1);
    // Both rejoined and settled: each partition has exactly one owner.
    w.clients[a].hold_revokes = false;
    w.advance(Duration::from_secs(20));
    let mut all = w.holds(a);
    all.extend(w.holds(b));
    all.sort();
    assert_eq!(all, tps(&[("a", 0), ("a", 1)]));
}

/// `subscribe_broker_pattern`: the join carries the pattern in `SubscribedTopicRegex` with an
/// empty name list, later heartbeats leave it unchanged (null), and the member owns exactly the
/// partitions of the topics the coordinator matched, named from their topic ids.
#[test]
fn a_broker_evaluated_pattern_is_sent_once_and_its_topics_are_assigned() {
    let mut w = World::new(2);
    w.version = 1;
    let mut c = config();
    c.subscribed_regex = Some("b|c.*".into());
    let a = w.add(c, &[]);
    w.settle();
    assert_eq!(w.holds(a), tps(&[("b", 0), ("b", 1)]));
    let hbs = &w.clients[a].heartbeats;
    let join = &hbs[0].2;
    assert_eq!(join.member_epoch, 0);
    assert_eq!(join.subscribed_topic_regex.as_deref(), Some("b|c.*"));
    assert_eq!(join.subscribed_topic_names.as_ref().map(Vec::len), Some(0));
    assert!(
        hbs[1..]
            .iter()
            .all(|(_, _, r)| r.subscribed_topic_regex.is_none()),
        "the pattern is sent once: {hbs:?}"
    );
    w.advance(Duration::from_secs(30));
    assert_eq!(
        w.holds(a),
        tps(&[("b", 0), ("b", 1)]),
        "nothing else, nothing lost"
    );
    let epoch = w.coordinator.members.values().next().map(|m| m.epoch);
    assert_eq!(w.clients[a].m.generation().map(|g| g.0), epoch);
}
