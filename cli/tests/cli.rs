//! The `kafkit` binary against the real test broker (`KAFKIT_TEST_BROKER`; the tests fail, never
//! skip, when it is not set). Every run of the binary has a deadline.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::BTreeSet;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use kafkit::net::{BrokerPool, NetConfig};
use kafkit_protocol_tests::admin::{self, TestRecord};
use kafkit_protocol_tests::harness;
use kafkit_protocol_tests::real::{broker_addr, unique_name};
use serde_json::Value;

const KAFKIT: &str = env!("CARGO_BIN_EXE_kafkit");
/// The longest any single run of the binary may take.
const RUN_LIMIT: Duration = Duration::from_secs(60);

/// Runs `kafkit ARGS` to completion (killed at [`RUN_LIMIT`]).
async fn kafkit(args: &[&str]) -> Output {
    let child = tokio::process::Command::new(KAFKIT)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn kafkit");
    match tokio::time::timeout(RUN_LIMIT, child.wait_with_output()).await {
        Ok(out) => out.expect("kafkit output"),
        Err(_) => panic!("kafkit {args:?} did not finish within {RUN_LIMIT:?}"),
    }
}

fn stdout_lines(out: &Output) -> Vec<String> {
    String::from_utf8(out.stdout.clone())
        .expect("stdout is UTF-8")
        .lines()
        .map(str::to_owned)
        .collect()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn assert_ok(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what}: kafkit exited with {:?}; stderr:\n{}",
        out.status,
        stderr(out)
    );
}

/// A new topic with `partitions` partitions, every one led.
async fn topic(partitions: i32) -> String {
    let name = unique_name("cli");
    harness::topic_with_partitions(&broker_addr(), &name, partitions).await;
    name
}

/// Produces `records` to `topic`/`partition`.
async fn produce(topic: &str, partition: i32, records: &[TestRecord]) {
    let addr = broker_addr();
    let pool = BrokerPool::new([addr.as_str()], NetConfig::default()).unwrap();
    let md = pool.metadata(Some(&[topic])).await.unwrap();
    let leader = md
        .partition(topic, partition)
        .and_then(|p| p.leader)
        .expect("leader");
    let conn = pool.connection(leader).await.unwrap();
    admin::produce_records(&conn, topic, partition, records).await;
}

/// Values `{prefix}-{i}` for i in `range`, spread over `partitions` partitions.
async fn produce_values(
    topic: &str,
    partitions: i32,
    prefix: &str,
    range: std::ops::Range<usize>,
) -> BTreeSet<String> {
    let mut all = BTreeSet::new();
    for p in 0..partitions {
        let records: Vec<TestRecord> = range
            .clone()
            .filter(|i| *i as i32 % partitions == p)
            .map(|i| {
                let v = format!("{prefix}-{i}");
                all.insert(v.clone());
                TestRecord {
                    key: Some(Bytes::from(format!("k{i}"))),
                    value: Some(Bytes::from(v)),
                    headers: Vec::new(),
                }
            })
            .collect();
        if !records.is_empty() {
            produce(topic, p, &records).await;
        }
    }
    all
}

fn text(s: &str) -> Option<Bytes> {
    Some(Bytes::copy_from_slice(s.as_bytes()))
}

