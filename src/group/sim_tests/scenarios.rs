//! One member against a scripted coordinator: each fault and each error code has a test.

use super::*;

pub(super) fn stable(versions: Versions) -> (Sim, String) {
    let mut sim = Sim::new(config(), versions);
    sim.subscribe(&["t"]);
    let member = join_alone(&mut sim, &["t"], &[("t", 3)], 1);
    sim.take_events();
    (sim, member)
}

fn assigned(events: &[GroupEvent]) -> Vec<TopicPartition> {
    events
        .iter()
        .filter_map(|e| match e {
            GroupEvent::Assigned(p) => Some(p.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

pub(super) fn heartbeat_of(reqs: Vec<(Sent, Req)>) -> (Sent, HeartbeatRequest) {
    let mut hbs: Vec<_> = reqs
        .into_iter()
        .filter_map(|(s, r)| match r {
            Req::Heartbeat(h) => Some((s, h)),
            _ => None,
        })
        .collect();
    assert_eq!(hbs.len(), 1, "expected one heartbeat");
    hbs.remove(0)
}

#[test]
fn single_member_joins_at_every_version_set() {
    for versions in [LATEST, KAFKA_2_1, RDKAFKA_MOCK] {
        let mut sim = Sim::new(config(), versions);
        assert!(sim.m.poll_request().is_none(), "nothing before subscribe");
        sim.subscribe(&["t"]);
        let member = join_alone(&mut sim, &["t"], &[("t", 3)], 1);
        let events = sim.take_events();
        assert!(
            matches!(&events[0], GroupEvent::Joined { generation_id: 1, leader: true, protocol, .. } if protocol == "range")
        );
        assert_eq!(assigned(&events), tps(&[("t", 0), ("t", 1), ("t", 2)]));
        assert_eq!(sim.m.generation(), Some((1, member)));
        assert_eq!(sim.m.coordinator(), Some(1));
        assert_eq!(
            sim.m.coordinator_address(),
            Some((1, "coordinator.example", 9092))
        );
        assert_eq!(sim.m.assignment().len(), 3);
    }
}

#[test]
fn join_request_carries_the_subscription_and_a_long_deadline() {
    let mut c = config();
    c.client_rack = Some("rack-a".into());
    let mut sim = Sim::new(c, LATEST);
    sim.subscribe(&["b", "a"]);
    let (s, _) = sim.one();
    sim.reply(&s, find_ok(4, 1));
    let (s, req) = sim.one();
    let Req::Join(join) = req else { panic!() };
    assert!(
        s.timeout >= Duration::from_secs(60),
        "JoinGroup waits out the rebalance: {:?}",
        s.timeout
    );
    assert_eq!(join.session_timeout_ms, 10_000);
    assert_eq!(join.rebalance_timeout_ms, 60_000);
    assert_eq!(join.protocol_type.as_str(), "consumer");
    let names: Vec<_> = join.protocols.iter().map(|p| p.name.to_string()).collect();
    assert_eq!(names, ["range", "roundrobin"]);
    let sub = crate::wire::Subscription::decode(join.protocols[0].metadata.clone()).unwrap();
    assert_eq!(sub.topics, ["a", "b"]);
    assert_eq!(sub.rack_id.as_deref(), Some("rack-a"));
}

#[test]
fn find_coordinator_retries_with_backoff_and_reports_unavailability() {
    let mut sim = Sim::new(config(), KAFKA_2_1);
    sim.subscribe(&["t"]);
    let (mut s, _) = sim.one();
    for code in [
        KafkaCode::COORDINATOR_NOT_AVAILABLE,
        KafkaCode::COORDINATOR_LOAD_IN_PROGRESS,
    ] {
        sim.reply(&s, find_err(2, code));
        assert!(sim.poll().is_empty(), "no retry before the backoff");
        let retry = sim.advance(Duration::from_millis(400));
        assert!(matches!(retry.as_slice(), [(_, Req::Find(_))]), "{retry:?}");
        sim.fail(&retry[0].0);
        let retry = sim.advance(Duration::from_secs(2));
        assert!(matches!(retry.as_slice(), [(_, Req::Find(_))]), "{retry:?}");
        s = retry[0].0.clone();
    }
    let unavailable = sim
        .take_events()
        .iter()
        .filter(|e| matches!(e, GroupEvent::CoordinatorUnavailable(_)))
        .count();
    assert_eq!(unavailable, 4);
    assert!(
        sim.advance(Duration::from_secs(5)).is_empty(),
        "the last one is still in flight"
    );
}

#[test]
fn backoff_grows_and_is_capped() {
    let mut sim = Sim::new(config(), LATEST);
    sim.subscribe(&["t"]);
    let (mut s, _) = sim.one();
    let mut delays = vec![];
    for _ in 0..8 {
        sim.reply(&s, find_err(4, KafkaCode::COORDINATOR_NOT_AVAILABLE));
        let failed_at = sim.now;
        delays.push(sim.m.poll_timeout().unwrap() - failed_at);
        let reqs = sim.advance(Duration::from_secs(5));
        assert_eq!(reqs.len(), 1);
        s = reqs[0].0.clone();
    }
    let ms: Vec<u128> = delays.iter().map(|d| d.as_millis()).collect();
    assert_eq!(ms, [100, 200, 400, 800, 1000, 1000, 1000, 1000]);
    // After 8 failures the delay is the 1 s cap: the next retry comes 1 s after a failure.
    sim.reply(&s, find_err(4, KafkaCode::COORDINATOR_NOT_AVAILABLE));
    assert!(sim.advance(Duration::from_millis(999)).is_empty());
    assert_eq!(sim.advance(Duration::from_millis(1)).len(), 1);
}

#[test]
fn member_id_required_rejoins_at_once_with_the_given_id() {
    let mut sim = Sim::new(config(), LATEST);
    sim.subscribe(&["t"]);
    let (s, _) = sim.one();
    sim.reply(&s, find_ok(4, 1));
    let (s, req) = sim.one();
    let Req::Join(j) = req else { panic!() };
    assert_eq!(j.member_id.as_str(), "");
    sim.reply(&s, join_err(KafkaCode::MEMBER_ID_REQUIRED, "given-id"));
    let (_, req) = sim.one();
    let Req::Join(j) = req else { panic!() };
    assert_eq!(j.member_id.as_str(), "given-id");
}

#[test]
fn leader_assigns_every_members_topics_once_it_knows_their_partition_counts() {
    let mut sim = Sim::new(config(), RDKAFKA_MOCK);
    sim.subscribe(&["a"]);
    let (s, _) = sim.one();
    sim.reply(&s, find_ok(3, 1));
    let (s, req) = sim.one();
    let Req::Join(j) = req else { panic!() };
    let ours = j.protocols[0].metadata.clone();
    let other = crate::wire::Subscription {
        version: 1,
        topics: vec!["a".into(), "b".into()],
        user_data: None,
        owned_partitions: vec![],
        generation_id: -1,
        rack_id: None,
    }
    .encode()
    .unwrap();
    sim.reply(
        &s,
        join_ok(
            5,
            "m-a",
            "m-a",
            "range",
            &[
                ("m-a", ours),
                ("m-b", other),
                ("m-bad", Bytes::from_static(b"\x00")),
            ],
        ),
    );
    let needed: Vec<String> = sim.m.topics_needed().into_iter().collect();
    assert_eq!(needed, ["a", "b"]);
    sim.counts(&[("a", 2)]);
    assert!(sim.poll().is_empty(), "still waiting for b");
    sim.counts(&[("b", 2)]);
    let (s, req) = sim.one();
    let Req::Sync(sync) = req else { panic!() };
    let by_member: BTreeMap<String, Assignment> = sync
        .assignments
        .iter()
        .map(|a| {
            (
                a.member_id.to_string(),
                Assignment::decode(a.assignment.clone()).unwrap(),
            )
        })
        .collect();
    assert_eq!(by_member.len(), 3, "undecodable members get an empty assignment");
    assert!(by_member["m-bad"].partitions.is_empty());
    assert_eq!(
        by_member["m-b"].version, 1,
        "answered in the consumer-protocol version it spoke"
    );
    assert_eq!(by_member["m-a"].version, 3);
    let b: Vec<_> = by_member["m-b"]
        .partitions
        .iter()
        .map(|tp| (tp.topic.to_string(), tp.partitions.clone()))
        .collect();
    assert_eq!(b, [("a".to_string(), vec![1]), ("b".to_string(), vec![0, 1])]);
    sim.reply(&s, sync_ok(by_member["m-a"].encode().unwrap()));
    assert_eq!(assigned(&sim.take_events()), tps(&[("a", 0)]));
}

#[test]
fn leader_assigns_without_missing_counts_after_half_a_session() {
    let mut sim = Sim::new(config(), LATEST);
    sim.subscribe(&["a"]);
    let (s, _) = sim.one();
    sim.reply(&s, find_ok(4, 1));
    let (s, _) = sim.one();
    sim.reply(&s, join_err(KafkaCode::MEMBER_ID_REQUIRED, "m"));
    let (s, req) = sim.one();
    let Req::Join(j) = req else { panic!() };
    sim.reply(
        &s,
        join_ok(1, "m", "m", "range", &[("m", j.protocols[0].metadata.clone())]),
    );
    assert!(sim.advance(Duration::from_millis(4999)).is_empty());
    let reqs = sim.advance(Duration::from_millis(1));
    assert!(matches!(reqs.as_slice(), [(_, Req::Sync(_))]), "{reqs:?}");
}

#[test]
fn heartbeats_follow_the_interval_only_while_stable() {
    let mut sim = Sim::new(config(), LATEST);
    sim.subscribe(&["t"]);
    // No heartbeat during discovery or the join.
    assert!(
        sim.advance(Duration::from_secs(20))
            .iter()
            .all(|(_, r)| matches!(r, Req::Find(_)))
    );
    let mut sim = Sim::new(config(), LATEST);
    sim.subscribe(&["t"]);
    join_alone(&mut sim, &["t"], &[("t", 1)], 1);
    sim.take_events();
    assert!(sim.advance(Duration::from_millis(2999)).is_empty());
    let (s, h) = heartbeat_of(sim.advance(Duration::from_millis(1)));
    assert_eq!((h.generation_id, h.member_id.as_str()), (1, "member-1"));
    assert!(s.timeout <= Duration::from_secs(10));
    // No second heartbeat while one is in flight.
    assert!(sim.advance(Duration::from_secs(4)).is_empty());
    sim.reply(&s, hb(KafkaCode::NONE));
    // The next one was due while the late one was in flight: it goes at once.
    let (s, _) = heartbeat_of(sim.poll());
    sim.reply(&s, hb(KafkaCode::NONE));
    for _ in 0..5 {
        assert!(sim.advance(Duration::from_millis(2999)).is_empty());
        let (s, _) = heartbeat_of(sim.advance(Duration::from_millis(1)));
        sim.reply(&s, hb(KafkaCode::NONE));
    }
    assert!(sim.take_events().is_empty(), "steady state is silent");
}

#[test]
fn not_coordinator_on_heartbeat_rediscovers_without_a_rebalance() {
    for code in [KafkaCode::NOT_COORDINATOR, KafkaCode::COORDINATOR_NOT_AVAILABLE] {
        let (mut sim, _) = stable(LATEST);
        let (s, _) = heartbeat_of(sim.advance(Duration::from_secs(3)));
        sim.reply(&s, hb(code));
        assert_eq!(sim.m.coordinator(), None);
        let (s, req) = sim.one();
        assert!(matches!(req, Req::Find(_)));
        sim.reply(&s, find_ok(4, 2));
        let (s, h) = heartbeat_of(sim.poll());
        assert_eq!(
            s.target,
            Target::Coordinator(2),
            "heartbeats resume at the new coordinator"
        );
        assert_eq!(h.generation_id, 1);
        sim.reply(&s, hb(KafkaCode::NONE));
        let events = sim.take_events();
        assert!(
            events
                .iter()
                .all(|e| matches!(e, GroupEvent::CoordinatorUnavailable(_))),
            "{events:?}"
        );
        assert_eq!(sim.m.assignment().len(), 3, "no rebalance");
    }
}

#[test]
fn transport_error_and_garbage_on_heartbeat_rediscover() {
    let (mut sim, _) = stable(KAFKA_2_1);
    let (s, _) = heartbeat_of(sim.advance(Duration::from_secs(3)));
    sim.fail(&s);
    assert_eq!(sim.m.coordinator(), None);
    let (s, _) = sim.one();
    sim.reply(&s, find_ok(2, 1));
    let (s, _) = heartbeat_of(sim.poll());
    sim.m
        .handle_response(s.id, Ok(Bytes::from_static(b"\x01")), s.version, sim.now);
    assert_eq!(
        sim.m.coordinator(),
        None,
        "undecodable response is treated as a transport error"
    );
    assert!(sim.m.generation().is_some());
}

#[test]
fn eager_rebalance_in_progress_revokes_everything_before_joining() {
    let (mut sim, member) = stable(RDKAFKA_MOCK);
    let (s, _) = heartbeat_of(sim.advance(Duration::from_secs(3)));
    sim.reply(&s, hb(KafkaCode::REBALANCE_IN_PROGRESS));
    let events = sim.take_events();
    assert!(
        matches!(events.as_slice(), [GroupEvent::Revoke(p)] if p.len() == 3),
        "{events:?}"
    );
    // Still a member of generation 1 while the application commits.
    assert_eq!(sim.m.generation(), Some((1, member.clone())));
    assert!(sim.poll().is_empty(), "no JoinGroup before the revoke is done");
    // Heartbeats continue while waiting.
    let (s, _) = heartbeat_of(sim.advance(Duration::from_secs(3)));
    sim.reply(&s, hb(KafkaCode::REBALANCE_IN_PROGRESS));
    assert!(
        sim.take_events().is_empty(),
        "a second REBALANCE_IN_PROGRESS does not revoke twice"
    );
    sim.m.handle_revoke_done(sim.now);
    assert!(sim.m.assignment().is_empty());
    let (_, req) = sim.one();
    let Req::Join(j) = req else { panic!("{req:?}") };
    assert_eq!(j.member_id.as_str(), member);
    let sub = crate::wire::Subscription::decode(j.protocols[0].metadata.clone()).unwrap();
    assert!(
        sub.owned_partitions.is_empty(),
        "eager members own nothing when they join"
    );
}

#[test]
fn illegal_generation_loses_everything_and_rejoins_with_the_same_member_id() {
    let (mut sim, member) = stable(LATEST);
    let (s, _) = heartbeat_of(sim.advance(Duration::from_secs(3)));
    sim.reply(&s, hb(KafkaCode::ILLEGAL_GENERATION));
    let events = sim.take_events();
    assert!(
        matches!(events.as_slice(), [GroupEvent::Lost(p, e)] if p.len() == 3 && e.kafka_code() == Some(KafkaCode::ILLEGAL_GENERATION)),
        "{events:?}"
    );
    assert_eq!(sim.m.generation(), None);
    let (_, req) = sim.one();
    let Req::Join(j) = req else { panic!() };
    assert_eq!(j.member_id.as_str(), member);
    assert_eq!(
        j.reason.as_ref().map(|r| r.to_string()).as_deref(),
        Some("the generation was stale")
    );
}

#[test]
fn unknown_member_id_loses_everything_and_rejoins_as_a_new_member() {
    let (mut sim, _) = stable(LATEST);
    let (s, _) = heartbeat_of(sim.advance(Duration::from_secs(3)));
    sim.reply(&s, hb(KafkaCode::UNKNOWN_MEMBER_ID));
    assert!(matches!(sim.take_events().as_slice(), [GroupEvent::Lost(p, _)] if p.len() == 3));
    let (_, req) = sim.one();
    let Req::Join(j) = req else { panic!() };
    assert_eq!(j.member_id.as_str(), "");
}

#[test]
fn join_errors_are_retried_reset_or_fatal() {
    let cases: &[(KafkaCode, &str)] = &[
        (KafkaCode::COORDINATOR_LOAD_IN_PROGRESS, "retry"),
        (KafkaCode::REBALANCE_IN_PROGRESS, "retry"),
        (KafkaCode::NOT_COORDINATOR, "find"),
        (KafkaCode::UNKNOWN_MEMBER_ID, "retry-now"),
        (KafkaCode::ILLEGAL_GENERATION, "retry-now"),
        (KafkaCode::INCONSISTENT_GROUP_PROTOCOL, "fatal"),
        (KafkaCode::GROUP_AUTHORIZATION_FAILED, "fatal"),
        (KafkaCode::INVALID_SESSION_TIMEOUT, "fatal"),
        (KafkaCode::GROUP_MAX_SIZE_REACHED, "fatal"),
        (KafkaCode::FENCED_INSTANCE_ID, "fatal"),
    ];
    for &(code, expect) in cases {
        let mut sim = Sim::new(config(), KAFKA_2_1);
        sim.subscribe(&["t"]);
        let (s, _) = sim.one();
        sim.reply(&s, find_ok(2, 1));
        let (s, _) = sim.one();
        sim.reply(&s, join_err(code, ""));
        let now = sim.poll();
        match expect {
            "retry" => {
                assert!(now.is_empty(), "{code}: backoff first");
                let later = sim.advance(Duration::from_millis(200));
                assert!(
                    matches!(later.as_slice(), [(_, Req::Join(_))]),
                    "{code}: {later:?}"
                );
            }
            "retry-now" => assert!(matches!(now.as_slice(), [(_, Req::Join(_))]), "{code}: {now:?}"),
            "find" => assert!(matches!(now.as_slice(), [(_, Req::Find(_))]), "{code}: {now:?}"),
            _ => {
                assert!(now.is_empty());
                let events = sim.take_events();
                assert!(
                    matches!(events.as_slice(), [GroupEvent::Fatal(e)] if e.kafka_code() == Some(code)),
                    "{code}: {events:?}"
                );
                assert!(sim.advance(Duration::from_secs(60)).is_empty(), "{code}: stopped");
                assert!(sim.m.is_left());
            }
        }
    }
}

#[test]
fn sync_errors_rejoin() {
    for code in [
        KafkaCode::REBALANCE_IN_PROGRESS,
        KafkaCode::ILLEGAL_GENERATION,
        KafkaCode::UNKNOWN_MEMBER_ID,
        KafkaCode::NOT_COORDINATOR,
    ] {
        let mut sim = Sim::new(config(), LATEST);
        sim.subscribe(&["t"]);
        let (s, _) = sim.one();
        sim.reply(&s, find_ok(4, 1));
        let (s, _) = sim.one();
        sim.reply(&s, join_err(KafkaCode::MEMBER_ID_REQUIRED, "m"));
        let (s, _) = sim.one();
        sim.reply(&s, join_ok(1, "m", "leader", "range", &[]));
        let (s, req) = sim.one();
        let Req::Sync(sync) = req else { panic!() };
        assert!(sync.assignments.is_empty(), "followers send no assignments");
        sim.reply(&s, sync_err(code));
        let mut reqs = sim.advance(Duration::from_secs(1));
        if let Some((s, Req::Find(_))) = reqs.first() {
            let s = s.clone();
            sim.reply(&s, find_ok(4, 1));
            reqs = sim.poll();
        }
        let Some((_, Req::Join(again))) = reqs.first() else {
            panic!("{code}: no rejoin: {reqs:?}")
        };
        let expected_member = if code == KafkaCode::UNKNOWN_MEMBER_ID {
            ""
        } else {
            "m"
        };
        assert_eq!(again.member_id.as_str(), expected_member, "{code}");
    }
}

#[test]
fn session_expires_when_the_coordinator_is_unreachable() {
    let (mut sim, _) = stable(LATEST);
    let (s, _) = heartbeat_of(sim.advance(Duration::from_secs(3)));
    sim.reply(&s, hb(KafkaCode::NONE));
    // The coordinator goes away: every request fails.
    let (s, _) = heartbeat_of(sim.advance(Duration::from_secs(3)));
    sim.fail(&s);
    let mut lost_at = None;
    for _ in 0..100 {
        for (s, req) in sim.advance(Duration::from_millis(500)) {
            assert!(
                !matches!(req, Req::Join(_)) || lost_at.is_some(),
                "no join before the session is declared lost"
            );
            sim.fail(&s);
        }
        if lost_at.is_none() && sim.events.iter().any(|e| matches!(e, GroupEvent::Lost(..))) {
            lost_at = Some(sim.now);
        }
    }
    let events = sim.take_events();
    let lost: Vec<_> = events
        .iter()
        .filter(|e| matches!(e, GroupEvent::Lost(..)))
        .collect();
    assert_eq!(lost.len(), 1, "{events:?}");
    // Last successful heartbeat at t=3 s; the session is 10 s.
    let lost_at = lost_at.unwrap();
    assert!(lost_at >= sim.now - Duration::from_secs(50) - Duration::from_secs(1));
    assert!(sim.m.generation().is_none());
    assert!(
        events
            .iter()
            .any(|e| matches!(e, GroupEvent::CoordinatorUnavailable(_)))
    );
    // When the coordinator returns, the member rejoins from scratch.
    let (s, _) = heartbeat_or_find(&mut sim);
    sim.reply(&s, find_ok(4, 1));
    let (_, req) = sim.one();
    assert!(
        matches!(req, Req::Join(ref j) if j.member_id.is_empty()),
        "{req:?}"
    );
}

fn heartbeat_or_find(sim: &mut Sim) -> (Sent, Req) {
    let mut reqs = sim.advance(Duration::from_secs(2));
    assert!(!reqs.is_empty());
    reqs.remove(0)
}

#[test]
fn session_expiry_time_is_exact() {
    let (mut sim, _) = stable(LATEST);
    let t0 = sim.now;
    let (s, _) = heartbeat_of(sim.advance(Duration::from_secs(3)));
    sim.fail(&s);
    // Discovery keeps failing (requests left unanswered don't matter: timers drive expiry).
    sim.advance(Duration::from_millis(9_999) - Duration::from_secs(3));
    assert!(!sim.events.iter().any(|e| matches!(e, GroupEvent::Lost(..))));
    sim.advance(Duration::from_millis(1));
    assert_eq!(sim.now - t0, Duration::from_secs(10));
    assert!(sim.events.iter().any(|e| matches!(e, GroupEvent::Lost(..))));
}

#[test]
fn commit_errors_act_like_heartbeat_errors() {
    let (mut sim, _) = stable(LATEST);
    sim.m
        .handle_commit_error(KafkaCode::REBALANCE_IN_PROGRESS, sim.now);
    assert!(matches!(sim.take_events().as_slice(), [GroupEvent::Revoke(_)]));

    let (mut sim, _) = stable(LATEST);
    sim.m.handle_commit_error(KafkaCode::ILLEGAL_GENERATION, sim.now);
    assert!(matches!(sim.take_events().as_slice(), [GroupEvent::Lost(..)]));
    assert!(matches!(sim.one().1, Req::Join(_)));

    let (mut sim, _) = stable(LATEST);
    sim.m.handle_commit_error(KafkaCode::UNKNOWN_MEMBER_ID, sim.now);
    assert!(matches!(sim.take_events().as_slice(), [GroupEvent::Lost(..)]));
    assert!(matches!(sim.one().1, Req::Join(ref j) if j.member_id.is_empty()));

    let (mut sim, _) = stable(LATEST);
    sim.m.handle_commit_error(KafkaCode::NOT_COORDINATOR, sim.now);
    assert!(matches!(sim.one().1, Req::Find(_)));
    assert_eq!(sim.m.assignment().len(), 3);

    let (mut sim, _) = stable(LATEST);
    sim.m.handle_commit_error(KafkaCode::FENCED_INSTANCE_ID, sim.now);
    let events = sim.take_events();
    assert!(
        matches!(events.as_slice(), [GroupEvent::Lost(..), GroupEvent::Fatal(_)]),
        "{events:?}"
    );
}

#[test]
fn subscription_change_rejoins() {
    let (mut sim, _) = stable(LATEST);
    sim.subscribe(&["t"]);
    assert!(sim.take_events().is_empty(), "same subscription: nothing");
    sim.subscribe(&["t", "u"]);
    assert!(matches!(sim.take_events().as_slice(), [GroupEvent::Revoke(_)]));
    sim.m.handle_revoke_done(sim.now);
    let (_, req) = sim.one();
    let Req::Join(j) = req else { panic!() };
    let sub = crate::wire::Subscription::decode(j.protocols[0].metadata.clone()).unwrap();
    assert_eq!(sub.topics, ["t", "u"]);
}

#[test]
fn partition_count_change_rejoins() {
    let (mut sim, _) = stable(LATEST);
    sim.counts(&[("t", 3)]);
    assert!(sim.take_events().is_empty());
    sim.counts(&[("t", 4)]);
    assert!(matches!(sim.take_events().as_slice(), [GroupEvent::Revoke(_)]));
}

#[test]
fn late_responses_of_an_old_membership_are_ignored() {
    let (mut sim, _) = stable(LATEST);
    let (s, _) = heartbeat_of(sim.advance(Duration::from_secs(3)));
    sim.m.handle_commit_error(KafkaCode::UNKNOWN_MEMBER_ID, sim.now);
    sim.take_events();
    let (join, _) = sim.one();
    // The old heartbeat's answer arrives after the reset: ignored.
    sim.reply(&s, hb(KafkaCode::ILLEGAL_GENERATION));
    assert!(sim.take_events().is_empty());
    sim.reply(&join, join_err(KafkaCode::MEMBER_ID_REQUIRED, "new"));
    assert!(matches!(sim.one().1, Req::Join(ref j) if j.member_id.as_str() == "new"));
    // Unknown ids are ignored too.
    sim.m.handle_response(9999, Ok(Bytes::new()), 4, sim.now);
}

#[test]
fn an_unreachable_coordinator_is_rediscovered_with_backoff() {
    let (mut sim, _) = stable(LATEST);
    let (s, _) = heartbeat_of(sim.advance(Duration::from_secs(3)));
    sim.fail(&s);
    // First loss: rediscover at once.
    let (s, _) = sim.one();
    sim.reply(&s, find_ok(4, 1));
    let (s, _) = heartbeat_of(sim.poll());
    sim.fail(&s);
    // The same unreachable coordinator again: back off before asking.
    assert!(sim.poll().is_empty());
    let reqs = sim.advance(Duration::from_millis(200));
    assert!(matches!(reqs.as_slice(), [(_, Req::Find(_))]), "{reqs:?}");
    sim.reply(&reqs[0].0, find_ok(4, 1));
    let (s, _) = heartbeat_of(sim.poll());
    sim.reply(&s, hb(KafkaCode::NONE));
    // A success resets the backoff.
    let (s, _) = heartbeat_of(sim.advance(Duration::from_secs(3)));
    sim.fail(&s);
    assert!(matches!(sim.one().1, Req::Find(_)));
}

#[test]
fn cooperative_rebalance_rejoins_with_owned_partitions_and_revokes_nothing() {
    let mut c = config();
    c.assignors = vec![AssignorKind::CooperativeSticky];
    let mut sim = Sim::new(c, RDKAFKA_MOCK);
    sim.subscribe(&["t"]);
    join_alone(&mut sim, &["t"], &[("t", 3)], 1);
    sim.take_events();
    let (s, _) = heartbeat_of(sim.advance(Duration::from_secs(3)));
    sim.reply(&s, hb(KafkaCode::REBALANCE_IN_PROGRESS));
    assert!(sim.take_events().is_empty(), "nothing revoked");
    assert_eq!(
        sim.m.assignment().len(),
        3,
        "still consuming during the rebalance"
    );
    let (_, req) = sim.one();
    let Req::Join(j) = req else { panic!("{req:?}") };
    let sub = crate::wire::Subscription::decode(j.protocols[0].metadata.clone()).unwrap();
    assert_eq!(j.protocols[0].name.as_str(), "cooperative-sticky");
    assert_eq!(sub.generation_id, 1);
    assert_eq!(sub.owned_partitions.len(), 1);
    assert_eq!(sub.owned_partitions[0].partitions, [0, 1, 2]);
}

#[test]
fn group_authorization_failure_on_find_coordinator_is_fatal() {
    let mut sim = Sim::new(config(), LATEST);
    sim.subscribe(&["t"]);
    let (s, _) = sim.one();
    sim.reply(&s, find_err(4, KafkaCode::GROUP_AUTHORIZATION_FAILED));
    let events = sim.take_events();
    assert!(
        matches!(events.as_slice(), [GroupEvent::Fatal(e)] if e.kafka_code() == Some(KafkaCode::GROUP_AUTHORIZATION_FAILED)),
        "{events:?}"
    );
    assert!(sim.advance(Duration::from_secs(60)).is_empty());
}

#[test]
fn leader_told_to_skip_assignment_syncs_without_assignments() {
    let mut sim = Sim::new(config(), LATEST);
    sim.subscribe(&["t"]);
    let (s, _) = sim.one();
    sim.reply(&s, find_ok(4, 1));
    let (s, _) = sim.one();
    sim.reply(&s, join_err(KafkaCode::MEMBER_ID_REQUIRED, "m"));
    let (s, req) = sim.one();
    let Req::Join(j) = req else { panic!() };
    let response =
        join_ok(1, "m", "m", "range", &[("m", j.protocols[0].metadata.clone())]).with_skip_assignment(true);
    sim.reply(&s, response);
    let (_, req) = sim.one();
    assert!(
        matches!(req, Req::Sync(ref s) if s.assignments.is_empty()),
        "{req:?}"
    );
}

#[test]
fn a_protocol_this_member_did_not_offer_is_fatal() {
    let mut sim = Sim::new(config(), KAFKA_2_1);
    sim.subscribe(&["t"]);
    let (s, _) = sim.one();
    sim.reply(&s, find_ok(2, 1));
    let (s, _) = sim.one();
    sim.reply(&s, join_ok(1, "m", "m", "cooperative-sticky", &[]));
    let events = sim.take_events();
    assert!(
        matches!(events.as_slice(), [GroupEvent::Fatal(e)] if e.kafka_code() == Some(KafkaCode::INCONSISTENT_GROUP_PROTOCOL)),
        "{events:?}"
    );
}

#[test]
fn the_leader_rejoins_when_another_members_topic_grows() {
    let mut sim = Sim::new(config(), LATEST);
    sim.subscribe(&["a"]);
    let (s, _) = sim.one();
    sim.reply(&s, find_ok(4, 1));
    let (s, _) = sim.one();
    sim.reply(&s, join_err(KafkaCode::MEMBER_ID_REQUIRED, "m"));
    let (s, req) = sim.one();
    let Req::Join(j) = req else { panic!() };
    let other = crate::wire::Subscription {
        version: 0,
        topics: vec!["b".into()],
        user_data: None,
        owned_partitions: vec![],
        generation_id: -1,
        rack_id: None,
    }
    .encode()
    .unwrap();
    sim.reply(
        &s,
        join_ok(
            1,
            "m",
            "m",
            "range",
            &[("m", j.protocols[0].metadata.clone()), ("o", other)],
        ),
    );
    sim.counts(&[("a", 1), ("b", 1)]);
    let (s, req) = sim.one();
    let Req::Sync(sync) = req else { panic!() };
    let mine = sync
        .assignments
        .iter()
        .find(|a| a.member_id.as_str() == "m")
        .unwrap()
        .assignment
        .clone();
    sim.reply(&s, sync_ok(mine));
    sim.take_events();
    assert!(
        sim.m.topics_needed().contains("b"),
        "the leader watches every member's topics"
    );
    sim.counts(&[("b", 2)]);
    assert!(matches!(sim.take_events().as_slice(), [GroupEvent::Revoke(_)]));
}

#[test]
fn cooperative_unsubscribe_from_a_topic_revokes_only_its_partitions() {
    let mut c = config();
    c.assignors = vec![AssignorKind::CooperativeSticky];
    let mut sim = Sim::new(c, LATEST);
    sim.subscribe(&["a", "b"]);
    join_alone(&mut sim, &["a", "b"], &[("a", 2), ("b", 1)], 1);
    sim.take_events();
    sim.subscribe(&["a"]);
    let events = sim.take_events();
    assert!(
        matches!(events.as_slice(), [GroupEvent::Revoke(p)] if *p == tps(&[("b", 0)])),
        "{events:?}"
    );
    assert!(sim.poll().is_empty(), "JoinGroup waits for the revoke");
    sim.m.handle_revoke_done(sim.now);
    let (_, req) = sim.one();
    let Req::Join(j) = req else { panic!("{req:?}") };
    let sub = crate::wire::Subscription::decode(j.protocols[0].metadata.clone()).unwrap();
    assert_eq!(sub.topics, ["a"]);
    assert_eq!(sub.owned_partitions.len(), 1);
    assert_eq!(sub.owned_partitions[0].topic, "a");
    assert_eq!(sub.owned_partitions[0].partitions, [0, 1]);
}
