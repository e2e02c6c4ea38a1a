//! Drives the group membership machine: sends its requests on connections of their own (so a
//! heartbeat never queues behind a long-polling fetch), feeds back responses, and applies its
//! events to owned partitions.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use tokio::time::Instant;

use super::{Driver, Input};
use crate::config::{Assignor, ConsumerConfig};
use crate::error::{Error, ErrorKind, Result};
use crate::events::{Event, Status};
use crate::group::{
    AssignorKind, GroupConfig, GroupEvent, GroupMachine, LeaveReason, OutgoingRequest, RequestId, Target,
};
use crate::net::{BrokerPool, NetConfig};
use crate::wire::KafkaCode;

pub(crate) struct GroupResult {
    id: RequestId,
    version: i16,
    result: Result<Bytes>,
}

pub(crate) struct GroupDriver {
    machine: GroupMachine,
    /// Connections for group traffic only (coordinator, and FindCoordinator's bootstrap).
    pool: BrokerPool,
    subscribed: bool,
}

fn group_config(config: &ConsumerConfig) -> GroupConfig {
    let mut g = GroupConfig::new(config.group_id.clone().unwrap_or_default());
    g.group_instance_id = config.group_instance_id.clone();
    g.session_timeout = config.session_timeout;
    g.rebalance_timeout = config.max_poll_interval;
    g.heartbeat_interval = config.heartbeat_interval;
    g.assignors = config
        .assignors
        .iter()
        .map(|a| match a {
            Assignor::Range => AssignorKind::Range,
            Assignor::RoundRobin => AssignorKind::RoundRobin,
            Assignor::CooperativeSticky => AssignorKind::CooperativeSticky,
        })
        .collect();
    g.retry_backoff = config.retry_backoff;
    g.request_timeout = config.net.request_timeout;
    g
}

impl GroupDriver {
    pub(crate) fn new(config: &ConsumerConfig, now: Instant) -> Result<Self> {
        let group = group_config(config);
        group.validate()?;
        // JoinGroup is held by the coordinator for up to the rebalance timeout; each request carries
        // its own deadline, so the connection's must not be shorter.
        let net: NetConfig = config
            .net
            .clone()
            .request_timeout(config.max_poll_interval + config.net.request_timeout);
        let pool = BrokerPool::new(&config.bootstrap, net)?;
        Ok(GroupDriver {
            machine: GroupMachine::new(group, now.into_std()),
            pool,
            subscribed: false,
        })
    }
    pub(crate) fn pool(&self) -> &BrokerPool {
        &self.pool
    }
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.machine.poll_timeout().map(Instant::from_std)
    }
    pub(crate) fn topics_needed(&self) -> BTreeSet<String> {
        self.machine.topics_needed()
    }
    pub(crate) fn handle_partition_counts(&mut self, counts: &BTreeMap<String, i32>, now: Instant) {
        self.machine.handle_partition_counts(counts, now.into_std());
    }
    pub(crate) fn rejoin(&mut self, now: Instant) {
        self.machine.rejoin(now.into_std());
    }
    pub(crate) fn leave_max_poll(&mut self, now: Instant) {
        self.machine.leave(LeaveReason::MaxPollExceeded, now.into_std());
    }
    pub(crate) fn leave_close(&mut self, now: Instant) {
        self.machine.leave(LeaveReason::Close, now.into_std());
    }
    pub(crate) fn is_left(&self) -> bool {
        self.machine.is_left()
    }
    pub(crate) fn generation(&self) -> Option<(i32, String)> {
        self.machine.generation()
    }
    pub(crate) fn coordinator(&self) -> Option<i32> {
        let node = self.machine.coordinator()?;
        if let Some((n, host, port)) = self.machine.coordinator_address() {
            self.pool.set_broker(n, join_host_port(host, port));
        }
        Some(node)
    }
    pub(crate) fn handle_commit_error(&mut self, code: KafkaCode, now: Instant) {
        self.machine.handle_commit_error(code, now.into_std());
    }
    pub(crate) fn revoke_done(&mut self, now: Instant) {
        self.machine.handle_revoke_done(now.into_std());
    }
}

fn join_host_port(host: &str, port: i32) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

