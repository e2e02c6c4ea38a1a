//! The whole consumer in simulation.

use std::time::Duration;

use super::app::{AppPolicy, CommitPolicy};
use super::case::{Case, Faults};
use super::coordinator::Flavor;
use super::world::World;

#[test]
fn one_member_reads_everything() {
    let case = Case::new(1, 3, 1);
    let out = World::run(case);
    out.assert_ok("one member");
    eprintln!(
        "{:?} at {:?}, {} events",
        out.report, out.all_delivered_at, out.events
    );
    assert!(out.all_delivered_at.is_some());
}

/// The `max_poll_exceeded` opening on librdkafka's mock: two members, two partitions, joining at
/// once, manual commits every 10 records.
fn mock_opening(seed: u64) -> Case {
    let mut case = Case::new(seed, 2, 2);
    case.flavor = Flavor::RdkafkaMock;
    case.initial_delay = Duration::from_secs(3);
    case.session_timeout = Duration::from_secs(6);
    case.heartbeat_interval = Duration::from_millis(500);
    case.max_poll_interval = Duration::from_secs(3);
    case.auto_commit = false;
    case.records = 10;
    case.chaos = Duration::ZERO;
    case.settle = Duration::from_secs(30);
    case.app = AppPolicy {
        commit: CommitPolicy::Every(10),
        batch: 10,
        think: (0, 2),
        pauses: false,
    };
    case
}

/// The reliability suite's `max_poll_exceeded` opening as it was before commit 14b0b65: two
/// members join librdkafka's mock at the same instant; every record must be delivered within the
/// test's 30 s wait.
#[test]
fn two_members_joining_the_mock_at_once_consume_everything_within_30_s() {
    let mut failed = vec![];
    let seeds: u64 = std::env::var("SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    for seed in 0..seeds {
        let out = World::run(mock_opening(seed));
        match out.all_delivered_at {
            Some(t) if t <= Duration::from_secs(30) && out.violations.is_empty() => {}
            other => failed.push((seed, other, out.violations.len())),
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {seeds} seeds failed: {failed:?}",
        failed.len()
    );
    let _ = Faults::default();
}

#[test]
#[ignore]
fn trace_seed() {
    let seed: u64 = std::env::var("SEED").unwrap().parse().unwrap();
    let out = World::run(mock_opening(seed));
    eprintln!("{}", out.history.tail(200));
    eprintln!("{:?}", out.violations);
}

fn seeds(default: u64) -> u64 {
    std::env::var("SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// Thousands of random cases, each checked against every promise.
#[test]
fn random_cases_keep_every_promise() {
    let n = seeds(300);
    let first: u64 = std::env::var("SIM_FIRST")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let started = std::time::Instant::now();
    let mut events = 0;
    let mut failures = vec![];
    let mut total = super::history::Report::default();
    let mut on_848 = 0;
    for seed in first..first + n {
        let case = Case::random(seed);
        on_848 += usize::from(case.consumer_protocol);
        let out = World::run(case.clone());
        events += out.events;
        total.deliveries += out.report.deliveries;
        total.redeliveries += out.report.redeliveries;
        total.runs += out.report.runs;
        total.commits += out.report.commits;
        total.stuck_overlaps += out.report.stuck_overlaps;
        if !out.violations.is_empty() {
            failures.push((seed, out.violations[0].clone()));
        }
    }
    eprintln!(
        "{n} random cases ({on_848} on the consumer protocol), {events} events in {:?}: {total:?}",
        started.elapsed()
    );
    assert!(
        failures.is_empty(),
        "{} of {n} failed, e.g. {:?}",
        failures.len(),
        &failures[..failures.len().min(8)]
    );
}

/// Replays one random case with its history: `SEED=43 cargo test --lib trace_random -- --ignored --nocapture`
/// (with `RUST_LOG=kafkit=debug` for the engine's logs).
#[test]
#[ignore]
fn trace_random() {
    crate::sim::init_tracing();
    let seed: u64 = std::env::var("SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let case = Case::random(seed);
    eprintln!("{case:#?}");
    let out = World::run(case);
    eprintln!("{}", out.history.tail(usize::MAX));
    eprintln!("violations: {:#?}", out.violations);
}

/// A member's connection to the coordinator goes half-open (requests taken, never answered) while
/// it is the only member: it must notice, drop the connection and carry on consuming.
#[test]
fn a_silent_coordinator_connection_is_dropped_and_consuming_goes_on() {
    let mut failed = vec![];
    for seed in 0..seeds(100) {
        let mut case = Case::new(seed, 2, 1);
        case.brokers = 1;
        case.more_records = 60;
        case.chaos = Duration::from_secs(20);
        case.settle = Duration::from_secs(120);
        case.faults.silent = true;
        let out = World::run(case);
        if !out.violations.is_empty() {
            failed.push((seed, out.violations[0].clone()));
        }
    }
    assert!(
        failed.is_empty(),
        "{} failed, e.g. {:?}",
        failed.len(),
        &failed[..failed.len().min(4)]
    );
}
