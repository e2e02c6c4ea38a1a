//! The consumer: its builder, its handle, and the streams it hands out.

mod partition_stream;
mod partitions;
mod record;
mod record_stream;
#[cfg(test)]
mod test_util;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};

pub use partition_stream::PartitionStream;
pub(crate) use partition_stream::{commit_offset, commit_offsets};
pub use partitions::Partitions;
pub use record::Record;
pub use record_stream::RecordStream;

use crate::config::{Assignor, ConsumerConfig, GroupProtocol, IsolationLevel, OffsetReset, RemoteAssignor};
use crate::engine::Engine;
use crate::error::{Error, ErrorKind, Result};
use crate::events::{Events, Health, Reporter};
use crate::handoff::{Command, Query, RejoinSignal};
use crate::net::sasl::OAuthBearerTokenProvider;
use crate::net::{SaslMechanism, Secret, SecurityProtocol};

/// Builds a [`Consumer`]. Start with [`Consumer::builder`].
///
/// Every setter has a librdkafka property equivalent, which [`ConsumerBuilder::property`] accepts.
#[derive(Debug, Clone, Default)]
pub struct ConsumerBuilder {
    config: ConsumerConfig,
    error: Option<Error>,
}

impl ConsumerBuilder {
    /// Bootstrap brokers, `host:port` (comma-separated lists are accepted) — `bootstrap.servers`.
    pub fn bootstrap(mut self, servers: impl AsRef<str>) -> Self {
        self.config.bootstrap.extend(
            servers
                .as_ref()
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
        );
        self
    }

    /// The consumer group — `group.id`. Without a group, the consumer reads every partition of its
    /// topics from the reset position and commits nothing.
    pub fn group_id(mut self, group: impl Into<String>) -> Self {
        self.config.group_id = Some(group.into());
        self
    }

    /// The group membership protocol — `group.protocol`. [`GroupProtocol::Classic`] (the
    /// default) works with every broker; [`GroupProtocol::Consumer`] (KIP-848, Kafka 4.0+) lets
    /// the broker assign and rebalance member by member, without stopping the group.
    pub fn group_protocol(mut self, protocol: GroupProtocol) -> Self {
        self.config.group_protocol = protocol;
        self
    }

    /// The broker-side assignor for [`GroupProtocol::Consumer`] — `group.remote.assignor`.
    /// Default: the broker's (`uniform` on Kafka). An error with the classic protocol.
    pub fn group_remote_assignor(mut self, assignor: RemoteAssignor) -> Self {
        self.config.remote_assignor = Some(assignor);
        self
    }

    /// Static membership (KIP-345) — `group.instance.id`.
    pub fn group_instance_id(mut self, id: impl Into<String>) -> Self {
        self.config.group_instance_id = Some(id.into());
        self
    }

    /// Topics to consume.
    pub fn subscribe<I, S>(mut self, topics: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.config.topics.extend(topics.into_iter().map(Into::into));
        self
    }

    /// Subscribes to every topic whose whole name matches `pattern` (a Rust `regex`, anchored at
    /// both ends as Java's `subscribe(Pattern)` matches), internal topics excluded. The pattern is
    /// matched against the cluster's metadata at every refresh (`metadata.max.age.ms`): a new
    /// matching topic is consumed without a restart, a deleted one's streams end, and a topic
    /// that gains partitions has them consumed too (with a group, each change is a rejoin). An
    /// invalid pattern makes [`ConsumerBuilder::build`] fail, naming the error. Excludes
    /// [`ConsumerBuilder::subscribe`] and [`ConsumerBuilder::assign`].
    pub fn subscribe_pattern(mut self, pattern: impl AsRef<str>) -> Self {
        let pattern = pattern.as_ref();
        match regex::Regex::new(&format!("^(?:{pattern})$")) {
            Ok(re) => self.config.pattern = Some(re),
            Err(e) => {
                if self.error.is_none() {
                    self.error = Some(Error::new(
                        ErrorKind::Config,
                        format!("subscribe_pattern({pattern:?}) is not a valid regular expression: {e}"),
                    ));
                }
            }
        }
        self
    }

