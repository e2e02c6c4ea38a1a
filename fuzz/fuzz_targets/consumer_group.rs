//! The consumer-protocol (KIP-848) membership machine under fuzz-chosen operations and answers:
//! ConsumerGroupHeartbeat answers built from fuzz values (error codes, member ids, epochs, heartbeat
//! intervals, assignments naming known and unknown topic ids and any partition numbers) or raw
//! fuzz bytes, transport errors, time passing, revokes finishing, topic ids resolved, commit
//! errors, leaving and rejoining.
//!
//! Invariants checked after every operation: no panic; partitions are assigned only when not
//! owned and revoked or lost only when owned; at most one revoke is outstanding; nothing follows
//! a Fatal event; the machine never asks to be woken in the past; every request id is fresh; a
//! member that may commit (a generation) has a positive epoch.
#![no_main]

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::consumer_group_heartbeat_response::{Assignment, TopicPartitions};
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, ConsumerGroupHeartbeatResponse, FindCoordinatorResponse};
use kafka_protocol::protocol::{Encodable, StrBytes};
use kafkit::ErrorKind;
use kafkit::TopicPartition;
use kafkit::fuzzing::{
    ConsumerProtocolHarness, HarnessConfig, HarnessEvent, HarnessRequest, transport_error,
};
use kafkit::wire::ApiKey;
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;

/// Topic ids the assignments may name: two the metadata knows, one it never does.
const IDS: [[u8; 16]; 3] = [[1; 16], [2; 16], [9; 16]];
/// Codes the coordinator answers with (KIP-848's, the coordinator ones, and a stray).
const CODES: [i16; 13] = [0, 0, 0, 0, 15, 14, 16, 25, 110, 111, 112, 113, -1];

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_owned())
}

fn encode<T: Encodable>(message: &T, version: i16) -> Option<Bytes> {
    let mut buf = BytesMut::new();
    message.encode(&mut buf, version).ok()?;
    Some(buf.freeze())
}

fn heartbeat_answer(u: &mut Unstructured, version: i16) -> Result<Option<Bytes>> {
    let code = *u.choose(&CODES)?;
    let assignment = if u.ratio(1, 2)? {
        let mut topics = Vec::new();
        for _ in 0..u.int_in_range(0..=3)? {
            let id = *u.choose(&IDS)?;
            let mut partitions = Vec::new();
            for _ in 0..u.int_in_range(0..=5)? {
                partitions.push(if u.ratio(1, 16)? {
                    u.arbitrary()?
                } else {
                    u.int_in_range(0..=3)?
                });
            }
            topics.push(
                TopicPartitions::default()
                    .with_topic_id(uuid::Uuid::from_bytes(id))
                    .with_partitions(partitions),
            );
        }
        Some(Assignment::default().with_topic_partitions(topics))
    } else {
        None
    };
    let member_id = match u.int_in_range(0..=3)? {
        0 => None,
        1 => Some(sb("")),
        _ => Some(sb("member-1")),
    };
    let epoch = if u.ratio(1, 8)? {
        u.arbitrary()?
    } else {
        u.int_in_range(-2..=6)?
    };
    let interval = if u.ratio(1, 8)? {
        u.arbitrary()?
    } else {
        u.int_in_range(0..=5000)?
    };
    let message = ConsumerGroupHeartbeatResponse::default()
        .with_error_code(code)
        .with_member_id(member_id)
        .with_member_epoch(epoch)
        .with_heartbeat_interval_ms(interval)
        .with_assignment(assignment);
    Ok(encode(&message, version))
}

fn coordinator_answer(u: &mut Unstructured, version: i16) -> Result<Option<Bytes>> {
    let node = BrokerId(u.int_in_range(-1..=3)?);
    let message = if version >= 4 {
        FindCoordinatorResponse::default().with_coordinators(vec![
            Coordinator::default()
                .with_key(sb("g"))
                .with_node_id(node)
                .with_host(sb("coordinator.example"))
                .with_port(9092)
                .with_error_code(*u.choose(&[0, 0, 15])?),
        ])
    } else {
        FindCoordinatorResponse::default()
            .with_node_id(node)
            .with_host(sb("coordinator.example"))
            .with_port(9092)
    };
    Ok(encode(&message, version))
}

