//! Two kafkit members and one librdkafka member (PyPI confluent-kafka) in one group on the real
//! broker. Members join, leave cleanly, and are killed without leaving, while records keep coming.
//! Every member is its own process and logs timestamped assignment changes and records; the checks:
//! every record consumed at least once; committed offsets reach the log end; for the eager protocol,
//! no partition owned by two members at the same instant; for cooperative-sticky, no partition is
//! revoked from a member unless it moves to another one.

// This test drives member processes from a plain thread; sleeping it blocks no runtime.
#![allow(clippy::disallowed_methods)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use kafkit::{Consumer, OffsetReset};
use kafkit_protocol_tests::harness::{self, within};
use kafkit_protocol_tests::real;
use serde_json::Value;

const PARTITIONS: i32 = 6;

fn python() -> String {
    std::env::var("KAFKIT_PYTHON").unwrap_or_else(|_| {
        panic!("KAFKIT_PYTHON is not set: run ./scripts/test.sh (it installs confluent-kafka into a venv)")
    })
}

struct Member {
    name: String,
    child: Child,
}

fn spawn_member(
    kind: &str,
    name: &str,
    addr: &str,
    group: &str,
    topic: &str,
    strategy: &str,
    log: &Path,
) -> Member {
    let mut cmd = match kind {
        "kafkit" => Command::new(env!("CARGO_BIN_EXE_kafkit-member")),
        _ => {
            let mut c = Command::new(python());
            c.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("peers/rdkafka_member.py"));
            c
        }
    };
    let child = cmd
        .args([addr, group, topic, strategy, name])
        .arg(log)
        .stdin(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("start {kind} member: {e}"));
    Member {
        name: name.to_owned(),
        child,
    }
}

fn terminate(m: &mut Member) {
    let _ = Command::new("kill")
        .args(["-TERM", &m.child.id().to_string()])
        .status();
}

fn wait_exit(m: &mut Member, limit: Duration) {
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        if m.child.try_wait().unwrap().is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = m.child.kill();
    panic!("member {} did not exit within {limit:?}", m.name);
}

#[derive(Debug, Clone)]
struct Entry {
    t: f64,
    member: String,
    kind: String,
    partitions: Vec<i32>,
    partition: i32,
    offset: i64,
}

fn read_log(path: &Path) -> Vec<Entry> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut entries: Vec<Entry> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("bad log line {l:?}: {e}"));
            Entry {
                t: v["t"].as_f64().unwrap(),
                member: v["member"].as_str().unwrap().to_owned(),
                kind: v["kind"].as_str().unwrap().to_owned(),
                partitions: v["partitions"]
                    .as_array()
                    .map(|a| a.iter().map(|p| p.as_i64().unwrap() as i32).collect())
                    .unwrap_or_default(),
                partition: v["partition"].as_i64().unwrap_or(-1) as i32,
                offset: v["offset"].as_i64().unwrap_or(-1),
            }
        })
        .collect();
    entries.sort_by(|a, b| a.t.total_cmp(&b.t));
    entries
}

/// Ownership intervals per partition: (member, start, end). A killed member's ownership ends when it
/// was killed.
fn ownership(entries: &[Entry], killed: &BTreeMap<String, f64>) -> BTreeMap<i32, Vec<(String, f64, f64)>> {
    let mut open: BTreeMap<(String, i32), f64> = BTreeMap::new();
    let mut out: BTreeMap<i32, Vec<(String, f64, f64)>> = BTreeMap::new();
    for e in entries {
        match e.kind.as_str() {
            "assigned" => {
                for p in &e.partitions {
                    open.insert((e.member.clone(), *p), e.t);
                }
            }
            "revoked" | "lost" => {
                for p in &e.partitions {
                    if let Some(start) = open.remove(&(e.member.clone(), *p)) {
                        out.entry(*p).or_default().push((e.member.clone(), start, e.t));
                    }
                }
            }
            _ => {}
        }
    }
    for ((member, p), start) in open {
        let end = killed.get(&member).copied().unwrap_or(f64::INFINITY);
        out.entry(p).or_default().push((member, start, end));
    }
    out
}

