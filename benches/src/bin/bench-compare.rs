//! The driver behind `scripts/bench-compare.sh` (run that; it builds this, starts and pins the
//! broker, creates the topics, and passes the settings below as environment variables).
//!
//! ```text
//! bench-compare produce   produce every selected data set once and verify the high watermarks
//! bench-compare run       run every client on every data set in interleaved rounds; one JSON
//!                         line per run is appended to $BENCH_RESULTS_DIR/runs.jsonl
//! bench-compare report    write $BENCH_OUT (benches/RESULTS.md) from runs.jsonl, build-cost.tsv
//!                         and meta.env in $BENCH_RESULTS_DIR
//! ```
//!
//! Environment: `BENCH_BOOTSTRAP` (broker address), `BENCH_BROKER_PID` (its pid, to sample its CPU
//! time), `BENCH_DATASETS` (comma-separated; default all), `BENCH_CLIENTS` (default all),
//! `BENCH_ROUNDS` (default 3), `BENCH_QUICK=1` (a tenth of the records), `BENCH_TIMEOUT` (seconds
//! per run, default 180), `BENCH_CONSUMER` (path of `bench-consumer`), `BENCH_RESULTS_DIR`,
//! `BENCH_OUT`, `BENCH_CONSUMER_CPU` (default 1), `BENCH_IDLE_WAIT` (seconds to wait for idle
//! CPUs before each run, default 30).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use kafkit_benches::{Codec, DATASETS, Dataset, PARTITIONS, RunReport, record_value};
use serde::{Deserialize, Serialize};

/// The clients, in run and report order; the first is the reference for the ratios.
const CLIENTS: [(&str, &str); 6] = [
    ("kafkit-merged", "kafkit, group, merged `records()`"),
    ("kafkit-partitions", "kafkit, group, task per `PartitionStream`"),
    ("rdkafka-stream", "rdkafka 0.39 StreamConsumer, group"),
    ("rdkafka-assign", "rdkafka 0.39 BaseConsumer, assign"),
    ("krafka", "krafka 0.28, group, `poll()`"),
    ("rskafka", "rskafka 0.6, task per partition, no group"),
];

/// Uncompressed bytes per produced batch (one batch per partition per Produce request).
const BATCH_BYTES: usize = 512 * 1024;

/// One line of `runs.jsonl`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct RunRecord {
    dataset: String,
    client: String,
    round: u32,
    /// The consumer's report, if it read all its records in time.
    report: Option<RunReport>,
    /// Why the run failed, if it did.
    error: Option<String>,
    /// Broker CPU seconds (user+sys, all threads) during the run.
    broker_cpu_seconds: Option<f64>,
    /// Lowest idle fraction of the broker's and the consumer's CPU just before the run (other
    /// work on the machine).
    cpu_idle_before: f64,
    /// Wall-clock seconds of the whole consumer process.
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

fn datasets() -> Result<Vec<Dataset>> {
    match env("BENCH_DATASETS") {
        None => Ok(DATASETS.to_vec()),
        Some(list) => list
            .split(',')
            .map(|n| Dataset::by_name(n.trim()).with_context(|| format!("unknown data set '{n}'")))
            .collect(),
    }
}

fn clients() -> Result<Vec<&'static str>> {
    match env("BENCH_CLIENTS") {
        None => Ok(CLIENTS.iter().map(|(c, _)| *c).collect()),
        Some(list) => list
            .split(',')
            .map(|n| {
                CLIENTS
                    .iter()
                    .map(|(c, _)| *c)
                    .find(|c| *c == n.trim())
                    .with_context(|| format!("unknown client '{n}'"))
            })
            .collect(),
    }
}

fn results_dir() -> PathBuf {
    env("BENCH_RESULTS_DIR").map_or_else(|| PathBuf::from("target/bench-results"), PathBuf::from)
}

fn main() -> Result<()> {
    let command = std::env::args().nth(1).unwrap_or_default();
    match command.as_str() {
        "produce" => produce(),
        "run" => run(),
        "report" => report(),
        _ => bail!("usage: bench-compare produce|run|report (see scripts/bench-compare.sh)"),
    }
}

// ---------------------------------------------------------------------------------------------
// produce

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
            let timestamp = chrono::DateTime::from_timestamp_millis(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_millis() as i64)
                    .unwrap_or_default(),
            )
            .unwrap_or_default();
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

/// Waits (at most `max_wait`) until each of `cpus` was at least 90% idle over half a second
/// (the broker's CPU, idle between runs, and the consumers'); returns the lowest idle fraction
/// of the last half second.
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

