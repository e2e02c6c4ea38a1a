//! Driving the membership: its requests go out with the coordinator's address, its events change
//! the owned partitions and the status.

use std::collections::BTreeSet;

use super::EngineCore;
use crate::engine::transmit::Transmit;
use crate::error::ErrorKind;
use crate::events::{Event, Status};
use crate::group::{GroupEvent, Target};

impl EngineCore {
    /// Feeds the membership its timers, sends its requests, applies its events. True if anything
    /// happened.
    pub(super) fn drive_group(&mut self) -> bool {
        let now = self.now;
        let topics: BTreeSet<String> = self.config.topics.iter().cloned().collect();
        let broker_pattern = self.config.broker_pattern.is_some();
        let Some(group) = &mut self.group else {
            return false;
        };
        // A pattern subscribes once metadata has named the topics it matches; one the broker
        // evaluates (carried by the group config) at once.
        if !group.subscribed && (!topics.is_empty() || broker_pattern) {
            group.subscribed = true;
            group.membership.subscribe(topics, now);
        }
        if group.membership.poll_timeout().is_some_and(|t| t <= now) {
            group.membership.handle_timeout(now);
        }
        let needed_before = group.membership.topics_needed();
        let mut events = Vec::new();
        let mut requests = Vec::new();
        loop {
            let mut progressed = false;
            while let Some(event) = group.membership.poll_event() {
                events.push(event);
                progressed = true;
            }
            while let Some(request) = group.membership.poll_request() {
                requests.push(request);
                progressed = true;
            }
            if !progressed {
                break;
            }
        }
        let needed_changed = group.membership.topics_needed() != needed_before;
        let wants_counts = group.membership.wants_partition_counts();
        let progressed = !events.is_empty() || !requests.is_empty();
        for request in requests {
            let coordinator = match request.target {
                Target::Coordinator(node) => self.coordinator_address().filter(|(n, _)| *n == node),
                Target::AnyBroker => None,
            };
            self.transmits.push_back(Transmit::Group { request, coordinator });
        }
        for event in events {
            self.apply_group_event(event);
        }
        if wants_counts {
            // The leader assigns from metadata fetched after its join: now, not after a backoff.
            self.metadata.due = Some(now);
            self.maybe_refresh_metadata();
        } else if needed_changed {
            self.request_metadata_refresh();
        }
        progressed
    }

    fn apply_group_event(&mut self, event: GroupEvent) {
        match event {
            GroupEvent::Assigned(tps) => {
                self.assign(tps);
                self.set_status(Status::Consuming);
            }
            GroupEvent::Revoke(tps) => self.begin_revoke(tps),
            GroupEvent::Lost(tps, error) => {
                self.lose(tps, error);
                if !self.is_closing() && self.status != Status::Stalled {
                    self.set_status(Status::Rebalancing);
                }
            }
            GroupEvent::Joined {
                generation_id,
                member_id,
                leader,
                protocol,
            } => {
                tracing::info!(generation_id, member_id, leader, protocol, "joined the group");
                self.reporter.event(Event::Joined {
                    generation_id,
                    member_id,
                    leader,
                });
                self.set_status(Status::Consuming);
            }
            GroupEvent::Fatal(error) => {
                tracing::error!(%error, "fatal group error; the consumer stops");
                let tps: Vec<_> = self.parts.keys().cloned().collect();
                self.lose(tps, error.clone());
                self.reporter.error(&error);
                self.reporter.event(Event::Fatal(error));
                self.set_status(Status::Failed);
                self.partitions_tx = None;
            }
            GroupEvent::CoordinatorUnavailable(error) => {
                tracing::debug!(%error, "group coordinator unavailable; retrying");
                let unreachable = matches!(
                    error.kind(),
                    ErrorKind::Connect | ErrorKind::Connection | ErrorKind::Timeout
                );
                let joining = matches!(self.status, Status::Starting | Status::Joining);
                if unreachable && joining {
                    // Status before error: a watcher woken by the error sees both.
                    self.set_status(Status::Connecting);
                }
                self.reporter.error(&error);
                self.reporter.event(Event::Warning(error));
            }
        }
    }
}
