//! The reliability suite's group, commit and coordinator scenarios (issue 5): one named test per
//! fault, each recording deliveries, acknowledged commits and assignment changes in the history
//! checker and ending with its verdict plus the scenario's own assertions.
//!
//! Faults come from librdkafka's mock cluster (`request_errors`) where it can express them, and
//! from a Kafka-aware TCP proxy in front of it ([`KafkaProxy`]) for what it cannot: cut or silent
//! connections, answers dropped after the request took effect, and counting requests.
//!
//! The scenarios that run on Apache Kafka also run on the consumer group protocol of KIP-848
//! (`*_consumer_protocol`): the same bodies, with the member built for that protocol (the broker
//! then sets the session timeout and heartbeat interval) and the expectations that differ said
//! where they differ. librdkafka's mock has no KIP-848, so its scenarios run on classic only.

use std::collections::BTreeMap;
use std::time::Duration;

use kafka_protocol::messages::{
    ApiKey, ConsumerGroupHeartbeatRequest, DescribeGroupsRequest, DescribeGroupsResponse, GroupId,
    JoinGroupRequest, OffsetFetchRequest,
};
use kafka_protocol::protocol::{Decodable, StrBytes};
use kafkit::wire::KafkaCode;
use kafkit::{Consumer, ConsumerBuilder, Event, GroupProtocol, OffsetReset};
use kafkit_protocol_tests::harness::{self, within};
use kafkit_protocol_tests::history::{Expected, History, Kind};
use kafkit_protocol_tests::real;
use kafkit_protocol_tests::reliability::{Fault, KafkaProxy, Member, all_delivered, owned_partitions};
use rdkafka::mocking::MockCluster;
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};

const SESSION: Duration = Duration::from_secs(6);
const HEARTBEAT: Duration = Duration::from_millis(500);
const WAIT: Duration = Duration::from_secs(30);
/// What the test broker sets for consumer-protocol members (`group.consumer.session.timeout.ms`
/// and `group.consumer.heartbeat.interval.ms` in scripts/kafka-broker.sh): on that protocol the
/// member does not choose them.
const BROKER_SESSION: Duration = Duration::from_secs(10);
const BROKER_HEARTBEAT: Duration = Duration::from_secs(1);

/// Where a scenario runs: librdkafka's mock cluster (which can inject error codes) or the Apache
/// Kafka test broker (for the scenarios whose faults the proxy alone makes).
enum Backend {
    Mock(MockCluster<'static, rdkafka::producer::DefaultProducerContext>),
    Kafka(String),
}

/// A one-broker cluster with a topic, and (optionally) a proxy in front of it.
struct Cluster {
    backend: Backend,
    proxy: Option<KafkaProxy>,
    topic: String,
    group: String,
    partitions: i32,
    protocol: GroupProtocol,
}

impl Cluster {
    /// On librdkafka's mock cluster.
    async fn new(partitions: i32, proxied: bool) -> Cluster {
        harness::init_tracing();
        let mock = MockCluster::new(1).unwrap();
        // librdkafka 2.12's mock advertises flexible versions of the group APIs that its own
        // parsers do not read as the protocol specifies: a valid JoinGroup v6 makes it close the
        // connection (it reads the protocol count as an INT32), and a SyncGroup v4 crashes the
        // whole process. Cap them at the versions librdkafka itself sends.
        for (api, max) in [
            (RDKafkaApiKey::JoinGroup, 5),
            (RDKafkaApiKey::SyncGroup, 3),
            (RDKafkaApiKey::Heartbeat, 3),
            (RDKafkaApiKey::LeaveGroup, 1),
        ] {
            mock.apiversion(api, Some(0), Some(max)).unwrap();
        }
        let topic = real::unique_name("rel-group");
        mock.create_topic(&topic, partitions, 1).unwrap();
        let protocol = GroupProtocol::Classic;
        Cluster::with_backend(Backend::Mock(mock), topic, partitions, proxied, protocol).await
    }

    /// On the Apache Kafka test broker (`KAFKIT_TEST_BROKER`), its members on `protocol`.
    async fn kafka(partitions: i32, proxied: bool, protocol: GroupProtocol) -> Cluster {
        harness::init_tracing();
        let addr = real::broker_addr();
        let topic = real::unique_name("rel-group-kafka");
        harness::topic_with_partitions(&addr, &topic, partitions).await;
        Cluster::with_backend(Backend::Kafka(addr), topic, partitions, proxied, protocol).await
    }

    async fn with_backend(
        backend: Backend,
        topic: String,
        partitions: i32,
        proxied: bool,
        protocol: GroupProtocol,
    ) -> Cluster {
        let mut c = Cluster {
            backend,
            proxy: None,
            topic,
            group: real::unique_name("g-rel"),
            partitions,
            protocol,
        };
        if proxied {
            c.proxy = Some(KafkaProxy::start(&c.direct()).await);
        }
        c
    }

    /// The broker itself, never through the proxy.
    fn direct(&self) -> String {
        match &self.backend {
            Backend::Mock(mock) => mock.bootstrap_servers(),
            Backend::Kafka(addr) => addr.clone(),
        }
    }

    /// Where consumers bootstrap: the proxy if there is one.
    fn addr(&self) -> String {
        self.proxy
            .as_ref()
            .map_or_else(|| self.direct(), KafkaProxy::addr)
    }

    fn proxy(&self) -> &KafkaProxy {
        self.proxy.as_ref().expect("a proxied cluster")
    }

    /// Produces records `from..from + n` to every partition (directly, never through the proxy).
    async fn produce(&self, from: usize, n: usize) {
        harness::produce(&self.direct(), &self.topic, self.partitions, from, n, 10).await;
    }

    /// A member's builder. On the consumer protocol the session timeout and heartbeat interval
    /// are the broker's (kafkit, like Java, refuses them there), and so is the assignor.
    fn consumer(&self) -> ConsumerBuilder {
        let builder = Consumer::builder()
            .bootstrap(self.addr())
            .group_id(&self.group)
            .group_protocol(self.protocol)
            .subscribe([self.topic.as_str()])
            .offset_reset(OffsetReset::Earliest)
            .auto_commit(false)
            .max_poll_interval(Duration::from_secs(10));
        if self.protocol == GroupProtocol::Consumer {
            builder
        } else {
            builder.session_timeout(SESSION).heartbeat_interval(HEARTBEAT)
        }
    }

