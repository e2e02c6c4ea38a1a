//! Seeded random operations on several consumer-protocol members: joins, closes, max-poll leaves
//! and rejoins, subscription changes, slow revokes, fencing, unreachable members and time. After
//! every step no partition is held by two members' applications (nor, at the coordinator,
//! assigned to two members); once the world is left alone, every partition has exactly one owner.

use std::time::Duration;

use super::*;
use crate::wire::KafkaCode;

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

fn run(seed: u64) {
    let mut rng = Rng(seed);
    let mut w = World::new(3);
    let start = w.now;
    w.coordinator.fence_known_rejoin = seed.is_multiple_of(2);
    for _ in 0..3 {
        w.add(config(), &["a", "b"]);
    }
    for _ in 0..60 {
        let i = rng.below(w.clients.len() as u64) as usize;
        let op = rng.below(10);
        if std::env::var_os("KIP848_TRACE").is_some() {
            eprintln!("seed {seed} t={:?} op {op} on {i}", w.now - start);
        }
        match op {
            0 if w.clients.len() < 6 => {
                w.add(config(), &["a", "b"]);
            }
            1 => w.leave(i, LeaveReason::Close),
            2 => w.leave(i, LeaveReason::MaxPollExceeded),
            3 => {
                let now = w.now;
                w.clients[i].m.rejoin(now);
            }
            4 => {
                let topics: &[&str] = [&["a"][..], &["b"], &["a", "b"]][rng.below(3) as usize];
                let now = w.now;
                w.clients[i]
                    .m
                    .subscribe(topics.iter().map(|t| t.to_string()).collect(), now);
            }
            5 => w.clients[i].hold_revokes = !w.clients[i].hold_revokes,
            6 => {
                w.release(i);
            }
            7 => w
                .coordinator
                .inject
                .push_back((KafkaCode::FENCED_MEMBER_EPOCH, None)),
            8 => w.clients[i].reachable = !w.clients[i].reachable,
            _ => {}
        }
        w.settle();
        w.advance(Duration::from_millis(rng.below(8_000)));
    }
    // Left alone: everyone reachable, revokes released, members rejoined with both topics.
    for i in 0..w.clients.len() {
        w.clients[i].hold_revokes = false;
        w.clients[i].reachable = true;
        w.release(i);
        let now = w.now;
        w.clients[i].m.rejoin(now);
        w.clients[i]
            .m
            .subscribe(["a".to_string(), "b".to_string()].into(), now);
    }
    w.advance(Duration::from_secs(120));
    let mut owners: BTreeMap<TopicPartition, usize> = BTreeMap::new();
    for (i, c) in w.clients.iter().enumerate() {
        for tp in &c.holds {
            owners.insert(tp.clone(), i);
        }
    }
    let all: BTreeSet<TopicPartition> = ["a", "b"]
        .iter()
        .flat_map(|t| (0..3).map(move |p| tp(t, p)))
        .collect();
    assert_eq!(
        owners.keys().cloned().collect::<BTreeSet<_>>(),
        all,
        "seed {seed}: every partition owned once settled"
    );
}

#[test]
fn random_operations_never_give_a_partition_two_owners() {
    let only: Option<u64> = std::env::var("KIP848_SEED").ok().and_then(|s| s.parse().ok());
    let seeds: Vec<u64> = only.map_or_else(|| (0..40).collect(), |s| vec![s]);
    for seed in seeds {
        run(seed);
    }
}
