//! The simulated world: members (engine core, handoff, application) against a cluster and its
//! coordinator, on one virtual clock, driven by one ordered queue of events.
//!
//! A case runs in phases: members start (within `join_spread`), then `chaos` (faults enabled by
//! the case, records produced now and then), then everything heals and the world runs until every
//! produced record was delivered (or `settle` passes), then every member closes. The history is
//! then checked (`super::history`), together with the world's own invariants: no member's engine
//! asks to be woken in the past again and again (a busy loop), and a closed member's buffer
//! accounting returns to zero.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::find_coordinator_response::Coordinator as FoundCoordinator;
use kafka_protocol::messages::{
    BrokerId, FindCoordinatorResponse, HeartbeatResponse, JoinGroupResponse, LeaveGroupResponse,
    SyncGroupResponse,
};
use kafka_protocol::protocol::{Encodable, StrBytes};
use tokio::sync::{broadcast, mpsc, oneshot};

use super::Rng;
use super::app::{App, AppPolicy};
use super::cluster::Cluster;
use super::coordinator::{Coordinator, Flavor, ReplyTo};
use super::history::{Expected, Fact, History, Report};
use super::net::{Conn, ConnKey, Pool, Req, ReqState, connection_reset, deadline, failed, timed_out};
use super::responses::{offset_commit_response, offset_fetch_response};
use crate::config::{Assignor, ConsumerConfig, OffsetReset};
use crate::consumer::Partitions;
use crate::engine::{EngineCore, HandoffEnds, Response, Transmit};
use crate::error::{Error, ErrorKind, Result};
use crate::events::{Event, Reporter};
use crate::fetch::FetchRequest;
use crate::group::Target;
use crate::handoff::{Command, RejoinSignal};
use crate::types::{NodeId, TopicPartition};
use crate::wire::{ApiKey, KafkaCode};

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
                commit: super::app::CommitPolicy::Auto,
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

/// API versions the simulated brokers negotiate.
#[derive(Debug, Clone, Copy)]
struct Versions {
    find: i16,
    join: i16,
    sync: i16,
    heartbeat: i16,
    leave: i16,
    fetch: i16,
}

impl Versions {
    fn of(flavor: Flavor) -> Versions {
        match flavor {
            Flavor::Kafka => Versions {
                find: 4,
                join: 9,
                sync: 5,
                heartbeat: 4,
                leave: 5,
                fetch: 12,
            },
            // The caps the reliability suite puts on librdkafka's mock.
            Flavor::RdkafkaMock => Versions {
                find: 3,
                join: 5,
                sync: 3,
                heartbeat: 3,
                leave: 1,
                fetch: 11,
            },
        }
    }

    fn group(&self, api: ApiKey) -> i16 {
        match api {
            ApiKey::FindCoordinator => self.find,
            ApiKey::JoinGroup => self.join,
            ApiKey::SyncGroup => self.sync,
            ApiKey::Heartbeat => self.heartbeat,
            _ => self.leave,
        }
    }
}

/// What a broker has to do for a request (taken out of it, so the world can change while it
/// works).
enum Work {
    Metadata,
    Group {
        id: u64,
        api: ApiKey,
        body: std::result::Result<Bytes, crate::wire::EncodeError>,
    },
    Fetch(u64, crate::fetch::FetchBody),
    ListOffsets(u64, crate::fetch::ListOffsetsBody),
    OffsetFetch(u64, crate::fetch::OffsetFetchBody),
    Commit(u64, crate::commit::OffsetCommitBody),
}

enum Ev {
    StartMember,
    Arrive(u64),
    Deliver(u64, Response),
    Deadline(u64),
    LongPollExpire(u64),
    MemberTimeout(usize, u64),
    AppStep(usize),
    CoordinatorTimer,
    Produce,
    Fault,
    Publish,
    Heal(HealKind),
}

#[derive(Debug, Clone, Copy)]
enum HealKind {
    Errors,
    Slow,
    Broker(NodeId),
}

struct Member {
    name: String,
    core: Option<EngineCore>,
    app: Option<App>,
    commands: mpsc::Receiver<Command>,
    events: broadcast::Receiver<Event>,
    total_buffered: Arc<AtomicUsize>,
    timeout_gen: u64,
    app_step_at: Option<Instant>,
    close: Option<oneshot::Receiver<Result<()>>>,
    /// Consecutive wake-ups at one instant that left the engine due again at once.
    same_instant: (Instant, u32),
}

