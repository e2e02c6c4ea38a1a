//! Manual assignment with a group id: no membership, only the group's coordinator, for commits and
//! committed offsets (as Kafka's consumer after `assign()` with a `group.id`).
//!
//! It joins nothing: the application chose the partitions. Commits carry generation -1 and an
//! empty member id, which the coordinator accepts while the group has no members (a group whose
//! members use the group protocol answers them with an error, which the commit returns).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::machine::Coordinator;
use super::machine::responses::{decode, found_coordinator, is_fatal};
use super::request::Body;
use super::{
    ErrorAction, GroupEvent, GroupRequest, LeaveReason, Membership, OutgoingRequest, PartitionRacks,
    RequestId, Target, classify,
};
use crate::error::Error;
use crate::types::NodeId;
use crate::wire::{FindCoordinatorResponse, KafkaCode};

/// The coordinator lookup of a manually assigned consumer with a group id.
#[derive(Debug)]
pub(crate) struct ManualMembership {
    group_id: String,
    request_timeout: Duration,
    retry_backoff: Duration,
    now: Instant,
    coordinator: Option<Coordinator>,
    find_in_flight: Option<RequestId>,
    find_at: Option<Instant>,
    failures: u32,
    next_id: RequestId,
    left: bool,
    events: VecDeque<GroupEvent>,
}

impl ManualMembership {
    pub(crate) fn new(
        group_id: String,
        request_timeout: Duration,
        retry_backoff: Duration,
        now: Instant,
    ) -> Self {
        ManualMembership {
            group_id,
            request_timeout,
            retry_backoff,
            now,
            coordinator: None,
            find_in_flight: None,
            find_at: None,
            failures: 0,
            next_id: 1,
            left: false,
            events: VecDeque::new(),
        }
    }

    fn backoff(&mut self) -> Duration {
        let cap = self.retry_backoff.max(Duration::from_secs(1));
        let delay = self
            .retry_backoff
            .saturating_mul(1 << self.failures.min(10))
            .min(cap);
        self.failures = self.failures.saturating_add(1);
        delay
    }

    fn on_find(&mut self, response: Result<FindCoordinatorResponse, Error>) {
        let group = self.group_id.clone();
        let found = found_coordinator(response, &group);
        match found {
            Ok(c) => {
                tracing::info!(group = %group, node = c.node_id, "found the group coordinator (manual assignment)");
                self.coordinator = Some(c);
                self.failures = 0;
                self.find_at = None;
            }
            Err(e) if is_fatal(&e) => self.events.push_back(GroupEvent::Fatal(e)),
            Err(e) => {
                let delay = self.backoff();
                self.find_at = Some(self.now + delay);
                self.events.push_back(GroupEvent::CoordinatorUnavailable(e));
            }
        }
    }
}

impl Membership for ManualMembership {
    fn subscribe(&mut self, _topics: BTreeSet<String>, now: Instant) {
        self.now = now;
    }
    fn handle_partition_counts(
        &mut self,
        _counts: &BTreeMap<String, i32>,
        _racks: &PartitionRacks,
        now: Instant,
    ) {
        self.now = now;
    }
    fn handle_response(&mut self, id: RequestId, response: Result<Bytes, Error>, version: i16, now: Instant) {
        self.now = now;
        if self.find_in_flight == Some(id) {
            self.find_in_flight = None;
            self.on_find(decode(response, version));
        }
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
    }
    fn handle_revoke_done(&mut self, now: Instant) {
        self.now = now;
    }
    fn handle_commit_error(&mut self, code: KafkaCode, now: Instant) {
        self.now = now;
        if classify(code) == ErrorAction::FindCoordinator {
            self.coordinator = None;
        }
    }
    fn leave(&mut self, _reason: LeaveReason, now: Instant) {
        self.now = now;
        self.left = true;
    }
    fn rejoin(&mut self, now: Instant) {
        self.now = now;
    }
    fn poll_event(&mut self) -> Option<GroupEvent> {
        self.events.pop_front()
    }
    fn poll_request(&mut self) -> Option<OutgoingRequest> {
        let due = self.find_at.is_none_or(|t| self.now >= t);
        if self.left || self.coordinator.is_some() || self.find_in_flight.is_some() || !due {
            return None;
        }
        let id = self.next_id;
        self.next_id += 1;
        self.find_in_flight = Some(id);
        Some(OutgoingRequest {
            id,
            target: Target::AnyBroker,
            timeout: self.request_timeout,
            request: GroupRequest(Body::FindCoordinator {
                group_id: self.group_id.clone(),
            }),
        })
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.find_at.filter(|_| self.coordinator.is_none() && !self.left)
    }
    fn generation(&self) -> Option<(i32, String)> {
        (!self.left && self.coordinator.is_some()).then(|| (-1, String::new()))
    }
    fn coordinator(&self) -> Option<NodeId> {
        self.coordinator.as_ref().map(|c| c.node_id)
    }
    fn coordinator_address(&self) -> Option<(NodeId, &str, i32)> {
        self.coordinator
            .as_ref()
            .map(|c| (c.node_id, c.host.as_str(), c.port))
    }
    fn is_left(&self) -> bool {
        self.left
    }
    fn topics_needed(&self) -> BTreeSet<String> {
        BTreeSet::new()
    }
    fn wants_partition_counts(&self) -> bool {
        false
    }
}
