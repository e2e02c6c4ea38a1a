//! Several members through a simulated coordinator (join barrier, leader sync, heartbeats that
//! announce rebalances), with the "application" acknowledging revokes at once. Ownership is
//! tracked as the engine sees it: a partition is owned from `Assigned` until `Revoke`/`Lost`.

use kafka_protocol::messages::LeaveGroupResponse;

use super::*;

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum CoordState {
    Stable,
    Preparing,
    AwaitSync,
}

struct Coordinator {
    generation: i32,
    known: BTreeSet<String>,
    state: CoordState,
    joins: BTreeMap<String, (usize, Sent, JoinGroupRequest)>,
    syncs: Vec<(usize, Sent, String)>,
    leader: Option<String>,
    assignments: Option<BTreeMap<String, Bytes>>,
    next_member: u32,
}

type Delivery = (usize, Sent, Bytes);

impl Coordinator {
    fn new() -> Self {
        Coordinator {
            generation: 0,
            known: BTreeSet::new(),
            state: CoordState::Stable,
            joins: BTreeMap::new(),
            syncs: vec![],
            leader: None,
            assignments: None,
            next_member: 0,
        }
    }

    fn handle(&mut self, from: usize, sent: Sent, req: Req) -> Vec<Delivery> {
        let v = sent.version;
        match req {
            Req::Find(_) => vec![(from, sent, encode(&find_ok(v, 1), v))],
            Req::Join(j) if j.member_id.is_empty() => {
                self.next_member += 1;
                let id = format!("member-{}", self.next_member);
                vec![(
                    from,
                    sent,
                    encode(&join_err(KafkaCode::MEMBER_ID_REQUIRED, &id), v),
                )]
            }
            Req::Join(j) => {
                let id = j.member_id.to_string();
                self.known.insert(id.clone());
                self.joins.insert(id, (from, sent, j));
                self.state = CoordState::Preparing;
                self.maybe_complete_join()
            }
            Req::Sync(s) => {
                if s.generation_id != self.generation {
                    return vec![(from, sent, encode(&sync_err(KafkaCode::ILLEGAL_GENERATION), v))];
                }
                let member = s.member_id.to_string();
                if Some(&member) == self.leader.as_ref() {
                    self.assignments = Some(
                        s.assignments
                            .iter()
                            .map(|a| (a.member_id.to_string(), a.assignment.clone()))
                            .collect(),
                    );
                    if self.joins.is_empty() {
                        self.state = CoordState::Stable;
                    }
                }
                self.syncs.push((from, sent, member));
                let Some(assignments) = &self.assignments else {
                    return vec![];
                };
                self.syncs
                    .drain(..)
                    .map(|(i, sent, member)| {
                        let a = assignments.get(&member).cloned().unwrap_or_default();
                        let v = sent.version;
                        (i, sent, encode(&sync_ok(a), v))
                    })
                    .collect()
            }
            Req::Heartbeat(h) => {
                let code = if !self.known.contains(h.member_id.as_str()) {
                    KafkaCode::UNKNOWN_MEMBER_ID
                } else if self.state == CoordState::Preparing {
                    KafkaCode::REBALANCE_IN_PROGRESS
                } else if h.generation_id != self.generation {
                    KafkaCode::ILLEGAL_GENERATION
                } else {
                    KafkaCode::NONE
                };
                vec![(from, sent, encode(&hb(code), v))]
            }
            Req::Leave(l) => {
                for id in l.members.iter().map(|m| &m.member_id).chain([&l.member_id]) {
                    self.known.remove(id.as_str());
                    self.joins.remove(id.as_str());
                }
                let mut out = vec![(from, sent, encode(&LeaveGroupResponse::default(), v))];
                if !self.known.is_empty() {
                    self.state = CoordState::Preparing;
                    out.extend(self.maybe_complete_join());
                }
                out
            }
        }
    }

    fn maybe_complete_join(&mut self) -> Vec<Delivery> {
        if self.joins.is_empty() || !self.known.iter().all(|m| self.joins.contains_key(m)) {
            return vec![];
        }
        self.generation += 1;
        let joins = std::mem::take(&mut self.joins);
        let leader = self
            .leader
            .clone()
            .filter(|l| joins.contains_key(l))
            .or_else(|| joins.keys().next().cloned())
            .unwrap();
        self.leader = Some(leader.clone());
        self.assignments = None;
        self.state = CoordState::AwaitSync;
        let protocol = joins.values().next().unwrap().2.protocols[0].name.to_string();
        let members: Vec<(String, Bytes)> = joins
            .iter()
            .map(|(id, (_, _, j))| (id.clone(), j.protocols[0].metadata.clone()))
            .collect();
        joins
            .into_iter()
            .map(|(id, (i, sent, _))| {
                let listed: Vec<(&str, Bytes)> = if id == leader {
                    members.iter().map(|(m, b)| (m.as_str(), b.clone())).collect()
                } else {
                    vec![]
                };
                let v = sent.version;
                let body = encode(&join_ok(self.generation, &id, &leader, &protocol, &listed), v);
                (i, sent, body)
            })
            .collect()
    }
}

