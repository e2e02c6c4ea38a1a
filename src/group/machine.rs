//! The membership state machine.
//!
//! # Driving it
//! The engine owns the sockets and timers and calls, in any order:
//! - **inputs**: [`GroupMachine::subscribe`], [`GroupMachine::handle_partition_counts`],
//!   [`GroupMachine::handle_response`], [`GroupMachine::handle_timeout`],
//!   [`GroupMachine::handle_revoke_done`], [`GroupMachine::handle_commit_error`],
//!   [`GroupMachine::leave`], [`GroupMachine::rejoin`];
//! - then **outputs**, each until it returns `None`: [`GroupMachine::poll_event`] and
//!   [`GroupMachine::poll_request`]; then it arms one timer for [`GroupMachine::poll_timeout`] and
//!   calls `handle_timeout` when it fires.
//!
//! `poll_request` uses the `now` of the latest input. A request is semantic: the engine picks a
//! connection for its [`Target`](super::Target) (the coordinator's address is
//! [`GroupMachine::coordinator_address`]; a connection of its own, as the Java client does, keeps
//! heartbeats from queueing behind fetches), calls [`GroupRequest::encode_for`](super::GroupRequest::encode_for) with that broker's
//! versions, sends the body with the request's deadline and hands the response body after the
//! header (or the transport, timeout, version or encode error) to `handle_response` with the same
//! id and version. Every request must be answered exactly once, by a response or an error: the
//! machine does not time requests out itself.
//!
//! After each input the engine may re-read [`GroupMachine::topics_needed`]: the leader needs the
//! partition counts of every member's topics before it can assign.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{
    AssignorKind, ErrorAction, GroupConfig, MemberSubscription, PartitionRacks, RequestId, classify,
};
use crate::error::{Error, ErrorKind};
use crate::types::TopicPartition;
use crate::wire::{KafkaCode, LeaveGroupResponse};

/// Why the member leaves the group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LeaveReason {
    /// The consumer is closing: revoke cleanly (the engine commits), then leave.
    Close,
    /// The application pulled nothing for `max.poll.interval`: partitions are lost at once.
    MaxPollExceeded,
}

/// What the machine tells the engine.
#[derive(Debug, Clone)]
pub(crate) enum GroupEvent {
    /// Newly owned partitions (eager: the whole assignment; cooperative: the additions).
    Assigned(Vec<TopicPartition>),
    /// Give these up cleanly, then call `handle_revoke_done`.
    Revoke(Vec<TopicPartition>),
    /// Lost without a clean revoke: end their streams at once, refuse their commits.
    Lost(Vec<TopicPartition>, Error),
    /// Joined a generation.
    Joined {
        /// The generation.
        generation_id: i32,
        /// Our member id.
        member_id: String,
        /// Whether we lead (and assign) this generation.
        leader: bool,
        /// The assignor the group chose.
        protocol: String,
    },
    /// Unrecoverable: the member stopped.
    Fatal(Error),
    /// The coordinator could not be found or reached; retried internally.
    CoordinatorUnavailable(Error),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Not subscribed yet.
    Idle,
    /// JoinGroup to send (once the coordinator is known and any backoff passed).
    Join,
    Joining,
    /// The leader waits for the partition counts of the group's topics.
    AwaitCounts,
    /// SyncGroup to send.
    Sync,
    Syncing,
    /// Member of a generation (possibly waiting for a revoke before rejoining or leaving).
    Stable,
    /// LeaveGroup to send.
    Leave,
    Leaving,
    Left,
    Fatal,
}

/// What to do once the engine acknowledges a revoke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AfterRevoke {
    Join,
    Leave,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Find,
    Join,
    Sync,
    Heartbeat,
    Leave,
}

/// The group coordinator FindCoordinator named.
#[derive(Debug, Clone)]
pub(in crate::group) struct Coordinator {
    pub(in crate::group) node_id: i32,
    pub(in crate::group) host: String,
    pub(in crate::group) port: i32,
}

/// Consumer-group membership, sans IO. See the module docs for how to drive it.
#[derive(Debug)]
pub(crate) struct GroupMachine {
    config: GroupConfig,
    now: Instant,
    subscription: BTreeSet<String>,
    counts: BTreeMap<String, i32>,
    phase: Phase,
    events: VecDeque<GroupEvent>,
    in_flight: HashMap<RequestId, (Kind, u64)>,
    next_id: RequestId,
    /// Bumped whenever the membership restarts, so late responses of the old one are ignored.
    epoch: u64,
    retry_at: Option<Instant>,
    failures: u32,

