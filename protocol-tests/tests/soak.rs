//! The reliability soak (issue 5): three kafkit members, one librdkafka member (PyPI
//! confluent-kafka) and one Java `KafkaConsumer` (`peers/java/JavaMember.java`) in one group on the real broker while a producer writes continuously. Members
//! are stopped cleanly (SIGTERM) and killed (SIGKILL) at random — a seeded RNG, the seed printed —
//! and restarted; at the end the history checker runs over every member's log: nothing lost, order
//! within each ownership, commits never ahead of deliveries, redeliveries only from the uncommitted
//! window, no two owners at once.
//!
//! `KAFKIT_SOAK_SECS` sets the duration (default 120), `KAFKIT_SOAK_SEED` replays a run.
//! `scripts/test.sh` runs this target in a step of its own, after the other tests.

// This test drives member processes from a plain thread; sleeping it blocks no runtime.
#![allow(clippy::disallowed_methods)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafkit::net::{BrokerPool, NetConfig};
use kafkit_protocol_tests::history::{Expected, History};
use kafkit_protocol_tests::{admin, harness, real};

const PARTITIONS: i32 = 6;
const STRATEGY: &str = "range,roundrobin";

fn python() -> String {
    std::env::var("KAFKIT_PYTHON").unwrap_or_else(|_| {
        panic!("KAFKIT_PYTHON is not set: run ./scripts/test.sh (it installs confluent-kafka into a venv)")
    })
}

/// xorshift64*: small, seeded, reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One member slot; each restart is a new incarnation with its own name and log.
struct Slot {
    kind: &'static str,
    base: String,
    incarnation: u32,
    name: String,
    child: Child,
}

struct Setup {
    addr: String,
    group: String,
    topic: String,
    dir: PathBuf,
}

impl Setup {
    fn log(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.jsonl"))
    }

    fn spawn(&self, kind: &str, name: &str) -> Child {
        let mut cmd = match kind {
            "kafkit" => Command::new(env!("CARGO_BIN_EXE_kafkit-member")),
            "java" => kafkit_protocol_tests::java::command("JavaMember"),
            _ => {
                let mut c = Command::new(python());
                c.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("peers/rdkafka_member.py"));
                c
            }
        };
        cmd.args([&self.addr, &self.group, &self.topic, STRATEGY, name])
            .arg(self.log(name))
            .arg("manual");
        if kind == "java" {
            cmd.arg("classic");
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {kind} member {name}: {e}"))
    }
}

impl Slot {
    fn start(setup: &Setup, kind: &'static str, base: &str) -> Slot {
        let name = format!("{base}.0");
        Slot {
            kind,
            base: base.to_owned(),
            incarnation: 0,
            child: setup.spawn(kind, &name),
            name,
        }
    }

    fn restart(&mut self, setup: &Setup) {
        self.incarnation += 1;
        self.name = format!("{}.{}", self.base, self.incarnation);
        self.child = setup.spawn(self.kind, &self.name);
    }

    fn terminate(&mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -TERM {}", self.name);
    }

    fn wait_exit(&mut self, limit: Duration) {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(
                    status.success(),
                    "{} exited with {status} after SIGTERM",
                    self.name
                );
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        panic!("member {} did not exit within {limit:?} of SIGTERM", self.name);
    }
}

/// Every member log so far, plus the test's own facts (kills), as one history.
fn history_of(setup: &Setup, kills: &History) -> History {
    let h = kills.clone_entries();
    for entry in std::fs::read_dir(&setup.dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "jsonl") {
            h.load_jsonl(&path);
        }
    }
    h
}

trait CloneEntries {
    fn clone_entries(&self) -> History;
}

impl CloneEntries for History {
    fn clone_entries(&self) -> History {
        let h = History::new();
        for e in self.entries() {
            h.record_at(e.t, &e.member, e.kind);
        }
        h
    }
}