struct World {
    now: Instant,
    sims: Vec<Sim>,
    coordinator: Coordinator,
    /// What each member's engine owns right now.
    owned: Vec<BTreeSet<TopicPartition>>,
    revoked: Vec<Vec<TopicPartition>>,
    lost: usize,
    joined: Vec<Vec<i32>>,
}

impl World {
    fn new(n: usize, config: impl Fn() -> GroupConfig) -> World {
        let sims: Vec<Sim> = (0..n).map(|_| Sim::new(config(), LATEST)).collect();
        let now = sims[0].now;
        let mut w = World {
            now,
            sims,
            coordinator: Coordinator::new(),
            owned: vec![BTreeSet::new(); n],
            revoked: vec![vec![]; n],
            lost: 0,
            joined: vec![vec![]; n],
        };
        for s in &mut w.sims {
            s.now = now;
            s.counts(&[("t", 4)]);
        }
        w
    }

    fn pump(&mut self) {
        let mut progressed = true;
        while progressed {
            progressed = false;
            for i in 0..self.sims.len() {
                self.sims[i].now = self.now;
                if self.sims[i].m.wants_partition_counts() {
                    // As the engine does: a leader about to assign gets fresh metadata.
                    self.sims[i].counts(&[("t", 4)]);
                    progressed = true;
                }
                for (sent, req) in self.sims[i].poll() {
                    progressed = true;
                    for (j, sent, body) in self.coordinator.handle(i, sent, req) {
                        self.sims[j]
                            .m
                            .handle_response(sent.id, Ok(body), sent.version, self.now);
                    }
                }
                for e in self.sims[i].take_events() {
                    progressed = true;
                    self.apply(i, e);
                }
            }
        }
        for i in 0..self.sims.len() {
            assert_eq!(
                *self.sims[i].m.assignment(),
                self.owned[i],
                "member {i}: machine and engine disagree"
            );
        }
    }

    fn apply(&mut self, i: usize, e: GroupEvent) {
        if std::env::var("SIM_TRACE").is_ok() {
            eprintln!(
                "{:?} member {i}: {e:?}",
                self.now - self.sims[0].now.min(self.now)
            );
        }
        match e {
            GroupEvent::Assigned(p) => {
                for tp in &p {
                    for (j, other) in self.owned.iter().enumerate() {
                        assert!(
                            j == i || !other.contains(tp),
                            "{tp} given to {i} while {j} owns it"
                        );
                    }
                }
                self.owned[i].extend(p);
            }
            GroupEvent::Revoke(p) => {
                for tp in &p {
                    assert!(self.owned[i].remove(tp), "revoked {tp} that {i} did not own");
                }
                self.revoked[i].extend(p);
                // The application drops the streams and commits at once.
                self.sims[i].m.handle_revoke_done(self.now);
            }
            GroupEvent::Lost(p, _) => {
                self.lost += p.len();
                for tp in &p {
                    self.owned[i].remove(tp);
                }
            }
            GroupEvent::Joined { generation_id, .. } => self.joined[i].push(generation_id),
            GroupEvent::Fatal(e) => panic!("member {i} failed: {e}"),
            GroupEvent::CoordinatorUnavailable(_) => {}
        }
    }

    fn run(&mut self, d: Duration) {
        let end = self.now + d;
        self.pump();
        loop {
            let next = self.sims.iter().filter_map(|s| s.m.poll_timeout()).min();
            match next {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    for s in &mut self.sims {
                        if s.m.poll_timeout().is_some_and(|t| t <= self.now) {
                            s.now = self.now;
                            s.m.handle_timeout(self.now);
                        }
                    }
                    self.pump();
                }
                _ => break,
            }
        }
        self.now = end;
    }
}

fn cooperative() -> GroupConfig {
    let mut c = config();
    c.assignors = vec![AssignorKind::CooperativeSticky];
    c
}

fn all4() -> BTreeSet<TopicPartition> {
    tps(&[("t", 0), ("t", 1), ("t", 2), ("t", 3)])
        .into_iter()
        .collect()
}

#[test]
fn cooperative_second_member_gets_moved_partitions_one_generation_later() {
    let mut w = World::new(2, cooperative);
    w.sims[0].subscribe(&["t"]);
    w.run(Duration::from_secs(1));
    assert_eq!(w.owned[0], all4());
    assert_eq!(w.joined[0], [1]);

    w.sims[1].subscribe(&["t"]);
    w.run(Duration::from_secs(30));
    assert_eq!(w.owned[0].len(), 2);
    assert_eq!(w.owned[1].len(), 2);
    assert!(w.owned[0].is_disjoint(&w.owned[1]));
    // Only the two partitions that moved were revoked, once, by their old owner.
    let moved: Vec<_> = w.owned[1].iter().cloned().collect();
    assert_eq!(w.revoked[0], moved);
    assert!(w.revoked[1].is_empty());
    assert_eq!(w.lost, 0);
    // Generation 2 revoked them from member 0; generation 3 gave them to member 1.
    assert_eq!(w.joined[0], [1, 2, 3]);
    assert_eq!(w.joined[1], [2, 3]);
    assert_eq!(w.sims[1].m.generation().map(|g| g.0), Some(3));
    assert_eq!(*w.sims[0].m.assignment(), w.owned[0]);
    assert_eq!(*w.sims[1].m.assignment(), w.owned[1]);

    // Steady state: no more rebalances.
    w.run(Duration::from_secs(60));
    assert_eq!(w.joined[0], [1, 2, 3]);
}

