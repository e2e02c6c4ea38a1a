//! The consumer group protocol (KIP-848, `group.protocol=consumer`): membership through one API,
//! `ConsumerGroupHeartbeat`, with the assignment computed by the broker.
//!
//! # The protocol, as this machine follows it
//! - The member finds its coordinator, then joins by heartbeating at **member epoch 0** with its
//!   subscription, rebalance timeout (`max.poll.interval.ms`), optional `group.remote.assignor`,
//!   rack and `group.instance.id`. The member id is a random id the client makes (KIP-1082, as
//!   Kafka 4.x clients do) and keeps for its lifetime.
//! - Each answer carries the member's epoch, the heartbeat interval to keep, and, when it changed,
//!   the member's assignment as **topic ids** and partitions. Ids resolve to names through metadata
//!   ([`ConsumerMachine::handle_topic_ids`]); partitions of ids not yet known wait for it.
//! - **Reconciliation**: partitions the assignment no longer holds are revoked first
//!   ([`GroupEvent::Revoke`]; the engine ends their streams, commits, and calls
//!   `handle_revoke_done`); then added ones are announced ([`GroupEvent::Assigned`]), and the next
//!   heartbeat, sent at once, reports the new owned set. The coordinator gives a partition to a
//!   new owner only after the old one reported it gone, so no partition has two owners.
//! - Heartbeats after the first carry only what changed since the last one sent (subscription,
//!   owned partitions, rebalance timeout, assignor), as the Java client's `HeartbeatState` does;
//!   after a failed heartbeat the next one is full again.
//! - Leaving heartbeats at epoch -1, or -2 for a static member (its place is kept for the session
//!   timeout, so a restart gets its partitions back).
//! - FENCED_MEMBER_EPOCH and UNKNOWN_MEMBER_ID: every partition is lost; the member rejoins at
//!   epoch 0 with its member id. A join at epoch 0 that is itself fenced or unknown (Kafka 4.1
//!   fences a join that reuses an id it still counts) takes a fresh member id.
//!
//! # Driving it
//! As [`super::GroupMachine`]: inputs (`subscribe`, `handle_topic_ids`, `handle_response`,
//! `handle_timeout`, `handle_revoke_done`, `handle_commit_error`, `leave`, `rejoin`), then
//! `poll_event` and `poll_request` until `None`, then one timer at `poll_timeout`.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::machine::Coordinator;
use super::machine::responses::{decode, found_coordinator, is_fatal};
use super::{ErrorAction, GroupConfig, GroupEvent, LeaveReason, RequestId, TopicId};
use crate::error::{Error, ErrorKind};
use crate::types::TopicPartition;
use crate::wire::{ConsumerGroupHeartbeatResponse, KafkaCode};

mod heartbeat;
mod reconcile;

use heartbeat::SentFields;

/// The member epoch that joins.
const JOIN_EPOCH: i32 = 0;
/// The member epoch a dynamic member leaves with.
const LEAVE_EPOCH: i32 = -1;
/// The member epoch a static member leaves with (it will be back).
const STATIC_LEAVE_EPOCH: i32 = -2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Not subscribed yet.
    Idle,
    /// A member (joining at epoch 0, or at a positive epoch): heartbeats flow.
    Active,
    /// The leave heartbeat is to be sent (once any revoke is done).
    Leave,
    Leaving,
    Left,
    Fatal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Find,
    Heartbeat,
    Leave,
}

/// Consumer-protocol (KIP-848) membership, sans IO. See the module docs.
#[derive(Debug)]
pub(crate) struct ConsumerMachine {
    config: GroupConfig,
    now: Instant,
    subscription: BTreeSet<String>,
    phase: Phase,
    events: VecDeque<GroupEvent>,
    in_flight: HashMap<RequestId, (Kind, u64)>,
    next_id: RequestId,
    /// Bumped whenever the membership restarts, so late answers of the old one are ignored.
    session: u64,
    failures: u32,

    coordinator: Option<Coordinator>,
    find_in_flight: bool,
    find_at: Option<Instant>,

    member_id: String,
    member_epoch: i32,
    /// The interval the coordinator asked for (the configured one until it answers).
    heartbeat_interval: Duration,
    heartbeat_at: Option<Instant>,
    heartbeat_in_flight: Option<RequestId>,
    last_heartbeat_ok: Instant,
    sent: SentFields,

