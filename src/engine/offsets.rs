//! Offsets: committed offsets on assignment (OffsetFetch), the reset policy (ListOffsets), manual
//! commits and auto-commit (OffsetCommit).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::{
    ApiKey, BrokerId, GroupId, ListOffsetsRequest, OffsetCommitRequest, OffsetFetchRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::partitions::PositionState;
use super::{Driver, Input};
use crate::config::{ConsumerConfig, IsolationLevel, OffsetReset};
use crate::error::{Error, ErrorKind, Result};
use crate::handoff::{CommitRequest, Delivery};
use crate::net::BrokerPool;
use crate::types::NodeId;
use crate::types::TopicPartition;
use crate::wire::{KafkaCode, ListOffsetsResponse, OffsetCommitResponse, OffsetFetchResponse};

pub(crate) enum OffsetsResult {
    Committed {
        tps: Vec<TopicPartition>,
        result: Result<OffsetFetchResponse>,
    },
    Listed {
        tps: Vec<(TopicPartition, u64)>,
        result: Result<ListOffsetsResponse>,
    },
    Commit {
        offsets: Vec<(TopicPartition, i64, i32)>,
        reply: Option<oneshot::Sender<Result<()>>>,
        deadline: Instant,
        attempt: u32,
        result: Result<OffsetCommitResponse>,
    },
}

/// A commit that met a coordinator error (moved, not available, loading) and is sent again once
/// the coordinator is known, within the commit's deadline.
struct CommitRetry {
    offsets: Vec<(TopicPartition, i64, i32)>,
    reply: Option<oneshot::Sender<Result<()>>>,
    deadline: Instant,
    attempt: u32,
    at: Instant,
    error: Error,
}

struct Revoke {
    tps: Vec<TopicPartition>,
    deadline: Instant,
    committed: bool,
}

/// Commit bookkeeping.
pub(crate) struct OffsetsState {
    auto_commit: bool,
    interval: Duration,
    next_auto: Instant,
    commits_in_flight: usize,
    commit_wanted: bool,
    revoke: Option<Revoke>,
    offset_fetch_in_flight: bool,
    retry_at: Option<Instant>,
    commit_retries: Vec<CommitRetry>,
}

impl OffsetsState {
    pub(crate) fn new(config: &ConsumerConfig, now: Instant) -> Self {
        OffsetsState {
            auto_commit: config.enable_auto_commit && config.group_id.is_some(),
            interval: config.auto_commit_interval,
            next_auto: now + config.auto_commit_interval,
            commits_in_flight: 0,
            commit_wanted: false,
            revoke: None,
            offset_fetch_in_flight: false,
            retry_at: None,
            commit_retries: Vec::new(),
        }
    }
    pub(crate) fn next_auto_commit(&self) -> Option<Instant> {
        let retry = self.retry_at;
        let auto = self.auto_commit.then_some(self.next_auto);
        let commit_retry = self.commit_retries.iter().map(|r| r.at.min(r.deadline)).min();
        [retry, auto, commit_retry].into_iter().flatten().min()
    }

    pub(crate) fn commit_in_flight(&self) -> bool {
        self.commits_in_flight > 0 || !self.commit_retries.is_empty()
    }
    pub(crate) fn begin_revoke(&mut self, tps: Vec<TopicPartition>, deadline: Instant) {
        match &mut self.revoke {
            Some(r) => r.tps.extend(tps),
            None => {
                self.revoke = Some(Revoke {
                    tps,
                    deadline,
                    committed: false,
                })
            }
        }
    }
    pub(crate) fn revoke_wait(&self) -> Option<(Vec<TopicPartition>, Instant, bool)> {
        self.revoke
            .as_ref()
            .map(|r| (r.tps.clone(), r.deadline, r.committed))
    }
    pub(crate) fn mark_revoke_committed(&mut self) {
        if let Some(r) = &mut self.revoke {
            r.committed = true;
        }
    }
    pub(crate) fn end_revoke(&mut self) {
        self.revoke = None;
    }
    pub(crate) fn forget(&mut self, tps: &[TopicPartition]) {
        if let Some(r) = &mut self.revoke {
            r.tps.retain(|tp| !tps.contains(tp));
        }
    }
}

fn topic_name(topic: &str) -> TopicName {
    TopicName(StrBytes::from_string(topic.to_owned()))
}

