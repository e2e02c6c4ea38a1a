//! Benchmarks comparing kafkit with its peers.
//!
//! - `benches/records.rs`: criterion micro-benchmarks of record-batch parsing.
//! - `src/bin/bench-consumer.rs`: one consumer run (kafkit or a peer) that reads exactly N records
//!   and prints one JSON [`RunReport`] line.
//! - `src/bin/bench-compare.rs`: the driver behind `scripts/bench-compare.sh`: produces the data
//!   sets, runs every consumer in interleaved rounds pinned to CPU 1, samples the broker's CPU
//!   time, and writes `benches/RESULTS.md`.
//!
//! This crate is the only place in the workspace where C dependencies (librdkafka, zstd, lz4) are
//! allowed; the `kafkit` library stays pure Rust.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// One data set: a topic pre-produced before any consumer runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dataset {
    /// Short name used on the command line and in the results (`100b`, `1k`, `zstd`, `lz4`).
    pub name: &'static str,
    /// Records in the full-size data set.
    pub records: u64,
    /// Bytes in every record's value.
    pub value_bytes: usize,
    /// Compression codec of the produced batches.
    pub codec: Codec,
}

/// The compression codec a data set is produced with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Codec {
    /// Uncompressed batches.
    None,
    /// zstd-compressed batches.
    Zstd,
    /// lz4-compressed batches.
    Lz4,
}

impl Codec {
    /// The name Kafka uses for this codec.
    pub fn name(self) -> &'static str {
        match self {
            Codec::None => "none",
            Codec::Zstd => "zstd",
            Codec::Lz4 => "lz4",
        }
    }
}

/// Partitions of every benchmark topic.
pub const PARTITIONS: i32 = 8;

/// The data sets, in the order they are run and reported.
pub const DATASETS: [Dataset; 4] = [
    Dataset {
        name: "100b",
        records: 2_000_000,
        value_bytes: 100,
        codec: Codec::None,
    },
    Dataset {
        name: "1k",
        records: 200_000,
        value_bytes: 1000,
        codec: Codec::None,
    },
    Dataset {
        name: "zstd",
        records: 2_000_000,
        value_bytes: 100,
        codec: Codec::Zstd,
    },
    Dataset {
        name: "lz4",
        records: 2_000_000,
        value_bytes: 100,
        codec: Codec::Lz4,
    },
];

/// In `--quick` mode every data set has this fraction of its records.
pub const QUICK_DIVISOR: u64 = 10;

impl Dataset {
    /// Looks a data set up by its name.
    pub fn by_name(name: &str) -> Option<Dataset> {
        DATASETS.iter().copied().find(|d| d.name == name)
    }

    /// Records in this data set, scaled down in quick mode.
    pub fn records(&self, quick: bool) -> u64 {
        if quick {
            self.records / QUICK_DIVISOR
        } else {
            self.records
        }
    }

    /// The topic holding this data set with `records` records.
    pub fn topic(&self, records: u64) -> String {
        format!("bench-{}-{}", self.name, records)
    }
}

/// The value of record `index`: ASCII, shaped like a small JSON event and padded with
/// pseudo-random letters, so that it compresses about as well as real payloads do (neither all
/// zeros nor incompressible noise).
pub fn record_value(index: u64, len: usize) -> Vec<u8> {
    let mut value = format!(
        "{{\"id\":{index},\"user\":\"u{:05}\",\"amount\":{}.{:02},\"pad\":\"",
        index % 50_000,
        index % 997,
        index % 100
    )
    .into_bytes();
    let mut state = index.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyz";
    while value.len() + 2 < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        // Runs of a few identical letters: text-like redundancy.
        let letter = LETTERS[(state % 26) as usize];
        let run = 1 + (state >> 8) % 4;
        for _ in 0..run {
            if value.len() + 2 < len {
                value.push(letter);
            }
        }
    }
    value.extend_from_slice(b"\"}");
    value.truncate(len);
    value.resize(len, b' ');
    value
}

