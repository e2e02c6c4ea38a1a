//! Consumer groups against the real broker: exactly-once delivery in the happy path, resuming from
//! commits, the reset policy, isolated heartbeats and max-poll liveness.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use kafkit::{Consumer, Event, OffsetReset, Status};
use kafkit_protocol_tests::harness::{self, within};
use kafkit_protocol_tests::real;

fn group_consumer(addr: &str, group: &str, topic: &str, reset: OffsetReset) -> kafkit::ConsumerBuilder {
    Consumer::builder()
        .bootstrap(addr)
        .group_id(group)
        .subscribe([topic])
        .offset_reset(reset)
        // Tansu-family brokers hold a new group's join for about half the session timeout.
        .session_timeout(Duration::from_secs(6))
        .heartbeat_interval(Duration::from_secs(1))
        .auto_commit_interval(Duration::from_millis(500))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_member_consumes_100k_exactly_once_then_a_new_member_gets_only_the_next_10k() {
    let addr = real::broker_addr();
    let topic = real::unique_name("kafkit-group-100k");
    let group = real::unique_name("kafkit-g");
    harness::topic_with_partitions(&addr, &topic, 8).await;
    harness::produce(&addr, &topic, 8, 0, 12_500, 100).await;

    let consumer = group_consumer(&addr, &group, &topic, OffsetReset::Earliest)
        .build()
        .unwrap();
    let mut records = consumer.records().unwrap();
    let mut seen: BTreeSet<(i32, i64)> = BTreeSet::new();
    within(Duration::from_secs(120), "100,000 records", async {
        while seen.len() < 100_000 {
            let r = records.next().await.expect("open").expect("record");
            assert_eq!(
                r.value().unwrap(),
                &harness::value(r.partition(), r.offset() as usize, 100)
            );
            assert!(
                seen.insert((r.partition(), r.offset())),
                "duplicate {}/{}",
                r.partition(),
                r.offset()
            );
        }
    })
    .await;
    // Nothing more arrives.
    assert!(
        tokio::time::timeout(Duration::from_millis(500), records.next())
            .await
            .is_err()
    );
    drop(records);
    within(Duration::from_secs(30), "close", consumer.close())
        .await
        .unwrap();

    harness::produce(&addr, &topic, 8, 12_500, 1_250, 100).await;
    let consumer = group_consumer(&addr, &group, &topic, OffsetReset::Earliest)
        .build()
        .unwrap();
    let mut records = consumer.records().unwrap();
    let mut fresh = BTreeSet::new();
    within(Duration::from_secs(60), "the next 10,000 records", async {
        while fresh.len() < 10_000 {
            let r = records.next().await.expect("open").expect("record");
            assert!(
                r.offset() >= 12_500,
                "{}/{} was committed by the first member",
                r.partition(),
                r.offset()
            );
            assert!(fresh.insert((r.partition(), r.offset())), "duplicate");
        }
    })
    .await;
    assert!(
        tokio::time::timeout(Duration::from_millis(500), records.next())
            .await
            .is_err(),
        "exactly 10,000"
    );
    drop(records);
    within(Duration::from_secs(30), "close", consumer.close())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_policy_earliest_latest_and_none_for_a_new_group() {
    let addr = real::broker_addr();
    let topic = real::unique_name("kafkit-reset");
    harness::topic_with_partitions(&addr, &topic, 2).await;
    harness::produce(&addr, &topic, 2, 0, 100, 10).await;

    // earliest: everything.
    let c = group_consumer(
        &addr,
        &real::unique_name("g-earliest"),
        &topic,
        OffsetReset::Earliest,
    )
    .build()
    .unwrap();
    let mut records = c.records().unwrap();
    let mut offsets: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
    within(Duration::from_secs(60), "200 records from earliest", async {
        for _ in 0..200 {
            let r = records.next().await.unwrap().unwrap();
            offsets.entry(r.partition()).or_default().push(r.offset());
        }
    })
    .await;
    assert_eq!(offsets[&0], (0..100).collect::<Vec<_>>());
    assert_eq!(offsets[&1], (0..100).collect::<Vec<_>>());
    drop(records);
    c.close().await.unwrap();

    // latest: only what is produced after the partitions are positioned.
    let c = group_consumer(&addr, &real::unique_name("g-latest"), &topic, OffsetReset::Latest)
        .build()
        .unwrap();
    let mut events = c.events();
    let mut records = c.records().unwrap();
    within(Duration::from_secs(60), "assignment", async {
        while !matches!(events.next().await, Some(Event::Assigned(_))) {}
    })
    .await;
    // Positions are looked up right after assignment; give the lookup time to land.
    tokio::time::sleep(Duration::from_secs(2)).await;
    harness::produce(&addr, &topic, 2, 100, 5, 10).await;
    let mut got = BTreeSet::new();
    within(Duration::from_secs(30), "the 10 new records", async {
        while got.len() < 10 {
            let r = records.next().await.unwrap().unwrap();
            assert!(
                r.offset() >= 100,
                "latest must not deliver old record {}/{}",
                r.partition(),
                r.offset()
            );
            got.insert((r.partition(), r.offset()));
        }
    })
    .await;
    drop(records);
    c.close().await.unwrap();

    // none: a typed error on each partition's stream, and nothing delivered.
    let c = group_consumer(&addr, &real::unique_name("g-none"), &topic, OffsetReset::None)
        .build()
        .unwrap();
    let mut partitions = c.partitions().unwrap();
    for _ in 0..2 {
        let mut p = within(Duration::from_secs(60), "a partition", partitions.next())
            .await
            .unwrap();
        let err = within(Duration::from_secs(30), "the reset error", p.next())
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(err.kind(), kafkit::ErrorKind::Config, "{err}");
        assert!(err.to_string().contains("auto.offset.reset is none"), "{err}");
    }
    c.close().await.unwrap();
}

/// The application's runtime is a current-thread runtime whose only thread blocks for three session
/// timeouts: the engine's own thread keeps the membership, so the other member sees no rebalance.
/// Then the application stops pulling with records waiting: after max.poll.interval the member
/// leaves, the other member takes over its partitions, and the stalled member reports why.
#[test]
fn blocked_runtime_keeps_membership_and_a_stuck_application_is_detected() {
    let control = tokio::runtime::Runtime::new().unwrap();
    let addr = real::broker_addr();
    let topic = real::unique_name("kafkit-starve");
    let group = real::unique_name("g-starve");
    control.block_on(harness::topic_with_partitions(&addr, &topic, 4));
    control.block_on(harness::produce(&addr, &topic, 4, 0, 50, 10));

    let session = Duration::from_secs(6);
    let build = || {
        group_consumer(&addr, &group, &topic, OffsetReset::Earliest)
            .session_timeout(session)
            .max_poll_interval(Duration::from_secs(25))
            .build()
            .unwrap()
    };

    // Member B: on the control runtime, records every event.
    let b = control.block_on(async { build() });
    let mut b_events = b.events();
    let b_log = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Event>::new()));
    {
        let log = b_log.clone();
        control.spawn(async move {
            while let Some(e) = b_events.next().await {
                log.lock().unwrap().push(e);
            }
        });
    }
    let mut b_records = b.records().unwrap();
    let b_seen = std::sync::Arc::new(std::sync::Mutex::new(BTreeSet::<(i32, i64)>::new()));
    {
        let seen = b_seen.clone();
        control.spawn(async move {
            while let Some(Ok(r)) = b_records.next().await {
                seen.lock().unwrap().insert((r.partition(), r.offset()));
            }
        });
    }

    // B owns everything before A joins, so A's join is one ordinary rebalance whatever the
    // broker's initial rebalance delay (if A could join first, B's join would revoke A's
    // partitions while A's application never pulls, and that revoke waits out max.poll.interval).
    control.block_on(within(Duration::from_secs(60), "B owns every partition", async {
        while b.health().assigned_partitions < 4 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }));

    // Member A: its application runtime is a current-thread runtime.
    let app = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let a = app.block_on(async { build() });
    let mut a_events = a.events();
    let _a_records = a.records().unwrap(); // kept (unpulled) so A fetches and records wait
    // Wait until both members own partitions (A is assigned some; B gave some up). Not "A reads a
    // record": B may have committed all 200 records before A joined.
    app.block_on(within(
        Duration::from_secs(60),
        "A is assigned partitions",
        async {
            loop {
                match a_events.next().await {
                    Some(Event::Assigned(tps)) if !tps.is_empty() => return,
                    Some(_) => continue,
                    None => panic!("A's events ended"),
                }
            }
        },
    ));
    control.block_on(within(Duration::from_secs(60), "B owns partitions", async {
        loop {
            let owned = b.health().assigned_partitions;
            if (1..4).contains(&owned) && a_events_len(&b_log) > 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }));
    let b_assigned = b.health().assigned_partitions;
    let events_before = b_log.lock().unwrap().len();

    // Block A's only runtime thread for three session timeouts (shorter than max.poll.interval).
    app.block_on(async {
        #[allow(clippy::disallowed_methods)]
        std::thread::sleep(session * 3);
    });

    // B saw no rebalance: no revoke, no loss, no new assignment.
    let after: Vec<Event> = b_log.lock().unwrap()[events_before..].to_vec();
    assert!(
        !after
            .iter()
            .any(|e| matches!(e, Event::Revoked(_) | Event::Lost(..) | Event::Assigned(_))),
        "B saw a rebalance while A's runtime was blocked: {after:?}"
    );
    assert_eq!(b.health().assigned_partitions, b_assigned);

    // Now A's application keeps not pulling while records wait: after max.poll.interval it leaves.
    control.block_on(harness::produce(&addr, &topic, 4, 50, 50, 10));
    let reported = app.block_on(within(
        Duration::from_secs(60),
        "A reports max poll exceeded",
        async {
            loop {
                match a_events.next().await {
                    Some(Event::MaxPollExceeded { partition }) => return partition,
                    Some(_) => continue,
                    None => panic!("A's events ended"),
                }
            }
        },
    ));
    assert_eq!(&*reported.topic, topic.as_str());
    assert_eq!(a.health().status, Status::Stalled);
    // B takes over all four partitions and reads every record.
    control.block_on(within(Duration::from_secs(60), "B takes over", async {
        loop {
            if b.health().assigned_partitions == 4
                && b_seen.lock().unwrap().iter().filter(|(_, o)| *o >= 50).count() == 200
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }));
    app.block_on(async { a.close().await }).ok();
    control.block_on(async { b.close().await }).unwrap();
}

fn a_events_len(log: &std::sync::Mutex<Vec<Event>>) -> usize {
    log.lock()
        .unwrap()
        .iter()
        .filter(|e| matches!(e, Event::Assigned(_)))
        .count()
}
