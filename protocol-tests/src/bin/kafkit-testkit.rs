//! A tiny pure-Rust admin tool and producer for scripts (the demo, the CLI smoke test).
//!
//! ```text
//! kafkit-testkit create-topic BROKER TOPIC PARTITIONS    create TOPIC, wait until every partition has a leader
//! kafkit-testkit produce BROKER TOPIC COUNT [PREFIX]     produce COUNT records round-robin over TOPIC's
//!                                                        partitions: key "key-<i>", value "<PREFIX>-<i>"
//! kafkit-testkit gen-certs DIR                           write a test PKI (CA, broker, client, expired and
//!                                                        rogue certificates; PEM) and SASL users into DIR,
//!                                                        generated in pure Rust (see kafkit_protocol_tests::certs)
//! ```
//! Prints one summary line on stderr; exits non-zero (with a panic message) on failure.

use std::time::Duration;

use bytes::Bytes;
use kafkit::net::{BrokerPool, NetConfig};
use kafkit_protocol_tests::admin::{self, TestRecord};
use kafkit_protocol_tests::harness;

const USAGE: &str = "usage: kafkit-testkit create-topic BROKER TOPIC PARTITIONS\n       kafkit-testkit produce BROKER TOPIC COUNT [PREFIX]\n       kafkit-testkit gen-certs DIR";

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = tokio::time::timeout(Duration::from_secs(120), async {
        match args[..] {
            ["create-topic", broker, topic, partitions] => {
                let partitions: i32 = partitions.parse().expect("PARTITIONS is a number");
                harness::topic_with_partitions(broker, topic, partitions).await;
                eprintln!("kafkit-testkit: created topic {topic} with {partitions} partitions");
            }
            ["produce", broker, topic, count] => produce(broker, topic, count, "record").await,
            ["produce", broker, topic, count, prefix] => produce(broker, topic, count, prefix).await,
            ["gen-certs", dir] => {
                kafkit_protocol_tests::certs::write_all(std::path::Path::new(dir));
                eprintln!("kafkit-testkit: wrote the test PKI and SASL users to {dir}");
            }
            _ => {
                eprintln!("{USAGE}");
                std::process::exit(2);
            }
        }
    })
    .await;
    if result.is_err() {
        eprintln!("kafkit-testkit: timed out after 120 s");
        std::process::exit(1);
    }
}

async fn produce(broker: &str, topic: &str, count: &str, prefix: &str) {
    let count: usize = count.parse().expect("COUNT is a number");
    let pool = BrokerPool::new([broker], NetConfig::default()).unwrap();
    let md = pool.metadata(Some(&[topic])).await.unwrap();
    let t = md
        .topic(topic)
        .filter(|t| t.error.is_none() && !t.partitions.is_empty())
        .unwrap_or_else(|| panic!("topic {topic} does not exist on {broker}"));
    let partitions = t.partitions.len();
    for (p, meta) in t.partitions.iter().enumerate() {
        let records: Vec<TestRecord> = (p..count)
            .step_by(partitions)
            .map(|i| TestRecord {
                key: Some(Bytes::from(format!("key-{i}"))),
                value: Some(Bytes::from(format!("{prefix}-{i}"))),
                headers: Vec::new(),
            })
            .collect();
        let leader = meta.leader.unwrap_or_else(|| panic!("{topic}/{p} has no leader"));
        let conn = pool.connection(leader).await.unwrap();
        for chunk in records.chunks(2000) {
            admin::produce_records(&conn, topic, meta.partition, chunk).await;
        }
    }
    eprintln!("kafkit-testkit: produced {count} records to {topic} ({partitions} partitions)");
}
