//! The commit core on a virtual clock against scripted answers: manual commits and their typed
//! errors, retries within the request timeout, auto-commit only while stable (and no busy wake-up
//! meanwhile), the revoke wait, close, and never backwards.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use super::*;
use crate::sim::Rng;
use crate::sim::responses::offset_commit_response;

fn config(auto: bool) -> CommitConfig {
    CommitConfig {
        group_id: "g".into(),
        group_instance_id: None,
        auto_commit: auto,
        interval: Duration::from_secs(5),
        request_timeout: Duration::from_secs(30),
        retry_backoff: Duration::from_millis(100),
    }
}

fn tp(p: i32) -> TopicPartition {
    TopicPartition::new("t", p)
}

fn offset(p: i32, offset: i64) -> CommitOffset {
    CommitOffset {
        tp: tp(p),
        offset,
        leader_epoch: 3,
    }
}

fn stable() -> Option<CommitTarget> {
    Some(CommitTarget {
        generation_id_or_member_epoch: 7,
        member_id: "m".into(),
        coordinator: Some(1),
    })
}

/// The application's side: what it processed (and on close, was handed), what it released.
#[derive(Default)]
struct App {
    processed: BTreeMap<TopicPartition, i64>,
    handed: BTreeMap<TopicPartition, i64>,
    released: BTreeSet<TopicPartition>,
}

impl Progress for App {
    fn committable(&self, tp: &TopicPartition, closing: bool) -> Option<CommitOffset> {
        let mut o = self.processed.get(tp).copied();
        if closing {
            o = o.max(self.handed.get(tp).copied());
        }
        o.map(|offset| CommitOffset {
            tp: tp.clone(),
            offset,
            leader_epoch: 3,
        })
    }
    fn is_released(&mut self, tp: &TopicPartition) -> bool {
        self.released.contains(tp)
    }
}

struct Sim {
    core: CommitCore,
    now: Instant,
    target: Option<CommitTarget>,
    app: App,
    events: Vec<CommitEvent>,
}

impl Sim {
    fn new(auto: bool, partitions: i32) -> Sim {
        let now = Instant::now();
        let mut core = CommitCore::new(config(auto), now);
        for p in 0..partitions {
            core.assign(tp(p));
        }
        Sim {
            core,
            now,
            target: stable(),
            app: App::default(),
            events: vec![],
        }
    }

    fn poll(&mut self) -> Vec<OutgoingCommit> {
        let mut out = vec![];
        while let Some(c) = self.core.poll_request(self.target.as_ref(), &mut self.app) {
            out.push(c);
        }
        while let Some(e) = self.core.poll_event() {
            self.events.push(e);
        }
        out
    }

    fn advance(&mut self, d: Duration) -> Vec<OutgoingCommit> {
        self.now += d;
        self.core.handle_timeout(self.now);
        self.poll()
    }

    fn answer(&mut self, c: &OutgoingCommit, code: KafkaCode) {
        let parts: Vec<_> = c.body.offsets.iter().map(|o| (o.tp.clone(), code)).collect();
        self.core
            .handle_response(c.id, Ok(offset_commit_response(&parts)), self.now);
    }

    fn replies(&mut self) -> Vec<(u64, std::result::Result<(), Option<KafkaCode>>)> {
        self.poll();
        let mut out = vec![];
        for e in std::mem::take(&mut self.events) {
            match e {
                CommitEvent::Replied { reply, result } => {
                    out.push((reply, result.map_err(|e| e.kafka_code())))
                }
                other => self.events.push(other),
            }
        }
        out
    }
}

fn sent(c: &OutgoingCommit) -> Vec<(i32, i64)> {
    c.body
        .offsets
        .iter()
        .map(|o| (o.tp.partition, o.offset))
        .collect()
}