    coordinator: Option<Coordinator>,
    find_in_flight: bool,
    find_at: Option<Instant>,

    member_id: String,
    generation_id: i32,
    protocol: Option<AssignorKind>,
    leader: bool,
    /// The leader's view of the members of the current join.
    members: Vec<MemberSubscription>,
    /// Their consumer-protocol versions, in the same order.
    member_versions: Vec<i16>,
    counts_deadline: Option<Instant>,
    /// Partition counts arrived since this member last became leader: it assigns from metadata
    /// at least as fresh as the join.
    fresh_counts: bool,
    pending_assignments: Vec<(String, Bytes)>,
    /// Partition counts the current assignment was computed from (or seen at sync).
    snapshot: BTreeMap<String, i32>,
    /// The racks of the replicas of the partitions in `counts` (KIP-881).
    racks: PartitionRacks,
    rejoin_pending: bool,
    /// Why the next JoinGroup is sent (KIP-800, shown in the broker's logs from JoinGroup v8).
    join_reason: Option<&'static str>,

    owned: BTreeSet<TopicPartition>,
    owned_generation: i32,
    revoke: Option<AfterRevoke>,

    heartbeat_at: Option<Instant>,
    heartbeat_in_flight: Option<RequestId>,
    last_heartbeat_ok: Instant,
    /// While a member keeps partitions through a rebalance (cooperative): when it gives them up
    /// unless the rebalance has progressed (see `keep_owned_until`).
    owned_deadline: Option<Instant>,
}

/// The JoinGroup/SyncGroup deadline on top of the rebalance timeout (the Java client's lapse).
const REBALANCE_LAPSE: Duration = Duration::from_secs(5);

impl GroupMachine {
    /// A member of `config.group_id` that does nothing until [`GroupMachine::subscribe`].
    pub(crate) fn new(config: GroupConfig, now: Instant) -> Self {
        GroupMachine {
            config,
            now,
            subscription: BTreeSet::new(),
            counts: BTreeMap::new(),
            phase: Phase::Idle,
            events: VecDeque::new(),
            in_flight: HashMap::new(),
            next_id: 1,
            epoch: 0,
            retry_at: None,
            failures: 0,
            coordinator: None,
            find_in_flight: false,
            find_at: None,
            member_id: String::new(),
            generation_id: -1,
            protocol: None,
            leader: false,
            members: vec![],
            member_versions: vec![],
            counts_deadline: None,
            fresh_counts: false,
            pending_assignments: vec![],
            snapshot: BTreeMap::new(),
            racks: PartitionRacks::new(),
            rejoin_pending: false,
            join_reason: None,
            owned: BTreeSet::new(),
            owned_generation: -1,
            revoke: None,
            heartbeat_at: None,
            heartbeat_in_flight: None,
            last_heartbeat_ok: now,
            owned_deadline: None,
        }
    }

    // ----- getters -----

    /// `(generation_id, member_id)` while a member of a generation; commits carry it.
    pub(crate) fn generation(&self) -> Option<(i32, String)> {
        (self.phase == Phase::Stable).then(|| (self.generation_id, self.member_id.clone()))
    }

    /// The coordinator's node id, when known.
    pub(crate) fn coordinator(&self) -> Option<i32> {
        self.coordinator.as_ref().map(|c| c.node_id)
    }

    /// The coordinator's `(node_id, host, port)` from FindCoordinator, for connecting to it.
    pub(crate) fn coordinator_address(&self) -> Option<(i32, &str, i32)> {
        self.coordinator
            .as_ref()
            .map(|c| (c.node_id, c.host.as_str(), c.port))
    }

    /// The partitions owned now (not counting those handed to the engine in a `Revoke`).
    #[allow(dead_code)] // diagnostics and tests
    pub(crate) fn assignment(&self) -> &BTreeSet<TopicPartition> {
        &self.owned
    }

    /// Whether leaving is complete (or was never needed): `close` can finish.
    pub(crate) fn is_left(&self) -> bool {
        matches!(self.phase, Phase::Left | Phase::Fatal | Phase::Idle)
    }