/// What one consumer run prints as a single JSON line on stdout. Every peer program (the Rust
/// clients in `bench-consumer`, the Java consumer in `benches/java/`, franz-go in
/// `benches/franz/`) prints the same fields; the mode-specific ones are absent in other modes.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunReport {
    /// Client name, as given to the peer program.
    pub client: String,
    /// Records read.
    pub records: u64,
    /// Sum of the value lengths of the records read (every client touches every value).
    pub value_bytes: u64,
    /// Seconds from the first record to the last.
    pub seconds: f64,
    /// Seconds from creating the consumer to the first record (connect, join, first fetch).
    pub first_record_seconds: f64,
    /// User CPU seconds of the whole process (`getrusage(RUSAGE_SELF)` or `/proc/self/stat`).
    pub cpu_user: f64,
    /// System CPU seconds of the whole process.
    pub cpu_sys: f64,
    /// Peak resident set size in bytes (`ru_maxrss` or `VmHWM`).
    pub max_rss_bytes: u64,
    /// `latency` mode: create-time → delivery delays of the records after the warm-up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<Latency>,
    /// `rebalance` mode: when each partition delivered records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partitions: Option<Vec<PartitionTimeline>>,
    /// `scale` mode: seconds from creating the consumer until every partition delivered a record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub all_partitions_seconds: Option<f64>,
    /// `scale` mode: CPU seconds (user+sys) over the idle window after that.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_cpu_seconds: Option<f64>,
    /// `scale` mode: length of the idle window in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_seconds: Option<f64>,
    /// `scale` mode: resident set size at the end of the idle window, bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rss_bytes: Option<u64>,
}

/// Delay percentiles, microseconds.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Latency {
    /// Delays measured.
    pub count: u64,
    /// Median.
    pub p50_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// 99.9th percentile.
    pub p999_us: u64,
    /// Largest.
    pub max_us: u64,
}

impl Latency {
    /// Percentiles of `delays` (nearest rank); `None` when empty.
    pub fn of(mut delays: Vec<u64>) -> Option<Latency> {
        if delays.is_empty() {
            return None;
        }
        delays.sort_unstable();
        let n = delays.len();
        let at = |q: f64| delays[((q * n as f64).ceil() as usize).clamp(1, n) - 1];
        Some(Latency {
            count: n as u64,
            p50_us: at(0.50),
            p99_us: at(0.99),
            p999_us: at(0.999),
            max_us: delays[n - 1],
        })
    }
}

/// When one partition delivered records to one member: maximal runs of deliveries less than the
/// run's gap threshold apart, as `[first, last]` wall-clock microseconds since the epoch.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PartitionTimeline {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Records delivered.
    pub records: u64,
    /// Delivery runs, in order.
    pub intervals: Vec<[u64; 2]>,
}

/// Wall-clock microseconds since the Unix epoch (comparable across processes on this machine).
pub fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// A value for the steady producers: its create time as 8 big-endian bytes of microseconds
/// since the epoch, then [`record_value`] text up to `len` bytes.
pub fn stamped_value(index: u64, created_us: u64, len: usize) -> Vec<u8> {
    let mut value = record_value(index, len.max(8));
    value[..8].copy_from_slice(&created_us.to_be_bytes());
    value
}

/// The create time a [`stamped_value`] carries.
pub fn value_stamp(value: &[u8]) -> Option<u64> {
    value
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_be_bytes)
}

/// What a peer program is asked to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Read `records` records from the start of one pre-produced topic, as fast as possible.
    Bulk,
    /// Read a steadily produced topic from its end; record create-time → delivery delays.
    Latency,
    /// Be one member of a group reading a steadily produced topic until `until_ms`; record
    /// per-partition delivery runs.
    Rebalance,
    /// Subscribe to many topics from their start; time until every partition delivered a record,
    /// then CPU over an idle window.
    Scale,
}

