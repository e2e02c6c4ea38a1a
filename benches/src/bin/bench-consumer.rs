//! One benchmark consumer run with one Rust client; prints one JSON line
//! ([`kafkit_benches::RunReport`]) on stdout and exits.
//!
//! ```sh
//! bench-consumer CLIENT MODE key=value...
//! ```
//!
//! CLIENT is one of [`CLIENTS`]; MODE one of `bulk`, `latency`, `rebalance`, `scale` (see
//! [`kafkit_benches::Mode`]). Keys: `bootstrap`, `topics` (comma-separated), `partitions` (per
//! topic), `records` (bulk: how many to read), `settings` (`throughput`, `default`, `lowlat`),
//! `protocol` (`eager`, `cooperative`, `consumer`), `group` (default: a fresh id), `duration_ms`
//! and `warmup_ms` (latency), `until_ms` (rebalance: wall-clock end, ms since the epoch),
//! `gap_ms` (rebalance: a pause longer than this splits delivery runs), `idle_ms` (scale),
//! `timeout_ms` (give up). The Java (`benches/java/`) and franz-go (`benches/franz/`) programs take
//! the same arguments and print the same report.
//!
//! Group clients use `session.timeout.ms = 6000`. Settings per profile are in the functions below
//! and in `benches/RESULTS.md`. The process exits without a graceful close once it has reported
//! (a group member left behind belongs to a group nobody else uses, or leaves at the same time as
//! the run's other member); the driver bounds every run with a timeout.
//!
//! `KAFKIT_BENCH_PROPERTIES` (`key=value` pairs separated by `;`, e.g. `security.protocol=SASL_SSL;
//! sasl.mechanism=SCRAM-SHA-512;...`) is applied to the kafkit and rdkafka clients, for TLS and
//! SASL runs (rdkafka needs the `rdkafka-ssl` feature for TLS).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use kafkit_benches::{
    DEFAULT_GAP_MS, LOW_LATENCY_FETCH_WAIT_MS, Latency, Mode, PARTITIONS, PartitionTimeline, Profile,
    Protocol, RunReport, now_us, usage, value_stamp,
};
use tokio::sync::Notify;

/// The clients this binary can run.
pub const CLIENTS: [&str; 7] = [
    "kafkit-merged",
    "kafkit-partitions",
    "rdkafka-stream",
    "rdkafka-assign",
    "krafka",
    "rskafka",
    "confluent",
];

/// Session timeout for every classic-protocol group client.
const SESSION_TIMEOUT: Duration = Duration::from_secs(6);
/// Heartbeat interval of classic-protocol members in `rebalance` mode (the same for every client).
const REBALANCE_HEARTBEAT: Duration = Duration::from_secs(1);

/// What a run needs to know.
#[derive(Debug, Clone)]
struct Args {
    client: String,
    mode: Mode,
    bootstrap: String,
    topics: Vec<String>,
    partitions: i32,
    records: u64,
    profile: Profile,
    protocol: Option<Protocol>,
    group: String,
    duration: Duration,
    warmup: Duration,
    until_us: u64,
    gap_us: u64,
    idle: Duration,
    timeout: Duration,
}

impl Args {
    fn earliest(&self) -> bool {
        matches!(self.mode, Mode::Bulk | Mode::Scale)
    }
    /// The fetch max wait this profile asks for, if it asks for one.
    fn fetch_wait(&self) -> Option<Duration> {
        match self.profile {
            Profile::Throughput => Some(Duration::from_millis(100)),
            Profile::LowLatency => Some(Duration::from_millis(LOW_LATENCY_FETCH_WAIT_MS)),
            Profile::Default => None,
        }
    }
    fn heartbeat(&self) -> Option<Duration> {
        (self.mode == Mode::Rebalance).then_some(REBALANCE_HEARTBEAT)
    }
}

fn fresh_group(client: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("bench-{client}-{}-{nanos}", std::process::id())
}

