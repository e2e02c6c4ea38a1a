//! The fatal authentication stop, fed to the core as the driver does.

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::{Duration, Instant};

use tokio::sync::{broadcast, mpsc, oneshot};

use super::{EngineCore, HandoffEnds};
use crate::config::ConsumerConfig;
use crate::engine::Response;
use crate::error::{Error, ErrorKind};
use crate::events::{Event, Reporter, Status};
use crate::handoff::{Command, CommitOffset, CommitRequest, RejoinSignal};
use crate::sim::responses::{PartitionInfo, metadata};
use crate::types::TopicPartition;

fn tp(p: i32) -> TopicPartition {
    TopicPartition {
        topic: Arc::from("t"),
        partition: p,
    }
}

fn core(group: bool, now: Instant) -> (EngineCore, broadcast::Receiver<Event>, Reporter) {
    let config = ConsumerConfig {
        bootstrap: vec!["broker-1:9092".into()],
        group_id: group.then(|| "g".to_owned()),
        topics: vec!["t".into()],
        ..ConsumerConfig::default()
    };
    let (commands_tx, _commands) = mpsc::channel(16);
    let (partitions, _partitions_rx) = mpsc::unbounded_channel();
    let reporter = Reporter::new();
    let events = reporter.events.subscribe();
    let ends = HandoffEnds {
        partitions,
        reporter: reporter.clone(),
        rejoin: Arc::new(RejoinSignal::new(commands_tx)),
        total_buffered: Arc::new(AtomicUsize::new(0)),
    };
    match EngineCore::new(config, ends, now) {
        Ok(core) => (core, events, reporter),
        Err(e) => panic!("the core did not start: {e}"),
    }
}

fn drain(core: &mut EngineCore) -> usize {
    std::iter::from_fn(|| core.poll_transmit()).count()
}

fn fatal() -> Error {
    Error::new(
        ErrorKind::Authentication,
        "SASL authentication failed: bad password",
    )
}

#[test]
fn an_authentication_failure_loses_every_partition_reports_once_and_stops_sending() {
    let start = Instant::now();
    let (mut core, mut events, reporter) = core(false, start);
    core.handle_timeout(start);
    assert!(drain(&mut core) >= 1, "a metadata request first");
    let partitions: Vec<PartitionInfo> = (0..2)
        .map(|p| PartitionInfo {
            tp: tp(p),
            leader: Some(1),
            leader_epoch: 0,
        })
        .collect();
    core.handle_response(Response::Metadata(Ok(metadata(&[1], &partitions, 1))), start);
    assert!(
        drain(&mut core) >= 1,
        "offset lookups or fetches for the assigned partitions"
    );
    assert_eq!(core.status(), Status::Consuming);

    let now = start + Duration::from_millis(10);
    core.handle_fatal(fatal(), now);
    core.handle_fatal(fatal(), now);
    assert_eq!(core.status(), Status::Failed);
    assert_eq!(reporter.health.borrow().status, Status::Failed);
    assert_eq!(drain(&mut core), 0);
    let mut lost = vec![];
    let mut fatals = 0;
    while let Ok(event) = events.try_recv() {
        match event {
            Event::Lost(tps, e) => {
                assert_eq!(e.kind(), ErrorKind::Authentication);
                lost.extend(tps);
            }
            Event::Fatal(e) => {
                assert_eq!(e.kind(), ErrorKind::Authentication);
                fatals += 1;
            }
            _ => {}
        }
    }
    lost.sort_by_key(|t| t.partition);
    assert_eq!(lost, vec![tp(0), tp(1)]);
    assert_eq!(fatals, 1, "reported once");

    // Time passing or late answers send nothing more and wake nothing soon.
    let later = now + Duration::from_secs(60);
    core.handle_timeout(later);
    core.handle_response(Response::Metadata(Ok(metadata(&[1], &partitions, 2))), later);
    assert_eq!(drain(&mut core), 0);
    assert!(core.poll_timeout() >= later + Duration::from_secs(600));
    assert_eq!(core.status(), Status::Failed);
}

#[test]
fn after_an_authentication_failure_commits_get_the_error_and_close_still_answers() {
    let start = Instant::now();
    let (mut core, _events, _reporter) = core(true, start);
    core.handle_timeout(start);
    drain(&mut core);
    core.handle_fatal(fatal(), start);

    let (reply, mut answer) = oneshot::channel();
    let offsets = vec![CommitOffset {
        tp: tp(0),
        offset: 5,
        leader_epoch: -1,
    }];
    core.handle_command(Command::Commit(CommitRequest { offsets, reply }), start);
    match answer.try_recv() {
        Ok(Err(e)) => assert_eq!(e.kind(), ErrorKind::Authentication),
        other => panic!("the commit was not refused with the failure: {other:?}"),
    }

    let (reply, mut closed) = oneshot::channel();
    core.handle_command(Command::Close(reply), start);
    assert_eq!(drain(&mut core), 0, "no LeaveGroup to a cluster that refused us");
    assert!(core.is_done());
    core.finish();
    assert!(matches!(closed.try_recv(), Ok(Ok(()))));
    assert_eq!(core.status(), Status::Closed);
}