impl Mode {
    /// Parses a mode name.
    pub fn parse(name: &str) -> Option<Mode> {
        Some(match name {
            "bulk" => Mode::Bulk,
            "latency" => Mode::Latency,
            "rebalance" => Mode::Rebalance,
            "scale" => Mode::Scale,
            _ => return None,
        })
    }
}

/// The settings profile a client runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// The client's documented high-throughput settings (bulk).
    Throughput,
    /// The client's defaults (only bootstrap, group, offset reset, session timeout set).
    Default,
    /// Low latency: `fetch.min.bytes=1` and a 10 ms fetch max wait (or the client's nearest knobs).
    LowLatency,
}

impl Profile {
    /// Parses a profile name.
    pub fn parse(name: &str) -> Option<Profile> {
        Some(match name {
            "throughput" => Profile::Throughput,
            "default" => Profile::Default,
            "lowlat" => Profile::LowLatency,
            _ => return None,
        })
    }
}

/// The group protocol and assignor of a group member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// The classic protocol with the range assignor (eager).
    Eager,
    /// The classic protocol with cooperative-sticky (incremental).
    Cooperative,
    /// The consumer protocol (KIP-848), the broker's assignor.
    Consumer,
}

impl Protocol {
    /// Parses a protocol name.
    pub fn parse(name: &str) -> Option<Protocol> {
        Some(match name {
            "eager" => Protocol::Eager,
            "cooperative" => Protocol::Cooperative,
            "consumer" => Protocol::Consumer,
            _ => return None,
        })
    }
}

/// The max wait of fetches under [`Profile::LowLatency`].
pub const LOW_LATENCY_FETCH_WAIT_MS: u64 = 10;

/// Gap that separates two delivery runs in `rebalance` mode unless the driver says otherwise.
pub const DEFAULT_GAP_MS: u64 = 10;

/// CPU time and peak RSS of this process so far.
#[derive(Debug, Clone, Copy)]
pub struct Usage {
    /// User CPU time.
    pub user: Duration,
    /// System CPU time.
    pub sys: Duration,
    /// Peak resident set size in bytes.
    pub max_rss_bytes: u64,
}

/// `getrusage(RUSAGE_SELF)`: CPU time of all threads of this process, and its peak RSS.
pub fn usage() -> std::io::Result<Usage> {
    use nix::sys::resource::{UsageWho, getrusage};
    let ru = getrusage(UsageWho::RUSAGE_SELF).map_err(std::io::Error::from)?;
    let tv = |t: nix::sys::time::TimeVal| {
        Duration::new(t.tv_sec().max(0) as u64, (t.tv_usec().max(0) as u32) * 1000)
    };
    Ok(Usage {
        user: tv(ru.user_time()),
        sys: tv(ru.system_time()),
        // Linux reports kilobytes.
        max_rss_bytes: (ru.max_rss().max(0) as u64) * 1024,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_have_the_requested_length() {
        for len in [100, 1000] {
            for i in [0, 1, 12_345, u64::MAX / 3] {
                assert_eq!(record_value(i, len).len(), len);
            }
        }
    }

    #[test]
    fn latency_percentiles_by_nearest_rank() {
        let l = Latency::of((1..=1000).collect()).unwrap();
        assert_eq!(
            (l.count, l.p50_us, l.p99_us, l.p999_us, l.max_us),
            (1000, 500, 990, 999, 1000)
        );
        assert!(Latency::of(Vec::new()).is_none());
    }

    #[test]
    fn stamped_values_carry_their_time() {
        let v = stamped_value(7, 1_700_000_000_123_456, 100);
        assert_eq!(v.len(), 100);
        assert_eq!(value_stamp(&v), Some(1_700_000_000_123_456));
        assert_eq!(value_stamp(b"short"), None);
    }

    #[test]
    fn usage_reads() {
        let u = usage().unwrap();
        assert!(u.max_rss_bytes > 0);
    }
}
