//! The requests the machine sends: which one is due, and how its body is built.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{GroupMachine, Kind, Phase, REBALANCE_LAPSE};
use crate::group::request::Body;
use crate::group::{GroupRequest, OutgoingRequest, Target};
use crate::wire::{CONSUMER_PROTOCOL_VERSION, Str, Subscription, TopicPartitions};

impl GroupMachine {
    /// The next request to send, if one is due at the `now` of the latest input.
    pub(crate) fn poll_request(&mut self) -> Option<OutgoingRequest> {
        let now = self.now;
        let needs_coordinator = matches!(self.phase, Phase::Join | Phase::Sync | Phase::Stable);
        if self.phase == Phase::Leave && self.revoke.is_some() {
            return None;
        }
        if self.phase == Phase::Leave && self.coordinator.is_none() {
            self.finish_leave();
            return None;
        }
        let Some(node) = self.coordinator() else {
            if needs_coordinator && !self.find_in_flight && self.find_at.is_none_or(|t| now >= t) {
                self.find_in_flight = true;
                let body = Body::FindCoordinator {
                    group_id: self.config.group_id.clone(),
                };
                return Some(self.send(Kind::Find, Target::AnyBroker, self.config.request_timeout, body));
            }
            return None;
        };
        let target = Target::Coordinator(node);
        let rebalance = self.config.rebalance_timeout + REBALANCE_LAPSE;
        let retry_ok = self.retry_at.is_none_or(|t| now >= t);
        match self.phase {
            Phase::Join if retry_ok => {
                self.keep_owned_until(now, false);
                self.set_phase(Phase::Joining);
                let body = self.join_body();
                Some(self.send(Kind::Join, target, rebalance, body))
            }
            Phase::Sync if retry_ok => {
                self.set_phase(Phase::Syncing);
                let body = Body::SyncGroup {
                    group_id: self.config.group_id.clone(),
                    generation_id: self.generation_id,
                    member_id: self.member_id.clone(),
                    group_instance_id: self.config.group_instance_id.clone(),
                    protocol_name: self.protocol.map(|p| p.name()).unwrap_or_default().to_owned(),
                    assignments: std::mem::take(&mut self.pending_assignments),
                };
                Some(self.send(Kind::Sync, target, rebalance, body))
            }
            Phase::Stable
                if self.heartbeat_in_flight.is_none() && self.heartbeat_at.is_some_and(|t| now >= t) =>
            {
                self.heartbeat_at = Some(now + self.config.heartbeat_interval);
                let body = Body::Heartbeat {
                    group_id: self.config.group_id.clone(),
                    generation_id: self.generation_id,
                    member_id: self.member_id.clone(),
                    group_instance_id: self.config.group_instance_id.clone(),
                };
                let timeout = self.config.request_timeout.min(self.config.session_timeout);
                let request = self.send(Kind::Heartbeat, target, timeout, body);
                self.heartbeat_in_flight = Some(request.id);
                Some(request)
            }
            Phase::Leave => {
                self.set_phase(Phase::Leaving);
                let body = Body::LeaveGroup {
                    group_id: self.config.group_id.clone(),
                    member_id: self.member_id.clone(),
                    reason: "the consumer is leaving the group".into(),
                };
                Some(self.send(Kind::Leave, target, self.config.request_timeout, body))
            }
            _ => None,
        }
    }

    pub(super) fn send(
        &mut self,
        kind: Kind,
        target: Target,
        timeout: Duration,
        body: Body,
    ) -> OutgoingRequest {
        let id = self.next_id;
        self.next_id += 1;
        self.in_flight.insert(id, (kind, self.epoch));
        OutgoingRequest {
            id,
            target,
            timeout,
            request: GroupRequest(body),
        }
    }

    fn join_body(&self) -> Body {
        let cooperative = self.config.cooperative();
        let mut owned: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        if cooperative {
            for tp in &self.owned {
                owned.entry(&tp.topic).or_default().push(tp.partition);
            }
        }
        let subscription = Subscription {
            version: CONSUMER_PROTOCOL_VERSION,
            topics: self.subscription.iter().map(|t| Str::from(t.as_str())).collect(),
            user_data: None,
            owned_partitions: owned
                .into_iter()
                .map(|(topic, partitions)| TopicPartitions {
                    topic: Str::from(topic),
                    partitions,
                })
                .collect(),
            generation_id: if cooperative { self.owned_generation } else { -1 },
            rack_id: self.config.client_rack.as_deref().map(Str::from),
        };
        // Encoding a subscription only fails on counts beyond i32, which a subscription never has.
        let metadata = subscription.encode().unwrap_or_default();
        let millis = |d: Duration| i32::try_from(d.as_millis()).unwrap_or(i32::MAX);
        Body::JoinGroup {
            group_id: self.config.group_id.clone(),
            session_timeout_ms: millis(self.config.session_timeout),
            rebalance_timeout_ms: millis(self.config.rebalance_timeout),
            member_id: self.member_id.clone(),
            group_instance_id: self.config.group_instance_id.clone(),
            protocols: self
                .config
                .assignors
                .iter()
                .map(|a| (a.name(), metadata.clone()))
                .collect(),
            reason: self.join_reason.map(str::to_owned),
        }
    }
}
