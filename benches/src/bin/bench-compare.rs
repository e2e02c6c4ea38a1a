//! The driver behind `scripts/bench-compare.sh` (run that; it builds this and the peer programs,
//! starts and pins the broker, and passes the settings below as environment variables).
//!
//! ```text
//! bench-compare topics    create every topic the selected phases need
//! bench-compare produce   produce every selected bulk data set once and verify the high watermarks
//! bench-compare steady TOPICS PARTITIONS RATE SECONDS
//!                         a producer process: RATE records/s round-robin over PARTITIONS partitions
//!                         of each of TOPICS (comma-separated), each value stamped with its create
//!                         time; stops after SECONDS (the driver kills it sooner)
//! bench-compare run       run every selected phase: clients interleaved in rounds; one JSON line
//!                         per run is appended to $BENCH_RESULTS_DIR/runs.jsonl
//! bench-compare report    write $BENCH_OUT (benches/RESULTS.md) from runs.jsonl, build-cost.tsv
//!                         and meta.env in $BENCH_RESULTS_DIR
//! ```
//!
//! Environment: `BENCH_BOOTSTRAP` (broker address), `BENCH_BROKER_PID` (its pid, to sample its CPU
//! time), `BENCH_PHASES` (comma-separated from bulk,latency,rebalance,scale; default all),
//! `BENCH_DATASETS` (default all), `BENCH_CLIENTS` (default all), `BENCH_ROUNDS` (default 3),
//! `BENCH_QUICK=1` (a tenth of the records, short windows), `BENCH_QUICK_WINDOWS=1` (short
//! latency/rebalance/scale windows only, full-size data sets), `BENCH_TIMEOUT` (seconds per run,
//! default 180), `BENCH_CONSUMER` (path of `bench-consumer`), `BENCH_FRANZ` (path of the franz-go
//! program), `BENCH_JAVA` and `BENCH_JAVA_CP` (java and the classpath of `BenchConsumer`),
//! `BENCH_SELF` (path of this binary, for the steady producers), `BENCH_RESULTS_DIR`,
//! `BENCH_OUT`, `BENCH_CONSUMER_CPU` (default 1), `BENCH_PRODUCER_CPU` (default 0),
//! `BENCH_IDLE_WAIT` (seconds to wait for idle CPUs before each run, default 30).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use kafkit_benches::{
    Codec, DATASETS, DEFAULT_GAP_MS, Dataset, LOW_LATENCY_FETCH_WAIT_MS, PARTITIONS, PartitionTimeline,
    RunReport, now_us, record_value, stamped_value,
};
use serde::{Deserialize, Serialize};

/// How a client is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A client of `bench-consumer`.
    Rust,
    /// `benches/java/BenchConsumer.java`.
    Java,
    /// `benches/franz/`.
    Franz,
}

/// A client in the comparison.
struct ClientInfo {
    name: &'static str,
    label: &'static str,
    kind: Kind,
    /// Why it sits out a phase or case, if it does.
    not_applicable: fn(phase: Phase, case: &str) -> Option<&'static str>,
}

fn everywhere(_: Phase, _: &str) -> Option<&'static str> {
    None
}
fn kafkit_partitions_na(phase: Phase, _: &str) -> Option<&'static str> {
    (phase == Phase::Rebalance).then_some("kafkit's rebalance is measured with the merged stream")
}
fn no_group(phase: Phase, _: &str) -> Option<&'static str> {
    (phase == Phase::Rebalance).then_some("no consumer group")
}
fn bulk_only(phase: Phase, _: &str) -> Option<&'static str> {
    (phase != Phase::Bulk).then_some("a bulk-read tool")
}
fn consumer_protocol_only(phase: Phase, case: &str) -> Option<&'static str> {
    (phase == Phase::Rebalance && case != "consumer").then_some("KIP-848 groups only")
}

/// The clients, in run and report order; the first is the reference for the ratios.
const CLIENTS: [ClientInfo; 10] = [
    ClientInfo {
        name: "kafkit-merged",
        label: "kafkit, group, merged `records()`",
        kind: Kind::Rust,
        not_applicable: everywhere,
    },
    ClientInfo {
        name: "kafkit-partitions",
        label: "kafkit, group, task per `PartitionStream`",
        kind: Kind::Rust,
        not_applicable: kafkit_partitions_na,
    },
    ClientInfo {
        name: "java",
        label: "Java KafkaConsumer 4.1, `poll()`",
        kind: Kind::Java,
        not_applicable: everywhere,
    },
    ClientInfo {
        name: "java-perf",
        label: "Kafka ConsumerPerformance 4.1 (cross-check)",
        kind: Kind::Java,
        not_applicable: bulk_only,
    },
    ClientInfo {
        name: "franz",
        label: "franz-go, group, `PollFetches`",
        kind: Kind::Franz,
        not_applicable: everywhere,
    },
    ClientInfo {
        name: "confluent",
        label: "confluent-kafka 1.0 (Rust), KIP-848 group, `poll()`",
        kind: Kind::Rust,
        not_applicable: consumer_protocol_only,
    },
    ClientInfo {
        name: "rdkafka-stream",
        label: "rdkafka 0.39 StreamConsumer, group",
        kind: Kind::Rust,
        not_applicable: everywhere,
    },
    ClientInfo {
        name: "rdkafka-assign",
        label: "rdkafka 0.39 BaseConsumer, assign",
        kind: Kind::Rust,
        not_applicable: no_group,
    },
    ClientInfo {
        name: "krafka",
        label: "krafka 0.28, group, `poll()`",
        kind: Kind::Rust,
        not_applicable: everywhere,
    },
    ClientInfo {
        name: "rskafka",
        label: "rskafka 0.6, task per partition, no group",
        kind: Kind::Rust,
        not_applicable: no_group,
    },
];

fn client_info(name: &str) -> Option<&'static ClientInfo> {
    CLIENTS.iter().find(|c| c.name == name)
}

/// A part of the comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Phase {
    Bulk,
    Latency,
    Rebalance,
    Scale,
}

impl Phase {
    const ALL: [Phase; 4] = [Phase::Bulk, Phase::Latency, Phase::Rebalance, Phase::Scale];
    fn name(self) -> &'static str {
        match self {
            Phase::Bulk => "bulk",
            Phase::Latency => "latency",
            Phase::Rebalance => "rebalance",
            Phase::Scale => "scale",
        }
    }
}

/// Uncompressed bytes per produced batch (one batch per partition per Produce request).
const BATCH_BYTES: usize = 512 * 1024;
/// The steadily produced topic of the latency and rebalance phases.
const STEADY_TOPIC: &str = "bench-steady";
/// Records per second the steady producer writes (the issue's figure).
const STEADY_RATE: u64 = 20_000;
/// Value size of the steady records.
const STEADY_VALUE_BYTES: usize = 100;
/// The scale phase: topics, partitions per topic, records per second over all of them.
const SCALE_TOPICS: usize = 10;
const SCALE_PARTITIONS: i32 = 100;
const SCALE_RATE: u64 = 200;

fn scale_topics() -> Vec<String> {
    (0..SCALE_TOPICS).map(|i| format!("bench-scale-{i}")).collect()
}

/// The time windows of the phases, full and quick.
struct Windows {
    latency_warmup: Duration,
    latency_measure: Duration,
    /// How long the first member reads alone before the second joins.
    rebalance_alone: Duration,
    /// How long both read after the second member started.
    rebalance_after: Duration,
    /// The baseline window before the join (the normal delivery cadence).
    rebalance_baseline: Duration,
    scale_idle: Duration,
}

fn windows() -> Windows {
    windows_of(quick() || env("BENCH_QUICK_WINDOWS").is_some_and(|v| v != "0"))
}

/// The quick windows (`--quick`, `--quick-windows`) or the full ones.
fn windows_of(quick: bool) -> Windows {
    if quick {
        Windows {
            latency_warmup: Duration::from_secs(1),
            latency_measure: Duration::from_secs(4),
            rebalance_alone: Duration::from_secs(5),
            rebalance_after: Duration::from_secs(10),
            rebalance_baseline: Duration::from_secs(2),
            scale_idle: Duration::from_secs(4),
        }
    } else {
        Windows {
            latency_warmup: Duration::from_secs(3),
            latency_measure: Duration::from_secs(15),
            rebalance_alone: Duration::from_secs(8),
            rebalance_after: Duration::from_secs(14),
            rebalance_baseline: Duration::from_secs(4),
            scale_idle: Duration::from_secs(15),
        }
    }
}

