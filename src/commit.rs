//! Committing offsets, sans IO: what is committed per partition, commits in flight, the
//! auto-commit schedule, retries within the request timeout, and the revoke wait.
//!
//! # Driving it
//! The engine calls, in any order:
//! - **inputs**: [`CommitCore::assign`], [`CommitCore::handle_committed_offset`] (the group's
//!   committed offset, found on assignment), [`CommitCore::remove`] (lost partitions),
//!   [`CommitCore::begin_revoke`], [`CommitCore::begin_close`], [`CommitCore::commit`] (a commit the
//!   application asked for, with the id its answer is to carry), [`CommitCore::handle_response`]
//!   (every request is answered exactly once, by its response or the error that took its place)
//!   and [`CommitCore::handle_timeout`];
//! - then **outputs**, each until it returns `None`: [`CommitCore::poll_request`] and
//!   [`CommitCore::poll_event`]; then it arms a timer for [`CommitCore::poll_timeout`].
//!
//! What the application has processed, and whether it has let go of a revoked partition's stream,
//! live on the application's side of the handoff: `poll_request` reads them through [`Progress`].
//! The group's state comes in as a [`CommitTarget`] (`None` while no generation is stable): the
//! classic generation or, in a consumer-protocol group (KIP-848), the member epoch.
//!
//! # Never backwards
//! A partition's committed offset only grows; an automatic commit (interval, revoke, close) is sent
//! only for offsets above it and above every commit in flight, and a retry only once no newer
//! commit is in flight or in doubt (one that may have been applied though its answer was lost):
//! a broker applies a connection's requests in order, but a retry goes out after them. A manual
//! commit's offset counts as processed on the application's side (the engine stores it), so an
//! automatic commit computed while it is in flight never sends less.

mod request;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

pub(crate) use request::OffsetCommitBody;

use crate::config::ConsumerConfig;
use crate::error::{Error, Result};
use crate::handoff::CommitOffset;
use crate::types::{NodeId, TopicPartition};
use crate::wire::{KafkaCode, OffsetCommitResponse};

/// What the commit core needs from the consumer's configuration.
#[derive(Debug, Clone)]
pub(crate) struct CommitConfig {
    pub(crate) group_id: String,
    pub(crate) group_instance_id: Option<String>,
    /// `enable.auto.commit` (with a group).
    pub(crate) auto_commit: bool,
    pub(crate) interval: Duration,
    /// A commit and all its retries get this long.
    pub(crate) request_timeout: Duration,
    pub(crate) retry_backoff: Duration,
}

impl CommitConfig {
    pub(crate) fn new(config: &ConsumerConfig) -> Self {
        CommitConfig {
            group_id: config.group_id.clone().unwrap_or_default(),
            group_instance_id: config.group_instance_id.clone(),
            auto_commit: config.enable_auto_commit && config.group_id.is_some(),
            interval: config.auto_commit_interval,
            request_timeout: config.net.request_timeout,
            retry_backoff: config.retry_backoff,
        }
    }
}

/// Where commits go while a generation is stable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CommitTarget {
    /// The generation (classic) or member epoch (consumer protocol).
    pub(crate) generation_id_or_member_epoch: i32,
    pub(crate) member_id: String,
    /// The coordinator, once known.
    pub(crate) coordinator: Option<NodeId>,
}

/// The application's side, as the commit core reads it.
pub(crate) trait Progress {
    /// What may be committed for `tp`: what the application processed (moved past or stored), or
    /// on close everything it was handed; `None` if nothing yet.
    fn committable(&self, tp: &TopicPartition, closing: bool) -> Option<CommitOffset>;
    /// Whether the application has let go of `tp`'s stream (or never had it).
    fn is_released(&mut self, tp: &TopicPartition) -> bool;
}

/// An OffsetCommit to send to `node`, with the id to answer it with and its deadline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OutgoingCommit {
    pub(crate) id: u64,
    pub(crate) node: NodeId,
    pub(crate) timeout: Duration,
    pub(crate) body: OffsetCommitBody,
}

