//! kafkit and the Java `KafkaConsumer` (kafka-clients 4.1) in one group on Apache Kafka, with a
//! librdkafka member too: on the classic protocol eager (`range`) and cooperative
//! (`cooperative-sticky`), on the consumer protocol (KIP-848, the broker's `uniform` assignor), and
//! a group that mixes classic and consumer-protocol members (Kafka's online migration).
//! Kafka's `VerifiableProducer` writes throughout, and its acknowledged offsets are what must be
//! consumed. Members join, leave cleanly and are killed; every member is its own process, commits
//! manually and logs what it owned, consumed and had acknowledged, and the history checker reads
//! every log: nothing lost, order within each ownership, commits never ahead, redeliveries only
//! from the uncommitted window, never two owners at once.

// This test drives member processes from a plain thread; sleeping it blocks no runtime.
#![allow(clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use kafkit_protocol_tests::history::{Entry, Expected, History, Kind};
use kafkit_protocol_tests::process::{Client, GroupSpec, VerifiableProducer};
use kafkit_protocol_tests::{harness, real};

const PARTITIONS: i32 = 6;

/// Waits (90 s at most) until every record of `expected` was consumed by some member; on timeout
/// fails naming `members`' stderr.
fn all_consumed(spec: &GroupSpec, facts: &History, expected: &Expected, members: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while !spec.history(facts).all_delivered(expected) {
        assert!(
            Instant::now() < deadline,
            "not every acknowledged record was consumed within 90 s; members' stderr: {:?}",
            members.iter().map(|m| (m, spec.stderr(m))).collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Whether `name` was assigned a partition at some point.
fn owned(entries: &[Entry], name: &str) -> bool {
    entries
        .iter()
        .any(|e| e.member == name && matches!(&e.kind, Kind::Assigned(ps) if !ps.is_empty()))
}

/// Waits (60 s at most) until each of `members` owns a partition, so the next membership change
/// happens to a group they are part of. Fixed sleeps were not enough: with the four tests' JVMs
/// starting at once on two cores, a Java member could spend its whole 6 s window starting up and
/// in the two rounds of a cooperative rebalance, and be killed before it owned anything.
fn wait_owned(spec: &GroupSpec, facts: &History, members: &[&str]) {
    let start = Instant::now();
    let deadline = start + Duration::from_secs(60);
    loop {
        let entries = spec.history(facts).entries();
        let Some(waiting) = members.iter().find(|m| !owned(&entries, m)) else {
            eprintln!(
                "{} {members:?} owned partitions {:.1} s after joining",
                spec.group,
                start.elapsed().as_secs_f64()
            );
            return;
        };
        assert!(
            Instant::now() < deadline,
            "{waiting} owned no partition within 60 s of joining; its stderr: {}",
            spec.stderr(waiting)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Every one of `members` owned a partition at some point.
fn every_member_owned(spec: &GroupSpec, entries: &[Entry], members: &[&str]) {
    for name in members {
        assert!(
            owned(entries, name),
            "{name} never owned a partition; its stderr: {}",
            spec.stderr(name)
        );
    }
}

fn run(strategy: &str, protocol: &'static str) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let addr = real::broker_addr();
    let spec = GroupSpec {
        bootstrap: addr.clone(),
        group: real::unique_name("g-java"),
        topic: real::unique_name("kafkit-java"),
        strategy: strategy.to_owned(),
        commit: "manual",
        dir: std::env::temp_dir().join(real::unique_name("kafkit-java-group")),
    };
    std::fs::create_dir_all(&spec.dir).unwrap();
    rt.block_on(harness::topic_with_partitions(&addr, &spec.topic, PARTITIONS));
    let kafkit = Client::Kafkit(env!("CARGO_BIN_EXE_kafkit-member").into(), protocol);
    let java = Client::Java(protocol);
    let facts = History::new();
    let settle = || std::thread::sleep(Duration::from_secs(2));

    // About 40 s of records at 150/s while the membership changes. Each change waits until the
    // members it concerns own partitions, then lets them consume a moment.
    let mut producer =
        VerifiableProducer::start(&addr, &spec.topic, 6000, 150, &spec.dir.join("producer.out"));
    let mut java_a = spec.spawn(&java, "java-a");
    wait_owned(&spec, &facts, &["java-a"]);
    settle();
    let mut kafkit_b = spec.spawn(&kafkit, "kafkit-b");
    wait_owned(&spec, &facts, &["kafkit-b"]);
    settle();
    let mut java_c = spec.spawn(&java, "java-c");
    let mut rdkafka_d = spec.spawn(&Client::Rdkafka(protocol), "rdkafka-d");
    wait_owned(&spec, &facts, &["java-c", "rdkafka-d"]);
    settle();
    // The first Java member leaves cleanly: it commits and its partitions move.
    java_a.terminate();
    java_a.wait_exit(Duration::from_secs(30));
    settle();
    // A kafkit member is killed: no leave, the session timeout (6 s; the consumer protocol's is
    // the broker's, 10 s here) evicts it.
    kafkit_b.kill(&facts);
    let mut kafkit_e = spec.spawn(&kafkit, "kafkit-e");
    wait_owned(&spec, &facts, &["kafkit-e"]);
    settle();
    // A Java member is killed too.
    java_c.kill(&facts);
    let mut java_f = spec.spawn(&java, "java-f");
    let expected = producer.wait(Duration::from_secs(90));
    let produced: usize = expected.produced.values().map(|s| s.len()).sum();
    assert_eq!(produced, 6000, "VerifiableProducer acknowledged every record");

    // Everything acknowledged is consumed by someone.
    all_consumed(&spec, &facts, &expected, &["kafkit-e", "java-f", "rdkafka-d"]);
    for m in [&kafkit_e, &java_f, &rdkafka_d] {
        m.terminate();
    }
    for m in [&mut kafkit_e, &mut java_f, &mut rdkafka_d] {
        m.wait_exit(Duration::from_secs(30));
    }

    let history = spec.history(&facts);
    let report = history.assert_ok(&expected);
    eprintln!("java_group {strategy} ({protocol}): {report:?}");
    // Every member took part, and both kinds of member had commits acknowledged.
    let entries = history.entries();
    every_member_owned(
        &spec,
        &entries,
        &["java-a", "kafkit-b", "java-c", "rdkafka-d", "kafkit-e", "java-f"],
    );
    for name in ["java-a", "kafkit-e", "java-f"] {
        assert!(
            entries
                .iter()
                .any(|e| e.member == name && matches!(e.kind, Kind::Committed { .. })),
            "{name} never had a commit acknowledged"
        );
    }
    let _ = std::fs::remove_dir_all(&spec.dir);
}

#[test]
fn java_group_eager_range() {
    run("range", "classic");
}

#[test]
fn java_group_cooperative_sticky() {
    run("cooperative-sticky", "classic");
}

/// The same group on the consumer protocol: every member heartbeats with epochs and the broker
/// assigns (`uniform`).
#[test]
fn java_group_consumer_protocol() {
    run("uniform", "consumer");
}

/// Classic members (kafkit and Java, `cooperative-sticky`) and consumer-protocol members (kafkit,
/// Java, librdkafka) in one group: Kafka 4 runs a consumer group that classic members join
/// through JoinGroup/SyncGroup (`group.consumer.migration.policy`, bidirectional by default).
#[test]
fn mixed_classic_and_consumer_protocol_members() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let addr = real::broker_addr();
    let spec = GroupSpec {
        bootstrap: addr.clone(),
        group: real::unique_name("g-migrate"),
        topic: real::unique_name("kafkit-migrate"),
        strategy: "uniform".to_owned(),
        commit: "manual",
        dir: std::env::temp_dir().join(real::unique_name("kafkit-migrate-group")),
    };
    let classic = GroupSpec {
        strategy: "cooperative-sticky".to_owned(),
        ..spec.clone()
    };
    std::fs::create_dir_all(&spec.dir).unwrap();
    rt.block_on(harness::topic_with_partitions(&addr, &spec.topic, PARTITIONS));
    let bin = || env!("CARGO_BIN_EXE_kafkit-member").into();
    let facts = History::new();
    let settle = || std::thread::sleep(Duration::from_secs(2));

    let mut producer =
        VerifiableProducer::start(&addr, &spec.topic, 4500, 150, &spec.dir.join("producer.out"));
    // The group starts on the consumer protocol; classic members join it.
    let mut kafkit_a = spec.spawn(&Client::Kafkit(bin(), "consumer"), "kafkit-consumer-a");
    wait_owned(&spec, &facts, &["kafkit-consumer-a"]);
    settle();
    let mut kafkit_b = classic.spawn(&Client::Kafkit(bin(), "classic"), "kafkit-classic-b");
    let mut java_c = classic.spawn(&Client::Java("classic"), "java-classic-c");
    wait_owned(&spec, &facts, &["kafkit-classic-b", "java-classic-c"]);
    settle();
    let mut java_d = spec.spawn(&Client::Java("consumer"), "java-consumer-d");
    let mut rdkafka_e = spec.spawn(&Client::Rdkafka("consumer"), "rdkafka-consumer-e");
    wait_owned(&spec, &facts, &["java-consumer-d", "rdkafka-consumer-e"]);
    settle();
    // A classic member leaves cleanly, a consumer-protocol member is killed.
    kafkit_b.terminate();
    kafkit_b.wait_exit(Duration::from_secs(30));
    kafkit_a.kill(&facts);
    let expected = producer.wait(Duration::from_secs(90));

    let members = [
        "kafkit-consumer-a",
        "kafkit-classic-b",
        "java-classic-c",
        "java-consumer-d",
        "rdkafka-consumer-e",
    ];
    all_consumed(&spec, &facts, &expected, &members);
    for m in [&java_c, &java_d, &rdkafka_e] {
        m.terminate();
    }
    for m in [&mut java_c, &mut java_d, &mut rdkafka_e] {
        m.wait_exit(Duration::from_secs(30));
    }
    let history = spec.history(&facts);
    let report = history.assert_ok(&expected);
    eprintln!("mixed classic and consumer protocol: {report:?}");
    let entries = history.entries();
    every_member_owned(&spec, &entries, &members);
    let _ = std::fs::remove_dir_all(&spec.dir);
}
