//! The consumer-group state machine (`kafkit::fuzzing::GroupHarness`, the crate-private
//! `GroupMachine` exposed under `--cfg fuzzing`) driven by an operation sequence read from the
//! input, on a virtual clock, against a coordinator whose answers the input also chooses: raw
//! bytes, transport errors, or well-formed responses built with kafka-protocol's broker-side
//! encoders (any error code, member ids, leaders, generations, protocols, member subscriptions
//! and assignments), so that inputs get past FindCoordinator and JoinGroup.
//!
//! The shape is `src/group/sim_tests/random_ops.rs`. Invariants checked after every operation:
//! no panic; partitions are assigned only when not owned and revoked or lost only when owned;
//! nothing follows a Fatal event; a member that is leaving sends no JoinGroup or SyncGroup; the
//! machine never asks to be woken in the past; a member with a generation is neither left nor
//! failed; every request id is fresh; and the leader's SyncGroup gives no partition to two members
//! and none beyond the partition counts it was told.
#![no_main]

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{
    BrokerId, FindCoordinatorRequest, FindCoordinatorResponse, HeartbeatResponse, JoinGroupRequest,
    JoinGroupResponse, LeaveGroupResponse, SyncGroupRequest, SyncGroupResponse,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use kafkit::ErrorKind;
use kafkit::TopicPartition;
use kafkit::fuzzing::{GroupHarness, HarnessConfig, HarnessEvent, HarnessRequest, transport_error};
use kafkit::wire::{ApiKey, Assignment, SUPPORTED, Subscription, TopicPartitions};
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;

const TOPICS: [&str; 3] = ["a", "b", "c"];
/// Racks of members and replicas (rack-aware assignment, KIP-881).
const RACKS: [&str; 3] = ["r0", "r1", "r2"];

/// Group error codes the machine distinguishes, and a few others.
const CODES: &[i16] = &[
    0, 0, 0, 0,  // NONE, most often
    15, // COORDINATOR_NOT_AVAILABLE
    16, // NOT_COORDINATOR
    14, // COORDINATOR_LOAD_IN_PROGRESS
    27, // REBALANCE_IN_PROGRESS
    22, // ILLEGAL_GENERATION
    25, // UNKNOWN_MEMBER_ID
    79, // MEMBER_ID_REQUIRED
    7,  // REQUEST_TIMED_OUT
    -1, // UNKNOWN_SERVER_ERROR
    82, // FENCED_INSTANCE_ID
    30, // GROUP_AUTHORIZATION_FAILED
    23, // INCONSISTENT_GROUP_PROTOCOL
];

fn code(u: &mut Unstructured) -> Result<i16> {
    if u.ratio(1, 16)? {
        return u.arbitrary();
    }
    Ok(*u.choose(CODES)?)
}

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_owned())
}

fn encode<T: Encodable>(message: &T, version: i16) -> Option<Bytes> {
    let mut buf = BytesMut::new();
    message.encode(&mut buf, version).ok()?;
    Some(buf.freeze())
}

fn topic_subset(u: &mut Unstructured) -> Result<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    for t in TOPICS {
        if u.arbitrary()? {
            out.insert(t.to_owned());
        }
    }
    Ok(out)
}

fn partitions(u: &mut Unstructured) -> Result<Vec<TopicPartitions>> {
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for _ in 0..u.int_in_range(0..=8)? {
        let topic = *u.choose(&TOPICS)?;
        let p = if u.ratio(1, 32)? {
            u.arbitrary()?
        } else {
            u.int_in_range(0..=9)?
        };
        by_topic.entry(topic).or_default().push(p);
    }
    Ok(by_topic
        .into_iter()
        .map(|(topic, partitions)| TopicPartitions {
            topic: topic.into(),
            partitions,
        })
        .collect())
}

fn raw(u: &mut Unstructured) -> Result<Bytes> {
    let len = u.int_in_range(0..=64)?;
    Ok(Bytes::copy_from_slice(u.bytes(len)?))
}

/// Another member's JoinGroup metadata: a subscription, or junk.
fn member_metadata(u: &mut Unstructured) -> Result<Bytes> {
    if u.ratio(1, 8)? {
        return raw(u);
    }
    let subscription = Subscription {
        version: u.int_in_range(0..=4)?,
        topics: topic_subset(u)?.iter().map(|t| t.as_str().into()).collect(),
        user_data: if u.ratio(1, 4)? { Some(raw(u)?) } else { None },
        owned_partitions: partitions(u)?,
        generation_id: u.int_in_range(-1..=6)?,
        rack_id: match u.int_in_range(0..=4)? {
            0 => Some("".into()),
            n @ 1..=3 => Some(RACKS[n as usize - 1].into()),
            _ => None,
        },
    };
    Ok(subscription.encode().unwrap_or_default())
}