/// What the commit core tells the engine.
#[derive(Debug)]
pub(crate) enum CommitEvent {
    /// The answer to the application's commit `reply`.
    Replied { reply: u64, result: Result<()> },
    /// A commit met a group error (for the membership: rejoin, rediscover, fatal...).
    GroupError(KafkaCode),
    /// A revoke is complete (streams released and their commits done, or the deadline passed):
    /// the partitions can go and the rebalance can carry on.
    Revoked(Vec<TopicPartition>),
    /// A revoke outlived its generation (the membership was reset or started over while the
    /// application still held the streams): nothing was committed for them, they are lost, and
    /// the membership no longer waits for this revoke.
    Abandoned(Vec<TopicPartition>),
}

#[derive(Debug)]
struct InFlight {
    offsets: Vec<CommitOffset>,
    reply: Option<u64>,
    deadline: Instant,
    attempt: u32,
    sent_at: Instant,
}

/// What the commit core counts, for metrics.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CommitStats {
    /// Requests answered with every partition committed.
    pub(crate) ok: u64,
    /// Requests that failed (an error code, a transport error, no answer).
    pub(crate) failed: u64,
    /// How long the last answered request took.
    pub(crate) last_latency: Option<Duration>,
}

/// A commit that met a coordinator error (moved, not available, loading) and is sent again once
/// the coordinator is known, within the commit's deadline.
#[derive(Debug)]
struct Retry {
    offsets: Vec<CommitOffset>,
    reply: Option<u64>,
    deadline: Instant,
    attempt: u32,
    at: Instant,
    error: Error,
}

#[derive(Debug)]
struct Revoke {
    tps: Vec<TopicPartition>,
    deadline: Instant,
    /// The revoke's commit has been sent (or was not needed).
    committed: bool,
    /// The generation (or member epoch) and member the revoked partitions belong to: commits for
    /// them are sent only while that is still the group's view of this member.
    owner: Option<(i32, String)>,
}

fn identity(target: Option<&CommitTarget>) -> Option<(i32, String)> {
    target.map(|t| (t.generation_id_or_member_epoch, t.member_id.clone()))
}

/// Commits, sans IO. See the module docs for how to drive it.
#[derive(Debug)]
pub(crate) struct CommitCore {
    config: CommitConfig,
    now: Instant,
    next_auto: Instant,
    /// The acknowledged committed offset of each owned partition (-1 if none).
    committed: BTreeMap<TopicPartition, i64>,
    /// The highest offset of a commit whose fate is unknown (timed out, connection lost): it may
    /// have been applied.
    in_doubt: BTreeMap<TopicPartition, i64>,
    in_flight: HashMap<u64, InFlight>,
    retries: Vec<Retry>,
    revoke: Option<Revoke>,
    closing: bool,
    next_id: u64,
    requests: VecDeque<OutgoingCommit>,
    events: VecDeque<CommitEvent>,
    stats: CommitStats,
}

/// A typed error for a commit that cannot be applied because the group is not stable.
fn not_stable() -> Error {
    Error::kafka(
        KafkaCode::REBALANCE_IN_PROGRESS,
        "the group is rebalancing, so the commit was not applied; the consumer rejoins and keeps consuming, and uncommitted records are delivered again to the partition's next owner",
    )
}

/// The coordinator moved, is not available yet, or is loading the group's offsets, or (consumer
/// protocol, KIP-848) the commit named a member epoch the member has since moved past: the commit
/// was not applied and is safe to send again, with the current epoch, once the coordinator is
/// found.
fn is_retriable(code: KafkaCode) -> bool {
    matches!(
        code,
        KafkaCode::NOT_COORDINATOR
            | KafkaCode::COORDINATOR_NOT_AVAILABLE
            | KafkaCode::COORDINATOR_LOAD_IN_PROGRESS
            | KafkaCode::STALE_MEMBER_EPOCH
    )
}

