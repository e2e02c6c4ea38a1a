//! The engine's state, sans IO: the group membership, fetch and commit cores composed with the
//! engine's ends of the handoff.
//!
//! # Driving it
//! The driver (the engine thread's select loop) calls:
//! - **inputs**: [`EngineCore::handle_command`] for each [`Command`] from the application,
//!   [`EngineCore::handle_commands_closed`] when every handle is gone,
//!   [`EngineCore::handle_response`] for each answer to a [`Transmit`], and
//!   [`EngineCore::handle_timeout`] when [`EngineCore::poll_timeout`] has passed (or just to tick);
//! - then **outputs**: [`EngineCore::poll_transmit`] until `None` (each is sent, and answered
//!   exactly once with a [`Response`]); then it waits for the next input or the timeout;
//! - once [`EngineCore::is_done`], [`EngineCore::finish`].
//!
//! Every input takes the driver's `now`, and nothing in here reads a clock, sleeps or spawns:
//! the same core runs under the real engine, under paused tokio time, and in the deterministic
//! simulation (`crate::sim`). What it reads from the application's side (buffered bytes, pulls,
//! pauses, released streams) it reads through the handoff's shared state and feeds to the cores
//! as explicit inputs.

mod close;
mod commands;
#[cfg(test)]
mod fatal_tests;
mod group;
mod liveness;
mod metadata;
mod metrics;
mod partitions;
mod queries;
#[cfg(test)]
mod queries_tests;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use super::transmit::{Response, Transmit};
use crate::commit::{CommitConfig, CommitCore, CommitEvent, CommitTarget};
use crate::config::{ConsumerConfig, GroupProtocol};
use crate::error::Result;
use crate::events::{Event, Reporter, Status};
use crate::fetch::{FetchConfig, FetchCore, FetchEvent};
use crate::group::{ConsumerMachine, GroupConfig, GroupMachine, ManualMembership, Membership};
use crate::handoff::{Clock, Command, NewPartition, PartitionHandoff, RejoinSignal};
use crate::types::TopicPartition;

/// How often liveness (max.poll.interval) and the revoke wait look at the application's side,
/// which does not wake the engine when it pulls or drops a stream.
const HOUSEKEEPING: Duration = Duration::from_millis(200);

/// The engine's ends of the handoff, made on the caller's thread.
#[derive(Debug)]
pub(crate) struct HandoffEnds {
    pub(crate) partitions: mpsc::UnboundedSender<NewPartition>,
    pub(crate) reporter: Reporter,
    pub(crate) rejoin: Arc<RejoinSignal>,
    pub(crate) total_buffered: Arc<AtomicUsize>,
}

/// Group membership as the engine drives it.
#[derive(Debug)]
struct Group {
    membership: Box<dyn Membership>,
    subscribed: bool,
}

/// What the metadata refresh is doing.
#[derive(Debug, Default)]
struct MetadataState {
    current: Option<Arc<crate::cluster::ClusterMetadata>>,
    in_flight: bool,
    due: Option<Instant>,
}

/// Close in progress.
#[derive(Debug)]
struct Closing {
    reply: Option<oneshot::Sender<Result<()>>>,
    deadline: Instant,
    done: bool,
}

/// The engine, sans IO. See the module docs for how to drive it.
#[derive(Debug)]
pub(crate) struct EngineCore {
    config: ConsumerConfig,
    clock: Clock,
    now: Instant,
    reporter: Reporter,
    status: Status,
    partitions_tx: Option<mpsc::UnboundedSender<NewPartition>>,
    rejoin: Arc<RejoinSignal>,
    total_buffered: Arc<AtomicUsize>,
    parts: BTreeMap<TopicPartition, PartitionHandoff>,
    fetch: FetchCore,
    commit: CommitCore,
    group: Option<Group>,
    metadata: MetadataState,
    /// Manual assignment (`assign`): the partitions the application chose, or `None` when it
    /// subscribed.
    manual: Option<std::collections::BTreeSet<TopicPartition>>,
    /// The application's questions about offsets.
    queries: queries::Queries,
    /// What `metrics()` reports.
    counters: metrics::Counters,
    /// Answers owed to the application's commits, by the id the commit core carries.
    replies: HashMap<u64, oneshot::Sender<Result<()>>>,
    next_reply: u64,
    next_housekeeping: Instant,
    /// A max-poll-interval leave was reported (until the application pulls again).
    stalled_reported: bool,
    closing: Option<Closing>,
    /// Stopped by this authentication failure (see [`EngineCore::handle_fatal`]).
    failed: Option<crate::error::Error>,
    transmits: VecDeque<Transmit>,
}