#[test]
fn a_manual_commit_carries_the_generation_and_its_answer_comes_back() {
    let mut sim = Sim::new(false, 2);
    sim.core
        .commit(1, vec![offset(0, 10)], sim.target.as_ref(), sim.now);
    let reqs = sim.poll();
    assert_eq!(reqs.len(), 1);
    let c = &reqs[0];
    assert_eq!(
        (
            c.node,
            c.body.generation_id_or_member_epoch,
            c.body.member_id.as_str()
        ),
        (1, 7, "m")
    );
    assert_eq!(c.timeout, Duration::from_secs(30));
    assert_eq!(sent(c), vec![(0, 10)]);
    sim.answer(c, KafkaCode::NONE);
    assert_eq!(sim.replies(), vec![(1, Ok(()))]);
    assert_eq!(sim.core.committed(&tp(0)), Some(10));
    assert!(!sim.core.is_busy());
}

#[test]
fn commits_fail_at_once_with_typed_errors_when_they_cannot_be_applied() {
    let mut sim = Sim::new(false, 1);
    sim.target = None;
    sim.core.commit(1, vec![offset(0, 1)], None, sim.now);
    sim.core.commit(2, vec![offset(5, 1)], stable().as_ref(), sim.now);
    assert!(sim.poll().is_empty());
    assert_eq!(
        sim.replies(),
        vec![
            (1, Err(Some(KafkaCode::REBALANCE_IN_PROGRESS))),
            (2, Err(Some(KafkaCode::ILLEGAL_GENERATION)))
        ]
    );
}

#[test]
fn a_stale_member_epoch_is_sent_again_with_the_current_epoch() {
    let mut sim = Sim::new(false, 1);
    sim.core
        .commit(1, vec![offset(0, 10)], sim.target.as_ref(), sim.now);
    let c = sim.poll().remove(0);
    let first_epoch = c.body.generation_id_or_member_epoch;
    // The member's epoch moved on (KIP-848) while the commit was on its way.
    sim.target.as_mut().unwrap().generation_id_or_member_epoch = first_epoch + 1;
    sim.answer(&c, KafkaCode::STALE_MEMBER_EPOCH);
    assert!(sim.replies().is_empty(), "not failed");
    let again = sim.advance(Duration::from_millis(100));
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].body.generation_id_or_member_epoch, first_epoch + 1);
    assert_eq!(sent(&again[0]), vec![(0, 10)]);
    sim.answer(&again[0], KafkaCode::NONE);
    assert_eq!(sim.replies(), vec![(1, Ok(()))]);
}

#[test]
fn coordinator_errors_are_retried_with_backoff_within_the_request_timeout() {
    let mut sim = Sim::new(false, 1);
    sim.core
        .commit(1, vec![offset(0, 10)], sim.target.as_ref(), sim.now);
    let c = sim.poll().remove(0);
    sim.answer(&c, KafkaCode::NOT_COORDINATOR);
    assert!(sim.replies().is_empty(), "not failed yet");
    assert!(
        sim.events
            .iter()
            .any(|e| matches!(e, CommitEvent::GroupError(KafkaCode::NOT_COORDINATOR))),
        "the membership is told (it rediscovers the coordinator)"
    );
    // The coordinator is unknown for a while: the retry waits, without waking the engine early.
    sim.target.as_mut().unwrap().coordinator = None;
    assert!(sim.advance(Duration::from_millis(100)).is_empty());
    assert!(
        sim.core.poll_timeout().is_some_and(|t| t > sim.now),
        "no busy wake-up"
    );
    sim.target.as_mut().unwrap().coordinator = Some(2);
    let c = sim.poll().remove(0);
    assert_eq!(c.node, 2);
    assert!(
        c.timeout < Duration::from_secs(30),
        "all attempts share one deadline"
    );
    sim.answer(&c, KafkaCode::COORDINATOR_LOAD_IN_PROGRESS);
    let mut replies = vec![];
    for _ in 0..400 {
        for c in sim.advance(Duration::from_millis(100)) {
            sim.answer(&c, KafkaCode::COORDINATOR_LOAD_IN_PROGRESS);
        }
        replies.extend(sim.replies());
        if !replies.is_empty() {
            break;
        }
    }
    assert_eq!(
        replies,
        vec![(1, Err(Some(KafkaCode::COORDINATOR_LOAD_IN_PROGRESS)))]
    );
    assert!(
        sim.now <= Instant::now() + Duration::from_secs(31),
        "within the request timeout"
    );
}