    /// How long the coordinator keeps a member that stopped heartbeating, and how often members
    /// heartbeat.
    fn liveness(&self) -> (Duration, Duration) {
        if self.protocol == GroupProtocol::Consumer {
            (BROKER_SESSION, BROKER_HEARTBEAT)
        } else {
            (SESSION, HEARTBEAT)
        }
    }

    /// The members spoke the protocol the scenario is about: on the consumer protocol only
    /// ConsumerGroupHeartbeat went to the coordinator (never JoinGroup, SyncGroup or Heartbeat);
    /// on classic never ConsumerGroupHeartbeat. Needs the proxy, which saw every request.
    fn assert_protocol_spoken(&self) {
        let proxy = self.proxy();
        let count = |api| proxy.seen_of(api).len();
        let classic = count(ApiKey::JoinGroup) + count(ApiKey::SyncGroup) + count(ApiKey::Heartbeat);
        let consumer = count(ApiKey::ConsumerGroupHeartbeat);
        // OffsetFetch (v8+ names the group in `groups`): consumer-protocol members name
        // themselves and their epoch (v9), classic members never.
        let named: Vec<(i16, bool)> = proxy
            .requests(ApiKey::OffsetFetch)
            .iter()
            .map(|s| {
                let r = s.decode::<OffsetFetchRequest>();
                let member = r
                    .groups
                    .first()
                    .is_some_and(|g| g.member_id.is_some() && g.member_epoch > 0);
                (s.version, member)
            })
            .collect();
        if self.protocol == GroupProtocol::Consumer {
            assert!(
                consumer > 0 && classic == 0,
                "{consumer} ConsumerGroupHeartbeat, {classic} classic group requests"
            );
            // (One sent while the member leaves or rejoins names none: it has no epoch then.)
            assert!(
                named.contains(&(9, true)) && named.iter().all(|&(v, _)| v == 9),
                "OffsetFetch (version, names the member): {named:?}"
            );
        } else {
            assert!(
                named.iter().all(|&(_, member)| !member),
                "classic OffsetFetch named a member: {named:?}"
            );
            assert!(
                classic > 0 && consumer == 0,
                "{consumer} ConsumerGroupHeartbeat, {classic} classic group requests"
            );
        }
    }