#[tokio::test]
async fn json_round_trips_keys_values_headers_nulls_and_binary() {
    let topic = topic(1).await;
    let records = vec![
        TestRecord {
            key: text("k1"),
            value: text("hello \"world\"\n\ttab\\ é ✓"),
            headers: vec![
                ("h1".into(), text("v1")),
                ("h2".into(), None),
                ("h3".into(), text("three")),
            ],
        },
        TestRecord {
            key: None,
            value: None,
            headers: Vec::new(),
        },
        TestRecord {
            key: Some(Bytes::from_static(&[0xff, 0x00, 0x01])),
            value: Some(Bytes::from_static(&[0xfe, 0xff, 0x00, b'a'])),
            headers: vec![("bin".into(), Some(Bytes::from_static(&[0xc3, 0x28])))],
        },
        TestRecord {
            key: text(""),
            value: text("{\"nested\": [1, 2]}\u{1}"),
            headers: Vec::new(),
        },
    ];
    produce(&topic, 0, &records).await;

    let addr = broker_addr();
    let out = kafkit(&[
        "consume",
        "--brokers",
        &addr,
        "--topic",
        &topic,
        "--from",
        "earliest",
        "--count",
        "4",
        "--format",
        "json",
    ])
    .await;
    assert_ok(&out, "consume --format json");
    let lines = stdout_lines(&out);
    assert_eq!(lines.len(), 4, "one line per record: {lines:#?}");
    let json: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();

    for (i, j) in json.iter().enumerate() {
        assert_eq!(j["topic"], topic.as_str());
        assert_eq!(j["partition"], 0);
        assert_eq!(j["offset"], i as i64);
        assert!(j["timestamp"].as_i64().unwrap() > 1_600_000_000_000, "{j}");
    }
    assert_eq!(json[0]["key"], "k1");
    assert_eq!(json[0]["value"], "hello \"world\"\n\ttab\\ é ✓");
    assert_eq!(
        json[0]["headers"],
        serde_json::json!([["h1", "v1"], ["h2", null], ["h3", "three"]])
    );
    assert!(json[0].get("key_encoding").is_none() && json[0].get("value_encoding").is_none());

    assert_eq!(json[1]["key"], Value::Null);
    assert_eq!(json[1]["value"], Value::Null);
    assert_eq!(json[1]["headers"], serde_json::json!([]));
    assert!(json[1].get("key_encoding").is_none() && json[1].get("value_encoding").is_none());

    assert_eq!(json[2]["key_encoding"], "base64");
    assert_eq!(json[2]["value_encoding"], "base64");
    let key = BASE64.decode(json[2]["key"].as_str().unwrap()).unwrap();
    let value = BASE64.decode(json[2]["value"].as_str().unwrap()).unwrap();
    assert_eq!(key, [0xff, 0x00, 0x01]);
    assert_eq!(value, [0xfe, 0xff, 0x00, b'a']);
    let h = &json[2]["headers"][0];
    assert_eq!(h[0], "bin");
    assert_eq!(
        BASE64.decode(h[1]["base64"].as_str().unwrap()).unwrap(),
        [0xc3, 0x28]
    );

    assert_eq!(json[3]["key"], "");
    assert_eq!(json[3]["value"], "{\"nested\": [1, 2]}\u{1}");
}

#[tokio::test]
async fn count_stops_after_exactly_n_records() {
    let topic = topic(3).await;
    let produced = produce_values(&topic, 3, "v", 0..30).await;
    let addr = broker_addr();
    let out = kafkit(&[
        "consume",
        "--brokers",
        &addr,
        "--topic",
        &topic,
        "--from",
        "earliest",
        "--count",
        "7",
    ])
    .await;
    assert_ok(&out, "consume --count 7");
    let lines = stdout_lines(&out);
    assert_eq!(lines.len(), 7, "{lines:#?}");
    assert!(lines.iter().all(|l| produced.contains(l)), "{lines:#?}");
    assert!(
        stderr(&out).is_empty(),
        "nothing on stderr when not a terminal: {}",
        stderr(&out)
    );
}

#[tokio::test]
async fn idle_timeout_stops_after_the_last_record() {
    let topic = topic(2).await;
    let produced = produce_values(&topic, 2, "idle", 0..12).await;
    let addr = broker_addr();
    let started = Instant::now();
    let out = kafkit(&[
        "consume",
        "--brokers",
        &addr,
        "--topic",
        &topic,
        "--from",
        "earliest",
        "--idle-timeout",
        "2",
    ])
    .await;
    let took = started.elapsed();
    assert_ok(&out, "consume --idle-timeout 2");
    let got: BTreeSet<String> = stdout_lines(&out).into_iter().collect();
    assert_eq!(got, produced);
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(20),
        "took {took:?}"
    );
}

