//! The fetch core on a virtual clock against scripted answers: positions from committed offsets,
//! start offsets and resets; per-broker plans (pipelining while behind, one long poll when caught
//! up); buffer room and pause as inputs; answers from old positions ignored; errors by the table.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::*;
use crate::error::ErrorKind;
use crate::sim::batch::{encode_batch, value};
use crate::sim::responses::{
    PartitionInfo, fetch_response, fetched, list_offsets_response, metadata, offset_fetch_response,
};
use crate::wire::KafkaCode;

fn config(group: bool) -> FetchConfig {
    FetchConfig {
        group_id: group.then(|| "g".to_owned()),
        offset_reset: OffsetReset::Earliest,
        start_at: None,
        isolation_level: IsolationLevel::ReadCommitted,
        fetch_min_bytes: 1,
        fetch_max_bytes: 1 << 20,
        max_partition_fetch_bytes: 1000,
        fetch_wait_max: Duration::from_millis(500),
        retry_backoff: Duration::from_millis(100),
        client_rack: None,
        preferred_replica_ttl: Duration::from_secs(300),
        sessions: true,
    }
}

fn tp(p: i32) -> TopicPartition {
    TopicPartition::new("t", p)
}

fn records(base: i64, n: i64) -> Bytes {
    let values: Vec<Bytes> = (base..base + n).map(|o| value(0, o)).collect();
    encode_batch(base, 1, &values)
}

struct Sim {
    core: FetchCore,
    now: Instant,
    gates: HashMap<TopicPartition, Gate>,
    coordinator: Option<NodeId>,
    events: Vec<FetchEvent>,
}

impl Sim {
    fn new(group: bool) -> Sim {
        Sim::with(config(group))
    }

    fn with(config: FetchConfig) -> Sim {
        let now = Instant::now();
        Sim {
            core: FetchCore::new(config, now),
            now,
            gates: HashMap::new(),
            coordinator: Some(9),
            events: vec![],
        }
    }

    /// Partitions `0..n` of "t", led by `leader(p)` at epoch 1.
    fn leaders(&mut self, n: i32, leader: impl Fn(i32) -> NodeId) {
        self.leaders_at(n, leader, 1);
    }

    /// Partitions `0..n` of "t", led by `leader(p)` at leader epoch `epoch`.
    fn leaders_at(&mut self, n: i32, leader: impl Fn(i32) -> NodeId, epoch: i32) {
        let parts: Vec<PartitionInfo> = (0..n)
            .map(|p| PartitionInfo {
                tp: tp(p),
                leader: Some(leader(p)),
                leader_epoch: epoch,
            })
            .collect();
        self.core
            .handle_metadata(metadata(&[1, 2, 3], &parts, 1), self.now);
    }

    fn requests(&mut self) -> Vec<FetchRequest> {
        let mut out = vec![];
        let gates = self.gates.clone();
        while let Some(r) = self.core.poll_request(self.coordinator, |tp| {
            gates.get(tp).copied().unwrap_or(Gate::Open)
        }) {
            out.push(r);
        }
        while let Some(e) = self.core.poll_event() {
            self.events.push(e);
        }
        out
    }

    fn advance(&mut self, d: Duration) {
        self.now += d;
        self.core.handle_timeout(self.now);
    }

    /// Assigns `t/0..n` and answers their positions with `offset` by ListOffsets (no group).
    fn ready_at(&mut self, n: i32, offset: i64) {
        for p in 0..n {
            self.core.assign(tp(p), self.now);
        }
        for r in self.requests() {
            let FetchRequest::ListOffsets { id, body, .. } = r else {
                panic!("expected ListOffsets, got {r:?}")
            };
            let answers: Vec<_> = body
                .partitions
                .iter()
                .map(|(tp, _, _)| (tp.clone(), KafkaCode::NONE, offset))
                .collect();
            self.core
                .handle_list_offsets(id, Ok(list_offsets_response(&answers)), self.now);
        }
    }

    fn take_events(&mut self) {
        while let Some(e) = self.core.poll_event() {
            self.events.push(e);
        }
    }

    fn delivered(&mut self) -> Vec<(TopicPartition, i64)> {
        self.take_events();
        let mut out = vec![];
        for e in std::mem::take(&mut self.events) {
            match e {
                FetchEvent::Fetched { tp, start_at, .. } => out.push((tp, start_at)),
                other => self.events.push(other),
            }
        }
        out
    }
}