impl CommitCore {
    pub(crate) fn new(config: CommitConfig, now: Instant) -> Self {
        CommitCore {
            next_auto: now + config.interval,
            config,
            now,
            committed: BTreeMap::new(),
            in_doubt: BTreeMap::new(),
            in_flight: HashMap::new(),
            retries: Vec::new(),
            revoke: None,
            closing: false,
            next_id: 1,
            requests: VecDeque::new(),
            events: VecDeque::new(),
            stats: CommitStats::default(),
        }
    }

    /// What it has counted (for metrics).
    pub(crate) fn stats(&self) -> CommitStats {
        self.stats
    }

    // ----- getters -----

    /// Whether commits are in flight or waiting to be sent again.
    pub(crate) fn is_busy(&self) -> bool {
        !self.in_flight.is_empty() || !self.retries.is_empty()
    }

    /// The acknowledged committed offset of `tp`, if owned.
    #[allow(dead_code)] // diagnostics and tests
    pub(crate) fn committed(&self, tp: &TopicPartition) -> Option<i64> {
        self.committed.get(tp).copied()
    }

    /// Whether every partition of `offsets` is owned now (or being revoked in the generation that
    /// is still `target`'s), so that it may be committed; the error the application gets
    /// otherwise.
    pub(crate) fn check_owned(&self, offsets: &[CommitOffset], target: Option<&CommitTarget>) -> Result<()> {
        let stale = |tp: &TopicPartition| {
            self.revoke
                .as_ref()
                .is_some_and(|r| r.tps.contains(tp) && r.owner.is_some() && r.owner != identity(target))
        };
        match offsets
            .iter()
            .find(|o| !self.committed.contains_key(&o.tp) || stale(&o.tp))
        {
            None => Ok(()),
            Some(o) => Err(Error::kafka(
                KafkaCode::ILLEGAL_GENERATION,
                format!(
                    "{} is no longer assigned to this member; the commit was not applied",
                    o.tp
                ),
            )),
        }
    }

    // ----- inputs -----

    /// `tp` is now owned (nothing known committed yet). A revoke still waiting for the stream of
    /// an earlier ownership of `tp` no longer waits for it, and does not end the new one.
    pub(crate) fn assign(&mut self, tp: TopicPartition) {
        if let Some(r) = &mut self.revoke {
            r.tps.retain(|t| *t != tp);
        }
        self.committed.entry(tp).or_insert(-1);
    }

    /// The group's committed offset of `tp`, found when it was assigned.
    pub(crate) fn handle_committed_offset(&mut self, tp: &TopicPartition, offset: i64) {
        if let Some(c) = self.committed.get_mut(tp) {
            *c = (*c).max(offset);
        }
    }

    /// The application moved `tp`'s position (a seek): as Kafka's consumer does, what it processes
    /// from the new position is committed even below the offset committed before (a seek back
    /// means "read these again"). Commits of the old position still in flight no longer count
    /// for `tp`, and none is sent again: a retry could land after a newer commit and move the
    /// committed offset.
    pub(crate) fn handle_seek(&mut self, tp: &TopicPartition) {
        if let Some(c) = self.committed.get_mut(tp) {
            *c = -1;
        }
        self.in_doubt.remove(tp);
        for sent in self.in_flight.values_mut() {
            sent.offsets.retain(|o| o.tp != *tp);
        }
        for retry in std::mem::take(&mut self.retries) {
            let before = retry.offsets.len();
            let mut retry = retry;
            retry.offsets.retain(|o| o.tp != *tp);
            if retry.offsets.is_empty() && before > 0 {
                let error = Error::new(
                    crate::error::ErrorKind::Kafka,
                    format!("the commit of {tp} was not applied, and a seek superseded it"),
                );
                self.reply(retry.reply, Err(error));
            } else {
                self.retries.push(retry);
            }
        }
    }

    /// `tps` are gone without a clean revoke (lost): nothing more is committed for them.
    pub(crate) fn remove(&mut self, tps: &[TopicPartition]) {
        for tp in tps {
            self.committed.remove(tp);
            self.in_doubt.remove(tp);
        }
        if let Some(r) = &mut self.revoke {
            r.tps.retain(|tp| !tps.contains(tp));
        }
    }

