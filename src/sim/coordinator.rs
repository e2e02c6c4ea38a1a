//! A classic-protocol group coordinator for the simulation, in two flavours:
//!
//! - [`Flavor::Kafka`]: Apache Kafka's semantics (KIP-394 member ids, a rebalance that completes as
//!   soon as every member rejoined or at the rebalance timeout, SyncGroup answered from the stored
//!   assignment in Stable, commits accepted from the current generation during PreparingRebalance).
//! - [`Flavor::RdkafkaMock`]: librdkafka 2.12's mock cluster (`rdkafka_mock_cgrp.c`), quirks
//!   included: no KIP-394; a rebalance always waits its full timer (3 s for the first join, then
//!   the session timeout less 1 s); every member counts at election, rejoined or not; the sync
//!   completes on the leader's SyncGroup alone and clears the assignments of followers that had
//!   not sent theirs, so a follower syncing after its leader is answered INVALID_REQUEST with a
//!   *null* assignment; a sync timeout leaves the group Rebalancing with no timer.
//!
//! Requests come as the bytes kafkit encoded (decoded here with `kafka-protocol`'s broker-side
//! decoders) and answers leave as bytes (its broker-side encoders), so the membership machine is
//! exercised through its real codecs. Held answers (JoinGroup, SyncGroup) come out of
//! [`Coordinator::take_replies`].

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{
    HeartbeatRequest, HeartbeatResponse, JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest,
    LeaveGroupResponse, SyncGroupRequest, SyncGroupResponse,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

use crate::commit::OffsetCommitBody;
use crate::types::TopicPartition;
use crate::wire::{ApiKey, KafkaCode};

/// Whose coordinator this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavor {
    Kafka,
    RdkafkaMock,
}

/// Where a held answer goes: an opaque token from the world, and the version to encode it at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ReplyTo {
    pub(crate) token: u64,
    pub(crate) version: i16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Empty,
    /// Kafka's PreparingRebalance (the mock's Joining).
    Joining,
    /// Kafka's CompletingRebalance (the mock's Syncing).
    Syncing,
    /// The mock's Rebalancing: a sync timed out; waits for members to rejoin or leave.
    Rebalancing,
    Stable,
}

#[derive(Debug)]
struct Member {
    id: String,
    protocols: Vec<(String, Bytes)>,
    session_timeout: Duration,
    rebalance_timeout: Duration,
    last_seen: Instant,
    join: Option<ReplyTo>,
    sync: Option<ReplyTo>,
    assignment: Option<Bytes>,
    /// Kafka: rejoined in the current rebalance.
    joined: bool,
}

/// One group's coordinator. See the module docs.
#[derive(Debug)]
pub(crate) struct Coordinator {
    flavor: Flavor,
    initial_delay: Duration,
    state: State,
    generation: i32,
    leader: Option<String>,
    protocol: Option<String>,
    members: Vec<Member>,
    /// KIP-394: ids handed out with MEMBER_ID_REQUIRED, not yet joined.
    pending: Vec<String>,
    next_member: u64,
    timer: Option<Instant>,
    /// The mock's member count at the last election.
    last_member_count: usize,
    /// Kafka: the first rebalance of an empty group waits out the initial delay.
    initial: bool,
    /// The mock's group session timeout: the latest joiner's (`mcgrp->session_timeout_ms`).
    mock_session_timeout: Duration,
    /// The group's committed offsets.
    pub(crate) committed: BTreeMap<TopicPartition, i64>,
    /// The leader epoch each committed offset names (KIP-320), -1 if none.
    pub(crate) committed_epochs: BTreeMap<TopicPartition, i32>,
    replies: Vec<(ReplyTo, Bytes)>,
}

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_owned())
}

fn encode<T: Encodable>(msg: &T, version: i16) -> Bytes {
    let mut buf = BytesMut::new();
    // The sim only builds valid messages for versions kafkit negotiated.
    let _ = msg.encode(&mut buf, version);
    buf.freeze()
}

