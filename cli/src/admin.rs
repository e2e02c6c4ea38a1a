//! Questions to brokers for `kafkit offsets` and `kafkit group`: watermarks (ListOffsets to each
//! partition's leader), the group coordinator (FindCoordinator), committed offsets (OffsetFetch)
//! and group descriptions (DescribeGroups).
//!
//! None of this joins a group: a diagnostic must not make a live group rebalance. Requests are
//! built with `kafka-protocol`'s request types and sent through kafkit's `Connection`; every
//! response is decoded by kafkit's bounded decoders (`kafkit::wire`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::{
    BrokerId, DescribeGroupsRequest, FindCoordinatorRequest, GroupId, ListOffsetsRequest, OffsetFetchRequest,
    TopicName, list_offsets_request, offset_fetch_request,
};
use kafka_protocol::protocol::StrBytes;
use kafkit::ErrorKind;
use kafkit::cluster::ClusterMetadata;
use kafkit::net::{BrokerPool, Connection, NetConfig, NodeId};
use kafkit::wire::{
    ApiKey, DescribeGroupsResponse, DescribedGroup, FindCoordinatorResponse, KafkaCode, ListOffsetsResponse,
    OffsetFetchResponse,
};
use tokio::time::Instant;

use crate::metadata::{seconds, split_brokers};
use crate::{ConnectArgs, Failure};

/// How long to wait before asking again after a retriable answer (coordinator loading, leader
/// moving).
const RETRY_BACKOFF: Duration = Duration::from_millis(200);

/// ListOffsets timestamps: the log start offset and the high watermark.
const EARLIEST: i64 = -2;
const LATEST: i64 = -1;

/// One partition of a topic.
pub(crate) type Tp = (String, i32);

/// A broker pool for one command run, with the run's deadline.
pub(crate) struct Admin {
    pool: BrokerPool,
    brokers: String,
    timeout: Duration,
    deadline: Instant,
}

impl Admin {
    /// The pool from `--brokers`, `--config`, `-X` (connection properties only; from a file,
    /// consumer-only keys are skipped, given as -X they are a usage error, as for `metadata`).
    pub(crate) fn new(args: &ConnectArgs) -> Result<Admin, Failure> {
        let props = crate::properties::load(args.config.as_deref(), &args.properties)?;
        let brokers = args
            .brokers
            .clone()
            .or_else(|| crate::properties::bootstrap(&props).map(str::to_owned))
            .ok_or_else(|| {
                Failure::usage("give --brokers HOST:PORT, or bootstrap.servers in --config or -X")
            })?;
        let addrs = split_brokers(&brokers)?;
        let timeout = seconds("--timeout", args.timeout)?;
        let mut connection = crate::properties::connection_only(&props);
        if args.config.is_none() {
            connection = props.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        }
        let net = NetConfig::from_properties(connection)
            .map_err(|e| Failure::usage(format!("invalid configuration: {e}")))?;
        let pool = BrokerPool::new(addrs.iter().map(String::as_str), net)
            .map_err(|e| Failure::usage(format!("--brokers {brokers}: {e}")))?;
        Ok(Admin {
            pool,
            brokers,
            timeout,
            deadline: Instant::now() + timeout,
        })
    }

    /// The broker pool.
    pub(crate) fn pool(&self) -> &BrokerPool {
        &self.pool
    }

    /// The bootstrap list, as given.
    pub(crate) fn brokers(&self) -> &str {
        &self.brokers
    }

    /// `--timeout`.
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Runs `work` within `--timeout`; past it, a message that says what to check.
    pub(crate) async fn within<T>(
        &self,
        work: impl Future<Output = Result<T, Failure>>,
    ) -> Result<T, Failure> {
        match tokio::time::timeout_at(self.deadline, work).await {
            Ok(result) => result,
            Err(_) => Err(Failure::fatal(format!(
                "no complete answer from {} within {:?}: check --brokers and that the cluster is healthy (or raise --timeout)",
                self.brokers, self.timeout
            ))),
        }
    }