fn parse_args() -> Result<Args> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: bench-consumer CLIENT MODE key=value... (see the source's header)";
    let client = args.next().context(usage)?;
    if !CLIENTS.contains(&client.as_str()) {
        bail!("unknown client '{client}'; one of {CLIENTS:?}");
    }
    let mode = args.next().context(usage)?;
    let mode = Mode::parse(&mode).with_context(|| format!("unknown mode '{mode}'"))?;
    let mut kv = HashMap::new();
    for arg in args {
        let (k, v) = arg
            .split_once('=')
            .with_context(|| format!("'{arg}' is not key=value"))?;
        kv.insert(k.to_owned(), v.to_owned());
    }
    let get = |k: &str| kv.get(k).cloned();
    let num = |k: &str, default: u64| -> Result<u64> {
        get(k).map_or(Ok(default), |v| {
            v.parse().with_context(|| format!("{k}={v} is not a number"))
        })
    };
    let profile = get("settings").unwrap_or_else(|| {
        if mode == Mode::Bulk {
            "throughput"
        } else {
            "default"
        }
        .to_owned()
    });
    let protocol = get("protocol")
        .map(|p| Protocol::parse(&p).with_context(|| format!("unknown protocol '{p}'")))
        .transpose()?;
    let args = Args {
        mode,
        bootstrap: get("bootstrap").context("bootstrap= is missing")?,
        topics: get("topics")
            .context("topics= is missing")?
            .split(',')
            .map(str::to_owned)
            .collect(),
        partitions: num("partitions", PARTITIONS as u64)? as i32,
        records: num("records", 0)?,
        profile: Profile::parse(&profile).with_context(|| format!("unknown settings '{profile}'"))?,
        protocol,
        group: get("group").unwrap_or_else(|| fresh_group(&client)),
        duration: Duration::from_millis(num("duration_ms", 10_000)?),
        warmup: Duration::from_millis(num("warmup_ms", 2_000)?),
        until_us: num("until_ms", 0)? * 1000,
        gap_us: num("gap_ms", DEFAULT_GAP_MS)? * 1000,
        idle: Duration::from_millis(num("idle_ms", 10_000)?),
        timeout: Duration::from_millis(num("timeout_ms", 300_000)?),
        client,
    };
    if args.mode == Mode::Bulk && args.records == 0 {
        bail!("bulk mode needs records=N");
    }
    if args.mode == Mode::Rebalance && args.until_us == 0 {
        bail!("rebalance mode needs until_ms=EPOCH_MS");
    }
    Ok(args)
}

// ---------------------------------------------------------------------------------------------
// What the clients report into

/// The mode-specific state, behind a mutex (modes other than bulk see at most tens of thousands
/// of records per second).
enum Tracker {
    Latency {
        measure_from_us: Option<u64>,
        warmup_us: u64,
        delays: Vec<u64>,
    },
    Rebalance {
        gap_us: u64,
        timelines: HashMap<String, HashMap<i32, PartitionTimeline>>,
    },
    Scale {
        expected: usize,
        seen: HashSet<(String, i32)>,
        all_at: Option<Instant>,
    },
}

/// Counts, times and the mode's state, shared by the tasks (or threads) of one run.
struct Progress {
    mode: Mode,
    target: u64,
    count: AtomicU64,
    value_bytes: AtomicU64,
    created: Instant,
    first: OnceLock<Instant>,
    last: OnceLock<Instant>,
    finished: AtomicBool,
    done: Notify,
    tracker: Option<Mutex<Tracker>>,
}

impl Progress {
    fn new(args: &Args) -> Arc<Progress> {
        let tracker = match args.mode {
            Mode::Bulk => None,
            Mode::Latency => Some(Tracker::Latency {
                measure_from_us: None,
                warmup_us: args.warmup.as_micros() as u64,
                delays: Vec::with_capacity(1 << 20),
            }),
            Mode::Rebalance => Some(Tracker::Rebalance {
                gap_us: args.gap_us,
                timelines: HashMap::new(),
            }),
            Mode::Scale => Some(Tracker::Scale {
                expected: args.topics.len() * args.partitions as usize,
                seen: HashSet::new(),
                all_at: None,
            }),
        };
        Arc::new(Progress {
            mode: args.mode,
            target: if args.mode == Mode::Bulk {
                args.records
            } else {
                u64::MAX
            },
            count: AtomicU64::new(0),
            value_bytes: AtomicU64::new(0),
            created: Instant::now(),
            first: OnceLock::new(),
            last: OnceLock::new(),
            finished: AtomicBool::new(false),
            done: Notify::new(),
            tracker: tracker.map(Mutex::new),
        })
    }

