//! Connections to every broker of a cluster, keyed by node id, plus cluster metadata.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{MetadataRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use tokio::time::Instant;

use super::{Backoff, Connection, NetConfig};
use crate::cluster::ClusterMetadata;
use crate::error::{Error, ErrorKind, Result};
use crate::wire::MetadataResponse;

pub use crate::types::NodeId;

/// Connections to the brokers of one cluster.
///
/// Creating a pool does no I/O. Connections open lazily on first use; after a failed attempt the next
/// attempt to the same broker waits a capped, jittered, exponentially growing delay (asynchronously:
/// the caller's task sleeps, its runtime does not). Cheap to clone; clones share connections.
#[derive(Debug, Clone)]
pub struct BrokerPool {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: NetConfig,
    bootstrap: Vec<Arc<Slot>>,
    brokers: Mutex<HashMap<NodeId, Arc<Slot>>>,
    metadata: Mutex<Option<Arc<ClusterMetadata>>>,
    next_generation: AtomicU64,
    /// The first authentication failure: retrying cannot fix it, so no connection is attempted
    /// after it (no reconnect storm against a broker that rejects the credentials).
    fatal: Mutex<Option<Error>>,
}

/// One broker address and its connection state. The async mutex serialises connection attempts to
/// that broker; it is never held by a sync lock.
#[derive(Debug)]
struct Slot {
    addr: String,
    state: tokio::sync::Mutex<SlotState>,
    /// Consecutive failed attempts, readable without the async lock (to rank candidates).
    failures: std::sync::atomic::AtomicU32,
}

#[derive(Debug)]
struct SlotState {
    connection: Option<Arc<Connection>>,
    backoff: Backoff,
    next_attempt: Option<Instant>,
}

impl Slot {
    fn new(addr: String, config: &NetConfig) -> Arc<Slot> {
        Arc::new(Slot {
            addr,
            state: tokio::sync::Mutex::new(SlotState {
                connection: None,
                backoff: Backoff::new(config.backoff),
                next_attempt: None,
            }),
            failures: Default::default(),
        })
    }

    /// A healthy connection, opening one if needed (after waiting out any backoff).
    async fn connect(&self, config: &NetConfig, fatal: &Mutex<Option<Error>>) -> Result<Arc<Connection>> {
        let mut state = self.state.lock().await;
        if let Some(conn) = &state.connection {
            if !conn.is_poisoned() {
                return Ok(conn.clone());
            }
            // A connection that failed re-authentication carries the broker's verdict.
            if let Some(e) = conn.error().filter(|e| e.kind() == ErrorKind::Authentication) {
                record_fatal(fatal, &e);
            }
            state.connection = None;
        }
        if let Some(e) = lock(fatal).clone() {
            return Err(e);
        }
        if let Some(at) = state.next_attempt {
            tokio::time::sleep_until(at).await;
        }
        match Connection::connect(&self.addr, config).await {
            Ok(conn) => {
                let conn = Arc::new(conn);
                state.connection = Some(conn.clone());
                state.backoff.reset();
                state.next_attempt = None;
                self.failures.store(0, Ordering::Relaxed);
                tracing::debug!(broker = %self.addr, "connected");
                Ok(conn)
            }
            Err(e) => {
                if e.kind() == ErrorKind::Authentication {
                    record_fatal(fatal, &e);
                    tracing::error!(broker = %self.addr, error = %e, "authentication failed; not reconnecting");
                    return Err(e);
                }
                let delay = state.backoff.next().unwrap_or(config.backoff.max);
                state.next_attempt = Some(Instant::now() + delay);
                let failures = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
                tracing::info!(broker = %self.addr, error = %e, failures, retry_in = ?delay, "connection attempt failed");
                Err(e)
            }
        }
    }

    /// The current connection if it is open and healthy, without waiting.
    fn healthy(&self) -> Option<Arc<Connection>> {
        let state = self.state.try_lock().ok()?;
        state.connection.as_ref().filter(|c| !c.is_poisoned()).cloned()
    }
}

fn record_fatal(fatal: &Mutex<Option<Error>>, e: &Error) {
    let mut fatal = lock(fatal);
    if fatal.is_none() {
        *fatal = Some(e.clone());
    }
}

