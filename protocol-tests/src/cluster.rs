//! The 3-node Apache Kafka cluster that `scripts/test.sh` starts for the tests that need leaders to
//! move (`KAFKIT_TEST_CLUSTER`, `KAFKIT_TEST_CLUSTER_STATE`): per-node kill, clean stop and start
//! through `scripts/kafka-broker.sh`, admin requests (topics with 3 replicas, more partitions,
//! preferred-leader election, the group coordinator), a producer that rides out leader moves, and
//! reading a partition's log back so the history checker can demand every record in it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::elect_leaders_request::TopicPartitions;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{
    ApiKey, BrokerId, CreatePartitionsRequest, CreatePartitionsResponse, ElectLeadersRequest,
    ElectLeadersResponse, FindCoordinatorRequest, FindCoordinatorResponse, ListOffsetsRequest,
    ListOffsetsResponse, TopicName,
};
use kafka_protocol::protocol::{Decodable, StrBytes};
use kafkit::net::{BrokerPool, NetConfig};
use kafkit::{Consumer, IsolationLevel, OffsetReset};

use crate::admin::{self, TestRecord};
use crate::history::Expected;

/// The test cluster. One test at a time may use it ([`TestCluster::lock`]): its tests kill nodes.
pub struct TestCluster {
    pub bootstrap: String,
    state: PathBuf,
    _guard: MutexGuard<'static, ()>,
}

static LOCK: Mutex<()> = Mutex::new(());

fn env(name: &str) -> String {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => v,
        _ => panic!(
            "{name} is not set: run ./scripts/test.sh, or start a cluster with `KAFKIT_BROKER_NODES=3 KAFKIT_STATE=DIR scripts/kafka-broker.sh start` and export KAFKIT_TEST_CLUSTER=<its address list> KAFKIT_TEST_CLUSTER_STATE=DIR"
        ),
    }
}

impl TestCluster {
    /// Takes the cluster for one test (waiting for any other test of this process to finish with
    /// it) and makes sure all three nodes run.
    pub fn lock() -> TestCluster {
        let guard = LOCK.lock().unwrap_or_else(|p| p.into_inner());
        let cluster = TestCluster {
            bootstrap: env("KAFKIT_TEST_CLUSTER"),
            state: PathBuf::from(env("KAFKIT_TEST_CLUSTER_STATE")),
            _guard: guard,
        };
        cluster.ensure_all_up();
        cluster
    }

    fn script(&self, args: &[&str]) -> std::process::Output {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/kafka-broker.sh");
        Command::new(script)
            .args(args)
            .env("KAFKIT_STATE", &self.state)
            .output()
            .unwrap_or_else(|e| panic!("run scripts/kafka-broker.sh {args:?}: {e}"))
    }

