//! Consumer groups over Apache Kafka's secure listeners, end to end: every listener and mechanism,
//! re-authentication while consuming (nothing lost, no rebalance), a group shared with a librdkafka
//! member over SASL_SSL, and authentication failures that stop the consumer instead of retrying.

use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kafkit::{Consumer, ErrorKind, Event, OffsetReset, Status};
use kafkit_protocol_tests::harness::{self, within};
use kafkit_protocol_tests::real::unique_name;
use kafkit_protocol_tests::secure::{self, pki, properties};

const PARTITIONS: i32 = 3;
const PER_PARTITION: usize = 200;

fn consumer(listener: &str, mechanism: Option<&str>, group: &str, topic: &str) -> Consumer {
    Consumer::builder()
        .properties(properties(listener, mechanism))
        .group_id(group)
        .subscribe([topic])
        .offset_reset(OffsetReset::Earliest)
        .session_timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_else(|e| panic!("build for {listener}: {e}"))
}

/// A topic on the secure broker (created and filled over its PLAINTEXT listener).
async fn topic(prefix: &str) -> String {
    let addr = secure::plaintext_addr();
    let topic = unique_name(prefix);
    harness::topic_with_partitions(&addr, &topic, PARTITIONS).await;
    harness::produce(&addr, &topic, PARTITIONS, 0, PER_PARTITION, 50).await;
    topic
}