#[test]
fn soak() {
    let secs: u64 = std::env::var("KAFKIT_SOAK_SECS")
        .ok()
        .map(|s| s.parse().expect("KAFKIT_SOAK_SECS is a number of seconds"))
        .unwrap_or(120);
    let seed: u64 = std::env::var("KAFKIT_SOAK_SEED")
        .ok()
        .map(|s| s.parse().expect("KAFKIT_SOAK_SEED is a number"))
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        })
        | 1;
    eprintln!("soak: {secs} s, seed {seed} (replay with KAFKIT_SOAK_SEED={seed})");
    let mut rng = Rng(seed);

    let rt = tokio::runtime::Runtime::new().unwrap();
    let setup = Setup {
        addr: real::broker_addr(),
        group: real::unique_name("g-soak"),
        topic: real::unique_name("kafkit-soak"),
        dir: std::env::temp_dir().join(real::unique_name("kafkit-soak")),
    };
    std::fs::create_dir_all(&setup.dir).unwrap();
    rt.block_on(harness::topic_with_partitions(
        &setup.addr,
        &setup.topic,
        PARTITIONS,
    ));

    // The producer: every 200 ms, 5 records to each partition (one batch per partition each).
    let expected = Arc::new(Mutex::new(Expected::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let producer = {
        let (addr, topic, expected, stop) = (
            setup.addr.clone(),
            setup.topic.clone(),
            expected.clone(),
            stop.clone(),
        );
        rt.spawn(async move {
            let pool = BrokerPool::new([addr.as_str()], NetConfig::default()).unwrap();
            let md = pool.metadata(Some(&[topic.as_str()])).await.unwrap();
            let mut i = 0usize;
            while !stop.load(Ordering::Acquire) {
                for p in 0..PARTITIONS {
                    let leader = md.partition(&topic, p).and_then(|m| m.leader).unwrap();
                    let conn = pool.connection(leader).await.unwrap();
                    let values: Vec<Bytes> = (i..i + 5).map(|k| harness::value(p, k, 20)).collect();
                    let base = admin::produce(&conn, &topic, p, &values).await;
                    expected.lock().unwrap().add(p, base, base + 5);
                }
                i += 5;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };

    let kills = History::new();
    let mut slots = vec![
        Slot::start(&setup, "kafkit", "kafkit-1"),
        Slot::start(&setup, "kafkit", "kafkit-2"),
        Slot::start(&setup, "kafkit", "kafkit-3"),
        Slot::start(&setup, "rdkafka", "rdkafka-1"),
        Slot::start(&setup, "java", "java-1"),
    ];
    let started = Instant::now();
    let (mut stops, mut killed) = (0usize, 0usize);
    // Leave the last 10 s (or so) for the group to settle before the end.
    let churn_until = Duration::from_secs(secs.saturating_sub(10).max(5));
    while started.elapsed() < churn_until {
        std::thread::sleep(Duration::from_millis(3000 + rng.below(5000)));
        if started.elapsed() >= churn_until {
            break;
        }
        let pick = rng.below(slots.len() as u64) as usize;
        let slot = &mut slots[pick];
        if rng.below(2) == 0 {
            eprintln!(
                "soak: {:>5.1}s SIGTERM {}",
                started.elapsed().as_secs_f64(),
                slot.name
            );
            slot.terminate();
            slot.wait_exit(Duration::from_secs(40));
            stops += 1;
        } else {
            eprintln!(
                "soak: {:>5.1}s SIGKILL {}",
                started.elapsed().as_secs_f64(),
                slot.name
            );
            slot.child.kill().unwrap();
            kills.killed(&slot.name);
            let _ = slot.child.wait();
            killed += 1;
        }
        slot.restart(&setup);
    }
    while started.elapsed() < Duration::from_secs(secs) {
        std::thread::sleep(Duration::from_millis(200));
    }
    stop.store(true, Ordering::Release);
    rt.block_on(producer).unwrap();
    let expected = expected.lock().unwrap().clone();
    let produced: usize = expected.produced.values().map(|s| s.len()).sum();

    // Every record consumed by someone (bounded: a killed member's partitions wait for its session
    // timeout before they move).
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let h = history_of(&setup, &kills);
        if h.all_delivered(&expected) {
            break;
        }
        if Instant::now() > deadline {
            let missing: Vec<(i32, usize)> = expected
                .produced
                .iter()
                .map(|(p, s)| (*p, s.difference(&h.delivered_offsets(*p)).count()))
                .collect();
            panic!("records never consumed (partition, count): {missing:?}; seed {seed}");
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    for slot in &mut slots {
        slot.terminate();
    }
    for slot in &mut slots {
        slot.wait_exit(Duration::from_secs(40));
    }

    let history = history_of(&setup, &kills);
    let report = match history.check(&expected) {
        Ok(report) => report,
        Err(violations) => {
            let shown: Vec<String> = violations.iter().take(20).map(|v| v.0.clone()).collect();
            panic!(
                "soak (seed {seed}, logs in {}): {} violation(s):\n  {}",
                setup.dir.display(),
                violations.len(),
                shown.join("\n  ")
            );
        }
    };
    let restarts: u32 = slots.iter().map(|s| s.incarnation).sum();
    eprintln!(
        "soak: seed {seed}, {secs} s, {} members ({} incarnations), {stops} stopped + {killed} killed and restarted, \
         {produced} records produced, {} deliveries, {} redeliveries, {} ownership runs, {} acknowledged commits",
        slots.len(),
        report.members.len(),
        report.deliveries,
        report.redeliveries,
        report.runs,
        report.commits
    );
    assert_eq!(restarts as usize, stops + killed);
    assert!(stops + killed > 0 || secs < 10, "no churn in {secs} s");
    assert!(report.commits > 0, "no acknowledged commit was logged");
    for base in ["kafkit-", "rdkafka-", "java-"] {
        assert!(
            report.members.iter().any(|m| m.starts_with(base)),
            "no {base} member took part"
        );
    }
    let _ = std::fs::remove_dir_all(&setup.dir);
}
