//! Consumer configuration: typed setters, and librdkafka-style properties for those moving over.

use std::time::Duration;

use crate::error::{Error, ErrorKind, Result};
use crate::net::sasl::UnsecuredJwtProvider;
use crate::net::{NetConfig, SaslMechanism, Secret, SecurityProtocol};

/// Where to start reading a partition that has no committed offset (`auto.offset.reset`).
///
/// The default is [`OffsetReset::Latest`], as in Kafka; kafkit logs which policy a new partition
/// uses, so a new group that starts at the end of the log is never a silent surprise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OffsetReset {
    /// The oldest record still in the log.
    Earliest,
    /// The end of the log: only records produced from now on.
    #[default]
    Latest,
    /// No reset: the partition's stream yields an error and the application decides.
    None,
}

/// Which records of transactional producers to deliver (`isolation.level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IsolationLevel {
    /// Every record, including those of open and aborted transactions.
    ReadUncommitted,
    /// Only committed records (and non-transactional ones). Kafka's Java default.
    #[default]
    ReadCommitted,
}

/// A partition assignment strategy (`partition.assignment.strategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Assignor {
    /// Contiguous ranges of each topic's partitions (`range`).
    Range,
    /// Partitions dealt round-robin (`roundrobin`).
    RoundRobin,
    /// Balanced and sticky, with incremental (KIP-429) rebalances (`cooperative-sticky`).
    CooperativeSticky,
}

impl Assignor {
    /// The protocol name Kafka clients use.
    pub fn name(self) -> &'static str {
        match self {
            Assignor::Range => "range",
            Assignor::RoundRobin => "roundrobin",
            Assignor::CooperativeSticky => "cooperative-sticky",
        }
    }
}

/// The group membership protocol (`group.protocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum GroupProtocol {
    /// The classic protocol (JoinGroup, SyncGroup, Heartbeat): one member, the leader, assigns
    /// with `partition.assignment.strategy`; every broker since Kafka 0.9 speaks it. The default.
    #[default]
    Classic,
    /// The consumer protocol of KIP-848 (`consumer`, Kafka 4.0+): membership through
    /// ConsumerGroupHeartbeat, the broker assigns (`group.remote.assignor`) and rebalances
    /// incrementally, member by member. The broker sets the session timeout and the heartbeat
    /// interval (`group.consumer.session.timeout.ms`, `group.consumer.heartbeat.interval.ms`), so
    /// setting `session.timeout.ms`, `heartbeat.interval.ms` or `partition.assignment.strategy`
    /// fails the build, as in Kafka's consumer. A member whose heartbeats go unanswered gives its
    /// partitions up after 45 s (Kafka's default and least broker session; sooner if
    /// `max.poll.interval.ms` is shorter): the broker does not tell members their session, and a
    /// broker configured with a shorter one may hand the partitions on before that (Java's
    /// consumer waits for the broker's verdict, however long). A broker without the protocol
    /// makes the consumer fail with an error saying to use [`GroupProtocol::Classic`].
    Consumer,
}

/// A broker-side assignor of the consumer protocol (`group.remote.assignor`), as Kafka's
/// `group.consumer.assignors` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RemoteAssignor {
    /// `uniform`: partitions spread evenly, sticky (Kafka's default).
    Uniform,
    /// `range`: co-partitioned topics assigned together, as the classic range assignor does.
    Range,
}

impl RemoteAssignor {
    /// The name the broker knows it by.
    pub fn name(self) -> &'static str {
        match self {
            RemoteAssignor::Uniform => "uniform",
            RemoteAssignor::Range => "range",
        }
    }
}

/// Property names of the classic-protocol-only settings.
pub(crate) const SESSION_TIMEOUT: &str = "session.timeout.ms";
pub(crate) const HEARTBEAT_INTERVAL: &str = "heartbeat.interval.ms";
pub(crate) const ASSIGNMENT_STRATEGY: &str = "partition.assignment.strategy";

