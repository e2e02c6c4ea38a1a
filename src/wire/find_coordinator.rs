//! FindCoordinator response (API key 10), versions 1–4.
//!
//! Versions 1–3 answer for one key; version 4 (KIP-699) answers a batch. Both decode into the same
//! list of [`Coordinator`]s so callers need not care which version the broker spoke.

use bytes::Bytes;
use kafka_protocol::messages::ApiKey;

use super::{DecodeError, DecodeResponse, KafkaCode, Reader, Str, is_flexible};

/// The FindCoordinator response, uniform across versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindCoordinatorResponse {
    /// Throttle time.
    pub throttle_time_ms: i32,
    /// One entry per key asked for (exactly one, with no key, before v4).
    pub coordinators: Vec<Coordinator>,
}

/// The coordinator for one key, or the error finding it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coordinator {
    /// The key (group id) this answers; `None` before v4, where the response names no key.
    pub key: Option<Str>,
    /// The coordinator's node id.
    pub node_id: i32,
    /// Its host.
    pub host: Str,
    /// Its port.
    pub port: i32,
    /// Error code.
    pub error_code: KafkaCode,
    /// Error message, if any.
    pub error_message: Option<Str>,
}

impl FindCoordinatorResponse {
    /// The answer for `key`: the entry naming it (v4+), or the single unnamed one (v1–3).
    pub fn for_key(&self, key: &str) -> Option<&Coordinator> {
        self.coordinators
            .iter()
            .find(|c| c.key.as_ref().is_none_or(|k| k.as_str() == key))
    }
}

impl DecodeResponse for FindCoordinatorResponse {
    const API: ApiKey = ApiKey::FindCoordinator;

    fn decode(body: Bytes, version: i16) -> Result<Self, DecodeError> {
        super::check_version(Self::API, version)?;
        let flexible = is_flexible(Self::API, version);
        let mut r = Reader::new(body);
        let throttle_time_ms = r.field("throttle_time_ms").i32()?;
        let coordinators = if version >= 4 {
            // key(1) node(4) host(1) port(4) error(2) message(1) tags(1)
            let count = r.field("coordinators").array_len(true, 14)?;
            let mut out = Vec::with_capacity(count);
            for _ in 0..count {
                let key = r.field("coordinator.key").string(true)?;
                let node_id = r.field("coordinator.node_id").i32()?;
                let host = r.field("coordinator.host").string(true)?;
                let port = r.field("coordinator.port").i32()?;
                let error_code = KafkaCode(r.field("coordinator.error_code").i16()?);
                let error_message = r.field("coordinator.error_message").nullable_string(true)?;
                r.skip_tagged_fields()?;
                out.push(Coordinator {
                    key: Some(key),
                    node_id,
                    host,
                    port,
                    error_code,
                    error_message,
                });
            }
            out
        } else {
            let error_code = KafkaCode(r.field("error_code").i16()?);
            let error_message = r.field("error_message").nullable_string(flexible)?;
            let node_id = r.field("node_id").i32()?;
            let host = r.field("host").string(flexible)?;
            let port = r.field("port").i32()?;
            vec![Coordinator {
                key: None,
                node_id,
                host,
                port,
                error_code,
                error_message,
            }]
        };
        if flexible {
            r.skip_tagged_fields()?;
        }
        r.finish()?;
        Ok(FindCoordinatorResponse {
            throttle_time_ms,
            coordinators,
        })
    }
}