#[test]
fn a_rebalance_fails_a_waiting_retry_at_once() {
    let mut sim = Sim::new(false, 1);
    sim.core
        .commit(1, vec![offset(0, 10)], sim.target.as_ref(), sim.now);
    let c = sim.poll().remove(0);
    sim.answer(&c, KafkaCode::COORDINATOR_NOT_AVAILABLE);
    sim.target = None;
    assert_eq!(
        sim.replies(),
        vec![(1, Err(Some(KafkaCode::COORDINATOR_NOT_AVAILABLE)))]
    );
}

#[test]
fn a_retry_overtaken_by_a_newer_commit_is_not_sent_again() {
    let mut sim = Sim::new(false, 1);
    sim.core
        .commit(1, vec![offset(0, 10)], sim.target.as_ref(), sim.now);
    let old = sim.poll().remove(0);
    sim.answer(&old, KafkaCode::NOT_COORDINATOR);
    sim.core
        .commit(2, vec![offset(0, 20)], sim.target.as_ref(), sim.now);
    let new = sim.poll().remove(0);
    sim.answer(&new, KafkaCode::NONE);
    assert!(
        sim.advance(Duration::from_millis(100)).is_empty(),
        "10 is behind the committed 20"
    );
    assert_eq!(sim.replies(), vec![(2, Ok(())), (1, Ok(()))]);
    assert_eq!(sim.core.committed(&tp(0)), Some(20));
}

#[test]
fn auto_commit_commits_what_was_processed_on_its_interval_and_only_while_stable() {
    let mut sim = Sim::new(true, 2);
    sim.app.processed.insert(tp(0), 5);
    assert!(sim.poll().is_empty(), "not due yet");
    assert_eq!(sim.core.poll_timeout(), Some(sim.now + Duration::from_secs(5)));
    sim.target = None;
    assert!(
        sim.advance(Duration::from_secs(5)).is_empty(),
        "not stable: nothing is sent"
    );
    assert_eq!(
        sim.core.poll_timeout(),
        None,
        "and the engine is not woken until an input changes that"
    );
    sim.target = stable();
    let reqs = sim.poll();
    assert_eq!(reqs.iter().map(sent).collect::<Vec<_>>(), vec![vec![(0, 5)]]);
    sim.answer(&reqs[0], KafkaCode::NONE);
    // Nothing new processed: the next interval sends nothing.
    assert!(sim.advance(Duration::from_secs(5)).is_empty());
    sim.app.processed.insert(tp(0), 9);
    sim.app.processed.insert(tp(1), 1);
    let reqs = sim.advance(Duration::from_secs(5));
    assert_eq!(
        reqs.iter().map(sent).collect::<Vec<_>>(),
        vec![vec![(0, 9), (1, 1)]]
    );
}

#[test]
fn a_revoke_waits_for_the_streams_then_commits_then_completes() {
    let mut sim = Sim::new(true, 2);
    sim.app.processed.insert(tp(0), 4);
    sim.core.begin_revoke(
        vec![tp(0), tp(1)],
        sim.now + Duration::from_secs(60),
        sim.target.as_ref(),
        sim.now,
    );
    assert!(sim.poll().is_empty(), "the application still holds the streams");
    sim.app.released.insert(tp(0));
    assert!(sim.poll().is_empty());
    sim.app.released.insert(tp(1));
    let reqs = sim.poll();
    assert_eq!(reqs.iter().map(sent).collect::<Vec<_>>(), vec![vec![(0, 4)]]);
    assert!(
        !sim.events.iter().any(|e| matches!(e, CommitEvent::Revoked(_))),
        "not before the commit lands"
    );
    sim.answer(&reqs[0], KafkaCode::NONE);
    sim.poll();
    assert!(matches!(&sim.events[..], [CommitEvent::Revoked(tps)] if tps == &vec![tp(0), tp(1)]));
    assert_eq!(
        sim.core.committed(&tp(0)),
        None,
        "revoked partitions are no longer owned"
    );
}