    /// Metadata for `topics` (never creates a topic).
    pub(crate) async fn metadata(&self, topics: &[&str]) -> Result<Arc<ClusterMetadata>, Failure> {
        self.pool.metadata(Some(topics)).await.map_err(|e| {
            Failure::fatal(format!(
                "metadata from {}: {e}{}",
                self.brokers,
                if e.kind() == ErrorKind::Authentication {
                    ""
                } else {
                    " (is a broker running there?)"
                }
            ))
        })
    }

    /// The partitions of `topic`, or a message saying it does not exist.
    pub(crate) async fn partitions(&self, topic: &str) -> Result<Vec<i32>, Failure> {
        let md = self.metadata(&[topic]).await?;
        match md.topic(topic) {
            Some(t) if t.error.is_none() && !t.partitions.is_empty() => {
                let mut ps: Vec<i32> = t.partitions.iter().map(|p| p.partition).collect();
                ps.sort_unstable();
                Ok(ps)
            }
            Some(t)
                if t.error
                    .is_some_and(|e| e != KafkaCode::UNKNOWN_TOPIC_OR_PARTITION) =>
            {
                Err(Failure::fatal(format!(
                    "topic {topic}: {}",
                    t.error.map(|e| e.to_string()).unwrap_or_default()
                )))
            }
            _ => Err(Failure::fatal(format!(
                "topic {topic} does not exist on {}; check --topic (kafkit metadata lists the topics)",
                self.brokers
            ))),
        }
    }

    /// Low and high watermarks of `partitions`, each asked of its leader (ListOffsets -2 and -1).
    /// A partition of a topic that does not exist (any more) is left out.
    pub(crate) async fn watermarks(
        &self,
        partitions: &BTreeSet<Tp>,
    ) -> Result<BTreeMap<Tp, (i64, i64)>, Failure> {
        let mut out = BTreeMap::new();
        let mut pending: BTreeSet<Tp> = partitions.clone();
        let mut last_problem = String::new();
        loop {
            let topics: BTreeSet<&str> = pending.iter().map(|(t, _)| t.as_str()).collect();
            let topics: Vec<&str> = topics.into_iter().collect();
            let md = self.metadata(&topics).await?;
            // By leader; partitions without a leader (or of a missing topic) wait or are dropped.
            let mut by_leader: BTreeMap<NodeId, Vec<Tp>> = BTreeMap::new();
            for tp in &pending {
                match md.topic(&tp.0) {
                    Some(t) if t.error.is_none() => {}
                    _ => continue, // deleted or never created: no watermarks to show
                }
                match md.partition(&tp.0, tp.1).and_then(|p| p.leader) {
                    Some(leader) => by_leader.entry(leader).or_default().push(tp.clone()),
                    None => last_problem = format!("{}/{} has no leader", tp.0, tp.1),
                }
            }
            pending.retain(|tp| md.topic(&tp.0).is_some_and(|t| t.error.is_none()));
            for (leader, tps) in by_leader {
                let conn = match self.pool.connection(leader).await {
                    Ok(c) => c,
                    Err(e) if e.is_retriable() => {
                        last_problem = format!("broker {leader}: {e}");
                        continue;
                    }
                    Err(e) => return Err(Failure::fatal(format!("connecting to broker {leader}: {e}"))),
                };
                let low = list_offsets(&conn, &tps, EARLIEST).await?;
                let high = list_offsets(&conn, &tps, LATEST).await?;
                for tp in tps {
                    match (low.get(&tp), high.get(&tp)) {
                        (Some(Ok(l)), Some(Ok(h))) => {
                            pending.remove(&tp);
                            out.insert(tp, (*l, *h));
                        }
                        (Some(Err(code)), _) | (_, Some(Err(code))) if retriable_partition_error(*code) => {
                            last_problem = format!("{}/{}: {code}", tp.0, tp.1);
                        }
                        (Some(Err(code)), _) | (_, Some(Err(code))) => {
                            return Err(Failure::fatal(format!(
                                "offsets of {}/{} from broker {leader}: {code}",
                                tp.0, tp.1
                            )));
                        }
                        _ => last_problem = format!("broker {leader} did not answer for {}/{}", tp.0, tp.1),
                    }
                }
            }
            if pending.is_empty() {
                return Ok(out);
            }
            if Instant::now() + RETRY_BACKOFF >= self.deadline {
                return Err(Failure::fatal(format!(
                    "no watermarks within {:?}: {last_problem}",
                    self.timeout
                )));
            }
            tokio::time::sleep(RETRY_BACKOFF).await;
        }
    }