/// The world. Create with [`World::run`].
pub(crate) struct World {
    case: Case,
    rng: Rng,
    start: Instant,
    now: Instant,
    queue: BTreeMap<(Instant, u64), Ev>,
    seq: u64,
    cluster: Cluster,
    coordinator: Coordinator,
    coordinator_node: NodeId,
    coordinator_timer: Option<Instant>,
    versions: Versions,
    members: Vec<Member>,
    /// Coordinator member ids to member names.
    member_ids: HashMap<String, String>,
    conns: BTreeMap<ConnKey, Conn>,
    /// Half-open connections: what is sent on them is never answered.
    silent: std::collections::BTreeSet<ConnKey>,
    /// Per connection, when its last request reaches the broker and its last answer the member:
    /// TCP keeps both directions in order, whatever each message's latency.
    wire: BTreeMap<ConnKey, (Instant, Instant)>,
    reqs: BTreeMap<u64, Req>,
    next_req: u64,
    held_fetches: Vec<u64>,
    down: Vec<NodeId>,
    errors: bool,
    slow: bool,
    healed: bool,
    /// Every member has been asked to close: no new ones start.
    closing_all: bool,
    history: History,
    expected: Expected,
    violations: Vec<String>,
    events: u64,
}

impl World {
    /// Runs `case` to the end and checks it.
    pub(crate) fn run(case: Case) -> Outcome {
        let mut world = World::new(case);
        world.play();
        world.finish()
    }

    fn new(case: Case) -> World {
        let start = Instant::now();
        let mut cluster = Cluster::new(case.brokers, &case.topics);
        let mut expected = Expected {
            // A member cut off from its coordinator learns it was dropped up to one answer's
            // travel later than the coordinator decided it.
            overlap_tolerance: Duration::from_micros(case.latency_us.1 * 2)
                * if case.faults.slow { 100 } else { 1 },
            ..Expected::default()
        };
        let tps: Vec<TopicPartition> = cluster.logs.keys().cloned().collect();
        for tp in &tps {
            let offsets = cluster.produce(tp, case.records, 7);
            expected.produced.entry(tp.clone()).or_default().extend(offsets);
            expected.start.insert(tp.clone(), 0);
        }
        let coordinator_node = 1 + (case.seed as i32).rem_euclid(case.brokers);
        World {
            rng: Rng::new(case.seed),
            start,
            now: start,
            queue: BTreeMap::new(),
            seq: 0,
            cluster,
            coordinator: Coordinator::new(case.flavor, case.initial_delay),
            coordinator_node,
            coordinator_timer: None,
            versions: Versions::of(case.flavor),
            members: vec![],
            member_ids: HashMap::new(),
            conns: BTreeMap::new(),
            wire: BTreeMap::new(),
            silent: Default::default(),
            reqs: BTreeMap::new(),
            next_req: 1,
            held_fetches: vec![],
            down: vec![],
            errors: false,
            slow: false,
            healed: false,
            closing_all: false,
            history: History::default(),
            expected,
            violations: vec![],
            events: 0,
            case,
        }
    }

    fn t(&self) -> Duration {
        self.now - self.start
    }

    fn at(&mut self, at: Instant, ev: Ev) {
        self.seq += 1;
        self.queue.insert((at.max(self.now), self.seq), ev);
    }

    fn latency(&mut self) -> Duration {
        let (lo, hi) = self.case.latency_us;
        let mut d = Duration::from_micros(lo + self.rng.below(hi - lo + 1));
        if self.slow && self.rng.chance(30) {
            d *= 100;
        }
        d
    }

    // ----- phases -----

    fn play(&mut self) {
        let spread = self.case.join_spread;
        for _ in 0..self.case.members {
            let at = self.start + Duration::from_micros(self.rng.below(spread.as_micros() as u64 + 1));
            self.at(at, Ev::StartMember);
        }
        let chaos_end = self.start + self.case.chaos;
        if self.case.more_records > 0 {
            let at = self.start + self.rng.millis(10, 500);
            self.at(at, Ev::Produce);
        }
        let faults = self.case.faults;
        let any_fault = faults.silent
            || faults.disconnects
            || faults.errors
            || faults.leader_moves
            || faults.coordinator_moves
            || faults.broker_outages
            || faults.churn
            || faults.stalls
            || faults.slow;
        if any_fault {
            let at = self.start + self.rng.millis(200, 2000);
            self.at(at, Ev::Fault);
        }
        self.run_until(chaos_end, false);
        self.heal();
        let settle_end = self.now + self.case.settle;
        self.run_until(settle_end, true);
        // Close everyone and let them finish (bounded by their close timeouts).
        self.closing_all = true;
        for m in 0..self.members.len() {
            self.close_member(m);
        }
        let end = self.now + Duration::from_secs(60);
        self.run_until(end, false);
        for m in 0..self.members.len() {
            if self.members[m].core.is_some() {
                self.violations
                    .push(format!("{} did not finish closing", self.members[m].name));
            }
        }
    }

    /// Handles events up to `until`; with `stop_when_delivered`, stops as soon as every produced
    /// record has been delivered.
    fn run_until(&mut self, until: Instant, stop_when_delivered: bool) {
        let mut checked = self.now;
        while let Some((&(at, seq), _)) = self.queue.first_key_value() {
            if at > until {
                break;
            }
            let Some(ev) = self.queue.remove(&(at, seq)) else {
                break;
            };
            self.now = at;
            self.events += 1;
            if self.events > 3_000_000 {
                self.violations
                    .push("more than 3 million events: the world does not settle".into());
                return;
            }
            self.handle(ev);
            if stop_when_delivered && self.now >= checked + Duration::from_millis(100) {
                checked = self.now;
                if self.all_delivered() {
                    return;
                }
            }
        }
        // Every event left is later than `until`.
        self.now = self.now.max(until);
    }