/// A SyncGroup answer with an error and a *null* assignment, as the mock writes it (the
/// protocol's field is not nullable, so `kafka-protocol` cannot encode it).
fn sync_error_with_null_assignment(code: KafkaCode, version: i16) -> Bytes {
    let mut buf = BytesMut::new();
    if version >= 1 {
        buf.put_i32(0);
    }
    buf.put_i16(code.0);
    if crate::wire::is_flexible(ApiKey::SyncGroup, version) {
        if version >= 5 {
            buf.put_u8(0);
            buf.put_u8(0);
        }
        buf.put_u8(0); // compact bytes: null
        buf.put_u8(0); // no tagged fields
    } else {
        buf.put_i32(-1);
    }
    buf.freeze()
}

fn join_error(code: KafkaCode, member_id: &str, version: i16) -> Bytes {
    encode(
        &JoinGroupResponse::default()
            .with_error_code(code.0)
            .with_generation_id(-1)
            .with_protocol_name(Some(sb("")))
            .with_member_id(sb(member_id)),
        version,
    )
}

impl Coordinator {
    pub(crate) fn new(flavor: Flavor, initial_delay: Duration) -> Coordinator {
        Coordinator {
            flavor,
            initial_delay,
            state: State::Empty,
            generation: 0,
            leader: None,
            protocol: None,
            members: vec![],
            pending: vec![],
            next_member: 1,
            timer: None,
            last_member_count: 0,
            initial: false,
            mock_session_timeout: Duration::from_secs(10),
            committed: BTreeMap::new(),
            committed_epochs: BTreeMap::new(),
            replies: vec![],
        }
    }

    /// The generation, and whether it is stable.
    #[allow(dead_code)] // diagnostics
    pub(crate) fn generation(&self) -> (i32, bool) {
        (self.generation, self.state == State::Stable)
    }

    /// Answers released since the last call.
    pub(crate) fn take_replies(&mut self) -> Vec<(ReplyTo, Bytes)> {
        std::mem::take(&mut self.replies)
    }

    /// When [`Coordinator::handle_timer`] is next due.
    pub(crate) fn next_timer(&self) -> Option<Instant> {
        let sessions = self
            .members
            .iter()
            .filter(|m| !self.kept_alive(m))
            .map(|m| m.last_seen + m.session_timeout)
            .min();
        [self.timer, sessions].into_iter().flatten().min()
    }

    /// A connection closed: its held answers can no longer be sent (the members stay until their
    /// sessions expire, as on a broker).
    pub(crate) fn forget_replies(&mut self, lost: impl Fn(u64) -> bool) {
        for m in &mut self.members {
            if m.join.is_some_and(|r| lost(r.token)) {
                m.join = None;
            }
            if m.sync.is_some_and(|r| lost(r.token)) {
                m.sync = None;
            }
        }
    }

    fn kept_alive(&self, m: &Member) -> bool {
        // Kafka keeps members awaiting a join or sync answer alive (the rebalance timeout bounds
        // that wait); the mock only counts activity.
        self.flavor == Flavor::Kafka && (m.join.is_some() || m.sync.is_some())
    }

    fn member(&mut self, id: &str) -> Option<&mut Member> {
        self.members.iter_mut().find(|m| m.id == id)
    }

    fn rebalance_timeout(&self) -> Duration {
        self.members
            .iter()
            .map(|m| m.rebalance_timeout)
            .max()
            .unwrap_or(Duration::from_secs(60))
    }

    /// The mock's one session timeout for the group: the latest joiner's.
    fn session_timeout(&self) -> Duration {
        self.mock_session_timeout
    }

    // ----- requests -----

    /// A group request (JoinGroup, SyncGroup, Heartbeat, LeaveGroup) at `version`: the answer now,
    /// or `None` if it is held (it comes out of `take_replies` later).
    pub(crate) fn handle(
        &mut self,
        api: ApiKey,
        version: i16,
        mut body: Bytes,
        reply: ReplyTo,
        now: Instant,
    ) -> Option<Bytes> {
        match api {
            ApiKey::JoinGroup => {
                let r = JoinGroupRequest::decode(&mut body, version).ok()?;
                self.join(r, reply, now)
            }
            ApiKey::SyncGroup => {
                let r = SyncGroupRequest::decode(&mut body, version).ok()?;
                self.sync(r, reply, now)
            }
            ApiKey::Heartbeat => {
                let r = HeartbeatRequest::decode(&mut body, version).ok()?;
                let code = self.heartbeat(&r, now);
                Some(encode(
                    &HeartbeatResponse::default().with_error_code(code.0),
                    version,
                ))
            }
            ApiKey::LeaveGroup => {
                let r = LeaveGroupRequest::decode(&mut body, version).ok()?;
                let id = if version >= 3 {
                    r.members
                        .first()
                        .map(|m| m.member_id.to_string())
                        .unwrap_or_default()
                } else {
                    r.member_id.to_string()
                };
                let code = if self.members.iter().any(|m| m.id == id) {
                    self.remove(&id, now);
                    KafkaCode::NONE
                } else {
                    KafkaCode::UNKNOWN_MEMBER_ID
                };
                Some(encode(
                    &LeaveGroupResponse::default().with_error_code(code.0),
                    version,
                ))
            }
            _ => None,
        }
    }