    /// Topic names by id, from metadata.
    names: BTreeMap<TopicId, String>,
    /// An assignment named topic ids unknown to metadata, and no metadata arrived since: ask for
    /// it once (a refresh that still lacks them waits for the regular ones).
    ids_wanted: bool,
    /// The latest assignment the coordinator sent, by topic id.
    target: Option<BTreeMap<TopicId, BTreeSet<i32>>>,
    /// The partitions owned now, with their topic ids (not counting those being revoked).
    owned: BTreeMap<TopicPartition, TopicId>,
    /// Partitions handed to the engine in a `Revoke`, not yet done.
    revoking: Option<BTreeMap<TopicPartition, TopicId>>,
    /// When the coordinator fences this member unless it has heard that the revoke under way is
    /// done: the rebalance timeout after the answer that asked for it. Cleared only by a
    /// successful answer to the heartbeat that reported the release.
    revoke_deadline: Option<Instant>,
    /// The heartbeat that reported the end of a revoke.
    release_report: Option<RequestId>,
    /// Closing: leave once the revoke is done (heartbeating until then, taking nothing new).
    leave_after_revoke: bool,
}

impl ConsumerMachine {
    /// A member of `config.group_id` that does nothing until [`ConsumerMachine::subscribe`].
    pub(crate) fn new(config: GroupConfig, now: Instant) -> Self {
        let heartbeat_interval = config.heartbeat_interval;
        ConsumerMachine {
            config,
            now,
            subscription: BTreeSet::new(),
            phase: Phase::Idle,
            events: VecDeque::new(),
            in_flight: HashMap::new(),
            next_id: 1,
            session: 0,
            failures: 0,
            coordinator: None,
            find_in_flight: false,
            find_at: None,
            member_id: new_member_id(),
            member_epoch: JOIN_EPOCH,
            heartbeat_interval,
            heartbeat_at: None,
            heartbeat_in_flight: None,
            last_heartbeat_ok: now,
            sent: SentFields::default(),
            names: BTreeMap::new(),
            ids_wanted: false,
            target: None,
            owned: BTreeMap::new(),
            revoking: None,
            revoke_deadline: None,
            release_report: None,
            leave_after_revoke: false,
        }
    }

    // ----- getters -----

    /// `(member_epoch, member_id)` while a member at a positive epoch: OffsetCommit v9+ carries
    /// the member epoch as its generation.
    pub(crate) fn generation(&self) -> Option<(i32, String)> {
        (self.phase == Phase::Active && self.member_epoch > 0)
            .then(|| (self.member_epoch, self.member_id.clone()))
    }

    /// The coordinator's node id, when known.
    pub(crate) fn coordinator(&self) -> Option<i32> {
        self.coordinator.as_ref().map(|c| c.node_id)
    }

    /// The coordinator's `(node_id, host, port)`.
    pub(crate) fn coordinator_address(&self) -> Option<(i32, &str, i32)> {
        self.coordinator
            .as_ref()
            .map(|c| (c.node_id, c.host.as_str(), c.port))
    }

    /// The member id this client made for itself.
    #[allow(dead_code)] // diagnostics and tests
    pub(crate) fn member_id(&self) -> &str {
        &self.member_id
    }

    /// The partitions owned now (not counting those handed to the engine in a `Revoke`).
    #[allow(dead_code)] // diagnostics and tests
    pub(crate) fn assignment(&self) -> BTreeSet<TopicPartition> {
        self.owned.keys().cloned().collect()
    }

    /// Whether leaving is complete (or was never needed).
    pub(crate) fn is_left(&self) -> bool {
        matches!(self.phase, Phase::Left | Phase::Fatal | Phase::Idle)
    }

    /// The subscription: the engine fetches these topics' metadata, which also names their ids.
    pub(crate) fn topics_needed(&self) -> BTreeSet<String> {
        self.subscription.clone()
    }

    /// Whether the assignment names topic ids that metadata has not resolved yet, and no
    /// metadata arrived since it did: the engine should refresh metadata now.
    pub(crate) fn wants_topic_ids(&self) -> bool {
        self.ids_wanted
            && self.phase == Phase::Active
            && !self.leave_after_revoke
            && !self.unresolved().is_empty()
    }

