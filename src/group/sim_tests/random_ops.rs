//! Random operation sequences (the shape a fuzz target would take): inputs in any order, responses
//! with any error code, garbage or transport failures. Nothing panics, the event stream is
//! consistent (assigned only when not owned, revoked or lost only when owned), nothing follows a
//! fatal error, and the machine never asks to be woken in the past (no busy loop).

use super::*;

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

const CODES: &[KafkaCode] = &[
    KafkaCode::NONE,
    KafkaCode::NONE,
    KafkaCode::NONE,
    KafkaCode::COORDINATOR_NOT_AVAILABLE,
    KafkaCode::NOT_COORDINATOR,
    KafkaCode::COORDINATOR_LOAD_IN_PROGRESS,
    KafkaCode::REBALANCE_IN_PROGRESS,
    KafkaCode::ILLEGAL_GENERATION,
    KafkaCode::UNKNOWN_MEMBER_ID,
    KafkaCode::MEMBER_ID_REQUIRED,
    KafkaCode::REQUEST_TIMED_OUT,
    KafkaCode(-1),
    KafkaCode::FENCED_INSTANCE_ID,
];

fn response(rng: &mut Rng, sent: &Sent, req: &Req) -> Result<Bytes, Error> {
    match rng.below(12) {
        0 => return Err(Error::new(ErrorKind::Timeout, "timed out")),
        1 => {
            let len = rng.below(12) as usize;
            return Ok((0..len).map(|_| rng.below(256) as u8).collect::<Vec<_>>().into());
        }
        _ => {}
    }
    let code = CODES[rng.below(CODES.len() as u64) as usize];
    let v = sent.version;
    Ok(match req {
        Req::Find(_) if code == KafkaCode::NONE => encode(&find_ok(v, 1 + rng.below(2) as i32), v),
        Req::Find(_) => encode(&find_err(v, code), v),
        Req::Join(j) if code == KafkaCode::NONE => {
            let me = if j.member_id.is_empty() {
                "m".to_string()
            } else {
                j.member_id.to_string()
            };
            let leader = if rng.below(2) == 0 {
                me.clone()
            } else {
                "other".into()
            };
            let metadata = j.protocols[0].metadata.clone();
            let protocol = j.protocols[0].name.to_string();
            let generation = 1 + rng.below(5) as i32;
            encode(
                &join_ok(generation, &me, &leader, &protocol, &[(me.as_str(), metadata)]),
                v,
            )
        }
        Req::Join(_) => encode(&join_err(code, "m"), v),
        Req::Sync(_) if code == KafkaCode::NONE => {
            let partitions: Vec<(&str, i32)> = (0..4)
                .filter(|_| rng.below(2) == 0)
                .map(|p| (if p % 2 == 0 { "a" } else { "b" }, p))
                .collect();
            encode(&sync_ok(assignment_bytes(&partitions)), v)
        }
        Req::Sync(_) => encode(&sync_err(code), v),
        Req::Heartbeat(_) => encode(&hb(code), v),
        Req::Leave(_) => encode(&leave_ok(), v),
    })
}

#[test]
fn random_operations_never_panic_and_keep_the_event_stream_consistent() {
    for seed in 0..300u64 {
        let mut rng = Rng(seed);
        let mut c = config();
        if seed % 2 == 1 {
            c.assignors = vec![AssignorKind::CooperativeSticky];
        }
        if seed % 3 == 0 {
            c.group_instance_id = Some("instance".into());
        }
        let versions = [LATEST, KAFKA_2_1, RDKAFKA_MOCK][(seed % 3) as usize];
        let versions = if c.group_instance_id.is_some() {
            LATEST
        } else {
            versions
        };
        let mut sim = Sim::new(c, versions);
        let mut pending: Vec<(Sent, Req)> = vec![];
        let mut owned: BTreeSet<TopicPartition> = BTreeSet::new();
        let mut fatal = false;
        let mut closing = false;
        for step in 0..250 {
            let op = rng.below(14);
            if std::env::var("OPS_TRACE").is_ok_and(|s| s == seed.to_string()) {
                eprintln!("step {step}: op {op} pending {}", pending.len());
            }
            match op {
                0 => {
                    let topics: Vec<&str> =
                        [["a"].as_slice(), &["a", "b"], &["b"], &[]][rng.below(4) as usize].to_vec();
                    sim.subscribe(&topics);
                    closing = topics.is_empty();
                }
                1 => {
                    let reason = if rng.below(2) == 0 {
                        LeaveReason::Close
                    } else {
                        LeaveReason::MaxPollExceeded
                    };
                    sim.m.leave(reason, sim.now);
                    closing = true;
                }
                2 => {
                    sim.m.rejoin(sim.now);
                    closing = false;
                }
                3 => sim.m.handle_revoke_done(sim.now),
                4 => sim
                    .m
                    .handle_commit_error(CODES[rng.below(CODES.len() as u64) as usize], sim.now),
                5 => sim.counts(&[("a", rng.below(4) as i32), ("b", 1 + rng.below(3) as i32)]),
                6 | 7 => {
                    let d = Duration::from_millis(rng.below(15_000));
                    let sent = sim.advance(d);
                    assert!(
                        !closing || !sent.iter().any(|(_, r)| matches!(r, Req::Join(_) | Req::Sync(_))),
                        "seed {seed} step {step}: a leaving member rejoined: {sent:?}"
                    );
                    pending.extend(sent);
                }
                _ if !pending.is_empty() => {
                    let (sent, req) = pending.remove(rng.below(pending.len() as u64) as usize);
                    let r = response(&mut rng, &sent, &req);
                    sim.m.handle_response(sent.id, r, sent.version, sim.now);
                }
                _ => {}
            }
            let sent = sim.poll();
            assert!(
                !closing || !sent.iter().any(|(_, r)| matches!(r, Req::Join(_) | Req::Sync(_))),
                "seed {seed} step {step}: a leaving member rejoined: {sent:?}"
            );
            pending.extend(sent);
            for e in std::mem::take(&mut sim.events) {
                if std::env::var("OPS_TRACE").is_ok_and(|s| s == seed.to_string()) {
                    eprintln!("step {step}: {e:?}");
                }
                assert!(!fatal, "seed {seed} step {step}: event after Fatal: {e:?}");
                match e {
                    GroupEvent::Assigned(p) => {
                        for tp in p {
                            assert!(
                                owned.insert(tp.clone()),
                                "seed {seed} step {step}: {tp} assigned twice"
                            );
                        }
                    }
                    GroupEvent::Revoke(p) | GroupEvent::Lost(p, _) => {
                        for tp in p {
                            assert!(
                                owned.remove(&tp),
                                "seed {seed} step {step}: {tp} revoked/lost but not owned"
                            );
                        }
                    }
                    GroupEvent::Fatal(_) => fatal = true,
                    GroupEvent::Joined { .. } | GroupEvent::CoordinatorUnavailable(_) => {}
                }
            }
            if let Some(t) = sim.m.poll_timeout() {
                assert!(
                    t > sim.now,
                    "seed {seed} step {step}: wake-up in the past ({:?})",
                    sim.now - t
                );
            }
            if sim.m.generation().is_some() {
                assert!(!fatal && !sim.m.is_left());
            }
        }
    }
}
