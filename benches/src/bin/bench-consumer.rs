//! One benchmark consumer run: reads exactly N records from a pre-produced topic with one client,
//! then prints one JSON line ([`kafkit_benches::RunReport`]) on stdout and exits.
//!
//! ```sh
//! bench-consumer CLIENT BOOTSTRAP TOPIC RECORDS [PARTITIONS]
//! ```
//!
//! CLIENT is one of [`CLIENTS`]. Group clients use a fresh group id and `session.timeout.ms =
//! 6000`. Every client is tuned for throughput as `shared/BENCHMARKING.md` describes; the settings
//! are in the functions below and in `benches/RESULTS.md`. The time from creating the consumer to
//! the first record is reported separately from the throughput (first to last record).
//!
//! `KAFKIT_BENCH_PROPERTIES` (`key=value` pairs separated by `;`, e.g. `security.protocol=SASL_SSL;
//! sasl.mechanism=SCRAM-SHA-512;...`) is applied to the kafkit and rdkafka clients, for TLS and
//! SASL runs (rdkafka needs the `rdkafka-ssl` feature for TLS).
//!
//! The process exits without a graceful close once it has reported (a group member it leaves
//! behind belongs to a group nobody else uses); the driver bounds every run with a timeout.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use kafkit_benches::{PARTITIONS, RunReport, usage};
use tokio::sync::{Mutex, Notify};

/// The clients this binary can run.
pub const CLIENTS: [&str; 6] = [
    "kafkit-merged",
    "kafkit-partitions",
    "rdkafka-stream",
    "rdkafka-assign",
    "krafka",
    "rskafka",
];

/// Session timeout for every group client (Tansu-family brokers hold a new group's join for about
/// half of it, unless started with `--group-initial-rebalance-delay 0s`).
const SESSION_TIMEOUT: Duration = Duration::from_secs(6);

/// What a run needs to know.
struct Args {
    client: String,
    bootstrap: String,
    topic: String,
    records: u64,
    partitions: i32,
}

/// Times and counts shared by the tasks of one run.
struct Progress {
    target: u64,
    count: AtomicU64,
    value_bytes: AtomicU64,
    first: std::sync::OnceLock<Instant>,
    last: std::sync::OnceLock<Instant>,
    done: Notify,
}

impl Progress {
    fn new(target: u64) -> Arc<Progress> {
        Arc::new(Progress {
            target,
            count: AtomicU64::new(0),
            value_bytes: AtomicU64::new(0),
            first: std::sync::OnceLock::new(),
            last: std::sync::OnceLock::new(),
            done: Notify::new(),
        })
    }

    /// Counts `n` records with `bytes` value bytes; true once the target is reached.
    fn add(&self, n: u64, bytes: u64) -> bool {
        if n == 0 {
            return self.finished();
        }
        self.first.get_or_init(Instant::now);
        self.value_bytes.fetch_add(bytes, Ordering::Relaxed);
        let before = self.count.fetch_add(n, Ordering::AcqRel);
        if before < self.target && before + n >= self.target {
            let _ = self.last.set(Instant::now());
            self.done.notify_one();
        }
        before + n >= self.target
    }

    fn finished(&self) -> bool {
        self.count.load(Ordering::Acquire) >= self.target
    }
}

fn group_id(client: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("bench-{client}-{}-{nanos}", std::process::id())
}

fn parse_args() -> Result<Args> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: bench-consumer CLIENT BOOTSTRAP TOPIC RECORDS [PARTITIONS]";
    let client = args.next().context(usage)?;
    if !CLIENTS.contains(&client.as_str()) {
        bail!("unknown client '{client}'; one of {CLIENTS:?}");
    }
    let bootstrap = args.next().context(usage)?;
    let topic = args.next().context(usage)?;
    let records = args
        .next()
        .context(usage)?
        .parse()
        .context("RECORDS must be a number")?;
    let partitions = match args.next() {
        Some(p) => p.parse().context("PARTITIONS must be a number")?,
        None => PARTITIONS,
    };
    Ok(Args {
        client,
        bootstrap,
        topic,
        records,
        partitions,
    })
}