    fn all_delivered(&self) -> bool {
        self.expected
            .produced
            .iter()
            .all(|(tp, offsets)| offsets.is_subset(&self.history.delivered(tp)))
    }

    /// Ends the chaos: faults stop, outages end, stalls end; at least one member runs.
    fn heal(&mut self) {
        self.healed = true;
        self.errors = false;
        self.slow = false;
        self.down.clear();
        self.cluster.publish();
        let mut running = 0;
        for m in &mut self.members {
            if let Some(app) = &mut m.app {
                app.stalled_until = None;
            }
            if m.core.is_some() {
                running += 1;
            }
        }
        for i in 0..self.members.len() {
            if self.members[i].app.is_some() {
                self.schedule_app(i, self.now);
            }
        }
        if running == 0 {
            self.at(self.now, Ev::StartMember);
        }
    }

    fn finish(mut self) -> Outcome {
        let all_delivered_at = self.first_all_delivered();
        let mut violations = std::mem::take(&mut self.violations);
        let report = match self.history.check(&self.expected) {
            Ok(r) => r,
            Err(v) => {
                violations.extend(v);
                Report::default()
            }
        };
        Outcome {
            history: self.history,
            violations,
            report,
            all_delivered_at,
            events: self.events,
        }
    }

    fn first_all_delivered(&self) -> Option<Duration> {
        let mut missing: usize = self.expected.produced.values().map(|s| s.len()).sum();
        let mut seen = std::collections::HashSet::new();
        for e in &self.history.entries {
            if let Fact::Delivered(tp, o) = &e.fact
                && self.expected.produced.get(tp).is_some_and(|s| s.contains(o))
                && seen.insert((tp.clone(), *o))
            {
                missing -= 1;
                if missing == 0 {
                    return Some(e.t);
                }
            }
        }
        None
    }

    // ----- members -----

    fn config(&self) -> ConsumerConfig {
        let c = &self.case;
        ConsumerConfig {
            bootstrap: vec!["broker-1:9092".into()],
            group_id: Some("g".into()),
            topics: c.topics.iter().map(|(t, _)| (*t).to_owned()).collect(),
            offset_reset: OffsetReset::Earliest,
            enable_auto_commit: c.auto_commit,
            auto_commit_interval: Duration::from_secs(1 + c.seed % 5),
            session_timeout: c.session_timeout,
            heartbeat_interval: c.heartbeat_interval,
            max_poll_interval: c.max_poll_interval,
            assignors: if c.cooperative {
                vec![Assignor::CooperativeSticky]
            } else {
                vec![Assignor::Range, Assignor::RoundRobin]
            },
            // Small fetches and buffers: batches cut at the fetch size, and back-pressure.
            max_partition_fetch_bytes: 600,
            fetch_max_bytes: 4000,
            partition_buffer_bytes: 1500,
            total_buffer_bytes: 6000,
            close_timeout: Duration::from_secs(30),
            ..ConsumerConfig::default()
        }
    }

    fn start_member(&mut self) {
        if !self.closing_all {
            let n = self.members.len();
            let name = format!("m{n}");
            let config = self.config();
            let (commands_tx, commands) = mpsc::channel(1024);
            let (partitions_tx, partitions_rx) = mpsc::unbounded_channel();
            let reporter = Reporter::new();
            let events = reporter.events.subscribe();
            let rejoin = Arc::new(RejoinSignal::new(commands_tx.clone()));
            let total_buffered = Arc::new(AtomicUsize::new(0));
            let core = EngineCore::new(
                config,
                HandoffEnds {
                    partitions: partitions_tx,
                    reporter,
                    rejoin: rejoin.clone(),
                    total_buffered: total_buffered.clone(),
                },
                self.now,
            );
            let core = match core {
                Ok(core) => core,
                Err(e) => {
                    self.violations
                        .push(format!("{name}: the core did not start: {e}"));
                    return;
                }
            };
            let app = App::new(
                &name,
                self.case.app,
                Partitions::new(partitions_rx, rejoin),
                commands_tx,
            );
            self.members.push(Member {
                name,
                core: Some(core),
                app: Some(app),
                commands,
                events,
                total_buffered,
                timeout_gen: 0,
                app_step_at: None,
                close: None,
                same_instant: (self.now, 0),
            });
            let m = self.members.len() - 1;
            if let Some(core) = &mut self.members[m].core {
                core.handle_timeout(self.now);
            }
            self.after_input(m, true);
        }
    }

    fn close_member(&mut self, m: usize) {
        let now = self.now;
        let member = &mut self.members[m];
        if member.close.is_some() {
            return;
        }
        let Some(core) = &mut member.core else {
            return;
        };
        let (tx, rx) = oneshot::channel();
        member.close = Some(rx);
        core.handle_command(Command::Close(tx), now);
        self.after_input(m, true);
    }

