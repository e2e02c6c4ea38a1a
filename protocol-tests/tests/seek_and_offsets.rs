//! Seek, watermarks, offsets for times, committed offsets and positions against the real broker
//! (issue 14).

use std::time::Duration;

use bytes::Bytes;
use kafkit::net::{BrokerPool, NetConfig};
use kafkit::{Consumer, ErrorKind, Offset, OffsetReset, PartitionStream, TopicPartition};
use kafkit_protocol_tests::harness::{self, within};
use kafkit_protocol_tests::{admin, real};

const WAIT: Duration = Duration::from_secs(30);

/// Produces `batches` batches of `per_batch` records to partition 0 of `topic`, a few
/// milliseconds apart so each batch has a later timestamp than the one before.
async fn produce_batches(addr: &str, topic: &str, batches: usize, per_batch: usize) {
    let pool = BrokerPool::new([addr], NetConfig::default()).unwrap();
    let md = pool.metadata(Some(&[topic])).await.unwrap();
    let leader = md.partition(topic, 0).and_then(|p| p.leader).expect("leader");
    let conn = pool.connection(leader).await.unwrap();
    for b in 0..batches {
        let values: Vec<Bytes> = (0..per_batch)
            .map(|i| harness::value(0, b * per_batch + i, 20))
            .collect();
        admin::produce(&conn, topic, 0, &values).await;
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}

async fn next_offset(stream: &mut PartitionStream) -> (i64, i64) {
    let r = within(WAIT, "a record", stream.next())
        .await
        .expect("stream open")
        .expect("record");
    (r.offset(), r.timestamp())
}

async fn first_stream(consumer: &Consumer) -> PartitionStream {
    let mut partitions = consumer.partitions().unwrap();
    within(WAIT, "a partition stream", partitions.next())
        .await
        .expect("a stream")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seek_moves_the_next_record_from_the_first_fetch_on() {
    let addr = real::broker_addr();
    let topic = real::unique_name("kafkit-seek");
    harness::topic_with_partitions(&addr, &topic, 1).await;
    produce_batches(&addr, &topic, 3, 10).await;

    let consumer = Consumer::builder()
        .bootstrap(&addr)
        .subscribe([topic.as_str()])
        .offset_reset(OffsetReset::Earliest)
        .build()
        .unwrap();
    let mut p = first_stream(&consumer).await;
    // Sought before the first fetch: record 0 is never yielded.
    p.seek(Offset::At(17)).await.unwrap();
    assert_eq!(next_offset(&mut p).await.0, 17);
    assert_eq!(p.position(), Some(18));
    // Records 18.. are buffered now; a seek back drops them and starts at 2.
    p.seek(Offset::At(2)).await.unwrap();
    assert_eq!(p.position(), None, "unknown until the next record");
    let (two, _) = next_offset(&mut p).await;
    assert_eq!(two, 2);
    let mut ts = Vec::new();
    for expect in 3..30 {
        let (o, t) = next_offset(&mut p).await;
        assert_eq!(o, expect);
        ts.push((o, t));
    }
    // By time: the first record of the second batch (its timestamp is later than the first's).
    let (o10, t10) = ts.iter().copied().find(|(o, _)| *o == 10).unwrap();
    assert!(
        ts.iter().any(|(o, t)| *o < 10 && *t < t10),
        "batches have distinct timestamps"
    );
    p.seek(Offset::Timestamp(t10)).await.unwrap();
    assert_eq!(next_offset(&mut p).await.0, o10);
    // While paused: nothing yielded; after resume, the sought record.
    p.pause();
    p.seek(Offset::Beginning).await.unwrap();
    assert!(p.is_paused(), "a seek keeps the pause");
    assert!(
        tokio::time::timeout(Duration::from_millis(500), p.next())
            .await
            .is_err(),
        "paused: nothing yielded"
    );
    p.resume();
    assert_eq!(next_offset(&mut p).await.0, 0);
    // To the end: only what is produced afterwards.
    p.seek(Offset::End).await.unwrap();
    // A timestamp after every record is the end too.
    p.seek(Offset::Timestamp(t10 + 3_600_000)).await.unwrap();
    // The lookups finish before the next record is produced (else it would be past the end).
    within(WAIT, "the end looked up", async {
        while consumer
            .position(&TopicPartition::new(topic.as_str(), 0))
            .await
            .unwrap()
            != Some(30)
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    produce_batches(&addr, &topic, 1, 1).await;
    assert_eq!(next_offset(&mut p).await.0, 30);

    // Bad input: a clear error, the stream unharmed.
    let e = p.seek(Offset::At(-1)).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config, "{e}");
    let e = p.seek(Offset::Timestamp(-5)).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config, "{e}");
    let stranger = TopicPartition::new(topic.as_str(), 7);
    let e = consumer.seek(&stranger, Offset::At(0)).await.unwrap_err();
    assert!(e.to_string().contains("not assigned"), "{e}");
    // Beyond the end: the reset policy (earliest) applies, as in Kafka.
    p.seek(Offset::At(10_000)).await.unwrap();
    assert_eq!(next_offset(&mut p).await.0, 0);
    consumer.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watermarks_offsets_for_times_and_their_errors() {
    let addr = real::broker_addr();
    let topic = real::unique_name("kafkit-marks");
    harness::topic_with_partitions(&addr, &topic, 2).await;
    produce_batches(&addr, &topic, 2, 5).await;
    let other = real::unique_name("kafkit-marks-other");
    harness::topic_with_partitions(&addr, &other, 1).await;

    // Subscribed to another topic: questions may name any topic.
    let consumer = Consumer::builder()
        .bootstrap(&addr)
        .subscribe([other.as_str()])
        .build()
        .unwrap();
    let tp0 = TopicPartition::new(topic.as_str(), 0);
    let tp1 = TopicPartition::new(topic.as_str(), 1);
    let w = within(WAIT, "watermarks", consumer.watermarks(&tp0))
        .await
        .unwrap();
    assert_eq!((w.low, w.high, w.last_stable), (0, 10, 10));
    let w = within(WAIT, "watermarks", consumer.watermarks(&tp1))
        .await
        .unwrap();
    assert_eq!((w.low, w.high), (0, 0));

    // The time of record 5 (second batch) finds record 5; a later time finds nothing.
    let mut reader = Consumer::builder()
        .bootstrap(&addr)
        .subscribe([topic.as_str()])
        .offset_reset(OffsetReset::Earliest)
        .build()
        .unwrap();
    let mut records = reader.records().unwrap();
    let mut t5 = 0;
    for _ in 0..10 {
        let r = within(WAIT, "a record", records.next()).await.unwrap().unwrap();
        if r.offset() == 5 {
            t5 = r.timestamp();
        }
    }
    reader.close().await.unwrap();
    reader = Consumer::builder()
        .bootstrap(&addr)
        .subscribe([other.as_str()])
        .build()
        .unwrap();
    let found = within(
        WAIT,
        "offsets for times",
        reader.offsets_for_times(&[(tp0.clone(), t5), (tp0.clone(), 0), (tp1.clone(), 0)]),
    )
    .await;
    // The same partition twice in one question: each is answered.
    let found = found.unwrap();
    assert_eq!(found.len(), 3);
    assert_eq!(found[0].1.map(|a| a.offset), Some(5));
    assert!(found[0].1.unwrap().timestamp >= t5);
    assert_eq!(found[1].1.map(|a| a.offset), Some(0));
    assert_eq!(
        found[2].1, None,
        "an empty partition has no record at or after any time"
    );
    let later = within(
        WAIT,
        "offsets for times",
        reader.offsets_for_times(&[(tp0.clone(), t5 + 3_600_000)]),
    )
    .await
    .unwrap();
    assert_eq!(later[0].1, None);

    // Errors that say what is wrong.
    let missing = TopicPartition::new(real::unique_name("kafkit-no-such-topic").as_str(), 0);
    let e = within(
        WAIT,
        "watermarks of a missing topic",
        consumer.watermarks(&missing),
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("does not exist"), "{e}");
    let e = within(
        WAIT,
        "watermarks of a missing partition",
        consumer.watermarks(&TopicPartition::new(topic.as_str(), 9)),
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("2 partitions"), "{e}");
    let e = reader.offsets_for_times(&[(tp0.clone(), -3)]).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config, "{e}");
    let e = consumer.committed(std::slice::from_ref(&tp0)).await.unwrap_err();
    assert!(e.to_string().contains("no group.id"), "{e}");
    let e = consumer.position(&tp0).await.unwrap_err();
    assert!(e.to_string().contains("not assigned"), "{e}");
    reader.close().await.unwrap();
    consumer.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_position_and_auto_commit_after_a_backward_seek() {
    let addr = real::broker_addr();
    let topic = real::unique_name("kafkit-seekcommit");
    let group = real::unique_name("kafkit-seekcommit-g");
    harness::topic_with_partitions(&addr, &topic, 1).await;
    produce_batches(&addr, &topic, 1, 30).await;
    let tp = TopicPartition::new(topic.as_str(), 0);

    let consumer = Consumer::builder()
        .bootstrap(&addr)
        .group_id(&group)
        .subscribe([topic.as_str()])
        .offset_reset(OffsetReset::Earliest)
        .auto_commit_interval(Duration::from_millis(200))
        .build()
        .unwrap();
    let mut p = first_stream(&consumer).await;
    assert_eq!(
        within(WAIT, "committed", consumer.committed(std::slice::from_ref(&tp)))
            .await
            .unwrap(),
        vec![(tp.clone(), None)],
        "a new group has nothing committed"
    );
    let mut last = None;
    for expect in 0..20 {
        let r = within(WAIT, "a record", p.next()).await.unwrap().unwrap();
        assert_eq!(r.offset(), expect);
        last = Some(r);
    }
    p.commit(last.as_ref().unwrap()).await.unwrap();
    assert_eq!(
        consumer.committed(std::slice::from_ref(&tp)).await.unwrap(),
        vec![(tp.clone(), Some(20))]
    );
    assert_eq!(consumer.position(&tp).await.unwrap(), Some(20));

    // Back to 5: as in Kafka's consumer, auto-commit then commits what is processed from there,
    // below the 20 committed before.
    p.seek(Offset::At(5)).await.unwrap();
    for expect in 5..8 {
        assert_eq!(next_offset(&mut p).await.0, expect);
    }
    // Pulling record 7 marks 0..=6 processed: auto-commit commits 7.
    within(WAIT, "auto-commit of 7", async {
        loop {
            if consumer.committed(std::slice::from_ref(&tp)).await.unwrap() == vec![(tp.clone(), Some(7))] {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    // The revoke on close waits for the application to let go of the stream.
    drop(p);
    consumer.close().await.unwrap();
    // Close counted record 7 as processed (as Kafka's close() does).
    let again = Consumer::builder()
        .bootstrap(&addr)
        .group_id(&group)
        .subscribe([topic.as_str()])
        .build()
        .unwrap();
    assert_eq!(
        within(WAIT, "committed", again.committed(std::slice::from_ref(&tp)))
            .await
            .unwrap(),
        vec![(tp.clone(), Some(8))]
    );
    // Its partition streams were never taken: they hold up neither the revoke nor the close.
    let started = std::time::Instant::now();
    again.close().await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "closed in {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_assignment_reads_only_the_chosen_partitions_and_changes_at_runtime() {
    let addr = real::broker_addr();
    let topic = real::unique_name("kafkit-assign");
    harness::topic_with_partitions(&addr, &topic, 3).await;
    harness::produce(&addr, &topic, 3, 0, 20, 10).await;
    let tp = |p| TopicPartition::new(topic.as_str(), p);

    let e = Consumer::builder()
        .bootstrap(&addr)
        .subscribe([topic.as_str()])
        .assign([tp(0)])
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("exclude each other"), "{e}");

    let consumer = Consumer::builder()
        .bootstrap(&addr)
        .assign([tp(1)])
        .offset_reset(OffsetReset::Earliest)
        .build()
        .unwrap();
    let mut partitions = consumer.partitions().unwrap();
    let mut one = within(WAIT, "the assigned stream", partitions.next())
        .await
        .unwrap();
    assert_eq!(one.partition(), 1);
    for expect in 0..20 {
        let r = within(WAIT, "a record", one.next()).await.unwrap().unwrap();
        assert_eq!((r.partition(), r.offset()), (1, expect));
        assert_eq!(r.value().unwrap(), &harness::value(1, expect as usize, 10));
    }
    // Nothing else was assigned.
    assert!(
        tokio::time::timeout(Duration::from_millis(500), partitions.next())
            .await
            .is_err()
    );
    // At runtime: one more, and one fewer.
    consumer.assign(&[tp(2), tp(1)]).await.unwrap();
    let mut two = within(WAIT, "the added stream", partitions.next()).await.unwrap();
    assert_eq!(two.partition(), 2, "tp 1 was assigned already: no second stream");
    assert_eq!(
        within(WAIT, "a record", two.next())
            .await
            .unwrap()
            .unwrap()
            .offset(),
        0
    );
    consumer.unassign(&[tp(1)]).await.unwrap();
    assert!(
        within(WAIT, "the end of the removed stream", one.next())
            .await
            .is_none()
    );
    let e = consumer
        .commit(&within(WAIT, "a record", two.next()).await.unwrap().unwrap())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("no group.id"), "{e}");
    drop(two);
    consumer.close().await.unwrap();

    // A subscribed consumer cannot assign.
    let subscribed = Consumer::builder()
        .bootstrap(&addr)
        .subscribe([topic.as_str()])
        .build()
        .unwrap();
    let e = subscribed.assign(&[tp(0)]).await.unwrap_err();
    assert!(e.to_string().contains("subscribed"), "{e}");
    subscribed.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_assignment_with_a_group_commits_and_resumes_without_joining() {
    let addr = real::broker_addr();
    let topic = real::unique_name("kafkit-assign-g");
    let group = real::unique_name("kafkit-assign-group");
    harness::topic_with_partitions(&addr, &topic, 2).await;
    harness::produce(&addr, &topic, 2, 0, 10, 10).await;
    let tp0 = TopicPartition::new(topic.as_str(), 0);

    let manual = || {
        Consumer::builder()
            .bootstrap(&addr)
            .group_id(&group)
            .assign([tp0.clone()])
            .offset_reset(OffsetReset::Earliest)
            .auto_commit(false)
            .build()
            .unwrap()
    };
    let consumer = manual();
    let mut events = consumer.events();
    let mut p = first_stream(&consumer).await;
    let mut last = None;
    for expect in 0..4 {
        let r = within(WAIT, "a record", p.next()).await.unwrap().unwrap();
        assert_eq!(r.offset(), expect);
        last = Some(r);
    }
    within(WAIT, "commit", p.commit(last.as_ref().unwrap()))
        .await
        .unwrap();
    drop(p);
    consumer.close().await.unwrap();
    // No membership: never joined.
    while let Ok(Some(event)) = tokio::time::timeout(Duration::from_millis(50), events.next()).await {
        assert!(
            !matches!(event, kafkit::Event::Joined { .. }),
            "joined a group: {event:?}"
        );
    }

    // The next manual consumer of the group resumes at the commit.
    let again = manual();
    assert_eq!(
        within(WAIT, "committed", again.committed(std::slice::from_ref(&tp0)))
            .await
            .unwrap(),
        vec![(tp0.clone(), Some(4))]
    );
    let mut p = first_stream(&again).await;
    assert_eq!(next_offset(&mut p).await.0, 4);
    drop(p);
    again.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_report_positions_fresh_lag_of_paused_partitions_rebalances_commits_and_brokers() {
    let addr = real::broker_addr();
    let topic = real::unique_name("kafkit-metrics");
    let group = real::unique_name("kafkit-metrics-g");
    harness::topic_with_partitions(&addr, &topic, 1).await;
    produce_batches(&addr, &topic, 1, 20).await;
    let consumer = Consumer::builder()
        .bootstrap(&addr)
        .group_id(&group)
        .subscribe([topic.as_str()])
        .offset_reset(OffsetReset::Earliest)
        .build()
        .unwrap();
    let mut p = first_stream(&consumer).await;
    let mut last = None;
    for _ in 0..5 {
        last = Some(within(WAIT, "a record", p.next()).await.unwrap().unwrap());
    }
    p.commit(last.as_ref().unwrap()).await.unwrap();
    // Paused: not fetched, yet its lag follows what is produced.
    p.pause();
    // Any fetch in flight at the pause is answered within fetch.wait.max (500 ms); none follows.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let fetches = consumer.metrics().await.unwrap().fetch_requests_total;
    produce_batches(&addr, &topic, 1, 10).await;
    let m = within(WAIT, "a lag of 25 while paused", async {
        loop {
            let m = consumer.metrics().await.unwrap();
            if m.partitions.first().and_then(|p| p.lag) == Some(25) {
                return m;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert_eq!(consumer.health().lag, Some(25), "health agrees");
    let part = &m.partitions[0];
    assert_eq!(
        (part.position, part.high_watermark, part.paused),
        (Some(5), Some(30), true)
    );
    assert_eq!(part.records_total, 5);
    assert!(part.fetched_bytes_total > 0 && m.fetched_bytes_total >= part.fetched_bytes_total);
    assert_eq!(m.records_total, 5);
    assert!(m.fetch_requests_total > 0);
    assert_eq!(
        m.fetch_requests_total, fetches,
        "no fetch while paused: the lag came from a lookup"
    );
    assert_eq!(m.status, kafkit::Status::Consuming);
    assert_eq!(m.rebalances_total, 1, "the first join");
    assert!(m.last_rebalance.is_some());
    assert!(m.commits_total >= 1 && m.last_commit_latency.is_some(), "{m:?}");
    assert!(
        m.brokers
            .iter()
            .any(|b| b.state == kafkit::ConnectionState::Connected && b.node_id.is_some()),
        "{:?}",
        m.brokers
    );
    let text = m.prometheus_text();
    assert!(
        text.contains(&format!(
            "kafkit_partition_lag{{topic=\"{topic}\",partition=\"0\"}} 25"
        )),
        "{text}"
    );
    drop(p);
    consumer.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pattern_picks_up_new_topics_and_ends_deleted_ones() {
    let addr = real::broker_addr();
    let prefix = real::unique_name("kafkit-pat");
    let (a, b) = (format!("{prefix}-a"), format!("{prefix}-b"));
    harness::topic_with_partitions(&addr, &a, 1).await;
    harness::topic_with_partitions(&addr, &format!("{prefix}x-other"), 1).await;
    harness::produce(&addr, &a, 1, 0, 3, 10).await;

    let e = Consumer::builder()
        .bootstrap(&addr)
        .subscribe_pattern("kafkit-(")
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("not a valid regular expression"), "{e}");

    let consumer = Consumer::builder()
        .bootstrap(&addr)
        .subscribe_pattern(format!("{}-.*", regex_escape(&prefix)))
        .offset_reset(OffsetReset::Earliest)
        .metadata_max_age(Duration::from_millis(300))
        .build()
        .unwrap();
    let mut partitions = consumer.partitions().unwrap();
    let mut sa = within(WAIT, "topic a's stream", partitions.next()).await.unwrap();
    assert_eq!(
        sa.topic(),
        a,
        "the other topic does not match (the pattern is anchored)"
    );
    assert_eq!(next_offset(&mut sa).await.0, 0);
    // A new matching topic is consumed without a restart.
    harness::topic_with_partitions(&addr, &b, 2).await;
    harness::produce(&addr, &b, 2, 0, 2, 10).await;
    let mut sb = within(WAIT, "topic b's first stream", partitions.next())
        .await
        .unwrap();
    let mut sb2 = within(WAIT, "topic b's second stream", partitions.next())
        .await
        .unwrap();
    assert_eq!((sb.topic(), sb2.topic()), (b.as_str(), b.as_str()));
    assert_eq!(next_offset(&mut sb).await.0, 0);
    assert_eq!(next_offset(&mut sb2).await.0, 0);
    // A matching topic that gains a partition: it is consumed too.
    let pool = BrokerPool::new([addr.as_str()], NetConfig::default()).unwrap();
    kafkit_protocol_tests::cluster::add_partitions(&pool, &b, 3).await;
    let mut sb3 = within(WAIT, "topic b's new partition", partitions.next())
        .await
        .unwrap();
    assert_eq!((sb3.topic(), sb3.partition()), (b.as_str(), 2));
    harness::produce(&addr, &b, 3, 2, 1, 10).await;
    assert_eq!(next_offset(&mut sb3).await.0, 0);
    // A deleted one ends its stream.
    admin::delete_topic(&addr, &a).await;
    within(WAIT, "topic a's stream ends", async {
        while let Some(r) = sa.next().await {
            r.unwrap();
        }
    })
    .await;
    consumer.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pattern_in_a_group_rejoins_for_a_new_topic() {
    let addr = real::broker_addr();
    let prefix = real::unique_name("kafkit-patg");
    let group = real::unique_name("kafkit-patg-group");
    let (a, b) = (format!("{prefix}-a"), format!("{prefix}-b"));
    harness::topic_with_partitions(&addr, &a, 1).await;
    harness::produce(&addr, &a, 1, 0, 2, 10).await;
    let consumer = Consumer::builder()
        .bootstrap(&addr)
        .group_id(&group)
        .subscribe_pattern(format!("{}-.*", regex_escape(&prefix)))
        .offset_reset(OffsetReset::Earliest)
        .metadata_max_age(Duration::from_millis(300))
        .build()
        .unwrap();
    let mut partitions = consumer.partitions().unwrap();
    let mut sa = within(WAIT, "topic a's stream", partitions.next()).await.unwrap();
    assert_eq!(next_offset(&mut sa).await.0, 0);
    harness::topic_with_partitions(&addr, &b, 1).await;
    harness::produce(&addr, &b, 1, 0, 2, 10).await;
    // The rejoin (eager by default) revokes a (its stream ends; the rebalance waits for the
    // application to let go of it), then assigns a and b.
    within(WAIT, "topic a revoked for the rejoin", async {
        while let Some(r) = sa.next().await {
            r.unwrap();
        }
    })
    .await;
    drop(sa);
    let mut seen_b = false;
    within(WAIT, "topic b assigned after the rejoin", async {
        while let Some(mut s) = partitions.next().await {
            if s.topic() == b {
                assert_eq!(next_offset(&mut s).await.0, 0);
                seen_b = true;
                return;
            }
            drop(s);
        }
    })
    .await;
    assert!(seen_b);
    drop(partitions);
    consumer.close().await.unwrap();
}

/// Escapes regex metacharacters in `s` (unique names hold only `-`, digits and letters, but a
/// test should not depend on that).
fn regex_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let meta = "\\.+*?()|[]{}^$#&-~".contains(c);
            meta.then_some('\\').into_iter().chain(std::iter::once(c))
        })
        .collect()
}
