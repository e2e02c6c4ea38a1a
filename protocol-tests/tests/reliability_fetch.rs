//! The reliability suite's fetch, broker and group-ownership scenarios (issue 5): one named test per
//! fault, each recording deliveries, acknowledged commits and assignment changes in the history
//! checker and asserting the scenario's own promise on top.
//!
//! Fault mechanisms: librdkafka's mock cluster (request errors, broker down/up, round-trip delay,
//! leader moves, topic errors), a scripted broker on loopback that serves a small in-memory log and
//! can answer with garbage or oversized frames, and the real broker for group churn.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::{
    ApiKey, FetchRequest, FetchResponse, GroupId, ListOffsetsRequest, ListOffsetsResponse,
    OffsetCommitRequest, OffsetCommitResponse, TopicName,
};
use kafka_protocol::protocol::{Decodable, StrBytes};
use kafka_protocol::records::{
    Compression, Record as WireRecord, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use kafkit::net::{BrokerPool, NetConfig};
use kafkit::{Consumer, ConsumerBuilder, ErrorKind, Event, GroupProtocol, OffsetReset, TopicPartition};
use kafkit_protocol_tests::harness::{self, within};
use kafkit_protocol_tests::history::{self, Expected, History};
use kafkit_protocol_tests::reliability::owned_partitions;
use kafkit_protocol_tests::scripted::{Action, Received, ScriptedBroker};
use kafkit_protocol_tests::{admin, real, responses};
use rdkafka::mocking::{MockCluster, MockCoordinator};
use rdkafka::producer::DefaultProducerContext;
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};

// ---------------------------------------------------------------------------------------------
// Members: in-process consumers whose deliveries, commits and events go into a History.
// ---------------------------------------------------------------------------------------------

/// A running in-process member: a consumer whose merged stream a task drains into the history.
struct Member {
    name: String,
    consumer: Consumer,
    task: tokio::task::JoinHandle<()>,
    events: Arc<Mutex<Vec<(f64, Event)>>>,
    errors: Arc<Mutex<Vec<kafkit::Error>>>,
    history: History,
}

impl Member {
    /// Starts `builder` as `name`: every delivery is recorded, and every `commit_every`-th record
    /// (0: never) is committed with a manual commit, recorded when the broker acknowledges it.
    fn start(history: &History, name: &str, builder: ConsumerBuilder, commit_every: usize) -> Member {
        let consumer = builder.build().unwrap();
        history.watch(name, consumer.events());
        let events = Arc::new(Mutex::new(Vec::new()));
        {
            let events = events.clone();
            let mut rx = consumer.events();
            tokio::spawn(async move {
                while let Some(e) = rx.next().await {
                    events.lock().unwrap().push((history::now(), e));
                }
            });
        }
        let errors = Arc::new(Mutex::new(Vec::new()));
        let mut records = consumer.records().unwrap();
        let task = {
            let history = history.clone();
            let name = name.to_owned();
            let errors = errors.clone();
            tokio::spawn(async move {
                let mut n = 0usize;
                while let Some(item) = records.next().await {
                    match item {
                        Ok(r) => {
                            history.delivered(&name, r.partition(), r.offset());
                            n += 1;
                            if commit_every > 0
                                && n.is_multiple_of(commit_every)
                                && records.commit(&r).await.is_ok()
                            {
                                history.committed(&name, r.partition(), r.offset() + 1);
                            }
                        }
                        Err(e) => errors.lock().unwrap().push(e),
                    }
                }
            })
        };
        Member {
            name: name.to_owned(),
            consumer,
            task,
            events,
            errors,
            history: history.clone(),
        }
    }

    /// Stops processing (the application lets go of its streams), then closes the consumer.
    async fn close(self) {
        self.task.abort();
        let _ = self.task.await;
        self.history.closed(&self.name);
        within(Duration::from_secs(35), "close", self.consumer.close())
            .await
            .unwrap_or_else(|e| panic!("{} close: {e}", self.name));
    }

    fn count(&self, f: impl Fn(&Event) -> bool) -> usize {
        self.events.lock().unwrap().iter().filter(|(_, e)| f(e)).count()
    }

    /// Revoked or lost events so far.
    fn revocations(&self) -> Vec<String> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, e)| matches!(e, Event::Revoked(_) | Event::Lost(..)))
            .map(|(_, e)| format!("{e:?}"))
            .collect()
    }

    /// Partitions currently owned according to the events.
    fn owned(&self) -> BTreeSet<i32> {
        owned_partitions(self.events.lock().unwrap().iter().map(|(_, e)| e))
    }
}

fn group_builder(addr: &str, group: &str, topic: &str) -> ConsumerBuilder {
    Consumer::builder()
        .bootstrap(addr)
        .group_id(group)
        .subscribe([topic])
        .offset_reset(OffsetReset::Earliest)
        .session_timeout(Duration::from_secs(6))
        .heartbeat_interval(Duration::from_secs(1))
        .auto_commit_interval(Duration::from_millis(500))
}

/// A member of the group-ownership scenarios on `protocol`: on classic it assigns with
/// `classic_assignor` (`partition.assignment.strategy`); on the consumer protocol (KIP-848) the
/// broker assigns and sets the session timeout and heartbeat interval, so none of the three is
/// configured.
fn ownership_builder(
    protocol: GroupProtocol,
    addr: &str,
    group: &str,
    topic: &str,
    classic_assignor: &str,
) -> ConsumerBuilder {
    if protocol == GroupProtocol::Consumer {
        Consumer::builder()
            .bootstrap(addr)
            .group_id(group)
            .group_protocol(protocol)
            .subscribe([topic])
            .offset_reset(OffsetReset::Earliest)
            .auto_commit_interval(Duration::from_millis(500))
    } else {
        group_builder(addr, group, topic).property("partition.assignment.strategy", classic_assignor)
    }
}