/// Everything a consumer is configured with. Built by [`crate::ConsumerBuilder`].
#[derive(Debug, Clone)]
pub(crate) struct ConsumerConfig {
    pub(crate) bootstrap: Vec<String>,
    pub(crate) group_id: Option<String>,
    pub(crate) group_instance_id: Option<String>,
    pub(crate) topics: Vec<String>,
    /// `subscribe_pattern`: topics whose whole name matches (anchored), found in metadata.
    pub(crate) pattern: Option<regex::Regex>,
    /// `subscribe_broker_pattern`: a regular expression the group coordinator evaluates (KIP-848's
    /// `SubscribedTopicRegex`, RE2/J syntax); the consumer protocol only.
    pub(crate) broker_pattern: Option<String>,
    /// Manual assignment (`assign`): these partitions, no group membership.
    pub(crate) assignment: Option<Vec<crate::types::TopicPartition>>,
    pub(crate) offset_reset: OffsetReset,
    /// Without a group: where every partition starts (else the reset policy decides).
    pub(crate) start_at: Option<crate::types::Offset>,
    pub(crate) isolation_level: IsolationLevel,
    pub(crate) enable_auto_commit: bool,
    pub(crate) auto_commit_interval: Duration,
    pub(crate) session_timeout: Duration,
    pub(crate) heartbeat_interval: Duration,
    pub(crate) max_poll_interval: Duration,
    pub(crate) assignors: Vec<Assignor>,
    /// `group.protocol`.
    pub(crate) group_protocol: GroupProtocol,
    /// `group.remote.assignor` (consumer protocol): `None` for the broker's default.
    pub(crate) remote_assignor: Option<RemoteAssignor>,
    /// The classic-protocol settings set explicitly (property names), which
    /// `group.protocol=consumer` rejects as Kafka's consumer does: the broker decides them there.
    pub(crate) classic_only: std::collections::BTreeSet<&'static str>,
    pub(crate) fetch_min_bytes: i32,
    pub(crate) fetch_max_bytes: i32,
    pub(crate) max_partition_fetch_bytes: i32,
    pub(crate) fetch_wait_max: Duration,
    /// Prefetched bytes buffered per partition before that partition is left out of fetches.
    pub(crate) partition_buffer_bytes: usize,
    /// Prefetched bytes buffered in total before fetching pauses.
    pub(crate) total_buffer_bytes: usize,
    pub(crate) close_timeout: Duration,
    pub(crate) retry_backoff: Duration,
    /// How often metadata is refreshed even when nothing failed (new partitions, leader moves).
    pub(crate) metadata_max_age: Duration,
    /// `client.rack`: fetch from a replica in this rack where the broker offers one (KIP-392).
    pub(crate) client_rack: Option<String>,
    /// `enable.fetch.sessions`: incremental fetch sessions (KIP-227) where brokers offer them.
    pub(crate) fetch_sessions: bool,
    pub(crate) net: NetConfig,
    /// librdkafka's `sasl.oauthbearer.config` (unsecured JWTs), resolved by [`ConsumerConfig::finish`].
    pub(crate) oauthbearer_config: Option<Secret>,
    /// librdkafka's `enable.sasl.oauthbearer.unsecure.jwt`.
    pub(crate) oauthbearer_unsecure_jwt: bool,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        ConsumerConfig {
            bootstrap: Vec::new(),
            group_id: None,
            group_instance_id: None,
            topics: Vec::new(),
            assignment: None,
            pattern: None,
            broker_pattern: None,
            offset_reset: OffsetReset::Latest,
            start_at: None,
            isolation_level: IsolationLevel::ReadCommitted,
            enable_auto_commit: true,
            auto_commit_interval: Duration::from_secs(5),
            session_timeout: Duration::from_secs(45),
            heartbeat_interval: Duration::from_secs(3),
            max_poll_interval: Duration::from_secs(300),
            assignors: vec![Assignor::Range, Assignor::RoundRobin],
            group_protocol: GroupProtocol::Classic,
            remote_assignor: None,
            classic_only: std::collections::BTreeSet::new(),
            fetch_min_bytes: 1,
            fetch_max_bytes: 50 * 1024 * 1024,
            max_partition_fetch_bytes: 1024 * 1024,
            fetch_wait_max: Duration::from_millis(500),
            partition_buffer_bytes: 4 * 1024 * 1024,
            total_buffer_bytes: 256 * 1024 * 1024,
            close_timeout: Duration::from_secs(30),
            retry_backoff: Duration::from_millis(100),
            metadata_max_age: Duration::from_secs(300),
            client_rack: None,
            fetch_sessions: true,
            net: NetConfig::default(),
            oauthbearer_config: None,
            oauthbearer_unsecure_jwt: false,
        }
    }
}