    fn errors(&self, api: RDKafkaApiKey, errors: &[RDKafkaRespErr]) {
        match &self.backend {
            Backend::Mock(mock) => mock.request_errors(api, errors),
            Backend::Kafka(_) => panic!("only librdkafka's mock cluster injects error codes"),
        }
    }
}

/// Waits until `member` has had `n` commits acknowledged.
async fn commits(history: &History, member: &str, n: usize) {
    within(WAIT, "acknowledged commits", async {
        loop {
            let got = history
                .entries()
                .iter()
                .filter(|e| e.member == member && matches!(e.kind, Kind::Committed { .. }))
                .count();
            if got >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

/// Waits until every partition in `partitions` has an acknowledged commit (by any member) of at
/// least `offset`.
async fn committed_to(history: &History, partitions: &[i32], offset: i64) {
    within(WAIT, "acknowledged commits of every partition", async {
        loop {
            let entries = history.entries();
            let done = partitions.iter().all(|&p| {
                entries.iter().any(|e| {
                    matches!(e.kind, Kind::Committed { partition, offset: o } if partition == p && o >= offset)
                })
            });
            if done {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

/// Per partition: the first offset delivered to `member` after `t`, and the highest commit
/// acknowledged (to anyone) before that delivery.
fn resume_points(history: &History, member: &str, t: f64) -> BTreeMap<i32, (Option<i64>, Option<i64>)> {
    let entries = history.entries();
    let mut out: BTreeMap<i32, (Option<i64>, Option<i64>)> = BTreeMap::new();
    for e in &entries {
        if let Kind::Delivered { partition, offset } = e.kind
            && e.t > t
            && e.member == member
            && !out.contains_key(&partition)
        {
            let committed = entries
                .iter()
                .filter(|c| c.t < e.t)
                .filter_map(|c| match c.kind {
                    Kind::Committed { partition: p, offset } if p == partition => Some(offset),
                    _ => None,
                })
                .max();
            out.insert(partition, (committed, Some(offset)));
        }
    }
    out
}

/// The history time of the first `Lost` recorded for `member`.
fn lost_at(history: &History, member: &str) -> f64 {
    history
        .entries()
        .iter()
        .find(|e| e.member == member && matches!(e.kind, Kind::Lost(_)))
        .map(|e| e.t)
        .expect("a Lost in the history")
}

fn is_rebalance(e: &Event) -> bool {
    matches!(e, Event::Revoked(_) | Event::Lost(..) | Event::Joined { .. })
}

/// An OffsetCommit answered REBALANCE_IN_PROGRESS: the commit fails with a typed, retriable error,
/// the member rejoins (a new generation), and every record is consumed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_rebalance_in_progress() {
    let c = Cluster::new(2, false).await;
    c.produce(0, 30).await;
    c.errors(
        RDKafkaApiKey::OffsetCommit,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS],
    );
    let history = History::new();
    let consumer = c.consumer().build().unwrap();
    let a = Member::start("a", &consumer, &history, 5);
    let expected = Expected::contiguous(0..2, 0, 30);
    all_delivered(&history, &expected, WAIT).await;
    a.wait_event(
        0,
        "a second generation",
        WAIT,
        |e| matches!(e, Event::Joined { generation_id, .. } if *generation_id >= 2),
    )
    .await;
    consumer.close().await.unwrap();
    history.closed("a");

    let report = history.assert_ok(&expected);
    let errors = a.commit_errors();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(
        errors[0].kafka_code(),
        Some(KafkaCode::REBALANCE_IN_PROGRESS),
        "{}",
        errors[0]
    );
    assert!(errors[0].is_retriable(), "{}", errors[0]);
    let joins = a.joins();
    assert!(joins.len() >= 2 && joins[1].0 > joins[0].0, "{joins:?}");
    assert!(report.commits > 0);
}

/// An OffsetCommit answered ILLEGAL_GENERATION: the member's partitions are reported lost, it
/// rejoins, and every partition resumes exactly at its last acknowledged commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_illegal_generation() {
    let c = Cluster::new(2, false).await;
    c.produce(0, 10).await;
    let history = History::new();
    let consumer = c.consumer().build().unwrap();
    let a = Member::start("a", &consumer, &history, 10);
    commits(&history, "a", 2).await;
    c.errors(
        RDKafkaApiKey::OffsetCommit,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION],
    );
    c.produce(10, 15).await;
    let (_, lost) = a
        .wait_event(0, "partitions lost", WAIT, |e| matches!(e, Event::Lost(..)))
        .await;
    let Event::Lost(tps, why) = lost else {
        unreachable!()
    };
    assert!(!tps.is_empty());
    assert_eq!(why.kafka_code(), Some(KafkaCode::ILLEGAL_GENERATION), "{why}");
    let expected = Expected::contiguous(0..2, 0, 25);
    all_delivered(&history, &expected, WAIT).await;
    a.wait_event(
        0,
        "a rejoin",
        WAIT,
        |e| matches!(e, Event::Joined { generation_id, .. } if *generation_id >= 2),
    )
    .await;
    consumer.close().await.unwrap();
    history.closed("a");

    history.assert_ok(&expected);
    let errors = a.commit_errors();
    assert!(
        errors
            .iter()
            .any(|e| e.kafka_code() == Some(KafkaCode::ILLEGAL_GENERATION)),
        "{errors:?}"
    );
    // Resume from the last commit: the first delivery after the loss is the committed offset.
    assert_resumed_at_last_commit(&history, "a");
}

/// An OffsetCommit answered UNKNOWN_MEMBER_ID: a non-retriable commit error, partitions lost, and
/// the member rejoins under a new member id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_unknown_member() {
    let c = Cluster::new(2, false).await;
    c.produce(0, 10).await;
    let history = History::new();
    let consumer = c.consumer().build().unwrap();
    let a = Member::start("a", &consumer, &history, 10);
    commits(&history, "a", 2).await;
    c.errors(
        RDKafkaApiKey::OffsetCommit,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID],
    );
    c.produce(10, 15).await;
    a.wait_event(0, "partitions lost", WAIT, |e| matches!(e, Event::Lost(..)))
        .await;
    let expected = Expected::contiguous(0..2, 0, 25);
    all_delivered(&history, &expected, WAIT).await;
    let first = a.joins()[0].clone();
    let (_, rejoined) = a
        .wait_event(
            0,
            "a rejoin",
            WAIT,
            |e| matches!(e, Event::Joined { generation_id, .. } if *generation_id > first.0),
        )
        .await;
    consumer.close().await.unwrap();
    history.closed("a");

    history.assert_ok(&expected);
    let errors = a.commit_errors();
    let e = errors
        .iter()
        .find(|e| e.kafka_code() == Some(KafkaCode::UNKNOWN_MEMBER_ID))
        .unwrap_or_else(|| panic!("no UNKNOWN_MEMBER_ID commit error: {errors:?}"));
    assert!(!e.is_retriable(), "{e}");
    let Event::Joined { member_id, .. } = rejoined else {
        unreachable!()
    };
    assert_ne!(member_id, first.1, "the member kept its forgotten id");
}

/// NOT_COORDINATOR on heartbeats and on a commit: the member rediscovers the coordinator (again
/// only after a backoff when it keeps failing) and carries on in the same generation, with no
/// rebalance and nothing delivered twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coordinator_moved() {
    let c = Cluster::new(2, true).await;
    c.produce(0, 10).await;
    let history = History::new();
    let backoff = Duration::from_millis(300);
    let consumer = c
        .consumer()
        .property("retry.backoff.ms", backoff.as_millis().to_string())
        .build()
        .unwrap();
    let a = Member::start("a", &consumer, &history, 10);
    commits(&history, "a", 2).await;
    let settled = a.event_count();
    let finds_before = c.proxy().seen_of(ApiKey::FindCoordinator).len();

    // Two heartbeats in a row: the first loss rediscovers at once, the second after a backoff.
    let not_coordinator = RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_COORDINATOR;
    c.errors(RDKafkaApiKey::Heartbeat, &[not_coordinator, not_coordinator]);
    let finds = within(WAIT, "two rediscoveries", async {
        loop {
            let finds = c.proxy().seen_of(ApiKey::FindCoordinator);
            if finds.len() >= finds_before + 2 {
                return finds[finds_before..].to_vec();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    let gap = finds[1] - finds[0];
    assert!(gap >= backoff, "second rediscovery after only {gap:?}");

    // A commit answered NOT_COORDINATOR: kafkit rediscovers the coordinator and sends the commit
    // again inside (as Java's commitSync does); the application sees no error.
    let commits_before = c.proxy().seen_of(ApiKey::OffsetCommit).len();
    c.errors(RDKafkaApiKey::OffsetCommit, &[not_coordinator]);
    c.produce(10, 10).await;
    let expected_mid = Expected::contiguous(0..2, 0, 20);
    all_delivered(&history, &expected_mid, WAIT).await;
    c.produce(20, 10).await;
    let expected = Expected::contiguous(0..2, 0, 30);
    all_delivered(&history, &expected, WAIT).await;
    commits(&history, "a", 5).await;
    let events: Vec<Event> = a.events()[settled..].to_vec();
    consumer.close().await.unwrap();
    history.closed("a");

    let report = history.assert_ok(&expected);
    assert!(
        !events.iter().any(is_rebalance),
        "a rebalance after NOT_COORDINATOR: {events:?}"
    );
    assert_eq!(report.redeliveries, 0);
    let errors = a.commit_errors();
    assert!(
        errors.is_empty(),
        "NOT_COORDINATOR on a commit surfaced: {errors:?}"
    );
    // The refused commit led to a third rediscovery and was sent again.
    assert!(c.proxy().seen_of(ApiKey::FindCoordinator).len() >= finds_before + 3);
    assert!(c.proxy().seen_of(ApiKey::OffsetCommit).len() >= commits_before + 2);
}

/// COORDINATOR_LOAD_IN_PROGRESS on OffsetFetch, Heartbeat and OffsetCommit: retried inside, never surfaced (no
/// warning, no error, no rebalance, nothing delivered twice).
///
/// Not on JoinGroup or SyncGroup: the mock answers an injected error there with a null
/// ProtocolName (JoinGroup v5) or a null Assignment (SyncGroup v3), fields the protocol makes
/// non-nullable (Kafka sends "" and empty bytes), so kafkit rightly rejects those answers as
/// malformed instead of reading their error code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coordinator_loading() {
    let c = Cluster::new(2, true).await;
    c.produce(0, 10).await;
    let loading = RDKafkaRespErr::RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS;
    c.errors(RDKafkaApiKey::OffsetFetch, &[loading, loading]);
    let history = History::new();
    let consumer = c.consumer().build().unwrap();
    let a = Member::start("a", &consumer, &history, 10);
    commits(&history, "a", 2).await;
    let heartbeats = c.proxy().seen_of(ApiKey::Heartbeat).len();
    c.errors(RDKafkaApiKey::Heartbeat, &[loading, loading]);
    within(WAIT, "heartbeats past the loading ones", async {
        while c.proxy().seen_of(ApiKey::Heartbeat).len() < heartbeats + 4 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    let commits_before = c.proxy().seen_of(ApiKey::OffsetCommit).len();
    c.errors(RDKafkaApiKey::OffsetCommit, &[loading, loading]);
    c.produce(10, 10).await;
    let expected = Expected::contiguous(0..2, 0, 20);
    all_delivered(&history, &expected, WAIT).await;
    commits(&history, "a", 4).await;
    let health = consumer.health();
    let events = a.events();
    consumer.close().await.unwrap();
    history.closed("a");

    let report = history.assert_ok(&expected);
    assert_eq!(report.redeliveries, 0);
    assert!(
        !events.iter().any(|e| matches!(
            e,
            Event::Warning(_) | Event::Lost(..) | Event::Revoked(_) | Event::Fatal(_)
        )),
        "loading surfaced: {events:?}"
    );
    assert_eq!(a.joins().len(), 1, "{events:?}");
    assert!(a.commit_errors().is_empty(), "{:?}", a.commit_errors());
    assert!(a.stream_errors().is_empty(), "{:?}", a.stream_errors());
    assert!(health.last_error.is_none(), "{health:?}");
    // The faults were met: each API was sent again after its loading answers.
    assert!(c.proxy().seen_of(ApiKey::OffsetFetch).len() >= 3);
    assert!(c.proxy().seen_of(ApiKey::OffsetCommit).len() >= commits_before + 3);
}

/// Commits `record` again and again while the error is retriable (what the docs tell the
/// application to do); returns the errors met before it landed.
async fn commit_until_landed(consumer: &Consumer, record: &kafkit::Record) -> Vec<kafkit::Error> {
    let mut errors = Vec::new();
    within(WAIT, "the commit lands", async {
        loop {
            match consumer.commit(record).await {
                Ok(()) => return,
                Err(e) if e.is_retriable() => {
                    errors.push(e);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("non-retriable commit error: {e}"),
            }
        }
    })
    .await;
    errors
}

/// A fresh member of the group: the first offset it is delivered of each partition (where the
/// group's committed offsets put it). It runs until everything `expected` lists is delivered:
/// stopping at its first record of each partition left the rest of a partition whose records
/// came in two fetches undelivered (seen once under load: offsets 10-14 of a partition read
/// from 0).
async fn fresh_member_starts(
    c: &Cluster,
    history: &History,
    expected: &Expected,
    name: &str,
) -> BTreeMap<i32, i64> {
    let consumer = c.consumer().build().unwrap();
    let m = Member::start(name, &consumer, history, 0);
    let starts = within(WAIT, "the fresh member reads every partition", async {
        loop {
            let starts = resume_points(history, name, 0.0);
            if starts.len() == c.partitions as usize {
                return starts;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    all_delivered(history, expected, WAIT).await;
    drop(m);
    consumer.close().await.unwrap();
    history.closed(name);
    starts
        .into_iter()
        .map(|(p, (_, first))| (p, first.unwrap()))
        .collect()
}

/// The coordinator does not answer an OffsetCommit in time: the commit fails with a retriable
/// timeout after the request timeout (not the much longer JoinGroup deadline), the member stays
/// in its generation, the retried commit lands, and a fresh member starts from it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_request_timeout_retry() {
    commit_request_timeout_retry_on(Cluster::new(2, true).await).await;
}

/// [`commit_request_timeout_retry`] on Apache Kafka.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_request_timeout_retry_kafka() {
    commit_request_timeout_retry_on(Cluster::kafka(2, true, GroupProtocol::Classic).await).await;
}

/// [`commit_request_timeout_retry`] on Apache Kafka with the consumer group protocol (KIP-848).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_request_timeout_retry_consumer_protocol() {
    commit_request_timeout_retry_on(Cluster::kafka(2, true, GroupProtocol::Consumer).await).await;
}

async fn commit_request_timeout_retry_on(c: Cluster) {
    c.produce(0, 10).await;
    let history = History::new();
    let request_timeout = Duration::from_secs(2);
    let consumer = c
        .consumer()
        .property("request.timeout.ms", request_timeout.as_millis().to_string())
        .build()
        .unwrap();
    let a = Member::start("a", &consumer, &history, 0);
    let expected = Expected::contiguous(0..2, 0, 10);
    all_delivered(&history, &expected, WAIT).await;
    let settled = a.event_count();
    let last = a.last_records();

    // The answer comes after the request timeout (the broker is slow, not gone).
    c.proxy().fault(
        ApiKey::OffsetCommit,
        Fault::DelayAnswer(request_timeout + Duration::from_secs(1)),
        1,
    );
    let t = std::time::Instant::now();
    let first = consumer.commit(&last[&0]).await.unwrap_err();
    let took = t.elapsed();
    assert!(first.is_retriable(), "{first}");
    assert!(
        took < request_timeout + Duration::from_secs(1),
        "the commit took {took:?} to time out"
    );
    let errors = commit_until_landed(&consumer, &last[&0]).await;
    history.committed("a", 0, last[&0].offset() + 1);
    let events: Vec<Event> = a.events()[settled..].to_vec();
    drop(a);
    consumer.close().await.unwrap();
    history.closed("a");

    // Records after the commits, for the fresh member to start at.
    c.produce(10, 5).await;
    let expected = Expected::contiguous(0..2, 0, 15);
    let starts = fresh_member_starts(&c, &history, &expected, "fresh").await;
    history.assert_ok(&expected);
    assert_eq!(starts[&0], 10, "the fresh member did not see the commit");
    assert_eq!(starts[&1], 0);
    assert!(!events.iter().any(is_rebalance), "{events:?} (then {errors:?})");
    c.assert_protocol_spoken();
}

/// The connection drops around an OffsetCommit, once before the coordinator got it and once after
/// it applied it: each time the commit fails with a retriable error, the member stays in its
/// generation, retrying is safe, and the group ends at the retried offsets either way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_disconnect_ambiguous() {
    commit_disconnect_ambiguous_on(Cluster::new(2, true).await).await;
}

/// [`commit_disconnect_ambiguous`] on Apache Kafka.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_disconnect_ambiguous_kafka() {
    commit_disconnect_ambiguous_on(Cluster::kafka(2, true, GroupProtocol::Classic).await).await;
}

/// [`commit_disconnect_ambiguous`] on Apache Kafka with the consumer group protocol (KIP-848).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_disconnect_ambiguous_consumer_protocol() {
    commit_disconnect_ambiguous_on(Cluster::kafka(2, true, GroupProtocol::Consumer).await).await;
}

async fn commit_disconnect_ambiguous_on(c: Cluster) {
    c.produce(0, 10).await;
    let history = History::new();
    let consumer = c.consumer().build().unwrap();
    let a = Member::start("a", &consumer, &history, 0);
    let expected = Expected::contiguous(0..2, 0, 10);
    all_delivered(&history, &expected, WAIT).await;
    let settled = a.event_count();
    let last = a.last_records();
    let commits_before = c.proxy().requests(ApiKey::OffsetCommit).len();

    // Not landed: the request never reaches the coordinator.
    c.proxy()
        .fault(ApiKey::OffsetCommit, Fault::CloseBeforeForward, 1);
    let e = consumer.commit(&last[&0]).await.unwrap_err();
    assert!(e.is_retriable(), "{e}");
    commit_until_landed(&consumer, &last[&0]).await;
    history.committed("a", 0, last[&0].offset() + 1);

    // Landed: the coordinator applied it, the answer was lost.
    c.proxy().fault(ApiKey::OffsetCommit, Fault::CloseAfterAnswer, 1);
    let e = consumer.commit(&last[&1]).await.unwrap_err();
    assert!(e.is_retriable(), "{e}");
    commit_until_landed(&consumer, &last[&1]).await;
    history.committed("a", 1, last[&1].offset() + 1);
    let events: Vec<Event> = a.events()[settled..].to_vec();
    drop(a);
    consumer.close().await.unwrap();
    history.closed("a");

    // Records after the commits, for the fresh member to start at.
    c.produce(10, 5).await;
    let expected = Expected::contiguous(0..2, 0, 15);
    let starts = fresh_member_starts(&c, &history, &expected, "fresh").await;
    history.assert_ok(&expected);
    assert_eq!(starts, BTreeMap::from([(0, 10), (1, 10)]));
    assert!(!events.iter().any(is_rebalance), "{events:?}");
    // Both faults were met: at least two OffsetCommits for each partition.
    assert!(c.proxy().requests(ApiKey::OffsetCommit).len() >= commits_before + 4);
    c.assert_protocol_spoken();
}

/// The coordinator becomes unreachable (connections cut, then silence) for longer than the session
/// timeout: the member loses its partitions on its own clock, their streams end, commits are
/// refused; once the coordinator is back it rejoins and consumes the rest.
///
/// On the consumer protocol the session is the broker's (`BROKER_SESSION`), and the member is not
/// told it (a heartbeat answer carries only the interval). Java's consumer does not fence itself
/// there: on a failed heartbeat it rediscovers the coordinator and retries
/// (`AbstractHeartbeatRequestManager.onFailure`), keeping its partitions until an answer says
/// FENCED_MEMBER_EPOCH or UNKNOWN_MEMBER_ID, so for the rest of an outage longer than the session
/// it processes partitions the coordinator has handed on. kafkit gives them up on its own clock
/// after min(45 s, max.poll.interval = the rebalance timeout) with no heartbeat answered; here
/// that is max.poll.interval, 10 s, the broker's session. That is the stricter behaviour (no
/// owner the coordinator no longer counts), and the one asserted: lost during the outage, not
/// before the coordinator itself could have dropped the member (a session less a heartbeat
/// interval after the cut: earlier would give up partitions for nothing).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_expiry_self_fence() {
    session_expiry_self_fence_on(Cluster::new(2, true).await).await;
}

/// [`session_expiry_self_fence`] on Apache Kafka.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_expiry_self_fence_kafka() {
    session_expiry_self_fence_on(Cluster::kafka(2, true, GroupProtocol::Classic).await).await;
}

/// [`session_expiry_self_fence`] on Apache Kafka with the consumer group protocol (KIP-848).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_expiry_self_fence_consumer_protocol() {
    session_expiry_self_fence_on(Cluster::kafka(2, true, GroupProtocol::Consumer).await).await;
}

async fn session_expiry_self_fence_on(c: Cluster) {
    c.produce(0, 10).await;
    let history = History::new();
    let consumer = c.consumer().build().unwrap();
    let a = Member::start("a", &consumer, &history, 10);
    commits(&history, "a", 2).await;
    let last = a.last_records();
    let from = a.event_count();
    let (started, _) = a.streams();

    let (session, heartbeat) = c.liveness();
    let cut = std::time::Instant::now();
    c.proxy().blackhole();
    let (_, lost) = a
        .wait_event(from, "partitions lost", session * 2, |e| {
            matches!(e, Event::Lost(..))
        })
        .await;
    let after = cut.elapsed();
    let Event::Lost(tps, _) = lost else { unreachable!() };
    assert_eq!(tps.len(), 2, "{tps:?}");
    // The last heartbeat answered came at most a heartbeat interval (and a round trip) before
    // the cut.
    assert!(
        after >= session - heartbeat - Duration::from_millis(200),
        "lost after only {after:?} (session {session:?}, heartbeat {heartbeat:?})"
    );
    within(
        Duration::from_secs(5),
        "the lost partitions' streams end",
        async {
            while a.streams().1 < started {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        },
    )
    .await;
    for record in last.values() {
        let e = within(
            Duration::from_secs(5),
            "a refused commit",
            consumer.commit(record),
        )
        .await
        .unwrap_err();
        assert!(e.kafka_code().is_some(), "{e}");
    }

    c.proxy().heal();
    c.produce(10, 10).await;
    let expected = Expected::contiguous(0..2, 0, 20);
    all_delivered(&history, &expected, WAIT).await;
    a.wait_event(from, "a rejoin", WAIT, |e| matches!(e, Event::Joined { .. }))
        .await;
    consumer.close().await.unwrap();
    history.closed("a");
    history.assert_ok(&expected);
    assert_resumed_at_last_commit(&history, "a");
    c.assert_protocol_spoken();
}

/// A member stops pulling while records wait: after max.poll.interval it leaves and says so, the
/// other member takes over its partition, and the stalled member rejoins when it pulls again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_poll_exceeded() {
    max_poll_exceeded_on(Cluster::new(2, false).await).await;
}

/// [`max_poll_exceeded`] on Apache Kafka.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_poll_exceeded_kafka() {
    max_poll_exceeded_on(Cluster::kafka(2, false, GroupProtocol::Classic).await).await;
}

/// [`max_poll_exceeded`] on Apache Kafka with the consumer group protocol (KIP-848).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_poll_exceeded_consumer_protocol() {
    max_poll_exceeded_on(Cluster::kafka(2, true, GroupProtocol::Consumer).await).await;
}

async fn max_poll_exceeded_on(c: Cluster) {
    c.produce(0, 10).await;
    let history = History::new();
    let max_poll = Duration::from_secs(3);
    let build = || c.consumer().max_poll_interval(max_poll).build().unwrap();
    // Both join at the same instant. The mock completes a sync on the leader's SyncGroup alone and
    // drops the assignment of a follower whose SyncGroup comes after it (INVALID_REQUEST, null
    // assignment); a follower kept losing that race while kafkit's leader synced as fast as its
    // followers, and each lost round cost the mock's 5 s rebalance, so a partition could stay
    // unconsumed past the 30 s wait. The leader now assigns from metadata fetched after its join
    // (as librdkafka's does), so followers sync first (reproduced and checked in
    // sim::tests::two_members_joining_the_mock_at_once_consume_everything_within_30_s).
    let ca = build();
    let a = Member::start("a", &ca, &history, 10);
    let cb = build();
    let b = Member::start("b", &cb, &history, 10);
    let expected = Expected::contiguous(0..2, 0, 10);
    all_delivered(&history, &expected, WAIT).await;
    within(WAIT, "one partition each", async {
        while ca.health().assigned_partitions != 1 || cb.health().assigned_partitions != 1 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    // Each partition's first ten records committed, by whichever member read them: with no
    // initial rebalance delay A may join alone, read and commit both partitions before B joins,
    // and B then has nothing to read (or commit) until A stops.
    committed_to(&history, &[0, 1], 10).await;

    // A stops pulling; records arrive for both.
    let from_a = a.event_count();
    let from_b = b.event_count();
    a.pause(true);
    c.produce(10, 10).await;
    let t = std::time::Instant::now();
    a.wait_event(from_a, "A reports max poll exceeded", WAIT, |e| {
        matches!(e, Event::MaxPollExceeded { .. })
    })
    .await;
    assert!(
        t.elapsed() >= max_poll - Duration::from_millis(500),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(ca.health().status, kafkit::Status::Stalled);
    let expected = Expected::contiguous(0..2, 0, 20);
    all_delivered(&history, &expected, WAIT).await;
    assert_eq!(cb.health().assigned_partitions, 2, "B did not take over");
    // B's events say it took A's partition over: on classic in a new generation's assignment
    // of both; on the consumer protocol the broker adds A's partition to B's own.
    assert!(
        b.events()[from_b..]
            .iter()
            .any(|e| matches!(e, Event::Assigned(tps) if !tps.is_empty())),
        "{:?}",
        b.events()
    );
    assert_eq!(owned_partitions(&b.events()).len(), 2, "{:?}", b.events());

    // A pulls again: it rejoins and gets a partition back.
    let from_a = a.event_count();
    a.pause(false);
    a.wait_event(from_a, "A rejoins", WAIT, |e| matches!(e, Event::Joined { .. }))
        .await;
    within(WAIT, "one partition each again", async {
        while ca.health().assigned_partitions != 1 || cb.health().assigned_partitions != 1 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    c.produce(20, 10).await;
    let expected = Expected::contiguous(0..2, 0, 30);
    all_delivered(&history, &expected, WAIT).await;
    ca.close().await.unwrap();
    history.closed("a");
    cb.close().await.unwrap();
    history.closed("b");
    history.assert_ok(&expected);
    if c.proxy.is_some() {
        c.assert_protocol_spoken();
    }
}

/// The coordinator goes silent: close still returns within its close timeout (with a timeout
/// error, since it could neither commit nor leave), though requests would wait much longer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_without_coordinator() {
    close_without_coordinator_on(Cluster::new(2, true).await).await;
}

/// [`close_without_coordinator`] on Apache Kafka.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_without_coordinator_kafka() {
    close_without_coordinator_on(Cluster::kafka(2, true, GroupProtocol::Classic).await).await;
}

/// [`close_without_coordinator`] on Apache Kafka with the consumer group protocol (KIP-848).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_without_coordinator_consumer_protocol() {
    close_without_coordinator_on(Cluster::kafka(2, true, GroupProtocol::Consumer).await).await;
}

async fn close_without_coordinator_on(c: Cluster) {
    c.produce(0, 10).await;
    let history = History::new();
    let close_timeout = Duration::from_secs(3);
    let consumer = c
        .consumer()
        .auto_commit(true)
        .close_timeout(close_timeout)
        .property("request.timeout.ms", "30000")
        .build()
        .unwrap();
    let a = Member::start("a", &consumer, &history, 0);
    let expected = Expected::contiguous(0..2, 0, 10);
    all_delivered(&history, &expected, WAIT).await;

    c.proxy().blackhole();
    let t = std::time::Instant::now();
    let result = within(
        close_timeout + Duration::from_secs(5),
        "close returns",
        consumer.close(),
    )
    .await;
    let took = t.elapsed();
    history.closed("a");
    history.assert_ok(&expected);
    assert!(
        took <= close_timeout + Duration::from_millis(1500),
        "close took {took:?} (close timeout {close_timeout:?})"
    );
    let e = result.unwrap_err();
    assert_eq!(e.kind(), kafkit::ErrorKind::Timeout, "{e}");
    drop(a);
    c.assert_protocol_spoken();
}

/// A topic on the real broker (Apache Kafka in CI), with records `0..n` in each partition.
async fn real_topic(partitions: i32, n: usize) -> (String, String) {
    let addr = real::broker_addr();
    let topic = real::unique_name("rel-group-real");
    harness::topic_with_partitions(&addr, &topic, partitions).await;
    harness::produce(&addr, &topic, partitions, 0, n, 10).await;
    (addr, topic)
}

/// A member on `protocol` (on the consumer protocol the broker sets the session timeout and
/// heartbeat interval).
fn real_consumer(bootstrap: &str, group: &str, topic: &str, protocol: GroupProtocol) -> ConsumerBuilder {
    let builder = Consumer::builder()
        .bootstrap(bootstrap)
        .group_id(group)
        .group_protocol(protocol)
        .subscribe([topic])
        .offset_reset(OffsetReset::Earliest)
        .auto_commit(false)
        .max_poll_interval(Duration::from_secs(10));
    if protocol == GroupProtocol::Consumer {
        builder
    } else {
        builder.session_timeout(SESSION).heartbeat_interval(HEARTBEAT)
    }
}

/// KIP-394 against the real broker: the first JoinGroup (v4+, no member id) is answered
/// MEMBER_ID_REQUIRED with an id, the member joins with exactly that id, and the group has exactly
/// one member (no phantom from the first attempt).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn member_id_required() {
    let (addr, topic) = real_topic(2, 10).await;
    let proxy = KafkaProxy::start(&addr).await;
    let group = real::unique_name("g-rel-kip394");
    let history = History::new();
    let consumer = real_consumer(&proxy.addr(), &group, &topic, GroupProtocol::Classic)
        .build()
        .unwrap();
    let a = Member::start("a", &consumer, &history, 5);
    let expected = Expected::contiguous(0..2, 0, 10);
    all_delivered(&history, &expected, WAIT).await;
    let joins = a.joins();
    assert_eq!(joins.len(), 1, "{joins:?}");
    let member_id = joins[0].1.clone();

    let join_requests: Vec<JoinGroupRequest> = proxy
        .requests(ApiKey::JoinGroup)
        .iter()
        .map(|s| {
            assert!(s.version >= 4, "JoinGroup v{} predates KIP-394", s.version);
            s.decode()
        })
        .collect();
    assert_eq!(join_requests.len(), 2, "{join_requests:?}");
    assert_eq!(join_requests[0].member_id.as_str(), "");
    assert_eq!(join_requests[1].member_id.as_str(), member_id);

    // The coordinator's view: one member, ours.
    let conn = kafkit_protocol_tests::admin::connect(&addr).await;
    let (_, max) = conn.api_versions().broker_range(ApiKey::DescribeGroups).unwrap();
    let version = max.min(5);
    let body = conn
        .send_raw(
            ApiKey::DescribeGroups,
            &DescribeGroupsRequest::default()
                .with_groups(vec![GroupId(StrBytes::from_string(group.clone()))]),
            version,
        )
        .await
        .unwrap();
    let described = DescribeGroupsResponse::decode(&mut body.clone(), version).unwrap();
    let members: Vec<String> = described.groups[0]
        .members
        .iter()
        .map(|m| m.member_id.to_string())
        .collect();
    assert_eq!(members, vec![member_id.clone()], "{described:?}");

    drop(a);
    consumer.close().await.unwrap();
    history.closed("a");
    history.assert_ok(&expected);
}

/// Static members "one" (consumer and member `a`) and "two" (`c`) of a 2-partition topic with
/// 10 records each: started, everything read, and one partition each.
async fn two_static_members(
    build: &impl Fn(&str) -> Consumer,
    history: &History,
) -> (Consumer, Member, Consumer, Member) {
    let ca = build("one");
    let a = Member::start("a", &ca, history, 5);
    let cc = build("two");
    let c = Member::start("c", &cc, history, 5);
    let expected = Expected::contiguous(0..2, 0, 10);
    all_delivered(history, &expected, WAIT).await;
    within(WAIT, "one partition each", async {
        while ca.health().assigned_partitions != 1 || cc.health().assigned_partitions != 1 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    (ca, a, cc, c)
}

/// Static membership (KIP-345) against the real broker: a second instance with the same
/// group.instance.id takes the first one's place; the old instance gets a fatal
/// FENCED_INSTANCE_ID and stops (its streams end, it owns nothing), the new one owns its
/// partition, and the other member is not disturbed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_member_fenced() {
    let (addr, topic) = real_topic(2, 10).await;
    let group = real::unique_name("g-rel-static");
    let history = History::new();
    let build = |instance: &str| {
        real_consumer(&addr, &group, &topic, GroupProtocol::Classic)
            .group_instance_id(instance)
            .build()
            .unwrap()
    };
    let (ca, a, cc, c) = two_static_members(&build, &history).await;
    let from_c = c.event_count();
    let (a_started, _) = a.streams();

    // The new instance of "one".
    let cb = build("one");
    let b = Member::start("b", &cb, &history, 5);
    let (_, fatal) = a
        .wait_event(0, "the old instance is fenced", WAIT, |e| {
            matches!(e, Event::Fatal(_))
        })
        .await;
    let Event::Fatal(e) = fatal else { unreachable!() };
    assert_eq!(e.kafka_code(), Some(KafkaCode::FENCED_INSTANCE_ID), "{e}");
    assert!(!e.is_retriable());
    within(Duration::from_secs(5), "the old instance stops", async {
        while a.streams().1 < a_started || ca.health().status != kafkit::Status::Failed {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert_eq!(ca.health().assigned_partitions, 0);
    within(WAIT, "the new instance owns a partition", async {
        while cb.health().assigned_partitions != 1 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;

    harness::produce(&addr, &topic, 2, 10, 10, 10).await;
    let expected = Expected {
        // The old instance learns it was replaced at its next heartbeat or commit: until then the
        // protocol lets it believe it owns the partition (at most a heartbeat interval, plus a
        // round trip).
        overlap_tolerance: 1.5,
        ..Expected::contiguous(0..2, 0, 20)
    };
    all_delivered(&history, &expected, WAIT).await;
    let c_events: Vec<Event> = c.events()[from_c..].to_vec();
    for (consumer, name) in [(ca, "a"), (cb, "b"), (cc, "c")] {
        let _ = consumer.close().await;
        history.closed(name);
    }
    history.assert_ok(&expected);
    assert!(
        !c_events
            .iter()
            .any(|e| matches!(e, Event::Lost(..) | Event::Fatal(_) | Event::Warning(_))),
        "the other member was disturbed: {c_events:?}"
    );
    assert!(b.joins().len() == 1, "{:?}", b.events());
}

/// Static membership on the consumer protocol (KIP-848) against the real broker. Here the
/// coordinator keeps the member it has: a second instance joining with the group.instance.id of a
/// member still in the group is refused with UNRELEASED_INSTANCE_ID (fatal, as in Java's
/// consumer), where on classic ([`static_member_fenced`]) the newcomer wins and the old instance
/// is fenced. Neither running member is disturbed. Once the holder leaves (a static member leaves
/// at epoch -2: the coordinator keeps its place and assignment for the session), a new instance
/// with its id takes that place and its partition, and the other member sees no rebalance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_member_replaced_consumer_protocol() {
    let (addr, topic) = real_topic(2, 10).await;
    let proxy = KafkaProxy::start(&addr).await;
    let group = real::unique_name("g-rel-static848");
    let history = History::new();
    let build = |instance: &str| {
        real_consumer(&proxy.addr(), &group, &topic, GroupProtocol::Consumer)
            .group_instance_id(instance)
            .build()
            .unwrap()
    };
    let (ca, a, cc, c) = two_static_members(&build, &history).await;
    let from_a = a.event_count();
    let from_c = c.event_count();
    let a_partitions = owned_partitions(&a.events());

    // A second instance of "one" while the first is in the group: refused.
    let cb = build("one");
    let b = Member::start("b", &cb, &history, 5);
    let (_, fatal) = b
        .wait_event(0, "the second instance is refused", WAIT, |e| {
            matches!(e, Event::Fatal(_))
        })
        .await;
    let Event::Fatal(e) = fatal else { unreachable!() };
    assert_eq!(e.kafka_code(), Some(KafkaCode::UNRELEASED_INSTANCE_ID), "{e}");
    assert!(!e.is_retriable());
    within(Duration::from_secs(5), "the refused instance stops", async {
        while cb.health().status != kafkit::Status::Failed {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert_eq!(cb.health().assigned_partitions, 0);
    assert!(
        !b.events()
            .iter()
            .any(|e| matches!(e, Event::Assigned(tps) if !tps.is_empty())),
        "the refused instance was assigned: {:?}",
        b.events()
    );
    harness::produce(&addr, &topic, 2, 10, 10, 10).await;
    let expected = Expected::contiguous(0..2, 0, 20);
    all_delivered(&history, &expected, WAIT).await;
    assert_eq!(ca.health().assigned_partitions, 1);
    assert_eq!(cc.health().assigned_partitions, 1);
    let a_events: Vec<Event> = a.events()[from_a..].to_vec();
    let _ = cb.close().await;
    history.closed("b");
    drop(b);

    // The holder leaves (epoch -2); a new instance of "one" takes its place and its partition.
    drop(a);
    within(WAIT, "a's close", ca.close()).await.unwrap();
    history.closed("a");
    let leaves: Vec<i32> = proxy
        .requests(ApiKey::ConsumerGroupHeartbeat)
        .iter()
        .map(|s| s.decode::<ConsumerGroupHeartbeatRequest>())
        .filter(|r| r.instance_id.as_ref().is_some_and(|i| i.as_str() == "one") && r.member_epoch < 0)
        .map(|r| r.member_epoch)
        .collect();
    assert_eq!(leaves, vec![-2], "a static member leaves at epoch -2");
    let cd = build("one");
    let d = Member::start("d", &cd, &history, 5);
    within(WAIT, "the new instance owns a partition", async {
        while cd.health().assigned_partitions != 1 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    harness::produce(&addr, &topic, 2, 20, 10, 10).await;
    let expected = Expected::contiguous(0..2, 0, 30);
    all_delivered(&history, &expected, WAIT).await;
    let d_partitions = owned_partitions(&d.events());
    let c_events: Vec<Event> = c.events()[from_c..].to_vec();
    for (consumer, name) in [(cd, "d"), (cc, "c")] {
        consumer.close().await.unwrap();
        history.closed(name);
    }
    history.assert_ok(&expected);
    assert_eq!(
        d_partitions, a_partitions,
        "the new instance did not get the partition a held"
    );
    for (name, events) in [("a", &a_events), ("c", &c_events)] {
        assert!(
            !events.iter().any(|e| matches!(
                e,
                Event::Lost(..) | Event::Revoked(_) | Event::Fatal(_) | Event::Warning(_)
            )),
            "{name} was disturbed: {events:?}"
        );
    }
    assert!(
        !c_events
            .iter()
            .any(|e| matches!(e, Event::Assigned(tps) if !tps.is_empty())),
        "c's assignment changed: {c_events:?}"
    );
    drop((c, d));
}

/// After `member` lost its partitions, its first delivery of each is the last acknowledged commit.
fn assert_resumed_at_last_commit(history: &History, member: &str) {
    let t = lost_at(history, member);
    for (p, (committed, first)) in resume_points(history, member, t) {
        assert_eq!(
            first, committed,
            "partition {p} resumed at {first:?}, last commit {committed:?}"
        );
    }
}