    fn join(&mut self, r: JoinGroupRequest, reply: ReplyTo, now: Instant) -> Option<Bytes> {
        let version = reply.version;
        let mut id = r.member_id.to_string();
        let known = self.members.iter().any(|m| m.id == id);
        if id.is_empty() {
            id = format!("member-{}", self.next_member);
            self.next_member += 1;
            if self.flavor == Flavor::Kafka && version >= 4 {
                self.pending.push(id.clone());
                return Some(join_error(KafkaCode::MEMBER_ID_REQUIRED, &id, version));
            }
        } else if !known && !self.pending.contains(&id) {
            return Some(join_error(KafkaCode::UNKNOWN_MEMBER_ID, &id, version));
        }
        self.pending.retain(|p| *p != id);
        let protocols: Vec<(String, Bytes)> = r
            .protocols
            .iter()
            .map(|p| (p.name.to_string(), p.metadata.clone()))
            .collect();
        let session_timeout = Duration::from_millis(r.session_timeout_ms.max(0) as u64);
        self.mock_session_timeout = session_timeout;
        let rebalance_timeout = Duration::from_millis(r.rebalance_timeout_ms.max(0) as u64);
        // Kafka: a follower rejoining a stable group with the same protocols gets the current
        // generation back, without a rebalance.
        if self.flavor == Flavor::Kafka
            && matches!(self.state, State::Stable | State::Syncing)
            && known
            && self.leader.as_deref() != Some(&id)
            && self
                .members
                .iter()
                .any(|m| m.id == id && m.protocols == protocols)
        {
            let response = self.join_response(&id, false, version);
            if let Some(m) = self.member(&id) {
                m.last_seen = now;
            }
            return Some(response);
        }
        match self.member(&id) {
            Some(m) => {
                m.protocols = protocols;
                m.session_timeout = session_timeout;
                m.rebalance_timeout = rebalance_timeout;
                m.join = Some(reply);
                m.joined = true;
                m.last_seen = now;
            }
            None => self.members.push(Member {
                id,
                protocols,
                session_timeout,
                rebalance_timeout,
                last_seen: now,
                join: Some(reply),
                sync: None,
                assignment: None,
                joined: true,
            }),
        }
        match self.flavor {
            Flavor::Kafka => {
                if self.state != State::Joining {
                    self.prepare_rebalance(now);
                } else {
                    self.maybe_complete_join(now);
                }
            }
            Flavor::RdkafkaMock => {
                if self.state != State::Joining {
                    self.mock_rebalance(now);
                }
            }
        }
        None
    }

    fn sync(&mut self, r: SyncGroupRequest, reply: ReplyTo, now: Instant) -> Option<Bytes> {
        let version = reply.version;
        let id = r.member_id.to_string();
        let error = |code: KafkaCode| encode(&SyncGroupResponse::default().with_error_code(code.0), version);
        let generation = self.generation;
        let flavor = self.flavor;
        let state = self.state;
        let leader = self.leader.clone();
        let Some(m) = self.member(&id) else {
            return Some(error(KafkaCode::UNKNOWN_MEMBER_ID));
        };
        if r.generation_id != generation {
            return Some(error(KafkaCode::ILLEGAL_GENERATION));
        }
        m.last_seen = now;
        let is_leader = leader.as_deref() == Some(&id);
        match (flavor, state) {
            (Flavor::Kafka, State::Joining) => Some(error(KafkaCode::REBALANCE_IN_PROGRESS)),
            (Flavor::Kafka, State::Stable) => {
                let assignment = m.assignment.clone().unwrap_or_default();
                Some(encode(&self.sync_ok(assignment), version))
            }
            (Flavor::Kafka, State::Syncing) => {
                m.sync = Some(reply);
                if is_leader {
                    self.store_assignments(&r);
                    self.state = State::Stable;
                    self.timer = None;
                    self.release_syncs();
                }
                None
            }
            (Flavor::RdkafkaMock, State::Syncing) => {
                m.sync = Some(reply);
                if is_leader {
                    self.store_assignments(&r);
                    // The mock's sync check: every member has an assignment (the leader's request
                    // gave them all one), so the sync is done, whoever has not synced yet.
                    self.state = State::Stable;
                    self.timer = None;
                    self.release_syncs();
                    for m in &mut self.members {
                        m.assignment = None;
                    }
                }
                None
            }
            (Flavor::RdkafkaMock, _) => Some(if state == State::Stable {
                sync_error_with_null_assignment(KafkaCode(42), version)
            } else {
                sync_error_with_null_assignment(KafkaCode::REBALANCE_IN_PROGRESS, version)
            }),
            (Flavor::Kafka, _) => Some(error(KafkaCode::UNKNOWN_MEMBER_ID)),
        }
    }

