//! Positions: committed offsets (OffsetFetch), start offsets, resets by policy (ListOffsets).

use super::{FetchCore, FetchEvent, FetchRequest, Gate, OffsetFetchBody, PositionState};
use super::{ListOffsetsBody, classify::FetchAction};
use crate::config::OffsetReset;
use crate::error::{Error, ErrorKind, Result};
use crate::types::{NodeId, TopicPartition};
use crate::wire::{KafkaCode, ListOffsetsResponse, OffsetFetchResponse};

impl FetchCore {
    /// Starts the lookups that are due: committed offsets for new partitions (one OffsetFetch at a
    /// time, to the coordinator), and resets by policy (one ListOffsets per leader).
    pub(super) fn plan_lookups(
        &mut self,
        coordinator: Option<NodeId>,
        gate: &impl Fn(&TopicPartition) -> Gate,
    ) {
        let now = self.now;
        let need: Vec<TopicPartition> = self
            .partitions
            .iter()
            .filter(|(tp, p)| p.state == PositionState::NeedOffset && gate(tp) != Gate::Ended)
            .map(|(tp, _)| tp.clone())
            .collect();
        if !need.is_empty() {
            match self.config.group_id.clone() {
                Some(group_id) => {
                    let due = self.offset_fetch_retry_at.is_none_or(|t| now >= t);
                    if let Some(node) = coordinator
                        && self.offset_fetch.is_none()
                        && due
                    {
                        let id = self.next_request_id();
                        self.offset_fetch = Some(id);
                        for tp in &need {
                            if let Some(p) = self.partitions.get_mut(tp) {
                                p.state = PositionState::Committed(id);
                            }
                        }
                        self.requests.push_back(FetchRequest::OffsetFetch {
                            id,
                            node,
                            body: OffsetFetchBody {
                                group_id,
                                partitions: need,
                                member: None,
                            },
                        });
                    }
                }
                None => {
                    for tp in &need {
                        match self.config.start_at {
                            // An out-of-range start falls back to the reset policy.
                            Some(start) => {
                                self.seek_to(tp, start, now);
                            }
                            None => {
                                if let Some(p) = self.partitions.get_mut(tp) {
                                    p.state = PositionState::NeedReset;
                                }
                            }
                        }
                    }
                }
            }
        }
        self.plan_resets(gate);
    }

    fn plan_resets(&mut self, gate: &impl Fn(&TopicPartition) -> Gate) {
        if self.reset_retry_at.is_some_and(|t| self.now < t) {
            return;
        }
        let policy = self.config.offset_reset;
        let mut by_leader: std::collections::BTreeMap<NodeId, Vec<(TopicPartition, i64)>> =
            Default::default();
        let mut leaderless = false;
        let mut failed = Vec::new();
        let policy_timestamp = if policy == OffsetReset::Earliest { -2 } else { -1 };
        for (tp, part) in &self.partitions {
            // The state first: it is a field, the gate a lookup in the engine's map, and this
            // runs at every poll over every partition.
            let timestamp = match part.state {
                PositionState::NeedReset if policy == OffsetReset::None => None,
                PositionState::NeedReset => Some(policy_timestamp),
                PositionState::NeedLookup(timestamp) => Some(timestamp),
                PositionState::NeedTail(_) => Some(-1),
                _ => continue,
            };
            if gate(tp) == Gate::Ended {
                continue;
            }
            let Some(timestamp) = timestamp else {
                failed.push(tp.clone());
                continue;
            };
            match part.leader {
                Some(leader) => by_leader.entry(leader).or_default().push((tp.clone(), timestamp)),
                None => leaderless = true,
            }
        }
        for tp in failed {
            if let Some(part) = self.partitions.get_mut(&tp) {
                part.state = PositionState::Failed;
                let position = if part.position >= 0 {
                    format!("offset {} is out of range", part.position)
                } else {
                    "there is no committed offset".to_owned()
                };
                let error = Error::new(
                    ErrorKind::Config,
                    format!(
                        "{tp}: {position} and auto.offset.reset is none; commit an offset for it or choose earliest/latest"
                    ),
                );
                self.events.push_back(FetchEvent::Failed { tp, error });
            }
        }
        if leaderless {
            self.events.push_back(FetchEvent::RefreshMetadata);
        }
        for (node, tps) in by_leader {
            let resets = tps
                .iter()
                .filter(|(tp, _)| {
                    self.partitions
                        .get(tp)
                        .is_some_and(|p| p.state == PositionState::NeedReset)
                })
                .count();
            if resets > 0 {
                tracing::info!(
                    partitions = resets,
                    policy = if policy_timestamp == -2 {
                        "earliest"
                    } else {
                        "latest"
                    },
                    "resetting positions by auto.offset.reset"
                );
            }
            let id = self.next_request_id();
            let mut partitions = Vec::with_capacity(tps.len());
            let mut waiting = Vec::with_capacity(tps.len());
            for (tp, timestamp) in tps {
                if let Some(p) = self.partitions.get_mut(&tp) {
                    waiting.push((tp.clone(), p.state));
                    p.state = PositionState::Resetting(id);
                    partitions.push((tp, p.leader_epoch, timestamp));
                }
            }
            self.resets.insert(id, waiting);
            self.requests.push_back(FetchRequest::ListOffsets {
                id,
                node,
                body: ListOffsetsBody {
                    isolation_level: self.config.isolation(),
                    partitions,
                },
            });
        }
    }