/// A group consumes every record of a fresh topic over `listener`, and commits.
async fn group_consumes(listener: &str, mechanism: Option<&str>) {
    let topic = topic(&format!("sec-{}", listener.to_lowercase())).await;
    let group = unique_name("sec-group");
    let c = consumer(listener, mechanism, &group, &topic);
    let mut records = c.records().unwrap();
    let mut seen = BTreeSet::new();
    let total = PARTITIONS as usize * PER_PARTITION;
    within(
        Duration::from_secs(60),
        &format!("{total} records over {listener} {mechanism:?}"),
        async {
            while seen.len() < total {
                let r = records.next().await.expect("stream open").expect("record");
                assert_eq!(
                    r.value().unwrap(),
                    &harness::value(r.partition(), r.offset() as usize, 50)
                );
                assert!(seen.insert((r.partition(), r.offset())), "duplicate");
            }
        },
    )
    .await;
    assert_eq!(c.health().status, Status::Consuming);
    drop(records);
    c.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_over_ssl_tls13() {
    group_consumes("SSL", None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_over_ssl_tls12_forced() {
    group_consumes("TLS12", None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_over_mutual_tls_with_an_encrypted_key() {
    group_consumes("MTLS", None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_over_sasl_plaintext_scram_sha_256() {
    group_consumes("SASL_PLAINTEXT", Some("SCRAM-SHA-256")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_over_sasl_ssl_plain() {
    group_consumes("SASL_SSL", Some("PLAIN")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_over_sasl_ssl_scram_sha_512() {
    group_consumes("SASL_SSL", Some("SCRAM-SHA-512")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_over_sasl_ssl_oauthbearer() {
    group_consumes("SASL_SSL", Some("OAUTHBEARER")).await;
}

/// The REAUTH listener limits sessions to 5 s: while a producer keeps writing for 16 s, the group
/// member's connections (bootstrap, leader, coordinator) re-authenticate several times. Nothing
/// is lost or repeated, the member stays in its first generation, and no connection fails (no
/// warning event at all).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reauthentication_while_consuming_loses_nothing_and_keeps_the_generation() {
    let addr = secure::plaintext_addr();
    let topic = unique_name("sec-reauth");
    harness::topic_with_partitions(&addr, &topic, PARTITIONS).await;
    let group = unique_name("sec-reauth-group");
    let c = consumer("REAUTH", Some("SCRAM-SHA-256"), &group, &topic);
    let mut events = c.events();
    let mut records = c.records().unwrap();

    let rounds = 40;
    let per_round = 25;
    let producer = tokio::spawn({
        let (addr, topic) = (addr.clone(), topic.clone());
        async move {
            for round in 0..rounds {
                harness::produce(&addr, &topic, PARTITIONS, round * per_round, per_round, 50).await;
                tokio::time::sleep(Duration::from_millis(400)).await;
            }
        }
    });
    let total = PARTITIONS as usize * rounds * per_round;
    let mut seen = BTreeSet::new();
    let started = Instant::now();
    within(
        Duration::from_secs(90),
        "every record while sessions expire",
        async {
            while seen.len() < total {
                let r = records.next().await.expect("stream open").expect("record");
                assert!(
                    seen.insert((r.partition(), r.offset())),
                    "duplicate {}/{}",
                    r.partition(),
                    r.offset()
                );
            }
        },
    )
    .await;
    producer.await.unwrap();
    assert!(
        started.elapsed() > Duration::from_secs(12),
        "the run must span several 5 s sessions"
    );

    let mut joins = Vec::new();
    let mut warnings = Vec::new();
    while let Ok(Some(event)) = tokio::time::timeout(Duration::from_millis(200), events.next()).await {
        match event {
            Event::Joined { generation_id, .. } => joins.push(generation_id),
            Event::Warning(e) => warnings.push(e.to_string()),
            Event::Revoked(_) | Event::Lost(..) | Event::Fatal(_) => panic!("unexpected {event:?}"),
            _ => {}
        }
    }
    assert_eq!(joins.len(), 1, "one generation, no rebalance: {joins:?}");
    assert!(warnings.is_empty(), "no connection failed: {warnings:?}");
    drop(records);
    c.close().await.unwrap();
}

/// A wrong password is fatal: a Fatal event, status Failed, the broker's error code, no secret in
/// any text, and no reconnect storm (nothing more happens afterwards).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_is_fatal_not_a_reconnect_storm() {
    let topic = topic("sec-badpw").await;
    let mut props = properties("SASL_SSL", Some("SCRAM-SHA-512"));
    for (k, v) in &mut props {
        if k == "sasl.password" {
            *v = "Wr0ng-Pa55word".into();
        }
    }
    let c = Consumer::builder()
        .properties(props)
        .group_id(unique_name("sec-badpw"))
        .subscribe([topic.as_str()])
        .build()
        .unwrap();
    let mut events = c.events();
    let fatal = within(Duration::from_secs(20), "a fatal event", async {
        loop {
            if let Some(Event::Fatal(e)) = events.next().await {
                return e;
            }
        }
    })
    .await;
    assert_eq!(fatal.kind(), ErrorKind::Authentication, "{fatal}");
    assert_eq!(fatal.kafka_code().map(|c| c.0), Some(58), "{fatal}");
    assert!(!format!("{fatal} {fatal:?}").contains("Wr0ng-Pa55word"));
    let health = c.health();
    assert_eq!(health.status, Status::Failed);
    assert_eq!(
        health.last_error.map(|e| e.kind()),
        Some(ErrorKind::Authentication)
    );
    // Stopped: nothing is retried (a retry would report a warning or another failure).
    let after = tokio::time::timeout(Duration::from_secs(3), events.next()).await;
    assert!(after.is_err(), "nothing after the fatal error, got {after:?}");
    let started = Instant::now();
    c.close().await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "close is prompt once failed"
    );
}

/// A rejected client certificate is fatal too; a TLS client on a PLAINTEXT listener is a clear,
/// retried warning (never a hang).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_and_protocol_mistakes_surface_clearly() {
    let topic = topic("sec-cert").await;
    let c = Consumer::builder()
        .properties(properties("SSL", None))
        .property("bootstrap.servers", secure::listener("MTLS"))
        .group_id(unique_name("sec-cert"))
        .subscribe([topic.as_str()])
        .build()
        .unwrap();
    let mut events = c.events();
    let fatal = within(Duration::from_secs(20), "a fatal event", async {
        loop {
            if let Some(Event::Fatal(e)) = events.next().await {
                return e;
            }
        }
    })
    .await;
    assert_eq!(fatal.kind(), ErrorKind::Authentication, "{fatal}");
    assert_eq!(c.health().status, Status::Failed);
    c.close().await.unwrap();

    let c = Consumer::builder()
        .properties(properties("SSL", None))
        .property("bootstrap.servers", secure::plaintext_addr())
        .group_id(unique_name("sec-mixup"))
        .subscribe([topic.as_str()])
        .build()
        .unwrap();
    let mut events = c.events();
    let warning = within(Duration::from_secs(20), "a warning", async {
        loop {
            if let Some(Event::Warning(e)) = events.next().await {
                return e;
            }
        }
    })
    .await;
    assert_eq!(warning.kind(), ErrorKind::Tls, "{warning}");
    assert!(
        warning
            .to_string()
            .contains("PLAINTEXT or SASL_PLAINTEXT listener"),
        "{warning}"
    );
    c.close().await.unwrap();
}

/// Bad security settings fail `build()`, naming the key.
#[test]
fn bad_security_settings_fail_build() {
    let build = |props: &[(&str, &str)]| {
        Consumer::builder()
            .bootstrap("127.0.0.1:9")
            .subscribe(["t"])
            .properties(props.iter().copied())
            .build()
            .map(|_| ())
            .unwrap_err()
    };
    let err = build(&[
        ("security.protocol", "SSL"),
        ("ssl.ca.location", "/nonexistent.pem"),
    ]);
    assert!(err.to_string().contains("ssl.ca.location"), "{err}");
    let key = pki("client-encrypted.key");
    let cert = pki("client.pem");
    let err = build(&[
        ("security.protocol", "SSL"),
        ("ssl.certificate.location", cert.to_str().unwrap()),
        ("ssl.key.location", key.to_str().unwrap()),
    ]);
    assert!(err.to_string().contains("ssl.key.password"), "{err}");
    let err = build(&[
        ("security.protocol", "SASL_SSL"),
        ("sasl.mechanism", "SCRAM-SHA-256"),
    ]);
    assert!(err.to_string().contains("sasl.username"), "{err}");
}

const RDKAFKA_MEMBER: &str = r#"
import json, os, sys, time
from confluent_kafka import Consumer
bootstrap, group, topic, ca, out_path = sys.argv[1:6]
out = open(out_path, "a", buffering=1)
c = Consumer({
    "bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
    "security.protocol": "SASL_SSL", "ssl.ca.location": ca,
    "sasl.mechanisms": "SCRAM-SHA-512", "sasl.username": "bob", "sasl.password": "bob-secret",
    "session.timeout.ms": 6000, "heartbeat.interval.ms": 1000,
    "partition.assignment.strategy": "range",
})
def on_assign(consumer, partitions):
    out.write(json.dumps({"kind": "assigned", "partitions": [p.partition for p in partitions]}) + "\n")
c.subscribe([topic], on_assign=on_assign)
deadline = time.time() + 90
while time.time() < deadline and not os.path.exists(out_path + ".done"):
    m = c.poll(0.5)
    if m is None:
        continue
    if m.error():
        out.write(json.dumps({"kind": "error", "error": str(m.error())}) + "\n")
        continue
    out.write(json.dumps({"kind": "record", "partition": m.partition(), "offset": m.offset()}) + "\n")
c.close()
"#;

/// kafkit and librdkafka (confluent-kafka) in one group over SASL_SSL (SCRAM-SHA-512, different
/// users): both get partitions, and together they consume every record exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_group_with_librdkafka_over_sasl_ssl() {
    let python = std::env::var("KAFKIT_PYTHON").unwrap_or_else(|_| {
        panic!("KAFKIT_PYTHON is not set: run ./scripts/test.sh (it installs confluent-kafka)")
    });
    let addr = secure::plaintext_addr();
    let topic = unique_name("sec-mixed");
    let partitions = 4;
    harness::topic_with_partitions(&addr, &topic, partitions).await;
    let group = unique_name("sec-mixed-group");
    let dir = std::env::temp_dir().join(unique_name("sec-mixed"));
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("member.py");
    std::fs::File::create(&script)
        .unwrap()
        .write_all(RDKAFKA_MEMBER.as_bytes())
        .unwrap();
    let out = dir.join("rdkafka.jsonl");
    let mut child = Command::new(python)
        .arg(&script)
        .args([&secure::listener("SASL_SSL"), &group, &topic])
        .arg(pki("ca.pem"))
        .arg(&out)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();

    // librdkafka joins first and takes everything; kafkit then joins and the range assignor splits.
    within(Duration::from_secs(40), "librdkafka's assignment", async {
        while !std::fs::read_to_string(&out)
            .unwrap_or_default()
            .contains("assigned")
        {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    let c = consumer("SASL_SSL", Some("SCRAM-SHA-512"), &group, &topic);
    let mut events = c.events();
    let mut records = c.records().unwrap();
    within(Duration::from_secs(40), "kafkit's assignment", async {
        loop {
            if let Some(Event::Assigned(tps)) = events.next().await
                && !tps.is_empty()
            {
                return;
            }
        }
    })
    .await;
    let per_partition = 300;
    harness::produce(&addr, &topic, partitions, 0, per_partition, 50).await;
    let total = partitions as usize * per_partition;

    let mut ours = BTreeSet::new();
    let theirs = |out: &std::path::Path| -> BTreeSet<(i32, i64)> {
        std::fs::read_to_string(out)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["kind"] == "record")
            .map(|v| {
                (
                    v["partition"].as_i64().unwrap() as i32,
                    v["offset"].as_i64().unwrap(),
                )
            })
            .collect()
    };
    within(
        Duration::from_secs(60),
        "every record by one member or the other",
        async {
            loop {
                if let Ok(Some(r)) = tokio::time::timeout(Duration::from_millis(300), records.next()).await {
                    let r = r.expect("record");
                    assert!(
                        ours.insert((r.partition(), r.offset())),
                        "kafkit got a record twice"
                    );
                }
                if ours.len() + theirs(&out).len() >= total {
                    return;
                }
            }
        },
    )
    .await;
    std::fs::write(dir.join("rdkafka.jsonl.done"), "done").unwrap();
    let theirs = theirs(&out);
    let log = std::fs::read_to_string(&out).unwrap();
    assert!(!log.contains("\"error\""), "librdkafka reported errors: {log}");
    assert!(
        !ours.is_empty() && !theirs.is_empty(),
        "both members consumed: kafkit {}, librdkafka {}",
        ours.len(),
        theirs.len()
    );
    assert!(ours.is_disjoint(&theirs), "no record consumed by both");
    assert_eq!(ours.len() + theirs.len(), total);
    drop(records);
    c.close().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if child.try_wait().unwrap().is_none() {
        let _ = child.kill();
        panic!("the librdkafka member did not exit");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