    /// Whether the leader waits for partition counts fetched after it joined: the engine should
    /// refresh metadata now. (Followers need no metadata to sync, so they sync before a leader
    /// that waits for it; librdkafka's mock drops the assignment of a follower that syncs after
    /// its leader.)
    pub(crate) fn wants_partition_counts(&self) -> bool {
        self.phase == Phase::AwaitCounts && !self.fresh_counts
    }

    /// Topics whose partition counts the engine must feed to
    /// [`GroupMachine::handle_partition_counts`]: our subscription, plus every member's topics
    /// while we lead. A topic that does not exist should be reported with count 0.
    pub(crate) fn topics_needed(&self) -> BTreeSet<String> {
        let mut topics = self.subscription.clone();
        if self.leader {
            for m in &self.members {
                topics.extend(m.topics.iter().cloned());
            }
        }
        topics
    }

    // ----- inputs -----

    /// Sets the subscription: joins, or rejoins when it changed. An empty set leaves the group
    /// as [`LeaveReason::Close`] does.
    pub(crate) fn subscribe(&mut self, topics: BTreeSet<String>, now: Instant) {
        self.now = now;
        if topics == self.subscription && !matches!(self.phase, Phase::Idle | Phase::Left) {
            return;
        }
        self.subscription = topics;
        if self.subscription.is_empty() {
            self.leave(LeaveReason::Close, now);
            return;
        }
        match self.phase {
            Phase::Idle | Phase::Left => self.restart_join(None),
            Phase::Stable => self.request_rejoin("subscription changed"),
            Phase::Joining | Phase::AwaitCounts | Phase::Sync | Phase::Syncing => self.rejoin_pending = true,
            Phase::Join | Phase::Leave | Phase::Leaving | Phase::Fatal => {}
        }
    }

    /// Partition counts from metadata. The leader assigns once it knows all of the group's topics;
    /// a changed count for a topic of the current assignment triggers a rejoin.
    /// `racks`: the racks of the replicas of those topics' partitions; a change of them while
    /// this member leads a group with racks rejoins, so the assignment follows (as Kafka's
    /// consumer does for rack-aware assignors).
    pub(crate) fn handle_partition_counts(
        &mut self,
        counts: &BTreeMap<String, i32>,
        racks: &PartitionRacks,
        now: Instant,
    ) {
        self.now = now;
        for (topic, count) in counts {
            self.counts.insert(topic.clone(), *count);
        }
        let racks_changed = racks != &self.racks;
        self.racks = racks.clone();
        self.fresh_counts = true;
        match self.phase {
            Phase::AwaitCounts => self.try_assign(),
            Phase::Stable => {
                let changed = self
                    .snapshot
                    .iter()
                    .any(|(t, old)| counts.get(t).is_some_and(|new| new != old));
                if changed {
                    self.request_rejoin("partition count changed");
                } else if racks_changed && self.leader && self.members.iter().any(|m| m.rack.is_some()) {
                    self.request_rejoin("partition racks changed");
                }
            }
            _ => {}
        }
    }

    /// The engine finished a revoke (streams ended, commits done): carry on with the rebalance.
    pub(crate) fn handle_revoke_done(&mut self, now: Instant) {
        self.now = now;
        match self.revoke.take() {
            Some(AfterRevoke::Join) if self.phase == Phase::Stable => self.set_phase(Phase::Join),
            Some(AfterRevoke::Leave) => self.begin_leave(),
            Some(AfterRevoke::Join) | None => {}
        }
    }

    /// OffsetCommit answered with a group error: acts on it as on a heartbeat error.
    pub(crate) fn handle_commit_error(&mut self, code: KafkaCode, now: Instant) {
        self.now = now;
        let action = classify(code);
        if self.phase == Phase::Stable || action == ErrorAction::Fatal {
            self.on_group_error(action, code, "OffsetCommit");
        }
    }

