//! The reliability suite's named scenarios, scripted in simulation: each fault at a chosen moment,
//! over many seeds (latency, think times and join order vary), checked against every promise of
//! the history checker and against what the scenario is about.
//!
//! The same scenarios run end to end against Apache Kafka and librdkafka's mock in
//! `protocol-tests`; here they run in milliseconds, so each runs under 20 seeds by default
//! (`SIM_SEEDS=n` for more).

use std::time::Duration;

use super::case::{Case, Outcome, Scripted};
use super::history::Fact;
use super::net::Pool;
use super::world::World;
use crate::types::{NodeId, TopicPartition};

fn seeds() -> u64 {
    std::env::var("SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .map_or(20, |n| n.clamp(1, 20_000))
}

/// A steady group: `members` members of one topic of `partitions` on `brokers` brokers, records
/// produced throughout the chaos phase, manual commits now and then.
fn steady(seed: u64, brokers: i32, partitions: i32, members: usize) -> Case {
    let mut case = Case::new(seed, partitions, members);
    case.brokers = brokers;
    case.records = 40;
    case.more_records = 60;
    case.chaos = Duration::from_secs(15);
    case.settle = Duration::from_secs(120);
    case
}

/// The coordinator the world picks for `case`.
fn coordinator(case: &Case) -> NodeId {
    1 + (case.seed as i32).rem_euclid(case.brokers)
}

/// Runs `make(seed)` for every seed: every promise holds, and `also` holds.
fn each_seed(what: &str, make: impl Fn(u64) -> Case, also: impl Fn(&Case, &Outcome) -> Result<(), String>) {
    for seed in 0..seeds() {
        let case = make(seed);
        let out = World::run(case.clone());
        out.assert_ok(&format!("{what}, seed {seed}"));
        assert!(
            out.all_delivered_at.is_some(),
            "{what}, seed {seed}: not everything was delivered"
        );
        if let Err(e) = also(&case, &out) {
            panic!("{what}, seed {seed}: {e}\nlast facts:\n{}", out.history.tail(40));
        }
    }
}

/// [`each_seed`] on the classic protocol, then the same cases on the consumer protocol
/// (KIP-848): the broker assigns (uniformly, sticky), the case's session and heartbeat are the
/// broker's, and `also` must hold on both.
fn each_seed_both_protocols(
    what: &str,
    make: impl Fn(u64) -> Case,
    also: impl Fn(&Case, &Outcome) -> Result<(), String>,
) {
    let also = |case: &Case, out: &Outcome| {
        let on_848 = out.consumer_group_heartbeats > 0;
        if on_848 != case.consumer_protocol {
            return Err(format!(
                "the members {} the consumer protocol ({} ConsumerGroupHeartbeats)",
                if on_848 { "used" } else { "did not use" },
                out.consumer_group_heartbeats
            ));
        }
        // Consumer-protocol members name themselves in OffsetFetch (v9), classic ones never.
        let (named, _) = out.offset_fetches_named;
        if case.consumer_protocol != (named > 0) {
            return Err(format!(
                "{named} OffsetFetches named a member on the {} protocol",
                if case.consumer_protocol {
                    "consumer"
                } else {
                    "classic"
                }
            ));
        }
        also(case, out)
    };
    each_seed(what, &make, also);
    each_seed(
        &format!("{what} (consumer protocol)"),
        |seed| {
            let mut case = make(seed);
            case.consumer_protocol = true;
            case
        },
        also,
    );
}

/// Whether `member` owned `n` partitions at once at some moment in `from..to`. Ownership is
/// followed through every assignment and revocation from the start: incremental protocols
/// (cooperative, consumer) assign in steps, eager ones all at once.
fn owned_at_once(out: &Outcome, member: &str, from: Duration, to: Duration, n: usize) -> bool {
    let mut owned = std::collections::BTreeSet::new();
    for e in out
        .history
        .entries
        .iter()
        .filter(|e| e.member == member && e.t < to)
    {
        match &e.fact {
            Fact::Assigned(ps) => owned.extend(ps.iter().cloned()),
            Fact::Revoked(ps) | Fact::Lost(ps) => {
                for p in ps {
                    owned.remove(p);
                }
            }
            _ => continue,
        }
        if e.t >= from && owned.len() == n {
            return true;
        }
    }
    false
}

fn no_more(_: &Case, _: &Outcome) -> Result<(), String> {
    Ok(())
}

/// Facts of `member` from `after` on.
fn facts<'a>(out: &'a Outcome, member: &'a str, after: Duration) -> impl Iterator<Item = &'a Fact> + 'a {
    out.history
        .entries
        .iter()
        .filter(move |e| e.member == member && e.t >= after)
        .map(|e| &e.fact)
}