/// One line of `runs.jsonl`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct RunRecord {
    phase: Phase,
    /// The data set (bulk), settings profile (latency), protocol (rebalance) or "scale".
    case: String,
    client: String,
    round: u32,
    /// The consumer's report (in rebalance runs: the first member's), if it succeeded.
    report: Option<RunReport>,
    /// Rebalance runs: the second member's report.
    #[serde(default)]
    report_b: Option<RunReport>,
    /// Rebalance runs: when the second member was started and when both were to stop (µs since
    /// the epoch).
    #[serde(default)]
    join_us: u64,
    #[serde(default)]
    end_us: u64,
    /// Why the run failed, if it did.
    error: Option<String>,
    /// Broker CPU seconds (user+sys, all threads) during the run.
    broker_cpu_seconds: Option<f64>,
    /// Lowest idle fraction of the CPUs waited for just before the run (other work on the machine).
    cpu_idle_before: f64,
    /// Wall-clock seconds of the whole run.
    wall_seconds: f64,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> Result<T> {
    match env(name) {
        Some(v) => v.parse().map_err(|_| anyhow::anyhow!("{name}={v} is not valid")),
        None => Ok(default),
    }
}

fn quick() -> bool {
    env("BENCH_QUICK").is_some_and(|v| v != "0")
}

fn phases() -> Result<Vec<Phase>> {
    match env("BENCH_PHASES") {
        None => Ok(Phase::ALL.to_vec()),
        Some(list) => list
            .split(',')
            .map(|n| {
                Phase::ALL
                    .into_iter()
                    .find(|p| p.name() == n.trim())
                    .with_context(|| format!("unknown phase '{n}' (bulk, latency, rebalance, scale)"))
            })
            .collect(),
    }
}

fn datasets() -> Result<Vec<Dataset>> {
    match env("BENCH_DATASETS") {
        None => Ok(DATASETS.to_vec()),
        Some(list) => list
            .split(',')
            .map(|n| Dataset::by_name(n.trim()).with_context(|| format!("unknown data set '{n}'")))
            .collect(),
    }
}

fn clients() -> Result<Vec<&'static ClientInfo>> {
    match env("BENCH_CLIENTS") {
        None => Ok(CLIENTS.iter().collect()),
        Some(list) => list
            .split(',')
            .map(|n| client_info(n.trim()).with_context(|| format!("unknown client '{n}'")))
            .collect(),
    }
}

fn results_dir() -> PathBuf {
    env("BENCH_RESULTS_DIR").map_or_else(|| PathBuf::from("target/bench-results"), PathBuf::from)
}

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let command = args.next().unwrap_or_default();
    match command.as_str() {
        "topics" => topics(),
        "produce" => produce(),
        "steady" => {
            let usage = "usage: bench-compare steady TOPICS PARTITIONS RATE SECONDS";
            let topics: Vec<String> = args
                .next()
                .context(usage)?
                .split(',')
                .map(str::to_owned)
                .collect();
            let partitions: i32 = args.next().context(usage)?.parse()?;
            let rate: u64 = args.next().context(usage)?.parse()?;
            let seconds: u64 = args.next().context(usage)?.parse()?;
            steady(&topics, partitions, rate, Duration::from_secs(seconds))
        }
        "run" => run(),
        "report" => report(),
        _ => bail!("usage: bench-compare topics|produce|steady|run|report (see scripts/bench-compare.sh)"),
    }
}

// ---------------------------------------------------------------------------------------------
// topics and data

/// A topic the phases need: name, partitions, topic configs.
type WantedTopic = (String, i32, Vec<(&'static str, &'static str)>);

fn topics() -> Result<()> {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    use rdkafka::client::DefaultClientContext;
    let bootstrap = env("BENCH_BOOTSTRAP").context("BENCH_BOOTSTRAP is not set")?;
    let phases = phases()?;
    let mut wanted: Vec<WantedTopic> = Vec::new();
    if phases.contains(&Phase::Bulk) {
        for d in datasets()? {
            wanted.push((d.topic(d.records(quick())), PARTITIONS, Vec::new()));
        }
    }
    if phases.contains(&Phase::Latency) || phases.contains(&Phase::Rebalance) {
        // Steady data is only read near its end: keep the log small.
        wanted.push((
            STEADY_TOPIC.to_owned(),
            PARTITIONS,
            vec![("retention.ms", "120000"), ("segment.bytes", "16777216")],
        ));
    }
    if phases.contains(&Phase::Scale) {
        for t in scale_topics() {
            wanted.push((t, SCALE_PARTITIONS, Vec::new()));
        }
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let admin: AdminClient<DefaultClientContext> = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .create()?;
        let new: Vec<NewTopic<'_>> = wanted
            .iter()
            .map(|(name, partitions, configs)| {
                configs.iter().fold(
                    NewTopic::new(name, *partitions, TopicReplication::Fixed(1)),
                    |t, (k, v)| t.set(k, v),
                )
            })
            .collect();
        let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(60)));
        for result in admin.create_topics(new.iter(), &options).await? {
            match result {
                Ok(name) => eprintln!("bench-compare: created topic {name}"),
                Err((name, rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists)) => {
                    eprintln!("bench-compare: topic {name} exists")
                }
                Err((name, code)) => bail!("creating topic {name} failed: {code}"),
            }
        }
        anyhow::Ok(())
    })
}

fn produce() -> Result<()> {
    let bootstrap = env("BENCH_BOOTSTRAP").context("BENCH_BOOTSTRAP is not set")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let client = std::sync::Arc::new(
            rskafka::client::ClientBuilder::new(vec![bootstrap.clone()])
                .client_id("bench-producer")
                .build()
                .await?,
        );
        for dataset in datasets()? {
            produce_dataset(&client, dataset).await?;
        }
        anyhow::Ok(())
    })
}

async fn produce_dataset(client: &std::sync::Arc<rskafka::client::Client>, dataset: Dataset) -> Result<()> {
    use rskafka::client::partition::{Compression, OffsetAt, UnknownTopicHandling};
    let records = dataset.records(quick());
    let topic = dataset.topic(records);
    let compression = match dataset.codec {
        Codec::None => Compression::NoCompression,
        Codec::Zstd => Compression::Zstd,
        Codec::Lz4 => Compression::Lz4,
    };
    let per_partition = records / PARTITIONS as u64;
    if per_partition * PARTITIONS as u64 != records {
        bail!("{records} records do not split evenly over {PARTITIONS} partitions");
    }
    let per_batch = (BATCH_BYTES / dataset.value_bytes).max(1) as u64;
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for p in 0..PARTITIONS {
        let partition = client
            .partition_client(topic.clone(), p, UnknownTopicHandling::Retry)
            .await?;
        let value_bytes = dataset.value_bytes;
        tasks.spawn(async move {
            let timestamp =
                chrono::DateTime::from_timestamp_millis((now_us() / 1000) as i64).unwrap_or_default();
            let mut i = 0u64;
            while i < per_partition {
                let n = per_batch.min(per_partition - i);
                let batch = (i..i + n)
                    .map(|j| rskafka::record::Record {
                        key: None,
                        value: Some(record_value(j * PARTITIONS as u64 + p as u64, value_bytes)),
                        headers: BTreeMap::new(),
                        timestamp,
                    })
                    .collect();
                partition.produce(batch, compression).await?;
                i += n;
            }
            let high_watermark = partition.get_offset(OffsetAt::Latest).await?;
            anyhow::Ok((p, high_watermark))
        });
    }
    let mut watermarks = BTreeMap::new();
    while let Some(result) = tasks.join_next().await {
        let (p, high_watermark) = result??;
        watermarks.insert(p, high_watermark);
    }
    let bad: Vec<_> = watermarks
        .iter()
        .filter(|(_, hw)| **hw != per_partition as i64)
        .collect();
    if !bad.is_empty() {
        bail!("topic {topic}: expected high watermark {per_partition} on every partition, got {bad:?}");
    }
    eprintln!(
        "bench-compare: produced {topic}: {records} records x {} B, {}, {per_batch} records per batch, \
         high watermark {per_partition} on all {PARTITIONS} partitions ({:.1}s)",
        dataset.value_bytes,
        dataset.codec.name(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// A producer at a steady rate: every millisecond it sends the records that are due, round-robin
/// over every partition of every topic, with `linger.ms=0` (so the producer adds little delay of
/// its own) and `acks=1`. Each value starts with its create time in microseconds; the record's
/// timestamp is the same instant in milliseconds.
#[allow(
    clippy::disallowed_methods,
    reason = "a producer process of its own, with no async runtime to block"
)]
fn steady(topics: &[String], partitions: i32, rate: u64, max: Duration) -> Result<()> {
    use rdkafka::error::{KafkaError, RDKafkaErrorCode};
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
    let bootstrap = env("BENCH_BOOTSTRAP").context("BENCH_BOOTSTRAP is not set")?;
    let producer: BaseProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("linger.ms", "0")
        .set("acks", "1")
        .set("compression.type", "none")
        .create()?;
    let targets: Vec<(&str, i32)> = topics
        .iter()
        .flat_map(|t| (0..partitions).map(move |p| (t.as_str(), p)))
        .collect();
    let started = Instant::now();
    let mut sent = 0u64;
    let mut next = 0usize;
    while started.elapsed() < max {
        let due = (started.elapsed().as_secs_f64() * rate as f64) as u64;
        while sent < due {
            let (topic, partition) = targets[next % targets.len()];
            let created = now_us();
            let value = stamped_value(sent, created, STEADY_VALUE_BYTES);
            let record = BaseRecord::<(), Vec<u8>>::to(topic)
                .partition(partition)
                .payload(&value)
                .timestamp((created / 1000) as i64);
            match producer.send(record) {
                Ok(()) => {
                    sent += 1;
                    next += 1;
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    producer.poll(Duration::from_millis(1));
                }
                Err((e, _)) => bail!("producing failed: {e}"),
            }
        }
        producer.poll(Duration::ZERO);
        std::thread::sleep(Duration::from_millis(1));
    }
    producer.flush(Duration::from_secs(5))?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// run

/// CPU seconds (user+sys, all threads) a process has used, from `/proc/PID/stat`.
fn process_cpu_seconds(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name may contain spaces: fields are counted after its closing parenthesis.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .context("malformed /proc/PID/stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of stat(5) (utime, stime); `rest` starts at field 3.
    let ticks: f64 = fields.get(11).context("no utime")?.parse::<f64>()?
        + fields.get(12).context("no stime")?.parse::<f64>()?;
    let per_second = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)?.unwrap_or(100) as f64;
    Ok(ticks / per_second)
}

/// (busy, total) jiffies of one CPU, from `/proc/stat`.
fn cpu_jiffies(cpu: u32) -> Result<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat")?;
    let name = format!("cpu{cpu}");
    let line = stat
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name.as_str()))
        .with_context(|| format!("no {name} in /proc/stat"))?;
    let values: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let total: u64 = values.iter().sum();
    // idle + iowait
    let idle = values.get(3).copied().unwrap_or(0) + values.get(4).copied().unwrap_or(0);
    Ok((total - idle, total))
}