/// A fetch as `(id, broker, [(partition, offset)], max wait ms)`.
type Sent = (u64, NodeId, Vec<(i32, i64)>, i32);

fn fetches(requests: &[FetchRequest]) -> Vec<Sent> {
    requests
        .iter()
        .filter_map(|r| match r {
            FetchRequest::Fetch { id, node, body } => Some((
                *id,
                *node,
                body.partitions
                    .iter()
                    .map(|p| (p.tp.partition, p.fetch_offset))
                    .collect(),
                body.max_wait_ms,
            )),
            _ => None,
        })
        .collect()
}

#[test]
fn without_a_group_positions_reset_by_policy_then_fetch_from_there() {
    let mut sim = Sim::new(false);
    sim.leaders(2, |_| 1);
    sim.core.assign(tp(0), sim.now);
    sim.core.assign(tp(1), sim.now);
    let reqs = sim.requests();
    assert_eq!(reqs.len(), 1, "one ListOffsets per leader: {reqs:?}");
    let FetchRequest::ListOffsets { id, node, body } = &reqs[0] else {
        panic!("{reqs:?}")
    };
    assert_eq!(*node, 1);
    assert!(
        body.partitions
            .iter()
            .all(|(_, epoch, ts)| (*epoch, *ts) == (1, -2)),
        "earliest, with the epoch"
    );
    sim.core.handle_list_offsets(
        *id,
        Ok(list_offsets_response(&[
            (tp(0), KafkaCode::NONE, 5),
            (tp(1), KafkaCode::NONE, 7),
        ])),
        sim.now,
    );
    let reqs = sim.requests();
    let f = fetches(&reqs);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].2, vec![(0, 5), (1, 7)]);
    assert_eq!(f[0].3, 500, "nothing known behind: the broker may hold it");
}

#[test]
fn a_start_offset_without_a_group_is_a_seek() {
    let mut c = config(false);
    c.start_at = Some(SeekTarget::Offset(42));
    let mut sim = Sim::with(c);
    sim.leaders(1, |_| 2);
    sim.core.assign(tp(0), sim.now);
    let f = fetches(&sim.requests());
    assert_eq!(f, vec![(f[0].0, 2, vec![(0, 42)], 500)]);
}

#[test]
fn with_a_group_positions_come_from_committed_offsets_once_the_coordinator_is_known() {
    let mut sim = Sim::new(true);
    sim.leaders(3, |_| 1);
    sim.coordinator = None;
    for p in 0..3 {
        sim.core.assign(tp(p), sim.now);
    }
    assert!(sim.requests().is_empty(), "no coordinator yet");
    sim.coordinator = Some(9);
    let reqs = sim.requests();
    let [FetchRequest::OffsetFetch { id, node: 9, body }] = &reqs[..] else {
        panic!("{reqs:?}")
    };
    assert_eq!(body.partitions.len(), 3);
    // Only one OffsetFetch at a time.
    sim.core.assign(tp(3), sim.now);
    assert!(sim.requests().is_empty());
    sim.core.handle_offset_fetch(
        *id,
        Ok(offset_fetch_response(
            KafkaCode::NONE,
            &[
                (tp(0), KafkaCode::NONE, 10),
                (tp(1), KafkaCode::NONE, -1),
                // tp(2) left out: asked again.
            ],
        )),
        sim.now,
    );
    let reqs = sim.requests();
    assert!(
        sim.events
            .iter()
            .any(|e| matches!(e, FetchEvent::Committed { tp: t, offset: 10 } if *t == tp(0)))
    );
    let kinds: Vec<&str> = reqs
        .iter()
        .map(|r| match r {
            FetchRequest::Fetch { .. } => "fetch",
            FetchRequest::ListOffsets { .. } => "list",
            FetchRequest::OffsetFetch { .. } => "committed",
            FetchRequest::OffsetForLeaderEpoch { .. } => "validate",
        })
        .collect();
    // tp(1) resets; tp(0) fetches from 10; tp(2) and the new tp(3) wait out the retry backoff.
    assert_eq!(kinds, vec!["list", "fetch"], "{reqs:?}");
    assert_eq!(fetches(&reqs)[0].2, vec![(0, 10)]);
    assert_eq!(
        sim.core.poll_timeout(),
        Some(sim.now + Duration::from_millis(100))
    );
    sim.advance(Duration::from_millis(100));
    let reqs = sim.requests();
    let retry = reqs.iter().find_map(|r| match r {
        FetchRequest::OffsetFetch { body, .. } => Some(body.partitions.clone()),
        _ => None,
    });
    assert_eq!(retry, Some(vec![tp(2), tp(3)]));
}