    /// Subscribes to the topics `pattern` matches, evaluated by the group coordinator (KIP-848's
    /// `SubscribedTopicRegex`, Java's `subscribe(SubscriptionPattern)`): needs
    /// [`GroupProtocol::Consumer`] and Kafka 4.0 or later. The broker matches whole topic names
    /// with RE2/J syntax (close to Rust's `regex`: no look-around, no back-references) and
    /// re-evaluates it as topics come and go, so every member agrees on the topics without
    /// matching metadata itself. The consumer reads metadata for every topic to resolve the
    /// topic ids the broker assigns. A pattern that is not a valid `regex` makes
    /// [`ConsumerBuilder::build`] fail; one the broker rejects ends the membership with
    /// `INVALID_REGULAR_EXPRESSION`, reported as [`Event::Fatal`](crate::Event::Fatal). Excludes
    /// [`ConsumerBuilder::subscribe`], [`ConsumerBuilder::subscribe_pattern`] and
    /// [`ConsumerBuilder::assign`].
    pub fn subscribe_broker_pattern(mut self, pattern: impl Into<String>) -> Self {
        let pattern = pattern.into();
        if let Err(e) = regex::Regex::new(&pattern)
            && self.error.is_none()
        {
            self.error = Some(Error::new(
                ErrorKind::Config,
                format!("subscribe_broker_pattern({pattern:?}) is not a valid regular expression: {e}"),
            ));
        }
        self.config.broker_pattern = Some(pattern);
        self
    }

    /// Chooses the partitions to consume yourself, as Kafka's `assign()`: no group membership, no
    /// rebalances; each partition is a [`PartitionStream`] as with a subscription, and more can be
    /// added or removed later with [`Consumer::assign`] and [`Consumer::unassign`] (start with an
    /// empty list to add them all later). With a [`ConsumerBuilder::group_id`], positions start at
    /// the group's committed offsets and commits go to it (as generation -1, which Kafka accepts
    /// while no member of the group uses the group protocol); without one, nothing is committed.
    /// Excludes [`ConsumerBuilder::subscribe`]; `max.poll.interval.ms` does not apply (there is no
    /// group to leave).
    pub fn assign<I>(mut self, partitions: I) -> Self
    where
        I: IntoIterator<Item = crate::TopicPartition>,
    {
        self.config
            .assignment
            .get_or_insert_with(Vec::new)
            .extend(partitions);
        self
    }

    /// Where a partition without a committed offset starts — `auto.offset.reset`. Default: latest.
    pub fn offset_reset(mut self, reset: OffsetReset) -> Self {
        self.config.offset_reset = reset;
        self
    }

    /// Without a group: start every partition at this offset instead of by the reset policy (which
    /// still applies if the offset is out of range). Ignored with a group, where committed offsets
    /// decide. The same as `start_at(Offset::At(offset))`.
    pub fn start_offset(self, offset: i64) -> Self {
        self.start_at(crate::Offset::At(offset))
    }

    /// Without a group: start every partition here — an offset, the beginning or end, the first
    /// record at or after a time, or the last N ([`crate::Offset`]) — instead of by the reset
    /// policy (which still applies where the place is outside the log). Ignored with a group,
    /// where committed offsets decide (seek a [`PartitionStream`] for that).
    pub fn start_at(mut self, at: crate::Offset) -> Self {
        self.config.start_at = Some(at);
        self
    }

    /// Whether processed offsets are committed automatically — `enable.auto.commit`. Default: true.
    pub fn auto_commit(mut self, enabled: bool) -> Self {
        self.config.enable_auto_commit = enabled;
        self
    }

    /// How often auto-commit runs — `auto.commit.interval.ms`. Default: 5 s.
    pub fn auto_commit_interval(mut self, interval: Duration) -> Self {
        self.config.auto_commit_interval = interval;
        self
    }

    /// Group session timeout — `session.timeout.ms`. Default: 45 s. Classic protocol only: with
    /// [`GroupProtocol::Consumer`] the broker sets it (`group.consumer.session.timeout.ms`) and
    /// setting it makes [`ConsumerBuilder::build`] fail, as in Kafka's consumer.
    pub fn session_timeout(mut self, timeout: Duration) -> Self {
        self.config.session_timeout = timeout;
        self.config.classic_only.insert(crate::config::SESSION_TIMEOUT);
        self
    }

    /// Heartbeat interval — `heartbeat.interval.ms`. Default: 3 s. Classic protocol only: with
    /// [`GroupProtocol::Consumer`] the broker sets it (`group.consumer.heartbeat.interval.ms`) and
    /// setting it makes [`ConsumerBuilder::build`] fail, as in Kafka's consumer.
    pub fn heartbeat_interval(mut self, interval: Duration) -> Self {
        self.config.heartbeat_interval = interval;
        self.config.classic_only.insert(crate::config::HEARTBEAT_INTERVAL);
        self
    }