fn versions(u: &mut Unstructured) -> Result<HashMap<ApiKey, i16>> {
    let mut out = HashMap::new();
    for &(api, min, max) in SUPPORTED {
        out.insert(api, u.int_in_range(min..=max)?);
    }
    Ok(out)
}

fn config(u: &mut Unstructured) -> Result<HarnessConfig> {
    let secs = |s: u64| Duration::from_secs(s);
    let session_timeout = *u.choose(&[secs(10), secs(45), Duration::from_millis(6_000)])?;
    Ok(HarnessConfig {
        cooperative: u.arbitrary()?,
        static_member: u.ratio(1, 4)?,
        session_timeout,
        heartbeat_interval: *u.choose(&[secs(1), secs(3)])?,
        rebalance_timeout: *u.choose(&[secs(60), secs(300), secs(5)])?,
        request_timeout: *u.choose(&[secs(30), secs(2)])?,
        retry_backoff: *u.choose(&[Duration::from_millis(100), Duration::from_millis(1), secs(2)])?,
    })
}

/// A request in flight, with what the coordinator needs to answer it.
struct Pending {
    request: HarnessRequest,
    version: i16,
    body: Bytes,
}

/// The response body the coordinator sends, built from fuzz data.
fn response(u: &mut Unstructured, p: &Pending) -> Result<Option<Bytes>> {
    let v = p.version;
    let mut body = p.body.clone();
    let code = code(u)?;
    Ok(match p.request.api {
        ApiKey::FindCoordinator => {
            let Ok(req) = FindCoordinatorRequest::decode(&mut body, v) else {
                return Ok(None);
            };
            let node = BrokerId(u.int_in_range(-1..=3)?);
            let host = sb(if u.ratio(1, 8)? { "" } else { "coordinator.example" });
            let port = u.int_in_range(-1..=9092)?;
            let message = if v >= 4 {
                let key = req.coordinator_keys.first().cloned().unwrap_or_default();
                let key = if u.ratio(1, 16)? { sb("other-group") } else { key };
                FindCoordinatorResponse::default().with_coordinators(vec![
                    Coordinator::default()
                        .with_key(key)
                        .with_node_id(node)
                        .with_host(host)
                        .with_port(port)
                        .with_error_code(code),
                ])
            } else {
                FindCoordinatorResponse::default()
                    .with_error_code(code)
                    .with_node_id(node)
                    .with_host(host)
                    .with_port(port)
            };
            encode(&message, v)
        }
        ApiKey::JoinGroup => {
            let Ok(req) = JoinGroupRequest::decode(&mut body, v) else {
                return Ok(None);
            };
            let me = if req.member_id.is_empty() || u.ratio(1, 16)? {
                sb(*u.choose(&["m", "m2"])?)
            } else {
                req.member_id.clone()
            };
            let leader = if u.arbitrary()? { me.clone() } else { sb("other") };
            let offered: Vec<String> = req.protocols.iter().map(|p| p.name.to_string()).collect();
            let protocol = if u.ratio(1, 16)? || offered.is_empty() {
                (*u.choose(&["range", "roundrobin", "cooperative-sticky", "bogus"])?).to_owned()
            } else {
                u.choose(&offered)?.clone()
            };
            let own_metadata = req
                .protocols
                .iter()
                .find(|p| p.name.as_str() == protocol)
                .map(|p| p.metadata.clone())
                .unwrap_or_default();
            let mut members = vec![];
            if leader == me {
                members.push(
                    JoinGroupResponseMember::default()
                        .with_member_id(me.clone())
                        .with_metadata(own_metadata),
                );
                for i in 0..u.int_in_range(0..=3)? {
                    members.push(
                        JoinGroupResponseMember::default()
                            .with_member_id(sb(&format!("peer-{i}")))
                            .with_group_instance_id(if v >= 5 && u.arbitrary()? {
                                Some(sb(&format!("peer-instance-{i}")))
                            } else {
                                None
                            })
                            .with_metadata(member_metadata(u)?),
                    );
                }
            }
            let generation = if u.ratio(1, 16)? {
                u.arbitrary()?
            } else {
                u.int_in_range(0..=6)?
            };
            let message = JoinGroupResponse::default()
                .with_error_code(code)
                .with_generation_id(if code == 0 { generation } else { -1 })
                .with_protocol_type(Some(sb("consumer")))
                .with_protocol_name(Some(sb(&protocol)))
                .with_leader(leader)
                .with_skip_assignment(v >= 9 && u.ratio(1, 8)?)
                .with_member_id(me)
                .with_members(if code == 0 { members } else { vec![] });
            encode(&message, v)
        }
        ApiKey::SyncGroup => {
            let assignment = if u.ratio(1, 8)? {
                raw(u)?
            } else {
                Assignment {
                    version: u.int_in_range(0..=4)?,
                    partitions: partitions(u)?,
                    user_data: None,
                }
                .encode()
                .unwrap_or_default()
            };
            let message = SyncGroupResponse::default()
                .with_error_code(code)
                .with_protocol_type(Some(sb("consumer")))
                .with_protocol_name(Some(sb("range")))
                .with_assignment(if code == 0 { assignment } else { Bytes::new() });
            encode(&message, v)
        }
        ApiKey::Heartbeat => encode(&HeartbeatResponse::default().with_error_code(code), v),
        _ => encode(&LeaveGroupResponse::default().with_error_code(code), v),
    })
}