/// Answers `req` (well-formed, raw bytes, or a transport error).
fn answer(
    h: &mut ConsumerProtocolHarness,
    u: &mut Unstructured,
    req: HarnessRequest,
    now: Instant,
) -> Result<()> {
    let version = match req.api {
        ApiKey::FindCoordinator => u.int_in_range(1..=4)?,
        _ => u.int_in_range(0..=1)?,
    };
    let response = match u.int_in_range(0..=9)? {
        0 => Err(transport_error(*u.choose(&[
            ErrorKind::Connection,
            ErrorKind::Timeout,
            ErrorKind::UnsupportedVersion,
        ])?)),
        1 => {
            let n = u.int_in_range(0..=40)?;
            Ok(Bytes::copy_from_slice(u.bytes(n)?))
        }
        _ => {
            let body = match req.api {
                ApiKey::FindCoordinator => coordinator_answer(u, version)?,
                ApiKey::ConsumerGroupHeartbeat => heartbeat_answer(u, version)?,
                _ => None,
            };
            match body {
                Some(b) => Ok(b),
                None => Err(transport_error(ErrorKind::Protocol)),
            }
        }
    };
    h.handle_response(req.id, response, version, now);
    Ok(())
}

fn run(u: &mut Unstructured) -> Result<()> {
    let secs = Duration::from_secs;
    let config = HarnessConfig {
        cooperative: true,
        static_member: u.ratio(1, 4)?,
        session_timeout: *u.choose(&[secs(10), secs(45)])?,
        heartbeat_interval: secs(3),
        rebalance_timeout: *u.choose(&[secs(30), secs(300)])?,
        request_timeout: secs(30),
        retry_backoff: Duration::from_millis(100),
    };
    let mut now = Instant::now();
    let Ok(mut h) = ConsumerProtocolHarness::new(&config, now) else {
        return Ok(());
    };
    h.subscribe(["a".to_owned(), "b".to_owned()].into(), now);
    let mut pending: Vec<HarnessRequest> = Vec::new();
    let mut ids_seen: HashSet<u64> = HashSet::new();
    let mut owned: BTreeSet<TopicPartition> = BTreeSet::new();
    let mut revoking: Option<Vec<TopicPartition>> = None;
    let mut fatal = false;
    for _ in 0..u.int_in_range(1..=150)? {
        while let Some(r) = h.poll_request() {
            assert!(ids_seen.insert(r.id), "request id {} reused", r.id);
            pending.push(r);
        }
        while let Some(e) = h.poll_event() {
            assert!(!fatal, "{e:?} after a Fatal event");
            match e {
                HarnessEvent::Assigned(p) => {
                    for tp in p {
                        assert!(owned.insert(tp.clone()), "{tp} assigned while owned");
                    }
                }
                HarnessEvent::Revoke(p) => {
                    assert!(revoking.is_none(), "a second revoke while one is outstanding");
                    for tp in &p {
                        assert!(owned.contains(tp), "{tp} revoked but not owned");
                    }
                    revoking = Some(p);
                }
                HarnessEvent::Lost(p, _) => {
                    for tp in &p {
                        assert!(owned.remove(tp), "{tp} lost but not owned");
                    }
                    // A loss ends a revoke of those partitions (the engine drops their streams).
                    if let Some(r) = &mut revoking {
                        r.retain(|tp| !p.contains(tp));
                        if r.is_empty() {
                            revoking = None;
                        }
                    }
                }
                HarnessEvent::Fatal(_) => fatal = true,
                HarnessEvent::Joined { .. } | HarnessEvent::CoordinatorUnavailable(_) => {}
            }
        }
        if let Some((epoch, _)) = h.generation() {
            assert!(epoch > 0, "may commit at member epoch {epoch}");
        }
        if let Some(t) = h.poll_timeout() {
            assert!(t >= now, "asks to be woken in the past");
        }
        match u.int_in_range(0..=7)? {
            0..=2 if !pending.is_empty() => {
                let i = u.choose_index(pending.len())?;
                let req = pending.swap_remove(i);
                answer(&mut h, u, req, now)?;
            }
            3 => {
                now += Duration::from_millis(u.int_in_range(0..=60_000)?);
                h.handle_timeout(now);
            }
            4 => {
                if let Some(p) = revoking.take() {
                    for tp in p {
                        owned.remove(&tp);
                    }
                    h.handle_revoke_done(now);
                }
            }
            5 => {
                let ids: BTreeMap<[u8; 16], String> =
                    [(IDS[0], "a".to_owned()), (IDS[1], "b".to_owned())].into();
                h.handle_topic_ids(&ids, now);
            }
            6 => h.handle_commit_error(*u.choose(&CODES)?, now),
            7 => {
                if u.ratio(1, 3)? {
                    h.rejoin(now);
                } else {
                    h.leave(u.arbitrary()?, now);
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let _ = run(&mut u);
});
