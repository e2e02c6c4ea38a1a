//! Real cluster faults on a 3-node Apache Kafka cluster (replication factor 3), each a named test
//! ending in the history checker: the partition leader's JVM is killed while consuming; leadership
//! moves by preferred-leader election; the group coordinator's node is killed; a node restarts
//! cleanly; the topic gains partitions while the group consumes.
//!
//! Two kafkit members consume with a task per partition stream and commit every 10 records; a
//! producer writes throughout (riding out the leader moves itself). Afterwards every partition's
//! log is read back: every acknowledged record must be in it (acks=all), and every record in it
//! must have been delivered (a produce whose answer was lost may have landed, so the log, not the
//! acknowledgements, is what must be consumed). Redelivery may only come from the uncommitted
//! window, and where the group did not rebalance there must be none at all.
//!
//! The members use fetch sessions (KIP-227, the default), so each scenario also checks that
//! sessions carry consumption through the fault: a killed or restarted node forgets its sessions,
//! and the members start new ones.
//!
//! The tests take the cluster one at a time ([`TestCluster::lock`]) and leave every node running.

use std::time::Duration;

use kafkit::{Consumer, Event, OffsetReset};
use kafkit_protocol_tests::cluster::{self, Producer, TestCluster};
use kafkit_protocol_tests::harness::{self, within};
use kafkit_protocol_tests::history::{History, Report};
use kafkit_protocol_tests::real;
use kafkit_protocol_tests::reliability::{Member, all_delivered};

const PARTITIONS: i32 = 6;

struct Scenario {
    cluster: TestCluster,
    topic: String,
    group: String,
    history: History,
    members: Vec<(Consumer, Member)>,
    producer: Option<Producer>,
}

impl Scenario {
    /// A topic with `partitions` partitions (3 replicas), a producer, and two members that own
    /// every partition between them and are consuming.
    async fn start(name: &str, partitions: i32) -> Scenario {
        harness::init_tracing();
        let cluster = TestCluster::lock();
        let topic = real::unique_name(&format!("kafkit-cluster-{name}"));
        cluster::create_topic(&cluster, &topic, partitions).await;
        let mut s = Scenario {
            producer: Some(Producer::start(
                &cluster.bootstrap,
                &topic,
                5,
                Duration::from_millis(100),
            )),
            cluster,
            topic,
            group: real::unique_name("g-cluster"),
            history: History::new(),
            members: Vec::new(),
        };
        for m in ["a", "b"] {
            let consumer = s.consumer().build().unwrap();
            let member = Member::start(m, &consumer, &s.history, 10);
            s.members.push((consumer, member));
        }
        s.wait_owned(partitions).await;
        s
    }

    fn consumer(&self) -> kafkit::ConsumerBuilder {
        Consumer::builder()
            .bootstrap(&self.cluster.bootstrap)
            .group_id(&self.group)
            .subscribe([self.topic.as_str()])
            .offset_reset(OffsetReset::Earliest)
            .auto_commit(false)
            .session_timeout(Duration::from_secs(6))
            .heartbeat_interval(Duration::from_millis(500))
            .metadata_max_age(Duration::from_secs(1))
    }