#[test]
fn behind_partitions_are_pipelined_over_disjoint_fetches_and_a_long_poll_goes_alone() {
    let mut sim = Sim::new(false);
    sim.leaders(8, |_| 1);
    sim.ready_at(8, 0);
    // Caught up (nothing known behind): one fetch that may wait, nothing behind it.
    let f = fetches(&sim.requests());
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].2.len(), 8);
    assert!(sim.requests().is_empty(), "nothing is sent behind a long poll");
    // The answer says every partition is behind (high watermark 100) and carries 10 records each.
    let answer = fetch_response(
        (0..8)
            .map(|p| (tp(p), fetched(KafkaCode::NONE, 100, Some(records(0, 10)))))
            .collect(),
    );
    sim.core.handle_fetch(f[0].0, Ok(answer), sim.now);
    assert_eq!(sim.delivered().len(), 8);
    let f = fetches(&sim.requests());
    assert_eq!(f.len(), FETCHES_PER_BROKER, "{f:?}");
    let mut all: Vec<i32> = f
        .iter()
        .flat_map(|(_, _, ps, _)| ps.iter().map(|(p, _)| *p))
        .collect();
    all.sort_unstable();
    assert_eq!(
        all,
        (0..8).collect::<Vec<_>>(),
        "each partition in exactly one fetch"
    );
    assert!(f.iter().all(|(_, _, ps, _)| ps.iter().all(|(_, o)| *o == 10)));
    assert!(sim.requests().is_empty(), "every partition is in a fetch");
}

#[test]
fn full_buffers_and_pauses_hold_partitions_back_and_full_ones_are_looked_at_again() {
    let mut sim = Sim::new(false);
    sim.leaders(3, |_| 1);
    sim.ready_at(3, 0);
    sim.gates.insert(tp(0), Gate::Full);
    sim.gates.insert(tp(1), Gate::Paused);
    let f = fetches(&sim.requests());
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].2, vec![(2, 0)]);
    assert_eq!(sim.core.poll_timeout(), Some(sim.now + BUFFER_RECHECK));
    sim.core.handle_fetch(
        f[0].0,
        Ok(fetch_response(vec![(tp(2), fetched(KafkaCode::NONE, 0, None))])),
        sim.now,
    );
    sim.gates.insert(tp(0), Gate::Open);
    let f = fetches(&sim.requests());
    assert_eq!(
        f[0].2,
        vec![(0, 0), (2, 0)],
        "room again: fetched; paused: still held"
    );
    // Nothing full: no recheck timer.
    assert_eq!(sim.core.poll_timeout(), None);
}

#[test]
fn an_ended_partition_is_neither_fetched_nor_looked_up() {
    let mut sim = Sim::new(false);
    sim.leaders(1, |_| 1);
    sim.core.assign(tp(0), sim.now);
    sim.gates.insert(tp(0), Gate::Ended);
    assert!(sim.requests().is_empty());
}

#[test]
fn an_answer_for_an_old_position_is_ignored() {
    let mut sim = Sim::new(false);
    sim.leaders(1, |_| 1);
    sim.ready_at(1, 0);
    let f = fetches(&sim.requests());
    sim.core.seek(&tp(0), 50, sim.now);
    sim.core.handle_fetch(
        f[0].0,
        Ok(fetch_response(vec![(
            tp(0),
            fetched(KafkaCode::NONE, 10, Some(records(0, 10))),
        )])),
        sim.now,
    );
    assert!(sim.delivered().is_empty());
    let f = fetches(&sim.requests());
    assert_eq!(f[0].2, vec![(0, 50)]);
}

/// The ListOffsets among `requests`, as (id, [(partition, timestamp)]).
fn lookups(requests: &[FetchRequest]) -> Vec<(u64, Vec<(i32, i64)>)> {
    requests
        .iter()
        .filter_map(|r| match r {
            FetchRequest::ListOffsets { id, body, .. } => Some((
                *id,
                body.partitions
                    .iter()
                    .map(|(tp, _, ts)| (tp.partition, *ts))
                    .collect(),
            )),
            _ => None,
        })
        .collect()
}

