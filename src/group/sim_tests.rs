//! The membership machine on a virtual clock against a scripted coordinator: requests are encoded
//! at the negotiated version and decoded with `kafka-protocol`'s broker-side decoders, responses
//! are encoded with its broker-side encoders.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::find_coordinator_response::{Coordinator, FindCoordinatorResponse};
use kafka_protocol::messages::join_group_response::{JoinGroupResponse, JoinGroupResponseMember};
use kafka_protocol::messages::{
    BrokerId, FindCoordinatorRequest, HeartbeatRequest, HeartbeatResponse, JoinGroupRequest,
    LeaveGroupRequest, LeaveGroupResponse, SyncGroupRequest, SyncGroupResponse,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

use super::*;
use crate::error::{Error, ErrorKind};
use crate::types::TopicPartition;
use crate::wire::{ApiKey, Assignment, KafkaCode};

mod consumer_protocol;
mod fresh_counts;
mod leaving;
mod manual;
mod racks;
mod random_ops;
mod scenarios;
mod two_members;

/// Negotiated versions, per API.
#[derive(Debug, Clone, Copy)]
pub(super) struct Versions {
    find: i16,
    join: i16,
    sync: i16,
    heartbeat: i16,
    leave: i16,
}

/// The newest versions kafkit speaks.
pub(super) const LATEST: Versions = Versions {
    find: 4,
    join: 9,
    sync: 5,
    heartbeat: 4,
    leave: 5,
};
/// The Kafka 2.1 protocol baseline (KIP-896).
pub(super) const KAFKA_2_1: Versions = Versions {
    find: 2,
    join: 3,
    sync: 2,
    heartbeat: 2,
    leave: 2,
};
/// librdkafka's mock cluster caps.
pub(super) const RDKAFKA_MOCK: Versions = Versions {
    find: 3,
    join: 6,
    sync: 4,
    heartbeat: 3,
    leave: 4,
};

impl Versions {
    fn of(&self, api: ApiKey) -> i16 {
        match api {
            ApiKey::FindCoordinator => self.find,
            ApiKey::JoinGroup => self.join,
            ApiKey::SyncGroup => self.sync,
            ApiKey::Heartbeat => self.heartbeat,
            _ => self.leave,
        }
    }
}

/// A request as the broker would decode it (fields are read through `Debug` in failures).
#[derive(Debug)]
#[allow(dead_code)]
pub(super) enum Req {
    Find(FindCoordinatorRequest),
    Join(JoinGroupRequest),
    Sync(SyncGroupRequest),
    Heartbeat(HeartbeatRequest),
    Leave(LeaveGroupRequest),
}

#[derive(Debug, Clone)]
pub(super) struct Sent {
    pub(super) id: RequestId,
    pub(super) target: Target,
    pub(super) timeout: Duration,
    pub(super) version: i16,
}

pub(super) struct Sim {
    pub(super) m: GroupMachine,
    pub(super) now: Instant,
    pub(super) v: Versions,
    pub(super) events: Vec<GroupEvent>,
}

pub(super) fn config() -> GroupConfig {
    let mut c = GroupConfig::new("g");
    c.session_timeout = Duration::from_secs(10);
    c.heartbeat_interval = Duration::from_secs(3);
    c.rebalance_timeout = Duration::from_secs(60);
    c
}

pub(super) fn encode<T: Encodable>(msg: &T, version: i16) -> Bytes {
    let mut buf = BytesMut::new();
    msg.encode(&mut buf, version).expect("reference encoder");
    buf.freeze()
}

pub(super) fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_owned())
}

impl Sim {
    pub(super) fn new(config: GroupConfig, v: Versions) -> Sim {
        let now = Instant::now();
        Sim {
            m: GroupMachine::new(config, now),
            now,
            v,
            events: vec![],
        }
    }

    /// Drains requests (encoded and decoded as a broker would) and events.
    pub(super) fn poll(&mut self) -> Vec<(Sent, Req)> {
        let mut out = vec![];
        while let Some(r) = self.m.poll_request() {
            let api = r.request.api();
            let version = self.v.of(api);
            let mut body = r.request.encode(version).expect("encodable").0;
            let req = match api {
                ApiKey::FindCoordinator => {
                    Req::Find(FindCoordinatorRequest::decode(&mut body, version).unwrap())
                }
                ApiKey::JoinGroup => Req::Join(JoinGroupRequest::decode(&mut body, version).unwrap()),
                ApiKey::SyncGroup => Req::Sync(SyncGroupRequest::decode(&mut body, version).unwrap()),
                ApiKey::Heartbeat => Req::Heartbeat(HeartbeatRequest::decode(&mut body, version).unwrap()),
                _ => Req::Leave(LeaveGroupRequest::decode(&mut body, version).unwrap()),
            };
            let sent = Sent {
                id: r.id,
                target: r.target,
                timeout: r.timeout,
                version,
            };
            out.push((sent, req));
        }
        while let Some(e) = self.m.poll_event() {
            self.events.push(e);
        }
        out
    }

