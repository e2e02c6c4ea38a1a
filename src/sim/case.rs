//! What a simulated case is made of (cluster, members, application, faults, a script of
//! scripted faults) and what it ended with.

use std::time::Duration;

use super::Rng;
use super::app::{AppPolicy, CommitPolicy};
use super::coordinator::Flavor;
use super::history::{History, Report};
use super::net::Pool;
use crate::types::{NodeId, TopicPartition};

/// Which faults a case injects during its chaos phase.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Faults {
    /// Connections reset.
    pub(crate) disconnects: bool,
    /// Retriable error answers (coordinator loading, unknown server errors on fetch).
    pub(crate) errors: bool,
    /// Partition leadership moves (metadata follows a little later).
    pub(crate) leader_moves: bool,
    /// The group coordinator moves to another broker.
    pub(crate) coordinator_moves: bool,
    /// A data broker is unreachable for a while.
    pub(crate) broker_outages: bool,
    /// Members are killed, closed and replaced.
    pub(crate) churn: bool,
    /// Applications stop pulling for longer than max.poll.interval.
    pub(crate) stalls: bool,
    /// Latency spikes.
    pub(crate) slow: bool,
    /// A member's connection to a broker goes silent (half-open: requests are taken and never
    /// answered) until the member closes it.
    pub(crate) silent: bool,
    /// Unclean leader elections: a partition's new leader lost its last records, and the lost
    /// offsets are written again with other records (KIP-320's case).
    pub(crate) unclean: bool,
}

/// One simulated case.
#[derive(Debug, Clone)]
pub(crate) struct Case {
    pub(crate) seed: u64,
    pub(crate) flavor: Flavor,
    pub(crate) brokers: i32,
    pub(crate) topics: Vec<(&'static str, i32)>,
    pub(crate) members: usize,
    /// Members start at random times within this window.
    pub(crate) join_spread: Duration,
    pub(crate) cooperative: bool,
    pub(crate) auto_commit: bool,
    pub(crate) app: AppPolicy,
    /// Records per partition at the start, and per partition produced during the chaos phase.
    pub(crate) records: i64,
    pub(crate) more_records: i64,
    pub(crate) chaos: Duration,
    pub(crate) settle: Duration,
    pub(crate) faults: Faults,
    pub(crate) session_timeout: Duration,
    pub(crate) heartbeat_interval: Duration,
    pub(crate) max_poll_interval: Duration,
    /// The coordinator's initial rebalance delay (the mock's is 3 s).
    pub(crate) initial_delay: Duration,
    /// One-way latency, microseconds.
    pub(crate) latency_us: (u64, u64),
    /// Faults at chosen moments since the start, whatever the chaos phase draws.
    pub(crate) script: Vec<(Duration, Scripted)>,
    /// The consumers use fetch sessions (KIP-227).
    pub(crate) fetch_sessions: bool,
    /// The members use the consumer group protocol (KIP-848; Kafka only): the broker assigns,
    /// uniformly, and the case's session timeout and heartbeat interval are the broker's.
    pub(crate) consumer_protocol: bool,
}

impl Case {
    /// A plain case: Kafka, one broker, one topic of `partitions`, `members` members, no faults.
    pub(crate) fn new(seed: u64, partitions: i32, members: usize) -> Case {
        Case {
            seed,
            flavor: Flavor::Kafka,
            brokers: 1,
            topics: vec![("t", partitions)],
            members,
            join_spread: Duration::ZERO,
            cooperative: false,
            auto_commit: true,
            app: AppPolicy {
                commit: CommitPolicy::Auto,
                batch: 20,
                think: (1, 5),
                pauses: false,
            },
            records: 50,
            more_records: 0,
            chaos: Duration::from_secs(10),
            settle: Duration::from_secs(120),
            faults: Faults::default(),
            session_timeout: Duration::from_secs(10),
            heartbeat_interval: Duration::from_secs(1),
            max_poll_interval: Duration::from_secs(30),
            initial_delay: Duration::ZERO,
            latency_us: (100, 2_000),
            script: vec![],
            fetch_sessions: true,
            consumer_protocol: false,
        }
    }
}

/// What a case ended with.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub(crate) history: History,
    pub(crate) violations: Vec<String>,
    pub(crate) report: Report,
    /// When every produced record had been delivered (since the start).
    pub(crate) all_delivered_at: Option<Duration>,
    /// Events handled.
    pub(crate) events: u64,
    /// The fetch requests the brokers saw.
    pub(crate) fetches: super::sessions::SessionCounts,
    /// ConsumerGroupHeartbeats the KIP-848 coordinator accepted.
    pub(crate) consumer_group_heartbeats: u64,
    /// OffsetFetches that named a member (consumer protocol, v9+), and how many of those the
    /// KIP-848 coordinator refused (a stale epoch or an unknown member).
    pub(crate) offset_fetches_named: (u64, u64),
}

impl Outcome {
    /// Panics with the violations and the end of the history, naming the seed.
    pub(crate) fn assert_ok(&self, what: &str) {
        if !self.violations.is_empty() {
            panic!(
                "{what}: {} violation(s):\n  {}\nlast facts:\n{}",
                self.violations.len(),
                self.violations
                    .iter()
                    .take(12)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("\n  "),
                self.history.tail(40)
            );
        }
    }
}