#[test]
fn a_seek_by_time_is_looked_up_and_no_record_after_it_means_the_end() {
    let mut sim = Sim::new(false);
    sim.leaders(1, |_| 1);
    sim.ready_at(1, 0);
    let f = fetches(&sim.requests());
    assert!(
        sim.core
            .seek_to(&tp(0), SeekTarget::Timestamp(1_700_000_000_000), sim.now)
    );
    // The fetch from the old position is answered after the seek: ignored.
    sim.core.handle_fetch(
        f[0].0,
        Ok(fetch_response(vec![(
            tp(0),
            fetched(KafkaCode::NONE, 10, Some(records(0, 10))),
        )])),
        sim.now,
    );
    assert!(sim.delivered().is_empty());
    let reqs = sim.requests();
    let l = lookups(&reqs);
    assert_eq!(l.len(), 1, "{reqs:?}");
    assert_eq!(l[0].1, vec![(0, 1_700_000_000_000)]);
    assert!(fetches(&reqs).is_empty(), "no fetch before the position is known");
    // No record at or after that time (offset -1): the end is looked up next, at once.
    sim.core.handle_list_offsets(
        l[0].0,
        Ok(list_offsets_response(&[(tp(0), KafkaCode::NONE, -1)])),
        sim.now,
    );
    let l = lookups(&sim.requests());
    assert_eq!(l[0].1, vec![(0, -1)]);
    sim.core.handle_list_offsets(
        l[0].0,
        Ok(list_offsets_response(&[(tp(0), KafkaCode::NONE, 10)])),
        sim.now,
    );
    assert_eq!(fetches(&sim.requests())[0].2, vec![(0, 10)]);
}

#[test]
fn a_seek_before_the_committed_offset_arrives_wins_and_a_second_seek_overrides_the_first() {
    let mut sim = Sim::new(true);
    sim.leaders(1, |_| 1);
    sim.core.assign(tp(0), sim.now);
    let reqs = sim.requests();
    let [FetchRequest::OffsetFetch { id, .. }] = &reqs[..] else {
        panic!("{reqs:?}")
    };
    assert!(sim.core.seek_to(&tp(0), SeekTarget::Timestamp(-2), sim.now));
    sim.core.handle_offset_fetch(
        *id,
        Ok(offset_fetch_response(
            KafkaCode::NONE,
            &[(tp(0), KafkaCode::NONE, 40)],
        )),
        sim.now,
    );
    let l = lookups(&sim.requests());
    assert_eq!(l.len(), 1);
    assert_eq!(l[0].1, vec![(0, -2)], "the seek, not the committed offset");
    // A second seek while the first is looked up: the first's answer is ignored.
    assert!(sim.core.seek_to(&tp(0), SeekTarget::Offset(7), sim.now));
    sim.core.handle_list_offsets(
        l[0].0,
        Ok(list_offsets_response(&[(tp(0), KafkaCode::NONE, 0)])),
        sim.now,
    );
    let reqs = sim.requests();
    assert!(lookups(&reqs).is_empty(), "{reqs:?}");
    assert_eq!(fetches(&reqs)[0].2, vec![(0, 7)]);
    assert!(
        !sim.core.seek_to(&tp(5), SeekTarget::Offset(0), sim.now),
        "not tracked"
    );
}

#[test]
fn from_the_end_looks_up_the_end_and_goes_back_not_below_zero() {
    let mut c = config(false);
    c.start_at = Some(SeekTarget::FromEnd(5));
    let mut sim = Sim::with(c);
    sim.leaders(2, |_| 1);
    sim.core.assign(tp(0), sim.now);
    sim.core.assign(tp(1), sim.now);
    let l = lookups(&sim.requests());
    assert_eq!(l[0].1, vec![(0, -1), (1, -1)], "the end, for both");
    sim.core.handle_list_offsets(
        l[0].0,
        Ok(list_offsets_response(&[
            (tp(0), KafkaCode::NONE, 12),
            (tp(1), KafkaCode::NONE, 3),
        ])),
        sim.now,
    );
    assert_eq!(fetches(&sim.requests())[0].2, vec![(0, 7), (1, 0)]);
}