    fn kill_member(&mut self, m: usize) {
        let t = self.t();
        let member = &mut self.members[m];
        if member.core.take().is_none() {
            return;
        }
        if let Some(app) = member.app.take() {
            app.shutdown();
        }
        let name = member.name.clone();
        self.history.record(t, &name, Fact::Killed);
        // Its connections die with it.
        let keys: Vec<ConnKey> = self.conns.keys().filter(|k| k.0 == m).copied().collect();
        for k in keys {
            self.disconnect(k);
        }
        self.check_buffers_released(m);
    }

    /// A member whose streams are all gone has nothing buffered.
    fn check_buffers_released(&mut self, m: usize) {
        let left = self.members[m].total_buffered.load(Ordering::Acquire);
        if left != 0 {
            let name = self.members[m].name.clone();
            self.violations.push(format!(
                "{name}: {left} buffered bytes still counted after every stream was dropped"
            ));
        }
    }

    /// After any input to member `m`: send what it wants sent, record its events, re-arm its
    /// timer, and give its application a turn if there may be something for it.
    fn after_input(&mut self, m: usize, wake_app: bool) {
        let t = self.t();
        let now = self.now;
        let mut transmits = vec![];
        let member = &mut self.members[m];
        let Some(core) = &mut member.core else {
            return;
        };
        while let Some(tx) = core.poll_transmit() {
            transmits.push(tx);
        }
        while let Ok(event) = member.events.try_recv() {
            let fact = match event {
                Event::Assigned(tps) => Fact::Assigned(tps),
                Event::Revoked(tps) => Fact::Revoked(tps),
                Event::Lost(tps, _) => Fact::Lost(tps),
                Event::Joined { member_id, .. } => {
                    self.member_ids.insert(member_id, member.name.clone());
                    continue;
                }
                _ => continue,
            };
            self.history.record(t, &member.name, fact);
        }
        if core.is_done() {
            core.finish();
            member.core = None;
            if let Some(app) = member.app.take() {
                app.shutdown();
            }
            let name = member.name.clone();
            self.history.record(t, &name, Fact::Closed);
            for tx in transmits {
                // A finished engine's last requests go nowhere.
                drop(tx);
            }
            self.check_buffers_released(m);
            return;
        }
        let timeout = core.poll_timeout();
        if timeout <= now {
            let (at, n) = member.same_instant;
            member.same_instant = if at == now { (now, n + 1) } else { (now, 1) };
            if member.same_instant.1 == 50 {
                let name = member.name.clone();
                self.violations.push(format!(
                    "{name}: the engine keeps asking to be woken at once at {t:?} (a busy loop)"
                ));
            }
        }
        member.timeout_gen += 1;
        let generation = member.timeout_gen;
        // A busy engine is woken a millisecond later so the world moves on (and it is reported).
        let at = if member.same_instant.1 >= 50 {
            timeout.max(now + Duration::from_millis(1))
        } else {
            timeout
        };
        self.at(at, Ev::MemberTimeout(m, generation));
        for tx in transmits {
            self.send(m, tx);
        }
        if wake_app {
            let think = self.rng.millis(self.case.app.think.0, self.case.app.think.1);
            self.schedule_app(m, now + think);
        }
    }

    fn schedule_app(&mut self, m: usize, at: Instant) {
        let member = &mut self.members[m];
        if member.app_step_at.is_some_and(|s| s <= at && s >= self.now) {
            return;
        }
        member.app_step_at = Some(at);
        self.at(at, Ev::AppStep(m));
    }

    fn app_step(&mut self, m: usize) {
        let now = self.now;
        let t = self.t();
        if self.members[m].app_step_at != Some(now) {
            return;
        }
        self.members[m].app_step_at = None;
        let member = &mut self.members[m];
        let Some(app) = &mut member.app else {
            return;
        };
        let wake = app.step(now, t, &mut self.rng, &mut self.history);
        let mut commands = vec![];
        while let Ok(c) = member.commands.try_recv() {
            commands.push(c);
        }
        if let Some(core) = &mut member.core {
            for c in commands {
                core.handle_command(c, now);
            }
        }
        // The application decides its own next turn.
        self.after_input(m, false);
        if let Some(at) = wake {
            self.schedule_app(m, at);
        }
    }

    // ----- the network -----

    fn route(&self, transmit: &Transmit) -> (Pool, NodeId) {
        let any = self
            .cluster
            .brokers
            .iter()
            .copied()
            .find(|b| !self.down.contains(b))
            .unwrap_or(1);
        match transmit {
            Transmit::Metadata { .. } => (Pool::Data, any),
            Transmit::Group { request, .. } => match request.target {
                Target::AnyBroker => (Pool::Group, any),
                Target::Coordinator(node) => (Pool::Group, node),
            },
            Transmit::Fetch(FetchRequest::Fetch { node, .. })
            | Transmit::Fetch(FetchRequest::ListOffsets { node, .. })
            | Transmit::Fetch(FetchRequest::OffsetFetch { node, .. }) => (Pool::Data, *node),
            Transmit::Commit { commit, .. } => (Pool::Group, commit.node),
        }
    }