impl EngineCore {
    /// Checks what [`EngineCore::new`] will need of `config` (no I/O), so `build()` can fail early.
    pub(crate) fn validate(config: &ConsumerConfig) -> Result<()> {
        if config.group_id.is_some() {
            group_config(config).validate()?;
        }
        Ok(())
    }

    /// The core for `config` (validated), with the membership machine of its `group.protocol`
    /// if it has a group.
    pub(crate) fn new(config: ConsumerConfig, ends: HandoffEnds, now: Instant) -> Result<Self> {
        let manual = config.assignment.clone();
        let group = match &config.group_id {
            Some(group_id) if manual.is_some() => Some(Group {
                membership: Box::new(ManualMembership::new(
                    group_id.clone(),
                    config.net.request_timeout,
                    config.retry_backoff,
                    now,
                )),
                subscribed: false,
            }),
            Some(_) => {
                let g = group_config(&config);
                g.validate()?;
                let membership: Box<dyn Membership> = match config.group_protocol {
                    GroupProtocol::Classic => Box::new(GroupMachine::new(g, now)),
                    GroupProtocol::Consumer => Box::new(ConsumerMachine::new(g, now)),
                };
                Some(Group {
                    membership,
                    subscribed: false,
                })
            }
            None => None,
        };
        let status = if group.is_some() && manual.is_none() {
            Status::Joining
        } else {
            Status::Starting
        };
        ends.reporter.status(status);
        let mut core = EngineCore {
            manual: manual.as_ref().map(|_| std::collections::BTreeSet::new()),
            fetch: FetchCore::new(FetchConfig::new(&config), now),
            commit: CommitCore::new(CommitConfig::new(&config), now),
            clock: Clock::starting_at(now),
            now,
            reporter: ends.reporter,
            status,
            partitions_tx: Some(ends.partitions),
            rejoin: ends.rejoin,
            total_buffered: ends.total_buffered,
            parts: BTreeMap::new(),
            group,
            metadata: MetadataState {
                due: Some(now),
                ..MetadataState::default()
            },
            queries: queries::Queries::default(),
            counters: if status == Status::Joining {
                metrics::Counters::joining_from(now)
            } else {
                metrics::Counters::default()
            },
            replies: HashMap::new(),
            next_reply: 1,
            next_housekeeping: now,
            stalled_reported: false,
            closing: None,
            failed: None,
            transmits: VecDeque::new(),
            config,
        };
        if let Some(tps) = manual {
            core.assign_manually(tps);
        }
        Ok(core)
    }

    // ----- inputs -----

    /// A command from the application.
    pub(crate) fn handle_command(&mut self, command: Command, now: Instant) {
        self.now = now;
        self.apply_command(command);
        self.pump();
    }

    /// Every handle is gone: close as if asked to.
    pub(crate) fn handle_commands_closed(&mut self, now: Instant) {
        self.now = now;
        self.start_close(None);
        self.pump();
    }

    /// The answer to a transmit.
    pub(crate) fn handle_response(&mut self, response: Response, now: Instant) {
        self.now = now;
        if self.failed.is_some() {
            return;
        }
        match response {
            Response::Metadata(result) => self.handle_metadata(result),
            Response::Group { id, version, result } => {
                if let Some(group) = &mut self.group {
                    group.membership.handle_response(id, result, version, now);
                }
            }
            Response::Fetch { id, result } => self.fetch.handle_fetch(id, result, now),
            Response::ListOffsets { id, result } if queries::is_query_id(id) => {
                self.handle_query_list_offsets(id, result)
            }
            Response::OffsetFetch { id, result } if queries::is_query_id(id) => {
                self.handle_query_offset_fetch(id, result)
            }
            Response::ListOffsets { id, result } => self.fetch.handle_list_offsets(id, result, now),
            Response::OffsetFetch { id, result } => self.fetch.handle_offset_fetch(id, result, now),
            Response::OffsetForLeaderEpoch { id, result } => {
                self.fetch.handle_offset_for_leader_epoch(id, result, now)
            }
            Response::Commit { id, result } => self.commit.handle_response(id, result, now),
        }
        self.pump();
    }