/// The leader's assignment: no partition twice, none beyond the partition counts it was given.
fn check_sync_request(p: &Pending, max_counts: &BTreeMap<String, i32>) {
    let mut body = p.body.clone();
    let Ok(req) = SyncGroupRequest::decode(&mut body, p.version) else {
        panic!("kafkit sent a SyncGroup v{} a broker cannot decode", p.version);
    };
    let mut seen = BTreeSet::new();
    for member in &req.assignments {
        let Ok(a) = Assignment::decode(member.assignment.clone()) else {
            panic!("the leader sent an undecodable assignment: {member:?}");
        };
        for tp in &a.partitions {
            let count = max_counts.get(tp.topic.as_str()).copied().unwrap_or(0);
            for &partition in &tp.partitions {
                assert!(
                    (0..count).contains(&partition),
                    "assigned {}-{partition}, but the topic has {count} partitions",
                    tp.topic.as_str()
                );
                assert!(
                    seen.insert((tp.topic.to_string(), partition)),
                    "{}-{partition} assigned to two members: {req:?}",
                    tp.topic.as_str()
                );
            }
        }
    }
}

struct Run {
    m: GroupHarness,
    now: Instant,
    versions: HashMap<ApiKey, i16>,
    pending: Vec<Pending>,
    answered: Vec<u64>,
    ids: HashSet<u64>,
    owned: BTreeSet<TopicPartition>,
    max_counts: BTreeMap<String, i32>,
    fatal: bool,
    closing: bool,
}

impl Run {
    /// Drains requests (encoding each at the negotiated version, or answering the encode error at
    /// once as the engine does) and events, checking the invariants.
    fn drain(&mut self) {
        while let Some(request) = self.m.poll_request() {
            assert!(self.ids.insert(request.id), "request id {} reused", request.id);
            assert!(
                !self.closing || !matches!(request.api, ApiKey::JoinGroup | ApiKey::SyncGroup),
                "a leaving member sent {:?}",
                request.api
            );
            if request.api == ApiKey::FindCoordinator {
                assert_eq!(request.coordinator, None, "FindCoordinator goes to any broker");
            } else {
                assert!(
                    request.coordinator.is_some(),
                    "{:?} with no coordinator",
                    request.api
                );
            }
            let version = self.versions.get(&request.api).copied().unwrap_or(0);
            match request.encode(version) {
                Ok(body) => {
                    let pending = Pending {
                        request,
                        version,
                        body,
                    };
                    if pending.request.api == ApiKey::SyncGroup {
                        check_sync_request(&pending, &self.max_counts);
                    }
                    self.pending.push(pending);
                }
                Err(e) => self.m.handle_response(request.id, Err(e), version, self.now),
            }
        }
        while let Some(e) = self.m.poll_event() {
            assert!(!self.fatal, "event after Fatal: {e:?}");
            match e {
                HarnessEvent::Assigned(p) => {
                    for tp in p {
                        assert!(tp.partition >= 0, "assigned {tp}");
                        assert!(self.owned.insert(tp.clone()), "{tp} assigned twice");
                    }
                }
                HarnessEvent::Revoke(p) | HarnessEvent::Lost(p, _) => {
                    for tp in p {
                        assert!(self.owned.remove(&tp), "{tp} revoked or lost but not owned");
                    }
                }
                HarnessEvent::Fatal(_) => self.fatal = true,
                HarnessEvent::Joined { .. } | HarnessEvent::CoordinatorUnavailable(_) => {}
            }
        }
    }

