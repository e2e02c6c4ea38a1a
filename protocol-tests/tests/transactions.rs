//! Transactions for real: a Java transactional producer (kafka-clients, `peers/java/TxProducer.java`)
//! commits and aborts interleaved transactions on several partitions of Apache Kafka, and kafkit
//! reads them back.
//!
//! - `read_committed` delivers exactly the committed records, in order, once each: no aborted
//!   record and no control record (commit/abort markers occupy offsets of their own).
//! - `read_uncommitted` delivers every data record, aborted ones included, and still no control
//!   record.
//! - While a transaction is open, `read_committed` stops at the last stable offset: nothing at or
//!   after the open transaction's first record is delivered, not even later non-transactional
//!   records, until the transaction ends; then everything committed follows in order.

// The producer process is driven from plain threads as well as the test's runtime.
#![allow(clippy::disallowed_methods)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use kafkit::{Consumer, IsolationLevel, OffsetReset};
use kafkit_protocol_tests::harness::{self, within};
use kafkit_protocol_tests::{java, real};

/// What the transactional producer wrote, from its log: per partition, offset → outcome.
#[derive(Debug, Default)]
struct Written {
    records: BTreeMap<i32, BTreeMap<i64, String>>,
    done: bool,
}

impl Written {
    fn read(path: &Path) -> Written {
        let mut w = Written::default();
        let text = std::fs::read_to_string(path).unwrap_or_default();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            match v["kind"].as_str().unwrap() {
                "record" => {
                    let p = v["partition"].as_i64().unwrap() as i32;
                    let o = v["offset"].as_i64().unwrap();
                    let outcome = v["outcome"].as_str().unwrap().to_owned();
                    // A record is logged "open" first and its outcome later: the outcome wins.
                    w.records.entry(p).or_default().insert(o, outcome);
                }
                "done" => w.done = true,
                other => panic!("unknown line kind {other:?} in {}", path.display()),
            }
        }
        w
    }

    fn with_outcome(&self, outcomes: &[&str]) -> BTreeMap<i32, BTreeSet<i64>> {
        self.records
            .iter()
            .map(|(p, offsets)| {
                (
                    *p,
                    offsets
                        .iter()
                        .filter(|(_, o)| outcomes.contains(&o.as_str()))
                        .map(|(offset, _)| *offset)
                        .collect(),
                )
            })
            .collect()
    }
}

fn tx_producer(addr: &str, topic: &str, partitions: i32, mode: &str, out: &Path) -> Child {
    java::command("TxProducer")
        .args([addr, topic, &partitions.to_string(), mode])
        .arg(out)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("start TxProducer: {e}"))
}