    /// How long records may wait unpulled before the member leaves the group —
    /// `max.poll.interval.ms`. Default: 5 minutes. Also the rebalance timeout.
    pub fn max_poll_interval(mut self, interval: Duration) -> Self {
        self.config.max_poll_interval = interval;
        self
    }

    /// How long [`Consumer::close`] may take to commit and leave before it gives up (the group then
    /// notices at session timeout). Default: 30 s.
    pub fn close_timeout(mut self, timeout: Duration) -> Self {
        self.config.close_timeout = timeout;
        self
    }

    /// Assignment strategies in preference order — `partition.assignment.strategy`. Classic
    /// protocol only: with [`GroupProtocol::Consumer`] the broker assigns (choose its assignor with
    /// [`ConsumerBuilder::group_remote_assignor`]) and setting this makes
    /// [`ConsumerBuilder::build`] fail, as in Kafka's consumer.
    pub fn assignors(mut self, assignors: impl IntoIterator<Item = Assignor>) -> Self {
        self.config.assignors = assignors.into_iter().collect();
        self.config
            .classic_only
            .insert(crate::config::ASSIGNMENT_STRATEGY);
        self
    }

    /// `read_committed` (default) or `read_uncommitted` — `isolation.level`.
    pub fn isolation_level(mut self, level: IsolationLevel) -> Self {
        self.config.isolation_level = level;
        self
    }

    /// How often cluster metadata is refreshed when nothing prompts it — `metadata.max.age.ms`
    /// (librdkafka: `topic.metadata.refresh.interval.ms`). Default: 5 minutes. A refresh that
    /// finds more partitions for a subscribed topic makes the group rebalance so they are consumed.
    pub fn metadata_max_age(mut self, age: Duration) -> Self {
        self.config.metadata_max_age = age;
        self
    }

    /// The rack (availability zone) this consumer runs in — `client.rack`. Brokers configured
    /// with a `replica.selector.class` (Kafka's `RackAwareReplicaSelector`) then point fetches to
    /// an in-sync replica in the same rack (KIP-392), which saves cross-zone traffic; kafkit fetches
    /// from it, and from the leader again if that replica errs or the preference expires
    /// (`metadata.max.age.ms`). The rack also goes in the group subscription: when this member
    /// leads, the `range` and `cooperative-sticky` assignors give each member with a rack the
    /// partitions that have a replica in it where balance allows (KIP-881, as Kafka's assignors
    /// do; `roundrobin` ignores racks). Default: none (always the leader).
    pub fn client_rack(mut self, rack: impl Into<String>) -> Self {
        self.config.client_rack = Some(rack.into()).filter(|r| !r.is_empty());
        self
    }

    /// Incremental fetch sessions (KIP-227) — `enable.fetch.sessions`. With a session, a fetch
    /// to a broker carries only the partitions whose position changed since the last one, and the
    /// broker answers only for partitions with records or news: a consumer of many quiet
    /// partitions sends and receives a fraction of the bytes. On by default, used with brokers
    /// that offer sessions (Fetch v7+); a broker whose session cache is full simply serves full
    /// fetches. Turn off to send every partition in every fetch (librdkafka's behaviour).
    pub fn fetch_sessions(mut self, enabled: bool) -> Self {
        self.config.fetch_sessions = enabled;
        self
    }

    /// `client.id`.
    pub fn client_id(mut self, id: impl Into<String>) -> Self {
        self.config.net.client_id = id.into();
        self
    }

    /// How connections are secured — `security.protocol`: PLAINTEXT (the default), SSL,
    /// SASL_PLAINTEXT or SASL_SSL.
    pub fn security_protocol(mut self, protocol: SecurityProtocol) -> Self {
        self.config.net.security.protocol = protocol;
        self
    }

    /// Trust the CA certificates in this PEM file (or directory of PEM files) instead of the
    /// built-in Mozilla roots — `ssl.ca.location`.
    pub fn ssl_ca_location(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.config.net.security.tls = std::mem::take(&mut self.config.net.security.tls).ca_location(path);
        self
    }

    /// Present this client certificate chain and private key (PEM files) for mutual TLS —
    /// `ssl.certificate.location`, `ssl.key.location`.
    pub fn ssl_client_certificate(
        mut self,
        certificate: impl Into<std::path::PathBuf>,
        key: impl Into<std::path::PathBuf>,
    ) -> Self {
        self.config.net.security.tls =
            std::mem::take(&mut self.config.net.security.tls).client_certificate(certificate, key);
        self
    }