    // ----- inputs -----

    /// Sets the subscription: joins, or tells the coordinator in the next heartbeat (sent at
    /// once). An empty set leaves the group as [`LeaveReason::Close`] does.
    pub(crate) fn subscribe(&mut self, topics: BTreeSet<String>, now: Instant) {
        self.now = now;
        if topics == self.subscription && !matches!(self.phase, Phase::Idle | Phase::Left) {
            return;
        }
        if self.leave_after_revoke {
            // Closing: the subscription no longer matters.
            return;
        }
        self.subscription = topics;
        if self.subscription.is_empty() && self.config.subscribed_regex.is_none() {
            self.leave(LeaveReason::Close, now);
            return;
        }
        match self.phase {
            Phase::Idle | Phase::Left => self.start_join(),
            Phase::Active => self.heartbeat_at = Some(now),
            Phase::Leave | Phase::Leaving | Phase::Fatal => {}
        }
    }

    /// Topic names by id from metadata: assignments waiting for them are reconciled.
    pub(crate) fn handle_topic_ids(&mut self, ids: &BTreeMap<TopicId, String>, now: Instant) {
        self.now = now;
        self.ids_wanted = false;
        let mut new = false;
        for (id, name) in ids {
            if *id != [0; 16] && self.names.get(id) != Some(name) {
                self.names.insert(*id, name.clone());
                new = true;
            }
        }
        if new && self.phase == Phase::Active {
            self.reconcile();
        }
    }

    /// The engine finished a revoke (streams ended, commits done): carry on reconciling (and
    /// report the smaller owned set at once), or leave.
    pub(crate) fn handle_revoke_done(&mut self, now: Instant) {
        self.now = now;
        if self.revoking.take().is_none() {
            return;
        }
        if self.leave_after_revoke {
            if self.owned.is_empty() {
                self.leave_after_revoke = false;
                self.begin_leave();
            } else {
                // Closing during a reconciliation's revoke: now the rest goes.
                self.revoke_all_owned();
            }
        } else if self.phase == Phase::Active {
            self.heartbeat_at = Some(now);
            self.reconcile();
        }
    }

    /// OffsetCommit met a group error: FENCED_MEMBER_EPOCH / UNKNOWN_MEMBER_ID lose the
    /// partitions and rejoin, fatal codes stop. STALE_MEMBER_EPOCH needs nothing here: the next
    /// heartbeat brings the epoch the commit should be retried with.
    pub(crate) fn handle_commit_error(&mut self, code: KafkaCode, now: Instant) {
        self.now = now;
        let acts = match super::classify(code) {
            ErrorAction::Fatal => true,
            ErrorAction::ResetGenerationAndRejoin
            | ErrorAction::ResetMemberAndRejoin
            | ErrorAction::FindCoordinator => self.phase == Phase::Active && self.member_epoch > 0,
            // Retried by the commit itself; the heartbeats carry on undisturbed.
            _ => false,
        };
        if acts {
            self.on_error_code(code, None, "OffsetCommit");
        }
    }

