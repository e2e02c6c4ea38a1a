//! Measures the time from building a consumer of a new group to its first record.
//!
//! ```sh
//! cargo run --release --example first_record -- 127.0.0.1:9092 my-topic
//! ```

use std::time::{Duration, Instant};

use kafkit::{Consumer, OffsetReset};

#[tokio::main]
async fn main() -> Result<(), kafkit::Error> {
    let mut args = std::env::args().skip(1);
    let brokers = args.next().unwrap_or_else(|| "localhost:9092".into());
    let topic = args.next().unwrap_or_else(|| "orders".into());
    let session_ms: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(6000);
    let group = format!("first-record-{}", std::process::id());

    let started = Instant::now();
    let consumer = Consumer::builder()
        .bootstrap(&brokers)
        .group_id(&group)
        .subscribe([topic])
        .offset_reset(OffsetReset::Earliest)
        .session_timeout(Duration::from_millis(session_ms))
        .heartbeat_interval(Duration::from_millis(session_ms / 3))
        .build()?;
    let built = started.elapsed();
    let mut events = consumer.events();
    let mut records = consumer.records()?;
    let assigned = tokio::spawn(async move {
        loop {
            if let Some(kafkit::Event::Assigned(_)) = events.next().await {
                return started.elapsed();
            }
        }
    });
    let first = records.next().await;
    let first_at = started.elapsed();
    let assigned_at = assigned.await.unwrap_or_default();
    match first {
        Some(Ok(r)) => println!(
            "build {built:?}; assigned after {assigned_at:?}; first record ({}/{}) after {first_at:?}",
            r.partition(),
            r.offset()
        ),
        other => println!("no record: {other:?}"),
    }
    drop(records);
    consumer.close().await
}
