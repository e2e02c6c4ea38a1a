//! Reads N records from a topic as fast as possible, and reports records/s (first to last record),
//! the process's CPU time (user+sys) per million records and its peak RSS (a quick check; the
//! comparison harness lives in `benches/`).
//!
//! ```sh
//! cargo run --release --example throughput -- 127.0.0.1:9092 my-topic 2000000
//! # in a consumer group (a new group each run):
//! cargo run --release --example throughput -- 127.0.0.1:9092 my-topic 2000000 group
//! ```

use std::time::{Duration, Instant};

use kafkit::{Consumer, OffsetReset};

/// User+sys CPU seconds of this process so far, from `/proc/self/stat` (Linux); 0 elsewhere.
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
    let Some(rest) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i - 3).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    // The kernel reports clock ticks; USER_HZ is 100 on Linux.
    (ticks(14) + ticks(15)) as f64 / 100.0
}

/// Peak resident set size in MB, from `/proc/self/status` (Linux); 0 elsewhere.
fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), kafkit::Error> {
    let mut args = std::env::args().skip(1);
    let brokers = args.next().unwrap_or_else(|| "localhost:9092".into());
    let topic = args.next().unwrap_or_else(|| "orders".into());
    let n: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(1_000_000);
    let group = args.next().filter(|a| a == "group");

    let mut builder = Consumer::builder()
        .bootstrap(&brokers)
        .subscribe([topic])
        .offset_reset(OffsetReset::Earliest)
        .property("fetch.max.bytes", "67108864")
        .property("max.partition.fetch.bytes", "4194304")
        .property("fetch.wait.max.ms", "100");
    if group.is_some() {
        builder = builder
            .group_id(format!("throughput-{}", std::process::id()))
            .session_timeout(Duration::from_secs(6))
            .heartbeat_interval(Duration::from_secs(2));
    }
    let consumer = builder.build()?;
    let started = Instant::now();
    let mut records = consumer.records()?;
    let mut count = 0u64;
    let mut bytes = 0usize;
    let mut first = None;
    let mut cpu_at_first = 0.0;
    while count < n {
        let Some(record) = records.next().await else { break };
        let record = record?;
        if first.is_none() {
            first = Some(Instant::now());
            cpu_at_first = cpu_seconds();
        }
        bytes += record.value().map_or(0, <[u8]>::len);
        count += 1;
    }
    let elapsed = first.map(|t| t.elapsed()).unwrap_or_default();
    let cpu = cpu_seconds();
    let to_first = first.map(|t| t.duration_since(started)).unwrap_or_default();
    println!(
        "{count} records, {bytes} value bytes in {elapsed:?}: {:.2} M records/s (first to last); \
         cpu {cpu:.2} s total ({:.3} s per M records, {:.3} s per M after the first record); \
         peak RSS {:.1} MB; first record after {to_first:?}",
        count as f64 / elapsed.as_secs_f64() / 1e6,
        cpu / (count as f64 / 1e6),
        (cpu - cpu_at_first) / (count as f64 / 1e6),
        peak_rss_mb(),
    );
    drop(records);
    consumer.close().await
}
