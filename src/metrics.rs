//! A snapshot of what the consumer is doing, from [`crate::Consumer::metrics`], and its rendering
//! in the Prometheus text format.
//!
//! Counters (`*_total`) count from the consumer's start; rates are per second over the last
//! [`Metrics::rate_window`] (about ten seconds). A leaf module: the engine fills it in, the
//! application reads it.

use std::fmt::Write as _;
use std::time::Duration;

use crate::events::Status;
use crate::types::TopicPartition;

/// A snapshot of the consumer's metrics. Every field is documented with what it counts.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Metrics {
    /// Where the consumer is (as [`crate::Health::status`]).
    pub status: Status,
    /// One entry per owned partition, in topic-partition order.
    pub partitions: Vec<PartitionMetrics>,
    /// Fetch requests sent.
    pub fetch_requests_total: u64,
    /// Of them, incremental fetch-session requests (KIP-227), which carry only the partitions
    /// whose position changed.
    pub incremental_fetch_requests_total: u64,
    /// Partition entries carried by fetch requests: what fetch sessions save.
    pub fetch_partitions_sent_total: u64,
    /// Bytes of record batches fetched and handed to the partition streams.
    pub fetched_bytes_total: u64,
    /// Records the application pulled from the partition streams (owned partitions only: a
    /// partition's count goes with it when it is revoked).
    pub records_total: u64,
    /// Fetch requests per second.
    pub fetch_rate: f64,
    /// Records pulled by the application per second.
    pub record_rate: f64,
    /// Bytes fetched per second.
    pub byte_rate: f64,
    /// The span the rates are measured over (shorter right after the start).
    pub rate_window: Duration,
    /// Bytes fetched and not yet read by the application, over every partition.
    pub buffered_bytes: u64,
    /// Rebalances this member went through (the first join counts), each from the moment the
    /// consumer starts (re)joining to the moment it consumes again.
    pub rebalances_total: u64,
    /// How long the last one took.
    pub last_rebalance: Option<Duration>,
    /// OffsetCommit requests answered with every partition committed.
    pub commits_total: u64,
    /// OffsetCommit requests that failed (an error code for a partition, a transport error or
    /// no answer in time).
    pub commit_failures_total: u64,
    /// How long the last answered commit took.
    pub last_commit_latency: Option<Duration>,
    /// The connections to each broker kafkit knows.
    pub brokers: Vec<BrokerMetrics>,
}

/// One owned partition in [`Metrics`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PartitionMetrics {
    /// The partition.
    pub tp: TopicPartition,
    /// The offset of the next record its stream yields, once known.
    pub position: Option<i64>,
    /// The high watermark from the last fetch answer (or, for a partition not being fetched —
    /// paused, or its buffer full — from a lookup about every second).
    pub high_watermark: Option<i64>,
    /// High watermark minus position.
    pub lag: Option<i64>,
    /// Records the application pulled from it.
    pub records_total: u64,
    /// Bytes fetched for it.
    pub fetched_bytes_total: u64,
    /// Bytes fetched for it and not yet read.
    pub buffered_bytes: u64,
    /// Whether the application paused it.
    pub paused: bool,
}

/// The state of the connections to one broker.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BrokerMetrics {
    /// Its node id; `None` for a bootstrap address not yet matched to a node.
    pub node_id: Option<i32>,
    /// `host:port`.
    pub address: String,
    /// Whether kafkit's connections to it are up.
    pub state: ConnectionState,
    /// Connection attempts that failed in a row (0 once one succeeds).
    pub consecutive_failures: u32,
    /// Fetch requests sent to it (with `client.rack`, a same-rack follower's share shows here).
    pub fetch_requests_total: u64,
}

/// Whether a broker's connection is up; see [`BrokerMetrics`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionState {
    /// Connected (and authenticated).
    Connected,
    /// A connection attempt is under way.
    Connecting,
    /// Not connected: none was needed yet, or the last attempt failed (see
    /// `consecutive_failures`) and the next waits out its backoff.
    Disconnected,
}