/// The librdkafka-style property names kafkit understands.
pub(crate) const KNOWN_PROPERTIES: &[&str] = &[
    "bootstrap.servers",
    "group.id",
    "group.instance.id",
    "client.id",
    "client.rack",
    "enable.fetch.sessions",
    "auto.offset.reset",
    "enable.auto.commit",
    "auto.commit.interval.ms",
    "session.timeout.ms",
    "heartbeat.interval.ms",
    "max.poll.interval.ms",
    "partition.assignment.strategy",
    "group.protocol",
    "group.remote.assignor",
    "fetch.min.bytes",
    "fetch.max.bytes",
    "max.partition.fetch.bytes",
    "fetch.wait.max.ms",
    "fetch.max.wait.ms",
    "isolation.level",
    "socket.connection.setup.timeout.ms",
    "request.timeout.ms",
    "reconnect.backoff.ms",
    "reconnect.backoff.max.ms",
    "retry.backoff.ms",
    "metadata.max.age.ms",
    "topic.metadata.refresh.interval.ms",
    "queued.max.messages.kbytes",
    "receive.message.max.bytes",
    "security.protocol",
    "ssl.ca.location",
    "ssl.ca.pem",
    "ssl.certificate.location",
    "ssl.certificate.pem",
    "ssl.key.location",
    "ssl.key.pem",
    "ssl.key.password",
    "ssl.endpoint.identification.algorithm",
    "sasl.mechanism",
    "sasl.mechanisms",
    "sasl.username",
    "sasl.password",
    "sasl.oauthbearer.config",
    "enable.sasl.oauthbearer.unsecure.jwt",
];

fn invalid(key: &str, value: &str, expected: &str) -> Error {
    Error::new(
        ErrorKind::Config,
        format!("invalid value {value:?} for {key}: expected {expected}"),
    )
}

fn parse_ms(key: &str, value: &str) -> Result<Duration> {
    value
        .trim()
        .parse::<u64>()
        .map(Duration::from_millis)
        .map_err(|_| invalid(key, value, "milliseconds"))
}

fn parse_i32(key: &str, value: &str) -> Result<i32> {
    value
        .trim()
        .parse::<i32>()
        .ok()
        .filter(|v| *v >= 0)
        .ok_or_else(|| invalid(key, value, "a non-negative number"))
}

fn parse_bool(key: &str, value: &str) -> Result<bool> {
    match value.trim() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(invalid(key, value, "true or false")),
    }
}