#[test]
fn a_preferred_read_replica_serves_until_it_errs_the_leader_moves_or_it_expires() {
    let mut c = config(false);
    c.client_rack = Some("rack-2".into());
    c.preferred_replica_ttl = Duration::from_secs(60);
    let mut sim = Sim::with(c);
    sim.leaders(1, |_| 1);
    sim.ready_at(1, 0);
    let reqs = sim.requests();
    let FetchRequest::Fetch { id, node: 1, body } = &reqs[0] else {
        panic!("{reqs:?}")
    };
    assert_eq!(body.rack_id, "rack-2");
    // The leader names replica 2 (and sends no records).
    let mut answer = fetched(KafkaCode::NONE, 10, None);
    answer.preferred_read_replica = 2;
    sim.core
        .handle_fetch(*id, Ok(fetch_response(vec![(tp(0), answer)])), sim.now);
    let f = fetches(&sim.requests());
    assert_eq!(
        (f[0].1, f[0].2.clone()),
        (2, vec![(0, 0)]),
        "to the replica, same position"
    );
    sim.core.handle_fetch(
        f[0].0,
        Ok(fetch_response(vec![(
            tp(0),
            fetched(KafkaCode::NONE, 10, Some(records(0, 10))),
        )])),
        sim.now,
    );
    assert_eq!(sim.delivered(), vec![(tp(0), 0)]);
    let f = fetches(&sim.requests());
    assert_eq!((f[0].1, f[0].2.clone()), (2, vec![(0, 10)]));
    // The replica is behind the position: back to the leader, same position, no reset.
    sim.core.handle_fetch(
        f[0].0,
        Ok(fetch_response(vec![(
            tp(0),
            fetched(KafkaCode::OFFSET_OUT_OF_RANGE, 8, None),
        )])),
        sim.now,
    );
    let reqs = sim.requests();
    assert!(lookups(&reqs).is_empty(), "no reset: {reqs:?}");
    let f = fetches(&reqs);
    assert_eq!((f[0].1, f[0].2.clone()), (1, vec![(0, 10)]));
    // Named again; then a new leader epoch in metadata sends fetches to the (new) leader.
    let mut answer = fetched(KafkaCode::NONE, 10, None);
    answer.preferred_read_replica = 3;
    sim.core
        .handle_fetch(f[0].0, Ok(fetch_response(vec![(tp(0), answer)])), sim.now);
    let f = fetches(&sim.requests());
    assert_eq!(f[0].1, 3);
    sim.core.handle_fetch(
        f[0].0,
        Ok(fetch_response(vec![(tp(0), fetched(KafkaCode::NONE, 10, None))])),
        sim.now,
    );
    let parts = vec![PartitionInfo {
        tp: tp(0),
        leader: Some(2),
        leader_epoch: 2,
    }];
    sim.core.handle_metadata(metadata(&[1, 2, 3], &parts, 2), sim.now);
    // The new leader first confirms the position (KIP-320: see `epochs`), then serves it.
    let reqs = sim.requests();
    let Some(FetchRequest::OffsetForLeaderEpoch { id, node: 2, .. }) = reqs.first() else {
        panic!("{reqs:?}")
    };
    let end = crate::sim::responses::epoch_end_response(&[(tp(0), KafkaCode::NONE, 1, 10)]);
    sim.core.handle_offset_for_leader_epoch(*id, Ok(end), sim.now);
    let f = fetches(&sim.requests());
    assert_eq!(f[0].1, 2, "the new leader");
    // And a preference expires.
    let mut answer = fetched(KafkaCode::NONE, 10, None);
    answer.preferred_read_replica = 3;
    sim.core
        .handle_fetch(f[0].0, Ok(fetch_response(vec![(tp(0), answer)])), sim.now);
    let f = fetches(&sim.requests());
    assert_eq!(f[0].1, 3);
    sim.core.handle_fetch(
        f[0].0,
        Ok(fetch_response(vec![(tp(0), fetched(KafkaCode::NONE, 10, None))])),
        sim.now,
    );
    sim.advance(Duration::from_secs(61));
    let f = fetches(&sim.requests());
    assert_eq!(f[0].1, 2, "expired: the leader again");
}