    /// The coordinator of `group` (FindCoordinator), registered in the pool and connected.
    async fn coordinator(&self, group: &str) -> Result<Step<(NodeId, Arc<Connection>)>, Failure> {
        let conn = match self.pool.any_connection().await {
            Ok(c) => c,
            Err(e) if e.is_retriable() => return Ok(Step::Retry(format!("connecting: {e}"))),
            Err(e) => return Err(Failure::fatal(format!("connecting to {}: {e}", self.brokers))),
        };
        let version = negotiated(&conn, ApiKey::FindCoordinator)?;
        let key = StrBytes::from_string(group.to_owned());
        let mut request = FindCoordinatorRequest::default().with_key_type(0);
        request = if version >= 4 {
            request.with_coordinator_keys(vec![key])
        } else {
            request.with_key(key)
        };
        let response: FindCoordinatorResponse = match conn.request_at(&request, version).await {
            Ok(r) => r,
            Err(e) if e.is_retriable() => return Ok(Step::Retry(format!("FindCoordinator: {e}"))),
            Err(e) => return Err(Failure::fatal(format!("FindCoordinator for group {group}: {e}"))),
        };
        let Some(c) = response.for_key(group) else {
            return Err(Failure::fatal(format!(
                "FindCoordinator for group {group}: the broker's answer names no coordinator for it"
            )));
        };
        if c.error_code.is_error() {
            let why = describe_code(c.error_code, c.error_message.as_deref());
            return if retriable_group_error(c.error_code) {
                Ok(Step::Retry(format!("FindCoordinator: {why}")))
            } else {
                Err(Failure::fatal(format!(
                    "finding the coordinator of group {group}: {why}"
                )))
            };
        }
        let Ok(port) = u16::try_from(c.port) else {
            return Err(Failure::fatal(format!(
                "FindCoordinator for group {group}: invalid port {}",
                c.port
            )));
        };
        self.pool.set_broker(c.node_id, format!("{}:{port}", c.host));
        match self.pool.connection(c.node_id).await {
            Ok(conn) => Ok(Step::Done((c.node_id, conn))),
            Err(e) if e.is_retriable() => Ok(Step::Retry(format!("coordinator {}: {e}", c.node_id))),
            Err(e) => Err(Failure::fatal(format!(
                "connecting to coordinator {}: {e}",
                c.node_id
            ))),
        }
    }

    /// Runs `ask` against the coordinator of `group`, finding it again after a retriable answer
    /// (coordinator not available or loading, not the coordinator) until the deadline.
    async fn at_coordinator<T, F, Fut>(&self, group: &str, mut ask: F) -> Result<(NodeId, T), Failure>
    where
        F: FnMut(Arc<Connection>) -> Fut,
        Fut: Future<Output = Result<Step<T>, Failure>>,
    {
        loop {
            let problem = match self.coordinator(group).await? {
                Step::Done((node, conn)) => match ask(conn).await? {
                    Step::Done(v) => return Ok((node, v)),
                    Step::Retry(why) => why,
                },
                Step::Retry(why) => why,
            };
            if Instant::now() + RETRY_BACKOFF >= self.deadline {
                return Err(Failure::fatal(format!(
                    "group {group}: no answer from its coordinator within {:?}: {problem}",
                    self.timeout
                )));
            }
            tokio::time::sleep(RETRY_BACKOFF).await;
        }
    }

    /// The committed offsets of `group` (OffsetFetch, read only): for the partitions of `topics`,
    /// or (`None`) every partition the group has committed. Partitions with no committed offset
    /// are left out.
    pub(crate) async fn committed(
        &self,
        group: &str,
        topics: Option<&BTreeMap<String, Vec<i32>>>,
    ) -> Result<BTreeMap<Tp, i64>, Failure> {
        let (_, offsets) = self
            .at_coordinator(group, |conn| offset_fetch(conn, group, topics))
            .await?;
        Ok(offsets)
    }