impl ConsumerConfig {
    /// Applies one librdkafka-style property. Unknown keys are an error naming the nearest known key.
    pub(crate) fn set_property(&mut self, key: &str, value: &str) -> Result<()> {
        match key {
            "bootstrap.servers" => {
                self.bootstrap = value
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect();
            }
            "group.id" => self.group_id = Some(value.to_owned()),
            "group.instance.id" => self.group_instance_id = Some(value.to_owned()),
            "client.id" => self.net.client_id = value.to_owned(),
            "client.rack" => self.client_rack = Some(value.trim().to_owned()).filter(|r| !r.is_empty()),
            "auto.offset.reset" => {
                self.offset_reset = match value.trim() {
                    "earliest" | "smallest" | "beginning" => OffsetReset::Earliest,
                    "latest" | "largest" | "end" => OffsetReset::Latest,
                    "none" | "error" => OffsetReset::None,
                    _ => return Err(invalid(key, value, "earliest, latest or none")),
                }
            }
            "enable.auto.commit" => self.enable_auto_commit = parse_bool(key, value)?,
            "enable.fetch.sessions" => self.fetch_sessions = parse_bool(key, value)?,
            "auto.commit.interval.ms" => self.auto_commit_interval = parse_ms(key, value)?,
            "session.timeout.ms" => {
                self.session_timeout = parse_ms(key, value)?;
                self.classic_only.insert(SESSION_TIMEOUT);
            }
            "heartbeat.interval.ms" => {
                self.heartbeat_interval = parse_ms(key, value)?;
                self.classic_only.insert(HEARTBEAT_INTERVAL);
            }
            "max.poll.interval.ms" => self.max_poll_interval = parse_ms(key, value)?,
            "partition.assignment.strategy" => {
                let mut assignors = Vec::new();
                for name in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    assignors.push(match name {
                        "range" => Assignor::Range,
                        "roundrobin" => Assignor::RoundRobin,
                        "cooperative-sticky" => Assignor::CooperativeSticky,
                        _ => return Err(invalid(key, name, "range, roundrobin or cooperative-sticky")),
                    });
                }
                self.assignors = assignors;
                self.classic_only.insert(ASSIGNMENT_STRATEGY);
            }
            "group.protocol" => {
                self.group_protocol = match value.trim().to_ascii_lowercase().as_str() {
                    "classic" => GroupProtocol::Classic,
                    "consumer" => GroupProtocol::Consumer,
                    _ => return Err(invalid(key, value, "classic or consumer")),
                }
            }
            "group.remote.assignor" => {
                self.remote_assignor = match value.trim() {
                    "" => None,
                    "uniform" => Some(RemoteAssignor::Uniform),
                    "range" => Some(RemoteAssignor::Range),
                    _ => return Err(invalid(key, value, "uniform or range")),
                }
            }
            "fetch.min.bytes" => self.fetch_min_bytes = parse_i32(key, value)?,
            "fetch.max.bytes" => self.fetch_max_bytes = parse_i32(key, value)?,
            "max.partition.fetch.bytes" => {
                self.max_partition_fetch_bytes = parse_i32(key, value)?;
                self.partition_buffer_bytes = self
                    .partition_buffer_bytes
                    .max(2 * self.max_partition_fetch_bytes as usize);
            }
            "fetch.wait.max.ms" | "fetch.max.wait.ms" => self.fetch_wait_max = parse_ms(key, value)?,
            "isolation.level" => {
                self.isolation_level = match value.trim() {
                    "read_committed" => IsolationLevel::ReadCommitted,
                    "read_uncommitted" => IsolationLevel::ReadUncommitted,
                    _ => return Err(invalid(key, value, "read_committed or read_uncommitted")),
                }
            }
            "socket.connection.setup.timeout.ms" => self.net.connect_timeout = parse_ms(key, value)?,
            "request.timeout.ms" => self.net.request_timeout = parse_ms(key, value)?,
            "reconnect.backoff.ms" => self.net.backoff.initial = parse_ms(key, value)?,
            "reconnect.backoff.max.ms" => self.net.backoff.max = parse_ms(key, value)?,
            "retry.backoff.ms" => self.retry_backoff = parse_ms(key, value)?,
            // Java's name and librdkafka's for the same periodic refresh.
            "metadata.max.age.ms" | "topic.metadata.refresh.interval.ms" => {
                self.metadata_max_age = parse_ms(key, value)?
            }
            "queued.max.messages.kbytes" => {
                let kb = parse_i32(key, value)? as usize;
                self.total_buffer_bytes = kb.saturating_mul(1024).max(1024 * 1024);
            }
            "receive.message.max.bytes" => self.net.max_frame_size = parse_i32(key, value)? as usize,
            "security.protocol" => {
                self.net.security.protocol = SecurityProtocol::parse(value)
                    .ok_or_else(|| invalid(key, value, "PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"))?;
            }
            "ssl.ca.location" => self.tls(|t| t.ca_location = Some(value.trim().into())),
            "ssl.ca.pem" => self.tls(|t| t.ca_pem = Some(value.to_owned())),
            "ssl.certificate.location" => self.tls(|t| t.certificate_location = Some(value.trim().into())),
            "ssl.certificate.pem" => self.tls(|t| t.certificate_pem = Some(value.to_owned())),
            "ssl.key.location" => self.tls(|t| t.key_location = Some(value.trim().into())),
            "ssl.key.pem" => self.tls(|t| t.key_pem = Some(Secret::new(value))),
            "ssl.key.password" => self.tls(|t| t.key_password = Some(Secret::new(value))),
            "ssl.endpoint.identification.algorithm" => {
                let verify = match value.trim().to_ascii_lowercase().as_str() {
                    "https" => true,
                    "none" | "" => false,
                    _ => return Err(invalid(key, value, "https or none")),
                };
                self.tls(|t| t.verify_hostname = Some(verify));
            }
            "sasl.mechanism" | "sasl.mechanisms" => {
                let mechanism = SaslMechanism::parse(value).ok_or_else(|| {
                    let hint = if value.trim().eq_ignore_ascii_case("GSSAPI") {
                        " (kafkit does not support Kerberos/GSSAPI)"
                    } else {
                        ""
                    };
                    Error::new(
                        ErrorKind::Config,
                        format!(
                            "invalid value {value:?} for {key}: expected PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER{hint}"
                        ),
                    )
                })?;
                self.net.security.sasl.mechanism = Some(mechanism);
            }
            "sasl.username" => self.net.security.sasl.username = Some(value.to_owned()),
            "sasl.password" => self.net.security.sasl.password = Some(Secret::new(value)),
            "sasl.oauthbearer.config" => self.oauthbearer_config = Some(Secret::new(value)),
            "enable.sasl.oauthbearer.unsecure.jwt" => self.oauthbearer_unsecure_jwt = parse_bool(key, value)?,
            _ => {
                let hint = nearest(key)
                    .map(|k| format!("; did you mean {k:?}?"))
                    .unwrap_or_else(|| format!("; known properties: {}", KNOWN_PROPERTIES.join(", ")));
                return Err(Error::new(
                    ErrorKind::Config,
                    format!("unknown consumer property {key:?}{hint}"),
                ));
            }
        }
        Ok(())
    }

    fn tls(&mut self, f: impl FnOnce(&mut crate::net::TlsConfig)) {
        let mut tls = std::mem::take(&mut self.net.security.tls).changed();
        f(&mut tls);
        self.net.security.tls = tls;
    }

    /// Resolves settings that depend on each other, whatever order they were given in: librdkafka's
    /// unsecured-JWT OAUTHBEARER, and the re-authentication lead (above `fetch.wait.max.ms`).
    pub(crate) fn finish(&mut self) -> Result<()> {
        // A request written just before a re-authentication may wait behind a long-polling fetch;
        // it must still reach the broker before the session expires (see net::Connection).
        self.net.reauth_lead = self
            .net
            .reauth_lead
            .max(self.fetch_wait_max + Duration::from_millis(500));
        match (&self.oauthbearer_config, self.oauthbearer_unsecure_jwt) {
            (Some(config), true) => {
                let provider = UnsecuredJwtProvider::from_config(config.expose())?;
                if self.net.security.sasl.token_provider.is_none() {
                    self.net
                        .security
                        .sasl
                        .set_token_provider(std::sync::Arc::new(provider));
                }
            }
            (Some(_), false) if self.net.security.sasl.token_provider.is_none() => {
                return Err(Error::new(
                    ErrorKind::Config,
                    "sasl.oauthbearer.config makes unsecured (unsigned) tokens, for test clusters only: set \
                     enable.sasl.oauthbearer.unsecure.jwt=true, or pass a token provider for real clusters",
                ));
            }
            (None, true) if self.net.security.sasl.token_provider.is_none() => {
                return Err(Error::new(
                    ErrorKind::Config,
                    "enable.sasl.oauthbearer.unsecure.jwt=true needs sasl.oauthbearer.config=principal=<name>",
                ));
            }
            _ => {}
        }
        Ok(())
    }

    /// Checks the configuration as a whole; no network I/O (TLS certificates and keys are read from
    /// their files here, so a mistake fails `build()`).
    pub(crate) fn validate(&self) -> Result<()> {
        let fail = |msg: String| Err(Error::new(ErrorKind::Config, msg));
        if self.bootstrap.is_empty() {
            return fail(
                "no bootstrap servers: call .bootstrap(\"host:9092\") or set bootstrap.servers".into(),
            );
        }
        if self.pattern.is_some() && (self.assignment.is_some() || !self.topics.is_empty()) {
            return fail(
                "subscribe_pattern excludes subscribe and assign: a pattern chooses the topics".into(),
            );
        }
        if let Some(pattern) = &self.broker_pattern {
            if self.pattern.is_some() || self.assignment.is_some() || !self.topics.is_empty() {
                return fail(
                    "subscribe_broker_pattern excludes subscribe, subscribe_pattern and assign: the broker's pattern chooses the topics"
                        .into(),
                );
            }
            if self.group_id.is_none() || self.group_protocol != GroupProtocol::Consumer {
                return fail(format!(
                    "subscribe_broker_pattern({pattern:?}) is evaluated by the group coordinator of group.protocol=consumer: set a group_id and .group_protocol(GroupProtocol::Consumer), or use subscribe_pattern, which the consumer evaluates itself"
                ));
            }
        }
        match (&self.assignment, self.topics.is_empty()) {
            (None, true) if self.pattern.is_some() || self.broker_pattern.is_some() => {}
            (None, true) => {
                return fail(
                    "no topics: call .subscribe([\"topic\"]), or .assign([...]) to choose partitions yourself".into(),
                );
            }
            (Some(_), false) => {
                return fail(
                    "subscribe and assign exclude each other: a group assigns subscribed partitions, assign chooses them yourself".into(),
                );
            }
            (Some(_), true) if self.group_instance_id.is_some() => {
                return fail(
                    "group.instance.id is for group membership; a manually assigned consumer joins no group"
                        .into(),
                );
            }
            (Some(tps), true) => {
                if let Some(tp) = tps
                    .iter()
                    .find(|tp| tp.topic.is_empty() || tp.topic.len() > 249 || tp.partition < 0)
                {
                    return fail(format!(
                        "cannot assign {tp}: topic names have 1 to 249 characters, partitions start at 0"
                    ));
                }
            }
            (None, false) => {}
        }
        if self.topics.iter().any(|t| t.is_empty() || t.len() > 249) {
            return fail("topic names must have 1 to 249 characters".into());
        }
        if self.metadata_max_age < Duration::from_millis(100) {
            return fail(format!(
                "metadata.max.age.ms ({:?}) must be at least 100 ms; it is how often metadata is refreshed",
                self.metadata_max_age
            ));
        }
        if self.group_id.as_deref() == Some("") {
            return fail("group.id must not be empty".into());
        }
        if self.group_instance_id.is_some() && self.group_id.is_none() {
            return fail("group.instance.id needs a group.id".into());
        }
        if self.remote_assignor.is_some() && self.group_protocol != GroupProtocol::Consumer {
            return fail(
                "group.remote.assignor is for group.protocol=consumer; the classic protocol uses partition.assignment.strategy"
                    .into(),
            );
        }
        if self.group_id.is_some()
            && self.group_protocol == GroupProtocol::Consumer
            && !self.classic_only.is_empty()
        {
            let names: Vec<&str> = self.classic_only.iter().copied().collect();
            return fail(format!(
                "{} cannot be set with group.protocol=consumer: there the broker sets the session \
                 timeout and heartbeat interval (group.consumer.session.timeout.ms, \
                 group.consumer.heartbeat.interval.ms) and assigns partitions (choose its assignor \
                 with group.remote.assignor); remove them, or use group.protocol=classic",
                names.join(", ")
            ));
        }
        if self.group_id.is_some() {
            if self.heartbeat_interval >= self.session_timeout {
                return fail(format!(
                    "heartbeat.interval.ms ({:?}) must be lower than session.timeout.ms ({:?}); a third of it is usual",
                    self.heartbeat_interval, self.session_timeout
                ));
            }
            if self.assignors.is_empty() {
                return fail("partition.assignment.strategy is empty".into());
            }
            let cooperative = self.assignors.contains(&Assignor::CooperativeSticky);
            if cooperative && self.assignors.len() > 1 {
                return fail(
                    "cooperative-sticky cannot be combined with eager strategies (range, roundrobin)".into(),
                );
            }
        }
        if let Some(Err(e)) = self.start_at.map(crate::types::Offset::check) {
            return fail(format!("start_at: {e}"));
        }
        if self.max_partition_fetch_bytes <= 0 || self.fetch_max_bytes <= 0 {
            return fail("fetch.max.bytes and max.partition.fetch.bytes must be positive".into());
        }
        self.net.security.validate()?;
        Ok(())
    }
}

