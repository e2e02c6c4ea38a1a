//! Measurement, not a test (ignored; run by hand): a consumer of 1,000 partitions (four topics of
//! 250) on Apache Kafka with a trickle of records (10 every 100 ms), with and without fetch
//! sessions (KIP-227), and librdkafka (which has none) as the reference. Each consumer reads
//! through a counting proxy; over a 20 s window after a 5 s warm-up it reports Fetch requests and
//! their bytes per second, the bytes of the Fetch answers, partition entries per request, the consumer process's CPU (which
//! includes the proxy and the trickle producer, the same for every row) and, with
//! `KAFKIT_BROKER_PID`, the broker's CPU.
//!
//! ```text
//! KAFKIT_TEST_BROKER=127.0.0.1:PORT KAFKIT_BROKER_PID=$(pgrep -f 'kstate/kafka/node-1') \
//!   cargo test -p kafkit-protocol-tests --release --test measure_sessions -- --ignored --nocapture
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::ApiKey;
use kafkit::net::{BrokerPool, NetConfig};
use kafkit::{Consumer, Offset, TopicPartition};
use kafkit_protocol_tests::reliability::KafkaProxy;
use kafkit_protocol_tests::{admin, harness, real};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer as _, StreamConsumer};

const TOPICS: usize = 4;
const PER_TOPIC: i32 = 250;
const WARM_UP: Duration = Duration::from_secs(5);
const WINDOW: Duration = Duration::from_secs(20);

/// CPU seconds (user + system) of process `pid` ("self" for this one).
fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command's closing parenthesis; utime and stime are the 12th and 13th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

struct Row {
    name: &'static str,
    fetches: usize,
    bytes: usize,
    response_bytes: usize,
    entries_per_fetch: f64,
    consumer_cpu: f64,
    broker_cpu: Option<f64>,
    records: u64,
}

/// Fetch requests the proxy saw between `from` and `to`, and their bytes.
fn fetches(proxy: &KafkaProxy, from: Instant, to: Instant) -> (usize, usize) {
    let seen: Vec<_> = proxy
        .requests(ApiKey::Fetch)
        .into_iter()
        .filter(|s| s.at >= from && s.at < to)
        .collect();
    (seen.len(), seen.iter().map(|s| s.frame.len() + 4).sum())
}

async fn measure(
    name: &'static str,
    proxy: &KafkaProxy,
    records: &AtomicU64,
    entries: impl Fn() -> Option<(u64, u64)>,
) -> Row {
    tokio::time::sleep(WARM_UP).await;
    let broker = std::env::var("KAFKIT_BROKER_PID").ok();
    let (cpu0, broker0, records0, entries0) = (
        cpu_seconds("self"),
        broker.as_deref().map(cpu_seconds),
        records.load(Ordering::Relaxed),
        entries(),
    );
    let from = Instant::now();
    tokio::time::sleep(WINDOW).await;
    let to = Instant::now();
    let (n, bytes) = fetches(proxy, from, to);
    let (_, response_bytes) = proxy.answered(ApiKey::Fetch, from, to);
    let entries_per_fetch = match (entries0, entries()) {
        (Some((f0, e0)), Some((f1, e1))) => (e1 - e0) as f64 / (f1 - f0).max(1) as f64,
        _ => f64::NAN,
    };
    Row {
        name,
        fetches: n,
        bytes,
        response_bytes,
        entries_per_fetch,
        consumer_cpu: cpu_seconds("self") - cpu0,
        broker_cpu: broker
            .as_deref()
            .map(cpu_seconds)
            .zip(broker0)
            .map(|(b, a)| b - a),
        records: records.load(Ordering::Relaxed) - records0,
    }
}