/// Groups `(tp, value)` by topic, in order.
fn by_topic<T: Clone>(items: &[(TopicPartition, T)]) -> BTreeMap<Arc<str>, Vec<(i32, T)>> {
    let mut out: BTreeMap<Arc<str>, Vec<(i32, T)>> = BTreeMap::new();
    for (tp, v) in items {
        out.entry(tp.topic.clone())
            .or_default()
            .push((tp.partition, v.clone()));
    }
    out
}

/// A typed error for a commit that cannot be applied because the group is not stable.
fn not_stable() -> Error {
    Error::kafka(
        KafkaCode::REBALANCE_IN_PROGRESS,
        "the group is rebalancing, so the commit was not applied; the consumer rejoins and keeps consuming, and uncommitted records are delivered again to the partition's next owner",
    )
}

impl Driver {
    /// Looks up positions for partitions that need one.
    pub(crate) fn start_offset_lookups(&mut self, now: Instant) {
        if self.is_closing() {
            return;
        }
        // Committed offsets (group) for new partitions.
        let need: Vec<TopicPartition> = self
            .parts
            .iter()
            .filter(|(_, p)| p.state == PositionState::NeedOffset && !p.is_ended())
            .map(|(tp, _)| tp.clone())
            .collect();
        if !need.is_empty() {
            match (&self.group, self.config.group_id.clone()) {
                (Some(group), Some(group_id)) => {
                    if let Some(coordinator) = group.coordinator()
                        && !self.offsets.offset_fetch_in_flight
                    {
                        self.offsets.offset_fetch_in_flight = true;
                        for tp in &need {
                            if let Some(p) = self.parts.get_mut(tp) {
                                p.state = PositionState::LookingUp;
                            }
                        }
                        spawn_offset_fetch(
                            self.pool.clone(),
                            self.inputs_tx.clone(),
                            coordinator,
                            group_id,
                            need,
                        );
                    }
                }
                _ => {
                    let start = self.config.start_offset;
                    for tp in &need {
                        if let Some(p) = self.parts.get_mut(tp) {
                            match start {
                                // An out-of-range start falls back to the reset policy.
                                Some(offset) => {
                                    p.position = offset;
                                    p.state = PositionState::Ready;
                                }
                                None => p.state = PositionState::NeedReset,
                            }
                        }
                    }
                }
            }
        }
        // Resets by policy, per leader.
        let mut by_leader: BTreeMap<NodeId, Vec<(TopicPartition, u64)>> = BTreeMap::new();
        let mut leaderless = false;
        let policy = self.config.offset_reset;
        let mut failed = Vec::new();
        for (tp, part) in &mut self.parts {
            if part.state != PositionState::NeedReset || part.is_ended() {
                continue;
            }
            if policy == OffsetReset::None {
                failed.push(tp.clone());
                continue;
            }
            match part.leader {
                Some(leader) => {
                    part.state = PositionState::LookingUp;
                    by_leader
                        .entry(leader)
                        .or_default()
                        .push((tp.clone(), part.incarnation));
                }
                None => leaderless = true,
            }
        }
        for tp in failed {
            if let Some(part) = self.parts.get_mut(&tp) {
                part.state = PositionState::Failed;
                let position = if part.position >= 0 {
                    format!("offset {} is out of range", part.position)
                } else {
                    "there is no committed offset".to_owned()
                };
                part.deliver(Delivery::Error(Error::new(
                    ErrorKind::Config,
                    format!(
                        "{tp}: {position} and auto.offset.reset is none; commit an offset for it or choose earliest/latest"
                    ),
                )));
            }
        }
        if leaderless {
            self.request_metadata_refresh(now);
        }
        let isolation = match self.config.isolation_level {
            IsolationLevel::ReadCommitted => 1,
            IsolationLevel::ReadUncommitted => 0,
        };
        let timestamp = if policy == OffsetReset::Earliest { -2 } else { -1 };
        for (node, tps) in by_leader {
            tracing::info!(
                partitions = tps.len(),
                policy = if timestamp == -2 { "earliest" } else { "latest" },
                "resetting positions by auto.offset.reset"
            );
            let pool = self.pool.clone();
            let tx = self.inputs_tx.clone();
            let epochs: Vec<(TopicPartition, i32)> = tps
                .iter()
                .map(|(tp, _)| (tp.clone(), self.parts.get(tp).map_or(-1, |p| p.leader_epoch)))
                .collect();
            tokio::spawn(async move {
                let result = async {
                    let conn = pool.connection(node).await?;
                    let version = conn.api_versions().version_for(ApiKey::ListOffsets)?;
                    let topics = by_topic(&epochs)
                        .into_iter()
                        .map(|(topic, parts)| {
                            ListOffsetsTopic::default()
                                .with_name(topic_name(&topic))
                                .with_partitions(
                                    parts
                                        .into_iter()
                                        .map(|(p, epoch)| {
                                            ListOffsetsPartition::default()
                                                .with_partition_index(p)
                                                .with_current_leader_epoch(if version >= 4 {
                                                    epoch
                                                } else {
                                                    -1
                                                })
                                                .with_timestamp(timestamp)
                                        })
                                        .collect(),
                                )
                        })
                        .collect();
                    let request = ListOffsetsRequest::default()
                        .with_replica_id(BrokerId(-1))
                        .with_isolation_level(if version >= 2 { isolation } else { 0 })
                        .with_topics(topics);
                    conn.request_at::<_, ListOffsetsResponse>(&request, version).await
                }
                .await;
                let _ = tx.send(Input::Offsets(OffsetsResult::Listed { tps, result }));
            });
        }
    }