fn tp(p: i32) -> TopicPartition {
    TopicPartition::new("t", p)
}

/// `fetch_leader_change`: partitions' leaders move to other brokers; metadata shows it only a
/// little later, so fetches meet NOT_LEADER first.
#[test]
fn fetch_leader_change() {
    each_seed(
        "fetch_leader_change",
        |seed| {
            let mut case = steady(seed, 3, 3, 1);
            for p in 0..3 {
                let to = 1 + (p + 1) % 3;
                let publish_after = Duration::from_millis(200 * (seed % 5));
                case.script.push((
                    Duration::from_secs(3 + p as u64),
                    Scripted::LeaderMove {
                        tp: tp(p),
                        to,
                        publish_after,
                    },
                ));
            }
            case
        },
        no_more,
    );
}

/// `unclean_election`: a partition's new leader lost the last records the group had read (an
/// unclean election, twice, on two partitions); the same offsets are written again with other
/// records. The members notice (KIP-320: validation after the leader change, or the diverging
/// epoch in a fetch answer), step back to the divergence point and deliver the new records
/// there; the checker requires every offset from the truncation point on to be delivered again.
#[test]
fn unclean_election() {
    each_seed(
        "unclean_election",
        |seed| {
            let mut case = steady(seed, 3, 3, 2);
            for (i, p) in [0, 1, 0].into_iter().enumerate() {
                case.script.push((
                    Duration::from_secs(4 + 3 * i as u64),
                    Scripted::UncleanElection {
                        tp: tp(p),
                        to: 1 + (p + i as i32 + 1) % 3,
                        lose: 3 + (seed % 5) as i64,
                        publish_after: Duration::from_millis(150 * (seed % 4)),
                    },
                ));
            }
            case
        },
        |_, out| {
            let truncations = out
                .history
                .entries
                .iter()
                .filter(|e| matches!(e.fact, Fact::Truncated(..)))
                .count();
            if truncations == 3 {
                Ok(())
            } else {
                Err(format!("{truncations} truncations, not 3"))
            }
        },
    );
}

/// `broker_bounce`: a broker that leads partitions is unreachable for 5 s; its partitions resume
/// once it is back, and the others never stop.
#[test]
fn broker_bounce() {
    each_seed_both_protocols(
        "broker_bounce",
        |seed| {
            let mut case = steady(seed, 3, 6, 2);
            let down = 1 + (coordinator(&case) % 3);
            case.script.push((
                Duration::from_secs(4),
                Scripted::BrokerDown(down, Duration::from_secs(5)),
            ));
            case
        },
        no_more,
    );
}

/// `coordinator_moved`: the group coordinator moves to another broker twice; the members find it
/// again without losing the generation's partitions for good.
#[test]
fn coordinator_moved() {
    each_seed_both_protocols(
        "coordinator_moved",
        |seed| {
            let mut case = steady(seed, 3, 4, 2);
            let first = coordinator(&case);
            let next = 1 + first % 3;
            case.script
                .push((Duration::from_secs(4), Scripted::CoordinatorMove(next)));
            case.script
                .push((Duration::from_secs(9), Scripted::CoordinatorMove(first)));
            case
        },
        no_more,
    );
}

/// `coordinator_loading`: for the first seconds every group answer is COORDINATOR_LOAD_IN_PROGRESS
/// (and fetches see retriable errors); the group forms once the coordinator is ready.
#[test]
fn coordinator_loading() {
    each_seed_both_protocols(
        "coordinator_loading",
        |seed| {
            let mut case = steady(seed, 1, 3, 2);
            case.script
                .push((Duration::ZERO, Scripted::Errors(Duration::from_secs(4))));
            case
        },
        no_more,
    );
}

/// `slow_broker`: latency spikes for 6 s while two members consume.
#[test]
fn slow_broker() {
    each_seed_both_protocols(
        "slow_broker",
        |seed| {
            let mut case = steady(seed, 2, 4, 2);
            case.script
                .push((Duration::from_secs(3), Scripted::Slow(Duration::from_secs(6))));
            case
        },
        no_more,
    );
}