#[test]
fn a_revoke_is_bounded_by_its_deadline() {
    let mut sim = Sim::new(true, 1);
    sim.core.begin_revoke(
        vec![tp(0)],
        sim.now + Duration::from_secs(3),
        sim.target.as_ref(),
        sim.now,
    );
    assert!(sim.poll().is_empty());
    assert_eq!(sim.core.poll_timeout(), Some(sim.now + Duration::from_secs(3)));
    sim.advance(Duration::from_secs(3));
    assert!(matches!(&sim.events[..], [CommitEvent::Revoked(_)]));
}

#[test]
fn close_commits_everything_handed_to_the_application() {
    let mut sim = Sim::new(true, 1);
    sim.app.processed.insert(tp(0), 4);
    sim.app.handed.insert(tp(0), 6);
    sim.app.released.insert(tp(0));
    sim.core.begin_close(sim.now);
    sim.core.begin_revoke(
        vec![tp(0)],
        sim.now + Duration::from_secs(60),
        sim.target.as_ref(),
        sim.now,
    );
    let reqs = sim.poll();
    assert_eq!(reqs.iter().map(sent).collect::<Vec<_>>(), vec![vec![(0, 6)]]);
}

#[test]
fn lost_partitions_are_neither_committed_nor_waited_for() {
    let mut sim = Sim::new(true, 2);
    sim.app.processed.insert(tp(0), 4);
    sim.app.processed.insert(tp(1), 4);
    sim.core.begin_revoke(
        vec![tp(0), tp(1)],
        sim.now + Duration::from_secs(60),
        sim.target.as_ref(),
        sim.now,
    );
    sim.app.released.insert(tp(1));
    sim.core.remove(&[tp(0)]);
    let reqs = sim.poll();
    assert_eq!(reqs.iter().map(sent).collect::<Vec<_>>(), vec![vec![(1, 4)]]);
}

/// Random inputs: the committed offset never goes backwards, every commit the application asked
/// for is answered exactly once, and the core never asks to be woken in the past.
#[test]
fn random_operations_answer_every_commit_once_and_never_go_backwards() {
    for seed in 0..300u64 {
        let mut rng = Rng::new(seed);
        let mut sim = Sim::new(rng.chance(50), 3);
        let mut in_flight: Vec<OutgoingCommit> = vec![];
        let mut asked = BTreeSet::new();
        let mut answered = BTreeSet::new();
        let mut last = BTreeMap::new();
        let mut next_reply = 1;
        for _ in 0..200 {
            match rng.below(9) {
                0 => {
                    let p = rng.below(4) as i32;
                    let o = rng.below(100) as i64;
                    sim.core
                        .commit(next_reply, vec![offset(p, o)], sim.target.as_ref(), sim.now);
                    asked.insert(next_reply);
                    next_reply += 1;
                }
                1 => {
                    let p = tp(rng.below(3) as i32);
                    let o = sim.app.processed.get(&p).copied().unwrap_or(0) + rng.below(5) as i64;
                    sim.app.processed.insert(p, o);
                }
                2 => sim.target = if rng.chance(70) { stable() } else { None },
                3 => {
                    let d = rng.millis(0, 3000);
                    in_flight.extend(sim.advance(d));
                }
                4 if rng.chance(20) => {
                    let tps = vec![tp(rng.below(3) as i32)];
                    sim.core
                        .begin_revoke(tps, sim.now + rng.millis(0, 5000), sim.target.as_ref(), sim.now);
                }
                5 => {
                    sim.app.released.insert(tp(rng.below(3) as i32));
                }
                _ if !in_flight.is_empty() => {
                    let c = in_flight.swap_remove(rng.below(in_flight.len() as u64) as usize);
                    if rng.chance(15) {
                        let e = Error::new(crate::error::ErrorKind::Timeout, "no answer");
                        sim.core.handle_response(c.id, Err(e), sim.now);
                    } else {
                        let codes = [
                            KafkaCode::NONE,
                            KafkaCode::NONE,
                            KafkaCode::NOT_COORDINATOR,
                            KafkaCode::COORDINATOR_LOAD_IN_PROGRESS,
                            KafkaCode::REBALANCE_IN_PROGRESS,
                            KafkaCode::ILLEGAL_GENERATION,
                        ];
                        sim.answer(&c, codes[rng.below(codes.len() as u64) as usize]);
                    }
                }
                _ => {}
            }
            in_flight.extend(sim.poll());
            for (reply, _) in sim.replies() {
                assert!(
                    asked.contains(&reply),
                    "seed {seed}: answer to a commit never made"
                );
                assert!(
                    answered.insert(reply),
                    "seed {seed}: commit {reply} answered twice"
                );
            }
            for p in 0..3 {
                if let Some(c) = sim.core.committed(&tp(p)) {
                    let before = last.insert(p, c).unwrap_or(-1);
                    assert!(c >= before, "seed {seed}: {p} went back from {before} to {c}");
                }
            }
            if let Some(t) = sim.core.poll_timeout() {
                assert!(t > sim.now, "seed {seed}: woken in the past");
            }
        }
        // Answer everything still in flight and let every deadline pass: all commits answered.
        for c in in_flight.drain(..) {
            sim.answer(&c, KafkaCode::NONE);
        }
        for _ in 0..40 {
            for c in sim.advance(Duration::from_secs(1)) {
                sim.answer(&c, KafkaCode::NONE);
            }
        }
        for (reply, _) in sim.replies() {
            assert!(
                answered.insert(reply),
                "seed {seed}: commit {reply} answered twice"
            );
        }
        assert_eq!(asked, answered, "seed {seed}: every commit is answered");
    }
}