    /// The description of `group` and its coordinator's node id.
    pub(crate) async fn describe(&self, group: &str) -> Result<(NodeId, DescribedGroup), Failure> {
        self.at_coordinator(group, |conn| describe_groups(conn, group))
            .await
    }

    /// The address of `node`, for the output.
    pub(crate) fn broker_addr(&self, node: NodeId) -> Option<String> {
        self.pool
            .cached_metadata()
            .and_then(|md| md.broker(node).map(|b| b.addr()))
    }
}

/// A result, or "ask again" with why.
enum Step<T> {
    Done(T),
    Retry(String),
}

fn negotiated(conn: &Connection, api: ApiKey) -> Result<i16, Failure> {
    conn.api_versions()
        .version_for(api)
        .map_err(|e| Failure::fatal(format!("broker {}: {e}", conn.addr())))
}

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_owned())
}

/// `CODE_NAME (n): message`.
fn describe_code(code: KafkaCode, message: Option<&str>) -> String {
    match message {
        Some(m) if !m.is_empty() => format!("{code}: {m}"),
        _ => code.to_string(),
    }
}

/// Answers after which the coordinator is asked for again.
fn retriable_group_error(code: KafkaCode) -> bool {
    matches!(
        code,
        KafkaCode::COORDINATOR_LOAD_IN_PROGRESS
            | KafkaCode::COORDINATOR_NOT_AVAILABLE
            | KafkaCode::NOT_COORDINATOR
    )
}

/// Partition answers after which metadata is refreshed and the leader asked again.
fn retriable_partition_error(code: KafkaCode) -> bool {
    matches!(
        code,
        KafkaCode::NOT_LEADER_OR_FOLLOWER
            | KafkaCode::LEADER_NOT_AVAILABLE
            | KafkaCode::REPLICA_NOT_AVAILABLE
            | KafkaCode::OFFSET_NOT_AVAILABLE
            | KafkaCode::UNKNOWN_TOPIC_OR_PARTITION
            | KafkaCode::FENCED_LEADER_EPOCH
            | KafkaCode::UNKNOWN_LEADER_EPOCH
            | KafkaCode::REQUEST_TIMED_OUT
            | KafkaCode::KAFKA_STORAGE_ERROR
    )
}

/// One ListOffsets request to a leader: per partition the offset at `timestamp`, or its error.
async fn list_offsets(
    conn: &Connection,
    tps: &[Tp],
    timestamp: i64,
) -> Result<BTreeMap<Tp, Result<i64, KafkaCode>>, Failure> {
    let version = negotiated(conn, ApiKey::ListOffsets)?;
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (t, p) in tps {
        by_topic.entry(t.as_str()).or_default().push(*p);
    }
    let request = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_isolation_level(0)
        .with_topics(
            by_topic
                .iter()
                .map(|(topic, ps)| {
                    list_offsets_request::ListOffsetsTopic::default()
                        .with_name(TopicName(sb(topic)))
                        .with_partitions(
                            ps.iter()
                                .map(|p| {
                                    list_offsets_request::ListOffsetsPartition::default()
                                        .with_partition_index(*p)
                                        .with_current_leader_epoch(-1)
                                        .with_timestamp(timestamp)
                                })
                                .collect(),
                        )
                })
                .collect(),
        );
    let response: ListOffsetsResponse = conn
        .request_at(&request, version)
        .await
        .map_err(|e| Failure::fatal(format!("ListOffsets from broker {}: {e}", conn.addr())))?;
    let mut out = BTreeMap::new();
    for topic in &response.topics {
        for p in &topic.partitions {
            let code = KafkaCode(p.error_code);
            let answer = if code.is_error() { Err(code) } else { Ok(p.offset) };
            out.insert((topic.name.to_string(), p.partition_index), answer);
        }
    }
    Ok(out)
}