#[tokio::test]
async fn from_offset_without_group_starts_every_partition_there() {
    let topic = topic(2).await;
    produce_values(&topic, 2, "o", 0..10).await; // offsets 0..5 on each partition
    let addr = broker_addr();
    let out = kafkit(&[
        "consume",
        "--brokers",
        &addr,
        "--topic",
        &topic,
        "--from",
        "3",
        "--count",
        "4",
        "--format",
        "json",
    ])
    .await;
    assert_ok(&out, "consume --from 3");
    let offsets: Vec<i64> = stdout_lines(&out)
        .iter()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["offset"]
                .as_i64()
                .unwrap()
        })
        .collect();
    assert_eq!(offsets.len(), 4);
    assert!(offsets.iter().all(|o| *o >= 3), "{offsets:?}");
}

fn offsets_by_partition(out: &Output) -> Vec<(i64, i64)> {
    let mut v: Vec<(i64, i64)> = stdout_lines(out)
        .iter()
        .map(|l| {
            let j: Value = serde_json::from_str(l).unwrap();
            (j["partition"].as_i64().unwrap(), j["offset"].as_i64().unwrap())
        })
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn from_minus_n_reads_the_last_n_of_every_partition() {
    let topic = topic(2).await;
    produce_values(&topic, 2, "t", 0..12).await; // offsets 0..6 on each partition
    let addr = broker_addr();
    let out = kafkit(&[
        "consume",
        "--brokers",
        &addr,
        "--topic",
        &topic,
        "--from",
        "-2",
        "--idle-timeout",
        "3",
        "--format",
        "json",
    ])
    .await;
    assert_ok(&out, "consume --from -2");
    assert_eq!(offsets_by_partition(&out), vec![(0, 4), (0, 5), (1, 4), (1, 5)]);
}

#[tokio::test]
async fn from_a_time_starts_at_the_first_record_at_or_after_it() {
    let topic = topic(1).await;
    produce_values(&topic, 1, "early", 0..3).await;
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let cut = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    produce_values(&topic, 1, "late", 0..2).await;
    let addr = broker_addr();
    for from in [format!("@{cut}"), format!("@{}", rfc3339(cut))] {
        let out = kafkit(&[
            "consume",
            "--brokers",
            &addr,
            "--topic",
            &topic,
            "--from",
            &from,
            "--idle-timeout",
            "3",
        ])
        .await;
        assert_ok(&out, &format!("consume --from {from}"));
        assert_eq!(stdout_lines(&out), vec!["late-0", "late-1"], "--from {from}");
    }
}

/// `ms` as RFC 3339 UTC with milliseconds (civil-from-days, Howard Hinnant's algorithm).
fn rfc3339(ms: i64) -> String {
    let (days, rem) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s, milli) = (rem / 3_600_000, rem / 60_000 % 60, rem / 1000 % 60, rem % 1000);
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{milli:03}Z")
}

