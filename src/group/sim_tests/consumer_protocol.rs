//! The consumer-protocol machine (KIP-848) on a virtual clock, against the simulated coordinator
//! in [`crate::sim::kip848`]: requests are encoded at the negotiated version and decoded with
//! `kafka-protocol`'s broker-side decoders, answers encoded with its broker-side encoders.
//!
//! [`World`] runs several members against one coordinator; the application side of each member
//! acknowledges revokes at once unless told to hold them, and [`World::check_owners`] asserts
//! after every step that no partition is owned by two members' applications at once.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use kafka_protocol::messages::find_coordinator_response::{Coordinator, FindCoordinatorResponse};
use kafka_protocol::messages::{BrokerId, ConsumerGroupHeartbeatRequest};
use kafka_protocol::protocol::Decodable;

use super::{encode, sb};
use crate::group::{ConsumerMachine, GroupConfig, GroupEvent, LeaveReason, Target, TopicId};
use crate::types::TopicPartition;
use crate::wire::ApiKey;

mod errors;
mod random_ops;
mod scenarios;

use crate::sim::kip848::Kip848Coordinator;

pub(super) const T1: TopicId = [1; 16];
pub(super) const T2: TopicId = [2; 16];

/// One member: its machine, and what its application holds.
pub(super) struct Client {
    pub(super) m: ConsumerMachine,
    /// Partitions the application holds (from `Assigned` until the revoke is done, or `Lost`).
    pub(super) holds: BTreeSet<TopicPartition>,
    /// Revoked partitions the application has not released yet (when revokes are held).
    pub(super) releasing: Option<Vec<TopicPartition>>,
    pub(super) hold_revokes: bool,
    pub(super) events: Vec<GroupEvent>,
    /// Every heartbeat sent, with when and to which node.
    pub(super) heartbeats: Vec<(Instant, Target, ConsumerGroupHeartbeatRequest)>,
    /// Whether the member answers requests (a partitioned member's requests fail).
    pub(super) reachable: bool,
}

pub(super) struct World {
    pub(super) now: Instant,
    pub(super) coordinator: Kip848Coordinator,
    /// The node FindCoordinator names.
    pub(super) coordinator_node: i32,
    pub(super) clients: Vec<Client>,
    pub(super) version: i16,
    /// Topic ids the members' metadata knows.
    pub(super) names: BTreeMap<TopicId, String>,
}

pub(super) fn config() -> GroupConfig {
    let mut c = GroupConfig::new("g");
    c.session_timeout = Duration::from_secs(45);
    c.heartbeat_interval = Duration::from_secs(3);
    c.rebalance_timeout = Duration::from_secs(60);
    c
}

fn find_ok(node: i32) -> FindCoordinatorResponse {
    FindCoordinatorResponse::default().with_coordinators(vec![
        Coordinator::default()
            .with_key(sb("g"))
            .with_node_id(BrokerId(node))
            .with_host(sb("coordinator.example"))
            .with_port(9092),
    ])
}

pub(super) fn tp(topic: &str, p: i32) -> TopicPartition {
    TopicPartition::new(topic, p)
}

impl World {
    /// A world with topics `a` (id [`T1`]) and `b` ([`T2`]) of `partitions` partitions each.
    pub(super) fn new(partitions: i32) -> World {
        let coordinator = Kip848Coordinator::new(&[(T1, "a", partitions), (T2, "b", partitions)]);
        World {
            now: Instant::now(),
            coordinator,
            coordinator_node: 1,
            clients: vec![],
            version: 0,
            names: [(T1, "a".to_owned()), (T2, "b".to_owned())].into(),
        }
    }

    /// Adds a member subscribed to `topics`, with metadata naming every topic id.
    pub(super) fn add(&mut self, config: GroupConfig, topics: &[&str]) -> usize {
        let mut m = ConsumerMachine::new(config, self.now);
        m.handle_topic_ids(&self.names, self.now);
        m.subscribe(topics.iter().map(|t| t.to_string()).collect(), self.now);
        self.clients.push(Client {
            m,
            holds: BTreeSet::new(),
            releasing: None,
            hold_revokes: false,
            events: vec![],
            heartbeats: vec![],
            reachable: true,
        });
        self.clients.len() - 1
    }

    /// Delivers every due request of every member, answers it, and applies events, until quiet.
    pub(super) fn settle(&mut self) {
        for _ in 0..1_000 {
            let mut busy = false;
            for i in 0..self.clients.len() {
                busy |= self.step_client(i);
            }
            self.check_owners();
            if !busy {
                return;
            }
        }
        panic!("the world did not settle");
    }

