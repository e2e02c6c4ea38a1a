//! Connections to brokers.
//!
//! - [`Connection`]: one broker, pipelined requests matched by correlation id, a deadline per request,
//!   poisoned by the first failure so every waiter sees the same error, and cancellation-safe.
//! - [`BrokerPool`]: connections keyed by node id, opened lazily, re-opened after capped, jittered
//!   exponential [`Backoff`]; cluster metadata.
//!
//! Everything here is async and uses tokio's DNS and sockets; nothing blocks the runtime it runs on.

mod backoff;
mod config;
mod connection;
mod pool;

pub use backoff::{Backoff, BackoffConfig};
pub use config::NetConfig;
pub use connection::Connection;
pub use pool::{BrokerPool, NodeId};