/// Waits (bounded) until every offset in `expected` has been delivered to someone.
async fn all_delivered(history: &History, expected: &Expected, limit: Duration, what: &str) {
    within(limit, what, async {
        while !history.all_delivered(expected) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
}

/// Offsets `from..to` of `partition` delivered so far, as a count.
fn delivered_in(history: &History, partition: i32, from: i64, to: i64) -> usize {
    history.delivered_offsets(partition).range(from..to).count()
}

// ---------------------------------------------------------------------------------------------
// librdkafka's mock cluster.
// ---------------------------------------------------------------------------------------------

fn mock_cluster(brokers: i32) -> MockCluster<'static, DefaultProducerContext> {
    harness::init_tracing();
    let mock = MockCluster::new(brokers).unwrap();
    // librdkafka 2.12's mock advertises JoinGroup v6, SyncGroup v4, Heartbeat v4 and LeaveGroup v4
    // (flexible versions) but cannot parse them (it reads the JoinGroup protocol count as an
    // INT32 and closes the connection; a SyncGroup v4 crashes it). The protocol is on kafkit's
    // side here; cap the mock at the versions librdkafka itself sends.
    for (api, max) in [
        (RDKafkaApiKey::JoinGroup, 5),
        (RDKafkaApiKey::SyncGroup, 3),
        (RDKafkaApiKey::Heartbeat, 3),
        (RDKafkaApiKey::LeaveGroup, 1),
    ] {
        mock.apiversion(api, Some(0), Some(max)).unwrap();
    }
    mock
}

/// Produces records `from..from + n` (values from [`harness::value`]) to one partition; returns
/// the base offset.
async fn produce_to(addr: &str, topic: &str, partition: i32, from: usize, n: usize) -> i64 {
    let pool = BrokerPool::new([addr], NetConfig::default()).unwrap();
    let md = pool.metadata(Some(&[topic])).await.unwrap();
    let leader = md
        .partition(topic, partition)
        .and_then(|m| m.leader)
        .expect("leader");
    let conn = pool.connection(leader).await.unwrap();
    let values: Vec<Bytes> = (from..from + n)
        .map(|i| harness::value(partition, i, 10))
        .collect();
    admin::produce(&conn, topic, partition, &values).await
}

/// Commits `offsets` for `group` the way an admin tool does (generation -1, no member), to set up
/// a committed offset the log does not have.
async fn admin_commit(addr: &str, group: &str, topic: &str, offsets: &[(i32, i64)]) {
    let conn = admin::connect(addr).await;
    let (_, max) = conn.api_versions().broker_range(ApiKey::OffsetCommit).unwrap();
    let v = max.min(7);
    let request = OffsetCommitRequest::default()
        .with_group_id(GroupId(StrBytes::from_string(group.to_owned())))
        .with_generation_id_or_member_epoch(-1)
        .with_member_id(StrBytes::from_static_str(""))
        .with_topics(vec![
            OffsetCommitRequestTopic::default()
                .with_name(TopicName(StrBytes::from_string(topic.to_owned())))
                .with_partitions(
                    offsets
                        .iter()
                        .map(|&(p, o)| {
                            OffsetCommitRequestPartition::default()
                                .with_partition_index(p)
                                .with_committed_offset(o)
                        })
                        .collect(),
                ),
        ]);
    let body = conn.send_raw(ApiKey::OffsetCommit, &request, v).await.unwrap();
    let response = OffsetCommitResponse::decode(&mut body.clone(), v).unwrap();
    for t in &response.topics {
        for p in &t.partitions {
            assert_eq!(p.error_code, 0, "admin commit of {topic}/{}", p.partition_index);
        }
    }
}

/// `reset policy applied; with none, error surfaced and nothing skipped.` The group's committed
/// offset of partition 0 lies beyond the log end (as after retention or a truncation); partition 1
/// has a valid commit. Earliest restarts partition 0 at the log start, latest at the log end (only
/// records produced afterwards arrive), and none yields an error on partition 0's stream and
/// delivers nothing of it, while partition 1 resumes at its commit under every policy.
///
/// On librdkafka's mock the committed offset comes back naming the partition's leader epoch
/// (the mock reports its current epoch with every committed offset), so the commit beyond the
/// end looks like one above a truncated log, and kafkit does what Kafka's consumer does with
/// that (KIP-320): earliest and latest go on from the divergence point, the log end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_offset_out_of_range() {
    let mock = mock_cluster(1);
    let addr = mock.bootstrap_servers();
    let topic = real::unique_name("kafkit-oor");
    mock.create_topic(&topic, 2, 1).unwrap();
    offset_out_of_range_on(&addr, &topic, true).await;
}

/// [`fetch_offset_out_of_range`] on Apache Kafka.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_offset_out_of_range_kafka() {
    let addr = real::broker_addr();
    let topic = real::unique_name("kafkit-oor-kafka");
    harness::topic_with_partitions(&addr, &topic, 2).await;
    offset_out_of_range_on(&addr, &topic, false).await;
}