    fn sync_ok(&self, assignment: Bytes) -> SyncGroupResponse {
        SyncGroupResponse::default()
            .with_protocol_type(Some(sb("consumer")))
            .with_protocol_name(self.protocol.as_deref().map(sb))
            .with_assignment(assignment)
    }

    fn store_assignments(&mut self, r: &SyncGroupRequest) {
        for a in &r.assignments {
            if let Some(m) = self.member(a.member_id.as_str()) {
                m.assignment = Some(a.assignment.clone());
            }
        }
    }

    fn release_syncs(&mut self) {
        let mut out = vec![];
        for m in &mut self.members {
            if let Some(reply) = m.sync.take() {
                let assignment = m.assignment.clone().unwrap_or_default();
                out.push((reply, assignment));
            }
        }
        for (reply, assignment) in out {
            let bytes = encode(&self.sync_ok(assignment), reply.version);
            self.replies.push((reply, bytes));
        }
    }

    fn heartbeat(&mut self, r: &HeartbeatRequest, now: Instant) -> KafkaCode {
        let generation = self.generation;
        let state = self.state;
        let flavor = self.flavor;
        let Some(m) = self.member(r.member_id.as_str()) else {
            return KafkaCode::UNKNOWN_MEMBER_ID;
        };
        if r.generation_id != generation {
            return KafkaCode::ILLEGAL_GENERATION;
        }
        match (flavor, state) {
            (Flavor::Kafka, State::Joining) => {
                // Kafka's heartbeat keeps the session alive even when it says "rejoin".
                m.last_seen = now;
                KafkaCode::REBALANCE_IN_PROGRESS
            }
            (Flavor::RdkafkaMock, State::Joining | State::Syncing | State::Rebalancing) => {
                KafkaCode::REBALANCE_IN_PROGRESS
            }
            _ => {
                m.last_seen = now;
                KafkaCode::NONE
            }
        }
    }

    /// An OffsetCommit: applied to the group's offsets if the member may commit now. Returns the
    /// code for every partition, and the partitions whose committed offset it lowered.
    pub(crate) fn commit(
        &mut self,
        body: &OffsetCommitBody,
        now: Instant,
    ) -> (KafkaCode, Vec<(TopicPartition, i64, i64)>) {
        let generation = self.generation;
        let state = self.state;
        let flavor = self.flavor;
        let Some(m) = self.member(&body.member_id) else {
            return (KafkaCode::UNKNOWN_MEMBER_ID, vec![]);
        };
        if body.generation_id_or_member_epoch != generation {
            return (KafkaCode::ILLEGAL_GENERATION, vec![]);
        }
        let refused = match flavor {
            Flavor::Kafka => state == State::Syncing,
            Flavor::RdkafkaMock => matches!(state, State::Joining | State::Syncing),
        };
        if refused {
            return (KafkaCode::REBALANCE_IN_PROGRESS, vec![]);
        }
        if flavor == Flavor::Kafka {
            m.last_seen = now;
        }
        (KafkaCode::NONE, self.store_commit(body))
    }

