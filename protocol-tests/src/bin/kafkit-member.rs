//! A kafkit consumer-group member as its own process, for mixed-group tests (so a test can kill it
//! without a clean leave). Writes the same JSON lines as `peers/rdkafka_member.py`.
//!
//! `kafkit-member BOOTSTRAP GROUP TOPIC STRATEGY MEMBER_NAME OUT [COMMIT]` — SIGTERM closes it
//! cleanly. With `COMMIT` = `manual`, it also commits the last record of each partition every
//! 500 ms (and before closing) and logs each commit the coordinator acknowledged as
//! `{"kind": "commit", "partition": P, "offset": NEXT}`, for the history checker's commit rules.
//! (Auto-commit stays on; its commits are not logged.)

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kafkit::{Consumer, Event, OffsetReset};

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (bootstrap, group, topic, strategy, name, out, manual, protocol) = match &args[..] {
        [b, g, t, s, n, o] => (b, g, t, s, n, o, false, "classic"),
        [b, g, t, s, n, o, c] if c == "manual" || c == "auto" => (b, g, t, s, n, o, c == "manual", "classic"),
        [b, g, t, s, n, o, c, p] if (c == "manual" || c == "auto") && (p == "classic" || p == "consumer") => {
            (b, g, t, s, n, o, c == "manual", p.as_str())
        }
        _ => {
            eprintln!(
                "usage: kafkit-member BOOTSTRAP GROUP TOPIC STRATEGY MEMBER_NAME OUT [auto|manual [classic|consumer]]\n\
                 (STRATEGY: partition.assignment.strategy for classic, the remote assignor or - for consumer)"
            );
            std::process::exit(2);
        }
    };
    let out = std::sync::Arc::new(std::sync::Mutex::new(
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(out)
            .unwrap(),
    ));
    let emit = {
        let out = out.clone();
        let name = name.clone();
        move |kind: &str, extra: String| {
            let line = format!(
                "{{\"t\": {:.6}, \"member\": \"{name}\", \"kind\": \"{kind}\"{extra}}}\n",
                now()
            );
            out.lock().unwrap().write_all(line.as_bytes()).unwrap();
        }
    };
    let builder = Consumer::builder()
        .bootstrap(bootstrap)
        .group_id(group)
        .subscribe([topic.as_str()])
        .offset_reset(OffsetReset::Earliest)
        .auto_commit_interval(Duration::from_millis(500))
        .property("group.protocol", protocol);
    // The consumer protocol's session and heartbeat timing are the broker's.
    let builder = if protocol == "classic" {
        builder
            .property("partition.assignment.strategy", strategy)
            .session_timeout(Duration::from_secs(6))
            .heartbeat_interval(Duration::from_secs(1))
    } else if strategy != "-" {
        builder.property("group.remote.assignor", strategy)
    } else {
        builder
    };
    let consumer = builder.build().unwrap();
    let mut events = consumer.events();
    {
        let emit = emit.clone();
        tokio::spawn(async move {
            let parts = |tps: &[kafkit::TopicPartition]| {
                let v: Vec<String> = tps.iter().map(|tp| tp.partition.to_string()).collect();
                format!(", \"partitions\": [{}]", v.join(", "))
            };
            while let Some(event) = events.next().await {
                match event {
                    Event::Assigned(tps) => emit("assigned", parts(&tps)),
                    Event::Revoked(tps) => emit("revoked", parts(&tps)),
                    Event::Lost(tps, _) => emit("lost", parts(&tps)),
                    _ => {}
                }
            }
        });
    }
    let mut records = consumer.records().unwrap();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).unwrap();
    emit("started", String::new());
    // The last record of each partition not yet committed (manual mode).
    let mut last: BTreeMap<i32, kafkit::Record> = BTreeMap::new();
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            r = records.next() => match r {
                Some(Ok(r)) => {
                    emit("record", format!(", \"partition\": {}, \"offset\": {}", r.partition(), r.offset()));
                    if manual {
                        last.insert(r.partition(), r);
                    }
                }
                Some(Err(e)) => eprintln!("{e}"),
                None => break,
            },
            _ = tick.tick(), if manual => commit(&records, &mut last, &emit).await,
            _ = term.recv() => break,
        }
    }
    if manual {
        commit(&records, &mut last, &emit).await;
    }
    // The application stops processing here: it owns nothing from now on, so "closed" is logged
    // now, before the group can hand its partitions to others (close's own commit of what was
    // delivered is kafkit's, and not logged).
    drop(records);
    emit("closed", String::new());
    consumer.close().await.unwrap();
}

/// Commits the last record of each partition; logs those the coordinator acknowledged.
async fn commit(
    records: &kafkit::RecordStream,
    last: &mut BTreeMap<i32, kafkit::Record>,
    emit: &impl Fn(&str, String),
) {
    for (partition, r) in std::mem::take(last) {
        match records.commit(&r).await {
            Ok(()) => emit(
                "commit",
                format!(", \"partition\": {partition}, \"offset\": {}", r.offset() + 1),
            ),
            Err(e) => eprintln!("commit {partition}@{}: {e}", r.offset() + 1),
        }
    }
}
