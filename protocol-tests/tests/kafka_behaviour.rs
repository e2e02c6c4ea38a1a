//! Behaviour of Apache Kafka that other brokers kafkit was tested on did not show, each pinned by a
//! test on a Kafka node of the test's own (so its settings cannot disturb other tests).

use std::time::Duration;

use kafkit::{Consumer, Event, OffsetReset};
use kafkit_protocol_tests::harness::{self, within};
use kafkit_protocol_tests::history::{Expected, History};
use kafkit_protocol_tests::real::{self, OwnBroker};
use kafkit_protocol_tests::reliability::{Member, all_delivered};

/// Kafka closes connections idle for `connections.max.idle.ms` (10 min by default; 1 s here,
/// below the heartbeat interval, so the coordinator connection is closed between heartbeats): the
/// member stays in the group, nothing is lost, and no warning reaches the application for what
/// is routine housekeeping.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_closes_idle_connections() {
    harness::init_tracing();
    let broker = tokio::task::spawn_blocking(|| OwnBroker::start(&["connections.max.idle.ms=1000"]))
        .await
        .unwrap();
    let topic = real::unique_name("kafkit-idle");
    harness::topic_with_partitions(&broker.addr, &topic, 2).await;
    let consumer = Consumer::builder()
        .bootstrap(&broker.addr)
        .group_id(real::unique_name("g-idle"))
        .subscribe([topic.as_str()])
        .offset_reset(OffsetReset::Earliest)
        .session_timeout(Duration::from_secs(6))
        .heartbeat_interval(Duration::from_secs(2))
        .build()
        .unwrap();
    let history = History::new();
    let member = Member::start("a", &consumer, &history, 5);
    let mut expected = Expected::default();
    for round in 0..5 {
        harness::produce(&broker.addr, &topic, 2, round * 5, 5, 10).await;
        for p in 0..2 {
            expected.add(p, round as i64 * 5, round as i64 * 5 + 5);
        }
        all_delivered(&history, &expected, Duration::from_secs(30)).await;
        tokio::time::sleep(Duration::from_millis(2500)).await;
    }
    let events = member.events();
    within(Duration::from_secs(30), "close", consumer.close())
        .await
        .unwrap();
    history.closed("a");
    history.assert_ok(&expected);
    let joins = events
        .iter()
        .filter(|e| matches!(e, Event::Joined { .. }))
        .count();
    assert_eq!(joins, 1, "one join, no rebalance: {events:?}");
    // Before the join, a broker this new is still creating its offsets topic: FindCoordinator
    // answers COORDINATOR_NOT_AVAILABLE (with an empty error message) and JoinGroup
    // NOT_COORDINATOR for a moment. Those warnings must say what happened.
    let joined = events
        .iter()
        .position(|e| matches!(e, Event::Joined { .. }))
        .unwrap();
    for e in &events[..joined] {
        if let Event::Warning(w) = e {
            assert!(
                !w.to_string().starts_with(" ["),
                "a warning without a message: {w:?}"
            );
        }
    }
    let noisy: Vec<&Event> = events[joined..]
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::Warning(_) | Event::Lost(..) | Event::Revoked(_) | Event::Fatal(_)
            )
        })
        .collect();
    assert!(
        noisy.is_empty(),
        "idle connections closed by the broker surfaced as {noisy:?}"
    );
}