/// `epoch_in_commit`: the broker names a leader epoch with the committed offset (the mock).
async fn offset_out_of_range_on(addr: &str, topic: &str, epoch_in_commit: bool) {
    let (addr, topic) = (addr.to_owned(), topic.to_owned());
    harness::produce(&addr, &topic, 2, 0, 40, 10).await;

    // Where partition 0's log ends (each policy that resets to the end adds records).
    let mut produced_end: i64 = 40;
    for policy in [OffsetReset::Earliest, OffsetReset::Latest, OffsetReset::None] {
        let group = real::unique_name("g-oor");
        admin_commit(&addr, &group, &topic, &[(0, 1000), (1, 25)]).await;
        let history = History::new();
        let member = Member::start(
            &history,
            "a",
            group_builder(&addr, &group, &topic).offset_reset(policy),
            7,
        );
        let mut expected = Expected::default();
        expected.add(1, 25, 40);
        expected.start.insert(1, 25);
        match policy {
            OffsetReset::Earliest if !epoch_in_commit => expected.add(0, 0, 40),
            OffsetReset::Earliest | OffsetReset::Latest => {
                // Reset to the end: wait until partition 1 flows (so partition 0 was reset), then
                // produce; exactly the new records of partition 0 arrive.
                all_delivered(
                    &history,
                    &expected,
                    Duration::from_secs(30),
                    "partition 1 resumes",
                )
                .await;
                // Partition 0's reset (fetch, OFFSET_OUT_OF_RANGE, ListOffsets) is a few round
                // trips behind partition 1's first fetch.
                tokio::time::sleep(Duration::from_secs(2)).await;
                let end = produced_end;
                let base = produce_to(&addr, &topic, 0, end as usize, 10).await;
                assert_eq!(base, end);
                expected.add(0, end, end + 10);
                expected.start.insert(0, end);
                produced_end += 10;
            }
            _ => {}
        }
        all_delivered(
            &history,
            &expected,
            Duration::from_secs(30),
            "records after the reset",
        )
        .await;
        if policy == OffsetReset::None {
            within(Duration::from_secs(10), "the error on partition 0", async {
                while member.errors.lock().unwrap().is_empty() {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            })
            .await;
            // Nothing of partition 0 arrives, now or a while later: no silent jump.
            tokio::time::sleep(Duration::from_secs(2)).await;
            assert!(
                history.delivered_offsets(0).is_empty(),
                "reset policy none delivered {:?} of partition 0",
                history.delivered_offsets(0)
            );
            let errors = member.errors.lock().unwrap().clone();
            assert_eq!(errors.len(), 1, "{errors:?}");
            assert_eq!(errors[0].kind(), ErrorKind::Config, "{}", errors[0]);
            assert!(errors[0].to_string().contains("1000"), "{}", errors[0]);
        } else {
            assert!(member.errors.lock().unwrap().is_empty());
            if policy == OffsetReset::Latest {
                assert_eq!(
                    history.delivered_offsets(0),
                    (produced_end - 10..produced_end).collect(),
                    "latest: only records produced after the reset"
                );
            }
        }
        assert!(member.revocations().is_empty(), "{:?}", member.revocations());
        member.close().await;
        let report = history.assert_ok(&expected);
        assert_eq!(report.redeliveries, 0, "{policy:?}");
    }
}

/// `metadata refresh, resume at the exact position.` Partition 0's leadership moves between
/// brokers twice while records keep coming; the old leader refuses the fetch, kafkit refreshes
/// metadata, finds the new leader and continues at the exact next offset (one ownership run, no
/// gap, no duplicate), without a rebalance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_leader_change() {
    let mock = mock_cluster(3);
    let addr = mock.bootstrap_servers();
    let topic = real::unique_name("kafkit-leader");
    let group = real::unique_name("g-leader");
    mock.create_topic(&topic, 2, 3).unwrap();
    mock.partition_leader(&topic, 0, Some(2)).unwrap();
    mock.partition_leader(&topic, 1, Some(3)).unwrap();
    mock.coordinator(MockCoordinator::Group(group.clone()), 1)
        .unwrap();
    harness::produce(&addr, &topic, 2, 0, 30, 10).await;

    let history = History::new();
    let member = Member::start(&history, "a", group_builder(&addr, &group, &topic), 5);
    let mut expected = Expected::contiguous([0, 1], 0, 30);
    all_delivered(&history, &expected, Duration::from_secs(30), "the first records").await;

    let mut next = 30;
    for leader in [3, 1] {
        mock.partition_leader(&topic, 0, Some(leader)).unwrap();
        for _ in 0..3 {
            produce_to(&addr, &topic, 0, next, 10).await;
            expected.add(0, next as i64, next as i64 + 10);
            next += 10;
        }
        all_delivered(
            &history,
            &expected,
            Duration::from_secs(30),
            &format!("records after the move to broker {leader}"),
        )
        .await;
    }
    assert!(member.revocations().is_empty(), "{:?}", member.revocations());
    assert_eq!(member.count(|e| matches!(e, Event::Assigned(_))), 1);
    member.close().await;
    let report = history.assert_ok(&expected);
    assert_eq!(report.redeliveries, 0);
    assert_eq!(report.runs, 2, "one ownership run per partition");
}

