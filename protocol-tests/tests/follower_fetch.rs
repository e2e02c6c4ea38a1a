//! Fetching from the closest replica (KIP-392) on the 3-node Apache Kafka cluster, whose nodes sit
//! in racks `rack-1`..`rack-3` with Kafka's `RackAwareReplicaSelector`: a consumer with
//! `client.rack` set to a follower's rack reads the partition from that follower (the leader names
//! it in its first answer), in order and completely; without `client.rack` the leader serves.

use std::time::Duration;

use kafkit::{Consumer, OffsetReset, TopicPartition};
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
