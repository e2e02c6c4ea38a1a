//! Leaving the group: close (eager and static), max-poll-interval, fencing.

use super::scenarios::{heartbeat_of, stable};
use super::*;

#[test]
fn static_member_sends_its_instance_id_and_no_leave_group_on_close() {
    let mut c = config();
    c.group_instance_id = Some("instance-1".into());
    let mut sim = Sim::new(c, LATEST);
    sim.subscribe(&["t"]);
    let (s, _) = sim.one();
    sim.reply(&s, find_ok(4, 1));
    let (s, req) = sim.one();
    let Req::Join(j) = req else { panic!() };
    assert_eq!(
        j.group_instance_id.as_ref().map(|s| s.to_string()).as_deref(),
        Some("instance-1")
    );
    sim.reply(
        &s,
        join_ok(1, "m", "m", "range", &[("m", j.protocols[0].metadata.clone())]),
    );
    sim.counts(&[("t", 2)]);
    let (s, req) = sim.one();
    let Req::Sync(sync) = req else { panic!() };
    assert_eq!(
        sync.group_instance_id.as_ref().map(|s| s.to_string()).as_deref(),
        Some("instance-1")
    );
    sim.reply(&s, sync_ok(sync.assignments[0].assignment.clone()));
    let (s, h) = heartbeat_of(sim.advance(Duration::from_secs(3)));
    assert_eq!(
        h.group_instance_id.as_ref().map(|s| s.to_string()).as_deref(),
        Some("instance-1")
    );
    sim.reply(&s, hb(KafkaCode::NONE));
    sim.take_events();
    sim.m.leave(LeaveReason::Close, sim.now);
    assert!(matches!(sim.take_events().as_slice(), [GroupEvent::Revoke(p)] if p.len() == 2));
    assert!(!sim.m.is_left(), "waits for the revoke");
    sim.m.handle_revoke_done(sim.now);
    assert!(sim.poll().is_empty(), "KIP-345: no LeaveGroup");
    assert!(sim.m.is_left());
    assert!(
        sim.advance(Duration::from_secs(30)).is_empty(),
        "no more heartbeats"
    );
}

#[test]
fn static_membership_needs_join_group_v5() {
    let mut c = config();
    c.group_instance_id = Some("instance-1".into());
    let mut sim = Sim::new(c, KAFKA_2_1);
    sim.subscribe(&["t"]);
    let (s, _) = sim.one();
    sim.reply(&s, find_ok(2, 1));
    let r = sim.m.poll_request().unwrap();
    let err = r.request.encode(3).unwrap_err();
    sim.m.handle_response(r.id, Err(err.into()), 3, sim.now);
    let events = sim.take_events();
    assert!(
        matches!(events.as_slice(), [GroupEvent::Fatal(e)] if e.kind() == ErrorKind::UnsupportedVersion),
        "{events:?}"
    );
}

#[test]
fn fenced_instance_id_on_heartbeat_is_fatal() {
    let mut c = config();
    c.group_instance_id = Some("instance-1".into());
    let mut sim = Sim::new(c, LATEST);
    sim.subscribe(&["t"]);
    join_alone(&mut sim, &["t"], &[("t", 2)], 1);
    sim.take_events();
    let (s, _) = heartbeat_of(sim.advance(Duration::from_secs(3)));
    sim.reply(&s, hb(KafkaCode::FENCED_INSTANCE_ID));
    let events = sim.take_events();
    assert!(
        matches!(events.as_slice(), [GroupEvent::Lost(p, _), GroupEvent::Fatal(e)] if p.len() == 2 && e.kafka_code() == Some(KafkaCode::FENCED_INSTANCE_ID)),
        "{events:?}"
    );
    assert!(sim.advance(Duration::from_secs(60)).is_empty());
    assert!(sim.m.generation().is_none());
}

#[test]
fn dynamic_member_close_revokes_commits_then_leaves() {
    for versions in [LATEST, KAFKA_2_1] {
        let (mut sim, member) = stable(versions);
        sim.m.leave(LeaveReason::Close, sim.now);
        assert!(matches!(sim.take_events().as_slice(), [GroupEvent::Revoke(p)] if p.len() == 3));
        assert_eq!(
            sim.m.generation(),
            Some((1, member.clone())),
            "commits still work during the revoke"
        );
        assert!(sim.poll().is_empty());
        sim.m.handle_revoke_done(sim.now);
        let (s, req) = sim.one();
        let Req::Leave(l) = req else { panic!() };
        if versions.leave >= 3 {
            assert_eq!(l.members[0].member_id.as_str(), member);
        } else {
            assert_eq!(l.member_id.as_str(), member);
        }
        assert!(!sim.m.is_left());
        sim.reply(&s, leave_ok());
        assert!(sim.m.is_left());
        assert!(sim.advance(Duration::from_secs(30)).is_empty());
    }
}

#[test]
fn leave_finishes_even_if_the_leave_group_fails() {
    let (mut sim, _) = stable(LATEST);
    sim.m.leave(LeaveReason::Close, sim.now);
    sim.m.handle_revoke_done(sim.now);
    let (s, _) = sim.one();
    sim.fail(&s);
    assert!(sim.m.is_left());
}

#[test]
fn max_poll_exceeded_loses_all_leaves_and_rejoins_on_demand() {
    let (mut sim, member) = stable(LATEST);
    sim.m.leave(LeaveReason::MaxPollExceeded, sim.now);
    let events = sim.take_events();
    assert!(
        matches!(events.as_slice(), [GroupEvent::Lost(p, e)] if p.len() == 3 && e.to_string().contains("max.poll.interval")),
        "{events:?}"
    );
    let (s, req) = sim.one();
    assert!(matches!(req, Req::Leave(ref l) if l.members[0].member_id.as_str() == member));
    sim.reply(&s, leave_ok());
    assert!(sim.m.is_left());
    assert!(
        sim.advance(Duration::from_secs(30)).is_empty(),
        "no heartbeats after leaving"
    );
    sim.m.rejoin(sim.now);
    let (_, req) = sim.one();
    assert!(
        matches!(req, Req::Join(ref j) if j.member_id.is_empty()),
        "{req:?}"
    );
}

/// Found by the random-operations test: a member closing (revoke under way) that meets
/// UNKNOWN_MEMBER_ID or a session expiry must finish leaving, not rejoin.
#[test]
fn a_closing_member_that_loses_its_membership_does_not_rejoin() {
    for expire in [false, true] {
        let (mut sim, _) = stable(LATEST);
        sim.m.leave(LeaveReason::Close, sim.now);
        assert!(matches!(sim.take_events().as_slice(), [GroupEvent::Revoke(_)]));
        if expire {
            let (s, _) = heartbeat_of(sim.advance(Duration::from_secs(3)));
            sim.fail(&s);
            for (s, _) in sim.advance(Duration::from_secs(8)) {
                sim.fail(&s);
            }
        } else {
            sim.m.handle_commit_error(KafkaCode::UNKNOWN_MEMBER_ID, sim.now);
        }
        let reqs = sim.advance(Duration::from_secs(30));
        assert!(
            reqs.iter()
                .all(|(_, r)| matches!(r, Req::Leave(_) | Req::Find(_))),
            "expire={expire}: {reqs:?}"
        );
        for (s, r) in reqs {
            if matches!(r, Req::Leave(_)) {
                sim.reply(&s, leave_ok());
            }
        }
        sim.m.handle_revoke_done(sim.now);
        assert!(sim.m.is_left(), "expire={expire}");
    }
}