    /// The answer to OffsetFetch `id`.
    pub(crate) fn handle_offset_fetch(
        &mut self,
        id: u64,
        result: Result<OffsetFetchResponse>,
        now: std::time::Instant,
    ) {
        self.now = now;
        if self.offset_fetch != Some(id) {
            return;
        }
        self.offset_fetch = None;
        let state = PositionState::Committed(id);
        let response = match result {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(error = %e, "OffsetFetch failed; retrying");
                return self.retry_offset_fetch(state);
            }
        };
        let top = KafkaCode(response.error_code);
        if top.is_error() {
            tracing::debug!(code = %top, "OffsetFetch failed; retrying");
            self.events.push_back(FetchEvent::GroupError(top));
            return self.retry_offset_fetch(state);
        }
        let mut retry = false;
        for topic in &response.topics {
            for p in &topic.partitions {
                let tp = TopicPartition::new(topic.name.as_str(), p.partition_index);
                let Some(part) = self.partitions.get(&tp) else {
                    continue;
                };
                if part.state != state {
                    continue;
                }
                if KafkaCode(p.error_code).is_error() {
                    retry = true;
                } else if p.committed_offset >= 0 {
                    tracing::debug!(partition = %tp, offset = p.committed_offset, "resuming from committed offset");
                    // A commit that names the leader epoch of the record before it is checked
                    // against the leader's log before fetching (KIP-320): a log truncated below
                    // it since the commit is caught here.
                    let state = if p.committed_leader_epoch >= 0 {
                        PositionState::NeedValidation
                    } else {
                        PositionState::Ready
                    };
                    self.seek_in_epoch(&tp, p.committed_offset, p.committed_leader_epoch, state, now);
                    self.events.push_back(FetchEvent::Committed {
                        tp,
                        offset: p.committed_offset,
                    });
                } else if let Some(part) = self.partitions.get_mut(&tp) {
                    part.state = PositionState::NeedReset;
                }
            }
        }
        // Partitions answered with an error, or left out of the answer.
        if retry || self.partitions.values().any(|p| p.state == state) {
            self.retry_offset_fetch(state);
        }
    }

    fn retry_offset_fetch(&mut self, state: PositionState) {
        for p in self.partitions.values_mut() {
            if p.state == state {
                p.state = PositionState::NeedOffset;
            }
        }
        self.offset_fetch_retry_at = Some(self.now + self.config.retry_backoff);
    }

    /// The answer to ListOffsets `id`.
    pub(crate) fn handle_list_offsets(
        &mut self,
        id: u64,
        result: Result<ListOffsetsResponse>,
        now: std::time::Instant,
    ) {
        self.now = now;
        let Some(tps) = self.resets.remove(&id) else {
            return;
        };
        let state = PositionState::Resetting(id);
        let mut left_lookup = false;
        match result {
            Ok(response) => {
                for topic in &response.topics {
                    for p in &topic.partitions {
                        let tp = TopicPartition::new(topic.name.as_str(), p.partition_index);
                        let resetting = self.partitions.get(&tp).is_some_and(|part| part.state == state);
                        if !resetting || classify(KafkaCode(p.error_code)) != FetchAction::None {
                            continue;
                        }
                        if p.offset < 0 {
                            // No record at or after a sought timestamp: the position is the end.
                            let sought_time = tps.iter().any(|(t, back)| {
                                *t == tp && matches!(back, PositionState::NeedLookup(ts) if *ts >= 0)
                            });
                            if sought_time && let Some(part) = self.partitions.get_mut(&tp) {
                                part.state = PositionState::NeedLookup(-1);
                                left_lookup = true;
                            }
                            continue;
                        }
                        let back = tps.iter().find(|(t, _)| *t == tp).map(|(_, back)| *back);
                        let offset = match back {
                            Some(PositionState::NeedTail(n)) => p.offset.saturating_sub(n).max(0),
                            _ => p.offset,
                        };
                        tracing::info!(partition = %tp, offset, "position reset");
                        // ListOffsets v4+ names the epoch of the offset it found (not of one
                        // counted back from the end).
                        let epoch = if offset == p.offset { p.leader_epoch } else { -1 };
                        self.seek_in_epoch(&tp, offset, epoch, PositionState::Ready, now);
                    }
                }
            }
            Err(e) => tracing::debug!(error = %e, "ListOffsets failed; retrying"),
        }
        let mut left = false;
        for (tp, back) in &tps {
            if let Some(p) = self.partitions.get_mut(tp)
                && p.state == state
            {
                p.state = *back;
                left = true;
            }
        }
        if left_lookup {
            // Looked up again at once (for the end), without a failure's backoff.
            self.reset_retry_at = None;
        }
        if left {
            self.reset_retry_at = Some(self.now + self.config.retry_backoff);
            self.events.push_back(FetchEvent::RefreshMetadata);
        }
    }
}

use super::classify;