#[test]
fn cooperative_member_leaving_hands_over_without_revoking_the_others() {
    let mut w = World::new(2, cooperative);
    w.sims[0].subscribe(&["t"]);
    w.sims[1].subscribe(&["t"]);
    w.run(Duration::from_secs(30));
    assert_eq!(w.owned[0].len() + w.owned[1].len(), 4);
    let kept = w.owned[0].clone();
    let before = w.revoked[0].len();
    w.sims[1].m.leave(LeaveReason::Close, w.now);
    w.run(Duration::from_secs(30));
    assert!(w.sims[1].m.is_left());
    assert_eq!(w.owned[0], all4());
    assert!(kept.is_subset(&w.owned[0]));
    assert_eq!(
        w.revoked[0].len(),
        before,
        "the staying member revokes nothing: {:?} {:?} {:?}",
        w.revoked,
        w.joined,
        w.owned
    );
}

#[test]
fn eager_members_never_own_a_partition_at_the_same_time() {
    let mut w = World::new(3, config);
    w.sims[0].subscribe(&["t"]);
    w.run(Duration::from_secs(1));
    assert_eq!(w.owned[0], all4());
    w.sims[1].subscribe(&["t"]);
    w.run(Duration::from_secs(20));
    w.sims[2].subscribe(&["t"]);
    w.run(Duration::from_secs(20));
    let sizes: Vec<usize> = w.owned.iter().map(BTreeSet::len).collect();
    assert_eq!(sizes, [2, 1, 1]);
    let union: BTreeSet<_> = w.owned.iter().flatten().cloned().collect();
    assert_eq!(union, all4());
    // Eager: member 0 revoked everything at each of the two rebalances.
    assert_eq!(w.revoked[0].len(), 4 + 2);
    assert_eq!(w.lost, 0);
}

#[test]
fn a_member_that_stops_heartbeating_is_fenced_and_rejoins() {
    let mut w = World::new(2, cooperative);
    w.sims[0].subscribe(&["t"]);
    w.sims[1].subscribe(&["t"]);
    w.run(Duration::from_secs(30));
    // The coordinator expires member 1 (as if its session lapsed server-side).
    let gone = w.sims[1].m.generation().unwrap().1;
    w.coordinator.known.remove(&gone);
    w.coordinator.state = CoordState::Preparing;
    w.run(Duration::from_secs(30));
    // Member 1 learned UNKNOWN_MEMBER_ID: lost its partitions, rejoined as a new member.
    assert!(w.lost >= 1);
    assert_eq!(w.owned[0].len() + w.owned[1].len(), 4);
    assert_eq!(w.owned[0].len(), 2);
    assert_ne!(w.sims[1].m.generation().unwrap().1, gone);
}

/// Members join, close and come back in a pseudo-random order; at every instant no partition has
/// two owners (checked in `World::apply`), cooperative members never revoke a partition they
/// keep, and once things settle every partition has exactly one owner among the members.
#[test]
fn random_churn_keeps_single_ownership_and_converges() {
    for seed in 0u64..60 {
        let config: fn() -> GroupConfig = if seed % 2 == 0 { cooperative } else { config };
        let mut w = World::new(3, config);
        let mut rng = seed;
        let mut next = || {
            rng = rng
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (rng >> 33) as usize
        };
        let mut active = [false; 3];
        for _ in 0..12 {
            let i = next() % 3;
            if active[i] {
                w.sims[i].m.leave(LeaveReason::Close, w.now);
                active[i] = false;
            } else if w.sims[i].m.is_left() {
                if w.joined[i].is_empty() {
                    w.sims[i].subscribe(&["t"]);
                } else {
                    w.sims[i].m.rejoin(w.now);
                }
                active[i] = true;
            }
            w.run(Duration::from_millis(200 + (next() % 5000) as u64));
        }
        w.run(Duration::from_secs(60));
        let owners: Vec<usize> = (0..3).filter(|&i| !w.owned[i].is_empty()).collect();
        let union: BTreeSet<_> = w.owned.iter().flatten().cloned().collect();
        if active.iter().any(|a| *a) {
            assert_eq!(union, all4(), "seed {seed}: {:?} active {active:?}", w.owned);
            for i in owners {
                assert!(
                    active[i],
                    "seed {seed}: member {i} left but owns {:?}",
                    w.owned[i]
                );
            }
        } else {
            assert!(union.is_empty());
        }
        assert_eq!(w.lost, 0, "seed {seed}: clean churn loses nothing");
    }
}