    /// Leaves the group: `Close` revokes cleanly first (the engine commits, then calls
    /// `handle_revoke_done`), `MaxPollExceeded` loses everything at once. Static members send no
    /// LeaveGroup (KIP-345): the coordinator keeps their place for the session timeout.
    pub(crate) fn leave(&mut self, reason: LeaveReason, now: Instant) {
        self.now = now;
        match self.phase {
            Phase::Fatal | Phase::Leave | Phase::Leaving | Phase::Left => return,
            Phase::Idle => {
                self.set_phase(Phase::Left);
                return;
            }
            _ => {}
        }
        self.rejoin_pending = false;
        match reason {
            LeaveReason::Close => {
                // Cooperative members still own partitions during a rebalance: revoke them too.
                if !self.owned.is_empty() {
                    let revoked: Vec<_> = std::mem::take(&mut self.owned).into_iter().collect();
                    self.events.push_back(GroupEvent::Revoke(revoked));
                    self.revoke = Some(AfterRevoke::Leave);
                } else if self.revoke.is_some() {
                    // A revoke is under way already; leave once it is done.
                    self.revoke = Some(AfterRevoke::Leave);
                }
                if self.revoke.is_none() {
                    self.begin_leave();
                } else if self.phase != Phase::Stable {
                    // Abandon the rebalance; LeaveGroup follows the revoke.
                    self.epoch += 1;
                    self.set_phase(Phase::Leave);
                }
            }
            LeaveReason::MaxPollExceeded => {
                self.lose_all(Error::new(
                    ErrorKind::Timeout,
                    format!(
                        "the application pulled no record for max.poll.interval ({} ms): left the group",
                        self.config.rebalance_timeout.as_millis()
                    ),
                ));
                self.begin_leave();
            }
        }
    }

    /// Rejoins after a `MaxPollExceeded` leave (the application pulls again).
    pub(crate) fn rejoin(&mut self, now: Instant) {
        self.now = now;
        if matches!(self.phase, Phase::Left | Phase::Leave | Phase::Leaving) && !self.subscription.is_empty()
        {
            self.member_id.clear();
            self.reset_generation();
            self.restart_join(Some(
                "the application is consuming again after exceeding max.poll.interval",
            ));
        }
    }