/// A fault at a chosen moment of a case (the random faults of the chaos phase are drawn as these
/// too).
#[derive(Debug, Clone)]
pub(crate) enum Scripted {
    /// Resets connections: of `member` (or every member), to `node` (or every broker), of `pool`
    /// (or both).
    Disconnect {
        member: Option<usize>,
        pool: Option<Pool>,
        node: Option<NodeId>,
    },
    /// Retriable error answers for a while (coordinator loading, unknown server errors on fetch).
    Errors(Duration),
    /// The partition's leadership moves to `to`; metadata follows `publish_after` later.
    LeaderMove {
        tp: TopicPartition,
        to: NodeId,
        publish_after: Duration,
    },
    /// The group coordinator moves to `to`; its old connections reset.
    CoordinatorMove(NodeId),
    /// A broker (not the coordinator) is unreachable for a while.
    BrokerDown(NodeId, Duration),
    /// The member is killed: no leave, no commit, its connections die.
    Kill(usize),
    /// The member is closed cleanly.
    Close(usize),
    /// One more member starts.
    Start,
    /// The member's application stops pulling for a while.
    Stall(usize, Duration),
    /// Latency spikes for a while.
    Slow(Duration),
    /// The member's connections of `pool` to `node` go half-open: taken, never answered.
    Silent { member: usize, pool: Pool, node: NodeId },
    /// An unclean leader election: `to` leads `tp` in a new epoch with the last `lose` records
    /// gone (to a batch boundary), and as many are written again at once (other records at the
    /// same offsets); metadata follows `publish_after` later.
    UncleanElection {
        tp: TopicPartition,
        to: NodeId,
        lose: i64,
        publish_after: Duration,
    },
}

impl Case {
    /// A case drawn from `seed`: cluster shape, members, protocol, commit style, faults.
    pub(crate) fn random(seed: u64) -> Case {
        Case::drawn(seed, &mut Rng::new(seed.wrapping_mul(0x9E37_79B9)))
    }

    /// A case whose every choice comes from `rng` (a seeded one, or a fuzzer's bytes).
    pub(crate) fn drawn(seed: u64, rng: &mut Rng) -> Case {
        let brokers = 1 + rng.below(3) as i32;
        let topics: Vec<(&'static str, i32)> = if rng.chance(30) {
            vec![("a", 1 + rng.below(4) as i32), ("b", 1 + rng.below(3) as i32)]
        } else {
            vec![("t", 1 + rng.below(6) as i32)]
        };
        let mut case = Case::new(seed, 1, 1 + rng.below(3) as usize);
        case.brokers = brokers;
        case.topics = topics;
        case.flavor = if rng.chance(20) {
            Flavor::RdkafkaMock
        } else {
            Flavor::Kafka
        };
        case.join_spread = rng.millis(0, 3000);
        case.cooperative = case.flavor == Flavor::Kafka && rng.chance(40);
        case.auto_commit = rng.chance(70);
        case.app = AppPolicy {
            commit: match rng.below(3) {
                0 => CommitPolicy::Every(1 + rng.below(10) as u32),
                1 if case.auto_commit => CommitPolicy::Store(1 + rng.below(5) as u32),
                _ if case.auto_commit => CommitPolicy::Auto,
                _ => CommitPolicy::Every(1 + rng.below(10) as u32),
            },
            batch: 1 + rng.below(30) as u32,
            think: (0, 1 + rng.below(20)),
            pauses: rng.chance(20),
        };
        case.records = rng.below(60) as i64;
        case.more_records = rng.below(80) as i64;
        case.chaos = rng.millis(2_000, 20_000);
        case.session_timeout = Duration::from_secs(6 + rng.below(6));
        case.heartbeat_interval = Duration::from_millis(500 + rng.below(1500));
        case.max_poll_interval = Duration::from_secs(3 + rng.below(10));
        case.initial_delay = if case.flavor == Flavor::RdkafkaMock {
            // The mock holds a JoinGroup for the session timeout less 1 s, whatever the rebalance
            // timeout: a member whose JoinGroup deadline (rebalance timeout + 5 s) is shorter gives up
            // on every join. The reliability suite runs it with 6 s sessions.
            case.session_timeout = Duration::from_secs(6);
            Duration::from_secs(3)
        } else {
            rng.millis(0, 3000)
        };
        case.faults = Faults {
            disconnects: rng.chance(40),
            errors: rng.chance(30),
            leader_moves: rng.chance(40),
            coordinator_moves: rng.chance(20),
            broker_outages: rng.chance(20),
            churn: rng.chance(30),
            stalls: rng.chance(25),
            slow: rng.chance(15),
            silent: rng.chance(15),
            unclean: false,
        };
        case.fetch_sessions = !rng.chance(15);
        case.faults.unclean = rng.chance(15);
        case.consumer_protocol = case.flavor == Flavor::Kafka && rng.chance(30);
        case
    }
}