    /// One record delivered to the application; true once the run is over.
    #[inline]
    fn record(&self, topic: &str, partition: i32, value: Option<&[u8]>) -> bool {
        let bytes = value.map_or(0, <[u8]>::len) as u64;
        self.first.get_or_init(Instant::now);
        self.value_bytes.fetch_add(bytes, Ordering::Relaxed);
        let before = self.count.fetch_add(1, Ordering::AcqRel);
        if let Some(tracker) = &self.tracker {
            self.track(tracker, topic, partition, value);
        } else if before + 1 == self.target {
            let _ = self.last.set(Instant::now());
            self.finish();
        }
        self.finished()
    }

    #[cold]
    fn track(&self, tracker: &Mutex<Tracker>, topic: &str, partition: i32, value: Option<&[u8]>) {
        let now = now_us();
        let Ok(mut tracker) = tracker.lock() else { return };
        match &mut *tracker {
            Tracker::Latency {
                measure_from_us,
                warmup_us,
                delays,
            } => {
                let from = *measure_from_us.get_or_insert(now + *warmup_us);
                if now >= from
                    && let Some(created) = value.and_then(value_stamp)
                {
                    delays.push(now.saturating_sub(created));
                }
            }
            Tracker::Rebalance { gap_us, timelines } => {
                let partitions = match timelines.get_mut(topic) {
                    Some(p) => p,
                    None => timelines.entry(topic.to_owned()).or_default(),
                };
                let timeline = partitions.entry(partition).or_insert_with(|| PartitionTimeline {
                    topic: topic.to_owned(),
                    partition,
                    ..PartitionTimeline::default()
                });
                timeline.records += 1;
                match timeline.intervals.last_mut() {
                    Some(last) if now <= last[1] + *gap_us => last[1] = now,
                    _ => timeline.intervals.push([now, now]),
                }
            }
            Tracker::Scale {
                expected,
                seen,
                all_at,
            } => {
                if all_at.is_none() && !seen.contains(&(topic.to_owned(), partition)) {
                    seen.insert((topic.to_owned(), partition));
                    if seen.len() >= *expected {
                        *all_at = Some(Instant::now());
                    }
                }
            }
        }
    }

    fn finish(&self) {
        self.finished.store(true, Ordering::Release);
        self.done.notify_one();
    }

    fn finished(&self) -> bool {
        self.finished.load(Ordering::Acquire)
    }
}

/// Ends the runs that end on time rather than on a count, and takes the scale mode's idle
/// measurement. Returns the idle (cpu seconds, seconds, rss bytes) in scale mode.
async fn supervise(args: Args, progress: Arc<Progress>) -> Result<Option<(f64, f64, u64)>> {
    let mut idle_start: Option<(Instant, f64)> = None;
    loop {
        tokio::time::sleep(Duration::from_millis(5)).await;
        if progress.finished() {
            return Ok(None);
        }
        match progress.mode {
            Mode::Bulk => {}
            Mode::Latency => {
                if let Some(first) = progress.first.get()
                    && first.elapsed() >= args.warmup + args.duration
                {
                    progress.finish();
                    return Ok(None);
                }
            }
            Mode::Rebalance => {
                if now_us() >= args.until_us {
                    progress.finish();
                    return Ok(None);
                }
            }
            Mode::Scale => {
                let all_at = match progress.tracker.as_ref().map(Mutex::lock) {
                    Some(Ok(t)) => match &*t {
                        Tracker::Scale { all_at, .. } => *all_at,
                        _ => None,
                    },
                    _ => None,
                };
                if all_at.is_some() {
                    let u = usage()?;
                    let cpu = (u.user + u.sys).as_secs_f64();
                    match idle_start {
                        None => idle_start = Some((Instant::now(), cpu)),
                        Some((start, cpu0)) if start.elapsed() >= args.idle => {
                            let seconds = start.elapsed().as_secs_f64();
                            let rss = current_rss().unwrap_or(0);
                            progress.finish();
                            return Ok(Some((cpu - cpu0, seconds, rss)));
                        }
                        Some(_) => {}
                    }
                }
            }
        }
    }
}