/// Waits (at most `max_wait`) until each of `cpus` was at least 90% idle over half a second;
/// returns the lowest idle fraction of the last half second.
#[allow(
    clippy::disallowed_methods,
    reason = "a synchronous driver: no async runtime here to block"
)]
fn wait_for_idle(cpus: &[u32], max_wait: Duration) -> Result<f64> {
    let deadline = Instant::now() + max_wait;
    loop {
        let before = cpus.iter().map(|&c| cpu_jiffies(c)).collect::<Result<Vec<_>>>()?;
        std::thread::sleep(Duration::from_millis(500));
        let after = cpus.iter().map(|&c| cpu_jiffies(c)).collect::<Result<Vec<_>>>()?;
        let idle = before
            .iter()
            .zip(&after)
            .map(|(&(b0, t0), &(b1, t1))| {
                if t1 > t0 {
                    1.0 - (b1 - b0) as f64 / (t1 - t0) as f64
                } else {
                    1.0
                }
            })
            .fold(1.0, f64::min);
        if idle >= 0.9 || Instant::now() >= deadline {
            return Ok(idle);
        }
    }
}

/// Where the peer programs are.
struct Programs {
    consumer: PathBuf,
    franz: Option<PathBuf>,
    java: Option<(String, String)>,
    cpu: u32,
}

impl Programs {
    fn from_env() -> Result<Programs> {
        Ok(Programs {
            consumer: PathBuf::from(env("BENCH_CONSUMER").context("BENCH_CONSUMER is not set")?),
            franz: env("BENCH_FRANZ").map(PathBuf::from),
            java: env("BENCH_JAVA_CP").map(|cp| (env("BENCH_JAVA").unwrap_or_else(|| "java".to_owned()), cp)),
            cpu: env_or("BENCH_CONSUMER_CPU", 1)?,
        })
    }