    /// The password of an encrypted (PKCS#8) private key — `ssl.key.password`.
    pub fn ssl_key_password(mut self, password: impl Into<Secret>) -> Self {
        self.config.net.security.tls =
            std::mem::take(&mut self.config.net.security.tls).key_password(password);
        self
    }

    /// Whether the broker's certificate must name the host connected to —
    /// `ssl.endpoint.identification.algorithm` (`https`: true, the default; `none`: false, which still
    /// verifies the chain).
    pub fn ssl_verify_hostname(mut self, verify: bool) -> Self {
        self.config.net.security.tls =
            std::mem::take(&mut self.config.net.security.tls).verify_hostname(verify);
        self
    }

    /// Use this rustls crypto provider (ring, aws-lc-rs, a FIPS one, ...) instead of kafkit's
    /// built-in pure-Rust one (rustls-graviola).
    pub fn tls_crypto_provider(mut self, provider: std::sync::Arc<rustls::crypto::CryptoProvider>) -> Self {
        self.config.net.security.tls =
            std::mem::take(&mut self.config.net.security.tls).crypto_provider(provider);
        self
    }

    /// Use this rustls client configuration as is (every other `ssl.*` setting is then ignored).
    pub fn tls_client_config(mut self, config: std::sync::Arc<rustls::ClientConfig>) -> Self {
        self.config.net.security.tls =
            std::mem::take(&mut self.config.net.security.tls).client_config_override(config);
        self
    }

    /// SASL credentials for PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 — `sasl.mechanism`,
    /// `sasl.username`, `sasl.password`. Set [`ConsumerBuilder::security_protocol`] to SASL_SSL (or
    /// SASL_PLAINTEXT) too.
    pub fn sasl_credentials(
        mut self,
        mechanism: SaslMechanism,
        username: impl Into<String>,
        password: impl Into<Secret>,
    ) -> Self {
        self.config.net.security.sasl =
            std::mem::take(&mut self.config.net.security.sasl).credentials(mechanism, username, password);
        self
    }

    /// SASL/OAUTHBEARER with tokens from `provider` (asked again when a token has used 80% of its
    /// lifetime) — `sasl.mechanism=OAUTHBEARER`.
    pub fn oauthbearer_token_provider(
        mut self,
        provider: std::sync::Arc<dyn OAuthBearerTokenProvider>,
    ) -> Self {
        self.config.net.security.sasl =
            std::mem::take(&mut self.config.net.security.sasl).oauthbearer(provider);
        self
    }

    /// Sets a librdkafka-style property (`bootstrap.servers`, `group.id`, `auto.offset.reset`, ...).
    /// An unknown key or bad value makes [`ConsumerBuilder::build`] fail with a message naming it.
    pub fn property(mut self, key: impl AsRef<str>, value: impl AsRef<str>) -> Self {
        if self.error.is_none()
            && let Err(e) = self.config.set_property(key.as_ref(), value.as_ref())
        {
            self.error = Some(e);
        }
        self
    }

    /// Sets several properties; see [`ConsumerBuilder::property`].
    pub fn properties<I, K, V>(mut self, properties: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        for (k, v) in properties {
            self = self.property(k, v);
        }
        self
    }

    /// Validates the configuration and starts the consumer's engine thread.
    ///
    /// Does no network I/O and does not need a broker to be reachable: connecting, joining and
    /// fetching all happen in the background (watch [`Consumer::health`] and [`Consumer::events`]).
    /// Fails only for invalid configuration.
    pub fn build(self) -> Result<Consumer> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let mut config = self.config;
        config.finish()?;
        config.validate()?;
        Consumer::start(config)
    }
}

/// A Kafka consumer.
///
/// Its engine (connections, group membership, heartbeats, fetching) runs on a thread of its own
/// with its own runtime, so a blocked or starved application runtime does not cost the group
/// membership. The handle talks to it through channels and works from any runtime.
///
/// Take records either per partition with [`Consumer::partitions`] or merged with
/// [`Consumer::records`] (use one of the two). Close with [`Consumer::close`] to commit what was
/// processed and leave the group promptly; dropping the consumer does the same in the background.
pub struct Consumer {
    commands: mpsc::Sender<Command>,
    partitions: Mutex<Option<Partitions>>,
    reporter: Reporter,
    health: watch::Receiver<Health>,
    close_timeout: Duration,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("health", &*self.health.borrow())
            .finish_non_exhaustive()
    }
}