/// The idle clock starts at the assignment: a join the group holds for longer than
/// `--idle-timeout` (another member takes its time to give partitions up) still ends in records.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_timeout_starts_once_partitions_are_assigned() {
    let topic = topic(2).await;
    let group = unique_name("cli-held-join");
    let values = produce_values(&topic, 2, "h", 0..20).await;
    let addr = broker_addr();
    // A member that holds both partitions' streams for 6 s after the rebalance starts.
    let holder = kafkit::Consumer::builder()
        .bootstrap(&addr)
        .group_id(&group)
        .subscribe([topic.as_str()])
        .auto_commit(false)
        .max_poll_interval(Duration::from_secs(20))
        .build()
        .unwrap();
    let mut partitions = holder.partitions().unwrap();
    let mut held = Vec::new();
    for _ in 0..2 {
        let p = harness::within(Duration::from_secs(30), "the holder's streams", partitions.next())
            .await
            .unwrap();
        held.push(p);
    }
    let release = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(6)).await;
        drop(held);
        partitions
    });
    let started = Instant::now();
    let out = kafkit(&[
        "consume",
        "--brokers",
        &addr,
        "--topic",
        &topic,
        "--group",
        &group,
        "--from",
        "earliest",
        "--idle-timeout",
        "2",
        "--commit",
        "none",
    ])
    .await;
    assert_ok(&out, "consume with a held join");
    let lines = stdout_lines(&out);
    assert!(
        started.elapsed() > Duration::from_secs(5),
        "it waited for the assignment"
    );
    assert!(!lines.is_empty(), "records after the held join: {}", stderr(&out));
    assert!(lines.iter().all(|l| values.contains(l)), "{lines:?}");
    let partitions = release.await.unwrap();
    drop(partitions);
    holder.close().await.unwrap();
}

/// Consumes 10 records with `--commit mode`, produces 6 more, and returns what a second run of the
/// same group reads: its first `second_count` records.
async fn second_run_after(
    mode: &str,
    second_count: usize,
) -> (BTreeSet<String>, BTreeSet<String>, Vec<String>) {
    let topic = topic(2).await;
    let group = unique_name("cli-group");
    let addr = broker_addr();
    let first = produce_values(&topic, 2, "first", 0..10).await;
    let common = [
        "consume",
        "--brokers",
        &addr,
        "--topic",
        &topic,
        "--group",
        &group,
        "--from",
        "earliest",
    ];

    let mut args = common.to_vec();
    args.extend(["--commit", mode, "--count", "10"]);
    let out = kafkit(&args).await;
    assert_ok(&out, "first run");
    let got: BTreeSet<String> = stdout_lines(&out).into_iter().collect();
    assert_eq!(got, first, "first run reads everything");

    let second = produce_values(&topic, 2, "second", 10..16).await;
    let mut args = common.to_vec();
    let count = second_count.to_string();
    args.extend(["--commit", mode, "--count", &count]);
    let out = kafkit(&args).await;
    assert_ok(&out, "second run");
    (first, second, stdout_lines(&out))
}

#[tokio::test]
async fn commit_each_resumes_after_the_last_printed_record() {
    let (_, second, got) = second_run_after("each", 6).await;
    assert_eq!(
        got.into_iter().collect::<BTreeSet<_>>(),
        second,
        "the second run reads only the new records"
    );
}

#[tokio::test]
async fn commit_auto_commits_on_exit_and_resumes() {
    let (_, second, got) = second_run_after("auto", 6).await;
    assert_eq!(
        got.into_iter().collect::<BTreeSet<_>>(),
        second,
        "the second run reads only the new records"
    );
}

#[tokio::test]
async fn commit_none_reads_everything_again() {
    let (first, second, got) = second_run_after("none", 16).await;
    assert_eq!(got.len(), 16, "{got:?}");
    let got: BTreeSet<String> = got.into_iter().collect();
    let all: BTreeSet<String> = first.union(&second).cloned().collect();
    assert_eq!(got, all, "nothing was committed, so the group starts over");
}

#[tokio::test]
async fn sigterm_commits_and_leaves_then_exits_zero() {
    stop_by_signal_commits_and_leaves("TERM").await;
}

#[tokio::test]
async fn ctrl_c_commits_and_leaves_then_exits_zero() {
    stop_by_signal_commits_and_leaves("INT").await;
}