    fn send(&mut self, m: usize, transmit: Transmit) {
        let (pool, node) = self.route(&transmit);
        let version = match &transmit {
            Transmit::Group { request, .. } => self.versions.group(request.request.api()),
            _ => self.versions.fetch,
        };
        let id = self.next_req;
        self.next_req += 1;
        let data_timeout = Duration::from_secs(30);
        let group_timeout = self.case.max_poll_interval + data_timeout;
        let conn_timeout = if pool == Pool::Group {
            group_timeout
        } else {
            data_timeout
        };
        let give_up = deadline(&transmit, self.now, conn_timeout);
        self.reqs.insert(
            id,
            Req {
                member: m,
                conn: (m, pool, node),
                transmit,
                state: ReqState::Travelling,
                version,
            },
        );
        let latency = self.latency();
        if self.down.contains(&node) || !self.cluster.brokers.contains(&node) {
            let error = Error::new(
                ErrorKind::Connect,
                format!("broker {node} is unreachable (simulated)"),
            );
            self.fail(id, error, latency);
            return;
        }
        let (to_broker, _) = self.wire.entry((m, pool, node)).or_insert((self.now, self.now));
        let arrive = (self.now + latency).max(*to_broker);
        *to_broker = arrive;
        self.at(arrive, Ev::Arrive(id));
        self.at(give_up, Ev::Deadline(id));
    }

    /// Fails request `id` towards its member after `delay` (unless it is already done).
    fn fail(&mut self, id: u64, error: Error, delay: Duration) {
        let Some(req) = self.reqs.get_mut(&id) else {
            return;
        };
        if req.state == ReqState::Done {
            return;
        }
        req.state = ReqState::Done;
        let response = failed(&req.transmit, req.version, error);
        self.at(self.now + delay, Ev::Deliver(id, response));
    }

    /// Request `id` is answered at the broker: the answer travels back, the connection moves on.
    fn answer(&mut self, id: u64, response: Response) {
        let latency = self.latency();
        let Some(req) = self.reqs.get_mut(&id) else {
            return;
        };
        let conn = req.conn;
        if req.state == ReqState::AtBroker {
            req.state = ReqState::Done;
            let (_, to_member) = self.wire.entry(conn).or_insert((self.now, self.now));
            let deliver = (self.now + latency).max(*to_member);
            *to_member = deliver;
            self.at(deliver, Ev::Deliver(id, response));
        }
        if let Some(c) = self.conns.get_mut(&conn)
            && c.queue.front() == Some(&id)
        {
            c.queue.pop_front();
            c.busy = false;
        }
        self.held_fetches.retain(|h| *h != id);
        self.process_next(conn);
    }

    fn arrive(&mut self, id: u64) {
        let Some(req) = self.reqs.get_mut(&id) else {
            return;
        };
        if req.state != ReqState::Travelling {
            return;
        }
        req.state = ReqState::AtBroker;
        let conn = req.conn;
        self.conns.entry(conn).or_default().queue.push_back(id);
        self.process_next(conn);
    }

    /// Starts on the first request queued on `key` unless one is being handled; an answer given
    /// at once moves on to the next (through [`World::answer`]), a held one keeps the connection.
    fn process_next(&mut self, key: ConnKey) {
        let Some(c) = self.conns.get_mut(&key) else {
            return;
        };
        if c.busy {
            return;
        }
        let Some(&id) = c.queue.front() else {
            return;
        };
        c.busy = true;
        if self.silent.contains(&key) {
            // Taken, never answered: the connection is stuck until the member drops it.
            return;
        }
        if let Some(response) = self.handle_request(id) {
            self.answer(id, response);
        }
    }

