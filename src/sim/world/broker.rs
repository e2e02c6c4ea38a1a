//! The simulated brokers' side of the world: requests arriving on connections, each broker's
//! answer (metadata, group requests to the coordinator, fetches held as long polls, offsets and
//! commits), and connections reset.

/// API versions the simulated brokers negotiate.
#[derive(Debug, Clone, Copy)]
pub(super) struct Versions {
    find: i16,
    join: i16,
    sync: i16,
    heartbeat: i16,
    leave: i16,
    pub(super) fetch: i16,
}

impl Versions {
    pub(super) fn of(flavor: Flavor) -> Versions {
        match flavor {
            Flavor::Kafka => Versions {
                find: 4,
                join: 9,
                sync: 5,
                heartbeat: 4,
                leave: 5,
                fetch: 17,
            },
            // The caps the reliability suite puts on librdkafka's mock.
            Flavor::RdkafkaMock => Versions {
                find: 3,
                join: 5,
                sync: 3,
                heartbeat: 3,
                leave: 1,
                fetch: 11,
            },
        }
    }

    pub(super) fn group(&self, api: ApiKey) -> i16 {
        match api {
            ApiKey::FindCoordinator => self.find,
            ApiKey::JoinGroup => self.join,
            ApiKey::SyncGroup => self.sync,
            ApiKey::Heartbeat => self.heartbeat,
            ApiKey::ConsumerGroupHeartbeat => 1,
            _ => self.leave,
        }
    }
}

/// What a broker has to do for a request (taken out of it, so the world can change while it
/// works).
enum Work {
    Metadata,
    Group {
        id: u64,
        api: ApiKey,
        body: std::result::Result<Bytes, crate::wire::EncodeError>,
    },
    Fetch(u64, crate::fetch::FetchBody),
    ListOffsets(u64, crate::fetch::ListOffsetsBody),
    OffsetFetch(u64, crate::fetch::OffsetFetchBody),
    OffsetForLeaderEpoch(u64, crate::fetch::OffsetForLeaderEpochBody),
    Commit(u64, crate::commit::OffsetCommitBody),
}

