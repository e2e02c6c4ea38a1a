//! Heartbeat answers, and reconciling the owned partitions with the coordinator's assignment.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use super::{ConsumerMachine, JOIN_EPOCH, Phase, unsupported_protocol_message};
use crate::error::{Error, ErrorKind};
use crate::group::machine::responses::is_fatal;
use crate::group::{GroupEvent, TopicId};
use crate::types::TopicPartition;
use crate::wire::ConsumerGroupHeartbeatResponse;

/// The shortest heartbeat interval honoured, whatever the coordinator asks (a broken or hostile
/// answer of 0 must not make a busy loop).
const MIN_HEARTBEAT_INTERVAL: Duration = Duration::from_millis(100);

impl ConsumerMachine {
    /// `reported_release`: the heartbeat told the coordinator that a revoke is done.
    pub(super) fn on_heartbeat(
        &mut self,
        response: Result<ConsumerGroupHeartbeatResponse, Error>,
        reported_release: bool,
    ) {
        let r = match response {
            Ok(r) => r,
            Err(e) if e.kind() == ErrorKind::UnsupportedVersion => {
                let what = if self.config.subscribed_regex.is_some() {
                    // Kafka 3.7-3.9's preview has ConsumerGroupHeartbeat v0 only, without the regex.
                    "the broker cannot evaluate subscribe_broker_pattern (ConsumerGroupHeartbeat v1, Kafka 4.0+): use a Kafka 4.0+ broker, or subscribe_pattern, which the consumer evaluates itself".to_owned()
                } else {
                    unsupported_protocol_message()
                };
                return self.fatal(Error::new(ErrorKind::UnsupportedVersion, format!("{what} ({e})")));
            }
            Err(e) if is_fatal(&e) => return self.fatal(e),
            Err(e) => return self.coordinator_dead(e),
        };
        if r.error_code.is_error() {
            let message = r.error_message.as_ref().map(|m| m.as_str().to_owned());
            return self.on_error_code(r.error_code, message.as_deref(), "ConsumerGroupHeartbeat");
        }
        self.failures = 0;
        self.last_heartbeat_ok = self.now;
        if reported_release && self.revoking.is_none() {
            // The coordinator knows the revoked partitions are gone: it no longer fences us.
            self.revoke_deadline = None;
        }
        if let Some(id) = r.member_id.as_ref().filter(|id| !id.as_str().is_empty())
            && id.as_str() != self.member_id
        {
            // A coordinator that predates KIP-1082 names the member itself.
            tracing::debug!(ours = %self.member_id, theirs = %id.as_str(), "the coordinator assigned the member id");
            self.member_id = id.as_str().to_owned();
        }
        let joined = self.member_epoch == JOIN_EPOCH && r.member_epoch > 0;
        self.member_epoch = r.member_epoch;
        if let Ok(ms) = u64::try_from(r.heartbeat_interval_ms)
            && ms > 0
        {
            self.heartbeat_interval = Duration::from_millis(ms).max(MIN_HEARTBEAT_INTERVAL);
        }
        let next = self.now + self.heartbeat_interval;
        self.heartbeat_at = Some(self.heartbeat_at.map_or(next, |t| t.min(next)));
        if joined {
            tracing::info!(group = %self.config.group_id, member = %self.member_id, epoch = r.member_epoch, "joined the group");
            self.events.push_back(GroupEvent::Joined {
                generation_id: r.member_epoch,
                member_id: self.member_id.clone(),
                leader: false,
                protocol: self
                    .config
                    .remote_assignor
                    .map_or("consumer", |a| a.name())
                    .to_owned(),
            });
        }
        if let Some(assignment) = r.assignment {
            let mut target: BTreeMap<TopicId, BTreeSet<i32>> = BTreeMap::new();
            for t in assignment {
                // A negative partition is nonsense from a broken coordinator; skip it.
                target
                    .entry(t.topic_id)
                    .or_default()
                    .extend(t.partitions.into_iter().filter(|p| *p >= 0));
            }
            self.target = Some(target);
            self.ids_wanted = !self.unresolved().is_empty();
        }
        self.reconcile();
    }

    /// Moves the owned partitions toward the target assignment: revokes first (and waits for
    /// `handle_revoke_done`), then announces the additions whose topic ids metadata has named.
    /// The next heartbeat (sent at once) reports the owned set.
    pub(super) fn reconcile(&mut self) {
        if self.phase != Phase::Active || self.revoking.is_some() || self.leave_after_revoke {
            return;
        }
        let Some(target) = &self.target else { return };
        let in_target =
            |tp: &TopicPartition, id: &TopicId| target.get(id).is_some_and(|ps| ps.contains(&tp.partition));
        let revoked: BTreeMap<TopicPartition, TopicId> = self
            .owned
            .iter()
            .filter(|(tp, id)| !in_target(tp, id))
            .map(|(tp, id)| (tp.clone(), *id))
            .collect();
        if !revoked.is_empty() {
            for tp in revoked.keys() {
                self.owned.remove(tp);
            }
            self.start_revoke(revoked);
            return;
        }
        let mut added: Vec<(TopicPartition, TopicId)> = vec![];
        for (id, partitions) in target {
            let Some(name) = self.names.get(id) else { continue };
            let topic: Arc<str> = name.as_str().into();
            for &p in partitions {
                let tp = TopicPartition::new(topic.clone(), p);
                if !self.owned.contains_key(&tp) {
                    added.push((tp, *id));
                }
            }
        }
        if !added.is_empty() {
            added.sort();
            self.events.push_back(GroupEvent::Assigned(
                added.iter().map(|(tp, _)| tp.clone()).collect(),
            ));
            self.owned.extend(added);
            self.heartbeat_at = Some(self.now);
        }
    }
}