#[test]
fn a_failed_seek_lookup_is_asked_again_not_reset_by_policy() {
    let mut sim = Sim::new(false);
    sim.leaders(1, |_| 1);
    sim.ready_at(1, 0);
    sim.requests();
    sim.core.seek_to(&tp(0), SeekTarget::Timestamp(-1), sim.now);
    let l = lookups(&sim.requests());
    sim.core.handle_list_offsets(
        l[0].0,
        Ok(list_offsets_response(&[(
            tp(0),
            KafkaCode::NOT_LEADER_OR_FOLLOWER,
            -1,
        )])),
        sim.now,
    );
    sim.advance(Duration::from_millis(100));
    sim.leaders(1, |_| 2);
    let l = lookups(&sim.requests());
    assert_eq!(
        l[0].1,
        vec![(0, -1)],
        "the seek's timestamp again, not the policy's earliest"
    );
}

#[test]
fn records_advance_the_position_and_a_truncated_batch_grows_the_fetch_size() {
    let mut sim = Sim::new(false);
    sim.leaders(1, |_| 1);
    sim.ready_at(1, 0);
    let f = fetches(&sim.requests());
    // A complete batch, then the first bytes of the next one (Kafka cuts at the fetch size).
    let mut bytes = records(0, 5).to_vec();
    bytes.extend_from_slice(&records(5, 5)[..20]);
    sim.core.handle_fetch(
        f[0].0,
        Ok(fetch_response(vec![(
            tp(0),
            fetched(KafkaCode::NONE, 10, Some(Bytes::from(bytes))),
        )])),
        sim.now,
    );
    assert_eq!(sim.delivered(), vec![(tp(0), 0)]);
    assert_eq!(sim.core.partition(&tp(0)).unwrap().position, 5);
    let reqs = sim.requests();
    let FetchRequest::Fetch { id, body, .. } = &reqs[0] else {
        panic!()
    };
    assert_eq!(body.partitions[0].partition_max_bytes, 1000);
    // Only a partial batch: ask for twice as much next time, up to fetch.max.bytes.
    sim.core.handle_fetch(
        *id,
        Ok(fetch_response(vec![(
            tp(0),
            fetched(KafkaCode::NONE, 10, Some(records(5, 5).slice(..30))),
        )])),
        sim.now,
    );
    assert!(sim.delivered().is_empty());
    let reqs = sim.requests();
    let FetchRequest::Fetch { body, .. } = &reqs[0] else {
        panic!()
    };
    assert_eq!(body.partitions[0].partition_max_bytes, 2000);
    assert_eq!(body.partitions[0].fetch_offset, 5);
}

#[test]
fn out_of_range_resets_and_a_moved_leader_is_found_again() {
    let mut sim = Sim::new(false);
    sim.leaders(2, |_| 1);
    sim.ready_at(2, 0);
    let f = fetches(&sim.requests());
    sim.core.handle_fetch(
        f[0].0,
        Ok(fetch_response(vec![
            (tp(0), fetched(KafkaCode::OFFSET_OUT_OF_RANGE, -1, None)),
            (tp(1), fetched(KafkaCode::NOT_LEADER_OR_FOLLOWER, -1, None)),
        ])),
        sim.now,
    );
    let reqs = sim.requests();
    assert!(
        matches!(&reqs[..], [FetchRequest::ListOffsets { body, .. }] if body.partitions[0].0 == tp(0)),
        "{reqs:?}"
    );
    assert!(
        sim.events
            .iter()
            .any(|e| matches!(e, FetchEvent::RefreshMetadata))
    );
    assert_eq!(sim.core.partition(&tp(1)).unwrap().leader, None);
    // New metadata: partition 1 moved to broker 2, at the same position.
    sim.leaders(2, |p| if p == 1 { 2 } else { 1 });
    let f = fetches(&sim.requests());
    assert_eq!(f, vec![(f[0].0, 2, vec![(1, 0)], 500)]);
}

#[test]
fn a_failed_fetch_backs_off_that_broker() {
    let mut sim = Sim::new(false);
    sim.leaders(2, |p| p + 1);
    sim.ready_at(2, 0);
    let f = fetches(&sim.requests());
    assert_eq!(f.len(), 2);
    let to_1 = f.iter().find(|x| x.1 == 1).unwrap().0;
    sim.core
        .handle_fetch(to_1, Err(Error::new(ErrorKind::Connection, "reset")), sim.now);
    assert!(
        fetches(&sim.requests()).is_empty(),
        "broker 1 waits out the backoff"
    );
    assert!(sim.events.iter().any(|e| matches!(e, FetchEvent::Warning(_))));
    assert_eq!(
        sim.core.poll_timeout(),
        Some(sim.now + Duration::from_millis(100))
    );
    sim.advance(Duration::from_millis(100));
    let f = fetches(&sim.requests());
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].1, 1);
}