fn wait_for(
    child: &mut Child,
    out: &Path,
    limit: Duration,
    what: &str,
    done: impl Fn(&Written) -> bool,
) -> Written {
    let deadline = Instant::now() + limit;
    loop {
        let w = Written::read(out);
        if done(&w) {
            return w;
        }
        if let Some(status) = child.try_wait().unwrap() {
            let w = Written::read(out);
            assert!(done(&w), "TxProducer exited ({status}) before {what}");
            return w;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for TxProducer: {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(real::unique_name(name));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("producer.jsonl")
}

fn reader(addr: &str, topic: &str, isolation: IsolationLevel) -> Consumer {
    Consumer::builder()
        .bootstrap(addr)
        .subscribe([topic])
        .offset_reset(OffsetReset::Earliest)
        .isolation_level(isolation)
        .build()
        .unwrap()
}

/// Reads records until every offset of `want` arrived, then for `linger` more; returns every
/// delivered (partition, offset) in delivery order.
async fn read_until(
    consumer: &Consumer,
    want: &BTreeMap<i32, BTreeSet<i64>>,
    linger: Duration,
) -> BTreeMap<i32, Vec<i64>> {
    let mut records = consumer.records().unwrap();
    let mut got: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
    let complete = |got: &BTreeMap<i32, Vec<i64>>| {
        want.iter().all(|(p, offsets)| {
            let have: BTreeSet<i64> = got.get(p).into_iter().flatten().copied().collect();
            offsets.is_subset(&have)
        })
    };
    within(Duration::from_secs(60), "every wanted record", async {
        while !complete(&got) {
            let r = records.next().await.expect("stream open").expect("record");
            got.entry(r.partition()).or_default().push(r.offset());
        }
    })
    .await;
    let until = tokio::time::Instant::now() + linger;
    while let Ok(Some(r)) = tokio::time::timeout_at(until, records.next()).await {
        let r = r.expect("record");
        got.entry(r.partition()).or_default().push(r.offset());
    }
    got
}

fn assert_exactly(got: &BTreeMap<i32, Vec<i64>>, want: &BTreeMap<i32, BTreeSet<i64>>, what: &str) {
    for (p, offsets) in want {
        let delivered = got.get(p).cloned().unwrap_or_default();
        let expected: Vec<i64> = offsets.iter().copied().collect();
        assert_eq!(
            delivered, expected,
            "{what}: partition {p} delivered (left) is not exactly, in order, the expected offsets (right)"
        );
    }
    for p in got.keys() {
        assert!(
            want.contains_key(p),
            "{what}: delivered records of unexpected partition {p}"
        );
    }
}

/// Runs `interleave:ROUNDS` and returns what was written.
fn interleaved(addr: &str, topic: &str, partitions: i32, rounds: usize) -> Written {
    let out = scratch("kafkit-tx");
    let mut child = tx_producer(addr, topic, partitions, &format!("interleave:{rounds}"), &out);
    let w = wait_for(
        &mut child,
        &out,
        Duration::from_secs(90),
        "all transactions",
        |w| w.done,
    );
    assert!(child.wait().unwrap().success(), "TxProducer failed");
    let aborted: usize = w.with_outcome(&["abort"]).values().map(BTreeSet::len).sum();
    let committed: usize = w.with_outcome(&["commit"]).values().map(BTreeSet::len).sum();
    assert!(
        aborted > 0 && committed > aborted,
        "the plan writes both: {committed} committed, {aborted} aborted"
    );
    w
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_committed_delivers_only_committed_records() {
    let addr = real::broker_addr();
    let topic = real::unique_name("kafkit-tx-committed");
    harness::topic_with_partitions(&addr, &topic, 3).await;
    let w = tokio::task::spawn_blocking({
        let (addr, topic) = (addr.clone(), topic.clone());
        move || interleaved(&addr, &topic, 3, 6)
    })
    .await
    .unwrap();
    let committed = w.with_outcome(&["commit"]);
    let consumer = reader(&addr, &topic, IsolationLevel::ReadCommitted);
    let got = read_until(&consumer, &committed, Duration::from_secs(2)).await;
    // Offsets are in the log in order, so "exactly, in order" also rules out control records
    // (their offsets are in neither set) and aborted records.
    assert_exactly(&got, &committed, "read_committed");
    consumer.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_uncommitted_delivers_every_data_record() {
    let addr = real::broker_addr();
    let topic = real::unique_name("kafkit-tx-uncommitted");
    harness::topic_with_partitions(&addr, &topic, 3).await;
    let w = tokio::task::spawn_blocking({
        let (addr, topic) = (addr.clone(), topic.clone());
        move || interleaved(&addr, &topic, 3, 6)
    })
    .await
    .unwrap();
    let all = w.with_outcome(&["commit", "abort"]);
    let consumer = reader(&addr, &topic, IsolationLevel::ReadUncommitted);
    let got = read_until(&consumer, &all, Duration::from_secs(2)).await;
    assert_exactly(&got, &all, "read_uncommitted");
    consumer.close().await.unwrap();
}

/// An open transaction holds `read_committed` at the last stable offset; `outcome` ends it.
async fn open_transaction(outcome: &str) {
    let addr = real::broker_addr();
    let topic = real::unique_name("kafkit-tx-open");
    let partitions = 2;
    harness::topic_with_partitions(&addr, &topic, partitions).await;
    // Before the transaction: 10 plain records per partition (offsets 0..10).
    harness::produce(&addr, &topic, partitions, 0, 10, 20).await;
    let out = scratch("kafkit-tx-open");
    let mut child = tx_producer(&addr, &topic, partitions, "hold:5", &out);
    let (mut child, open) = tokio::task::spawn_blocking({
        let out = out.clone();
        move || {
            let w = wait_for(
                &mut child,
                &out,
                Duration::from_secs(60),
                "the open transaction",
                |w| w.records.values().map(BTreeMap::len).sum::<usize>() == 10,
            );
            (child, w)
        }
    })
    .await
    .unwrap();
    // After it, still open: 10 more plain records per partition.
    harness::produce(&addr, &topic, partitions, 10, 10, 20).await;
    let open_offsets = open.with_outcome(&["open"]);
    let first_open: BTreeMap<i32, i64> = open_offsets
        .iter()
        .map(|(p, o)| (*p, *o.first().unwrap()))
        .collect();
    let before: BTreeMap<i32, BTreeSet<i64>> =
        first_open.iter().map(|(p, f)| (*p, (0..*f).collect())).collect();
    let everything: BTreeMap<i32, BTreeSet<i64>> = (0..partitions)
        .map(|p| (p, (0..first_open[&p] + 15).collect()))
        .collect();

    // read_uncommitted sees everything already.
    let uncommitted = reader(&addr, &topic, IsolationLevel::ReadUncommitted);
    let got = read_until(&uncommitted, &everything, Duration::from_millis(500)).await;
    assert_exactly(&got, &everything, "read_uncommitted during the open transaction");
    uncommitted.close().await.unwrap();

    // read_committed stops at the last stable offset: the records before the transaction, and
    // nothing more for 3 s.
    let committed = reader(&addr, &topic, IsolationLevel::ReadCommitted);
    let mut records = committed.records().unwrap();
    let mut got: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
    let complete = |got: &BTreeMap<i32, Vec<i64>>| got.values().map(Vec::len).sum::<usize>() >= 20;
    within(
        Duration::from_secs(60),
        "the records before the open transaction",
        async {
            while !complete(&got) {
                let r = records.next().await.unwrap().unwrap();
                got.entry(r.partition()).or_default().push(r.offset());
            }
        },
    )
    .await;
    if let Ok(Some(r)) = tokio::time::timeout(Duration::from_secs(3), records.next()).await {
        let r = r.unwrap();
        panic!(
            "read_committed delivered {}/{} past the last stable offset {:?} while the transaction was open",
            r.partition(),
            r.offset(),
            first_open
        );
    }
    assert_exactly(&got, &before, "read_committed during the open transaction");

    // End the transaction: then everything committed follows, in order.
    child
        .stdin
        .as_mut()
        .unwrap()
        .write_all(format!("{outcome}\n").as_bytes())
        .unwrap();
    let ended = tokio::task::spawn_blocking(move || {
        let w = wait_for(
            &mut child,
            &out,
            Duration::from_secs(60),
            "the transaction's end",
            |w| w.done,
        );
        assert!(child.wait().unwrap().success());
        w
    })
    .await
    .unwrap();
    let tx_records = ended.with_outcome(&[outcome]);
    let mut want = before.clone();
    for p in 0..partitions {
        let offsets = want.get_mut(&p).unwrap();
        if outcome == "commit" {
            offsets.extend(&tx_records[&p]);
        }
        // The 10 plain records written while the transaction was open follow it (the abort or
        // commit marker takes one offset between).
        let last_tx = *tx_records[&p].last().unwrap();
        let plain: Vec<i64> = (first_open[&p]..last_tx + 20)
            .filter(|o| *o > last_tx && everything[&p].contains(o))
            .collect();
        assert_eq!(
            plain.len(),
            10,
            "partition {p}: 10 plain records after the transaction"
        );
        offsets.extend(plain);
    }
    let until = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let done = want
            .iter()
            .all(|(p, o)| got.get(p).map_or(0, Vec::len) >= o.len());
        if done {
            break;
        }
        let r = tokio::time::timeout_at(until, records.next())
            .await
            .expect("the rest within 60 s of the transaction's end")
            .unwrap()
            .unwrap();
        got.entry(r.partition()).or_default().push(r.offset());
    }
    while let Ok(Some(r)) = tokio::time::timeout(Duration::from_secs(1), records.next()).await {
        let r = r.unwrap();
        got.entry(r.partition()).or_default().push(r.offset());
    }
    assert_exactly(&got, &want, &format!("read_committed after {outcome}"));
    drop(records);
    committed.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_committed_stops_at_the_last_stable_offset_then_delivers_the_commit() {
    open_transaction("commit").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_committed_stops_at_the_last_stable_offset_then_skips_the_abort() {
    open_transaction("abort").await;
}