    fn step_client(&mut self, i: usize) -> bool {
        let mut busy = false;
        while let Some(r) = self.clients[i].m.poll_request() {
            busy = true;
            let version = match r.request.api() {
                ApiKey::FindCoordinator => 4,
                _ => self.version,
            };
            let mut body = r.request.encode(version).expect("encodable").0;
            let now = self.now;
            if !self.clients[i].reachable {
                let e = crate::error::Error::new(crate::error::ErrorKind::Connection, "partitioned");
                self.clients[i].m.handle_response(r.id, Err(e), version, now);
                continue;
            }
            let answer = match r.request.api() {
                ApiKey::FindCoordinator => encode(&find_ok(self.coordinator_node), version),
                ApiKey::ConsumerGroupHeartbeat => {
                    let req = ConsumerGroupHeartbeatRequest::decode(&mut body, version).expect("decodable");
                    let resp = if r.target == Target::Coordinator(self.coordinator_node) {
                        let resp = self.coordinator.handle(&req, now);
                        if std::env::var_os("KIP848_TRACE").is_some() {
                            let owned = req.topic_partitions.as_ref().map(|t| {
                                t.iter()
                                    .map(|t| (t.topic_id.as_bytes()[0], t.partitions.clone()))
                                    .collect::<Vec<_>>()
                            });
                            let given = resp.assignment.as_ref().map(|a| {
                                a.topic_partitions
                                    .iter()
                                    .map(|t| (t.topic_id.as_bytes()[0], t.partitions.clone()))
                                    .collect::<Vec<_>>()
                            });
                            eprintln!(
                                "  member {i} hb epoch {} owned {owned:?} -> err {} epoch {} assignment {given:?}",
                                req.member_epoch, resp.error_code, resp.member_epoch
                            );
                        }
                        resp
                    } else {
                        // The old coordinator, after the group moved.
                        kafka_protocol::messages::ConsumerGroupHeartbeatResponse::default()
                            .with_error_code(crate::wire::KafkaCode::NOT_COORDINATOR.0)
                    };
                    self.clients[i].heartbeats.push((now, r.target, req));
                    encode(&resp, version)
                }
                other => panic!("unexpected {other:?}"),
            };
            self.clients[i].m.handle_response(r.id, Ok(answer), version, now);
        }
        while let Some(e) = self.clients[i].m.poll_event() {
            busy = true;
            if std::env::var_os("KIP848_TRACE").is_some() {
                eprintln!("  member {i} ({}): {e:?}", self.clients[i].m.member_id());
            }
            let c = &mut self.clients[i];
            match &e {
                GroupEvent::Assigned(tps) => {
                    for tp in tps {
                        assert!(c.holds.insert(tp.clone()), "assigned twice: {tp}");
                    }
                }
                GroupEvent::Revoke(tps) => {
                    for tp in tps {
                        assert!(c.holds.contains(tp), "revoked but not held: {tp}");
                    }
                    assert!(c.releasing.is_none(), "a second revoke while one is under way");
                    c.releasing = Some(tps.clone());
                }
                GroupEvent::Lost(tps, _) => {
                    for tp in tps {
                        c.holds.remove(tp);
                    }
                    if c.releasing
                        .as_ref()
                        .is_some_and(|r| r.iter().all(|tp| tps.contains(tp)))
                    {
                        c.releasing = None;
                    }
                }
                _ => {}
            }
            c.events.push(e);
        }
        if !self.clients[i].hold_revokes {
            busy |= self.release(i);
        }
        busy
    }

    /// The application of member `i` releases what it was asked to revoke.
    pub(super) fn release(&mut self, i: usize) -> bool {
        let now = self.now;
        let c = &mut self.clients[i];
        let Some(tps) = c.releasing.take() else {
            return false;
        };
        for tp in &tps {
            c.holds.remove(tp);
        }
        c.m.handle_revoke_done(now);
        true
    }

    /// Moves the clock forward, firing every timer on the way.
    pub(super) fn advance(&mut self, d: Duration) {
        let target = self.now + d;
        self.settle();
        for _ in 0..100_000 {
            let next = self
                .clients
                .iter()
                .filter_map(|c| c.m.poll_timeout())
                .chain(self.coordinator.next_expiry())
                .min();
            match next {
                Some(t) if t <= target => {
                    self.now = self.now.max(t);
                    self.tick();
                }
                _ => break,
            }
        }
        self.now = target;
        self.tick();
    }

    fn tick(&mut self) {
        self.coordinator.expire(self.now);
        for c in &mut self.clients {
            c.m.handle_timeout(self.now);
        }
        self.settle();
    }

    /// No partition is held by two members' applications.
    pub(super) fn check_owners(&self) {
        let mut seen: BTreeMap<&TopicPartition, usize> = BTreeMap::new();
        for (i, c) in self.clients.iter().enumerate() {
            for tp in &c.holds {
                if let Some(j) = seen.insert(tp, i) {
                    panic!("{tp} held by members {j} and {i} at once");
                }
            }
        }
    }

    pub(super) fn holds(&self, i: usize) -> Vec<TopicPartition> {
        self.clients[i].holds.iter().cloned().collect()
    }

    pub(super) fn take_events(&mut self, i: usize) -> Vec<GroupEvent> {
        std::mem::take(&mut self.clients[i].events)
    }

    pub(super) fn leave(&mut self, i: usize, reason: LeaveReason) {
        self.clients[i].m.leave(reason, self.now);
        self.settle();
    }

    /// The last heartbeat member `i` sent.
    pub(super) fn last_heartbeat(&self, i: usize) -> &ConsumerGroupHeartbeatRequest {
        &self.clients[i].heartbeats.last().expect("a heartbeat").2
    }
}

pub(super) fn tps(list: &[(&str, i32)]) -> Vec<TopicPartition> {
    let set: BTreeSet<TopicPartition> = list.iter().map(|(t, p)| tp(t, *p)).collect();
    set.into_iter().collect()
}