/// Found by the simulation: a retry of a commit that met a coordinator error went out after a
/// newer commit of the same partition was sent, landed after it, and moved the group's offset
/// back (auto-commit 25 applied, then the retried 24). A retry now waits until nothing newer is
/// in flight, and is satisfied by the newer commit's acknowledgement.
#[test]
fn a_retry_never_lands_behind_a_newer_commit_in_flight() {
    let mut sim = Sim::new(true, 1);
    sim.app.processed.insert(tp(0), 24);
    let first = sim.advance(Duration::from_secs(5)).remove(0);
    assert_eq!(sent(&first), vec![(0, 24)]);
    sim.answer(&first, KafkaCode::COORDINATOR_LOAD_IN_PROGRESS);
    // A newer commit goes out before the retry is due.
    sim.core
        .commit(1, vec![offset(0, 25)], sim.target.as_ref(), sim.now);
    let newer = sim.poll().remove(0);
    assert_eq!(sent(&newer), vec![(0, 25)]);
    assert!(
        sim.advance(Duration::from_millis(500)).is_empty(),
        "the retry waits for the newer commit"
    );
    sim.answer(&newer, KafkaCode::NONE);
    assert!(
        sim.advance(Duration::from_millis(500)).is_empty(),
        "and is satisfied by it"
    );
    assert_eq!(sim.core.committed(&tp(0)), Some(25));
    // The same when the newer one's answer is lost: it may have been applied.
    sim.app.processed.insert(tp(0), 30);
    let a = sim.advance(Duration::from_secs(5)).remove(0);
    sim.answer(&a, KafkaCode::NOT_COORDINATOR);
    sim.core
        .commit(2, vec![offset(0, 31)], sim.target.as_ref(), sim.now);
    let b = sim.poll().remove(0);
    let e = Error::new(crate::error::ErrorKind::Timeout, "no answer");
    sim.core.handle_response(b.id, Err(e), sim.now);
    for _ in 0..10 {
        for c in sim.advance(Duration::from_millis(500)) {
            assert!(
                sent(&c).iter().all(|(_, o)| *o >= 31),
                "nothing below an offset in doubt: {c:?}"
            );
        }
    }
}