    /// Exactly one request must be due.
    pub(super) fn one(&mut self) -> (Sent, Req) {
        let mut all = self.poll();
        assert_eq!(all.len(), 1, "expected one request, got {all:?}");
        all.remove(0)
    }

    pub(super) fn reply<T: Encodable>(&mut self, sent: &Sent, response: T) {
        let body = encode(&response, sent.version);
        self.m.handle_response(sent.id, Ok(body), sent.version, self.now);
    }

    pub(super) fn fail(&mut self, sent: &Sent) {
        let e = Error::new(ErrorKind::Connection, "connection reset");
        self.m.handle_response(sent.id, Err(e), sent.version, self.now);
    }

    /// Moves the clock forward, firing timers as the engine would, and returns what was sent.
    pub(super) fn advance(&mut self, d: Duration) -> Vec<(Sent, Req)> {
        let target = self.now + d;
        let mut out = self.poll();
        for _ in 0..10_000 {
            match self.m.poll_timeout() {
                Some(t) if t <= target => {
                    self.now = self.now.max(t);
                    self.m.handle_timeout(self.now);
                    out.extend(self.poll());
                }
                _ => break,
            }
        }
        self.now = target;
        self.m.handle_timeout(self.now);
        out.extend(self.poll());
        out
    }

    pub(super) fn take_events(&mut self) -> Vec<GroupEvent> {
        while let Some(e) = self.m.poll_event() {
            self.events.push(e);
        }
        std::mem::take(&mut self.events)
    }

    pub(super) fn subscribe(&mut self, topics: &[&str]) {
        let topics = topics.iter().map(|t| t.to_string()).collect();
        self.m.subscribe(topics, self.now);
    }

    pub(super) fn counts(&mut self, counts: &[(&str, i32)]) {
        let counts = counts.iter().map(|(t, c)| (t.to_string(), *c)).collect();
        self.m
            .handle_partition_counts(&counts, &Default::default(), self.now);
    }

    /// Partition counts with the racks of each partition's replicas.
    pub(super) fn counts_and_racks(&mut self, counts: &[(&str, i32)], racks: &[((&str, i32), &str)]) {
        let counts = counts.iter().map(|(t, c)| (t.to_string(), *c)).collect();
        let racks = racks
            .iter()
            .map(|((t, p), r)| (TopicPartition::new(*t, *p), [r.to_string()].into()))
            .collect();
        self.m.handle_partition_counts(&counts, &racks, self.now);
    }
}

// ----- responses -----

pub(super) fn find_ok(v: i16, node: i32) -> FindCoordinatorResponse {
    if v >= 4 {
        FindCoordinatorResponse::default().with_coordinators(vec![
            Coordinator::default()
                .with_key(sb("g"))
                .with_node_id(BrokerId(node))
                .with_host(sb("coordinator.example"))
                .with_port(9092),
        ])
    } else {
        FindCoordinatorResponse::default()
            .with_node_id(BrokerId(node))
            .with_host(sb("coordinator.example"))
            .with_port(9092)
    }
}

pub(super) fn find_err(v: i16, code: KafkaCode) -> FindCoordinatorResponse {
    if v >= 4 {
        FindCoordinatorResponse::default().with_coordinators(vec![
            Coordinator::default()
                .with_key(sb("g"))
                .with_node_id(BrokerId(-1))
                .with_error_code(code.0),
        ])
    } else {
        FindCoordinatorResponse::default()
            .with_error_code(code.0)
            .with_node_id(BrokerId(-1))
    }
}

pub(super) fn join_err(code: KafkaCode, member_id: &str) -> JoinGroupResponse {
    JoinGroupResponse::default()
        .with_error_code(code.0)
        .with_generation_id(-1)
        .with_protocol_name(Some(sb("")))
        .with_member_id(sb(member_id))
}

