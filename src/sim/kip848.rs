//! A consumer-protocol (KIP-848) group coordinator for the simulation, following Apache Kafka's
//! `GroupMetadataManager` rules: a group epoch bumped by every membership or subscription change,
//! a sticky uniform target assignment per group epoch, and per-member reconciliation in which a
//! member stays at its epoch while it still owns partitions it must revoke, and a partition is
//! given to its new owner only once the old owner reported it gone (so one partition never has
//! two owners, which [`Kip848Coordinator::check_exclusive`] asserts after every heartbeat).
//!
//! Simplifications: one coordinator node; a static member leaving with epoch -2 is removed as a
//! dynamic one is (Kafka keeps its assignment for the session timeout); a member's
//! `SubscribedTopicRegex` (matched against whole names, as Kafka's RE2/J `matches()`) is resolved
//! once, when it joins; no rack awareness.
//!
//! Modelled as Kafka 4.1 was observed to do: a join at epoch 0 with a member id the group still
//! counts (at a positive epoch) is answered FENCED_MEMBER_EPOCH.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use kafka_protocol::messages::consumer_group_heartbeat_response::{Assignment, TopicPartitions};
use kafka_protocol::messages::{ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse};

use crate::group::TopicId;
use crate::wire::KafkaCode;

type Tp = (TopicId, i32);

#[derive(Debug)]
pub(crate) struct SimMember {
    pub(crate) epoch: i32,
    previous_epoch: i32,
    pub(crate) instance_id: Option<String>,
    pub(crate) subscription: BTreeSet<String>,
    pub(crate) assignor: Option<String>,
    pub(crate) rebalance_timeout_ms: i32,
    /// What the member may own now (sent to it).
    pub(crate) assigned: BTreeSet<Tp>,
    /// What it must give up, and may still own.
    pub(crate) pending_revocation: BTreeSet<Tp>,
    /// What it reported owning last.
    pub(crate) owned: BTreeSet<Tp>,
    target: BTreeSet<Tp>,
    /// Since when partitions are pending revocation.
    revoking_since: Option<Instant>,
    last_sent: Option<BTreeSet<Tp>>,
    last_seen: Instant,
}

impl SimMember {
    fn revoke_deadline(&self) -> Option<Instant> {
        let timeout = Duration::from_millis(u64::try_from(self.rebalance_timeout_ms).unwrap_or(0));
        self.revoking_since.map(|t| t + timeout)
    }
}

/// The simulated consumer-protocol coordinator.
#[derive(Debug)]
pub(crate) struct Kip848Coordinator {
    /// Topics by id: name and partition count.
    pub(crate) topics: BTreeMap<TopicId, (String, i32)>,
    pub(crate) group_epoch: i32,
    pub(crate) members: BTreeMap<String, SimMember>,
    pub(crate) heartbeat_interval_ms: i32,
    pub(crate) session_timeout: Duration,
    /// Error codes (and messages) to answer the next heartbeats with, instead of handling them.
    pub(crate) inject: VecDeque<(KafkaCode, Option<&'static str>)>,
    /// Answer a join at epoch 0 that reuses the id of a member at a positive epoch with
    /// FENCED_MEMBER_EPOCH (as Kafka 4.1 was observed to); otherwise it replaces that member.
    pub(crate) fence_known_rejoin: bool,
}

impl Kip848Coordinator {
    pub(crate) fn new(topics: &[(TopicId, &str, i32)]) -> Self {
        Kip848Coordinator {
            topics: topics
                .iter()
                .map(|(id, name, n)| (*id, (name.to_string(), *n)))
                .collect(),
            group_epoch: 0,
            members: BTreeMap::new(),
            heartbeat_interval_ms: 5_000,
            session_timeout: Duration::from_secs(45),
            inject: VecDeque::new(),
            fence_known_rejoin: true,
        }
    }