/// Consumes with a group until five records are printed, sends `signal`, and checks the exit status
/// and that a second run of the group reads only newer records.
async fn stop_by_signal_commits_and_leaves(signal: &str) {
    let topic = topic(1).await;
    let group = unique_name("cli-group");
    let addr = broker_addr();
    produce_values(&topic, 1, "a", 0..5).await;
    let args = [
        "consume",
        "--brokers",
        &addr,
        "--topic",
        &topic,
        "--group",
        &group,
        "--from",
        "earliest",
    ];
    let mut child = tokio::process::Command::new(KAFKIT)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = tokio::io::BufReader::new(child.stdout.take().unwrap());
    let mut lines = Vec::new();
    harness::within(Duration::from_secs(30), "five records", async {
        use tokio::io::AsyncBufReadExt;
        while lines.len() < 5 {
            let mut line = String::new();
            assert!(
                stdout.read_line(&mut line).await.unwrap() > 0,
                "stdout closed early"
            );
            lines.push(line.trim_end().to_owned());
        }
    })
    .await;
    let status = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &child.id().unwrap().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let status = harness::within(Duration::from_secs(30), "exit after the signal", child.wait())
        .await
        .unwrap();
    assert!(status.success(), "exit status after SIG{signal}: {status:?}");

    let second = produce_values(&topic, 1, "b", 5..8).await;
    let out = kafkit(&[&args[..], &["--count", "3"]].concat()).await;
    assert_ok(&out, "second run");
    let got: BTreeSet<String> = stdout_lines(&out).into_iter().collect();
    assert_eq!(got, second, "what was printed before SIG{signal} was committed");
}