fn run_mixed_group(strategy: &str) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let addr = real::broker_addr();
    let topic = real::unique_name(if strategy.starts_with("coop") {
        "kafkit-mixed-coop"
    } else {
        "kafkit-mixed-eager"
    });
    let group = real::unique_name("g-mixed");
    rt.block_on(harness::topic_with_partitions(&addr, &topic, PARTITIONS));
    let dir = std::env::temp_dir().join(real::unique_name("kafkit-mixed"));
    std::fs::create_dir_all(&dir).unwrap();
    let log: PathBuf = dir.join("members.jsonl");
    let mut produced = 0usize;
    let mut produce = |n: usize| {
        rt.block_on(harness::produce(&addr, &topic, PARTITIONS, produced, n, 20));
        produced += n;
    };
    let settle = || std::thread::sleep(Duration::from_secs(8));
    let mut killed: BTreeMap<String, f64> = BTreeMap::new();
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
    };

    produce(200);
    let mut a = spawn_member("kafkit", "kafkit-a", &addr, &group, &topic, strategy, &log);
    settle();
    let mut r = spawn_member("rdkafka", "rdkafka-c", &addr, &group, &topic, strategy, &log);
    settle();
    produce(200);
    let mut b = spawn_member("kafkit", "kafkit-b", &addr, &group, &topic, strategy, &log);
    settle();
    produce(200);
    // kafkit-b leaves cleanly.
    terminate(&mut b);
    wait_exit(&mut b, Duration::from_secs(30));
    settle();
    produce(200);
    // librdkafka member killed without leaving; the session timeout evicts it.
    r.child.kill().unwrap();
    killed.insert(r.name.clone(), now());
    let _ = r.child.wait();
    settle();
    let mut b2 = spawn_member("kafkit", "kafkit-b2", &addr, &group, &topic, strategy, &log);
    settle();
    produce(200);
    // kafkit-a killed without leaving.
    a.child.kill().unwrap();
    killed.insert(a.name.clone(), now());
    let _ = a.child.wait();
    let mut r2 = spawn_member("rdkafka", "rdkafka-c2", &addr, &group, &topic, strategy, &log);
    settle();
    produce(200);

    // Wait until every record has been consumed by someone.
    let expected: BTreeSet<(i32, i64)> = (0..PARTITIONS)
        .flat_map(|p| (0..produced as i64).map(move |o| (p, o)))
        .collect();
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    loop {
        let got: BTreeSet<(i32, i64)> = read_log(&log)
            .iter()
            .filter(|e| e.kind == "record")
            .map(|e| (e.partition, e.offset))
            .collect();
        let missing: Vec<_> = expected.difference(&got).take(5).collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "records never consumed, e.g. {missing:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    // Let auto-commits land, then stop the rest cleanly.
    std::thread::sleep(Duration::from_secs(2));
    for m in [&mut b2, &mut r2] {
        terminate(m);
    }
    for m in [&mut b2, &mut r2] {
        wait_exit(m, Duration::from_secs(30));
    }

    let entries = read_log(&log);
    // Ownership checks.
    let owners = ownership(&entries, &killed);
    if strategy != "cooperative-sticky" {
        for (p, intervals) in &owners {
            for (i, x) in intervals.iter().enumerate() {
                for y in &intervals[i + 1..] {
                    let overlap = x.1.max(y.1) < x.2.min(y.2);
                    assert!(
                        !(overlap && x.0 != y.0),
                        "partition {p} owned by {} and {} at once: {x:?} {y:?}",
                        x.0,
                        y.0
                    );
                }
            }
        }
    } else {
        // A partition revoked from a member moves: its next assignment goes to someone else.
        for (i, e) in entries.iter().enumerate() {
            if e.kind != "revoked" {
                continue;
            }
            let shutting_down = entries[i..]
                .iter()
                .any(|x| x.member == e.member && x.kind == "closed")
                && !entries[i + 1..]
                    .iter()
                    .any(|x| x.member == e.member && x.kind == "assigned");
            if shutting_down {
                continue;
            }
            for p in &e.partitions {
                if let Some(next) = entries[i + 1..]
                    .iter()
                    .find(|x| x.kind == "assigned" && x.partitions.contains(p))
                {
                    assert_ne!(
                        next.member, e.member,
                        "cooperative-sticky revoked partition {p} from {} without moving it",
                        e.member
                    );
                }
            }
        }
    }
    // Every member kind took part.
    for name in ["kafkit-a", "kafkit-b", "rdkafka-c", "kafkit-b2", "rdkafka-c2"] {
        assert!(
            entries.iter().any(|e| e.member == name && e.kind == "assigned"),
            "{name} never got partitions"
        );
    }
    // Committed offsets reach the log end: a new member of the group receives nothing.
    rt.block_on(async {
        let c = Consumer::builder()
            .bootstrap(&addr)
            .group_id(&group)
            .subscribe([topic.as_str()])
            .offset_reset(OffsetReset::Earliest)
            .session_timeout(Duration::from_secs(6))
            .heartbeat_interval(Duration::from_secs(1))
            .build()
            .unwrap();
        let mut events = c.events();
        let mut records = c.records().unwrap();
        within(
            Duration::from_secs(60),
            "the checker member's assignment",
            async { while !matches!(events.next().await, Some(kafkit::Event::Assigned(_))) {} },
        )
        .await;
        if let Ok(Some(Ok(r))) = tokio::time::timeout(Duration::from_secs(4), records.next()).await {
            panic!(
                "{}/{} was never committed by the group",
                r.partition(),
                r.offset()
            );
        }
        drop(records);
        c.close().await.unwrap();
    });
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn mixed_group_eager_range() {
    run_mixed_group("range,roundrobin");
}

#[test]
fn mixed_group_cooperative_sticky() {
    run_mixed_group("cooperative-sticky");
}