    /// Removes members not heard from for the session timeout, and members that did not revoke
    /// within their rebalance timeout, as Kafka's timers do.
    pub(crate) fn expire(&mut self, now: Instant) {
        let before = self.members.len();
        let session = self.session_timeout;
        self.members
            .retain(|_, m| now < m.last_seen + session && m.revoke_deadline().is_none_or(|d| now < d));
        if self.members.len() != before {
            self.bump();
        }
    }

    /// When the next member's session expires.
    pub(crate) fn next_expiry(&self) -> Option<Instant> {
        self.members
            .values()
            .map(|m| m.last_seen + self.session_timeout)
            .min()
    }

    fn error(code: KafkaCode, message: Option<&str>) -> ConsumerGroupHeartbeatResponse {
        ConsumerGroupHeartbeatResponse::default()
            .with_error_code(code.0)
            .with_error_message(message.map(|m| m.to_owned().into()))
    }

    pub(crate) fn handle(
        &mut self,
        req: &ConsumerGroupHeartbeatRequest,
        now: Instant,
    ) -> ConsumerGroupHeartbeatResponse {
        self.expire(now);
        if let Some((code, message)) = self.inject.pop_front() {
            return Self::error(code, message);
        }
        let id = req.member_id.to_string();
        let owned: Option<BTreeSet<Tp>> = req.topic_partitions.as_ref().map(|tps| {
            tps.iter()
                .flat_map(|t| t.partitions.iter().map(move |p| (*t.topic_id.as_bytes(), *p)))
                .collect()
        });
        match req.member_epoch {
            -1 | -2 => {
                if self.members.remove(&id).is_some() {
                    self.bump();
                }
                return ConsumerGroupHeartbeatResponse::default()
                    .with_member_id(Some(req.member_id.clone()))
                    .with_member_epoch(req.member_epoch);
            }
            0 => {
                if self.members.get(&id).is_some_and(|m| m.epoch > 0) {
                    if self.fence_known_rejoin {
                        return Self::error(KafkaCode::FENCED_MEMBER_EPOCH, Some("member id already in use"));
                    }
                    self.members.remove(&id);
                }
                let Some(names) = &req.subscribed_topic_names else {
                    return Self::error(
                        KafkaCode::INVALID_REQUEST,
                        Some("SubscribedTopicNames must be set in first request"),
                    );
                };
                if req.rebalance_timeout_ms <= 0 {
                    return Self::error(
                        KafkaCode::INVALID_REQUEST,
                        Some("RebalanceTimeoutMs must be provided in first request"),
                    );
                }
                if let Some(instance) = &req.instance_id
                    && self
                        .members
                        .iter()
                        .any(|(other, m)| *other != id && m.instance_id.as_deref() == Some(instance.as_str()))
                {
                    return Self::error(KafkaCode::UNRELEASED_INSTANCE_ID, None);
                }
                self.members.insert(
                    id.clone(),
                    SimMember {
                        epoch: 0,
                        previous_epoch: -1,
                        instance_id: req.instance_id.as_ref().map(|s| s.to_string()),
                        subscription: names
                            .iter()
                            .map(|n| n.to_string())
                            .chain(self.matching(req.subscribed_topic_regex.as_deref()))
                            .collect(),
                        assignor: req.server_assignor.as_ref().map(|s| s.to_string()),
                        rebalance_timeout_ms: req.rebalance_timeout_ms,
                        assigned: BTreeSet::new(),
                        pending_revocation: BTreeSet::new(),
                        owned: owned.clone().unwrap_or_default(),
                        target: BTreeSet::new(),
                        revoking_since: None,
                        last_sent: None,
                        last_seen: now,
                    },
                );
                self.bump();
            }
            epoch => {
                let Some(m) = self.members.get(&id) else {
                    return Self::error(KafkaCode::UNKNOWN_MEMBER_ID, None);
                };
                let retry_of_previous =
                    epoch == m.previous_epoch && owned.as_ref().is_some_and(|o| o.is_subset(&m.assigned));
                if epoch != m.epoch && !retry_of_previous {
                    return Self::error(KafkaCode::FENCED_MEMBER_EPOCH, None);
                }
                let mut changed = false;
                let m = self.members.get_mut(&id).unwrap_or_else(|| unreachable!());
                if let Some(names) = &req.subscribed_topic_names {
                    let names: BTreeSet<String> = names.iter().map(|n| n.to_string()).collect();
                    changed = names != m.subscription;
                    m.subscription = names;
                }
                if let Some(o) = owned.clone() {
                    m.owned = o;
                }
                if changed {
                    self.bump();
                }
            }
        }
        let full = req.subscribed_topic_names.is_some();
        self.reconcile(&id, owned.is_some(), now);
        self.check_exclusive();
        let m = self.members.get_mut(&id).unwrap_or_else(|| unreachable!());
        let send_assignment = full || m.last_sent.as_ref() != Some(&m.assigned);
        let assignment = send_assignment.then(|| {
            m.last_sent = Some(m.assigned.clone());
            let mut by_topic: BTreeMap<TopicId, Vec<i32>> = BTreeMap::new();
            for (t, p) in &m.assigned {
                by_topic.entry(*t).or_default().push(*p);
            }
            Assignment::default().with_topic_partitions(
                by_topic
                    .into_iter()
                    .map(|(t, ps)| {
                        TopicPartitions::default()
                            .with_topic_id(uuid::Uuid::from_bytes(t))
                            .with_partitions(ps)
                    })
                    .collect(),
            )
        });
        ConsumerGroupHeartbeatResponse::default()
            .with_member_id(Some(req.member_id.clone()))
            .with_member_epoch(m.epoch)
            .with_heartbeat_interval_ms(self.heartbeat_interval_ms)
            .with_assignment(assignment)
    }