    /// Stores an accepted commit: the offsets that went backwards, as (partition, from, to).
    pub(crate) fn store_commit(&mut self, body: &OffsetCommitBody) -> Vec<(TopicPartition, i64, i64)> {
        let mut backwards = vec![];
        for o in &body.offsets {
            let old = self.committed.insert(o.tp.clone(), o.offset);
            self.committed_epochs.insert(o.tp.clone(), o.leader_epoch);
            if let Some(old) = old
                && old > o.offset
            {
                backwards.push((o.tp.clone(), old, o.offset));
            }
        }
        backwards
    }

    // ----- rebalancing -----

    fn prepare_rebalance(&mut self, now: Instant) {
        // Kafka: the first rebalance of an empty group waits the initial delay (extended while
        // members keep joining, up to the rebalance timeout); later ones wait for every member.
        let delay = if self.state == State::Empty {
            self.initial_delay
        } else {
            self.rebalance_timeout()
        };
        if self.state == State::Syncing {
            // Followers waiting for the leader's assignment must rejoin.
            for m in &mut self.members {
                if let Some(reply) = m.sync.take() {
                    let bytes = encode(
                        &SyncGroupResponse::default().with_error_code(KafkaCode::REBALANCE_IN_PROGRESS.0),
                        reply.version,
                    );
                    self.replies.push((reply, bytes));
                }
            }
        }
        self.initial = self.state == State::Empty;
        self.state = State::Joining;
        for m in &mut self.members {
            m.joined = m.join.is_some();
        }
        self.timer = Some(now + delay);
        self.maybe_complete_join(now);
    }

    /// Kafka completes a rebalance as soon as every known member has rejoined (a new group only
    /// after its initial delay).
    fn maybe_complete_join(&mut self, now: Instant) {
        if self.state != State::Joining || self.initial && self.timer.is_some_and(|t| t > now) {
            return;
        }
        if self.members.iter().all(|m| m.joined) {
            self.complete_join(now);
        }
    }

    fn complete_join(&mut self, now: Instant) {
        tracing::debug!(
            members = self.members.len(),
            generation = self.generation + 1,
            "sim coordinator: join complete"
        );
        if self.flavor == Flavor::Kafka {
            // Members that did not rejoin within the rebalance timeout are out.
            self.members.retain(|m| m.joined);
        }
        if self.members.is_empty() {
            self.state = State::Empty;
            self.timer = None;
            self.leader = None;
            return;
        }
        self.generation += 1;
        // Kafka: members that rejoined (even if their answer can no longer be sent: a closed
        // connection drops it, as on a broker).
        let leader_rejoined = self
            .leader
            .as_ref()
            .is_some_and(|l| self.members.iter().any(|m| m.id == *l && m.joined));
        if self.flavor == Flavor::RdkafkaMock || !leader_rejoined {
            let first = match self.flavor {
                // The mock: the first member in its list, rejoined or not.
                Flavor::RdkafkaMock => self.members.first(),
                Flavor::Kafka => self.members.iter().find(|m| m.joined),
            };
            self.leader = first.map(|m| m.id.clone());
        }
        let leader = self.leader.clone().unwrap_or_default();
        // The leader's first protocol that every member offers (the mock: the leader's first).
        let leader_protocols: Vec<String> = self
            .members
            .iter()
            .find(|m| m.id == leader)
            .map(|m| m.protocols.iter().map(|(n, _)| n.clone()).collect())
            .unwrap_or_default();
        self.protocol = leader_protocols
            .iter()
            .find(|name| {
                self.flavor == Flavor::RdkafkaMock
                    || self
                        .members
                        .iter()
                        .all(|m| m.protocols.iter().any(|(n, _)| n == *name))
            })
            .cloned();
        let mut out = vec![];
        for m in &self.members {
            if let Some(reply) = m.join {
                out.push((reply, m.id.clone()));
            }
        }
        let flavor = self.flavor;
        for m in &mut self.members {
            // Only members that get an answer count as active (the mock's elect_leader); Kafka
            // keeps only members that rejoined, and their sessions start again.
            let answered = m.join.take().is_some();
            if answered || flavor == Flavor::Kafka && m.joined {
                m.last_seen = now;
            }
            m.joined = false;
            m.assignment = None;
        }
        for (reply, id) in out {
            let bytes = self.join_response(&id, id == leader, reply.version);
            self.replies.push((reply, bytes));
        }
        self.last_member_count = self.members.len();
        self.state = State::Syncing;
        self.timer = Some(
            now + match self.flavor {
                Flavor::Kafka => self.rebalance_timeout(),
                Flavor::RdkafkaMock => self.session_timeout(),
            },
        );
    }

