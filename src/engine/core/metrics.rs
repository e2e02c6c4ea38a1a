//! What `Consumer::metrics()` reports: counters the engine keeps, rates over a sliding window,
//! rebalance timing, and the snapshot itself (the driver adds the brokers' connection states).

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::EngineCore;
use crate::events::Status;
use crate::metrics::{Metrics, PartitionMetrics};

/// How often a rate sample is taken, and how many are kept: rates span about ten seconds.
const SAMPLE_EVERY: Duration = Duration::from_secs(1);
const SAMPLES: usize = 11;

/// One sample of the counters the rates are computed from.
#[derive(Debug, Clone, Copy)]
struct Sample {
    at: Instant,
    fetches: u64,
    bytes: u64,
    records: u64,
}

#[derive(Debug, Default)]
pub(super) struct Counters {
    pub(super) fetch_requests: u64,
    pub(super) incremental_fetches: u64,
    pub(super) fetch_partitions_sent: u64,
    pub(super) fetched_bytes: u64,
    /// Fetch requests per broker (a preferred read replica's share shows here).
    pub(super) fetches_by_node: std::collections::BTreeMap<crate::types::NodeId, u64>,
    samples: VecDeque<Sample>,
    rebalance_started: Option<Instant>,
    rebalances: u64,
    last_rebalance: Option<Duration>,
}

impl Counters {
    /// For a consumer that starts by joining a group: the first join counts as a rebalance.
    pub(super) fn joining_from(now: Instant) -> Self {
        Counters {
            rebalance_started: Some(now),
            ..Counters::default()
        }
    }

    /// Rebalance timing: from entering Joining or Rebalancing to Consuming again.
    pub(super) fn status_changed(&mut self, from: Status, to: Status, now: Instant) {
        let rebalancing = |s: Status| matches!(s, Status::Joining | Status::Rebalancing);
        if rebalancing(to) && !rebalancing(from) && self.rebalance_started.is_none() {
            self.rebalance_started = Some(now);
        }
        if to == Status::Consuming
            && let Some(started) = self.rebalance_started.take()
        {
            self.rebalances += 1;
            self.last_rebalance = Some(now.saturating_duration_since(started));
        }
        if matches!(to, Status::Failed | Status::Closed | Status::Stalled) {
            self.rebalance_started = None;
        }
    }
}

impl EngineCore {
    /// Records pulled by the application from the owned partitions.
    fn records_pulled(&self) -> u64 {
        self.parts
            .values()
            .map(|p| p.shared.yielded.load(Ordering::Relaxed))
            .sum()
    }

    /// Takes a rate sample if one is due (called from housekeeping).
    pub(super) fn sample_rates(&mut self) {
        let now = self.now;
        if self
            .counters
            .samples
            .back()
            .is_some_and(|s| now.saturating_duration_since(s.at) < SAMPLE_EVERY)
        {
            return;
        }
        let sample = Sample {
            at: now,
            fetches: self.counters.fetch_requests,
            bytes: self.counters.fetched_bytes,
            records: self.records_pulled(),
        };
        let samples = &mut self.counters.samples;
        samples.push_back(sample);
        while samples.len() > SAMPLES {
            samples.pop_front();
        }
    }

    /// Fetch requests sent to `node`.
    pub(crate) fn fetches_to(&self, node: crate::types::NodeId) -> u64 {
        self.counters.fetches_by_node.get(&node).copied().unwrap_or(0)
    }

    /// The snapshot, without the brokers (the driver owns the connections and adds them).
    pub(crate) fn metrics(&self, now: Instant) -> Metrics {
        let records_total = self.records_pulled();
        let c = &self.counters;
        let (window, fetch_rate, byte_rate, record_rate) = match c.samples.front() {
            Some(first) if now > first.at => {
                let window = now.saturating_duration_since(first.at);
                let secs = window.as_secs_f64();
                let rate = |then: u64, now: u64| now.saturating_sub(then) as f64 / secs;
                (
                    window,
                    rate(first.fetches, c.fetch_requests),
                    rate(first.bytes, c.fetched_bytes),
                    rate(first.records, records_total),
                )
            }
            _ => (Duration::ZERO, 0.0, 0.0, 0.0),
        };
        let mut buffered_bytes = 0;
        let partitions = self
            .parts
            .iter()
            .filter(|(_, p)| !p.is_ended())
            .map(|(tp, p)| {
                let shared = &p.shared;
                let fetch = self.fetch.partition(tp);
                let delivered = shared.delivered_next.load(Ordering::Acquire);
                let position = if delivered >= 0 {
                    Some(delivered)
                } else {
                    fetch.filter(|f| f.has_position()).map(|f| f.position)
                };
                let high_watermark = fetch.map(|f| f.high_watermark).filter(|h| *h >= 0);
                let buffered = shared.buffered.load(Ordering::Acquire) as u64;
                buffered_bytes += buffered;
                PartitionMetrics {
                    tp: tp.clone(),
                    position,
                    high_watermark,
                    lag: high_watermark.zip(position).map(|(h, p)| (h - p).max(0)),
                    records_total: shared.yielded.load(Ordering::Relaxed),
                    fetched_bytes_total: p.fetched_bytes,
                    buffered_bytes: buffered,
                    paused: shared.is_paused(),
                }
            })
            .collect();
        let commits = self.commit.stats();
        Metrics {
            status: self.status,
            partitions,
            fetch_requests_total: c.fetch_requests,
            incremental_fetch_requests_total: c.incremental_fetches,
            fetch_partitions_sent_total: c.fetch_partitions_sent,
            fetched_bytes_total: c.fetched_bytes,
            records_total,
            fetch_rate,
            record_rate,
            byte_rate,
            rate_window: window,
            buffered_bytes,
            rebalances_total: c.rebalances,
            last_rebalance: c.last_rebalance,
            commits_total: commits.ok,
            commit_failures_total: commits.failed,
            last_commit_latency: commits.last_latency,
            brokers: Vec::new(),
        }
    }
}