impl Driver {
    pub(crate) fn drive_group(&mut self, now: Instant) {
        let topics: BTreeSet<String> = self.config.topics.iter().cloned().collect();
        let Some(group) = &mut self.group else { return };
        if !group.subscribed {
            group.subscribed = true;
            group.machine.subscribe(topics, now.into_std());
        }
        if group.machine.poll_timeout().is_some_and(|t| t <= now.into_std()) {
            group.machine.handle_timeout(now.into_std());
        }
        let needed_before = group.machine.topics_needed();
        let mut events = Vec::new();
        let mut requests = Vec::new();
        loop {
            let mut progressed = false;
            while let Some(event) = group.machine.poll_event() {
                events.push(event);
                progressed = true;
            }
            while let Some(request) = group.machine.poll_request() {
                requests.push(request);
                progressed = true;
            }
            if !progressed {
                break;
            }
        }
        let needed_changed = group.machine.topics_needed() != needed_before;
        for request in requests {
            self.spawn_group_request(request);
        }
        for event in events {
            self.apply_group_event(event, now);
        }
        if needed_changed {
            self.request_metadata_refresh(now);
        }
    }

    fn spawn_group_request(&mut self, request: OutgoingRequest) {
        let Some(group) = &self.group else { return };
        let OutgoingRequest {
            id,
            target,
            timeout,
            request,
        } = request;
        if let Target::Coordinator(node) = target
            && let Some((n, host, port)) = group.machine.coordinator_address()
            && n == node
        {
            group.pool.set_broker(n, join_host_port(host, port));
        }
        let pool = group.pool.clone();
        let tx = self.inputs_tx.clone();
        tokio::spawn(async move {
            let mut version = 0;
            let result = async {
                let conn = match target {
                    Target::AnyBroker => pool.any_connection().await?,
                    Target::Coordinator(node) => pool.connection(node).await?,
                };
                let (v, body) = request.encode_for(conn.api_versions())?;
                version = v;
                match tokio::time::timeout(timeout, conn.send_raw(request.api(), &body, v)).await {
                    Ok(result) => result,
                    Err(_) => Err(Error::new(
                        ErrorKind::Timeout,
                        format!("no answer to {:?} within {timeout:?}", request.api()),
                    )),
                }
            }
            .await;
            let _ = tx.send(Input::Group(GroupResult { id, version, result }));
        });
    }

    pub(crate) fn handle_group_result(&mut self, result: GroupResult, now: Instant) {
        if let Some(group) = &mut self.group {
            group
                .machine
                .handle_response(result.id, result.result, result.version, now.into_std());
        }
        self.drive_group(now);
    }

    fn apply_group_event(&mut self, event: GroupEvent, now: Instant) {
        match event {
            GroupEvent::Assigned(tps) => {
                self.assign(tps, now);
                self.reporter.status(Status::Consuming);
            }
            GroupEvent::Revoke(tps) => self.begin_revoke(tps, now),
            GroupEvent::Lost(tps, error) => {
                self.lose(tps, error);
                if !self.is_closing() && self.reporter.health.borrow().status != Status::Stalled {
                    self.reporter.status(Status::Rebalancing);
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
                self.reporter.status(Status::Consuming);
            }
            GroupEvent::Fatal(error) => {
                tracing::error!(%error, "fatal group error; the consumer stops");
                let tps: Vec<_> = self.parts.keys().cloned().collect();
                self.lose(tps, error.clone());
                self.reporter.error(&error);
                self.reporter.event(Event::Fatal(error));
                self.reporter.status(Status::Failed);
                self.partitions_tx = None;
            }
            GroupEvent::CoordinatorUnavailable(error) => {
                tracing::debug!(%error, "group coordinator unavailable; retrying");
                let unreachable = matches!(
                    error.kind(),
                    ErrorKind::Connect | ErrorKind::Connection | ErrorKind::Timeout
                );
                let joining = matches!(
                    self.reporter.health.borrow().status,
                    Status::Starting | Status::Joining
                );
                if unreachable && joining {
                    // Status before error: a watcher woken by the error sees both.
                    self.reporter.status(Status::Connecting);
                }
                self.reporter.error(&error);
                self.reporter.event(Event::Warning(error));
            }
        }
    }
}