    /// The topics whose whole name `regex` matches.
    fn matching(&self, regex: Option<&str>) -> Vec<String> {
        let Some(re) = regex.and_then(|r| regex::Regex::new(&format!("^(?:{r})$")).ok()) else {
            return vec![];
        };
        self.topics
            .values()
            .filter(|(name, _)| re.is_match(name))
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// A membership or subscription change: a new group epoch and target assignment.
    fn bump(&mut self) {
        self.group_epoch += 1;
        self.assign_targets();
    }

    /// Sticky uniform assignment: each member keeps up to its fair share of what it had, the rest
    /// goes to the eligible member with the fewest.
    fn assign_targets(&mut self) {
        let ids: Vec<String> = self.members.keys().cloned().collect();
        let mut all: Vec<Tp> = vec![];
        for (tid, (name, n)) in &self.topics {
            if self.members.values().any(|m| m.subscription.contains(name)) {
                all.extend((0..*n).map(|p| (*tid, p)));
            }
        }
        let share = if ids.is_empty() {
            0
        } else {
            all.len().div_ceil(ids.len())
        };
        let eligible = |m: &SimMember, tp: &Tp, topics: &BTreeMap<TopicId, (String, i32)>| {
            topics
                .get(&tp.0)
                .is_some_and(|(name, _)| m.subscription.contains(name))
        };
        let mut taken: BTreeSet<Tp> = BTreeSet::new();
        let mut new_targets: BTreeMap<String, BTreeSet<Tp>> = BTreeMap::new();
        for id in &ids {
            let m = &self.members[id];
            let keep: BTreeSet<Tp> = m
                .target
                .iter()
                .filter(|tp| all.contains(tp) && eligible(m, tp, &self.topics) && !taken.contains(*tp))
                .take(share)
                .copied()
                .collect();
            taken.extend(keep.iter().copied());
            new_targets.insert(id.clone(), keep);
        }
        for tp in all.iter().filter(|tp| !taken.contains(*tp)) {
            let best = ids
                .iter()
                .filter(|id| eligible(&self.members[*id], tp, &self.topics))
                .min_by_key(|id| new_targets[*id].len());
            if let Some(id) = best
                && let Some(t) = new_targets.get_mut(id)
            {
                t.insert(*tp);
            }
        }
        for (id, target) in new_targets {
            if let Some(m) = self.members.get_mut(&id) {
                m.target = target;
            }
        }
    }

    /// Kafka's per-member reconciliation toward the current target. `reported`: the request
    /// carried the member's owned partitions (only then can revoked ones be released).
    fn reconcile(&mut self, id: &str, reported: bool, now: Instant) {
        let held_by_others: BTreeSet<Tp> = self
            .members
            .iter()
            .filter(|(other, _)| other.as_str() != id)
            .flat_map(|(_, m)| m.assigned.iter().chain(&m.pending_revocation).copied())
            .collect();
        let group_epoch = self.group_epoch;
        let Some(m) = self.members.get_mut(id) else { return };
        m.last_seen = now;
        if reported {
            let owned = m.owned.clone();
            m.pending_revocation.retain(|tp| owned.contains(tp));
        }
        if !m.pending_revocation.is_empty() {
            // Still revoking: nothing moves until that is done (Kafka's UNREVOKED_PARTITIONS).
            return;
        }
        m.revoking_since = None;
        // Everything assigned but no longer targeted is pending revocation until the member
        // reports it gone, even what it has not reported owning yet: the answer that gave it
        // may still be on its way (as Kafka's CurrentAssignmentBuilder does). The rebalance
        // timeout runs from here.
        let revoke: BTreeSet<Tp> = m.assigned.difference(&m.target).copied().collect();
        if !revoke.is_empty() {
            for tp in &revoke {
                m.assigned.remove(tp);
            }
            m.pending_revocation = revoke;
            m.revoking_since = Some(now);
            return;
        }
        // Revocations done: the member reaches the group epoch, and gets what is free of its
        // target (the rest when their old owners release them).
        if m.epoch != group_epoch {
            m.previous_epoch = m.epoch;
            m.epoch = group_epoch;
        }
        let add: Vec<Tp> = m
            .target
            .iter()
            .filter(|tp| !m.assigned.contains(*tp) && !held_by_others.contains(*tp))
            .copied()
            .collect();
        m.assigned.extend(add);
    }

    /// Why an OffsetCommit from `member_id` at `epoch` is refused, as Kafka's consumer groups
    /// decide: an unknown member, an epoch behind the member's (STALE_MEMBER_EPOCH, which the
    /// client retries at its new epoch) or ahead of it (FENCED_MEMBER_EPOCH). `None`: accepted.
    pub(crate) fn commit_error(&self, member_id: &str, epoch: i32) -> Option<KafkaCode> {
        let Some(m) = self.members.get(member_id) else {
            return Some(KafkaCode::UNKNOWN_MEMBER_ID);
        };
        match epoch.cmp(&m.epoch) {
            std::cmp::Ordering::Equal => None,
            std::cmp::Ordering::Less => Some(KafkaCode::STALE_MEMBER_EPOCH),
            std::cmp::Ordering::Greater => Some(KafkaCode::FENCED_MEMBER_EPOCH),
        }
    }

    /// What Kafka's coordinator answers an OffsetFetch that names a member (v9+): an unknown
    /// member is UNKNOWN_MEMBER_ID and any other epoch than its current one STALE_MEMBER_EPOCH
    /// (`ConsumerGroup.validateOffsetFetch`); one that names none is not checked.
    pub(crate) fn offset_fetch_error(&self, member: Option<&(String, i32)>) -> Option<KafkaCode> {
        let (member_id, epoch) = member?;
        let Some(m) = self.members.get(member_id.as_str()) else {
            return Some(KafkaCode::UNKNOWN_MEMBER_ID);
        };
        (*epoch != m.epoch).then_some(KafkaCode::STALE_MEMBER_EPOCH)
    }

    /// No partition is assigned to (or pending revocation from) two members.
    pub(crate) fn check_exclusive(&self) {
        let mut seen: BTreeMap<Tp, &str> = BTreeMap::new();
        for (id, m) in &self.members {
            for tp in m.assigned.iter().chain(&m.pending_revocation) {
                if let Some(other) = seen.insert(*tp, id) {
                    panic!("coordinator: {tp:?} held by {other} and {id}");
                }
            }
        }
    }
}