impl Metrics {
    /// The metrics in the Prometheus text exposition format (version 0.0.4), each prefixed
    /// `kafkit_`, partitions labelled `topic` and `partition`, brokers `node` and `address`.
    pub fn prometheus_text(&self) -> String {
        let mut out = String::with_capacity(1024 + self.partitions.len() * 400);
        let mut family =
            |name: &str, kind: &str, help: &str, samples: &mut dyn Iterator<Item = (String, f64)>| {
                let _ = writeln!(out, "# HELP kafkit_{name} {help}");
                let _ = writeln!(out, "# TYPE kafkit_{name} {kind}");
                for (labels, value) in samples {
                    let _ = writeln!(out, "kafkit_{name}{labels} {value}");
                }
            };
        let one = |v: f64| std::iter::once((String::new(), v));
        family(
            "up",
            "gauge",
            "1 while the consumer is consuming.",
            &mut one(f64::from(u8::from(self.status == Status::Consuming))),
        );
        family(
            "fetch_requests_total",
            "counter",
            "Fetch requests sent.",
            &mut one(self.fetch_requests_total as f64),
        );
        family(
            "incremental_fetch_requests_total",
            "counter",
            "Incremental fetch-session requests sent (KIP-227).",
            &mut one(self.incremental_fetch_requests_total as f64),
        );
        family(
            "fetch_partitions_sent_total",
            "counter",
            "Partition entries carried by fetch requests.",
            &mut one(self.fetch_partitions_sent_total as f64),
        );
        family(
            "fetched_bytes_total",
            "counter",
            "Bytes of record batches fetched.",
            &mut one(self.fetched_bytes_total as f64),
        );
        family(
            "records_total",
            "counter",
            "Records the application pulled.",
            &mut one(self.records_total as f64),
        );
        family(
            "buffered_bytes",
            "gauge",
            "Bytes fetched and not yet read.",
            &mut one(self.buffered_bytes as f64),
        );
        family(
            "rebalances_total",
            "counter",
            "Rebalances this member went through.",
            &mut one(self.rebalances_total as f64),
        );
        family(
            "last_rebalance_seconds",
            "gauge",
            "How long the last rebalance took.",
            &mut self
                .last_rebalance
                .map(|d| (String::new(), d.as_secs_f64()))
                .into_iter(),
        );
        family(
            "commits_total",
            "counter",
            "OffsetCommit requests that succeeded.",
            &mut one(self.commits_total as f64),
        );
        family(
            "commit_failures_total",
            "counter",
            "OffsetCommit requests that failed.",
            &mut one(self.commit_failures_total as f64),
        );
        family(
            "last_commit_latency_seconds",
            "gauge",
            "How long the last answered commit took.",
            &mut self
                .last_commit_latency
                .map(|d| (String::new(), d.as_secs_f64()))
                .into_iter(),
        );
        let label = |tp: &TopicPartition| {
            format!(
                "{{topic=\"{}\",partition=\"{}\"}}",
                escape(&tp.topic),
                tp.partition
            )
        };
        let parts = &self.partitions;
        family(
            "partition_position",
            "gauge",
            "The next offset the partition's stream yields.",
            &mut parts
                .iter()
                .filter_map(|p| Some((label(&p.tp), p.position? as f64))),
        );
        family(
            "partition_high_watermark",
            "gauge",
            "The partition's high watermark.",
            &mut parts
                .iter()
                .filter_map(|p| Some((label(&p.tp), p.high_watermark? as f64))),
        );
        family(
            "partition_lag",
            "gauge",
            "High watermark minus position.",
            &mut parts.iter().filter_map(|p| Some((label(&p.tp), p.lag? as f64))),
        );
        family(
            "partition_records_total",
            "counter",
            "Records the application pulled from the partition.",
            &mut parts.iter().map(|p| (label(&p.tp), p.records_total as f64)),
        );
        family(
            "partition_fetched_bytes_total",
            "counter",
            "Bytes fetched for the partition.",
            &mut parts.iter().map(|p| (label(&p.tp), p.fetched_bytes_total as f64)),
        );
        family(
            "partition_buffered_bytes",
            "gauge",
            "Bytes fetched for the partition and not yet read.",
            &mut parts.iter().map(|p| (label(&p.tp), p.buffered_bytes as f64)),
        );
        family(
            "partition_paused",
            "gauge",
            "1 while the application has paused the partition.",
            &mut parts
                .iter()
                .map(|p| (label(&p.tp), f64::from(u8::from(p.paused)))),
        );
        let broker_label = |b: &BrokerMetrics| {
            let node = b
                .node_id
                .map_or_else(|| "bootstrap".to_owned(), |n| n.to_string());
            format!("{{node=\"{node}\",address=\"{}\"}}", escape(&b.address))
        };
        family(
            "broker_fetch_requests_total",
            "counter",
            "Fetch requests sent to the broker.",
            &mut self
                .brokers
                .iter()
                .map(|b| (broker_label(b), b.fetch_requests_total as f64)),
        );
        family(
            "broker_connected",
            "gauge",
            "1 while the connection to the broker is up.",
            &mut self.brokers.iter().map(|b| {
                let node = b
                    .node_id
                    .map_or_else(|| "bootstrap".to_owned(), |n| n.to_string());
                (
                    format!("{{node=\"{node}\",address=\"{}\"}}", escape(&b.address)),
                    f64::from(u8::from(b.state == ConnectionState::Connected)),
                )
            }),
        );
        out
    }
}

