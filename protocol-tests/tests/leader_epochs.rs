//! Leader epochs (KIP-320) on the 3-node Apache Kafka cluster.
//!
//! An unclean leader election (the topic allows it) makes a replica that missed records the
//! leader: its log ends below what consumers already read, and the offsets are written again
//! with other records. A consumer must notice (the new leader's answer to OffsetForLeaderEpoch,
//! or a diverging epoch in its fetch answer) and let the reset policy decide: `earliest` goes on
//! from the first offset known to diverge and reads the new records there, never skipping them
//! as "already read"; `none` stops the partition with an error that says what happened.

use std::time::Duration;

use kafkit::{Consumer, Event, Offset, OffsetReset, TopicPartition};
use kafkit_protocol_tests::cluster::{self, TestCluster};
use kafkit_protocol_tests::harness::{self, within};
use kafkit_protocol_tests::{admin, real};

const SIZE: usize = 50;

async fn next_record(p: &mut kafkit::PartitionStream, what: &str) -> kafkit::Record {
    within(Duration::from_secs(60), what, p.next())
        .await
        .unwrap_or_else(|| panic!("{what}: the stream ended"))
        .unwrap_or_else(|e| panic!("{what}: {e}"))
}

async fn wait_for_leader(cluster: &TestCluster, topic: &str, leader: i32) {
    let pool = cluster.pool();
    within(Duration::from_secs(60), "the new leader in the metadata", async {
        while cluster::leaders(&pool, topic).await.get(&0) != Some(&leader) {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unclean_election_below_what_was_read_is_handled_by_the_reset_policy() {
    harness::init_tracing();
    let cluster = TestCluster::lock();
    let topic = real::unique_name("kafkit-unclean");
    let tp = TopicPartition::new(topic.as_str(), 0);
    admin::create_topic_on(
        &cluster.bootstrap,
        &topic,
        &[1, 2],
        &[
            ("unclean.leader.election.enable", "true"),
            ("min.insync.replicas", "1"),
        ],
    )
    .await;
    wait_for_leader(&cluster, &topic, 1).await;
    // Node 3 holds no replica and stays up: produce through it.
    let node3 = cluster
        .bootstrap
        .split(',')
        .nth(2)
        .expect("three nodes")
        .to_owned();
    harness::produce(&node3, &topic, 1, 0, 10, SIZE).await;

    let earliest = Consumer::builder()
        .bootstrap(&cluster.bootstrap)
        .assign([tp.clone()])
        .offset_reset(OffsetReset::Earliest)
        .build()
        .unwrap();
    let mut events = earliest.events();
    let strict = Consumer::builder()
        .bootstrap(&cluster.bootstrap)
        .assign([tp.clone()])
        .start_at(Offset::Beginning)
        .offset_reset(OffsetReset::None)
        .build()
        .unwrap();
    let mut a = within(
        Duration::from_secs(30),
        "a stream",
        earliest.partitions().unwrap().next(),
    )
    .await
    .unwrap();
    let mut b = within(
        Duration::from_secs(30),
        "a stream",
        strict.partitions().unwrap().next(),
    )
    .await
    .unwrap();

    // The follower (node 2) stops; ten more records reach only the leader (node 1).
    cluster.stop(2);
    harness::produce(&node3, &topic, 1, 10, 10, SIZE).await;
    for expect in 0..20 {
        for (p, name) in [(&mut a, "earliest"), (&mut b, "none")] {
            let r = next_record(p, name).await;
            assert_eq!(r.offset(), expect as i64, "{name}");
            assert_eq!(r.value().unwrap(), &harness::value(0, expect, SIZE));
        }
    }

    // The leader stops; node 2 comes back and is elected uncleanly: its log ends at 10.
    cluster.stop(1);
    cluster.start(2);
    wait_for_leader(&cluster, &topic, 2).await;
    assert_eq!(cluster::high_watermarks(&cluster.pool(), &topic).await[&0], 10);
    // Offsets 10.. are written again, with other records (indexes 100..).
    harness::produce(&node3, &topic, 1, 100, 5, SIZE).await;

    for k in 0..5 {
        let r = next_record(&mut a, "earliest, after the election").await;
        assert_eq!(
            (r.offset(), r.value().unwrap()),
            (10 + k as i64, &harness::value(0, 100 + k, SIZE)[..]),
            "the new records from the divergence point on, none skipped as already read"
        );
    }
    let warned = within(Duration::from_secs(10), "a warning event", async {
        loop {
            match events.next().await {
                Some(Event::Warning(e)) if e.to_string().contains("truncated at offset 10") => return e,
                Some(_) => {}
                None => panic!("events ended"),
            }
        }
    })
    .await;
    assert!(warned.to_string().contains("below offset 20"), "{warned}");

    let failed = within(Duration::from_secs(60), "the strict stream's error", b.next())
        .await
        .expect("an item, not the end");
    let error = failed.expect_err("reset policy none: an error, not a record");
    let text = error.to_string();
    assert!(
        text.contains("truncated at offset 10") && text.contains("auto.offset.reset is none"),
        "{text}"
    );

    drop((a, b));
    earliest.close().await.unwrap();
    strict.close().await.unwrap();
    cluster.start(1);
    admin::delete_topic(&node3, &topic).await;
}