    /// The command that runs `client` in `mode`, pinned to the consumers' CPU.
    fn command(&self, client: &ClientInfo, mode: &str, kv: &[(String, String)]) -> Result<Command> {
        let mut cmd = Command::new("taskset");
        cmd.arg("-c").arg(self.cpu.to_string());
        match client.kind {
            Kind::Rust => {
                cmd.arg(&self.consumer);
            }
            Kind::Franz => {
                cmd.arg(
                    self.franz
                        .as_ref()
                        .context("BENCH_FRANZ is not set (go build failed?)")?,
                );
            }
            Kind::Java => {
                let (java, cp) = self
                    .java
                    .as_ref()
                    .context("BENCH_JAVA_CP is not set (javac failed?)")?;
                cmd.args([java.as_str(), "-cp", cp.as_str(), "BenchConsumer"]);
            }
        }
        cmd.arg(client.name).arg(mode);
        for (k, v) in kv {
            cmd.arg(format!("{k}={v}"));
        }
        cmd.env("RUST_BACKTRACE", "0")
            .env("RUST_LIB_BACKTRACE", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        Ok(cmd)
    }
}

/// A started consumer process, its stderr drained on a thread.
struct Running {
    child: Child,
    stderr: Option<std::thread::JoinHandle<String>>,
}

fn start(mut cmd: Command) -> Result<Running> {
    let mut child = cmd.spawn().context("could not start taskset (util-linux)")?;
    // Drain stderr on a thread so a chatty client cannot block on a full pipe.
    let mut stderr = child.stderr.take().context("no stderr")?;
    let stderr = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    Ok(Running {
        child,
        stderr: Some(stderr),
    })
}

/// The "Error: ..." line and what follows, or else the last lines of a client's stderr.
fn stderr_tail(stderr: &str) -> String {
    match stderr.lines().position(|l| l.starts_with("Error:")) {
        Some(i) => stderr
            .lines()
            .skip(i)
            .filter(|l| !l.trim().is_empty())
            .take(3)
            .map(str::trim)
            .collect::<Vec<_>>()
            .join(" | "),
        None => {
            let lines: Vec<&str> = stderr.lines().collect();
            lines[lines.len().saturating_sub(3)..].join(" | ")
        }
    }
}

/// Waits for a started consumer (killing it at `deadline`) and parses its report.
#[allow(
    clippy::disallowed_methods,
    reason = "a synchronous driver: no async runtime here to block"
)]
fn finish(mut running: Running, deadline: Instant) -> Result<RunReport> {
    let status = loop {
        if let Some(status) = running.child.try_wait()? {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = running.child.kill();
            let _ = running.child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stdout = String::new();
    if let Some(mut out) = running.child.stdout.take() {
        out.read_to_string(&mut stdout)?;
    }
    let stderr = running
        .stderr
        .take()
        .map(|t| t.join().unwrap_or_default())
        .unwrap_or_default();
    let tail = stderr_tail(&stderr);
    let Some(status) = status else {
        bail!("timed out; stderr: {tail}");
    };
    if !status.success() {
        bail!("exited with {status}; stderr: {tail}");
    }
    let line = stdout
        .lines()
        .rfind(|l| l.starts_with('{'))
        .context("no JSON report on stdout")?;
    Ok(serde_json::from_str::<RunReport>(line)?)
}

/// A steady producer process, killed when dropped.
struct Producer(Child);

impl Drop for Producer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_producer(topics: &[String], partitions: i32, rate: u64, max_seconds: u64) -> Result<Producer> {
    let me = env("BENCH_SELF").map_or_else(std::env::current_exe, |p| Ok(PathBuf::from(p)))?;
    let cpu: u32 = env_or("BENCH_PRODUCER_CPU", 0)?;
    let child = Command::new("taskset")
        .arg("-c")
        .arg(cpu.to_string())
        .arg(me)
        .args([
            "steady",
            &topics.join(","),
            &partitions.to_string(),
            &rate.to_string(),
            &max_seconds.to_string(),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .context("could not start the steady producer")?;
    eprintln!(
        "bench-compare: steady producer (pid {}): {rate} records/s over {} partitions, CPU {cpu}",
        child.id(),
        topics.len() * partitions as usize
    );
    Ok(Producer(child))
}

struct Driver {
    bootstrap: String,
    broker_pid: Option<u32>,
    rounds: u32,
    timeout: Duration,
    idle_wait: Duration,
    programs: Programs,
    out: std::fs::File,
}

impl Driver {
    fn broker_cpu(&self) -> Result<Option<f64>> {
        self.broker_pid.map(process_cpu_seconds).transpose()
    }

    fn log(&self, record: &RunRecord) {
        let r = &record.report;
        let what = match (r, &record.error) {
            (_, Some(e)) => format!("FAILED: {e}"),
            (Some(r), None) => match record.phase {
                Phase::Bulk => format!(
                    "{:>6.2} M rec/s, {:>5.3} CPU-s/M, {:>4.0} MB, first {:.2}s",
                    r.records as f64 / r.seconds / 1e6,
                    (r.cpu_user + r.cpu_sys) / r.records as f64 * 1e6,
                    r.max_rss_bytes as f64 / 1e6,
                    r.first_record_seconds
                ),
                Phase::Latency => r.latency.map_or("no latency measured".to_owned(), |l| {
                    format!(
                        "p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms over {} records",
                        l.p50_us as f64 / 1e3,
                        l.p99_us as f64 / 1e3,
                        l.p999_us as f64 / 1e3,
                        l.count
                    )
                }),
                Phase::Rebalance => match pauses(record) {
                    Some(p) => format!(
                        "moved {} max pause {:.0} ms, stayed {} max pause {:.0} ms, baseline {:.0} ms",
                        p.moved.len(),
                        max_of(&p.moved),
                        p.stayed.len(),
                        max_of(&p.stayed),
                        p.baseline_ms
                    ),
                    None => "no pause figures".to_owned(),
                },
                Phase::Scale => format!(
                    "all partitions after {:.2}s, idle {:.1} ms CPU/s, RSS {:.0} MB",
                    r.all_partitions_seconds.unwrap_or(f64::NAN),
                    idle_cpu_ms_per_s(r).unwrap_or(f64::NAN),
                    r.rss_bytes.unwrap_or(0) as f64 / 1e6
                ),
            },
            (None, None) => "no report".to_owned(),
        };
        eprintln!(
            "bench-compare: {:<9} {:<11} round {} {:<18} {what}, broker {:.2} CPU-s (CPUs idle {:.0}%)",
            record.phase.name(),
            record.case,
            record.round,
            record.client,
            record.broker_cpu_seconds.unwrap_or(f64::NAN),
            record.cpu_idle_before * 100.0
        );
    }

    fn save(&mut self, record: &RunRecord) -> Result<()> {
        self.log(record);
        writeln!(self.out, "{}", serde_json::to_string(record)?)?;
        self.out.flush()?;
        Ok(())
    }

    /// One run of one client: one process (or two, for rebalance), bounded by the timeout.
    #[allow(
        clippy::disallowed_methods,
        reason = "a synchronous driver: no async runtime here to block"
    )]
    fn run_one(
        &mut self,
        phase: Phase,
        case: &str,
        client: &'static ClientInfo,
        round: u32,
        kv: Vec<(String, String)>,
        idle_cpus: &[u32],
    ) -> Result<RunRecord> {
        let idle = wait_for_idle(idle_cpus, self.idle_wait)?;
        let broker_before = self.broker_cpu()?;
        let started = Instant::now();
        let deadline = started + self.timeout;
        let mut record = RunRecord {
            phase,
            case: case.to_owned(),
            client: client.name.to_owned(),
            round,
            report: None,
            report_b: None,
            join_us: 0,
            end_us: 0,
            error: None,
            broker_cpu_seconds: None,
            cpu_idle_before: idle,
            wall_seconds: 0.0,
        };
        let result: Result<()> = (|| {
            if phase == Phase::Rebalance {
                let w = windows();
                let end_us = now_us() + (w.rebalance_alone + w.rebalance_after).as_micros() as u64;
                let group = format!("bench-rebalance-{}-{case}-{round}-{}", client.name, now_us());
                let mut kv = kv;
                kv.push(("group".to_owned(), group));
                kv.push(("until_ms".to_owned(), (end_us / 1000).to_string()));
                let a = start(self.programs.command(client, "rebalance", &kv)?)?;
                std::thread::sleep(w.rebalance_alone);
                record.join_us = now_us();
                record.end_us = end_us;
                let b = start(self.programs.command(client, "rebalance", &kv)?);
                let report_a = finish(a, deadline);
                let report_b = b.and_then(|b| finish(b, deadline));
                record.report = Some(report_a.context("first member")?);
                record.report_b = Some(report_b.context("second member")?);
            } else {
                let mode = phase.name();
                let running = start(self.programs.command(client, mode, &kv)?)?;
                record.report = Some(finish(running, deadline)?);
            }
            Ok(())
        })();
        if let Err(e) = result {
            record.error = Some(format!("{e:#}"));
        }
        record.wall_seconds = started.elapsed().as_secs_f64();
        let broker_after = self.broker_cpu()?;
        record.broker_cpu_seconds = broker_before.zip(broker_after).map(|(a, b)| b - a);
        self.save(&record)?;
        Ok(record)
    }
}

/// Settling probes before a steady phase: at most this many, each a short latency run.
const SETTLE_MAX_PROBES: u32 = 24;
/// A probe passes when its p50 is below this many milliseconds...
const SETTLE_P50_MS: f64 = 20.0;
/// ...and it measured at least this share of the records the producer should have written.
const SETTLE_MIN_SHARE: f64 = 0.9;
/// The measure window of one probe (after a 1 s warm-up).
const SETTLE_PROBE: Duration = Duration::from_secs(4);

impl Driver {
    /// Waits until the steady producer and the broker keep up before the phase's first measured
    /// run. Right after the producer starts (and while the broker's JIT warms up; both share CPU
    /// 0) records queue in the producer and every client sees seconds of delay, the same for all;
    /// measuring then compares the harness, not the consumers. So kafkit (merged, low-latency
    /// settings) probes the stream until one probe's p50 is below `SETTLE_P50_MS` with at least
    /// `SETTLE_MIN_SHARE` of the records due, or `SETTLE_MAX_PROBES` have run. Each probe is
    /// saved as a latency run of case `settle-<phase>`, so the report shows how long it took.
    fn settle(&mut self, phase: Phase, bootstrap: &str, timeout_ms: &str, idle_cpus: &[u32]) -> Result<()> {
        let case = format!("settle-{}", phase.name());
        let kafkit = &CLIENTS[0];
        let base = kv(&[
            ("bootstrap", bootstrap.to_owned()),
            ("topics", STEADY_TOPIC.to_owned()),
            ("partitions", PARTITIONS.to_string()),
            ("settings", "lowlat".to_owned()),
            ("warmup_ms", "1000".to_owned()),
            ("duration_ms", SETTLE_PROBE.as_millis().to_string()),
            ("timeout_ms", timeout_ms.to_owned()),
        ]);
        let due = STEADY_RATE as f64 * SETTLE_PROBE.as_secs_f64();
        for probe in 1..=SETTLE_MAX_PROBES {
            let record = self.run_one(Phase::Latency, &case, kafkit, probe, base.clone(), idle_cpus)?;
            let settled = record
                .report
                .as_ref()
                .and_then(|r| r.latency.as_ref())
                .is_some_and(|l| {
                    l.p50_us as f64 / 1e3 < SETTLE_P50_MS && l.count as f64 >= SETTLE_MIN_SHARE * due
                });
            if settled {
                eprintln!("bench-compare: the steady stream settled after {probe} probe(s)");
                return Ok(());
            }
        }
        eprintln!(
            "bench-compare: the steady stream did not settle in {SETTLE_MAX_PROBES} probes; measuring anyway (the report says so)"
        );
        Ok(())
    }
}

fn kv(pairs: &[(&str, String)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect()
}

#[allow(
    clippy::disallowed_methods,
    reason = "a synchronous driver: no async runtime here to block"
)]
fn run() -> Result<()> {
    let bootstrap = env("BENCH_BOOTSTRAP").context("BENCH_BOOTSTRAP is not set")?;
    let dir = results_dir();
    std::fs::create_dir_all(&dir)?;
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("runs.jsonl"))?;
    let mut driver = Driver {
        broker_pid: env("BENCH_BROKER_PID").map(|p| p.parse()).transpose()?,
        rounds: env_or("BENCH_ROUNDS", 3)?,
        timeout: Duration::from_secs(env_or("BENCH_TIMEOUT", 180)?),
        idle_wait: Duration::from_secs(env_or("BENCH_IDLE_WAIT", 30)?),
        programs: Programs::from_env()?,
        out,
        bootstrap,
    };
    let cpu = driver.programs.cpu;
    let clients = clients()?;
    let w = windows();
    let timeout_ms = (driver.timeout.as_millis() as u64).to_string();
    let bootstrap = driver.bootstrap.clone();
    for phase in phases()? {
        let cases: Vec<String> = match phase {
            Phase::Bulk => datasets()?.iter().map(|d| d.name.to_owned()).collect(),
            Phase::Latency => vec!["default".to_owned(), "lowlat".to_owned()],
            Phase::Rebalance => vec![
                "eager".to_owned(),
                "cooperative".to_owned(),
                "consumer".to_owned(),
            ],
            Phase::Scale => vec!["scale".to_owned()],
        };
        // The steady producer of the phase, if it has one (dropped, so killed, at the phase's end).
        let _producer = match phase {
            Phase::Bulk => None,
            Phase::Latency | Phase::Rebalance => Some(start_producer(
                &[STEADY_TOPIC.to_owned()],
                PARTITIONS,
                STEADY_RATE,
                7200,
            )?),
            Phase::Scale => {
                let p = start_producer(&scale_topics(), SCALE_PARTITIONS, SCALE_RATE, 7200)?;
                // Every partition has a record before the first consumer starts.
                let fill = Duration::from_secs_f64(
                    (SCALE_TOPICS * SCALE_PARTITIONS as usize) as f64 / SCALE_RATE as f64 + 2.0,
                );
                eprintln!("bench-compare: waiting {fill:?} until every scale partition has a record");
                std::thread::sleep(fill);
                Some(p)
            }
        };
        // With a producer running on the broker's CPU, only the consumers' CPU is waited for.
        let idle_cpus: Vec<u32> = if phase == Phase::Bulk {
            vec![0, cpu]
        } else {
            vec![cpu]
        };
        if matches!(phase, Phase::Latency | Phase::Rebalance) {
            driver.settle(phase, &bootstrap, &timeout_ms, &idle_cpus)?;
        }
        for case in &cases {
            let base: Vec<(String, String)> = match phase {
                Phase::Bulk => {
                    let dataset = Dataset::by_name(case).context("unknown data set")?;
                    let records = dataset.records(quick());
                    kv(&[
                        ("bootstrap", bootstrap.clone()),
                        ("topics", dataset.topic(records)),
                        ("partitions", PARTITIONS.to_string()),
                        ("records", records.to_string()),
                        ("settings", "throughput".to_owned()),
                    ])
                }
                Phase::Latency => kv(&[
                    ("bootstrap", bootstrap.clone()),
                    ("topics", STEADY_TOPIC.to_owned()),
                    ("partitions", PARTITIONS.to_string()),
                    ("settings", case.clone()),
                    ("warmup_ms", w.latency_warmup.as_millis().to_string()),
                    ("duration_ms", w.latency_measure.as_millis().to_string()),
                ]),
                Phase::Rebalance => kv(&[
                    ("bootstrap", bootstrap.clone()),
                    ("topics", STEADY_TOPIC.to_owned()),
                    ("partitions", PARTITIONS.to_string()),
                    ("settings", "default".to_owned()),
                    ("protocol", case.clone()),
                    ("gap_ms", DEFAULT_GAP_MS.to_string()),
                ]),
                Phase::Scale => kv(&[
                    ("bootstrap", bootstrap.clone()),
                    ("topics", scale_topics().join(",")),
                    ("partitions", SCALE_PARTITIONS.to_string()),
                    ("settings", "default".to_owned()),
                    ("idle_ms", w.scale_idle.as_millis().to_string()),
                ]),
            };
            for round in 1..=driver.rounds {
                for client in &clients {
                    if (client.not_applicable)(phase, case).is_some() {
                        continue;
                    }
                    let mut kv = base.clone();
                    kv.push(("timeout_ms".to_owned(), timeout_ms.clone()));
                    driver.run_one(phase, case, client, round, kv, &idle_cpus)?;
                }
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// analysis

/// Per-partition pauses of one rebalance run, milliseconds.
struct Pauses {
    /// Partitions whose last delivery came from the second member.
    moved: Vec<f64>,
    /// Partitions the first member still delivered at the end.
    stayed: Vec<f64>,
    /// Longest gap of any partition in the window before the join (the normal cadence).
    baseline_ms: f64,
    /// Partitions that delivered nothing in the last second (stuck after the rebalance).
    stuck: usize,
}

fn max_of(v: &[f64]) -> f64 {
    v.iter().copied().fold(0.0, f64::max)
}

/// For each partition: the longest time after the join in which no member delivered a record (the
/// delivery runs of both members merged; gaps shorter than the run threshold count as none).
fn pauses(record: &RunRecord) -> Option<Pauses> {
    let a = record.report.as_ref()?.partitions.as_ref()?;
    let b = record.report_b.as_ref()?.partitions.as_ref()?;
    let w = windows();
    let join = record.join_us;
    let end = record.end_us;
    let baseline_from = join.saturating_sub(w.rebalance_baseline.as_micros() as u64);
    // Per partition: delivery intervals [from, to] in µs, and whether the second member had them.
    type Intervals = Vec<([u64; 2], bool)>;
    let mut by_partition: BTreeMap<(String, i32), Intervals> = BTreeMap::new();
    let mut add = |timelines: &[PartitionTimeline], second: bool| {
        for t in timelines {
            let entry = by_partition.entry((t.topic.clone(), t.partition)).or_default();
            entry.extend(t.intervals.iter().map(|i| (*i, second)));
        }
    };
    add(a, false);
    add(b, true);
    let mut pauses = Pauses {
        moved: Vec::new(),
        stayed: Vec::new(),
        baseline_ms: 0.0,
        stuck: 0,
    };
    for intervals in by_partition.values_mut() {
        intervals.sort_by_key(|(i, _)| i[0]);
        let mut longest = 0u64;
        let mut covered_to = 0u64;
        for (i, _) in intervals.iter() {
            if covered_to > 0 && i[0] > covered_to {
                let (gap_start, gap_end) = (covered_to, i[0]);
                if gap_end > join {
                    longest = longest.max(gap_end - gap_start.max(join));
                } else if gap_start >= baseline_from {
                    pauses.baseline_ms = pauses.baseline_ms.max((gap_end - gap_start) as f64 / 1e3);
                }
            }
            covered_to = covered_to.max(i[1]);
        }
        // A partition silent at the end: its pause lasts to the end of the run.
        let stop = end.saturating_sub(1_000_000);
        if covered_to < stop {
            longest = longest.max(end - covered_to.max(join));
            pauses.stuck += 1;
        }
        let last_from_second = intervals
            .iter()
            .max_by_key(|(i, _)| i[1])
            .is_some_and(|(_, second)| *second);
        let ms = longest as f64 / 1e3;
        if last_from_second {
            pauses.moved.push(ms);
        } else {
            pauses.stayed.push(ms);
        }
    }
    Some(pauses)
}

fn idle_cpu_ms_per_s(r: &RunReport) -> Option<f64> {
    Some(r.idle_cpu_seconds? / r.idle_seconds? * 1e3)
}

// ---------------------------------------------------------------------------------------------
// report

/// Median, min, max of a non-empty list.
fn stats(mut values: Vec<f64>) -> Option<(f64, f64, f64)> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    let median = if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    };
    Some((median, values[0], values[n - 1]))
}

/// `median (min–max)` scaled and rounded, or a dash.
fn fmt3(s: Option<(f64, f64, f64)>, scale: f64, digits: usize, unit: &str) -> String {
    match s {
        Some((med, min, max)) if (max - min).abs() < f64::EPSILON => {
            format!("{:.digits$}{unit}", med / scale)
        }
        Some((med, min, max)) => format!(
            "{:.digits$}{unit} ({:.digits$}–{:.digits$})",
            med / scale,
            min / scale,
            max / scale
        ),
        None => "—".to_owned(),
    }
}

fn fmt1(s: Option<(f64, f64, f64)>, scale: f64, digits: usize) -> String {
    s.map_or("—".to_owned(), |s| format!("{:.digits$}", s.0 / scale))
}

/// kafkit's median ÷ the peer's, or a dash.
fn ratio(kafkit: Option<(f64, f64, f64)>, peer: Option<(f64, f64, f64)>) -> String {
    match (kafkit, peer) {
        (Some(a), Some(b)) if b.0 > 0.0 => format!("{:.2}", a.0 / b.0),
        (Some(a), Some(b)) if a.0 == 0.0 && b.0 == 0.0 => "1.00".to_owned(),
        _ => "—".to_owned(),
    }
}

/// `key=value` lines written by the script (machine, broker, flags, date).
fn read_meta(path: &Path) -> BTreeMap<String, String> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return BTreeMap::new();
    };
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

/// The version of `package` in the workspace's Cargo.lock.
fn locked_version(lock: &str, package: &str) -> String {
    let needle = format!("name = \"{package}\"");
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == needle
            && let Some(v) = lines.next().and_then(|l| l.trim().strip_prefix("version = "))
        {
            return v.trim_matches('"').to_owned();
        }
    }
    "?".to_owned()
}

