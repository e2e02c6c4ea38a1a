use std::time::Duration;

use super::{BackoffConfig, SecurityConfig};
use crate::wire::DEFAULT_MAX_FRAME_SIZE;

/// Network settings shared by all connections.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NetConfig {
    /// `client.id` sent in every request header.
    pub client_id: String,
    /// How long DNS, the TCP and TLS handshakes, ApiVersions and SASL authentication may take together.
    pub connect_timeout: Duration,
    /// How long a request may wait for its response before the connection is declared failed.
    pub request_timeout: Duration,
    /// The largest response frame accepted; larger size prefixes fail the connection before
    /// anything is allocated.
    pub max_frame_size: usize,
    /// Reconnect backoff.
    pub backoff: BackoffConfig,
    /// TLS and SASL (`security.protocol`, `ssl.*`, `sasl.*`).
    pub security: SecurityConfig,
    /// Re-authentication (KIP-368) starts at least this long before the session the broker granted
    /// expires (and never later than 85–95% of it), so requests written just before it still reach
    /// the broker in time. Default 1 s; keep it above `fetch.wait.max.ms`.
    pub reauth_lead: Duration,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            client_id: "kafkit".to_owned(),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            backoff: BackoffConfig::default(),
            security: SecurityConfig::default(),
            reauth_lead: Duration::from_secs(1),
        }
    }
}

impl NetConfig {
    // `NetConfig::from_properties` is in `crate::config`, beside the property parser.

    /// Sets `client_id`.
    pub fn client_id(mut self, id: impl Into<String>) -> Self {
        self.client_id = id.into();
        self
    }
    /// Sets `connect_timeout`.
    pub fn connect_timeout(mut self, t: Duration) -> Self {
        self.connect_timeout = t;
        self
    }
    /// Sets `request_timeout`.
    pub fn request_timeout(mut self, t: Duration) -> Self {
        self.request_timeout = t;
        self
    }
    /// Sets `max_frame_size`.
    pub fn max_frame_size(mut self, n: usize) -> Self {
        self.max_frame_size = n;
        self
    }
    /// Sets `security`.
    pub fn security(mut self, security: SecurityConfig) -> Self {
        self.security = security;
        self
    }
    /// Sets `reauth_lead`.
    pub fn reauth_lead(mut self, lead: Duration) -> Self {
        self.reauth_lead = lead;
        self
    }
    /// Sets `backoff`.
    pub fn backoff(mut self, b: BackoffConfig) -> Self {
        self.backoff = b;
        self
    }
}