async fn offset_fetch(
    conn: Arc<Connection>,
    group: &str,
    topics: Option<&BTreeMap<String, Vec<i32>>>,
) -> Result<Step<BTreeMap<Tp, i64>>, Failure> {
    let version = negotiated(&conn, ApiKey::OffsetFetch)?;
    // Before v2 "every committed partition" (null topics) cannot be asked for.
    let empty = BTreeMap::new();
    let topics = match topics {
        None if version < 2 => Some(&empty),
        t => t,
    };
    // v8+ names the group in a `groups` array (no member: a diagnostic never joins).
    let request = if version >= 8 {
        OffsetFetchRequest::default().with_groups(vec![
            offset_fetch_request::OffsetFetchRequestGroup::default()
                .with_group_id(GroupId(sb(group)))
                .with_topics(topics.map(|ts| {
                    ts.iter()
                        .map(|(t, ps)| {
                            offset_fetch_request::OffsetFetchRequestTopics::default()
                                .with_name(TopicName(sb(t)))
                                .with_partition_indexes(ps.clone())
                        })
                        .collect()
                })),
        ])
    } else {
        OffsetFetchRequest::default()
            .with_group_id(GroupId(sb(group)))
            .with_topics(topics.map(|ts| {
                ts.iter()
                    .map(|(t, ps)| {
                        offset_fetch_request::OffsetFetchRequestTopic::default()
                            .with_name(TopicName(sb(t)))
                            .with_partition_indexes(ps.clone())
                    })
                    .collect()
            }))
    }
    .with_require_stable(false);
    let response: OffsetFetchResponse = match conn.request_at(&request, version).await {
        Ok(r) => r,
        Err(e) if e.is_retriable() => return Ok(Step::Retry(format!("OffsetFetch: {e}"))),
        Err(e) => return Err(Failure::fatal(format!("OffsetFetch for group {group}: {e}"))),
    };
    let mut codes = vec![KafkaCode(response.error_code)];
    codes.extend(
        response
            .topics
            .iter()
            .flat_map(|t| &t.partitions)
            .map(|p| KafkaCode(p.error_code)),
    );
    if let Some(code) = codes.iter().copied().find(|c| c.is_error()) {
        return if retriable_group_error(code) {
            Ok(Step::Retry(format!("OffsetFetch: {code}")))
        } else {
            Err(Failure::fatal(format!(
                "committed offsets of group {group}: {code}"
            )))
        };
    }
    let mut out = BTreeMap::new();
    for topic in &response.topics {
        for p in &topic.partitions {
            if p.committed_offset >= 0 {
                out.insert((topic.name.to_string(), p.partition_index), p.committed_offset);
            }
        }
    }
    Ok(Step::Done(out))
}

async fn describe_groups(conn: Arc<Connection>, group: &str) -> Result<Step<DescribedGroup>, Failure> {
    let version = negotiated(&conn, ApiKey::DescribeGroups)?;
    let request = DescribeGroupsRequest::default()
        .with_groups(vec![GroupId(sb(group))])
        .with_include_authorized_operations(false);
    let response: DescribeGroupsResponse = match conn.request_at(&request, version).await {
        Ok(r) => r,
        Err(e) if e.is_retriable() => return Ok(Step::Retry(format!("DescribeGroups: {e}"))),
        Err(e) => return Err(Failure::fatal(format!("DescribeGroups for group {group}: {e}"))),
    };
    let Some(described) = response.group(group) else {
        return Err(Failure::fatal(format!(
            "DescribeGroups: the coordinator's answer does not mention group {group}"
        )));
    };
    let code = described.error_code;
    if retriable_group_error(code) {
        return Ok(Step::Retry(format!("DescribeGroups: {code}")));
    }
    if code == KafkaCode::GROUP_ID_NOT_FOUND || (!code.is_error() && described.group_state.as_str() == "Dead")
    {
        return Err(Failure::fatal(format!(
            "group {group} does not exist (no members and no committed offsets); check the group id"
        )));
    }
    if code.is_error() {
        return Err(Failure::fatal(format!(
            "describing group {group}: {}",
            describe_code(code, described.error_message.as_deref())
        )));
    }
    Ok(Step::Done(described.clone()))
}