    fn join_response(&self, id: &str, leader: bool, version: i16) -> Bytes {
        let protocol = self.protocol.clone().unwrap_or_default();
        let members = if leader {
            self.members
                .iter()
                .map(|m| {
                    let metadata = m
                        .protocols
                        .iter()
                        .find(|(n, _)| *n == protocol)
                        .or(m.protocols.first())
                        .map(|(_, md)| md.clone())
                        .unwrap_or_default();
                    JoinGroupResponseMember::default()
                        .with_member_id(sb(&m.id))
                        .with_metadata(metadata)
                })
                .collect()
        } else {
            vec![]
        };
        encode(
            &JoinGroupResponse::default()
                .with_generation_id(self.generation)
                .with_protocol_type(Some(sb("consumer")))
                .with_protocol_name(Some(sb(&protocol)))
                .with_leader(sb(self.leader.as_deref().unwrap_or_default()))
                .with_member_id(sb(id))
                .with_members(members),
            version,
        )
    }

    /// The mock's `rd_kafka_mock_cgrp_classic_rebalance`.
    fn mock_rebalance(&mut self, now: Instant) {
        tracing::debug!(state = ?self.state, members = self.members.len(), "sim coordinator: rebalance");
        let delay = match self.state {
            State::Joining => return,
            State::Empty => self.initial_delay,
            State::Rebalancing if self.members.len() == self.last_member_count => Duration::from_millis(100),
            _ => self
                .session_timeout()
                .saturating_sub(Duration::from_secs(1))
                .max(Duration::from_millis(1)),
        };
        if self.state == State::Syncing {
            self.fail_syncs();
        }
        self.state = State::Joining;
        self.timer = Some(now + delay);
    }

    fn fail_syncs(&mut self) {
        for m in &mut self.members {
            m.assignment = None;
            if let Some(reply) = m.sync.take() {
                let bytes = sync_error_with_null_assignment(KafkaCode::REBALANCE_IN_PROGRESS, reply.version);
                self.replies.push((reply, bytes));
            }
        }
    }

    fn remove(&mut self, id: &str, now: Instant) {
        self.members.retain(|m| m.id != id);
        match self.flavor {
            Flavor::Kafka => match self.state {
                State::Joining => {
                    if self.members.is_empty() {
                        self.state = State::Empty;
                        self.timer = None;
                    } else {
                        self.maybe_complete_join(now);
                    }
                }
                State::Empty => {}
                _ if self.members.is_empty() => {
                    self.state = State::Empty;
                    self.timer = None;
                }
                _ => self.prepare_rebalance(now),
            },
            Flavor::RdkafkaMock => self.mock_rebalance(now),
        }
    }

    /// Timers: rebalance and sync deadlines, session expiry.
    pub(crate) fn handle_timer(&mut self, now: Instant) {
        tracing::debug!(state = ?self.state, timer = ?self.timer.map(|t| t.saturating_duration_since(now)), "sim coordinator: timer");
        let expired: Vec<String> = self
            .members
            .iter()
            .filter(|m| !self.kept_alive(m) && now >= m.last_seen + m.session_timeout)
            .map(|m| m.id.clone())
            .collect();
        for id in expired {
            self.remove(&id, now);
        }
        if self.timer.is_none_or(|t| now < t) {
            return;
        }
        self.timer = None;
        match (self.flavor, self.state) {
            (Flavor::Kafka, State::Joining) => self.complete_join(now),
            (Flavor::Kafka, State::Syncing) => {
                // Members that never synced are out; the rest rebalance.
                let missing: Vec<String> = self
                    .members
                    .iter()
                    .filter(|m| m.sync.is_none())
                    .map(|m| m.id.clone())
                    .collect();
                self.members.retain(|m| !missing.contains(&m.id));
                self.prepare_rebalance(now);
            }
            (Flavor::RdkafkaMock, State::Joining) => {
                if self.members.is_empty() {
                    self.state = State::Empty;
                } else {
                    self.complete_join(now);
                }
            }
            (Flavor::RdkafkaMock, State::Syncing) => {
                self.fail_syncs();
                self.state = State::Rebalancing;
            }
            _ => {}
        }
    }
}