    pub(crate) fn handle_offsets(&mut self, result: OffsetsResult, now: Instant) {
        match result {
            OffsetsResult::Committed { tps, result } => {
                self.offsets.offset_fetch_in_flight = false;
                self.handle_committed(tps, result, now);
            }
            OffsetsResult::Listed { tps, result } => self.handle_listed(tps, result, now),
            OffsetsResult::Commit {
                offsets,
                reply,
                deadline,
                attempt,
                result,
            } => self.handle_commit(offsets, reply, (deadline, attempt), result, now),
        }
    }

    fn handle_committed(
        &mut self,
        tps: Vec<TopicPartition>,
        result: Result<OffsetFetchResponse>,
        now: Instant,
    ) {
        let retry = |this: &mut Driver, tps: &[TopicPartition]| {
            for tp in tps {
                if let Some(p) = this.parts.get_mut(tp)
                    && p.state == PositionState::LookingUp
                {
                    p.state = PositionState::NeedOffset;
                }
            }
            this.offsets.retry_at = Some(now + this.config.retry_backoff);
        };
        let response = match result {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(error = %e, "OffsetFetch failed; retrying");
                retry(self, &tps);
                return;
            }
        };
        let top = KafkaCode(response.error_code);
        if top.is_error() {
            tracing::debug!(code = %top, "OffsetFetch failed; retrying");
            if let Some(group) = &mut self.group {
                group.handle_commit_error(top, now);
            }
            retry(self, &tps);
            return;
        }
        let mut retry_tps = Vec::new();
        for topic in &response.topics {
            for p in &topic.partitions {
                let tp = TopicPartition::new(topic.name.as_str(), p.partition_index);
                let Some(part) = self.parts.get_mut(&tp) else {
                    continue;
                };
                if part.state != PositionState::LookingUp {
                    continue;
                }
                let code = KafkaCode(p.error_code);
                if code.is_error() {
                    retry_tps.push(tp);
                } else if p.committed_offset >= 0 {
                    tracing::debug!(partition = %tp, offset = p.committed_offset, "resuming from committed offset");
                    part.position = p.committed_offset;
                    part.committed = p.committed_offset;
                    part.state = PositionState::Ready;
                } else {
                    part.state = PositionState::NeedReset;
                }
            }
        }
        // Partitions the response left out.
        for tp in &tps {
            if let Some(p) = self.parts.get_mut(tp)
                && p.state == PositionState::LookingUp
            {
                retry_tps.push(tp.clone());
            }
        }
        if !retry_tps.is_empty() {
            retry(self, &retry_tps);
        }
    }

    fn handle_listed(
        &mut self,
        tps: Vec<(TopicPartition, u64)>,
        result: Result<ListOffsetsResponse>,
        now: Instant,
    ) {
        let back_to_reset = |this: &mut Driver, tps: &[(TopicPartition, u64)]| {
            for (tp, inc) in tps {
                if let Some(p) = this.parts.get_mut(tp)
                    && p.incarnation == *inc
                    && p.state == PositionState::LookingUp
                {
                    p.state = PositionState::NeedReset;
                }
            }
            this.offsets.retry_at = Some(now + this.config.retry_backoff);
            this.request_metadata_refresh(now);
        };
        let response = match result {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(error = %e, "ListOffsets failed; retrying");
                back_to_reset(self, &tps);
                return;
            }
        };
        for topic in &response.topics {
            for p in &topic.partitions {
                let tp = TopicPartition::new(topic.name.as_str(), p.partition_index);
                let Some(part) = self.parts.get_mut(&tp) else {
                    continue;
                };
                if part.state != PositionState::LookingUp
                    || !tps.iter().any(|(t, inc)| *t == tp && *inc == part.incarnation)
                {
                    continue;
                }
                if KafkaCode(p.error_code).is_error() || p.offset < 0 {
                    continue;
                }
                tracing::info!(partition = %tp, offset = p.offset, "position reset");
                part.position = p.offset;
                part.state = PositionState::Ready;
                self.incarnation += 1;
                part.incarnation = self.incarnation;
            }
        }
        let left: Vec<_> = tps
            .into_iter()
            .filter(|(tp, _)| {
                self.parts
                    .get(tp)
                    .is_some_and(|p| p.state == PositionState::LookingUp)
            })
            .collect();
        if !left.is_empty() {
            back_to_reset(self, &left);
        }
    }

    /// A commit the application asked for.
    pub(crate) fn manual_commit(&mut self, request: CommitRequest, now: Instant) {
        let CommitRequest { offsets, reply } = request;
        let offsets: Vec<(TopicPartition, i64, i32)> = offsets
            .into_iter()
            .map(|o| (o.tp, o.offset, o.leader_epoch))
            .collect();
        if self.group.is_none() {
            let _ = reply.send(Err(Error::new(
                ErrorKind::Config,
                "this consumer has no group.id, so there is nowhere to commit offsets",
            )));
            return;
        }
        for (tp, _, _) in &offsets {
            if self
                .parts
                .get(tp)
                .is_none_or(|p| p.is_ended() && self.offsets.revoke.is_none())
            {
                let _ = reply.send(Err(Error::kafka(
                    KafkaCode::ILLEGAL_GENERATION,
                    format!("{tp} is no longer assigned to this member; the commit was not applied"),
                )));
                return;
            }
        }
        // A committed record is processed: later auto-commits (interval, revoke, close) never go
        // below it, even while this commit is still in flight.
        for (tp, offset, _) in &offsets {
            if let Some(part) = self.parts.get(tp) {
                part.shared
                    .stored
                    .fetch_max(*offset, std::sync::atomic::Ordering::AcqRel);
            }
        }
        let deadline = now + self.config.net.request_timeout;
        self.spawn_commit(offsets, Some(reply), deadline, 0);
    }

    /// Sends again the commits that met a coordinator error, once their backoff has passed and
    /// the coordinator is known; fails those whose deadline passed. Offsets that a newer commit
    /// has overtaken, or of partitions no longer owned, are not sent again.
    pub(crate) fn retry_commits(&mut self, now: Instant) {
        if self.offsets.commit_retries.is_empty() {
            return;
        }
        // A rebalance started: the generation the commit was for is over; fail at once (a commit
        // never waits out a rebalance).
        let stable = self.group_generation().is_some();
        let ready = stable && self.group.as_ref().and_then(|g| g.coordinator()).is_some();
        let retries = std::mem::take(&mut self.offsets.commit_retries);
        for mut retry in retries {
            if now >= retry.deadline || !stable {
                if let Some(reply) = retry.reply {
                    let _ = reply.send(Err(retry.error));
                }
                continue;
            }
            if now < retry.at || !ready {
                self.offsets.commit_retries.push(retry);
                continue;
            }
            retry.offsets.retain(|(tp, offset, _)| {
                self.parts.get(tp).is_some_and(|p| {
                    p.committed < *offset && !(p.is_ended() && self.offsets.revoke.is_none())
                })
            });
            if retry.offsets.is_empty() {
                if let Some(reply) = retry.reply {
                    let _ = reply.send(Ok(()));
                }
                continue;
            }
            self.spawn_commit(retry.offsets, retry.reply, retry.deadline, retry.attempt + 1);
        }
    }

    /// Auto-commit on its interval, or now when asked (revoke, close).
    pub(crate) fn maybe_auto_commit(&mut self, now: Instant) {
        if let Some(retry) = self.offsets.retry_at
            && retry <= now
        {
            self.offsets.retry_at = None;
        }
        if !self.offsets.auto_commit {
            self.offsets.commit_wanted = false;
            return;
        }
        let due = now >= self.offsets.next_auto;
        if !due && !self.offsets.commit_wanted {
            return;
        }
        if self.group_generation().is_none() {
            // Not stable: commits would be refused. Try again once it is (or give up on close).
            if self.is_closing() {
                self.offsets.commit_wanted = false;
            }
            return;
        }
        self.offsets.next_auto = now + self.offsets.interval;
        self.offsets.commit_wanted = false;
        self.commit_processed(now);
    }

    /// Commits, now, what the application has processed on every owned partition (on close, what
    /// was handed to it). Returns whether a commit was sent.
    pub(crate) fn commit_processed(&mut self, now: Instant) -> bool {
        let closing = self.is_closing();
        let offsets: Vec<(TopicPartition, i64, i32)> = self
            .parts
            .iter()
            .filter_map(|(tp, p)| {
                let offset = if closing {
                    p.shared.committable_on_close()?
                } else {
                    p.shared.committable()?
                };
                (offset > p.committed).then(|| (tp.clone(), offset, p.leader_epoch))
            })
            .collect();
        if offsets.is_empty() {
            return false;
        }
        let deadline = now + self.config.net.request_timeout;
        self.spawn_commit(offsets, None, deadline, 0);
        true
    }

    fn spawn_commit(
        &mut self,
        offsets: Vec<(TopicPartition, i64, i32)>,
        reply: Option<oneshot::Sender<Result<()>>>,
        deadline: Instant,
        attempt: u32,
    ) {
        let (Some((generation_id, member_id)), Some(coordinator), Some(group_id)) = (
            self.group_generation(),
            self.group.as_ref().and_then(|g| g.coordinator()),
            self.config.group_id.clone(),
        ) else {
            if let Some(reply) = reply {
                let _ = reply.send(Err(not_stable()));
            }
            return;
        };
        let instance_id = self.config.group_instance_id.clone();
        let Some(pool) = self.group.as_ref().map(|g| g.pool().clone()) else {
            return;
        };
        let tx = self.inputs_tx.clone();
        // The group pool's connections wait as long as a JoinGroup may take (the rebalance
        // timeout); a commit gets the ordinary request timeout, and all its attempts together
        // no more than that.
        let timeout = deadline
            .saturating_duration_since(Instant::now())
            .min(self.config.net.request_timeout);
        self.offsets.commits_in_flight += 1;
        tokio::spawn(async move {
            let commit = async {
                let conn = pool.connection(coordinator).await?;
                let version = conn.api_versions().version_for(ApiKey::OffsetCommit)?;
                let pairs: Vec<(TopicPartition, (i64, i32))> =
                    offsets.iter().map(|(tp, o, e)| (tp.clone(), (*o, *e))).collect();
                let topics = by_topic(&pairs)
                    .into_iter()
                    .map(|(topic, parts)| {
                        OffsetCommitRequestTopic::default()
                            .with_name(topic_name(&topic))
                            .with_partitions(
                                parts
                                    .into_iter()
                                    .map(|(p, (offset, epoch))| {
                                        OffsetCommitRequestPartition::default()
                                            .with_partition_index(p)
                                            .with_committed_offset(offset)
                                            .with_committed_leader_epoch(if version >= 6 {
                                                epoch
                                            } else {
                                                -1
                                            })
                                    })
                                    .collect(),
                            )
                    })
                    .collect();
                let request = OffsetCommitRequest::default()
                    .with_group_id(GroupId(StrBytes::from_string(group_id)))
                    .with_generation_id_or_member_epoch(generation_id)
                    .with_member_id(StrBytes::from_string(member_id))
                    .with_group_instance_id(if version >= 7 {
                        instance_id.map(StrBytes::from_string)
                    } else {
                        None
                    })
                    .with_topics(topics);
                conn.request_at::<_, OffsetCommitResponse>(&request, version)
                    .await
            };
            let result = match tokio::time::timeout(timeout, commit).await {
                Ok(result) => result,
                Err(_) => Err(Error::new(
                    ErrorKind::Timeout,
                    format!(
                        "no answer to OffsetCommit within {timeout:?}; it may or may not have been applied"
                    ),
                )),
            };
            let _ = tx.send(Input::Offsets(OffsetsResult::Commit {
                offsets,
                reply,
                deadline,
                attempt,
                result,
            }));
        });
    }

    fn handle_commit(
        &mut self,
        offsets: Vec<(TopicPartition, i64, i32)>,
        reply: Option<oneshot::Sender<Result<()>>>,
        (deadline, attempt): (Instant, u32),
        result: Result<OffsetCommitResponse>,
        now: Instant,
    ) {
        self.offsets.commits_in_flight = self.offsets.commits_in_flight.saturating_sub(1);
        let outcome = match result {
            Err(e) => Err(e),
            Ok(response) => {
                let mut first_error = None;
                // Partitions refused only because the coordinator moved or is loading: sent again.
                let mut again = Vec::new();
                let mut failed = 0;
                for topic in &response.topics {
                    for p in &topic.partitions {
                        let tp = TopicPartition::new(topic.name.as_str(), p.partition_index);
                        let code = KafkaCode(p.error_code);
                        let sent = offsets.iter().find(|(t, _, _)| *t == tp);
                        if code.is_error() {
                            failed += 1;
                            if is_coordinator_error(code) {
                                again.extend(sent.cloned());
                            }
                            first_error.get_or_insert((tp, code));
                        } else if let Some((_, offset, _)) = sent
                            && let Some(part) = self.parts.get_mut(&tp)
                        {
                            part.committed = part.committed.max(*offset);
                        }
                    }
                }
                match first_error {
                    None => Ok(()),
                    Some((tp, code)) => {
                        if let Some(group) = &mut self.group {
                            group.handle_commit_error(code, now);
                        }
                        let error = Error::kafka(code, format!("committing {tp} failed"));
                        let retriable_only = again.len() == failed;
                        let backoff = self.config.retry_backoff.saturating_mul(1 << attempt.min(4));
                        if retriable_only && now + backoff < deadline {
                            tracing::debug!(error = %error, attempt, "commit meets a coordinator error; sending it again");
                            self.offsets.commit_retries.push(CommitRetry {
                                offsets: again,
                                reply,
                                deadline,
                                attempt,
                                at: now + backoff,
                                error,
                            });
                            return;
                        }
                        Err(error)
                    }
                }
            }
        };
        if let Err(e) = &outcome {
            tracing::warn!(error = %e, "commit failed");
        }
        if let Some(reply) = reply {
            let _ = reply.send(outcome);
        }
    }
}