async fn kafkit_row(addr: &str, topics: &[String], sessions: bool) -> Row {
    let proxy = KafkaProxy::start(addr).await;
    let tps: Vec<TopicPartition> = topics
        .iter()
        .flat_map(|t| (0..PER_TOPIC).map(move |p| TopicPartition::new(t.as_str(), p)))
        .collect();
    let consumer = Arc::new(
        Consumer::builder()
            .bootstrap(proxy.addr())
            .assign(tps)
            .start_at(Offset::End)
            .fetch_sessions(sessions)
            .build()
            .unwrap(),
    );
    let records = Arc::new(AtomicU64::new(0));
    let reader = {
        let (consumer, records) = (consumer.clone(), records.clone());
        tokio::spawn(async move {
            let mut all = consumer.records().unwrap();
            while let Some(r) = all.next().await {
                if r.is_ok() {
                    records.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };
    let name = if sessions {
        "kafkit, sessions"
    } else {
        "kafkit, no sessions"
    };
    // The metrics are read on the engine thread; sampled around the window.
    let sample = {
        let consumer = consumer.clone();
        move || {
            let consumer = consumer.clone();
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .ok()?;
                let m = rt.block_on(consumer.metrics()).ok()?;
                Some((m.fetch_requests_total, m.fetch_partitions_sent_total))
            })
            .join()
            .ok()
            .flatten()
        }
    };
    let row = measure(name, &proxy, &records, sample).await;
    reader.abort();
    if let Ok(consumer) = Arc::try_unwrap(consumer) {
        let _ = consumer.close().await;
    }
    row
}

async fn librdkafka_row(addr: &str, topics: &[String]) -> Row {
    let proxy = KafkaProxy::start(addr).await;
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", proxy.addr())
        .set("group.id", real::unique_name("measure-rd"))
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut list = rdkafka::TopicPartitionList::new();
    for t in topics {
        for p in 0..PER_TOPIC {
            list.add_partition_offset(t, p, rdkafka::Offset::End).unwrap();
        }
    }
    consumer.assign(&list).unwrap();
    let consumer = Arc::new(consumer);
    let records = Arc::new(AtomicU64::new(0));
    let reader = {
        let (consumer, records) = (consumer.clone(), records.clone());
        tokio::spawn(async move {
            loop {
                if consumer.recv().await.is_ok() {
                    records.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };
    let row = measure("librdkafka 2.x (no sessions)", &proxy, &records, || None).await;
    reader.abort();
    row
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run by hand, see the module docs"]
async fn measure_fetch_sessions_1000_partitions() {
    let addr = real::broker_addr();
    let topics: Vec<String> = (0..TOPICS)
        .map(|i| real::unique_name(&format!("kafkit-quiet-{i}")))
        .collect();
    for t in &topics {
        harness::topic_with_partitions(&addr, t, PER_TOPIC).await;
    }
    // The trickle: 10 records every 100 ms, spread over every partition in turn.
    let stop = Arc::new(AtomicBool::new(false));
    let producer = {
        let (addr, topics, stop) = (addr.clone(), topics.clone(), stop.clone());
        tokio::spawn(async move {
            let pool = BrokerPool::new([addr.as_str()], NetConfig::default()).unwrap();
            let md = pool.metadata(None).await.unwrap();
            let mut i = 0usize;
            while !stop.load(Ordering::Relaxed) {
                for _ in 0..10 {
                    let t = &topics[i % TOPICS];
                    let p = ((i / TOPICS) % PER_TOPIC as usize) as i32;
                    let leader = md.partition(t, p).and_then(|m| m.leader).unwrap_or(1);
                    if let Ok(conn) = pool.connection(leader).await {
                        admin::produce(&conn, t, p, &[Bytes::from_static(b"trickle")]).await;
                    }
                    i += 1;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    // The broker settles for a while after creating 1,000 partitions: the first row runs last
    // again, so an order effect shows.
    let rows = vec![
        kafkit_row(&addr, &topics, true).await,
        kafkit_row(&addr, &topics, false).await,
        librdkafka_row(&addr, &topics).await,
        kafkit_row(&addr, &topics, true).await,
    ];
    stop.store(true, Ordering::Relaxed);
    let _ = producer.await;
    let secs = WINDOW.as_secs_f64();
    println!(
        "| consumer | Fetch req/s | Fetch request KB/s | Fetch response KB/s | partitions per request | consumer-process CPU % | broker CPU % | records/s |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for r in &rows {
        println!(
            "| {} | {:.1} | {:.1} | {:.1} | {} | {:.1} | {} | {:.0} |",
            r.name,
            r.fetches as f64 / secs,
            r.bytes as f64 / secs / 1024.0,
            r.response_bytes as f64 / secs / 1024.0,
            if r.entries_per_fetch.is_nan() {
                "1000 (always all)".to_owned()
            } else {
                format!("{:.1}", r.entries_per_fetch)
            },
            100.0 * r.consumer_cpu / secs,
            r.broker_cpu
                .map_or("n/a".to_owned(), |c| format!("{:.1}", 100.0 * c / secs)),
            r.records as f64 / secs,
        );
    }
    for r in &rows {
        assert!(r.records > 0, "{} read the trickle", r.name);
    }
}