fn main() -> Result<()> {
    let args = parse_args()?;
    // One runtime thread: the driver pins the process to one core anyway.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let progress = Progress::new(args.records);
    let created = Instant::now();
    let client = args.client.clone();
    let name = args.client.clone();
    let run = {
        let progress = progress.clone();
        async move {
            match client.as_str() {
                "kafkit-merged" => kafkit_merged(&args, &progress).await,
                "kafkit-partitions" => kafkit_partitions(&args, &progress).await,
                "rdkafka-stream" => rdkafka_stream(&args, &progress).await,
                "rdkafka-assign" => rdkafka_assign(args, progress).await,
                "krafka" => krafka(&args, &progress).await,
                "rskafka" => rskafka(&args, &progress).await,
                other => bail!("unknown client '{other}'"),
            }
        }
    };
    runtime.block_on(run)?;
    let usage = usage()?;
    let (Some(first), Some(last)) = (progress.first.get(), progress.last.get()) else {
        bail!("the consumer stopped before reading {} records", progress.target);
    };
    let report = RunReport {
        client: name,
        records: progress.count.load(Ordering::Acquire),
        value_bytes: progress.value_bytes.load(Ordering::Acquire),
        seconds: last.duration_since(*first).as_secs_f64(),
        first_record_seconds: first.duration_since(created).as_secs_f64(),
        cpu_user: usage.user.as_secs_f64(),
        cpu_sys: usage.sys.as_secs_f64(),
        max_rss_bytes: usage.max_rss_bytes,
    };
    println!("{}", serde_json::to_string(&report)?);
    // Skip the clients' graceful shutdown: it is not measured, and some of them take seconds.
    std::process::exit(0)
}

// ---------------------------------------------------------------------------------------------
// kafkit

