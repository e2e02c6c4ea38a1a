//! # kafkit
//!
//! A Kafka consumer in pure Rust: no librdkafka, no C, no FFI. It builds with nothing but `cargo`
//! for any target rustup has, and it is designed so that it cannot stall your async application.
//!
//! ## The model
//!
//! - **An engine of its own.** [`Consumer::builder`]`…`[`build`](ConsumerBuilder::build) validates
//!   the configuration and starts a thread running its own current-thread tokio runtime: the
//!   *engine*. It owns every socket and timer: connections (tokio DNS, connect timeouts, reconnects
//!   with capped jittered backoff), group membership and heartbeats, fetching and commits. Your code
//!   talks to it through channels, which work from any runtime (current-thread or multi-thread) or
//!   none. A blocked or starved application runtime therefore cannot cost the group membership, and
//!   `build()` never waits for, or fails because of, an unreachable broker.
//! - **One stream per partition.** [`Consumer::partitions`] yields a [`PartitionStream`] for each
//!   assigned partition, created before the first fetch for it; there is no shared queue to split.
//!   [`Consumer::records`] merges them. Records are parsed lazily and zero-copy from the fetched
//!   bytes on your side of the channel.
//! - **Commit semantics.** Pulling record *n* of a partition marks everything before it processed;
//!   auto-commit commits that (never ahead of processing). The end of a stream and
//!   [`Consumer::close`] mark the last record processed too. [`PartitionStream::commit`] commits a
//!   record now and returns the coordinator's answer as a typed [`Error`]; during a rebalance it
//!   fails at once (retriable) instead of hanging.
//! - **Rebalances.** On a revoke the partition's stream ends immediately; the engine waits (bounded
//!   by `max.poll.interval`) for you to drop it and for its commits before the rebalance goes on, so
//!   a well-behaved application never processes a partition on two members at once. Lost
//!   partitions (session expired, generation reset) end without a commit. `range`, `roundrobin` and
//!   `cooperative-sticky` (incremental, KIP-429) are supported, interoperating with Java and
//!   librdkafka members.
//! - **Liveness.** If records wait unpulled for `max.poll.interval`, the member leaves the group so
//!   others take over, and reports it ([`Event::MaxPollExceeded`], [`Status::Stalled`]); the next
//!   pull rejoins.
//! - **Pause.** [`PartitionStream::pause`] (or [`Consumer::pause`] for the merged stream) stops
//!   fetching a partition and holds its stream, keeping the assignment and what was buffered;
//!   records of a paused partition do not count against `max.poll.interval`. Resuming continues at
//!   exactly the next offset. As in Kafka, a partition assigned anew starts unpaused.
//! - **Positions and offsets.** [`PartitionStream::seek`] (and [`Consumer::seek`]) moves a
//!   partition to an [`Offset`] (beginning, end, an offset, a time, the last N), valid before its
//!   first fetch and while paused; what was buffered from the old position is dropped.
//!   [`Consumer::watermarks`], [`Consumer::offsets_for_times`], [`Consumer::committed`] and
//!   [`Consumer::position`] ask the brokers; lag stays fresh for paused partitions too.
//! - **Choosing partitions.** [`ConsumerBuilder::assign`] (and [`Consumer::assign`] /
//!   [`Consumer::unassign`]) consumes chosen partitions without group membership;
//!   [`ConsumerBuilder::subscribe_pattern`] follows the topics a pattern matches as they come and go.
//! - **Metrics.** [`Consumer::metrics`] snapshots per-partition lag and counts, rates, rebalances,
//!   commits and connections; [`Metrics::prometheus_text`] renders them for Prometheus.
//! - **Hostile input.** Responses are decoded by kafkit's own bounded decoders ([`wire`],
//!   [`records`]): every length is checked against the bytes present before allocating, and
//!   malformed bytes are a typed error, never a panic or an abort.
//!
//! ## Example
//!
//! ```no_run
//! use kafkit::{Consumer, OffsetReset};
//!
//! # async fn run() -> Result<(), kafkit::Error> {
//! let consumer = Consumer::builder()
//!     .bootstrap("localhost:9092")
//!     .group_id("billing")
//!     .subscribe(["orders"])
//!     .offset_reset(OffsetReset::Earliest)
//!     .build()?;
//! let mut records = consumer.records()?;
//! while let Some(record) = records.next().await {
//!     let record = record?;
//!     println!("{}/{}@{}: {:?}", record.topic(), record.partition(), record.offset(), record.value());
//! }
//! consumer.close().await
//! # }
//! ```
//!
//! The low-level layers are public too: [`wire`] (framing, version negotiation, bounded decoders),
//! [`records`] (the RecordBatch reader), [`net`] (connections and the broker pool) and [`cluster`]
//! (metadata).

#![warn(missing_docs)]

pub mod cluster;
mod commit;
mod config;
mod consumer;
mod engine;
mod error;
mod events;
mod fetch;
#[cfg(fuzzing)]
pub mod fuzzing;
mod group;
mod handoff;
mod metrics;
pub mod net;
pub mod records;
#[cfg(any(test, fuzzing))]
mod sim;
mod types;
pub mod wire;

pub use config::{Assignor, GroupProtocol, IsolationLevel, OffsetReset, RemoteAssignor};
pub use consumer::{Consumer, ConsumerBuilder, PartitionStream, Partitions, Record, RecordStream};
pub use error::{Error, ErrorKind, Result};
pub use events::{Event, Events, Health, Status};
pub use metrics::{BrokerMetrics, ConnectionState, Metrics, PartitionMetrics};
pub use types::{Offset, OffsetAndTimestamp, TopicPartition, Watermarks};

/// The README's examples, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