#[tokio::test]
async fn invalid_property_exits_2_with_one_line_naming_it() {
    let addr = broker_addr();
    let out = kafkit(&[
        "consume",
        "--brokers",
        &addr,
        "--topic",
        "t",
        "--property",
        "sesion.timeout.ms=1000",
    ])
    .await;
    assert_eq!(out.status.code(), Some(2), "stderr: {}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.contains("sesion.timeout.ms"), "{err}");

    let out = kafkit(&[
        "consume",
        "--brokers",
        &addr,
        "--topic",
        "t",
        "--property",
        "session.timeout.ms=soon",
    ])
    .await;
    assert_eq!(out.status.code(), Some(2), "stderr: {}", stderr(&out));
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
    assert!(out.stdout.is_empty());
}

#[tokio::test]
async fn numeric_from_with_a_group_exits_2_and_says_why() {
    let addr = broker_addr();
    let out = kafkit(&[
        "consume",
        "--brokers",
        &addr,
        "--topic",
        "t",
        "--group",
        "g",
        "--from",
        "42",
    ])
    .await;
    assert_eq!(out.status.code(), Some(2), "stderr: {}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("--from 42") && err.contains("without --group"),
        "{err}"
    );

    let out = kafkit(&[
        "consume",
        "--brokers",
        &addr,
        "--topic",
        "t",
        "--from",
        "yesterday",
    ])
    .await;
    assert_eq!(out.status.code(), Some(2), "stderr: {}", stderr(&out));
}

#[tokio::test]
async fn a_topic_that_does_not_exist_exits_1_after_the_idle_timeout() {
    let addr = broker_addr();
    let missing = unique_name("cli-missing");
    let out = kafkit(&[
        "consume",
        "--brokers",
        &addr,
        "--topic",
        &missing,
        "--group",
        &unique_name("g"),
        "--idle-timeout",
        "2",
    ])
    .await;
    assert_eq!(out.status.code(), Some(1), "stderr: {}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(&missing) && err.contains("does not exist"), "{err}");
}

#[tokio::test]
async fn an_unreachable_broker_exits_1_after_the_idle_timeout() {
    // A port nothing listens on: bind, read the port, close.
    let port = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let out = kafkit(&[
        "consume",
        "--brokers",
        &addr,
        "--topic",
        "t",
        "--idle-timeout",
        "2",
    ])
    .await;
    assert_eq!(out.status.code(), Some(1), "stderr: {}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("no broker reachable"), "{err}");
}

#[tokio::test]
async fn metadata_lists_brokers_topics_partitions_and_leaders() {
    let topic = topic(3).await;
    let addr = broker_addr();
    let out = kafkit(&["metadata", "--brokers", &addr]).await;
    assert_ok(&out, "metadata");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("brokers:") && text.contains(&addr), "{text}");
    assert!(text.contains(&format!("  {topic}  3 partitions")), "{text}");
    for p in 0..3 {
        assert!(text.contains(&format!("    partition {p}  leader ")), "{text}");
    }

    let out = kafkit(&["metadata", "--brokers", &addr, "--topic", &topic]).await;
    assert_ok(&out, "metadata --topic");
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        text.lines()
            .filter(|l| l.starts_with("  ") && l.contains("partitions"))
            .count(),
        1,
        "{text}"
    );
}

fn json_lines(out: &Output) -> Vec<Value> {
    stdout_lines(out)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

#[tokio::test]
async fn offsets_reports_watermarks_committed_offsets_and_lag() {
    let topic = topic(2).await;
    let group = unique_name("cli-offsets");
    let addr = broker_addr();
    // Five records on partition 0, read and committed by the group; partition 1 empty meanwhile.
    produce_values(&topic, 1, "a", 0..5).await;
    let out = kafkit(&[
        "consume",
        "--brokers",
        &addr,
        "--topic",
        &topic,
        "--group",
        &group,
        "--from",
        "earliest",
        "--count",
        "5",
        "--commit",
        "each",
    ])
    .await;
    assert_ok(&out, "consume --commit each");
    assert_eq!(stdout_lines(&out).len(), 5);
    // Then two more on partition 0 and three on partition 1, which the group never read.
    produce_values(&topic, 1, "b", 5..7).await;
    let later: Vec<TestRecord> = (0..3)
        .map(|i| TestRecord {
            key: None,
            value: text(&format!("p1-{i}")),
            headers: Vec::new(),
        })
        .collect();
    produce(&topic, 1, &later).await;

    let out = kafkit(&[
        "offsets",
        "--brokers",
        &addr,
        "--topic",
        &topic,
        "--group",
        &group,
        "--format",
        "json",
    ])
    .await;
    assert_ok(&out, "offsets --group --format json");
    let rows = json_lines(&out);
    assert_eq!(rows.len(), 2, "one line per partition: {rows:#?}");
    assert_eq!(
        rows[0],
        serde_json::json!({"topic": topic, "partition": 0, "low": 0, "high": 7, "group": group,
            "committed": 5, "lag": 2})
    );
    assert_eq!(
        rows[1],
        serde_json::json!({"topic": topic, "partition": 1, "low": 0, "high": 3, "group": group,
            "committed": null, "lag": null})
    );

    // Text: an aligned table with a header; nothing committed is `-`.
    let out = kafkit(&[
        "offsets",
        "--brokers",
        &addr,
        "--topic",
        &topic,
        "--group",
        &group,
    ])
    .await;
    assert_ok(&out, "offsets --group");
    let lines = stdout_lines(&out);
    assert_eq!(lines.len(), 3, "{lines:#?}");
    let words = |l: &str| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
    assert_eq!(
        words(&lines[0]),
        ["TOPIC", "PARTITION", "LOW", "HIGH", "COMMITTED", "LAG"]
    );
    assert_eq!(words(&lines[1]), [topic.as_str(), "0", "0", "7", "5", "2"]);
    assert_eq!(words(&lines[2]), [topic.as_str(), "1", "0", "3", "-", "-"]);
    // Every column starts at the same place on every line.
    let starts = |l: &str| -> Vec<usize> {
        let b = l.as_bytes();
        (0..b.len())
            .filter(|&i| b[i] != b' ' && (i == 0 || b[i - 1] == b' '))
            .collect()
    };
    assert!(
        lines.iter().all(|l| starts(l) == starts(&lines[0])),
        "aligned:\n{}",
        lines.join("\n")
    );

    // Without --group: watermarks only.
    let out = kafkit(&[
        "offsets",
        "--brokers",
        &addr,
        "--topic",
        &topic,
        "--format",
        "json",
    ])
    .await;
    assert_ok(&out, "offsets --format json");
    let rows = json_lines(&out);
    assert_eq!(
        rows,
        [
            serde_json::json!({"topic": topic, "partition": 0, "low": 0, "high": 7}),
            serde_json::json!({"topic": topic, "partition": 1, "low": 0, "high": 3}),
        ]
    );
}

#[tokio::test]
async fn offsets_of_a_missing_topic_and_describe_of_an_unknown_group_exit_1() {
    let addr = broker_addr();
    let missing = unique_name("cli-missing");
    let out = kafkit(&["offsets", "--brokers", &addr, "--topic", &missing]).await;
    assert_eq!(out.status.code(), Some(1), "stderr: {}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(&missing) && err.contains("does not exist"), "{err}");
    assert!(out.stdout.is_empty());
    // Not created by asking.
    let pool = BrokerPool::new([addr.as_str()], NetConfig::default()).unwrap();
    let md = pool.metadata(None).await.unwrap();
    assert!(md.topic(&missing).is_none(), "offsets created {missing}");

    let unknown = unique_name("cli-no-such-group");
    let out = kafkit(&["group", "describe", "--brokers", &addr, &unknown]).await;
    assert_eq!(out.status.code(), Some(1), "stderr: {}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(&unknown) && err.contains("does not exist"), "{err}");
    assert!(out.stdout.is_empty());
}

/// `group describe` and `offsets --group` on a live group list the member with its partitions and
/// its committed offsets, and the member sees no rebalance (neither command joins the group).
/// After the member leaves, the group is described as empty, with its offsets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_describe_lists_a_live_member_without_rebalancing_it() {
    let topic = topic(2).await;
    let group = unique_name("cli-describe");
    let client_id = unique_name("cli-describe-client");
    let addr = broker_addr();
    produce_values(&topic, 2, "d", 0..8).await; // offsets 0..4 on each partition
    let member = kafkit::Consumer::builder()
        .bootstrap(&addr)
        .group_id(&group)
        .client_id(&client_id)
        .subscribe([topic.as_str()])
        .offset_reset(kafkit::OffsetReset::Earliest)
        .auto_commit(false)
        .heartbeat_interval(Duration::from_millis(500))
        .build()
        .unwrap();
    let mut events = member.events();
    let mut partitions = member.partitions().unwrap();
    let mut streams = Vec::new();
    for _ in 0..2 {
        let s = harness::within(Duration::from_secs(30), "the member's streams", partitions.next())
            .await
            .unwrap();
        streams.push(s);
    }
    streams.sort_by_key(|s| s.partition());
    // Commit offset 1 on partition 0 (its first record); nothing on partition 1.
    let first = harness::within(Duration::from_secs(30), "a record", streams[0].next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((first.partition(), first.offset()), (0, 0));
    streams[0].commit(&first).await.unwrap();
    // The generation and member id this member joined with.
    let (generation, member_id) = harness::within(Duration::from_secs(10), "the Joined event", async {
        loop {
            if let Some(kafkit::Event::Joined {
                generation_id,
                member_id,
                ..
            }) = events.next().await
            {
                return (generation_id, member_id);
            }
        }
    })
    .await;

    // Every status the member passes through while the commands run (a rebalance shows as
    // Rebalancing at the next heartbeat, before any event: a revoke waits for the held streams).
    assert_eq!(member.health().status, kafkit::Status::Consuming);
    let statuses = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let watcher = tokio::spawn({
        let mut health = member.health_watch();
        let statuses = statuses.clone();
        async move {
            while health.changed().await.is_ok() {
                let status = health.borrow_and_update().status;
                statuses.lock().unwrap().push(status);
            }
        }
    });

    let out = kafkit(&[
        "offsets",
        "--brokers",
        &addr,
        "--topic",
        &topic,
        "--group",
        &group,
        "--format",
        "json",
    ])
    .await;
    assert_ok(&out, "offsets --group on a live group");
    let rows = json_lines(&out);
    assert_eq!(
        (rows[0]["committed"].as_i64(), rows[0]["lag"].as_i64()),
        (Some(1), Some(3))
    );
    assert_eq!(
        (&rows[1]["committed"], rows[1]["high"].as_i64()),
        (&Value::Null, Some(4))
    );

    let out = kafkit(&[
        "group",
        "describe",
        "--brokers",
        &addr,
        &group,
        "--format",
        "json",
    ])
    .await;
    assert_ok(&out, "group describe --format json");
    let j = json_lines(&out);
    assert_eq!(j.len(), 1, "one object: {j:#?}");
    let j = &j[0];
    assert_eq!(j["group"], group.as_str());
    assert_eq!(j["state"], "Stable", "{j}");
    assert_eq!(j["protocol_type"], "consumer");
    assert!(j["protocol"].as_str().is_some_and(|p| !p.is_empty()), "{j}");
    let members = j["members"].as_array().unwrap();
    assert_eq!(members.len(), 1, "{j}");
    assert_eq!(members[0]["member_id"], member_id.as_str());
    assert_eq!(members[0]["client_id"], client_id.as_str());
    assert_eq!(members[0]["group_instance_id"], Value::Null);
    assert!(
        members[0]["host"]
            .as_str()
            .is_some_and(|h| h.contains("127.0.0.1")),
        "{j}"
    );
    assert_eq!(
        members[0]["partitions"],
        serde_json::json!([{"topic": topic, "partition": 0}, {"topic": topic, "partition": 1}])
    );
    assert_eq!(
        j["offsets"],
        serde_json::json!([
            {"topic": topic, "partition": 0, "committed": 1, "high": 4, "lag": 3, "member_id": member_id},
            {"topic": topic, "partition": 1, "committed": null, "high": 4, "lag": null, "member_id": member_id},
        ])
    );

    let out = kafkit(&["group", "describe", "--brokers", &addr, &group]).await;
    assert_ok(&out, "group describe");
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    assert!(text.contains("state         Stable"), "{text}");
    assert!(text.contains("members: 1"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.contains(&client_id) && l.contains(&format!("{topic}:0,1"))),
        "{text}"
    );

    // Neither command joined: no rebalance reaches the member within several heartbeats (no
    // Joined of a new generation, no revoke, no loss, never out of Consuming).
    let quiet = tokio::time::timeout(Duration::from_secs(3), async {
        loop {
            match events.next().await {
                Some(
                    e @ (kafkit::Event::Joined { .. } | kafkit::Event::Revoked(_) | kafkit::Event::Lost(..)),
                ) => {
                    return e;
                }
                Some(_) => {}
                None => std::future::pending().await,
            }
        }
    })
    .await;
    assert!(quiet.is_err(), "the member rebalanced: {quiet:?}");
    assert!(generation > 0, "joined generation {generation}");
    watcher.abort();
    let statuses = statuses.lock().unwrap().clone();
    assert!(
        statuses.iter().all(|s| *s == kafkit::Status::Consuming),
        "the member left Consuming: {statuses:?}"
    );
    assert_eq!(member.health().status, kafkit::Status::Consuming);

    drop(streams);
    drop(partitions);
    member.close().await.unwrap();

    let out = kafkit(&[
        "group",
        "describe",
        "--brokers",
        &addr,
        &group,
        "--format",
        "json",
    ])
    .await;
    assert_ok(&out, "group describe after the member left");
    let j = &json_lines(&out)[0];
    assert_eq!(j["state"], "Empty", "{j}");
    assert_eq!(j["members"], serde_json::json!([]));
    assert_eq!(
        j["offsets"],
        serde_json::json!([
            {"topic": topic, "partition": 0, "committed": 1, "high": 4, "lag": 3, "member_id": null},
        ])
    );
    let out = kafkit(&["group", "describe", "--brokers", &addr, &group]).await;
    assert_ok(&out, "group describe (text) after the member left");
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    assert!(text.contains("members: none (the group is Empty"), "{text}");
}