/// Found by the simulation: the membership started over (its session expired, it rejoined under
/// a new member id) while the application still held revoked streams; the revoke's commit then
/// went out under the new generation, for partitions another member owned by then, and moved
/// their offsets back. A revoke belongs to its generation: when that is over, it is abandoned
/// (the partitions are lost, nothing is committed), and commits for them are refused.
#[test]
fn a_revoke_that_outlives_its_generation_commits_nothing() {
    let mut sim = Sim::new(true, 2);
    sim.app.processed.insert(tp(0), 19);
    sim.app.processed.insert(tp(1), 5);
    sim.core.begin_revoke(
        vec![tp(0)],
        sim.now + Duration::from_secs(60),
        sim.target.as_ref(),
        sim.now,
    );
    assert!(sim.poll().is_empty(), "the application holds the stream");
    sim.target = Some(CommitTarget {
        generation_id_or_member_epoch: 9,
        member_id: "m-new".into(),
        coordinator: Some(1),
    });
    sim.core
        .commit(1, vec![offset(0, 19)], sim.target.as_ref(), sim.now);
    let reqs = sim.poll();
    assert!(reqs.is_empty(), "{reqs:?}");
    assert_eq!(sim.replies(), vec![(1, Err(Some(KafkaCode::ILLEGAL_GENERATION)))]);
    assert!(
        matches!(&sim.events[..], [CommitEvent::Abandoned(tps)] if tps == &vec![tp(0)]),
        "{:?}",
        sim.events
    );
    // The partition still owned is committed under the new generation as usual.
    sim.app.released.insert(tp(0));
    let reqs = sim.advance(Duration::from_secs(5));
    assert_eq!(reqs.iter().map(sent).collect::<Vec<_>>(), vec![vec![(1, 5)]]);
    assert_eq!(reqs[0].body.generation_id_or_member_epoch, 9);
}

#[test]
fn after_a_seek_auto_commit_goes_below_the_committed_offset_and_old_commits_stop_counting() {
    let mut sim = Sim::new(true, 1);
    sim.app.processed.insert(tp(0), 20);
    let reqs = sim.advance(Duration::from_secs(5));
    sim.answer(&reqs[0], KafkaCode::NONE);
    // 30 in flight when the application seeks back to 5.
    sim.app.processed.insert(tp(0), 30);
    let in_flight = sim.advance(Duration::from_secs(5));
    assert_eq!(
        in_flight.iter().map(sent).collect::<Vec<_>>(),
        vec![vec![(0, 30)]]
    );
    sim.core.handle_seek(&tp(0));
    sim.app.processed.insert(tp(0), 7);
    // The old commit's answer does not make 30 the floor again.
    sim.answer(&in_flight[0], KafkaCode::NONE);
    let reqs = sim.advance(Duration::from_secs(5));
    assert_eq!(
        reqs.iter().map(sent).collect::<Vec<_>>(),
        vec![vec![(0, 7)]],
        "what is processed from the sought position is committed, below 20 and 30"
    );
    sim.answer(&reqs[0], KafkaCode::NONE);
    assert_eq!(sim.core.committed(&tp(0)), Some(7));
    // And from there on, never backwards again.
    sim.app.processed.insert(tp(0), 6);
    assert!(sim.advance(Duration::from_secs(5)).is_empty());
}

#[test]
fn a_seek_drops_the_partition_from_waiting_retries() {
    let mut sim = Sim::new(false, 2);
    sim.core
        .commit(1, vec![offset(0, 50)], sim.target.as_ref(), sim.now);
    let reqs = sim.poll();
    sim.answer(&reqs[0], KafkaCode::NOT_COORDINATOR);
    sim.core.handle_seek(&tp(0));
    let replies = sim.replies();
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert!(replies[0].1.is_err(), "the superseded commit fails: {replies:?}");
    assert!(
        sim.advance(Duration::from_secs(1)).is_empty(),
        "and is not sent again"
    );
}