    /// The broker's answer to request `id` now, or `None` if it holds it.
    fn handle_request(&mut self, id: u64) -> Option<Response> {
        let now = self.now;
        let req = self.reqs.get(&id)?;
        let node = req.conn.2;
        let version = req.version;
        let member = req.member;
        let work = match &req.transmit {
            Transmit::Metadata { .. } => Work::Metadata,
            Transmit::Group { request, .. } => Work::Group {
                id: request.id,
                api: request.request.api(),
                body: request.request.encode(version).map(|b| b.0),
            },
            Transmit::Fetch(FetchRequest::Fetch { id, body, .. }) => Work::Fetch(*id, body.clone()),
            Transmit::Fetch(FetchRequest::ListOffsets { id, body, .. }) => {
                Work::ListOffsets(*id, body.clone())
            }
            Transmit::Fetch(FetchRequest::OffsetFetch { id, body, .. }) => {
                Work::OffsetFetch(*id, body.clone())
            }
            Transmit::Commit { commit, .. } => Work::Commit(commit.id, commit.body.clone()),
        };
        match work {
            Work::Metadata => Some(Response::Metadata(Ok(self.cluster.metadata()))),
            Work::Group { id: gid, api, body } => {
                let body = match body {
                    Ok(body) => body,
                    Err(e) => {
                        return Some(Response::Group {
                            id: gid,
                            version,
                            result: Err(e.into()),
                        });
                    }
                };
                let bytes = if api == ApiKey::FindCoordinator {
                    Some(self.find_coordinator(version))
                } else if node != self.coordinator_node {
                    Some(not_coordinator(api, version))
                } else {
                    let reply = ReplyTo { token: id, version };
                    let out = self.coordinator.handle(api, version, body, reply, now);
                    self.coordinator_changed();
                    out
                };
                bytes.map(|b| Response::Group {
                    id: gid,
                    version,
                    result: Ok(b),
                })
            }
            Work::Fetch(fid, body) => {
                if body.max_wait_ms <= 0 || self.cluster.has_data(node, &body) {
                    let faults = self.errors;
                    let response = self.cluster.fetch(node, &body, version, &mut self.rng, faults);
                    Some(Response::Fetch {
                        id: fid,
                        result: Ok(response),
                    })
                } else {
                    let wait = Duration::from_millis(body.max_wait_ms as u64);
                    self.held_fetches.push(id);
                    self.at(now + wait, Ev::LongPollExpire(id));
                    None
                }
            }
            Work::ListOffsets(lid, body) => Some(Response::ListOffsets {
                id: lid,
                result: Ok(self.cluster.list_offsets(node, &body)),
            }),
            Work::OffsetFetch(oid, body) => {
                let response = if node != self.coordinator_node {
                    offset_fetch_response(KafkaCode::NOT_COORDINATOR, &[])
                } else if self.errors && self.rng.chance(20) {
                    offset_fetch_response(KafkaCode::COORDINATOR_LOAD_IN_PROGRESS, &[])
                } else {
                    let parts: Vec<_> = body
                        .partitions
                        .iter()
                        .map(|tp| {
                            let c = self.coordinator.committed.get(tp).copied().unwrap_or(-1);
                            (tp.clone(), KafkaCode::NONE, c)
                        })
                        .collect();
                    offset_fetch_response(KafkaCode::NONE, &parts)
                };
                Some(Response::OffsetFetch {
                    id: oid,
                    result: Ok(response),
                })
            }
            Work::Commit(cid, body) => {
                let code = if node != self.coordinator_node {
                    KafkaCode::NOT_COORDINATOR
                } else if self.errors && self.rng.chance(20) {
                    KafkaCode::COORDINATOR_LOAD_IN_PROGRESS
                } else {
                    let (code, backwards) = self.coordinator.commit(&body, now);
                    self.coordinator_changed();
                    let t = self.t();
                    let name = self
                        .member_ids
                        .get(&body.member_id)
                        .cloned()
                        .unwrap_or_else(|| self.members[member].name.clone());
                    for (tp, from, to) in backwards {
                        self.history.record(t, &name, Fact::CommitBackwards(tp, from, to));
                    }
                    if code == KafkaCode::NONE {
                        for o in &body.offsets {
                            self.history
                                .record(t, &name, Fact::Committed(o.tp.clone(), o.offset));
                        }
                    }
                    code
                };
                let parts: Vec<_> = body.offsets.iter().map(|o| (o.tp.clone(), code)).collect();
                Some(Response::Commit {
                    id: cid,
                    result: Ok(offset_commit_response(&parts)),
                })
            }
        }
    }

    fn find_coordinator(&self, version: i16) -> Bytes {
        let node = self.coordinator_node;
        let host = StrBytes::from_string(format!("broker-{node}"));
        let r = if version >= 4 {
            FindCoordinatorResponse::default().with_coordinators(vec![
                FoundCoordinator::default()
                    .with_key(StrBytes::from_static_str("g"))
                    .with_node_id(BrokerId(node))
                    .with_host(host)
                    .with_port(9092),
            ])
        } else {
            FindCoordinatorResponse::default()
                .with_node_id(BrokerId(node))
                .with_host(host)
                .with_port(9092)
        };
        encode(&r, version)
    }

    /// The coordinator may have released held answers or moved its timer.
    fn coordinator_changed(&mut self) {
        for (reply, bytes) in self.coordinator.take_replies() {
            let Some(req) = self.reqs.get(&reply.token) else {
                continue;
            };
            let Transmit::Group { request, .. } = &req.transmit else {
                continue;
            };
            let response = Response::Group {
                id: request.id,
                version: reply.version,
                result: Ok(bytes),
            };
            self.answer(reply.token, response);
        }
        if let Some(at) = self.coordinator.next_timer()
            && self.coordinator_timer.is_none_or(|t| at < t || t < self.now)
        {
            self.coordinator_timer = Some(at);
            self.at(at, Ev::CoordinatorTimer);
        }
    }