/// Extra client properties from `KAFKIT_BENCH_PROPERTIES` (security settings for TLS/SASL runs).
fn extra_properties() -> Vec<(String, String)> {
    std::env::var("KAFKIT_BENCH_PROPERTIES")
        .unwrap_or_default()
        .split(';')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

fn kafkit_builder(args: &Args) -> kafkit::ConsumerBuilder {
    kafkit::Consumer::builder()
        .properties(extra_properties())
        .bootstrap(&args.bootstrap)
        .group_id(group_id(&args.client))
        .subscribe([args.topic.clone()])
        .offset_reset(kafkit::OffsetReset::Earliest)
        .session_timeout(SESSION_TIMEOUT)
        .property("fetch.max.bytes", "67108864")
        .property("max.partition.fetch.bytes", "4194304")
        .property("fetch.wait.max.ms", "100")
}

/// kafkit, group, all partitions merged into one stream.
async fn kafkit_merged(args: &Args, progress: &Progress) -> Result<()> {
    let consumer = kafkit_builder(args).build()?;
    let mut records = consumer.records()?;
    while let Some(record) = records.next().await {
        let record = record?;
        let bytes = record.value().map_or(0, <[u8]>::len) as u64;
        if progress.add(1, bytes) {
            return Ok(());
        }
    }
    bail!("kafkit's record stream ended early")
}

/// kafkit, group, one tokio task per assigned partition.
async fn kafkit_partitions(args: &Args, progress: &Arc<Progress>) -> Result<()> {
    let consumer = kafkit_builder(args).build()?;
    let mut partitions = consumer.partitions()?;
    let failure = Arc::new(Mutex::new(None::<anyhow::Error>));
    let done = progress.done.notified();
    tokio::pin!(done);
    loop {
        tokio::select! {
            _ = &mut done => break,
            partition = partitions.next() => {
                let Some(mut partition) = partition else { bail!("kafkit's partitions ended early") };
                let progress = progress.clone();
                let failure = failure.clone();
                tokio::spawn(async move {
                    while let Some(record) = partition.next().await {
                        match record {
                            Ok(record) => {
                                let bytes = record.value().map_or(0, <[u8]>::len) as u64;
                                if progress.add(1, bytes) {
                                    return;
                                }
                            }
                            Err(e) => {
                                *failure.lock().await = Some(e.into());
                                progress.done.notify_one();
                                return;
                            }
                        }
                    }
                });
            }
        }
    }
    if let Some(e) = failure.lock().await.take() {
        return Err(e);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// rdkafka

/// librdkafka's settings for throughput (its defaults are about half as fast).
fn rdkafka_config(args: &Args, group: &str) -> rdkafka::ClientConfig {
    let mut config = rdkafka::ClientConfig::new();
    config
        .set("bootstrap.servers", &args.bootstrap)
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        .set("fetch.max.bytes", "67108864")
        .set("max.partition.fetch.bytes", "4194304")
        .set("fetch.wait.max.ms", "100")
        .set("queued.min.messages", "1000000")
        .set("queued.max.messages.kbytes", "262144");
    for (k, v) in extra_properties() {
        let k = if k == "sasl.mechanism" {
            "sasl.mechanisms".to_owned()
        } else {
            k
        };
        config.set(k, v);
    }
    config
}

/// rdkafka `StreamConsumer`, group (subscribe), `recv()` loop.
async fn rdkafka_stream(args: &Args, progress: &Progress) -> Result<()> {
    use rdkafka::Message;
    use rdkafka::consumer::{Consumer, StreamConsumer};
    let consumer: StreamConsumer = rdkafka_config(args, &group_id(&args.client)).create()?;
    consumer.subscribe(&[args.topic.as_str()])?;
    loop {
        let message = consumer.recv().await?;
        let bytes = message.payload().map_or(0, <[u8]>::len) as u64;
        if progress.add(1, bytes) {
            return Ok(());
        }
    }
}

/// rdkafka `BaseConsumer`, `assign()` of every partition at the beginning (no group protocol;
/// librdkafka still needs a `group.id`), `poll()` loop on a blocking thread.
async fn rdkafka_assign(args: Args, progress: Arc<Progress>) -> Result<()> {
    tokio::task::spawn_blocking(move || {
        use rdkafka::consumer::{BaseConsumer, Consumer};
        use rdkafka::{Message, Offset, TopicPartitionList};
        let mut config = rdkafka_config(&args, &group_id(&args.client));
        config.set("enable.auto.commit", "false");
        let consumer: BaseConsumer = config.create()?;
        let mut assignment = TopicPartitionList::new();
        for p in 0..args.partitions {
            assignment.add_partition_offset(&args.topic, p, Offset::Beginning)?;
        }
        consumer.assign(&assignment)?;
        loop {
            let Some(message) = consumer.poll(Duration::from_secs(1)) else {
                continue;
            };
            let message = message?;
            let bytes = message.payload().map_or(0, <[u8]>::len) as u64;
            if progress.add(1, bytes) {
                return Ok(());
            }
        }
    })
    .await?
}

// ---------------------------------------------------------------------------------------------
// krafka

/// krafka, group, `poll()` with large fetches and buffers (its defaults gave only ~55 k records/s).
async fn krafka(args: &Args, progress: &Progress) -> Result<()> {
    let kafka = krafka::Kafka::builder(args.bootstrap.clone())
        .client_id("bench-krafka")
        .connect()
        .await?;
    let consumer = kafka
        .consumer(group_id(&args.client))
        .auto_offset_reset(krafka::consumer::AutoOffsetReset::Earliest)
        .session_timeout(SESSION_TIMEOUT)
        .fetch_max_bytes(64 << 20)
        .max_partition_fetch_bytes(4 << 20)
        .max_poll_records(10_000)
        .max_buffered_records(100_000)
        .fetch_max_wait(Duration::from_millis(100))
        .build()
        .await?;
    consumer.subscribe([&args.topic]).await?;
    loop {
        let records = consumer.poll(Duration::from_secs(1)).await?;
        let bytes: u64 = records
            .iter()
            .map(|r| r.value.as_ref().map_or(0, |v| v.len()) as u64)
            .sum();
        if progress.add(records.len() as u64, bytes) {
            return Ok(());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// rskafka

/// rskafka, no group: one `PartitionClient` and one task per partition, each fetching 1–4 MiB
/// with 100 ms max wait from offset 0 up to the high watermark.
async fn rskafka(args: &Args, progress: &Arc<Progress>) -> Result<()> {
    use rskafka::client::ClientBuilder;
    use rskafka::client::partition::UnknownTopicHandling;
    let client = Arc::new(ClientBuilder::new(vec![args.bootstrap.clone()]).build().await?);
    let mut tasks = tokio::task::JoinSet::new();
    for p in 0..args.partitions {
        let partition = client
            .partition_client(args.topic.clone(), p, UnknownTopicHandling::Retry)
            .await?;
        let progress = progress.clone();
        tasks.spawn(async move {
            let mut offset = 0i64;
            loop {
                let (records, high_watermark) = partition.fetch_records(offset, 1..(4 << 20), 100).await?;
                let bytes: u64 = records
                    .iter()
                    .map(|r| r.record.value.as_ref().map_or(0, Vec::len) as u64)
                    .sum();
                if let Some(last) = records.last() {
                    offset = last.offset + 1;
                }
                if progress.add(records.len() as u64, bytes) || offset >= high_watermark {
                    return anyhow::Ok(());
                }
            }
        });
    }
    while let Some(result) = tasks.join_next().await {
        result??;
    }
    if !progress.finished() {
        bail!(
            "rskafka read every partition to its high watermark but not {} records",
            progress.target
        );
    }
    Ok(())
}