    fn must(&self, args: &[&str]) {
        let out = self.script(args);
        assert!(
            out.status.success(),
            "scripts/kafka-broker.sh {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Whether node `node` (1..=3) runs.
    pub fn is_up(&self, node: i32) -> bool {
        self.script(&["pid", &node.to_string()]).status.success()
    }

    /// SIGKILL of node `node`'s JVM: a crash, no controlled shutdown.
    pub fn kill(&self, node: i32) {
        self.must(&["kill", &node.to_string()]);
    }

    /// A clean stop of node `node` (SIGTERM: controlled shutdown moves its leaderships first).
    pub fn stop(&self, node: i32) {
        self.must(&["stop-node", &node.to_string()]);
    }

    /// Starts node `node` again and waits until it is back in the metadata.
    pub fn start(&self, node: i32) {
        self.must(&["start-node", &node.to_string()]);
    }

    /// Starts every node that is down.
    pub fn ensure_all_up(&self) {
        for node in 1..=3 {
            if !self.is_up(node) {
                self.start(node);
            }
        }
    }

    /// A pool on the cluster, for metadata and admin requests.
    pub fn pool(&self) -> BrokerPool {
        BrokerPool::new(self.bootstrap.split(','), NetConfig::default()).unwrap()
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        // Leave the cluster whole for the next test, even when this one failed.
        if !std::thread::panicking() {
            self.ensure_all_up();
        } else {
            for node in 1..=3 {
                if !self.is_up(node) {
                    let _ = self.script(&["start-node", &node.to_string()]);
                }
            }
        }
    }
}

/// The current leader of every partition of `topic` (fresh metadata, retried while any is missing).
pub async fn leaders(pool: &BrokerPool, topic: &str) -> BTreeMap<i32, i32> {
    for _ in 0..100 {
        if let Ok(md) = pool.metadata(Some(&[topic])).await
            && let Some(t) = md.topic(topic)
            && !t.partitions.is_empty()
            && t.partitions.iter().all(|p| p.leader.is_some())
        {
            return t
                .partitions
                .iter()
                .map(|p| (p.partition, p.leader.unwrap()))
                .collect();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{topic} has no leader for every partition after 10 s");
}

/// The replicas of every partition of `topic`, preferred (first) replica first.
pub async fn replicas(pool: &BrokerPool, topic: &str) -> BTreeMap<i32, Vec<i32>> {
    let md = pool.metadata(Some(&[topic])).await.unwrap();
    md.topic(topic)
        .unwrap()
        .partitions
        .iter()
        .map(|p| (p.partition, p.replicas.clone()))
        .collect()
}

/// Creates `topic` with `partitions` partitions and 3 replicas, and waits for every leader.
pub async fn create_topic(cluster: &TestCluster, topic: &str, partitions: i32) {
    admin::create_topic_with(&cluster.bootstrap, topic, partitions, 3).await;
    leaders(&cluster.pool(), topic).await;
}

/// A connection to any broker the pool can reach. Right after a node is killed the pool may try
/// that node first (refused, counted as a failure, so the next try goes elsewhere): asked again,
/// for up to 10 s, as a client would.
pub async fn reachable(pool: &BrokerPool) -> Arc<kafkit::net::Connection> {
    let mut failures = Vec::new();
    for _ in 0..100 {
        match pool.any_connection().await {
            Ok(conn) => return conn,
            Err(e) => failures.push(e.to_string()),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no broker reachable within 10 s: {failures:?}");
}

/// Raises `topic` to `total` partitions (CreatePartitions).
pub async fn add_partitions(pool: &BrokerPool, topic: &str, total: i32) {
    let conn = reachable(pool).await;
    let v = admin::version(&conn, ApiKey::CreatePartitions, 3);
    let request = CreatePartitionsRequest::default()
        .with_timeout_ms(10_000)
        .with_topics(vec![
            CreatePartitionsTopic::default()
                .with_name(TopicName(StrBytes::from_string(topic.to_owned())))
                .with_count(total)
                .with_assignments(None),
        ]);
    let body = conn
        .send_raw(ApiKey::CreatePartitions, &request, v)
        .await
        .unwrap();
    let response = CreatePartitionsResponse::decode(&mut body.clone(), v).unwrap();
    for r in &response.results {
        assert_eq!(r.error_code, 0, "CreatePartitions {topic}: {:?}", r.error_message);
    }
}

/// Preferred-leader election for `partitions` of `topic` (ElectLeaders, type PREFERRED); retried
/// while the preferred replica is not yet back in sync (ELIGIBLE_LEADERS_NOT_AVAILABLE, 83).
pub async fn elect_preferred(pool: &BrokerPool, topic: &str, partitions: &[i32]) {
    for _ in 0..100 {
        let conn = reachable(pool).await;
        let v = admin::version(&conn, ApiKey::ElectLeaders, 2);
        let request = ElectLeadersRequest::default()
            .with_election_type(0)
            .with_timeout_ms(10_000)
            .with_topic_partitions(Some(vec![
                TopicPartitions::default()
                    .with_topic(TopicName(StrBytes::from_string(topic.to_owned())))
                    .with_partitions(partitions.to_vec()),
            ]));
        let body = conn.send_raw(ApiKey::ElectLeaders, &request, v).await.unwrap();
        let response = ElectLeadersResponse::decode(&mut body.clone(), v).unwrap();
        assert_eq!(response.error_code, 0, "ElectLeaders");
        // 0: elected; 84 ELECTION_NOT_NEEDED: already the preferred leader.
        let pending: Vec<(i32, i16)> = response
            .replica_election_results
            .iter()
            .flat_map(|r| r.partition_result.iter())
            .filter(|p| !matches!(p.error_code, 0 | 84))
            .map(|p| (p.partition_id, p.error_code))
            .collect();
        if pending.is_empty() {
            return;
        }
        assert!(
            pending.iter().all(|(_, code)| *code == 83),
            "ElectLeaders {topic}: {pending:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("preferred leaders of {topic} {partitions:?} were not elected within 20 s");
}

/// The node id of `group`'s coordinator.
///
/// Asked of any broker the pool can reach: right after a node is killed, the pool may first try
/// that node (refused), so a failed connection or request is asked again, as a client would.
pub async fn coordinator(pool: &BrokerPool, group: &str) -> i32 {
    let mut failures = Vec::new();
    for _ in 0..100 {
        let asked = async {
            let conn = pool.any_connection().await?;
            let v = admin::version(&conn, ApiKey::FindCoordinator, 3);
            let request = FindCoordinatorRequest::default()
                .with_key(StrBytes::from_string(group.to_owned()))
                .with_key_type(0);
            Ok::<_, kafkit::Error>((conn.send_raw(ApiKey::FindCoordinator, &request, v).await?, v))
        };
        let (body, v) = match asked.await {
            Ok(answer) => answer,
            Err(e) => {
                failures.push(e.to_string());
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let response = FindCoordinatorResponse::decode(&mut body.clone(), v).unwrap();
        if response.error_code == 0 {
            return response.node_id.0;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no coordinator for {group} within 10 s (failures: {failures:?})");
}

/// The high watermark of every partition of `topic`.
pub async fn high_watermarks(pool: &BrokerPool, topic: &str) -> BTreeMap<i32, i64> {
    let mut out = BTreeMap::new();
    for (partition, leader) in leaders(pool, topic).await {
        let conn = pool.connection(leader).await.unwrap();
        let v = admin::version(&conn, ApiKey::ListOffsets, 7);
        let request = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(vec![
                ListOffsetsTopic::default()
                    .with_name(TopicName(StrBytes::from_string(topic.to_owned())))
                    .with_partitions(vec![
                        ListOffsetsPartition::default()
                            .with_partition_index(partition)
                            .with_timestamp(-1),
                    ]),
            ]);
        let body = conn.send_raw(ApiKey::ListOffsets, &request, v).await.unwrap();
        let response = ListOffsetsResponse::decode(&mut body.clone(), v).unwrap();
        let p = &response.topics[0].partitions[0];
        assert_eq!(p.error_code, 0, "ListOffsets {topic}/{partition}");
        out.insert(partition, p.offset);
    }
    out
}

/// Every offset in `topic`'s log, read back from the start (no group, read_uncommitted), as what
/// the history checker must see delivered. Records written by a produce whose answer was lost
/// are in the log too, so they must be delivered as well.
pub async fn log_contents(bootstrap: &str, topic: &str) -> Expected {
    let pool = BrokerPool::new(bootstrap.split(','), NetConfig::default()).unwrap();
    let hw = high_watermarks(&pool, topic).await;
    let consumer = Consumer::builder()
        .bootstrap(bootstrap)
        .subscribe([topic])
        .offset_reset(OffsetReset::Earliest)
        .isolation_level(IsolationLevel::ReadUncommitted)
        .build()
        .unwrap();
    let mut records = consumer.records().unwrap();
    let mut expected = Expected::default();
    let mut next: BTreeMap<i32, i64> = hw.keys().map(|p| (*p, 0)).collect();
    crate::harness::within(Duration::from_secs(60), "reading the log back", async {
        while next.iter().any(|(p, n)| *n < hw[p]) {
            let r = records.next().await.unwrap().unwrap();
            expected.add(r.partition(), r.offset(), r.offset() + 1);
            next.insert(r.partition(), r.offset() + 1);
        }
    })
    .await;
    drop(records);
    consumer.close().await.unwrap();
    expected
}

/// A producer writing `per_round` records to every partition of `topic` every `every`, through
/// leader moves and broker deaths (it refreshes metadata and reconnects on any error, then sends
/// the batch again). It learns new partitions from metadata as it goes.
pub struct Producer {
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Expected>>,
    task: tokio::task::JoinHandle<()>,
}

impl Producer {
    pub fn start(bootstrap: &str, topic: &str, per_round: usize, every: Duration) -> Producer {
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(Mutex::new(Expected::default()));
        let pool = BrokerPool::new(
            bootstrap.split(','),
            NetConfig::default()
                .connect_timeout(Duration::from_secs(2))
                .request_timeout(Duration::from_secs(15)),
        )
        .unwrap();
        let task = tokio::spawn({
            let (stop, acked, topic) = (stop.clone(), acked.clone(), topic.to_owned());
            async move {
                let mut round = 0usize;
                while !stop.load(Ordering::Acquire) {
                    let Ok(md) = pool.metadata(Some(&[topic.as_str()])).await else {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    };
                    let Some(t) = md.topic(&topic) else { continue };
                    let partitions: Vec<(i32, Option<i32>)> =
                        t.partitions.iter().map(|p| (p.partition, p.leader)).collect();
                    for (partition, leader) in partitions {
                        let records: Vec<TestRecord> = (0..per_round)
                            .map(|i| TestRecord {
                                key: None,
                                value: Some(Bytes::from(format!("r{round}-p{partition}-{i}"))),
                                headers: vec![],
                            })
                            .collect();
                        // Until acknowledged (or stopped); a failed send may still have landed.
                        let mut leader = leader;
                        while !stop.load(Ordering::Acquire) {
                            let sent = match leader {
                                Some(node) => match pool.connection(node).await {
                                    Ok(conn) => admin::try_produce(&conn, &topic, partition, &records).await,
                                    Err(e) => Err(e.to_string()),
                                },
                                None => Err("no leader".to_owned()),
                            };
                            match sent {
                                Ok(base) => {
                                    acked
                                        .lock()
                                        .unwrap()
                                        .add(partition, base, base + per_round as i64);
                                    break;
                                }
                                Err(_) => {
                                    tokio::time::sleep(Duration::from_millis(100)).await;
                                    leader =
                                        pool.metadata(Some(&[topic.as_str()])).await.ok().and_then(|md| {
                                            md.partition(&topic, partition).and_then(|p| p.leader)
                                        });
                                }
                            }
                        }
                    }
                    round += 1;
                    tokio::time::sleep(every).await;
                }
            }
        });
        Producer { stop, acked, task }
    }

    /// Records acknowledged so far.
    pub fn acknowledged(&self) -> usize {
        self.acked
            .lock()
            .unwrap()
            .produced
            .values()
            .map(|s| s.len())
            .sum()
    }

    /// Stops after the batch in flight; returns every acknowledged offset.
    pub async fn stop(self) -> Expected {
        self.stop.store(true, Ordering::Release);
        self.task.await.unwrap();
        self.acked.lock().unwrap().clone()
    }
}

/// Every acknowledged record must be in the log (acks=all on 3 replicas survives one node's loss);
/// returns the log's contents as the history checker's expectation.
pub async fn expected_after(bootstrap: &str, topic: &str, acked: &Expected) -> Expected {
    let log = log_contents(bootstrap, topic).await;
    for (p, offsets) in &acked.produced {
        let in_log = log.produced.get(p).cloned().unwrap_or_default();
        let lost: Vec<&i64> = offsets.difference(&in_log).take(10).collect();
        assert!(
            lost.is_empty(),
            "acknowledged records missing from {topic}/{p}'s log: {lost:?}"
        );
    }
    log
}