    /// Resets a connection: every request on it (or on its way to it) fails.
    fn disconnect(&mut self, key: ConnKey) {
        let ids: Vec<u64> = self
            .reqs
            .iter()
            .filter(|(_, r)| r.conn == key && r.state != ReqState::Done)
            .map(|(id, _)| *id)
            .collect();
        self.conns.remove(&key);
        self.wire.remove(&key);
        self.silent.remove(&key);
        self.coordinator.forget_replies(|token| ids.contains(&token));
        self.held_fetches.retain(|h| !ids.contains(h));
        for id in ids {
            let delay = self.latency();
            self.fail(id, connection_reset(), delay);
        }
        // Requests still at the broker on a dead connection are answered to nobody.
    }

    // ----- events -----

    fn handle(&mut self, ev: Ev) {
        // Engine logs in traced cases carry the virtual time and the member.
        let member = match &ev {
            Ev::Deliver(id, _) => self.reqs.get(id).map(|r| r.member),
            Ev::MemberTimeout(m, _) | Ev::AppStep(m) => Some(*m),
            _ => None,
        };
        let name = member
            .and_then(|m| self.members.get(m))
            .map_or("", |m| m.name.as_str());
        let _span = tracing::debug_span!("sim", t = ?self.t(), m = name).entered();
        match ev {
            Ev::StartMember => self.start_member(),
            Ev::Arrive(id) => self.arrive(id),
            Ev::Deliver(id, response) => {
                let Some(req) = self.reqs.get(&id) else {
                    return;
                };
                let m = req.member;
                if let Some(core) = &mut self.members[m].core {
                    core.handle_response(response, self.now);
                    self.after_input(m, true);
                }
            }
            Ev::Deadline(id) => {
                let Some(req) = self.reqs.get(&id) else {
                    return;
                };
                if req.state == ReqState::Done {
                    return;
                }
                let conn = req.conn;
                let after = match &req.transmit {
                    Transmit::Group { request, .. } => request.timeout,
                    Transmit::Commit { commit, .. } => commit.timeout,
                    _ => Duration::from_secs(30),
                };
                // This request gets its timeout; the others on the connection see it closed.
                self.fail(id, timed_out(after), Duration::ZERO);
                self.disconnect(conn);
            }
            Ev::LongPollExpire(id) => {
                if self.held_fetches.contains(&id) {
                    self.answer_fetch(id);
                }
            }
            Ev::MemberTimeout(m, generation) => {
                let now = self.now;
                let member = &mut self.members[m];
                if member.timeout_gen != generation {
                    return;
                }
                if let Some(core) = &mut member.core {
                    core.handle_timeout(now);
                    self.after_input(m, true);
                }
            }
            Ev::AppStep(m) => self.app_step(m),
            Ev::CoordinatorTimer => {
                if self.coordinator_timer == Some(self.now) {
                    self.coordinator_timer = None;
                }
                self.coordinator.handle_timer(self.now);
                self.coordinator_changed();
            }
            Ev::Produce => self.produce(),
            Ev::Fault => self.fault(),
            Ev::Publish => self.cluster.publish(),
            Ev::Heal(kind) => match kind {
                HealKind::Errors => self.errors = false,
                HealKind::Slow => self.slow = false,
                HealKind::Broker(b) => self.down.retain(|d| *d != b),
            },
        }
    }

    fn answer_fetch(&mut self, id: u64) {
        let Some(req) = self.reqs.get(&id) else {
            return;
        };
        let node = req.conn.2;
        let version = req.version;
        let Transmit::Fetch(FetchRequest::Fetch { id: fid, body, .. }) = &req.transmit else {
            return;
        };
        let fid = *fid;
        let faults = self.errors;
        let response = self.cluster.fetch(node, body, version, &mut self.rng, faults);
        self.answer(
            id,
            Response::Fetch {
                id: fid,
                result: Ok(response),
            },
        );
    }

    fn produce(&mut self) {
        if self.healed {
            return;
        }
        let tps: Vec<TopicPartition> = self.cluster.logs.keys().cloned().collect();
        let per = self.case.more_records;
        let rounds = (self.case.chaos.as_millis() as i64 / 300).max(1);
        for tp in tps {
            let already = self.expected.produced.get(&tp).map_or(0, |s| s.len() as i64) - self.case.records;
            if already >= per {
                continue;
            }
            let n = (1 + self.rng.below((2 * per / rounds).max(1) as u64) as i64).min(per - already);
            let batch = 1 + self.rng.below(6) as i64;
            let offsets = self.cluster.produce(&tp, n, batch);
            self.expected.produced.entry(tp).or_default().extend(offsets);
        }
        // Long polls with data now are answered.
        for id in self.held_fetches.clone() {
            let ready = self.reqs.get(&id).is_some_and(|r| match &r.transmit {
                Transmit::Fetch(FetchRequest::Fetch { body, .. }) => self.cluster.has_data(r.conn.2, body),
                _ => false,
            });
            if ready {
                self.answer_fetch(id);
            }
        }
        let at = self.now + self.rng.millis(50, 600);
        self.at(at, Ev::Produce);
    }