/// `max_poll_exceeded`: one application stops pulling for longer than max.poll.interval: its
/// member leaves the group (its streams end), the other member takes every partition, and once
/// the application pulls again its member rejoins and gets partitions back.
#[test]
fn max_poll_exceeded() {
    let stall_at = Duration::from_secs(4);
    each_seed_both_protocols(
        "max_poll_exceeded",
        |seed| {
            let mut case = steady(seed, 1, 4, 2);
            case.max_poll_interval = Duration::from_secs(3);
            case.script
                .push((stall_at, Scripted::Stall(0, Duration::from_secs(8))));
            case
        },
        |_, out| {
            let gave_up = facts(out, "m0", stall_at)
                .any(|f| matches!(f, Fact::Revoked(ps) | Fact::Lost(ps) if !ps.is_empty()));
            let took_all = owned_at_once(out, "m1", stall_at, Duration::MAX, 4);
            let back = facts(out, "m0", stall_at + Duration::from_secs(8))
                .any(|f| matches!(f, Fact::Assigned(ps) if !ps.is_empty()));
            match (gave_up, took_all, back) {
                (true, true, true) => Ok(()),
                _ => Err(format!(
                    "stalled member gave up its partitions: {gave_up}; the other took all four: {took_all}; \
                     the stalled one got partitions back: {back}"
                )),
            }
        },
    );
}

/// `session_expiry`: the member's coordinator connection goes half-open (requests taken, never
/// answered) while another member is in the group: it must notice, reconnect, and the group must
/// carry on with nothing lost and no two owners.
#[test]
fn session_expiry() {
    each_seed_both_protocols(
        "session_expiry",
        |seed| {
            let mut case = steady(seed, 2, 4, 2);
            let node = coordinator(&case);
            case.script.push((
                Duration::from_secs(4),
                Scripted::Silent {
                    member: 0,
                    pool: Pool::Group,
                    node,
                },
            ));
            case
        },
        no_more,
    );
}

/// `eager_no_overlap`: members join and leave an eager (range) group; no partition ever has two
/// owners (the checker's promise) and the last member standing gets everything. On the consumer
/// protocol, the same membership changes through the broker's incremental assignment.
#[test]
fn eager_no_overlap() {
    each_seed_both_protocols(
        "eager_no_overlap",
        |seed| {
            let mut case = steady(seed, 2, 6, 2);
            case.script.push((Duration::from_secs(3), Scripted::Start));
            case.script.push((Duration::from_secs(7), Scripted::Close(0)));
            case.script.push((Duration::from_secs(10), Scripted::Close(1)));
            case
        },
        |_, out| {
            let all = owned_at_once(out, "m2", Duration::from_secs(10), Duration::MAX, 6);
            all.then_some(())
                .ok_or_else(|| "the last member never got all six partitions".to_owned())
        },
    );
}

/// `cooperative_two_phase`: with cooperative-sticky, a member joining takes partitions from the
/// first member in two phases; the first member gives up only the partitions that move and keeps
/// the rest throughout (they are never revoked). On the consumer protocol the broker moves the
/// same two partitions, revoked by their owner before the joiner gets them.
#[test]
fn cooperative_two_phase() {
    let join_at = Duration::from_secs(4);
    each_seed_both_protocols(
        "cooperative_two_phase",
        |seed| {
            let mut case = steady(seed, 2, 4, 1);
            case.cooperative = true;
            case.script.push((join_at, Scripted::Start));
            case
        },
        |_, out| {
            // Until the case ends (every member closes then, revoking what it holds).
            let revoked: Vec<&Vec<TopicPartition>> = out
                .history
                .entries
                .iter()
                .filter(|e| e.member == "m0" && e.t >= join_at && e.t < join_at + Duration::from_secs(8))
                .filter_map(|e| match &e.fact {
                    Fact::Revoked(ps) | Fact::Lost(ps) => Some(ps),
                    _ => None,
                })
                .collect();
            let given_up: usize = revoked.iter().map(|ps| ps.len()).sum();
            let got = facts(out, "m1", join_at).any(|f| matches!(f, Fact::Assigned(ps) if ps.len() == 2));
            if given_up == 2 && got {
                Ok(())
            } else {
                Err(format!(
                    "m0 gave up {given_up} partition(s) ({revoked:?}), m1 got two: {got}; expected exactly the two that move"
                ))
            }
        },
    );
}