/// Resident set size now, from `/proc/self/statm`.
fn current_rss() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    let page = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE).ok()??;
    Some(pages * page as u64)
}

fn main() -> Result<()> {
    let args = parse_args()?;
    // One runtime thread: the driver pins the process to one core anyway.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let progress = Progress::new(&args);
    let idle = runtime.block_on({
        let progress = progress.clone();
        let args = args.clone();
        async move {
            let supervisor = tokio::spawn(supervise(args.clone(), progress.clone()));
            let client = {
                let progress = progress.clone();
                let args = args.clone();
                async move {
                    match args.client.as_str() {
                        "kafkit-merged" => kafkit_merged(&args, &progress).await,
                        "kafkit-partitions" => kafkit_partitions(&args, &progress).await,
                        "rdkafka-stream" => rdkafka_stream(&args, &progress).await,
                        "rdkafka-assign" => rdkafka_assign(args, progress).await,
                        "krafka" => krafka(&args, &progress).await,
                        "rskafka" => rskafka(&args, &progress).await,
                        "confluent" => confluent(&args, &progress).await,
                        other => bail!("unknown client '{other}'"),
                    }
                }
            };
            tokio::select! {
                result = client => {
                    result?;
                    if !progress.finished() {
                        bail!("the client stopped before the run was over");
                    }
                }
                _ = progress.done.notified() => {}
                _ = tokio::time::sleep(args.timeout) => bail!("timed out after {:?}", args.timeout),
            }
            supervisor.abort();
            match supervisor.await {
                Ok(result) => result,
                Err(_) => Ok(None),
            }
        }
    })?;
    let usage = usage()?;
    let end = Instant::now();
    let Some(first) = progress.first.get() else {
        bail!("no record was delivered");
    };
    let last = progress.last.get().copied().unwrap_or(end);
    let mut report = RunReport {
        client: args.client.clone(),
        records: progress.count.load(Ordering::Acquire),
        value_bytes: progress.value_bytes.load(Ordering::Acquire),
        seconds: last.duration_since(*first).as_secs_f64(),
        first_record_seconds: first.duration_since(progress.created).as_secs_f64(),
        cpu_user: usage.user.as_secs_f64(),
        cpu_sys: usage.sys.as_secs_f64(),
        max_rss_bytes: usage.max_rss_bytes,
        ..RunReport::default()
    };
    if let Some(tracker) = &progress.tracker {
        let tracker = std::mem::replace(
            &mut *tracker
                .lock()
                .map_err(|_| anyhow::anyhow!("a client thread panicked"))?,
            Tracker::Latency {
                measure_from_us: None,
                warmup_us: 0,
                delays: Vec::new(),
            },
        );
        match tracker {
            Tracker::Latency { delays, .. } => report.latency = Latency::of(delays),
            Tracker::Rebalance { timelines, .. } => {
                report.partitions = Some(timelines.into_values().flat_map(HashMap::into_values).collect())
            }
            Tracker::Scale { all_at, .. } => {
                report.all_partitions_seconds =
                    all_at.map(|t| t.duration_since(progress.created).as_secs_f64());
                if let Some((cpu, seconds, rss)) = idle {
                    report.idle_cpu_seconds = Some(cpu);
                    report.idle_seconds = Some(seconds);
                    report.rss_bytes = Some(rss);
                }
            }
        }
    }
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

fn kafkit_builder(args: &Args) -> Result<kafkit::ConsumerBuilder> {
    let mut builder = kafkit::Consumer::builder()
        .properties(extra_properties())
        .bootstrap(&args.bootstrap)
        .group_id(args.group.clone())
        .subscribe(args.topics.clone())
        .offset_reset(if args.earliest() {
            kafkit::OffsetReset::Earliest
        } else {
            kafkit::OffsetReset::Latest
        });
    // The consumer protocol's session and heartbeat are the broker's (setting them fails there).
    if args.protocol != Some(Protocol::Consumer) {
        builder = builder.session_timeout(SESSION_TIMEOUT);
        if let Some(hb) = args.heartbeat() {
            builder = builder.heartbeat_interval(hb);
        }
    }
    match args.protocol {
        None => {}
        Some(Protocol::Eager) => builder = builder.property("partition.assignment.strategy", "range"),
        Some(Protocol::Cooperative) => {
            builder = builder.property("partition.assignment.strategy", "cooperative-sticky")
        }
        Some(Protocol::Consumer) => builder = builder.group_protocol(kafkit::GroupProtocol::Consumer),
    }
    if args.profile == Profile::Throughput {
        builder = builder
            .property("fetch.max.bytes", "67108864")
            .property("max.partition.fetch.bytes", "4194304");
    }
    if args.profile == Profile::LowLatency {
        builder = builder.property("fetch.min.bytes", "1");
    }
    if let Some(wait) = args.fetch_wait() {
        builder = builder.property("fetch.wait.max.ms", wait.as_millis().to_string());
    }
    Ok(builder)
}

/// kafkit, group, all partitions merged into one stream.
async fn kafkit_merged(args: &Args, progress: &Progress) -> Result<()> {
    let consumer = kafkit_builder(args)?.build()?;
    let mut records = consumer.records()?;
    while let Some(record) = records.next().await {
        let record = record?;
        if progress.record(record.topic(), record.partition(), record.value()) {
            return Ok(());
        }
    }
    bail!("kafkit's record stream ended early")
}

/// kafkit, group, one tokio task per assigned partition.
async fn kafkit_partitions(args: &Args, progress: &Arc<Progress>) -> Result<()> {
    let consumer = kafkit_builder(args)?.build()?;
    let mut partitions = consumer.partitions()?;
    let (failed, mut failure) = tokio::sync::mpsc::unbounded_channel::<anyhow::Error>();
    loop {
        tokio::select! {
            e = failure.recv() => if let Some(e) = e { return Err(e) },
            partition = partitions.next() => {
                let Some(mut partition) = partition else { bail!("kafkit's partitions ended early") };
                let progress = progress.clone();
                let failed = failed.clone();
                tokio::spawn(async move {
                    let (topic, p) = (partition.topic().to_owned(), partition.partition());
                    while let Some(record) = partition.next().await {
                        match record {
                            Ok(record) => {
                                if progress.record(&topic, p, record.value()) {
                                    return;
                                }
                            }
                            Err(e) => {
                                let _ = failed.send(e.into());
                                return;
                            }
                        }
                    }
                });
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// rdkafka

/// librdkafka's configuration for this run (its defaults are about half as fast for bulk).
fn rdkafka_config(args: &Args) -> Result<rdkafka::ClientConfig> {
    let mut config = rdkafka::ClientConfig::new();
    config
        .set("bootstrap.servers", &args.bootstrap)
        .set("group.id", &args.group)
        .set(
            "auto.offset.reset",
            if args.earliest() { "earliest" } else { "latest" },
        );
    match args.protocol {
        Some(Protocol::Consumer) => {
            // librdkafka rejects the classic-only settings (session timeout, assignor) here.
            config.set("group.protocol", "consumer");
        }
        protocol => {
            config.set("session.timeout.ms", SESSION_TIMEOUT.as_millis().to_string());
            if let Some(hb) = args.heartbeat() {
                config.set("heartbeat.interval.ms", hb.as_millis().to_string());
            }
            match protocol {
                Some(Protocol::Eager) => {
                    config.set("partition.assignment.strategy", "range");
                }
                Some(Protocol::Cooperative) => {
                    config.set("partition.assignment.strategy", "cooperative-sticky");
                }
                _ => {}
            }
        }
    }
    if args.profile == Profile::Throughput {
        config
            .set("fetch.max.bytes", "67108864")
            .set("max.partition.fetch.bytes", "4194304")
            .set("queued.min.messages", "1000000")
            .set("queued.max.messages.kbytes", "262144");
    }
    if args.profile == Profile::LowLatency {
        config.set("fetch.min.bytes", "1");
    }
    if let Some(wait) = args.fetch_wait() {
        config.set("fetch.wait.max.ms", wait.as_millis().to_string());
    }
    for (k, v) in extra_properties() {
        let k = if k == "sasl.mechanism" {
            "sasl.mechanisms".to_owned()
        } else {
            k
        };
        config.set(k, v);
    }
    Ok(config)
}

/// rdkafka `StreamConsumer`, group (subscribe), `recv()` loop.
async fn rdkafka_stream(args: &Args, progress: &Progress) -> Result<()> {
    use rdkafka::Message;
    use rdkafka::consumer::{Consumer, StreamConsumer};
    let consumer: StreamConsumer = rdkafka_config(args)?.create()?;
    let topics: Vec<&str> = args.topics.iter().map(String::as_str).collect();
    consumer.subscribe(&topics)?;
    loop {
        let message = consumer.recv().await?;
        if progress.record(message.topic(), message.partition(), message.payload()) {
            return Ok(());
        }
    }
}

/// rdkafka `BaseConsumer`, `assign()` of every partition (no group protocol; librdkafka still
/// needs a `group.id`), `poll()` loop on a blocking thread.
async fn rdkafka_assign(args: Args, progress: Arc<Progress>) -> Result<()> {
    if args.mode == Mode::Rebalance {
        bail!("n/a: assign() has no group");
    }
    tokio::task::spawn_blocking(move || {
        use rdkafka::consumer::{BaseConsumer, Consumer};
        use rdkafka::{Message, Offset, TopicPartitionList};
        let mut config = rdkafka_config(&args)?;
        config.set("enable.auto.commit", "false");
        let consumer: BaseConsumer = config.create()?;
        let mut assignment = TopicPartitionList::new();
        let start = if args.earliest() {
            Offset::Beginning
        } else {
            Offset::End
        };
        for topic in &args.topics {
            for p in 0..args.partitions {
                assignment.add_partition_offset(topic, p, start)?;
            }
        }
        consumer.assign(&assignment)?;
        loop {
            let Some(message) = consumer.poll(Duration::from_millis(100)) else {
                if progress.finished() {
                    return Ok(());
                }
                continue;
            };
            let message = message?;
            if progress.record(message.topic(), message.partition(), message.payload()) {
                return Ok(());
            }
        }
    })
    .await?
}

// ---------------------------------------------------------------------------------------------
// krafka

/// krafka, group, `poll()`; for throughput with large fetches and buffers (its defaults gave only
/// ~55 k records/s on nisshi).
async fn krafka(args: &Args, progress: &Progress) -> Result<()> {
    use krafka::consumer::{AutoOffsetReset, GroupProtocol, PartitionAssignmentStrategy};
    let kafka = krafka::Kafka::builder(args.bootstrap.clone())
        .client_id("bench-krafka")
        .connect()
        .await?;
    let mut builder = kafka
        .consumer(args.group.clone())
        .auto_offset_reset(if args.earliest() {
            AutoOffsetReset::Earliest
        } else {
            AutoOffsetReset::Latest
        });
    match args.protocol {
        Some(Protocol::Consumer) => builder = builder.group_protocol(GroupProtocol::Consumer),
        protocol => {
            builder = builder.session_timeout(SESSION_TIMEOUT);
            if let Some(hb) = args.heartbeat() {
                builder = builder.heartbeat_interval(hb);
            }
            match protocol {
                Some(Protocol::Eager) => {
                    builder = builder.partition_assignment_strategy(PartitionAssignmentStrategy::Range)
                }
                Some(Protocol::Cooperative) => {
                    builder =
                        builder.partition_assignment_strategy(PartitionAssignmentStrategy::CooperativeSticky)
                }
                _ => {}
            }
        }
    }
    if args.profile == Profile::Throughput {
        builder = builder
            .fetch_max_bytes(64 << 20)
            .max_partition_fetch_bytes(4 << 20)
            .max_poll_records(10_000)
            .max_buffered_records(100_000);
    }
    if args.profile == Profile::LowLatency {
        builder = builder.fetch_min_bytes(1);
    }
    if let Some(wait) = args.fetch_wait() {
        builder = builder.fetch_max_wait(wait);
    }
    let consumer = builder.build().await?;
    consumer.subscribe(args.topics.iter()).await?;
    loop {
        let records = consumer.poll(Duration::from_millis(100)).await?;
        for r in &records {
            if progress.record(&r.topic, r.partition, r.value.as_deref()) {
                return Ok(());
            }
        }
        if progress.finished() {
            return Ok(());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// rskafka

/// rskafka, no group: one `PartitionClient` and one task per partition, each fetching 1 B–4 MiB
/// (throughput) or 1 B–1 MiB with a 100 ms (throughput), 10 ms (low latency) or 500 ms (its
/// examples' value, as the default) max wait.
async fn rskafka(args: &Args, progress: &Arc<Progress>) -> Result<()> {
    use rskafka::client::ClientBuilder;
    use rskafka::client::partition::{OffsetAt, UnknownTopicHandling};
    if args.mode == Mode::Rebalance {
        bail!("n/a: rskafka has no consumer groups");
    }
    let client = Arc::new(ClientBuilder::new(vec![args.bootstrap.clone()]).build().await?);
    let max_bytes = if args.profile == Profile::Throughput {
        4 << 20
    } else {
        1 << 20
    };
    let max_wait = args.fetch_wait().map_or(500, |w| w.as_millis() as i32);
    let bulk = args.mode == Mode::Bulk;
    let mut tasks = tokio::task::JoinSet::new();
    for topic in &args.topics {
        for p in 0..args.partitions {
            let partition = client
                .partition_client(topic.clone(), p, UnknownTopicHandling::Retry)
                .await?;
            let progress = progress.clone();
            let topic = topic.clone();
            let earliest = args.earliest();
            tasks.spawn(async move {
                let mut offset = if earliest {
                    partition.get_offset(OffsetAt::Earliest).await?
                } else {
                    partition.get_offset(OffsetAt::Latest).await?
                };
                loop {
                    let (records, high_watermark) =
                        partition.fetch_records(offset, 1..max_bytes, max_wait).await?;
                    for r in &records {
                        offset = r.offset + 1;
                        if progress.record(&topic, p, r.record.value.as_deref()) {
                            return anyhow::Ok(());
                        }
                    }
                    if progress.finished() || (bulk && offset >= high_watermark) {
                        return anyhow::Ok(());
                    }
                }
            });
        }
    }
    while let Some(result) = tasks.join_next().await {
        result??;
    }
    if !progress.finished() {
        bail!("rskafka read every partition to its high watermark but the run was not over");
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Confluent's Rust client

/// `confluent-kafka` 1.0 (Confluent's translation of the Java client; KIP-848 groups only),
/// `subscribe` + `poll()`, with the Java consumer's high-throughput settings for bulk.
async fn confluent(args: &Args, progress: &Progress) -> Result<()> {
    use confluent_kafka::common::serialization::BytesDeserializer;
    use confluent_kafka::consumer::{Consumer, ConsumerConfig, KafkaConsumer};
    match args.protocol {
        None | Some(Protocol::Consumer) => {}
        Some(_) => bail!("n/a: confluent-kafka 1.0 has only the consumer protocol (KIP-848)"),
    }
    let mut props: HashMap<String, String> = HashMap::new();
    let mut set = |k: &str, v: String| {
        props.insert(k.to_owned(), v);
    };
    set("bootstrap.servers", args.bootstrap.clone());
    set("group.id", args.group.clone());
    set("group.protocol", "consumer".to_owned());
    set(
        "auto.offset.reset",
        if args.earliest() { "earliest" } else { "latest" }.to_owned(),
    );
    if args.profile == Profile::Throughput {
        set("fetch.max.bytes", "67108864".to_owned());
        set("max.partition.fetch.bytes", "4194304".to_owned());
        set("max.poll.records", "10000".to_owned());
    }
    if args.profile == Profile::LowLatency {
        set("fetch.min.bytes", "1".to_owned());
    }
    if let Some(wait) = args.fetch_wait() {
        set("fetch.max.wait.ms", wait.as_millis().to_string());
    }
    let config = ConsumerConfig::new(&props).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut consumer: KafkaConsumer<bytes::Bytes, bytes::Bytes> =
        KafkaConsumer::new(config, BytesDeserializer::new(), BytesDeserializer::new())
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    consumer
        .subscribe_with_topics(args.topics.clone())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    loop {
        let records = consumer
            .poll(Duration::from_millis(100))
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        for r in &records {
            if progress.record(r.topic(), r.partition(), r.value().map(|v| &v[..])) {
                return Ok(());
            }
        }
        if progress.finished() {
            return Ok(());
        }
    }
}