/// Runs one consumer pinned to `cpu`, killed after `timeout`.
#[allow(
    clippy::disallowed_methods,
    reason = "a synchronous driver: no async runtime here to block"
)]
fn run_consumer(
    consumer: &Path,
    cpu: u32,
    client: &str,
    bootstrap: &str,
    topic: &str,
    records: u64,
    timeout: Duration,
) -> (Result<RunReport>, f64) {
    let started = Instant::now();
    let result = (|| {
        let mut child = Command::new("taskset")
            .arg("-c")
            .arg(cpu.to_string())
            .arg(consumer)
            .args([
                client,
                bootstrap,
                topic,
                &records.to_string(),
                &PARTITIONS.to_string(),
            ])
            .env("RUST_BACKTRACE", "0")
            .env("RUST_LIB_BACKTRACE", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("could not start taskset (util-linux)")?;
        // Drain stderr on a thread so a chatty client cannot block on a full pipe.
        let mut stderr = child.stderr.take().context("no stderr")?;
        let stderr_thread = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        let deadline = started + timeout;
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break Some(status);
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut stdout = String::new();
        if let Some(mut out) = child.stdout.take() {
            out.read_to_string(&mut stdout)?;
        }
        let stderr = stderr_thread.join().unwrap_or_default();
        // anyhow's "Error: ..." line and its causes, or else the last lines.
        let tail = match stderr.lines().position(|l| l.starts_with("Error:")) {
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
        };
        let Some(status) = status else {
            bail!("timed out after {}s; stderr: {tail}", timeout.as_secs());
        };
        if !status.success() {
            bail!("exited with {status}; stderr: {tail}");
        }
        let line = stdout
            .lines()
            .rfind(|l| l.starts_with('{'))
            .context("no JSON report on stdout")?;
        Ok(serde_json::from_str::<RunReport>(line)?)
    })();
    (result, started.elapsed().as_secs_f64())
}

fn run() -> Result<()> {
    let bootstrap = env("BENCH_BOOTSTRAP").context("BENCH_BOOTSTRAP is not set")?;
    let broker_pid: Option<u32> = env("BENCH_BROKER_PID").map(|p| p.parse()).transpose()?;
    let rounds: u32 = env_or("BENCH_ROUNDS", 3)?;
    let timeout = Duration::from_secs(env_or("BENCH_TIMEOUT", 180)?);
    let cpu: u32 = env_or("BENCH_CONSUMER_CPU", 1)?;
    let idle_wait = Duration::from_secs(env_or("BENCH_IDLE_WAIT", 30)?);
    let consumer = PathBuf::from(env("BENCH_CONSUMER").context("BENCH_CONSUMER is not set")?);
    let dir = results_dir();
    std::fs::create_dir_all(&dir)?;
    let mut out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("runs.jsonl"))?;
    let clients = clients()?;
    for dataset in datasets()? {
        let records = dataset.records(quick());
        let topic = dataset.topic(records);
        for round in 1..=rounds {
            for client in &clients {
                let idle = wait_for_idle(&[0, cpu], idle_wait)?;
                let broker_before = broker_pid.map(process_cpu_seconds).transpose()?;
                let (result, wall) =
                    run_consumer(&consumer, cpu, client, &bootstrap, &topic, records, timeout);
                let broker_after = broker_pid.map(process_cpu_seconds).transpose()?;
                let broker_cpu_seconds = broker_before.zip(broker_after).map(|(a, b)| b - a);
                let (report, error) = match result {
                    Ok(r) => (Some(r), None),
                    Err(e) => (None, Some(format!("{e:#}"))),
                };
                match (&report, &error) {
                    (Some(r), _) => eprintln!(
                        "bench-compare: {:<5} round {round} {client:<18} {:>6.2} M rec/s, {:>5.3} CPU-s/M, {:>4.0} MB, first {:.2}s, broker {:.2} CPU-s (CPUs idle {:.0}%)",
                        dataset.name,
                        r.records as f64 / r.seconds / 1e6,
                        (r.cpu_user + r.cpu_sys) / r.records as f64 * 1e6,
                        r.max_rss_bytes as f64 / 1e6,
                        r.first_record_seconds,
                        broker_cpu_seconds.unwrap_or(f64::NAN),
                        idle * 100.0
                    ),
                    (_, Some(e)) => eprintln!(
                        "bench-compare: {:<5} round {round} {client:<18} FAILED: {e}",
                        dataset.name
                    ),
                    _ => {}
                }
                let record = RunRecord {
                    dataset: dataset.name.to_owned(),
                    client: (*client).to_owned(),
                    round,
                    report,
                    error,
                    broker_cpu_seconds,
                    cpu_idle_before: idle,
                    wall_seconds: wall,
                };
                writeln!(out, "{}", serde_json::to_string(&record)?)?;
                out.flush()?;
            }
        }
    }
    Ok(())
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

    let mut md = String::new();
    writeln!(md, "# kafkit vs its peers: consumer throughput\n")?;
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
        "- **Machine:** {} CPUs, {}; load average before the run: {}",
        m("nproc"),
        m("cpu_model"),
        m("loadavg")
    )?;
    writeln!(
        md,
        "- **Broker:** {} on loopback, memory storage, flags `{}`; pinned to CPU 0 (`taskset -a -p -c 0`). `--group-initial-rebalance-delay 0s` makes a new group's first join immediate, so time to first record measures the client, not the broker's join delay.",
        m("broker"),
        m("broker_flags")
    )?;
    writeln!(
        md,
        "- **Consumers:** each run is its own process, pinned to CPU 1 (`taskset -c 1`), single-threaded tokio runtime, a fresh group id per run, `session.timeout.ms = 6000` for group clients; it reads exactly the data set's record count and sums the value lengths. All six clients live in one binary (`bench-consumer CLIENT …`); only the pages a run touches count towards its RSS. Runs are interleaved (every client once per round, rounds per data set: {}); before each run the driver waits (up to {} s) for CPUs 0 and 1 to be ≥ 90% idle.",
        m("rounds"),
        m("idle_wait")
    )?;
    writeln!(
        md,
        "- **Data:** {} partitions per topic, produced once per harness run by rskafka (one batch of ≤ {} KiB uncompressed per partition per Produce request), high watermarks verified. Values are 100- or 1000-byte JSON-like text padded with pseudo-random letter runs (compressible about like real events), no keys.",
        PARTITIONS,
        BATCH_BYTES / 1024,
    )?;
    writeln!(
        md,
        "- **Versions:** kafkit {} (this tree, commit {}), rdkafka {} (librdkafka {}), krafka {}, rskafka {}.\n",
        locked_version(&lock, "kafkit"),
        m("commit"),
        locked_version(&lock, "rdkafka"),
        locked_version(&lock, "rdkafka-sys")
            .split('+')
            .nth(1)
            .unwrap_or("?"),
        locked_version(&lock, "krafka"),
        locked_version(&lock, "rskafka")
    )?;

    writeln!(md, "## Client settings\n")?;
    writeln!(md, "| client | settings |\n|---|---|")?;
    writeln!(
        md,
        "| kafkit (both) | `fetch.max.bytes=67108864`, `max.partition.fetch.bytes=4194304`, `fetch.wait.max.ms=100`, `auto.offset.reset=earliest`, session timeout 6 s, auto-commit on (default) |"
    )?;
    writeln!(
        md,
        "| rdkafka (both) | `fetch.max.bytes=67108864`, `max.partition.fetch.bytes=4194304`, `fetch.wait.max.ms=100`, `queued.min.messages=1000000`, `queued.max.messages.kbytes=262144`, `auto.offset.reset=earliest`, `session.timeout.ms=6000`; StreamConsumer: `subscribe` + `recv()`, auto-commit on; BaseConsumer: `assign` all partitions at `Beginning` + `poll()` on a blocking thread, `enable.auto.commit=false` (librdkafka still needs a `group.id`) |"
    )?;
    writeln!(
        md,
        "| krafka | `fetch_max_bytes` 64 MiB, `max_partition_fetch_bytes` 4 MiB, `max_poll_records` 10000, `max_buffered_records` 100000, `fetch_max_wait` 100 ms, session timeout 6 s, earliest, `subscribe` + `poll(1s)` |"
    )?;
    writeln!(
        md,
        "| rskafka | one `PartitionClient` and task per partition, `fetch_records(offset, 1..4 MiB, 100 ms)` from offset 0 to the high watermark |\n"
    )?;
    if meta.get("rdkafka_zstd").map(String::as_str) == Some("1") {
        writeln!(
            md,
            "librdkafka is built by rdkafka-sys with its bundled lz4 and, for this harness only, zstd (feature `rdkafka-zstd` of kafkit-benches; workspace builds leave it off).\n"
        )?;
    }
    if meta.get("rdkafka_zstd").map(String::as_str) != Some("1") {
        writeln!(
            md,
            "This run built librdkafka without zstd (`--no-rdkafka-zstd`), so the rdkafka peers cannot read the zstd data set: their zstd rows fail.\n"
        )?;
    }

    writeln!(md, "## Results\n")?;
    writeln!(
        md,
        "records/s are measured from the first record to the last; CPU is the consumer process's user+sys time (`getrusage`) for the whole run, including connecting and joining, per million records; peak RSS is `ru_maxrss`; broker CPU is the broker's user+sys time during the run (from `/proc/PID/stat`). Figures are medians (min–max) over the successful rounds. Ratios are kafkit merged ÷ the row's client: above 1 for records/s and below 1 for CPU means kafkit is ahead.\n"
    )?;
    let datasets: Vec<Dataset> = DATASETS
        .iter()
        .copied()
        .filter(|d| runs.iter().any(|r| r.dataset == d.name))
        .collect();
    let quick = m("quick") == "1";
    for dataset in datasets {
        writeln!(
            md,
            "### {}: {} records × {} B, {}, {} partitions\n",
            dataset.name,
            dataset.records(quick),
            dataset.value_bytes,
            if dataset.codec == Codec::None {
                "uncompressed".to_owned()
            } else {
                format!("{}-compressed", dataset.codec.name())
            },
            PARTITIONS
        )?;
        writeln!(
            md,
            "| client | records/s first→last | CPU-s per M records | peak RSS MB | time to first record s | broker CPU-s per run | kafkit/peer records/s | kafkit/peer CPU/M | ok runs |"
        )?;
        writeln!(md, "|---|---|---|---|---|---|---|---|---|")?;
        let of = |client: &str| -> Vec<&RunRecord> {
            runs.iter()
                .filter(|r| r.dataset == dataset.name && r.client == client)
                .collect()
        };
        let rate = |rs: &[&RunRecord]| {
            stats(
                rs.iter()
                    .filter_map(|r| r.report.as_ref())
                    .map(|r| r.records as f64 / r.seconds)
                    .collect(),
            )
        };
        let cpu = |rs: &[&RunRecord]| {
            stats(
                rs.iter()
                    .filter_map(|r| r.report.as_ref())
                    .map(|r| (r.cpu_user + r.cpu_sys) / r.records as f64 * 1e6)
                    .collect(),
            )
        };
        let reference = of(CLIENTS[0].0);
        let (ref_rate, ref_cpu) = (rate(&reference), cpu(&reference));
        for (client, label) in CLIENTS {
            let rs = of(client);
            if rs.is_empty() {
                continue;
            }
            let ok: Vec<&RunReport> = rs.iter().filter_map(|r| r.report.as_ref()).collect();
            let fmt3 = |s: Option<(f64, f64, f64)>, scale: f64, digits: usize, unit: &str| match s {
                Some((med, min, max)) => format!(
                    "{:.digits$}{unit} ({:.digits$}–{:.digits$})",
                    med / scale,
                    min / scale,
                    max / scale
                ),
                None => "—".to_owned(),
            };
            let r = rate(&rs);
            let c = cpu(&rs);
            let rss = stats(ok.iter().map(|r| r.max_rss_bytes as f64 / 1e6).collect());
            let first = stats(ok.iter().map(|r| r.first_record_seconds).collect());
            let broker = stats(
                rs.iter()
                    .filter(|r| r.report.is_some())
                    .filter_map(|r| r.broker_cpu_seconds)
                    .collect(),
            );
            let ratio_rate = match (ref_rate, r) {
                (Some(a), Some(b)) => format!("{:.2}", a.0 / b.0),
                _ => "—".to_owned(),
            };
            let ratio_cpu = match (ref_cpu, c) {
                (Some(a), Some(b)) => format!("{:.2}", a.0 / b.0),
                _ => "—".to_owned(),
            };
            writeln!(
                md,
                "| {label} | {} | {} | {} | {} | {} | {ratio_rate} | {ratio_cpu} | {}/{} |",
                fmt3(r, 1e6, 2, " M"),
                fmt3(c, 1.0, 3, ""),
                rss.map_or("—".to_owned(), |s| format!("{:.0}", s.0)),
                first.map_or("—".to_owned(), |s| format!("{:.2}", s.0)),
                broker.map_or("—".to_owned(), |s| format!("{:.2}", s.0)),
                ok.len(),
                rs.len()
            )?;
        }
        let failures: Vec<&RunRecord> = runs
            .iter()
            .filter(|r| r.dataset == dataset.name && r.error.is_some())
            .collect();
        if !failures.is_empty() {
            writeln!(md, "\nFailed runs:\n")?;
            for f in failures {
                let e = f.error.as_deref().unwrap_or_default();
                let e: String = e.chars().take(300).collect();
                writeln!(
                    md,
                    "- {} round {}: {}",
                    f.client,
                    f.round,
                    e.replace('|', "\\|").replace('\n', " ")
                )?;
            }
        }
        let busy: Vec<String> = runs
            .iter()
            .filter(|r| r.dataset == dataset.name && r.cpu_idle_before < 0.9)
            .map(|r| {
                format!(
                    "{} round {} ({:.0}% idle)",
                    r.client,
                    r.round,
                    r.cpu_idle_before * 100.0
                )
            })
            .collect();
        if !busy.is_empty() {
            writeln!(
                md,
                "\nStarted while CPU 0 or 1 was busy with other work (figures less reliable): {}.",
                busy.join(", ")
            )?;
        }
        writeln!(md)?;
    }

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
