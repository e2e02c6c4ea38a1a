//! The requests the consumer-protocol machine sends, and which heartbeat fields it repeats.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::{ConsumerMachine, JOIN_EPOCH, Kind, Phase};
use crate::group::request::Body;
use crate::group::{GroupRequest, OutgoingRequest, Target, TopicId};

/// The fields of the last heartbeat sent (`None`: not sent since the last reset), so the next
/// one carries only what changed. Reset on joining and after any failed heartbeat: the
/// coordinator may not have seen them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct SentFields {
    rebalance_timeout_ms: Option<i32>,
    subscription: Option<BTreeSet<String>>,
    server_assignor: Option<&'static str>,
    owned: Option<BTreeMap<TopicId, BTreeSet<i32>>>,
}

impl ConsumerMachine {
    /// The next request to send, if one is due at the `now` of the latest input.
    pub(crate) fn poll_request(&mut self) -> Option<OutgoingRequest> {
        let now = self.now;
        match self.phase {
            Phase::Leave if self.revoking.is_some() => return None,
            Phase::Leave if self.coordinator.is_none() => {
                self.finish_leave();
                return None;
            }
            Phase::Active | Phase::Leave => {}
            Phase::Idle | Phase::Leaving | Phase::Left | Phase::Fatal => return None,
        }
        let Some(node) = self.coordinator() else {
            if !self.find_in_flight && self.find_at.is_none_or(|t| now >= t) {
                self.find_in_flight = true;
                let body = Body::FindCoordinator {
                    group_id: self.config.group_id.clone(),
                };
                return Some(self.send(Kind::Find, Target::AnyBroker, body));
            }
            return None;
        };
        let target = Target::Coordinator(node);
        match self.phase {
            Phase::Active
                if self.heartbeat_in_flight.is_none() && self.heartbeat_at.is_some_and(|t| now >= t) =>
            {
                self.heartbeat_at = Some(now + self.heartbeat_interval);
                let body = self.heartbeat_body();
                let reports_release = self.revoking.is_none()
                    && self.revoke_deadline.is_some()
                    && matches!(
                        &body,
                        Body::ConsumerGroupHeartbeat {
                            topic_partitions: Some(_),
                            ..
                        }
                    );
                let request = self.send(Kind::Heartbeat, target, body);
                self.heartbeat_in_flight = Some(request.id);
                if reports_release {
                    self.release_report = Some(request.id);
                }
                Some(request)
            }
            Phase::Leave => {
                self.set_phase(Phase::Leaving);
                let body = Body::ConsumerGroupHeartbeat {
                    group_id: self.config.group_id.clone(),
                    member_id: self.member_id.clone(),
                    member_epoch: self.leave_epoch(),
                    instance_id: self.config.group_instance_id.clone(),
                    rack_id: None,
                    rebalance_timeout_ms: None,
                    subscribed_topic_names: None,
                    subscribed_topic_regex: None,
                    server_assignor: None,
                    topic_partitions: None,
                };
                Some(self.send(Kind::Leave, target, body))
            }
            _ => None,
        }
    }

    fn send(&mut self, kind: Kind, target: Target, body: Body) -> OutgoingRequest {
        let id = self.next_id;
        self.next_id += 1;
        self.in_flight.insert(id, (kind, self.session));
        OutgoingRequest {
            id,
            target,
            timeout: self.config.request_timeout,
            request: GroupRequest(body),
        }
    }

    /// What the coordinator must hear as owned: the owned partitions and those still being
    /// revoked (the application may hold them until `handle_revoke_done`).
    fn reported_owned(&self) -> BTreeMap<TopicId, BTreeSet<i32>> {
        let mut out: BTreeMap<TopicId, BTreeSet<i32>> = BTreeMap::new();
        for (tp, id) in self.owned.iter().chain(self.revoking.iter().flatten()) {
            out.entry(*id).or_default().insert(tp.partition);
        }
        out
    }

    /// A heartbeat: group, member id, epoch and instance id always; the rest when joining or
    /// when it changed since the last heartbeat sent.
    fn heartbeat_body(&mut self) -> Body {
        let full = self.member_epoch == JOIN_EPOCH;
        if full {
            self.sent = SentFields::default();
        }
        let millis = |d: Duration| i32::try_from(d.as_millis()).unwrap_or(i32::MAX);
        let rebalance_timeout = millis(self.config.rebalance_timeout);
        let rebalance_timeout_ms = (self.sent.rebalance_timeout_ms != Some(rebalance_timeout)).then(|| {
            self.sent.rebalance_timeout_ms = Some(rebalance_timeout);
            rebalance_timeout
        });
        let subscribed_topic_names =
            (self.sent.subscription.as_ref() != Some(&self.subscription)).then(|| {
                self.sent.subscription = Some(self.subscription.clone());
                self.subscription.iter().cloned().collect()
            });
        let assignor = self.config.remote_assignor.map(|a| a.name());
        let server_assignor = assignor
            .filter(|a| self.sent.server_assignor != Some(*a))
            .map(|a| {
                self.sent.server_assignor = Some(a);
                a.to_owned()
            });
        let owned = self.reported_owned();
        let topic_partitions = (self.sent.owned.as_ref() != Some(&owned)).then(|| {
            let list = owned
                .iter()
                .map(|(id, partitions)| (*id, partitions.iter().copied().collect()))
                .collect();
            self.sent.owned = Some(owned);
            list
        });
        Body::ConsumerGroupHeartbeat {
            group_id: self.config.group_id.clone(),
            member_id: self.member_id.clone(),
            member_epoch: self.member_epoch,
            instance_id: self.config.group_instance_id.clone(),
            rack_id: if full {
                self.config.client_rack.clone()
            } else {
                None
            },
            rebalance_timeout_ms,
            subscribed_topic_names,
            // Fixed for the consumer's life: sent when joining, unchanged (null) after.
            subscribed_topic_regex: full.then(|| self.config.subscribed_regex.clone()).flatten(),
            server_assignor,
            topic_partitions,
        }
    }
}