/// Checks that `addr` looks like `host:port`.
fn validate_addr(addr: &str) -> Result<()> {
    let bad = |why: &str| {
        Err(Error::new(
            ErrorKind::Config,
            format!("bootstrap address {addr:?} {why}; expected host:port, e.g. localhost:9092"),
        ))
    };
    let Some((host, port)) = addr.rsplit_once(':') else {
        return bad("has no port");
    };
    if host.is_empty() || host.trim_matches(['[', ']']).is_empty() {
        return bad("has no host");
    }
    if port.parse::<u16>().is_err() {
        return bad("has an invalid port");
    }
    Ok(())
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl BrokerPool {
    /// A pool that bootstraps from `addrs` (`host:port` each). Validates the addresses and the
    /// security settings (loading certificates and keys from local files); no network I/O.
    pub fn new<I, S>(addrs: I, config: NetConfig) -> Result<BrokerPool>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut bootstrap = Vec::new();
        for addr in addrs {
            for part in addr.as_ref().split(',').map(str::trim).filter(|s| !s.is_empty()) {
                validate_addr(part)?;
                bootstrap.push(Slot::new(part.to_owned(), &config));
            }
        }
        if bootstrap.is_empty() {
            return Err(Error::new(
                ErrorKind::Config,
                "no bootstrap servers given; set e.g. localhost:9092",
            ));
        }
        config.security.validate()?;
        Ok(BrokerPool {
            inner: Arc::new(Inner {
                config,
                bootstrap,
                brokers: Mutex::new(HashMap::new()),
                metadata: Mutex::new(None),
                next_generation: AtomicU64::new(1),
                fatal: Mutex::new(None),
            }),
        })
    }

    /// The state of the connection to each broker this pool knows: by node id, and bootstrap
    /// addresses not matched to one. A connection attempt under way is `Connecting`.
    pub fn connection_states(&self) -> Vec<crate::metrics::BrokerMetrics> {
        use crate::metrics::{BrokerMetrics, ConnectionState};
        let state = |slot: &Slot| match slot.state.try_lock() {
            Err(_) => ConnectionState::Connecting,
            Ok(s) if s.connection.as_ref().is_some_and(|c| !c.is_poisoned()) => ConnectionState::Connected,
            Ok(_) => ConnectionState::Disconnected,
        };
        let metrics = |node_id, slot: &Slot| BrokerMetrics {
            node_id,
            address: slot.addr.clone(),
            state: state(slot),
            consecutive_failures: slot.failures.load(Ordering::Relaxed),
            fetch_requests_total: 0,
        };
        let mut out: Vec<BrokerMetrics> = lock(&self.inner.brokers)
            .iter()
            .map(|(node, slot)| metrics(Some(*node), slot))
            .collect();
        for slot in &self.inner.bootstrap {
            if !out.iter().any(|b| b.address == slot.addr) {
                out.push(metrics(None, slot));
            }
        }
        out.sort_by(|a, b| (a.node_id, &a.address).cmp(&(b.node_id, &b.address)));
        out
    }

    /// The authentication failure that stopped this pool from connecting, if one did (the broker
    /// rejected the SASL credentials or a TLS certificate). Every later connection attempt fails
    /// with it at once.
    pub fn fatal_error(&self) -> Option<Error> {
        lock(&self.inner.fatal).clone()
    }

    /// The network settings.
    pub fn config(&self) -> &NetConfig {
        &self.inner.config
    }

    /// The connection to broker `node` (as named in the latest metadata), opening it if needed.
    pub async fn connection(&self, node: NodeId) -> Result<Arc<Connection>> {
        let slot = lock(&self.inner.brokers).get(&node).cloned();
        match slot {
            Some(slot) => slot.connect(&self.inner.config, &self.inner.fatal).await,
            None => Err(Error::new(
                ErrorKind::Connect,
                format!("broker {node} is not in the cluster metadata (refresh metadata first)"),
            )),
        }
    }

    /// A connection to any broker: an open one if there is one, else the candidate with the fewest
    /// recent failures (known brokers and bootstrap addresses). One attempt.
    pub async fn any_connection(&self) -> Result<Arc<Connection>> {
        let mut candidates: Vec<Arc<Slot>> = lock(&self.inner.brokers).values().cloned().collect();
        candidates.extend(self.inner.bootstrap.iter().cloned());
        if let Some(conn) = candidates.iter().find_map(|s| s.healthy()) {
            return Ok(conn);
        }
        // Stable sort keeps configuration order among equals.
        candidates.sort_by_key(|s| s.failures.load(Ordering::Relaxed));
        match candidates.first() {
            Some(slot) => slot.connect(&self.inner.config, &self.inner.fatal).await,
            None => Err(Error::new(ErrorKind::Config, "no brokers to connect to")),
        }
    }

    /// The latest metadata snapshot, if any has been fetched.
    pub fn cached_metadata(&self) -> Option<Arc<ClusterMetadata>> {
        lock(&self.inner.metadata).clone()
    }

    /// Fetches metadata for `topics` (`None`: every topic), retrying other brokers with backoff until
    /// `request_timeout` has passed. Updates the pool's broker addresses.
    pub async fn metadata(&self, topics: Option<&[&str]>) -> Result<Arc<ClusterMetadata>> {
        let deadline = Instant::now() + self.inner.config.request_timeout;
        let attempt = async {
            loop {
                match self.metadata_once(topics).await {
                    Ok(m) => return Ok(m),
                    Err(e) if e.is_retriable() && Instant::now() < deadline => {
                        tracing::debug!(error = %e, "metadata request failed; retrying");
                    }
                    Err(e) => return Err(e),
                }
            }
        };
        match tokio::time::timeout_at(deadline, attempt).await {
            Ok(result) => result,
            Err(_) => Err(Error::new(
                ErrorKind::Timeout,
                format!(
                    "no broker answered a metadata request within {:?}; is the cluster reachable?",
                    self.inner.config.request_timeout
                ),
            )),
        }
    }

    /// One metadata request to one broker.
    pub async fn metadata_once(&self, topics: Option<&[&str]>) -> Result<Arc<ClusterMetadata>> {
        let generation = self.inner.next_generation.fetch_add(1, Ordering::Relaxed);
        let conn = self.any_connection().await?;
        let request = MetadataRequest::default()
            .with_allow_auto_topic_creation(false)
            .with_topics(topics.map(|ts| {
                ts.iter()
                    .map(|t| {
                        MetadataRequestTopic::default()
                            .with_name(Some(TopicName(StrBytes::from_string((*t).to_owned()))))
                    })
                    .collect()
            }));
        let response: MetadataResponse = conn.request(&request).await?;
        let fresh = Arc::new(ClusterMetadata::from_response(&response, generation));
        Ok(self.store_metadata(fresh))
    }

    /// Stores `fresh` unless a newer snapshot (from a later request) is already stored; returns the
    /// stored one. So a slow response can never undo a newer refresh.
    fn store_metadata(&self, fresh: Arc<ClusterMetadata>) -> Arc<ClusterMetadata> {
        let mut current = lock(&self.inner.metadata);
        if let Some(existing) = current.as_ref()
            && existing.generation() > fresh.generation()
        {
            return existing.clone();
        }
        let mut brokers = lock(&self.inner.brokers);
        for broker in fresh.brokers() {
            let addr = broker.addr();
            let replace = brokers.get(&broker.node_id).is_none_or(|slot| slot.addr != addr);
            if replace {
                brokers.insert(broker.node_id, Slot::new(addr, &self.inner.config));
            }
        }
        *current = Some(fresh.clone());
        fresh
    }

    /// Registers (or updates) the address of broker `node`, e.g. a group coordinator named by
    /// FindCoordinator. An address change drops the old connection.
    pub fn set_broker(&self, node: NodeId, addr: String) {
        let mut brokers = lock(&self.inner.brokers);
        if brokers.get(&node).is_none_or(|slot| slot.addr != addr) {
            brokers.insert(node, Slot::new(addr, &self.inner.config));
        }
    }

    /// How long a caller should expect a connection attempt to `node` to wait before it starts.
    pub fn retry_delay(&self, node: NodeId) -> Option<Duration> {
        let slot = lock(&self.inner.brokers).get(&node).cloned()?;
        let state = slot.state.try_lock().ok()?;
        state
            .next_attempt
            .map(|at| at.saturating_duration_since(Instant::now()))
    }
}
