//! One task per assigned partition, committing each record after handling it.
//!
//! ```sh
//! cargo run --example per_partition -- localhost:9092 my-group my-topic
//! ```

use kafkit::{Consumer, OffsetReset};

async fn handle(record: &kafkit::Record) {
    // Your processing here; records of one partition arrive in order.
    let _ = record.value();
}

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
        .auto_commit(false)
        .build()?;

    let mut partitions = consumer.partitions()?;
    let mut events = consumer.events();
    tokio::spawn(async move {
        while let Some(event) = events.next().await {
            eprintln!("event: {event:?}");
        }
    });
    loop {
        tokio::select! {
            partition = partitions.next() => {
                let Some(mut partition) = partition else { break };
                tokio::spawn(async move {
                    eprintln!("assigned {}", partition.topic_partition());
                    // Ends when the partition is revoked or lost.
                    while let Some(record) = partition.next().await {
                        let record = match record {
                            Ok(r) => r,
                            Err(e) => { eprintln!("{}: {e}", partition.topic_partition()); break; }
                        };
                        handle(&record).await;
                        if let Err(e) = partition.commit(&record).await {
                            // e.g. REBALANCE_IN_PROGRESS: not applied; the record will be redelivered
                            // to the partition's next owner. Keep going.
                            eprintln!("commit failed: {e} (retriable: {})", e.is_retriable());
                        }
                    }
                    eprintln!("released {}", partition.topic_partition());
                });
            }
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    consumer.close().await
}