#[test]
fn reset_policy_none_fails_the_partition_for_the_application() {
    let mut c = config(false);
    c.offset_reset = OffsetReset::None;
    let mut sim = Sim::with(c);
    sim.leaders(1, |_| 1);
    sim.core.assign(tp(0), sim.now);
    assert!(sim.requests().is_empty());
    assert!(
        matches!(&sim.events[..], [FetchEvent::Failed { tp: t, error }] if *t == tp(0) && error.kind() == ErrorKind::Config)
    );
    assert!(sim.requests().is_empty(), "failed once, not again");
    assert!(sim.events.len() == 1);
}

#[test]
fn read_committed_passes_aborted_transactions_and_reads_up_to_the_last_stable_offset() {
    let mut sim = Sim::new(false);
    sim.leaders(1, |_| 1);
    sim.ready_at(1, 0);
    let f = fetches(&sim.requests());
    let mut p = fetched(KafkaCode::NONE, 20, Some(records(0, 5)));
    p.last_stable_offset = 5;
    p.aborted_transactions = Some(vec![crate::wire::AbortedTransaction {
        producer_id: 7,
        first_offset: 2,
    }]);
    sim.core
        .handle_fetch(f[0].0, Ok(fetch_response(vec![(tp(0), p)])), sim.now);
    sim.take_events();
    let fetched: Vec<_> = sim
        .events
        .iter()
        .filter_map(|e| match e {
            FetchEvent::Fetched { aborted, .. } => Some(aborted.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        fetched,
        vec![Some(vec![AbortedTransaction {
            producer_id: 7,
            first_offset: 2
        }])]
    );
    // Position 5 = last stable offset: not behind, so the next fetch may wait.
    let f = fetches(&sim.requests());
    assert_eq!(f[0].3, 500);
}

/// Random inputs in any order: nothing panics, a partition is in at most one fetch, at most
/// [`FETCHES_PER_BROKER`] fetches go to a broker, positions
/// only move forward between seeks, and the core never asks to be woken in the past.
#[test]
fn random_operations_keep_the_plans_consistent() {
    for seed in 0..200u64 {
        let mut rng = crate::sim::Rng::new(seed);
        let mut sim = Sim::new(rng.below(2) == 0);
        let n = 1 + rng.below(6) as i32;
        sim.leaders(n, |p| 1 + p % 2);
        let mut in_flight: Vec<FetchRequest> = vec![];
        for _ in 0..300 {
            match rng.below(10) {
                0 => {
                    let p = rng.below(n as u64) as i32;
                    sim.core.assign(tp(p), sim.now);
                }
                1 => {
                    let p = rng.below(n as u64) as i32;
                    sim.core.remove(&tp(p));
                }
                2 => {
                    let p = tp(rng.below(n as u64) as i32);
                    let g = [Gate::Open, Gate::Full, Gate::Paused, Gate::Ended][rng.below(4) as usize];
                    sim.gates.insert(p, g);
                }
                3 => sim.leaders(n, |p| 1 + (p + seed as i32) % 3),
                4 => sim.advance(Duration::from_millis(rng.below(300))),
                _ if !in_flight.is_empty() => {
                    let r = in_flight.swap_remove(rng.below(in_flight.len() as u64) as usize);
                    answer(&mut sim, &mut rng, r);
                }
                _ => {}
            }
            let before: HashMap<TopicPartition, (u64, i64)> = sim
                .core
                .partitions()
                .map(|(tp, p)| (tp.clone(), (p.position_epoch, p.position)))
                .collect();
            in_flight.extend(sim.requests());
            // The engine's side of a divergence: where the application reads.
            for e in std::mem::take(&mut sim.events) {
                if let FetchEvent::Diverged { tp } = e {
                    let app_next = rng.below(60) as i64 - 1;
                    sim.core.handle_diverged(&tp, app_next, sim.now);
                }
            }
            for (tp, p) in sim.core.partitions() {
                if let Some((epoch, position)) = before.get(tp)
                    && *epoch == p.position_epoch
                {
                    assert!(p.position >= *position, "seed {seed}: {tp} went back");
                }
            }
            check_plans(seed, &sim, &in_flight);
            if let Some(t) = sim.core.poll_timeout() {
                assert!(t > sim.now, "seed {seed}: woken in the past");
            }
        }
    }
}

fn check_plans(seed: u64, sim: &Sim, in_flight: &[FetchRequest]) {
    let mut seen = std::collections::HashSet::new();
    let mut per_node: HashMap<NodeId, usize> = HashMap::new();
    for r in in_flight {
        if let FetchRequest::Fetch { node, body, id } = r {
            for p in &body.partitions {
                // A partition removed and assigned again may be in an old fetch and a new one.
                let current = sim.core.partition(&p.tp).and_then(|f| f.in_fetch);
                if current == Some(*id) {
                    assert!(seen.insert(p.tp.clone()), "seed {seed}: {} in two fetches", p.tp);
                }
            }
            *per_node.entry(*node).or_default() += 1;
        }
    }
    for (node, count) in per_node {
        assert!(
            count <= FETCHES_PER_BROKER,
            "seed {seed}: {count} fetches to broker {node}"
        );
    }
}

fn answer(sim: &mut Sim, rng: &mut crate::sim::Rng, r: FetchRequest) {
    let now = sim.now;
    let fail = rng.below(6) == 0;
    let err = || Error::new(ErrorKind::Connection, "reset");
    match r {
        FetchRequest::Fetch { id, body, .. } => {
            let result = if fail {
                Err(err())
            } else {
                let codes = [
                    KafkaCode::NONE,
                    KafkaCode::NONE,
                    KafkaCode::NONE,
                    KafkaCode::OFFSET_OUT_OF_RANGE,
                    KafkaCode::NOT_LEADER_OR_FOLLOWER,
                    KafkaCode::FENCED_LEADER_EPOCH,
                    KafkaCode(-1),
                ];
                let parts = body
                    .partitions
                    .iter()
                    .map(|p| {
                        let code = codes[rng.below(codes.len() as u64) as usize];
                        let n = rng.below(4) as i64;
                        let data = (n > 0).then(|| records(p.fetch_offset.max(0), n));
                        (
                            p.tp.clone(),
                            fetched(code, p.fetch_offset.max(0) + n + rng.below(3) as i64, data),
                        )
                    })
                    .collect();
                Ok(fetch_response(parts))
            };
            sim.core.handle_fetch(id, result, now);
        }
        FetchRequest::ListOffsets { id, body, .. } => {
            let result = if fail {
                Err(err())
            } else {
                let mut parts = vec![];
                for (tp, _, _) in &body.partitions {
                    if rng.below(5) != 0 {
                        parts.push((tp.clone(), KafkaCode::NONE, rng.below(100) as i64));
                    }
                }
                Ok(list_offsets_response(&parts))
            };
            sim.core.handle_list_offsets(id, result, now);
        }
        FetchRequest::OffsetFetch { id, body, .. } => {
            let result = if fail {
                Err(err())
            } else {
                let mut parts = vec![];
                for tp in &body.partitions {
                    if rng.below(5) != 0 {
                        parts.push((tp.clone(), KafkaCode::NONE, rng.below(100) as i64 - 30));
                    }
                }
                Ok(offset_fetch_response(KafkaCode::NONE, &parts))
            };
            sim.core.handle_offset_fetch(id, result, now);
        }
        FetchRequest::OffsetForLeaderEpoch { id, body, .. } => {
            let result = if fail {
                Err(err())
            } else {
                let codes = [KafkaCode::NONE, KafkaCode::NONE, KafkaCode::FENCED_LEADER_EPOCH];
                let mut parts = vec![];
                for (tp, _, epoch) in &body.partitions {
                    if rng.below(5) != 0 {
                        let code = codes[rng.below(codes.len() as u64) as usize];
                        let end = rng.below(100) as i64 - 1;
                        parts.push((tp.clone(), code, if end < 0 { -1 } else { *epoch }, end));
                    }
                }
                Ok(crate::sim::responses::epoch_end_response(&parts))
            };
            sim.core.handle_offset_for_leader_epoch(id, result, now);
        }
    }
}

mod epochs;
mod sessions;
mod topic_ids;