pub(super) fn join_ok(
    generation: i32,
    member_id: &str,
    leader: &str,
    protocol: &str,
    members: &[(&str, Bytes)],
) -> JoinGroupResponse {
    JoinGroupResponse::default()
        .with_generation_id(generation)
        .with_protocol_type(Some(sb("consumer")))
        .with_protocol_name(Some(sb(protocol)))
        .with_leader(sb(leader))
        .with_member_id(sb(member_id))
        .with_members(
            members
                .iter()
                .map(|(id, metadata)| {
                    JoinGroupResponseMember::default()
                        .with_member_id(sb(id))
                        .with_metadata(metadata.clone())
                })
                .collect(),
        )
}

pub(super) fn sync_ok(assignment: Bytes) -> SyncGroupResponse {
    SyncGroupResponse::default()
        .with_protocol_type(Some(sb("consumer")))
        .with_protocol_name(Some(sb("range")))
        .with_assignment(assignment)
}

pub(super) fn sync_err(code: KafkaCode) -> SyncGroupResponse {
    SyncGroupResponse::default().with_error_code(code.0)
}

pub(super) fn hb(code: KafkaCode) -> HeartbeatResponse {
    HeartbeatResponse::default().with_error_code(code.0)
}

pub(super) fn leave_ok() -> LeaveGroupResponse {
    LeaveGroupResponse::default()
}

pub(super) fn assignment_bytes(partitions: &[(&str, i32)]) -> Bytes {
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (t, p) in partitions {
        by_topic.entry(t).or_default().push(*p);
    }
    Assignment {
        version: 3,
        partitions: by_topic
            .into_iter()
            .map(|(topic, partitions)| crate::wire::TopicPartitions {
                topic: topic.into(),
                partitions,
            })
            .collect(),
        user_data: None,
    }
    .encode()
    .unwrap()
}

pub(super) fn tps(list: &[(&str, i32)]) -> Vec<TopicPartition> {
    let set: BTreeSet<TopicPartition> = list.iter().map(|(t, p)| TopicPartition::new(*t, *p)).collect();
    set.into_iter().collect()
}

/// Runs a lone member through FindCoordinator, JoinGroup (with the KIP-394 handshake where the
/// version has it), leader assignment and SyncGroup. Returns its member id.
pub(super) fn join_alone(sim: &mut Sim, topics: &[&str], counts: &[(&str, i32)], generation: i32) -> String {
    if sim.m.coordinator().is_none() {
        let (s, req) = sim.one();
        assert!(matches!(req, Req::Find(_)), "{req:?}");
        assert_eq!(s.target, Target::AnyBroker);
        let v = s.version;
        sim.reply(&s, find_ok(v, 1));
    }
    let (s, req) = sim.one();
    let Req::Join(mut join) = req else {
        panic!("expected JoinGroup, got {req:?}")
    };
    assert_eq!(s.target, Target::Coordinator(1));
    let member = "member-1";
    if join.member_id.is_empty() && s.version >= 4 {
        sim.reply(&s, join_err(KafkaCode::MEMBER_ID_REQUIRED, member));
        let (s2, req) = sim.one();
        let Req::Join(j) = req else { panic!("{req:?}") };
        assert_eq!(
            j.member_id.as_str(),
            member,
            "KIP-394: rejoin with the assigned id"
        );
        join = j;
        reply_join_alone(sim, &s2, &join, member, generation);
    } else {
        reply_join_alone(sim, &s, &join, member, generation);
    }
    let wanted: BTreeSet<String> = topics.iter().map(|t| t.to_string()).collect();
    assert_eq!(sim.m.topics_needed(), wanted);
    assert!(sim.poll().is_empty(), "the leader waits for partition counts");
    sim.counts(counts);
    let (s, req) = sim.one();
    let Req::Sync(sync) = req else { panic!("{req:?}") };
    assert_eq!(sync.generation_id, generation);
    assert_eq!(sync.assignments.len(), 1);
    let assignment = sync.assignments[0].assignment.clone();
    sim.reply(&s, sync_ok(assignment));
    member.to_owned()
}

fn reply_join_alone(sim: &mut Sim, s: &Sent, join: &JoinGroupRequest, member: &str, generation: i32) {
    let protocol = join.protocols[0].name.to_string();
    let metadata = join.protocols[0].metadata.clone();
    sim.reply(
        s,
        join_ok(generation, member, member, &protocol, &[(member, metadata)]),
    );
}