/// Failed runs and runs started on a busy CPU, under a table.
fn notes(md: &mut String, runs: &[&RunRecord]) -> Result<()> {
    let failures: Vec<&&RunRecord> = runs.iter().filter(|r| r.error.is_some()).collect();
    if !failures.is_empty() {
        writeln!(md, "\nFailed runs:\n")?;
        for f in failures {
            let e: String = f.error.as_deref().unwrap_or_default().chars().take(300).collect();
            writeln!(
                md,
                "- {} {} round {}: {}",
                f.client,
                f.case,
                f.round,
                e.replace('|', "\\|").replace('\n', " ")
            )?;
        }
    }
    let busy: Vec<String> = runs
        .iter()
        .filter(|r| r.cpu_idle_before < 0.9)
        .map(|r| {
            format!(
                "{} {} round {} ({:.0}% idle)",
                r.client,
                r.case,
                r.round,
                r.cpu_idle_before * 100.0
            )
        })
        .collect();
    if !busy.is_empty() {
        writeln!(
            md,
            "\nStarted while a measured CPU was busy with other work (figures less reliable): {}.",
            busy.join(", ")
        )?;
    }
    writeln!(md)?;
    Ok(())
}

/// The row of a client that sits this table out, if it does (kafkit's rows always show, so the
/// column waiting for it is visible).
/// How the steady stream settled before a phase's measured runs (see `Driver::settle`).
fn settle_note(md: &mut String, runs: &[RunRecord], phase: Phase) -> Result<()> {
    let case = format!("settle-{}", phase.name());
    let probes: Vec<&RunRecord> = runs.iter().filter(|r| r.case == case).collect();
    if probes.is_empty() {
        return Ok(());
    }
    let p50s: Vec<String> = probes
        .iter()
        .map(|r| {
            r.report
                .as_ref()
                .and_then(|r| r.latency.as_ref())
                .map_or("failed".to_owned(), |l| format!("{:.1}", l.p50_us as f64 / 1e3))
        })
        .collect();
    let settled = probes.iter().any(|r| {
        r.report
            .as_ref()
            .and_then(|r| r.latency.as_ref())
            .is_some_and(|l| {
                l.p50_us as f64 / 1e3 < SETTLE_P50_MS
                    && l.count as f64 >= SETTLE_MIN_SHARE * STEADY_RATE as f64 * SETTLE_PROBE.as_secs_f64()
            })
    });
    writeln!(
        md,
        "**Settling.** After the steady producer starts, records first queue in it and the broker beside it warms up: every client then sees seconds of delay, which measures the harness. Before the first measured run kafkit (merged, low-latency settings) probed the stream for {} s at a time until a probe's p50 was below {SETTLE_P50_MS} ms with at least {:.0}% of the records due. {} probe(s), p50 ms each: {}{}.\n",
        SETTLE_PROBE.as_secs(),
        SETTLE_MIN_SHARE * 100.0,
        probes.len(),
        p50s.join(" → "),
        if settled {
            ""
        } else {
            " (**it did not settle**: read the figures below with that in mind)"
        }
    )?;
    Ok(())
}