/// `subscription kept, no spurious revoke.` The subscribed topic briefly disappears from metadata
/// (UNKNOWN_TOPIC_OR_PARTITION in Metadata and Fetch) and comes back: the member keeps its
/// partitions (no revoke, no loss, no new assignment) and continues at the exact position.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_unknown_topic() {
    let mock = mock_cluster(1);
    let addr = mock.bootstrap_servers();
    let topic = real::unique_name("kafkit-unknown");
    let group = real::unique_name("g-unknown");
    mock.create_topic(&topic, 2, 1).unwrap();
    harness::produce(&addr, &topic, 2, 0, 20, 10).await;

    let history = History::new();
    let member = Member::start(&history, "a", group_builder(&addr, &group, &topic), 5);
    let mut expected = Expected::contiguous([0, 1], 0, 20);
    all_delivered(&history, &expected, Duration::from_secs(30), "the first records").await;
    let warnings_before = member.count(|e| matches!(e, Event::Warning(_)));

    mock.topic_error(&topic, RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
        .unwrap();
    mock.request_errors(
        RDKafkaApiKey::Fetch,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART; 4],
    );
    // The topic stays unknown across several metadata refreshes (kafkit retries every second).
    within(
        Duration::from_secs(20),
        "a warning about the missing topic",
        async {
            while member.count(|e| matches!(e, Event::Warning(_))) == warnings_before {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    mock.topic_error(&topic, RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR)
        .unwrap();
    mock.clear_request_errors(RDKafkaApiKey::Fetch);
    harness::produce(&addr, &topic, 2, 20, 20, 10).await;
    for p in 0..2 {
        expected.add(p, 20, 40);
    }
    all_delivered(
        &history,
        &expected,
        Duration::from_secs(30),
        "records after the topic is back",
    )
    .await;

    assert!(member.revocations().is_empty(), "{:?}", member.revocations());
    assert_eq!(member.count(|e| matches!(e, Event::Assigned(_))), 1);
    assert_eq!(member.owned(), BTreeSet::from([0, 1]));
    member.close().await;
    let report = history.assert_ok(&expected);
    assert_eq!(report.redeliveries, 0);
    assert_eq!(report.runs, 2);
}

/// `leader down then up: exact resume, no rebalance.` The broker leading both partitions goes down
/// for a few seconds (the coordinator is on another broker) and comes back: kafkit reconnects and
/// continues at the exact next offset, with no rebalance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_bounce() {
    let mock = mock_cluster(2);
    let addr = mock.bootstrap_servers();
    let topic = real::unique_name("kafkit-bounce");
    let group = real::unique_name("g-bounce");
    mock.create_topic(&topic, 2, 2).unwrap();
    mock.partition_leader(&topic, 0, Some(2)).unwrap();
    mock.partition_leader(&topic, 1, Some(2)).unwrap();
    mock.coordinator(MockCoordinator::Group(group.clone()), 1)
        .unwrap();
    harness::produce(&addr, &topic, 2, 0, 30, 10).await;

    let history = History::new();
    let member = Member::start(
        &history,
        "a",
        group_builder(&addr, &group, &topic).property("reconnect.backoff.max.ms", "500"),
        4,
    );
    let mut expected = Expected::contiguous([0, 1], 0, 30);
    all_delivered(&history, &expected, Duration::from_secs(30), "the first records").await;

    mock.broker_down(2).unwrap();
    let down = Instant::now();
    within(
        Duration::from_secs(10),
        "a warning about the lost leader",
        async {
            while member.count(|e| matches!(e, Event::Warning(_))) == 0 {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(4).saturating_sub(down.elapsed())).await;
    mock.broker_up(2).unwrap();
    harness::produce(&addr, &topic, 2, 30, 30, 10).await;
    for p in 0..2 {
        expected.add(p, 30, 60);
    }
    all_delivered(
        &history,
        &expected,
        Duration::from_secs(30),
        "records after the bounce",
    )
    .await;

    assert!(member.revocations().is_empty(), "{:?}", member.revocations());
    assert_eq!(member.count(|e| matches!(e, Event::Assigned(_))), 1);
    assert_eq!(
        member.count(|e| matches!(e, Event::Joined { .. })),
        1,
        "no rebalance"
    );
    member.close().await;
    let report = history.assert_ok(&expected);
    assert_eq!(report.redeliveries, 0);
    assert_eq!(report.runs, 2);
}

/// `5 s delay on one broker: other partitions keep flowing; heartbeats keep the session.` Partition
/// 1's leader answers everything 5 s late; partition 0 (on the coordinator's broker) keeps
/// delivering each new record within a second or two, the session holds (no rebalance), and
/// partition 1's records arrive too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_broker() {
    let mock = mock_cluster(2);
    let addr = mock.bootstrap_servers();
    let topic = real::unique_name("kafkit-slow");
    let group = real::unique_name("g-slow");
    mock.create_topic(&topic, 2, 2).unwrap();
    mock.partition_leader(&topic, 0, Some(1)).unwrap();
    mock.partition_leader(&topic, 1, Some(2)).unwrap();
    mock.coordinator(MockCoordinator::Group(group.clone()), 1)
        .unwrap();
    harness::produce(&addr, &topic, 2, 0, 10, 10).await;

    let history = History::new();
    let member = Member::start(&history, "a", group_builder(&addr, &group, &topic), 3);
    let mut expected = Expected::contiguous([0, 1], 0, 10);
    all_delivered(&history, &expected, Duration::from_secs(30), "the first records").await;

    // Connections to each leader made before the delay (a new connection's handshake, or a
    // metadata request to the slow broker, would take seconds).
    let pool = BrokerPool::new([addr.as_str()], NetConfig::default()).unwrap();
    let md = pool.metadata(Some(&[topic.as_str()])).await.unwrap();
    let leader = |p: i32| md.partition(&topic, p).and_then(|m| m.leader).unwrap();
    let conn0 = pool.connection(leader(0)).await.unwrap();
    let conn1 = pool.connection(leader(1)).await.unwrap();
    let values = |p: i32, from: usize, n: usize| -> Vec<Bytes> {
        (from..from + n).map(|i| harness::value(p, i, 10)).collect()
    };
    mock.broker_round_trip_time(2, Duration::from_secs(5)).unwrap();
    // Partition 1's records go to the slow broker (the produce itself takes 5 s).
    let slow_produce = {
        let (topic, values) = (topic.clone(), values(1, 10, 10));
        tokio::spawn(async move { admin::produce(&conn1, &topic, 1, &values).await })
    };
    expected.add(1, 10, 20);
    let started = Instant::now();
    let mut next = 10;
    let mut worst = Duration::ZERO;
    // 12 s of traffic on partition 0: every round arrives promptly.
    while started.elapsed() < Duration::from_secs(12) {
        let t = Instant::now();
        admin::produce(&conn0, &topic, 0, &values(0, next, 5)).await;
        expected.add(0, next as i64, next as i64 + 5);
        next += 5;
        let want = next as i64;
        within(
            Duration::from_secs(4),
            "partition 0 keeps flowing while partition 1's broker is slow",
            async {
                while delivered_in(&history, 0, 0, want) < want as usize {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            },
        )
        .await;
        worst = worst.max(t.elapsed());
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    eprintln!("slow_broker: slowest round on the fast partition {worst:?}");
    assert!(
        worst < Duration::from_millis(2500),
        "slowest round on the fast partition: {worst:?}"
    );
    within(Duration::from_secs(20), "the slow produce", slow_produce)
        .await
        .unwrap();
    all_delivered(
        &history,
        &expected,
        Duration::from_secs(30),
        "partition 1's records",
    )
    .await;
    mock.broker_round_trip_time(2, Duration::ZERO).unwrap();

    assert!(member.revocations().is_empty(), "{:?}", member.revocations());
    assert_eq!(
        member.count(|e| matches!(e, Event::Joined { .. })),
        1,
        "the session held: no rebalance"
    );
    member.close().await;
    let report = history.assert_ok(&expected);
    assert_eq!(report.redeliveries, 0);
}

// ---------------------------------------------------------------------------------------------
// A scripted broker serving a small in-memory log (no group), for exact control of the bytes.
// ---------------------------------------------------------------------------------------------

/// How the fake broker answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// A Kafka broker.
    Kafka,
    /// An HTTP server on the Kafka port.
    Http,
    /// Random bytes for every request.
    Random,
    /// Fetches answered with a frame header declaring this many bytes (then silence).
    OversizedFetch(i32),
}

struct FakeBroker {
    broker: ScriptedBroker,
    log: Arc<Mutex<BTreeMap<i32, usize>>>,
    mode: Arc<Mutex<Mode>>,
}

const FAKE_TOPIC: &str = "fake";

/// An uncompressed batch of records `from..to` of `partition` (values from [`harness::value`]).
fn batch_at(partition: i32, from: i64, to: i64) -> Bytes {
    let records: Vec<WireRecord> = (from..to)
        .map(|o| WireRecord {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 5,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: o,
            sequence: (o - from) as i32,
            timestamp: 1_700_000_000_000,
            key: None,
            value: Some(harness::value(partition, o as usize, 10)),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .unwrap();
    buf.freeze()
}

impl FakeBroker {
    /// A broker with `partitions` partitions of topic [`FAKE_TOPIC`], each holding `records`.
    async fn start(partitions: i32, records: usize, mode: Mode) -> FakeBroker {
        let log: Arc<Mutex<BTreeMap<i32, usize>>> =
            Arc::new(Mutex::new((0..partitions).map(|p| (p, records)).collect()));
        let mode = Arc::new(Mutex::new(mode));
        let port = Arc::new(AtomicU16::new(0));
        let counter = Arc::new(AtomicUsize::new(0));
        let broker = {
            let (log, mode, port) = (log.clone(), mode.clone(), port.clone());
            ScriptedBroker::start(move |req: &Received| {
                let mode = *mode.lock().unwrap();
                let n = counter.fetch_add(1, Ordering::Relaxed);
                match mode {
                    Mode::Http => {
                        return Action::Seq(vec![
                            Action::Raw(Bytes::from_static(
                                b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 11\r\nConnection: close\r\n\r\nBad Request",
                            )),
                            Action::Close,
                        ]);
                    }
                    Mode::Random => {
                        // Deterministic noise: a different pseudo-random frame for every request.
                        let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ (n as u64).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                        let bytes: Vec<u8> = (0..64 + n % 200)
                            .map(|_| {
                                x ^= x << 13;
                                x ^= x >> 7;
                                x ^= x << 17;
                                x as u8
                            })
                            .collect();
                        return Action::Raw(Bytes::from(bytes));
                    }
                    _ => {}
                }
                let partitions = log.lock().unwrap().len() as i32;
                match req.api() {
                    Some(ApiKey::ApiVersions) => responses::api_versions(
                        req,
                        &[
                            (ApiKey::Fetch, 4, 12),
                            (ApiKey::ListOffsets, 1, 7),
                            (ApiKey::Metadata, 1, 9),
                            (ApiKey::ApiVersions, 0, 3),
                        ],
                    ),
                    Some(ApiKey::Metadata) => {
                        responses::metadata(req, port.load(Ordering::Relaxed), &[(FAKE_TOPIC, partitions)])
                    }
                    Some(ApiKey::ListOffsets) => {
                        let request: ListOffsetsRequest = req.decode();
                        let log = log.lock().unwrap();
                        let topics = request
                            .topics
                            .iter()
                            .map(|t| {
                                ListOffsetsTopicResponse::default().with_name(t.name.clone()).with_partitions(
                                    t.partitions
                                        .iter()
                                        .map(|p| {
                                            let end = log.get(&p.partition_index).copied().unwrap_or(0) as i64;
                                            ListOffsetsPartitionResponse::default()
                                                .with_partition_index(p.partition_index)
                                                .with_offset(if p.timestamp == -2 { 0 } else { end })
                                                .with_timestamp(-1)
                                        })
                                        .collect(),
                                )
                            })
                            .collect();
                        Action::respond(&ListOffsetsResponse::default().with_topics(topics), req.version)
                    }
                    Some(ApiKey::Fetch) => {
                        if let Mode::OversizedFetch(size) = mode {
                            let mut frame = size.to_be_bytes().to_vec();
                            frame.extend_from_slice(&req.correlation_id.to_be_bytes());
                            frame.extend_from_slice(&[0u8; 32]);
                            return Action::Raw(Bytes::from(frame));
                        }
                        let request: FetchRequest = req.decode();
                        let log = log.lock().unwrap();
                        let mut any = false;
                        let responses = request
                            .topics
                            .iter()
                            .map(|t| {
                                FetchableTopicResponse::default().with_topic(t.topic.clone()).with_partitions(
                                    t.partitions
                                        .iter()
                                        .map(|p| {
                                            let end = log.get(&p.partition).copied().unwrap_or(0) as i64;
                                            let from = p.fetch_offset;
                                            let to = end.min(from + 25);
                                            let records = if from < to {
                                                any = true;
                                                batch_at(p.partition, from, to)
                                            } else {
                                                Bytes::new()
                                            };
                                            PartitionData::default()
                                                .with_partition_index(p.partition)
                                                .with_high_watermark(end)
                                                .with_last_stable_offset(end)
                                                .with_records(Some(records))
                                        })
                                        .collect(),
                                )
                            })
                            .collect();
                        let action = Action::respond(&FetchResponse::default().with_responses(responses), req.version);
                        // Like a broker's long poll: an empty answer waits a little.
                        if any { action } else { action.after(Duration::from_millis(200)) }
                    }
                    _ => Action::Close,
                }
            })
            .await
        };
        port.store(broker.port(), Ordering::Relaxed);
        FakeBroker { broker, log, mode }
    }

    fn set_mode(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    /// Appends `n` records to `partition`; returns the offsets `(from, to)`.
    fn append(&self, partition: i32, n: usize) -> (i64, i64) {
        let mut log = self.log.lock().unwrap();
        let end = log.entry(partition).or_default();
        let from = *end as i64;
        *end += n;
        (from, *end as i64)
    }

    /// The partitions each Fetch request received after the first `skip` requests asked for.
    fn fetched_partitions(&self, skip: usize) -> Vec<BTreeSet<i32>> {
        self.broker
            .received()
            .into_iter()
            .skip(skip)
            .filter(|r| r.api() == Some(ApiKey::Fetch))
            .map(|r| {
                let request: FetchRequest = r.decode();
                request
                    .topics
                    .iter()
                    .flat_map(|t| t.partitions.iter().map(|p| p.partition))
                    .collect()
            })
            .collect()
    }
}

fn fake_consumer(addr: &str) -> ConsumerBuilder {
    Consumer::builder()
        .bootstrap(addr)
        .subscribe([FAKE_TOPIC])
        .offset_reset(OffsetReset::Earliest)
        .property("reconnect.backoff.ms", "50")
        .property("reconnect.backoff.max.ms", "300")
        .property("retry.backoff.ms", "100")
}

/// The process's peak virtual memory, in bytes (an allocation shows here even if never touched).
fn vm_peak() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmPeak:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
}

/// `pause_resume_no_dup`: a paused partition is not fetched (no Fetch request names it while
/// paused, though new records wait on the broker and the other partition keeps being fetched and
/// delivered), its buffered records are kept, its waiting records do not count against
/// max.poll.interval, and after the resume it continues at exactly the next offset: every record
/// once, in order, in one ownership run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_resume_no_dup() {
    harness::init_tracing();
    let fake = FakeBroker::start(2, 60, Mode::Kafka).await;
    let consumer = fake_consumer(&fake.broker.addr())
        .max_poll_interval(Duration::from_millis(1500))
        .build()
        .unwrap();
    let history = History::new();
    let member = "a";
    history.assigned(member, [0, 1]);
    let mut events = consumer.events();
    let max_poll = Arc::new(AtomicBool::new(false));
    {
        let max_poll = max_poll.clone();
        tokio::spawn(async move {
            while let Some(e) = events.next().await {
                if matches!(e, Event::MaxPollExceeded { .. }) {
                    max_poll.store(true, Ordering::Release);
                }
            }
        });
    }
    let mut records = consumer.records().unwrap();
    let mut expected = Expected::contiguous([0, 1], 0, 60);
    let p0 = TopicPartition::new(FAKE_TOPIC, 0);

    // Pull until partition 0 has delivered a few records (its chunk has more buffered), then pause.
    within(
        Duration::from_secs(20),
        "the first records of partition 0",
        async {
            while delivered_in(&history, 0, 0, 60) < 5 {
                let r = records.next().await.unwrap().unwrap();
                history.delivered(member, r.partition(), r.offset());
            }
        },
    )
    .await;
    consumer.pause(std::slice::from_ref(&p0)).await.unwrap();
    let paused_at = history.delivered_offsets(0).last().copied().unwrap();
    // Requests received from here on were sent after the pause took effect.
    let skip = fake.broker.received().len();
    let (from0, to0) = fake.append(0, 40);
    let (from1, to1) = fake.append(1, 40);
    expected.add(0, from0, to0);
    expected.add(1, from1, to1);
    let mut p1_expected = Expected::contiguous([1], 0, to1);
    p1_expected.start.clear();

    // While paused: partition 1 is fetched and delivered in full; partition 0 yields nothing.
    within(Duration::from_secs(20), "partition 1 while 0 is paused", async {
        while !history.all_delivered(&p1_expected) {
            let r = records.next().await.unwrap().unwrap();
            history.delivered(member, r.partition(), r.offset());
        }
    })
    .await;
    // Hold the pause past max.poll.interval, pulling (nothing arrives).
    let quiet = tokio::time::timeout(Duration::from_secs(2), records.next()).await;
    assert!(
        quiet.is_err(),
        "a record arrived while partition 0 was paused: {quiet:?}"
    );
    assert_eq!(
        history.delivered_offsets(0).last().copied(),
        Some(paused_at),
        "partition 0 delivered while paused"
    );
    let fetched = fake.fetched_partitions(skip);
    assert!(
        fetched.iter().any(|ps| ps.contains(&1)),
        "partition 1 was fetched while 0 was paused: {fetched:?}"
    );
    // One fetch (one broker) may have been built before the pause took effect and arrive after;
    // from the first one without partition 0 on, none may name it.
    let first_without = fetched.iter().position(|ps| !ps.contains(&0));
    assert!(
        first_without.is_some_and(|i| i <= 1)
            && fetched[first_without.unwrap_or(0)..]
                .iter()
                .all(|ps| !ps.contains(&0)),
        "a Fetch for the paused partition 0 was sent: {fetched:?}"
    );
    assert!(
        !max_poll.load(Ordering::Acquire),
        "a paused partition's waiting records counted against max.poll.interval"
    );
    let consumer_health = consumer.health();
    assert_eq!(consumer_health.assigned_partitions, 2, "the assignment is kept");

    consumer.resume(std::slice::from_ref(&p0)).await.unwrap();
    within(Duration::from_secs(20), "partition 0 after the resume", async {
        while !history.all_delivered(&expected) {
            let r = records.next().await.unwrap().unwrap();
            history.delivered(member, r.partition(), r.offset());
        }
    })
    .await;
    // A pull or two more: nothing repeats.
    let extra = tokio::time::timeout(Duration::from_millis(800), records.next()).await;
    assert!(extra.is_err(), "unexpected record after everything: {extra:?}");
    // Pausing a partition not assigned fails, naming it.
    let err = consumer
        .pause(&[TopicPartition::new(FAKE_TOPIC, 7)])
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("fake/7") || err.to_string().contains("7"),
        "{err}"
    );

    drop(records);
    history.closed(member);
    consumer.close().await.unwrap();
    let report = history.assert_ok(&expected);
    assert_eq!(report.redeliveries, 0);
    assert_eq!(report.runs, 2, "one run per partition across the pause");
}

/// Collects `consumer`'s warnings into a shared list.
fn collect_warnings(consumer: &Consumer) -> Arc<Mutex<Vec<kafkit::Error>>> {
    let warnings = Arc::new(Mutex::new(Vec::new()));
    let mut events = consumer.events();
    let w = warnings.clone();
    tokio::spawn(async move {
        while let Some(e) = events.next().await {
            if let Event::Warning(e) = e {
                w.lock().unwrap().push(e);
            }
        }
    });
    warnings
}

/// `a non-Kafka service or random bytes on the port: typed error, reconnect, no panic, bounded
/// memory.` The bootstrap port first answers like an HTTP server, then with random bytes: the
/// consumer reports typed protocol errors (or connection errors when the peer hangs up) in health
/// and events, keeps reconnecting, never panics, and never reserves more than its frame limit;
/// when a Kafka broker answers on the port, it consumes every record once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_from_broker() {
    harness::init_tracing();
    let fake = FakeBroker::start(1, 30, Mode::Http).await;
    let peak_before = vm_peak();
    let consumer = fake_consumer(&fake.broker.addr()).build().unwrap();
    let warnings = collect_warnings(&consumer);
    let history = History::new();
    history.assigned("a", [0]);
    let mut records = consumer.records().unwrap();

    for (mode, what) in [(Mode::Http, "an HTTP server"), (Mode::Random, "random bytes")] {
        fake.set_mode(mode);
        let connections = fake.broker.connections();
        let seen = warnings.lock().unwrap().len();
        within(Duration::from_secs(15), &format!("reconnects to {what}"), async {
            while fake.broker.connections() < connections + 3 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        let nothing = tokio::time::timeout(Duration::from_millis(200), records.next()).await;
        assert!(nothing.is_err(), "{what} produced a record: {nothing:?}");
        let new: Vec<kafkit::Error> = warnings.lock().unwrap()[seen..].to_vec();
        assert!(
            new.iter().any(|e| e.kind() == ErrorKind::Protocol),
            "no typed protocol error from {what}: {:?}",
            new.iter().map(|e| (e.kind(), e.to_string())).collect::<Vec<_>>()
        );
        assert!(
            new.iter().all(|e| matches!(
                e.kind(),
                ErrorKind::Protocol | ErrorKind::Connection | ErrorKind::Connect | ErrorKind::Timeout
            )),
            "{new:?}"
        );
        let health = consumer.health();
        assert!(!health.is_healthy(), "{health:?}");
        assert!(health.last_error.is_some(), "{health:?}");
    }
    let grew = vm_peak().saturating_sub(peak_before);
    assert!(grew < 1 << 30, "peak virtual memory grew by {grew} bytes");

    fake.set_mode(Mode::Kafka);
    let expected = Expected::contiguous([0], 0, 30);
    within(Duration::from_secs(30), "records once a broker answers", async {
        while !history.all_delivered(&expected) {
            let r = records.next().await.unwrap().unwrap();
            history.delivered("a", r.partition(), r.offset());
        }
    })
    .await;
    assert!(consumer.health().is_healthy(), "{:?}", consumer.health());
    drop(records);
    history.closed("a");
    consumer.close().await.unwrap();
    let report = history.assert_ok(&expected);
    assert_eq!(report.redeliveries, 0);
}

/// `rejected before allocation.` A frame whose size prefix exceeds the limit is refused as soon as
/// its four size bytes arrive: a connection gets a typed protocol error naming the size, the
/// process never reserves the declared size (1.5 GB, far above the 100 MiB default; a 50 MB frame
/// against a 1 MiB limit), and a consumer whose Fetch meets one reports it, reconnects and
/// continues at the exact next offset once the broker behaves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_frame() {
    harness::init_tracing();
    // A bare connection: ApiVersions answered with an oversized frame.
    for (declared, limit) in [(1_500_000_000i32, None), (50_000_000, Some(1 << 20))] {
        let broker = ScriptedBroker::start(move |req: &Received| {
            let mut frame = declared.to_be_bytes().to_vec();
            frame.extend_from_slice(&req.correlation_id.to_be_bytes());
            Action::Raw(Bytes::from(frame))
        })
        .await;
        let peak_before = vm_peak();
        let mut config = NetConfig::default()
            .connect_timeout(Duration::from_secs(5))
            .request_timeout(Duration::from_secs(10));
        if let Some(limit) = limit {
            config = config.max_frame_size(limit);
        }
        let t = Instant::now();
        let err = within(
            Duration::from_secs(15),
            "the connection's answer",
            kafkit::net::Connection::connect(&broker.addr(), &config),
        )
        .await
        .unwrap_err();
        assert!(t.elapsed() < Duration::from_secs(5), "took {:?}", t.elapsed());
        assert_eq!(err.kind(), ErrorKind::Protocol, "{err}");
        assert!(err.to_string().contains(&declared.to_string()), "{err}");
        let grew = vm_peak().saturating_sub(peak_before);
        assert!(
            grew < declared as u64 / 2,
            "peak virtual memory grew by {grew} bytes"
        );
    }

    // A consumer: a Fetch answered with an oversized frame mid-stream.
    let fake = FakeBroker::start(1, 20, Mode::Kafka).await;
    let consumer = fake_consumer(&fake.broker.addr())
        .property("receive.message.max.bytes", "1048576")
        .build()
        .unwrap();
    let warnings = collect_warnings(&consumer);
    let history = History::new();
    history.assigned("a", [0]);
    let mut records = consumer.records().unwrap();
    let mut expected = Expected::contiguous([0], 0, 20);
    within(Duration::from_secs(20), "the first records", async {
        while !history.all_delivered(&expected) {
            let r = records.next().await.unwrap().unwrap();
            history.delivered("a", r.partition(), r.offset());
        }
    })
    .await;
    fake.set_mode(Mode::OversizedFetch(50_000_000));
    let peak_before = vm_peak();
    let (from, to) = fake.append(0, 20);
    expected.add(0, from, to);
    let connections = fake.broker.connections();
    within(
        Duration::from_secs(15),
        "a typed error for the oversized fetch",
        async {
            loop {
                let found = warnings
                    .lock()
                    .unwrap()
                    .iter()
                    .any(|e| e.kind() == ErrorKind::Protocol && e.to_string().contains("50000000"));
                if found && fake.broker.connections() > connections {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        },
    )
    .await;
    let grew = vm_peak().saturating_sub(peak_before);
    assert!(grew < 40_000_000, "peak virtual memory grew by {grew} bytes");
    fake.set_mode(Mode::Kafka);
    within(
        Duration::from_secs(20),
        "records after the broker behaves",
        async {
            while !history.all_delivered(&expected) {
                let r = records.next().await.unwrap().unwrap();
                history.delivered("a", r.partition(), r.offset());
            }
        },
    )
    .await;
    drop(records);
    history.closed("a");
    consumer.close().await.unwrap();
    let report = history.assert_ok(&expected);
    assert_eq!(report.redeliveries, 0);
}

// ---------------------------------------------------------------------------------------------
// Group ownership on the real broker.
// ---------------------------------------------------------------------------------------------

/// `disjoint ownership at every instant under churn.` Eager (range) members join, leave and come
/// back while records keep coming; every instant, each partition has at most one owner (no
/// overlap tolerance), nothing is lost, and redeliveries come only from the uncommitted window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eager_no_overlap() {
    no_overlap_under_churn(GroupProtocol::Classic).await;
}

/// [`eager_no_overlap`] on the consumer group protocol (KIP-848): the broker assigns and moves
/// partitions member by member, giving one to its new owner only once the old one reported it
/// released, so the same churn must show no instant with two owners either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_overlap_under_churn_consumer_protocol() {
    no_overlap_under_churn(GroupProtocol::Consumer).await;
}

async fn no_overlap_under_churn(protocol: GroupProtocol) {
    harness::init_tracing();
    let addr = real::broker_addr();
    let topic = real::unique_name("kafkit-eager");
    let group = real::unique_name("g-eager");
    const PARTITIONS: i32 = 6;
    harness::topic_with_partitions(&addr, &topic, PARTITIONS).await;
    let history = History::new();
    let builder = || ownership_builder(protocol, &addr, &group, &topic, "range");
    let mut expected = Expected::default();
    let mut produced = 0usize;
    let mut produce = async |n: usize, expected: &mut Expected| {
        let firsts = harness::produce(&addr, &topic, PARTITIONS, produced, n, 10).await;
        for (p, base) in firsts {
            expected.add(p, base, base + n as i64);
        }
        produced += n;
    };
    // Rebalances complete when each member's streams are assigned: wait for a stable owner set.
    let settled = async |members: &[&Member]| {
        within(Duration::from_secs(30), "the group settles", async {
            loop {
                let owned: Vec<BTreeSet<i32>> = members.iter().map(|m| m.owned()).collect();
                let all: BTreeSet<i32> = owned.iter().flatten().copied().collect();
                let total: usize = owned.iter().map(BTreeSet::len).sum();
                if all.len() == PARTITIONS as usize
                    && total == PARTITIONS as usize
                    && owned.iter().all(|o| !o.is_empty())
                {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await
    };

    produce(30, &mut expected).await;
    let a = Member::start(&history, "a", builder(), 7);
    let b = Member::start(&history, "b", builder(), 7);
    settled(&[&a, &b]).await;
    produce(30, &mut expected).await;
    let c = Member::start(&history, "c", builder(), 7);
    settled(&[&a, &b, &c]).await;
    produce(30, &mut expected).await;
    b.close().await;
    settled(&[&a, &c]).await;
    produce(30, &mut expected).await;
    let b2 = Member::start(&history, "b2", builder(), 7);
    let d = Member::start(&history, "d", builder(), 7);
    settled(&[&a, &b2, &c, &d]).await;
    produce(30, &mut expected).await;
    a.close().await;
    c.close().await;
    settled(&[&b2, &d]).await;
    produce(30, &mut expected).await;
    all_delivered(&history, &expected, Duration::from_secs(30), "every record").await;
    // The churn reached the last members: on classic each rebalance is a new generation (a
    // Joined); on the consumer protocol a member joins once and the broker then moves partitions
    // to it, so each got partitions when it joined and more when A and C left.
    let churn = if protocol == GroupProtocol::Consumer {
        let assigned = |e: &Event| matches!(e, Event::Assigned(tps) if !tps.is_empty());
        b2.count(assigned) + d.count(assigned)
    } else {
        b2.count(|e| matches!(e, Event::Joined { .. })) + d.count(|e| matches!(e, Event::Joined { .. }))
    };
    b2.close().await;
    d.close().await;
    let report = history.assert_ok(&expected);
    assert!(
        churn >= 4,
        "churn made {churn} joins or assignments of the last members"
    );
    assert!(report.runs >= 12, "ownership moved: {report:?}");
    eprintln!("no_overlap_under_churn ({protocol:?}): {report:?}");
}

/// `moved partition revoked in g, assigned in g+1; others untouched.` One cooperative-sticky
/// member owns all six partitions; a second joins. The first revokes exactly the partitions that
/// move, while in generation g, and keeps the others without interruption (no revoke, one
/// ownership run each); the second is assigned exactly those partitions, in generation g + 1,
/// after they were revoked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cooperative_two_phase() {
    two_phase_move(GroupProtocol::Classic).await;
}

/// [`cooperative_two_phase`] on the consumer group protocol (KIP-848), where the broker runs the
/// two phases: it asks A to revoke what moves, and gives B those partitions only once A's
/// heartbeat reported them released. The generation relation is classic's alone: a
/// consumer-protocol member reports `Joined` once, when its first epoch comes, not on each epoch
/// bump, so there is nothing user-visible to compare; the order (revoke, then assign) and the
/// untouched kept partitions are asserted as on classic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_phase_move_consumer_protocol() {
    two_phase_move(GroupProtocol::Consumer).await;
}

async fn two_phase_move(protocol: GroupProtocol) {
    harness::init_tracing();
    let addr = real::broker_addr();
    let topic = real::unique_name("kafkit-coop");
    let group = real::unique_name("g-coop");
    const PARTITIONS: i32 = 6;
    harness::topic_with_partitions(&addr, &topic, PARTITIONS).await;
    let history = History::new();
    let builder = || ownership_builder(protocol, &addr, &group, &topic, "cooperative-sticky");
    let mut expected = Expected::default();
    let firsts = harness::produce(&addr, &topic, PARTITIONS, 0, 30, 10).await;
    for (p, base) in &firsts {
        expected.add(*p, *base, base + 30);
    }
    let a = Member::start(&history, "a", builder(), 5);
    within(Duration::from_secs(30), "a owns every partition", async {
        while a.owned().len() < PARTITIONS as usize {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    all_delivered(&history, &expected, Duration::from_secs(30), "the first records").await;
    let b = Member::start(&history, "b", builder(), 5);
    within(Duration::from_secs(30), "b gets its share", async {
        while b.owned().len() < (PARTITIONS / 2) as usize || a.owned().len() > (PARTITIONS / 2) as usize {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    let firsts = harness::produce(&addr, &topic, PARTITIONS, 30, 30, 10).await;
    for (p, base) in &firsts {
        expected.add(*p, *base, base + 30);
    }
    all_delivered(
        &history,
        &expected,
        Duration::from_secs(30),
        "records after the move",
    )
    .await;

    let a_events = a.events.lock().unwrap().clone();
    let b_events = b.events.lock().unwrap().clone();
    let generation_at = |events: &[(f64, Event)], t: f64| -> Option<i32> {
        events
            .iter()
            .filter(|(at, _)| *at <= t)
            .filter_map(|(_, e)| match e {
                Event::Joined { generation_id, .. } => Some(*generation_id),
                _ => None,
            })
            .next_back()
    };
    let revokes: Vec<(f64, BTreeSet<i32>)> = a_events
        .iter()
        .filter_map(|(t, e)| match e {
            Event::Revoked(tps) => Some((*t, tps.iter().map(|tp| tp.partition).collect())),
            Event::Lost(tps, _) => panic!("a lost {tps:?}"),
            _ => None,
        })
        .collect();
    assert_eq!(
        revokes.len(),
        1,
        "one revoke of the moved partitions: {revokes:?}"
    );
    let (revoked_at, moved) = revokes[0].clone();
    let b_assigned: Vec<(f64, BTreeSet<i32>)> = b_events
        .iter()
        .filter_map(|(t, e)| match e {
            Event::Assigned(tps) => Some((*t, tps.iter().map(|tp| tp.partition).collect())),
            _ => None,
        })
        .filter(|(_, ps): &(f64, BTreeSet<i32>)| !ps.is_empty())
        .collect();
    assert_eq!(b_assigned.len(), 1, "{b_assigned:?}");
    let (assigned_at, got) = b_assigned[0].clone();
    assert_eq!(got, moved, "b got exactly what a revoked");
    assert!(
        assigned_at >= revoked_at,
        "assigned at {assigned_at} before the revoke at {revoked_at}"
    );
    if protocol != GroupProtocol::Consumer {
        let g = generation_at(&a_events, revoked_at).expect("a's generation at the revoke");
        let g_b = generation_at(&b_events, assigned_at).expect("b's generation at the assignment");
        assert_eq!(g_b, g + 1, "revoked in generation {g}, assigned in {g_b}");
    }
    // The partitions a kept were never interrupted: one run each.
    let kept: BTreeSet<i32> = (0..PARTITIONS).filter(|p| !moved.contains(p)).collect();
    assert_eq!(a.owned(), kept);
    assert_eq!(
        a.count(|e| matches!(e, Event::Assigned(tps) if !tps.is_empty())),
        1,
        "a's kept partitions were not reassigned"
    );
    a.close().await;
    b.close().await;
    let report = history.assert_ok(&expected);
    // a: 6 runs; b: one per moved partition; a's close hands nothing over within this history.
    assert_eq!(report.runs, PARTITIONS as usize + moved.len(), "{report:?}");
}
