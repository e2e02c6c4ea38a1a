//! Helpers for consumer tests against the real broker: topics with data, and bounded waits.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use kafkit::net::{BrokerPool, NetConfig};

use crate::admin;

/// Creates a topic and waits (bounded) until every partition has a leader.
pub async fn topic_with_partitions(addr: &str, name: &str, partitions: i32) {
    init_tracing();
    admin::create_topic(addr, name, partitions).await;
    let pool = BrokerPool::new([addr], NetConfig::default()).unwrap();
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            if let Ok(md) = pool.metadata(Some(&[name])).await
                && let Some(t) = md.topic(name)
                && t.error.is_none()
                && t.partitions.len() == partitions as usize
                && t.partitions.iter().all(|p| p.leader.is_some())
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("topic has leaders within 30 s");
}

/// The value of record `i` of `partition`: `p{partition}-{i}` padded to `size` bytes.
pub fn value(partition: i32, i: usize, size: usize) -> Bytes {
    let mut v = format!("p{partition}-{i}-").into_bytes();
    v.resize(size.max(v.len()), b'x');
    Bytes::from(v)
}

/// Produces `per_partition` records to each partition (values from [`value`]), starting at record
/// index `from`, in batches; returns the offsets each partition's first record got.
pub async fn produce(
    addr: &str,
    topic: &str,
    partitions: i32,
    from: usize,
    per_partition: usize,
    size: usize,
) -> BTreeMap<i32, i64> {
    let pool = BrokerPool::new([addr], NetConfig::default()).unwrap();
    let md = pool.metadata(Some(&[topic])).await.unwrap();
    let mut firsts = BTreeMap::new();
    for p in 0..partitions {
        let leader = md.partition(topic, p).and_then(|m| m.leader).expect("leader");
        let conn = pool.connection(leader).await.unwrap();
        let mut i = from;
        while i < from + per_partition {
            let n = (from + per_partition - i).min(2000);
            let values: Vec<Bytes> = (i..i + n).map(|k| value(p, k, size)).collect();
            let base = admin::produce(&conn, topic, p, &values).await;
            firsts.entry(p).or_insert(base);
            i += n;
        }
    }
    firsts
}

/// Runs `f` with a deadline; panics with `what` if it passes.
pub async fn within<T>(limit: Duration, what: &str, f: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(limit, f).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {limit:?}: {what}"),
    }
}

/// Logs to the test's output when `RUST_LOG` is set (e.g. `RUST_LOG=kafkit=debug`).
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}