fn not_applicable_row(
    md: &mut String,
    c: &ClientInfo,
    phase: Phase,
    case: &str,
    columns: usize,
) -> Result<()> {
    if let Some(why) = (c.not_applicable)(phase, case)
        && (c.name == "kafkit-merged" || phase != Phase::Rebalance || why.starts_with("KIP"))
    {
        writeln!(md, "| {} | n/a: {why} |{}", c.label, " |".repeat(columns - 2))?;
    }
    Ok(())
}

fn report() -> Result<()> {
    let dir = results_dir();
    let out_path = env("BENCH_OUT").map_or_else(|| PathBuf::from("benches/RESULTS.md"), PathBuf::from);
    let runs: Vec<RunRecord> = match std::fs::File::open(dir.join("runs.jsonl")) {
        Ok(f) => std::io::BufReader::new(f)
            .lines()
            .map(|l| Ok(serde_json::from_str(&l?)?))
            .collect::<Result<_>>()?,
        Err(e) => return Err(e).context("no runs.jsonl: run `bench-compare run` first"),
    };
    let meta = read_meta(&dir.join("meta.env"));
    let lock = std::fs::read_to_string("Cargo.lock").unwrap_or_default();
    let m = |k: &str| meta.get(k).cloned().unwrap_or_else(|| "?".to_owned());
    let quick = m("quick") == "1";
    let w = windows_of(quick || m("quick_windows") == "1");

    let mut md = String::new();
    writeln!(
        md,
        "# kafkit vs its peers: throughput, latency, rebalance pause, scale\n"
    )?;
    writeln!(
        md,
        "Generated by `scripts/bench-compare.sh {}` (see `benches/src/bin/bench-compare.rs`); do not edit by hand.\n",
        m("args")
    )?;
    if let Some(note) = meta.get("note") {
        writeln!(md, "> **{note}**\n")?;
    }
    writeln!(md, "- **Date:** {}", m("date"))?;
    writeln!(
        md,
        "- **Machine:** {} CPUs, {}; load average before the run: {}; after it: {}",
        m("nproc"),
        m("cpu_model"),
        m("loadavg"),
        m("loadavg_after")
    )?;
    writeln!(
        md,
        "- **Sizes:** bulk data sets {}; latency/rebalance/scale windows {} (see each section).",
        if quick {
            "at a tenth of their full size (`--quick`)"
        } else {
            "at full size"
        },
        if quick || m("quick_windows") == "1" {
            "short (`--quick` or `--quick-windows`)"
        } else {
            "full"
        }
    )?;
    writeln!(
        md,
        "- **Broker:** {}; pinned to CPU 0 (started under `taskset -c 0`, then `taskset -a -p -c 0`). Broker CPU is its user+sys time during each run (`/proc/PID/stat`).",
        m("broker")
    )?;
    writeln!(
        md,
        "- **Consumers:** each run is its own process, pinned to CPU 1 (`taskset -c 1`); the Rust clients run on a single-threaded tokio runtime, all in one binary (`bench-consumer CLIENT MODE …`; only the pages a run touches count towards its RSS); the Java consumer runs in its own JVM with the JVM's defaults for one CPU; franz-go is its own Go binary. Every client gets a fresh group id per run and exits without a graceful close once it has reported. Runs are interleaved (every client once per round; rounds: {}); before each run the driver waits (up to {} s) for the measured CPUs to be ≥ 90% idle.",
        m("rounds"),
        m("idle_wait")
    )?;
    writeln!(
        md,
        "- **Versions:** kafkit {} (this tree, commit {}); Java kafka-clients {} on {}; franz-go {} ({}); confluent-kafka {}; rdkafka {} (librdkafka {}); krafka {}; rskafka {}.\n",
        locked_version(&lock, "kafkit"),
        m("commit"),
        m("kafka_version"),
        m("java_version"),
        m("franz_version"),
        m("go_version"),
        locked_version(&lock, "confluent-kafka"),
        locked_version(&lock, "rdkafka"),
        locked_version(&lock, "rdkafka-sys")
            .split('+')
            .nth(1)
            .unwrap_or("?"),
        locked_version(&lock, "krafka"),
        locked_version(&lock, "rskafka")
    )?;

    writeln!(md, "## Client settings\n")?;
    writeln!(
        md,
        "Three profiles. **throughput** (bulk): each client's documented high-throughput settings below. **default** (latency, rebalance, scale): the client's own defaults; only bootstrap, group id, offset reset and (classic groups) `session.timeout.ms=6000` are set. **lowlat** (latency): `fetch.min.bytes=1` and a fetch max wait of {LOW_LATENCY_FETCH_WAIT_MS} ms, in each client's words. Rebalance members also get `heartbeat.interval.ms=1000` (classic; the consumer protocol's heartbeat is the broker's, 1 s here) and the protocol of the table.\n"
    )?;
    writeln!(
        md,
        "| client | throughput | lowlat | rebalance: eager / cooperative / consumer |\n|---|---|---|---|"
    )?;
    writeln!(
        md,
        "| kafkit | `fetch.max.bytes=67108864`, `max.partition.fetch.bytes=4194304`, `fetch.wait.max.ms=100`, auto-commit on | `fetch.min.bytes=1`, `fetch.wait.max.ms=10` | `partition.assignment.strategy=range` / `cooperative-sticky` / — |"
    )?;
    writeln!(
        md,
        "| Java KafkaConsumer | `fetch.max.bytes=67108864`, `max.partition.fetch.bytes=4194304`, `max.poll.records=10000`, `receive.buffer.bytes=2097152`, `fetch.max.wait.ms=100`, `ByteArrayDeserializer`, `poll(100 ms)` | `fetch.min.bytes=1`, `fetch.max.wait.ms=10` | `RangeAssignor` / `CooperativeStickyAssignor` / `group.protocol=consumer` |"
    )?;
    writeln!(
        md,
        "| ConsumerPerformance | `--fetch-size 4194304` (`max.partition.fetch.bytes`), its own `receive.buffer.bytes=2097152` and `check.crcs=false`, plus `fetch.max.bytes=67108864`, `max.poll.records=10000`, `fetch.max.wait.ms=100` in `--consumer.config`; records/s is its `fetch.nMsg.sec` (excludes its join), first record is its `rebalance.time.ms` | — | — |"
    )?;
    writeln!(
        md,
        "| franz-go | `FetchMaxBytes(64 MiB)`, `FetchMaxPartitionBytes(4 MiB)`, `FetchMaxWait(100 ms)`, `PollFetches` + `EachRecord` | `FetchMinBytes(1)`, `FetchMaxWait(10 ms)` | `RangeBalancer` / `CooperativeStickyBalancer` / `ServerSideBalancer` |"
    )?;
    writeln!(
        md,
        "| confluent-kafka (Rust) | `group.protocol=consumer` always; `fetch.max.bytes=67108864`, `max.partition.fetch.bytes=4194304`, `max.poll.records=10000`, `fetch.max.wait.ms=100`, `BytesDeserializer` (zero-copy), `poll(100 ms)` | `fetch.min.bytes=1`, `fetch.max.wait.ms=10` | — / — / the broker's assignor |"
    )?;
    writeln!(
        md,
        "| rdkafka (both) | `fetch.max.bytes=67108864`, `max.partition.fetch.bytes=4194304`, `fetch.wait.max.ms=100`, `queued.min.messages=1000000`, `queued.max.messages.kbytes=262144`; StreamConsumer: `subscribe` + `recv()`; BaseConsumer: `assign` all partitions + `poll()` on a blocking thread, auto-commit off | `fetch.min.bytes=1`, `fetch.wait.max.ms=10` | `range` / `cooperative-sticky` / `group.protocol=consumer` (StreamConsumer only) |"
    )?;
    writeln!(
        md,
        "| krafka | `fetch_max_bytes` 64 MiB, `max_partition_fetch_bytes` 4 MiB, `max_poll_records` 10000, `max_buffered_records` 100000, `fetch_max_wait` 100 ms, `subscribe` + `poll(100 ms)` | `fetch_min_bytes(1)`, `fetch_max_wait` 10 ms | `Range` / `CooperativeSticky` / `GroupProtocol::Consumer` |"
    )?;
    writeln!(
        md,
        "| rskafka | one `PartitionClient` and task per partition, `fetch_records(offset, 1 B..4 MiB, 100 ms)` (default profile: 1 MiB, 500 ms) | 1 MiB, 10 ms | — (no groups) |\n"
    )?;
    if meta.get("rdkafka_zstd").map(String::as_str) == Some("1") {
        writeln!(
            md,
            "librdkafka is built by rdkafka-sys with its bundled lz4 and, for this harness only, zstd (feature `rdkafka-zstd` of kafkit-benches). confluent-kafka reads zstd through the `zstd` crate (C libzstd) and lz4 with `lz4_flex`; the Java client through zstd-jni and lz4-java; franz-go and kafkit in pure Go and pure Rust.\n"
        )?;
    } else {
        writeln!(
            md,
            "This run built librdkafka without zstd (`--no-rdkafka-zstd`), so the rdkafka peers cannot read the zstd data set: their zstd rows fail.\n"
        )?;
    }

    let in_phase = |phase: Phase| -> Vec<&RunRecord> { runs.iter().filter(|r| r.phase == phase).collect() };
    let of = |rs: &[&RunRecord], case: &str, client: &str| -> Vec<RunRecord> {
        rs.iter()
            .filter(|r| r.case == case && r.client == client)
            .map(|r| (*r).clone())
            .collect()
    };
    let reports =
        |rs: &[RunRecord]| -> Vec<RunReport> { rs.iter().filter_map(|r| r.report.clone()).collect() };

    // --- bulk ---------------------------------------------------------------------------------
    let bulk = in_phase(Phase::Bulk);
    if !bulk.is_empty() {
        writeln!(md, "## Bulk reads\n")?;
        writeln!(
            md,
            "Each data set is produced once (8 partitions, by rskafka, one batch of ≤ {} KiB uncompressed per partition per request, high watermarks verified; values are 100- or 1000-byte JSON-like text padded with pseudo-random letter runs, no keys) and read from the start by each client. records/s is from the first record to the last; CPU is the consumer process's user+sys time for the whole run, including start-up, connecting and joining (so a JVM's start-up and JIT count), per million records; broker CPU is per million records too. Figures are medians (min–max) over the successful rounds. Ratios are kafkit merged ÷ the row's client: above 1 for records/s and below 1 for CPU means kafkit is ahead.\n",
            BATCH_BYTES / 1024
        )?;
        for dataset in DATASETS {
            if !bulk.iter().any(|r| r.case == dataset.name) {
                continue;
            }
            writeln!(
                md,
                "### {}: {} records × {} B, {}\n",
                dataset.name,
                dataset.records(quick),
                dataset.value_bytes,
                if dataset.codec == Codec::None {
                    "uncompressed".to_owned()
                } else {
                    format!("{}-compressed", dataset.codec.name())
                },
            )?;
            writeln!(
                md,
                "| client | records/s first→last | CPU-s per M records | peak RSS MB | time to first record s | broker CPU-s per M records | kafkit/peer records/s | kafkit/peer CPU | ok runs |"
            )?;
            writeln!(md, "|---|---|---|---|---|---|---|---|---|")?;
            let rate = |rs: &[RunReport]| stats(rs.iter().map(|r| r.records as f64 / r.seconds).collect());
            let cpu = |rs: &[RunReport]| {
                stats(
                    rs.iter()
                        .map(|r| (r.cpu_user + r.cpu_sys) / r.records as f64 * 1e6)
                        .collect(),
                )
            };
            let reference = reports(&of(&bulk, dataset.name, CLIENTS[0].name));
            let (ref_rate, ref_cpu) = (rate(&reference), cpu(&reference));
            for c in &CLIENTS {
                let rs = of(&bulk, dataset.name, c.name);
                if rs.is_empty() {
                    not_applicable_row(&mut md, c, Phase::Bulk, dataset.name, 9)?;
                    continue;
                }
                let ok = reports(&rs);
                let broker = stats(
                    rs.iter()
                        .filter_map(|r| Some(r.broker_cpu_seconds? / r.report.as_ref()?.records as f64 * 1e6))
                        .collect(),
                );
                let (r, u) = (rate(&ok), cpu(&ok));
                writeln!(
                    md,
                    "| {} | {} | {} | {} | {} | {} | {} | {} | {}/{} |",
                    c.label,
                    fmt3(r, 1e6, 2, " M"),
                    fmt3(u, 1.0, 3, ""),
                    fmt1(stats(ok.iter().map(|r| r.max_rss_bytes as f64).collect()), 1e6, 0),
                    fmt1(stats(ok.iter().map(|r| r.first_record_seconds).collect()), 1.0, 2),
                    fmt1(broker, 1.0, 3),
                    ratio(ref_rate, r),
                    ratio(ref_cpu, u),
                    ok.len(),
                    rs.len()
                )?;
            }
            let these: Vec<&RunRecord> = bulk.iter().filter(|r| r.case == dataset.name).copied().collect();
            notes(&mut md, &these)?;
        }
    }

    // --- latency ------------------------------------------------------------------------------
    let latency = in_phase(Phase::Latency);
    if latency.iter().any(|r| r.case == "default" || r.case == "lowlat") {
        writeln!(md, "## Latency at a steady {STEADY_RATE} records/s\n")?;
        writeln!(
            md,
            "A producer process (rdkafka, `linger.ms=0`, `acks=1`, on CPU 0 beside the broker) writes {STEADY_RATE} records/s of {STEADY_VALUE_BYTES} B round-robin over the 8 partitions of `{STEADY_TOPIC}`; each value starts with its create time in microseconds (the record's create timestamp is the same instant in milliseconds). Each consumer starts at the end of the log, ignores the first {} s after its first record, then records for {} s, per record, the delay from the create time to the moment the application has the record. Percentiles are per run; the table shows the median over rounds (min–max). The delay includes the producer's own send path and the broker, which are the same for every client. CPU is the consumer's whole process over its run, as a share of one core. Ratios are kafkit merged ÷ the row's client: below 1 means kafkit delivers sooner.\n",
            w.latency_warmup.as_secs(),
            w.latency_measure.as_secs()
        )?;
        settle_note(&mut md, &runs, Phase::Latency)?;
        for (case, title) in [
            ("default", "default settings"),
            ("lowlat", "low-latency settings"),
        ] {
            if !latency.iter().any(|r| r.case == case) {
                continue;
            }
            writeln!(md, "### {title}\n")?;
            writeln!(
                md,
                "| client | p50 ms | p99 ms | p99.9 ms | max ms | records measured | consumer CPU % | kafkit/peer p50 | kafkit/peer p99 | ok runs |"
            )?;
            writeln!(md, "|---|---|---|---|---|---|---|---|---|---|")?;
            let q = |rs: &[RunReport], f: fn(&kafkit_benches::Latency) -> u64| {
                stats(
                    rs.iter()
                        .filter_map(|r| r.latency.as_ref())
                        .map(|l| f(l) as f64)
                        .collect(),
                )
            };
            let reference = reports(&of(&latency, case, CLIENTS[0].name));
            for c in &CLIENTS {
                let rs = of(&latency, case, c.name);
                if rs.is_empty() {
                    not_applicable_row(&mut md, c, Phase::Latency, case, 10)?;
                    continue;
                }
                let ok = reports(&rs);
                let share = stats(
                    ok.iter()
                        .map(|r| (r.cpu_user + r.cpu_sys) / (r.first_record_seconds + r.seconds) * 100.0)
                        .collect(),
                );
                writeln!(
                    md,
                    "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {}/{} |",
                    c.label,
                    fmt3(q(&ok, |l| l.p50_us), 1e3, 2, ""),
                    fmt3(q(&ok, |l| l.p99_us), 1e3, 2, ""),
                    fmt3(q(&ok, |l| l.p999_us), 1e3, 2, ""),
                    fmt1(q(&ok, |l| l.max_us), 1e3, 1),
                    fmt1(q(&ok, |l| l.count), 1.0, 0),
                    fmt1(share, 1.0, 1),
                    ratio(q(&reference, |l| l.p50_us), q(&ok, |l| l.p50_us)),
                    ratio(q(&reference, |l| l.p99_us), q(&ok, |l| l.p99_us)),
                    ok.iter().filter(|r| r.latency.is_some()).count(),
                    rs.len()
                )?;
            }
            let these: Vec<&RunRecord> = latency.iter().filter(|r| r.case == case).copied().collect();
            notes(&mut md, &these)?;
        }
    }

    // --- rebalance ----------------------------------------------------------------------------
    let rebalance = in_phase(Phase::Rebalance);
    if !rebalance.is_empty() {
        writeln!(md, "## Rebalance pause\n")?;
        writeln!(
            md,
            "The steady producer writes {STEADY_RATE} records/s to `{STEADY_TOPIC}` (8 partitions). Member A (the client under test, default settings) joins a fresh group at the end of the log and reads alone for {} s; then member B, the same client, joins; both run until {} s after B started. Each member records, per partition, the runs of deliveries (records less than {DEFAULT_GAP_MS} ms apart). Merging both members' runs, a partition's **pause** is the longest time after B started in which neither member delivered a record of it (0 = never more than {DEFAULT_GAP_MS} ms; a partition silent at the end counts until the end). A partition **moved** if B delivered its last records, and **stayed** if A did. Per run the table takes the longest pause in each class; it shows the median over rounds (min–max). **Baseline** is the longest gap of any partition in the {} s before B started: the client's normal delivery cadence. Ratios are kafkit ÷ the row's client: below 1 means kafkit pauses less.\n",
            w.rebalance_alone.as_secs(),
            w.rebalance_after.as_secs(),
            w.rebalance_baseline.as_secs()
        )?;
        settle_note(&mut md, &runs, Phase::Rebalance)?;
        for (case, title) in [
            ("eager", "classic protocol, eager (range)"),
            ("cooperative", "classic protocol, cooperative-sticky"),
            ("consumer", "consumer protocol (KIP-848)"),
        ] {
            if !rebalance.iter().any(|r| r.case == case) && case != "consumer" {
                continue;
            }
            writeln!(md, "### {title}\n")?;
            writeln!(
                md,
                "| client | moved: longest pause ms | stayed: longest pause ms | partitions moved / stayed | baseline gap ms | kafkit/peer moved | kafkit/peer stayed | ok runs |"
            )?;
            writeln!(md, "|---|---|---|---|---|---|---|---|")?;
            let summary = |rs: &[RunRecord]| {
                let p: Vec<Pauses> = rs.iter().filter_map(pauses).collect();
                (
                    stats(
                        p.iter()
                            .filter(|p| !p.moved.is_empty())
                            .map(|p| max_of(&p.moved))
                            .collect(),
                    ),
                    stats(
                        p.iter()
                            .filter(|p| !p.stayed.is_empty())
                            .map(|p| max_of(&p.stayed))
                            .collect(),
                    ),
                    stats(p.iter().map(|p| p.moved.len() as f64).collect()),
                    stats(p.iter().map(|p| p.stayed.len() as f64).collect()),
                    stats(p.iter().map(|p| p.baseline_ms).collect()),
                    p.len(),
                    p.iter().map(|p| p.stuck).sum::<usize>(),
                )
            };
            let reference = summary(&of(&rebalance, case, CLIENTS[0].name));
            for c in &CLIENTS {
                let rs = of(&rebalance, case, c.name);
                if rs.is_empty() {
                    not_applicable_row(&mut md, c, Phase::Rebalance, case, 8)?;
                    continue;
                }
                let s = summary(&rs);
                writeln!(
                    md,
                    "| {} | {} | {} | {} / {} | {} | {} | {} | {}/{}{} |",
                    c.label,
                    fmt3(s.0, 1.0, 0, ""),
                    fmt3(s.1, 1.0, 0, ""),
                    fmt1(s.2, 1.0, 0),
                    fmt1(s.3, 1.0, 0),
                    fmt1(s.4, 1.0, 0),
                    ratio(reference.0, s.0),
                    ratio(reference.1, s.1),
                    s.5,
                    rs.len(),
                    if s.6 > 0 {
                        format!(", {} partitions stuck at the end", s.6)
                    } else {
                        String::new()
                    }
                )?;
            }
            let these: Vec<&RunRecord> = rebalance.iter().filter(|r| r.case == case).copied().collect();
            notes(&mut md, &these)?;
        }
    }

    // --- scale --------------------------------------------------------------------------------
    let scale = in_phase(Phase::Scale);
    if !scale.is_empty() {
        let total = SCALE_TOPICS * SCALE_PARTITIONS as usize;
        writeln!(md, "## Scale: {total} partitions over {SCALE_TOPICS} topics\n")?;
        writeln!(
            md,
            "{SCALE_TOPICS} topics of {SCALE_PARTITIONS} partitions; a producer (as above) trickles {SCALE_RATE} records/s round-robin over all {total} (one record per partition every {} s), and every partition has records before the first run. Each consumer (default settings) subscribes to all {SCALE_TOPICS} topics from the start; **time to all partitions** runs from creating the consumer until every one of the {total} partitions delivered a record; then the consumer stays subscribed for {} s while the trickle goes on: **idle CPU** is its user+sys time over that window per second, **RSS** its resident set at the end of it. Ratios are kafkit merged ÷ the row's client: below 1 means kafkit uses less.\n",
            total as u64 / SCALE_RATE,
            w.scale_idle.as_secs()
        )?;
        writeln!(
            md,
            "| client | time to all partitions s | idle CPU ms per s | RSS at end MB | peak RSS MB | broker CPU-s per run | kafkit/peer idle CPU | kafkit/peer RSS | ok runs |"
        )?;
        writeln!(md, "|---|---|---|---|---|---|---|---|---|")?;
        let reference = reports(&of(&scale, "scale", CLIENTS[0].name));
        let idle = |rs: &[RunReport]| stats(rs.iter().filter_map(idle_cpu_ms_per_s).collect());
        let rss = |rs: &[RunReport]| stats(rs.iter().filter_map(|r| r.rss_bytes).map(|b| b as f64).collect());
        for c in &CLIENTS {
            let rs = of(&scale, "scale", c.name);
            if rs.is_empty() {
                not_applicable_row(&mut md, c, Phase::Scale, "scale", 9)?;
                continue;
            }
            let ok = reports(&rs);
            writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {}/{} |",
                c.label,
                fmt3(
                    stats(ok.iter().filter_map(|r| r.all_partitions_seconds).collect()),
                    1.0,
                    2,
                    ""
                ),
                fmt3(idle(&ok), 1.0, 1, ""),
                fmt1(rss(&ok), 1e6, 0),
                fmt1(stats(ok.iter().map(|r| r.max_rss_bytes as f64).collect()), 1e6, 0),
                fmt1(
                    stats(rs.iter().filter_map(|r| r.broker_cpu_seconds).collect()),
                    1.0,
                    2
                ),
                ratio(idle(&reference), idle(&ok)),
                ratio(rss(&reference), rss(&ok)),
                ok.iter().filter(|r| r.idle_seconds.is_some()).count(),
                rs.len()
            )?;
        }
        notes(&mut md, &scale)?;
    }

    // --- build cost ---------------------------------------------------------------------------
    writeln!(md, "## Build cost of a minimal consumer\n")?;
    match std::fs::read_to_string(dir.join("build-cost.tsv")) {
        Ok(text) => {
            writeln!(
                md,
                "Clean `cargo build --release -j2` of the crates in `benches/minimal/<client>/` (each its own workspace, a fresh target dir, dependencies already downloaded), and the size of the binary after `strip`. Measured {}.\n",
                m("build_cost_when")
            )?;
            writeln!(
                md,
                "| client | build time s | stripped binary MB |\n|---|---|---|"
            )?;
            for line in text.lines() {
                let cols: Vec<&str> = line.split('\t').collect();
                if let [client, seconds, bytes] = cols[..] {
                    let mb = bytes
                        .parse::<f64>()
                        .map_or("failed".to_owned(), |b| format!("{:.1}", b / 1e6));
                    writeln!(md, "| {client} | {seconds} | {mb} |")?;
                }
            }
        }
        Err(_) => writeln!(md, "Not measured in this run (`--skip-build-cost` or `--quick`).")?,
    }
    std::fs::write(&out_path, md)?;
    eprintln!("bench-compare: wrote {}", out_path.display());
    Ok(())
}