    /// Starts a clean revoke of `tps`, which belong to `target`'s generation: once the application
    /// has let go of their streams (or at `deadline`), what it processed is committed (with
    /// auto-commit), then `Revoked` follows.
    pub(crate) fn begin_revoke(
        &mut self,
        tps: Vec<TopicPartition>,
        deadline: Instant,
        target: Option<&CommitTarget>,
        now: Instant,
    ) {
        self.now = now;
        let owner = identity(target);
        if let Some(r) = &mut self.revoke {
            if r.owner == owner {
                r.tps.extend(tps);
                return;
            }
            // A revoke of another generation is still waiting: that one is over.
            self.abandon_revoke();
        }
        self.revoke = Some(Revoke {
            tps,
            deadline,
            committed: false,
            owner,
        });
    }

    fn abandon_revoke(&mut self) {
        if let Some(r) = self.revoke.take() {
            for tp in &r.tps {
                self.committed.remove(tp);
                self.in_doubt.remove(tp);
            }
            self.events.push_back(CommitEvent::Abandoned(r.tps));
        }
    }

    /// The consumer is closing: commits from now on cover everything handed to the application.
    pub(crate) fn begin_close(&mut self, now: Instant) {
        self.now = now;
        self.closing = true;
    }

    /// A commit the application asked for; its answer comes as `Replied { reply }`.
    pub(crate) fn commit(
        &mut self,
        reply: u64,
        offsets: Vec<CommitOffset>,
        target: Option<&CommitTarget>,
        now: Instant,
    ) {
        self.now = now;
        if let Err(error) = self.check_owned(&offsets, target) {
            self.reply(Some(reply), Err(error));
            return;
        }
        let deadline = now + self.config.request_timeout;
        self.send(offsets, Some(reply), deadline, 0, target);
    }

    /// The answer to commit `id`.
    pub(crate) fn handle_response(&mut self, id: u64, result: Result<OffsetCommitResponse>, now: Instant) {
        self.now = now;
        let Some(sent) = self.in_flight.remove(&id) else {
            return;
        };
        self.stats.last_latency = Some(now.saturating_duration_since(sent.sent_at));
        let all_committed = result.as_ref().is_ok_and(|r| {
            r.topics
                .iter()
                .flat_map(|t| t.partitions.iter())
                .all(|p| p.error_code == 0)
        });
        if all_committed {
            self.stats.ok += 1;
        } else {
            self.stats.failed += 1;
        }
        let response = match result {
            Ok(r) => r,
            Err(e) => {
                // No answer: it may or may not have been applied.
                for o in &sent.offsets {
                    let d = self.in_doubt.entry(o.tp.clone()).or_insert(o.offset);
                    *d = (*d).max(o.offset);
                }
                tracing::warn!(error = %e, "commit failed");
                return self.reply(sent.reply, Err(e));
            }
        };
        let mut first_error = None;
        // Partitions refused only because the coordinator moved or is loading: sent again.
        let mut again = Vec::new();
        let mut failed = 0;
        for topic in &response.topics {
            for p in &topic.partitions {
                let tp = TopicPartition::new(topic.name.as_str(), p.partition_index);
                let code = KafkaCode(p.error_code);
                let offset = sent.offsets.iter().find(|o| o.tp == tp);
                if code.is_error() {
                    failed += 1;
                    if is_retriable(code) {
                        again.extend(offset.cloned());
                    }
                    first_error.get_or_insert((tp, code));
                } else if let Some(o) = offset
                    && let Some(c) = self.committed.get_mut(&tp)
                {
                    *c = (*c).max(o.offset);
                }
            }
        }
        let Some((tp, code)) = first_error else {
            return self.reply(sent.reply, Ok(()));
        };
        self.events.push_back(CommitEvent::GroupError(code));
        let error = Error::kafka(code, format!("committing {tp} failed"));
        let retriable_only = again.len() == failed;
        let backoff = self.config.retry_backoff.saturating_mul(1 << sent.attempt.min(4));
        if retriable_only && now + backoff < sent.deadline {
            tracing::debug!(error = %error, attempt = sent.attempt, "commit meets a retriable error; sending it again");
            self.retries.push(Retry {
                offsets: again,
                reply: sent.reply,
                deadline: sent.deadline,
                attempt: sent.attempt,
                at: now + backoff,
                error,
            });
            return;
        }
        tracing::warn!(error = %error, "commit failed");
        self.reply(sent.reply, Err(error));
    }

