//! Reads N records from a topic without a group, as fast as possible, and reports records/s and
//! CPU time (a quick check; the comparison harness lives in `benches/`).
//!
//! ```sh
//! cargo run --release --example throughput -- 127.0.0.1:9092 my-topic 2000000
//! ```

use std::time::Instant;

use kafkit::{Consumer, OffsetReset};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), kafkit::Error> {
    let mut args = std::env::args().skip(1);
    let brokers = args.next().unwrap_or_else(|| "localhost:9092".into());
    let topic = args.next().unwrap_or_else(|| "orders".into());
    let n: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(1_000_000);

    let consumer = Consumer::builder()
        .bootstrap(&brokers)
        .subscribe([topic])
        .offset_reset(OffsetReset::Earliest)
        .property("fetch.max.bytes", "67108864")
        .property("max.partition.fetch.bytes", "4194304")
        .property("fetch.wait.max.ms", "100")
        .build()?;
    let mut records = consumer.records()?;
    let mut count = 0u64;
    let mut bytes = 0usize;
    let mut first = None;
    while count < n {
        let Some(record) = records.next().await else { break };
        let record = record?;
        first.get_or_insert_with(Instant::now);
        bytes += record.value().map_or(0, <[u8]>::len);
        count += 1;
    }
    let elapsed = first.map(|t| t.elapsed()).unwrap_or_default();
    println!(
        "{count} records, {bytes} value bytes in {elapsed:?}: {:.2} M records/s (first to last)",
        count as f64 / elapsed.as_secs_f64() / 1e6
    );
    drop(records);
    consumer.close().await
}
