//! A kafkit consumer-group member as its own process, for mixed-group tests (so a test can kill it
//! without a clean leave). Writes the same JSON lines as `peers/rdkafka_member.py`.
//!
//! `kafkit-member BOOTSTRAP GROUP TOPIC STRATEGY MEMBER_NAME OUT` — SIGTERM closes it cleanly.

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
    let [bootstrap, group, topic, strategy, name, out] = &args[..] else {
        eprintln!("usage: kafkit-member BOOTSTRAP GROUP TOPIC STRATEGY MEMBER_NAME OUT");
        std::process::exit(2);
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
    let consumer = Consumer::builder()
        .bootstrap(bootstrap)
        .group_id(group)
        .subscribe([topic.as_str()])
        .offset_reset(OffsetReset::Earliest)
        .property("partition.assignment.strategy", strategy)
        .session_timeout(Duration::from_secs(6))
        .heartbeat_interval(Duration::from_secs(1))
        .auto_commit_interval(Duration::from_millis(500))
        .build()
        .unwrap();
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
    loop {
        tokio::select! {
            r = records.next() => match r {
                Some(Ok(r)) => emit("record", format!(", \"partition\": {}, \"offset\": {}", r.partition(), r.offset())),
                Some(Err(e)) => eprintln!("{e}"),
                None => break,
            },
            _ = term.recv() => break,
        }
    }
    drop(records);
    consumer.close().await.unwrap();
    emit("closed", String::new());
}