impl Consumer {
    /// A builder.
    pub fn builder() -> ConsumerBuilder {
        ConsumerBuilder::default()
    }

    fn start(config: ConsumerConfig) -> Result<Consumer> {
        let (commands, command_rx) = mpsc::channel(1024);
        let (partitions_tx, partitions_rx) = mpsc::unbounded_channel();
        let reporter = Reporter::new();
        let health = reporter.health.subscribe();
        let rejoin = Arc::new(RejoinSignal::new(commands.clone()));
        let close_timeout = config.close_timeout;
        if config.offset_reset == OffsetReset::Latest {
            tracing::info!(
                "partitions without a committed offset start at the END of the log (auto.offset.reset=latest)"
            );
        }
        let thread = Engine::new(
            config,
            command_rx,
            partitions_tx,
            reporter.clone(),
            rejoin.clone(),
        )?
        .start()?;
        Ok(Consumer {
            commands,
            partitions: Mutex::new(Some(Partitions::new(partitions_rx, rejoin))),
            reporter,
            health,
            close_timeout,
            thread: Some(thread),
        })
    }

    /// One stream per assigned partition, each yielded as its partition is assigned (before any of
    /// its records is fetched). Taken once: a second call, or a call after [`Consumer::records`],
    /// is an error.
    pub fn partitions(&self) -> Result<Partitions> {
        self.partitions.lock().unwrap_or_else(|p| p.into_inner()).take().ok_or_else(|| {
            Error::new(
                ErrorKind::Config,
                "the consumer's streams were already taken: call partitions() or records() once per consumer",
            )
        })
    }

    /// All partitions' records merged into one stream. Taken once, like [`Consumer::partitions`]
    /// (use one or the other).
    pub fn records(&self) -> Result<RecordStream> {
        self.partitions().map(RecordStream::new)
    }

    /// Lifecycle events: assignments, revocations, losses, warnings, fatal errors.
    pub fn events(&self) -> Events {
        Events::new(self.reporter.events.subscribe())
    }

    /// A snapshot of the consumer's health.
    pub fn health(&self) -> Health {
        self.health.borrow().clone()
    }

    /// A watch of the consumer's health, to await changes.
    pub fn health_watch(&self) -> watch::Receiver<Health> {
        self.health.clone()
    }

    /// Commits `record` (see [`PartitionStream::commit`]).
    pub async fn commit(&self, record: &Record) -> Result<()> {
        commit_offsets(&self.commands, vec![commit_offset(record)]).await
    }

    /// Pauses `partitions`, as Kafka's `pause()`: kafkit sends no fetch for them and their streams
    /// (and so [`Consumer::records`]) yield none of their records until [`Consumer::resume`];
    /// they stay assigned. Records already fetched stay buffered (not lost, not repeated) and do
    /// not count against `max.poll.interval.ms` while paused. A partition assigned anew (after a
    /// revoke) starts unpaused. See [`PartitionStream::pause`].
    ///
    /// Fails, naming them, if some of `partitions` are not assigned to this consumer now (the
    /// others are paused).
    pub async fn pause(&self, partitions: &[crate::TopicPartition]) -> Result<()> {
        self.set_paused(partitions, true).await
    }

    /// Resumes paused `partitions`: each continues at exactly the record after the last one its
    /// stream yielded. Partitions not paused are left alone; an error names any not assigned.
    pub async fn resume(&self, partitions: &[crate::TopicPartition]) -> Result<()> {
        self.set_paused(partitions, false).await
    }

    /// A snapshot of the consumer's metrics: per partition position, lag, records and bytes,
    /// buffered bytes; fetch, record and byte rates; rebalances and the last one's duration;
    /// commits, failures and latency; each broker's connection state. See [`crate::Metrics`]
    /// (and [`crate::Metrics::prometheus_text`] to serve them to Prometheus).
    pub async fn metrics(&self) -> Result<crate::Metrics> {
        let (reply, rx) = oneshot::channel();
        let closed = || Error::new(ErrorKind::Closed, "the consumer is closed");
        self.commands
            .send(Command::Metrics(reply))
            .await
            .map_err(|_| closed())?;
        rx.await.map_err(|_| closed())
    }

