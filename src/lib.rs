//! # kafkit
//!
//! A Kafka consumer in pure Rust: no librdkafka, no C, no FFI. It builds with nothing but `cargo`
//! for any target rustup has, and it is designed so that it cannot stall your async application.
//!
//! ## Status
//!
//! kafkit is being built bottom-up. What exists today is the foundation:
//!
//! - [`wire`]: framing, request encoding, API version negotiation and kafkit's own *bounded* response
//!   decoders (every length and count checked before allocating; hostile bytes are a typed
//!   [`wire::DecodeError`], never a panic or an abort).
//! - [`net`]: an async connection to one broker (tokio DNS and sockets, connect timeout, pipelined
//!   requests matched by correlation id, a deadline per request, poisoning on failure, cancellation
//!   safety), a broker pool with capped, jittered exponential backoff, and cluster metadata.
//!
//! The consumer-group API (`Consumer::builder()`, one stream per partition) builds on these.
//!
//! ## Example: read cluster metadata
//!
//! ```no_run
//! # async fn run() -> Result<(), kafkit::Error> {
//! use kafkit::net::{BrokerPool, NetConfig};
//!
//! let pool = BrokerPool::new(["localhost:9092"], NetConfig::default())?; // no I/O yet
//! let metadata = pool.metadata(Some(&["orders"])).await?;
//! for topic in metadata.topics() {
//!     println!("{} has {} partitions", topic.name, topic.partitions.len());
//! }
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

pub mod cluster;
mod config;
mod consumer;
mod engine;
mod error;
#[cfg(fuzzing)]
pub mod fuzzing;
mod group;
pub mod net;
pub mod records;
mod types;
pub mod wire;

pub use config::{Assignor, IsolationLevel, OffsetReset};
pub use consumer::{
    Consumer, ConsumerBuilder, Event, Events, Health, PartitionStream, Partitions, Record, RecordStream,
    Status,
};
pub use error::{Error, ErrorKind, Result};
pub use types::TopicPartition;
