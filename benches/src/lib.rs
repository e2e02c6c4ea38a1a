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

/// What one consumer run prints as a single JSON line on stdout.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunReport {
    /// Client name, as given to `bench-consumer`.
    pub client: String,
    /// Records read.
    pub records: u64,
    /// Sum of the value lengths of the records read (every client touches every value).
    pub value_bytes: u64,
    /// Seconds from the first record to the last.
    pub seconds: f64,
    /// Seconds from creating the consumer to the first record (connect, join, first fetch).
    pub first_record_seconds: f64,
    /// User CPU seconds of the whole process (`getrusage(RUSAGE_SELF)`).
    pub cpu_user: f64,
    /// System CPU seconds of the whole process.
    pub cpu_sys: f64,
    /// Peak resident set size in bytes (`ru_maxrss`).
    pub max_rss_bytes: u64,
}

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
    fn usage_reads() {
        let u = usage().unwrap();
        assert!(u.max_rss_bytes > 0);
    }
}
