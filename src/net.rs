//! Connections to brokers.
//!
//! Each goes TCP → TLS ([`tls`], rustls with a pure-Rust provider) → ApiVersions → SASL
//! ([`sasl`]: PLAIN, SCRAM, OAUTHBEARER) as [`SecurityConfig`] says, and re-authenticates on the
//! live socket when the broker limits the session (KIP-368).
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
pub mod sasl;
mod security;
pub mod tls;

pub use backoff::{Backoff, BackoffConfig};
pub use config::NetConfig;
pub use connection::Connection;
pub use pool::{BrokerPool, NodeId};
pub use sasl::{SaslConfig, SaslMechanism};
pub use security::{Secret, SecurityConfig, SecurityProtocol};
pub use tls::TlsConfig;
