//! Racks on the 3-node Apache Kafka cluster, whose node `n` sits in rack `rack-n` with Kafka's
//! `RackAwareReplicaSelector`:
//! - fetching from the closest replica (KIP-392): a consumer with `client.rack` set to a
//!   follower's rack reads the partition from that follower (the leader names it in its first
//!   answer), in order and completely; without `client.rack` the leader serves;
//! - rack-aware assignment (KIP-881): a group of members, one per rack, on a topic whose
//!   partitions each have their only replica in one rack, gets each member the partitions of its
//!   own rack with `range` and with `cooperative-sticky`, and reads everything.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kafkit::{Assignor, Consumer, OffsetReset, TopicPartition};
use kafkit_protocol_tests::cluster::{self, TestCluster};
use kafkit_protocol_tests::harness::{self, within};
use kafkit_protocol_tests::real;

const RECORDS: usize = 300;

/// Reads all `RECORDS` of partition 0 with `rack`, and returns the fetches each node served.
async fn read_all(bootstrap: &str, topic: &str, rack: Option<&str>) -> Vec<(i32, u64)> {
    let mut builder = Consumer::builder()
        .bootstrap(bootstrap)
        .assign([TopicPartition::new(topic, 0)])
        .offset_reset(OffsetReset::Earliest);
    if let Some(rack) = rack {
        builder = builder.client_rack(rack);
    }
    let consumer = builder.build().unwrap();
    let mut partitions = consumer.partitions().unwrap();
    let mut p = within(Duration::from_secs(30), "the stream", partitions.next())
        .await
        .unwrap();
    for expect in 0..RECORDS {
        let r = within(Duration::from_secs(30), "a record", p.next())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(r.offset(), expect as i64, "in order, nothing skipped or repeated");
        assert_eq!(r.value().unwrap(), &harness::value(0, expect, 50));
    }
    // A few more long polls, so the steady state shows in the counts.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let m = consumer.metrics().await.unwrap();
    drop(p);
    consumer.close().await.unwrap();
    m.brokers
        .iter()
        .filter_map(|b| Some((b.node_id?, b.fetch_requests_total)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_reads_from_the_follower_in_its_rack() {
    harness::init_tracing();
    let cluster = TestCluster::lock();
    cluster.ensure_all_up();
    let topic = real::unique_name("kafkit-follower");
    cluster::create_topic(&cluster, &topic, 1).await;
    let pool = cluster.pool();
    let leader = cluster::leaders(&pool, &topic).await[&0];
    let follower = cluster::replicas(&pool, &topic).await[&0]
        .iter()
        .copied()
        .find(|r| *r != leader)
        .expect("a follower");
    let first = cluster.bootstrap.split(',').next().unwrap().to_owned();
    harness::produce(&first, &topic, 1, 0, RECORDS, 50).await;

    let near = read_all(&cluster.bootstrap, &topic, Some(&format!("rack-{follower}"))).await;
    let served = |counts: &[(i32, u64)], node| counts.iter().find(|(n, _)| *n == node).map_or(0, |(_, c)| *c);
    assert!(
        served(&near, follower) > served(&near, leader),
        "the follower in our rack (node {follower}) served most fetches, not the leader (node {leader}): {near:?}"
    );
    assert!(
        served(&near, leader) >= 1,
        "the leader's first answer named the replica: {near:?}"
    );

    let default = read_all(&cluster.bootstrap, &topic, None).await;
    eprintln!(
        "fetches per node (leader {leader}, follower {follower}): client.rack=rack-{follower} {near:?}; no client.rack {default:?}"
    );
    assert_eq!(
        served(&default, follower),
        0,
        "without client.rack, only the leader: {default:?}"
    );
    assert!(served(&default, leader) > 0);
}

/// One member per rack, each with `client.rack`: every member gets the partitions whose replica is
/// in its rack (as many as balance allows), and the group reads every record.
async fn rack_aware_assignment(assignor: Assignor) {
    harness::init_tracing();
    let cluster = TestCluster::lock();
    cluster.ensure_all_up();
    let topic = real::unique_name("kafkit-rack-assign");
    const PARTITIONS: i32 = 6;
    const PER_PARTITION: usize = 20;
    kafkit_protocol_tests::admin::create_topic_with(&cluster.bootstrap, &topic, PARTITIONS, 1).await;
    let pool = cluster.pool();
    cluster::leaders(&pool, &topic).await;
    let home: BTreeMap<i32, i32> = cluster::replicas(&pool, &topic)
        .await
        .into_iter()
        .map(|(p, r)| (p, r[0]))
        .collect();
    let first = cluster.bootstrap.split(',').next().unwrap().to_owned();
    harness::produce(&first, &topic, PARTITIONS, 0, PER_PARTITION, 20).await;

    let group = real::unique_name("kafkit-rack-group");
    let owned: Vec<Arc<Mutex<BTreeSet<i32>>>> = (0..3).map(|_| Arc::default()).collect();
    let read: Arc<Mutex<BTreeMap<i32, BTreeSet<i64>>>> = Arc::default();
    let mut consumers = Vec::new();
    for node in 1..=3 {
        let consumer = Consumer::builder()
            .bootstrap(&cluster.bootstrap)
            .group_id(&group)
            .subscribe([topic.clone()])
            .assignors([assignor])
            .client_rack(format!("rack-{node}"))
            .offset_reset(OffsetReset::Earliest)
            .session_timeout(Duration::from_secs(10))
            .heartbeat_interval(Duration::from_millis(500))
            .build()
            .unwrap();
        let mut partitions = consumer.partitions().unwrap();
        let (owned, read) = (owned[node as usize - 1].clone(), read.clone());
        tokio::spawn(async move {
            while let Some(mut p) = partitions.next().await {
                let (owned, read) = (owned.clone(), read.clone());
                tokio::spawn(async move {
                    let partition = p.partition();
                    owned.lock().unwrap().insert(partition);
                    while let Some(Ok(r)) = p.next().await {
                        read.lock()
                            .unwrap()
                            .entry(partition)
                            .or_default()
                            .insert(r.offset());
                    }
                    owned.lock().unwrap().remove(&partition);
                });
            }
        });
        consumers.push(consumer);
    }

    // Settled: every partition owned by exactly one member, two each, everything read.
    let snapshot = || -> Vec<BTreeSet<i32>> { owned.iter().map(|o| o.lock().unwrap().clone()).collect() };
    within(
        Duration::from_secs(60),
        "a settled, balanced assignment with every record read",
        async {
            loop {
                let now = snapshot();
                let all: BTreeSet<i32> = now.iter().flatten().copied().collect();
                let complete = read.lock().unwrap().values().map(BTreeSet::len).sum::<usize>()
                    == PARTITIONS as usize * PER_PARTITION;
                if now.iter().all(|o| o.len() == 2) && all.len() == PARTITIONS as usize && complete {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        },
    )
    .await;
    let assignment = snapshot();
    // With one member per rack and a quota of two, only a rack holding more than two partitions
    // must give some to another rack.
    let mut per_rack: BTreeMap<i32, usize> = BTreeMap::new();
    for node in home.values() {
        *per_rack.entry(*node).or_default() += 1;
    }
    let unavoidable: usize = per_rack.values().map(|&n| n.saturating_sub(2)).sum();
    let outside: Vec<(i32, i32)> = assignment
        .iter()
        .enumerate()
        .flat_map(|(i, ps)| ps.iter().map(move |p| (i as i32 + 1, *p)))
        .filter(|(node, p)| home[p] != *node)
        .collect();
    eprintln!(
        "{}: partition -> rack {home:?}; member in rack-1..3 owns {assignment:?}; outside their rack: {outside:?}",
        assignor.name()
    );
    assert_eq!(
        outside.len(),
        unavoidable,
        "partitions given outside their member's rack: {outside:?} (homes {home:?})"
    );
    for c in consumers {
        c.close().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn range_gives_each_member_the_partitions_of_its_rack() {
    rack_aware_assignment(Assignor::Range).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cooperative_sticky_gives_each_member_the_partitions_of_its_rack() {
    rack_aware_assignment(Assignor::CooperativeSticky).await;
}