    /// Time passes.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
    }

    // ----- outputs -----

    /// The next commit to send: the revoke's, auto-commit's, retries and the application's.
    pub(crate) fn poll_request(
        &mut self,
        target: Option<&CommitTarget>,
        progress: &mut impl Progress,
    ) -> Option<OutgoingCommit> {
        if self.requests.is_empty() {
            self.check_revoke(target, progress);
            self.auto_commit(target, progress);
            self.send_retries(target);
        }
        self.requests.pop_front()
    }

    /// The next event.
    pub(crate) fn poll_event(&mut self) -> Option<CommitEvent> {
        self.events.pop_front()
    }

    /// When to poll again without an input: auto-commit, retries, the revoke deadline.
    ///
    /// A time already passed was acted on by the last poll, or cannot be acted on until an input
    /// changes something (an auto-commit or a retry waiting for a stable group or a known
    /// coordinator): it is no reason to wake, or the engine would spin until then.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        let auto = self.config.auto_commit.then_some(self.next_auto);
        let retries = self.retries.iter().flat_map(|r| [r.at, r.deadline]);
        let revoke = self.revoke.as_ref().map(|r| r.deadline);
        auto.into_iter()
            .chain(retries)
            .chain(revoke)
            .filter(|t| *t > self.now)
            .min()
    }

    // ----- internals -----

    fn reply(&mut self, reply: Option<u64>, result: Result<()>) {
        if let Some(reply) = reply {
            self.events.push_back(CommitEvent::Replied { reply, result });
        }
    }

    fn send(
        &mut self,
        offsets: Vec<CommitOffset>,
        reply: Option<u64>,
        deadline: Instant,
        attempt: u32,
        target: Option<&CommitTarget>,
    ) {
        let Some((target, node)) = target.and_then(|t| Some((t, t.coordinator?))) else {
            return self.reply(reply, Err(not_stable()));
        };
        // All attempts of a commit together get no more than the request timeout.
        let timeout = deadline
            .saturating_duration_since(self.now)
            .min(self.config.request_timeout);
        let id = self.next_id;
        self.next_id += 1;
        let body = OffsetCommitBody {
            group_id: self.config.group_id.clone(),
            generation_id_or_member_epoch: target.generation_id_or_member_epoch,
            member_id: target.member_id.clone(),
            group_instance_id: self.config.group_instance_id.clone(),
            offsets: offsets.clone(),
        };
        self.in_flight.insert(
            id,
            InFlight {
                offsets,
                reply,
                deadline,
                attempt,
                sent_at: self.now,
            },
        );
        self.requests.push_back(OutgoingCommit {
            id,
            node,
            timeout,
            body,
        });
    }

    /// The highest offset of `tp` in a commit in flight (-1 if none).
    fn in_flight_max(&self, tp: &TopicPartition) -> i64 {
        self.in_flight
            .values()
            .flat_map(|c| c.offsets.iter())
            .filter(|o| o.tp == *tp)
            .map(|o| o.offset)
            .max()
            .unwrap_or(-1)
    }

    /// Whether an automatic commit or a retry of `o` may go out now: above what is acknowledged
    /// (`committed`) and every commit of the partition in flight, and not below one whose answer
    /// was lost (it may have been applied). Manual commits go out as asked.
    fn may_send(&self, o: &CommitOffset, committed: i64) -> bool {
        let in_doubt = self.in_doubt.get(&o.tp).copied().unwrap_or(-1);
        o.offset > committed.max(self.in_flight_max(&o.tp)) && o.offset >= in_doubt
    }

    /// Commits, now, what the application has processed on every owned partition (on close, what
    /// was handed to it). Returns whether a commit was sent.
    fn commit_processed(&mut self, target: Option<&CommitTarget>, progress: &impl Progress) -> bool {
        let closing = self.closing;
        let offsets: Vec<CommitOffset> = self
            .committed
            .iter()
            .filter_map(|(tp, committed)| {
                let o = progress.committable(tp, closing)?;
                self.may_send(&o, *committed).then_some(o)
            })
            .collect();
        if offsets.is_empty() {
            return false;
        }
        let deadline = self.now + self.config.request_timeout;
        self.send(offsets, None, deadline, 0, target);
        true
    }

    /// Auto-commit on its interval.
    fn auto_commit(&mut self, target: Option<&CommitTarget>, progress: &impl Progress) {
        if !self.config.auto_commit || self.now < self.next_auto {
            return;
        }
        if target.is_none() {
            // Not stable: commits would be refused. Try again once it is.
            return;
        }
        self.next_auto = self.now + self.config.interval;
        self.commit_processed(target, progress);
    }

    /// Finishes a revoke once every revoked stream is released and commits landed, or the
    /// deadline passed.
    fn check_revoke(&mut self, target: Option<&CommitTarget>, progress: &mut impl Progress) {
        let now = self.now;
        let Some(revoke) = &self.revoke else {
            return;
        };
        if revoke.owner.is_some() && revoke.owner != identity(target) {
            // The generation is over (the membership was reset, or started over under a new member
            // id or generation) while the application held the revoked streams: the partitions are
            // no longer this member's, and committing them now (under another generation, if any)
            // could move back the offsets of their new owner.
            return self.abandon_revoke();
        }
        let deadline = revoke.deadline;
        let released = revoke.tps.iter().all(|tp| progress.is_released(tp));
        if !released && now < deadline {
            return;
        }
        if !revoke.committed && now < deadline {
            if let Some(r) = &mut self.revoke {
                r.committed = true;
            }
            // Streams are gone: commit what they processed, then finish.
            if self.config.auto_commit && target.is_some() && self.commit_processed(target, progress) {
                return;
            }
        }
        if self.is_busy() && now < deadline {
            return;
        }
        let Some(revoke) = self.revoke.take() else {
            return;
        };
        for tp in &revoke.tps {
            self.committed.remove(tp);
            self.in_doubt.remove(tp);
        }
        self.events.push_back(CommitEvent::Revoked(revoke.tps));
    }

    /// Sends again the commits that met a coordinator error, once their backoff has passed and
    /// the coordinator is known; fails those whose deadline passed. Offsets that a newer commit
    /// has overtaken, or of partitions no longer owned, are not sent again.
    fn send_retries(&mut self, target: Option<&CommitTarget>) {
        if self.retries.is_empty() {
            return;
        }
        let now = self.now;
        // A rebalance started: the generation the commit was for is over; fail at once (a commit
        // never waits out a rebalance).
        let stable = target.is_some();
        let ready = target.is_some_and(|t| t.coordinator.is_some());
        for mut retry in std::mem::take(&mut self.retries) {
            if now >= retry.deadline || !stable {
                self.reply(retry.reply, Err(retry.error));
                continue;
            }
            if now < retry.at || !ready {
                self.retries.push(retry);
                continue;
            }
            // Done where an acknowledged commit reached it (or the partition is gone).
            retry
                .offsets
                .retain(|o| self.committed.get(&o.tp).is_some_and(|c| *c < o.offset));
            if retry.offsets.is_empty() {
                self.reply(retry.reply, Ok(()));
                continue;
            }
            // Sent now it could land after a newer commit still in flight (or one whose fate is
            // unknown) and move the offset back: wait for that one's answer first.
            if retry.offsets.iter().any(|o| !self.may_send(o, -1)) {
                self.retries.push(retry);
                continue;
            }
            self.send(
                retry.offsets,
                retry.reply,
                retry.deadline,
                retry.attempt + 1,
                target,
            );
        }
    }
}

#[cfg(test)]
mod tests;
