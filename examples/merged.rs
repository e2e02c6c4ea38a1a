//! Consume a topic as one merged stream of records, with auto-commit.
//!
//! ```sh
//! cargo run --example merged -- localhost:9092 my-group my-topic
//! ```

use kafkit::{Consumer, OffsetReset};

#[tokio::main]
async fn main() -> Result<(), kafkit::Error> {
    let mut args = std::env::args().skip(1);
    let brokers = args.next().unwrap_or_else(|| "localhost:9092".into());
    let group = args.next().unwrap_or_else(|| "kafkit-example".into());
    let topic = args.next().unwrap_or_else(|| "orders".into());

    let consumer = Consumer::builder()
        .bootstrap(&brokers)
        .group_id(&group)
        .subscribe([topic])
        .offset_reset(OffsetReset::Earliest)
        .build()?; // no I/O: works even while Kafka is down

    let mut records = consumer.records()?;
    let mut seen = 0u64;
    loop {
        tokio::select! {
            record = records.next() => {
                let Some(record) = record else { break };
                let record = record?;
                seen += 1;
                println!(
                    "{}/{}@{}: {}",
                    record.topic(),
                    record.partition(),
                    record.offset(),
                    String::from_utf8_lossy(record.value().unwrap_or_default())
                );
            }
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    eprintln!("consumed {seen} records; closing");
    consumer.close().await // commits what was processed and leaves the group
}
