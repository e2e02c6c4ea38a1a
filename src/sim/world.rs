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

use tokio::sync::{broadcast, mpsc, oneshot};

mod broker;
mod faults;

use broker::Versions;

use super::Rng;
use super::app::App;
use super::case::{Case, Outcome, Scripted};
use super::cluster::Cluster;
use super::coordinator::Coordinator;
use super::history::{Expected, Fact, History, Report};
use super::kip848::Kip848Coordinator;
use super::net::{Conn, ConnKey, Pool, Req, ReqState, deadline, failed, timed_out};
use super::sessions::{Opened, Sessions};
use crate::config::{Assignor, ConsumerConfig, GroupProtocol, OffsetReset};
use crate::consumer::Partitions;
use crate::engine::{EngineCore, HandoffEnds, Response, Transmit};
use crate::error::{Error, ErrorKind, Result};
use crate::events::{Event, Reporter};
use crate::fetch::FetchRequest;
use crate::group::Target;
use crate::handoff::{Command, RejoinSignal};
use crate::types::{NodeId, TopicPartition};

enum Ev {
    StartMember,
    Arrive(u64),
    Deliver(u64, Response),
    Deadline(u64),
    LongPollExpire(u64),
    MemberTimeout(usize, u64),
    AppStep(usize),
    CoordinatorTimer,
    /// The KIP-848 coordinator's session expiry.
    Kip848Timer,
    Produce,
    Fault,
    Inject(Scripted),
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
    /// The consumer-protocol (KIP-848) coordinator, when the case's members use that protocol;
    /// commits are then checked against its member epochs and stored by `coordinator`.
    kip848: Option<Kip848Coordinator>,
    kip848_timer: Option<Instant>,
    /// ConsumerGroupHeartbeats it accepted.
    kip848_heartbeats: u64,
    /// OffsetFetches that named a member (v9+), and how many of them it refused.
    offset_fetches_named: u64,
    offset_fetch_refusals: u64,
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
    /// The brokers' fetch sessions, and how each held fetch stands with them.
    sessions: Sessions,
    opened_fetches: HashMap<u64, Opened>,
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
        let rng = Rng::new(case.seed);
        World::run_with(case, rng)
    }

    /// Runs `case` with its choices from `rng` (a fuzzer's tape, say).
    pub(crate) fn run_with(case: Case, rng: Rng) -> Outcome {
        let mut world = World::new(case, rng);
        world.play();
        world.finish()
    }

    fn new(case: Case, rng: Rng) -> World {
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
            rng,
            start,
            now: start,
            queue: BTreeMap::new(),
            seq: 0,
            cluster,
            coordinator: Coordinator::new(case.flavor, case.initial_delay),
            coordinator_node,
            coordinator_timer: None,
            kip848: case.consumer_protocol.then(|| {
                let topics: Vec<_> = case
                    .topics
                    .iter()
                    .map(|(t, n)| (super::responses::topic_id(t), *t, *n))
                    .collect();
                let mut k = Kip848Coordinator::new(&topics);
                // The broker's group.consumer.* timers: the case's.
                k.session_timeout = case.session_timeout;
                k.heartbeat_interval_ms =
                    i32::try_from(case.heartbeat_interval.as_millis()).unwrap_or(i32::MAX);
                k
            }),
            kip848_timer: None,
            kip848_heartbeats: 0,
            offset_fetches_named: 0,
            offset_fetch_refusals: 0,
            versions: Versions::of(case.flavor),
            members: vec![],
            member_ids: HashMap::new(),
            conns: BTreeMap::new(),
            wire: BTreeMap::new(),
            silent: Default::default(),
            reqs: BTreeMap::new(),
            next_req: 1,
            held_fetches: vec![],
            sessions: Sessions::default(),
            opened_fetches: HashMap::new(),
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
            || faults.unclean
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
        for (after, fault) in self.case.script.clone() {
            self.at(self.start + after, Ev::Inject(fault));
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
            fetches: self.sessions.counts,
            consumer_group_heartbeats: self.kip848_heartbeats,
            offset_fetches_named: (self.offset_fetches_named, self.offset_fetch_refusals),
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
            fetch_sessions: c.fetch_sessions,
            group_protocol: if c.consumer_protocol {
                GroupProtocol::Consumer
            } else {
                GroupProtocol::Classic
            },
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
            | Transmit::Fetch(FetchRequest::OffsetFetch { node, .. })
            | Transmit::Fetch(FetchRequest::OffsetForLeaderEpoch { node, .. }) => (Pool::Data, *node),
            Transmit::Commit { commit, .. } => (Pool::Group, commit.node),
        }
    }

    fn send(&mut self, m: usize, transmit: Transmit) {
        let (pool, node) = self.route(&transmit);
        let version = match &transmit {
            Transmit::Group { request, .. } => self.versions.group(request.request.api()),
            // As the driver: from v13 only when every topic's id is known.
            Transmit::Fetch(FetchRequest::Fetch { body, .. }) => self.versions.fetch.min(body.max_version()),
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
            Ev::Kip848Timer => {
                if self.kip848_timer == Some(self.now) {
                    self.kip848_timer = None;
                }
                if let Some(k) = &mut self.kip848 {
                    k.expire(self.now);
                }
                self.schedule_kip848_expiry();
            }
            Ev::Produce => self.produce(),
            Ev::Fault => self.fault(),
            Ev::Inject(fault) => self.inject(fault),
            Ev::Publish => self.cluster.publish(),
            Ev::Heal(kind) => match kind {
                HealKind::Errors => self.errors = false,
                HealKind::Slow => self.slow = false,
                HealKind::Broker(b) => self.down.retain(|d| *d != b),
            },
        }
    }
}