impl NetConfig {
    /// Connection settings from librdkafka-style properties (`security.protocol`, `ssl.*`,
    /// `sasl.*`, `client.id`, `socket.connection.setup.timeout.ms`, `request.timeout.ms`,
    /// `reconnect.backoff.ms`, ...), validated as [`crate::ConsumerBuilder::build`] validates them.
    /// `bootstrap.servers` is accepted and ignored; consumer properties are an error.
    ///
    /// (Defined here, beside the property parser it shares with the consumer, so that `net` does
    /// not depend on `config`.)
    pub fn from_properties<'a>(
        properties: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<NetConfig> {
        net_from_properties(properties)
    }
}

/// Connection properties only (`security.protocol`, `ssl.*`, `sasl.*`, `client.id`, timeouts,
/// backoff, `receive.message.max.bytes`), for tools that talk to brokers without a consumer.
fn net_from_properties<'a>(properties: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<NetConfig> {
    const CONSUMER_ONLY_OK: &[&str] = &["bootstrap.servers"];
    let mut c = ConsumerConfig::default();
    for (key, value) in properties {
        c.set_property(key, value)?;
        let connection = key.starts_with("ssl.")
            || key.starts_with("sasl.")
            || matches!(
                key,
                "security.protocol"
                    | "enable.sasl.oauthbearer.unsecure.jwt"
                    | "client.id"
                    | "socket.connection.setup.timeout.ms"
                    | "request.timeout.ms"
                    | "reconnect.backoff.ms"
                    | "reconnect.backoff.max.ms"
                    | "receive.message.max.bytes"
            );
        if !connection && !CONSUMER_ONLY_OK.contains(&key) {
            return Err(Error::new(
                ErrorKind::Config,
                format!("{key} is a consumer property, not a connection property"),
            ));
        }
    }
    c.finish()?;
    c.net.security.validate()?;
    Ok(c.net)
}

