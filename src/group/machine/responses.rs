//! How the machine reacts to each response.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;

use super::{AfterRevoke, Coordinator, GroupEvent, GroupMachine, Phase};
use crate::error::{Error, ErrorKind};
use crate::group::{AssignorKind, ErrorAction, MemberSubscription, classify};
use crate::types::TopicPartition;
use crate::wire::{
    Assignment, CONSUMER_PROTOCOL_VERSION, DecodeResponse, FindCoordinatorResponse, HeartbeatResponse,
    JoinGroupMember, JoinGroupResponse, KafkaCode, Reader, Str, Subscription, SyncGroupResponse,
    TopicPartitions,
};

/// How long a leader that knows every partition count waits for fresher ones before assigning.
const FRESH_COUNTS_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

impl GroupMachine {
    pub(super) fn on_find(&mut self, response: Result<FindCoordinatorResponse, Error>) {
        let group = self.config.group_id.clone();
        let result = found_coordinator(response, &group);
        match result {
            Ok(c) => {
                tracing::info!(group = %group, node = c.node_id, host = %c.host, port = c.port, "found the group coordinator");
                self.coordinator = Some(c);
                self.find_at = None;
                if self.phase == Phase::Stable {
                    // Resume heartbeats at once: the session has been silent for a while.
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

    /// A JoinGroup or SyncGroup failed in transport or with an error code: decide where to go.
    fn on_rebalance_error(&mut self, action: ErrorAction, error: Error) {
        match action {
            ErrorAction::None => {}
            ErrorAction::FindCoordinator => {
                self.coordinator_dead(error);
                self.set_phase(Phase::Join);
            }
            ErrorAction::Retry | ErrorAction::RetryLoading | ErrorAction::Rejoin => {
                let delay = self.backoff();
                self.retry_at = Some(self.now + delay);
                self.set_phase(Phase::Join);
            }
            ErrorAction::RejoinWithMemberId => self.set_phase(Phase::Join),
            ErrorAction::ResetGenerationAndRejoin => {
                self.lose_all(error);
                self.reset_generation();
                self.set_phase(Phase::Join);
            }
            ErrorAction::ResetMemberAndRejoin => {
                self.lose_all(error);
                self.member_id.clear();
                self.reset_generation();
                self.set_phase(Phase::Join);
            }
            ErrorAction::Fatal => self.fatal(error),
        }
    }

    pub(super) fn on_join(&mut self, response: Result<JoinGroupResponse, Error>) {
        let r = match response {
            Ok(r) => r,
            Err(e) if is_fatal(&e) => return self.fatal(e),
            Err(e) => return self.on_rebalance_error(ErrorAction::FindCoordinator, e),
        };
        let action = classify(r.error_code);
        if action != ErrorAction::None {
            if action == ErrorAction::RejoinWithMemberId {
                tracing::debug!(member = %r.member_id, "KIP-394: rejoining with the assigned member id");
                self.member_id = r.member_id.to_string();
            }
            let error = Error::kafka(
                r.error_code,
                format!("JoinGroup failed for group {}", self.config.group_id),
            );
            return self.on_rebalance_error(action, error);
        }
        let protocol = r
            .protocol_name
            .as_deref()
            .and_then(AssignorKind::from_name)
            .filter(|p| self.config.assignors.contains(p));
        let Some(protocol) = protocol else {
            return self.fatal(Error::kafka(
                KafkaCode::INCONSISTENT_GROUP_PROTOCOL,
                format!(
                    "the group chose assignor {:?}, which this member did not offer",
                    r.protocol_name
                ),
            ));
        };
        self.failures = 0;
        self.retry_at = None;
        self.keep_owned_until(self.now, true);
        self.member_id = r.member_id.to_string();
        self.generation_id = r.generation_id;
        self.protocol = Some(protocol);
        self.leader = r.leader == r.member_id;
        self.events.push_back(GroupEvent::Joined {
            generation_id: r.generation_id,
            member_id: self.member_id.clone(),
            leader: self.leader,
            protocol: protocol.name().to_owned(),
        });
        self.members.clear();
        self.pending_assignments.clear();
        if self.leader && !r.skip_assignment {
            let (members, versions) = r.members.iter().map(member_subscription).unzip();
            self.members = members;
            self.member_versions = versions;
            // The leader does not heartbeat between JoinGroup and SyncGroup, so it waits for
            // metadata at most half a session; topics still unknown then get no partitions (a
            // later count triggers a rejoin). When every count is known already, fresh ones are
            // only preferred: it waits for them briefly, well within the rebalance timeout after
            // which the coordinator drops members that have not synced.
            let mut wait = self.config.request_timeout.min(self.config.session_timeout / 2);
            if self.topics_needed().iter().all(|t| self.counts.contains_key(t)) {
                wait = wait.min(FRESH_COUNTS_WAIT).min(self.config.rebalance_timeout / 4);
            }
            self.counts_deadline = Some(self.now + wait);
            self.fresh_counts = false;
            self.set_phase(Phase::AwaitCounts);
            self.try_assign();
        } else {
            self.set_phase(Phase::Sync);
        }
    }

    /// The leader assigns once every topic's partition count is known from metadata fetched since
    /// it joined (or the wait timed out: what is known then is used, and unknown topics have no
    /// partitions).
    pub(super) fn try_assign(&mut self) {
        let needed = self.topics_needed();
        let known = self.fresh_counts && needed.iter().all(|t| self.counts.contains_key(t));
        let timed_out = self.counts_deadline.is_some_and(|d| self.now >= d);
        if !known && !timed_out {
            return;
        }
        let Some(protocol) = self.protocol else { return };
        self.snapshot = needed
            .iter()
            .map(|t| (t.clone(), self.counts.get(t).copied().unwrap_or(0)))
            .collect();
        let assignments = protocol.assign(&self.members, &self.snapshot, &self.racks);
        self.pending_assignments = assignments
            .into_iter()
            .map(|(member, partitions)| {
                // Each member gets the assignment at the consumer-protocol version it spoke.
                let version = self
                    .members
                    .iter()
                    .zip(&self.member_versions)
                    .find(|(m, _)| m.member_id == member)
                    .map_or(CONSUMER_PROTOCOL_VERSION, |(_, v)| {
                        (*v).clamp(0, CONSUMER_PROTOCOL_VERSION)
                    });
                (member, encode_assignment(&partitions, version))
            })
            .collect();
        self.counts_deadline = None;
        self.set_phase(Phase::Sync);
    }

    pub(super) fn on_sync(&mut self, response: Result<SyncGroupResponse, Error>) {
        let r = match response {
            Ok(r) => r,
            Err(e) if is_fatal(&e) => return self.fatal(e),
            Err(e) => return self.on_rebalance_error(ErrorAction::FindCoordinator, e),
        };
        let action = classify(r.error_code);
        if action != ErrorAction::None {
            let error = Error::kafka(
                r.error_code,
                format!("SyncGroup failed for group {}", self.config.group_id),
            );
            return self.on_rebalance_error(action, error);
        }
        let assignment = match Assignment::decode(r.assignment) {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "the leader sent an undecodable assignment; rejoining");
                return self.on_rebalance_error(ErrorAction::Rejoin, e.into());
            }
        };
        let new: BTreeSet<TopicPartition> = assignment
            .partitions
            .iter()
            .flat_map(|tp| {
                let topic: std::sync::Arc<str> = tp.topic.as_str().into();
                // A negative partition is nonsense from a broken leader; skip it.
                tp.partitions
                    .iter()
                    .filter(|&&p| p >= 0)
                    .map(move |&p| TopicPartition::new(topic.clone(), p))
            })
            .collect();
        // Eager members revoked everything before joining, so only the cooperative protocol
        // meets partitions to revoke here: those that move elsewhere.
        let revoked: Vec<_> = self.owned.difference(&new).cloned().collect();
        let added: Vec<_> = new.difference(&self.owned).cloned().collect();
        if !revoked.is_empty() {
            self.events.push_back(GroupEvent::Revoke(revoked));
            self.revoke = Some(AfterRevoke::Join);
        }
        if !added.is_empty() {
            self.events.push_back(GroupEvent::Assigned(added));
        }
        self.owned = new;
        self.owned_generation = self.generation_id;
        if !self.leader {
            self.snapshot = self
                .subscription
                .iter()
                .filter_map(|t| self.counts.get(t).map(|c| (t.clone(), *c)))
                .collect();
        }
        self.failures = 0;
        self.owned_deadline = None;
        self.last_heartbeat_ok = self.now;
        self.heartbeat_at = Some(self.now + self.config.heartbeat_interval);
        self.set_phase(Phase::Stable);
        if std::mem::take(&mut self.rejoin_pending) {
            self.request_rejoin("subscription changed during the rebalance");
        }
    }

    pub(super) fn on_heartbeat(&mut self, response: Result<HeartbeatResponse, Error>) {
        match response {
            Ok(r) => {
                let action = classify(r.error_code);
                if action == ErrorAction::None {
                    self.last_heartbeat_ok = self.now;
                    self.failures = 0;
                } else {
                    if action == ErrorAction::Rejoin {
                        // The coordinator knew the member and its generation, and restarted its
                        // session timer (Kafka does on REBALANCE_IN_PROGRESS): a member waiting
                        // for its application to release revoked partitions stays alive until
                        // the rebalance timeout, not only the session timeout.
                        self.last_heartbeat_ok = self.now;
                    }
                    self.on_group_error(action, r.error_code, "Heartbeat");
                }
            }
            Err(e) if is_fatal(&e) => self.fatal(e),
            Err(e) => self.coordinator_dead(e),
        }
    }
}

/// The coordinator a FindCoordinator answer names for `group`, or the error that says why not.
pub(in crate::group) fn found_coordinator(
    response: Result<FindCoordinatorResponse, Error>,
    group: &str,
) -> Result<Coordinator, Error> {
    response.and_then(|r| {
        let c = r
            .for_key(group)
            .ok_or_else(|| Error::new(ErrorKind::Protocol, "FindCoordinator answered for another group"))?;
        if classify(c.error_code) == ErrorAction::None {
            Ok(Coordinator {
                node_id: c.node_id,
                host: c.host.to_string(),
                port: c.port,
            })
        } else {
            // Kafka sends an empty message with COORDINATOR_NOT_AVAILABLE (while the offsets topic
            // is created on a new cluster, say): never show an empty one.
            let msg = c
                .error_message
                .as_deref()
                .filter(|m| !m.trim().is_empty())
                .unwrap_or("no coordinator for the group yet");
            Err(Error::kafka(
                c.error_code,
                format!("FindCoordinator for group {group}: {msg}"),
            ))
        }
    })
}

/// Decodes a response; decode errors become transport-like errors.
pub(in crate::group) fn decode<T: DecodeResponse>(
    response: Result<Bytes, Error>,
    version: i16,
) -> Result<T, Error> {
    response.and_then(|body| T::decode(body, version).map_err(Error::from))
}

/// Errors that retrying cannot fix: no usable API version or an unencodable request (e.g. static
/// membership with a broker older than 2.3), and fatal group codes.
pub(in crate::group) fn is_fatal(e: &Error) -> bool {
    e.kind() == ErrorKind::UnsupportedVersion
        || e.kafka_code().is_some_and(|c| classify(c) == ErrorAction::Fatal)
}

fn encode_assignment(partitions: &BTreeSet<TopicPartition>, version: i16) -> Bytes {
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for tp in partitions {
        by_topic.entry(&tp.topic).or_default().push(tp.partition);
    }
    let assignment = Assignment {
        version,
        partitions: by_topic
            .into_iter()
            .map(|(topic, partitions)| TopicPartitions {
                topic: Str::from(topic),
                partitions,
            })
            .collect(),
        user_data: None,
    };
    // Encoding fails only for counts beyond i32, which an assignment of i32 partitions never has.
    assignment.encode().unwrap_or_default()
}

/// A member's subscription and consumer-protocol version from its JoinGroup metadata;
/// undecodable metadata subscribes to nothing.
fn member_subscription(m: &JoinGroupMember) -> (MemberSubscription, i16) {
    let mut version = CONSUMER_PROTOCOL_VERSION;
    let mut out = MemberSubscription {
        member_id: m.member_id.to_string(),
        group_instance_id: m.group_instance_id.as_ref().map(|s| s.to_string()),
        generation: -1,
        ..Default::default()
    };
    match Subscription::decode(m.metadata.clone()) {
        Ok(s) => {
            version = s.version;
            out.topics = s.topics.iter().map(|t| t.to_string()).collect();
            for tp in &s.owned_partitions {
                let topic: std::sync::Arc<str> = tp.topic.as_str().into();
                out.owned.extend(
                    tp.partitions
                        .iter()
                        .map(|&p| TopicPartition::new(topic.clone(), p)),
                );
            }
            out.generation = s.generation_id;
            out.rack = s.rack_id.map(|r| r.to_string()).filter(|r| !r.is_empty());
            if s.generation_id < 0
                && let Some(generation) = s.user_data.and_then(sticky_user_data_generation)
            {
                out.generation = generation;
            }
        }
        Err(e) => {
            tracing::warn!(member = %m.member_id, error = %e, "undecodable subscription; assigning it nothing");
        }
    }
    (out, version)
}

/// The generation that sticky assignors of other clients put in their user data, for members whose
/// subscription predates the `generation_id` field (or leaves it at -1, as librdkafka does):
/// the Java cooperative-sticky assignor writes the generation alone (`INT32`); the Java sticky
/// assignor and librdkafka's sticky and cooperative-sticky write `[topic [partition]] generation`.
fn sticky_user_data_generation(data: Bytes) -> Option<i32> {
    if let Ok(raw) = <[u8; 4]>::try_from(&data[..]) {
        return Some(i32::from_be_bytes(raw));
    }
    let mut r = Reader::new(data);
    let topics = r.array_len(false, 6).ok()?;
    for _ in 0..topics {
        r.string(false).ok()?;
        r.i32_array(false).ok()?;
    }
    let generation = r.i32().ok()?;
    r.finish().ok()?;
    Some(generation)
}

#[cfg(test)]
mod tests {
    use bytes::{BufMut, BytesMut};

    use super::*;

    #[test]
    fn sticky_user_data_generations_of_java_and_librdkafka() {
        assert_eq!(
            sticky_user_data_generation(Bytes::from_static(&[0, 0, 0, 9])),
            Some(9)
        );
        // librdkafka / Java StickyAssignor: [("t", [0, 1])] then generation 7.
        let mut b = BytesMut::new();
        b.put_i32(1);
        b.put_i16(1);
        b.put_slice(b"t");
        b.put_i32(2);
        b.put_i32(0);
        b.put_i32(1);
        b.put_i32(7);
        assert_eq!(sticky_user_data_generation(b.freeze()), Some(7));
        assert_eq!(sticky_user_data_generation(Bytes::from_static(b"junk!")), None);
        assert_eq!(
            sticky_user_data_generation(Bytes::from_static(&[0x7f, 0xff, 0xff, 0xff, 0, 0])),
            None
        );
    }
}