    fn fault(&mut self) {
        if self.healed {
            return;
        }
        let f = self.case.faults;
        let mut kinds = vec![];
        if f.disconnects {
            kinds.push(0);
        }
        if f.errors {
            kinds.push(1);
        }
        if f.leader_moves && self.case.brokers > 1 {
            kinds.push(2);
        }
        if f.coordinator_moves && self.case.brokers > 1 {
            kinds.push(3);
        }
        if f.broker_outages && self.case.brokers > 1 {
            kinds.push(4);
        }
        if f.churn {
            kinds.push(5);
        }
        if f.stalls {
            kinds.push(6);
        }
        if f.slow {
            kinds.push(7);
        }
        if f.silent {
            kinds.push(8);
        }
        if kinds.is_empty() {
            return;
        }
        let kind = kinds[self.rng.below(kinds.len() as u64) as usize];
        let live: Vec<usize> = (0..self.members.len())
            .filter(|&m| self.members[m].core.is_some() && self.members[m].close.is_none())
            .collect();
        match kind {
            0 => {
                let keys: Vec<ConnKey> = self.conns.keys().copied().collect();
                if !keys.is_empty() {
                    let k = keys[self.rng.below(keys.len() as u64) as usize];
                    self.disconnect(k);
                }
            }
            1 => {
                self.errors = true;
                let at = self.now + self.rng.millis(100, 2000);
                self.at(at, Ev::Heal(HealKind::Errors));
            }
            2 => {
                let tps: Vec<TopicPartition> = self.cluster.logs.keys().cloned().collect();
                let tp = tps[self.rng.below(tps.len() as u64) as usize].clone();
                let to = 1 + self.rng.below(self.case.brokers as u64) as i32;
                self.cluster.move_leader(&tp, to);
                let at = self.now + self.rng.millis(0, 500);
                self.at(at, Ev::Publish);
            }
            3 => {
                let old = self.coordinator_node;
                let to = 1 + self.rng.below(self.case.brokers as u64) as i32;
                if to != old {
                    self.coordinator_node = to;
                    let keys: Vec<ConnKey> = self
                        .conns
                        .keys()
                        .filter(|k| k.1 == Pool::Group && k.2 == old)
                        .copied()
                        .collect();
                    for k in keys {
                        self.disconnect(k);
                    }
                }
            }
            4 => {
                let b = 1 + self.rng.below(self.case.brokers as u64) as i32;
                if b != self.coordinator_node && !self.down.contains(&b) {
                    self.down.push(b);
                    let keys: Vec<ConnKey> = self.conns.keys().filter(|k| k.2 == b).copied().collect();
                    for k in keys {
                        self.disconnect(k);
                    }
                    let at = self.now + self.rng.millis(200, 3000);
                    self.at(at, Ev::Heal(HealKind::Broker(b)));
                }
            }
            5 if !live.is_empty() => {
                let m = live[self.rng.below(live.len() as u64) as usize];
                if self.rng.chance(50) {
                    self.kill_member(m);
                } else {
                    self.close_member(m);
                }
                let at = self.now + self.rng.millis(100, 5000);
                self.at(at, Ev::StartMember);
            }
            6 if !live.is_empty() => {
                let m = live[self.rng.below(live.len() as u64) as usize];
                let max_poll = self.case.max_poll_interval;
                let d = max_poll + self.rng.millis(0, max_poll.as_millis() as u64);
                if let Some(app) = &mut self.members[m].app {
                    app.stalled_until = Some(self.now + d);
                    let (t, name) = (self.t(), self.members[m].name.clone());
                    self.history.record(t, &name, Fact::Stalled(t + d));
                }
                let at = self.now + d;
                self.schedule_app(m, at);
            }
            7 => {
                self.slow = true;
                let at = self.now + self.rng.millis(100, 3000);
                self.at(at, Ev::Heal(HealKind::Slow));
            }
            8 => {
                let keys: Vec<ConnKey> = self.conns.keys().copied().collect();
                if !keys.is_empty() {
                    let k = keys[self.rng.below(keys.len() as u64) as usize];
                    self.silent.insert(k);
                }
            }
            _ => {}
        }
        let at = self.now + self.rng.millis(200, 3000);
        self.at(at, Ev::Fault);
    }
}

fn encode<T: Encodable>(msg: &T, version: i16) -> Bytes {
    let mut buf = bytes::BytesMut::new();
    let _ = msg.encode(&mut buf, version);
    buf.freeze()
}

/// A group request sent to a broker that is not the coordinator.
fn not_coordinator(api: ApiKey, version: i16) -> Bytes {
    let code = KafkaCode::NOT_COORDINATOR.0;
    match api {
        ApiKey::JoinGroup => encode(
            &JoinGroupResponse::default()
                .with_error_code(code)
                .with_generation_id(-1)
                .with_protocol_name(Some(StrBytes::from_static_str(""))),
            version,
        ),
        ApiKey::SyncGroup => encode(&SyncGroupResponse::default().with_error_code(code), version),
        ApiKey::Heartbeat => encode(&HeartbeatResponse::default().with_error_code(code), version),
        _ => encode(&LeaveGroupResponse::default().with_error_code(code), version),
    }
}