/// The known property closest to `key` (edit distance at most a third of its length).
fn nearest(key: &str) -> Option<&'static str> {
    let (best, distance) = KNOWN_PROPERTIES
        .iter()
        .map(|k| (*k, edit_distance(key, k)))
        .min_by_key(|(_, d)| *d)?;
    (distance <= key.len().max(3) / 3 + 1).then_some(best)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn librdkafka_properties_apply() {
        let mut c = ConsumerConfig::default();
        for (k, v) in [
            ("bootstrap.servers", "a:1, b:2"),
            ("group.id", "billing"),
            ("auto.offset.reset", "earliest"),
            ("enable.auto.commit", "false"),
            ("session.timeout.ms", "6000"),
            ("heartbeat.interval.ms", "2000"),
            ("partition.assignment.strategy", "cooperative-sticky"),
            ("fetch.max.bytes", "1048576"),
        ] {
            c.set_property(k, v).unwrap();
        }
        assert_eq!(c.bootstrap, vec!["a:1", "b:2"]);
        assert_eq!(c.offset_reset, OffsetReset::Earliest);
        assert!(!c.enable_auto_commit);
        assert_eq!(c.session_timeout, Duration::from_secs(6));
        assert_eq!(c.assignors, vec![Assignor::CooperativeSticky]);
    }

    #[test]
    fn unknown_property_names_the_nearest_known_one() {
        let err = ConsumerConfig::default()
            .set_property("auto.ofset.reset", "earliest")
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        let msg = err.to_string();
        assert!(
            msg.contains("auto.ofset.reset") && msg.contains("\"auto.offset.reset\""),
            "{msg}"
        );
        let err = ConsumerConfig::default().set_property("zzz", "1").unwrap_err();
        assert!(err.to_string().contains("known properties"), "{err}");
    }

    #[test]
    fn bad_values_say_what_is_expected() {
        let err = ConsumerConfig::default()
            .set_property("auto.offset.reset", "oldest")
            .unwrap_err();
        assert!(err.to_string().contains("earliest, latest or none"), "{err}");
        let err = ConsumerConfig::default()
            .set_property("session.timeout.ms", "soon")
            .unwrap_err();
        assert!(err.to_string().contains("milliseconds"), "{err}");
    }

    #[test]
    fn security_properties_apply_and_secrets_stay_out_of_debug() {
        let mut c = ConsumerConfig {
            bootstrap: vec!["a:1".into()],
            topics: vec!["t".into()],
            ..Default::default()
        };
        for (k, v) in [
            ("security.protocol", "sasl_ssl"),
            ("sasl.mechanisms", "SCRAM-SHA-512"),
            ("sasl.username", "alice"),
            ("sasl.password", "very-secret-pw"),
            ("ssl.key.password", "key-secret-pw"),
            ("ssl.endpoint.identification.algorithm", "none"),
        ] {
            c.set_property(k, v).unwrap();
        }
        assert_eq!(c.net.security.protocol, SecurityProtocol::SaslSsl);
        assert_eq!(c.net.security.sasl.mechanism, Some(SaslMechanism::ScramSha512));
        assert_eq!(c.net.security.tls.verify_hostname, Some(false));
        let debug = format!("{c:?}");
        assert!(
            !debug.contains("very-secret-pw") && !debug.contains("key-secret-pw"),
            "{debug}"
        );
        // An encrypted-key password without a key is harmless; the whole config validates.
        c.finish().unwrap();
        c.validate().unwrap();
    }

    #[test]
    fn security_mistakes_are_named() {
        let mut c = ConsumerConfig::default();
        let err = c.set_property("security.protocol", "TLS").unwrap_err();
        assert!(err.to_string().contains("SASL_SSL"), "{err}");
        let err = c.set_property("sasl.mechanism", "GSSAPI").unwrap_err();
        assert!(err.to_string().contains("Kerberos"), "{err}");
        let err = c
            .set_property("ssl.endpoint.identification.algorithm", "yes")
            .unwrap_err();
        assert!(err.to_string().contains("https or none"), "{err}");

        let mut c = ConsumerConfig {
            bootstrap: vec!["a:1".into()],
            topics: vec!["t".into()],
            ..Default::default()
        };
        c.set_property("sasl.username", "alice").unwrap();
        let err = c.validate().unwrap_err();
        assert!(
            err.to_string().contains("security.protocol is PLAINTEXT"),
            "{err}"
        );
        c.set_property("security.protocol", "SASL_PLAINTEXT").unwrap();
        let err = c.validate().unwrap_err();
        assert!(err.to_string().contains("sasl.password"), "{err}");

        c.set_property("sasl.mechanism", "OAUTHBEARER").unwrap();
        c.set_property("sasl.oauthbearer.config", "principal=admin")
            .unwrap();
        assert!(
            c.finish()
                .unwrap_err()
                .to_string()
                .contains("enable.sasl.oauthbearer.unsecure.jwt")
        );
        c.set_property("enable.sasl.oauthbearer.unsecure.jwt", "true")
            .unwrap();
        c.finish().unwrap();
        c.validate().unwrap();
    }

    #[test]
    fn whole_config_checks() {
        let mut c = ConsumerConfig {
            bootstrap: vec!["a:1".into()],
            topics: vec!["t".into()],
            ..Default::default()
        };
        c.validate().unwrap();
        c.group_id = Some("g".into());
        c.heartbeat_interval = c.session_timeout;
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("heartbeat.interval.ms")
        );
        c.heartbeat_interval = Duration::from_secs(1);
        c.assignors = vec![Assignor::Range, Assignor::CooperativeSticky];
        assert!(c.validate().is_err());
    }

    /// As Kafka's consumer: the classic protocol's session timeout, heartbeat interval and
    /// assignment strategy, set explicitly (as properties or by the builder), fail the build on
    /// the consumer protocol, naming each; without a group there is no protocol to object.
    #[test]
    fn consumer_protocol_rejects_classic_only_settings() {
        let base = || ConsumerConfig {
            bootstrap: vec!["a:1".into()],
            topics: vec!["t".into()],
            group_id: Some("g".into()),
            ..Default::default()
        };
        for key in [SESSION_TIMEOUT, HEARTBEAT_INTERVAL, ASSIGNMENT_STRATEGY] {
            let value = match key {
                SESSION_TIMEOUT => "10000",
                HEARTBEAT_INTERVAL => "1000",
                _ => "range",
            };
            let mut c = base();
            c.set_property(key, value).unwrap();
            c.validate().unwrap();
            c.set_property("group.protocol", "consumer").unwrap();
            let err = c.validate().unwrap_err().to_string();
            assert!(
                err.starts_with(key) && err.contains("group.protocol=consumer"),
                "{err}"
            );
            c.group_id = None;
            c.validate().unwrap();
        }
        let err = crate::Consumer::builder()
            .bootstrap("a:1")
            .group_id("g")
            .subscribe(["t"])
            .group_protocol(GroupProtocol::Consumer)
            .session_timeout(Duration::from_secs(10))
            .assignors([Assignor::Range])
            .build()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("partition.assignment.strategy, session.timeout.ms cannot be set"),
            "{err}"
        );
        // Defaults are not settings the user made.
        let mut c = base();
        c.group_protocol = GroupProtocol::Consumer;
        c.validate().unwrap();
    }

    /// The broker's pattern needs a group on the consumer protocol and is the only subscription.
    #[test]
    fn broker_pattern_needs_the_consumer_protocol_and_stands_alone() {
        let mut c = ConsumerConfig {
            bootstrap: vec!["a:1".into()],
            broker_pattern: Some("orders-.*".into()),
            ..Default::default()
        };
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("GroupProtocol::Consumer"), "{err}");
        c.group_id = Some("g".into());
        assert!(c.validate().is_err(), "classic cannot take it");
        c.group_protocol = GroupProtocol::Consumer;
        c.validate().unwrap();
        c.topics = vec!["t".into()];
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("excludes subscribe"), "{err}");
        let err = crate::Consumer::builder()
            .bootstrap("a:1")
            .group_id("g")
            .group_protocol(GroupProtocol::Consumer)
            .subscribe_broker_pattern("orders-(")
            .build()
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a valid regular expression"), "{err}");
    }

    #[test]
    fn group_protocol_and_remote_assignor_properties() {
        let mut c = ConsumerConfig {
            bootstrap: vec!["a:1".into()],
            topics: vec!["t".into()],
            group_id: Some("g".into()),
            ..Default::default()
        };
        assert_eq!(
            c.group_protocol,
            GroupProtocol::Classic,
            "classic stays the default"
        );
        c.set_property("group.remote.assignor", "uniform").unwrap();
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("group.protocol=consumer"), "{err}");
        c.set_property("group.protocol", "CONSUMER").unwrap();
        assert_eq!(c.group_protocol, GroupProtocol::Consumer);
        c.validate().unwrap();
        c.set_property("group.remote.assignor", "range").unwrap();
        assert_eq!(c.remote_assignor, Some(RemoteAssignor::Range));
        let err = c
            .set_property("group.remote.assignor", "sticky")
            .unwrap_err()
            .to_string();
        assert!(err.contains("uniform or range"), "{err}");
        let err = c
            .set_property("group.protocol", "streams")
            .unwrap_err()
            .to_string();
        assert!(err.contains("classic or consumer"), "{err}");
        c.set_property("group.protocol", "classic").unwrap();
        c.set_property("group.remote.assignor", "").unwrap();
        c.validate().unwrap();
    }
}