    /// Time passed (the timeout fired, or the driver ticks).
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        self.pump();
    }

    /// The connections met an authentication failure (the broker rejected the SASL credentials or
    /// a TLS certificate; the driver reads it off its broker pools): retrying cannot fix it, so
    /// the consumer stops, with a fatal event and status Failed, instead of reconnecting in a
    /// loop. Every partition is lost and nothing more is sent; only a close is still answered.
    /// Reported once.
    pub(crate) fn handle_fatal(&mut self, error: crate::error::Error, now: Instant) {
        self.now = now;
        if self.failed.is_some() {
            return;
        }
        self.failed = Some(error.clone());
        tracing::error!(%error, "authentication failed; the consumer stops");
        let tps: Vec<_> = self.parts.keys().cloned().collect();
        self.lose(tps, error.clone());
        self.transmits.clear();
        // Health first, then the event: whoever reacts to the event sees the new status.
        self.reporter.error(&error);
        self.set_status(Status::Failed);
        self.reporter.event(Event::Fatal(error));
        self.partitions_tx = None;
        self.pump();
    }

    // ----- outputs -----

    /// The next request to send.
    pub(crate) fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// When `handle_timeout` is next due. Never in the past: what was due has been done.
    pub(crate) fn poll_timeout(&self) -> Instant {
        if self.failed.is_some() {
            // Nothing runs any more; only a command (close) wakes the loop.
            return self.now + Duration::from_secs(3600);
        }
        let mut wake = self.next_housekeeping;
        let mut consider = |at: Option<Instant>| {
            if let Some(at) = at {
                wake = wake.min(at);
            }
        };
        if self.closing.is_none() && !self.metadata.in_flight {
            consider(self.metadata.due);
        }
        consider(self.group.as_ref().and_then(|g| g.membership.poll_timeout()));
        consider(self.commit.poll_timeout());
        consider(self.queries.poll_timeout(self.closing.is_some()));
        if self.closing.is_none() {
            consider(self.fetch.poll_timeout());
        }
        consider(self.closing.as_ref().map(|c| c.deadline));
        wake.max(self.now)
    }

    /// Whether the engine has finished (closed): call [`EngineCore::finish`] and stop.
    pub(crate) fn is_done(&self) -> bool {
        self.closing.as_ref().is_some_and(|c| c.done)
    }

    /// The application's view of the status (what `health()` says).
    #[allow(dead_code)] // the simulation and tests read it
    pub(crate) fn status(&self) -> Status {
        self.status
    }

    // ----- internals -----

    /// Drives everything that can make progress at `self.now`.
    fn pump(&mut self) {
        if self.failed.is_some() {
            if self.closing.is_some() {
                self.set_close_done();
            }
            return;
        }
        let now = self.now;
        self.fetch.handle_timeout(now);
        self.commit.handle_timeout(now);
        if now >= self.next_housekeeping {
            self.next_housekeeping = now + HOUSEKEEPING;
            self.check_max_poll();
            self.sample_rates();
        }
        self.maybe_refresh_metadata();
        // Membership and commits feed each other (a revoke's commits finish the revoke, which
        // lets the membership rejoin; commit errors move the membership): until both are quiet.
        for _ in 0..16 {
            let group = self.drive_group();
            let commit = self.drive_commit();
            if !group && !commit {
                break;
            }
        }
        if self.closing.is_none() {
            self.drive_fetch();
        }
        self.drive_queries();
        self.drive_close();
        self.report_assignment();
    }

    fn set_status(&mut self, status: Status) {
        self.counters.status_changed(self.status, status, self.now);
        self.status = status;
        self.reporter.status(status);
    }

    /// What commits carry now: `None` unless a generation is stable.
    fn commit_target(&self) -> Option<CommitTarget> {
        let group = self.group.as_ref()?;
        let (generation_id_or_member_epoch, member_id) = group.membership.generation()?;
        Some(CommitTarget {
            generation_id_or_member_epoch,
            member_id,
            coordinator: group.membership.coordinator(),
        })
    }

    /// Sends the commit core's requests and applies its events; true if anything happened.
    fn drive_commit(&mut self) -> bool {
        let target = self.commit_target();
        let coordinator = self.coordinator_address();
        let mut progressed = false;
        loop {
            let mut progress = partitions::AppProgress {
                parts: &mut self.parts,
            };
            let Some(commit) = self.commit.poll_request(target.as_ref(), &mut progress) else {
                break;
            };
            progressed = true;
            self.transmits.push_back(Transmit::Commit {
                commit,
                coordinator: coordinator.clone(),
            });
        }
        while let Some(event) = self.commit.poll_event() {
            progressed = true;
            match event {
                CommitEvent::Replied { reply, result } => {
                    if let Some(tx) = self.replies.remove(&reply) {
                        let _ = tx.send(result);
                    }
                }
                CommitEvent::GroupError(code) => {
                    if let Some(group) = &mut self.group {
                        group.membership.handle_commit_error(code, self.now);
                    }
                }
                CommitEvent::Revoked(tps) => self.finish_revoke(tps),
                CommitEvent::Abandoned(tps) => self.abandon_revoke(tps),
            }
        }
        progressed
    }

    /// The member an OffsetFetch names (v9+): a consumer-protocol member with an epoch, so the
    /// coordinator fences a stale one as Kafka's consumer has it; classic members name none.
    pub(super) fn offset_fetch_member(&self) -> Option<(String, i32)> {
        let group = self.group.as_ref()?;
        if self.config.group_protocol != GroupProtocol::Consumer {
            return None;
        }
        let (epoch, member_id) = group.membership.generation()?;
        Some((member_id, epoch))
    }

    /// Sends the fetch core's requests and applies its events.
    fn drive_fetch(&mut self) {
        let coordinator = self.group.as_ref().and_then(|g| g.membership.coordinator());
        // One plan per turn (each plan looks at every partition): the first request plans, the
        // rest of that plan follows without planning again.
        let mut planned = false;
        loop {
            let next = if planned {
                self.fetch.pop_request()
            } else {
                planned = true;
                let gate = partitions::gate(&self.parts, &self.config, &self.total_buffered);
                self.fetch.poll_request(coordinator, gate)
            };
            let Some(mut request) = next else {
                break;
            };
            if let crate::fetch::FetchRequest::OffsetFetch { body, .. } = &mut request {
                body.member = self.offset_fetch_member();
            }
            if let crate::fetch::FetchRequest::Fetch { node, body, .. } = &request {
                self.counters.fetch_requests += 1;
                self.counters.incremental_fetches += u64::from(body.session_epoch > 0);
                self.counters.fetch_partitions_sent += body.partitions.len() as u64;
                *self.counters.fetches_by_node.entry(*node).or_default() += 1;
            }
            self.transmits.push_back(Transmit::Fetch(request));
        }
        while let Some(event) = self.fetch.poll_event() {
            match event {
                FetchEvent::Fetched {
                    tp,
                    records,
                    start_at,
                    aborted,
                } => self.deliver(&tp, records, start_at, aborted),
                FetchEvent::Committed { tp, offset } => self.commit.handle_committed_offset(&tp, offset),
                FetchEvent::Diverged { tp } => self.diverged(&tp),
                FetchEvent::Failed { tp, error } => {
                    if let Some(part) = self.parts.get(&tp) {
                        part.deliver(crate::handoff::Delivery::Error(error));
                    }
                }
                FetchEvent::GroupError(code) => {
                    if let Some(group) = &mut self.group {
                        group.membership.handle_commit_error(code, self.now);
                    }
                }
                FetchEvent::Warning(error) => self.reporter.event(Event::Warning(error)),
                FetchEvent::RefreshMetadata => self.request_metadata_refresh(),
            }
        }
    }

    /// The coordinator's address, to register with the group connections.
    fn coordinator_address(&self) -> super::transmit::CoordinatorAddress {
        let (node, host, port) = self.group.as_ref()?.membership.coordinator_address()?;
        Some((node, join_host_port(host, port)))
    }
}

/// `host:port`, bracketing IPv6 hosts.
fn join_host_port(host: &str, port: i32) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

fn group_config(config: &ConsumerConfig) -> GroupConfig {
    use crate::config::Assignor;
    use crate::group::AssignorKind;
    let mut g = GroupConfig::new(config.group_id.clone().unwrap_or_default());
    g.group_instance_id = config.group_instance_id.clone();
    g.session_timeout = config.session_timeout;
    g.rebalance_timeout = config.max_poll_interval;
    g.heartbeat_interval = config.heartbeat_interval;
    g.assignors = config
        .assignors
        .iter()
        .map(|a| match a {
            Assignor::Range => AssignorKind::Range,
            Assignor::RoundRobin => AssignorKind::RoundRobin,
            Assignor::CooperativeSticky => AssignorKind::CooperativeSticky,
        })
        .collect();
    g.retry_backoff = config.retry_backoff;
    g.client_rack = config.client_rack.clone();
    g.remote_assignor = config.remote_assignor;
    g.subscribed_regex = config.broker_pattern.clone();
    g.request_timeout = config.net.request_timeout;
    g
}