/// Escapes a label value (backslash, quote, newline).
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_text_has_families_labels_and_escapes() {
        let m = Metrics {
            status: Status::Consuming,
            partitions: vec![PartitionMetrics {
                tp: TopicPartition::new("or\"ders", 3),
                position: Some(10),
                high_watermark: Some(15),
                lag: Some(5),
                records_total: 10,
                fetched_bytes_total: 2000,
                buffered_bytes: 100,
                paused: true,
            }],
            fetch_requests_total: 4,
            incremental_fetch_requests_total: 3,
            fetch_partitions_sent_total: 5,
            fetched_bytes_total: 2000,
            records_total: 10,
            fetch_rate: 0.4,
            record_rate: 1.0,
            byte_rate: 200.0,
            rate_window: Duration::from_secs(10),
            buffered_bytes: 100,
            rebalances_total: 1,
            last_rebalance: Some(Duration::from_millis(250)),
            commits_total: 2,
            commit_failures_total: 1,
            last_commit_latency: None,
            brokers: vec![BrokerMetrics {
                node_id: Some(1),
                address: "127.0.0.1:9092".into(),
                state: ConnectionState::Connected,
                consecutive_failures: 0,
                fetch_requests_total: 3,
            }],
        };
        let text = m.prometheus_text();
        assert!(
            text.contains("# TYPE kafkit_records_total counter\nkafkit_records_total 10\n"),
            "{text}"
        );
        assert!(
            text.contains("kafkit_partition_lag{topic=\"or\\\"ders\",partition=\"3\"} 5\n"),
            "{text}"
        );
        assert!(
            text.contains("kafkit_partition_paused{topic=\"or\\\"ders\",partition=\"3\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("kafkit_last_rebalance_seconds 0.25\n"), "{text}");
        assert!(
            !text.contains("\nkafkit_last_commit_latency_seconds "),
            "no sample when unknown: {text}"
        );
        assert!(
            text.contains("kafkit_broker_connected{node=\"1\",address=\"127.0.0.1:9092\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("kafkit_up 1\n"));
        assert!(
            text.contains("kafkit_incremental_fetch_requests_total 3\n"),
            "{text}"
        );
        assert!(text.contains("kafkit_fetch_partitions_sent_total 5\n"), "{text}");
    }
}