    fn check(&self) {
        if let Some(t) = self.m.poll_timeout() {
            assert!(t > self.now, "wake-up in the past ({:?})", self.now - t);
        }
        if self.m.generation().is_some() {
            assert!(
                !self.fatal && !self.m.is_left(),
                "a generation after leaving or failing"
            );
        }
        assert!(
            self.m.assignment().is_subset(&self.owned),
            "the machine owns {:?}, the events gave {:?}",
            self.m.assignment(),
            self.owned
        );
    }

    /// Moves the clock forward, firing timers as the engine would.
    fn advance(&mut self, d: Duration) {
        let target = self.now + d;
        for _ in 0..10_000 {
            match self.m.poll_timeout() {
                Some(t) if t <= target => {
                    self.now = self.now.max(t);
                    self.m.handle_timeout(self.now);
                    self.drain();
                }
                _ => break,
            }
        }
        self.now = target;
        self.m.handle_timeout(self.now);
    }

    fn step(&mut self, u: &mut Unstructured) -> Result<()> {
        let now = self.now;
        match u.int_in_range(0..=15)? {
            0 => {
                let topics = topic_subset(u)?;
                self.closing = topics.is_empty();
                self.m.subscribe(topics, now);
            }
            1 => {
                self.m.leave(u.arbitrary()?, now);
                self.closing = true;
            }
            2 => {
                self.m.rejoin(now);
                self.closing = false;
            }
            3 => self.m.handle_revoke_done(now),
            4 => self.m.handle_commit_error(code(u)?, now),
            5 => {
                let mut counts = BTreeMap::new();
                let mut racks = BTreeMap::new();
                for t in topic_subset(u)? {
                    let count = u.int_in_range(0..=10)?;
                    let max = self.max_counts.entry(t.clone()).or_insert(0);
                    *max = (*max).max(count);
                    for p in 0..count {
                        let mut on = BTreeSet::new();
                        for r in RACKS {
                            if u.ratio(1, 3)? {
                                on.insert(r.to_owned());
                            }
                        }
                        if !on.is_empty() {
                            racks.insert(TopicPartition::new(t.as_str(), p), on);
                        }
                    }
                    counts.insert(t, count);
                }
                self.m.handle_partition_counts(&counts, &racks, now);
            }
            6 | 7 => {
                let millis = if u.ratio(1, 16)? {
                    u.int_in_range(0..=3_600_000)?
                } else {
                    u.int_in_range(0..=20_000)?
                };
                self.advance(Duration::from_millis(millis));
            }
            8 if !self.answered.is_empty() => {
                // A duplicate or late answer: ignored.
                let id = *u.choose(&self.answered)?;
                let body = raw(u)?;
                self.m.handle_response(id, Ok(body), 0, now);
            }
            _ if !self.pending.is_empty() => {
                let index = u.choose_index(self.pending.len())?;
                let p = self.pending.swap_remove(index);
                let answer = match u.int_in_range(0..=9)? {
                    0 => Err(transport_error(*u.choose(&[
                        ErrorKind::Connection,
                        ErrorKind::Timeout,
                        ErrorKind::Protocol,
                        ErrorKind::Closed,
                        ErrorKind::UnsupportedVersion,
                    ])?)),
                    1 => Ok(raw(u)?),
                    _ => match response(u, &p)? {
                        Some(body) => Ok(body),
                        None => Err(transport_error(ErrorKind::Protocol)),
                    },
                };
                self.answered.push(p.request.id);
                self.m.handle_response(p.request.id, answer, p.version, now);
            }
            _ => {}
        }
        self.drain();
        self.check();
        Ok(())
    }
}

fn run(u: &mut Unstructured) -> Result<()> {
    let config = config(u)?;
    let versions = versions(u)?;
    let now = Instant::now();
    let Ok(m) = GroupHarness::new(&config, now) else {
        return Ok(());
    };
    let mut run = Run {
        m,
        now,
        versions,
        pending: vec![],
        answered: vec![],
        ids: HashSet::new(),
        owned: BTreeSet::new(),
        max_counts: BTreeMap::new(),
        fatal: false,
        closing: false,
    };
    for _ in 0..2_000 {
        if u.is_empty() {
            break;
        }
        run.step(u)?;
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