    /// Timers: session expiry, the leader's wait for partition counts, and (through the `now`
    /// that `poll_request` then uses) heartbeats and retry backoffs.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        if self.phase == Phase::Stable && now >= self.last_heartbeat_ok + self.fence_after() {
            self.session_expired();
        }
        if self.phase != Phase::Stable && self.owned_deadline.is_some_and(|d| now >= d) {
            self.owned_deadline = None;
            self.lose_all(Error::new(
                ErrorKind::Timeout,
                format!(
                    "the rebalance did not progress within the rebalance timeout ({} ms): the coordinator may have handed these partitions to another member",
                    self.config.rebalance_timeout.as_millis()
                ),
            ));
        }
        if self.phase == Phase::AwaitCounts && self.counts_deadline.is_some_and(|d| now >= d) {
            self.try_assign();
        }
    }

    /// A response (the body after the header) or the error that took its place (transport,
    /// timeout, version negotiation or encoding). Undecodable bodies count as transport errors.
    pub(crate) fn handle_response(
        &mut self,
        id: RequestId,
        response: Result<Bytes, Error>,
        version: i16,
        now: Instant,
    ) {
        self.now = now;
        let Some((kind, epoch)) = self.in_flight.remove(&id) else {
            return;
        };
        if self.phase == Phase::Fatal {
            return;
        }
        match kind {
            Kind::Find => {
                self.find_in_flight = false;
                self.on_find(decode(response, version));
            }
            Kind::Heartbeat => {
                if self.heartbeat_in_flight == Some(id) {
                    self.heartbeat_in_flight = None;
                }
                if epoch == self.epoch && self.phase == Phase::Stable {
                    self.on_heartbeat(decode(response, version));
                }
            }
            Kind::Join if epoch == self.epoch && self.phase == Phase::Joining => {
                self.on_join(decode(response, version))
            }
            Kind::Sync if epoch == self.epoch && self.phase == Phase::Syncing => {
                self.on_sync(decode(response, version))
            }
            Kind::Leave if self.phase == Phase::Leaving => {
                let _: Result<LeaveGroupResponse, Error> = decode(response, version);
                // Whatever the answer, we are done: the session expires otherwise.
                self.finish_leave();
            }
            Kind::Join | Kind::Sync | Kind::Leave => {}
        }
    }

    // ----- outputs -----

    /// The next event for the engine.
    pub(crate) fn poll_event(&mut self) -> Option<GroupEvent> {
        self.events.pop_front()
    }

    /// When `handle_timeout` should next be called.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        let mut deadlines: Vec<Instant> = vec![];
        if self.phase != Phase::Stable && !self.owned.is_empty() {
            deadlines.extend(self.owned_deadline);
        }
        let needs_coordinator = matches!(self.phase, Phase::Join | Phase::Sync | Phase::Stable);
        if needs_coordinator && self.coordinator.is_none() && !self.find_in_flight {
            deadlines.push(self.find_at.unwrap_or(self.now));
        }
        match self.phase {
            Phase::Join | Phase::Sync if self.coordinator.is_some() => deadlines.extend(self.retry_at),
            Phase::AwaitCounts => deadlines.extend(self.counts_deadline),
            Phase::Stable => {
                deadlines.push(self.last_heartbeat_ok + self.fence_after());
                if self.coordinator.is_some() && self.heartbeat_in_flight.is_none() {
                    deadlines.extend(self.heartbeat_at);
                }
            }
            _ => {}
        }
        deadlines.into_iter().min()
    }

    // ----- internals -----

    fn set_phase(&mut self, phase: Phase) {
        tracing::debug!(group = %self.config.group_id, from = ?self.phase, to = ?phase, "group phase");
        self.phase = phase;
    }

    fn backoff(&mut self) -> Duration {
        let base = self.config.retry_backoff;
        let cap = base.max(Duration::from_secs(1));
        let delay = base.saturating_mul(1 << self.failures.min(10)).min(cap);
        self.failures = self.failures.saturating_add(1);
        delay
    }

    fn restart_join(&mut self, why: Option<&'static str>) {
        self.join_reason = why;
        self.epoch += 1;
        self.retry_at = None;
        self.rejoin_pending = false;
        self.revoke = None;
        self.heartbeat_at = None;
        self.heartbeat_in_flight = None;
        self.set_phase(Phase::Join);
    }

    fn coordinator_dead(&mut self, why: Error) {
        if self.coordinator.take().is_some() {
            tracing::info!(group = %self.config.group_id, error = %why, "lost the group coordinator; rediscovering");
        }
        // The first loss rediscovers at once; repeated losses without a success in between (a
        // coordinator that FindCoordinator names but that cannot be reached) back off.
        let first = self.failures == 0;
        let delay = self.backoff();
        self.find_at = (!first).then(|| self.now + delay);
        self.events.push_back(GroupEvent::CoordinatorUnavailable(why));
    }

    /// Loses every owned partition (no clean revoke possible).
    fn lose_all(&mut self, error: Error) {
        if !self.owned.is_empty() {
            let lost: Vec<_> = std::mem::take(&mut self.owned).into_iter().collect();
            self.events.push_back(GroupEvent::Lost(lost, error));
        }
        if self.revoke.take() == Some(AfterRevoke::Leave) {
            self.begin_leave();
        }
    }

    fn reset_generation(&mut self) {
        self.generation_id = -1;
        self.owned_generation = -1;
        self.leader = false;
        self.members.clear();
        self.member_versions.clear();
    }

    fn fatal(&mut self, error: Error) {
        if self.phase == Phase::Fatal {
            return;
        }
        tracing::error!(group = %self.config.group_id, %error, "group membership failed");
        self.lose_all(error.clone());
        self.events.push_back(GroupEvent::Fatal(error));
        self.set_phase(Phase::Fatal);
    }

    /// A cooperative member keeps its partitions through a rebalance, but only while the
    /// coordinator must still count it in: after it sends its JoinGroup, until the rebalance
    /// timeout (the coordinator's wait for rejoins) or the end of the session its last heartbeat
    /// answer renewed (a JoinGroup that never arrived renews nothing); after the JoinGroup's
    /// answer, until a session or rebalance timeout later (the coordinator drops members that
    /// neither sync nor heartbeat by then). Past that, the partitions are given up (lost) at once.
    pub(super) fn keep_owned_until(&mut self, now: Instant, answered: bool) {
        let deadline = if answered {
            now + self.fence_after()
        } else {
            (now + self.config.rebalance_timeout).min(self.last_heartbeat_ok + self.config.session_timeout)
        };
        self.owned_deadline = (!self.owned.is_empty()).then_some(deadline);
    }

    /// How long a stable member goes without a heartbeat answer before it gives its partitions up
    /// on its own: its session timeout, or the rebalance timeout if that is shorter. A member that
    /// heard nothing for the rebalance timeout cannot know that no rebalance started and completed
    /// without it (the coordinator waits that long for members to rejoin, then hands their
    /// partitions to the others), so keeping them longer could mean two members on one partition.
    fn fence_after(&self) -> Duration {
        self.config.session_timeout.min(self.config.rebalance_timeout)
    }

    fn session_expired(&mut self) {
        let error = Error::new(
            ErrorKind::Timeout,
            format!(
                "no successful heartbeat for {} ms (the session or rebalance timeout): the coordinator may have dropped this member",
                self.fence_after().as_millis()
            ),
        );
        self.coordinator_dead(error.clone());
        self.reset_and_rejoin(error, true, "the session timed out");
    }

    /// Partitions are lost and the generation (and the member id, if `forget_member`) is gone:
    /// rejoin, unless the member was closing, in which case it just leaves.
    fn reset_and_rejoin(&mut self, error: Error, forget_member: bool, why: &'static str) {
        let closing = self.revoke == Some(AfterRevoke::Leave);
        self.lose_all(error);
        if closing {
            return;
        }
        if forget_member {
            self.member_id.clear();
        }
        self.reset_generation();
        self.restart_join(Some(why));
    }

    /// Starts a rebalance from Stable: revoke first where the protocol needs it.
    fn request_rejoin(&mut self, why: &'static str) {
        if self.phase != Phase::Stable {
            if matches!(
                self.phase,
                Phase::Joining | Phase::AwaitCounts | Phase::Sync | Phase::Syncing
            ) {
                self.rejoin_pending = true;
            }
            return;
        }
        if self.revoke.is_some() {
            // Already revoking; the rejoin (or leave) follows.
            return;
        }
        tracing::info!(group = %self.config.group_id, reason = why, "rejoining the group");
        self.join_reason = Some(why);
        // Revoked partitions leave `owned` at once: `assignment()` is what stays ours.
        let revoked: Vec<TopicPartition> = if self.config.cooperative() {
            let gone: Vec<_> = self
                .owned
                .iter()
                .filter(|tp| !self.subscription.contains(&*tp.topic))
                .cloned()
                .collect();
            for tp in &gone {
                self.owned.remove(tp);
            }
            gone
        } else {
            std::mem::take(&mut self.owned).into_iter().collect()
        };
        if revoked.is_empty() {
            self.set_phase(Phase::Join);
        } else {
            self.events.push_back(GroupEvent::Revoke(revoked));
            self.revoke = Some(AfterRevoke::Join);
        }
    }

    fn begin_leave(&mut self) {
        self.epoch += 1;
        self.heartbeat_at = None;
        let dynamic = self.config.group_instance_id.is_none();
        if dynamic && !self.member_id.is_empty() && self.coordinator.is_some() {
            self.set_phase(Phase::Leave);
        } else {
            self.finish_leave();
        }
    }

    fn finish_leave(&mut self) {
        self.member_id.clear();
        self.reset_generation();
        self.owned.clear();
        self.revoke = None;
        self.set_phase(Phase::Left);
    }

    /// Acts on a group error from a heartbeat or a commit (while Stable).
    fn on_group_error(&mut self, action: ErrorAction, code: KafkaCode, api: &str) {
        let group = self.config.group_id.clone();
        let error = || Error::kafka(code, format!("{api} failed for group {group}"));
        match action {
            ErrorAction::None => {}
            ErrorAction::Rejoin | ErrorAction::RejoinWithMemberId => {
                self.request_rejoin("the group is rebalancing")
            }
            ErrorAction::ResetGenerationAndRejoin => {
                self.reset_and_rejoin(error(), false, "the generation was stale")
            }
            ErrorAction::ResetMemberAndRejoin => {
                self.reset_and_rejoin(error(), true, "the coordinator did not know the member id")
            }
            ErrorAction::FindCoordinator => self.coordinator_dead(error()),
            ErrorAction::Retry | ErrorAction::RetryLoading => {
                let delay = self.backoff();
                self.heartbeat_at = Some(self.now + delay);
            }
            ErrorAction::Fatal => self.fatal(error()),
        }
    }
}

mod requests;
pub(super) mod responses;

use responses::decode;
