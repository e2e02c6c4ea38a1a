//! The consumer against the real broker, without a group: every partition from the reset position.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use kafkit::{Consumer, OffsetReset};
use kafkit_protocol_tests::harness::{self, within};
use kafkit_protocol_tests::real;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_group_reads_every_partition_from_earliest() {
    let addr = real::broker_addr();
    let topic = real::unique_name("kafkit-nogroup");
    harness::topic_with_partitions(&addr, &topic, 4).await;
    harness::produce(&addr, &topic, 4, 0, 2500, 100).await;

    let consumer = Consumer::builder()
        .bootstrap(&addr)
        .subscribe([topic.as_str()])
        .offset_reset(OffsetReset::Earliest)
        .build()
        .unwrap();
    let mut records = consumer.records().unwrap();
    let mut seen = BTreeSet::new();
    let first = within(Duration::from_secs(30), "a record", records.next())
        .await
        .unwrap()
        .unwrap();
    seen.insert((first.partition(), first.offset()));
    // Records are waiting: health reports a lag.
    within(Duration::from_secs(10), "a positive lag", async {
        while consumer.health().lag.is_none_or(|l| l == 0) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    within(Duration::from_secs(60), "10,000 records", async {
        while seen.len() < 10_000 {
            let r = records.next().await.expect("stream open").expect("record");
            let (p, o) = (r.partition(), r.offset());
            assert_eq!(r.topic(), topic);
            assert_eq!(r.value().unwrap(), &harness::value(p, o as usize, 100), "{p}/{o}");
            assert_eq!(r.key().unwrap(), format!("k{}", o % 2000).as_bytes());
            assert!(seen.insert((p, o)), "duplicate {p}/{o}");
        }
    })
    .await;
    assert_eq!(seen.len(), 10_000);
    // Everything pulled: health reports no lag (the engine refreshes it within a moment).
    within(Duration::from_secs(10), "lag 0", async {
        while consumer.health().lag != Some(0) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    for p in 0..4 {
        let offsets: Vec<i64> = seen.iter().filter(|(q, _)| *q == p).map(|(_, o)| *o).collect();
        assert_eq!(offsets, (0..2500).collect::<Vec<_>>(), "partition {p} in full");
    }
    let started = Instant::now();
    consumer.close().await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn partition_streams_exist_before_records_and_keep_order() {
    let addr = real::broker_addr();
    let topic = real::unique_name("kafkit-streams");
    harness::topic_with_partitions(&addr, &topic, 3).await;

    let consumer = Consumer::builder()
        .bootstrap(&addr)
        .subscribe([topic.as_str()])
        .offset_reset(OffsetReset::Earliest)
        .build()
        .unwrap();
    let mut partitions = consumer.partitions().unwrap();
    assert!(consumer.partitions().is_err(), "taken once");
    let mut streams = Vec::new();
    within(Duration::from_secs(30), "three partition streams", async {
        while streams.len() < 3 {
            streams.push(partitions.next().await.unwrap());
        }
    })
    .await;
    streams.sort_by_key(|s| s.partition());
    assert_eq!(
        streams.iter().map(|s| s.partition()).collect::<Vec<_>>(),
        vec![0, 1, 2]
    );

    // Produced only after the streams exist: nothing can have raced past them.
    harness::produce(&addr, &topic, 3, 0, 300, 10).await;
    for stream in &mut streams {
        let p = stream.partition();
        within(Duration::from_secs(30), "300 records of one partition", async {
            for expected in 0..300 {
                let r = stream.next().await.unwrap().unwrap();
                assert_eq!((r.partition(), r.offset()), (p, expected));
            }
        })
        .await;
    }
    consumer.close().await.unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn build_returns_at_once_when_no_broker_is_reachable() {
    let started = Instant::now();
    let consumer = Consumer::builder()
        .bootstrap("127.0.0.1:1")
        .group_id("g")
        .subscribe(["t"])
        .build()
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(100),
        "{:?}",
        started.elapsed()
    );
    let health = within(Duration::from_secs(10), "health reports the outage", async {
        let mut watch = consumer.health_watch();
        loop {
            let h = watch.borrow_and_update().clone();
            if h.last_error.is_some() {
                return h;
            }
            watch.changed().await.unwrap();
        }
    })
    .await;
    assert!(!health.is_healthy(), "{health:?}");
    drop(consumer);
}

#[test]
fn invalid_configuration_fails_build_with_what_to_do() {
    let err = Consumer::builder().subscribe(["t"]).build().unwrap_err();
    assert!(err.to_string().contains("bootstrap"), "{err}");
    let err = Consumer::builder().bootstrap("a:1").build().unwrap_err();
    assert!(err.to_string().contains("subscribe"), "{err}");
    let err = Consumer::builder()
        .bootstrap("a:1")
        .subscribe(["t"])
        .property("enable.auto.comit", "false")
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("enable.auto.commit"), "{err}");
}

#[tokio::test]
async fn without_a_group_a_start_offset_is_honoured() {
    let addr = real::broker_addr();
    let topic = real::unique_name("kafkit-start");
    harness::topic_with_partitions(&addr, &topic, 2).await;
    harness::produce(&addr, &topic, 2, 0, 50, 10).await;
    let consumer = Consumer::builder()
        .bootstrap(&addr)
        .subscribe([topic.as_str()])
        .offset_reset(OffsetReset::Earliest)
        .start_offset(40)
        .build()
        .unwrap();
    let mut records = consumer.records().unwrap();
    let mut seen = BTreeSet::new();
    within(Duration::from_secs(30), "records from offset 40", async {
        while seen.len() < 20 {
            let r = records.next().await.unwrap().unwrap();
            assert!(r.offset() >= 40, "{}/{}", r.partition(), r.offset());
            seen.insert((r.partition(), r.offset()));
        }
    })
    .await;
    drop(records);
    consumer.close().await.unwrap();
}