    /// Adds `partitions` to a manually assigned consumer (see [`ConsumerBuilder::assign`]): a
    /// stream for each comes from [`Consumer::partitions`] before any of its records is fetched.
    /// Partitions already assigned are left as they are. An error for a consumer that subscribed.
    pub async fn assign(&self, partitions: &[crate::TopicPartition]) -> Result<()> {
        self.reassign(partitions, true).await
    }

    /// Removes `partitions` from a manually assigned consumer: their streams end at once and,
    /// with a group, what was processed of them is committed. Partitions not assigned are left
    /// alone. An error for a consumer that subscribed.
    pub async fn unassign(&self, partitions: &[crate::TopicPartition]) -> Result<()> {
        self.reassign(partitions, false).await
    }

    async fn reassign(&self, partitions: &[crate::TopicPartition], add: bool) -> Result<()> {
        partition_stream::request(&self.commands, |reply| Command::Assign {
            tps: partitions.to_vec(),
            add,
            reply,
        })
        .await
    }

    /// Moves `tp`'s position; see [`PartitionStream::seek`], which is the same from the stream's
    /// owner. From another task, the stream yields from the new position from its next record
    /// on (a record it is handing out at that moment may still come from the old one).
    pub async fn seek(&self, tp: &crate::TopicPartition, to: crate::Offset) -> Result<()> {
        partition_stream::seek(&self.commands, tp.clone(), to).await
    }

    /// `tp`'s watermarks, asked of its leader now (the log start offset, the high watermark and
    /// the last stable offset). Any partition of any topic, assigned here or not; bounded by the
    /// request timeout. An unknown topic or partition is an error naming it.
    pub async fn watermarks(&self, tp: &crate::TopicPartition) -> Result<crate::Watermarks> {
        self.ask(|reply| Query::Watermarks {
            tp: tp.clone(),
            reply,
        })
        .await
    }

    /// For each (partition, Unix milliseconds): the first record at or after that time, as
    /// Kafka's `offsetsForTimes` (`None` where every record is older). Asked of the leaders now.
    pub async fn offsets_for_times(
        &self,
        times: &[(crate::TopicPartition, i64)],
    ) -> Result<Vec<(crate::TopicPartition, Option<crate::OffsetAndTimestamp>)>> {
        self.ask(|reply| Query::OffsetsForTimes {
            times: times.to_vec(),
            reply,
        })
        .await
    }

    /// The group's committed offsets of `partitions` (`None` where nothing is committed), asked
    /// of the coordinator now. Needs a `group_id`.
    pub async fn committed(
        &self,
        partitions: &[crate::TopicPartition],
    ) -> Result<Vec<(crate::TopicPartition, Option<i64>)>> {
        self.ask(|reply| Query::Committed {
            tps: partitions.to_vec(),
            reply,
        })
        .await
    }

    /// The offset of the next record `tp`'s stream yields (`None` until known: while its
    /// committed offset or a seek is being looked up). An error if `tp` is not assigned here.
    pub async fn position(&self, tp: &crate::TopicPartition) -> Result<Option<i64>> {
        self.ask(|reply| Query::Position {
            tp: tp.clone(),
            reply,
        })
        .await
    }

    /// Sends a question to the engine and waits for its answer.
    async fn ask<T>(&self, query: impl FnOnce(oneshot::Sender<Result<T>>) -> Query) -> Result<T> {
        partition_stream::request(&self.commands, |reply| Command::Query(query(reply))).await
    }

    async fn set_paused(&self, partitions: &[crate::TopicPartition], paused: bool) -> Result<()> {
        partition_stream::request(&self.commands, |reply| Command::Pause {
            partitions: partitions.to_vec(),
            paused,
            reply,
        })
        .await
    }

    /// Commits processed offsets, leaves the group and stops the engine; bounded by the close
    /// timeout (30 s by default) even when no broker answers.
    pub async fn close(mut self) -> Result<()> {
        let (reply, rx) = oneshot::channel();
        if self.commands.send(Command::Close(reply)).await.is_err() {
            return Ok(());
        }
        let result = match tokio::time::timeout(self.close_timeout + Duration::from_secs(1), rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Ok(()),
            Err(_) => Err(Error::new(
                ErrorKind::Timeout,
                "close timed out; the group will notice at session timeout",
            )),
        };
        // The engine thread exits right after answering; don't block the caller's runtime on it.
        self.thread.take();
        result
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        if self.thread.is_some() {
            // Close in the background: commit, leave, stop (bounded by the close timeout).
            let (reply, _rx) = oneshot::channel();
            let _ = self.commands.try_send(Command::Close(reply));
        }
    }
}