use bytes::Bytes;
use kafka_protocol::messages::find_coordinator_response::Coordinator as FoundCoordinator;
use kafka_protocol::messages::{
    BrokerId, ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse, FindCoordinatorResponse,
    HeartbeatResponse, JoinGroupResponse, LeaveGroupResponse, SyncGroupResponse,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

use std::time::Duration;

use super::{Ev, World};
use crate::engine::{Response, Transmit};
use crate::fetch::FetchRequest;
use crate::sim::coordinator::{Flavor, ReplyTo};
use crate::sim::history::Fact;
use crate::sim::net::{ConnKey, ReqState, connection_reset};
use crate::sim::responses::{fetch_response, offset_commit_response, offset_fetch_response};
use crate::wire::{ApiKey, KafkaCode};

impl World {
    pub(super) fn arrive(&mut self, id: u64) {
        let Some(req) = self.reqs.get_mut(&id) else {
            return;
        };
        if req.state != ReqState::Travelling {
            return;
        }
        req.state = ReqState::AtBroker;
        let conn = req.conn;
        self.conns.entry(conn).or_default().queue.push_back(id);
        self.process_next(conn);
    }

    /// Starts on the first request queued on `key` unless one is being handled; an answer given
    /// at once moves on to the next (through [`World::answer`]), a held one keeps the connection.
    pub(super) fn process_next(&mut self, key: ConnKey) {
        let Some(c) = self.conns.get_mut(&key) else {
            return;
        };
        if c.busy {
            return;
        }
        let Some(&id) = c.queue.front() else {
            return;
        };
        c.busy = true;
        if self.silent.contains(&key) {
            // Taken, never answered: the connection is stuck until the member drops it.
            return;
        }
        if let Some(response) = self.handle_request(id) {
            self.answer(id, response);
        }
    }

    /// The broker's answer to request `id` now, or `None` if it holds it.
    pub(super) fn handle_request(&mut self, id: u64) -> Option<Response> {
        let now = self.now;
        let req = self.reqs.get(&id)?;
        let node = req.conn.2;
        let version = req.version;
        let member = req.member;
        let work = match &req.transmit {
            Transmit::Metadata { .. } => Work::Metadata,
            Transmit::Group { request, .. } => Work::Group {
                id: request.id,
                api: request.request.api(),
                body: request.request.encode(version).map(|b| b.0),
            },
            Transmit::Fetch(FetchRequest::Fetch { id, body, .. }) => Work::Fetch(*id, body.clone()),
            Transmit::Fetch(FetchRequest::ListOffsets { id, body, .. }) => {
                Work::ListOffsets(*id, body.clone())
            }
            Transmit::Fetch(FetchRequest::OffsetFetch { id, body, .. }) => {
                Work::OffsetFetch(*id, body.clone())
            }
            Transmit::Fetch(FetchRequest::OffsetForLeaderEpoch { id, body, .. }) => {
                Work::OffsetForLeaderEpoch(*id, body.clone())
            }
            Transmit::Commit { commit, .. } => Work::Commit(commit.id, commit.body.clone()),
        };
        match work {
            Work::Metadata => Some(Response::Metadata(Ok(self.cluster.metadata()))),
            Work::Group { id: gid, api, body } => {
                let body = match body {
                    Ok(body) => body,
                    Err(e) => {
                        return Some(Response::Group {
                            id: gid,
                            version,
                            result: Err(e.into()),
                        });
                    }
                };
                let bytes = if api == ApiKey::FindCoordinator {
                    Some(self.find_coordinator(version))
                } else if node != self.coordinator_node {
                    Some(not_coordinator(api, version))
                } else if api == ApiKey::ConsumerGroupHeartbeat {
                    Some(self.consumer_group_heartbeat(body, version))
                } else {
                    let reply = ReplyTo { token: id, version };
                    let out = self.coordinator.handle(api, version, body, reply, now);
                    self.coordinator_changed();
                    out
                };
                bytes.map(|b| Response::Group {
                    id: gid,
                    version,
                    result: Ok(b),
                })
            }
            Work::Fetch(fid, mut body) => {
                if self.errors && self.rng.chance(3) {
                    self.sessions.evict_one(node);
                }
                let decline = self.errors && self.rng.chance(5);
                // The other session errors a broker answers an incremental request with: its epoch
                // out of order, or topic ids that no longer match the session's (Kafka answers
                // both and drops the session).
                let refused = if self.errors && version >= 7 && body.session_epoch > 0 && self.rng.chance(3) {
                    self.sessions.drop_session(node, body.session_id);
                    Some(if self.rng.chance(50) {
                        KafkaCode::INVALID_FETCH_SESSION_EPOCH
                    } else {
                        KafkaCode::FETCH_SESSION_TOPIC_ID_ERROR
                    })
                } else {
                    None
                };
                let opened = match refused
                    .map_or_else(|| self.sessions.open(node, &mut body, version, decline), Err)
                {
                    Ok(opened) => opened,
                    Err(code) => {
                        let mut response = fetch_response(vec![]);
                        response.error_code = code.0;
                        return Some(Response::Fetch {
                            id: fid,
                            result: Ok(response),
                        });
                    }
                };
                // From here the request stands for the fetch its session makes (every partition
                // of the session), when it is held and when it is answered.
                if let Some(req) = self.reqs.get_mut(&id)
                    && let Transmit::Fetch(FetchRequest::Fetch { body: held, .. }) = &mut req.transmit
                {
                    held.clone_from(&body);
                }
                if body.max_wait_ms <= 0 || self.cluster.has_data(node, &body) {
                    let faults = self.errors;
                    let mut response = self.cluster.fetch(node, &body, version, &mut self.rng, faults);
                    self.sessions.answer(node, opened, &mut response);
                    Some(Response::Fetch {
                        id: fid,
                        result: Ok(response),
                    })
                } else {
                    self.opened_fetches.insert(id, opened);
                    let wait = Duration::from_millis(body.max_wait_ms as u64);
                    self.held_fetches.push(id);
                    self.at(now + wait, Ev::LongPollExpire(id));
                    None
                }
            }
            Work::OffsetForLeaderEpoch(vid, body) => Some(Response::OffsetForLeaderEpoch {
                id: vid,
                result: Ok(self.cluster.epoch_ends(node, &body)),
            }),
            Work::ListOffsets(lid, body) => Some(Response::ListOffsets {
                id: lid,
                result: Ok(self.cluster.list_offsets(node, &body)),
            }),
            Work::OffsetFetch(oid, body) => {
                self.offset_fetches_named += u64::from(body.member.is_some());
                let response = if node != self.coordinator_node {
                    offset_fetch_response(KafkaCode::NOT_COORDINATOR, &[])
                } else if self.errors && self.rng.chance(20) {
                    offset_fetch_response(KafkaCode::COORDINATOR_LOAD_IN_PROGRESS, &[])
                } else if let Some(code) = self
                    .kip848
                    .as_ref()
                    .and_then(|k| k.offset_fetch_error(body.member.as_ref()))
                {
                    self.offset_fetch_refusals += 1;
                    offset_fetch_response(code, &[])
                } else {
                    let parts: Vec<_> = body
                        .partitions
                        .iter()
                        .map(|tp| {
                            let c = self.coordinator.committed.get(tp).copied().unwrap_or(-1);
                            (tp.clone(), KafkaCode::NONE, c)
                        })
                        .collect();
                    let mut response = offset_fetch_response(KafkaCode::NONE, &parts);
                    for t in &mut response.topics {
                        for p in &mut t.partitions {
                            let tp = crate::types::TopicPartition::new(t.name.as_str(), p.partition_index);
                            p.committed_leader_epoch =
                                self.coordinator.committed_epochs.get(&tp).copied().unwrap_or(-1);
                        }
                    }
                    response
                };
                Some(Response::OffsetFetch {
                    id: oid,
                    result: Ok(response),
                })
            }
            Work::Commit(cid, body) => {
                let code = if node != self.coordinator_node {
                    KafkaCode::NOT_COORDINATOR
                } else if self.errors && self.rng.chance(20) {
                    KafkaCode::COORDINATOR_LOAD_IN_PROGRESS
                } else {
                    let (code, backwards) = match &self.kip848 {
                        Some(k) => {
                            match k.commit_error(&body.member_id, body.generation_id_or_member_epoch) {
                                Some(code) => (code, vec![]),
                                None => (KafkaCode::NONE, self.coordinator.store_commit(&body)),
                            }
                        }
                        None => self.coordinator.commit(&body, now),
                    };
                    self.coordinator_changed();
                    let t = self.t();
                    let name = self
                        .member_ids
                        .get(&body.member_id)
                        .cloned()
                        .unwrap_or_else(|| self.members[member].name.clone());
                    for (tp, from, to) in backwards {
                        self.history.record(t, &name, Fact::CommitBackwards(tp, from, to));
                    }
                    if code == KafkaCode::NONE {
                        for o in &body.offsets {
                            self.history
                                .record(t, &name, Fact::Committed(o.tp.clone(), o.offset));
                        }
                    }
                    code
                };
                let parts: Vec<_> = body.offsets.iter().map(|o| (o.tp.clone(), code)).collect();
                Some(Response::Commit {
                    id: cid,
                    result: Ok(offset_commit_response(&parts)),
                })
            }
        }
    }

    /// A ConsumerGroupHeartbeat for the KIP-848 coordinator; garbage or a world without one is
    /// answered UNSUPPORTED_VERSION, as a classic-only broker would.
    fn consumer_group_heartbeat(&mut self, mut body: Bytes, version: i16) -> Bytes {
        let now = self.now;
        let request = ConsumerGroupHeartbeatRequest::decode(&mut body, version);
        let loading = self.errors && self.rng.chance(10);
        let response = match (&mut self.kip848, request) {
            // A coordinator still loading the group (or moving): retriable, nothing changes.
            (Some(_), Ok(_)) if loading => {
                let code = if self.rng.chance(2) {
                    KafkaCode::COORDINATOR_LOAD_IN_PROGRESS
                } else {
                    KafkaCode::COORDINATOR_NOT_AVAILABLE
                };
                ConsumerGroupHeartbeatResponse::default().with_error_code(code.0)
            }
            (Some(k), Ok(r)) => k.handle(&r, now),
            _ => ConsumerGroupHeartbeatResponse::default().with_error_code(KafkaCode::UNSUPPORTED_VERSION.0),
        };
        if response.error_code == 0 {
            self.kip848_heartbeats += 1;
        }
        self.schedule_kip848_expiry();
        encode(&response, version)
    }

    /// The KIP-848 coordinator's next session expiry, on the world's queue.
    pub(super) fn schedule_kip848_expiry(&mut self) {
        if let Some(at) = self.kip848.as_ref().and_then(|k| k.next_expiry())
            && self.kip848_timer.is_none_or(|t| at < t || t < self.now)
        {
            self.kip848_timer = Some(at);
            self.at(at, Ev::Kip848Timer);
        }
    }

    pub(super) fn find_coordinator(&self, version: i16) -> Bytes {
        let node = self.coordinator_node;
        let host = StrBytes::from_string(format!("broker-{node}"));
        let r = if version >= 4 {
            FindCoordinatorResponse::default().with_coordinators(vec![
                FoundCoordinator::default()
                    .with_key(StrBytes::from_static_str("g"))
                    .with_node_id(BrokerId(node))
                    .with_host(host)
                    .with_port(9092),
            ])
        } else {
            FindCoordinatorResponse::default()
                .with_node_id(BrokerId(node))
                .with_host(host)
                .with_port(9092)
        };
        encode(&r, version)
    }

    /// The coordinator may have released held answers or moved its timer.
    pub(super) fn coordinator_changed(&mut self) {
        for (reply, bytes) in self.coordinator.take_replies() {
            let Some(req) = self.reqs.get(&reply.token) else {
                continue;
            };
            let Transmit::Group { request, .. } = &req.transmit else {
                continue;
            };
            let response = Response::Group {
                id: request.id,
                version: reply.version,
                result: Ok(bytes),
            };
            self.answer(reply.token, response);
        }
        if let Some(at) = self.coordinator.next_timer()
            && self.coordinator_timer.is_none_or(|t| at < t || t < self.now)
        {
            self.coordinator_timer = Some(at);
            self.at(at, Ev::CoordinatorTimer);
        }
    }

    /// Resets a connection: every request on it (or on its way to it) fails.
    pub(super) fn disconnect(&mut self, key: ConnKey) {
        let ids: Vec<u64> = self
            .reqs
            .iter()
            .filter(|(_, r)| r.conn == key && r.state != ReqState::Done)
            .map(|(id, _)| *id)
            .collect();
        self.conns.remove(&key);
        self.wire.remove(&key);
        self.silent.remove(&key);
        self.coordinator.forget_replies(|token| ids.contains(&token));
        self.held_fetches.retain(|h| !ids.contains(h));
        for id in ids {
            let delay = self.latency();
            self.fail(id, connection_reset(), delay);
        }
        // Requests still at the broker on a dead connection are answered to nobody.
    }

    pub(super) fn answer_fetch(&mut self, id: u64) {
        let Some(req) = self.reqs.get(&id) else {
            return;
        };
        let node = req.conn.2;
        let version = req.version;
        let Transmit::Fetch(FetchRequest::Fetch { id: fid, body, .. }) = &req.transmit else {
            return;
        };
        let fid = *fid;
        let faults = self.errors;
        let mut response = self.cluster.fetch(node, body, version, &mut self.rng, faults);
        if let Some(opened) = self.opened_fetches.remove(&id) {
            self.sessions.answer(node, opened, &mut response);
        }
        self.answer(
            id,
            Response::Fetch {
                id: fid,
                result: Ok(response),
            },
        );
    }
}

fn encode<T: Encodable>(msg: &T, version: i16) -> Bytes {
    let mut buf = bytes::BytesMut::new();
    let _ = msg.encode(&mut buf, version);
    buf.freeze()
}

/// A group request sent to a broker that is not the coordinator.
fn not_coordinator(api: ApiKey, version: i16) -> Bytes {
    let code = KafkaCode::NOT_COORDINATOR.0;
    match api {
        ApiKey::JoinGroup => encode(
            &JoinGroupResponse::default()
                .with_error_code(code)
                .with_generation_id(-1)
                .with_protocol_name(Some(StrBytes::from_static_str(""))),
            version,
        ),
        ApiKey::SyncGroup => encode(&SyncGroupResponse::default().with_error_code(code), version),
        ApiKey::Heartbeat => encode(&HeartbeatResponse::default().with_error_code(code), version),
        ApiKey::ConsumerGroupHeartbeat => encode(
            &ConsumerGroupHeartbeatResponse::default().with_error_code(code),
            version,
        ),
        _ => encode(&LeaveGroupResponse::default().with_error_code(code), version),
    }
}