/// The coordinator moved, is not available yet, or is loading the group's offsets: the commit
/// was not applied and is safe to send again once the coordinator is found.
fn is_coordinator_error(code: KafkaCode) -> bool {
    matches!(
        code,
        KafkaCode::NOT_COORDINATOR
            | KafkaCode::COORDINATOR_NOT_AVAILABLE
            | KafkaCode::COORDINATOR_LOAD_IN_PROGRESS
    )
}

fn spawn_offset_fetch(
    pool: BrokerPool,
    tx: tokio::sync::mpsc::UnboundedSender<Input>,
    coordinator: NodeId,
    group_id: String,
    tps: Vec<TopicPartition>,
) {
    tokio::spawn(async move {
        let result = async {
            let conn = pool.connection(coordinator).await?;
            let version = conn.api_versions().version_for(ApiKey::OffsetFetch)?;
            let pairs: Vec<(TopicPartition, ())> = tps.iter().map(|tp| (tp.clone(), ())).collect();
            let topics = by_topic(&pairs)
                .into_iter()
                .map(|(topic, parts)| {
                    OffsetFetchRequestTopic::default()
                        .with_name(topic_name(&topic))
                        .with_partition_indexes(parts.into_iter().map(|(p, _)| p).collect())
                })
                .collect();
            let request = OffsetFetchRequest::default()
                .with_group_id(GroupId(StrBytes::from_string(group_id)))
                .with_topics(Some(topics))
                .with_require_stable(version >= 7);
            conn.request_at::<_, OffsetFetchResponse>(&request, version).await
        }
        .await;
        let _ = tx.send(Input::Offsets(OffsetsResult::Committed { tps, result }));
    });
}