/// `kill`: one of two members dies without a word (no leave, no commit); after its session times
/// out the other takes its partitions, re-reading at most from the last commit.
#[test]
fn kill() {
    let kill_at = Duration::from_secs(5);
    each_seed_both_protocols(
        "kill",
        |seed| {
            let mut case = steady(seed, 2, 4, 2);
            case.script.push((kill_at, Scripted::Kill(1)));
            case
        },
        |case, out| {
            let until = kill_at + case.session_timeout + Duration::from_secs(5);
            let took_all = owned_at_once(out, "m0", kill_at, until, 4);
            took_all.then_some(()).ok_or_else(|| {
                "the survivor did not take all four partitions within the session timeout".to_owned()
            })
        },
    );
}

/// A quiet consumer of many partitions (a trickle of records over 40 partitions): with fetch
/// sessions, almost every fetch is incremental and carries only the partitions that moved; the
/// same case without sessions sends all 40 in every fetch. Both deliver everything.
#[test]
fn fetch_sessions_send_only_what_moved() {
    let quiet = |seed: u64, sessions: bool| {
        let mut case = Case::new(seed, 40, 1);
        case.brokers = 2;
        case.records = 2;
        case.more_records = 3;
        case.chaos = Duration::from_secs(20);
        case.settle = Duration::from_secs(30);
        case.fetch_sessions = sessions;
        case
    };
    for seed in 0..seeds().min(10) {
        let with = World::run(quiet(seed, true));
        with.assert_ok(&format!("with sessions, seed {seed}"));
        let without = World::run(quiet(seed, false));
        without.assert_ok(&format!("without sessions, seed {seed}"));
        let (w, wo) = (with.fetches, without.fetches);
        if seed == 0 {
            eprintln!("with sessions: {w:?}\nwithout: {wo:?}");
        }
        assert!(
            w.incremental > 4 * (w.full + w.sessionless),
            "seed {seed}: mostly incremental fetches expected: {w:?}"
        );
        assert_eq!(
            (wo.full, wo.incremental),
            (0, 0),
            "seed {seed}: sessions off: {wo:?}"
        );
        let carried = |c: super::sessions::SessionCounts| c.full_partitions + c.incremental_partitions;
        let per_fetch = |c: super::sessions::SessionCounts| {
            carried(c) as f64 / (c.full + c.incremental + c.sessionless).max(1) as f64
        };
        assert!(
            per_fetch(w) * 4.0 < per_fetch(wo),
            "seed {seed}: partitions per fetch with sessions {:.1}, without {:.1} ({w:?} / {wo:?})",
            per_fetch(w),
            per_fetch(wo)
        );
    }
}

/// Sessions under faults: brokers evict sessions (FETCH_SESSION_ID_NOT_FOUND), refuse incremental
/// requests (INVALID_FETCH_SESSION_EPOCH, FETCH_SESSION_TOPIC_ID_ERROR), decline new ones, forget
/// them all when they go down, and connections reset mid-fetch (the next request is full); every
/// promise still holds, new sessions were asked for more than once, and refusals happened.
#[test]
fn fetch_sessions_survive_evictions_restarts_and_resets() {
    let refused = std::cell::Cell::new(0);
    each_seed(
        "fetch_sessions_survive",
        |seed| {
            let mut case = steady(seed, 3, 12, 2);
            case.more_records = 20;
            case.faults.errors = true;
            case.faults.disconnects = true;
            let down = 1 + (coordinator(&case) % 3);
            case.script.push((
                Duration::from_secs(5),
                Scripted::BrokerDown(down, Duration::from_secs(3)),
            ));
            case.script.push((
                Duration::from_secs(8),
                Scripted::LeaderMove {
                    tp: tp(0),
                    to: 1 + (coordinator(&case) + 1) % 3,
                    publish_after: Duration::from_millis(300),
                },
            ));
            case
        },
        |_, out| {
            let f = out.fetches;
            refused.set(refused.get() + f.refused);
            (f.full > 1 && f.incremental > 0)
                .then_some(())
                .ok_or_else(|| format!("expected sessions created again and incremental fetches: {f:?}"))
        },
    );
    assert!(
        refused.get() > 0,
        "no incremental request was refused in any seed"
    );
}
