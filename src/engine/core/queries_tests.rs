//! The offsets questions on the engine core, fed as the driver does: batching that never names a
//! partition twice, leadership errors retried after a metadata refresh, unknown partitions and
//! deadlines answered with errors, late answers ignored. No sockets, no sleeps.

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use super::{EngineCore, HandoffEnds};
use crate::config::ConsumerConfig;
use crate::engine::transmit::{Response, Transmit};
use crate::error::ErrorKind;
use crate::events::Reporter;
use crate::fetch::FetchRequest;
use crate::handoff::{Command, Query, RejoinSignal};
use crate::sim::responses::{PartitionInfo, list_offsets_response, metadata};
use crate::types::TopicPartition;
use crate::wire::KafkaCode;

fn tp(topic: &str, p: i32) -> TopicPartition {
    TopicPartition::new(topic, p)
}

fn core(now: Instant) -> EngineCore {
    let config = ConsumerConfig {
        bootstrap: vec!["broker-1:9092".into()],
        topics: vec!["t".into()],
        ..ConsumerConfig::default()
    };
    let (commands_tx, _commands) = mpsc::channel(16);
    let (partitions, _partitions_rx) = mpsc::unbounded_channel();
    let ends = HandoffEnds {
        partitions,
        reporter: Reporter::new(),
        rejoin: Arc::new(RejoinSignal::new(commands_tx)),
        total_buffered: Arc::new(AtomicUsize::new(0)),
    };
    match EngineCore::new(config, ends, now) {
        Ok(core) => core,
        Err(e) => panic!("the core did not start: {e}"),
    }
}

fn led(tps: &[TopicPartition], leader: i32) -> Vec<PartitionInfo> {
    tps.iter()
        .map(|tp| PartitionInfo {
            tp: tp.clone(),
            leader: Some(leader),
            leader_epoch: 0,
        })
        .collect()
}

/// A question's ListOffsets as sent: (id, node, [(partition, timestamp)], isolation).
type Lookup = (u64, i32, Vec<(TopicPartition, i64)>, i8);

/// The transmits, split into metadata requests and the questions' ListOffsets.
fn sent(core: &mut EngineCore) -> (usize, Vec<Lookup>) {
    let mut metadata = 0;
    let mut lookups = Vec::new();
    while let Some(t) = core.poll_transmit() {
        match t {
            Transmit::Metadata { .. } => metadata += 1,
            Transmit::Fetch(FetchRequest::ListOffsets { id, node, body })
                if super::queries::is_query_id(id) =>
            {
                let parts = body
                    .partitions
                    .iter()
                    .map(|(tp, _, ts)| (tp.clone(), *ts))
                    .collect();
                lookups.push((id, node, parts, body.isolation_level));
            }
            _ => {}
        }
    }
    (metadata, lookups)
}

#[test]
fn watermarks_ask_three_lookups_without_naming_a_partition_twice_and_retry_a_moved_leader() {
    let start = Instant::now();
    let mut core = core(start);
    core.handle_timeout(start);
    let x0 = tp("x", 0);
    core.handle_response(
        Response::Metadata(Ok(metadata(&[1, 2], &led(&[tp("t", 0), x0.clone()], 1), 1))),
        start,
    );
    sent(&mut core);
    let (reply, mut rx) = oneshot::channel();
    core.handle_command(
        Command::Query(Query::Watermarks {
            tp: x0.clone(),
            reply,
        }),
        start,
    );
    let (_, lookups) = sent(&mut core);
    // Earliest and latest (read_uncommitted) cannot share a request; the LSO goes read_committed.
    assert_eq!(lookups.len(), 3, "{lookups:?}");
    for (_, node, parts, _) in &lookups {
        assert_eq!(*node, 1);
        assert_eq!(parts.len(), 1, "one partition per request: {parts:?}");
    }
    let isolations: Vec<i8> = lookups.iter().map(|l| l.3).collect();
    assert_eq!(isolations.iter().filter(|i| **i == 1).count(), 1);
    // Two answered; the third meets a moved leader.
    for (id, _, parts, isolation) in &lookups {
        let (code, offset) = match (parts[0].1, isolation) {
            (-2, _) => (KafkaCode::NONE, 3),
            (-1, 0) => (KafkaCode::NONE, 10),
            _ => (KafkaCode::NOT_LEADER_OR_FOLLOWER, -1),
        };
        let answer = list_offsets_response(&[(x0.clone(), code, offset)]);
        core.handle_response(
            Response::ListOffsets {
                id: *id,
                result: Ok(answer),
            },
            start,
        );
    }
    assert!(rx.try_recv().is_err(), "not answered yet");
    // After the backoff (and a metadata refresh naming the new leader) only the third is asked again.
    let later = start + Duration::from_millis(150);
    core.handle_response(
        Response::Metadata(Ok(metadata(&[1, 2], &led(&[tp("t", 0), x0.clone()], 2), 2))),
        later,
    );
    core.handle_timeout(later);
    let (_, again) = sent(&mut core);
    assert_eq!(again.len(), 1, "{again:?}");
    assert_eq!(
        (again[0].1, again[0].3),
        (2, 1),
        "to the new leader, read_committed"
    );
    let answer = list_offsets_response(&[(x0.clone(), KafkaCode::NONE, 9)]);
    core.handle_response(
        Response::ListOffsets {
            id: again[0].0,
            result: Ok(answer),
        },
        later,
    );
    let w = rx.try_recv().expect("answered").expect("watermarks");
    assert_eq!((w.low, w.high, w.last_stable), (3, 10, 9));
}

#[test]
fn an_unknown_partition_is_an_error_and_a_silent_leader_runs_into_the_deadline() {
    let start = Instant::now();
    let mut core = core(start);
    core.handle_timeout(start);
    core.handle_response(
        Response::Metadata(Ok(metadata(&[1], &led(&[tp("t", 0)], 1), 1))),
        start,
    );
    sent(&mut core);
    let (reply, mut rx) = oneshot::channel();
    core.handle_command(
        Command::Query(Query::OffsetsForTimes {
            times: vec![(tp("t", 5), 0)],
            reply,
        }),
        start,
    );
    let e = rx.try_recv().expect("answered at once").unwrap_err();
    assert!(e.to_string().contains("has 1 partitions"), "{e}");
    assert_eq!(e.kafka_code(), Some(KafkaCode::UNKNOWN_TOPIC_OR_PARTITION));

    let (reply, mut rx) = oneshot::channel();
    core.handle_command(
        Command::Query(Query::OffsetsForTimes {
            times: vec![(tp("t", 0), 0), (tp("t", 0), 99)],
            reply,
        }),
        start,
    );
    let (_, lookups) = sent(&mut core);
    assert_eq!(lookups.len(), 2, "the same partition twice: two requests");
    // No answer: the deadline (request.timeout.ms) answers, the engine does not spin meanwhile.
    assert!(
        core.poll_timeout() > start,
        "no busy loop while the lookups are in flight"
    );
    let deadline = start + ConsumerConfig::default().net.request_timeout;
    core.handle_timeout(deadline);
    let e = rx.try_recv().expect("answered at the deadline").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    // A late answer is ignored.
    let answer = list_offsets_response(&[(tp("t", 0), KafkaCode::NONE, 1)]);
    core.handle_response(
        Response::ListOffsets {
            id: lookups[0].0,
            result: Ok(answer),
        },
        deadline,
    );
}
