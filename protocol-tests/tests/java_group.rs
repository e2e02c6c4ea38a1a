//! kafkit and the Java `KafkaConsumer` (kafka-clients 4.1, classic protocol) in one group on Apache
//! Kafka, eager (`range`) and cooperative (`cooperative-sticky`), with a librdkafka member too.
//! Kafka's `VerifiableProducer` writes throughout, and its acknowledged offsets are what must be
//! consumed. Members join, leave cleanly and are killed; every member is its own process, commits
//! manually and logs what it owned, consumed and had acknowledged, and the history checker reads
//! every log: nothing lost, order within each ownership, commits never ahead, redeliveries only
//! from the uncommitted window, never two owners at once.

// This test drives member processes from a plain thread; sleeping it blocks no runtime.
#![allow(clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use kafkit_protocol_tests::history::{History, Kind};
use kafkit_protocol_tests::process::{Client, GroupSpec, VerifiableProducer};
use kafkit_protocol_tests::{harness, real};

const PARTITIONS: i32 = 6;

fn run(strategy: &str) {
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
    let kafkit = Client::Kafkit(env!("CARGO_BIN_EXE_kafkit-member").into());
    let java = Client::Java("classic");
    let facts = History::new();
    let settle = || std::thread::sleep(Duration::from_secs(6));

    // About 40 s of records at 150/s while the membership changes.
    let mut producer =
        VerifiableProducer::start(&addr, &spec.topic, 6000, 150, &spec.dir.join("producer.out"));
    let mut java_a = spec.spawn(&java, "java-a");
    settle();
    let mut kafkit_b = spec.spawn(&kafkit, "kafkit-b");
    settle();
    let mut java_c = spec.spawn(&java, "java-c");
    let mut rdkafka_d = spec.spawn(&Client::Rdkafka, "rdkafka-d");
    settle();
    // The first Java member leaves cleanly: it commits and its partitions move.
    java_a.terminate();
    java_a.wait_exit(Duration::from_secs(30));
    settle();
    // A kafkit member is killed: no leave, the session timeout (6 s) evicts it.
    kafkit_b.kill(&facts);
    let mut kafkit_e = spec.spawn(&kafkit, "kafkit-e");
    settle();
    // A Java member is killed too.
    java_c.kill(&facts);
    let mut java_f = spec.spawn(&java, "java-f");
    let expected = producer.wait(Duration::from_secs(90));
    let produced: usize = expected.produced.values().map(|s| s.len()).sum();
    assert_eq!(produced, 6000, "VerifiableProducer acknowledged every record");

    // Everything acknowledged is consumed by someone.
    let deadline = Instant::now() + Duration::from_secs(90);
    while !spec.history(&facts).all_delivered(&expected) {
        assert!(
            Instant::now() < deadline,
            "not every acknowledged record was consumed within 90 s; members' stderr: kafkit-e {:?} java-f {:?} rdkafka-d {:?}",
            spec.stderr("kafkit-e"),
            spec.stderr("java-f"),
            spec.stderr("rdkafka-d")
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    for m in [&kafkit_e, &java_f, &rdkafka_d] {
        m.terminate();
    }
    for m in [&mut kafkit_e, &mut java_f, &mut rdkafka_d] {
        m.wait_exit(Duration::from_secs(30));
    }

    let history = spec.history(&facts);
    let report = history.assert_ok(&expected);
    eprintln!("java_group {strategy}: {report:?}");
    // Every member took part, and both kinds of member had commits acknowledged.
    let entries = history.entries();
    for name in ["java-a", "kafkit-b", "java-c", "rdkafka-d", "kafkit-e", "java-f"] {
        assert!(
            entries
                .iter()
                .any(|e| e.member == name && matches!(&e.kind, Kind::Assigned(ps) if !ps.is_empty())),
            "{name} never owned a partition; its stderr: {}",
            spec.stderr(name)
        );
    }
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
    run("range");
}

#[test]
fn java_group_cooperative_sticky() {
    run("cooperative-sticky");
}