    /// Waits until the members own all `partitions` between them and each has delivered records.
    async fn wait_owned(&self, partitions: i32) {
        within(
            Duration::from_secs(60),
            "every partition owned and delivering",
            async {
                loop {
                    let delivered: std::collections::BTreeSet<i32> = self
                        .history
                        .entries()
                        .iter()
                        .filter_map(|e| match e.kind {
                            kafkit_protocol_tests::history::Kind::Delivered { partition, .. } => {
                                Some(partition)
                            }
                            _ => None,
                        })
                        .collect();
                    if delivered.len() == partitions as usize {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        )
        .await;
    }

    /// Every member's event count now: where to look for events "after the fault".
    fn marks(&self) -> Vec<usize> {
        self.members.iter().map(|(_, m)| m.event_count()).collect()
    }

    /// Events of every member since `marks` matching `pred`.
    fn events_since(&self, marks: &[usize], pred: impl Fn(&Event) -> bool) -> Vec<(String, Event)> {
        self.members
            .iter()
            .zip(marks)
            .flat_map(|((_, m), &from)| {
                m.events()
                    .into_iter()
                    .skip(from)
                    .filter(|e| pred(e))
                    .map(|e| (m.name.clone(), e))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    fn assert_no_rebalance_since(&self, marks: &[usize], what: &str) {
        let moved = self.events_since(marks, |e| {
            matches!(e, Event::Revoked(_) | Event::Lost(..) | Event::Joined { .. })
        });
        assert!(moved.is_empty(), "{what}: the group rebalanced: {moved:?}");
    }

    /// Stops producing, reads the log back, waits until every record in it was delivered, closes
    /// the members, and runs the history checker.
    async fn finish(mut self) -> (Report, Scenario) {
        let acked = self.producer.take().unwrap().stop().await;
        let expected = cluster::expected_after(&self.cluster.bootstrap, &self.topic, &acked).await;
        all_delivered(&self.history, &expected, Duration::from_secs(60)).await;
        // Fetch sessions (KIP-227, on by default) carried the caught-up fetches through the fault.
        let mut incremental = 0;
        for (consumer, _) in &self.members {
            incremental += consumer.metrics().await.unwrap().incremental_fetch_requests_total;
        }
        assert!(
            incremental > 0,
            "{}: no incremental fetch-session request was sent",
            self.topic
        );
        for (consumer, member) in std::mem::take(&mut self.members) {
            within(Duration::from_secs(30), "close", consumer.close())
                .await
                .unwrap();
            self.history.closed(&member.name);
        }
        let report = self.history.assert_ok(&expected);
        eprintln!("{}: {report:?}", self.topic);
        (report, self)
    }
}

/// A node that leads at least one partition of `topic` and is not `except`.
async fn a_leader_other_than(pool: &kafkit::net::BrokerPool, topic: &str, except: i32) -> i32 {
    let leaders = cluster::leaders(pool, topic).await;
    leaders
        .values()
        .copied()
        .find(|n| *n != except)
        .expect("some partition led by another node")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_killed_while_consuming() {
    let s = Scenario::start("leader-killed", PARTITIONS).await;
    let pool = s.cluster.pool();
    let coordinator = cluster::coordinator(&pool, &s.group).await;
    let victim = a_leader_other_than(&pool, &s.topic, coordinator).await;
    let marks = s.marks();
    s.cluster.kill(victim);
    // Its leaderships move once the controller fences it (broker.session.timeout.ms, 3 s here).
    within(
        Duration::from_secs(30),
        "leaders moved off the killed node",
        async {
            while cluster::leaders(&pool, &s.topic)
                .await
                .values()
                .any(|n| *n == victim)
            {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    s.cluster.start(victim);
    tokio::time::sleep(Duration::from_secs(2)).await;
    s.assert_no_rebalance_since(&marks, "the leader of some partitions died");
    let (report, _s) = s.finish().await;
    assert_eq!(
        report.redeliveries, 0,
        "positions survive a leader change: nothing is read twice"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leadership_moves_by_preferred_leader_election() {
    let s = Scenario::start("preferred", PARTITIONS).await;
    let pool = s.cluster.pool();
    let coordinator = cluster::coordinator(&pool, &s.group).await;
    let replicas = cluster::replicas(&pool, &s.topic).await;
    let node = *replicas
        .values()
        .map(|r| &r[0])
        .find(|n| **n != coordinator)
        .expect("some partition prefers another node");
    let preferred: Vec<i32> = replicas
        .iter()
        .filter(|(_, r)| r[0] == node)
        .map(|(p, _)| *p)
        .collect();
    let marks = s.marks();
    // A clean stop moves the node's leaderships away; back up, it is only a follower.
    s.cluster.stop(node);
    s.cluster.start(node);
    let leaders = cluster::leaders(&pool, &s.topic).await;
    for p in &preferred {
        assert_ne!(
            leaders[p], node,
            "{p} is led elsewhere after node {node}'s restart"
        );
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    cluster::elect_preferred(&pool, &s.topic, &preferred).await;
    let leaders = cluster::leaders(&pool, &s.topic).await;
    for p in &preferred {
        assert_eq!(leaders[p], node, "{p} is led by its preferred replica again");
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    s.assert_no_rebalance_since(&marks, "leadership moved twice");
    let (report, _s) = s.finish().await;
    assert_eq!(
        report.redeliveries, 0,
        "positions survive leader moves: nothing is read twice"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coordinator_killed() {
    let s = Scenario::start("coordinator", PARTITIONS).await;
    let pool = s.cluster.pool();
    let coordinator = cluster::coordinator(&pool, &s.group).await;
    let marks = s.marks();
    let killed_at = kafkit_protocol_tests::history::now();
    s.cluster.kill(coordinator);
    // The group's offsets partition gets a new leader, which loads the group: the members find it
    // and their commits are acknowledged again.
    within(
        Duration::from_secs(45),
        "commits acknowledged by the new coordinator",
        async {
            loop {
                let resumed = ["a", "b"].iter().all(|m| {
                    s.history.entries().iter().any(|e| {
                        e.member == *m
                            && e.t > killed_at + 1.0
                            && matches!(e.kind, kafkit_protocol_tests::history::Kind::Committed { .. })
                    })
                });
                if resumed {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        },
    )
    .await;
    let moved_to = cluster::coordinator(&pool, &s.group).await;
    assert_ne!(moved_to, coordinator, "the coordinator moved");
    s.cluster.start(coordinator);
    tokio::time::sleep(Duration::from_secs(2)).await;
    // No rebalance storm: the new coordinator loads the group with its generation, so members
    // carry on; at most one rebalance is tolerated (a session could lapse during the failover).
    let joins = s.events_since(&marks, |e| matches!(e, Event::Joined { .. }));
    assert!(
        joins.len() <= 2,
        "at most one rebalance after the coordinator died: {joins:?}"
    );
    let (report, _s) = s.finish().await;
    eprintln!(
        "coordinator_killed: {} rejoins, {} redeliveries",
        joins.len(),
        report.redeliveries
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_restarts() {
    let s = Scenario::start("restart", PARTITIONS).await;
    let pool = s.cluster.pool();
    let coordinator = cluster::coordinator(&pool, &s.group).await;
    let node = a_leader_other_than(&pool, &s.topic, coordinator).await;
    let marks = s.marks();
    s.cluster.stop(node);
    tokio::time::sleep(Duration::from_secs(3)).await;
    s.cluster.start(node);
    tokio::time::sleep(Duration::from_secs(3)).await;
    s.assert_no_rebalance_since(&marks, "a node restarted");
    let (report, _s) = s.finish().await;
    assert_eq!(
        report.redeliveries, 0,
        "positions survive a restart: nothing is read twice"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_gains_partitions_while_consuming() {
    let s = Scenario::start("grows", 2).await;
    let pool = s.cluster.pool();
    cluster::add_partitions(&pool, &s.topic, 4).await;
    // The members notice on their next metadata refresh (metadata.max.age 1 s here), rejoin, and
    // the new partitions are assigned and consumed.
    s.wait_owned(4).await;
    let assigned_new = s.events_since(
        &vec![0; s.members.len()],
        |e| matches!(e, Event::Assigned(tps) if tps.iter().any(|tp| tp.partition >= 2)),
    );
    assert!(!assigned_new.is_empty(), "the new partitions were assigned");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let _ = s.finish().await;
}

/// Fetch sessions through pause and resume and a rebalance: the members pause the partitions they
/// own (the sessions forget them), resume them (added back at their positions), and a third
/// member joins (partitions move between sessions); nothing is lost and nothing is read twice
/// outside the uncommitted window. (Leader moves, kills and restarts with sessions are the other
/// scenarios here.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_sessions_through_pause_resume_and_rebalance() {
    let mut s = Scenario::start("sessions", PARTITIONS).await;
    let before: Vec<u64> = {
        let mut v = Vec::new();
        for (consumer, _) in &s.members {
            v.push(consumer.metrics().await.unwrap().incremental_fetch_requests_total);
        }
        v
    };
    for (consumer, _) in &s.members {
        let owned: Vec<_> = consumer
            .metrics()
            .await
            .unwrap()
            .partitions
            .iter()
            .map(|p| p.tp.clone())
            .collect();
        consumer.pause(&owned).await.unwrap();
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    for (consumer, _) in &s.members {
        let paused: Vec<_> = consumer
            .metrics()
            .await
            .unwrap()
            .partitions
            .iter()
            .filter(|p| p.paused)
            .map(|p| p.tp.clone())
            .collect();
        consumer.resume(&paused).await.unwrap();
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let consumer = s.consumer().build().unwrap();
    let member = Member::start("c", &consumer, &s.history, 10);
    s.members.push((consumer, member));
    tokio::time::sleep(Duration::from_secs(5)).await;
    let mut after = Vec::new();
    for (consumer, _) in &s.members[..2] {
        after.push(consumer.metrics().await.unwrap().incremental_fetch_requests_total);
    }
    assert!(
        after.iter().zip(&before).any(|(a, b)| a > b),
        "incremental fetches went on after pause, resume and the rebalance: {before:?} -> {after:?}"
    );
    let (report, _s) = s.finish().await;
    eprintln!("fetch sessions through pause/resume/rebalance: {report:?}");
}