    /// Leaves the group: `Close` revokes cleanly first (the engine commits, then calls
    /// `handle_revoke_done`); `MaxPollExceeded` loses everything at once. Either way the leave
    /// heartbeat follows (epoch -1, or -2 for a static member).
    pub(crate) fn leave(&mut self, reason: LeaveReason, now: Instant) {
        self.now = now;
        if self.leave_after_revoke && reason == LeaveReason::Close {
            return;
        }
        match self.phase {
            Phase::Fatal | Phase::Leave | Phase::Leaving | Phase::Left => return,
            Phase::Idle => {
                self.set_phase(Phase::Left);
                return;
            }
            Phase::Active => {}
        }
        match reason {
            LeaveReason::Close => {
                // The leave follows the revoke of everything owned. Heartbeats go on meanwhile
                // (reporting the partitions still held), or the coordinator would drop the
                // member after its session and hand them on while the application still has
                // them. One revoke at a time: one under way finishes first.
                if self.revoking.is_none() && !self.owned.is_empty() {
                    self.revoke_all_owned();
                }
                if self.revoking.is_some() {
                    self.leave_after_revoke = true;
                } else {
                    self.begin_leave();
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

    /// Rejoins at epoch 0 after a `MaxPollExceeded` leave (the application pulls again).
    pub(crate) fn rejoin(&mut self, now: Instant) {
        self.now = now;
        if matches!(self.phase, Phase::Left | Phase::Leave | Phase::Leaving) && !self.subscription.is_empty()
        {
            self.start_join();
        }
    }

    /// Timers: a member that heard no successful answer for its session (or rebalance timeout,
    /// if shorter), or whose revoke outlived the rebalance timeout (the coordinator fences it
    /// then), gives its partitions up and rejoins; heartbeats and backoffs go out through
    /// `poll_request`.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        if self.revoke_deadline.is_some_and(|d| now >= d) {
            let error = Error::new(
                ErrorKind::Timeout,
                format!(
                    "revoked partitions were not released, or their release not acknowledged, within the rebalance timeout (max.poll.interval, {} ms): the coordinator fences the member and hands its partitions on",
                    self.config.rebalance_timeout.as_millis()
                ),
            );
            self.lose_and_rejoin(error, false);
        }
        if self.phase == Phase::Active
            && self.member_epoch > 0
            && now >= self.last_heartbeat_ok + self.fence_after()
        {
            let error = Error::new(
                ErrorKind::Timeout,
                format!(
                    "no successful heartbeat for {} ms (the session or rebalance timeout): the coordinator may have fenced this member",
                    self.fence_after().as_millis()
                ),
            );
            self.coordinator_dead(error.clone());
            self.lose_and_rejoin(error, false);
        }
    }

    /// A response (the body after the header) or the error that took its place.
    pub(crate) fn handle_response(
        &mut self,
        id: RequestId,
        response: Result<Bytes, Error>,
        version: i16,
        now: Instant,
    ) {
        self.now = now;
        let Some((kind, session)) = self.in_flight.remove(&id) else {
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
                let reported_release = self.release_report == Some(id);
                if reported_release {
                    self.release_report = None;
                }
                if session == self.session && self.phase == Phase::Active {
                    self.on_heartbeat(decode(response, version), reported_release);
                }
            }
            Kind::Leave if self.phase == Phase::Leaving => {
                let _: Result<ConsumerGroupHeartbeatResponse, Error> = decode(response, version);
                // Whatever the answer, we are done: the session expires otherwise.
                self.finish_leave();
            }
            Kind::Leave => {}
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
        deadlines.extend(self.revoke_deadline);
        if self.phase == Phase::Active {
            if self.coordinator.is_none() {
                if !self.find_in_flight {
                    deadlines.push(self.find_at.unwrap_or(self.now));
                }
            } else if self.heartbeat_in_flight.is_none() {
                deadlines.extend(self.heartbeat_at);
            }
            if self.member_epoch > 0 {
                deadlines.push(self.last_heartbeat_ok + self.fence_after());
            }
        }
        deadlines.into_iter().min()
    }

    // ----- internals -----

    fn set_phase(&mut self, phase: Phase) {
        tracing::debug!(group = %self.config.group_id, from = ?self.phase, to = ?phase, "consumer-protocol phase");
        self.phase = phase;
    }

    fn backoff(&mut self) -> Duration {
        let base = self.config.retry_backoff;
        let cap = base.max(Duration::from_secs(1));
        let delay = base.saturating_mul(1 << self.failures.min(10)).min(cap);
        self.failures = self.failures.saturating_add(1);
        delay
    }

    /// How long without a successful heartbeat before the member gives its partitions up. The
    /// broker's session timeout is not told to members, and `session.timeout.ms` cannot be set on
    /// this protocol, so this is Kafka's default broker session (45 s, `GroupConfig`'s default,
    /// also the broker's default `group.consumer.min.session.timeout.ms`) unless the rebalance
    /// timeout is shorter. A broker configured below that minimum may fence the member earlier.
    fn fence_after(&self) -> Duration {
        self.config.session_timeout.min(self.config.rebalance_timeout)
    }

    /// (Re)joins at epoch 0 with a full heartbeat, sent as soon as the coordinator is known.
    fn start_join(&mut self) {
        self.session += 1;
        self.member_epoch = JOIN_EPOCH;
        self.target = None;
        self.sent = SentFields::default();
        self.heartbeat_in_flight = None;
        self.heartbeat_at = Some(self.now);
        self.last_heartbeat_ok = self.now;
        self.leave_after_revoke = false;
        self.set_phase(Phase::Active);
    }

    fn coordinator_dead(&mut self, why: Error) {
        if self.coordinator.take().is_some() {
            tracing::info!(group = %self.config.group_id, error = %why, "lost the group coordinator; rediscovering");
        }
        let first = self.failures == 0;
        let delay = self.backoff();
        self.find_at = (!first).then(|| self.now + delay);
        self.sent = SentFields::default();
        self.events.push_back(GroupEvent::CoordinatorUnavailable(why));
    }

    fn on_find(&mut self, response: Result<crate::wire::FindCoordinatorResponse, Error>) {
        match found_coordinator(response, &self.config.group_id) {
            Ok(c) => {
                tracing::info!(group = %self.config.group_id, node = c.node_id, host = %c.host, port = c.port, "found the group coordinator");
                self.coordinator = Some(c);
                self.find_at = None;
                if self.phase == Phase::Active {
                    self.heartbeat_at = Some(self.now);
                }
            }
            Err(e) if is_fatal(&e) => self.fatal(e),
            Err(e) => {
                let delay = self.backoff();
                self.find_at = Some(self.now + delay);
                self.events.push_back(GroupEvent::CoordinatorUnavailable(e));
            }
        }
    }

    /// Hands every owned partition to the engine to revoke (none may be under way).
    fn revoke_all_owned(&mut self) {
        let gone = std::mem::take(&mut self.owned);
        self.start_revoke(gone);
    }

    /// Hands `gone` to the engine to revoke; the coordinator waits for it for the rebalance
    /// timeout.
    pub(super) fn start_revoke(&mut self, gone: BTreeMap<TopicPartition, TopicId>) {
        self.events
            .push_back(GroupEvent::Revoke(gone.keys().cloned().collect()));
        self.revoking = Some(gone);
        self.revoke_deadline = Some(self.now + self.config.rebalance_timeout);
    }

    /// Every owned and revoking partition is lost (no clean revoke possible).
    fn lose_all(&mut self, error: Error) {
        let mut lost = std::mem::take(&mut self.owned);
        lost.extend(self.revoking.take().unwrap_or_default());
        self.revoke_deadline = None;
        self.release_report = None;
        if !lost.is_empty() {
            self.events
                .push_back(GroupEvent::Lost(lost.into_keys().collect(), error));
        }
    }

    /// Partitions are lost; rejoin at epoch 0 (with a fresh member id if `fresh_id`), unless the
    /// member was closing, in which case it has left.
    fn lose_and_rejoin(&mut self, error: Error, fresh_id: bool) {
        let closing = self.leave_after_revoke;
        self.lose_all(error);
        if closing {
            self.leave_after_revoke = false;
            self.finish_leave();
            return;
        }
        if fresh_id {
            self.member_id = new_member_id();
        }
        self.start_join();
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

    fn begin_leave(&mut self) {
        self.leave_after_revoke = false;
        self.session += 1;
        self.heartbeat_at = None;
        self.heartbeat_in_flight = None;
        if self.coordinator.is_some() && self.phase != Phase::Idle {
            self.set_phase(Phase::Leave);
        } else {
            self.finish_leave();
        }
    }

    fn finish_leave(&mut self) {
        self.revoke_deadline = None;
        self.release_report = None;
        self.member_epoch = JOIN_EPOCH;
        self.target = None;
        self.owned.clear();
        self.revoking = None;
        self.sent = SentFields::default();
        self.set_phase(Phase::Left);
    }

    /// The epoch this member leaves with.
    fn leave_epoch(&self) -> i32 {
        if self.config.group_instance_id.is_some() {
            STATIC_LEAVE_EPOCH
        } else {
            LEAVE_EPOCH
        }
    }

    /// Acts on an error code from a heartbeat or a commit; `message` is the broker's.
    fn on_error_code(&mut self, code: KafkaCode, message: Option<&str>, api: &str) {
        let action = match code {
            // The coordinator refused the heartbeat itself as malformed: sending it again cannot
            // help, so the member stops, as Kafka's consumer does.
            KafkaCode::INVALID_REQUEST => ErrorAction::Fatal,
            code => super::classify(code),
        };
        let joining = self.member_epoch == JOIN_EPOCH;
        let said = message
            .filter(|m| !m.trim().is_empty())
            .map(|m| format!(" (the broker said: {m})"))
            .unwrap_or_default();
        let group = self.config.group_id.clone();
        match action {
            ErrorAction::None => {}
            ErrorAction::ResetGenerationAndRejoin | ErrorAction::ResetMemberAndRejoin => {
                let error = Error::kafka(
                    code,
                    format!(
                        "{api} in group {group}: the member was fenced; its partitions are lost and it rejoins{said}"
                    ),
                );
                // A join that is itself fenced or unknown: the coordinator holds this id for a
                // member it still counts; a fresh id joins as a new member.
                self.lose_and_rejoin(error, joining);
            }
            ErrorAction::FindCoordinator => {
                self.coordinator_dead(Error::kafka(code, format!("{api} in group {group}{said}")));
            }
            ErrorAction::Retry
            | ErrorAction::RetryLoading
            | ErrorAction::Rejoin
            | ErrorAction::RejoinWithMemberId => {
                let delay = self.backoff();
                self.sent = SentFields::default();
                self.heartbeat_at = Some(self.now + delay);
                if action == ErrorAction::Retry {
                    self.events
                        .push_back(GroupEvent::CoordinatorUnavailable(Error::kafka(
                            code,
                            format!("{api} in group {group} failed; retrying{said}"),
                        )));
                }
            }
            ErrorAction::Fatal => {
                let error = Error::kafka(code, self.fatal_message(code, api, &said));
                self.fatal(error);
            }
        }
    }

    /// What a fatal code means for this member, and what to do about it.
    fn fatal_message(&self, code: KafkaCode, api: &str, said: &str) -> String {
        let group = &self.config.group_id;
        let what = match code {
            KafkaCode::UNRELEASED_INSTANCE_ID => format!(
                "group.instance.id {:?} is still held by another member of group {group}: stop the other consumer with this instance id (or wait for its session to expire), or give this one a different group.instance.id",
                self.config.group_instance_id.as_deref().unwrap_or_default()
            ),
            KafkaCode::GROUP_MAX_SIZE_REACHED => format!(
                "group {group} has as many members as the broker allows (group.consumer.max.size): raise it on the broker or run fewer consumers"
            ),
            KafkaCode::UNSUPPORTED_ASSIGNOR => format!(
                "the broker does not offer group.remote.assignor {:?}: use one listed in the broker's group.consumer.assignors (Kafka's are uniform and range), or leave it unset for the broker's default",
                self.config.remote_assignor.map(|a| a.name()).unwrap_or_default()
            ),
            KafkaCode::INVALID_REGULAR_EXPRESSION => {
                "the subscription's regular expression is invalid: fix the pattern".to_owned()
            }
            KafkaCode::GROUP_AUTHORIZATION_FAILED => {
                format!("not authorized for group {group}: grant this principal READ on the group")
            }
            KafkaCode::UNSUPPORTED_VERSION => unsupported_protocol_message(),
            KafkaCode::INVALID_REQUEST => format!(
                "the coordinator of group {group} refused the request as invalid: a bug in kafkit or the broker; please report it with the broker's words"
            ),
            _ => format!("group {group} cannot continue"),
        };
        format!("{api}: {what}{said}")
    }

    /// Topic ids of the target assignment that metadata has not named yet.
    fn unresolved(&self) -> BTreeSet<TopicId> {
        self.target
            .iter()
            .flat_map(|t| t.keys())
            .filter(|id| !self.names.contains_key(*id))
            .copied()
            .collect()
    }
}

/// The error for a broker without the consumer protocol.
fn unsupported_protocol_message() -> String {
    "the broker does not support group.protocol=consumer (KIP-848 ConsumerGroupHeartbeat): use group.protocol=classic, or a Kafka 4.0+ broker".to_owned()
}

/// A member id as Kafka 4.x clients make them (KIP-1082): 16 random bytes, URL-safe base64
/// without padding (Kafka's `Uuid.toString`).
fn new_member_id() -> String {
    use base64::Engine;
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        // No OS randomness: std's per-process random hasher keys, mixed with the time.
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        let a = h.finish();
        h.write_u64(a);
        bytes[..8].copy_from_slice(&a.to_be_bytes());
        bytes[8..].copy_from_slice(&h.finish().to_be_bytes());
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
